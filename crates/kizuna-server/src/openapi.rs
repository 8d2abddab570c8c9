//! The OpenAPI document of the user API, served at `/openapi.json`. It is
//! generated from the handlers' annotations and the wire types themselves, so
//! it cannot drift from what the node accepts and answers.

use axum::Json;
use kizuna_wire::*;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Kizuna user API",
        description = "The user realm of a Kizuna node. Message content is MLS ciphertext the server cannot read. Binary fields are base64."
    ),
    paths(
        crate::user::health,
        crate::user::accounts::register,
        crate::user::accounts::challenge,
        crate::user::accounts::token,
        crate::user::accounts::me,
        crate::user::accounts::account,
        crate::user::accounts::lookup_phone,
        crate::user::groups::upload_key_packages,
        crate::user::groups::key_package_status,
        crate::user::groups::claim_key_packages,
        crate::user::groups::create_group,
        crate::user::groups::group,
        crate::user::groups::commit,
        crate::user::groups::propose,
        crate::user::accounts::delivery_service,
        crate::user::accounts::devices,
        crate::user::accounts::revoke_device,
        crate::user::groups::send,
        crate::user::groups::inbox,
        crate::user::groups::ack,
        crate::user::accounts::create_link,
        crate::user::accounts::link_status,
        crate::user::accounts::approve_link,
        crate::user::ws::upgrade,
        crate::user::privacy::data_map,
        crate::user::privacy::export,
        crate::user::privacy::contacts,
        crate::user::privacy::set_contacts,
        crate::user::privacy::blocked,
        crate::user::privacy::block,
        crate::user::privacy::unblock,
        crate::user::privacy::erase,
        crate::user::privacy::requests,
        crate::user::privacy::answer_request,
        crate::user::transparency::my_accesses,
        crate::user::transparency::ledger_key,
        crate::user::transparency::tree_head,
        crate::user::transparency::tree_heads,
        crate::user::transparency::consistency_proof,
        crate::user::transparency::ledger_leaves,
        crate::user::reports::file_report,
        crate::user::reports::my_reports,
        crate::user::reports::moderation_notices,
        crate::user::reports::appeal,
    ),
    // The WebSocket's frames appear in no HTTP body, so they are named here.
    components(schemas(ClientFrame, ServerFrame, Envelope, EnvelopeKind, ErrorCode)),
    modifiers(&BearerToken)
)]
struct UserApi;

pub(crate) struct BearerToken;

impl utoipa::Modify for BearerToken {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

pub fn spec() -> utoipa::openapi::OpenApi {
    UserApi::openapi()
}

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(spec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_and_error_code_is_documented() {
        let doc = serde_json::to_value(spec()).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        for (path, method) in [
            ("/v1/accounts", "post"),
            ("/v1/groups/{group}/commits", "post"),
            ("/v1/groups/{group}/messages", "post"),
            ("/v1/inbox", "get"),
            ("/v1/ws", "get"),
            ("/v1/reports", "post"),
            ("/v1/me/moderation/{report}/appeal", "post"),
        ] {
            assert!(
                paths[path][method].is_object(),
                "{method} {path} is missing"
            );
        }
        let codes = &doc["components"]["schemas"]["ErrorCode"]["enum"];
        assert!(codes.as_array().unwrap().contains(&"stale_epoch".into()));
        let send = &doc["components"]["schemas"]["SendRequest"];
        assert_eq!(send["required"][0], "message");
        let bytes = send["properties"]["message"]["$ref"].as_str().unwrap();
        let name = bytes.rsplit('/').next().unwrap();
        assert_eq!(
            doc["components"]["schemas"][name]["contentEncoding"], "base64",
            "{}",
            doc["components"]["schemas"]
        );
    }
}
