//! Nodes that share one staff store: sessions, suspensions and locks seen
//! on each, events a dead node left, and a first admin made once.

use super::*;

/// Two nodes on one staff store, each with its own realm: a session opened
/// on one works on the other, a suspension on one ends it on the other at
/// once, and guesses spread over both lock the staff id on both.
pub(super) async fn nodes_sharing_a_store_share_sessions_suspensions_and_locks(b: Backend) {
    let (place, a) = realm(b).await;
    let other = place.open(5).await;
    let admin = a
        .bootstrap("root", "JP", vec!["127.0.0.0/8".into()], vec!["jp".into()])
        .await
        .unwrap();
    let root = a
        .authenticate(&login(&a, &admin, local()).await.unwrap().token, local())
        .await
        .unwrap();
    let support = a
        .add_member(
            &root,
            &NewStaffMember {
                staff_id: "support".into(),
                org_id: "operator".into(),
                roles: vec![Role::Support],
            },
        )
        .await
        .unwrap();
    let t = login(&a, &support, local()).await.unwrap().token;
    assert_eq!(
        other
            .authenticate(&t, local())
            .await
            .unwrap()
            .member
            .staff_id,
        "support"
    );
    // Reads through one node count towards the limit the other applies.
    for subject in ["alice", "bob", "carol"] {
        a.record(
            EventKind::Read,
            Some("support"),
            Some("operator"),
            serde_json::json!({ "subject": subject, "fields": ["profile"] }),
        )
        .await
        .unwrap();
    }
    let limits = AnomalyLimits {
        denials_per_hour: 5,
        people_per_hour: 3,
    };
    assert!(other
        .watch("support", "operator", Some("alice"), limits)
        .await
        .unwrap()
        .is_none());
    assert!(other
        .watch("support", "operator", Some("dave"), limits)
        .await
        .unwrap()
        .is_some());
    assert!(matches!(
        other.authenticate(&t, local()).await,
        Err(StaffError::InvalidSession(_))
    ));
    let t = {
        // Suspended by the anomaly rule; a fresh member shows the same
        // for a suspension an admin makes.
        let ops = a
            .add_member(
                &root,
                &NewStaffMember {
                    staff_id: "ops".into(),
                    org_id: "operator".into(),
                    roles: vec![Role::Support],
                },
            )
            .await
            .unwrap();
        login(&a, &ops, local()).await.unwrap().token
    };
    other.authenticate(&t, local()).await.unwrap();
    a.suspend_member(&root, "ops").await.unwrap();
    assert!(matches!(
        other.authenticate(&t, local()).await,
        Err(StaffError::InvalidSession(_))
    ));

    let mut wrong = admin.clone();
    wrong.password.push('x');
    for i in 0..MAX_FAILED_LOGINS {
        let node = if i % 2 == 0 { &a } else { &other };
        assert!(matches!(
            login(node, &wrong, local()).await,
            Err(StaffError::InvalidCredentials)
        ));
    }
    for node in [&a, &other] {
        assert!(matches!(
            login(node, &admin, local()).await,
            Err(StaffError::TooManyFailedLogins { .. })
        ));
    }
}

/// In a cluster an event left unnumbered may be another node's whose
/// append is under way: the periodic settling leaves the young ones alone,
/// numbers an old one whose leaf reached the shared log, and takes back an
/// old one whose leaf never did.
pub(super) async fn events_a_dead_node_left_are_settled_after_the_grace(b: Backend) {
    let place = Place::new(b, "staff_settle").await;
    let log = Arc::new(kizuna_ledger::InMemoryLog::default());
    let ledger = Arc::new(
        kizuna_ledger::Ledger::open_shared(
            &place.path().join("mirror"),
            kizuna_ledger::TreeHeadKey::new("test/ledger", [2; 32]),
            log.clone(),
        )
        .await
        .unwrap(),
    );
    let r = StaffRealm::open(place.at(), [5; 32], ledger.clone())
        .await
        .unwrap();
    let now = kizuna_wire::now_ms();
    let left = |at: u64, what: &str| {
        let entry = format!("{{\"left by a dead node\":\"{what}\"}}").into_bytes();
        let leaf = kizuna_ledger::leaf_hash(&entry);
        let event = Event {
            at,
            kind: EventKind::Login,
            staff_id: Some("root".into()),
            org_id: Some("operator".into()),
            detail: serde_json::json!({ "what": what }),
        };
        (event, entry, leaf)
    };
    let appended = left(now - 5 * 60_000, "appended");
    let lost = left(now - 5 * 60_000, "lost");
    let young = left(now, "under way");
    let size = ledger.size();
    for (e, entry, leaf) in [&appended, &lost, &young] {
        r.store.append(e, entry, leaf, size).await.unwrap();
    }
    // The dead node's one append that reached the log, as another node's.
    let index =
        kizuna_ledger::SharedLog::append(log.as_ref(), &[kizuna_ledger::Leaf::plain(appended.2)])
            .await
            .unwrap();

    r.settle_pending().await.unwrap();
    let pending: Vec<Vec<u8>> = r
        .pending_events()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.leaf)
        .collect();
    assert_eq!(pending, vec![young.2.to_vec()], "only the young one waits");
    let numbered = r.held_events(index, 10).await.unwrap();
    assert_eq!(numbered.len(), 1);
    assert_eq!(numbered[0].leaf, appended.2.to_vec());
    assert_eq!(numbered[0].index, index);
}

/// Two operators bootstrapping one cluster's staff realm at once: one
/// first admin is made, the other is told one exists. (An embedded store
/// belongs to the one process holding its data directory.)
#[tokio::test]
async fn one_first_admin_when_two_operators_bootstrap_a_shared_store_at_once() {
    let (place, a) = realm(Backend::Postgres).await;
    let b = place.open(5).await;
    let nets = || vec!["127.0.0.0/8".to_string()];
    let (ra, rb) = tokio::join!(
        a.bootstrap("root", "JP", nets(), vec!["jp".into()]),
        b.bootstrap("admin", "JP", nets(), vec!["jp".into()]),
    );
    assert!(
        ra.is_ok() != rb.is_ok(),
        "exactly one bootstrap succeeds: {:?} {:?}",
        ra.as_ref().map(|c| &c.staff_id),
        rb.as_ref().map(|c| &c.staff_id)
    );
    let refused = ra.err().or(rb.err()).unwrap();
    assert!(matches!(refused, StaffError::Exists(_)), "{refused:?}");
    assert_eq!(a.store.members().await.unwrap().len(), 1);
}

/// An event another node took back while its append was under way (the
/// append outlived the grace): once appended it is written again,
/// numbered, for its leaf is in the ledger.
#[tokio::test]
async fn an_event_taken_back_while_appended_is_written_again() {
    let (place, r) = realm(Backend::Sqlite).await;
    let l = ledger(place.path());
    let e = Event {
        at: kizuna_wire::now_ms(),
        kind: EventKind::Login,
        staff_id: Some("root".into()),
        org_id: Some("operator".into()),
        detail: serde_json::json!({}),
    };
    let entry = b"{\"an\":\"entry\"}".to_vec();
    let leaf = kizuna_ledger::leaf_hash(&entry);
    r.store.append(&e, &entry, &leaf, l.size()).await.unwrap();
    // Another node's settling takes it back; then the append lands.
    r.store.drop_pending_event(&leaf).await.unwrap();
    let idx = l.append(vec![leaf]).await.unwrap();
    r.store
        .number_appended(&e, &entry, &leaf, 0, idx)
        .await
        .unwrap();
    let held = r.held_events(idx, 10).await.unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].leaf, leaf.to_vec());
}
