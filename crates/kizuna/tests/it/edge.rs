//! The node's edges as a hostile or careless network sees them: TLS on both
//! listeners, the client address behind a proxy, idle and slow connections,
//! the connection limit and the WebSockets one device may hold.

use std::time::Duration;

use kizuna_server::{Edge, Limits, TlsFiles};
use kizuna_wire::ErrorCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::*;

/// A private certificate authority and a certificate it issued for
/// 127.0.0.1 and localhost, written as PEM files; returns the files and the
/// authority's PEM.
fn private_ca(dir: &std::path::Path) -> (TlsFiles, Vec<u8>) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "Kizuna test authority");
    let ca = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    let files = TlsFiles {
        cert: dir.join("node.crt"),
        key: dir.join("node.key"),
    };
    std::fs::write(&files.cert, leaf.pem()).unwrap();
    std::fs::write(&files.key, key.serialize_pem()).unwrap();
    (files, ca.pem().into_bytes())
}

/// Reads what the node answers on a raw connection until it closes (or
/// `bound` passes, which fails the test).
async fn read_to_close(stream: &mut TcpStream, bound: Duration) -> String {
    let mut got = Vec::new();
    tokio::time::timeout(bound, stream.read_to_end(&mut got))
        .await
        .expect("the node closes the connection")
        .ok();
    String::from_utf8_lossy(&got).into_owned()
}

fn json_body(response: &str) -> serde_json::Value {
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {response}"))
}

#[tokio::test]
async fn people_and_staff_reach_a_node_over_tls_with_its_private_authority() {
    let certs = tempfile::tempdir().unwrap();
    let (files, ca) = private_ca(certs.path());
    let edge = Edge {
        tls: Some(files),
        ..Edge::default()
    };
    let mut node = Node::with_edge(Limits::default(), edge, Some(ca.clone())).await;
    assert!(node.url.starts_with("https://"), "{}", node.url);

    // Registration, a chat and live delivery over WSS.
    let mut alice = node.person("alice", "jp").await;
    let mut bob = node.person("bob", "jp").await;
    let chat = alice.create_chat(&["bob".into()], None).await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let watcher = tokio::spawn(async move {
        bob.watch(
            move |e| {
                let _ = tx.send(e.clone());
            },
            async move {
                let _ = stop_rx.await;
            },
        )
        .await
        .unwrap();
    });
    alice.send(&chat, "over tls").await.unwrap();
    loop {
        let e = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("live delivery over WSS")
            .unwrap();
        if let kizuna_client::Event::Message(m) = e {
            assert_eq!(m.text, "over tls");
            break;
        }
    }
    stop_tx.send(()).unwrap();
    watcher.await.unwrap();

    // A device that does not trust the authority refuses the node, and
    // says what to do about it.
    let stranger = kizuna_client::Client::register(
        &node.home("mallory"),
        node.url.as_str(),
        kizuna_client::RegisterOptions {
            handle: "mallory",
            name: "Mallory",
            phone: &phone_for("mallory"),
            // Refused at the handshake, before any code is looked at.
            phone_code: "000000",
            email: None,
            region: "jp",
            device_label: "test",
            agreed_disclosures: Some(&node.agreed("jp").await),
        },
    )
    .await;
    match stranger {
        Err(kizuna_client::ClientError::Unreachable { reason, .. }) => {
            assert!(reason.contains("certificate"), "{reason}");
            assert!(reason.contains("--ca-cert"), "{reason}");
        }
        Err(e) => panic!("expected a certificate failure, got {e}"),
        Ok(_) => panic!("a device trusted a certificate from an unknown authority"),
    }

    // The staff listener serves the same certificate.
    let (admin, _) = crate::staff::staffed(&mut node).await;
    assert_eq!(admin.session().staff_id, "root");
    assert!(crate::staff::staff_url(&node).starts_with("https://"));

    // Plain HTTP to a TLS listener gets no answer it could mistake for one.
    let addr = node.server.as_ref().unwrap().addr;
    let plain = reqwest::Client::new()
        .get(format!("http://{addr}/v1/ledger/head"))
        .timeout(Duration::from_secs(20))
        .send()
        .await;
    assert!(plain.map(|r| !r.status().is_success()).unwrap_or(true));
}

