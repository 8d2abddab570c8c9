//! People: writing, replacing and reading them, the phone index, erasure.

use std::sync::Arc;

use super::{access, key, person, report};
use crate::{RegionStore, StoreError, ERASED};

pub(super) async fn put_and_read_a_subject(store: Arc<dyn RegionStore>) {
    let mut alice = person("alice", Some(b"phone-a"));
    alice.access = vec![
        access(10, Some(b"leaf-1"), Some(0), Some("org"), Some("staff")),
        access(20, Some(b"leaf-2"), None, Some("org"), None),
    ];
    alice.reports = vec![report("r1", "alice", b"m1", 5)];
    store.put_subject(alice.clone()).await.unwrap();

    let read = store.subject("alice").await.unwrap().unwrap();
    assert_eq!(read.key, alice.key);
    assert_eq!(read.records, alice.records, "records come by category");
    assert_eq!(read.phone_hash, alice.phone_hash);
    assert_eq!(read.access, alice.access, "access records come in order");
    assert_eq!(read.reports, alice.reports);
    assert_eq!(store.wrapped_key("alice").await.unwrap(), Some(alice.key));
    assert_eq!(
        store.record("alice", "profile").await.unwrap(),
        Some(b"profile of alice".to_vec())
    );
    assert_eq!(store.record("alice", "nothing").await.unwrap(), None);
    assert_eq!(
        store.subject_by_phone_hash(b"phone-a").await.unwrap(),
        Some("alice".into())
    );
    assert_eq!(store.subject_by_phone_hash(b"phone-b").await.unwrap(), None);
    assert!(store.subject("bob").await.unwrap().is_none());
    assert!(store.wrapped_key("bob").await.unwrap().is_none());
}

pub(super) async fn putting_again_replaces_everything(store: Arc<dyn RegionStore>) {
    let mut alice = person("alice", Some(b"phone-a"));
    alice.access = vec![access(10, Some(b"leaf-1"), Some(0), Some("org"), None)];
    alice.reports = vec![report("r1", "alice", b"m1", 5)];
    store.put_subject(alice).await.unwrap();

    let mut moved = person("alice", Some(b"phone-new"));
    moved.key = key("alice", b"another key", 2);
    moved.records = vec![("profile".into(), b"new profile".to_vec())];
    moved.access = vec![access(30, Some(b"leaf-3"), Some(1), None, Some("staff"))];
    moved.reports = vec![report("r2", "alice", b"m2", 6)];
    store.put_subject(moved.clone()).await.unwrap();

    let read = store.subject("alice").await.unwrap().unwrap();
    assert_eq!(read.key, moved.key);
    assert_eq!(read.records, moved.records, "the old contacts are gone");
    assert_eq!(read.phone_hash, moved.phone_hash);
    assert_eq!(read.access, moved.access);
    assert_eq!(read.reports, moved.reports);
    assert_eq!(store.subject_by_phone_hash(b"phone-a").await.unwrap(), None);
    assert!(store.report("r1").await.unwrap().is_none());
    assert_eq!(store.record("alice", "contacts").await.unwrap(), None);
}

pub(super) async fn a_held_phone_refuses_the_whole_batch(store: Arc<dyn RegionStore>) {
    store
        .put_subject(person("alice", Some(b"phone-a")))
        .await
        .unwrap();
    let mut bob = person("bob", Some(b"phone-b"));
    bob.access = vec![access(10, Some(b"leaf-b"), Some(0), Some("org"), None)];
    bob.reports = vec![report("rb", "bob", b"m", 1)];
    let carol = person("carol", Some(b"phone-a"));
    match store.put_subjects(vec![bob, carol]).await {
        Err(StoreError::Conflict("phone")) => {}
        other => panic!("a phone someone else holds must be refused, got {other:?}"),
    }
    for id in ["bob", "carol"] {
        assert!(
            store.subject(id).await.unwrap().is_none(),
            "{id} was written"
        );
    }
    assert!(store.ledger_rows(0, 10).await.unwrap().is_empty());
    assert!(store.report("rb").await.unwrap().is_none());
    assert_eq!(store.subject_by_phone_hash(b"phone-b").await.unwrap(), None);
    assert_eq!(
        store.subject_by_phone_hash(b"phone-a").await.unwrap(),
        Some("alice".into())
    );
    // The holder itself may be written again with its phone.
    store
        .put_subject(person("alice", Some(b"phone-a")))
        .await
        .unwrap();
}

pub(super) async fn put_record_needs_a_key(store: Arc<dyn RegionStore>) {
    match store.put_record("nobody", "profile", b"x").await {
        Err(StoreError::NotFound(_)) => {}
        other => panic!("a record of someone with no key here must be refused, got {other:?}"),
    }
    assert_eq!(store.record("nobody", "profile").await.unwrap(), None);
    store.put_subject(person("alice", None)).await.unwrap();
    store
        .put_record("alice", "profile", b"changed")
        .await
        .unwrap();
    store.put_record("alice", "blocks", b"new").await.unwrap();
    assert_eq!(
        store.record("alice", "profile").await.unwrap(),
        Some(b"changed".to_vec())
    );
    assert_eq!(
        store.record("alice", "blocks").await.unwrap(),
        Some(b"new".to_vec())
    );
}

pub(super) async fn wrapped_keys_of_many(store: Arc<dyn RegionStore>) {
    store
        .put_subjects(vec![person("alice", None), person("bob", None)])
        .await
        .unwrap();
    let mut keys = store
        .wrapped_keys(&["bob".into(), "nobody".into(), "alice".into()])
        .await
        .unwrap();
    keys.sort_by(|a, b| a.subject_id.cmp(&b.subject_id));
    assert_eq!(
        keys,
        [
            person("alice", None).key.clone(),
            person("bob", None).key.clone()
        ]
    );
    assert!(store.wrapped_keys(&[]).await.unwrap().is_empty());
}

