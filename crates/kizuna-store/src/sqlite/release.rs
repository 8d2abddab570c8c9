//! Housekeeping: releasing the messages no device waits for any more, and
//! checkpointing the write-ahead log, once a second in the background.

use std::sync::Arc;

use sqlx::{QueryBuilder, Sqlite, SqlitePool};

use super::{prepared_chunks, SqliteStore, WriterState};
use crate::{Result, StoreError};

impl SqliteStore {
    /// Deletes every message no device waits for any more. Runs every second
    /// in the background and on close; returns how many messages went.
    pub async fn release_delivered(&self) -> Result<u64> {
        release(&self.pool, &self.writer, &self.stats).await
    }
}

/// The condition under which a message can go: no delivery row left, and
/// every member in range other than the sender has acknowledged past it.
/// Once true it stays true (positions only grow, members join only after
/// the messages already there), so it can be read outside the writer.
macro_rules! deliverable_done {
    () => {
        "NOT EXISTS (SELECT 1 FROM deliveries dl WHERE dl.pos = log.pos) \
         AND (log.routed = 0 OR NOT EXISTS ( \
            SELECT 1 FROM memberships ms LEFT JOIN cursors c ON c.device_id = ms.device_id \
            WHERE ms.group_id = log.group_id AND ms.from_seq <= log.seq \
              AND (ms.until_seq IS NULL OR ms.until_seq >= log.seq) \
              AND ms.device_id <> log.sender_device AND COALESCE(c.acked, 0) < log.pos))"
    };
}

/// Messages of the groups of the devices in `?1` (a JSON list) that nobody
/// waits for any more.
const DELIVERED_IN_GROUPS_OF: &str = concat!(
    "SELECT pos FROM log WHERE group_id IN ( \
        SELECT group_id FROM memberships WHERE device_id IN (SELECT value FROM json_each(?1))) AND ",
    deliverable_done!(),
    " ORDER BY pos"
);

/// Every message that nobody waits for any more.
const DELIVERED: &str = concat!(
    "SELECT pos FROM log WHERE ",
    deliverable_done!(),
    " ORDER BY pos"
);

/// Forgets past memberships once no message of their range is left.
const RELEASE_MEMBERSHIPS: &str = "\
    DELETE FROM memberships WHERE until_seq IS NOT NULL \
    AND NOT EXISTS (SELECT 1 FROM log l WHERE l.group_id = memberships.group_id \
        AND l.seq BETWEEN memberships.from_seq AND memberships.until_seq)";

/// Messages deleted per write transaction by a release, so that senders
/// never wait long behind one.
const RELEASE_CHUNK: usize = 256;

/// One release pass; see [`SqliteStore::release_delivered`]. What can go is
/// found on a reading connection, then deleted in small write transactions
/// that take turns with the delivery path.
pub(super) async fn release(
    pool: &SqlitePool,
    writer: &tokio::sync::Mutex<WriterState>,
    stats: &crate::WriteStats,
) -> Result<u64> {
    let (all, devices) = {
        let mut w = writer.lock().await;
        let devices: Vec<String> = w.acked.drain().collect();
        (w.release_all, devices)
    };
    if !all && devices.is_empty() {
        return Ok(0);
    }
    let pass = async {
        let found: Vec<i64> = if all {
            sqlx::query_scalar(DELIVERED).fetch_all(pool).await?
        } else {
            let list =
                serde_json::to_string(&devices).map_err(|e| StoreError::Backend(e.to_string()))?;
            sqlx::query_scalar(DELIVERED_IN_GROUPS_OF)
                .bind(list)
                .fetch_all(pool)
                .await?
        };
        for chunk in found.chunks(RELEASE_CHUNK) {
            let _w = writer.lock().await;
            let _held = Held::since_now(stats);
            let mut tx = pool.begin().await?;
            for part in prepared_chunks(chunk) {
                let mut qb: QueryBuilder<Sqlite> =
                    QueryBuilder::new("DELETE FROM log WHERE pos IN (");
                let mut list = qb.separated(", ");
                for pos in part {
                    list.push_bind(*pos);
                }
                qb.push(")");
                qb.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
        }
        let mut w = writer.lock().await;
        let _held = Held::since_now(stats);
        sqlx::query(RELEASE_MEMBERSHIPS).execute(pool).await?;
        w.release_all = false;
        Ok::<_, StoreError>(found.len() as u64)
    };
    match pass.await {
        Ok(gone) => Ok(gone),
        Err(e) => {
            // Look at these devices' groups again next time.
            writer.lock().await.acked.extend(devices);
            Err(e)
        }
    }
}

/// Copies the WAL back into the database file. The bulk is copied beside
/// the writer; then the few pages written meanwhile are copied while the
/// writer waits. A checkpoint that always finishes during some write leaves
/// frames behind, so the WAL never starts over from its beginning and grows
/// without end, and every commit that extends the file costs a journal flush
/// of the filesystem.
async fn checkpoint(
    pool: &SqlitePool,
    writer: &tokio::sync::Mutex<WriterState>,
    stats: &crate::WriteStats,
) -> Result<()> {
    sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
        .execute(pool)
        .await?;
    let _w = writer.lock().await;
    let _held = Held::since_now(stats);
    sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
        .execute(pool)
        .await?;
    Ok(())
}

/// Once a second, releases delivered messages, then checkpoints the WAL;
/// ends when the pool is closed.
pub(super) async fn housekeeping(
    pool: SqlitePool,
    writer: Arc<tokio::sync::Mutex<WriterState>>,
    stats: Arc<crate::WriteStats>,
) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        if let Err(e) = release(&pool, &writer, &stats).await {
            if pool.is_closed() {
                return;
            }
            tracing::warn!(error = %e, "releasing delivered messages failed; will retry");
        }
        if let Err(e) = checkpoint(&pool, &writer, &stats).await {
            if pool.is_closed() {
                return;
            }
            tracing::warn!(error = %e, "WAL checkpoint failed; will retry");
        }
    }
}

/// Counts how long housekeeping held the writer's lock, when dropped
/// (declared after the guard, so dropped before it).
struct Held<'a> {
    stats: &'a crate::WriteStats,
    since: std::time::Instant,
}

impl<'a> Held<'a> {
    fn since_now(stats: &'a crate::WriteStats) -> Self {
        Held {
            stats,
            since: std::time::Instant::now(),
        }
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.stats
            .housekeeping_hold
            .record_time(self.since.elapsed());
    }
}