#[tokio::test]
async fn a_forwarded_address_counts_only_from_a_trusted_proxy() {
    // One new account a minute per address: the limit shows which
    // address the node saw.
    let limits = Limits {
        signups_per_minute: 1,
        ..Limits::default()
    };
    let register = |node: &Node, handle: &str, forwarded: &str| {
        let body = serde_json::json!({
            "handle": handle, "name": "N", "phone": phone_for(handle), "region": "jp",
            "device": {"signature_key": "00", "label": "x", "signature": "00"}
        });
        node.http()
            .post(format!("{}/v1/accounts", node.url))
            .header("x-forwarded-for", forwarded)
            .json(&body)
            .send()
    };
    let status = |r: reqwest::Result<reqwest::Response>| r.unwrap().status().as_u16();

    // Behind a trusted proxy (the test itself, on loopback), each
    // forwarded client has its own budget.
    let edge = Edge {
        trusted_proxies: vec!["127.0.0.0/8".parse().unwrap()],
        ..Edge::default()
    };
    let node = Node::with_edge(limits.clone(), edge, None).await;
    // The first attempt from each client is judged on its content (these
    // are malformed), not refused by the limit.
    assert_ne!(status(register(&node, "p1", "203.0.113.1").await), 429);
    assert_ne!(status(register(&node, "p2", "203.0.113.2").await), 429);
    assert_eq!(status(register(&node, "p3", "203.0.113.1").await), 429);
    // A client cannot buy a fresh budget by writing its own header in
    // front of the one the proxy appended.
    assert_eq!(
        status(register(&node, "p4", "198.51.100.9, 203.0.113.1").await),
        429
    );

    // From a peer that is not a trusted proxy the header is ignored: every
    // attempt counts against the peer's own address.
    let node = Node::with_edge(limits, Edge::default(), None).await;
    assert_ne!(status(register(&node, "q1", "203.0.113.1").await), 429);
    assert_eq!(status(register(&node, "q2", "203.0.113.2").await), 429);
}

#[tokio::test]
async fn the_staff_network_check_sees_the_client_behind_a_trusted_proxy() {
    // The operator's staff may connect from 127.0.0.0/8 only (bootstrap).
    let edge = Edge {
        trusted_proxies: vec!["127.0.0.0/8".parse().unwrap()],
        ..Edge::default()
    };
    let mut node = Node::with_edge(Limits::default(), edge, None).await;
    let (admin, _) = crate::staff::staffed(&mut node).await;
    let token = &admin.session().token;
    let whoami = |forwarded: &'static str| {
        node.http()
            .get(format!("{}/staff/v1/me", crate::staff::staff_url(&node)))
            .bearer_auth(token)
            .header("x-forwarded-for", forwarded)
            .send()
    };
    // A staff session used from outside the organisation's networks, as
    // the proxy reports it, is refused even though the proxy is local.
    let r = whoami("192.0.2.44").await.unwrap();
    assert_eq!(r.status(), 403);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "network_not_allowed");
    assert!(whoami("127.0.0.9").await.unwrap().status().is_success());
}

#[tokio::test]
async fn a_request_succeeds_while_1500_idle_connections_are_held() {
    // `kizuna serve` as an operator starts it, under the open-file limit
    // many systems give a process by default: the node must raise it
    // rather than stop accepting at about a thousand connections.
    let dir = tempfile::tempdir().unwrap();
    let (listen, staff) = (free_port(), free_port());
    let serve = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#"ulimit -S -n 1024 && exec "$0" "$@""#)
        .arg(env!("CARGO_BIN_EXE_kizuna"))
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .args(["--listen", &listen.to_string()])
        .args(["--staff-listen", &staff.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("serve.log")).unwrap())
        .spawn()
        .unwrap();
    let mut serve = KillOnDrop(serve);
    let url = format!("http://{listen}/v1/ledger/head");
    let http = reqwest::Client::new();
    assert!(
        wait_until_up(&url).await,
        "the node did not start: {}",
        std::fs::read_to_string(dir.path().join("serve.log")).unwrap_or_default()
    );

    let mut idle = Vec::with_capacity(1500);
    for _ in 0..1500 {
        idle.push(TcpStream::connect(listen).await.unwrap());
    }
    let r = tokio::time::timeout(Duration::from_secs(30), http.get(&url).send())
        .await
        .expect("the node answers while 1,500 idle connections are held")
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    drop(idle);
    serve.0.kill().unwrap();
}

