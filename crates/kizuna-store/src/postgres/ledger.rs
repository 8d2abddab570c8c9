//! The transparency ledger every node of a deployment shares, in the node
//! database: its leaf hashes at their indexes and the tree head kept for
//! each size. Each node mirrors it in its own files and serves proofs from
//! the mirror; this is only the order of leaves and which heads stand.
//!
//! One writer at a time: an append takes the ledger's transaction-scoped
//! advisory lock before it reads the next index, so two nodes never take
//! the same index, and its leaves become visible (at commit) before the
//! lock is released, so a reader sees the log as a prefix without gaps.
//! PostgreSQL, not the nodes, decides who writes: when a writer's
//! connection dies its transaction is rolled back and its lock released,
//! and a writer that stalls while holding the lock is cut off by
//! `idle_in_transaction_session_timeout`, so another node takes over
//! within seconds and nothing a dead writer wrote is ever visible.

use sqlx::{PgConnection, PgPool};

use super::node::NODE;
use super::{advisory_key, connect, PgLocation};
use crate::{Result, StoreError};

/// Connections each node keeps for the ledger: one appending, one
/// following, one for heads.
const POOL_SIZE: u32 = 3;

/// How long a writer holding the ledger's lock may keep PostgreSQL waiting
/// before PostgreSQL ends its session: an append sends its statements back
/// to back, so only a writer that died without its connection closing, or
/// stalled, waits this long, and every other node waits for it.
const STALLED_WRITER: &str = "3s";

/// A leaf hash and the directory key it is logged under, if any.
pub type LedgerLeaf = ([u8; 32], Option<[u8; 32]>);

fn ledger_key() -> i64 {
    advisory_key("node ledger")
}

/// The shared ledger in the node database at one location.
pub struct PgLedgerLog {
    pool: PgPool,
    place: String,
}

impl PgLedgerLog {
    /// Connects to the node database at `at`, which must be at exactly the
    /// schema this Kizuna knows (see [`super::PgStore::migrate`]).
    pub async fn open(at: &PgLocation) -> Result<PgLedgerLog> {
        let pool = connect(at, POOL_SIZE).await?;
        if let Err(e) = NODE.check(&pool, at).await {
            pool.close().await;
            return Err(e);
        }
        Ok(PgLedgerLog {
            pool,
            place: at.shown(),
        })
    }

    /// Where the ledger is, as a message may show it (no password).
    pub fn place(&self) -> &str {
        &self.place
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Appends `leaves` at the next indexes, all or none, and answers the
    /// index of the first once they are committed.
    pub async fn append(&self, leaves: &[LedgerLeaf]) -> Result<u64> {
        if leaves.is_empty() {
            return self.size().await;
        }
        let mut tx = self.pool.begin().await?;
        let first = write_leaves(&mut tx, leaves).await?;
        tx.commit().await?;
        Ok(first)
    }

    /// At most `limit` leaves from index `start` on, in order.
    pub async fn leaves_from(&self, start: u64, limit: u32) -> Result<Vec<LedgerLeaf>> {
        let rows: Vec<(i64, Vec<u8>, Option<Vec<u8>>)> = sqlx::query_as(
            "SELECT idx, leaf, dir_key FROM ledger_leaves WHERE idx >= $1 ORDER BY idx LIMIT $2",
        )
        .bind(index(start)?)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut leaves = Vec::with_capacity(rows.len());
        for (at, (idx, leaf, key)) in (start..).zip(rows) {
            let leaf: [u8; 32] = leaf
                .try_into()
                .map_err(|_| damaged(idx, "is not 32 bytes"))?;
            let key: Option<[u8; 32]> = key
                .map(|k| k.try_into())
                .transpose()
                .map_err(|_| damaged(idx, "has a directory key that is not 32 bytes"))?;
            if idx as u64 != at {
                return Err(damaged(at as i64, "is missing"));
            }
            leaves.push((leaf, key));
        }
        Ok(leaves)
    }

    /// How many leaves the ledger holds.
    pub async fn size(&self) -> Result<u64> {
        let next: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(idx) + 1, 0) FROM ledger_leaves")
            .fetch_one(&self.pool)
            .await?;
        Ok(next.max(0) as u64)
    }

