//! The node's stores and keys, where the configuration places them: the
//! embedded SQLite of a node on its own, or the PostgreSQL databases a
//! cluster's nodes share.

use std::sync::Arc;

use kizuna_config::{DataDir, NodeKey, Regions};
use kizuna_staff::StaffStoreAt;
use kizuna_store::postgres::PgLocation;
use kizuna_store::{PgStore, SqliteStore, Store};
use kizuna_vault::Migrated;

use crate::OpenError;

/// Where the node store is, as a PostgreSQL location; none for the embedded one.
pub(crate) fn node_location(regions: &Regions) -> Result<Option<PgLocation>, OpenError> {
    match &regions.node_store {
        None => Ok(None),
        Some(db) => Ok(Some(PgLocation::with_password_from(
            &db.url,
            db.password_env.as_deref(),
        )?)),
    }
}

/// Where the staff realm's store is: a file in the data directory of a node
/// on its own; for a cluster, the `kizuna_staff` schema of the node
/// database, so that every node checks the same sessions and sees the same
/// suspensions at once.
pub fn staff_location(dir: &DataDir, regions: &Regions) -> Result<StaffStoreAt, OpenError> {
    Ok(match node_location(regions)? {
        None => StaffStoreAt::File(dir.staff_store()),
        Some(at) => StaffStoreAt::Postgres {
            url: at.url,
            password: at.password,
        },
    })
}

/// The transparency ledger as this node keeps it: its own, or its mirror of
/// the one a cluster's nodes share.
pub async fn open_node_ledger(
    dir: &DataDir,
    regions: &Regions,
) -> Result<Arc<kizuna_ledger::Ledger>, OpenError> {
    match node_location(regions)? {
        Some(at) => crate::shared_ledger::open_shared_ledger(dir, regions, &at).await,
        None => crate::open_ledger(dir, regions),
    }
}

/// Opens the node store. A shared one must already be at this Kizuna's
/// schema (`kizuna admin migrate`); the embedded one is brought there.
pub async fn open_node_store(
    dir: &DataDir,
    regions: &Regions,
) -> Result<Arc<dyn Store>, OpenError> {
    Ok(match node_location(regions)? {
        None => Arc::new(SqliteStore::open(&dir.node_store()).await?),
        Some(at) => Arc::new(PgStore::open(&at).await?),
    })
}

/// One of the node's keys. A node on its own makes a missing one; the nodes
/// of a cluster must all hold the same keys (a token one node signed is
/// checked by another), so there a missing key is refused.
pub fn node_key(dir: &DataDir, regions: &Regions, key: NodeKey) -> Result<[u8; 32], OpenError> {
    if regions.cluster.is_none() {
        return Ok(dir.key(key)?);
    }
    let path = dir.key_path(key);
    if !path.exists() {
        return Err(OpenError::ClusterKeyMissing { path });
    }
    Ok(dir.existing_key(key)?)
}

/// Brings the node store and every region's store to the schema this Kizuna
/// knows. Safe to run while nodes serve (they read nothing a migration
/// half-made: each version commits whole) and to run again after a crash.
pub async fn migrate(dir: &DataDir, regions: &Regions) -> Result<Vec<Migrated>, OpenError> {
    let node = match node_location(regions)? {
        None => Migrated {
            store: "node".into(),
            location: dir.node_store().display().to_string(),
            applied: SqliteStore::migrate_file(&dir.node_store()).await?,
        },
        Some(at) => Migrated {
            store: "node".into(),
            location: at.shown(),
            applied: PgStore::migrate(&at).await?,
        },
    };
    let mut out = vec![node];
    if let at @ StaffStoreAt::Postgres { .. } = staff_location(dir, regions)? {
        out.push(Migrated {
            store: "staff".into(),
            location: at.shown(),
            applied: kizuna_staff::StaffRealm::migrate(&at).await?,
        });
    }
    out.extend(kizuna_vault::migrate_regions(regions, dir).await?);
    Ok(out)
}

/// Makes every missing key: the node's own, then each region's that holds
/// nobody yet. Answers the files made. A cluster runs it once and gives
/// every node a copy of the data directory's `keys/`.
pub async fn init_keys(dir: &DataDir, regions: &Regions) -> Result<Vec<String>, OpenError> {
    dir.keep_private()?;
    // The regions first: they are what can refuse, and a refusal makes
    // nothing.
    let regions_made = kizuna_vault::init_region_keys(regions, dir).await?;
    let mut made = Vec::new();
    for key in NodeKey::ALL {
        let path = dir.key_path(key);
        if !path.exists() {
            dir.key(key)?;
            made.push(path.display().to_string());
        }
    }
    for region in regions_made {
        made.push(format!("the key of region {region}"));
    }
    Ok(made)
}
