use std::collections::BTreeMap;
use std::time::Duration;

use sqlx::Connection;

use super::*;
use crate::postgres::scratch::ScratchDatabase;
use crate::PgStore;

async fn database(label: &str) -> ScratchDatabase {
    let db = ScratchDatabase::create(label).await;
    PgStore::migrate(db.location()).await.unwrap();
    db
}

/// Every odd leaf is logged under a directory key.
fn leaf(writer: usize, i: usize) -> LedgerLeaf {
    let mut l = [0u8; 32];
    l[..8].copy_from_slice(&(writer as u64).to_be_bytes());
    l[8..16].copy_from_slice(&(i as u64).to_be_bytes());
    (l, (i % 2 == 1).then_some([i as u8; 32]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn appends_from_two_nodes_at_once_take_every_index_once_without_gaps() {
    let db = database("ledger_concurrent").await;
    let nodes = [
        std::sync::Arc::new(PgLedgerLog::open(db.location()).await.unwrap()),
        std::sync::Arc::new(PgLedgerLog::open(db.location()).await.unwrap()),
    ];
    let mut tasks = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        for w in 0..6 {
            let node = node.clone();
            tasks.push(tokio::spawn(async move {
                let mut written = Vec::new();
                for i in 0..15 {
                    let leaves: Vec<LedgerLeaf> = (0..1 + i % 4)
                        .map(|k| leaf(n * 100 + w, i * 10 + k))
                        .collect();
                    let first = node.append(&leaves).await.unwrap();
                    written.push((first, leaves));
                }
                written
            }));
        }
    }
    let mut expected = BTreeMap::new();
    for t in tasks {
        for (first, leaves) in t.await.unwrap() {
            for (k, l) in leaves.into_iter().enumerate() {
                assert!(
                    expected.insert(first + k as u64, l).is_none(),
                    "index given twice"
                );
            }
        }
    }
    let size = nodes[0].size().await.unwrap();
    assert_eq!(size, expected.len() as u64);
    assert_eq!(*expected.keys().last().unwrap() + 1, size, "no gap");
    let mut stored = Vec::new();
    while (stored.len() as u64) < size {
        let page = nodes[1].leaves_from(stored.len() as u64, 50).await.unwrap();
        assert!(!page.is_empty());
        stored.extend(page);
    }
    assert_eq!(stored, expected.into_values().collect::<Vec<_>>());
    for n in &nodes {
        n.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_whose_connection_dies_mid_append_leaves_nothing_and_another_takes_over() {
    let db = database("ledger_dies").await;
    let other = PgLedgerLog::open(db.location()).await.unwrap();
    other.append(&[leaf(0, 0)]).await.unwrap();

    let mut dying = sqlx::PgConnection::connect_with(&db.location().options().unwrap())
        .await
        .unwrap();
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut dying)
        .await
        .unwrap();
    let mut tx = dying.begin().await.unwrap();
    let half: Vec<LedgerLeaf> = (0..5).map(|i| leaf(1, i)).collect();
    assert_eq!(write_leaves(&mut tx, &half).await.unwrap(), 1);

    // Its connection goes while it holds the lock, before it commits.
    let killed: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .fetch_one(other.pool())
        .await
        .unwrap();
    assert!(killed);
    let first = tokio::time::timeout(Duration::from_secs(5), other.append(&[leaf(0, 1)]))
        .await
        .expect("another node appends once the writer's connection is gone")
        .unwrap();
    assert_eq!(
        first, 1,
        "nothing of the dead writer's append is in the log"
    );
    assert!(tx.commit().await.is_err());
    assert_eq!(
        other.leaves_from(0, 10).await.unwrap(),
        vec![leaf(0, 0), leaf(0, 1)]
    );
    other.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_that_stalls_holding_the_lock_is_cut_off_and_another_takes_over() {
    let db = database("ledger_stalls").await;
    let other = PgLedgerLog::open(db.location()).await.unwrap();
    let mut stalled = sqlx::PgConnection::connect_with(&db.location().options().unwrap())
        .await
        .unwrap();
    let mut tx = stalled.begin().await.unwrap();
    let half: Vec<LedgerLeaf> = (0..5).map(|i| leaf(1, i)).collect();
    assert_eq!(write_leaves(&mut tx, &half).await.unwrap(), 0);

    // The writer's host stops answering; its connection stays open.
    let first = tokio::time::timeout(Duration::from_secs(5), other.append(&[leaf(0, 0)]))
        .await
        .expect("another node appends within 5 s of a writer stalling")
        .unwrap();
    assert_eq!(first, 0);
    assert!(tx.commit().await.is_err(), "the stalled writer was cut off");
    assert_eq!(other.size().await.unwrap(), 1);
    other.close().await;
}

#[tokio::test]
async fn the_first_head_for_a_size_stands_and_sizes_only_grow() {
    let db = database("ledger_heads").await;
    let log = PgLedgerLog::open(db.location()).await.unwrap();
    let leaves: Vec<LedgerLeaf> = (0..10).map(|i| leaf(0, i)).collect();
    log.append(&leaves).await.unwrap();

    assert_eq!(log.put_head(4, "a4").await.unwrap(), (4, "a4".into()));
    assert_eq!(log.put_head(4, "b4").await.unwrap(), (4, "a4".into()));
    assert_eq!(log.put_head(8, "b8").await.unwrap(), (8, "b8".into()));
    // A head for a smaller size, offered late, would come after a larger
    // one that nodes may already serve: the latest one stands instead.
    assert_eq!(log.put_head(6, "a6").await.unwrap(), (8, "b8".into()));
    assert!(log.put_head(11, "a11").await.is_err(), "beyond the log");
    assert_eq!(
        log.heads_from(0, 10).await.unwrap(),
        vec![(4, "a4".into()), (8, "b8".into())]
    );
    assert_eq!(log.heads_from(5, 10).await.unwrap(), vec![(8, "b8".into())]);
    log.close().await;
}

#[tokio::test]
async fn a_database_without_the_ledger_schema_is_refused() {
    let db = ScratchDatabase::create("ledger_unmigrated").await;
    let e = PgLedgerLog::open(db.location()).await.err().unwrap();
    assert!(matches!(e, StoreError::SchemaOutdated { .. }), "{e}");
}
