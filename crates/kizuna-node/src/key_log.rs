//! The key log: each binding of a handle to an account and of an account to
//! a device key is a public entry of the transparency ledger, appended
//! before the binding takes effect, so the node cannot hand anyone a key
//! for a person without leaving a trace that person's devices see. The
//! entries are kept in the node store beside their leaves, and served per
//! handle with their inclusion proofs.

use kizuna_ledger::{directory_key, Ledger, LedgerError, PathEnd};
use kizuna_store::{KeyLogRow, Store};
use kizuna_wire::{
    now_ms, Bytes, DirectoryEnd, KeyChange, KeyDirectoryProof, KeyEntry, KeyHistory, ProvenKeyEntry,
};
use rand::RngCore;

use crate::error::NodeError;
use crate::node::Node;

/// In a cluster, how long an entry written but not yet numbered is left to
/// the node appending it before another settles it (as access records).
const CLUSTER_APPEND_GRACE_MS: u64 = 60_000;

/// Key-log rows written per transaction when devices are adopted.
const ADOPT_CHUNK: usize = 10_000;

/// The name the ledger's rollback checks give the key log.
const STORE: &str = "the key log";

fn ledger_failure(e: kizuna_ledger::LedgerError) -> NodeError {
    kizuna_vault::VaultError::Ledger(e).into()
}

fn hexes(hashes: Vec<kizuna_ledger::Hash>) -> Vec<String> {
    hashes.into_iter().map(hex::encode).collect()
}

/// A device a key-log entry is about: its id and signature key, and the
/// signature that binds it (its own registration's, or the endorsement of
/// the device that linked it), which only a device can make.
pub(crate) struct LoggedDevice<'a> {
    pub id: &'a str,
    pub key: &'a [u8],
    pub endorsed_by: Option<&'a str>,
    pub signature: Option<&'a [u8]>,
}

/// Checks that the ledger holds the highest entry the key log numbered,
/// and no pending entry was written to a longer ledger than this one: a
/// ledger rolled back would give new entries numbers the log holds.
pub(crate) async fn check_held_by(
    store: &dyn Store,
    ledger: &Ledger,
) -> Result<(), kizuna_ledger::LedgerError> {
    let unreadable =
        |e: kizuna_store::StoreError| kizuna_ledger::LedgerError::Unwritable(e.to_string());
    let top = store.highest_key_entry().await.map_err(unreadable)?;
    let pending = store.pending_key_entries().await.map_err(unreadable)?;
    // In a cluster, entries other nodes numbered after the mirror was
    // opened are in the shared log: read it up to now before judging.
    ledger.catch_up().await?;
    if let Some((idx, leaf)) = top.and_then(|t| Some((t.idx?, t.leaf))) {
        ledger.check_holds(STORE, idx, &leaf)?;
    }
    for p in pending {
        ledger.check_written_after(STORE, p.after)?;
    }
    Ok(())
}

/// Settles the entries a crash left between their write and their index:
/// one whose leaf the ledger holds is numbered, one it does not is taken
/// back (its binding never took effect). In a cluster, only entries older
/// than any append takes, since another node may be appending the rest.
pub(crate) async fn settle_pending(store: &dyn Store, ledger: &Ledger) -> Result<(), NodeError> {
    let settled_before = if ledger.is_shared() {
        now_ms().saturating_sub(CLUSTER_APPEND_GRACE_MS)
    } else {
        u64::MAX
    };
    let mut pending = store.pending_key_entries().await?;
    pending.retain(|p| p.at < settled_before);
    for (p, numbered) in pending
        .iter()
        .zip(number_appended(store, ledger, &pending).await?)
    {
        if !numbered {
            store.drop_pending_key_entry(&p.leaf).await?;
        }
    }
    Ok(())
}

/// Numbers each of `pending` whose leaf the ledger holds; answers which.
async fn number_appended(
    store: &dyn Store,
    ledger: &Ledger,
    pending: &[KeyLogRow],
) -> Result<Vec<bool>, NodeError> {
    if pending.is_empty() {
        return Ok(Vec::new());
    }
    let written: Vec<(&[u8], u64)> = pending
        .iter()
        .map(|p| (p.leaf.as_slice(), p.after))
        .collect();
    let found = ledger
        .find_appended(&written)
        .await
        .map_err(ledger_failure)?;
    let mut numbered = Vec::with_capacity(pending.len());
    for (p, at) in pending.iter().zip(found) {
        if let Some(idx) = at {
            store
                .write_key_entry(&KeyLogRow {
                    idx: Some(idx),
                    ..p.clone()
                })
                .await?;
        }
        numbered.push(at.is_some());
    }
    Ok(numbered)
}

