//! The store of one region: each person's wrapped data key, their sealed
//! records, the keyed phone index and their sealed access records. Nothing
//! here is readable without the region's key, which is never stored here.

use std::path::Path;
use std::str::FromStr;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

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
    pub access: Vec<SealedAccess>,
    /// The reports the person filed.
    pub reports: Vec<ReportRow>,
}

#[async_trait]
pub trait RegionStore: Send + Sync + 'static {
    /// Writes a person's key, records, phone index entry and access records in
    /// one transaction, replacing whatever this region held of them. Refuses
    /// with `Conflict("phone")` if another person has the phone hash.
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
    async fn append_access(&self, subject_id: &str, access: SealedAccess) -> Result<()> {
        self.append_accesses(vec![(subject_id.to_string(), access)])
            .await
    }
    /// Many access records at once, in one transaction.
    async fn append_accesses(&self, accesses: Vec<(String, SealedAccess)>) -> Result<()>;
    async fn access_records(&self, subject_id: &str) -> Result<Vec<SealedAccess>>;
    /// Notes the ledger index of the record with this leaf.
    async fn set_access_index(&self, leaf: &[u8], idx: u64) -> Result<()> {
        self.set_access_indexes(&[(leaf.to_vec(), idx)]).await
    }
    /// Notes many ledger indexes at once, in one transaction.
    async fn set_access_indexes(&self, indexes: &[(Vec<u8>, u64)]) -> Result<()>;
    /// Removes a record whose ledger append failed: its access never happened.
    async fn drop_pending_access(&self, leaf: &[u8]) -> Result<()>;
    /// Records written but not yet given their ledger index.
    async fn pending_access(&self) -> Result<Vec<LedgerRow>>;
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
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Backend(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
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
        sqlx::raw_sql(SCHEMA).execute(&pool).await?;
        let have: Vec<String> =
            sqlx::query_scalar("SELECT name FROM pragma_table_info('access_records')")
                .fetch_all(&pool)
                .await?;
        for (column, kind) in LEDGER_COLUMNS {
            if !have.iter().any(|c| c == column) {
                sqlx::raw_sql(&format!(
                    "ALTER TABLE access_records ADD COLUMN {column} {kind}"
                ))
                .execute(&pool)
                .await?;
            }
        }
        sqlx::raw_sql(LEDGER_INDEXES).execute(&pool).await?;
        Ok(SqliteRegionStore { pool })
    }

    /// Whether the region holds anyone; a region with people must never get
    /// a fresh key, or they would all become unreadable.
    pub async fn is_empty(&self) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM subjects")
            .fetch_one(&self.pool)
            .await?;
        Ok(n == 0)
    }
}

fn key_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<WrappedKey> {
    Ok(WrappedKey {
        subject_id: r.try_get("subject_id")?,
        data_key_version: r.try_get::<i64, _>("data_key_version")? as u32,
        region_key_version: r.try_get::<i64, _>("region_key_version")? as u32,
        wrapped: r.try_get("wrapped_key")?,
        created_at: r.try_get::<i64, _>("created_at")? as u64,
    })
}

const REPORT_COLUMNS: &str =
    "report_id, subject_id, message_key, created_at, reason, state, resolved_at, sealed";

fn report_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<ReportRow> {
    Ok(ReportRow {
        report_id: r.try_get("report_id")?,
        subject_id: r.try_get("subject_id")?,
        message_key: r.try_get("message_key")?,
        created_at: r.try_get::<i64, _>("created_at")? as u64,
        reason: r.try_get("reason")?,
        state: r.try_get("state")?,
        resolved_at: r
            .try_get::<Option<i64>, _>("resolved_at")?
            .map(|t| t as u64),
        sealed: r.try_get("sealed")?,
    })
}

async fn insert_report(tx: &mut sqlx::SqliteConnection, r: &ReportRow) -> Result<()> {
    let done = sqlx::query(&format!(
        "INSERT INTO reports ({REPORT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
         ON CONFLICT DO NOTHING"
    ))
    .bind(&r.report_id)
    .bind(&r.subject_id)
    .bind(&r.message_key)
    .bind(r.created_at as i64)
    .bind(&r.reason)
    .bind(&r.state)
    .bind(r.resolved_at.map(|t| t as i64))
    .bind(&r.sealed)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if done == 0 {
        return Err(StoreError::Conflict("report"));
    }
    Ok(())
}

