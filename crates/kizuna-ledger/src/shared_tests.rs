//! Ledgers of several nodes on one shared log, kept in memory here; the
//! store's tests run the same shape against PostgreSQL.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use crate::merkle::verify_inclusion;
use crate::*;

#[derive(Default)]
struct State {
    leaves: Vec<Leaf>,
    heads: BTreeMap<u64, String>,
}

/// A shared log in memory. `writer` is what the database's advisory lock
/// is: one appender at a time, released when the appender goes away.
#[derive(Default)]
struct MemoryLog {
    name: String,
    writer: tokio::sync::Mutex<()>,
    state: Mutex<State>,
    /// When set, the next appender takes the writer lock and then hangs.
    stall_next: AtomicBool,
    stalled: tokio::sync::Notify,
}

impl MemoryLog {
    fn named(name: &str) -> Arc<MemoryLog> {
        Arc::new(MemoryLog {
            name: name.into(),
            ..MemoryLog::default()
        })
    }

    fn leaves(&self) -> Vec<Hash> {
        self.state
            .lock()
            .unwrap()
            .leaves
            .iter()
            .map(|l| l.hash)
            .collect()
    }
}

#[async_trait]
impl SharedLog for MemoryLog {
    fn place(&self) -> String {
        format!("memory:{}", self.name)
    }

    async fn append(&self, leaves: &[Leaf]) -> Result<u64, LedgerError> {
        let _writer = self.writer.lock().await;
        if self.stall_next.swap(false, Ordering::SeqCst) {
            // Half the leaves are on their way and the writer dies here:
            // nothing it staged may become part of the log.
            let _staged: Vec<Leaf> = leaves[..leaves.len() / 2].to_vec();
            self.stalled.notify_one();
            std::future::pending::<()>().await;
        }
        tokio::task::yield_now().await;
        let mut s = self.state.lock().unwrap();
        let first = s.leaves.len() as u64;
        s.leaves.extend_from_slice(leaves);
        Ok(first)
    }

    async fn leaves_from(&self, start: u64, limit: u32) -> Result<Vec<Leaf>, LedgerError> {
        let s = self.state.lock().unwrap();
        let start = (start as usize).min(s.leaves.len());
        let end = (start + limit as usize).min(s.leaves.len());
        Ok(s.leaves[start..end].to_vec())
    }

    async fn size(&self) -> Result<u64, LedgerError> {
        Ok(self.state.lock().unwrap().leaves.len() as u64)
    }

    async fn put_head(&self, size: u64, head_json: &str) -> Result<(u64, String), LedgerError> {
        let _writer = self.writer.lock().await;
        let mut s = self.state.lock().unwrap();
        if let Some((&kept, json)) = s.heads.last_key_value() {
            if kept >= size {
                let json = s.heads.get(&size).unwrap_or(json).clone();
                return Ok((
                    if s.heads.contains_key(&size) {
                        size
                    } else {
                        kept
                    },
                    json,
                ));
            }
        }
        s.heads.insert(size, head_json.to_string());
        Ok((size, head_json.to_string()))
    }

    async fn heads_from(&self, size: u64, limit: u32) -> Result<Vec<(u64, String)>, LedgerError> {
        let s = self.state.lock().unwrap();
        Ok(s.heads
            .range(size..)
            .take(limit as usize)
            .map(|(k, v)| (*k, v.clone()))
            .collect())
    }

    async fn refresh_head(&self, size: u64, head_json: &str) -> Result<(u64, String), LedgerError> {
        let _writer = self.writer.lock().await;
        let mut s = self.state.lock().unwrap();
        if s.heads
            .last_key_value()
            .is_some_and(|(&latest, _)| latest == size)
        {
            s.heads.insert(size, head_json.to_string());
        }
        let (latest, head) = s.heads.last_key_value().unwrap();
        Ok((*latest, head.clone()))
    }
}

fn key() -> TreeHeadKey {
    TreeHeadKey::new("test.kizuna/ledger", [9; 32])
}

fn leaf(node: usize, i: usize) -> Hash {
    leaf_hash(format!("node {node} entry {i}").as_bytes())
}