/// Files in the key directory, once, the key-log entries a ledger holds
/// from before the directory existed (a node upgraded with its people), so
/// that their handles' histories are proven like any other. A mirror of a
/// shared log takes them from the shared log instead.
pub(crate) async fn file_earlier_entries(
    store: &dyn Store,
    ledger: &Ledger,
) -> Result<usize, NodeError> {
    if ledger.is_shared() || !ledger.keyed_leaves().is_empty() {
        return Ok(0);
    }
    let mut keyed = Vec::new();
    let mut from = 0;
    loop {
        let batch = store.key_entries_from(from, 10_000).await?;
        let Some(last) = batch.last().and_then(|r| r.idx) else {
            break;
        };
        from = last + 1;
        keyed.extend(
            batch
                .iter()
                .filter_map(|r| Some((r.idx?, directory_key(&r.handle)))),
        );
    }
    ledger.file_earlier(keyed).map_err(ledger_failure)
}

/// What a key-log entry says of an official account, beside its device:
/// the verification it records, or why one ended.
#[derive(Default)]
pub(crate) struct OfficialMark {
    pub verification: Option<kizuna_wire::Verification>,
    pub reason: Option<String>,
}

/// A key-log entry, freshly salted, as written before its append: the row
/// and its leaf.
fn unnumbered(
    change: KeyChange,
    handle: &str,
    account_id: &str,
    device: Option<LoggedDevice<'_>>,
    mark: OfficialMark,
    after: u64,
) -> Result<(KeyLogRow, kizuna_ledger::Hash), NodeError> {
    let mut salt = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut salt);
    let at = now_ms();
    let entry = serde_json::to_vec(&KeyEntry {
        salt: hex::encode(salt),
        at,
        change,
        handle: handle.to_string(),
        account_id: account_id.to_string(),
        device_id: device.as_ref().map(|d| d.id.to_string()),
        device_key: device.as_ref().map(|d| hex::encode(d.key)),
        endorsed_by: device
            .as_ref()
            .and_then(|d| d.endorsed_by.map(str::to_string)),
        signature: device.as_ref().and_then(|d| d.signature.map(hex::encode)),
        verification: mark.verification,
        reason: mark.reason,
    })
    .map_err(|e| NodeError::internal(format!("a key-log entry: {e}")))?;
    let leaf = kizuna_ledger::leaf_hash(&entry);
    let row = KeyLogRow {
        leaf: leaf.to_vec(),
        idx: None,
        after,
        at,
        handle: handle.to_string(),
        account_id: account_id.to_string(),
        entry,
    };
    Ok((row, leaf))
}

/// Enters into the key log, at start, the devices of every account it has
/// no entry for: those bound before the log existed (a node upgraded with
/// its people), so their contacts can still reach them and their own
/// devices can check their accounts. An account's devices go in one
/// append, before anything else about it; its devices check that no such
/// entry appears after they first looked.
pub(crate) async fn adopt_earlier_devices(
    store: &dyn Store,
    ledger: &Ledger,
) -> Result<usize, NodeError> {
    let devices = store.devices_without_key_entries().await?;
    if devices.is_empty() {
        return Ok(0);
    }
    let after = ledger.size();
    let mut rows = Vec::with_capacity(devices.len());
    let mut leaves: Vec<(kizuna_ledger::Hash, kizuna_ledger::Hash)> =
        Vec::with_capacity(devices.len());
    for d in &devices {
        let device = LoggedDevice {
            id: &d.device_id,
            key: &d.signature_key,
            endorsed_by: None,
            signature: None,
        };
        let (row, leaf) = unnumbered(
            KeyChange::Adopted,
            &d.handle,
            &d.account_id,
            Some(device),
            OfficialMark::default(),
            after,
        )?;
        rows.push(row);
        leaves.push((leaf, directory_key(&d.handle)));
    }
    // Written in large transactions: a node upgraded with millions of
    // people enters them all at its first start.
    for chunk in rows.chunks(ADOPT_CHUNK) {
        store.write_key_entries(chunk).await?;
    }
    let first = ledger.append_keyed(leaves).await.map_err(ledger_failure)?;
    for (i, row) in rows.iter_mut().enumerate() {
        row.idx = Some(first + i as u64);
    }
    for chunk in rows.chunks(ADOPT_CHUNK) {
        store.write_key_entries(chunk).await?;
    }
    Ok(devices.len())
}

