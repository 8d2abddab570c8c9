//! The staff realm's own store: organisations, staff members, sessions and
//! the staff-only events. Nothing here is shared with the user realm.
//! This file opens it — an embedded SQLite file, or the `kizuna_staff`
//! schema of the PostgreSQL database a cluster's nodes share — and keeps
//! both schemas and their migrations; the operations on each kind of row
//! are in the files beside it, one SQL text for both backends wherever
//! the two dialects agree.

mod events;
mod grants;
mod members;
mod official;
mod oversight;
mod private;
mod schema;
mod sessions;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

use crate::StaffError;
use schema::{EVENT_TRIGGERS, LEDGER_COLUMNS, PG_VERSIONS, SCHEMA};

pub(crate) use events::LoggedEvent;
pub use events::{Event, EventKind};
pub use members::StoredMember;

/// The PostgreSQL schema (namespace) that holds the staff realm's tables,
/// apart from the node's in the same database.
const PG_NAMESPACE: &str = "kizuna_staff";

/// The advisory lock every node takes to migrate the shared staff store,
/// so two migrations never interleave.
const PG_MIGRATION_LOCK: i64 = 0x004b_5a53_5441_4646;

/// Where the staff realm's store is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StaffStoreAt {
    /// A node on its own: one SQLite file in its data directory, its
    /// owner's alone.
    File(PathBuf),
    /// A cluster: the `kizuna_staff` schema of the PostgreSQL database its
    /// nodes share, so a session opened on one node is checked, and a
    /// suspension seen, on every other.
    Postgres {
        /// A `postgres://` URL without the password.
        url: String,
        password: Option<String>,
    },
}

impl From<&Path> for StaffStoreAt {
    fn from(p: &Path) -> Self {
        StaffStoreAt::File(p.to_path_buf())
    }
}

impl From<&PathBuf> for StaffStoreAt {
    fn from(p: &PathBuf) -> Self {
        StaffStoreAt::File(p.clone())
    }
}

impl From<PathBuf> for StaffStoreAt {
    fn from(p: PathBuf) -> Self {
        StaffStoreAt::File(p)
    }
}

impl StaffStoreAt {
    /// Where it is, as it may be shown: never with a password.
    pub fn shown(&self) -> String {
        match self {
            StaffStoreAt::File(p) => p.display().to_string(),
            StaffStoreAt::Postgres { url, .. } => {
                match url.parse::<sqlx::postgres::PgConnectOptions>() {
                    Ok(o) => format!(
                        "postgres://{}@{}:{}/{} (schema {PG_NAMESPACE})",
                        o.get_username(),
                        o.get_host(),
                        o.get_port(),
                        o.get_database().unwrap_or("")
                    ),
                    Err(_) => "(an unreadable postgres URL)".into(),
                }
            }
        }
    }
}

/// Which SQL dialect the store speaks, for the few statements the two
/// backends spell differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

