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
pub(crate) fn unlimited() -> Limits {
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
