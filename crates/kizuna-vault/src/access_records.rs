//! Access records as entries of the transparency ledger. Each is written,
//! sealed, into the person's home region; its leaf hash is then appended to
//! the ledger, and only once that is durable does what it records happen.
//! If the ledger cannot be written, the record is taken back and the access
//! refused: nothing happens unrecorded.

use kizuna_ledger::{leaf_hash, Hash, LedgerError};
use kizuna_store::{LedgerRow, SealedAccess, SealedSubject, ERASED};
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
        leaves: &[Vec<u8>],
    ) -> Result<(), VaultError> {
        let hashes: Vec<Hash> = leaves
            .iter()
            .filter_map(|l| l.as_slice().try_into().ok())
            .collect();
        match self.ledger()?.append(hashes).await {
            Ok(first) => {
                let indexes: Vec<(Vec<u8>, u64)> = leaves
                    .iter()
                    .enumerate()
                    .map(|(i, l)| (l.clone(), first + i as u64))
                    .collect();
                region.store.set_access_indexes(&indexes).await?;
                Ok(())
            }
            Err(e) => {
                for l in leaves {
                    if let Err(undo) = region.store.drop_pending_access(l).await {
                        tracing::warn!(error = %undo, "an unlogged access record could not be taken back; it is settled when the node next starts");
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
        region.store.append_access(subject, sealed).await?;
        self.log(region, &access.leaf.into_iter().collect::<Vec<_>>())
            .await
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
        let mut leaves = Vec::with_capacity(records.len());
        rv.data_keys(&mut keys, records.iter().map(|(s, _, _)| s))
            .await?;
        for (subject, record, requester) in records {
            let Some((key, dkv)) = keys.get(&subject) else {
                return Err(VaultError::NotFound(rv.id.clone()));
            };
            let access = self.new_access(&subject, record, &requester)?;
            leaves.extend(access.leaf.clone());
            rows.push((
                subject.clone(),
                rv.seal_access(key, &subject, *dkv, &access)?,
            ));
        }
        rv.store.append_accesses(rows).await?;
        self.log(rv, &leaves).await
    }

    /// The leaves of a sealed person's records that are not in the ledger
    /// yet (a first write carries its own record).
    pub(crate) fn unlogged(s: &SealedSubject) -> Vec<Vec<u8>> {
        s.access
            .iter()
            .filter(|a| a.idx.is_none())
            .filter_map(|a| a.leaf.clone())
            .collect()
    }

    /// Settles records a crash left between their write and their ledger
    /// index: found in the ledger, they get their index; not found, their
    /// access never happened and they are removed.
    pub(crate) async fn settle_pending(&self) -> Result<(), VaultError> {
        for rv in self.regions.values() {
            let pending = rv.store.pending_access().await?;
            if pending.is_empty() {
                continue;
            }
            let ledger = self.ledger()?;
            let size = ledger.size();
            let from = pending.iter().map(|p| p.access.after).min().unwrap_or(size);
            let tail = ledger
                .leaves(from.min(size), size)
                .map_err(VaultError::Ledger)?;
            for p in pending {
                let Some(leaf) = &p.access.leaf else { continue };
                match tail.iter().position(|l| l.as_slice() == leaf.as_slice()) {
                    Some(i) => rv.store.set_access_index(leaf, from + i as u64).await?,
                    None => rv.store.drop_pending_access(leaf).await?,
                }
            }
        }
        Ok(())
    }
}

/// What one region holds for a ledger entry, checked with this node's keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldEntry {
    pub index: u64,
    pub region: String,
    /// The leaf hash the region keeps beside the sealed entry.
    pub leaf: Vec<u8>,
    pub content: Content,
}

/// An entry a region holds that was written but not yet numbered: a crash
/// came between its write and the note of its ledger index. The next start
/// numbers it if its leaf is in the ledger, or removes it if it is not
/// (what it records never happened).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingEntry {
    pub region: String,
    pub leaf: Vec<u8>,
    /// The ledger's size when it was written: its leaf, if appended, lies
    /// at or after this.
    pub after: u64,
    pub content: Content,
}

/// Whether a held entry's sealed content still hashes to its leaf, and its
/// clear columns still say what the content says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    Matches,
    /// The person was erased: only the leaf and index remain.
    Erased,
    /// It opens, but is not what was hashed into the ledger.
    Differs,
    /// It opens and hashes to its leaf, but a column kept in the clear
    /// beside it (to find it by) says something else: it was relabelled.
    Relabelled(String),
    /// It does not open (altered, or its key is gone).
    Unopenable(String),
}

