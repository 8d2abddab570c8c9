//! Every malformed, unauthorised or oversized request gets its typed error
//! and leaves state as it was.

use futures_util::{SinkExt, StreamExt};
use kizuna_wire::{ErrorBody, ErrorCode};
use serde_json::json;

use crate::harness::*;

/// Checks the status and code; returns the message.
async fn expect(r: reqwest::Response, status: u16, code: ErrorCode) -> String {
    assert_eq!(r.status().as_u16(), status);
    let body: ErrorBody = r.json().await.expect("a JSON error body");
    assert_eq!(body.code, code, "{}", body.message);
    assert!(!body.message.is_empty());
    body.message
}

/// A chat between alice and bob with one message waiting for bob.
async fn setup(node: &Node) -> (kizuna_client::Client, kizuna_client::Client, String) {
    let mut alice = node.person("alice", "jp").await;
    let mut bob = node.person("bob", "jp").await;
    let chat = alice.create_chat(&["bob".into()], None).await.unwrap();
    bob.sync().await.unwrap();
    alice.send(&chat, "the one message").await.unwrap();
    (alice, bob, chat)
}

#[tokio::test]
async fn bad_requests_get_typed_errors_and_change_nothing() {
    let node = Node::start().await;
    let (mut alice, mut bob, chat) = setup(&node).await;
    let token = alice.bearer_token().await.unwrap();
    let http = node.http();
    let url = &node.url;
    let queued_before = bob.peek_inbox().await.unwrap().len();

    // Garbage instead of an MLS message.
    let r = http
        .post(format!("{url}/v1/groups/{chat}/messages"))
        .bearer_auth(&token)
        .json(&json!({"message": "aGVsbG8gd29ybGQ="}))
        .send()
        .await
        .unwrap();
    expect(r, 400, ErrorCode::InvalidMessage).await;

    // A real ciphertext of this chat, sent to another group's path.
    let real = bob.peek_inbox().await.unwrap().pop().unwrap();
    let r = http
        .post(format!(
            "{url}/v1/groups/00112233445566778899aabbccddeeff/messages"
        ))
        .bearer_auth(&token)
        .json(&json!({"message": real.payload}))
        .send()
        .await
        .unwrap();
    expect(r, 400, ErrorCode::InvalidMessage).await;

    // A real ciphertext of this chat without its franking commitment, or
    // with one of the wrong length: it could never be reported.
    for commitment in [None, Some(kizuna_wire::Bytes(vec![1; 5]))] {
        let r = http
            .post(format!("{url}/v1/groups/{chat}/messages"))
            .bearer_auth(&token)
            .json(&json!({"message": real.payload, "commitment": commitment}))
            .send()
            .await
            .unwrap();
        let body = expect(r, 400, ErrorCode::InvalidMessage).await;
        assert!(body.contains("franking commitment"), "{body}");
    }

    // Unknown group.
    let r = http
        .get(format!("{url}/v1/groups/00112233445566778899aabbccddeeff"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    expect(r, 404, ErrorCode::UnknownGroup).await;

    // Not base64, not JSON, wrong shape.
    let r = http
        .post(format!("{url}/v1/groups/{chat}/messages"))
        .bearer_auth(&token)
        .json(&json!({"message": "***"}))
        .send()
        .await
        .unwrap();
    expect(r, 400, ErrorCode::MalformedJson).await;
    let r = http
        .post(format!("{url}/v1/accounts"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    expect(r, 400, ErrorCode::MalformedJson).await;
    let r = http
        .post(format!("{url}/v1/accounts"))
        .json(&json!({"handle": "x"}))
        .send()
        .await
        .unwrap();
    expect(r, 400, ErrorCode::MalformedJson).await;

    // A body is a JSON object: an array, which serde would read field by
    // field into a struct, is refused like any other wrong shape.
    for (path, body) in [
        ("/v1/key-packages/claim", "[]"),
        ("/v1/key-packages/claim", "[[], []]"),
    ] {
        let r = http
            .post(format!("{url}{path}"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let text = expect(r, 400, ErrorCode::MalformedJson).await;
        assert!(text.contains("JSON object"), "{text}");
    }

    // Oversized message.
    let big = vec![0u8; node.limits.max_message_bytes + 1];
    let r = http
        .post(format!("{url}/v1/groups/{chat}/messages"))
        .bearer_auth(&token)
        .json(&json!({"message": kizuna_wire::Bytes(big)}))
        .send()
        .await
        .unwrap();
    expect(r, 413, ErrorCode::MessageTooLarge).await;
    // A body past the transport limit.
    let huge = "x".repeat(node.limits.max_handshake_bytes * 2);
    let r = http
        .post(format!("{url}/v1/groups/{chat}/commits"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(format!("{{\"commit\":\"{huge}\"}}"))
        .send()
        .await
        .unwrap();
    expect(r, 413, ErrorCode::MessageTooLarge).await;

    // Missing, forged, expired and foreign tokens.
    let inbox_with = |token: Option<String>| {
        let mut req = http.get(format!("{url}/v1/inbox"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    expect(
        inbox_with(None).await.unwrap(),
        401,
        ErrorCode::Unauthorized,
    )
    .await;
    let forged = token.replacen(&alice.identity().device_id, &bob.identity().device_id, 1);
    expect(
        inbox_with(Some(forged)).await.unwrap(),
        401,
        ErrorCode::Unauthorized,
    )
    .await;
    let bob_id = kizuna_server::DeviceIdentity {
        device_id: bob.identity().device_id.clone(),
        account_id: bob.identity().account_id.clone(),
    };
    let key: [u8; 32] = std::fs::read(node.data_dir().join("keys/user-token.key"))
        .unwrap()
        .try_into()
        .unwrap();
    let (expired, _) = kizuna_server::UserAuth::new(key, 0).issue(&bob_id);
    expect(
        inbox_with(Some(expired)).await.unwrap(),
        401,
        ErrorCode::TokenExpired,
    )
    .await;
    // A token of another server is worthless here.
    let (other, _) = kizuna_server::UserAuth::new([9; 32], 600).issue(&bob_id);
    expect(
        inbox_with(Some(other)).await.unwrap(),
        401,
        ErrorCode::Unauthorized,
    )
    .await;

    // A challenge signed by the wrong key.
    let c: kizuna_wire::ChallengeResponse = http
        .post(format!("{url}/v1/auth/challenge"))
        .json(&json!({"device_id": bob.identity().device_id}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = http
        .post(format!("{url}/v1/auth/token"))
        .json(
            &json!({"device_id": bob.identity().device_id, "challenge": c.challenge,
                      "signature": kizuna_wire::Bytes(vec![1; 64])}),
        )
        .send()
        .await
        .unwrap();
    expect(r, 401, ErrorCode::Unauthorized).await;

    // Unknown endpoint.
    let r = http
        .get(format!("{url}/v1/nothing-here"))
        .send()
        .await
        .unwrap();
    expect(r, 404, ErrorCode::NotFound).await;

    // Nothing above changed Bob's queue, and the chat still works.
    assert_eq!(bob.peek_inbox().await.unwrap().len(), queued_before);
    assert_eq!(texts(&bob.sync().await.unwrap()), ["the one message"]);
    alice.send(&chat, "still fine").await.unwrap();
    assert_eq!(texts(&bob.sync().await.unwrap()), ["still fine"]);
}

#[tokio::test]
async fn garbage_websocket_frames_are_answered_and_ignored() {
    let node = Node::start().await;
    let (mut alice, mut bob, chat) = setup(&node).await;
    let token = bob.bearer_token().await.unwrap();
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        format!("{}/v1/ws?after=0", node.url.replace("http://", "ws://")).as_str(),
    )
    .unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    use tokio_tungstenite::tungstenite::Message;
    ws.send(Message::Text("this is not a frame".into()))
        .await
        .unwrap();
    let mut saw_error = false;
    let mut saw_envelope = false;
    while !(saw_error && saw_envelope) {
        let m = tokio::time::timeout(std::time::Duration::from_secs(20), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Message::Text(t) = m {
            match serde_json::from_str::<kizuna_wire::ServerFrame>(t.as_str()).unwrap() {
                kizuna_wire::ServerFrame::Error(e) => {
                    assert_eq!(e.code, ErrorCode::MalformedJson);
                    saw_error = true;
                }
                kizuna_wire::ServerFrame::Envelope(_) => saw_envelope = true,
                _ => {}
            }
        }
    }
    drop(ws);
    // The garbage frame acknowledged nothing: the message is still there.
    assert_eq!(texts(&bob.sync().await.unwrap()), ["the one message"]);
    alice.send(&chat, "after garbage").await.unwrap();
    assert_eq!(texts(&bob.sync().await.unwrap()), ["after garbage"]);
}

#[tokio::test]
async fn registration_input_is_checked() {
    let node = Node::start().await;
    node.person("alice", "jp").await;
    let home = node.home("x");
    let try_register = |handle: &'static str,
                        phone: &'static str,
                        region: &'static str,
                        home: std::path::PathBuf| {
        let url = node.url.clone();
        let node = &node;
        async move {
            // An unknown region has no disclosures; the node refuses it
            // for what it is.
            let agreed = kizuna_client::Client::disclosures(&url, region)
                .await
                .ok()
                .map(|d| d.version);
            // Nor does it send a code for such a number or region.
            let sent =
                kizuna_client::Client::send_phone_code(&url, phone, region, agreed.as_deref())
                    .await;
            let phone_code = match sent {
                Ok(_) => node.sent_code(phone).unwrap(),
                Err(_) => "000000".to_string(),
            };
            kizuna_client::Client::register(
                &home,
                &url,
                kizuna_client::RegisterOptions {
                    handle,
                    name: "X",
                    phone,
                    phone_code: &phone_code,
                    email: None,
                    region,
                    device_label: "t",
                    agreed_disclosures: agreed.as_deref(),
                },
            )
            .await
            .err()
            .and_then(|e| e.api_code())
        }
    };
    assert_eq!(
        try_register("alice", "+819000000001", "jp", home.join("1")).await,
        Some(ErrorCode::HandleTaken)
    );
    assert_eq!(
        try_register("Bad Handle", "+819000000002", "jp", home.join("2")).await,
        Some(ErrorCode::InvalidHandle)
    );
    assert_eq!(
        try_register("zed", "+819000000003", "xx", home.join("3")).await,
        Some(ErrorCode::InvalidRegion)
    );
    assert_eq!(
        try_register("zed", "09000000004", "jp", home.join("4")).await,
        Some(ErrorCode::InvalidPhone)
    );
    // One phone number, one account, whichever region either chose.
    assert_eq!(
        try_register("zed", leak(phone_for("alice")), "kr", home.join("5")).await,
        Some(ErrorCode::PhoneTaken)
    );
    // None of the refused registrations left anything behind.
    assert_eq!(
        try_register("zed", "+819000000006", "kr", home.join("6")).await,
        None
    );
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

#[tokio::test]
async fn the_served_api_document_names_every_route_and_error_code() {
    let node = Node::start().await;
    let doc: serde_json::Value = node
        .http()
        .get(format!("{}/openapi.json", node.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["paths"]["/v1/groups/{group}/commits"]["post"].is_object());
    let codes = doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .unwrap();
    // Every code a client can be answered with is in the document.
    for code in [
        ErrorCode::StaleEpoch,
        ErrorCode::MalformedJson,
        ErrorCode::RateLimited,
    ] {
        assert!(codes.contains(&code.to_string().into()), "{code}");
    }
}

/// The API documents as served are the ones checked in beside these tests:
/// a change to either API is a deliberate change to its file (run with
/// `KIZUNA_BLESS_API=1` to rewrite them), never a side effect of moving
/// code. `scripts/api-check` validates both files against the OpenAPI
/// specification.
#[test]
fn the_api_documents_are_the_ones_checked_in() {
    for (file, doc) in [
        ("openapi.json", kizuna_server::openapi_spec()),
        ("staff-openapi.json", kizuna_server::staff_openapi_spec()),
    ] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/it")
            .join(file);
        let served = serde_json::to_string_pretty(&doc).unwrap() + "\n";
        if std::env::var_os("KIZUNA_BLESS_API").is_some() {
            std::fs::write(&path, &served).unwrap();
        }
        let kept = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            kept == served,
            "the API document differs from {}; if the change is meant, run the test with KIZUNA_BLESS_API=1 and review the diff",
            path.display()
        );
    }
}

/// A registration as a hostile client sends it: the rules apply before the
/// signature is even looked at.
fn registration(handle: &str, name: &str, email: &str, label: &str) -> serde_json::Value {
    json!({
        "handle": handle,
        "name": name,
        "phone": phone_for("zed"),
        "phone_code": "123456",
        "email": email,
        "region": "jp",
        "device": {
            "signature_key": kizuna_wire::Bytes(vec![1; 32]),
            "label": label,
            "signature": kizuna_wire::Bytes(vec![2; 64]),
        },
    })
}

#[tokio::test]
async fn text_past_its_rule_is_refused_and_leaves_nothing_behind() {
    let node = Node::start().await;
    let http = node.http();
    let url = &node.url;
    let four_mib = "x".repeat(4 * 1024 * 1024);
    let cases = [
        (
            registration("zed", "Zed", "zed@example.jp", &four_mib),
            ErrorCode::BadRequest,
            "device.label",
        ),
        (
            registration("zed", "Zed", "zed@example.jp", "phone\u{2066}"),
            ErrorCode::BadRequest,
            "device.label",
        ),
        (
            registration("ze\0d", "Zed", "zed@example.jp", "phone"),
            ErrorCode::InvalidHandle,
            "handle",
        ),
        (
            registration("ze\u{202E}d", "Zed", "zed@example.jp", "phone"),
            ErrorCode::InvalidHandle,
            "handle",
        ),
        (
            registration("zed", "Z\0ed", "zed@example.jp", "phone"),
            ErrorCode::InvalidName,
            "name",
        ),
        (
            registration("zed", "Zed\u{202E}gnp.exe", "zed@example.jp", "phone"),
            ErrorCode::InvalidName,
            "name",
        ),
        (
            registration(
                "zed",
                "Zed",
                "zed@example.jp\r\nBcc: all@example.jp",
                "phone",
            ),
            ErrorCode::InvalidEmail,
            "email",
        ),
        (
            registration("zed", "Zed", "zed@example.jp\n", "phone"),
            ErrorCode::InvalidEmail,
            "email",
        ),
    ];
    for (body, code, field) in cases {
        let r = http
            .post(format!("{url}/v1/accounts"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let message = expect(r, 400, code).await;
        assert!(message.contains(field), "{message}");
    }
    // Nothing was kept: the handle and the phone number are still free.
    let mut zed = node.register("zed", "jp", &phone_for("zed")).await;
    let devices = zed.devices().await.unwrap();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0].label, "test");

    // A device asking to join holds its label to the same rule.
    let r = http
        .post(format!("{url}/v1/links"))
        .json(&json!({
            "handle": "zed",
            "device": {
                "signature_key": kizuna_wire::Bytes(vec![3; 32]),
                "label": "x".repeat(65),
                "signature": kizuna_wire::Bytes(vec![4; 64]),
            },
            "key_packages": [],
            "last_resort": kizuna_wire::Bytes(vec![5; 8]),
        }))
        .send()
        .await
        .unwrap();
    let message = expect(r, 400, ErrorCode::BadRequest).await;
    assert!(message.contains("at most 64"), "{message}");
    assert_eq!(zed.devices().await.unwrap().len(), 1);
}

#[tokio::test]
async fn acknowledging_past_what_was_delivered_silences_nothing() {
    let node = Node::start().await;
    let (mut alice, mut bob, chat) = setup(&node).await;
    let token = bob.bearer_token().await.unwrap();
    let http = node.http();
    let ack = |up_to: serde_json::Value| {
        http.post(format!("{}/v1/inbox/ack", node.url))
            .bearer_auth(&token)
            .json(&json!({ "up_to": up_to }))
            .send()
    };
    // Numbers the node cannot hold, or that cannot be a position, are
    // refused rather than wrapped.
    let message = expect(
        ack(json!(u64::MAX)).await.unwrap(),
        400,
        ErrorCode::BadRequest,
    )
    .await;
    assert!(message.contains("up_to"), "{message}");
    expect(
        ack(json!(i64::MAX as u64 + 1)).await.unwrap(),
        400,
        ErrorCode::BadRequest,
    )
    .await;
    expect(ack(json!(-1)).await.unwrap(), 400, ErrorCode::MalformedJson).await;
    assert_eq!(bob.peek_inbox().await.unwrap().len(), 1);

    // The largest the node holds is taken as "everything delivered so
    // far", never as a cursor beyond messages still to come.
    let r = ack(json!(i64::MAX)).await.unwrap();
    assert_eq!(r.status().as_u16(), 204);
    alice.send(&chat, "after the ack").await.unwrap();
    assert_eq!(texts(&bob.sync().await.unwrap()), ["after the ack"]);
    alice.send(&chat, "and the next").await.unwrap();
    assert_eq!(texts(&bob.sync().await.unwrap()), ["and the next"]);
}

#[tokio::test]
async fn numbers_out_of_range_are_refused_in_json() {
    let node = Node::start().await;
    let mut alice = node.person("alice", "jp").await;
    let token = alice.bearer_token().await.unwrap();
    let http = node.http();
    let url = &node.url;
    for path in [
        "/v1/inbox?after=-1",
        "/v1/inbox?after=18446744073709551615",
        "/v1/inbox?after=9223372036854775808",
        "/v1/inbox?limit=0",
        "/v1/inbox?limit=1001",
        "/v1/inbox?limit=-3",
        "/v1/me/accesses?since=-1",
        "/v1/ledger/consistency",
        "/v1/ledger/consistency?from=-1&to=1",
        "/v1/ledger/consistency?from=1&to=18446744073709551615",
        "/v1/ledger/leaves?start=zero&end=1",
        "/v1/ledger/heads?skip=-5",
        "/v1/ws?after=-1",
    ] {
        let r = http
            .get(format!("{url}{path}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "{path}");
        let body: ErrorBody = r.json().await.expect(path);
        assert_eq!(body.code, ErrorCode::BadRequest, "{path}: {}", body.message);
        assert!(!body.message.is_empty(), "{path}");
    }
    // In range, the same endpoints answer.
    let r = http
        .get(format!("{url}/v1/inbox?after=0&limit=1000"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

#[tokio::test]
async fn every_refusal_of_either_listener_is_json() {
    let mut node = Node::start().await;
    let mut alice = node.person("alice", "jp").await;
    let token = alice.bearer_token().await.unwrap();
    let http = node.http();
    let url = node.url.clone();

    // A method an endpoint does not take.
    for (method, path) in [
        (reqwest::Method::DELETE, "/v1/inbox"),
        (reqwest::Method::PUT, "/v1/accounts"),
        (reqwest::Method::POST, "/v1/ledger/head"),
    ] {
        let r = http
            .request(method.clone(), format!("{url}{path}"))
            .send()
            .await
            .unwrap();
        assert!(r.headers().contains_key("allow"), "{method} {path}");
        expect(r, 405, ErrorCode::MethodNotAllowed).await;
    }
    // A path segment that is not text, and a group id in another spelling.
    let r = http
        .get(format!("{url}/v1/accounts/%FF%FE"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    expect(r, 400, ErrorCode::BadRequest).await;
    let r = http
        .get(format!("{url}/v1/groups/00AB"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    expect(r, 400, ErrorCode::BadRequest).await;
    // The WebSocket asked for without a handshake.
    let r = http
        .get(format!("{url}/v1/ws"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    let body: ErrorBody = r.json().await.expect("a JSON error body");
    assert_eq!(body.code, ErrorCode::BadRequest);
    assert!(body.message.contains("WebSocket"), "{}", body.message);

    // The staff listener answers the same way.
    let (admin, _) = crate::staff::staffed(&mut node).await;
    let staff = crate::staff::staff_url(&node);
    let r = http
        .get(format!("{staff}/staff/v1/nothing-here"))
        .send()
        .await
        .unwrap();
    expect(r, 404, ErrorCode::NotFound).await;
    let r = http
        .delete(format!("{staff}/staff/v1/login"))
        .send()
        .await
        .unwrap();
    expect(r, 405, ErrorCode::MethodNotAllowed).await;
    let r = http
        .get(format!("{staff}/staff/v1/reports?state=%FF"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error());
    let _: ErrorBody = r.json().await.expect("a JSON error body");

    // A grant whose end would not fit in a time, or whose ticket holds a
    // NUL, is refused before the policy sees it, and no grant exists.
    let mut ask = crate::staff::ask("alice", &["phone"], u64::MAX);
    assert_eq!(
        code(admin.request_grant(&ask).await),
        Some(ErrorCode::BadRequest)
    );
    ask.duration_secs = 3600;
    ask.ticket = "T-1\0".into();
    assert_eq!(
        code(admin.request_grant(&ask).await),
        Some(ErrorCode::BadRequest)
    );
    assert!(admin.grants().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_api_document_states_the_limits_the_server_enforces() {
    let doc = serde_json::to_value(kizuna_server::openapi_spec()).unwrap();
    let schemas = &doc["components"]["schemas"];
    let label = &schemas["NewDevice"]["properties"]["label"];
    assert_eq!(label["maxLength"], 64);
    assert_eq!(label["pattern"], kizuna_wire::fields::LINE_PATTERN);
    let register = &schemas["RegisterRequest"]["properties"];
    assert_eq!(register["handle"]["maxLength"], 32);
    assert_eq!(
        register["handle"]["pattern"],
        kizuna_wire::fields::HANDLE_PATTERN
    );
    assert_eq!(register["name"]["maxLength"], 100);
    assert_eq!(
        register["email"]["pattern"],
        kizuna_wire::fields::EMAIL_PATTERN
    );
    assert_eq!(
        schemas["AckRequest"]["properties"]["up_to"]["maximum"],
        i64::MAX
    );
    let paths = &doc["paths"];
    let group = &paths["/v1/groups/{group}"]["get"]["parameters"][0];
    assert_eq!(group["schema"]["pattern"], "^([0-9a-f]{2}){1,64}$");
    let consistency = paths["/v1/ledger/consistency"]["get"]["parameters"]
        .as_array()
        .unwrap();
    assert_eq!(consistency.len(), 2);
    for p in consistency {
        assert_eq!(p["in"], "query", "{p}");
        assert_eq!(p["schema"]["maximum"], i64::MAX, "{p}");
    }
}
