//! Checking, on this device, the keys the node hands out against the key
//! log: a handle's entries are each proven in a signed tree head that
//! extends the last one this device saw, then replayed in order. A
//! registration must be signed by its own device key and a linked device
//! vouched for by a device the account already had, so a key the node
//! made up, or added behind a person's back, is not one the log shows as
//! theirs: the device refuses it, loudly.

use std::collections::BTreeMap;

use ed25519_dalek::{Signature, VerifyingKey};
use kizuna_ledger::keymap::{chain_all, verify_key};
use kizuna_ledger::merkle::verify_inclusion;
use kizuna_ledger::{
    directory_key, hash_from_hex, leaf_hash, Hash, KeyProof, PathEnd, SignedTreeHead,
};
use kizuna_wire::{
    endorse_signing_input, register_signing_input, ErrorCode, KeyChange, KeyDirectoryProof,
    KeyEntry, KeyHistory,
};
use reqwest::Method;

use crate::ledger::{check_head, hashes, tampered};
use crate::{Client, ClientError, Event, Result};

/// What this device remembers of a handle's entries: the leaf of each it
/// verified (none may vanish or change), the account it last saw hold the
/// handle, and, for its own account, the devices it has shown as linked
/// (none before it first looked).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
struct SeenKeys {
    entries: BTreeMap<u64, String>,
    account_id: Option<String>,
    devices: Option<Vec<String>>,
}

/// A device of an account as the key log has it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LoggedDevice {
    pub device_id: String,
    /// Its signature key, hex.
    pub key: String,
    /// When it was registered or linked (ms).
    pub since: u64,
    /// The device that vouched for it; none for the account's first.
    pub endorsed_by: Option<String>,
    /// The key-log entry that bound it.
    pub index: u64,
    /// Bound before the key log existed, and entered into it unsigned.
    pub adopted: bool,
}

/// What the key log says a handle is bound to now.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct LoggedKeys {
    pub handle: String,
    /// The account the handle belongs to; none if nobody holds it.
    pub account_id: Option<String>,
    pub devices: Vec<LoggedDevice>,
    /// Accounts that held the handle before, erased, oldest first: a
    /// person registering a handle someone left is a new person.
    pub earlier_accounts: Vec<String>,
    /// The account this device knew by the handle, when another holds it
    /// now: whoever has the handle now is someone else, until this device's
    /// person confirms their safety number.
    pub replaced_account: Option<String>,
    /// Every (device id, key) the log ever bound to the handle, removed or
    /// erased since included: a chat met later may still hold one.
    #[serde(skip)]
    pub ever_bound: Vec<(String, String)>,
    /// The account's official badge, as this device checked it: the claim
    /// its organisation's device signed, verified by the operator.
    pub official: Option<OfficialBadge>,
    /// The account's last badge, when it was revoked and none holds now.
    pub revoked: Option<RevokedBadge>,
}

impl LoggedKeys {
    pub fn key_of(&self, device_id: &str) -> Option<&str> {
        self.devices
            .iter()
            .find(|d| d.device_id == device_id)
            .map(|d| d.key.as_str())
    }
}

/// Keys the node hands out that its own log does not vouch for.
pub(crate) fn not_logged(why: impl Into<String>) -> ClientError {
    ClientError::KeysNotLogged(why.into())
}

pub(crate) fn signed_by(key_hex: &str, message: &[u8], signature_hex: Option<&str>) -> bool {
    let (Ok(key), Some(Ok(sig))) = (hex::decode(key_hex), signature_hex.map(hex::decode)) else {
        return false;
    };
    let (Ok(key), Ok(sig)) = (
        <[u8; 32]>::try_from(key.as_slice()),
        Signature::from_slice(&sig),
    ) else {
        return false;
    };
    VerifyingKey::from_bytes(&key).is_ok_and(|k| k.verify_strict(message, &sig).is_ok())
}