impl Content {
    /// What is wrong with the entry, in words for whoever audits it; none
    /// when it is intact or a tombstone.
    pub fn problem(&self) -> Option<String> {
        match self {
            Content::Matches | Content::Erased => None,
            Content::Differs => Some("was edited: its content no longer hashes to its leaf".into()),
            Content::Relabelled(what) => Some(format!(
                "was relabelled: {what}, so it would be found under someone else's name"
            )),
            Content::Unopenable(why) => Some(format!("cannot be opened ({why}): it was altered")),
        }
    }
}

/// What an access record's content says about the columns kept beside it.
struct Said {
    /// None for a record older than the ledger, which does not name its
    /// person inside (the seal's associated data does).
    subject: Option<String>,
    at: u64,
    org_id: Option<String>,
    staff_id: Option<String>,
}

/// How a row's clear columns differ from the sealed entry they describe,
/// if they do. The columns are what a breach is scoped by and an entry
/// found by; only the entry is vouched for by its leaf in the ledger (and
/// the person by the seal's associated data), so every column must agree
/// with it.
fn relabelled(row: &LedgerRow, said: &Said) -> Option<String> {
    let say = |v: &Option<String>| v.as_deref().map_or("nobody".into(), |s| format!("'{s}'"));
    let column = |name: &str, held: &Option<String>, entry: &Option<String>| {
        format!(
            "its {name} column says {} but the entry says {}",
            say(held),
            say(entry)
        )
    };
    if let Some(subject) = &said.subject {
        if *subject != row.subject_id {
            return Some(column(
                "subject_id",
                &Some(row.subject_id.clone()),
                &Some(subject.clone()),
            ));
        }
    }
    if said.at != row.access.at {
        return Some(format!(
            "its at column says {} but the entry says {}",
            row.access.at, said.at
        ));
    }
    if said.org_id != row.access.org_id {
        return Some(column("org_id", &row.access.org_id, &said.org_id));
    }
    if said.staff_id != row.access.staff_id {
        return Some(column("staff_id", &row.access.staff_id, &said.staff_id));
    }
    None
}

impl RegionVault {
    /// Opens one held entry and checks it against everything that vouches
    /// for it: its content against its leaf, its clear columns against its
    /// content. A tombstone is one only under the erased name; an emptied
    /// row of a living person is an altered one.
    fn checked_access(
        &self,
        keys: &std::collections::HashMap<String, Result<(DataKey, u32), String>>,
        row: &LedgerRow,
    ) -> Result<OpenedAccess, Content> {
        if row.subject_id == ERASED {
            return Err(self.tombstone(row));
        }
        if row.access.sealed.is_empty() {
            return Err(Content::Unopenable(format!(
                "its content was removed but '{}' was not erased",
                row.subject_id
            )));
        }
        let (key, dkv) = match keys.get(&row.subject_id) {
            Some(Ok(k)) => k,
            Some(Err(e)) => return Err(Content::Unopenable(e.clone())),
            None => return Err(Content::Unopenable("no data key".into())),
        };
        let pt = self
            .open_category(
                key,
                &row.subject_id,
                *dkv,
                Category::AccessRecords.name(),
                &row.access.sealed,
            )
            .map_err(|e| Content::Unopenable(e.to_string()))?;
        let (record, said) = match &row.access.leaf {
            Some(leaf) => {
                if leaf_hash(&pt).as_slice() != leaf.as_slice() {
                    return Err(Content::Differs);
                }
                let e: LedgerEntry = serde_json::from_slice(&pt).map_err(|e| {
                    Content::Unopenable(format!("its content is not a ledger entry ({e})"))
                })?;
                let said = Said {
                    subject: Some(e.subject),
                    at: e.record.at,
                    org_id: e.staff.as_ref().map(|s| s.org_id.clone()),
                    staff_id: e.staff.map(|s| s.staff_id),
                };
                (e.record, said)
            }
            None => {
                let r: TransferRecord = serde_json::from_slice(&pt).map_err(|e| {
                    Content::Unopenable(format!("its content is not an access record ({e})"))
                })?;
                let said = Said {
                    subject: None,
                    at: r.at,
                    org_id: None,
                    staff_id: None,
                };
                (r, said)
            }
        };
        if let Some(what) = relabelled(row, &said) {
            return Err(Content::Relabelled(what));
        }
        Ok(OpenedAccess {
            record,
            entry: row.access.leaf.is_some().then_some(pt),
            leaf: row.access.leaf.clone(),
            idx: row.access.idx,
            after: row.access.after,
            org_id: row.access.org_id.clone(),
            staff_id: row.access.staff_id.clone(),
        })
    }

