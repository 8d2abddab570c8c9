//! Proven phone numbers: a number is taken, and found by a look-up, only
//! once its holder typed back the code sent to it; codes are single-use,
//! allow few guesses and are limited per number; and an operator's SMS
//! gateway is what carries them.

use std::sync::{Arc, Mutex};

use kizuna_wire::{ErrorBody, ErrorCode};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::*;

async fn expect(r: reqwest::Response, status: u16, code: ErrorCode) -> String {
    let got = r.status().as_u16();
    let body: ErrorBody = r.json().await.expect("a JSON error body");
    assert_eq!((got, body.code), (status, code), "{}", body.message);
    body.message
}

/// A registration as a client writes it, with a device key of its own.
fn registration(handle: &str, phone: &str, code: Option<&str>, agreed: &str) -> serde_json::Value {
    use ed25519_dalek::Signer;
    let key = ed25519_dalek::SigningKey::from_bytes(&[handle.len() as u8 + 1; 32]);
    let public = key.verifying_key().to_bytes().to_vec();
    let signature = key
        .sign(&kizuna_wire::register_signing_input(handle, &public))
        .to_bytes()
        .to_vec();
    let mut body = json!({
        "handle": handle,
        "name": "Someone",
        "phone": phone,
        "region": "jp",
        "agreed_disclosures": agreed,
        "device": {
            "signature_key": kizuna_wire::Bytes(public),
            "label": "phone",
            "signature": kizuna_wire::Bytes(signature),
        },
    });
    if let Some(code) = code {
        body["phone_code"] = code.into();
    }
    body
}

