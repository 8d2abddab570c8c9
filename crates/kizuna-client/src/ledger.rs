//! Checking, on this device, what the node says about who accessed my data:
//! every entry against the signed tree head by its inclusion proof, and the
//! head against the last one this device saw by a consistency proof. The
//! ledger's key is pinned the first time; a different key, a fork or a
//! rollback is reported as tampering.

use kizuna_ledger::merkle::{verify_consistency, verify_inclusion};
use kizuna_ledger::{hash_from_hex, key_from_hex, leaf_hash, Hash, SignedTreeHead};
use kizuna_wire::{ErrorCode, LedgerEntry, LedgerKey, MyAccesses, TransferRecord};
use reqwest::Method;

use crate::{Client, ClientError, Result};

const SEEN: &str = "ledger_seen";

/// What this device knows of the ledger: its key, pinned at first use, and
/// the last head it verified.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Seen {
    key: LedgerKey,
    pub(crate) head: Option<SignedTreeHead>,
    /// The entries about me this device has verified: none may vanish.
    #[serde(default)]
    entries: std::collections::BTreeMap<u64, String>,
}

/// One access to my data, proven to be in the ledger.
#[derive(Clone, Debug, serde::Serialize)]
pub struct VerifiedAccess {
    pub index: u64,
    pub entry: LedgerEntry,
    /// The bytes hashed into the ledger.
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

/// My accesses, each verified against `head`, which extends every head this
/// device saw before.
#[derive(Clone, Debug, serde::Serialize)]
pub struct VerifiedAccesses {
    pub head: SignedTreeHead,
    /// The size of the head this device had verified before (0 at first).
    pub previous_size: u64,
    pub accesses: Vec<VerifiedAccess>,
    /// Records from before the ledger: shown, not provable.
    pub unproven: Vec<TransferRecord>,
}

pub(crate) fn tampered(why: impl Into<String>) -> ClientError {
    ClientError::LedgerTampered(why.into())
}

pub(crate) fn hashes(list: &[String]) -> Result<Vec<Hash>> {
    list.iter()
        .map(|h| {
            hash_from_hex(h)
                .ok_or_else(|| tampered(format!("'{h}' in a proof is not a SHA-256 hash")))
        })
        .collect()
}

impl Client {
    pub(crate) async fn seen_ledger(&mut self) -> Result<Seen> {
        if let Some(bytes) = self.local.meta(SEEN).await? {
            return serde_json::from_slice(&bytes).map_err(|e| ClientError::Local {
                path: self.home.clone(),
                reason: format!("the ledger state this device kept is damaged: {e}"),
            });
        }
        let key: LedgerKey = self
            .call::<(), _>(Method::GET, "/v1/ledger/key", None)
            .await?;
        Ok(Seen {
            key,
            head: None,
            entries: Default::default(),
        })
    }

    /// Every access to my data in the ledger, each verified here.
    pub async fn accesses(&mut self) -> Result<VerifiedAccesses> {
        // The pinned ledger state is read, checked and written back by one
        // process at a time.
        let _g = self.begin().await?;
        let seen = self.seen_ledger().await?;
        let since = seen.head.as_ref().map_or(0, |h| h.size);
        let answer: MyAccesses = match self
            .call::<(), _>(Method::GET, &format!("/v1/me/accesses?since={since}"), None)
            .await
        {
            Err(ClientError::Api {
                code: ErrorCode::LedgerRolledBack | ErrorCode::LedgerEntryUnreadable,
                message,
            }) => return Err(tampered(message)),
            r => r?,
        };
        let verified = verify(&seen, answer, &self.identity().account_id)?;
        let mut entries = seen.entries;
        for a in &verified.accesses {
            entries.insert(a.index, hex::encode(leaf_hash(&a.bytes)));
        }
        let kept = Seen {
            key: seen.key,
            head: Some(verified.head.clone()),
            entries,
        };
        self.keep_seen_ledger(&kept).await?;
        Ok(verified)
    }

