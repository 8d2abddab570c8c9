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

mod border;
mod keys;
mod ledger;
mod reports;
mod seal;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use hmac::{Hmac, Mac};
use kizuna_config::{DataDir, Regions};
use kizuna_store::{RegionStore, SealedSubject, SqliteRegionStore, StoreError, WrappedKey};
use kizuna_wire::{
    AccessCountry, BlockList, Contacts, DataCategory, DataMap, ForeignDisclosure, TransferRecord,
};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

pub use border::{Access, Action, Requester};
use keys::{KeyPlace, RegionKeys};
use ledger::OpenedAccess;
pub use ledger::{Affected, Content, HeldEntry, LoggedAccess};
pub use reports::{QueuedReport, ReportBody};
use seal::{DataKey, KeyBinding, RecordBinding};

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
}

impl RegionVault {
    /// Opens one record of a person in this region, if there is one; the
    /// caller has reached the region (and recorded why).
    async fn open_record<T: serde::de::DeserializeOwned>(
        &self,
        subject: &str,
        category: Category,
    ) -> Result<Option<T>, VaultError> {
        let (key, dkv) = self.data_key(subject).await?;
        let Some(sealed) = self.store.record(subject, category.name()).await? else {
            return Ok(None);
        };
        let pt = self.open_category(&key, subject, dkv, category.name(), &sealed)?;
        serde_json::from_slice(&pt)
            .map(Some)
            .map_err(|e| self.unsealable(e.to_string()))
    }

    /// Seals `value` as a person's record of `category` here, replacing the
    /// one before; the caller has reached the region (and recorded why).
    async fn put_sealed<T: Serialize>(
        &self,
        subject: &str,
        category: Category,
        value: &T,
    ) -> Result<(), VaultError> {
        let (key, dkv) = self.data_key(subject).await?;
        let pt = serde_json::to_vec(value).map_err(|e| self.unsealable(e.to_string()))?;
        let sealed = self.seal_category(&key, subject, dkv, category.name(), &pt)?;
        self.store
            .put_record(subject, category.name(), &sealed)
            .await?;
        Ok(())
    }
}

/// A person's first write: their profile and phone index, in their region.
fn first_write<'a>(subject: &'a str, region: &'a str, requester: &'a Requester) -> Access<'a> {
    Access {
        subject,
        region,
        action: Action::Write,
        categories: &[Category::Profile, Category::PhoneIndex],
        requester,
    }
}

/// One region's store and keys. Only `border.rs` hands one out.
pub(crate) struct RegionVault {
    id: String,
    store: Arc<dyn RegionStore>,
    keys: RwLock<RegionKeys>,
    place: KeyPlace,
}

