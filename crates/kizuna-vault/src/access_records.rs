//! Access records as entries of the transparency ledger. Each is written,
//! sealed, into the person's home region; its leaf hash is then appended to
//! the ledger, and only once that is durable does what it records happen.
//! If the ledger cannot be written, the record is taken back and the access
//! refused: nothing happens unrecorded.

use kizuna_ledger::{leaf_hash, Hash, LedgerError};
use kizuna_store::{SealedAccess, SealedSubject};
use kizuna_wire::{LedgerEntry, TransferRecord};
use rand::RngCore;

use crate::border::Requester;
use crate::seal::DataKey;
use crate::{Category, RegionVault, Vault, VaultError};

/// An access record, opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OpenedAccess {
    pub record: TransferRecord,
    /// The entry's bytes as hashed into the ledger; none for records older
    /// than the ledger.
    pub entry: Option<Vec<u8>>,
    pub leaf: Option<Vec<u8>>,
    pub idx: Option<u64>,
    pub after: u64,
    pub org_id: Option<String>,
    pub staff_id: Option<String>,
}

/// One access record of a person, as they are shown it, with its place in
/// the ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedAccess {
    pub record: TransferRecord,
    /// Its index in the ledger; none for records older than the ledger.
    pub index: Option<u64>,
    /// The bytes hashed into the ledger.
    pub entry: Option<Vec<u8>>,
}

impl RegionVault {
    pub(crate) fn seal_access(
        &self,
        key: &DataKey,
        subject: &str,
        dkv: u32,
        a: &OpenedAccess,
    ) -> Result<SealedAccess, VaultError> {
        let pt = match &a.entry {
            Some(bytes) => bytes.clone(),
            None => serde_json::to_vec(&a.record).map_err(|e| self.unsealable(e.to_string()))?,
        };
        Ok(SealedAccess {
            at: a.record.at,
            sealed: self.seal_category(key, subject, dkv, Category::AccessRecords.name(), &pt)?,
            leaf: a.leaf.clone(),
            idx: a.idx,
            after: a.after,
            org_id: a.org_id.clone(),
            staff_id: a.staff_id.clone(),
        })
    }

    pub(crate) fn open_access(
        &self,
        key: &DataKey,
        subject: &str,
        dkv: u32,
        a: &SealedAccess,
    ) -> Result<OpenedAccess, VaultError> {
        let pt =
            self.open_category(key, subject, dkv, Category::AccessRecords.name(), &a.sealed)?;
        let (record, entry) = if a.leaf.is_some() {
            let e: LedgerEntry =
                serde_json::from_slice(&pt).map_err(|e| self.unsealable(e.to_string()))?;
            (e.record, Some(pt))
        } else {
            let r = serde_json::from_slice(&pt).map_err(|e| self.unsealable(e.to_string()))?;
            (r, None)
        };
        Ok(OpenedAccess {
            record,
            entry,
            leaf: a.leaf.clone(),
            idx: a.idx,
            after: a.after,
            org_id: a.org_id.clone(),
            staff_id: a.staff_id.clone(),
        })
    }
}

