//! The staff realm's own store: organisations, staff members, sessions and
//! the staff-only events. Nothing here is shared with the user realm.
//! This file opens it and keeps its schema and the migrations older stores
//! need; the operations on each kind of row are in the files beside it.

mod events;
mod grants;
mod members;
mod oversight;
mod private;
mod sessions;

use std::path::Path;
use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use crate::StaffError;

pub(crate) use events::LoggedEvent;
pub use events::{Event, EventKind};
pub use members::StoredMember;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS orgs (
    org_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    country TEXT NOT NULL,
    networks TEXT NOT NULL,
    scope TEXT NOT NULL,
    suspended_at BIGINT
);
CREATE TABLE IF NOT EXISTS staff (
    staff_id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    roles TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    totp_secret TEXT NOT NULL,
    suspended_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    staff_id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    source TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ended_at BIGINT
);
CREATE INDEX IF NOT EXISTS sessions_by_org ON sessions (org_id);
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    staff_id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS reviews (
    grant_id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    completed SMALLINT NOT NULL
);
CREATE TABLE IF NOT EXISTS grants (
    grant_id TEXT PRIMARY KEY,
    staff_id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    state TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS grants_by_staff ON grants (staff_id);
CREATE INDEX IF NOT EXISTS grants_by_org ON grants (org_id);
-- Append-only: every step of the staff realm, in the form the transparency
-- ledger will hash.
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    staff_id TEXT,
    org_id TEXT,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_staff ON events (staff_id, at);
CREATE INDEX IF NOT EXISTS events_by_staff_kind ON events (staff_id, kind, at);
"#;

/// Events became ledger entries: each keeps the exact bytes hashed into the
/// ledger, its leaf, and its index once appended.
const LEDGER_COLUMNS: [(&str, &str); 4] = [
    ("entry", "BLOB"),
    ("leaf", "BLOB"),
    ("idx", "BIGINT"),
    ("after", "BIGINT NOT NULL DEFAULT 0"),
];

/// Append-only, except that an event being appended to the ledger gets its
/// index once, and one the ledger refused is taken back.
const EVENT_TRIGGERS: &str = r#"
DROP TRIGGER IF EXISTS events_append_only_update;
DROP TRIGGER IF EXISTS events_append_only_delete;
CREATE UNIQUE INDEX IF NOT EXISTS events_by_leaf ON events (leaf);
CREATE INDEX IF NOT EXISTS events_by_idx ON events (idx);
CREATE TRIGGER IF NOT EXISTS events_only_indexed BEFORE UPDATE ON events
WHEN OLD.idx IS NOT NULL OR NEW.idx IS NULL
  OR NEW.at IS NOT OLD.at OR NEW.kind IS NOT OLD.kind
  OR NEW.staff_id IS NOT OLD.staff_id OR NEW.org_id IS NOT OLD.org_id
  OR NEW.detail IS NOT OLD.detail OR NEW.entry IS NOT OLD.entry
  OR NEW.leaf IS NOT OLD.leaf OR NEW.after IS NOT OLD.after
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_only_unlogged_deleted BEFORE DELETE ON events
WHEN OLD.idx IS NOT NULL OR OLD.leaf IS NULL
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
"#;

pub struct StaffStore {
    pool: SqlitePool,
}

fn json<T: serde::Serialize>(v: &T) -> Result<String, StaffError> {
    serde_json::to_string(v).map_err(|e| StaffError::Storage(e.to_string()))
}

fn parse<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, StaffError> {
    serde_json::from_str(s).map_err(|e| StaffError::Storage(format!("corrupt row: {e}")))
}

impl From<sqlx::Error> for StaffError {
    fn from(e: sqlx::Error) -> Self {
        StaffError::Storage(e.to_string())
    }
}

impl StaffStore {
    pub async fn open(path: &Path) -> Result<StaffStore, StaffError> {
        private::prepare_private_database(path)
            .map_err(|e| StaffError::Storage(format!("cannot create {}: {e}", path.display())))?;
        let opts = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(std::time::Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts)
            .await?;
        sqlx::raw_sql(SCHEMA).execute(&pool).await?;
        let have: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info('events')")
            .fetch_all(&pool)
            .await?;
        for (column, kind) in LEDGER_COLUMNS {
            if !have.iter().any(|c| c == column) {
                sqlx::raw_sql(&format!("ALTER TABLE events ADD COLUMN {column} {kind}"))
                    .execute(&pool)
                    .await?;
            }
        }
        sqlx::raw_sql(EVENT_TRIGGERS).execute(&pool).await?;
        // The last TOTP time step each member logged in with, so no code
        // opens a second session; a store from before has none yet.
        let staff_columns: Vec<String> =
            sqlx::query_scalar("SELECT name FROM pragma_table_info('staff')")
                .fetch_all(&pool)
                .await?;
        if !staff_columns.iter().any(|c| c == "last_totp_step") {
            sqlx::raw_sql("ALTER TABLE staff ADD COLUMN last_totp_step BIGINT")
                .execute(&pool)
                .await?;
        }
        // Who read whom last, kept beside the events so the anomaly check
        // costs the same on the ten-thousandth read of an hour as on the
        // first; filled from the events when a store first gains it.
        let fresh: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) = 0 FROM sqlite_master WHERE name = 'recent_reads'",
        )
        .fetch_one(&pool)
        .await?;
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS recent_reads (staff_id TEXT NOT NULL, subject TEXT NOT NULL, \
             last_at BIGINT NOT NULL, PRIMARY KEY (staff_id, subject)) WITHOUT ROWID; \
             CREATE INDEX IF NOT EXISTS recent_reads_by_time ON recent_reads (staff_id, last_at);",
        )
        .execute(&pool)
        .await?;
        if fresh == 1 {
            sqlx::query(
                "INSERT OR REPLACE INTO recent_reads (staff_id, subject, last_at) \
                 SELECT staff_id, json_extract(detail, '$.subject'), MAX(at) FROM events \
                 WHERE kind = 'read' AND staff_id IS NOT NULL \
                 AND json_extract(detail, '$.subject') IS NOT NULL GROUP BY 1, 2",
            )
            .execute(&pool)
            .await?;
        }
        Ok(StaffStore { pool })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}