/// Rows bound in one multi-row statement (8 values each, well under
/// SQLite's limit on bound values).
const ROWS_PER_STATEMENT: usize = 500;

const ACCESS_COLUMNS: &str = "subject_id, at, sealed, leaf, idx, after, org_id, staff_id";

/// Writes access records, many rows per statement: an import of a million
/// records is then thousands of statements, not a million.
async fn insert_accesses(
    tx: &mut sqlx::SqliteConnection,
    rows: &[(&String, &SealedAccess)],
) -> Result<()> {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut q = sqlx::QueryBuilder::new(
            "INSERT INTO access_records (subject_id, at, sealed, leaf, idx, after, org_id, staff_id) ",
        );
        q.push_values(chunk, |mut b, (subject_id, a)| {
            b.push_bind(*subject_id)
                .push_bind(a.at as i64)
                .push_bind(&a.sealed)
                .push_bind(&a.leaf)
                .push_bind(a.idx.map(|i| i as i64))
                .push_bind(a.after as i64)
                .push_bind(&a.org_id)
                .push_bind(&a.staff_id);
        });
        q.build().execute(&mut *tx).await?;
    }
    Ok(())
}

fn ledger_row(r: &sqlx::sqlite::SqliteRow) -> Result<LedgerRow> {
    Ok(LedgerRow {
        subject_id: r.try_get("subject_id")?,
        access: SealedAccess {
            at: r.try_get::<i64, _>("at")? as u64,
            sealed: r.try_get("sealed")?,
            leaf: r.try_get("leaf")?,
            idx: r.try_get::<Option<i64>, _>("idx")?.map(|i| i as u64),
            after: r.try_get::<i64, _>("after")? as u64,
            org_id: r.try_get("org_id")?,
            staff_id: r.try_get("staff_id")?,
        },
    })
}

const KEY_COLUMNS: &str =
    "subject_id, data_key_version, region_key_version, wrapped_key, created_at";

