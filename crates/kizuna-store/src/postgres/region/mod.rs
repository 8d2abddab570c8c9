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
mod reports;
mod subjects;

use async_trait::async_trait;
use sqlx::PgPool;

use super::{connect, PgLocation, Schema};
use crate::region::{
    AccessedBy, LedgerRow, RegionStore, ReportRow, SealedAccess, SealedSubject, WrappedKey,
};
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

pub(crate) const SCHEMA: Schema = Schema {
    name: "region",
    migrations: &[V1],
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

// Each method is the inherent one of the same name, in the file for its kind
// of operation: inherent methods come first in method lookup, so none of
// these calls itself.
#[async_trait]
impl RegionStore for PgRegionStore {
    async fn put_subjects(&self, subjects: Vec<SealedSubject>) -> Result<()> {
        self.put_subjects(subjects).await
    }

    async fn subject(&self, subject_id: &str) -> Result<Option<SealedSubject>> {
        self.subject(subject_id).await
    }

    async fn wrapped_key(&self, subject_id: &str) -> Result<Option<WrappedKey>> {
        self.wrapped_key(subject_id).await
    }

    async fn wrapped_keys(&self, subject_ids: &[String]) -> Result<Vec<WrappedKey>> {
        self.wrapped_keys(subject_ids).await
    }

    async fn record(&self, subject_id: &str, category: &str) -> Result<Option<Vec<u8>>> {
        self.record(subject_id, category).await
    }

    async fn put_record(&self, subject_id: &str, category: &str, sealed: &[u8]) -> Result<()> {
        self.put_record(subject_id, category, sealed).await
    }

    async fn subject_by_phone_hash(&self, phone_hash: &[u8]) -> Result<Option<String>> {
        self.subject_by_phone_hash(phone_hash).await
    }

    async fn append_accesses(&self, accesses: Vec<(String, SealedAccess)>) -> Result<()> {
        self.append_accesses(accesses).await
    }

    async fn access_records(&self, subject_id: &str) -> Result<Vec<SealedAccess>> {
        self.access_records(subject_id).await
    }

    async fn set_access_indexes(&self, indexes: &[(Vec<u8>, u64)]) -> Result<()> {
        self.set_access_indexes(indexes).await
    }

    async fn drop_pending_access(&self, leaf: &[u8]) -> Result<()> {
        self.drop_pending_access(leaf).await
    }

    async fn pending_access(&self) -> Result<Vec<LedgerRow>> {
        self.pending_access().await
    }

    async fn last_entry(&self) -> Result<Option<LedgerRow>> {
        self.last_entry().await
    }

    async fn ledger_rows(&self, from: u64, limit: u32) -> Result<Vec<LedgerRow>> {
        self.ledger_rows(from, limit).await
    }

    async fn accesses_by(
        &self,
        by: &AccessedBy,
        after: (u64, i64),
        limit: u32,
    ) -> Result<Vec<(i64, LedgerRow)>> {
        self.accesses_by(by, after, limit).await
    }

    async fn erase_subject(&self, subject_id: &str, keep_ledger: bool) -> Result<bool> {
        self.erase_subject(subject_id, keep_ledger).await
    }

    async fn tombstone_accesses(
        &self,
        subject_id: &str,
        seals: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<u64> {
        self.tombstone_accesses(subject_id, seals).await
    }

    async fn tombstones_sealed(&self) -> Result<bool> {
        self.tombstones_sealed().await
    }

    async fn bare_tombstones(&self) -> Result<Vec<LedgerRow>> {
        self.bare_tombstones().await
    }

    async fn seal_bare_tombstones(&self, seals: &[(Vec<u8>, Vec<u8>)]) -> Result<()> {
        self.seal_bare_tombstones(seals).await
    }

    async fn put_report(&self, r: ReportRow) -> Result<()> {
        self.put_report(r).await
    }

    async fn report(&self, report_id: &str) -> Result<Option<ReportRow>> {
        self.report(report_id).await
    }

    async fn reports_in(&self, states: &[&str], limit: u32) -> Result<Vec<ReportRow>> {
        self.reports_in(states, limit).await
    }

    async fn reports_of(&self, subject_id: &str) -> Result<Vec<ReportRow>> {
        self.reports_of(subject_id).await
    }

    async fn update_report(&self, r: &ReportRow, from: &str) -> Result<bool> {
        self.update_report(r, from).await
    }

    async fn reports_resolved_before(&self, before: u64, limit: u32) -> Result<Vec<ReportRow>> {
        self.reports_resolved_before(before, limit).await
    }

    async fn delete_resolved_report(&self, report_id: &str, before: u64) -> Result<bool> {
        self.delete_resolved_report(report_id, before).await
    }

    async fn subjects_after(&self, after: &str, limit: u32) -> Result<Vec<WrappedKey>> {
        self.subjects_after(after, limit).await
    }

    async fn key_versions(&self) -> Result<Vec<(u32, u64)>> {
        self.key_versions().await
    }

    async fn rewrap(&self, keys: &[(WrappedKey, Vec<u8>)]) -> Result<u64> {
        self.rewrap(keys).await
    }

    async fn close(&self) {
        self.close().await
    }
}
