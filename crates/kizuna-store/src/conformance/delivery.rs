//! Delivery: each group's total order, who receives which range of it,
//! acknowledgements, release, retries, and what is refused.

use super::*;
use MessageKind::*;

async fn members_receive_their_range_and_messages_go_once_everyone_has_them(store: Subject) {
    for d in ["a", "b", "c"] {
        add_device(&store, d).await;
    }
    let g = b"group".as_slice();
    store.create_group(g, "a", 0, Vec::new()).await.unwrap();
    let batch = vec![
        commit(g, "a", 0, &["b", "c"], &[]),
        app(g, "a", 1, "hello"),
        commit(g, "a", 1, &[], &["c"]),
        app(g, "b", 2, "after"),
    ];
    let out = store.submit(batch, vec![]).await.unwrap();
    assert!(out.iter().all(|r| r.is_ok()), "{out:?}");
    assert_eq!(
        texts(&store, "b").await,
        [
            (Welcome, "welcome".into()),
            (Application, "hello".into()),
            (Commit, "commit".into())
        ]
    );
    // Carol gets the commit that removes her and nothing after it.
    assert_eq!(
        texts(&store, "c").await,
        [
            (Welcome, "welcome".into()),
            (Application, "hello".into()),
            (Commit, "commit".into())
        ]
    );
    assert_eq!(texts(&store, "a").await, [(Application, "after".into())]);

    let last = |d: &'static str| {
        let store = &store;
        async move { store.inbox(d, 0, 100).await.unwrap().last().unwrap().seq }
    };
    let (a, b, c) = (last("a").await, last("b").await, last("c").await);
    store.ack("b", b).await.unwrap();
    store.release().await;
    // Carol has not acknowledged: what she still needs stays.
    assert_eq!(store.count("SELECT COUNT(*) FROM log").await, 4);
    store.ack("c", c).await.unwrap();
    store.release().await;
    assert_eq!(store.count("SELECT COUNT(*) FROM log").await, 1);
    assert!(texts(&store, "c").await.is_empty());
    store.ack("a", a).await.unwrap();
    store.release().await;
    assert_eq!(store.count("SELECT COUNT(*) FROM log").await, 0);
    assert_eq!(store.count("SELECT COUNT(*) FROM deliveries").await, 0);
    assert_eq!(store.count("SELECT COUNT(*) FROM memberships").await, 2);
    // An acknowledgement never moves a device back.
    store.ack("b", 1).await.unwrap();
    assert_eq!(
        store
            .count("SELECT acked FROM cursors WHERE device_id = 'b'")
            .await,
        b as i64
    );
}

async fn an_acknowledgement_past_the_log_hides_nothing_still_to_come(store: Subject) {
    for d in ["a", "b"] {
        add_device(&store, d).await;
    }
    let g = b"group".as_slice();
    store.create_group(g, "a", 0, Vec::new()).await.unwrap();
    let out = store
        .submit(
            vec![commit(g, "a", 0, &["b"], &[]), app(g, "a", 1, "one")],
            vec![],
        )
        .await
        .unwrap();
    assert!(out.iter().all(|r| r.is_ok()), "{out:?}");
    let delivered = store.inbox("b", 0, 100).await.unwrap().last().unwrap().seq;
    for past in [i64::MAX as u64, u64::MAX] {
        store.ack("b", past).await.unwrap();
        assert_eq!(
            store
                .count("SELECT acked FROM cursors WHERE device_id = 'b'")
                .await,
            delivered as i64
        );
    }
    store
        .submit(vec![app(g, "a", 1, "two")], vec![])
        .await
        .unwrap();
    assert_eq!(texts(&store, "b").await, [(Application, "two".into())]);
}

/// A group of `a` and `b` at epoch 1.
async fn pair(store: &Subject, g: &[u8]) {
    for d in ["a", "b"] {
        add_device(store, d).await;
    }
    store.create_group(g, "a", 0, b"s0".to_vec()).await.unwrap();
    let out = store
        .submit(vec![commit(g, "a", 0, &["b"], &[])], vec![])
        .await
        .unwrap();
    assert!(out[0].is_ok(), "{out:?}");
}