/// How long after its record was written a cluster's node may still be
/// appending the record's leaf (an append waits for the ledger's lock, which
/// a stalled writer holds for seconds at most).
const CLUSTER_APPEND_GRACE_MS: u64 = 60_000;

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Vault {
    /// A new ledger entry for `record`, not yet appended.
    pub(crate) fn new_access(
        &self,
        subject: &str,
        record: TransferRecord,
        requester: &Requester,
    ) -> Result<OpenedAccess, VaultError> {
        let mut salt = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut salt);
        let staff = match requester {
            Requester::Staff(s) => Some(s.clone()),
            _ => None,
        };
        let entry = LedgerEntry {
            salt: hex::encode(salt),
            subject: subject.to_string(),
            record,
            staff,
        };
        let bytes = serde_json::to_vec(&entry)
            .map_err(|e| VaultError::Ledger(LedgerError::Unwritable(e.to_string())))?;
        Ok(OpenedAccess {
            leaf: Some(leaf_hash(&bytes).to_vec()),
            entry: Some(bytes),
            idx: None,
            after: self.ledger()?.size(),
            org_id: entry.staff.as_ref().map(|s| s.org_id.clone()),
            staff_id: entry.staff.as_ref().map(|s| s.staff_id.clone()),
            record: entry.record,
        })
    }

    /// Appends the leaves of records already written to `region` and notes
    /// their places; if the ledger cannot take them, the records are taken
    /// back and the caller must not go on.
    pub(crate) async fn log(
        &self,
        region: &RegionVault,
        written: Vec<(String, SealedAccess)>,
    ) -> Result<(), VaultError> {
        let mut written: Vec<(String, SealedAccess, Hash)> = written
            .into_iter()
            .filter_map(|(s, a)| {
                let leaf: Hash = a.leaf.as_deref()?.try_into().ok()?;
                Some((s, a, leaf))
            })
            .collect();
        let hashes: Vec<Hash> = written.iter().map(|(_, _, l)| *l).collect();
        match self.ledger()?.append(hashes).await {
            Ok(first) => {
                // The records go with their indexes, not just the indexes:
                // in a cluster another node may have taken one back while
                // this append waited, and its leaf is in the ledger now.
                let numbered: Vec<(String, SealedAccess)> = written
                    .drain(..)
                    .enumerate()
                    .map(|(i, (s, mut a, _))| {
                        a.idx = Some(first + i as u64);
                        (s, a)
                    })
                    .collect();
                region.store.number_accesses(&numbered).await?;
                Ok(())
            }
            Err(e) => {
                for (_, _, l) in &written {
                    if let Err(undo) = region.store.drop_pending_access(l).await {
                        tracing::warn!(error = %undo, "an unlogged access record could not be taken back; settling takes it back later");
                    }
                }
                tracing::error!(error = %e, "the ledger refused an append; the access it records does not happen");
                Err(VaultError::Ledger(e))
            }
        }
    }

    /// Seals and writes one access record for a person who has a key in
    /// `region`, and appends it to the ledger.
    pub(crate) async fn record(
        &self,
        region: &RegionVault,
        subject: &str,
        record: &TransferRecord,
        requester: &Requester,
    ) -> Result<(), VaultError> {
        let (key, version) = region.data_key(subject).await?;
        let access = self.new_access(subject, record.clone(), requester)?;
        let sealed = region.seal_access(&key, subject, version, &access)?;
        region.store.append_access(subject, sealed.clone()).await?;
        self.log(region, vec![(subject.to_string(), sealed)]).await
    }

    /// Many access records of people in `region` at once: sealed, written
    /// in one transaction, appended to the ledger together. The bulk form
    /// of recording, for imports of access history.
    pub async fn record_many(
        &self,
        region: &str,
        records: Vec<(String, TransferRecord, Requester)>,
    ) -> Result<(), VaultError> {
        let rv = self.maintained(region)?;
        let mut keys: std::collections::HashMap<String, (DataKey, u32)> =
            std::collections::HashMap::new();
        let mut rows = Vec::with_capacity(records.len());
        rv.data_keys(&mut keys, records.iter().map(|(s, _, _)| s))
            .await?;
        for (subject, record, requester) in records {
            let Some((key, dkv)) = keys.get(&subject) else {
                return Err(VaultError::NotFound(rv.id.clone()));
            };
            let access = self.new_access(&subject, record, &requester)?;
            rows.push((
                subject.clone(),
                rv.seal_access(key, &subject, *dkv, &access)?,
            ));
        }
        rv.store.append_accesses(rows.clone()).await?;
        self.log(rv, rows).await
    }

    /// A sealed person's records that are not in the ledger yet (a first
    /// write carries its own record).
    pub(crate) fn unlogged(s: &SealedSubject) -> Vec<(String, SealedAccess)> {
        s.access
            .iter()
            .filter(|a| a.idx.is_none() && a.leaf.is_some())
            .map(|a| (s.key.subject_id.clone(), a.clone()))
            .collect()
    }

    /// Settles records a crash left between their write and their ledger
    /// index: found in the ledger, they get their index; not found, their
    /// access never happened and they are removed.
    /// Numbers the access records a crash left unnumbered whose leaf is in
    /// the ledger, and removes those whose leaf is not (what they record
    /// never happened). At start, and in a cluster once a minute, for what
    /// a node that died left behind.
    pub async fn settle_pending(&self) -> Result<(), VaultError> {
        // In a cluster, a record written moments ago may be another node's
        // whose append is under way: only those older than any append takes
        // are settled.
        let settled_before = if self.ledger()?.is_shared() {
            now_ms().saturating_sub(CLUSTER_APPEND_GRACE_MS)
        } else {
            u64::MAX
        };
        for rv in self.regions.values() {
            let mut pending = rv.store.pending_access().await?;
            pending.retain(|p| p.access.at < settled_before);
            if pending.is_empty() {
                continue;
            }
            let written: Vec<(&[u8], u64)> = pending
                .iter()
                .filter_map(|p| Some((p.access.leaf.as_deref()?, p.access.after)))
                .collect();
            let found = self
                .ledger()?
                .find_appended(&written)
                .await
                .map_err(VaultError::Ledger)?;
            for ((leaf, _), at) in written.iter().zip(found) {
                match at {
                    Some(idx) => rv.store.set_access_index(leaf, idx).await?,
                    None => rv.store.drop_pending_access(leaf).await?,
                }
            }
        }
        Ok(())
    }
}
