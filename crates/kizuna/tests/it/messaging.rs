use kizuna_client::{ClientError, Event};
use kizuna_wire::ErrorCode;

use crate::harness::*;

#[tokio::test]
async fn one_to_one_chat() {
    let node = Node::start().await;
    let mut alice = node.person("alice", "jp").await;
    let mut bob = node.person("bob", "kr").await;

    let chat = alice.create_chat(&["bob".into()], None).await.unwrap();
    let sent = alice.send(&chat, "hello bob").await.unwrap();

    let events = bob.sync().await.unwrap();
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::Joined { by, .. } if by == "alice")));
    let got = messages(&events);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].text, "hello bob");
    assert_eq!(got[0].sender, "alice");
    // Her display name came inside the message, not from the node.
    assert_eq!(got[0].sender_name.as_deref(), Some("alice Person"));
    assert_eq!(got[0].sender_device, alice.identity().device_id);
    assert_eq!(got[0].seq, sent.seq);
    assert_eq!(got[0].server_time, sent.server_time);

    bob.send(&chat, "hi alice").await.unwrap();
    assert_eq!(texts(&alice.sync().await.unwrap()), ["hi alice"]);

    // Both sides keep the same history, in the same order.
    let a = history_texts(&alice, &chat).await;
    let b = history_texts(&bob, &chat).await;
    assert_eq!(a, ["hello bob", "hi alice"]);
    assert_eq!(a, b);
    // A second sync finds nothing: the queue was acknowledged and emptied.
    assert!(messages(&bob.sync().await.unwrap()).is_empty());
}

/// A chat list shows each chat's latest message and counts, as unread,
/// the messages from others after the last one the person read; their own
/// messages are never unread, and reading never goes back.
#[tokio::test]
async fn a_chat_counts_what_came_after_the_last_message_read() {
    let node = Node::start().await;
    let mut alice = node.person("alice", "jp").await;
    let mut bob = node.person("bob", "jp").await;
    let chat = alice.create_chat(&["bob".into()], None).await.unwrap();
    alice.send(&chat, "one").await.unwrap();
    let two = alice.send(&chat, "two").await.unwrap();
    bob.sync().await.unwrap();
    let summary = |c: Vec<kizuna_client::ChatSummary>| {
        let s = c.into_iter().find(|s| s.chat == chat).unwrap();
        (s.unread, s.last.map(|l| (l.sender, l.text)))
    };
    assert_eq!(
        summary(bob.chats().await.unwrap()),
        (2, Some(("alice".into(), "two".into())))
    );
    bob.mark_read(&chat, two.seq).await.unwrap();
    bob.send(&chat, "mine").await.unwrap();
    assert_eq!(
        summary(bob.chats().await.unwrap()),
        (0, Some(("bob".into(), "mine".into())))
    );
    alice.send(&chat, "three").await.unwrap();
    bob.sync().await.unwrap();
    bob.mark_read(&chat, 0).await.unwrap();
    assert_eq!(
        summary(bob.chats().await.unwrap()).0,
        1,
        "reading never goes back"
    );
    alice.sync().await.unwrap();
    assert_eq!(
        summary(alice.chats().await.unwrap()).0,
        1,
        "bob's one, none of hers"
    );
}

/// A chat's name travels inside the group: someone added after it was
/// named learns it from the one who added them, and those who knew it are
/// not told it changed.
#[tokio::test]
async fn a_member_added_later_learns_the_chats_name() {
    let node = Node::start().await;
    let mut alice = node.person("alice", "jp").await;
    let mut bob = node.person("bob", "jp").await;
    let mut carol = node.person("carol", "jp").await;
    let chat = alice
        .create_chat(&["bob".into()], Some("Team"))
        .await
        .unwrap();
    bob.sync().await.unwrap();
    alice.add_member(&chat, "carol").await.unwrap();
    carol.sync().await.unwrap();
    let name = |c: Vec<kizuna_client::ChatSummary>| {
        c.into_iter().find(|s| s.chat == chat).and_then(|s| s.name)
    };
    assert_eq!(name(carol.chats().await.unwrap()).as_deref(), Some("Team"));
    let seen = bob.sync().await.unwrap();
    assert!(
        !seen.iter().any(|e| matches!(e, Event::Renamed { .. })),
        "bob knew the name: {seen:?}"
    );
    assert_eq!(name(bob.chats().await.unwrap()).as_deref(), Some("Team"));
}