async fn queued_entries_carry_the_positions_the_inbox_shows(store: Subject) {
    let g = b"group".as_slice();
    pair(&store, g).await;
    let mut queued = Vec::new();
    for text in ["one", "two", "three"] {
        let out = store
            .submit(vec![app(g, "a", 1, text)], vec![])
            .await
            .unwrap();
        queued.extend(out.into_iter().flat_map(|r| r.unwrap().queued));
    }
    let inbox = store.inbox("b", 0, 100).await.unwrap();
    let apps: Vec<_> = inbox.iter().filter(|e| e.kind == Application).collect();
    assert_eq!(
        queued.iter().map(|q| q.seq).collect::<Vec<_>>(),
        apps.iter().map(|e| e.seq).collect::<Vec<_>>()
    );
    assert!(apps.windows(2).all(|w| w[0].seq < w[1].seq));
    assert!(apps
        .windows(2)
        .all(|w| w[0].group_seq + 1 == w[1].group_seq));
    assert!(queued.iter().all(|q| q.device_id == "b"));
    assert_eq!(apps[0].sender_handle, "a");
    // What comes after a position, from there on.
    let after = store.inbox("b", apps[0].seq, 100).await.unwrap();
    assert_eq!(after.len(), 2);
    assert_eq!(after[0].payload, b"two");
}

async fn a_retry_is_answered_as_the_first_and_written_once(store: Subject) {
    let g = b"group".as_slice();
    pair(&store, g).await;
    let send = |id: &str, text: &str, time: u64| Submission::Application {
        group_id: g.to_vec(),
        sender_device: "a".into(),
        epoch: 1,
        payload: text.as_bytes().to_vec(),
        server_time: time,
        franking: Some([7; 64]),
        client_id: Some(id.as_bytes().to_vec()),
    };
    let first = store
        .submit(vec![send("m1", "hello", 10)], vec![])
        .await
        .unwrap()
        .remove(0)
        .unwrap();
    assert_eq!(first.queued.len(), 1);
    // Retried alone, and twice within one batch.
    let again = store
        .submit(
            vec![send("m1", "hello", 20), send("m1", "hello", 30)],
            vec![],
        )
        .await
        .unwrap();
    for r in again {
        let r = r.unwrap();
        assert_eq!(
            (r.group_seq, r.server_time, r.franking),
            (first.group_seq, 10, Some([7; 64]))
        );
        assert!(r.queued.is_empty());
    }
    let next = store
        .submit(vec![send("m2", "again", 40)], vec![])
        .await
        .unwrap()
        .remove(0)
        .unwrap();
    assert_eq!(next.group_seq, first.group_seq + 1);
    let apps: Vec<_> = store
        .inbox("b", 0, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == Application)
        .collect();
    assert_eq!(apps.len(), 2);
    assert_eq!(apps[0].franking, Some([7; 64]));
}

async fn what_breaks_the_group_rules_is_refused_and_writes_nothing(store: Subject) {
    let g = b"group".as_slice();
    pair(&store, g).await;
    add_device(&store, "c").await;
    let before = store.count("SELECT COUNT(*) FROM log").await;
    let mut too_many = commit(g, "a", 1, &["c"], &[]);
    if let Submission::Commit { max_members, .. } = &mut too_many {
        *max_members = 2;
    }
    let out = store
        .submit(
            vec![
                app(b"nope", "a", 0, "x"),
                app(g, "c", 1, "x"),
                app(g, "a", 0, "x"),
                commit(g, "c", 1, &[], &[]),
                commit(g, "a", 0, &["c"], &[]),
                commit(g, "a", 1, &["b"], &[]),
                commit(g, "a", 1, &["zed"], &[]),
                too_many,
                app(g, "b", 1, "still fine"),
            ],
            vec![],
        )
        .await
        .unwrap();
    let refused: Vec<_> = out.iter().map(|r| r.as_ref().err().cloned()).collect();
    assert_eq!(
        refused,
        [
            Some(Rejection::UnknownGroup),
            Some(Rejection::NotMember),
            Some(Rejection::StaleEpoch {
                current: 1,
                sent: 0
            }),
            Some(Rejection::NotMember),
            Some(Rejection::StaleEpoch {
                current: 1,
                sent: 0
            }),
            Some(Rejection::AlreadyMember("b".into())),
            Some(Rejection::UnknownDevice("zed".into())),
            Some(Rejection::GroupTooLarge(3)),
            None,
        ]
    );
    assert_eq!(store.count("SELECT COUNT(*) FROM log").await, before + 1);
    let group = store.group(g).await.unwrap().unwrap();
    assert_eq!(
        (group.epoch, group.members),
        (1, vec!["a".into(), "b".into()])
    );
    assert!(store.inbox("c", 0, 100).await.unwrap().is_empty());
}

