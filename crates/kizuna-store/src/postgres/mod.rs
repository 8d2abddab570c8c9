//! The stores on PostgreSQL, for a deployment of many nodes: the node store
//! in one database and each region in its own (which may be a server in
//! another country). Every node connects to the same databases; what one
//! node writes, the others read, and PostgreSQL's row locks decide between
//! nodes that write at once.
//!
//! A database is brought to the schema this Kizuna knows by `migrate`
//! (`kizuna admin migrate`), under an advisory lock so that two nodes or
//! two operators never migrate at once; opening a store only checks the
//! version, so a node never changes a schema that other nodes are using.

mod ledger;
mod node;
mod region;
pub mod scratch;

pub use ledger::{LedgerLeaf, PgLedgerLog};
pub use node::PgStore;
pub use region::PgRegionStore;

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::{Result, StoreError};

/// Where a PostgreSQL database is and how to sign in to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgLocation {
    /// A `postgres://` URL without the password.
    pub url: String,
    /// The password, from the environment variable the configuration names.
    pub password: Option<String>,
}

impl PgLocation {
    pub fn new(url: impl Into<String>) -> PgLocation {
        PgLocation {
            url: url.into(),
            password: None,
        }
    }

    /// The database at `url`, with the password from the environment
    /// variable `password_env` names, if any.
    pub fn with_password_from(url: &str, password_env: Option<&str>) -> Result<PgLocation> {
        let password = match password_env {
            None => None,
            Some(var) => Some(std::env::var(var).map_err(|_| {
                StoreError::Backend(format!(
                    "the password of {url} is to come from the environment variable {var}, which is not set"
                ))
            })?),
        };
        Ok(PgLocation {
            url: url.to_string(),
            password,
        })
    }

    /// The URL as it may be shown: any password in it replaced.
    pub fn shown(&self) -> String {
        match self.url.parse::<PgConnectOptions>() {
            Ok(o) => format!(
                "postgres://{}@{}:{}/{}",
                o.get_username(),
                o.get_host(),
                o.get_port(),
                o.get_database().unwrap_or("")
            ),
            Err(_) => "(an unreadable postgres URL)".into(),
        }
    }

    pub(crate) fn options(&self) -> Result<PgConnectOptions> {
        let mut o: PgConnectOptions = self.url.parse().map_err(|e| {
            StoreError::Backend(format!("{} is not a PostgreSQL URL: {e}", self.shown()))
        })?;
        if let Some(p) = &self.password {
            o = o.password(p);
        }
        Ok(o)
    }
}

/// Opens a pool to the database, with a message naming it if it cannot be
/// reached.
pub(crate) async fn connect(at: &PgLocation, max_connections: u32) -> Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(at.options()?)
        .await
        .map_err(|e| {
            StoreError::Backend(format!(
                "cannot reach the PostgreSQL database {}: {e}",
                at.shown()
            ))
        })
}

/// An advisory lock's key for `name`: the same on every node, different
/// between names.
pub(crate) fn advisory_key(name: &str) -> i64 {
    let mut key: i64 = 0x4b5a_0000_0000;
    for b in name.bytes() {
        key = key.wrapping_mul(31).wrapping_add(b as i64);
    }
    key
}

/// One database's schema: its name (in messages and in the advisory lock's
/// key) and its versions, applied in order.
pub(crate) struct Schema {
    pub name: &'static str,
    pub migrations: &'static [&'static str],
}

impl Schema {
    /// The advisory lock's key: the same for every node migrating this kind
    /// of database, different between kinds.
    fn lock_key(&self) -> i64 {
        advisory_key(self.name)
    }

    /// The version the database is at (0 for an empty one).
    pub(crate) async fn version(&self, pool: &PgPool) -> Result<u64> {
        let exists: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM information_schema.tables
             WHERE table_schema = current_schema() AND table_name = 'schema_version')",
        )
        .fetch_one(pool)
        .await?;
        if !exists {
            return Ok(0);
        }
        let v: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_version")
            .fetch_one(pool)
            .await?;
        Ok(v.unwrap_or(0).max(0) as u64)
    }

    /// Refuses a database whose schema is not exactly the one this Kizuna
    /// knows: a newer one could be misread, an older one lacks what this
    /// version writes.
    pub(crate) async fn check(&self, pool: &PgPool, at: &PgLocation) -> Result<()> {
        let found = self.version(pool).await?;
        let known = self.migrations.len() as u64;
        if found > known {
            return Err(StoreError::SchemaTooNew { found, known });
        }
        if found < known {
            return Err(StoreError::SchemaOutdated {
                database: at.shown(),
                found,
                known,
            });
        }
        Ok(())
    }

    /// Brings the database to the newest version, each version in its own
    /// transaction, under an advisory lock held on one connection. Safe to
    /// run again, from any node, at any time: it answers the versions it
    /// applied (none when up to date).
    pub(crate) async fn migrate(&self, pool: &PgPool) -> Result<Vec<u64>> {
        let mut conn = pool.acquire().await?;
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(self.lock_key())
            .execute(&mut *conn)
            .await?;
        let outcome = self.migrate_locked(&mut conn).await;
        // Released even when a migration failed, so that a retry can run.
        let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(self.lock_key())
            .execute(&mut *conn)
            .await;
        let applied = outcome?;
        unlocked?;
        Ok(applied)
    }

    async fn migrate_locked(&self, conn: &mut sqlx::PgConnection) -> Result<Vec<u64>> {
        sqlx::query("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
            .execute(&mut *conn)
            .await?;
        let current: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_version")
            .fetch_one(&mut *conn)
            .await?;
        let current = current.unwrap_or(0).max(0) as u64;
        let known = self.migrations.len() as u64;
        if current > known {
            return Err(StoreError::SchemaTooNew {
                found: current,
                known,
            });
        }
        let mut applied = Vec::new();
        for (i, sql) in self.migrations.iter().enumerate().skip(current as usize) {
            let version = i as u64 + 1;
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            sqlx::raw_sql(sql).execute(&mut *tx).await.map_err(|e| {
                StoreError::Backend(format!(
                    "migrating the {} schema to version {version} failed: {e}",
                    self.name
                ))
            })?;
            sqlx::query("INSERT INTO schema_version (version) VALUES ($1)")
                .bind(version as i64)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            applied.push(version);
        }
        Ok(applied)
    }
}
