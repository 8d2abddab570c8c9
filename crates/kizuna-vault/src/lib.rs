//! The one place where a person's personal data (name, phone, e-mail,
//! contacts, access records) enters and leaves storage: kept only in their
//! home region's store, sealed under their own data key, which that region's
//! key wraps.
//!
//! Which region holds what, and from which countries it may be reached, comes
//! from the region configuration; the data map people are shown is generated
//! from the same configuration ([`Vault::data_map`]). Every access to another
//! region goes through `border.rs`. Deleting a person's data key erases them
//! (crypto-shredding).

mod access_records;
mod border;
mod breach_scope;
mod consent;
mod data_map;
mod erasure;
mod held_entries;
mod keys;
mod moves;
mod phone;
mod records;
mod region;
mod register;
mod reports;
mod rotation;
mod seal;
mod staff;
mod stores;
mod tombstones;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use kizuna_config::{DataDir, Regions, StoreLocation};
use kizuna_store::StoreError;
use serde::{Deserialize, Serialize};

pub use access_records::LoggedAccess;
pub use border::{Access, Action, Requester};
pub use breach_scope::Affected;
pub use consent::disclosures;
pub use held_entries::{Content, HeldEntry, PendingEntry};
use keys::{KeyPlace, RegionKeys};
pub use phone::{IssuedCode, PHONE_CODE_TRIES, PHONE_CODE_TTL_MS};
use region::RegionVault;
pub use reports::{QueuedReport, ReportBody};
pub use rotation::Rotation;
pub use staff::StaffStep;
pub use stores::{init_region_keys, migrate_regions, Migrated};

/// A person's profile fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub name: String,
    pub phone: String,
    pub email: Option<String>,
}

/// The kinds of personal data a region keeps per person.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    Profile,
    Contacts,
    /// The people the person blocked.
    Blocks,
    PhoneIndex,
    AccessRecords,
    /// Abuse reports the person filed.
    Reports,
    /// Moderators' decisions about the person's messages, and appeals.
    Moderation,
    /// The person's agreements to the disclosures of the foreign countries
    /// that may reach their data, and their withdrawals.
    Consent,
}

impl Category {
    pub fn name(self) -> &'static str {
        match self {
            Category::Profile => "profile",
            Category::Contacts => "contacts",
            Category::Blocks => "blocks",
            Category::PhoneIndex => "phone_index",
            Category::AccessRecords => "access_records",
            Category::Reports => "reports",
            Category::Moderation => "moderation",
            Category::Consent => "consent",
        }
    }
}

/// The most people one person can block.
pub const MAX_BLOCKS: usize = 5000;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("the phone number must be in international form, like +819012345678")]
    InvalidPhone,
    #[error("the e-mail address is not valid")]
    InvalidEmail,
    #[error("the name must be 1 to 100 characters")]
    InvalidName,
    #[error("a contact must be a handle (3-32 lowercase letters, digits, '_' or '.'), and at most 5000 of them")]
    InvalidContacts,
    #[error("at most {MAX_BLOCKS} people can be blocked; unblock someone first")]
    TooManyBlocks,
    #[error("unknown region '{0}'")]
    UnknownRegion(String),
    #[error("region {region}'s data may not be accessed from {from}: the region configuration has no rule for it")]
    AccessDenied { region: String, from: String },
    #[error("this phone number is already registered")]
    PhoneTaken,
    #[error("the code is not the one sent to this number; check the latest message, or ask for a new code")]
    PhoneCodeWrong,
    #[error("no code sent to this number is still valid (a code lasts 10 minutes and allows 5 guesses); ask for a new one")]
    PhoneCodeNeeded,
    #[error("no personal data of this person is in region {0}")]
    NotFound(String),
    #[error("region {region}'s key: {problem}")]
    Key { region: String, problem: String },
    #[error("sealed data of a person in region {region} cannot be opened: {problem}")]
    Unsealable { region: String, problem: String },
    #[error("you already reported this message")]
    AlreadyReported,
    #[error("the copy in region {0} did not match the original; nothing was removed")]
    CopyMismatch(String),
    #[error("storage failure: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ledger(#[from] kizuna_ledger::LedgerError),
    #[error("{entry} in region {region} {what}: the region's store was altered, and nothing found by its columns can be trusted; `kizuna audit verify --data-dir DIR` names every such entry, and the store must be restored from its backup")]
    Tampered {
        region: String,
        entry: String,
        what: String,
    },
}

/// Progress of a long pass over a region, for a progress bar.
pub trait Progress {
    fn total(&self, n: u64);
    fn advance(&self, n: u64);
}