    /// Keeps `head` as the head for `size` unless a head for `size` or a
    /// larger size is kept already; answers the head that stands (this
    /// one, the one kept for `size`, or else the latest). Heads are kept
    /// under the ledger's lock, so their sizes grow in the order they are
    /// kept and a node that read the heads up to one size never misses
    /// one kept later for a smaller size.
    pub async fn put_head(&self, size: u64, head: &str) -> Result<(u64, String)> {
        let mut tx = self.pool.begin().await?;
        lock(&mut tx).await?;
        let held: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(idx) + 1, 0) FROM ledger_leaves")
            .fetch_one(&mut *tx)
            .await?;
        if index(size)? > held {
            return Err(StoreError::Backend(format!(
                "a tree head for {size} entries was offered to the ledger in {}, which holds {held}",
                self.place
            )));
        }
        let same: Option<String> =
            sqlx::query_scalar("SELECT head FROM ledger_heads WHERE size = $1")
                .bind(index(size)?)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(kept) = same {
            return Ok((size, kept));
        }
        let latest: Option<(i64, String)> =
            sqlx::query_as("SELECT size, head FROM ledger_heads ORDER BY size DESC LIMIT 1")
                .fetch_optional(&mut *tx)
                .await?;
        if let Some((kept, json)) = latest.filter(|(kept, _)| *kept as u64 > size) {
            return Ok((kept as u64, json));
        }
        sqlx::query("INSERT INTO ledger_heads (size, head) VALUES ($1, $2)")
            .bind(index(size)?)
            .bind(head)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok((size, head.to_string()))
    }

    /// Replaces the head kept for `size` with `head` if `size` is the
    /// largest kept (the same tree signed again); answers the head that
    /// stands for the largest size.
    pub async fn refresh_head(&self, size: u64, head: &str) -> Result<(u64, String)> {
        let mut tx = self.pool.begin().await?;
        lock(&mut tx).await?;
        sqlx::query(
            "UPDATE ledger_heads SET head = $2 WHERE size = $1 \
             AND size = (SELECT MAX(size) FROM ledger_heads)",
        )
        .bind(index(size)?)
        .bind(head)
        .execute(&mut *tx)
        .await?;
        let latest: Option<(i64, String)> =
            sqlx::query_as("SELECT size, head FROM ledger_heads ORDER BY size DESC LIMIT 1")
                .fetch_optional(&mut *tx)
                .await?;
        tx.commit().await?;
        let (kept, json) = latest.ok_or_else(|| {
            StoreError::Backend(format!(
                "no tree head is kept in the ledger in {} to sign again",
                self.place
            ))
        })?;
        Ok((kept as u64, json))
    }

    /// At most `limit` kept heads for sizes from `size` on, smallest first.
    pub async fn heads_from(&self, size: u64, limit: u32) -> Result<Vec<(u64, String)>> {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT size, head FROM ledger_heads WHERE size >= $1 ORDER BY size LIMIT $2",
        )
        .bind(index(size)?)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(s, h)| (s as u64, h)).collect())
    }

    #[cfg(test)]
    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// Takes the ledger's lock for the rest of the transaction, which
/// PostgreSQL releases at its end, whether it commits, rolls back, or its
/// connection is gone.
async fn lock(tx: &mut PgConnection) -> Result<()> {
    sqlx::query(&format!(
        "SET LOCAL idle_in_transaction_session_timeout = '{STALLED_WRITER}'"
    ))
    .execute(&mut *tx)
    .await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(ledger_key())
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Writes `leaves` at the next indexes in a transaction that then holds the
/// ledger's lock; answers the first index. Nothing is visible until the
/// transaction commits.
pub(crate) async fn write_leaves(tx: &mut PgConnection, leaves: &[LedgerLeaf]) -> Result<u64> {
    lock(tx).await?;
    let first: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(idx) + 1, 0) FROM ledger_leaves")
        .fetch_one(&mut *tx)
        .await?;
    let rows: Vec<Vec<u8>> = leaves.iter().map(|(l, _)| l.to_vec()).collect();
    let keys: Vec<Option<Vec<u8>>> = leaves.iter().map(|(_, k)| k.map(|k| k.to_vec())).collect();
    sqlx::query(
        "INSERT INTO ledger_leaves (idx, leaf, dir_key)
         SELECT $1 + t.n - 1, t.leaf, t.dir_key
         FROM UNNEST($2::bytea[], $3::bytea[]) WITH ORDINALITY AS t(leaf, dir_key, n)",
    )
    .bind(first)
    .bind(rows)
    .bind(keys)
    .execute(&mut *tx)
    .await?;
    Ok(first.max(0) as u64)
}

fn index(i: u64) -> Result<i64> {
    i64::try_from(i).map_err(|_| StoreError::Backend(format!("{i} is beyond any ledger's index")))
}

fn damaged(idx: i64, what: &str) -> StoreError {
    StoreError::Backend(format!(
        "the shared ledger's leaf {idx} {what}: the ledger_leaves table was changed by hand"
    ))
}

#[cfg(test)]
#[path = "ledger_tests.rs"]
mod tests;
