//! Each region's store, where the configuration places it: a SQLite file in
//! the data directory, or a PostgreSQL database of the region's own. A node
//! opens exactly the regions its configuration names, and nothing else.

use std::sync::Arc;

use kizuna_config::{DataDir, Region, Regions, StoreLocation};
use kizuna_store::postgres::PgLocation;
use kizuna_store::{PgRegionStore, RegionStore, SqliteRegionStore};

use crate::keys::{KeyPlace, RegionKeys};
use crate::VaultError;

pub(crate) struct OpenedRegion {
    pub store: Arc<dyn RegionStore>,
    /// Whether it holds nobody: only then may a missing key be made.
    pub empty: bool,
}

fn location(db: &kizuna_config::PostgresDatabase) -> Result<PgLocation, VaultError> {
    Ok(PgLocation::with_password_from(
        &db.url,
        db.password_env.as_deref(),
    )?)
}

pub(crate) async fn open_region_store(
    r: &Region,
    data_dir: &DataDir,
) -> Result<OpenedRegion, VaultError> {
    match &r.store {
        StoreLocation::Sqlite(p) => {
            let store = SqliteRegionStore::open(&data_dir.resolve(p)).await?;
            let empty = store.is_empty().await?;
            Ok(OpenedRegion {
                store: Arc::new(store),
                empty,
            })
        }
        StoreLocation::Postgres(db) => {
            let store = PgRegionStore::open(&location(db)?).await?;
            let empty = store.is_empty().await?;
            Ok(OpenedRegion {
                store: Arc::new(store),
                empty,
            })
        }
    }
}

/// One store brought to the schema this Kizuna knows.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Migrated {
    /// `node` or `region <id>`.
    pub store: String,
    /// Where it is, as may be shown (no password).
    pub location: String,
    /// The schema versions applied now; empty when it was up to date.
    pub applied: Vec<u64>,
}

/// Brings every region's store to the schema this Kizuna knows. Safe to run
/// from any node, while others serve, and again after a crash.
pub async fn migrate_regions(
    config: &Regions,
    data_dir: &DataDir,
) -> Result<Vec<Migrated>, VaultError> {
    let mut out = Vec::new();
    for r in config.regions() {
        let (location, applied) = match &r.store {
            StoreLocation::Sqlite(p) => {
                let path = data_dir.resolve(p);
                let applied = SqliteRegionStore::migrate(&path).await?;
                (path.display().to_string(), applied)
            }
            StoreLocation::Postgres(db) => {
                let at = location(db)?;
                (at.shown(), PgRegionStore::migrate(&at).await?)
            }
        };
        out.push(Migrated {
            store: format!("region {}", r.id),
            location,
            applied,
        });
    }
    Ok(out)
}

/// Makes the key of every region that has none and holds nobody, and
/// answers the regions given one. A region that holds people and has no key
/// is refused: a new key would make them all unreadable.
pub async fn init_region_keys(
    config: &Regions,
    data_dir: &DataDir,
) -> Result<Vec<String>, VaultError> {
    // Every region is checked before any key is written: a refusal
    // leaves everything as it was.
    let mut missing = Vec::new();
    for r in config.regions() {
        let place = KeyPlace::resolve(&r.key, data_dir);
        if place.read(&r.id)?.is_some() {
            continue;
        }
        let opened = open_region_store(r, data_dir).await?;
        let empty = opened.empty;
        opened.store.close().await;
        if !empty {
            return Err(VaultError::Key {
                region: r.id.clone(),
                problem: format!(
                    "its {} holds sealed data but the {} is missing; restore it from its backup",
                    r.store,
                    place.describe()
                ),
            });
        }
        missing.push((r.id.clone(), place));
    }
    let mut made = Vec::new();
    for (region, place) in missing {
        place.write(&region, &RegionKeys::generate())?;
        made.push(region);
    }
    Ok(made)
}
