//! Auditing a stopped node's transparency ledger from its data directory:
//! the tree recomputed from the leaves and compared with every signed head
//! (and any heads witnesses kept), then every entry the regions hold
//! matched to its leaf and, with the region keys, opened, hashed again and
//! its clear columns compared with it.
//!
//! A node that stopped without closing (a crash, `kill -9`) may leave
//! entries written but not yet numbered: a record is written before its
//! leaf is appended, and its index noted after. Such an entry is not
//! tampering, and the audit tells it apart from a deleted one:
//!
//! - **pending**: written, its leaf in the ledger, its index not yet noted;
//!   the next start notes it. It counts as the entry of that leaf.
//! - **never appended**: written, its leaf not in the ledger; the next start
//!   removes it, since what it records never happened.
//! - **missing**: a leaf with no entry at all, numbered or pending: a
//!   deleted record, or a store restored from an older copy. Tampering.

use std::path::Path;

use kizuna_config::{DataDir, NodeKey, Regions};
use kizuna_ledger::audit::{check_heads, read_keyed, read_log, LogProblem};
use kizuna_ledger::{directory_key, SignedTreeHead};
use kizuna_vault::{Content, Progress, Vault};

use super::OpsError;

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
    /// Entries written, and their leaves appended, but not yet numbered in
    /// their store (the node stopped in between): the next start numbers
    /// them. Not a problem.
    pub pending_entries: u64,
    /// Entries written whose leaves never reached the ledger (the node
    /// stopped in between): the next start removes them, as what they
    /// record never happened. Not a problem.
    pub unappended_entries: u64,
    /// A serving cluster's entries appended after the audit read the log it
    /// checks them against: newer, not a problem.
    pub entries_after_read: u64,
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
) -> Result<(String, ed25519_dalek::VerifyingKey), OpsError> {
    let seed = DataDir::new(data_dir).existing_key(NodeKey::LedgerSigning)?;
    let origin = crate::ledger_origin(regions);
    let key = kizuna_ledger::TreeHeadKey::new(&origin, seed).verifying_key();
    Ok((origin, key))
}

/// Every head the ledger signed, oldest first: the one in `data_dir`, or
/// for a cluster the one its nodes share.
pub async fn heads(data_dir: &Path, regions: &Regions) -> Result<Vec<SignedTreeHead>, OpsError> {
    Ok(match crate::stores::node_location(regions)? {
        Some(at) => crate::shared_ledger::read_shared_log(&at).await?.2,
        None => read_log(&DataDir::new(data_dir).ledger())?.1,
    })
}

/// The directory key each key-log entry must be filed under: its handle's.
#[derive(Default)]
struct KeyFiling {
    numbered: std::collections::BTreeMap<u64, kizuna_ledger::Hash>,
    /// Entries not yet numbered, by leaf.
    pending: std::collections::HashMap<Vec<u8>, kizuna_ledger::Hash>,
}

impl KeyFiling {
    /// Every leaf the ledger files in the key directory must be a key-log
    /// entry filed under its own handle, and every key-log entry must be
    /// filed: the directory is what devices check a handle's history
    /// against, so an entry left out of it is one they would never see.
    fn check(
        mut self,
        keyed: &[(u64, kizuna_ledger::Hash)],
        leaves: &[kizuna_ledger::Hash],
    ) -> Vec<LogProblem> {
        let mut problems = Vec::new();
        for (idx, key) in keyed {
            let expected = self.numbered.remove(idx).or_else(|| {
                leaves
                    .get(*idx as usize)
                    .and_then(|l| self.pending.get(l.as_slice()).copied())
            });
            let what = match expected {
                Some(k) if &k == key => continue,
                Some(_) => format!("leaf {idx} is filed in the key directory under another handle than its key-log entry names"),
                None => format!("leaf {idx} is filed in the key directory, but no key-log entry holds it"),
            };
            problems.push(LogProblem {
                index: Some(*idx),
                what,
            });
        }
        let read = leaves.len() as u64;
        for idx in self.numbered.into_keys().filter(|i| *i < read) {
            problems.push(LogProblem {
                index: Some(idx),
                what: format!("key-log entry {idx} is not filed in the key directory: the heads do not commit to it, so devices would not see it"),
            });
        }
        problems
    }
}