#[tokio::test]
async fn a_phone_cannot_be_claimed_without_its_code() {
    let node = Node::start().await;
    let http = node.http();
    let agreed = node.agreed("jp").await;
    let mut alice = node.person("alice", "jp").await;
    let bobs = "+819055501234";
    let register = |handle: &str, code: Option<&str>| {
        http.post(format!("{}/v1/accounts", node.url))
            .json(&registration(handle, bobs, code, &agreed))
            .send()
    };
    let ask = || {
        http.post(format!("{}/v1/phone/codes", node.url))
            .json(&json!({"phone": bobs, "region": "jp", "agreed_disclosures": agreed}))
            .send()
    };

    // Mallory claims bob's number: without a code, or with one of her
    // own making, nothing is created.
    let r = register("mallory", None).await.unwrap();
    expect(r, 400, ErrorCode::MalformedJson).await;
    let r = register("mallory", Some("123456")).await.unwrap();
    expect(r, 409, ErrorCode::PhoneCodeNeeded).await;
    let r = register("mallory", Some("12345")).await.unwrap();
    expect(r, 400, ErrorCode::PhoneCodeWrong).await;

    // She has a code sent to it, which reaches bob's phone, not her: five
    // guesses, then even the right code is spent.
    let r = ask().await.unwrap();
    assert_eq!(r.status(), 202);
    let sent: kizuna_wire::PhoneCodeSent = r.json().await.unwrap();
    assert_eq!(sent.tries, 5);
    assert!(sent.expires_at > kizuna_wire::now_ms());
    let code = node.sent_code(bobs).unwrap();
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    for _ in 0..5 {
        let r = register("mallory", Some(&wrong)).await.unwrap();
        let message = expect(r, 400, ErrorCode::PhoneCodeWrong).await;
        assert!(message.contains("new code"), "{message}");
    }
    let r = register("mallory", Some(&code)).await.unwrap();
    expect(r, 409, ErrorCode::PhoneCodeNeeded).await;
    assert_eq!(alice.lookup_phone(bobs).await.unwrap(), None);
    let r = http
        .get(format!("{}/v1/accounts/mallory", node.url))
        .bearer_auth(alice.bearer_token().await.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "nothing of mallory was created");

    // Bob has a new code sent, and registers with it: his number is taken
    // and found from now on, and the code proved it once.
    ask().await.unwrap();
    let code = node.sent_code(bobs).unwrap();
    // Six characters that are not digits are no guess at all: refused
    // without spending one of the code's.
    for _ in 0..6 {
        let r = register("mallory", Some("ab.c-d")).await.unwrap();
        expect(r, 400, ErrorCode::PhoneCodeWrong).await;
    }
    let r = register("bob", Some(&code)).await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(
        alice.lookup_phone(bobs).await.unwrap().as_deref(),
        Some("bob")
    );
    let r = register("mallory", Some(&code)).await.unwrap();
    expect(r, 409, ErrorCode::PhoneCodeNeeded).await;
    // A new code proves the number to its holder, who alone learns it is
    // taken.
    ask().await.unwrap();
    let code = node.sent_code(bobs).unwrap();
    let r = register("bobby", Some(&code)).await.unwrap();
    expect(r, 409, ErrorCode::PhoneTaken).await;

    // A number is sent five codes an hour, then none, whichever region
    // they are asked for in.
    ask().await.unwrap();
    let kr = node.agreed("kr").await;
    let r = http
        .post(format!("{}/v1/phone/codes", node.url))
        .json(&json!({"phone": bobs, "region": "kr", "agreed_disclosures": kr}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let r = ask().await.unwrap();
    expect(r, 429, ErrorCode::RateLimited).await;

    // The asking itself is checked like any request, and tells nothing;
    // the number goes nowhere before the person agreed to the disclosures.
    for (body, code) in [
        (
            json!({"phone": "0901234", "region": "jp", "agreed_disclosures": agreed}),
            ErrorCode::InvalidPhone,
        ),
        (
            json!({"phone": bobs, "region": "xx", "agreed_disclosures": agreed}),
            ErrorCode::InvalidRegion,
        ),
        (
            json!({"phone": bobs, "region": "jp"}),
            ErrorCode::AgreementRequired,
        ),
        (
            json!({"phone": bobs, "region": "jp", "agreed_disclosures": "0123456789abcdef"}),
            ErrorCode::AgreementRequired,
        ),
        (json!({"phone": bobs}), ErrorCode::MalformedJson),
    ] {
        let r = http
            .post(format!("{}/v1/phone/codes", node.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        expect(r, 400, code).await;
    }

    // What the region keeps of a code is a keyed hash: neither the number
    // nor the code is in its file.
    ask_for(&node, "+819055509999", &agreed).await;
    let code = node.sent_code("+819055509999").unwrap();
    let jp = node.data_dir().join("regions/jp.sqlite");
    let mut region = std::fs::read(&jp).unwrap();
    region.extend(std::fs::read(jp.with_extension("sqlite-wal")).unwrap_or_default());
    for secret in ["+819055509999", "819055509999", code.as_str()] {
        assert!(
            !contains(&region, secret.as_bytes()),
            "{secret} in the region's file"
        );
    }
}

#[tokio::test]
async fn a_number_registered_before_codes_existed_is_found_by_nobody_until_its_holder_proves_it() {
    let mut node = Node::start().await;
    let mut alice = node.person("alice", "jp").await;
    let number = "+819055509876";
    let mut dave = node.register("dave", "jp", number).await;
    assert_eq!(
        alice.lookup_phone(number).await.unwrap().as_deref(),
        Some("dave")
    );
    // As a node from before codes existed held it: never proven.
    let addr = node.stop().await;
    let db = node.data_dir().join("regions").join("jp.sqlite");
    run_sql(&db, "UPDATE phone_index SET proven = 0").await;
    node.start_again(addr).await;

    // Nobody finds dave by a number he never proved.
    assert_eq!(alice.lookup_phone(number).await.unwrap(), None);
    // The number's holder proves it and registers: it is theirs, and found.
    let erin = node.register("erin", "jp", number).await;
    assert_eq!(
        alice.lookup_phone(number).await.unwrap().as_deref(),
        Some("erin")
    );
    // Dave keeps his account, without the number.
    dave.sync().await.unwrap();
    // Proven, the number is nobody else's.
    node.phone_code(number, "jp").await;
    let code = node.sent_code(number).unwrap();
    let agreed = node.agreed("jp").await;
    let r = node
        .http()
        .post(format!("{}/v1/accounts", node.url))
        .json(&registration("frank", number, Some(&code), &agreed))
        .send()
        .await
        .unwrap();
    expect(r, 409, ErrorCode::PhoneTaken).await;
    erin.close().await;
    dave.close().await;
}

async fn ask_for(node: &Node, phone: &str, agreed: &str) {
    let r = node
        .http()
        .post(format!("{}/v1/phone/codes", node.url))
        .json(&json!({"phone": phone, "region": "jp", "agreed_disclosures": agreed}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
}

/// What an SMS gateway received: each request's head and body.
type Received = Arc<Mutex<Vec<(String, serde_json::Value)>>>;

/// An SMS gateway on a port of its own that answers `status` to every
/// message, keeping what it was sent.
async fn gateway(status: u16) -> (String, Received) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/messages", listener.local_addr().unwrap());
    let received: Received = Arc::default();
    let keep = received.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let keep = keep.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head, body) = loop {
                    let n = conn.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + length {
                        break (head, buf[end + 4..end + 4 + length].to_vec());
                    }
                };
                let body = serde_json::from_slice(&body).unwrap_or_default();
                keep.lock().unwrap().push((head, body));
                let answer = format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
                let _ = conn.write_all(answer.as_bytes()).await;
            });
        }
    });
    (url, received)
}

