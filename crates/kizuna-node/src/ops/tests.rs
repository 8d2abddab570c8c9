//! The ledger against the stores that number its entries, called directly:
//! a node refuses a ledger rolled back behind its stores, and the offline
//! audit tells an entry a stop without closing left unnumbered from a
//! deleted one.

use std::path::Path;

use kizuna_config::{DataDir, Regions};
use kizuna_vault::Requester;
use kizuna_wire::TransferRecord;

use super::audit::{self, AuditReport};
use crate::tests::{node, register, Fixture};
use crate::{Limits, Node, OpenError};

struct Quiet;
impl kizuna_vault::Progress for Quiet {
    fn total(&self, _: u64) {}
    fn advance(&self, _: u64) {}
}

async fn audited(dir: &Path) -> AuditReport {
    audit::verify(dir, Regions::embedded(), &[], &Quiet)
        .await
        .unwrap()
}

async fn open(dir: &Path) -> Result<Node, OpenError> {
    Node::open(&DataDir::new(dir), Regions::embedded(), Limits::default())
        .await
        .map(|(node, _sequencer)| node)
}

/// Records `n` operator reads of `subject`, each its own ledger entry.
async fn record(node: &Node, subject: &str, n: usize) {
    let records = (0..n)
        .map(|i| {
            (
                subject.to_string(),
                TransferRecord {
                    at: kizuna_wire::now_ms() + i as u64,
                    action: "read".into(),
                    categories: vec!["profile".into()],
                    region: "jp".into(),
                    to_country: "JP".into(),
                    basis: Some("home region".into()),
                    requester: "operator".into(),
                    allowed: true,
                    refusal: None,
                },
                Requester::Operator {
                    command: "a test".into(),
                },
            )
        })
        .collect();
    node.vault.record_many("jp", records).await.unwrap();
}

/// A node with alice and three entries about her, stopped; its directory.
async fn stopped_with_entries() -> tempfile::TempDir {
    let Fixture { node, dir } = node().await;
    let alice = register(&node, "alice", "+819011112222", 1).await;
    record(&node, &alice.account_id, 3).await;
    node.vault.close().await;
    drop(node);
    dir
}

async fn region_db(dir: &Path) -> sqlx::SqlitePool {
    let path = dir.join("regions").join("jp.sqlite");
    sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap()
}

async fn sql(dir: &Path, statement: &str) {
    let pool = region_db(dir).await;
    sqlx::query(statement).execute(&pool).await.unwrap();
    pool.close().await;
}

async fn last_index(dir: &Path) -> i64 {
    let pool = region_db(dir).await;
    let i = sqlx::query_scalar("SELECT MAX(idx) FROM access_records")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    i
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[tokio::test]
async fn a_ledger_rolled_back_behind_its_stores_stops_the_node_naming_the_cause() {
    let Fixture { node, dir } = node().await;
    let alice = register(&node, "alice", "+819011112222", 1).await;
    record(&node, &alice.account_id, 1).await;
    let earlier = tempfile::tempdir().unwrap();
    copy_dir(&dir.path().join("ledger"), earlier.path());
    record(&node, &alice.account_id, 2).await;
    node.vault.close().await;
    drop(node);
    let before = last_index(dir.path()).await;

    // The ledger as it was before the last two entries, as a restore of an
    // older backup would leave it.
    let ledger = dir.path().join("ledger");
    std::fs::remove_dir_all(&ledger).unwrap();
    copy_dir(earlier.path(), &ledger);
    let refused = open(dir.path())
        .await
        .err()
        .expect("the node must not start");
    let said = refused.to_string();
    assert!(said.contains("rolled back or replaced"), "{said}");
    assert!(said.contains("region jp"), "{said}");
    assert!(said.contains("restore it from its backup"), "{said}");
    // Nothing was renumbered or dropped on the way.
    assert_eq!(last_index(dir.path()).await, before);

    // A ledger of the same size but other entries is refused too.
    let leaves = ledger.join("leaves");
    let mut bytes = std::fs::read(&leaves).unwrap();
    let grown: Vec<u8> = bytes.iter().map(|b| b ^ 0x5a).take(64).collect();
    bytes.extend(grown);
    std::fs::write(&leaves, &bytes).unwrap();
    std::fs::write(ledger.join("heads"), b"").unwrap();
    let said = open(dir.path()).await.err().unwrap().to_string();
    assert!(said.contains("rolled back or replaced"), "{said}");
}

#[tokio::test]
async fn an_entry_written_but_not_yet_numbered_is_pending_not_tampering() {
    let dir = stopped_with_entries().await;
    let clean = audited(dir.path()).await;
    assert!(clean.is_clean(), "{:?}", clean.problems);
    let last = last_index(dir.path()).await;

    // The node stopped after the leaf was appended and before its index
    // was noted.
    sql(
        dir.path(),
        &format!("UPDATE access_records SET idx = NULL WHERE idx = {last}"),
    )
    .await;
    // And, before that, after writing another record it never appended.
    sql(
        dir.path(),
        &format!(
            "INSERT INTO access_records (subject_id, at, sealed, leaf, idx, after, org_id, staff_id) \
             SELECT subject_id, at, sealed, randomblob(32), NULL, after, org_id, staff_id \
             FROM access_records WHERE idx = {}",
            last - 1
        ),
    )
    .await;
    let crashed = audited(dir.path()).await;
    assert!(crashed.is_clean(), "{:?}", crashed.problems);
    assert_eq!(
        (crashed.pending_entries, crashed.unappended_entries),
        (1, 1)
    );
    assert_eq!(crashed.verified_entries, clean.verified_entries);

    // The next start numbers the one and removes the other.
    let node = open(dir.path()).await.unwrap();
    node.vault.close().await;
    drop(node);
    assert_eq!(last_index(dir.path()).await, last);
    let settled = audited(dir.path()).await;
    assert!(settled.is_clean(), "{:?}", settled.problems);
    assert_eq!(
        (settled.pending_entries, settled.unappended_entries),
        (0, 0)
    );
    assert_eq!(settled.verified_entries, clean.verified_entries);
}

#[tokio::test]
async fn a_deleted_entry_is_tampering_whether_numbered_or_not() {
    let dir = stopped_with_entries().await;
    let last = last_index(dir.path()).await;
    sql(
        dir.path(),
        &format!("UPDATE access_records SET idx = NULL WHERE idx = {last}"),
    )
    .await;
    sql(dir.path(), "DELETE FROM access_records WHERE idx IS NULL").await;
    let r = audited(dir.path()).await;
    assert!(!r.is_clean());
    assert_eq!(r.problems[0].index, Some(last as u64), "{:?}", r.problems);
    assert!(r.problems[0].what.contains("no entry"), "{:?}", r.problems);
}
