//! The ledger's entries as each region holds them, checked with this node's
//! keys: what an audit compares with the ledger itself, and what a start
//! settles when a crash came between writing an entry and numbering it.

use kizuna_ledger::leaf_hash;
use kizuna_store::{LedgerRow, ERASED};
use kizuna_wire::{LedgerEntry, TransferRecord};

use crate::access_records::OpenedAccess;
use crate::seal::DataKey;
use crate::{Category, RegionVault, Vault, VaultError};

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
    pub(crate) fn checked_access(
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
    pub(crate) async fn checked_keys(
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