/// Replays a handle's entries, in ledger order, into what the handle is
/// bound to now; an entry that does not hold up is named.
pub(crate) fn replay(handle: &str, entries: &[(u64, KeyEntry)]) -> Result<LoggedKeys> {
    let mut now = LoggedKeys {
        handle: handle.to_string(),
        ..Default::default()
    };
    // A key once removed never comes back: a device links again with a new
    // key, so an endorsement replayed for an old one (a revoked, lost
    // phone) is refused.
    let mut removed = std::collections::HashSet::new();
    // Devices from before the log are entered once, before anything else.
    let mut adopted_only = true;
    for (index, e) in entries {
        let bad = |what: &str| {
            not_logged(format!(
                "key-log entry {index} for {handle} {what}; the node may be handing out keys that are not this person's"
            ))
        };
        if e.handle != handle {
            return Err(bad("names another handle"));
        }
        let device = || -> Result<(String, String)> {
            // The key as lowercase hex only, so one key has one spelling.
            let key = e
                .device_key
                .as_deref()
                .and_then(|k| hex::decode(k).ok().filter(|b| hex::encode(b) == k));
            match (&e.device_id, key) {
                (Some(d), Some(k)) if kizuna_wire::device_id_for_key(&k) == *d => {
                    Ok((d.clone(), hex::encode(k)))
                }
                _ => Err(bad("does not name a device by its key")),
            }
        };
        let current = now.account_id.as_deref() == Some(e.account_id.as_str());
        if e.change != KeyChange::Adopted {
            adopted_only = false;
        }
        match e.change {
            KeyChange::Adopted => {
                if !adopted_only {
                    return Err(bad(
                        "enters a device as bound before the key log existed, after the log already had other entries for the handle",
                    ));
                }
                if now.account_id.as_ref().is_some_and(|a| *a != e.account_id) {
                    return Err(bad("binds the handle to two accounts at once"));
                }
                let (device_id, key) = device()?;
                now.account_id = Some(e.account_id.clone());
                now.devices.retain(|d| d.device_id != device_id);
                now.devices.push(LoggedDevice {
                    device_id,
                    key,
                    since: e.at,
                    endorsed_by: None,
                    index: *index,
                    adopted: true,
                });
            }
            KeyChange::Registered => {
                if now.account_id.is_some() {
                    return Err(bad(
                        "binds the handle to a new account while another still holds it",
                    ));
                }
                // A new account is new: never one that held the handle
                // before, nor with a key that was removed.
                if now.earlier_accounts.contains(&e.account_id) {
                    return Err(bad("registers again an account that was erased"));
                }
                let (device_id, key) = device()?;
                if removed.contains(&key) {
                    return Err(bad("registers a device key that was removed"));
                }
                let input = register_signing_input(handle, &hex::decode(&key).unwrap_or_default());
                if !signed_by(&key, &input, e.signature.as_deref()) {
                    return Err(bad(
                        "registers a device key that did not sign the registration",
                    ));
                }
                now.account_id = Some(e.account_id.clone());
                now.official = None;
                now.revoked = None;
                now.devices = vec![LoggedDevice {
                    device_id,
                    key,
                    since: e.at,
                    endorsed_by: None,
                    index: *index,
                    adopted: false,
                }];
            }
            KeyChange::DeviceAdded => {
                if !current {
                    return Err(bad(
                        "adds a device to an account that does not hold the handle",
                    ));
                }
                let (device_id, key) = device()?;
                if removed.contains(&key) {
                    return Err(bad("adds again a device key its account removed"));
                }
                let endorser = e
                    .endorsed_by
                    .as_deref()
                    .and_then(|by| now.key_of(by))
                    .ok_or_else(|| bad("adds a device no device of the account vouched for"))?;
                let input =
                    endorse_signing_input(&e.account_id, &hex::decode(&key).unwrap_or_default());
                if !signed_by(endorser, &input, e.signature.as_deref()) {
                    return Err(bad(
                        "adds a device whose endorsement is not its account's device's signature",
                    ));
                }
                now.devices.retain(|d| d.device_id != device_id);
                now.devices.push(LoggedDevice {
                    device_id,
                    key,
                    since: e.at,
                    endorsed_by: e.endorsed_by.clone(),
                    index: *index,
                    adopted: false,
                });
            }
            KeyChange::DeviceRemoved => {
                if current {
                    let (device_id, key) = device()?;
                    now.devices.retain(|d| d.device_id != device_id);
                    removed.insert(key);
                }
            }
            KeyChange::Erased => {
                if current {
                    now.earlier_accounts.push(e.account_id.clone());
                    now.account_id = None;
                    now.official = None;
                    now.revoked = None;
                    removed.extend(now.devices.drain(..).map(|d| d.key));
                }
            }
            KeyChange::Verified => {
                if !current {
                    return Err(bad("verifies an account that does not hold the handle"));
                }
                now.official =
                    Some(badge(handle, *index, e, &now, device()?).map_err(|w| bad(&w))?);
                now.revoked = None;
            }
            KeyChange::VerificationRevoked => {
                if !current {
                    return Err(bad(
                        "revokes the badge of an account that does not hold the handle",
                    ));
                }
                // A second revocation (two people at once) ends nothing
                // more: it is no reason to refuse the handle's history.
                if let Some(was) = now.official.take() {
                    now.revoked = Some(RevokedBadge {
                        organisation: was.claim.organisation,
                        revoked_at: e.at,
                        reason: e.reason.clone().unwrap_or_default(),
                        index: *index,
                    });
                }
            }
        }
        if matches!(
            e.change,
            KeyChange::Adopted | KeyChange::Registered | KeyChange::DeviceAdded
        ) {
            now.ever_bound.push(device()?);
        }
    }
    Ok(now)
}