/// Alice with a numbered entry, one still pending, and one from before the
/// ledger; Bob with one entry.
async fn alice_and_bob(store: &Arc<dyn RegionStore>) {
    let mut alice = person("alice", Some(b"phone-a"));
    alice.access = vec![
        access(5, None, None, Some("org"), None),
        access(10, Some(b"leaf-1"), Some(0), Some("org"), Some("staff")),
        access(20, Some(b"leaf-2"), None, Some("org"), None),
    ];
    alice.reports = vec![report("ra", "alice", b"m", 1)];
    let mut bob = person("bob", Some(b"phone-b"));
    bob.access = vec![access(15, Some(b"leaf-b"), Some(1), Some("org"), None)];
    store.put_subjects(vec![alice, bob]).await.unwrap();
}

/// Everything of Alice's but her ledger entries is gone.
async fn nothing_of_alice(store: &Arc<dyn RegionStore>) {
    assert!(store.subject("alice").await.unwrap().is_none());
    assert!(store.wrapped_key("alice").await.unwrap().is_none());
    assert_eq!(store.record("alice", "profile").await.unwrap(), None);
    assert_eq!(store.subject_by_phone_hash(b"phone-a").await.unwrap(), None);
    assert!(store.reports_of("alice").await.unwrap().is_empty());
    assert!(store.report("ra").await.unwrap().is_none());
    assert!(store.access_records("alice").await.unwrap().is_empty());
    assert!(store.subject("bob").await.unwrap().is_some(), "bob stays");
}

pub(super) async fn erase_without_ledger_leaves_nothing(store: Arc<dyn RegionStore>) {
    alice_and_bob(&store).await;
    assert!(store.erase_subject("alice", false).await.unwrap());
    nothing_of_alice(&store).await;
    let rows = store.ledger_rows(0, 10).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].subject_id, "bob");
    assert!(store.pending_access().await.unwrap().is_empty());
    assert!(!store.erase_subject("alice", false).await.unwrap());
}

pub(super) async fn erase_keeping_ledger_leaves_tombstones(store: Arc<dyn RegionStore>) {
    alice_and_bob(&store).await;
    assert!(store.erase_subject("alice", true).await.unwrap());
    nothing_of_alice(&store).await;

    let rows = store.ledger_rows(0, 10).await.unwrap();
    assert_eq!(rows.len(), 2);
    let tomb = &rows[0];
    assert_eq!(tomb.subject_id, ERASED, "no subject stays");
    assert!(tomb.access.sealed.is_empty(), "no content stays");
    let was = access(10, Some(b"leaf-1"), Some(0), Some("org"), Some("staff"));
    assert_eq!(
        (
            &tomb.access.leaf,
            tomb.access.idx,
            tomb.access.at,
            &tomb.access.org_id,
            &tomb.access.staff_id
        ),
        (&was.leaf, was.idx, was.at, &was.org_id, &was.staff_id),
        "the entry's place and who accessed stay"
    );
    assert_eq!(rows[1].subject_id, "bob");
    // The pending entry is a tombstone too; the one from before the
    // ledger (no leaf) is gone.
    let pending = store.pending_access().await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].subject_id, ERASED);
    assert_eq!(pending[0].access.leaf.as_deref(), Some(&b"leaf-2"[..]));
    assert!(pending[0].access.sealed.is_empty());
    let tombstones = store.access_records(ERASED).await.unwrap();
    assert_eq!(tombstones.len(), 2);
    assert!(tombstones.iter().all(|a| a.leaf.is_some()));
    assert!(!store.erase_subject("alice", true).await.unwrap());
}

pub(super) async fn an_unproven_number_is_found_by_nobody_and_taken_by_its_proven_holder(
    store: Arc<dyn RegionStore>,
) {
    // Dave registered before codes existed: his number was never proven.
    let mut dave = person("dave", Some(b"phone-d"));
    dave.phone_proven = false;
    store.put_subject(dave.clone()).await.unwrap();
    assert_eq!(store.subject_by_phone_hash(b"phone-d").await.unwrap(), None);
    let read = store.subject("dave").await.unwrap().unwrap();
    assert!(!read.phone_proven);
    // Dave written again (a move, a rewrap) stays unproven and keeps it.
    store.put_subject(dave).await.unwrap();
    // Nobody unproven takes it from him.
    let mut erin = person("erin", Some(b"phone-d"));
    erin.phone_proven = false;
    match store.put_subject(erin).await {
        Err(StoreError::Conflict("phone")) => {}
        other => panic!("an unproven claim must be refused, got {other:?}"),
    }
    // Its proven holder does; then it is found, and is theirs to keep.
    store
        .put_subject(person("frank", Some(b"phone-d")))
        .await
        .unwrap();
    assert_eq!(
        store.subject_by_phone_hash(b"phone-d").await.unwrap(),
        Some("frank".into())
    );
    let dave = store.subject("dave").await.unwrap().unwrap();
    assert_eq!(dave.phone_hash, None, "dave no longer holds the number");
    assert!(store.subject("frank").await.unwrap().unwrap().phone_proven);
    match store.put_subject(person("gina", Some(b"phone-d"))).await {
        Err(StoreError::Conflict("phone")) => {}
        other => panic!("a proven number must be refused to others, got {other:?}"),
    }
}
