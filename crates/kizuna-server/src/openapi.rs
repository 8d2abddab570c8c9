//! The OpenAPI document of the user API, served at `/openapi.json`.

use axum::Json;
use serde_json::{json, Value};

fn op(summary: &str, auth: bool, body: Option<&str>, ok: &str) -> Value {
    let mut o = json!({
        "summary": summary,
        "responses": {
            ok: {"description": "success"},
            "default": {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}
        }
    });
    if auth {
        o["security"] = json!([{"bearer": []}]);
    }
    if let Some(b) = body {
        o["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{b}")}}}});
    }
    o
}

pub fn spec() -> Value {
    let error_codes: Vec<String> = [
        "bad_request",
        "malformed_json",
        "invalid_handle",
        "invalid_region",
        "invalid_signature",
        "invalid_message",
        "unauthorized",
        "token_expired",
        "forbidden",
        "not_found",
        "unknown_group",
        "unknown_device",
        "unknown_account",
        "handle_taken",
        "group_exists",
        "not_member",
        "already_member",
        "stale_epoch",
        "no_key_package",
        "message_too_large",
        "group_too_large",
        "too_many_key_packages",
        "rate_limited",
        "link_pending",
        "unavailable",
        "internal",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Kizuna user API", "version": env!("CARGO_PKG_VERSION"),
                 "description": "The user realm of a Kizuna node. Message content is MLS ciphertext the server cannot read. Binary fields are base64."},
        "paths": {
            "/v1/accounts": {"post": op("Register an account and its first device", false, Some("RegisterRequest"), "201")},
            "/v1/accounts/{handle}": {"get": op("An account's handle and device ids", true, None, "200")},
            "/v1/auth/challenge": {"post": op("Get a challenge to sign with the device key", false, Some("ChallengeRequest"), "200")},
            "/v1/auth/token": {"post": op("Exchange a signed challenge for a short-lived token", false, Some("TokenRequest"), "200")},
            "/v1/me": {"get": op("My account, with my personal fields", true, None, "200")},
            "/v1/lookup/phone": {"post": op("Find a handle by phone number (rate-limited)", true, Some("PhoneLookupRequest"), "200")},
            "/v1/devices/me/key-packages": {
                "post": op("Upload key packages (and a last-resort one)", true, Some("KeyPackageUpload"), "200"),
                "get": op("How many key packages this device has left", true, None, "200")},
            "/v1/key-packages/claim": {"post": op("Claim one key package per device of the named accounts or devices", true, Some("ClaimRequest"), "200")},
            "/v1/groups": {"post": op("Register a new MLS group at epoch 0", true, Some("CreateGroupRequest"), "201")},
            "/v1/groups/{group}": {"get": op("A group's epoch and member devices", true, None, "200")},
            "/v1/groups/{group}/commits": {"post": op("Submit the one commit of the current epoch", true, Some("CommitRequest"), "200")},
            "/v1/groups/{group}/messages": {"post": op("Send an application message to every member device", true, Some("SendRequest"), "200")},
            "/v1/inbox": {"get": op("This device's queue after a cursor", true, None, "200")},
            "/v1/inbox/ack": {"post": op("Acknowledge everything up to a position; delivered messages are then deleted", true, Some("AckRequest"), "204")},
            "/v1/ws": {"get": op("WebSocket: replay from ?after=, then live envelopes; send {type:ack,up_to}", true, None, "101")},
            "/v1/links": {"post": op("A new device asks to join an account", false, Some("LinkRequest"), "201")},
            "/v1/links/{link}": {"get": op("Whether a link request was approved", false, None, "200")},
            "/v1/links/approve": {"post": op("An existing device approves a link code", true, Some("LinkApprove"), "200")}
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "ErrorBody": {"type": "object", "required": ["code", "message"], "properties": {
                    "code": {"type": "string", "enum": error_codes}, "message": {"type": "string"}}},
                "RegisterRequest": {"type": "object", "required": ["handle", "name", "phone", "region", "device"]},
                "ChallengeRequest": {"type": "object", "required": ["device_id"]},
                "TokenRequest": {"type": "object", "required": ["device_id", "challenge", "signature"]},
                "PhoneLookupRequest": {"type": "object", "required": ["phone"]},
                "KeyPackageUpload": {"type": "object", "required": ["key_packages"]},
                "ClaimRequest": {"type": "object"},
                "CreateGroupRequest": {"type": "object", "required": ["group_id"]},
                "CommitRequest": {"type": "object", "required": ["commit"]},
                "SendRequest": {"type": "object", "required": ["message"]},
                "AckRequest": {"type": "object", "required": ["up_to"]},
                "LinkRequest": {"type": "object", "required": ["handle", "device", "key_packages", "last_resort"]},
                "LinkApprove": {"type": "object", "required": ["code"]}
            }
        }
    })
}

pub async fn document() -> Json<Value> {
    Json(spec())
}