/// Checks that `leaves` (by index) are every entry for `handle` that
/// `head` covers: the key directory the head signs holds under the handle
/// the chain of exactly these. A node that leaves out an entry (a revoked
/// device, a handle taken over) or shows someone else another history is
/// caught here.
fn check_complete(
    handle: &str,
    head: &SignedTreeHead,
    leaves: &BTreeMap<u64, String>,
    directory: &KeyDirectoryProof,
) -> Result<()> {
    let root = head.keys.ok_or_else(|| {
        tampered(format!(
            "the node's head of {} entries commits to no key directory, so nothing shows these are all of {handle}'s entries",
            head.size
        ))
    })?;
    let chained = leaves
        .values()
        .map(|l| hash_from_hex(l).ok_or_else(|| tampered(format!("'{l}' is not a leaf hash"))))
        .collect::<Result<Vec<Hash>>>()?;
    let proof = KeyProof {
        siblings: hashes(&directory.siblings)?,
        end: match &directory.end {
            None => PathEnd::Empty,
            Some(e) => PathEnd::Entry {
                key: hash_from_hex(&e.key)
                    .ok_or_else(|| tampered("a directory key in the proof is not a hash"))?,
                value: hash_from_hex(&e.value)
                    .ok_or_else(|| tampered("a directory value in the proof is not a hash"))?,
            },
        },
    };
    verify_key(&root, &directory_key(handle), chain_all(&chained).as_ref(), &proof).map_err(|e| {
        tampered(format!(
            "the node's key log for {handle} is not the whole history its signed head of {} entries holds ({e}): it left entries out, or shows others another one",
            head.size
        ))
    })
}

impl Client {
    /// What the key log says `handle` is bound to now, every entry proven
    /// here against a signed head that extends the last one this device
    /// saw, and none it verified before gone or changed.
    pub async fn logged_keys(&mut self, handle: &str) -> Result<LoggedKeys> {
        let _g = self.begin().await?;
        self.logged_keys_held(handle).await
    }

