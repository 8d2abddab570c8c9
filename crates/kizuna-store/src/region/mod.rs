//! The store of one region: each person's wrapped data key, their sealed
//! records, the keyed phone index and their sealed access records. Nothing
//! here is readable without the region's key, which is never stored here.

mod access;
mod keys;
mod phone_codes;
mod reports;
mod subjects;

use std::path::Path;
use std::str::FromStr;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use crate::{Result, StoreError};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS subjects (
    subject_id TEXT PRIMARY KEY,
    data_key_version BIGINT NOT NULL,
    region_key_version BIGINT NOT NULL,
    wrapped_key BLOB NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS subjects_by_key_version ON subjects (region_key_version);
CREATE TABLE IF NOT EXISTS records (
    subject_id TEXT NOT NULL,
    category TEXT NOT NULL,
    sealed BLOB NOT NULL,
    PRIMARY KEY (subject_id, category)
);
CREATE TABLE IF NOT EXISTS phone_index (
    phone_hash BLOB PRIMARY KEY,
    subject_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS phone_index_by_subject ON phone_index (subject_id);
CREATE TABLE IF NOT EXISTS access_records (
    id INTEGER PRIMARY KEY,
    subject_id TEXT NOT NULL,
    at BIGINT NOT NULL,
    sealed BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS access_records_by_subject ON access_records (subject_id, id);
CREATE TABLE IF NOT EXISTS reports (
    report_id TEXT PRIMARY KEY,
    subject_id TEXT NOT NULL,
    message_key BLOB NOT NULL,
    created_at BIGINT NOT NULL,
    reason TEXT NOT NULL,
    state TEXT NOT NULL,
    resolved_at BIGINT,
    sealed BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS reports_by_message ON reports (subject_id, message_key);
CREATE INDEX IF NOT EXISTS reports_by_state ON reports (state, created_at);
CREATE INDEX IF NOT EXISTS reports_by_resolution ON reports (resolved_at) WHERE state = 'resolved';
-- Facts about the store's own history, by name: 'tombstones_signed' once
-- every erased person's entry carries the ledger key's signature.
CREATE TABLE IF NOT EXISTS markers (name TEXT PRIMARY KEY);
"#;

/// Access records became the ledger's entries: each carries its leaf hash
/// and its place in the ledger, and who it was for in the clear (inside the
/// home region) so a breach can be scoped without opening every record.
/// Records from before have no leaf.
const LEDGER_COLUMNS: [(&str, &str); 5] = [
    ("leaf", "BLOB"),
    ("idx", "BIGINT"),
    ("after", "BIGINT NOT NULL DEFAULT 0"),
    ("org_id", "TEXT"),
    ("staff_id", "TEXT"),
];

const LEDGER_INDEXES: &str = r#"
CREATE UNIQUE INDEX IF NOT EXISTS access_records_by_leaf ON access_records (leaf);
CREATE INDEX IF NOT EXISTS access_records_by_idx ON access_records (idx);
CREATE INDEX IF NOT EXISTS access_records_by_org ON access_records (org_id, at);
CREATE INDEX IF NOT EXISTS access_records_by_staff ON access_records (staff_id, at);
"#;

/// Versions after the first, applied in order.
const MIGRATIONS: &[&str] = &[PHONE_CODES, PROVEN_PHONES];

/// Version 2: the codes that prove a phone number before it is registered,
/// kept as keyed hashes like the phone index beside them.
const PHONE_CODES: &str = r#"
CREATE TABLE phone_codes (
    phone_hash BLOB PRIMARY KEY,
    code_hash BLOB NOT NULL,
    expires_at BIGINT NOT NULL,
    tries BIGINT NOT NULL
);
CREATE INDEX phone_codes_by_expiry ON phone_codes (expires_at);
"#;

/// Version 3: whether the holder of each indexed number proved it with a
/// code. Numbers indexed before codes existed never were: nobody finds
/// them by number, and their proven holder may take them.
const PROVEN_PHONES: &str = r#"
ALTER TABLE phone_index ADD COLUMN proven INTEGER NOT NULL DEFAULT 0;
"#;

/// What a number already in the index means for a person being written
/// with it.
pub(crate) enum PhoneClaim {
    /// It is theirs already, or not one they are written with.
    Same,
    /// Another person holds it.
    Refused,
    /// Another person holds it but never proved it, and this person did:
    /// it becomes this person's.
    TakenOver,
}

/// Judges the held index row (`hash`, `owner`, `held_proven`) against the
/// numbers of the people being written (hash, person, proven).
pub(crate) fn phone_claim<H: AsRef<[u8]>, S: AsRef<str>>(
    writing: &[(H, S, bool)],
    hash: &[u8],
    owner: &str,
    held_proven: bool,
) -> PhoneClaim {
    let Some((_, id, proven)) = writing.iter().find(|(h, _, _)| h.as_ref() == hash) else {
        return PhoneClaim::Same;
    };
    match (id.as_ref() == owner, held_proven, proven) {
        (true, _, _) => PhoneClaim::Same,
        (false, false, true) => PhoneClaim::TakenOver,
        _ => PhoneClaim::Refused,
    }
}

/// The subject id an erased person's ledger entries keep: their place in
/// the ledger stays provable, nothing of them stays readable.
pub const ERASED: &str = "(erased)";

/// A person's data key, wrapped by one version of the region key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrappedKey {
    pub subject_id: String,
    /// Bumped whenever the person gets a new data key (a move of region).
    pub data_key_version: u32,
    /// The version of the region key that wraps it.
    pub region_key_version: u32,
    pub wrapped: Vec<u8>,
    pub created_at: u64,
}

/// One sealed access record of a person (a transfer, or a refused one),
/// and where it stands in the ledger.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SealedAccess {
    pub at: u64,
    /// Empty once the person was erased.
    pub sealed: Vec<u8>,
    /// The ledger leaf hash of the entry; none for records older than the
    /// ledger.
    pub leaf: Option<Vec<u8>>,
    /// Its index in the ledger; none while it is being appended.
    pub idx: Option<u64>,
    /// The ledger's size when the record was written: after a crash, its
    /// leaf is looked for from there.
    pub after: u64,
    pub org_id: Option<String>,
    pub staff_id: Option<String>,
}

/// Whose accesses to look for, and when.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccessedBy {
    pub org_id: Option<String>,
    pub staff_id: Option<String>,
    /// Milliseconds since the epoch, inclusive.
    pub from: u64,
    pub to: u64,
}

/// A ledger entry as a region holds it, with whose it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerRow {
    pub subject_id: String,
    pub access: SealedAccess,
}