/// What an entry held in a store says about itself.
enum Verdict {
    Intact,
    Erased,
    Altered(String),
}

/// Which leaves have their entries, and what is wrong so far.
struct Tally<'a> {
    leaves: &'a [kizuna_ledger::Hash],
    held: Vec<u8>,
    problems: Vec<LogProblem>,
    verified: u64,
    erased: u64,
    pending: u64,
    unappended: u64,
    /// Auditing the log a serving cluster shares: what was appended after
    /// the log was read is newer, not missing.
    shared: bool,
    after_read: u64,
}

impl Tally<'_> {
    /// One held entry: it must lie within the log, be its leaf, and be
    /// intact. `place` names it, with `{}` for its index.
    fn entry(&mut self, i: u64, place: &str, leaf: &[u8], verdict: Verdict) {
        let n = self.leaves.len() as u64;
        let name = place.replace("{}", &i.to_string());
        let mut problem = |what: String| {
            self.problems.push(LogProblem {
                index: Some(i),
                what: format!("{name} {what}"),
            })
        };
        if i >= n && self.shared {
            self.after_read += 1;
            return;
        }
        if i >= n {
            return problem(format!(
                "lies beyond the log's end ({n} entries): the log was truncated or an older copy of it restored"
            ));
        }
        self.held[i as usize] = self.held[i as usize].saturating_add(1);
        if self.leaves[i as usize].as_slice() != leaf {
            return problem(format!(
                "is not the ledger's leaf {i}: entries were reordered, or the ledger or the entry altered"
            ));
        }
        match verdict {
            Verdict::Intact => self.verified += 1,
            Verdict::Erased => self.erased += 1,
            Verdict::Altered(what) => problem(what),
        }
    }

    /// One entry written but not numbered: written when the log held
    /// `after` entries, so its leaf, if appended, lies at or after that.
    /// Found where no numbered entry stands, it is that leaf's entry, still
    /// to be numbered; not found, it never reached the ledger.
    fn pending(&mut self, place: &str, leaf: &[u8], after: u64, verdict: Verdict) {
        let n = self.leaves.len() as u64;
        if after > n && self.shared {
            self.after_read += 1;
            return;
        }
        if after > n {
            self.problems.push(LogProblem {
                index: Some(n),
                what: format!(
                    "{} was written when the log held {after} entries, but it holds {n}: the log was truncated or an older copy of it restored",
                    place.replace("{}", "not yet numbered")
                ),
            });
            return;
        }
        let found = (after..n)
            .find(|&i| self.held[i as usize] == 0 && self.leaves[i as usize].as_slice() == leaf);
        // In a serving cluster an entry read while pending may have been
        // numbered by the time the numbered ones were read: seen already.
        if found.is_none()
            && self.shared
            && (after..n).any(|i| self.leaves[i as usize].as_slice() == leaf)
        {
            return;
        }
        match found {
            Some(i) => {
                self.pending += 1;
                let name = place.replace("{}", &format!("{i} (written, not yet numbered)"));
                self.held[i as usize] = 1;
                match verdict {
                    Verdict::Altered(what) => self.problems.push(LogProblem {
                        index: Some(i),
                        what: format!("{name} {what}"),
                    }),
                    Verdict::Intact => self.verified += 1,
                    Verdict::Erased => self.erased += 1,
                }
            }
            None => self.unappended += 1,
        }
    }
}

/// A key-log entry is intact when it hashes to its leaf and its clear
/// columns, which the node looks it up by, say what the entry says.
fn key_verdict(row: &kizuna_store::KeyLogRow) -> Verdict {
    if kizuna_ledger::leaf_hash(&row.entry).as_slice() != row.leaf.as_slice() {
        return Verdict::Altered("no longer hashes to its leaf: its bytes were edited".into());
    }
    match serde_json::from_slice::<kizuna_wire::KeyEntry>(&row.entry) {
        Ok(e) if e.handle == row.handle && e.account_id == row.account_id => Verdict::Intact,
        Ok(_) => Verdict::Altered(
            "is filed under a handle or account it does not name: it was relabelled".into(),
        ),
        Err(e) => Verdict::Altered(format!("is not a key-log entry ({e})")),
    }
}

