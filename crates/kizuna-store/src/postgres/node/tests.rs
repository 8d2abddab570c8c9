//! What only a shared database has: several nodes (several `PgStore`s on
//! one database) writing at once, and the schema's versions.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::schema::NODE;
use super::*;
use crate::conformance::{add_device_to, app, commit, new_account};
use crate::postgres::scratch::ScratchDatabase;

/// What a fresh database is migrated through: every version, in order.
fn every_version() -> Vec<u64> {
    (1..=NODE.migrations.len() as u64).collect()
}

/// Two nodes on one fresh database.
async fn two_nodes(label: &str) -> (ScratchDatabase, Arc<PgStore>, Arc<PgStore>) {
    let db = ScratchDatabase::create(label).await;
    assert_eq!(
        PgStore::migrate(db.location()).await.unwrap(),
        every_version()
    );
    let one = Arc::new(PgStore::open(db.location()).await.unwrap());
    let two = Arc::new(PgStore::open(db.location()).await.unwrap());
    (db, one, two)
}

/// A group created by `members[0]` with the others added, at epoch 1.
async fn group_of(store: &PgStore, g: &[u8], members: &[&str]) {
    store
        .create_group(g, members[0], 0, Vec::new())
        .await
        .unwrap();
    store
        .submit(vec![commit(g, members[0], 0, &members[1..], &[])], vec![])
        .await
        .unwrap()
        .remove(0)
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_commits_at_one_epoch_through_two_nodes_exactly_one_is_accepted() {
    let (_db, one, two) = two_nodes("one_commit_per_epoch").await;
    let members = ["a", "b", "c", "d"];
    for d in members {
        add_device_to(&*one, d).await;
    }
    let g = b"group".as_slice();
    group_of(&one, g, &members).await;
    for round in 1..=5u64 {
        let mut tasks = Vec::new();
        for sender in members {
            for node in [&one, &two] {
                let node = node.clone();
                let c = commit(g, sender, round, &[], &[]);
                tasks.push(tokio::spawn(async move {
                    node.submit(vec![c], vec![]).await.unwrap().remove(0)
                }));
            }
        }
        let mut accepted = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(a) => {
                    assert_eq!(a.epoch, round + 1);
                    accepted += 1;
                }
                Err(Rejection::StaleEpoch { current, sent }) => {
                    assert_eq!((current, sent), (round + 1, round));
                }
                Err(r) => panic!("unexpected refusal {r}"),
            }
        }
        assert_eq!(accepted, 1, "round {round}");
        assert_eq!(two.group(g).await.unwrap().unwrap().epoch, round + 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reader_polling_after_its_last_position_misses_nothing_while_two_nodes_write() {
    let (_db, one, two) = two_nodes("no_lost_message").await;
    const GROUPS: usize = 16;
    const WRITERS: usize = 8;
    const BATCHES: usize = 60;
    let writers: Vec<String> = (0..WRITERS).map(|w| format!("w{w}")).collect();
    for d in writers.iter().map(String::as_str).chain(["r"]) {
        add_device_to(&*one, d).await;
    }
    let groups: Vec<Vec<u8>> = (0..GROUPS).map(|g| format!("g{g}").into_bytes()).collect();
    let mut members: Vec<&str> = writers.iter().map(String::as_str).collect();
    members.push("r");
    for g in &groups {
        group_of(&one, g, &members).await;
    }
    let mut tasks = Vec::new();
    for (w, writer) in writers.iter().enumerate() {
        let node = if w % 2 == 0 { one.clone() } else { two.clone() };
        let groups = groups.clone();
        let writer = writer.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..BATCHES {
                // Every other batch writes to two groups, in an order that
                // differs between writers, so batches lock groups in both
                // orders; the others to one, so that many commit side by side.
                let x = (w * 2 + n) % GROUPS;
                let mut batch = vec![app(&groups[x], &writer, 1, "m")];
                if n % 2 == 1 {
                    let y = (x + GROUPS - 1 + 2 * (w % 2)) % GROUPS;
                    batch.push(app(&groups[y], &writer, 1, "m"));
                }
                for r in node.submit(batch, vec![]).await.unwrap() {
                    r.unwrap();
                }
            }
        }));
    }
    // Both nodes release what is delivered as the reader acknowledges.
    let releasing = {
        let (one, two) = (one.clone(), two.clone());
        tokio::spawn(async move {
            loop {
                one.releasable.release_everything();
                two.releasable.release_everything();
                let _ = tokio::join!(one.release_delivered(), two.release_delivered());
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let total = WRITERS * BATCHES * 3 / 2;
    // Each group's first application message follows its commit and Welcome.
    let mut next: HashMap<Vec<u8>, u64> = groups.iter().map(|g| (g.clone(), 3)).collect();
    let mut received = 0;
    let mut after = 0;
    let mut polls = 0u64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let writing = tasks.iter().any(|t| !t.is_finished());
        let node = if polls.is_multiple_of(2) { &one } else { &two };
        polls += 1;
        let entries = node.inbox("r", after, 1000).await.unwrap();
        for e in &entries {
            assert!(e.seq > after, "positions go forward");
            after = e.seq;
            if e.kind != MessageKind::Application {
                continue;
            }
            let expected = next.get_mut(&e.group_id).unwrap();
            assert_eq!(
                e.group_seq, *expected,
                "group {:?}: message {} missed or out of order",
                e.group_id, expected
            );
            *expected += 1;
            received += 1;
        }
        if polls.is_multiple_of(3) {
            node.ack("r", after).await.unwrap();
        }
        if entries.is_empty() && !writing {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the writers never finished"
        );
    }
    releasing.abort();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(received, total, "every message reached the reader");
    assert!(polls > 10, "the reader read while the nodes wrote");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_device_deleted_while_another_node_adds_it_leaves_nothing_waiting_for_it() {
    let (_db, one, two) = two_nodes("delete_while_added").await;
    add_device_to(&*one, "a").await;
    let g = b"group".as_slice();
    one.create_group(g, "a", 0, Vec::new()).await.unwrap();
    let mut epoch = 0;
    for n in 0..30 {
        let d = format!("d{n}");
        add_device_to(&*one, &d).await;
        let adding = {
            let (one, c) = (one.clone(), commit(g, "a", epoch, &[&d], &[]));
            tokio::spawn(async move { one.submit(vec![c], vec![]).await.unwrap().remove(0) })
        };
        let deleting = {
            let (two, d) = (two.clone(), d.clone());
            tokio::spawn(async move { two.delete_device(&d).await.unwrap() })
        };
        if adding.await.unwrap().is_ok() {
            epoch += 1;
        }
        assert!(deleting.await.unwrap());
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM memberships WHERE device_id = $1")
            .bind(&d)
            .fetch_one(one.pool())
            .await
            .unwrap();
        assert_eq!(left, 0, "{d} was deleted but still routes");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn key_packages_are_claimed_once_and_kept_to_the_limit_across_nodes() {
    let (_db, one, two) = two_nodes("key_packages_across_nodes").await;
    add_device_to(&*one, "a").await;
    let mut adds = Vec::new();
    for i in 0..8u8 {
        let node = if i % 2 == 0 { one.clone() } else { two.clone() };
        adds.push(tokio::spawn(async move {
            let kps = (0..3u8).map(|k| vec![i, k]).collect();
            node.add_key_packages("a", kps, Some(b"last".to_vec()), 10)
                .await
                .unwrap()
        }));
    }
    let mut added = 0;
    for t in adds {
        if t.await.unwrap().is_ok() {
            added += 1;
        }
    }
    assert_eq!(
        added, 3,
        "three adds of three fit under ten, a fourth does not"
    );
    assert_eq!(one.key_package_count("a").await.unwrap().one_time, 9);
    let mut claims = Vec::new();
    for i in 0..20 {
        let node = if i % 2 == 0 { one.clone() } else { two.clone() };
        claims.push(tokio::spawn(async move {
            node.claim_key_package("a").await.unwrap().unwrap()
        }));
    }
    let mut claimed = Vec::new();
    for t in claims {
        claimed.push(t.await.unwrap());
    }
    let one_time: Vec<_> = claimed.iter().filter(|k| k.as_slice() != b"last").collect();
    let mut unique = one_time.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), one_time.len(), "a package went to two claims");
    // Claims that found every package held by another may take the last
    // resort early; none is lost: what was not claimed is still there.
    let left = one.key_package_count("a").await.unwrap().one_time as usize;
    assert_eq!(one_time.len() + left, 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_handle_registered_at_two_nodes_at_once_is_one_account() {
    let (_db, one, two) = two_nodes("handle_race").await;
    let mut tasks = Vec::new();
    for i in 0..10 {
        let node = if i % 2 == 0 { one.clone() } else { two.clone() };
        let mut new = new_account(&format!("d{i}"));
        new.account.handle = "same".into();
        tasks.push(tokio::spawn(async move { node.create_account(new).await }));
    }
    let mut created = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => created += 1,
            Err(StoreError::Conflict("handle")) => {}
            Err(e) => panic!("expected a handle conflict, got {e}"),
        }
    }
    assert_eq!(created, 1);
}

#[tokio::test]
async fn migrating_again_changes_nothing() {
    let db = ScratchDatabase::create("migrate_twice").await;
    assert_eq!(
        PgStore::migrate(db.location()).await.unwrap(),
        every_version()
    );
    assert!(PgStore::migrate(db.location()).await.unwrap().is_empty());
    let store = PgStore::open(db.location()).await.unwrap();
    assert_eq!(store.key_package_count("x").await.unwrap().one_time, 0);
    store.close().await;
}

#[tokio::test]
async fn a_database_at_another_version_is_refused() {
    let db = ScratchDatabase::create("schema_versions").await;
    match PgStore::open(db.location()).await {
        Err(StoreError::SchemaOutdated { found, known, .. }) => {
            assert_eq!((found, known), (0, NODE.migrations.len() as u64))
        }
        Err(e) => panic!("expected an empty database to be refused as outdated, got {e}"),
        Ok(_) => panic!("an empty database was opened"),
    }
    PgStore::migrate(db.location()).await.unwrap();
    let pool = crate::postgres::connect(db.location(), 1).await.unwrap();
    let known = NODE.migrations.len() as i64;
    sqlx::query("INSERT INTO schema_version (version) VALUES ($1)")
        .bind(known + 1)
        .execute(&pool)
        .await
        .unwrap();
    let newer = |r: Result<()>| match r {
        Err(StoreError::SchemaTooNew { found, known: k }) => {
            assert_eq!((found, k), (known as u64 + 1, known as u64))
        }
        Err(e) => panic!("expected a newer schema to be refused, got {e}"),
        Ok(()) => panic!("a database of a newer schema was accepted"),
    };
    newer(PgStore::open(db.location()).await.map(|_| ()));
    newer(PgStore::migrate(db.location()).await.map(|_| ()));
    let v: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_version")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(v, Some(known + 1), "refusing changed nothing");
    pool.close().await;
}
