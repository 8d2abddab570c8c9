//! The transparency ledger as people and auditors read it: a person's own
//! entries with their inclusion proofs against a signed head, and the
//! public heads, consistency proofs and leaf hashes that let anyone check
//! the log without seeing what it records.

use kizuna_ledger::{Hash, Ledger, SignedTreeHead};
use kizuna_wire::{Bytes, ErrorCode, LedgerKey, MyAccesses, ProvenAccess};

use crate::auth::DeviceIdentity;
use crate::error::NodeError;
use crate::node::Node;

/// How old a head given with proofs may be: a change is in what a device
/// is shown within a second (and at most one head a second is signed for
/// such answers); a device refuses a head older than an hour.
const HEAD_MAX_AGE_MS: u64 = 1000;

/// Leaf hashes answered per request at most.
const MAX_LEAVES: u64 = 65_536;

/// Most heads in one page.
pub const HEADS_PAGE: usize = 10_000;

fn hexes(hashes: Vec<Hash>) -> Vec<String> {
    hashes.into_iter().map(hex::encode).collect()
}

/// A range of the ledger asked for: `a <= b <= size`, at most `max` apart.
fn within(a: u64, b: u64, size: u64, max: u64, first: &str, last: &str) -> Result<(), NodeError> {
    if a > b || b > size || b - a > max {
        let most = if max == u64::MAX {
            String::new()
        } else {
            format!(", at most {max} apart")
        };
        return Err(NodeError::invalid(
            ErrorCode::BadRequest,
            format!("need {first} <= {last} <= {size} (the ledger's size){most}"),
        ));
    }
    Ok(())
}

fn ledger_failure(e: kizuna_ledger::LedgerError) -> NodeError {
    kizuna_vault::VaultError::Ledger(e).into()
}

impl Node {
    fn ledger(&self) -> Result<&Ledger, NodeError> {
        Ok(self.vault.ledger()?)
    }

    /// My access records, each proven included in one signed head that
    /// covers them, and that head proven to extend the one of size `since`
    /// my device saw before.
    pub async fn my_accesses(
        &self,
        me: &DeviceIdentity,
        since: u64,
    ) -> Result<MyAccesses, NodeError> {
        let a = self.account_of(me).await?;
        let accesses = self
            .vault
            .accesses(&a.account_id, &a.region, &me.requester())
            .await
            .map_err(|e| match e {
                // The person is told, rather than given a server error: an
                // entry about them that no longer opens may have been edited.
                kizuna_vault::VaultError::Unsealable { region, problem } => NodeError {
                    cause: Some(format!("an access record in region {region} does not open: {problem}")),
                    ..NodeError::conflict(
                        ErrorCode::LedgerEntryUnreadable,
                        format!(
                            "one of your access records in region {region} no longer opens ({problem}): it was altered, or this node's region keys are wrong"
                        ),
                    )
                },
                other => other.into(),
            })?;
        let ledger = self.ledger()?;
        let (head, consistency) = self
            .head_for(accesses.iter().filter_map(|a| a.index), since)
            .await?;
        let mut proven = Vec::new();
        let mut unproven = Vec::new();
        for access in accesses {
            match (access.index, access.entry) {
                (Some(index), Some(entry)) if index < head.size => proven.push(ProvenAccess {
                    index,
                    entry: Bytes(entry),
                    proof: hexes(
                        ledger
                            .inclusion_proof(index, head.size)
                            .map_err(ledger_failure)?,
                    ),
                }),
                _ => unproven.push(access.record),
            }
        }
        Ok(MyAccesses {
            head,
            consistency,
            accesses: proven,
            unproven,
        })
    }

    /// A signed head that covers every entry `indices` names and the head
    /// of size `since` a device saw, signed at most `HEAD_MAX_AGE_MS` ago
    /// (the latest if it is such a head, else one signed now), with the
    /// proof that it extends that one. Never an old head: one from before
    /// a change would hide the change, so devices refuse heads older than
    /// an hour.
    pub(crate) async fn head_for(
        &self,
        indices: impl Iterator<Item = u64>,
        since: u64,
    ) -> Result<(SignedTreeHead, Vec<String>), NodeError> {
        let ledger = self.ledger()?;
        let need = indices.map(|i| i + 1).max().unwrap_or(0).max(since);
        let recent = ledger
            .recent_head_async(HEAD_MAX_AGE_MS)
            .await
            .map_err(ledger_failure)?;
        let head = if recent.size >= need {
            recent
        } else {
            ledger
                .head_covering_async(need)
                .await
                .map_err(ledger_failure)?
        };
        if since > head.size {
            return Err(NodeError::conflict(
                ErrorCode::LedgerRolledBack,
                format!(
                    "this node's ledger holds {} entries, fewer than the {since} of a head you saw before: it was rolled back or replaced",
                    head.size
                ),
            ));
        }
        let consistency = hexes(
            ledger
                .consistency_proof(since, head.size)
                .map_err(ledger_failure)?,
        );
        Ok((head, consistency))
    }

    /// The ledger's name and the key its heads are signed with.
    pub fn ledger_key(&self) -> Result<LedgerKey, NodeError> {
        let l = self.ledger()?;
        Ok(LedgerKey {
            origin: l.origin().to_string(),
            public_key: hex::encode(l.verifying_key().as_bytes()),
        })
    }

    /// A recent signed head. Anyone may ask, as often as they like; a head
    /// is signed (and fsynced) at most once a second for them.
    pub async fn tree_head(&self) -> Result<SignedTreeHead, NodeError> {
        self.ledger()?
            .recent_head_async(1000)
            .await
            .map_err(ledger_failure)
    }

    /// Signed heads, oldest first, after skipping `skip`.
    pub fn tree_heads(&self, skip: usize) -> Result<Vec<SignedTreeHead>, NodeError> {
        Ok(self.ledger()?.heads_page(skip, HEADS_PAGE))
    }

    /// The proof that the tree of size `to` extends the one of size `from`.
    pub fn consistency_proof(&self, from: u64, to: u64) -> Result<Vec<String>, NodeError> {
        let l = self.ledger()?;
        within(from, to, l.size(), u64::MAX, "from", "to")?;
        Ok(hexes(
            l.consistency_proof(from, to).map_err(ledger_failure)?,
        ))
    }

    /// Leaf hashes `start..end`, at most 65,536 at a time.
    pub fn ledger_leaves(&self, start: u64, end: u64) -> Result<Vec<String>, NodeError> {
        let l = self.ledger()?;
        within(start, end, l.size(), MAX_LEAVES, "start", "end")?;
        Ok(hexes(l.leaves(start, end).map_err(ledger_failure)?))
    }
}
