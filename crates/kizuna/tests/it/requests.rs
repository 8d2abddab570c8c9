//! Nobody is put into a conversation against their will: a chat from a
//! stranger waits as a request, and a blocked person's invitations and
//! one-to-one messages are refused by the node, which tells them nothing
//! more than that.

use kizuna_client::{ClientError, Event};
use kizuna_wire::ErrorCode;

use crate::harness::*;

fn refused<T: std::fmt::Debug>(r: Result<T, ClientError>) -> String {
    match r {
        Err(ClientError::Api {
            code: ErrorCode::Refused,
            message,
        }) => message,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Rows of the node's own database.
async fn node_rows(node: &Node, sql: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    let path = node.files().node_store();
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let rows = sqlx::query_as(sql).fetch_all(&pool).await.unwrap();
    pool.close().await;
    rows
}

fn requests_in(events: &[Event]) -> Vec<(String, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Request { chat, by } => Some((chat.clone(), by.clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_chat_from_a_stranger_waits_as_a_request_until_accepted() {
    let node = Node::start().await;
    let mut bob = node.person("bob", "jp").await;
    let mut alice = node.person("alice", "jp").await;
    let mut mallory = node.stranger("mallory", "jp", &phone_for("mallory")).await;

    // From a contact: a normal chat at once.
    let known = alice.create_chat(&["bob".into()], None).await.unwrap();
    alice.send(&known, "hi from alice").await.unwrap();
    // From a stranger: a request, and nothing of it shows.
    let chat = mallory.create_chat(&["bob".into()], None).await.unwrap();
    mallory.send(&chat, "buy my coins").await.unwrap();
    let events = bob.sync().await.unwrap();
    assert_eq!(texts(&events), vec!["hi from alice"]);
    assert_eq!(requests_in(&events), vec![(chat.clone(), "mallory".into())]);
    let chats: Vec<String> = bob
        .chats()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.chat)
        .collect();
    assert_eq!(chats, vec![known.clone()]);
    let waiting = bob.chat_requests().await.unwrap();
    assert_eq!(waiting.len(), 1);
    assert_eq!(
        (
            waiting[0].chat.as_str(),
            waiting[0].from.as_str(),
            waiting[0].messages
        ),
        (chat.as_str(), "mallory", 1)
    );
    // What comes while it waits is kept, not shown.
    mallory.send(&chat, "last chance").await.unwrap();
    assert!(texts(&bob.sync().await.unwrap()).is_empty());
    assert!(matches!(
        bob.send(&chat, "who are you?").await,
        Err(ClientError::ChatRequest { .. })
    ));
    assert!(matches!(
        bob.add_member(&chat, "alice").await,
        Err(ClientError::ChatRequest { .. })
    ));

    // Accepted: a normal chat, with what waited in it.
    let accepted = bob.accept_chat(&chat).await.unwrap();
    assert_eq!(accepted.messages, 2);
    assert!(bob.chat_requests().await.unwrap().is_empty());
    assert_eq!(bob.chats().await.unwrap().len(), 2);
    let history = history_texts(&bob, &chat).await;
    assert_eq!(history, vec!["buy my coins", "last chance"]);
    bob.send(&chat, "who are you?").await.unwrap();
    mallory.send(&chat, "a friend").await.unwrap();
    assert_eq!(texts(&bob.sync().await.unwrap()), vec!["a friend"]);
    assert!(matches!(
        bob.accept_chat(&chat).await,
        Err(ClientError::Unchanged(_))
    ));
}

#[tokio::test]
async fn writing_from_another_device_answers_a_request_there() {
    let node = Node::start().await;
    let mut bob = node.person("bob", "jp").await;
    let (mut bob_laptop, _) = link(&node, &mut bob, "bob-laptop").await;
    let mut mallory = node.stranger("mallory", "jp", &phone_for("mallory")).await;
    let chat = mallory.create_chat(&["bob".into()], None).await.unwrap();
    mallory.send(&chat, "hello").await.unwrap();
    bob.sync().await.unwrap();
    let on_laptop = bob_laptop.sync().await.unwrap();
    assert_eq!(requests_in(&on_laptop).len(), 1);
    // A device linked now is not put into the request: added by its own
    // account, it would take it for a chat bob accepted.
    let (mut bob_tablet, changed) = link(&node, &mut bob, "bob-tablet").await;
    assert!(changed.iter().all(|c| c.chat != chat), "{changed:?}");
    bob_tablet.sync().await.unwrap();
    assert!(bob_tablet.chats().await.unwrap().is_empty());

    bob.accept_chat(&chat).await.unwrap();
    bob.send(&chat, "hi").await.unwrap();
    let on_laptop = bob_laptop.sync().await.unwrap();
    assert_eq!(texts(&on_laptop), vec!["hi"]);
    assert!(bob_laptop.chat_requests().await.unwrap().is_empty());
    bob_laptop.send(&chat, "from my laptop").await.unwrap();
}

#[tokio::test]
async fn declining_leaves_the_chat_and_forgets_it() {
    let node = Node::start().await;
    let mut bob = node.person("bob", "jp").await;
    let mut mallory = node.stranger("mallory", "jp", &phone_for("mallory")).await;
    let chat = mallory.create_chat(&["bob".into()], None).await.unwrap();
    mallory.send(&chat, "spam").await.unwrap();
    bob.sync().await.unwrap();

    let declined = bob.decline_chat(&chat, false).await.unwrap();
    assert_eq!(declined.from, "mallory");
    assert!(bob.chat_requests().await.unwrap().is_empty());
    assert!(bob.chats().await.unwrap().is_empty());
    assert!(bob.history(&chat).await.unwrap().is_empty());
    // Mallory's device carries out the departure; bob receives nothing more.
    let seen = mallory.sync().await.unwrap();
    assert!(
        seen.iter().any(
            |e| matches!(e, Event::MembersChanged { left, .. } if left == &vec!["bob".to_string()])
        ),
        "mallory sees bob leave: {seen:?}"
    );
    mallory.send(&chat, "more spam").await.unwrap();
    let members = member_handles(&mut mallory, &chat).await;
    assert_eq!(members, vec!["mallory"]);
    assert!(bob.sync().await.unwrap().is_empty());
    assert!(bob.history(&chat).await.unwrap().is_empty());

    // Asked again, and declined with a block: nothing more can come.
    bob.unblock("mallory").await.unwrap();
    let again = mallory.create_chat(&["bob".into()], None).await.unwrap();
    let events = bob.sync().await.unwrap();
    assert_eq!(
        requests_in(&events),
        vec![(again.clone(), "mallory".into())]
    );
    bob.decline_chat(&again, true).await.unwrap();
    let blocked: Vec<String> = bob
        .blocked()
        .await
        .unwrap()
        .blocked
        .into_iter()
        .map(|b| b.handle)
        .collect();
    assert_eq!(blocked, vec!["mallory"]);
    refused(mallory.create_chat(&["bob".into()], None).await);
}

#[tokio::test]
async fn a_blocked_person_cannot_invite_or_write_one_to_one() {
    let mut node = Node::start().await;
    let mut alice = node.person("alice", "jp").await;
    let mut bob = node.person("bob", "jp").await;
    let mut carol = node.person("carol", "jp").await;
    let dm = alice.create_chat(&["bob".into()], None).await.unwrap();
    let group = alice.create_chat(&["carol".into()], None).await.unwrap();
    alice.send(&dm, "before").await.unwrap();
    bob.sync().await.unwrap();
    carol.sync().await.unwrap();

    // An invitation made before the block, sent after it.
    let early = alice.prepare_addition(&group, "bob").await.unwrap();
    let list = bob.block("alice").await.unwrap();
    assert_eq!(list.blocked.len(), 1);
    assert_eq!(list.blocked[0].handle, "alice");
    // Blocking twice changes nothing.
    assert_eq!(bob.block("alice").await.unwrap(), list);

    // One-to-one messages, new chats and invitations: the same refusal,
    // which names nobody.
    let said = refused(alice.send(&dm, "are you there?").await);
    assert!(!said.contains("bob"), "{said}");
    assert_eq!(
        refused(alice.create_chat(&["bob".into()], None).await),
        said
    );
    assert_eq!(refused(alice.add_member(&group, "bob").await), said);
    // Nor can she make their chat a group to speak in again.
    assert_eq!(refused(alice.add_member(&dm, "carol").await), said);
    let token = alice.bearer_token().await.unwrap();
    let r = node
        .http()
        .post(format!("{}/v1/groups/{group}/commits", node.url))
        .bearer_auth(token)
        .json(&early)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let body: kizuna_wire::ErrorBody = r.json().await.unwrap();
    assert_eq!(
        (body.code, body.message.as_str()),
        (ErrorCode::Refused, said.as_str())
    );
    assert!(bob.sync().await.unwrap().is_empty());
    // A block holds across a restart of the node.
    node.restart().await;
    assert_eq!(refused(alice.send(&dm, "hello?").await), said);

    // Bob still writes to her; in a group she still speaks to the others,
    // and someone else may bring bob into it.
    bob.send(&dm, "please stop").await.unwrap();
    carol.add_member(&group, "bob").await.unwrap();
    alice.sync().await.unwrap();
    alice.send(&group, "hello all").await.unwrap();
    assert_eq!(texts(&carol.sync().await.unwrap()), vec!["hello all"]);
    assert_eq!(texts(&bob.sync().await.unwrap()), vec!["hello all"]);

    // The node keeps keyed hashes only; the readable list is bob's,
    // sealed in his region, and in his export.
    let export = bob.export().await.unwrap();
    assert_eq!(export.blocked.len(), 1);
    let rows = node_rows(&node, "SELECT pair, blocked FROM blocks").await;
    assert_eq!(rows.len(), 1);
    for id in [&alice.identity().account_id, &bob.identity().account_id] {
        assert!(!contains(&rows[0].0, id.as_bytes()) && !contains(&rows[0].1, id.as_bytes()));
    }

    // Unblocked: she writes again.
    assert!(bob.unblock("alice").await.unwrap().blocked.is_empty());
    alice.send(&dm, "sorry").await.unwrap();
    assert!(texts(&bob.sync().await.unwrap()).contains(&"sorry".to_string()));

    // An erased account's blocks go with it.
    bob.block("alice").await.unwrap();
    bob.erase_account().await.unwrap();
    let rows = node_rows(&node, "SELECT pair, blocked FROM blocks").await;
    assert!(rows.is_empty());
}

#[tokio::test]
async fn blocking_refuses_what_makes_no_sense() {
    let node = Node::start().await;
    let mut bob = node.person("bob", "jp").await;
    let api = |e: Result<kizuna_wire::BlockList, ClientError>| e.unwrap_err().api_code();
    assert_eq!(api(bob.block("bob").await), Some(ErrorCode::BadRequest));
    assert_eq!(
        api(bob.block("nobody").await),
        Some(ErrorCode::UnknownAccount)
    );
    assert_eq!(
        api(bob.block("NOT%20A%20HANDLE").await),
        Some(ErrorCode::InvalidHandle)
    );
    assert_eq!(
        api(bob.unblock("nobody").await),
        Some(ErrorCode::UnknownAccount)
    );
    assert!(bob.blocked().await.unwrap().blocked.is_empty());
    // Unblocking someone not blocked changes nothing.
    node.person("alice", "jp").await;
    assert!(bob.unblock("alice").await.unwrap().blocked.is_empty());
}

#[tokio::test]
async fn the_cli_answers_requests_and_blocks() {
    let node = Node::start().await;
    let mut bob = node.person("bob", "jp").await;
    let mut mallory = node.stranger("mallory", "jp", &phone_for("mallory")).await;
    let chat = mallory.create_chat(&["bob".into()], None).await.unwrap();
    mallory.send(&chat, "hi").await.unwrap();
    drop(bob.sync().await.unwrap());
    let home = node.home("bob");
    let home = home.to_str().unwrap();

    let out = run(args(&["chat", "requests", "--home", home, "--json"])).await;
    assert!(out.status.success());
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["from"], "mallory");
    assert_eq!(line["messages"], 1);
    // Sending into a request: exit 9, with what to do.
    let out = run(args(&["send", "--home", home, &chat[..8], "hello"])).await;
    assert_eq!(out.status.code(), Some(9), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("kizuna chat accept"));
    let out = run(args(&[
        "chat",
        "decline",
        "--home",
        home,
        &chat[..8],
        "--block",
    ]))
    .await;
    assert!(out.status.success(), "{out:?}");
    let out = run(args(&["blocked", "--home", home, "--json"])).await;
    let list: kizuna_wire::BlockList = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.blocked[0].handle, "mallory");
    let out = run(args(&["unblock", "mallory", "--home", home])).await;
    assert!(out.status.success(), "{out:?}");
    let out = run(args(&["blocked", "--home", home])).await;
    assert!(out.stdout.is_empty());
}