#[tokio::test]
async fn group_add_and_remove() {
    let node = Node::start().await;
    let mut alice = node.person("alice", "jp").await;
    let mut bob = node.person("bob", "jp").await;
    let mut carol = node.person("carol", "kr").await;
    let mut dave = node.person("dave", "jp").await;

    let chat = alice
        .create_chat(&["bob".into(), "carol".into()], Some("Trip"))
        .await
        .unwrap();
    bob.sync().await.unwrap();
    carol.sync().await.unwrap();
    assert_eq!(
        carol.chats().await.unwrap()[0].name.as_deref(),
        Some("Trip")
    );

    alice.send(&chat, "before dave").await.unwrap();
    let before_dave = bob.peek_inbox().await.unwrap().pop().unwrap();
    assert_eq!(texts(&carol.sync().await.unwrap()), ["before dave"]);
    assert_eq!(texts(&bob.sync().await.unwrap()), ["before dave"]);

    // Bob adds Dave; Dave cannot read what was sent before he joined.
    bob.add_member(&chat, "dave").await.unwrap();
    dave.sync().await.unwrap();
    assert!(dave
        .open_ciphertext(&chat, &before_dave.payload.0)
        .await
        .is_err());
    carol.send(&chat, "welcome dave").await.unwrap();
    assert_eq!(texts(&dave.sync().await.unwrap()), ["welcome dave"]);

    // Alice removes Carol. Carol, even before she processes the removal,
    // cannot decrypt what is sent afterwards.
    alice.sync().await.unwrap();
    alice.remove_member(&chat, "carol").await.unwrap();
    alice.send(&chat, "carol is gone").await.unwrap();
    let after = bob.peek_inbox().await.unwrap().pop().unwrap();
    assert!(carol
        .open_ciphertext(&chat, &after.payload.0)
        .await
        .is_err());

    let events = carol.sync().await.unwrap();
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::Removed { by, .. } if by == "alice")));
    assert!(
        texts(&events).is_empty(),
        "the server no longer routes to carol"
    );
    assert!(matches!(
        carol.send(&chat, "still here?").await,
        Err(ClientError::NotInChat(_))
    ));
    assert!(carol
        .open_ciphertext(&chat, &after.payload.0)
        .await
        .is_err());

    assert_eq!(
        texts(&bob.sync().await.unwrap()),
        ["welcome dave", "carol is gone"]
    );
    assert_eq!(texts(&dave.sync().await.unwrap()), ["carol is gone"]);
    let members = member_handles(&mut bob, &chat).await;
    assert_eq!(members.len(), 3);
    assert!(!members.contains(&"carol".to_string()));
}

#[tokio::test]
async fn offline_member_catches_up_in_order() {
    let node = Node::start().await;
    let mut alice = node.person("alice", "jp").await;
    let mut bob = node.person("bob", "jp").await;
    let mut carol = node.person("carol", "jp").await;
    let chat = alice
        .create_chat(&["bob".into(), "carol".into()], None)
        .await
        .unwrap();
    bob.sync().await.unwrap();

    let mut expect = Vec::new();
    for i in 0..30 {
        let (who, text) = if i % 3 == 0 {
            (&mut bob, format!("b{i}"))
        } else {
            (&mut alice, format!("a{i}"))
        };
        who.send(&chat, &text).await.unwrap();
        expect.push(text);
        if i % 3 == 0 {
            alice.sync().await.unwrap();
        } else {
            bob.sync().await.unwrap();
        }
    }
    let got = messages(&carol.sync().await.unwrap());
    assert_eq!(
        got.iter().map(|m| m.text.clone()).collect::<Vec<_>>(),
        expect
    );
    assert!(
        got.windows(2).all(|w| w[0].seq < w[1].seq),
        "per-chat sequence increases"
    );
}

#[tokio::test]
async fn concurrent_commits_in_one_epoch() {
    let node = Node::start().await;
    let mut alice = node.person("alice", "jp").await;
    let mut bob = node.person("bob", "jp").await;
    let mut carol = node.person("carol", "jp").await;
    let mut dave = node.person("dave", "jp").await;
    let mut erin = node.person("erin", "jp").await;
    let chat = alice.create_chat(&["bob".into()], None).await.unwrap();
    bob.sync().await.unwrap();

    // Bob has not seen Alice's commit when he makes his own for the same
    // epoch: the server refuses his with stale_epoch, his client processes
    // Alice's commit and retries.
    alice.add_member(&chat, "carol").await.unwrap();
    bob.add_member(&chat, "dave").await.unwrap();

    // And both at once, truly concurrently.
    alice.sync().await.unwrap();
    let (a, b) = tokio::join!(alice.send(&chat, "racing"), bob.add_member(&chat, "erin"));
    a.unwrap();
    b.unwrap();

    for c in [&mut carol, &mut dave, &mut erin] {
        c.sync().await.unwrap();
    }
    alice.sync().await.unwrap();
    bob.sync().await.unwrap();
    alice.send(&chat, "all five?").await.unwrap();
    for c in [&mut bob, &mut carol, &mut dave, &mut erin] {
        let t = texts(&c.sync().await.unwrap());
        assert_eq!(t.last().map(String::as_str), Some("all five?"));
    }
    assert_eq!(alice.members(&chat).await.unwrap().len(), 5);
}

