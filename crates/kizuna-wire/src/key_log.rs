//! The key log: every binding of a handle to an account and of an account
//! to a device key, as a public entry of the transparency ledger, and what
//! a device is given to check the keys it is handed against it.

use serde::{Deserialize, Serialize};

use crate::Bytes;

/// What an entry of the key log says happened.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum KeyChange {
    /// The handle now belongs to a new account, whose first device is the
    /// entry's device.
    Registered,
    /// A device was linked to the account.
    DeviceAdded,
    /// A device of the account was revoked, or ended with its account.
    DeviceRemoved,
    /// The account was erased: the handle belongs to nobody until someone
    /// registers it again, as a new account.
    Erased,
    /// A device bound before the key log existed, entered once, when the
    /// node first kept the log, before anything else about its account.
    /// It carries no signature: a device trusts it only as the start of
    /// an account it sees for the first time.
    Adopted,
    /// The account was verified as an official account: the entry carries
    /// its organisation's claim, signed by the entry's device, and where
    /// the operator's two steps are in the ledger.
    Verified,
    /// The account's verification ended: no badge from this entry on.
    VerificationRevoked,
}

/// One entry of the key log, exactly as its bytes are hashed into the
/// ledger. It holds no personal data: a handle, a random account id, and
/// the public key a device signs with.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyEntry {
    /// 16 random bytes in hex, so an entry cannot be guessed from its leaf.
    pub salt: String,
    /// Milliseconds since the Unix epoch.
    pub at: u64,
    pub change: KeyChange,
    pub handle: String,
    pub account_id: String,
    /// The device the change is about (none for `erased`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// Its Ed25519 signature key (the key of its MLS credential), hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_key: Option<String>,
    /// For `registered`, none (the device signed its own registration);
    /// for `device_added`, the device of the account that vouched for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endorsed_by: Option<String>,
    /// Hex Ed25519 signature: for `registered`, the device's own over
    /// `register_signing_input(handle, key)`; for `device_added`, the
    /// endorsing device's over `endorse_signing_input(account, key)`; for
    /// `verified`, the entry's device's over
    /// `official_claim_signing_input(claim)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// For `verified`: the claim and the operator's record of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<crate::Verification>,
    /// For `verification_revoked`: why, in the operator's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One key-log entry with its inclusion proof.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProvenKeyEntry {
    pub index: u64,
    /// The entry's bytes, as hashed into the ledger (JSON of a
    /// [`KeyEntry`]).
    pub entry: Bytes,
    /// The inclusion proof against the answer's head: hex SHA-256 hashes.
    pub proof: Vec<String>,
}

/// Every key-log entry for a handle, across every account that held it,
/// in ledger order, each proven against one signed head; and that head
/// proven to extend the one of size `since` the device saw before.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyHistory {
    pub handle: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub head: kizuna_ledger::SignedTreeHead,
    /// From the tree size asked about (`since`) to `head`: hex hashes.
    pub consistency: Vec<String>,
    pub entries: Vec<ProvenKeyEntry>,
    /// The proof that `entries` are every entry for the handle the head
    /// covers: the key directory, whose root the head signs, holds under
    /// the handle the chain of exactly these entries' leaves.
    pub directory: KeyDirectoryProof,
}

/// A handle's place in the key directory a signed head commits to
/// (a compact sparse Merkle tree keyed by SHA-256 of the handle).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyDirectoryProof {
    /// The hashes beside the handle's path, from the root down, hex.
    pub siblings: Vec<String>,
    /// Where the path ends: the handle's own entry, another handle's (so
    /// this one has none), or nothing (none either).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<DirectoryEnd>,
}

/// The one entry of the subtree a handle's path ends in.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DirectoryEnd {
    /// Its directory key, hex.
    pub key: String,
    /// The chain of its leaves, hex.
    pub value: String,
}
