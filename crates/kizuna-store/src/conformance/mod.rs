//! One behavioural suite for every `Store`: each test body takes a store
//! behind the trait, and `conformance!` runs it on SQLite (a fresh file)
//! and on PostgreSQL (a fresh database, migrated). What only one backend
//! has (SQLite's upgrades from old layouts, PostgreSQL's many nodes) is
//! tested beside that backend.

mod accounts;
mod delivery;
mod files;
mod moderation;

use std::ops::Deref;
use std::sync::Arc;

use crate::postgres::scratch::ScratchDatabase;
use crate::*;

/// Runs each named test body once per backend.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(crate::conformance::Subject::sqlite(stringify!($name)).await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(crate::conformance::Subject::postgres(stringify!($name)).await).await;
                }
            )*
        }
    };
}
pub(crate) use conformance;

enum Backend {
    Sqlite(Arc<SqliteStore>),
    /// The database goes once the store is dropped.
    Postgres {
        store: Arc<PgStore>,
        _db: Box<ScratchDatabase>,
    },
}

/// A store under test, with what the tests look at beneath the trait.
pub(crate) struct Subject {
    store: Arc<dyn Store>,
    backend: Backend,
}

impl Deref for Subject {
    type Target = dyn Store;
    fn deref(&self) -> &Self::Target {
        &*self.store
    }
}

pub(crate) fn temp_db(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "kizuna-store-{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("node.sqlite")
}

impl Subject {
    pub(crate) async fn sqlite(name: &str) -> Subject {
        let store = Arc::new(SqliteStore::open(&temp_db(name)).await.unwrap());
        Subject {
            store: store.clone(),
            backend: Backend::Sqlite(store),
        }
    }

    pub(crate) async fn postgres(name: &str) -> Subject {
        let db = ScratchDatabase::create(name).await;
        PgStore::migrate(db.location()).await.unwrap();
        let store = Arc::new(PgStore::open(db.location()).await.unwrap());
        Subject {
            store: store.clone(),
            backend: Backend::Postgres {
                store,
                _db: Box::new(db),
            },
        }
    }

    /// The one number `sql` answers.
    pub(crate) async fn count(&self, sql: &str) -> i64 {
        match &self.backend {
            Backend::Sqlite(s) => sqlx::query_scalar(sql).fetch_one(s.pool()).await.unwrap(),
            Backend::Postgres { store: s, .. } => {
                sqlx::query_scalar(sql).fetch_one(s.pool()).await.unwrap()
            }
        }
    }

    /// Releases what no device waits for any more, as housekeeping does.
    pub(crate) async fn release(&self) -> u64 {
        match &self.backend {
            Backend::Sqlite(s) => s.release_delivered().await.unwrap(),
            Backend::Postgres { store: s, .. } => s.release_delivered().await.unwrap(),
        }
    }
}

pub(crate) fn new_account(n: &str) -> NewAccount {
    NewAccount {
        account: Account {
            account_id: format!("acct-{n}"),
            handle: n.into(),
            region: "jp".into(),
            created_at: 0,
        },
        device: Device {
            device_id: n.into(),
            account_id: format!("acct-{n}"),
            handle: n.into(),
            signature_key: n.as_bytes().to_vec(),
            label: String::new(),
        },
    }
}

/// An account named `n` with one device named `n`.
pub(crate) async fn add_device(store: &Subject, n: &str) {
    add_device_to(&**store, n).await;
}

pub(crate) async fn add_device_to(store: &dyn Store, n: &str) {
    store.create_account(new_account(n)).await.unwrap();
}

pub(crate) fn app(group: &[u8], sender: &str, epoch: u64, text: &str) -> Submission {
    Submission::Application {
        group_id: group.to_vec(),
        sender_device: sender.into(),
        epoch,
        payload: text.as_bytes().to_vec(),
        server_time: 0,
        franking: None,
        client_id: None,
    }
}

pub(crate) fn commit(
    group: &[u8],
    sender: &str,
    epoch: u64,
    add: &[&str],
    remove: &[&str],
) -> Submission {
    Submission::Commit {
        group_id: group.to_vec(),
        sender_device: sender.into(),
        epoch,
        commit: b"commit".to_vec(),
        welcome: (!add.is_empty()).then(|| b"welcome".to_vec()),
        added: add.iter().map(|d| d.to_string()).collect(),
        removed: remove.iter().map(|d| d.to_string()).collect(),
        server_time: 0,
        max_members: 10,
        state: Vec::new(),
    }
}

pub(crate) async fn texts(store: &Subject, device: &str) -> Vec<(MessageKind, String)> {
    store
        .inbox(device, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.kind, String::from_utf8(e.payload).unwrap()))
        .collect()
}