/// An abuse report filed by a person of this region: what the moderation
/// queue needs in the clear (no content, nobody named but the reporter's
/// account id), and the report itself sealed under the reporter's data key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportRow {
    pub report_id: String,
    /// The reporter.
    pub subject_id: String,
    /// A hash of the chat and the reported message's place in it, so one
    /// person reports one message once.
    pub message_key: Vec<u8>,
    pub created_at: u64,
    pub reason: String,
    /// `open`, `resolved` or `appealed`.
    pub state: String,
    pub resolved_at: Option<u64>,
    pub sealed: Vec<u8>,
}

/// Everything a region holds of one person, sealed: what a move copies.
#[derive(Clone, Debug)]
pub struct SealedSubject {
    pub key: WrappedKey,
    /// (category, sealed record)
    pub records: Vec<(String, Vec<u8>)>,
    pub phone_hash: Option<Vec<u8>>,
    /// Whether the person proved the number with a code sent to it (not
    /// so for numbers registered before codes existed, or imported).
    pub phone_proven: bool,
    pub access: Vec<SealedAccess>,
    /// The reports the person filed.
    pub reports: Vec<ReportRow>,
}

/// A code sent to prove a phone number, kept only as keyed hashes: the
/// store can tell neither the number nor the code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhoneCode {
    pub phone_hash: Vec<u8>,
    pub code_hash: Vec<u8>,
    /// Milliseconds since the Unix epoch.
    pub expires_at: u64,
    /// Guesses left.
    pub tries: u32,
}

