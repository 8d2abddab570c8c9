//! The node store on PostgreSQL, shared by every node of a deployment.
//!
//! Nothing that another node may change is cached here: each write
//! transaction reads what it decides on under the row locks of what it
//! changes. Locks are always taken in one order: group rows (sorted by
//! group id), then the rows of the devices involved, then the log position
//! counter, last, held until commit so that log positions become visible
//! in the order they were handed out.

mod accounts;
mod agreements;
mod batch;
mod blocks;
mod devices;
mod files;
mod follows;
mod groups;
mod inbox;
mod key_log;
mod key_packages;
mod links;
mod release;
mod sanctions;
mod schema;
mod submit;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use sqlx::PgPool;

use super::{connect, PgLocation};
use crate::*;
pub(crate) use schema::NODE;

/// Connections each node keeps to the node database.
const POOL_SIZE: u32 = 8;

/// What this node's acknowledgements may have made releasable, for the
/// next release pass. Every acknowledgement goes through some node, which
/// releases what it made releasable; a node that starts looks at everything.
#[derive(Default)]
struct Releasable {
    /// Devices that acknowledged through this node since its last release.
    acked: Mutex<HashSet<String>>,
    /// Whether the next release looks at every group.
    all: AtomicBool,
}

impl Releasable {
    fn note_acked<'a>(&self, devices: impl IntoIterator<Item = &'a str>) {
        if let Ok(mut acked) = self.acked.lock() {
            acked.extend(devices.into_iter().map(str::to_string));
        } else {
            self.all.store(true, Ordering::Relaxed);
        }
    }

    fn release_everything(&self) {
        self.all.store(true, Ordering::Relaxed);
    }

    fn take(&self) -> (bool, Vec<String>) {
        let all = self.all.swap(false, Ordering::Relaxed);
        let devices = match self.acked.lock() {
            Ok(mut acked) => acked.drain().collect(),
            Err(_) => Vec::new(),
        };
        (all, devices)
    }
}

pub struct PgStore {
    pool: PgPool,
    releasable: Arc<Releasable>,
}

impl PgStore {
    /// Brings the node database at `at` to the schema this Kizuna knows;
    /// answers the versions it applied (none when it was up to date).
    pub async fn migrate(at: &PgLocation) -> Result<Vec<u64>> {
        let pool = connect(at, 1).await?;
        let applied = NODE.migrate(&pool).await;
        pool.close().await;
        applied
    }

    /// Connects to the node database at `at`, which must be at exactly the
    /// schema this Kizuna knows (see [`PgStore::migrate`]).
    pub async fn open(at: &PgLocation) -> Result<PgStore> {
        let pool = connect(at, POOL_SIZE).await?;
        if let Err(e) = NODE.check(&pool, at).await {
            pool.close().await;
            return Err(e);
        }
        let releasable = Arc::new(Releasable {
            all: AtomicBool::new(true),
            ..Releasable::default()
        });
        tokio::spawn(release::housekeeping(pool.clone(), releasable.clone()));
        Ok(PgStore { pool, releasable })
    }

    /// A PostgreSQL node store never kept profiles: none to move.
    pub(crate) async fn legacy_profiles(&self, _limit: u32) -> Result<Vec<LegacyProfile>> {
        Ok(Vec::new())
    }

    pub(crate) async fn drop_legacy_profile(&self, _account_id: &str) -> Result<()> {
        Ok(())
    }

    /// Not counted here: PostgreSQL's own statistics say what its
    /// commits wait for.
    pub(crate) fn write_stats(&self) -> Option<std::sync::Arc<crate::WriteStats>> {
        None
    }

    pub(crate) async fn close(&self) {
        if let Err(e) = self.release_delivered().await {
            tracing::warn!(error = %e, "releasing delivered messages on close failed");
        }
        self.pool.close().await;
    }

    #[cfg(test)]
    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }
}

crate::delegation::store_by_inherent_methods!(PgStore);