#[tokio::test]
async fn stale_commit_is_refused_by_the_server() {
    let node = Node::start().await;
    let mut alice = node.person("alice", "jp").await;
    let mut bob = node.person("bob", "jp").await;
    node.person("carol", "jp").await;
    let chat = alice.create_chat(&["bob".into()], None).await.unwrap();
    bob.sync().await.unwrap();
    // An application message made at epoch 1, replayed after the group moved on.
    alice.send(&chat, "epoch one").await.unwrap();
    let old = bob.peek_inbox().await.unwrap().pop().unwrap();
    bob.sync().await.unwrap();
    alice.add_member(&chat, "carol").await.unwrap();
    let token = alice.bearer_token().await.unwrap();
    let r = node
        .http()
        .post(format!("{}/v1/groups/{chat}/messages", node.url))
        .bearer_auth(token)
        .json(&serde_json::json!({
            "message": old.payload,
            "commitment": old.franking.as_ref().unwrap().commitment,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let body: kizuna_wire::ErrorBody = r.json().await.unwrap();
    assert_eq!(body.code, ErrorCode::StaleEpoch);
    // Nothing was queued for Bob by the refused message.
    let queued = bob.peek_inbox().await.unwrap();
    assert!(queued
        .iter()
        .all(|e| e.kind != kizuna_wire::EnvelopeKind::Application));
}

#[tokio::test]
async fn watch_delivers_live_over_websocket() {
    let node = Node::start().await;
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
        bob
    });
    for i in 0..5 {
        alice.send(&chat, &format!("live {i}")).await.unwrap();
    }
    let mut got = Vec::new();
    while got.len() < 5 {
        let e = tokio::time::timeout(std::time::Duration::from_secs(20), rx.recv())
            .await
            .expect("live delivery")
            .unwrap();
        if let Event::Message(m) = e {
            got.push(m.text);
        }
    }
    assert_eq!(got, ["live 0", "live 1", "live 2", "live 3", "live 4"]);
    stop_tx.send(()).unwrap();
    let mut bob = watcher.await.unwrap();
    // Watched messages were stored and acknowledged: nothing left to sync.
    assert!(messages(&bob.sync().await.unwrap()).is_empty());
    assert_eq!(bob.history(&chat).await.unwrap().len(), 5);
}

#[tokio::test]
async fn many_people_register_and_chat_at_once() {
    let node = Node::start().await;
    let handles: Vec<String> = (0..12).map(|i| format!("person{i}")).collect();
    let mut people =
        futures_util::future::join_all(handles.iter().map(|h| node.person(h, "jp"))).await;
    let (first, rest) = people.split_first_mut().unwrap();
    // They are person0's contacts: their chats are not requests.
    first
        .set_contacts(&kizuna_wire::Contacts {
            handles: handles.clone(),
        })
        .await
        .unwrap();
    let chats = futures_util::future::join_all(
        rest.iter_mut()
            .map(|p| async { p.create_chat(&["person0".into()], None).await.unwrap() }),
    )
    .await;
    for (p, chat) in rest.iter_mut().zip(&chats) {
        p.send(chat, "hi person0").await.unwrap();
    }
    let got = texts(&first.sync().await.unwrap());
    assert_eq!(got.len(), rest.len());
}

#[tokio::test]
async fn watch_survives_a_server_restart() {
    let mut node = Node::start().await;
    let mut alice = node.person("alice", "jp").await;
    let mut bob = node.person("bob", "jp").await;
    let chat = alice.create_chat(&["bob".into()], None).await.unwrap();
    bob.sync().await.unwrap();

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
    });
    alice.send(&chat, "before").await.unwrap();
    node.restart().await;
    alice.send(&chat, "after").await.unwrap();
    let mut got = Vec::new();
    while got.len() < 2 {
        let e = tokio::time::timeout(std::time::Duration::from_secs(30), rx.recv())
            .await
            .expect("delivery after the restart")
            .unwrap();
        if let Event::Message(m) = e {
            got.push(m.text);
        }
    }
    assert_eq!(got, ["before", "after"]);
    stop_tx.send(()).unwrap();
    watcher.await.unwrap().unwrap();
}
