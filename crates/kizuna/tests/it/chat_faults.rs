//! A chat under faults and hostile members: junk commits and commits that
//! lie about what they change, retried and unanswered sends, messages that
//! cannot be opened, and members who leave, revoke a device or erase their
//! account.

use kizuna_client::{Client, ClientError, Event};

use crate::groups::unlimited;
use crate::harness::*;

/// Alice and Bob in a 1:1 chat, both caught up.
async fn pair(node: &Node) -> (Client, Client, String) {
    let mut alice = node.person("alice", "jp").await;
    let mut bob = node.person("bob", "jp").await;
    let chat = alice.create_chat(&["bob".into()], None).await.unwrap();
    bob.sync().await.unwrap();
    (alice, bob, chat)
}

/// Alice, Bob and Carol in a group, all caught up.
async fn trio(node: &Node) -> (Client, Client, Client, String) {
    let mut alice = node.person("alice", "jp").await;
    let mut bob = node.person("bob", "jp").await;
    let mut carol = node.person("carol", "jp").await;
    let chat = alice
        .create_chat(&["bob".into(), "carol".into()], None)
        .await
        .unwrap();
    bob.sync().await.unwrap();
    carol.sync().await.unwrap();
    (alice, bob, carol, chat)
}

/// POSTs a JSON body as this device; returns the status and the body.
async fn post_as(
    node: &Node,
    c: &mut Client,
    path: &str,
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    let token = c.bearer_token().await.unwrap();
    let r = node
        .http()
        .post(format!("{}{path}", node.url))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}

#[tokio::test]
async fn a_junk_commit_is_refused_and_the_chat_goes_on() {
    let node = Node::start().await;
    node.person("dave", "jp").await;
    let (mut alice, mut bob, mut carol, chat) = trio(&node).await;
    alice.add_member(&chat, "dave").await.unwrap();
    // A real commit of the epoch before, its header moved to the current
    // epoch: group, epoch and content type are right, the rest is not.
    let old = bob
        .peek_inbox()
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.kind == kizuna_wire::EnvelopeKind::Commit)
        .unwrap();
    bob.sync().await.unwrap();
    let mut junk = old.payload.0.clone();
    // version, wire format, group id (a one-byte length and 16 bytes), epoch.
    assert_eq!(junk[4], 16);
    junk[21..29].copy_from_slice(&2u64.to_be_bytes());
    let carol_device = carol.identity().device_id.clone();
    let (status, body) = post_as(
        &node,
        &mut alice,
        &format!("/v1/groups/{chat}/commits"),
        &serde_json::json!({
            "commit": kizuna_wire::Bytes(junk),
            "removed_devices": [carol_device],
        }),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_commit"))
    );

    // Nothing moved: everyone, Carol included, goes on.
    alice.send(&chat, "still here").await.unwrap();
    assert_eq!(texts(&bob.sync().await.unwrap()), ["still here"]);
    assert_eq!(texts(&carol.sync().await.unwrap()), ["still here"]);
    bob.send(&chat, "me too").await.unwrap();
    assert_eq!(texts(&carol.sync().await.unwrap()), ["me too"]);
}

#[tokio::test]
async fn a_commit_whose_change_differs_from_its_claim_is_refused() {
    let node = Node::start().await;
    let (mut alice, mut bob, mut carol, chat) = trio(&node).await;
    let req = alice.prepare_removal(&chat, "carol").await.unwrap();
    assert_eq!(req.removed_devices, [carol.identity().device_id.clone()]);
    let path = format!("/v1/groups/{chat}/commits");
    for claimed in [vec![], vec![bob.identity().device_id.clone()]] {
        let mut lying = req.clone();
        lying.removed_devices = claimed;
        let (status, body) = post_as(
            &node,
            &mut alice,
            &path,
            &serde_json::to_value(&lying).unwrap(),
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("invalid_commit"))
        );
    }
    // Bob cannot submit Alice's commit as his own.
    let (status, body) =
        post_as(&node, &mut bob, &path, &serde_json::to_value(&req).unwrap()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_commit"))
    );

    // The epoch did not move: the honest removal goes through.
    let removed = alice.remove_member(&chat, "carol").await.unwrap();
    assert_eq!(removed.removed, [carol.identity().device_id.clone()]);
    assert!(carol
        .sync()
        .await
        .unwrap()
        .iter()
        .any(|e| matches!(e, Event::Removed { by, .. } if by == "alice")));
    let seen = bob.sync().await.unwrap();
    assert!(seen.iter().any(|e| matches!(
        e,
        Event::MembersChanged { by, removed, .. } if by == "alice" && removed == &["carol".to_string()]
    )));
}