    /// Adds to `keys` the data key of each person `rows` are about that it
    /// lacks, fetched together, or why it could not be had: one person's
    /// missing or broken key is a finding about their entries, not a
    /// failure of the whole pass.
    async fn checked_keys(
        &self,
        keys: &mut std::collections::HashMap<String, Result<(DataKey, u32), String>>,
        rows: &[&LedgerRow],
    ) -> Result<(), VaultError> {
        let mut missing: Vec<String> = rows
            .iter()
            .filter(|r| {
                r.subject_id != ERASED
                    && !r.access.sealed.is_empty()
                    && !keys.contains_key(&r.subject_id)
            })
            .map(|r| r.subject_id.clone())
            .collect();
        missing.sort();
        missing.dedup();
        if missing.is_empty() {
            return Ok(());
        }
        for w in self.store.wrapped_keys(&missing).await? {
            let k = self
                .unwrap_key(&w)
                .map(|k| (k, w.data_key_version))
                .map_err(|e| e.to_string());
            keys.insert(w.subject_id.clone(), k);
        }
        for s in missing {
            keys.entry(s.clone())
                .or_insert_with(|| Err(format!("'{s}' has no data key in this region")));
        }
        Ok(())
    }
}

fn content(checked: Result<OpenedAccess, Content>) -> Content {
    checked.err().unwrap_or(Content::Matches)
}

impl Vault {
    /// Before anything is numbered or settled: a region holding an entry
    /// its ledger does not is ahead of a ledger rolled back or replaced,
    /// and going on would give new entries numbers it already holds.
    pub(crate) async fn check_ledger_holds_regions(&self) -> Result<(), VaultError> {
        let ledger = self.ledger()?;
        for rv in self.regions.values() {
            let store = format!("region {}'s store", rv.id);
            if let Some(last) = rv.store.last_entry().await? {
                if let (Some(index), Some(leaf)) = (last.access.idx, &last.access.leaf) {
                    ledger.check_holds(&store, index, leaf)?;
                }
            }
            for p in rv.store.pending_access().await? {
                ledger.check_written_after(&store, p.access.after)?;
            }
        }
        Ok(())
    }

    /// The ledger entries `region` holds from index `from` on, at most
    /// `limit`, each opened, hashed again and its columns compared with
    /// it. Reads only.
    pub async fn held_entries(
        &self,
        region: &str,
        from: u64,
        limit: u32,
    ) -> Result<Vec<HeldEntry>, VaultError> {
        let rv = self.maintained(region)?;
        let rows = rv.store.ledger_rows(from, limit).await?;
        let mut keys = std::collections::HashMap::new();
        rv.checked_keys(&mut keys, &rows.iter().collect::<Vec<_>>())
            .await?;
        Ok(rows
            .iter()
            .filter_map(|row| {
                let (Some(index), Some(leaf)) = (row.access.idx, row.access.leaf.clone()) else {
                    return None;
                };
                Some(HeldEntry {
                    index,
                    region: rv.id.clone(),
                    leaf,
                    content: content(rv.checked_access(&keys, row)),
                })
            })
            .collect())
    }

