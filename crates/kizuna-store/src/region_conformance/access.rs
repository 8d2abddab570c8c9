//! Access records as the ledger's entries: appending and numbering them,
//! finding them by who accessed, and their tombstones.

use std::sync::Arc;

use super::{access, person};
use crate::{AccessedBy, RegionStore, ERASED};

pub(super) async fn appended_records_get_their_indexes(store: Arc<dyn RegionStore>) {
    assert!(store.last_entry().await.unwrap().is_none());
    store.put_subject(person("alice", None)).await.unwrap();
    store
        .append_accesses(vec![
            (
                "alice".into(),
                access(10, Some(b"l0"), None, Some("o"), None),
            ),
            ("bob".into(), access(11, Some(b"l1"), None, Some("o"), None)),
        ])
        .await
        .unwrap();
    store
        .append_access("alice", access(12, Some(b"l2"), None, None, Some("s")))
        .await
        .unwrap();
    let pending = store.pending_access().await.unwrap();
    let leaves: Vec<_> = pending.iter().map(|r| r.access.leaf.clone()).collect();
    assert_eq!(
        leaves,
        [
            Some(b"l0".to_vec()),
            Some(b"l1".to_vec()),
            Some(b"l2".to_vec())
        ],
        "pending records come in the order they were written"
    );
    assert_eq!(pending[1].subject_id, "bob");

    store
        .number_accesses(&[
            (
                "alice".into(),
                access(10, Some(b"l0"), Some(0), Some("o"), None),
            ),
            (
                "bob".into(),
                access(11, Some(b"l1"), Some(1), Some("o"), None),
            ),
        ])
        .await
        .unwrap();
    store.set_access_index(b"l2", 2).await.unwrap();
    // An index once noted stays.
    store.set_access_index(b"l0", 7).await.unwrap();
    assert!(store.pending_access().await.unwrap().is_empty());

    let last = store.last_entry().await.unwrap().unwrap();
    assert_eq!(
        (last.subject_id.as_str(), last.access.idx),
        ("alice", Some(2))
    );
    let rows = store.ledger_rows(1, 10).await.unwrap();
    let idx: Vec<_> = rows.iter().map(|r| r.access.idx).collect();
    assert_eq!(idx, [Some(1), Some(2)]);
    assert_eq!(
        store.ledger_rows(0, 1).await.unwrap()[0].access.idx,
        Some(0)
    );
    assert!(store.ledger_rows(3, 10).await.unwrap().is_empty());

    let alice = store.access_records("alice").await.unwrap();
    assert_eq!(alice.len(), 2);
    assert_eq!(alice[0], access(10, Some(b"l0"), Some(0), Some("o"), None));
}

/// In a cluster, another node's settling may take back a record whose
/// append outlived its grace; the append then succeeded, so numbering
/// writes the record again. A person erased meanwhile gets nothing back,
/// and an index once noted is never replaced.
pub(super) async fn a_record_taken_back_during_its_append_is_written_again(
    store: Arc<dyn RegionStore>,
) {
    store.put_subject(person("alice", None)).await.unwrap();
    let pending = |leaf: &'static [u8]| access(20, Some(leaf), None, None, Some("s"));
    let numbered = |leaf: &'static [u8], idx| access(20, Some(leaf), Some(idx), None, Some("s"));
    store
        .append_accesses(vec![
            ("alice".into(), pending(b"slow")),
            ("gone".into(), pending(b"of-gone")),
        ])
        .await
        .unwrap();
    store.drop_pending_access(b"slow").await.unwrap();
    store.drop_pending_access(b"of-gone").await.unwrap();
    assert!(store.access_records("alice").await.unwrap().is_empty());

    let appended = [
        ("alice".to_string(), numbered(b"slow", 4)),
        ("gone".to_string(), numbered(b"of-gone", 5)),
    ];
    store.number_accesses(&appended).await.unwrap();
    store
        .number_accesses(&[("alice".into(), numbered(b"slow", 9))])
        .await
        .unwrap();

    assert_eq!(
        store.access_records("alice").await.unwrap(),
        [numbered(b"slow", 4)]
    );
    assert!(store.access_records("gone").await.unwrap().is_empty());
    assert!(store.pending_access().await.unwrap().is_empty());
}

pub(super) async fn a_failed_append_is_dropped(store: Arc<dyn RegionStore>) {
    store
        .append_accesses(vec![
            (
                "alice".into(),
                access(10, Some(b"done"), Some(0), None, None),
            ),
            (
                "alice".into(),
                access(11, Some(b"failed"), None, None, None),
            ),
        ])
        .await
        .unwrap();
    store.drop_pending_access(b"failed").await.unwrap();
    // A numbered entry is never dropped this way.
    store.drop_pending_access(b"done").await.unwrap();
    let left = store.access_records("alice").await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].leaf.as_deref(), Some(&b"done"[..]));
    assert!(store.pending_access().await.unwrap().is_empty());
}