pub struct Vault {
    config: Regions,
    regions: BTreeMap<String, RegionVault>,
    /// None only when opened for an audit, which reads and changes nothing.
    ledger: Option<Arc<kizuna_ledger::Ledger>>,
    /// A person's moderation record is read, changed and written back; one
    /// writer at a time, so two decisions (or a decision and an appeal)
    /// cannot undo each other.
    notices: tokio::sync::Mutex<()>,
    /// A person's consent record is appended to the same way, one writer
    /// at a time, so an agreement and a withdrawal cannot lose each other.
    consents: tokio::sync::Mutex<()>,
}

impl Vault {
    /// Opens every region's store and loads its key. A region without a key
    /// file gets one only while it holds nobody; a region with people and no
    /// readable key refuses to open.
    /// Access records are entries of `ledger`; any a crash left half-made
    /// are settled here, after checking that the ledger holds every entry
    /// the regions numbered (a rolled-back ledger refuses to open).
    pub async fn open(
        config: Regions,
        data_dir: &DataDir,
        ledger: Arc<kizuna_ledger::Ledger>,
    ) -> Result<Vault, VaultError> {
        let key = ledger.verifying_key();
        let vault = Self::open_regions(config, data_dir, Some(ledger), key).await?;
        vault.check_ledger_holds_regions().await?;
        vault.seal_bare_tombstones().await?;
        vault.settle_pending().await?;
        Ok(vault)
    }

    /// Opens the regions to check their ledger entries, without the ledger
    /// (which an audit reads on its own, damaged or not). Nothing that
    /// needs the ledger works on a vault opened so.
    /// `ledger_key` is the ledger's public key, which signs tombstones.
    pub async fn open_for_audit(
        config: Regions,
        data_dir: &DataDir,
        ledger_key: ed25519_dalek::VerifyingKey,
    ) -> Result<Vault, VaultError> {
        Self::open_regions(config, data_dir, None, ledger_key).await
    }

    async fn open_regions(
        config: Regions,
        data_dir: &DataDir,
        ledger: Option<Arc<kizuna_ledger::Ledger>>,
        ledger_key: ed25519_dalek::VerifyingKey,
    ) -> Result<Vault, VaultError> {
        let mut regions = BTreeMap::new();
        for r in config.regions() {
            let opened = stores::open_region_store(r, data_dir).await?;
            let store = opened.store;
            let place = KeyPlace::resolve(&r.key, data_dir);
            // A region's key is made only by a node on its own, for a region
            // in its own data directory: nodes of a cluster each making one
            // would seal people under keys the others cannot open.
            let may_create =
                matches!(r.store, StoreLocation::Sqlite(_)) && config.cluster.is_none();
            let keys = match place.read(&r.id)? {
                Some(k) => k,
                None if may_create && opened.empty => {
                    let k = RegionKeys::generate();
                    place.write(&r.id, &k)?;
                    k
                }
                None if opened.empty => {
                    return Err(VaultError::Key {
                        region: r.id.clone(),
                        problem: format!(
                            "the {} is missing; a region shared by many nodes gets its key once, \
                             from `kizuna admin init-keys`, and every node is given a copy",
                            place.describe()
                        ),
                    })
                }
                None => {
                    return Err(VaultError::Key {
                        region: r.id.clone(),
                        problem: format!(
                            "its {} holds sealed data but the {} is missing; \
                             restore it from its backup (a new key would make everyone there unreadable)",
                            r.store,
                            place.describe()
                        ),
                    })
                }
            };
            regions.insert(
                r.id.clone(),
                RegionVault {
                    id: r.id.clone(),
                    tombstones: tombstones::Tombstones {
                        key: ledger_key,
                        // Until the node seals them at open, tombstones
                        // an earlier version left bare may be here.
                        bare_allowed: std::sync::atomic::AtomicBool::new(
                            !store.tombstones_sealed().await?,
                        ),
                    },
                    store,
                    keys: RwLock::new(keys),
                    place,
                },
            );
        }
        Ok(Vault {
            config,
            regions,
            ledger,
            notices: Default::default(),
            consents: Default::default(),
        })
    }

    /// The transparency ledger the access records are entries of.
    pub fn ledger(&self) -> Result<&Arc<kizuna_ledger::Ledger>, VaultError> {
        self.ledger.as_ref().ok_or_else(|| {
            VaultError::Ledger(kizuna_ledger::LedgerError::Unwritable(
                "this vault was opened for an audit only".into(),
            ))
        })
    }

    pub fn config(&self) -> &Regions {
        &self.config
    }

    /// Closes every region's store.
    pub async fn close(&self) {
        for rv in self.regions.values() {
            rv.store.close().await;
        }
    }
}

#[cfg(test)]
mod tests;
