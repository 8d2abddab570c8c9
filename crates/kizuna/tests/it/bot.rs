//! `kizuna bot`, as a city's IT department runs it: the official account's
//! device on the city's machine, followers' messages posted to the city's
//! webhook in order and again after a failure or a restart, replies, cards
//! and segment notices through its local API, and every request without
//! the daemon's secret refused in both directions.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use kizuna_bot::{BotConfig, RunningBot, WebhookEvent};
use kizuna_wire::{FollowerRequest, Structured};

use crate::harness::*;

const SECRET: &str = "city-secret-0123456789abcdef";

/// The city's webhook: keeps what it is given with the right secret, and
/// answers 500 while told to fail.
#[derive(Clone, Default)]
struct Webhook {
    got: Arc<Mutex<Vec<WebhookEvent>>>,
    failing: Arc<Mutex<bool>>,
    refused: Arc<Mutex<u32>>,
}

impl Webhook {
    async fn start(&self) -> String {
        let hook = self.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let hook = hook.clone();
                async move {
                    let authed = headers.get("authorization").and_then(|v| v.to_str().ok())
                        == Some(format!("Bearer {SECRET}").as_str());
                    if !authed {
                        *hook.refused.lock().unwrap() += 1;
                        return StatusCode::UNAUTHORIZED;
                    }
                    if *hook.failing.lock().unwrap() {
                        return StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    let e: WebhookEvent = serde_json::from_slice(&body).unwrap();
                    hook.got.lock().unwrap().push(e);
                    StatusCode::NO_CONTENT
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/hook")
    }

    fn messages(&self) -> Vec<(String, Option<Structured>)> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                WebhookEvent::Message {
                    text, structured, ..
                } => Some((text.clone(), structured.clone())),
                _ => None,
            })
            .collect()
    }

    async fn until(&self, what: &str, ok: impl Fn(&Webhook) -> bool) {
        for _ in 0..200 {
            if ok(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the webhook never got {what}: {:?}",
            self.got.lock().unwrap()
        );
    }
}