impl RegionVault {
    fn keys(&self) -> RegionKeys {
        match self.keys.read() {
            Ok(k) => k.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn unsealable(&self, problem: impl Into<String>) -> VaultError {
        VaultError::Unsealable {
            region: self.id.clone(),
            problem: problem.into(),
        }
    }

    fn phone_hash(&self, phone: &str) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.keys().index)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(b"kizuna-phone-v1\0");
        mac.update(self.id.as_bytes());
        mac.update(b"\0");
        mac.update(phone.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    fn wrap_new(
        &self,
        subject: &str,
        data_key_version: u32,
        key: &DataKey,
    ) -> Result<WrappedKey, VaultError> {
        let keys = self.keys();
        let (v, rk) = keys.current();
        let wrapped = seal::wrap(
            rk,
            &KeyBinding {
                subject,
                region: &self.id,
                region_key_version: v,
                data_key_version,
            },
            key,
        )
        .map_err(|_| self.unsealable("a data key could not be wrapped"))?;
        Ok(WrappedKey {
            subject_id: subject.to_string(),
            data_key_version,
            region_key_version: v,
            wrapped,
            created_at: kizuna_wire::now_ms(),
        })
    }

    fn unwrap_key(&self, w: &WrappedKey) -> Result<DataKey, VaultError> {
        let keys = self.keys();
        let rk = keys.versions.get(&w.region_key_version).ok_or_else(|| {
            self.unsealable(format!(
                "region key version {} is not in the {}",
                w.region_key_version,
                self.place.describe()
            ))
        })?;
        seal::unwrap(
            rk,
            &KeyBinding {
                subject: &w.subject_id,
                region: &self.id,
                region_key_version: w.region_key_version,
                data_key_version: w.data_key_version,
            },
            &w.wrapped,
        )
        .ok_or_else(|| {
            self.unsealable(format!(
                "the data key does not open with the {}: is it the right key?",
                self.place.describe()
            ))
        })
    }

    /// Adds to `keys` the data keys of those of `subjects` it lacks, fetched
    /// together: a pass over many people's records costs one query per
    /// few hundred people, not one each.
    async fn data_keys(
        &self,
        keys: &mut std::collections::HashMap<String, (DataKey, u32)>,
        subjects: impl Iterator<Item = &String>,
    ) -> Result<(), VaultError> {
        let mut missing: Vec<String> = subjects
            .filter(|s| !keys.contains_key(*s))
            .cloned()
            .collect();
        missing.sort();
        missing.dedup();
        if missing.is_empty() {
            return Ok(());
        }
        for w in self.store.wrapped_keys(&missing).await? {
            let k = self.unwrap_key(&w)?;
            keys.insert(w.subject_id.clone(), (k, w.data_key_version));
        }
        Ok(())
    }

    async fn data_key(&self, subject: &str) -> Result<(DataKey, u32), VaultError> {
        let w = self
            .store
            .wrapped_key(subject)
            .await?
            .ok_or_else(|| VaultError::NotFound(self.id.clone()))?;
        Ok((self.unwrap_key(&w)?, w.data_key_version))
    }

    fn seal_category(
        &self,
        key: &DataKey,
        subject: &str,
        dkv: u32,
        c: &str,
        pt: &[u8],
    ) -> Result<Vec<u8>, VaultError> {
        seal::seal_record(
            key,
            &RecordBinding {
                subject,
                region: &self.id,
                data_key_version: dkv,
                category: c,
            },
            pt,
        )
        .map_err(|_| self.unsealable(format!("the {c} record could not be sealed")))
    }

    fn open_category(
        &self,
        key: &DataKey,
        subject: &str,
        dkv: u32,
        c: &str,
        sealed: &[u8],
    ) -> Result<Vec<u8>, VaultError> {
        seal::open_record(
            key,
            &RecordBinding {
                subject,
                region: &self.id,
                data_key_version: dkv,
                category: c,
            },
            sealed,
        )
        .ok_or_else(|| self.unsealable(format!("the {c} record fails authentication")))
    }

    /// Everything of a person here, opened.
    async fn open_subject(&self, subject: &str) -> Result<OpenedSubject, VaultError> {
        let s = self
            .store
            .subject(subject)
            .await?
            .ok_or_else(|| VaultError::NotFound(self.id.clone()))?;
        let key = self.unwrap_key(&s.key)?;
        let dkv = s.key.data_key_version;
        let mut records = BTreeMap::new();
        for (c, sealed) in &s.records {
            records.insert(
                c.clone(),
                self.open_category(&key, subject, dkv, c, sealed)?,
            );
        }
        let access = s
            .access
            .iter()
            .map(|a| self.open_access(&key, subject, dkv, a))
            .collect::<Result<Vec<_>, _>>()?;
        let reports = s
            .reports
            .iter()
            .map(|r| {
                let body = self.open_report_with(r, &key, dkv)?;
                // Sealed bytes differ with every seal; a copy is compared
                // by what it holds.
                let row = kizuna_store::ReportRow {
                    sealed: Vec::new(),
                    ..r.clone()
                };
                Ok((row, body))
            })
            .collect::<Result<Vec<_>, VaultError>>()?;
        Ok(OpenedSubject {
            data_key_version: dkv,
            records,
            access,
            reports,
        })
    }

    /// Seals an opened person anew for this region under a fresh data key.
    fn seal_subject(
        &self,
        subject: &str,
        o: &OpenedSubject,
        phone: Option<&str>,
    ) -> Result<SealedSubject, VaultError> {
        let key = DataKey::generate();
        let dkv = o.data_key_version;
        let records = o
            .records
            .iter()
            .map(|(c, pt)| Ok((c.clone(), self.seal_category(&key, subject, dkv, c, pt)?)))
            .collect::<Result<Vec<_>, VaultError>>()?;
        let access = o
            .access
            .iter()
            .map(|a| self.seal_access(&key, subject, dkv, a))
            .collect::<Result<Vec<_>, VaultError>>()?;
        let reports = o
            .reports
            .iter()
            .map(|(row, body)| self.resealed(row, body, &key, dkv))
            .collect::<Result<Vec<_>, VaultError>>()?;
        Ok(SealedSubject {
            key: self.wrap_new(subject, dkv, &key)?,
            records,
            phone_hash: phone.map(|p| self.phone_hash(p)),
            access,
            reports,
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
struct OpenedSubject {
    data_key_version: u32,
    records: BTreeMap<String, Vec<u8>>,
    access: Vec<OpenedAccess>,
    /// Each report as stored (its sealed bytes aside) and opened.
    reports: Vec<(kizuna_store::ReportRow, ReportBody)>,
}

/// One step of the staff realm about a person, as they are told of it.
pub struct StaffStep<'a> {
    /// `grant_requested`, `grant_approved`, `read`, ...
    pub step: &'a str,
    pub fields: &'a [String],
    /// Where the staff member works.
    pub from_country: &'a str,
    /// The basis, or why it was refused.
    pub outcome: Result<&'a str, &'a str>,
}

/// Progress of a long pass over a region, for a progress bar.
pub trait Progress {
    fn total(&self, n: u64);
    fn advance(&self, n: u64);
}

/// What `rotate_key` did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rotation {
    pub new_version: u32,
    pub rewrapped: u64,
    pub retired_versions: Vec<u32>,
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
}

impl Vault {
    /// Opens every region's store and loads its key. A region without a key
    /// file gets one only while it holds nobody; a region with people and no
    /// readable key refuses to open.
    /// Access records are entries of `ledger`; any a crash left half-made
    /// are settled here.
    pub async fn open(
        config: Regions,
        data_dir: &DataDir,
        ledger: Arc<kizuna_ledger::Ledger>,
    ) -> Result<Vault, VaultError> {
        let vault = Self::open_regions(config, data_dir, Some(ledger)).await?;
        vault.settle_pending().await?;
        Ok(vault)
    }

    /// Opens the regions to check their ledger entries, without the ledger
    /// (which an audit reads on its own, damaged or not). Nothing that
    /// needs the ledger works on a vault opened so.
    pub async fn open_for_audit(config: Regions, data_dir: &DataDir) -> Result<Vault, VaultError> {
        Self::open_regions(config, data_dir, None).await
    }

    async fn open_regions(
        config: Regions,
        data_dir: &DataDir,
        ledger: Option<Arc<kizuna_ledger::Ledger>>,
    ) -> Result<Vault, VaultError> {
        let mut regions = BTreeMap::new();
        for r in config.regions() {
            let path = r.store_path(data_dir);
            let store = SqliteRegionStore::open(&path).await?;
            let place = KeyPlace::resolve(&r.key, data_dir);
            let keys = match place.read(&r.id)? {
                Some(k) => k,
                None if store.is_empty().await? => {
                    let k = RegionKeys::generate();
                    place.write(&r.id, &k)?;
                    k
                }
                None => {
                    return Err(VaultError::Key {
                        region: r.id.clone(),
                        problem: format!(
                            "its store {} holds sealed data but the {} is missing; \
                             restore it from its backup (a new key would make everyone there unreadable)",
                            path.display(),
                            place.describe()
                        ),
                    })
                }
            };
            regions.insert(
                r.id.clone(),
                RegionVault {
                    id: r.id.clone(),
                    store: Arc::new(store),
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

    /// Creates a person in their home region: a fresh data key, the sealed
    /// profile, the keyed phone hash, and (for a foreign region) the record
    /// of this first transfer, in one transaction.
    pub async fn register(
        &self,
        subject: &str,
        region: &str,
        profile: &Profile,
        requester: &Requester,
    ) -> Result<(), VaultError> {
        let profile = checked(profile)?;
        // Refused before anything is looked up, if the border refuses.
        self.decide(&first_write(subject, region, requester))?;
        match self.find_phone(&profile.phone).await? {
            // Registering the same person again (a retry) changes nothing.
            Some((r, s)) if s == subject && r == region => return Ok(()),
            Some(_) => return Err(VaultError::PhoneTaken),
            None => {}
        }
        self.register_many(region, &[(subject.to_string(), profile)], requester)
            .await
    }

    /// Registers many new people in `region` in one transaction: the bulk
    /// form of [`Vault::register`], for imports from a system of record
    /// whose phone numbers are already unique. A phone already held in the
    /// region refuses the whole batch.
    pub async fn register_many(
        &self,
        region: &str,
        people: &[(String, Profile)],
        requester: &Requester,
    ) -> Result<(), VaultError> {
        let mut sealed = Vec::with_capacity(people.len());
        let mut rv = None;
        for (subject, profile) in people {
            let profile = checked(profile)?;
            let reached = self.decide(&first_write(subject, region, requester))?;
            let r = reached.region;
            let pt = serde_json::to_vec(&profile).map_err(|e| r.unsealable(e.to_string()))?;
            let access = reached
                .transfer
                .map(|t| self.new_access(subject, t, requester))
                .transpose()?;
            let opened = OpenedSubject {
                data_key_version: 1,
                records: BTreeMap::from([(Category::Profile.name().to_string(), pt)]),
                access: access.into_iter().collect(),
                reports: Vec::new(),
            };
            sealed.push(r.seal_subject(subject, &opened, Some(&profile.phone))?);
            rv = Some(r);
        }
        let Some(rv) = rv else { return Ok(()) };
        let unlogged: Vec<Vec<u8>> = sealed.iter().flat_map(Self::unlogged).collect();
        match rv.store.put_subjects(sealed).await {
            Err(StoreError::Conflict("phone")) => return Err(VaultError::PhoneTaken),
            r => r?,
        }
        if let Err(e) = self.log(rv, &unlogged).await {
            for (subject, _) in people {
                rv.store.erase_subject(subject, false).await?;
            }
            return Err(e);
        }
        Ok(())
    }

    /// Who holds this phone number in the regions this node may reach: the
    /// region, the person and when their data key was made. Lets the caller
    /// recognise what a registration interrupted before its account existed
    /// left behind.
    pub async fn phone_owner(
        &self,
        phone: &str,
    ) -> Result<Option<(String, String, u64)>, VaultError> {
        let phone = normalise_phone(phone)?;
        let Some((region, subject)) = self.find_phone(&phone).await? else {
            return Ok(None);
        };
        let created = self
            .maintained(&region)?
            .store
            .wrapped_key(&subject)
            .await?
            .map_or(0, |k| k.created_at);
        Ok(Some((region, subject, created)))
    }

    /// Undoes a registration whose account could not be created.
    pub async fn forget_unregistered(&self, subject: &str, region: &str) -> Result<(), VaultError> {
        self.maintained(region)?
            .store
            .erase_subject(subject, true)
            .await?;
        Ok(())
    }

    /// Reaches a person's region for `category` and opens that record, if
    /// there is one.
    async fn read_record<T: serde::de::DeserializeOwned>(
        &self,
        subject: &str,
        region: &str,
        category: Category,
        requester: &Requester,
    ) -> Result<Option<T>, VaultError> {
        let rv = self
            .reach(&Access {
                subject,
                region,
                action: Action::Read,
                categories: &[category],
                requester,
            })
            .await?;
        rv.open_record(subject, category).await
    }

    pub async fn profile(
        &self,
        subject: &str,
        region: &str,
        requester: &Requester,
    ) -> Result<Profile, VaultError> {
        self.read_record(subject, region, Category::Profile, requester)
            .await?
            .ok_or_else(|| VaultError::NotFound(region.to_string()))
    }

    pub async fn contacts(
        &self,
        subject: &str,
        region: &str,
        requester: &Requester,
    ) -> Result<Contacts, VaultError> {
        Ok(self
            .read_record(subject, region, Category::Contacts, requester)
            .await?
            .unwrap_or_default())
    }

    pub async fn set_contacts(
        &self,
        subject: &str,
        region: &str,
        contacts: &Contacts,
        requester: &Requester,
    ) -> Result<(), VaultError> {
        if contacts.handles.len() > 5000
            || !contacts
                .handles
                .iter()
                .all(|h| kizuna_wire::valid_handle(h))
        {
            return Err(VaultError::InvalidContacts);
        }
        let rv = self
            .reach(&Access {
                subject,
                region,
                action: Action::Write,
                categories: &[Category::Contacts],
                requester,
            })
            .await?;
        rv.put_sealed(subject, Category::Contacts, contacts).await
    }

    pub async fn blocks(
        &self,
        subject: &str,
        region: &str,
        requester: &Requester,
    ) -> Result<BlockList, VaultError> {
        Ok(self
            .read_record(subject, region, Category::Blocks, requester)
            .await?
            .unwrap_or_default())
    }

    pub async fn set_blocks(
        &self,
        subject: &str,
        region: &str,
        blocks: &BlockList,
        requester: &Requester,
    ) -> Result<(), VaultError> {
        if blocks.blocked.len() > MAX_BLOCKS {
            return Err(VaultError::TooManyBlocks);
        }
        let rv = self
            .reach(&Access {
                subject,
                region,
                action: Action::Write,
                categories: &[Category::Blocks],
                requester,
            })
            .await?;
        rv.put_sealed(subject, Category::Blocks, blocks).await
    }

    /// A staff member's read under a grant, already decided by policy: the
    /// access is sealed into the person's access records first (whatever
    /// the region), naming the fields the grant lets the staff member see,
    /// then the profile and, if granted, the contacts are opened.
    pub async fn governed_read(
        &self,
        subject: &str,
        region: &str,
        from_country: &str,
        fields: &[String],
        requester: &Requester,
    ) -> Result<(Profile, Option<Contacts>), VaultError> {
        let with_contacts = fields.iter().any(|f| f == "contacts");
        let mut categories = vec![Category::Profile];
        if with_contacts {
            categories.push(Category::Contacts);
        }
        let rv = self
            .reach_governed(
                &Access {
                    subject,
                    region,
                    action: Action::Read,
                    categories: &categories,
                    requester,
                },
                fields,
                from_country,
            )
            .await?;
        let profile = rv
            .open_record(subject, Category::Profile)
            .await?
            .ok_or_else(|| VaultError::NotFound(region.to_string()))?;
        let contacts = if with_contacts {
            Some(
                rv.open_record(subject, Category::Contacts)
                    .await?
                    .unwrap_or_default(),
            )
        } else {
            None
        };
        Ok((profile, contacts))
    }

    /// A staff access already decided by policy: sealed into the person's
    /// access records first (whatever the region), naming what the staff
    /// member is shown; then the region is handed out. Across a border the
    /// one record says so in its basis; a border that refuses is recorded
    /// and refused.
    pub(crate) async fn reach_governed(
        &self,
        access: &Access<'_>,
        shown: &[String],
        from_country: &str,
    ) -> Result<&RegionVault, VaultError> {
        // One read, one record: across a border it says so in its basis,
        // rather than adding a transfer record of its own.
        let reached = match self.decide(access) {
            Ok(r) => r,
            // The border refuses: recorded as such, and refused.
            Err(VaultError::AccessDenied { .. }) => {
                self.reach(access).await?;
                return Err(VaultError::AccessDenied {
                    region: access.region.to_string(),
                    from: self.config.node_region().country.clone(),
                });
            }
            Err(e) => return Err(e),
        };
        let grant = "a grant approved by a second person, allowed by the access policy";
        let record = TransferRecord {
            at: kizuna_wire::now_ms(),
            action: "read".into(),
            // What the staff member sees, which is what a breach of their
            // credentials would have exposed.
            categories: shown.to_vec(),
            region: access.region.to_string(),
            to_country: from_country.to_string(),
            basis: Some(match &reached.transfer {
                Some(t) => format!(
                    "{grant}; across the border on: {}",
                    t.basis.as_deref().unwrap_or("-")
                ),
                None => grant.to_string(),
            }),
            requester: access.requester.describe(),
            allowed: true,
            refusal: None,
        };
        let rv = reached.region;
        self.record(rv, access.subject, &record, access.requester)
            .await?;
        Ok(rv)
    }

    /// A staff access the policy refused, recorded for the person it was
    /// about.
    pub async fn record_refused_access(
        &self,
        subject: &str,
        region: &str,
        from_country: &str,
        refusal: &str,
        requester: &Requester,
    ) -> Result<(), VaultError> {
        self.record_staff_step(
            subject,
            region,
            &StaffStep {
                step: "read",
                fields: &[Category::Profile.name().to_string()],
                from_country,
                outcome: Err(refusal),
            },
            requester,
        )
        .await
    }

    /// A step of the staff realm about a person (a grant requested,
    /// approved, denied or revoked, or refused), sealed into their own
    /// access records so they see who asked for what, from where, and what
    /// became of it.
    pub async fn record_staff_step(
        &self,
        subject: &str,
        region: &str,
        step: &StaffStep<'_>,
        requester: &Requester,
    ) -> Result<(), VaultError> {
        let rv = self.maintained(region)?;
        let record = TransferRecord {
            at: kizuna_wire::now_ms(),
            action: step.step.to_string(),
            categories: step.fields.to_vec(),
            region: region.to_string(),
            to_country: step.from_country.to_string(),
            basis: step.outcome.ok().map(str::to_string),
            requester: requester.describe(),
            allowed: step.outcome.is_ok(),
            refusal: step.outcome.err().map(str::to_string),
        };
        self.record(rv, subject, &record, requester).await
    }

    /// Who has this phone number, in any region this node may reach. A match
    /// in a foreign region is a transfer, recorded for the person found.
    pub async fn lookup_phone(&self, phone: &str) -> Result<Option<String>, VaultError> {
        let phone = normalise_phone(phone)?;
        let Some((region, subject)) = self.find_phone(&phone).await? else {
            return Ok(None);
        };
        self.reach(&Access {
            subject: &subject,
            region: &region,
            action: Action::Lookup,
            categories: &[Category::PhoneIndex],
            requester: &Requester::PhoneLookup,
        })
        .await?;
        Ok(Some(subject))
    }

    async fn find_phone(&self, phone: &str) -> Result<Option<(String, String)>, VaultError> {
        for (id, rv) in &self.regions {
            // Regions this node may not reach are not searched at all.
            if self.border_rule(id).is_err() {
                continue;
            }
            if let Some(s) = rv
                .store
                .subject_by_phone_hash(&rv.phone_hash(phone))
                .await?
            {
                return Ok(Some((id.clone(), s)));
            }
        }
        Ok(None)
    }

    /// A person's access records, opened, with their places in the ledger.
    pub async fn accesses(
        &self,
        subject: &str,
        region: &str,
        requester: &Requester,
    ) -> Result<Vec<LoggedAccess>, VaultError> {
        let rv = self
            .reach(&Access {
                subject,
                region,
                action: Action::Read,
                categories: &[Category::AccessRecords],
                requester,
            })
            .await?;
        let (key, dkv) = rv.data_key(subject).await?;
        rv.store
            .access_records(subject)
            .await?
            .iter()
            .map(|a| {
                rv.open_access(&key, subject, dkv, a).map(|o| LoggedAccess {
                    record: o.record,
                    index: o.idx,
                    entry: o.entry,
                })
            })
            .collect()
    }

    /// Each category of a person's data, where it is stored and from where
    /// it may be reached, from the configuration, with the transfers that
    /// happened.
    pub async fn data_map(
        &self,
        subject: &str,
        region: &str,
        requester: &Requester,
    ) -> Result<DataMap, VaultError> {
        let transfers: Vec<TransferRecord> = self
            .accesses(subject, region, requester)
            .await?
            .into_iter()
            .map(|a| a.record)
            .collect();
        let home = self
            .config
            .region(region)
            .ok_or_else(|| VaultError::UnknownRegion(region.to_string()))?;
        let node = self.config.node_region();
        let from = |r: &kizuna_config::Region| -> Vec<AccessCountry> {
            r.access_from
                .iter()
                .map(|a| AccessCountry {
                    country: a.country.clone(),
                    why: a.why.clone(),
                    disclosure: a.disclosure.as_ref().map(|d| ForeignDisclosure {
                        country_name: d.country_name.clone(),
                        protection_system: d.protection_system.clone(),
                        recipient_measures: d.recipient_measures.clone(),
                        transfer_basis: d.transfer_basis.clone(),
                    }),
                })
                .collect()
        };
        let sealed = format!(
            "encrypted with your own data key, which region {}'s key wraps; that key is kept outside every database",
            home.id
        );
        let at_home = |category: &str, fields: &[&str], protection: &str| DataCategory {
            category: category.into(),
            fields: fields.iter().map(|f| f.to_string()).collect(),
            region: home.id.clone(),
            region_name: home.name.clone(),
            country: home.country.clone(),
            protection: protection.into(),
            accessible_from: from(home),
        };
        let at_node = |category: &str, fields: &[&str], protection: &str| DataCategory {
            category: category.into(),
            fields: fields.iter().map(|f| f.to_string()).collect(),
            region: node.id.clone(),
            region_name: node.name.clone(),
            country: node.country.clone(),
            protection: protection.into(),
            accessible_from: from(node),
        };
        Ok(DataMap {
            home_region: home.id.clone(),
            home_region_name: home.name.clone(),
            home_country: home.country.clone(),
            node_region: node.id.clone(),
            node_country: node.country.clone(),
            categories: vec![
                at_home("profile", &["name", "phone", "email"], &sealed),
                at_home("contacts", &["handles"], &sealed),
                at_home("blocks", &["the people you blocked, and since when"], &sealed),
                at_node(
                    "block_hashes",
                    &["a keyed hash of each pair (you, someone you blocked)"],
                    "keyed hashes (HMAC-SHA-256) with the node's secret, so the node can refuse what a blocked person sends you; no handle or account is stored with them",
                ),
                at_home(
                    "phone_index",
                    &["keyed hash of your phone number"],
                    "a keyed hash (HMAC-SHA-256) with the region's secret; the number itself is not stored",
                ),
                at_home("access_records", &["transfers of your data"], &sealed),
                at_home(
                    "reports",
                    &["abuse reports you filed: the messages you revealed, reason, note, outcome"],
                    &sealed,
                ),
                at_home(
                    "moderation",
                    &["decisions about your reported messages, and your appeals"],
                    &sealed,
                ),
                at_node(
                    "account",
                    &["handle", "device ids", "device public keys", "MLS key packages"],
                    "not encrypted at rest: needed to route messages; holds no name, phone or e-mail",
                ),
                at_node(
                    "messages_in_transit",
                    &["MLS ciphertext waiting for your devices"],
                    "end-to-end encrypted: the service has no key that opens it; deleted once every recipient device has it",
                ),
            ],
            transfers,
            reports: self
                .region_vault(region)?
                .store
                .reports_of(subject)
                .await?
                .into_iter()
                .map(|r| kizuna_wire::reports::HeldReport {
                    report_id: r.report_id,
                    created_at: r.created_at,
                    region: region.to_string(),
                    state: r.state,
                    resolved_at: r.resolved_at,
                })
                .collect(),
        })
    }

    /// Erases a person: their data key goes first, with everything sealed
    /// under it, so nothing of theirs can be opened again even with the
    /// region key.
    pub async fn erase(
        &self,
        subject: &str,
        region: &str,
        requester: &Requester,
    ) -> Result<bool, VaultError> {
        let decision = self.decide(&Access {
            subject,
            region,
            action: Action::Erase,
            categories: &[
                Category::Profile,
                Category::Contacts,
                Category::Blocks,
                Category::PhoneIndex,
                Category::AccessRecords,
                Category::Reports,
                Category::Moderation,
            ],
            requester,
        })?;
        let mut any = decision.region.store.erase_subject(subject, true).await?;
        // A copy an interrupted move left elsewhere goes too: no key of the
        // person may survive their erasure.
        for id in self.regions.keys() {
            if id != region {
                if let Ok(rv) = self.maintained(id) {
                    any |= rv.store.erase_subject(subject, false).await?;
                }
            }
        }
        Ok(any)
    }

    /// Moves a person's data to region `to`: opens it in `from`, seals it
    /// anew under a fresh data key for `to`, writes it there in one
    /// transaction and reads it back to compare. The caller records the new
    /// home, then calls [`Vault::remove_leftovers`]. Safe to repeat: a
    /// previous partial copy in `to` is replaced.
    pub async fn copy_subject(
        &self,
        subject: &str,
        from: &str,
        to: &str,
        requester: &Requester,
    ) -> Result<(), VaultError> {
        let all = [
            Category::Profile,
            Category::Contacts,
            Category::Blocks,
            Category::PhoneIndex,
            Category::AccessRecords,
            Category::Reports,
            Category::Moderation,
        ];
        let src = self
            .reach(&Access {
                subject,
                region: from,
                action: Action::Move,
                categories: &all,
                requester,
            })
            .await?;
        let dst = self
            .decide(&Access {
                subject,
                region: to,
                action: Action::Move,
                categories: &all,
                requester,
            })?
            .region;
        // The move is recorded (and in the ledger) before anything moves.
        let moved = TransferRecord {
            at: kizuna_wire::now_ms(),
            action: "move".into(),
            categories: all.iter().map(|c| c.name().to_string()).collect(),
            region: to.to_string(),
            to_country: self
                .config
                .region(to)
                .map(|r| r.country.clone())
                .unwrap_or_default(),
            basis: Some(format!("your home region changed from {from} to {to}")),
            requester: requester.describe(),
            allowed: true,
            refusal: None,
        };
        self.record(src, subject, &moved, requester).await?;
        let mut opened = src.open_subject(subject).await?;
        opened.data_key_version += 1;
        let phone = opened
            .records
            .get(Category::Profile.name())
            .and_then(|pt| serde_json::from_slice::<Profile>(pt).ok())
            .map(|p| p.phone);
        let sealed = dst.seal_subject(subject, &opened, phone.as_deref())?;
        match dst.store.put_subject(sealed).await {
            Err(StoreError::Conflict("phone")) => return Err(VaultError::PhoneTaken),
            r => r?,
        }
        let copy = dst.open_subject(subject).await?;
        if copy != opened {
            return Err(VaultError::CopyMismatch(to.to_string()));
        }
        Ok(())
    }

    /// Removes what any region other than `home` still holds of a person
    /// (what a move left behind). Returns the regions cleaned.
    pub async fn remove_leftovers(
        &self,
        subject: &str,
        home: &str,
    ) -> Result<Vec<String>, VaultError> {
        let mut cleaned = Vec::new();
        for id in self.regions.keys() {
            if id == home {
                continue;
            }
            let rv = self.maintained(id)?;
            if rv.store.wrapped_key(subject).await?.is_some() {
                // Only a verified copy in `home` makes the old one redundant.
                self.maintained(home)?.open_subject(subject).await?;
                rv.store.erase_subject(subject, false).await?;
                cleaned.push(id.clone());
            }
        }
        Ok(cleaned)
    }

    /// How many people have their data in `region`.
    pub async fn count_in(&self, region: &str) -> Result<u64, VaultError> {
        Ok(self
            .maintained(region)?
            .store
            .key_versions()
            .await?
            .iter()
            .map(|(_, n)| n)
            .sum())
    }

    /// People whose data is in `region`, after `after` in id order.
    pub async fn subjects_in(
        &self,
        region: &str,
        after: &str,
        limit: u32,
    ) -> Result<Vec<String>, VaultError> {
        Ok(self
            .maintained(region)?
            .store
            .subjects_after(after, limit)
            .await?
            .into_iter()
            .map(|k| k.subject_id)
            .collect())
    }

    /// Re-wraps every data key of a region under a new region key, then
    /// retires the old versions from the key file. Resumable: a rotation
    /// that was interrupted continues under the version it created.
    pub async fn rotate_key(
        &self,
        region: &str,
        progress: &dyn Progress,
    ) -> Result<Rotation, VaultError> {
        let rv = self.maintained(region)?;
        let mut keys = rv.keys();
        let counts = rv.store.key_versions().await?;
        let (current, _) = keys.current();
        // Only start a new version if the newest one is already in use by
        // everyone (or nobody): otherwise an earlier rotation is unfinished.
        let unfinished = keys.versions.len() > 1;
        if !unfinished {
            let mut k = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut k);
            keys.versions.insert(current + 1, k);
            rv.place.write(region, &keys)?;
            *rv.keys.write().unwrap_or_else(|p| p.into_inner()) = keys.clone();
        }
        let (new_version, _) = keys.current();
        let todo: u64 = counts
            .iter()
            .filter(|(v, _)| *v != new_version)
            .map(|(_, n)| n)
            .sum();
        progress.total(todo);
        let mut after = String::new();
        let mut rewrapped = 0;
        loop {
            let page = rv.store.subjects_after(&after, 500).await?;
            let Some(last) = page.last() else { break };
            after = last.subject_id.clone();
            let mut batch = Vec::new();
            for w in page.iter().filter(|w| w.region_key_version != new_version) {
                let key = rv.unwrap_key(w)?;
                batch.push((
                    rv.wrap_new(&w.subject_id, w.data_key_version, &key)?,
                    w.wrapped.clone(),
                ));
            }
            let n = batch.len() as u64;
            rewrapped += rv.store.rewrap(&batch).await?;
            progress.advance(n);
        }
        // Every key is under the new version now; the old ones can go.
        let left = rv.store.key_versions().await?;
        let retired: Vec<u32> = keys
            .versions
            .keys()
            .copied()
            .filter(|v| *v != new_version && !left.iter().any(|(lv, _)| lv == v))
            .collect();
        if !retired.is_empty() {
            for v in &retired {
                keys.versions.remove(v);
            }
            rv.place.write(region, &keys)?;
            *rv.keys.write().unwrap_or_else(|p| p.into_inner()) = keys;
        }
        Ok(Rotation {
            new_version,
            rewrapped,
            retired_versions: retired,
        })
    }

    /// Closes every region's store.
    pub async fn close(&self) {
        for rv in self.regions.values() {
            rv.store.close().await;
        }
    }
}

fn checked(profile: &Profile) -> Result<Profile, VaultError> {
    let phone = normalise_phone(&profile.phone)?;
    let name = profile.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(VaultError::InvalidName);
    }
    if let Some(e) = &profile.email {
        let ok = e.len() <= 254
            && e.split_once('@')
                .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.starts_with('.'));
        if !ok {
            return Err(VaultError::InvalidEmail);
        }
    }
    Ok(Profile {
        name: name.to_string(),
        phone,
        email: profile.email.clone(),
    })
}

/// E.164: a `+`, then 8 to 15 digits; spaces and dashes are dropped.
fn normalise_phone(p: &str) -> Result<String, VaultError> {
    let compact: String = p.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    let digits = compact.strip_prefix('+').ok_or(VaultError::InvalidPhone)?;
    if !(8..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VaultError::InvalidPhone);
    }
    Ok(compact)
}

#[cfg(test)]
mod tests;
