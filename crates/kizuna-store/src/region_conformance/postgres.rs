//! What only the PostgreSQL region store has to keep: its schema's
//! versions, and many nodes writing one region's database at once.

use std::sync::Arc;

use super::{person, report};
use crate::postgres::scratch::ScratchDatabase;
use crate::{PgRegionStore, RegionStore, ReportRow, StoreError};

async fn two_nodes(label: &str) -> (ScratchDatabase, Arc<PgRegionStore>, Arc<PgRegionStore>) {
    let db = ScratchDatabase::create(label).await;
    PgRegionStore::migrate(db.location()).await.unwrap();
    let one = PgRegionStore::open(db.location()).await.unwrap();
    let two = PgRegionStore::open(db.location()).await.unwrap();
    (db, Arc::new(one), Arc::new(two))
}

#[tokio::test]
async fn migrating_twice_changes_nothing() {
    let db = ScratchDatabase::create("region_migrate_twice").await;
    assert_eq!(
        PgRegionStore::migrate(db.location()).await.unwrap(),
        [1, 2, 3]
    );
    let store = PgRegionStore::open(db.location()).await.unwrap();
    store.put_subject(person("alice", None)).await.unwrap();
    assert!(PgRegionStore::migrate(db.location())
        .await
        .unwrap()
        .is_empty());
    assert!(store.subject("alice").await.unwrap().is_some());
    store.close().await;
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let db = ScratchDatabase::create("region_newer_schema").await;
    PgRegionStore::migrate(db.location()).await.unwrap();
    let pool = crate::postgres::connect(db.location(), 1).await.unwrap();
    sqlx::query("INSERT INTO schema_version (version) VALUES (4)")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    match PgRegionStore::open(db.location()).await {
        Err(StoreError::SchemaTooNew { found: 4, known: 3 }) => {}
        other => panic!("opening must refuse a newer schema, got {:?}", other.err()),
    }
    match PgRegionStore::migrate(db.location()).await {
        Err(StoreError::SchemaTooNew { found: 4, known: 3 }) => {}
        other => panic!("migrating must refuse a newer schema, got {other:?}"),
    }
}

#[tokio::test]
async fn an_empty_database_is_refused() {
    let db = ScratchDatabase::create("region_empty").await;
    match PgRegionStore::open(db.location()).await {
        Err(StoreError::SchemaOutdated {
            found: 0, known: 3, ..
        }) => {}
        other => panic!(
            "an unmigrated database must be refused, got {:?}",
            other.err()
        ),
    }
}

#[tokio::test]
async fn a_region_knows_whether_it_holds_anyone() {
    let (_db, store, _) = two_nodes("region_is_empty").await;
    assert!(store.is_empty().await.unwrap());
    store.put_subject(person("alice", None)).await.unwrap();
    assert!(!store.is_empty().await.unwrap());
    store.erase_subject("alice", true).await.unwrap();
    assert!(store.is_empty().await.unwrap());
}

#[tokio::test]
async fn two_nodes_deciding_one_report_exactly_one_wins() {
    let (_db, one, two) = two_nodes("region_report_race").await;
    for i in 0..20 {
        let open = report(&format!("r{i}"), "alice", format!("m{i}").as_bytes(), i);
        one.put_report(open.clone()).await.unwrap();
        let decide = |store: Arc<PgRegionStore>, by: &str| {
            let decided = ReportRow {
                state: "resolved".into(),
                resolved_at: Some(100),
                sealed: by.as_bytes().to_vec(),
                ..open.clone()
            };
            tokio::spawn(async move { store.update_report(&decided, "open").await.unwrap() })
        };
        let (a, b) = (decide(one.clone(), "one"), decide(two.clone(), "two"));
        let (a, b) = (a.await.unwrap(), b.await.unwrap());
        assert!(a ^ b, "exactly one decision wins, got {a} and {b}");
        let stored = two.report(&open.report_id).await.unwrap().unwrap();
        assert_eq!(stored.sealed, if a { b"one" } else { b"two" });
    }
}