#[tokio::test]
async fn beyond_the_connection_limit_a_connection_is_refused_clearly() {
    let edge = Edge {
        max_connections: 8,
        ..Edge::default()
    };
    let node = Node::with_edge(Limits::default(), edge, None).await;
    let addr = node.server.as_ref().unwrap().addr;
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(TcpStream::connect(addr).await.unwrap());
    }
    let mut ninth = TcpStream::connect(addr).await.unwrap();
    let answer = read_to_close(&mut ninth, Duration::from_secs(20)).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    let body = json_body(&answer);
    assert_eq!(body["code"], "too_many_connections");
    assert!(body["message"].as_str().unwrap().contains("try again"));

    // Once they close, the node serves again.
    drop(held);
    let mut served = false;
    for _ in 0..100 {
        if let Ok(r) = node
            .http()
            .get(format!("{}/v1/ledger/head", node.url))
            .send()
            .await
        {
            if r.status().is_success() {
                served = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served, "the node serves again once connections close");
}

#[tokio::test]
async fn slow_headers_slow_bodies_and_silence_end_the_connection() {
    let edge = Edge {
        header_timeout: Duration::from_millis(500),
        body_timeout: Duration::from_millis(500),
        idle_timeout: Duration::from_secs(2),
        ..Edge::default()
    };
    let node = Node::with_edge(Limits::default(), edge, None).await;
    let addr = node.server.as_ref().unwrap().addr;

    // Headers that never finish.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /v1/ledger/head HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    read_to_close(&mut slow, Duration::from_secs(20)).await;

    // A connection that never says anything.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    read_to_close(&mut silent, Duration::from_secs(20)).await;

    // A body that never finishes: answered with an error, then closed.
    let mut body = TcpStream::connect(addr).await.unwrap();
    body.write_all(
        b"POST /v1/accounts HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"handle\"",
    )
    .await
    .unwrap();
    let answer = read_to_close(&mut body, Duration::from_secs(20)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(json_body(&answer)["code"], "request_timeout", "{answer}");

    // None of this stopped anyone else.
    let r = node
        .http()
        .get(format!("{}/v1/ledger/head", node.url))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
}

#[tokio::test]
async fn one_device_holds_only_so_many_websockets() {
    let limits = Limits {
        websockets_per_device: 2,
        ..Limits::default()
    };
    let node = Node::with_limits(limits).await;
    let mut alice = node.person("alice", "jp").await;
    let token = alice.bearer_token().await.unwrap();
    let url = node.url.replace("http://", "ws://") + "/v1/ws";
    let connect = || {
        let mut req =
            tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
                url.as_str(),
            )
            .unwrap();
        req.headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        tokio_tungstenite::connect_async(req)
    };
    let first = connect().await.unwrap();
    let second = connect().await.unwrap();
    match connect().await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 429);
            let body: kizuna_wire::ErrorBody =
                serde_json::from_slice(resp.body().as_deref().unwrap_or_default()).unwrap();
            assert_eq!(body.code, ErrorCode::TooManyConnections);
        }
        Err(e) => panic!("expected a 429 refusal, got {e}"),
        Ok(_) => panic!("a third WebSocket was accepted"),
    }
    // Closing one makes room for another.
    drop(first);
    let mut reopened = false;
    for _ in 0..100 {
        if connect().await.is_ok() {
            reopened = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(reopened);
    drop(second);
}