/// A `verified` key-log entry not borne out by two people's recorded
/// steps: the evidence checked by one, the approval by another, both for
/// the application it names, the evidence the one the badge hashes. A
/// badge the node gave on its own is found here.
fn unapproved_badge(
    idx: u64,
    row: &kizuna_store::KeyLogRow,
    steps: &std::collections::HashMap<u64, kizuna_staff::OfficialStep>,
    approvals_used: &mut std::collections::HashSet<u64>,
) -> Option<LogProblem> {
    use kizuna_staff::EventKind;
    let e: kizuna_wire::KeyEntry = serde_json::from_slice(&row.entry).ok()?;
    if e.change != kizuna_wire::KeyChange::Verified {
        return None;
    }
    let problem = |why: String| {
        Some(LogProblem {
            index: Some(idx),
            what: format!(
                "key-log entry {idx} gives {} an official badge {why}: no two people of the operator verified it",
                e.handle
            ),
        })
    };
    let Some(v) = &e.verification else {
        return problem("without saying who verified it".into());
    };
    let step = |at: u64, kind: EventKind| {
        steps
            .get(&at)
            .filter(|s| s.kind == kind && s.intact && s.application == v.application_id)
    };
    let (Some(proposed), Some(approved)) = (
        step(v.proposed, EventKind::OfficialProposed),
        step(v.approved, EventKind::OfficialVerified),
    ) else {
        return problem(format!(
            "whose steps (entries {} and {}) are not the staff realm's record of application {}",
            v.proposed, v.approved, v.application_id
        ));
    };
    if proposed.staff_id.is_none()
        || approved.staff_id.is_none()
        || proposed.staff_id == approved.staff_id
    {
        return problem("checked and approved by one person".into());
    }
    if proposed.evidence_sha256.as_deref() != Some(v.evidence.as_str()) {
        return problem("on evidence other than the evidence recorded".into());
    }
    // The approval is of this account, for this handle, before the badge.
    if approved.handle.as_deref() != Some(e.handle.as_str())
        || approved.account_id.as_deref() != Some(e.account_id.as_str())
        || !(v.proposed < v.approved && v.approved < idx)
    {
        return problem(format!(
            "with the approval (entry {}) of another account or handle, or out of order",
            v.approved
        ));
    }
    // The claim is the one its organisation applied with.
    let claim = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(v.claim.as_bytes()));
    let applied = steps.values().any(|s| {
        s.kind == EventKind::OfficialApplied
            && s.intact
            && s.application == v.application_id
            && s.claim_sha256.as_deref() == Some(claim.as_str())
    });
    if !applied {
        return problem(format!(
            "whose claim is not the one application {} was made with",
            v.application_id
        ));
    }
    // One approval, one badge: a badge given again after a revocation has
    // no approval of its own.
    if !approvals_used.insert(v.approved) {
        return problem(format!(
            "a second time from the one approval at entry {}",
            v.approved
        ));
    }
    None
}

fn verdict(c: &Content) -> Verdict {
    match (c, c.problem()) {
        (_, Some(what)) => Verdict::Altered(what),
        (Content::Erased, None) => Verdict::Erased,
        (_, None) => Verdict::Intact,
    }
}

