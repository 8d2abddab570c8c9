//! Databases made for one test and dropped after it, on the PostgreSQL the
//! tests are given (`KIZUNA_TEST_POSTGRES`, by default the local server's
//! `test` database). A test that cannot reach it fails, saying so: it never
//! passes without having run.

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};

use super::PgLocation;

/// The server tests create their databases on, as a URL of a database that
/// exists there.
pub fn server_url() -> String {
    std::env::var("KIZUNA_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A database that exists for as long as this value does.
pub struct ScratchDatabase {
    name: String,
    location: PgLocation,
    admin: PgConnectOptions,
}

impl ScratchDatabase {
    /// Creates a fresh, empty database named after `label`, or panics with
    /// what to do when the server cannot be reached.
    pub async fn create(label: &str) -> ScratchDatabase {
        let admin: PgConnectOptions = server_url()
            .parse()
            .expect("KIZUNA_TEST_POSTGRES is not a PostgreSQL URL");
        let mut conn = PgConnection::connect_with(&admin)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "these tests need PostgreSQL at {} (set KIZUNA_TEST_POSTGRES, or run \
                 scripts/services-up): {e}",
                    server_url()
                )
            });
        let suffix: u64 = {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0),
            );
            h.finish()
        };
        let clean: String = label
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .take(30)
            .collect();
        let name = format!("kz_{clean}_{suffix:016x}");
        sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("cannot create the test database {name}: {e}"));
        let _ = conn.close().await;
        let o = admin.clone().database(&name);
        let url = format!(
            "postgres://{}@{}:{}/{name}",
            o.get_username(),
            o.get_host(),
            o.get_port()
        );
        ScratchDatabase {
            name,
            location: PgLocation::new(url),
            admin,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn location(&self) -> &PgLocation {
        &self.location
    }

    pub fn url(&self) -> &str {
        &self.location.url
    }
}

impl Drop for ScratchDatabase {
    /// Drops the database, closing whatever still uses it. A runtime of its
    /// own on its own thread: `drop` cannot wait on the test's runtime.
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async move {
                let mut conn = PgConnection::connect_with(&admin).await.ok()?;
                sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut conn)
                    .await
                    .ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("the test database {} was left behind", self.name);
        }
    }
}