async fn open(dir: &std::path::Path, log: &Arc<MemoryLog>) -> Result<Ledger, LedgerError> {
    Ledger::open_shared(dir, key(), log.clone()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_appending_at_once_share_one_log_and_the_same_heads() {
    let log = MemoryLog::named("three");
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nodes = Vec::new();
    for d in &dirs {
        nodes.push(Arc::new(open(d.path(), &log).await.unwrap()));
    }
    let mut tasks = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        for i in 0..40 {
            let node = node.clone();
            tasks.push(tokio::spawn(async move {
                let leaves: Vec<Hash> = (0..1 + i % 3).map(|k| leaf(n, i * 10 + k)).collect();
                let first = node.append(leaves.clone()).await.unwrap();
                // Its leaves are in the mirror as soon as it is answered.
                assert_eq!(
                    node.leaves(first, first + leaves.len() as u64).unwrap(),
                    leaves
                );
                if i % 7 == 0 {
                    node.sign_head_async().await.unwrap();
                }
                (first, leaves)
            }));
        }
    }
    let mut expected = BTreeMap::new();
    for t in tasks {
        let (first, leaves) = t.await.unwrap();
        for (k, l) in leaves.into_iter().enumerate() {
            assert!(
                expected.insert(first + k as u64, l).is_none(),
                "an index given twice"
            );
        }
    }
    let shared = log.leaves();
    assert_eq!(expected.len(), shared.len(), "every leaf once, no gap");
    assert_eq!(expected.into_values().collect::<Vec<_>>(), shared);

    let size = shared.len() as u64;
    let signer = &nodes[2];
    signer.catch_up().await.unwrap();
    let head = signer.sign_head_async().await.unwrap();
    assert_eq!(head.size, size);
    for node in &nodes {
        assert_eq!(node.catch_up().await.unwrap(), size);
    }
    let root = nodes[0].root_at(size).unwrap();
    let heads = nodes[0].heads();
    assert!(heads.len() >= 2);
    for node in &nodes {
        assert_eq!(node.root_at(size).unwrap(), root);
        assert_eq!(node.heads(), heads, "every node serves the same heads");
        assert_eq!(node.latest_head(), Some(head.clone()));
    }
    // A proof from one node checks against the head another signed.
    for index in [0, size / 2, size - 1] {
        let proof = nodes[0].inclusion_proof(index, head.size).unwrap();
        verify_inclusion(
            &shared[index as usize],
            index,
            head.size,
            &proof,
            &head.root,
        )
        .unwrap();
    }
    // A node that asks for a head for a size already kept adopts that one.
    assert_eq!(nodes[1].sign_head_async().await.unwrap(), head);
    // The file-only form refuses to sign on its own for a shared log.
    nodes[1].append(vec![leaf(9, 0)]).await.unwrap();
    assert!(matches!(nodes[1].sign_head(), Err(LedgerError::Shared(_))));
}

#[tokio::test]
async fn a_mirror_follows_what_other_nodes_append_and_reopens() {
    let log = MemoryLog::named("follow");
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = open(a_dir.path(), &log).await.unwrap();
    let b = open(b_dir.path(), &log).await.unwrap();
    a.append((0..100).map(|i| leaf(0, i)).collect())
        .await
        .unwrap();
    let head = a.sign_head_async().await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), async {
        while b.size() < 100 || b.latest_head().is_none() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the follower brought the other node's leaves and head");
    assert_eq!(b.latest_head(), Some(head.clone()));
    drop(b);
    a.append(vec![leaf(0, 100)]).await.unwrap();
    let b = open(b_dir.path(), &log).await.unwrap();
    assert_eq!(b.size(), 101);
    assert_eq!(b.heads(), vec![head]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_that_dies_mid_append_leaves_nothing_and_another_takes_over() {
    let log = MemoryLog::named("takeover");
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Arc::new(open(a_dir.path(), &log).await.unwrap());
    let b = open(b_dir.path(), &log).await.unwrap();
    b.append(vec![leaf(1, 0)]).await.unwrap();

    log.stall_next.store(true, Ordering::SeqCst);
    let dying = {
        let a = a.clone();
        tokio::spawn(async move { a.append((0..10).map(|i| leaf(0, i)).collect()).await })
    };
    log.stalled.notified().await;
    // The node goes: its appender and its ledger with it.
    dying.abort();
    let _ = dying.await;
    drop(a);

    let first = tokio::time::timeout(Duration::from_secs(5), b.append(vec![leaf(1, 1)]))
        .await
        .expect("another node appends once the writer is gone")
        .unwrap();
    assert_eq!(first, 1);
    assert_eq!(log.leaves(), vec![leaf(1, 0), leaf(1, 1)]);
    let a = open(a_dir.path(), &log).await.unwrap();
    assert_eq!(a.leaves(0, 2).unwrap(), log.leaves());
}

#[tokio::test]
async fn a_mirror_that_disagrees_with_the_shared_log_is_refused_naming_both() {
    let ours = MemoryLog::named("ours");
    let theirs = MemoryLog::named("theirs");
    let dir = tempfile::tempdir().unwrap();
    {
        let l = open(dir.path(), &ours).await.unwrap();
        l.append((0..10).map(|i| leaf(0, i)).collect())
            .await
            .unwrap();
    }
    let place = dir.path().display().to_string();
    let refused = |e: LedgerError, what: &str| {
        let text = e.to_string();
        assert!(matches!(e, LedgerError::Damaged(_)), "{text}");
        assert!(
            text.contains(&place) && text.contains("memory:theirs"),
            "{what}: {text}"
        );
    };

    // A shared log shorter than the mirror.
    theirs.state.lock().unwrap().leaves = (0..5).map(|i| Leaf::plain(leaf(0, i))).collect();
    refused(open(dir.path(), &theirs).await.err().unwrap(), "shorter");

    // A different last leaf.
    theirs.state.lock().unwrap().leaves = (0..12).map(|i| Leaf::plain(leaf(1, i))).collect();
    refused(open(dir.path(), &theirs).await.err().unwrap(), "last leaf");

    // The same last leaf, but an earlier one differs under a shared head.
    let mut forged: Vec<Hash> = (0..12).map(|i| leaf(0, i)).collect();
    forged[3] = leaf(1, 3);
    theirs.state.lock().unwrap().leaves = forged.iter().copied().map(Leaf::plain).collect();
    let other = tempfile::tempdir().unwrap();
    open(other.path(), &theirs)
        .await
        .unwrap()
        .sign_head_async()
        .await
        .unwrap();
    refused(open(dir.path(), &theirs).await.err().unwrap(), "root");

    // The mirror still opens against its own log, and nothing was changed.
    let l = open(dir.path(), &ours).await.unwrap();
    assert_eq!(l.size(), 10);
    let seen: HashSet<Hash> = l.leaves(0, 10).unwrap().into_iter().collect();
    assert!(!seen.contains(&leaf(1, 3)));
}

#[tokio::test]
async fn every_mirror_holds_the_same_key_directory() {
    let log = MemoryLog::named("keys");
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = open(da.path(), &log).await.unwrap();
    let b = open(db.path(), &log).await.unwrap();
    a.append(vec![leaf(0, 0)]).await.unwrap();
    a.append_keyed(vec![(leaf(0, 1), [5; 32])]).await.unwrap();
    b.append_keyed(vec![(leaf(1, 0), [6; 32])]).await.unwrap();
    let head = b.sign_head_async().await.unwrap();
    a.catch_up().await.unwrap();
    assert_eq!(a.latest_head(), Some(head.clone()));
    assert_eq!(a.keys_root_at(3), head.keys.unwrap());
    assert_eq!(a.keyed_leaves(), b.keyed_leaves());
    drop(a);
    // Reopened, the mirror reads its keys back and its heads still match.
    let a = open(da.path(), &log).await.unwrap();
    assert_eq!(a.keyed_leaves(), vec![(1, [5; 32]), (2, [6; 32])]);
}

#[tokio::test]
async fn a_quiet_logs_head_is_signed_again_and_every_mirror_still_opens() {
    let log = MemoryLog::named("quiet");
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = open(da.path(), &log).await.unwrap();
    a.append(vec![leaf(0, 0)]).await.unwrap();
    // The log's head, signed long ago, for the log as it still is.
    let old = key().sign_with_keys(1, a.root_at(1).unwrap(), Some(a.keys_root_at(1)), 1);
    log.put_head(1, &serde_json::to_string(&old).unwrap())
        .await
        .unwrap();
    a.catch_up().await.unwrap();
    assert_eq!(a.latest_head(), Some(old.clone()));
    // Asked for a head, a node signs it again rather than give out the old.
    let b = open(db.path(), &log).await.unwrap();
    let fresh = b.sign_head_async().await.unwrap();
    assert_eq!((fresh.size, fresh.root), (old.size, old.root));
    assert!(fresh.timestamp_ms > old.timestamp_ms);
    assert_eq!(b.latest_head(), Some(fresh.clone()));
    // Another node takes that one, and a mirror whose latest head is the
    // old one still opens.
    drop(a);
    let a = open(da.path(), &log).await.unwrap();
    assert_eq!(a.sign_head_async().await.unwrap(), fresh);
    let again = open(da.path(), &log).await;
    assert!(again.is_ok(), "{:?}", again.err());
}
