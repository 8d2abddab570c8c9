//! One region's store and keys, and the sealing and opening of a person's
//! records in it.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use hmac::{Hmac, Mac};
use kizuna_store::{RegionStore, SealedSubject, WrappedKey};
use serde::Serialize;
use sha2::Sha256;

use crate::access_records::OpenedAccess;
use crate::keys::{KeyPlace, RegionKeys};
use crate::seal::{self, DataKey, KeyBinding, RecordBinding};
use crate::{Category, ReportBody, VaultError};

/// One region's store and keys. Only `border.rs` hands one out.
pub(crate) struct RegionVault {
    pub id: String,
    /// How its erased people's entries are told from emptied ones.
    pub tombstones: crate::tombstones::Tombstones,
    pub store: Arc<dyn RegionStore>,
    pub keys: RwLock<RegionKeys>,
    pub place: KeyPlace,
}

impl RegionVault {
    pub(crate) fn keys(&self) -> RegionKeys {
        match self.keys.read() {
            Ok(k) => k.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    pub(crate) fn unsealable(&self, problem: impl Into<String>) -> VaultError {
        VaultError::Unsealable {
            region: self.id.clone(),
            problem: problem.into(),
        }
    }

    pub(crate) fn phone_hash(&self, phone: &str) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.keys().index)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(b"kizuna-phone-v1\0");
        mac.update(self.id.as_bytes());
        mac.update(b"\0");
        mac.update(phone.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    pub(crate) fn wrap_new(
        &self,
        subject: &str,
        data_key_version: u32,
        key: &DataKey,
    ) -> Result<WrappedKey, VaultError> {
        self.wrap_with(&self.keys_for_wrapping()?, subject, data_key_version, key)
    }

    /// Wraps under the newest of `keys`.
    pub(crate) fn wrap_with(
        &self,
        keys: &RegionKeys,
        subject: &str,
        data_key_version: u32,
        key: &DataKey,
    ) -> Result<WrappedKey, VaultError> {
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

    /// The region's keys with `version` among them: as held, or as the key
    /// file now says when it holds a version this node does not yet. In a
    /// cluster a rotation stages its new version in every node's key file
    /// before anything is wrapped under it, and each node takes it up when
    /// it first meets a record under it.
    pub(crate) fn keys_with(&self, version: u32) -> Result<RegionKeys, VaultError> {
        let held = self.keys();
        if held.versions.contains_key(&version) {
            return Ok(held);
        }
        let missing = || {
            self.unsealable(format!(
                "region key version {version} is not in the {}: copy the key file the \
                 rotation staged to this node",
                self.place.describe()
            ))
        };
        let Some(read) = self.place.read(&self.id)? else {
            return Err(missing());
        };
        // Only a file that extends what is held is taken up: another index
        // would change every phone hash, another key under a held version
        // would be someone else's key.
        let extends = read.index == held.index
            && held
                .versions
                .iter()
                .all(|(v, k)| read.versions.get(v).is_none_or(|r| r == k));
        if !extends {
            return Err(self.unsealable(format!(
                "the {} no longer holds the key this node opened the region with",
                self.place.describe()
            )));
        }
        if !read.versions.contains_key(&version) {
            return Err(missing());
        }
        let mut merged = held;
        for (v, k) in read.versions {
            merged.versions.insert(v, k);
        }
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = merged.clone();
        tracing::info!(region = %self.id, version, "took up a new region key version from the key file");
        Ok(merged)
    }

    /// The keys to wrap a new data key under: a version staged in the key
    /// file since is taken up first, so that once every node has the staged
    /// file nothing new is wrapped under the version a rotation retires.
    /// (A rotation's own re-wrapping reads the file once, and wraps with
    /// `wrap_with`.)
    fn keys_for_wrapping(&self) -> Result<RegionKeys, VaultError> {
        let held = self.keys();
        match self.place.read(&self.id) {
            Ok(Some(read)) if read.current().0 > held.current().0 => {
                self.keys_with(read.current().0)
            }
            // The file unreadable now: what is held still wraps correctly.
            _ => Ok(held),
        }
    }

    pub(crate) fn unwrap_key(&self, w: &WrappedKey) -> Result<DataKey, VaultError> {
        let keys = self.keys_with(w.region_key_version)?;
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
    pub(crate) async fn data_keys(
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

    pub(crate) async fn data_key(&self, subject: &str) -> Result<(DataKey, u32), VaultError> {
        let w = self
            .store
            .wrapped_key(subject)
            .await?
            .ok_or_else(|| VaultError::NotFound(self.id.clone()))?;
        Ok((self.unwrap_key(&w)?, w.data_key_version))
    }

    pub(crate) fn seal_category(
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

    pub(crate) fn open_category(
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
    pub(crate) async fn open_subject(&self, subject: &str) -> Result<OpenedSubject, VaultError> {
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
            phone_proven: s.phone_hash.as_ref().map(|_| s.phone_proven),
        })
    }

    /// Seals an opened person anew for this region under a fresh data key.
    pub(crate) fn seal_subject(
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
            phone_proven: o.phone_proven.unwrap_or(false),
            access,
            reports,
        })
    }
}

impl RegionVault {
    /// Opens one record of a person in this region, if there is one; the
    /// caller has reached the region (and recorded why).
    pub(crate) async fn open_record<T: serde::de::DeserializeOwned>(
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
    pub(crate) async fn put_sealed<T: Serialize>(
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

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct OpenedSubject {
    pub data_key_version: u32,
    pub records: BTreeMap<String, Vec<u8>>,
    pub access: Vec<OpenedAccess>,
    /// Each report as stored (its sealed bytes aside) and opened.
    pub reports: Vec<(kizuna_store::ReportRow, ReportBody)>,
    /// Whether the person's number is in the phone index (none if not),
    /// and if so whether they proved it with a code.
    pub phone_proven: Option<bool>,
}