#[async_trait]
pub trait RegionStore: Send + Sync + 'static {
    /// Writes a person's key, records, phone index entry and access records in
    /// one transaction, replacing whatever this region held of them. Refuses
    /// with `Conflict("phone")` if another person has the phone hash, unless
    /// they never proved it and this person did: the number is then this
    /// person's, and no longer the other's.
    async fn put_subject(&self, subject: SealedSubject) -> Result<()> {
        self.put_subjects(vec![subject]).await
    }
    /// Many people at once, in one transaction (an import): all or none.
    async fn put_subjects(&self, subjects: Vec<SealedSubject>) -> Result<()>;
    async fn subject(&self, subject_id: &str) -> Result<Option<SealedSubject>>;
    async fn wrapped_key(&self, subject_id: &str) -> Result<Option<WrappedKey>>;
    /// The wrapped keys of many people at once (those who have one here).
    async fn wrapped_keys(&self, subject_ids: &[String]) -> Result<Vec<WrappedKey>>;
    async fn record(&self, subject_id: &str, category: &str) -> Result<Option<Vec<u8>>>;
    /// Replaces one record of a person who has a key here.
    async fn put_record(&self, subject_id: &str, category: &str, sealed: &[u8]) -> Result<()>;
    async fn subject_by_phone_hash(&self, phone_hash: &[u8]) -> Result<Option<String>>;
    /// Keeps a new code for a number in place of any earlier one, and
    /// drops every code that expired by `now`.
    async fn put_phone_code(&self, code: PhoneCode, now: u64) -> Result<()>;
    /// Spends one guess on the number's live code, answering its hash, or
    /// nothing when it has none live with a guess left. The guess is spent
    /// before it is compared, so guesses made at once cannot share one.
    async fn spend_phone_code_try(&self, phone_hash: &[u8], now: u64) -> Result<Option<Vec<u8>>>;
    /// Ends the number's code: it proved the number once.
    async fn drop_phone_code(&self, phone_hash: &[u8]) -> Result<()>;
    /// Ends the number's code only if it is still `code_hash`: a code that
    /// could not be sent is taken back without ending a newer one.
    async fn withdraw_phone_code(&self, phone_hash: &[u8], code_hash: &[u8]) -> Result<()>;
    async fn append_access(&self, subject_id: &str, access: SealedAccess) -> Result<()> {
        self.append_accesses(vec![(subject_id.to_string(), access)])
            .await
    }
    /// Many access records at once, in one transaction.
    async fn append_accesses(&self, accesses: Vec<(String, SealedAccess)>) -> Result<()>;
    async fn access_records(&self, subject_id: &str) -> Result<Vec<SealedAccess>>;
    /// Notes the ledger index of the pending record with this leaf (one a
    /// crash left unnumbered whose leaf was found in the ledger).
    async fn set_access_index(&self, leaf: &[u8], idx: u64) -> Result<()>;
    /// Notes the ledger indexes of records just appended, in one
    /// transaction. A record another node took back meanwhile, taking its
    /// append for a failed one, is written again with its index: its leaf
    /// is in the ledger, so the person's log must hold it. A record of a
    /// person erased meanwhile is not.
    async fn number_accesses(&self, numbered: &[(String, SealedAccess)]) -> Result<()>;
    /// Removes a record whose ledger append failed: its access never happened.
    async fn drop_pending_access(&self, leaf: &[u8]) -> Result<()>;
    /// Records written but not yet given their ledger index.
    async fn pending_access(&self) -> Result<Vec<LedgerRow>>;
    /// The numbered entry held here with the highest index, if any: the
    /// ledger must hold at least as many.
    async fn last_entry(&self) -> Result<Option<LedgerRow>>;
    /// Ledger entries held here with index at least `from`, by index.
    async fn ledger_rows(&self, from: u64, limit: u32) -> Result<Vec<LedgerRow>>;
    /// Access records made for an organisation or a staff member between
    /// two times, in time order after `after` (a time and row id, from the
    /// last page), with their row ids: the raw material of a breach's scope.
    async fn accesses_by(
        &self,
        by: &AccessedBy,
        after: (u64, i64),
        limit: u32,
    ) -> Result<Vec<(i64, LedgerRow)>>;
    /// Removes the person's key first, then everything sealed under it, in
    /// one transaction. Returns whether there was anything. With
    /// `keep_ledger`, their ledger entries stay as tombstones (leaf, index,
    /// time, who accessed; no content, no subject) so the ledger stays
    /// whole; without, they go too (a copy a move left behind).
    async fn erase_subject(&self, subject_id: &str, keep_ledger: bool) -> Result<bool>;
    /// Turns a person's ledger entries into tombstones, each with its seal
    /// (by leaf): what shows the entry was emptied by an erasure and by
    /// nobody else. Answers how many were turned.
    async fn tombstone_accesses(
        &self,
        subject_id: &str,
        seals: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<u64>;
    /// Whether every tombstone here carries a seal (true once the seals
    /// were added to the tombstones an earlier version left bare).
    async fn tombstones_sealed(&self) -> Result<bool>;
    /// Tombstones with no seal, which only an earlier version wrote.
    async fn bare_tombstones(&self) -> Result<Vec<LedgerRow>>;
    /// Seals bare tombstones (by leaf) and notes that all are sealed now.
    async fn seal_bare_tombstones(&self, seals: &[(Vec<u8>, Vec<u8>)]) -> Result<()>;
    /// Files a report. Refuses with `Conflict("report")` if the person
    /// reported that message before.
    async fn put_report(&self, report: ReportRow) -> Result<()>;
    async fn report(&self, report_id: &str) -> Result<Option<ReportRow>>;
    /// Reports in the given states, oldest first.
    async fn reports_in(&self, states: &[&str], limit: u32) -> Result<Vec<ReportRow>>;
    /// The reports a person filed.
    async fn reports_of(&self, subject_id: &str) -> Result<Vec<ReportRow>>;
    /// Replaces a report's state and sealed content if it is still in state
    /// `from`; false if it changed meanwhile (or is gone).
    async fn update_report(&self, report: &ReportRow, from: &str) -> Result<bool>;
    /// Resolved reports whose resolution is at or before `before`.
    async fn reports_resolved_before(&self, before: u64, limit: u32) -> Result<Vec<ReportRow>>;
    /// Deletes a report if it is still resolved at or before `before`,
    /// overwriting its content on disk; false if it changed meanwhile (an
    /// appeal) or is gone.
    async fn delete_resolved_report(&self, report_id: &str, before: u64) -> Result<bool>;
    /// People after `after` in id order, for passes over the whole region.
    async fn subjects_after(&self, after: &str, limit: u32) -> Result<Vec<WrappedKey>>;
    /// How many people have a data key wrapped by each region-key version.
    async fn key_versions(&self) -> Result<Vec<(u32, u64)>>;
    /// Replaces wrapped keys, each only if the stored one is still exactly
    /// the one it was made from (`old`). Returns how many changed.
    async fn rewrap(&self, keys: &[(WrappedKey, Vec<u8>)]) -> Result<u64>;
    async fn close(&self);
}