async fn commits_move_the_epoch_and_the_groups_public_view(store: Subject) {
    let g = b"group".as_slice();
    pair(&store, g).await;
    assert!(matches!(
        store.create_group(g, "b", 0, Vec::new()).await,
        Err(StoreError::Conflict("group"))
    ));
    assert_eq!(store.group_state(g).await.unwrap(), Some(Vec::new()));
    let mut c = commit(g, "b", 1, &[], &["a"]);
    if let Submission::Commit { state, .. } = &mut c {
        *state = b"s2".to_vec();
    }
    let r = store.submit(vec![c], vec![]).await.unwrap().remove(0);
    assert_eq!(r.unwrap().epoch, 2);
    assert_eq!(store.group_state(g).await.unwrap(), Some(b"s2".to_vec()));
    let group = store.group(g).await.unwrap().unwrap();
    assert_eq!((group.epoch, group.members), (2, vec!["b".to_string()]));
    assert!(store.groups_of("a").await.unwrap().is_empty());
    assert_eq!(store.groups_of("b").await.unwrap(), [g.to_vec()]);
    assert!(store.group(b"none").await.unwrap().is_none());
}

async fn a_node_proposal_ends_the_routing_of_the_devices_it_removes(store: Subject) {
    let g = b"group".as_slice();
    pair(&store, g).await;
    add_device(&store, "c").await;
    store
        .submit(vec![commit(g, "a", 1, &["c"], &[])], vec![])
        .await
        .unwrap()
        .remove(0)
        .unwrap();
    let proposal = |epoch| Submission::Proposal {
        group_id: g.to_vec(),
        sender_device: "node".into(),
        epoch,
        proposal: b"remove c".to_vec(),
        server_time: 0,
        state: b"pending".to_vec(),
        by_node: Some(NodeProposal {
            kind: Revocation,
            removes: vec!["c".into()],
        }),
    };
    let out = store
        .submit(vec![proposal(1), proposal(2)], vec![])
        .await
        .unwrap();
    assert_eq!(
        out[0].as_ref().err(),
        Some(&Rejection::StaleEpoch {
            current: 2,
            sent: 1
        })
    );
    let accepted = out[1].as_ref().unwrap();
    let mut to: Vec<_> = accepted
        .queued
        .iter()
        .map(|q| q.device_id.as_str())
        .collect();
    to.sort();
    assert_eq!(to, ["a", "b"]);
    store
        .submit(vec![app(g, "a", 2, "without c")], vec![])
        .await
        .unwrap()
        .remove(0)
        .unwrap();
    assert_eq!(
        store
            .inbox("b", 0, 100)
            .await
            .unwrap()
            .last()
            .unwrap()
            .payload,
        b"without c"
    );
    // The device's range ends with the proposal itself: its inbox still
    // shows it (though nothing pushed it), and nothing after.
    let c = texts(&store, "c").await;
    assert_eq!(
        c,
        [(Welcome, "welcome".into()), (Revocation, "remove c".into())]
    );
    assert_eq!(
        store.group(g).await.unwrap().unwrap().members,
        ["a".to_string(), "b".to_string()]
    );
    assert_eq!(
        store.group_state(g).await.unwrap(),
        Some(b"pending".to_vec())
    );
}

async fn deleting_a_device_releases_what_waited_only_for_it(store: Subject) {
    let g = b"group".as_slice();
    pair(&store, g).await;
    store
        .submit(vec![app(g, "a", 1, "for b")], vec![])
        .await
        .unwrap();
    assert!(store.delete_device("b").await.unwrap());
    assert!(!store.delete_device("b").await.unwrap());
    store.release().await;
    assert_eq!(store.count("SELECT COUNT(*) FROM log").await, 0);
    assert!(store.groups_of("b").await.unwrap().is_empty());
    assert!(store.device("b").await.unwrap().is_none());
    assert_eq!(
        store.group(g).await.unwrap().unwrap().members,
        ["a".to_string()]
    );
    // Nobody left to tell: nothing is kept.
    store
        .submit(vec![app(g, "a", 1, "alone")], vec![])
        .await
        .unwrap()
        .remove(0)
        .unwrap();
    assert_eq!(store.count("SELECT COUNT(*) FROM log").await, 0);
}