#[async_trait]
impl RegionStore for SqliteRegionStore {
    async fn put_subjects(&self, subjects: Vec<SealedSubject>) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        // A chunk of people per statement: an import of a hundred thousand
        // people is then a few thousand statements.
        for chunk in subjects.chunks(ROWS_PER_STATEMENT / 4) {
            let ids: Vec<&String> = chunk.iter().map(|s| &s.key.subject_id).collect();
            let phones: Vec<(&Vec<u8>, &String)> = chunk
                .iter()
                .filter_map(|s| s.phone_hash.as_ref().map(|h| (h, &s.key.subject_id)))
                .collect();
            if !phones.is_empty() {
                let mut q = sqlx::QueryBuilder::new(
                    "SELECT phone_hash, subject_id FROM phone_index WHERE phone_hash IN (",
                );
                let mut list = q.separated(", ");
                for (h, _) in &phones {
                    list.push_bind(*h);
                }
                q.push(")");
                for row in q.build().fetch_all(&mut *tx).await? {
                    let (h, owner): (Vec<u8>, String) = (row.try_get(0)?, row.try_get(1)?);
                    if phones.iter().any(|(p, id)| **p == h && **id != owner) {
                        return Err(StoreError::Conflict("phone"));
                    }
                }
            }
            for table in [
                "subjects",
                "records",
                "phone_index",
                "access_records",
                "reports",
            ] {
                let mut q =
                    sqlx::QueryBuilder::new(format!("DELETE FROM {table} WHERE subject_id IN ("));
                let mut list = q.separated(", ");
                for id in &ids {
                    list.push_bind(*id);
                }
                q.push(")");
                q.build().execute(&mut *tx).await?;
            }
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO subjects (subject_id, data_key_version, region_key_version, wrapped_key, created_at) ",
            );
            q.push_values(chunk, |mut b, s| {
                b.push_bind(&s.key.subject_id)
                    .push_bind(s.key.data_key_version as i64)
                    .push_bind(s.key.region_key_version as i64)
                    .push_bind(&s.key.wrapped)
                    .push_bind(s.key.created_at as i64);
            });
            q.build().execute(&mut *tx).await?;
            let records: Vec<(&String, &String, &Vec<u8>)> = chunk
                .iter()
                .flat_map(|s| {
                    s.records
                        .iter()
                        .map(move |(c, r)| (&s.key.subject_id, c, r))
                })
                .collect();
            for part in records.chunks(ROWS_PER_STATEMENT) {
                let mut q =
                    sqlx::QueryBuilder::new("INSERT INTO records (subject_id, category, sealed) ");
                q.push_values(part, |mut b, (id, c, r)| {
                    b.push_bind(*id).push_bind(*c).push_bind(*r);
                });
                q.build().execute(&mut *tx).await?;
            }
            if !phones.is_empty() {
                let mut q =
                    sqlx::QueryBuilder::new("INSERT INTO phone_index (phone_hash, subject_id) ");
                q.push_values(&phones, |mut b, (h, id)| {
                    b.push_bind(*h).push_bind(*id);
                });
                q.build().execute(&mut *tx).await?;
            }
            let rows: Vec<(&String, &SealedAccess)> = chunk
                .iter()
                .flat_map(|s| s.access.iter().map(move |a| (&s.key.subject_id, a)))
                .collect();
            insert_accesses(&mut tx, &rows).await?;
            for r in chunk.iter().flat_map(|s| &s.reports) {
                insert_report(&mut tx, r).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn subject(&self, subject_id: &str) -> Result<Option<SealedSubject>> {
        let Some(key) = self.wrapped_key(subject_id).await? else {
            return Ok(None);
        };
        let records = sqlx::query(
            "SELECT category, sealed FROM records WHERE subject_id = ? ORDER BY category",
        )
        .bind(subject_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("category")?, r.try_get("sealed")?)))
        .collect::<Result<Vec<_>>>()?;
        let phone_hash: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT phone_hash FROM phone_index WHERE subject_id = ?")
                .bind(subject_id)
                .fetch_optional(&self.pool)
                .await?;
        let access = self.access_records(subject_id).await?;
        let reports = self.reports_of(subject_id).await?;
        Ok(Some(SealedSubject {
            key,
            records,
            phone_hash,
            access,
            reports,
        }))
    }

    async fn wrapped_key(&self, subject_id: &str) -> Result<Option<WrappedKey>> {
        let row = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM subjects WHERE subject_id = ?"
        ))
        .bind(subject_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn wrapped_keys(&self, subject_ids: &[String]) -> Result<Vec<WrappedKey>> {
        let mut out = Vec::with_capacity(subject_ids.len());
        for chunk in subject_ids.chunks(ROWS_PER_STATEMENT) {
            let mut q = sqlx::QueryBuilder::new(format!(
                "SELECT {KEY_COLUMNS} FROM subjects WHERE subject_id IN ("
            ));
            let mut list = q.separated(", ");
            for id in chunk {
                list.push_bind(id);
            }
            q.push(")");
            for row in q.build().fetch_all(&self.pool).await? {
                out.push(key_from_row(&row)?);
            }
        }
        Ok(out)
    }

    async fn record(&self, subject_id: &str, category: &str) -> Result<Option<Vec<u8>>> {
        Ok(
            sqlx::query_scalar("SELECT sealed FROM records WHERE subject_id = ? AND category = ?")
                .bind(subject_id)
                .bind(category)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn put_record(&self, subject_id: &str, category: &str, sealed: &[u8]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let has_key: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM subjects WHERE subject_id = ?")
                .bind(subject_id)
                .fetch_optional(&mut *tx)
                .await?;
        if has_key.is_none() {
            return Err(StoreError::NotFound("person in this region"));
        }
        sqlx::query(
            "INSERT INTO records (subject_id, category, sealed) VALUES (?, ?, ?) \
             ON CONFLICT (subject_id, category) DO UPDATE SET sealed = excluded.sealed",
        )
        .bind(subject_id)
        .bind(category)
        .bind(sealed)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn subject_by_phone_hash(&self, phone_hash: &[u8]) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT subject_id FROM phone_index WHERE phone_hash = ?")
                .bind(phone_hash)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn append_accesses(&self, accesses: Vec<(String, SealedAccess)>) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let rows: Vec<(&String, &SealedAccess)> = accesses.iter().map(|(s, a)| (s, a)).collect();
        insert_accesses(&mut tx, &rows).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn access_records(&self, subject_id: &str) -> Result<Vec<SealedAccess>> {
        sqlx::query(&format!(
            "SELECT {ACCESS_COLUMNS} FROM access_records WHERE subject_id = ? ORDER BY id"
        ))
        .bind(subject_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| Ok(ledger_row(r)?.access))
        .collect()
    }

    async fn set_access_indexes(&self, indexes: &[(Vec<u8>, u64)]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for chunk in indexes.chunks(ROWS_PER_STATEMENT) {
            let mut q = sqlx::QueryBuilder::new("WITH v(leaf, idx) AS (");
            q.push_values(chunk, |mut b, (leaf, idx)| {
                b.push_bind(leaf).push_bind(*idx as i64);
            });
            q.push(
                ") UPDATE access_records SET idx = v.idx FROM v \
                 WHERE access_records.leaf = v.leaf AND access_records.idx IS NULL",
            );
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn drop_pending_access(&self, leaf: &[u8]) -> Result<()> {
        sqlx::query("DELETE FROM access_records WHERE leaf = ? AND idx IS NULL")
            .bind(leaf)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn pending_access(&self) -> Result<Vec<LedgerRow>> {
        sqlx::query(&format!(
            "SELECT {ACCESS_COLUMNS} FROM access_records \
             WHERE leaf IS NOT NULL AND idx IS NULL ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(ledger_row)
        .collect()
    }

    async fn ledger_rows(&self, from: u64, limit: u32) -> Result<Vec<LedgerRow>> {
        sqlx::query(&format!(
            "SELECT {ACCESS_COLUMNS} FROM access_records \
             WHERE idx >= ? ORDER BY idx LIMIT ?"
        ))
        .bind(from as i64)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(ledger_row)
        .collect()
    }

    async fn accesses_by(
        &self,
        by: &AccessedBy,
        after: (u64, i64),
        limit: u32,
    ) -> Result<Vec<(i64, LedgerRow)>> {
        // One indexed column per query, walked in (time, row) order, so a
        // page costs its own rows however many came before.
        let (column, who, also) = match (&by.staff_id, &by.org_id) {
            (Some(s), org) => ("staff_id", s, org.clone()),
            (None, Some(o)) => ("org_id", o, None),
            (None, None) => return Ok(Vec::new()),
        };
        let time = |t: u64| t.min(i64::MAX as u64) as i64;
        sqlx::query(&format!(
            "SELECT id, {ACCESS_COLUMNS} FROM access_records \
             WHERE {column} = ? AND (at, id) > (?, ?) AND at <= ? \
             AND (? IS NULL OR org_id = ?) \
             ORDER BY at, id LIMIT ?"
        ))
        .bind(who)
        .bind(time(after.0.max(by.from)))
        .bind(if after.0 < by.from { -1 } else { after.1 })
        .bind(time(by.to))
        .bind(&also)
        .bind(&also)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| Ok((r.try_get::<i64, _>("id")?, ledger_row(r)?)))
        .collect()
    }

    async fn erase_subject(&self, subject_id: &str, keep_ledger: bool) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let mut any = false;
        let access = if keep_ledger {
            "DELETE FROM access_records WHERE subject_id = ? AND leaf IS NULL"
        } else {
            "DELETE FROM access_records WHERE subject_id = ?"
        };
        for sql in [
            "DELETE FROM subjects WHERE subject_id = ?",
            "DELETE FROM records WHERE subject_id = ?",
            "DELETE FROM phone_index WHERE subject_id = ?",
            "DELETE FROM reports WHERE subject_id = ?",
            access,
        ] {
            any |= sqlx::query(sql)
                .bind(subject_id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                > 0;
        }
        if keep_ledger {
            any |= sqlx::query(
                "UPDATE access_records SET sealed = X'', subject_id = ? WHERE subject_id = ?",
            )
            .bind(ERASED)
            .bind(subject_id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                > 0;
        }
        tx.commit().await?;
        // Copy the zeroed pages into the file and empty the WAL now, so the
        // old key does not wait in an earlier frame of it.
        crate::truncate_wal(&self.pool).await?;
        Ok(any)
    }

    async fn put_report(&self, r: ReportRow) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        insert_report(&mut tx, &r).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn report(&self, report_id: &str) -> Result<Option<ReportRow>> {
        sqlx::query(&format!(
            "SELECT {REPORT_COLUMNS} FROM reports WHERE report_id = ?"
        ))
        .bind(report_id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(report_from_row)
        .transpose()
    }

    async fn reports_in(&self, states: &[&str], limit: u32) -> Result<Vec<ReportRow>> {
        let mut qb: sqlx::QueryBuilder<sqlx::Sqlite> = sqlx::QueryBuilder::new(format!(
            "SELECT {REPORT_COLUMNS} FROM reports WHERE state IN ("
        ));
        let mut sep = qb.separated(", ");
        for s in states {
            sep.push_bind(*s);
        }
        qb.push(") ORDER BY created_at LIMIT ")
            .push_bind(limit as i64);
        qb.build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(report_from_row)
            .collect()
    }

    async fn reports_of(&self, subject_id: &str) -> Result<Vec<ReportRow>> {
        sqlx::query(&format!(
            "SELECT {REPORT_COLUMNS} FROM reports WHERE subject_id = ? ORDER BY created_at"
        ))
        .bind(subject_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(report_from_row)
        .collect()
    }

    async fn update_report(&self, r: &ReportRow, from: &str) -> Result<bool> {
        Ok(sqlx::query(
            "UPDATE reports SET state = ?, resolved_at = ?, sealed = ? \
             WHERE report_id = ? AND state = ?",
        )
        .bind(&r.state)
        .bind(r.resolved_at.map(|t| t as i64))
        .bind(&r.sealed)
        .bind(&r.report_id)
        .bind(from)
        .execute(&self.pool)
        .await?
        .rows_affected()
            > 0)
    }

    async fn reports_resolved_before(&self, before: u64, limit: u32) -> Result<Vec<ReportRow>> {
        sqlx::query(&format!(
            "SELECT {REPORT_COLUMNS} FROM reports WHERE state = 'resolved' AND resolved_at <= ? \
             ORDER BY resolved_at LIMIT ?"
        ))
        .bind(before as i64)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(report_from_row)
        .collect()
    }

    async fn delete_resolved_report(&self, report_id: &str, before: u64) -> Result<bool> {
        let gone = sqlx::query(
            "DELETE FROM reports WHERE report_id = ? AND state = 'resolved' AND resolved_at <= ?",
        )
        .bind(report_id)
        .bind(before as i64)
        .execute(&self.pool)
        .await?
        .rows_affected()
            > 0;
        // What was deleted leaves no frame behind in the WAL either.
        crate::truncate_wal(&self.pool).await?;
        Ok(gone)
    }

    async fn subjects_after(&self, after: &str, limit: u32) -> Result<Vec<WrappedKey>> {
        sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM subjects WHERE subject_id > ? ORDER BY subject_id LIMIT ?"
        ))
        .bind(after)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(key_from_row)
        .collect()
    }

    async fn key_versions(&self) -> Result<Vec<(u32, u64)>> {
        sqlx::query(
            "SELECT region_key_version, COUNT(*) AS n FROM subjects \
             GROUP BY region_key_version ORDER BY region_key_version",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get::<i64, _>("region_key_version")? as u32,
                r.try_get::<i64, _>("n")? as u64,
            ))
        })
        .collect()
    }

    async fn rewrap(&self, keys: &[(WrappedKey, Vec<u8>)]) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        let mut changed = 0;
        for (k, old) in keys {
            // Compared by content: a key replaced meanwhile (a move retried,
            // say) is never overwritten by one made from its predecessor.
            changed += sqlx::query(
                "UPDATE subjects SET wrapped_key = ?, region_key_version = ? \
                 WHERE subject_id = ? AND wrapped_key = ?",
            )
            .bind(&k.wrapped)
            .bind(k.region_key_version as i64)
            .bind(&k.subject_id)
            .bind(old)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(changed)
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
