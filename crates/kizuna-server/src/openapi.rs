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
        crate::api::health,
        crate::api::register,
        crate::api::challenge,
        crate::api::token,
        crate::api::me,
        crate::api::account,
        crate::api::lookup_phone,
        crate::api::upload_key_packages,
        crate::api::key_package_status,
        crate::api::claim_key_packages,
        crate::api::create_group,
        crate::api::group,
        crate::api::commit,
        crate::api::propose,
        crate::api::delivery_service,
        crate::api::devices,
        crate::api::revoke_device,
        crate::api::send,
        crate::api::inbox,
        crate::api::ack,
        crate::api::create_link,
        crate::api::link_status,
        crate::api::approve_link,
        crate::ws::upgrade,
        crate::me::data_map,
        crate::me::export,
        crate::me::contacts,
        crate::me::set_contacts,
        crate::blocks::list,
        crate::blocks::block,
        crate::blocks::unblock,
        crate::me::erase,
        crate::me::requests,
        crate::me::answer_request,
        crate::ledger::my_accesses,
        crate::ledger::key,
        crate::ledger::head,
        crate::ledger::heads,
        crate::ledger::consistency,
        crate::ledger::leaves,
        crate::reports::file,
        crate::reports::mine,
        crate::reports::notices,
        crate::reports::appeal,
    ),
    // The WebSocket's frames appear in no HTTP body, so they are named here.
    components(schemas(ClientFrame, ServerFrame, Envelope, EnvelopeKind, ErrorCode)),
    modifiers(&BearerToken)
)]
struct UserApi;

struct BearerToken;

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
