//! Groups as people really use them: members who send, add and remove at
//! once, on devices that fall behind. Seeded, against a real node: every
//! acknowledged message is read exactly once by every device that was a
//! member when it was sent, and by no other.

use std::collections::{BTreeMap, HashSet};

use kizuna_client::{Client, ClientError, Event};
use kizuna_server::Limits;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::harness::*;

/// What the node acknowledged, at its place in the chat's order.
#[derive(Debug)]
enum Acknowledged {
    Sent {
        text: String,
    },
    Changed {
        added: Vec<String>,
        removed: Vec<String>,
    },
    /// A device proposed its own departure: from here on it holds nothing
    /// new of the chat, whenever the commit that carries it out comes.
    Left {
        device: String,
    },
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Send,
    Sync,
    Add(usize),
    Remove(usize),
    Leave,
}

/// No rate limit: these tests send as fast as the machine goes.
fn unlimited() -> Limits {
    Limits {
        requests_per_second: 1_000_000,
        request_burst: 1_000_000,
        ..Limits::default()
    }
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A failure a person may meet when their view was behind, which changes
/// nothing: the test goes on. Anything else fails it.
fn expected_refusal(e: &ClientError) -> bool {
    use kizuna_wire::ErrorCode;
    matches!(
        e,
        ClientError::Unchanged(_)
            | ClientError::NotInChat(_)
            | ClientError::UnknownChat(_)
            | ClientError::NotAMember { .. }
            | ClientError::TooManyRetries(_)
    ) || e.api_code() == Some(ErrorCode::NotMember)
}

fn changed(ch: kizuna_client::MembershipChange) -> (u64, Acknowledged) {
    (
        ch.seq,
        Acknowledged::Changed {
            added: ch.added,
            removed: ch.removed,
        },
    )
}

async fn run_op(
    c: &mut Client,
    chat: &str,
    op: Op,
    handles: &[String],
    text: String,
) -> Result<Option<(u64, Acknowledged)>, ClientError> {
    Ok(match op {
        Op::Send => {
            let m = c.send(chat, &text).await?;
            Some((m.seq, Acknowledged::Sent { text }))
        }
        Op::Sync => {
            c.sync().await?;
            None
        }
        Op::Add(j) => Some(changed(c.add_member(chat, &handles[j]).await?)),
        Op::Remove(j) => Some(changed(c.remove_member(chat, &handles[j]).await?)),
        Op::Leave => {
            let ch = c.leave(chat).await?;
            Some((
                ch.seq,
                Acknowledged::Left {
                    device: c.identity().device_id.clone(),
                },
            ))
        }
    })
}

#[tokio::test]
async fn interleaved_sends_and_membership_changes_lose_nothing() {
    let seed = env_or("KIZUNA_SEED", 20261201);
    let operations = env_or("KIZUNA_OPS", 1000) as usize;
    eprintln!("seed {seed}, {operations} operations (set KIZUNA_SEED and KIZUNA_OPS to vary)");
    let mut rng = StdRng::seed_from_u64(seed);
    let trace = std::env::var_os("KIZUNA_TRACE").is_some();
    let node = Node::with_limits(unlimited()).await;
    let people = rng.gen_range(3..=5);
    let handles: Vec<String> = ["amy", "ben", "cai", "dan", "eve"][..people]
        .iter()
        .map(|h| h.to_string())
        .collect();
    // Each device with the person it belongs to.
    let mut devices: Vec<(usize, Client)> = Vec::new();
    for (i, h) in handles.iter().enumerate() {
        devices.push((i, node.person(h, "jp").await));
    }
    let chat = devices[0]
        .1
        .create_chat(&[handles[1].clone()], None)
        .await
        .unwrap();
    let mut members: HashSet<String> = devices[..2]
        .iter()
        .map(|d| d.1.identity().device_id.clone())
        .collect();
    let mut acknowledged: BTreeMap<u64, Acknowledged> = BTreeMap::new();
    // Roughly who is in the chat now, to keep its last members from leaving
    // (then nobody is left to add anyone).
    let mut present = members.len();
    let mut record = |seq: u64, ack: Acknowledged, present: &mut usize| {
        match &ack {
            Acknowledged::Changed { added, removed } => {
                *present = (*present + added.len()).saturating_sub(removed.len())
            }
            Acknowledged::Left { .. } => *present = present.saturating_sub(1),
            Acknowledged::Sent { .. } => {}
        }
        assert!(
            acknowledged.insert(seq, ack).is_none(),
            "seed {seed}: two acknowledgements for #{seq}"
        );
    };

    let mut done = 0;
    let mut texts = 0;
    let mut links = 0;
    while done < operations {
        // Now and then someone links another device, approved on one of
        // theirs; it joins the chats that device is in.
        if links < 2 && rng.gen_range(0..100) < 1 {
            let d = rng.gen_range(0..devices.len());
            let person = devices[d].0;
            let (new, changes) = link(
                &node,
                &mut devices[d].1,
                &format!("{}-{links}", handles[person]),
            )
            .await;
            for ch in changes.into_iter().filter(|c| c.chat == chat) {
                let (seq, ack) = changed(ch);
                record(seq, ack, &mut present);
            }
            devices.push((person, new));
            links += 1;
            done += 1;
            continue;
        }
        // Up to three devices act at once.
        let at_once = rng.gen_range(1..=3);
        let mut actors: Vec<usize> = Vec::new();
        while actors.len() < at_once {
            let a = rng.gen_range(0..devices.len());
            if !actors.contains(&a) {
                actors.push(a);
            }
        }
        let mut ops = Vec::new();
        for &a in &actors {
            let other = (devices[a].0 + rng.gen_range(1..people)) % people;
            let op = match rng.gen_range(0..100) {
                0..=47 => Op::Send,
                48..=67 => Op::Sync,
                68..=82 => Op::Add(other),
                83..=96 => Op::Remove(other),
                _ if present > 3 => Op::Leave,
                _ => Op::Sync,
            };
            ops.push((a, op, format!("m{texts}")));
            texts += 1;
        }
        let mut futures = Vec::new();
        for (i, (_, d)) in devices.iter_mut().enumerate() {
            if let Some((_, op, text)) = ops.iter().find(|o| o.0 == i) {
                let (op, text, chat, handles) = (*op, text.clone(), chat.clone(), &handles);
                futures.push(async move { (i, op, run_op(d, &chat, op, handles, text).await) });
            }
        }
        for (i, op, r) in futures_util::future::join_all(futures).await {
            if trace {
                eprintln!("{done}: device {i} {op:?} -> {r:?}");
            }
            match r {
                Ok(Some((seq, ack))) => record(seq, ack, &mut present),
                Ok(None) => {}
                Err(e) if expected_refusal(&e) => {}
                Err(e) => {
                    let log = log_buffer();
                    let log = String::from_utf8_lossy(&log.lock().unwrap()).into_owned();
                    let errors: Vec<&str> = log.lines().filter(|l| l.contains("ERROR")).collect();
                    panic!("seed {seed}: device {i} doing {op:?}: {e}; node errors: {errors:?}")
                }
            }
        }
        done += at_once;
    }

    // Everyone catches up.
    for (_, d) in devices.iter_mut() {
        d.sync().await.unwrap();
    }

    // Who should hold what, from the node's order of what it acknowledged.
    let mut expected: BTreeMap<u64, (String, HashSet<String>)> = BTreeMap::new();
    let mut changes = 0;
    for (seq, ack) in &acknowledged {
        match ack {
            Acknowledged::Changed { added, removed } => {
                for d in removed {
                    members.remove(d);
                }
                members.extend(added.iter().cloned());
                changes += 1;
            }
            Acknowledged::Left { device } => {
                members.remove(device);
                changes += 1;
            }
            Acknowledged::Sent { text } => {
                expected.insert(*seq, (text.clone(), members.clone()));
            }
        }
    }
    let sent = expected.len();
    assert!(
        sent > operations / 8,
        "seed {seed}: only {sent} sends went through"
    );
    for (person, d) in &devices {
        let who = format!("{} ({})", handles[*person], d.identity().device_id);
        let id = &d.identity().device_id;
        let timeline = match d.timeline(&chat).await {
            Ok(t) => t,
            Err(ClientError::UnknownChat(_)) => Vec::new(),
            Err(e) => panic!("{e}"),
        };
        let mut held: BTreeMap<u64, String> = BTreeMap::new();
        for e in timeline {
            match e {
                Event::Message(m) => {
                    assert!(
                        held.insert(m.seq, m.text).is_none(),
                        "seed {seed}: {who} holds #{} twice",
                        m.seq
                    );
                }
                Event::Undecryptable(u) => panic!(
                    "seed {seed}: {who} could not open #{} ({}) from {}: {}",
                    u.seq, u.what, u.sender, u.reason
                ),
                _ => {}
            }
        }
        for (seq, (text, to)) in &expected {
            let member = to.contains(id);
            match held.remove(seq) {
                Some(t) => {
                    assert!(
                        member,
                        "seed {seed}: {who} holds #{seq} sent while not a member"
                    );
                    assert_eq!(&t, text, "seed {seed}: #{seq} at {who}");
                }
                None => assert!(
                    !member,
                    "seed {seed}: {who} lost #{seq} ({text}), sent while a member; its changes: {:?}",
                    acknowledged
                        .iter()
                        .filter(|(_, a)| format!("{a:?}").contains(id.as_str()))
                        .collect::<Vec<_>>()
                ),
            }
        }
        assert!(
            held.is_empty(),
            "seed {seed}: {who} holds messages nobody was told were sent: {held:?}"
        );
    }
    eprintln!(
        "{sent} messages and {changes} membership changes checked on {} devices of {people} people",
        devices.len()
    );
}

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
