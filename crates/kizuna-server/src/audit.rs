//! Auditing a stopped node's transparency ledger from its data directory:
//! the tree recomputed from the leaves and compared with every signed head
//! (and any heads witnesses kept), then every entry the regions hold
//! matched to its leaf and, with the region keys, opened and hashed again.

use std::path::Path;

use kizuna_config::Regions;
use kizuna_ledger::audit::{check_heads, read_log, LogProblem};
use kizuna_ledger::SignedTreeHead;
use kizuna_vault::{Content, Progress, Vault};

use crate::ServerError;

/// Entries read from a region per step.
const BATCH: u32 = 10_000;

#[derive(Clone, Debug, serde::Serialize)]
pub struct AuditReport {
    pub origin: String,
    pub entries: u64,
    pub heads: usize,
    pub witnessed: usize,
    /// Entries whose sealed content was opened and hashes to its leaf.
    pub verified_entries: u64,
    /// Entries of erased people: leaf and place only.
    pub erased_entries: u64,
    /// Everything wrong, the earliest entry first.
    pub problems: Vec<LogProblem>,
}

impl AuditReport {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The ledger's name and public key, from the data directory's own key
/// file (never created here: an audit changes nothing).
pub fn ledger_key(
    data_dir: &Path,
    regions: &Regions,
) -> Result<(String, ed25519_dalek::VerifyingKey), ServerError> {
    let path = data_dir.join("keys").join("ledger-signing.key");
    let seed: [u8; 32] = std::fs::read(&path)
        .map_err(|source| ServerError::KeyFile {
            path: path.clone(),
            source,
        })?
        .try_into()
        .map_err(|_| ServerError::BadKeyFile(path.clone()))?;
    let origin = crate::ledger_origin(regions);
    let key = kizuna_ledger::TreeHeadKey::new(&origin, seed).verifying_key();
    Ok((origin, key))
}

/// Every head the ledger in `data_dir` signed, oldest first.
pub fn heads(data_dir: &Path) -> Result<Vec<SignedTreeHead>, ServerError> {
    Ok(read_log(&data_dir.join("ledger"))?.1)
}

pub async fn verify(
    data_dir: &Path,
    regions: Regions,
    witnessed: &[SignedTreeHead],
    progress: &dyn Progress,
) -> Result<AuditReport, ServerError> {
    let _lock = crate::DataDirLock::take(data_dir)?;
    let (origin, key) = ledger_key(data_dir, &regions)?;
    let (leaves, heads) = read_log(&data_dir.join("ledger"))?;
    let n = leaves.len() as u64;
    let mut problems = check_heads(&leaves, &heads, witnessed, &key, &origin);
    let vault = Vault::open_for_audit(regions.clone(), data_dir).await?;
    progress.total(n);
    let mut held = vec![0u8; leaves.len()];
    let (mut verified, mut erased) = (0, 0);
    for region in regions.ids() {
        let mut from = 0;
        loop {
            let batch = vault.held_entries(region, from, BATCH).await?;
            let Some(last) = batch.last() else { break };
            from = last.index + 1;
            for e in batch {
                let i = e.index;
                let at = |what: String| LogProblem {
                    index: Some(i),
                    what,
                };
                if i >= n {
                    problems.push(at(format!(
                        "entry {i} held in region {region} lies beyond the log's end ({n} entries): the log was truncated or an older copy of it restored"
                    )));
                    continue;
                }
                held[i as usize] = held[i as usize].saturating_add(1);
                if leaves[i as usize].as_slice() != e.leaf.as_slice() {
                    problems.push(at(format!(
                        "entry {i} in region {region} is not the ledger's leaf {i}: entries were reordered, or the ledger or the entry altered"
                    )));
                    continue;
                }
                match e.content {
                    Content::Matches => verified += 1,
                    Content::Erased => erased += 1,
                    Content::Differs => problems.push(at(format!(
                        "entry {i} in region {region} was edited: its content no longer hashes to its leaf"
                    ))),
                    Content::Unopenable(why) => problems.push(at(format!(
                        "entry {i} in region {region} cannot be opened ({why}): it was altered"
                    ))),
                }
                progress.advance(1);
            }
        }
    }
    // The staff realm's own events (logins, policy loads, organisations).
    let staff_store = data_dir.join("staff").join("staff.sqlite");
    if staff_store.exists() {
        let realm = kizuna_staff::StaffRealm::open_for_audit(&staff_store).await?;
        let mut from = 0;
        loop {
            let batch = realm.held_events(from, BATCH).await?;
            let Some(last) = batch.last() else { break };
            from = last.index + 1;
            for e in batch {
                let i = e.index;
                let at = |what: String| LogProblem {
                    index: Some(i),
                    what,
                };
                if i >= n {
                    problems.push(at(format!(
                        "staff event {i} lies beyond the log's end ({n} entries): the log was truncated or an older copy of it restored"
                    )));
                    continue;
                }
                held[i as usize] = held[i as usize].saturating_add(1);
                if leaves[i as usize].as_slice() != e.leaf.as_slice() {
                    problems.push(at(format!(
                        "staff event {i} is not the ledger's leaf {i}: entries were reordered, or the ledger or the event altered"
                    )));
                } else if !e.intact {
                    problems.push(at(format!(
                        "staff event {i} was edited: it no longer says what was hashed into the ledger"
                    )));
                } else {
                    verified += 1;
                }
                progress.advance(1);
            }
        }
        realm.close().await;
    }
    // Leaves nothing holds an entry for, reported as runs.
    let mut i = 0;
    while i < held.len() {
        if held[i] == 0 {
            let start = i;
            while i < held.len() && held[i] == 0 {
                i += 1;
            }
            let count = i - start;
            problems.push(LogProblem {
                index: Some(start as u64),
                what: if count == 1 {
                    format!("leaf {start} has no entry in any region or the staff store: its record was deleted, or a store restored from an older copy")
                } else {
                    format!("leaves {start}..{i} ({count}) have no entry in any region or the staff store: their records were deleted, or a store restored from an older copy")
                },
            });
        } else {
            i += 1;
        }
    }
    problems.sort_by_key(|p| p.index.unwrap_or(u64::MAX));
    vault.close().await;
    Ok(AuditReport {
        origin,
        entries: n,
        heads: heads.len(),
        witnessed: witnessed.len(),
        verified_entries: verified,
        erased_entries: erased,
        problems,
    })
}