    /// Keeps what this device now knows of the ledger.
    pub(crate) async fn keep_seen_ledger(&self, seen: &Seen) -> Result<()> {
        let bytes = serde_json::to_vec(seen).map_err(|e| ClientError::Protocol(e.to_string()))?;
        self.local.set_meta(SEEN, &bytes).await
    }
}

/// Checks a head against the ledger this device follows: signed by the
/// key it pinned, and extending the last head it saw. Answers the size of
/// that last head (0 at first).
/// The oldest tree head a device takes with an answer (its clock may be a
/// little off; a node signs its head again every ten minutes).
const MAX_HEAD_AGE_MS: u64 = 60 * 60 * 1000;

pub(crate) fn check_head(
    seen: &Seen,
    head: &SignedTreeHead,
    consistency: &[String],
) -> Result<u64> {
    let key = key_from_hex(&seen.key.public_key)
        .ok_or_else(|| tampered("the ledger key this device pinned is not an Ed25519 key"))?;
    if head.origin != seen.key.origin {
        return Err(tampered(format!(
            "the head comes from ledger '{}', not '{}' which this device has been following",
            head.origin, seen.key.origin
        )));
    }
    head.verify(&key).map_err(|_| {
        tampered("the tree head is not signed by the ledger key this device pinned")
    })?;
    // A head from before a change hides the change: the node answers with
    // a head signed within the last second it changed, and signs its head
    // again every ten minutes however quiet it is.
    let age = kizuna_wire::now_ms().saturating_sub(head.timestamp_ms);
    if age > MAX_HEAD_AGE_MS {
        return Err(tampered(format!(
            "the node answers with a tree head signed {} minutes ago: it may be hiding what changed since (or this device's clock is wrong)",
            age / 60_000
        )));
    }
    let previous_size = seen.head.as_ref().map_or(0, |h| h.size);
    if let Some(old) = &seen.head {
        verify_consistency(
            old.size,
            head.size,
            &old.root,
            &head.root,
            &hashes(consistency)?,
        )
        .map_err(|e| {
            tampered(format!(
                "the ledger no longer extends the head of {} entries this device saw at {}: {e}",
                old.size, old.timestamp_ms
            ))
        })?;
    }
    Ok(previous_size)
}

fn verify(seen: &Seen, answer: MyAccesses, account_id: &str) -> Result<VerifiedAccesses> {
    let head = answer.head;
    let previous_size = check_head(seen, &head, &answer.consistency)?;
    let mut accesses = Vec::with_capacity(answer.accesses.len());
    for a in answer.accesses {
        let leaf = leaf_hash(&a.entry.0);
        verify_inclusion(&leaf, a.index, head.size, &hashes(&a.proof)?, &head.root).map_err(
            |e| {
                tampered(format!(
                    "entry {} is not in the signed ledger: {e}",
                    a.index
                ))
            },
        )?;
        let entry: LedgerEntry = serde_json::from_slice(&a.entry.0)
            .map_err(|e| tampered(format!("entry {} is not a ledger entry: {e}", a.index)))?;
        if entry.subject != account_id {
            return Err(tampered(format!(
                "entry {} is about someone else, not this account",
                a.index
            )));
        }
        accesses.push(VerifiedAccess {
            index: a.index,
            entry,
            bytes: a.entry.0,
        });
    }
    // Every entry this device verified before must still be there, the same.
    for (index, leaf) in &seen.entries {
        match accesses.iter().find(|a| a.index == *index) {
            Some(a) if hex::encode(leaf_hash(&a.bytes)) == *leaf => {}
            Some(_) => {
                return Err(tampered(format!(
                    "entry {index} about you is not the one this device verified before"
                )))
            }
            None => {
                return Err(tampered(format!(
                    "entry {index} about you, which this device verified before, is gone"
                )))
            }
        }
    }
    Ok(VerifiedAccesses {
        head,
        previous_size,
        accesses,
        unproven: answer.unproven,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(key: &kizuna_ledger::TreeHeadKey) -> Seen {
        Seen {
            key: LedgerKey {
                origin: key.origin().to_string(),
                public_key: hex::encode(key.verifying_key().as_bytes()),
            },
            head: None,
            entries: Default::default(),
        }
    }

    #[test]
    fn a_head_signed_over_an_hour_ago_is_refused() {
        let key = kizuna_ledger::TreeHeadKey::new("test/ledger", [3; 32]);
        let now = kizuna_wire::now_ms();
        let fresh = key.sign_with_keys(0, kizuna_ledger::merkle::empty_root(), None, now);
        check_head(&seen(&key), &fresh, &[]).unwrap();
        let stale = key.sign_with_keys(
            0,
            kizuna_ledger::merkle::empty_root(),
            None,
            now - MAX_HEAD_AGE_MS - 60_000,
        );
        let e = check_head(&seen(&key), &stale, &[]).unwrap_err();
        assert!(matches!(e, ClientError::LedgerTampered(_)), "{e}");
        assert!(e.to_string().contains("hiding what changed"), "{e}");
    }
}