/// Appends a change to the key log and answers once it is durable in the
/// ledger, so the binding it records may take effect. Nothing is kept when
/// the ledger cannot take it (`ledger_unavailable`), and the change must
/// then not happen.
pub(crate) async fn append_key_change(
    store: &dyn Store,
    ledger: &Ledger,
    change: KeyChange,
    handle: &str,
    account_id: &str,
    device: Option<LoggedDevice<'_>>,
    mark: OfficialMark,
) -> Result<u64, NodeError> {
    let (mut row, leaf) = unnumbered(change, handle, account_id, device, mark, ledger.size())?;
    store.write_key_entry(&row).await?;
    match ledger
        .append_keyed(vec![(leaf, directory_key(handle))])
        .await
    {
        Ok(idx) => {
            // Written again if another node took it back meanwhile: its
            // leaf is in the ledger, and the binding goes ahead. Not
            // numbered now, it is at the next settling.
            row.idx = Some(idx);
            if let Err(e) = store.write_key_entry(&row).await {
                tracing::warn!(error = %e, idx, "a key-log entry is numbered at the next settling");
            }
            Ok(idx)
        }
        Err(e) => {
            // A shared log may have taken the leaf though the answer was
            // lost: the binding is then logged, and goes ahead. Not
            // knowing, the entry is left to the settling, which numbers it
            // if the log holds it and takes it back if not.
            if ledger.is_shared() {
                match ledger
                    .find_appended(&[(row.leaf.as_slice(), row.after)])
                    .await
                    .map(|found| found.first().copied().flatten())
                {
                    Ok(Some(idx)) => {
                        row.idx = Some(idx);
                        if let Err(e) = store.write_key_entry(&row).await {
                            tracing::warn!(error = %e, idx, "a key-log entry is numbered at the next settling");
                        }
                        return Ok(idx);
                    }
                    Ok(None) => {}
                    Err(_) => return Err(ledger_failure(e)),
                }
            }
            if let Err(undo) = store.drop_pending_key_entry(&row.leaf).await {
                tracing::warn!(error = %undo, "an unlogged key-log entry could not be taken back; it is settled at the next start");
            }
            Err(ledger_failure(e))
        }
    }
}

impl Node {
    /// Appends a change of a handle's or device's binding to the key log
    /// ([`append_key_change`]).
    pub(crate) async fn log_key_change(
        &self,
        change: KeyChange,
        handle: &str,
        account_id: &str,
        device: Option<LoggedDevice<'_>>,
    ) -> Result<u64, NodeError> {
        append_key_change(
            self.store.as_ref(),
            self.vault.ledger()?,
            change,
            handle,
            account_id,
            device,
            OfficialMark::default(),
        )
        .await
    }

    /// Every key-log entry for `handle`, across every account that held
    /// it, each proven against one signed head that extends the head of
    /// size `since` the device saw before, with the proof from the key
    /// directory that these are all of the handle's entries that head
    /// covers. Anyone signed in may ask about any handle, as they may look
    /// its account up.
    pub async fn key_history(&self, handle: &str, since: u64) -> Result<KeyHistory, NodeError> {
        let ledger = self.vault.ledger()?;
        let key = directory_key(handle);
        let numbered = self.store.key_entries(handle).await?;
        let (mut head, mut consistency) = self
            .head_for(numbered.iter().filter_map(|r| r.idx), since)
            .await?;
        let (_, proof) = match ledger.key_proof(&key, head.size) {
            Ok(p) => p,
            // The directory at that head is no longer kept: a head of now.
            Err(LedgerError::DirectoryNotKept { .. }) => {
                let last = ledger.size().saturating_sub(1);
                (head, consistency) = self.head_for(std::iter::once(last), since).await?;
                ledger.key_proof(&key, head.size).map_err(ledger_failure)?
            }
            Err(e) => return Err(ledger_failure(e)),
        };
        if head.keys.is_none() {
            // Only while a node of an earlier version still signs the shared
            // log's heads: a head without the directory proves nothing about
            // a handle's whole history, so none is given.
            return Err(ledger_failure(LedgerError::Shared(format!(
                "the ledger's head for {} entries was signed by a node that does not yet keep the key directory; key lookups are proven once every node is upgraded",
                head.size
            ))));
        }
        // An entry appended but not yet numbered (its append finishing on
        // this or another node, or cut off by a crash) is in the directory
        // already: it is numbered now, so the history holds it.
        // Read again after the head was chosen: an entry numbered since the
        // first read (by the node appending it) is in the head's directory.
        self.number_pending(handle).await?;
        let rows = self.store.key_entries(handle).await?;
        let mut entries = Vec::with_capacity(rows.len());
        for r in rows {
            let Some(index) = r.idx.filter(|i| *i < head.size) else {
                continue;
            };
            entries.push(ProvenKeyEntry {
                index,
                entry: Bytes(r.entry),
                proof: hexes(
                    ledger
                        .inclusion_proof(index, head.size)
                        .map_err(ledger_failure)?,
                ),
            });
        }
        Ok(KeyHistory {
            handle: handle.to_string(),
            head,
            consistency,
            entries,
            directory: KeyDirectoryProof {
                siblings: hexes(proof.siblings),
                end: match proof.end {
                    PathEnd::Empty => None,
                    PathEnd::Entry { key, value } => Some(DirectoryEnd {
                        key: hex::encode(key),
                        value: hex::encode(value),
                    }),
                },
            },
        })
    }

    /// Numbers the handle's entries whose leaves the ledger holds though
    /// the store does not say so yet.
    async fn number_pending(&self, handle: &str) -> Result<(), NodeError> {
        let mut pending = self.store.pending_key_entries().await?;
        pending.retain(|p| p.handle == handle);
        let ledger = self.vault.ledger()?;
        number_appended(self.store.as_ref(), ledger, &pending).await?;
        Ok(())
    }
}
