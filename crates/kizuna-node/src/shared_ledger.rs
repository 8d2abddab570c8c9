//! The transparency ledger the nodes of a deployment share, in the node
//! database: the store's `PgLedgerLog` as the ledger's `SharedLog`, and the
//! node's ledger opened as a mirror of it.

use std::sync::Arc;

use async_trait::async_trait;
use kizuna_config::{DataDir, NodeKey, Regions};
use kizuna_ledger::{Hash, Leaf, Ledger, LedgerError, SharedLog, TreeHeadKey};
use kizuna_store::{PgLedgerLog, PgLocation, StoreError};

use crate::node::ledger_origin;
use crate::OpenError;

/// The node database's ledger tables, as the ledger reaches them.
pub struct PgSharedLog(PgLedgerLog);

impl PgSharedLog {
    /// Connects to the ledger in the node database at `at`, which must be
    /// at this Kizuna's schema (`kizuna admin migrate`).
    pub async fn open(at: &PgLocation) -> Result<PgSharedLog, StoreError> {
        Ok(PgSharedLog(PgLedgerLog::open(at).await?))
    }
}

fn unusable(e: StoreError) -> LedgerError {
    LedgerError::Shared(e.to_string())
}

#[async_trait]
impl SharedLog for PgSharedLog {
    fn place(&self) -> String {
        self.0.place().to_string()
    }

    async fn append(&self, leaves: &[Leaf]) -> Result<u64, LedgerError> {
        let rows: Vec<_> = leaves.iter().map(|l| (l.hash, l.key)).collect();
        self.0.append(&rows).await.map_err(unusable)
    }

    async fn leaves_from(&self, start: u64, limit: u32) -> Result<Vec<Leaf>, LedgerError> {
        Ok(self
            .0
            .leaves_from(start, limit)
            .await
            .map_err(unusable)?
            .into_iter()
            .map(|(hash, key)| Leaf { hash, key })
            .collect())
    }

    async fn size(&self) -> Result<u64, LedgerError> {
        self.0.size().await.map_err(unusable)
    }

    async fn put_head(&self, size: u64, head_json: &str) -> Result<(u64, String), LedgerError> {
        self.0.put_head(size, head_json).await.map_err(unusable)
    }

    async fn heads_from(&self, size: u64, limit: u32) -> Result<Vec<(u64, String)>, LedgerError> {
        self.0.heads_from(size, limit).await.map_err(unusable)
    }

    async fn refresh_head(&self, size: u64, head_json: &str) -> Result<(u64, String), LedgerError> {
        self.0.refresh_head(size, head_json).await.map_err(unusable)
    }
}

/// The node's ledger as a mirror (in the data directory's ledger files) of
/// the one shared in the node database at `at`. Every node of the
/// deployment signs heads with the same ledger key and origin.
pub async fn open_shared_ledger(
    dir: &DataDir,
    regions: &Regions,
    at: &PgLocation,
) -> Result<Arc<Ledger>, OpenError> {
    let seed = crate::stores::node_key(dir, regions, NodeKey::LedgerSigning)?;
    let log = Arc::new(PgSharedLog::open(at).await?);
    Ok(Arc::new(
        Ledger::open_shared(
            &dir.ledger(),
            TreeHeadKey::new(&ledger_origin(regions), seed),
            log,
        )
        .await?,
    ))
}

/// Every leaf and head of the log a cluster's nodes share, read from the
/// node database as it is: what an offline audit of a cluster checks, for
/// no node's mirror is the log itself.
/// A shared log as read: its leaves, the directory key of each leaf logged
/// under one, and its heads.
pub type SharedLogRead = (
    Vec<Hash>,
    Vec<(u64, Hash)>,
    Vec<kizuna_ledger::SignedTreeHead>,
);

pub async fn read_shared_log(at: &PgLocation) -> Result<SharedLogRead, OpenError> {
    const PAGE: u32 = 10_000;
    let log = PgLedgerLog::open(at).await?;
    // The heads first: a head is signed for a size the log has reached, so
    // every head read then covers no more than the leaves read after it,
    // however many nodes append meanwhile.
    let mut heads = Vec::new();
    let mut from = 0;
    loop {
        let page = log.heads_from(from, PAGE).await?;
        let Some((last, _)) = page.last() else { break };
        from = last + 1;
        for (size, json) in page {
            let head = serde_json::from_str(&json).map_err(|e| {
                OpenError::Ledger(LedgerError::Shared(format!(
                    "the head for {size} entries in {} is unreadable: {e}",
                    log.place()
                )))
            })?;
            heads.push(head);
        }
    }
    let mut leaves = Vec::new();
    let mut keyed = Vec::new();
    loop {
        let page = log.leaves_from(leaves.len() as u64, PAGE).await?;
        let done = page.len() < PAGE as usize;
        for (hash, key) in page {
            if let Some(k) = key {
                keyed.push((leaves.len() as u64, k));
            }
            leaves.push(hash);
        }
        if done {
            break;
        }
    }
    Ok((leaves, keyed, heads))
}

