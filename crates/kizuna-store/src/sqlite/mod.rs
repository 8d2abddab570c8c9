//! The embedded store: one SQLite file in WAL mode with `synchronous=FULL`, so
//! a transaction that returned is on disk. Write transactions take turns on
//! one lock; reads run beside them on other connections of the pool.

mod accounts;
mod agreements;
mod batch;
mod blocks;
mod devices;
mod files;
mod follows;
pub(crate) mod groups;
mod inbox;
mod key_log;
mod key_packages;
pub(crate) mod links;
mod release;
mod sanctions;
mod schema;
pub(crate) mod submit;
#[cfg(test)]
mod tests;
mod wal;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

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
    /// What the group commits waited for and wrote.
    stats: Arc<crate::WriteStats>,
    /// The frames the last commit wrote to the WAL, and the bytes of one.
    wal_frames: Arc<wal::WalFrames>,
    frame_bytes: u64,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and brings its schema up
    /// to date.
    pub async fn open(path: &Path) -> Result<Self> {
        let store = Self::connect(path).await?;
        store.migrate().await?;
        tokio::spawn(housekeeping(
            store.pool.clone(),
            store.writer.clone(),
            store.stats.clone(),
        ));
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
        let wal_frames = Arc::new(wal::WalFrames::default());
        let told = wal_frames.clone();
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .after_connect(move |conn, _| {
                let told = told.clone();
                Box::pin(async move { wal::WalFrames::watch(&told, conn).await })
            })
            .connect_with(opts)
            .await?;
        let page_size: i64 = sqlx::query_scalar("PRAGMA page_size")
            .fetch_one(&pool)
            .await?;
        let store = SqliteStore {
            pool,
            writer: Arc::new(tokio::sync::Mutex::new(WriterState {
                release_all: true,
                ..WriterState::default()
            })),
            stats: Arc::new(crate::WriteStats::default()),
            wal_frames,
            // Each frame is a page behind a 24-byte header.
            frame_bytes: page_size.max(0) as u64 + 24,
        };
        Ok(store)
    }

    pub(crate) fn write_stats(&self) -> Option<Arc<crate::WriteStats>> {
        Some(self.stats.clone())
    }

    #[cfg(test)]
    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub(crate) async fn close(&self) {
        if let Err(e) = self.release_delivered().await {
            tracing::warn!(error = %e, "releasing delivered messages on close failed");
        }
        crate::private::checkpoint_and_close(&self.pool, "messages").await;
    }
}

crate::delegation::store_by_inherent_methods!(SqliteStore);