pub struct SqliteRegionStore {
    pool: SqlitePool,
}

impl SqliteRegionStore {
    pub async fn open(path: &Path) -> Result<Self> {
        let store = Self::open_pool(path).await?;
        store.bring_up_to_date().await?;
        Ok(store)
    }

    async fn open_pool(path: &Path) -> Result<Self> {
        crate::private::prepare_private_database(path)
            .map_err(|e| StoreError::Backend(format!("cannot create {}: {e}", path.display())))?;
        let opts = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(std::time::Duration::from_secs(10))
            // Deleted rows are overwritten with zeros, so an erased person's
            // wrapped key does not linger in free pages of the file.
            .pragma("secure_delete", "ON")
            .foreign_keys(false);
        let pool = SqlitePoolOptions::new()
            // One connection: writes are rare and must not fail with
            // SQLITE_BUSY against each other.
            .max_connections(1)
            .connect_with(opts)
            .await?;
        Ok(SqliteRegionStore { pool })
    }

    /// Opens the store only to bring its schema up to date, answering the
    /// versions applied (none when it was).
    pub async fn migrate(path: &Path) -> Result<Vec<u64>> {
        let store = Self::open_pool(path).await?;
        let applied = store.bring_up_to_date().await;
        store.pool.close().await;
        applied
    }

    /// Version 1 is what every region store held before versions were
    /// counted, reached from any earlier shape by idempotent steps; later
    /// versions are `MIGRATIONS`, applied in order.
    async fn bring_up_to_date(&self) -> Result<Vec<u64>> {
        let pool = &self.pool;
        sqlx::query("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
            .execute(pool)
            .await?;
        let current: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_version")
            .fetch_one(pool)
            .await?;
        let current = current.unwrap_or(0).max(0) as u64;
        let known = 1 + MIGRATIONS.len() as u64;
        if current > known {
            return Err(StoreError::SchemaTooNew {
                found: current,
                known,
            });
        }
        let mut applied = Vec::new();
        if current == 0 {
            sqlx::raw_sql(SCHEMA).execute(pool).await?;
            let have: Vec<String> =
                sqlx::query_scalar("SELECT name FROM pragma_table_info('access_records')")
                    .fetch_all(pool)
                    .await?;
            for (column, kind) in LEDGER_COLUMNS {
                if !have.iter().any(|c| c == column) {
                    sqlx::raw_sql(&format!(
                        "ALTER TABLE access_records ADD COLUMN {column} {kind}"
                    ))
                    .execute(pool)
                    .await?;
                }
            }
            sqlx::raw_sql(LEDGER_INDEXES).execute(pool).await?;
            sqlx::query("INSERT INTO schema_version (version) VALUES (1)")
                .execute(pool)
                .await?;
            applied.push(1);
        }
        for (i, sql) in MIGRATIONS.iter().enumerate() {
            let version = i as u64 + 2;
            if version <= current {
                continue;
            }
            let mut tx = pool.begin().await?;
            sqlx::raw_sql(sql).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO schema_version (version) VALUES (?)")
                .bind(version as i64)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            applied.push(version);
        }
        Ok(applied)
    }

    /// Whether the region holds anyone; a region with people must never get
    /// a fresh key, or they would all become unreadable.
    pub async fn is_empty(&self) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM subjects")
            .fetch_one(&self.pool)
            .await?;
        Ok(n == 0)
    }

    pub(crate) async fn close(&self) {
        crate::private::checkpoint_and_close(&self.pool, "region").await;
    }
}

/// Rows bound in one multi-row statement (8 values each, well under
/// SQLite's limit on bound values).
const ROWS_PER_STATEMENT: usize = 500;

crate::delegation::region_store_by_inherent_methods!(SqliteRegionStore);