#[cfg(test)]
mod tests {
    use kizuna_ledger::leaf_hash;
    use kizuna_ledger::merkle::verify_inclusion;
    use kizuna_store::postgres::scratch::ScratchDatabase;
    use kizuna_store::PgStore;

    use super::*;

    fn key() -> TreeHeadKey {
        TreeHeadKey::new("test.kizuna/ledger", [5; 32])
    }

    /// Three nodes, each with its own connections and mirror, appending to
    /// one ledger at once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn three_nodes_on_one_database_serve_one_ledger() {
        let db = ScratchDatabase::create("shared_ledger_nodes").await;
        PgStore::migrate(db.location()).await.unwrap();
        let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let mut nodes = Vec::new();
        for d in &dirs {
            let log = Arc::new(PgSharedLog::open(db.location()).await.unwrap());
            nodes.push(Arc::new(
                Ledger::open_shared(d.path(), key(), log).await.unwrap(),
            ));
        }
        let mut tasks = Vec::new();
        for (n, node) in nodes.iter().enumerate() {
            for i in 0..20 {
                let node = node.clone();
                tasks.push(tokio::spawn(async move {
                    let leaf = leaf_hash(format!("node {n} entry {i}").as_bytes());
                    // Some leaves are logged under a directory key, as
                    // the key log's are.
                    let at = if i % 3 == 0 {
                        node.append_keyed(vec![(leaf, [n as u8; 32])]).await
                    } else {
                        node.append(vec![leaf]).await
                    }
                    .unwrap();
                    assert_eq!(node.leaves(at, at + 1).unwrap(), vec![leaf]);
                    if i % 5 == 0 {
                        node.sign_head_async().await.unwrap();
                    }
                    (at, leaf)
                }));
            }
        }
        let mut placed = std::collections::BTreeMap::new();
        for t in tasks {
            let (at, leaf) = t.await.unwrap();
            assert!(placed.insert(at, leaf).is_none(), "an index given twice");
        }
        let size = placed.len() as u64;
        assert_eq!(placed.keys().last().copied(), Some(size - 1), "no gap");
        nodes[2].catch_up().await.unwrap();
        let head = nodes[2].sign_head_async().await.unwrap();
        assert_eq!(head.size, size);
        for node in &nodes {
            assert_eq!(node.catch_up().await.unwrap(), size);
            assert_eq!(node.heads(), nodes[0].heads(), "one list of heads");
            assert_eq!(node.root_at(size).unwrap(), head.root);
            assert_eq!(node.keyed_leaves(), nodes[0].keyed_leaves());
            assert_eq!(Some(node.keys_root_at(size)), head.keys);
        }
        assert_eq!(nodes[0].keyed_leaves().len(), 21);
        for (at, leaf) in placed {
            let proof = nodes[0].inclusion_proof(at, size).unwrap();
            verify_inclusion(&leaf, at, size, &proof, &head.root).unwrap();
        }
    }

    #[tokio::test]
    async fn a_mirror_of_another_database_is_refused_naming_both() {
        let (ours, theirs) = (
            ScratchDatabase::create("shared_ledger_ours").await,
            ScratchDatabase::create("shared_ledger_theirs").await,
        );
        for db in [&ours, &theirs] {
            PgStore::migrate(db.location()).await.unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let open = |db: &ScratchDatabase| {
            let at = db.location().clone();
            let dir = dir.path().to_path_buf();
            async move {
                let log = Arc::new(PgSharedLog::open(&at).await.unwrap());
                Ledger::open_shared(&dir, key(), log).await
            }
        };
        open(&ours)
            .await
            .unwrap()
            .append(vec![leaf_hash(b"ours")])
            .await
            .unwrap();
        PgLedgerLog::open(theirs.location())
            .await
            .unwrap()
            .append(&[(leaf_hash(b"theirs"), None)])
            .await
            .unwrap();
        let e = open(&theirs).await.err().unwrap().to_string();
        assert!(
            e.contains(&dir.path().display().to_string()) && e.contains(theirs.name()),
            "{e}"
        );
    }

    /// The expression the node schema's migration files the key log's
    /// earlier leaves under is the directory key a node computes.
    #[tokio::test]
    async fn the_migration_files_earlier_entries_under_the_nodes_directory_keys() {
        use sqlx::Connection;
        let db = ScratchDatabase::create("shared_ledger_dir_key").await;
        let mut c = sqlx::PgConnection::connect(db.url()).await.unwrap();
        let computed: Vec<u8> = sqlx::query_scalar(
            "SELECT sha256(convert_to('kizuna key directory', 'UTF8') || '\\x00'::bytea \
             || convert_to($1, 'UTF8'))",
        )
        .bind("bob-東京")
        .fetch_one(&mut c)
        .await
        .unwrap();
        assert_eq!(computed, kizuna_ledger::directory_key("bob-東京").to_vec());
    }
}
