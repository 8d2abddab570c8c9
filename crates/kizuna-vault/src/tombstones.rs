//! An erased person's ledger entries: emptied, renamed to the erased
//! name, and sealed by the ledger's own key over the leaf and the columns
//! kept in the clear, so an entry emptied by anyone but an erasure — a
//! living person's read made to look erased — is told apart, and so is a
//! tombstone whose time, organisation or staff member was changed.

use std::sync::atomic::{AtomicBool, Ordering};

use ed25519_dalek::VerifyingKey;
use kizuna_store::{LedgerRow, SealedAccess};

use crate::held_entries::Content;
use crate::region::RegionVault;
use crate::{Vault, VaultError};

/// What a region's tombstones are checked with.
pub(crate) struct Tombstones {
    /// The ledger's key, which signs every tombstone.
    pub key: VerifyingKey,
    /// Set while the region still holds tombstones an earlier version left
    /// bare (until the node first opens it): those cannot be told from an
    /// emptied entry, and count as erased until they are sealed.
    pub bare_allowed: AtomicBool,
}

/// The bytes a tombstone's seal signs: a label of its own, then the leaf
/// and the clear columns, each length-prefixed or flagged.
pub(crate) fn statement(leaf: &[u8], access: &SealedAccess) -> Vec<u8> {
    let mut m = b"kizuna-tombstone-v1\0".to_vec();
    m.extend((leaf.len() as u32).to_be_bytes());
    m.extend(leaf);
    m.extend(access.at.to_be_bytes());
    for column in [&access.org_id, &access.staff_id] {
        match column {
            None => m.push(0),
            Some(v) => {
                m.push(1);
                m.extend((v.len() as u32).to_be_bytes());
                m.extend(v.as_bytes());
            }
        }
    }
    m
}

impl RegionVault {
    /// What an entry under the erased name is: a tombstone if its seal
    /// holds, tampering otherwise.
    pub(crate) fn tombstone(&self, row: &LedgerRow) -> Content {
        let Some(leaf) = &row.access.leaf else {
            return Content::Unopenable("an erased entry with no leaf".into());
        };
        if row.access.sealed.is_empty() {
            return if self.tombstones.bare_allowed.load(Ordering::Acquire) {
                Content::Erased
            } else {
                Content::Unopenable(
                    "it carries the erased name but no seal of the ledger's key: it was emptied here, not erased".into(),
                )
            };
        }
        if kizuna_ledger::attested(
            &self.tombstones.key,
            &statement(leaf, &row.access),
            &row.access.sealed,
        ) {
            Content::Erased
        } else {
            Content::Unopenable(
                "its tombstone's seal does not hold: its time, organisation or staff member was changed, or it was never erased".into(),
            )
        }
    }
}

impl Vault {
    /// Turns a person's ledger entries in `rv` into sealed tombstones,
    /// before the rest of their data goes.
    pub(crate) async fn tombstone_entries(
        &self,
        rv: &RegionVault,
        subject: &str,
    ) -> Result<(), VaultError> {
        let ledger = self.ledger()?;
        let seals: Vec<(Vec<u8>, Vec<u8>)> = rv
            .store
            .access_records(subject)
            .await?
            .iter()
            .filter_map(|a| {
                let leaf = a.leaf.clone()?;
                let seal = ledger.attest(&statement(&leaf, a)).to_vec();
                Some((leaf, seal))
            })
            .collect();
        rv.store.tombstone_accesses(subject, &seals).await?;
        Ok(())
    }

    /// Seals the tombstones an earlier version left bare, once per region:
    /// after this, a bare one is tampering.
    pub(crate) async fn seal_bare_tombstones(&self) -> Result<(), VaultError> {
        let ledger = self.ledger()?;
        for rv in self.regions.values() {
            if rv.store.tombstones_sealed().await? {
                rv.tombstones.bare_allowed.store(false, Ordering::Release);
                continue;
            }
            let seals: Vec<(Vec<u8>, Vec<u8>)> = rv
                .store
                .bare_tombstones()
                .await?
                .iter()
                .filter_map(|row| {
                    let leaf = row.access.leaf.clone()?;
                    let seal = ledger.attest(&statement(&leaf, &row.access)).to_vec();
                    Some((leaf, seal))
                })
                .collect();
            if !seals.is_empty() {
                tracing::info!(region = %rv.id, n = seals.len(), "sealed the tombstones of people erased before tombstones were sealed");
            }
            rv.store.seal_bare_tombstones(&seals).await?;
            rv.tombstones.bare_allowed.store(false, Ordering::Release);
        }
        Ok(())
    }
}