    /// [`Client::logged_keys`] for a caller that holds the home: the
    /// ledger state this device pinned is read, checked and written back
    /// by one process at a time, so none moves it back or loses what
    /// another verified.
    pub(crate) async fn logged_keys_held(&mut self, handle: &str) -> Result<LoggedKeys> {
        let mut seen = self.seen_ledger().await?;
        let since = seen.head.as_ref().map_or(0, |h| h.size);
        let answer: KeyHistory = match self
            .call::<(), _>(
                Method::GET,
                &format!("/v1/keys/{handle}?since={since}"),
                None,
            )
            .await
        {
            Err(ClientError::Api {
                code: ErrorCode::LedgerRolledBack,
                message,
            }) => return Err(tampered(message)),
            r => r?,
        };
        if answer.handle != handle {
            return Err(tampered(format!(
                "asked for the key log of {handle}, the node answered that of {}",
                answer.handle
            )));
        }
        check_head(&seen, &answer.head, &answer.consistency)?;
        let head = answer.head;
        let mut entries = Vec::with_capacity(answer.entries.len());
        let mut leaves = BTreeMap::new();
        for p in answer.entries {
            let leaf = leaf_hash(&p.entry.0);
            verify_inclusion(&leaf, p.index, head.size, &hashes(&p.proof)?, &head.root).map_err(
                |e| {
                    tampered(format!(
                        "key-log entry {} is not in the signed ledger: {e}",
                        p.index
                    ))
                },
            )?;
            let entry: KeyEntry = serde_json::from_slice(&p.entry.0)
                .map_err(|e| tampered(format!("entry {} is not a key-log entry: {e}", p.index)))?;
            if leaves.insert(p.index, hex::encode(leaf)).is_some() {
                return Err(tampered(format!(
                    "key-log entry {} for {handle} was given twice",
                    p.index
                )));
            }
            entries.push((p.index, entry));
        }
        entries.sort_by_key(|(i, _)| *i);
        check_complete(handle, &head, &leaves, &answer.directory)?;
        let mut kept = self.seen_keys(handle).await?;
        for (index, leaf) in &kept.entries {
            match leaves.get(index) {
                Some(l) if l == leaf => {}
                Some(_) => {
                    return Err(tampered(format!(
                        "key-log entry {index} for {handle} is not the one this device verified before"
                    )))
                }
                None => {
                    return Err(tampered(format!(
                        "key-log entry {index} for {handle}, which this device verified before, is gone"
                    )))
                }
            }
        }
        let mut logged = replay(handle, &entries)?;
        seen.head = Some(head);
        self.keep_seen_ledger(&seen).await?;
        kept.entries = leaves;
        // The account this device knew by the handle stays the one it
        // knew until its person confirms the new one's safety number.
        match (&kept.account_id, &logged.account_id) {
            (None, now) => kept.account_id.clone_from(now),
            (Some(before), Some(now)) if before != now => {
                logged.replaced_account = Some(before.clone())
            }
            _ => {}
        }
        self.keep_seen_keys(handle, &kept).await?;
        Ok(logged)
    }

    /// Takes the account that holds `handle` now for the one this device
    /// knows by it (once its person compared the new safety number).
    pub(crate) async fn accept_logged_account(&mut self, handle: &str) -> Result<()> {
        let _g = self.begin().await?;
        let logged = self.logged_keys_held(handle).await?;
        let mut kept = self.seen_keys(handle).await?;
        kept.account_id = logged.account_id;
        self.keep_seen_keys(handle, &kept).await?;
        // The person compared the number in person: what was told about
        // this handle's devices has been answered.
        self.forget_member_warnings(handle).await
    }