#[tokio::test]
async fn membership_commands_tell_the_truth() {
    let node = Node::start().await;
    let mut alice = node.person("alice", "jp").await;
    let mut bob = node.person("bob", "jp").await;
    let mut carol = node.person("carol", "jp").await;
    let chat = alice.create_chat(&["bob".into()], None).await.unwrap();
    bob.sync().await.unwrap();
    // Already a member: nothing is sent, and the command says so.
    assert!(matches!(
        alice.add_member(&chat, "bob").await,
        Err(ClientError::Unchanged(_))
    ));
    assert!(matches!(
        alice.remove_member(&chat, "carol").await,
        Err(ClientError::NotAMember { .. })
    ));
    // Bob adds Carol, then removes her; Alice, who saw neither, adds her
    // again: she catches up first, so Carol really is added.
    bob.add_member(&chat, "carol").await.unwrap();
    bob.remove_member(&chat, "carol").await.unwrap();
    let added = alice.add_member(&chat, "carol").await.unwrap();
    assert_eq!(added.added, [carol.identity().device_id.clone()]);
    alice.send(&chat, "welcome back").await.unwrap();
    let got = carol.sync().await.unwrap();
    assert_eq!(texts(&got), ["welcome back"]);
    assert_eq!(alice.members(&chat).await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_message_that_cannot_be_opened_is_kept_and_shown() {
    let node = Node::start().await;
    let (mut alice, mut bob, chat) = pair(&node).await;
    alice.send(&chat, "fine").await.unwrap();
    let real = bob.peek_inbox().await.unwrap().pop().unwrap();
    // The same header over ciphertext that does not open.
    let mut broken = real.payload.0.clone();
    let n = broken.len();
    broken[n - 5] ^= 0xff;
    let (status, _) = post_as(
        &node,
        &mut alice,
        &format!("/v1/groups/{chat}/messages"),
        &serde_json::json!({
            "message": kizuna_wire::Bytes(broken),
            "commitment": real.franking.as_ref().unwrap().commitment,
        }),
    )
    .await;
    assert_eq!(status, 200);
    let events = bob.sync().await.unwrap();
    assert_eq!(texts(&events), ["fine"]);
    let unopened: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Undecryptable(u) => Some(u.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(unopened.len(), 1);
    assert_eq!(unopened[0].sender, "alice");
    assert_eq!(unopened[0].what, "message");
    // Kept in the history, in its place, and as JSON with its type.
    let timeline = bob.timeline(&chat).await.unwrap();
    assert_eq!(timeline.len(), 2);
    let json = serde_json::to_value(&timeline[1]).unwrap();
    assert_eq!(json["type"], "undecryptable");
    assert_eq!(json["sender"], "alice");
    assert!(json["reason"].as_str().is_some_and(|r| !r.is_empty()));
    // And the next message opens as usual.
    alice.send(&chat, "after").await.unwrap();
    assert_eq!(texts(&bob.sync().await.unwrap()), ["after"]);
}

#[tokio::test]
async fn a_retried_send_is_delivered_once() {
    let node = Node::start().await;
    let (mut alice, mut bob, chat) = pair(&node).await;
    let reqs = alice
        .prepare_messages(&chat, &["once".to_string()])
        .await
        .unwrap();
    let mut req = serde_json::to_value(&reqs[0]).unwrap();
    req["client_id"] = serde_json::to_value(kizuna_wire::Bytes(vec![7; 16])).unwrap();
    let path = format!("/v1/groups/{chat}/messages");
    // The answer to the first was lost; the device sends it again.
    let (s1, first) = post_as(&node, &mut alice, &path, &req).await;
    let (s2, again) = post_as(&node, &mut alice, &path, &req).await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(first, again, "a retry is answered as the first attempt was");
    assert_eq!(texts(&bob.sync().await.unwrap()), ["once"]);
    // An id of the wrong size is refused.
    req["client_id"] = serde_json::to_value(kizuna_wire::Bytes(vec![7; 2])).unwrap();
    let (status, body) = post_as(&node, &mut alice, &path, &req).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("bad_request")));
}

#[tokio::test]
async fn a_send_without_an_answer_goes_out_once_on_the_next_sync() {
    let mut node = Node::start().await;
    let (mut alice, mut bob, chat) = pair(&node).await;
    let addr = node.stop().await;
    assert!(matches!(
        alice.send(&chat, "while down").await,
        Err(ClientError::Unreachable { .. })
    ));
    node.start_again(addr).await;
    let events = alice.sync().await.unwrap();
    assert_eq!(texts(&events), ["while down"]);
    assert_eq!(texts(&bob.sync().await.unwrap()), ["while down"]);
    // Sent once: neither a second sync nor the next send repeats it.
    assert!(alice.sync().await.unwrap().is_empty());
    alice.send(&chat, "next").await.unwrap();
    assert_eq!(texts(&bob.sync().await.unwrap()), ["next"]);
    let mine = history_texts(&alice, &chat).await;
    assert_eq!(mine, ["while down", "next"]);
}

#[tokio::test]
async fn sync_and_history_show_what_could_not_be_opened_and_say_so() {
    let node = Node::start().await;
    let (mut alice, mut bob, chat) = pair(&node).await;
    for i in 0..3 {
        alice.send(&chat, &format!("m{i}")).await.unwrap();
    }
    let real = bob.peek_inbox().await.unwrap().pop().unwrap();
    let mut broken = real.payload.0.clone();
    let n = broken.len();
    broken[n - 5] ^= 0xff;
    post_as(
        &node,
        &mut alice,
        &format!("/v1/groups/{chat}/messages"),
        &serde_json::json!({
            "message": kizuna_wire::Bytes(broken),
            "commitment": real.franking.as_ref().unwrap().commitment,
        }),
    )
    .await;
    let home = node.home("bob").display().to_string();

    let out = run(args(&["sync", "--json", "--home", &home])).await;
    assert_eq!(
        out.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let types: Vec<&str> = lines.iter().filter_map(|l| l["type"].as_str()).collect();
    assert_eq!(types, ["message", "message", "message", "undecryptable"]);
    assert_eq!(lines[3]["sender"], "alice");
    assert!(lines[3]["seq"].as_u64().is_some());

    let out = run(args(&["history", "--home", &home, &chat])).await;
    assert_eq!(out.status.code(), Some(7));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("could not be opened"), "{text}");
    assert!(text.contains("m2"), "{text}");

    // A reader that stops early (`| head`) ends the command quietly.
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_kizuna"))
        .args(["history", "--json", "--home", &home, &chat])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = child;
    drop(child.stdout.take());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_that_fails_partway_has_shown_all_it_stored() {
    let mut node = Node::with_limits(unlimited()).await;
    let (mut alice, mut bob, chat) = pair(&node).await;
    // More than one page of the inbox.
    let texts_sent: Vec<String> = (0..520).map(|i| format!("m{i}")).collect();
    for reqs in alice
        .prepare_messages(&chat, &texts_sent)
        .await
        .unwrap()
        .chunks(100)
    {
        for r in reqs {
            let (status, _) = post_as(
                &node,
                &mut alice,
                &format!("/v1/groups/{chat}/messages"),
                &serde_json::to_value(r).unwrap(),
            )
            .await;
            assert_eq!(status, 200);
        }
    }
    // The node goes away as soon as the first page is stored.
    let server = node.server.take().unwrap();
    let addr = server.addr;
    let (stop, stopping) = tokio::sync::oneshot::channel::<()>();
    let (stopped, wait_stopped) = std::sync::mpsc::channel::<()>();
    tokio::spawn(async move {
        let _ = stopping.await;
        server.shutdown().await;
        let _ = stopped.send(());
    });
    let mut shown = Vec::new();
    let mut stop = Some(stop);
    let r = bob
        .sync_with(|e| {
            if let Event::Message(m) = e {
                shown.push(m.text.clone());
            }
            if let Some(s) = stop.take() {
                let _ = s.send(());
                let _ = wait_stopped.recv();
            }
        })
        .await;
    assert!(r.is_err(), "the node was gone");
    assert_eq!(
        shown.len(),
        500,
        "the first page was shown as it was stored"
    );
    node.start_again(addr).await;
    let rest = texts(&bob.sync().await.unwrap());
    assert_eq!(
        rest.len(),
        20,
        "the next sync shows only what was not shown"
    );
    shown.extend(rest);
    assert_eq!(shown, texts_sent);
}

#[tokio::test]
async fn a_member_leaves_and_the_others_see_it() {
    let node = Node::start().await;
    let (mut alice, mut bob, mut carol, chat) = trio(&node).await;
    carol.send(&chat, "bye all").await.unwrap();
    carol.leave(&chat).await.unwrap();
    assert!(!carol.chats().await.unwrap()[0].active);
    assert!(matches!(
        carol.send(&chat, "still?").await,
        Err(ClientError::NotInChat(_) | ClientError::UnknownChat(_))
    ));

    // Bob is the first to act: his sync carries the departure out.
    let seen = bob.sync().await.unwrap();
    assert_eq!(texts(&seen), ["bye all"]);
    assert!(
        seen.iter().any(|e| matches!(
            e, Event::MembersChanged { left, .. } if left == &["carol".to_string()]
        )),
        "{seen:?}"
    );
    let seen = alice.sync().await.unwrap();
    assert!(seen.iter().any(|e| matches!(
        e, Event::MembersChanged { by, left, .. } if by == "bob" && left == &["carol".to_string()]
    )));
    assert_eq!(alice.members(&chat).await.unwrap().len(), 2);

    // What is said after she left does not reach her, and she is shown no
    // error for it.
    alice.send(&chat, "she left").await.unwrap();
    assert_eq!(texts(&bob.sync().await.unwrap()), ["she left"]);
    let after = carol.sync().await.unwrap();
    assert!(after.is_empty(), "{after:?}");
    assert_eq!(
        carol
            .history(&chat)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.text)
            .collect::<Vec<_>>(),
        ["bye all"]
    );
}

#[tokio::test]
async fn a_commit_that_leaves_out_a_departure_waits_for_it() {
    let node = Node::start().await;
    node.person("dave", "jp").await;
    let (mut alice, _bob, mut carol, chat) = trio(&node).await;
    // Alice builds a removal of Bob before she has seen Carol leave.
    let stale = alice.prepare_removal(&chat, "bob").await.unwrap();
    carol.leave(&chat).await.unwrap();
    let (status, body) = post_as(
        &node,
        &mut alice,
        &format!("/v1/groups/{chat}/commits"),
        &serde_json::to_value(&stale).unwrap(),
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (409, Some("stale_epoch")));
    // Adding Dave now carries Carol's departure out with it.
    alice.add_member(&chat, "dave").await.unwrap();
    let names = member_handles(&mut alice, &chat).await;
    assert_eq!(names.len(), 3);
    assert!(!names.contains(&"carol".to_string()), "{names:?}");
}

#[tokio::test]
async fn a_revoked_device_is_taken_out_of_every_chat_at_once() {
    let node = Node::start().await;
    let (mut alice, mut bob, chat) = pair(&node).await;
    let (mut laptop, _) = link(&node, &mut alice, "alice-laptop").await;
    laptop.sync().await.unwrap();
    bob.sync().await.unwrap();
    let laptop_id = laptop.identity().device_id.clone();
    let listed = alice.devices().await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed
        .iter()
        .any(|d| d.device_id == laptop_id && !d.this_device && d.last_seen.is_some()));

    // Someone else's device, or one that is not there: refused.
    assert!(alice
        .revoke_device(&bob.identity().device_id)
        .await
        .is_err());
    // The laptop is connected when it is revoked.
    let watching = tokio::spawn(async move {
        let r = laptop.watch(|_| {}, std::future::pending()).await;
        (laptop, r)
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    alice.revoke_device(&laptop_id).await.unwrap();

    // Its connection and its tokens end at once.
    let (mut laptop, watched) = tokio::time::timeout(std::time::Duration::from_secs(30), watching)
        .await
        .expect("the revoked device's connection ended")
        .unwrap();
    assert!(watched.is_err());
    assert!(matches!(laptop.sync().await, Err(ClientError::Api { .. })));
    let r = node
        .http()
        .get(format!("{}/v1/inbox", node.url))
        .bearer_auth(laptop.bearer_token().await.unwrap_or_default())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Bob is told, and his next step takes the laptop out of the group.
    let seen = bob.sync().await.unwrap();
    assert!(
        seen.iter().any(|e| matches!(
            e, Event::DeviceRevoked { handle, .. } if handle == "alice"
        )),
        "{seen:?}"
    );
    assert_eq!(bob.members(&chat).await.unwrap().len(), 2);
    bob.send(&chat, "only your phone now").await.unwrap();
    assert_eq!(texts(&alice.sync().await.unwrap()), ["only your phone now"]);
    assert_eq!(alice.devices().await.unwrap().len(), 1);
}

#[tokio::test]
async fn members_see_an_erased_account_leave_every_chat() {
    let node = Node::start().await;
    let (mut alice, mut bob, mut carol, chat) = trio(&node).await;
    let one_to_one = carol.create_chat(&["alice".into()], None).await.unwrap();
    alice.sync().await.unwrap();
    carol.erase_account().await.unwrap();
    // Her token ends at once, not when it expires.
    assert!(carol.sync().await.is_err());
    for (who, c) in [("alice", &mut alice), ("bob", &mut bob)] {
        let seen = c.sync().await.unwrap();
        assert!(
            seen.iter().any(|e| matches!(
                e, Event::AccountDeleted { handle, chat: ch } if handle == "carol" && ch == &chat
            )),
            "{who}: {seen:?}"
        );
    }
    let names = member_handles(&mut alice, &chat).await;
    assert!(!names.contains(&"carol".to_string()), "{names:?}");
    assert_eq!(alice.members(&one_to_one).await.unwrap().len(), 1);
    // And the chat goes on.
    alice.send(&chat, "still us").await.unwrap();
    assert_eq!(texts(&bob.sync().await.unwrap()), ["still us"]);
}