/// The embedded configuration with an SMS gateway at `url`, in `country`.
fn with_gateway(url: &str, country: &str) -> String {
    kizuna_config::DEFAULT_TOML.replace(
        "[regions.jp]",
        &format!(
            "[phone_gateway]\nurl = \"{url}\"\ntoken_file = \"gateway.token\"\ncountry = \"{country}\"\noperator = \"Example SMS K.K.\"\n\n[regions.jp]"
        ),
    )
}

#[tokio::test]
async fn codes_reach_phones_through_the_sms_gateway_the_configuration_declares() {
    let (url, received) = gateway(200).await;
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("gateway.token"), "s3cret-token\n").unwrap();
    let config = data.path().join("kizuna.toml");
    let listen = free_port();
    let serve = |gateway: &str| {
        std::fs::write(&config, with_gateway(gateway, "JP")).unwrap();
        KillOnDrop(
            std::process::Command::new(env!("CARGO_BIN_EXE_kizuna"))
                .args(["serve", "--data-dir"])
                .arg(data.path())
                .arg("--config")
                .arg(&config)
                .args([
                    "--listen",
                    &listen.to_string(),
                    "--staff-listen",
                    "127.0.0.1:0",
                ])
                .args(["--ops-listen", "127.0.0.1:0"])
                .env("KIZUNA_LOG", "error")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        )
    };
    let node = serve(&url);
    let server = format!("http://{listen}");
    assert!(wait_until_up(&format!("{server}/health")).await);
    let homes = tempfile::tempdir().unwrap();
    let home = homes.path().join("bob").display().to_string();
    let register = |code: Option<String>| {
        let mut a = args(&[
            "register",
            "--home",
            &home,
            "--server",
            &server,
            "--handle",
            "bob",
            "--name",
            "Bob Sato",
            "--phone",
            "+81 90-5550-4321",
            "--region",
            "jp",
            "--agree",
        ]);
        a.extend(code.map(|c| format!("--phone-code={c}")));
        run(a)
    };

    // The disclosures say where the number goes; without a code, the CLI
    // has one sent and says how to go on.
    let out = register(None).await;
    assert_eq!(out.status.code(), Some(2));
    let told = String::from_utf8_lossy(&out.stderr);
    assert!(told.contains("--phone-code"), "{told}");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("Example SMS K.K.") && shown.contains("127.0.0.1"),
        "{shown}"
    );
    let (head, body) = received.lock().unwrap().last().cloned().unwrap();
    assert!(head.starts_with("post /messages "), "{head}");
    assert!(
        head.contains("authorization: bearer s3cret-token"),
        "{head}"
    );
    assert_eq!(
        body["to"], "+819055504321",
        "the number in its one written form"
    );
    let text = body["text"].as_str().unwrap();
    let code: String = text
        .split_once("code is ")
        .unwrap()
        .1
        .chars()
        .take(6)
        .collect();
    let out = register(Some(code)).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !data.path().join("phone-outbox").exists(),
        "with a gateway, nothing is left in the outbox"
    );

    // A gateway that fails: the person is told to try again, and no code
    // is live that they never received.
    drop(node);
    let (failing, failed) = gateway(500).await;
    let _node = serve(&failing);
    assert!(wait_until_up(&format!("{server}/health")).await);
    let agreed = kizuna_client::Client::disclosures(server.as_str(), "jp")
        .await
        .unwrap()
        .version;
    let r = reqwest::Client::new()
        .post(format!("{server}/v1/phone/codes"))
        .json(&json!({"phone": "+819055500000", "region": "jp", "agreed_disclosures": agreed}))
        .send()
        .await
        .unwrap();
    let message = expect(r, 503, ErrorCode::Unavailable).await;
    assert!(message.contains("try again"), "{message}");
    assert_eq!(failed.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_gateway_in_a_country_a_region_does_not_allow_stops_the_node() {
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("kizuna.toml");
    std::fs::write(&config, with_gateway("https://sms.example.com/send", "US")).unwrap();
    let out = run(args(&[
        "serve",
        "--data-dir",
        &data.path().display().to_string(),
        "--config",
        &config.display().to_string(),
        "--listen",
        "127.0.0.1:0",
    ]))
    .await;
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("phone_gateway.country") && said.contains("US"),
        "{said}"
    );
}
