//! Housekeeping: releasing the messages no device waits for any more, once
//! a second in the background. Every node runs it; passes on several nodes
//! at once skip what another is deleting, and never wait for each other.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;

use super::{PgStore, Releasable};
use crate::Result;

impl PgStore {
    /// Deletes every message no device waits for any more, among those this
    /// node's acknowledgements may have released (every message after a
    /// start or a deletion). Runs every second in the background and on
    /// close; returns how many messages went.
    pub async fn release_delivered(&self) -> Result<u64> {
        release(&self.pool, &self.releasable).await
    }
}

/// The condition under which a message can go: no delivery row left, and
/// every member in range other than the sender has acknowledged past it.
/// Once true it stays true: a message's deliveries and the memberships
/// that cover it were committed with it or before it, positions only grow,
/// and members join only after the messages already there. So a snapshot
/// that finds it true may delete, whatever commits meanwhile.
macro_rules! deliverable_done {
    () => {
        "NOT EXISTS (SELECT 1 FROM deliveries dl WHERE dl.pos = log.pos) \
         AND (NOT log.routed OR NOT EXISTS ( \
            SELECT 1 FROM memberships ms LEFT JOIN cursors c ON c.device_id = ms.device_id \
            WHERE ms.group_id = log.group_id AND ms.from_seq <= log.seq \
              AND (ms.until_seq IS NULL OR ms.until_seq >= log.seq) \
              AND ms.device_id <> log.sender_device AND COALESCE(c.acked, 0) < log.pos))"
    };
}

/// Deletes up to `$2` messages of the groups of the devices in `$1` that
/// nobody waits for any more. Rows another node is deleting are skipped,
/// not waited for.
const RELEASE_IN_GROUPS_OF: &str = concat!(
    "DELETE FROM log WHERE pos IN (SELECT pos FROM log WHERE group_id IN ( \
        SELECT group_id FROM memberships WHERE device_id = ANY($1)) AND ",
    deliverable_done!(),
    " ORDER BY pos LIMIT $2 FOR UPDATE SKIP LOCKED)"
);

/// Deletes up to `$1` messages that nobody waits for any more.
const RELEASE_ALL: &str = concat!(
    "DELETE FROM log WHERE pos IN (SELECT pos FROM log WHERE ",
    deliverable_done!(),
    " ORDER BY pos LIMIT $1 FOR UPDATE SKIP LOCKED)"
);

/// Forgets past memberships once no message of their range is left (none
/// can come back: the range is behind the group's next sequence number).
const RELEASE_MEMBERSHIPS: &str = "\
    DELETE FROM memberships WHERE (group_id, device_id, from_seq) IN ( \
        SELECT group_id, device_id, from_seq FROM memberships m WHERE until_seq IS NOT NULL \
        AND NOT EXISTS (SELECT 1 FROM log l WHERE l.group_id = m.group_id \
            AND l.seq BETWEEN m.from_seq AND m.until_seq) \
        FOR UPDATE SKIP LOCKED)";

/// Messages deleted per statement, so that one release never holds many
/// rows for long.
const RELEASE_CHUNK: i64 = 512;

/// Passes between two that look at every message, for what another node
/// made releasable and could not release (it stopped first).
const FULL_PASS_EVERY: u32 = 60;

/// One release pass; see [`PgStore::release_delivered`].
pub(super) async fn release(pool: &PgPool, releasable: &Releasable) -> Result<u64> {
    let (all, devices) = releasable.take();
    if !all && devices.is_empty() {
        return Ok(0);
    }
    let pass = async {
        let mut gone = 0;
        loop {
            let n = if all {
                sqlx::query(RELEASE_ALL)
                    .bind(RELEASE_CHUNK)
                    .execute(pool)
                    .await?
            } else {
                sqlx::query(RELEASE_IN_GROUPS_OF)
                    .bind(&devices)
                    .bind(RELEASE_CHUNK)
                    .execute(pool)
                    .await?
            }
            .rows_affected();
            gone += n;
            if n < RELEASE_CHUNK as u64 {
                break;
            }
        }
        sqlx::query(RELEASE_MEMBERSHIPS).execute(pool).await?;
        Ok::<_, crate::StoreError>(gone)
    };
    match pass.await {
        Ok(gone) => Ok(gone),
        Err(e) => {
            // Look at these devices' groups (or everything) again next time.
            if all {
                releasable.release_everything();
            }
            releasable.note_acked(devices.iter().map(String::as_str));
            Err(e)
        }
    }
}

/// Once a second, releases delivered messages; ends when the pool is closed.
pub(super) async fn housekeeping(pool: PgPool, releasable: Arc<Releasable>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut passes: u32 = 0;
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        passes = passes.wrapping_add(1);
        if passes.is_multiple_of(FULL_PASS_EVERY) {
            releasable.release_everything();
        }
        if let Err(e) = release(&pool, &releasable).await {
            if pool.is_closed() {
                return;
            }
            tracing::warn!(error = %e, "releasing delivered messages failed; will retry");
        }
    }
}