    /// The entries `region` holds that were written but not yet numbered,
    /// each checked as a held one is. Reads only.
    pub async fn pending_entries(&self, region: &str) -> Result<Vec<PendingEntry>, VaultError> {
        let rv = self.maintained(region)?;
        let rows = rv.store.pending_access().await?;
        let mut keys = std::collections::HashMap::new();
        rv.checked_keys(&mut keys, &rows.iter().collect::<Vec<_>>())
            .await?;
        Ok(rows
            .iter()
            .filter_map(|row| {
                Some(PendingEntry {
                    region: rv.id.clone(),
                    leaf: row.access.leaf.clone()?,
                    after: row.access.after,
                    content: content(rv.checked_access(&keys, row)),
                })
            })
            .collect())
    }
}

/// One person whose data was read under the credentials a breach concerns.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Affected {
    /// The person's account id.
    pub subject: String,
    pub region: String,
    /// What was read of them.
    pub fields: std::collections::BTreeSet<String>,
    pub first_at: u64,
    pub last_at: u64,
    pub reads: u64,
    /// By whom: organisations and staff members.
    pub orgs: std::collections::BTreeSet<String>,
    pub staff: std::collections::BTreeSet<String>,
    /// Ledger indexes of the reads, for anyone who checks them.
    pub entries: Vec<u64>,
}

/// Access records opened per step while scoping a breach.
const SCOPE_PAGE: u32 = 10_000;

impl Vault {
    /// Everyone whose data was read under `by` (an organisation's or a
    /// staff member's credentials) in its time window, with what was read
    /// and when, from the ledger's entries in every region this node may
    /// reach. Refused attempts read nothing and are not counted.
    pub async fn read_under(
        &self,
        by: &kizuna_store::AccessedBy,
        progress: &(dyn crate::Progress + Sync),
    ) -> Result<Vec<Affected>, VaultError> {
        let mut out = Vec::new();
        for id in self.regions.keys() {
            let Ok(rv) = self.maintained(id) else {
                continue;
            };
            let mut people: std::collections::HashMap<String, Affected> =
                std::collections::HashMap::new();
            let mut keys = std::collections::HashMap::new();
            let mut cursor = (0u64, 0i64);
            loop {
                let page = rv.store.accesses_by(by, cursor, SCOPE_PAGE).await?;
                let Some((last_id, last)) = page.last() else {
                    break;
                };
                cursor = (last.access.at, *last_id);
                progress.advance(page.len() as u64);
                rv.checked_keys(&mut keys, &page.iter().map(|(_, r)| r).collect::<Vec<_>>())
                    .await?;
                for (_, row) in page {
                    // Every row is checked before it counts: the columns it
                    // was found by must be the entry's own, or the scope
                    // would name the wrong people. A row that fails is
                    // tampering, and the whole scope is refused with it.
                    let opened = match rv.checked_access(&keys, &row) {
                        Ok(opened) => opened,
                        // An erased person's read: nobody left to tell, and
                        // nothing left to count it by.
                        Err(Content::Erased) => continue,
                        Err(c) => {
                            let what = c.problem().unwrap_or_default();
                            let entry = row
                                .access
                                .idx
                                .map_or("an access record not yet numbered".into(), |i| {
                                    format!("entry {i}")
                                });
                            tracing::error!(region = %id, %entry, %what, "an access record was altered; the breach scope is refused");
                            return Err(VaultError::Tampered {
                                region: id.clone(),
                                entry,
                                what,
                            });
                        }
                    };
                    let r = &opened.record;
                    if r.action != "read" || !r.allowed {
                        continue;
                    }
                    let a = people
                        .entry(row.subject_id.clone())
                        .or_insert_with(|| Affected {
                            subject: row.subject_id.clone(),
                            region: id.clone(),
                            fields: Default::default(),
                            first_at: r.at,
                            last_at: r.at,
                            reads: 0,
                            orgs: Default::default(),
                            staff: Default::default(),
                            entries: Vec::new(),
                        });
                    a.fields.extend(r.categories.iter().cloned());
                    a.first_at = a.first_at.min(r.at);
                    a.last_at = a.last_at.max(r.at);
                    a.reads += 1;
                    a.orgs.extend(row.access.org_id.iter().cloned());
                    a.staff.extend(row.access.staff_id.iter().cloned());
                    a.entries.extend(opened.idx);
                }
            }
            let mut region: Vec<Affected> = people.into_values().collect();
            region.sort_by(|a, b| a.subject.cmp(&b.subject));
            out.extend(region);
        }
        Ok(out)
    }
}