async fn acknowledgements_in_a_batch_move_each_device_once(store: Subject) {
    let g = b"group".as_slice();
    pair(&store, g).await;
    let out = store
        .submit(vec![app(g, "a", 1, "one"), app(g, "a", 1, "two")], vec![])
        .await
        .unwrap();
    let first = out[0].as_ref().unwrap().queued[0].seq;
    let second = out[1].as_ref().unwrap().queued[0].seq;
    let acks = vec![
        Ack {
            device_id: "b".into(),
            up_to: second,
        },
        Ack {
            device_id: "b".into(),
            up_to: first,
        },
    ];
    store
        .submit(vec![app(g, "b", 1, "reply")], acks)
        .await
        .unwrap();
    assert_eq!(
        store
            .count("SELECT acked FROM cursors WHERE device_id = 'b'")
            .await,
        second as i64
    );
    assert!(store.inbox("b", 0, 100).await.unwrap().is_empty());
    assert_eq!(texts(&store, "a").await, [(Application, "reply".into())]);
}

async fn inboxes_read_at_once_are_each_devices_own(store: Subject) {
    for d in ["a", "b", "c"] {
        add_device(&store, d).await;
    }
    let g = b"group".as_slice();
    store.create_group(g, "a", 0, Vec::new()).await.unwrap();
    let batch = vec![
        commit(g, "a", 0, &["b", "c"], &[]),
        app(g, "a", 1, "one"),
        app(g, "b", 1, "two"),
        app(g, "c", 1, "three"),
    ];
    let out = store.submit(batch, vec![]).await.unwrap();
    assert!(out.iter().all(|r| r.is_ok()), "{out:?}");
    let b = store.inbox("b", 0, 100).await.unwrap();
    let c = store.inbox("c", 0, 100).await.unwrap();
    // Carol's acknowledgement counts whatever position she is read after.
    store.ack("c", c[0].seq).await.unwrap();
    let wanted: Vec<(String, u64)> = [("a", 0), ("b", b[1].seq), ("c", 0), ("nobody", 0), ("b", 0)]
        .into_iter()
        .map(|(d, after)| (d.to_string(), after))
        .collect();
    let pages = store.inboxes(&wanted, 2).await.unwrap();
    assert_eq!(pages.len(), wanted.len());
    let seen = |page: &[InboxEntry]| {
        page.iter()
            .map(|e| {
                (
                    e.seq,
                    e.kind,
                    e.group_seq,
                    e.sender_handle.clone(),
                    e.payload.clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    for ((device, after), page) in wanted.iter().zip(&pages) {
        let alone = store.inbox(device, *after, 2).await.unwrap();
        assert_eq!(seen(page), seen(&alone), "{device} after {after}");
    }
    assert_eq!(pages[0].len(), 2);
    assert_eq!(pages[1][0].payload, b"three");
    assert_eq!(pages[2][0].payload, b"one");
    assert!(pages[3].is_empty());
    assert_eq!(pages[4].len(), 2);
    assert!(store.inboxes(&[], 2).await.unwrap().is_empty());
}

conformance!(
    members_receive_their_range_and_messages_go_once_everyone_has_them,
    an_acknowledgement_past_the_log_hides_nothing_still_to_come,
    queued_entries_carry_the_positions_the_inbox_shows,
    a_retry_is_answered_as_the_first_and_written_once,
    what_breaks_the_group_rules_is_refused_and_writes_nothing,
    commits_move_the_epoch_and_the_groups_public_view,
    a_node_proposal_ends_the_routing_of_the_devices_it_removes,
    deleting_a_device_releases_what_waited_only_for_it,
    acknowledgements_in_a_batch_move_each_device_once,
    inboxes_read_at_once_are_each_devices_own,
);
