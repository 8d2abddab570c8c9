//! The transparency ledger the nodes of a deployment share, in the node
//! database: the store's `PgLedgerLog` as the ledger's `SharedLog`, and the
//! node's ledger opened as a mirror of it.

use std::sync::Arc;

use async_trait::async_trait;
use kizuna_config::{DataDir, NodeKey, Regions};
use kizuna_ledger::{Hash, Ledger, LedgerError, SharedLog, TreeHeadKey};
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

    async fn append(&self, leaves: &[Hash]) -> Result<u64, LedgerError> {
        self.0.append(leaves).await.map_err(unusable)
    }

    async fn leaves_from(&self, start: u64, limit: u32) -> Result<Vec<Hash>, LedgerError> {
        self.0.leaves_from(start, limit).await.map_err(unusable)
    }

    async fn size(&self) -> Result<u64, LedgerError> {
        self.0.size().await.map_err(unusable)
    }

    async fn put_head(&self, size: u64, head_json: &str) -> Result<(u64, String), LedgerError> {
        self.0.put_head(size, head_json).await.map_err(unusable)
    }

    async fn heads_from(
        &self,
        size: u64,
        limit: u32,
    ) -> Result<Vec<(u64, String)>, LedgerError> {
        self.0.heads_from(size, limit).await.map_err(unusable)
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
    let seed = dir.key(NodeKey::LedgerSigning)?;
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