async fn start_bot(node: &Node, webhook: &str) -> RunningBot {
    RunningBot::start(BotConfig {
        home: node.home("city.shibuya"),
        webhook: webhook.into(),
        listen: "127.0.0.1:0".parse().unwrap(),
        secret: SECRET.into(),
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn the_city_daemon_delivers_to_its_webhook_and_answers_through_its_api() {
    let mut node = Node::start().await;
    crate::official::verified_city(&mut node)
        .await
        .close()
        .await;
    let hook = Webhook::default();
    let url = hook.start().await;
    let bot = start_bot(&node, &url).await;
    let api = format!("http://{}", bot.addr);
    let http = reqwest::Client::new();

    let mut alice = node.person("alice", "jp").await;
    let (chat, _) = alice.follow("city.shibuya").await.unwrap();
    alice.send(&chat, "hello city").await.unwrap();
    hook.until("alice's hello", |h| !h.messages().is_empty())
        .await;
    assert!(hook
        .got
        .lock()
        .unwrap()
        .iter()
        .any(|e| matches!(e, WebhookEvent::Followed { from, .. } if from == "alice")));

    // The API refuses anyone without the secret, and bad input, typed.
    let card = serde_json::json!({
        "chat": chat,
        "text": "Choose a vaccination slot",
        "buttons": [{"id": "slot-1", "label": "Mon 10:00"}, {"id": "slot-2", "label": "Tue 14:30"}],
    });
    for auth in [None, Some("Bearer wrong-secret-0123456789abcd")] {
        let mut r = http.post(format!("{api}/v1/messages")).json(&card);
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), 401);
        let body: kizuna_wire::ErrorBody = r.json().await.unwrap();
        assert_eq!(body.code, kizuna_wire::ErrorCode::Unauthorized);
    }
    let r = http
        .post(format!("{api}/v1/messages"))
        .bearer_auth(SECRET)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = http
        .post(format!("{api}/v1/messages"))
        .bearer_auth(SECRET)
        .json(&serde_json::json!({"chat": chat, "text": "x", "buttons": [{"id": "no spaces", "label": "x"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = http
        .post(format!("{api}/v1/messages"))
        .bearer_auth(SECRET)
        .json(&card)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let sent: kizuna_bot::SentMessage = r.json().await.unwrap();

    // Alice answers with a button; the webhook gets the answer's structure.
    alice.sync().await.unwrap();
    alice
        .answer(&chat, sent.seq, Some("slot-2"), Default::default())
        .await
        .unwrap();
    hook.until("the answer", |h| {
        h.messages().iter().any(
            |(_, s)| matches!(s, Some(Structured::Answer { choice: Some(c), .. }) if c == "slot-2"),
        )
    })
    .await;

    // A notice goes to the followers of its segment only, each in their
    // own end-to-end encrypted chat.
    let mut bob = node.person("bob", "jp").await;
    let (bob_chat, _) = bob.follow("city.shibuya").await.unwrap();
    bob.send(&bob_chat, "hi").await.unwrap();
    alice
        .send_structured(
            &chat,
            "Ward 3 notices, please",
            Structured::Request(FollowerRequest::Segments {
                segments: vec!["ward-3".into()],
            }),
        )
        .await
        .unwrap();
    hook.until("alice's segments", |h| {
        h.messages()
            .iter()
            .any(|(t, _)| t == "Ward 3 notices, please")
    })
    .await;
    let r: kizuna_bot::NoticeSent = http
        .post(format!("{api}/v1/notices"))
        .bearer_auth(SECRET)
        .json(&serde_json::json!({"segment": "ward-3", "text": "Water off in ward 3 on Friday"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r.sent, vec![chat.clone()]);
    assert!(
        texts(&alice.sync().await.unwrap()).contains(&"Water off in ward 3 on Friday".to_string())
    );
    assert!(
        !texts(&bob.sync().await.unwrap()).contains(&"Water off in ward 3 on Friday".to_string())
    );

    // The webhook fails: nothing is skipped; once it is back, what waited
    // arrives in order. And a daemon stopped meanwhile catches up.
    *hook.failing.lock().unwrap() = true;
    alice.send(&chat, "first while down").await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    bot.stop().await;
    alice.send(&chat, "second while stopped").await.unwrap();
    *hook.failing.lock().unwrap() = false;
    let bot = start_bot(&node, &url).await;
    hook.until("both, in order", |h| {
        let ts: Vec<String> = h.messages().into_iter().map(|(t, _)| t).collect();
        let a = ts.iter().position(|t| t == "first while down");
        let b = ts.iter().position(|t| t == "second while stopped");
        matches!((a, b), (Some(a), Some(b)) if a < b)
    })
    .await;
    // Delivered once each, and nothing ever went out without the secret.
    let ts: Vec<String> = hook.messages().into_iter().map(|(t, _)| t).collect();
    assert_eq!(
        ts.iter().filter(|t| *t == "hello city").count(),
        1,
        "{ts:?}"
    );
    assert_eq!(*hook.refused.lock().unwrap(), 0);
    bot.stop().await;
    alice.close().await;
    bob.close().await;
}

/// Syncs `who` until a message whose text contains `wanted` arrives;
/// answers it.
async fn until_message(
    who: &mut kizuna_client::Client,
    wanted: &str,
) -> kizuna_client::StoredMessage {
    for _ in 0..200 {
        for e in who.sync().await.unwrap() {
            if let kizuna_client::Event::Message(m) = e {
                if m.text.contains(wanted) {
                    return m;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no message with {wanted:?} arrived");
}

#[tokio::test]
async fn the_example_vaccination_bot_books_a_slot_reminds_and_erases() {
    let mut node = Node::start().await;
    crate::official::verified_city(&mut node)
        .await
        .close()
        .await;
    let secret_file = node.home("city-secret");
    std::fs::write(&secret_file, SECRET).unwrap();
    let hook_addr = free_port();
    let bot = start_bot(&node, &format!("http://{hook_addr}/kizuna")).await;
    let bookings = node.home("bookings.json");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/vaccination-bot/webhook.py");
    let _service = KillOnDrop(
        std::process::Command::new("python3")
            .arg(&script)
            .args(["--listen", &hook_addr.to_string()])
            .args(["--bot", &format!("http://{}", bot.addr)])
            .arg("--secret-file")
            .arg(&secret_file)
            .arg("--bookings")
            .arg(&bookings)
            .args(["--remind-after", "1"])
            .spawn()
            .expect("python3 runs the example"),
    );
    assert!(wait_until_up(&format!("http://{hook_addr}/kizuna")).await);
    // The service refuses whoever does not carry the daemon's secret.
    let r = reqwest::Client::new()
        .post(format!("http://{hook_addr}/kizuna"))
        .json(&serde_json::json!({"type": "followed", "chat": "x", "from": "mallory"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let mut alice = node.person("alice", "jp").await;
    let (chat, _) = alice.follow("city.shibuya").await.unwrap();
    let card = until_message(&mut alice, "choose a slot").await;
    let Some(Structured::Card { buttons, .. }) = card.structured.as_deref() else {
        panic!("{card:?}");
    };
    assert!(buttons.iter().any(|b| b.id == "tue-1430"), "{buttons:?}");
    alice
        .answer(&chat, card.seq, Some("tue-1430"), Default::default())
        .await
        .unwrap();
    until_message(&mut alice, "Booked: Tue 14:30").await;
    until_message(&mut alice, "Reminder: your vaccination is Tue 14:30").await;
    let kept = std::fs::read_to_string(&bookings).unwrap();
    assert!(kept.contains("tue-1430"), "{kept}");

    // Asking for erasure as she unfollows removes the booking.
    alice.unfollow("city.shibuya", true).await.unwrap();
    for _ in 0..100 {
        if !std::fs::read_to_string(&bookings)
            .unwrap()
            .contains("tue-1430")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!std::fs::read_to_string(&bookings)
        .unwrap()
        .contains("tue-1430"));
    bot.stop().await;
    alice.close().await;
}
