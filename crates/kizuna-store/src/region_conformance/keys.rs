//! Wrapped keys: passes over the region, counts by version, rewrapping.

use std::sync::Arc;

use super::{key, person};
use crate::{RegionStore, SealedSubject};

fn with_key(id: &str, wrapped: &[u8], version: u32) -> SealedSubject {
    let mut p = person(id, None);
    p.key = key(id, wrapped, version);
    p
}

pub(super) async fn subjects_after_pages_by_id(store: Arc<dyn RegionStore>) {
    // Upper and lower case, which sort bytewise whatever the locale.
    let ids = ["b", "C", "a", "Bz", "c", "a-1"];
    store
        .put_subjects(ids.iter().map(|id| person(id, None)).collect())
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut after = String::new();
    loop {
        let page = store.subjects_after(&after, 2).await.unwrap();
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        after = last.subject_id.clone();
        seen.extend(page.into_iter().map(|k| k.subject_id));
    }
    assert_eq!(seen, ["Bz", "C", "a", "a-1", "b", "c"]);
    assert_eq!(
        store.subjects_after("b", 10).await.unwrap()[0],
        person("c", None).key
    );
}

pub(super) async fn key_versions_count_people(store: Arc<dyn RegionStore>) {
    assert!(store.key_versions().await.unwrap().is_empty());
    store
        .put_subjects(vec![
            with_key("a", b"ka", 2),
            with_key("b", b"kb", 1),
            with_key("c", b"kc", 2),
        ])
        .await
        .unwrap();
    assert_eq!(store.key_versions().await.unwrap(), [(1, 1), (2, 2)]);
}

pub(super) async fn rewrap_is_compare_and_set(store: Arc<dyn RegionStore>) {
    store
        .put_subjects(vec![with_key("a", b"ka", 1), with_key("b", b"kb", 1)])
        .await
        .unwrap();
    let changed = store
        .rewrap(&[
            (key("a", b"ka2", 2), b"ka".to_vec()),
            (key("b", b"kb2", 2), b"stale".to_vec()),
            (key("nobody", b"kn2", 2), b"kn".to_vec()),
        ])
        .await
        .unwrap();
    assert_eq!(changed, 1, "only a key still the one it was made from");
    assert_eq!(
        store.wrapped_key("a").await.unwrap(),
        Some(key("a", b"ka2", 2))
    );
    assert_eq!(
        store.wrapped_key("b").await.unwrap(),
        Some(key("b", b"kb", 1))
    );
    assert_eq!(store.key_versions().await.unwrap(), [(1, 1), (2, 1)]);
    // Rewrapping again from the old key changes nothing.
    let again = store
        .rewrap(&[(key("a", b"ka3", 3), b"ka".to_vec())])
        .await
        .unwrap();
    assert_eq!(again, 0);
    assert!(store.wrapped_key("nobody").await.unwrap().is_none());
}
