//! The embedded store: one SQLite file in WAL mode with `synchronous=FULL`, so
//! a transaction that returned is on disk. Write transactions take turns on
//! one lock; reads run beside them on other connections of the pool.

mod accounts;
mod agreements;
mod batch;
mod blocks;
mod devices;
pub(crate) mod groups;
mod inbox;
mod key_packages;
pub(crate) mod links;
mod release;
mod sanctions;
mod schema;
pub(crate) mod submit;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use crate::*;
use groups::GroupState;
use release::housekeeping;
use submit::LastSend;

#[derive(Default)]
struct WriterState {
    groups: HashMap<Vec<u8>, GroupState>,
    /// Devices' last accepted messages, loaded per device on first use.
    last_sends: HashMap<String, LastSend>,
    /// The last log position handed out; loaded on first use.
    log_pos: Option<u64>,
    /// Devices that acknowledged since the last release: only their groups
    /// can have messages nobody waits for any more.
    acked: HashSet<String>,
    /// Whether the next release looks at every group (set at start, when
    /// what was acknowledged before a crash is not known).
    release_all: bool,
}

/// Rows per multi-row statement, well under SQLite's limit on bound values.
const ROWS_PER_STATEMENT: usize = 500;

/// Splits rows into runs of a few fixed sizes, so each multi-row statement
/// has one of a few shapes and is prepared once and then reused from the
/// connection's statement cache, instead of parsed anew for every batch size.
fn prepared_chunks<T>(rows: &[T]) -> Vec<&[T]> {
    const SIZES: [usize; 4] = [128, 32, 8, 1];
    let mut out = Vec::new();
    let mut rest = rows;
    for size in SIZES {
        while rest.len() >= size {
            let (head, tail) = rest.split_at(size);
            out.push(head);
            rest = tail;
        }
    }
    out
}

pub struct SqliteStore {
    pool: SqlitePool,
    /// Serialises every write transaction: SQLite allows one writer, and a
    /// transaction that reads before it writes cannot wait for another one
    /// (it fails with SQLITE_BUSY), so writers queue here instead.
    writer: Arc<tokio::sync::Mutex<WriterState>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and brings its schema up
    /// to date.
    pub async fn open(path: &Path) -> Result<Self> {
        let store = Self::connect(path).await?;
        store.migrate().await?;
        tokio::spawn(housekeeping(store.pool.clone(), store.writer.clone()));
        Ok(store)
    }

    /// Opens the database only to bring its schema up to date, answering
    /// the versions applied (none when it was).
    pub async fn migrate_file(path: &Path) -> Result<Vec<u64>> {
        let store = Self::connect(path).await?;
        let applied = store.migrate().await;
        store.pool.close().await;
        applied
    }

    async fn connect(path: &Path) -> Result<Self> {
        crate::private::prepare_private_database(path)
            .map_err(|e| StoreError::Backend(format!("cannot create {}: {e}", path.display())))?;
        let opts = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(std::time::Duration::from_secs(10))
            // Checkpoints run in the background (see `housekeeping`), not in
            // the middle of whichever commit happened to fill the WAL.
            .pragma("wal_autocheckpoint", "0")
            // Queues are hot: keep their pages in memory rather than re-read them.
            .pragma("cache_size", "-65536")
            .pragma("mmap_size", "268435456")
            // Small pages: a commit writes whole pages to the WAL, and most
            // of what a delivery batch touches is a row or an index entry
            // here and there. Less written means fewer stalls of the fsync
            // every sender waits for. (Applies to new databases.)
            .page_size(1024)
            .foreign_keys(false);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await?;
        let store = SqliteStore {
            pool,
            writer: Arc::new(tokio::sync::Mutex::new(WriterState {
                release_all: true,
                ..WriterState::default()
            })),
        };
        Ok(store)
    }

    #[cfg(test)]
    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub(crate) async fn close(&self) {
        if let Err(e) = self.release_delivered().await {
            tracing::warn!(error = %e, "releasing delivered messages on close failed");
        }
        self.pool.close().await;
    }
}

// Each method is the inherent one of the same name, in the file for its kind
// of operation: inherent methods come first in method lookup, so none of
// these calls itself.
#[async_trait]
impl Store for SqliteStore {
    async fn create_accounts(&self, accounts: Vec<NewAccount>) -> Result<()> {
        self.create_accounts(accounts).await
    }

    async fn account_by_handle(&self, handle: &str) -> Result<Option<Account>> {
        self.account_by_handle(handle).await
    }

    async fn account_by_id(&self, account_id: &str) -> Result<Option<Account>> {
        self.account_by_id(account_id).await
    }

    async fn accounts_by_ids(&self, account_ids: &[String]) -> Result<Vec<Account>> {
        self.accounts_by_ids(account_ids).await
    }

    async fn account_regions(&self) -> Result<Vec<(String, u64)>> {
        self.account_regions().await
    }

    async fn set_region(&self, account_id: &str, region: &str) -> Result<()> {
        self.set_region(account_id, region).await
    }

