//! A region's store on PostgreSQL: the same promises as `SqliteRegionStore`,
//! kept while many nodes (many `PgRegionStore` values, in many processes)
//! write the one database of the region at once.
//!
//! SQLite gave the region one writer; here every write is a transaction and
//! whatever must not interleave is decided by row locks: a person's row in
//! `subjects` is locked by whoever replaces, erases or adds to that person,
//! and a compare-and-set (`update_report`, `rewrap`, `delete_resolved_report`)
//! is one `UPDATE`/`DELETE` whose condition PostgreSQL checks again on the
//! newest version of the row once a concurrent writer is done with it.
//!
//! Erasure: SQLite overwrites deleted rows with zeros (`secure_delete`).
//! PostgreSQL never overwrites in place: an `UPDATE` or `DELETE` leaves the
//! old row version in the table as a dead tuple until pruning or VACUUM
//! reclaims its space, and the bytes stay in the write-ahead log (and in
//! replicas and backups) until those are recycled. An erasure therefore
//! empties the sealed columns before deleting, so that no version it leaves
//! as current holds anything, and vacuums `subjects` afterwards, so the
//! erased person's wrapped key (without which nothing else of them can be
//! read) does not wait for autovacuum in a dead tuple. The freed space may
//! still hold the bytes until it is reused, and WAL and backups keep them
//! for as long as the operator retains those: what bounds an erased
//! person's exposure there is the operator's retention of WAL and backups.

mod access;
mod keys;
mod phone_codes;
mod reports;
mod subjects;

use sqlx::PgPool;

use super::{connect, PgLocation, Schema};
use crate::Result;

/// Version 1: the region schema as SQLite holds it today (its tables, the
/// ledger's columns and indexes, the markers). Subject ids sort bytewise
/// (`COLLATE "C"`), as SQLite sorts them, so a pass over the region in id
/// order visits people in the same order on either store whatever the
/// database's locale.
const V1: &str = r#"
CREATE TABLE subjects (
    subject_id TEXT COLLATE "C" PRIMARY KEY,
    data_key_version BIGINT NOT NULL,
    region_key_version BIGINT NOT NULL,
    wrapped_key BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX subjects_by_key_version ON subjects (region_key_version);
CREATE TABLE records (
    subject_id TEXT NOT NULL,
    category TEXT COLLATE "C" NOT NULL,
    sealed BYTEA NOT NULL,
    PRIMARY KEY (subject_id, category)
);
CREATE TABLE phone_index (
    phone_hash BYTEA PRIMARY KEY,
    subject_id TEXT NOT NULL
);
CREATE INDEX phone_index_by_subject ON phone_index (subject_id);
-- The row id is the page cursor of `accesses_by`, with the time.
CREATE TABLE access_records (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subject_id TEXT NOT NULL,
    at BIGINT NOT NULL,
    sealed BYTEA NOT NULL,
    leaf BYTEA,
    idx BIGINT,
    after BIGINT NOT NULL DEFAULT 0,
    org_id TEXT,
    staff_id TEXT
);
CREATE INDEX access_records_by_subject ON access_records (subject_id, id);
CREATE UNIQUE INDEX access_records_by_leaf ON access_records (leaf);
CREATE INDEX access_records_by_idx ON access_records (idx);
CREATE INDEX access_records_by_org ON access_records (org_id, at);
CREATE INDEX access_records_by_staff ON access_records (staff_id, at);
CREATE TABLE reports (
    report_id TEXT PRIMARY KEY,
    subject_id TEXT NOT NULL,
    message_key BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    reason TEXT NOT NULL,
    state TEXT NOT NULL,
    resolved_at BIGINT,
    sealed BYTEA NOT NULL
);
CREATE UNIQUE INDEX reports_by_message ON reports (subject_id, message_key);
CREATE INDEX reports_by_state ON reports (state, created_at);
CREATE INDEX reports_by_resolution ON reports (resolved_at) WHERE state = 'resolved';
-- Facts about the store's own history, by name: 'tombstones_sealed' once
-- every erased person's entry carries the ledger key's signature.
CREATE TABLE markers (name TEXT PRIMARY KEY);
"#;

/// Version 2: the codes that prove a phone number before it is registered.
const V2: &str = r#"
CREATE TABLE phone_codes (
    phone_hash BYTEA PRIMARY KEY,
    code_hash BYTEA NOT NULL,
    expires_at BIGINT NOT NULL,
    tries BIGINT NOT NULL
);
CREATE INDEX phone_codes_by_expiry ON phone_codes (expires_at);
"#;

/// Version 3: whether the holder of each indexed number proved it with a
/// code (numbers indexed before codes existed never were).
const V3: &str = r#"
ALTER TABLE phone_index ADD COLUMN proven BOOLEAN NOT NULL DEFAULT FALSE;
"#;

pub(crate) const SCHEMA: Schema = Schema {
    name: "region",
    migrations: &[V1, V2, V3],
};

/// Rows bound in one multi-row statement (8 values each, well under
/// PostgreSQL's 65535 bound values).
const ROWS_PER_STATEMENT: usize = 500;

/// One region's database, shared by every node serving the region.
pub struct PgRegionStore {
    pool: PgPool,
}

impl PgRegionStore {
    /// Brings the region's database to the schema this Kizuna knows: the
    /// versions it applied (none if it was up to date). Refuses a database
    /// a newer Kizuna wrote.
    pub async fn migrate(at: &PgLocation) -> Result<Vec<u64>> {
        let pool = connect(at, 1).await?;
        let applied = SCHEMA.migrate(&pool).await;
        pool.close().await;
        applied
    }

    /// Connects to the region's database, which must be at exactly the
    /// schema this Kizuna knows (see `migrate`).
    pub async fn open(at: &PgLocation) -> Result<PgRegionStore> {
        let pool = connect(at, 4).await?;
        if let Err(e) = SCHEMA.check(&pool, at).await {
            pool.close().await;
            return Err(e);
        }
        Ok(PgRegionStore { pool })
    }

    /// Whether the region holds anyone; a region with people must never get
    /// a fresh key, or they would all become unreadable.
    pub async fn is_empty(&self) -> Result<bool> {
        let any: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM subjects)")
            .fetch_one(&self.pool)
            .await?;
        Ok(!any)
    }

    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }
}

crate::delegation::region_store_by_inherent_methods!(PgRegionStore);