#[tokio::test]
async fn two_nodes_giving_one_phone_to_two_people() {
    let (_db, one, two) = two_nodes("region_phone_race").await;
    for i in 0..20 {
        let phone = format!("phone-{i}");
        let give = |store: Arc<PgRegionStore>, who: String| {
            let p = person(&who, Some(phone.as_bytes()));
            tokio::spawn(async move { store.put_subject(p).await })
        };
        let a = give(one.clone(), format!("a{i}"));
        let b = give(two.clone(), format!("b{i}"));
        let outcomes = [a.await.unwrap(), b.await.unwrap()];
        let won = outcomes.iter().filter(|o| o.is_ok()).count();
        assert_eq!(won, 1, "one person gets the phone: {outcomes:?}");
        for o in &outcomes {
            assert!(
                matches!(o, Ok(()) | Err(StoreError::Conflict("phone"))),
                "{o:?}"
            );
        }
        let holder = one
            .subject_by_phone_hash(phone.as_bytes())
            .await
            .unwrap()
            .unwrap();
        let loser = if holder.starts_with('a') { "b" } else { "a" };
        assert!(one.subject(&format!("{loser}{i}")).await.unwrap().is_none());
    }
}

#[tokio::test]
async fn a_record_written_during_an_erasure_does_not_outlive_it() {
    let (_db, one, two) = two_nodes("region_erase_race").await;
    for i in 0..20 {
        let id = format!("p{i}");
        one.put_subject(person(&id, None)).await.unwrap();
        let writer = {
            let (two, id) = (two.clone(), id.clone());
            tokio::spawn(async move { two.put_record(&id, "blocks", b"late").await })
        };
        let eraser = {
            let (one, id) = (one.clone(), id.clone());
            tokio::spawn(async move { one.erase_subject(&id, true).await.unwrap() })
        };
        assert!(eraser.await.unwrap());
        match writer.await.unwrap() {
            Ok(()) | Err(StoreError::NotFound(_)) => {}
            Err(e) => panic!("{e}"),
        }
        assert_eq!(one.record(&id, "blocks").await.unwrap(), None);
        assert!(one.subject(&id).await.unwrap().is_none());
    }
}

#[tokio::test]
async fn two_nodes_rewrapping_one_key_change_it_once() {
    let (_db, one, two) = two_nodes("region_rewrap_race").await;
    one.put_subject(person("alice", None)).await.unwrap();
    let old = one.wrapped_key("alice").await.unwrap().unwrap();
    let rewrap = |store: Arc<PgRegionStore>, by: &'static [u8]| {
        let mut new = old.clone();
        new.wrapped = by.to_vec();
        new.region_key_version = 2;
        let from = old.wrapped.clone();
        tokio::spawn(async move { store.rewrap(&[(new, from)]).await.unwrap() })
    };
    let (a, b) = (rewrap(one.clone(), b"one"), rewrap(two.clone(), b"two"));
    assert_eq!(a.await.unwrap() + b.await.unwrap(), 1);
}

#[tokio::test]
async fn two_nodes_writing_one_new_person_both_succeed_in_turn() {
    let (_db, one, two) = two_nodes("region_put_race").await;
    for i in 0..20 {
        let id = format!("p{i}");
        let put = |store: Arc<PgRegionStore>, phone: &'static [u8], leaf: &'static [u8]| {
            let mut p = person(&id, Some(phone));
            p.access = vec![super::access(1, Some(leaf), Some(0), Some("o"), None)];
            p.reports = vec![report(&format!("r{i}"), &id, b"m", 1)];
            tokio::spawn(async move { store.put_subject(p).await })
        };
        let a = put(one.clone(), b"phone-one", b"leaf-one");
        let b = put(two.clone(), b"phone-two", b"leaf-two");
        a.await.unwrap().unwrap();
        b.await.unwrap().unwrap();
        // Whichever came last, the person is wholly its version.
        let read = one.subject(&id).await.unwrap().unwrap();
        let phone = read.phone_hash.clone().unwrap();
        let leaf = read.access[0].leaf.clone().unwrap();
        assert_eq!(read.access.len(), 1);
        assert_eq!(read.reports.len(), 1);
        let (mine, other): (&[u8], &[u8]) = if phone == b"phone-one" {
            (b"leaf-one", b"phone-two")
        } else {
            (b"leaf-two", b"phone-one")
        };
        assert_eq!(leaf, mine, "one version's phone with the other's records");
        assert_eq!(one.subject_by_phone_hash(other).await.unwrap(), None);
        one.erase_subject(&id, false).await.unwrap();
    }
}