    async fn delete_account(&self, account_id: &str) -> Result<bool> {
        self.delete_account(account_id).await
    }

    async fn legacy_profiles(&self, limit: u32) -> Result<Vec<LegacyProfile>> {
        self.legacy_profiles(limit).await
    }

    async fn drop_legacy_profile(&self, account_id: &str) -> Result<()> {
        self.drop_legacy_profile(account_id).await
    }

    async fn device(&self, device_id: &str) -> Result<Option<Device>> {
        self.device(device_id).await
    }

    async fn delete_device(&self, device_id: &str) -> Result<bool> {
        self.delete_device(device_id).await
    }

    async fn groups_of(&self, device_id: &str) -> Result<Vec<Vec<u8>>> {
        self.groups_of(device_id).await
    }

    async fn touch_device(&self, device_id: &str, now: u64) -> Result<()> {
        self.touch_device(device_id, now).await
    }

    async fn device_activity(&self, account_id: &str) -> Result<Vec<(Device, u64, Option<u64>)>> {
        self.device_activity(account_id).await
    }

    async fn devices_of(&self, account_id: &str) -> Result<Vec<Device>> {
        self.devices_of(account_id).await
    }

    async fn add_key_packages(
        &self,
        device_id: &str,
        one_time: Vec<Vec<u8>>,
        last_resort: Option<Vec<u8>>,
        max: u32,
    ) -> Result<Result<KeyPackageCount, u32>> {
        self.add_key_packages(device_id, one_time, last_resort, max)
            .await
    }

    async fn claim_key_package(&self, device_id: &str) -> Result<Option<Vec<u8>>> {
        self.claim_key_package(device_id).await
    }

    async fn key_package_count(&self, device_id: &str) -> Result<KeyPackageCount> {
        self.key_package_count(device_id).await
    }

    async fn create_group(
        &self,
        group_id: &[u8],
        creator: &str,
        now: u64,
        state: Vec<u8>,
    ) -> Result<()> {
        self.create_group(group_id, creator, now, state).await
    }

    async fn group(&self, group_id: &[u8]) -> Result<Option<Group>> {
        self.group(group_id).await
    }

    async fn group_state(&self, group_id: &[u8]) -> Result<Option<Vec<u8>>> {
        self.group_state(group_id).await
    }

    async fn submit(
        &self,
        batch: Vec<Submission>,
        acks: Vec<Ack>,
    ) -> Result<Vec<Result<Accepted, Rejection>>> {
        self.submit(batch, acks).await
    }

    async fn inbox(&self, device_id: &str, after: u64, limit: u32) -> Result<Vec<InboxEntry>> {
        self.inbox(device_id, after, limit).await
    }

    async fn ack(&self, device_id: &str, up_to: u64) -> Result<()> {
        self.ack(device_id, up_to).await
    }

    async fn create_link(&self, link: PendingLink, code_hash: Vec<u8>) -> Result<()> {
        self.create_link(link, code_hash).await
    }

    async fn link(&self, link_id: &str) -> Result<Option<PendingLink>> {
        self.link(link_id).await
    }

    async fn link_by_code(&self, code_hash: &[u8]) -> Result<Option<PendingLink>> {
        self.link_by_code(code_hash).await
    }

    async fn approve_link(&self, link_id: &str, device: Device) -> Result<()> {
        self.approve_link(link_id, device).await
    }

    async fn set_sanction(
        &self,
        account_id: &str,
        report_id: &str,
        sanction: Option<Sanction>,
    ) -> Result<()> {
        self.set_sanction(account_id, report_id, sanction).await
    }

    async fn sanctions(&self) -> Result<Vec<(String, String, Sanction)>> {
        self.sanctions().await
    }

    async fn lift_sanctions_of_reports(&self, report_ids: &[String]) -> Result<()> {
        self.lift_sanctions_of_reports(report_ids).await
    }

    async fn agreement(&self, account_id: &str) -> Result<Option<crate::StandingAgreement>> {
        self.agreement(account_id).await
    }

    async fn set_agreement(
        &self,
        account_id: &str,
        agreement: Option<crate::StandingAgreement>,
    ) -> Result<()> {
        self.set_agreement(account_id, agreement).await
    }

    async fn put_block(&self, pair: &[u8], blocked: &[u8]) -> Result<()> {
        self.put_block(pair, blocked).await
    }

    async fn remove_blocks(&self, pairs: &[Vec<u8>]) -> Result<()> {
        self.remove_blocks(pairs).await
    }

    async fn remove_blocks_of(&self, blocked: &[u8]) -> Result<()> {
        self.remove_blocks_of(blocked).await
    }

    async fn has_block(&self, pair: &[u8]) -> Result<bool> {
        self.has_block(pair).await
    }

    async fn blocked_accounts(&self) -> Result<Vec<Vec<u8>>> {
        self.blocked_accounts().await
    }

    async fn close(&self) {
        self.close().await
    }
}