pub(super) async fn accesses_by_pages_in_time_order(store: Arc<dyn RegionStore>) {
    // Written out of time order, with two at the same time.
    let mut all = Vec::new();
    for (i, (at, org, staff)) in [
        (30, "o1", "s1"),
        (10, "o1", "s1"),
        (20, "o1", "s2"),
        (20, "o1", "s1"),
        (40, "o2", "s1"),
        (50, "o1", "s1"),
    ]
    .into_iter()
    .enumerate()
    {
        let leaf = format!("leaf-{i}");
        all.push((
            format!("p{i}"),
            access(
                at,
                Some(leaf.as_bytes()),
                Some(i as u64),
                Some(org),
                Some(staff),
            ),
        ));
    }
    store.append_accesses(all).await.unwrap();

    let walk = |by: AccessedBy| {
        let store = store.clone();
        async move {
            let mut seen = Vec::new();
            let mut after = (0, 0);
            loop {
                let page = store.accesses_by(&by, after, 2).await.unwrap();
                assert!(page.len() <= 2);
                let Some((id, last)) = page.last() else { break };
                after = (last.access.at, *id);
                seen.extend(page.iter().map(|(_, r)| r.subject_id.clone()));
            }
            seen
        }
    };
    let by_org = walk(AccessedBy {
        org_id: Some("o1".into()),
        staff_id: None,
        from: 0,
        to: u64::MAX,
    })
    .await;
    assert_eq!(by_org, ["p1", "p2", "p3", "p0", "p5"], "by time, then row");
    let by_staff = walk(AccessedBy {
        org_id: None,
        staff_id: Some("s1".into()),
        from: 15,
        to: 45,
    })
    .await;
    assert_eq!(by_staff, ["p3", "p0", "p4"], "within [from, to]");
    let by_both = walk(AccessedBy {
        org_id: Some("o1".into()),
        staff_id: Some("s1".into()),
        from: 0,
        to: 50,
    })
    .await;
    assert_eq!(by_both, ["p1", "p3", "p0", "p5"]);
    let nobody = AccessedBy {
        from: 0,
        to: u64::MAX,
        ..AccessedBy::default()
    };
    assert!(store
        .accesses_by(&nobody, (0, 0), 10)
        .await
        .unwrap()
        .is_empty());
}

pub(super) async fn tombstones_are_sealed_by_leaf(store: Arc<dyn RegionStore>) {
    store
        .append_accesses(vec![
            (
                "alice".into(),
                access(10, Some(b"a1"), Some(0), Some("o"), None),
            ),
            (
                "alice".into(),
                access(11, Some(b"a2"), Some(1), Some("o"), None),
            ),
            (
                "bob".into(),
                access(12, Some(b"b1"), Some(2), Some("o"), None),
            ),
        ])
        .await
        .unwrap();
    let turned = store
        .tombstone_accesses(
            "alice",
            &[
                (b"a1".to_vec(), b"seal-1".to_vec()),
                (b"b1".to_vec(), b"not alice's".to_vec()),
                (b"nothing".to_vec(), b"seal".to_vec()),
            ],
        )
        .await
        .unwrap();
    assert_eq!(turned, 1, "only alice's entries, by leaf");
    let rows = store.ledger_rows(0, 10).await.unwrap();
    assert_eq!(rows[0].subject_id, ERASED);
    assert_eq!(rows[0].access.sealed, b"seal-1");
    assert_eq!(rows[0].access.leaf.as_deref(), Some(&b"a1"[..]));
    assert_eq!(rows[1].subject_id, "alice");
    assert_eq!(rows[2].subject_id, "bob");
    assert_eq!(rows[2].access.sealed, b"sealed access at 12");
    assert!(store.bare_tombstones().await.unwrap().is_empty());
}

pub(super) async fn bare_tombstones_get_sealed_once(store: Arc<dyn RegionStore>) {
    assert!(!store.tombstones_sealed().await.unwrap());
    let mut alice = person("alice", None);
    alice.access = vec![
        access(10, Some(b"a1"), Some(0), Some("o"), None),
        access(11, Some(b"a2"), Some(1), None, Some("s")),
    ];
    store.put_subject(alice).await.unwrap();
    store.erase_subject("alice", true).await.unwrap();
    let bare = store.bare_tombstones().await.unwrap();
    let leaves: Vec<_> = bare.iter().map(|r| r.access.leaf.clone()).collect();
    assert_eq!(leaves, [Some(b"a1".to_vec()), Some(b"a2".to_vec())]);
    assert!(bare.iter().all(|r| r.subject_id == ERASED));

    store
        .seal_bare_tombstones(&[
            (b"a1".to_vec(), b"seal-1".to_vec()),
            (b"a2".to_vec(), b"seal-2".to_vec()),
        ])
        .await
        .unwrap();
    assert!(store.tombstones_sealed().await.unwrap());
    assert!(store.bare_tombstones().await.unwrap().is_empty());
    // A sealed tombstone keeps its seal.
    store
        .seal_bare_tombstones(&[(b"a1".to_vec(), b"other".to_vec())])
        .await
        .unwrap();
    let rows = store.ledger_rows(0, 10).await.unwrap();
    assert_eq!(rows[0].access.sealed, b"seal-1");
    assert_eq!(rows[1].access.sealed, b"seal-2");
    assert!(store.tombstones_sealed().await.unwrap());
}