pub struct StaffStore {
    pool: AnyPool,
    dialect: Dialect,
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

/// A path as the path of a `sqlite://` URL: every byte that is not plainly
/// safe in one is escaped, so any file name opens the file it names.
fn sqlite_url(path: &Path) -> String {
    let mut url = String::from("sqlite://");
    for b in path.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"/._-~".contains(&b) {
            url.push(b as char);
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

impl StaffStore {
    /// Opens the store. The embedded one is made or brought to this
    /// version's schema; a shared one must already be at it (`kizuna admin
    /// migrate`), for nodes of two versions may be serving from it.
    pub async fn open(at: &StaffStoreAt) -> Result<StaffStore, StaffError> {
        sqlx::any::install_default_drivers();
        match at {
            StaffStoreAt::File(path) => Self::open_file(path).await,
            StaffStoreAt::Postgres { .. } => {
                let store = Self::connect_postgres(at).await?;
                let found = store.pg_version().await?;
                let known = PG_VERSIONS.len() as u64;
                if found > known {
                    return Err(StaffError::Schema(format!(
                        "the staff store at {} is at schema version {found}, newer than the {known} this Kizuna knows: run a newer Kizuna",
                        at.shown()
                    )));
                }
                if found < known {
                    return Err(StaffError::Schema(format!(
                        "the staff store at {} is at schema version {found}, this Kizuna needs {known}: run `kizuna admin migrate` first",
                        at.shown()
                    )));
                }
                Ok(store)
            }
        }
    }

    /// Brings a shared store to this version's schema under an advisory
    /// lock, each version in its own transaction; safe to run while nodes
    /// serve and to run again. Answers the versions applied. An embedded
    /// store is brought there whenever it is opened, so it answers none.
    pub async fn migrate(at: &StaffStoreAt) -> Result<Vec<u64>, StaffError> {
        sqlx::any::install_default_drivers();
        if let StaffStoreAt::File(path) = at {
            Self::open_file(path).await?.close().await;
            return Ok(Vec::new());
        }
        let store = Self::connect_postgres(at).await?;
        let mut conn = store.pool.acquire().await?;
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(PG_MIGRATION_LOCK)
            .execute(&mut *conn)
            .await?;
        let outcome = Self::migrate_locked(&mut conn).await;
        // Released even when a version failed, so a retry can run.
        let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(PG_MIGRATION_LOCK)
            .execute(&mut *conn)
            .await;
        drop(conn);
        store.close().await;
        let applied = outcome?;
        unlocked?;
        Ok(applied)
    }

    async fn migrate_locked(conn: &mut sqlx::AnyConnection) -> Result<Vec<u64>, StaffError> {
        conn.execute(
            format!(
                "CREATE SCHEMA IF NOT EXISTS {PG_NAMESPACE}; \
                 CREATE TABLE IF NOT EXISTS {PG_NAMESPACE}.schema_version (version BIGINT NOT NULL)"
            )
            .as_str(),
        )
        .await?;
        let current: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT MAX(version) FROM {PG_NAMESPACE}.schema_version"
        ))
        .fetch_one(&mut *conn)
        .await?;
        let current = current.unwrap_or(0).max(0) as u64;
        let known = PG_VERSIONS.len() as u64;
        if current > known {
            return Err(StaffError::Schema(format!(
                "the staff store is at schema version {current}, newer than the {known} this Kizuna knows: run a newer Kizuna"
            )));
        }
        let mut applied = Vec::new();
        for (i, sql) in PG_VERSIONS.iter().enumerate().skip(current as usize) {
            let version = i as u64 + 1;
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            tx.execute(*sql).await.map_err(|e| {
                StaffError::Schema(format!(
                    "migrating the staff store to version {version} failed: {e}"
                ))
            })?;
            sqlx::query(&format!(
                "INSERT INTO {PG_NAMESPACE}.schema_version (version) VALUES ($1)"
            ))
            .bind(version as i64)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            applied.push(version);
        }
        Ok(applied)
    }

    /// A pool on the shared database whose every connection finds the
    /// staff realm's tables first.
    async fn connect_postgres(at: &StaffStoreAt) -> Result<StaffStore, StaffError> {
        let StaffStoreAt::Postgres { url, password } = at else {
            return Err(StaffError::Storage("not a PostgreSQL location".into()));
        };
        let mut opts = AnyConnectOptions::from_str(url).map_err(|e| {
            StaffError::Storage(format!("{} is not a PostgreSQL URL: {e}", at.shown()))
        })?;
        if let Some(p) = password {
            opts.database_url.set_password(Some(p)).map_err(|()| {
                StaffError::Storage(format!("{} cannot carry a password", at.shown()))
            })?;
        }
        let pool = AnyPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute(format!("SET search_path TO {PG_NAMESPACE}").as_str())
                        .await?;
                    Ok(())
                })
            })
            .connect_with(opts)
            .await
            .map_err(|e| {
                StaffError::Storage(format!(
                    "cannot reach the staff store at {}: {e}",
                    at.shown()
                ))
            })?;
        Ok(StaffStore {
            pool,
            dialect: Dialect::Postgres,
        })
    }

    async fn pg_version(&self) -> Result<u64, StaffError> {
        let exists: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM information_schema.tables \
             WHERE table_schema = $1 AND table_name = 'schema_version'",
        )
        .bind(PG_NAMESPACE)
        .fetch_one(&self.pool)
        .await?;
        if exists == 0 {
            return Ok(0);
        }
        let v: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_version")
            .fetch_one(&self.pool)
            .await?;
        Ok(v.unwrap_or(0).max(0) as u64)
    }

    async fn open_file(path: &Path) -> Result<StaffStore, StaffError> {
        private::prepare_private_database(path)
            .map_err(|e| StaffError::Storage(format!("cannot create {}: {e}", path.display())))?;
        let opts = AnyConnectOptions::from_str(&format!("{}?mode=rwc", sqlite_url(path)))?;
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                         PRAGMA busy_timeout = 10000;",
                    )
                    .await?;
                    Ok(())
                })
            })
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
        Ok(StaffStore {
            pool,
            dialect: Dialect::Sqlite,
        })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}