pub async fn verify(
    data_dir: &Path,
    regions: Regions,
    witnessed: &[SignedTreeHead],
    progress: &dyn Progress,
) -> Result<AuditReport, OpsError> {
    let dir = DataDir::new(data_dir);
    let _lock = dir.lock()?;
    let (origin, key) = ledger_key(data_dir, &regions)?;
    // A cluster's log is the one its nodes share in the node database; a
    // node on its own keeps it in its data directory.
    let shared = crate::stores::node_location(&regions)?;
    let (leaves, keyed, heads) = match &shared {
        Some(at) => crate::shared_ledger::read_shared_log(at).await?,
        None => {
            let (leaves, heads) = read_log(&dir.ledger())?;
            let keyed = read_keyed(&dir.ledger(), leaves.len() as u64)?;
            (leaves, keyed, heads)
        }
    };
    let shared = shared.is_some();
    let n = leaves.len() as u64;
    let heads_problems = check_heads(&leaves, Some(&keyed), &heads, witnessed, &key, &origin);
    let vault = Vault::open_for_audit(regions.clone(), &dir, key).await?;
    progress.total(n);
    let mut t = Tally {
        leaves: &leaves,
        held: vec![0u8; leaves.len()],
        problems: Vec::new(),
        verified: 0,
        erased: 0,
        pending: 0,
        unappended: 0,
        shared,
        after_read: 0,
    };
    // The entries not yet numbered are read before the numbered ones: in a
    // serving cluster, one numbered in between is then seen as numbered,
    // where read the other way round it could be seen as neither.
    let mut pending_in_regions = Vec::new();
    for region in regions.ids() {
        pending_in_regions.push((region, vault.pending_entries(region).await?));
    }
    for region in regions.ids() {
        let place = format!("entry {{}} in region {region}");
        let mut from = 0;
        loop {
            let batch = vault.held_entries(region, from, BATCH).await?;
            let Some(last) = batch.last() else { break };
            from = last.index + 1;
            for e in batch {
                t.entry(e.index, &place, &e.leaf, verdict(&e.content));
                progress.advance(1);
            }
        }
    }
    // The staff realm's own events (logins, policy loads, organisations).
    let staff_store = crate::stores::staff_location(&dir, &regions)?;
    let mut official_steps = std::collections::HashMap::new();
    if !matches!(&staff_store, kizuna_staff::StaffStoreAt::File(path) if !path.exists()) {
        let realm = kizuna_staff::StaffRealm::open_for_audit(staff_store).await?;
        official_steps.extend(
            realm
                .official_steps()
                .await?
                .into_iter()
                .map(|s| (s.index, s)),
        );
        let pending_events = realm.pending_events().await?;
        let mut from = 0;
        loop {
            let batch = realm.held_events(from, BATCH).await?;
            let Some(last) = batch.last() else { break };
            from = last.index + 1;
            for e in batch {
                let verdict = if e.intact {
                    Verdict::Intact
                } else {
                    Verdict::Altered(
                        "was edited: it no longer says what was hashed into the ledger".into(),
                    )
                };
                t.entry(e.index, "staff event {}", &e.leaf, verdict);
                progress.advance(1);
            }
        }
        for e in pending_events {
            let v = if e.intact {
                Verdict::Intact
            } else {
                Verdict::Altered(
                    "was edited: it no longer says what was hashed into the ledger".into(),
                )
            };
            t.pending("staff event {}", &e.leaf, e.after, v);
        }
        realm.close().await;
    }
    // The key log's public entries, in the node store, each filed in the
    // key directory under its handle.
    let mut filed = KeyFiling::default();
    let mut badge_problems = Vec::new();
    let mut approvals_used = std::collections::HashSet::new();
    if regions.node_store.is_some() || dir.node_store().exists() {
        let store = crate::stores::open_node_store(&dir, &regions).await?;
        let pending_keys = store.pending_key_entries().await?;
        let mut from = 0;
        loop {
            let batch = store.key_entries_from(from, BATCH).await?;
            let Some(last) = batch.last() else { break };
            from = last.idx.map_or(u64::MAX, |i| i + 1);
            for e in batch {
                let Some(idx) = e.idx else { continue };
                t.entry(idx, "key-log entry {}", &e.leaf, key_verdict(&e));
                badge_problems.extend(unapproved_badge(
                    idx,
                    &e,
                    &official_steps,
                    &mut approvals_used,
                ));
                filed.numbered.insert(idx, directory_key(&e.handle));
                progress.advance(1);
            }
        }
        for e in pending_keys {
            t.pending("key-log entry {}", &e.leaf, e.after, key_verdict(&e));
            filed
                .pending
                .insert(e.leaf.clone(), directory_key(&e.handle));
        }
        store.close().await;
    }
    // Entries a stop without closing left unnumbered, matched only now, to
    // leaves no numbered entry holds.
    for (region, pending) in pending_in_regions {
        let place = format!("entry {{}} in region {region}");
        for e in pending {
            t.pending(&place, &e.leaf, e.after, verdict(&e.content));
        }
    }
    let (held, mut problems, verified, erased) = (t.held, t.problems, t.verified, t.erased);
    let (pending, unappended, entries_after_read) = (t.pending, t.unappended, t.after_read);
    problems.extend(heads_problems);
    problems.extend(filed.check(&keyed, &leaves));
    problems.extend(badge_problems);
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
        pending_entries: pending,
        unappended_entries: unappended,
        entries_after_read,
        problems,
    })
}
