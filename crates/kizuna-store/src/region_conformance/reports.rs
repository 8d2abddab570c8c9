//! Abuse reports: filing, the queue, compare-and-set updates, expiry.

use std::sync::Arc;

use super::report;
use crate::{RegionStore, ReportRow, StoreError};

pub(super) async fn a_report_is_filed_once(store: Arc<dyn RegionStore>) {
    let r = report("r1", "alice", b"message", 10);
    store.put_report(r.clone()).await.unwrap();
    assert_eq!(store.report("r1").await.unwrap(), Some(r));
    match store
        .put_report(report("r2", "alice", b"message", 11))
        .await
    {
        Err(StoreError::Conflict("report")) => {}
        other => panic!("one person reports one message once, got {other:?}"),
    }
    match store.put_report(report("r1", "bob", b"other", 11)).await {
        Err(StoreError::Conflict("report")) => {}
        other => panic!("a report id is used once, got {other:?}"),
    }
    assert!(store.report("r2").await.unwrap().is_none());
    // Someone else may report the same message.
    store
        .put_report(report("r3", "bob", b"message", 12))
        .await
        .unwrap();
    assert!(store.report("nothing").await.unwrap().is_none());
}

fn in_state(mut r: ReportRow, state: &str, resolved_at: Option<u64>) -> ReportRow {
    r.state = state.into();
    r.resolved_at = resolved_at;
    r.sealed = format!("{} {state}", r.report_id).into_bytes();
    r
}

pub(super) async fn the_queue_reads_by_state_oldest_first(store: Arc<dyn RegionStore>) {
    for r in [
        report("r3", "bob", b"m3", 30),
        report("r1", "alice", b"m1", 10),
        in_state(report("r2", "alice", b"m2", 20), "appealed", None),
        in_state(report("r4", "bob", b"m4", 5), "resolved", Some(40)),
    ] {
        store.put_report(r).await.unwrap();
    }
    let ids = |rows: Vec<ReportRow>| rows.into_iter().map(|r| r.report_id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.reports_in(&["open"], 10).await.unwrap()),
        ["r1", "r3"]
    );
    assert_eq!(
        ids(store.reports_in(&["open", "appealed"], 10).await.unwrap()),
        ["r1", "r2", "r3"]
    );
    assert_eq!(
        ids(store.reports_in(&["open", "appealed"], 2).await.unwrap()),
        ["r1", "r2"]
    );
    assert!(store.reports_in(&[], 10).await.unwrap().is_empty());
    assert_eq!(ids(store.reports_of("bob").await.unwrap()), ["r4", "r3"]);
    assert!(store.reports_of("carol").await.unwrap().is_empty());
}

pub(super) async fn update_report_is_compare_and_set(store: Arc<dyn RegionStore>) {
    let open = report("r1", "alice", b"m1", 10);
    store.put_report(open.clone()).await.unwrap();
    let resolved = in_state(open.clone(), "resolved", Some(50));
    assert!(store.update_report(&resolved, "open").await.unwrap());
    assert_eq!(store.report("r1").await.unwrap(), Some(resolved.clone()));
    // A second moderator deciding from the same open report loses.
    let other = in_state(open.clone(), "resolved", Some(60));
    assert!(!store.update_report(&other, "open").await.unwrap());
    assert_eq!(store.report("r1").await.unwrap(), Some(resolved));
    let appealed = in_state(open, "appealed", None);
    assert!(store.update_report(&appealed, "resolved").await.unwrap());
    assert_eq!(store.report("r1").await.unwrap(), Some(appealed));
    let gone = in_state(report("nothing", "x", b"m", 1), "resolved", Some(1));
    assert!(!store.update_report(&gone, "open").await.unwrap());
}

pub(super) async fn resolved_reports_expire(store: Arc<dyn RegionStore>) {
    for r in [
        in_state(report("old", "alice", b"m1", 1), "resolved", Some(100)),
        in_state(report("older", "alice", b"m2", 2), "resolved", Some(50)),
        in_state(report("new", "alice", b"m3", 3), "resolved", Some(300)),
        report("open", "alice", b"m4", 4),
    ] {
        store.put_report(r).await.unwrap();
    }
    let due: Vec<_> = store
        .reports_resolved_before(100, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.report_id)
        .collect();
    assert_eq!(due, ["older", "old"], "by resolution, at or before");
    assert_eq!(
        store.reports_resolved_before(100, 1).await.unwrap().len(),
        1
    );

    assert!(!store.delete_resolved_report("new", 100).await.unwrap());
    assert!(!store.delete_resolved_report("open", 100).await.unwrap());
    // Appealed after it was listed: it stays.
    let old = store.report("old").await.unwrap().unwrap();
    assert!(store
        .update_report(&in_state(old, "appealed", None), "resolved")
        .await
        .unwrap());
    assert!(!store.delete_resolved_report("old", 100).await.unwrap());
    assert!(store.report("old").await.unwrap().is_some());

    assert!(store.delete_resolved_report("older", 100).await.unwrap());
    assert!(store.report("older").await.unwrap().is_none());
    assert!(!store.delete_resolved_report("older", 100).await.unwrap());
    assert!(store
        .reports_resolved_before(100, 10)
        .await
        .unwrap()
        .is_empty());
}
