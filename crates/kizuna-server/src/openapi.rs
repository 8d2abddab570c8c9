//! The OpenAPI document of the user API, served at `/openapi.json`. It is
//! generated from the handlers' annotations and the wire types themselves, so
//! it cannot drift from what the node accepts and answers.

use axum::Json;
use kizuna_wire::*;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(title = "Kizuna user API"),
    paths(
        crate::user::health,
        crate::user::accounts::register,
        crate::user::accounts::challenge,
        crate::user::accounts::token,
        crate::user::accounts::me,
        crate::user::accounts::account,
        crate::user::accounts::lookup_phone,
        crate::user::accounts::phone_code,
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
        crate::user::files::begin_upload,
        crate::user::files::file_progress,
        crate::user::files::put_part,
        crate::user::files::get_part,
        crate::user::groups::inbox,
        crate::user::groups::ack,
        crate::user::accounts::create_link,
        crate::user::accounts::link_status,
        crate::user::accounts::inspect_link,
        crate::user::accounts::approve_link,
        crate::user::ws::upgrade,
        crate::user::privacy::data_map,
        crate::user::disclosures::disclosures,
        crate::user::disclosures::consent,
        crate::user::disclosures::agree,
        crate::user::disclosures::withdraw,
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
        crate::user::transparency::key_history,
        crate::user::transparency::ledger_key,
        crate::user::transparency::tree_head,
        crate::user::transparency::tree_heads,
        crate::user::transparency::consistency_proof,
        crate::user::transparency::ledger_leaves,
        crate::user::reports::file_report,
        crate::user::reports::my_reports,
        crate::user::reports::moderation_notices,
        crate::user::reports::appeal,
        crate::user::official::apply,
        crate::user::official::applications,
        crate::user::official::follow,
        crate::user::official::unfollow,
        crate::user::official::follows,
        crate::user::official::announce,
        crate::user::official::announcements,
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

/// The protocol beside the operations: what each side signs, the MLS
/// profile, the message body and its franking, and the WebSocket's frames.
/// A client's author needs these as much as the paths, so they travel in
/// the document itself.
const PROTOCOL: &str = include_str!("openapi/protocol.md");

pub fn spec() -> utoipa::openapi::OpenApi {
    let mut doc = UserApi::openapi();
    doc.info.description = Some(PROTOCOL.to_string());
    doc
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

    /// The protocol the document describes is the one the code speaks: its
    /// labels, ciphersuite and identities, the layout of what a device
    /// signs, and the WebSocket's frames as they serialise.
    #[test]
    fn the_protocol_described_is_the_one_spoken() {
        let doc = serde_json::to_value(spec()).unwrap();
        let text = doc["info"]["description"].as_str().unwrap();
        for named in [
            std::str::from_utf8(REGISTER_CONTEXT).unwrap(),
            std::str::from_utf8(AUTH_CONTEXT).unwrap(),
            std::str::from_utf8(LINK_CONTEXT).unwrap(),
            std::str::from_utf8(ENDORSE_CONTEXT).unwrap(),
            std::str::from_utf8(OFFICIAL_CLAIM_CONTEXT).unwrap(),
            std::str::from_utf8(ANNOUNCE_CONTEXT).unwrap(),
            r#"{"type":"announcements"}"#,
            CIPHERSUITE_NAME,
            kizuna_node::departures::NODE_IDENTITY,
            "kizuna-frank-v1",
            "kizuna-bind-v1",
            r#"{"type":"ack","up_to":N}"#,
            r#"{"type":"key_packages_low"}"#,
            r#"{"t":"text","text":"…"}"#,
            r#"{"t":"chat_name","name":"…"}"#,
        ] {
            assert!(
                text.contains(named),
                "the description does not name {named}"
            );
        }
        // The figures it gives are the node's defaults.
        let said = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let limits = kizuna_node::Limits::default();
        for figure in [
            format!("{} minutes by default", limits.token_ttl_secs / 60),
            format!("at most {} KiB by default", limits.max_message_bytes / 1024),
            format!("({} by default)", limits.low_key_packages),
            format!(
                "at most {} an upload, {} kept",
                kizuna_node::key_packages::MAX_UPLOAD,
                limits.max_key_packages
            ),
            format!("at most {} messages before it", reports::MAX_CONTEXT),
            format!(
                "{} to {} bytes",
                CLIENT_ID_BYTES.start(),
                CLIENT_ID_BYTES.end()
            ),
        ] {
            assert!(
                said.contains(&figure),
                "the description does not say {figure}"
            );
        }
        // Label, zero byte, handle, zero byte, the raw key: no prefixes.
        let key = [7u8; 32];
        let mut described = b"kizuna-register-v1\0alice\0".to_vec();
        described.extend_from_slice(&key);
        assert_eq!(register_signing_input("alice", &key), described);
        let mut described = b"kizuna-link-v1\0alice\0".to_vec();
        described.extend_from_slice(&key);
        assert_eq!(link_signing_input("alice", &key), described);
        assert_eq!(
            auth_signing_input("0123456789abcdef", "00ff"),
            b"kizuna-auth-v1\x000123456789abcdef\x0000ff".to_vec()
        );
        assert_eq!(device_id_for_key(&key).len(), 16);
        assert_eq!(credential_identity("alice", "ab"), "alice/ab");
        let frame = |f: &ServerFrame| serde_json::to_value(f).unwrap();
        assert_eq!(
            frame(&ServerFrame::KeyPackagesLow)["type"],
            "key_packages_low"
        );
        let error = frame(&ServerFrame::Error(ErrorBody {
            code: ErrorCode::MalformedJson,
            message: "m".into(),
        }));
        assert_eq!(error["type"], "error");
        assert_eq!(error["code"], "malformed_json");
        let ack: ClientFrame = serde_json::from_str(r#"{"type":"ack","up_to":7}"#).unwrap();
        assert!(matches!(ack, ClientFrame::Ack { up_to: 7 }));
        let text = serde_json::to_string(&ChatContent::Text {
            text: "…".into(),
            name: None,
        })
        .unwrap();
        assert_eq!(text, r#"{"t":"text","text":"…"}"#);
        let plain = serde_json::to_value(FrankedContent {
            body: text,
            franking_key: Bytes(vec![0; 32]),
        })
        .unwrap();
        assert!(plain["body"].is_string() && plain["franking_key"].is_string());
    }

    /// HMAC-SHA-256 over parts each preceded by its length as 8 bytes big
    /// endian, as the description says franking is computed.
    fn described_mac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// A client written from the description commits and checks bindings
    /// exactly as Kizuna's own devices and node do.
    #[test]
    fn franking_is_computed_as_described() {
        use kizuna_franking::{Commitment, Envelope, FrankingKey};
        let (group, sender, body) = (&[1u8, 2, 3][..], "alice", br#"{"t":"text","text":"hi"}"#);
        let key = [5u8; 32];
        let commitment = described_mac(&key, &[b"kizuna-frank-v1", group, sender.as_bytes(), body]);
        assert!(kizuna_franking::opens(
            &FrankingKey(key),
            &Commitment(commitment),
            body,
            group,
            sender
        ));
        let node_key = [9u8; 32];
        let time: u64 = 1_764_000_000_123;
        let binding = kizuna_franking::bind(
            &node_key,
            &Commitment(commitment),
            &Envelope {
                chat: group,
                sender,
                time_ms: time,
            },
        );
        let described = described_mac(
            &node_key,
            &[
                b"kizuna-bind-v1",
                &commitment,
                sender.as_bytes(),
                group,
                &time.to_be_bytes(),
            ],
        );
        assert_eq!(binding.0, described);
    }
}