    /// Checks the key packages claimed for `handle`'s devices against the
    /// key log: each must be the key it logs for that device of the
    /// account that holds the handle now.
    pub(crate) async fn check_logged(
        &mut self,
        claimed: &[(String, String, Vec<u8>)],
    ) -> Result<()> {
        let mut handles: Vec<&str> = claimed.iter().map(|(h, _, _)| h.as_str()).collect();
        handles.sort_unstable();
        handles.dedup();
        for handle in handles {
            let logged = self.logged_keys_held(handle).await?;
            for (h, device_id, key) in claimed.iter().filter(|c| c.0 == handle) {
                if logged.key_of(device_id) != Some(hex::encode(key).as_str()) {
                    return Err(not_logged(format!(
                        "the node handed this device a key for {h}'s device {device_id} that the key log does not show as theirs; nothing was sent to it"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Checks this account's own entries in the key log now, as each sync
    /// does; answers the devices linked since this device last looked.
    pub async fn check_own_keys(&mut self) -> Result<Vec<Event>> {
        let _g = self.begin().await?;
        self.monitor_own_keys().await
    }

    /// Checks this account's own entries in the key log: the handle must
    /// still be this account's, every device on it one the account
    /// registered or vouched for (anything else fails the replay), and
    /// every device the node says the account has one the log holds.
    /// Devices linked since this device last looked are events.
    pub(crate) async fn monitor_own_keys(&mut self) -> Result<Vec<Event>> {
        let handle = self.identity.handle.clone();
        let looked_before = self.seen_keys(&handle).await?;
        let logged = self.logged_keys_held(&handle).await?;
        // Devices from before the log were entered before this device
        // first looked; one entered so since is the node's own doing.
        if looked_before.devices.is_some() {
            let last_seen = looked_before.entries.keys().max().copied();
            if let Some(d) = logged
                .devices
                .iter()
                .find(|d| d.adopted && last_seen.is_none_or(|s| d.index > s))
            {
                return Err(not_logged(format!(
                    "device {} was entered into the key log as from before the log existed, after this device had looked: it was added behind your back; revoke it with `kizuna device revoke {}`",
                    d.device_id, d.device_id
                )));
            }
        }
        if logged.account_id.as_deref() != Some(self.identity.account_id.as_str()) {
            return Err(not_logged(format!(
                "the key log binds your handle {handle} to {}, not to your account {}",
                logged.account_id.as_deref().unwrap_or("nobody"),
                self.identity.account_id
            )));
        }
        for d in self.devices().await? {
            if logged.key_of(&d.device_id).is_none() {
                return Err(not_logged(format!(
                    "the node says device {} (\"{}\") is on your account, but the key log has no device of yours by that id: it was added behind your back; revoke it with `kizuna device revoke {}`",
                    d.device_id, d.label, d.device_id
                )));
            }
        }
        let mut kept = self.seen_keys(&handle).await?;
        let mut events = Vec::new();
        let first_look = kept.devices.is_none();
        let shown = kept.devices.get_or_insert_with(Vec::new);
        for d in &logged.devices {
            if !shown.contains(&d.device_id) {
                // This device, or one it approved itself: nothing to tell.
                let me = &self.identity.device_id;
                let mine = d.device_id == *me || d.endorsed_by.as_ref() == Some(me);
                if !first_look && !mine {
                    events.push(Event::DeviceLinked {
                        device_id: d.device_id.clone(),
                        by: d.endorsed_by.clone().unwrap_or_default(),
                        at: d.since,
                    });
                }
                shown.push(d.device_id.clone());
            }
        }
        self.keep_seen_keys(&handle, &kept).await?;
        Ok(events)
    }

    async fn seen_keys(&self, handle: &str) -> Result<SeenKeys> {
        match self.local.meta(&format!("keys_seen:{handle}")).await? {
            Some(b) => serde_json::from_slice(&b).map_err(|e| ClientError::Local {
                path: self.home.clone(),
                reason: format!("the key log this device kept for {handle} is damaged: {e}"),
            }),
            None => Ok(SeenKeys::default()),
        }
    }

    async fn keep_seen_keys(&self, handle: &str, kept: &SeenKeys) -> Result<()> {
        let bytes = serde_json::to_vec(kept).map_err(|e| ClientError::Protocol(e.to_string()))?;
        self.local
            .set_meta(&format!("keys_seen:{handle}"), &bytes)
            .await
    }
}

mod badges;
mod members;
#[cfg(test)]
mod tests;

use badges::badge;
pub use badges::{OfficialBadge, RevokedBadge};

pub(crate) use members::UNCHECKED_MEMBERS;
