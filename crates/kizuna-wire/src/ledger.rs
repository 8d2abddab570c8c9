//! Accesses to a person's data as the transparency ledger records them, and
//! what a person is given to check their entries.

use serde::{Deserialize, Serialize};

use crate::Bytes;

/// One access to my personal data that crossed a border, or was refused
/// because it would have.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TransferRecord {
    /// Milliseconds since the Unix epoch.
    pub at: u64,
    /// `read`, `write`, `lookup`, `move` or `erase`.
    pub action: String,
    pub categories: Vec<String>,
    /// The region whose store holds the data.
    pub region: String,
    /// The country the data was reached from.
    pub to_country: String,
    /// The rule's transfer basis; none when refused.
    #[serde(default)]
    pub basis: Option<String>,
    /// Who it was for.
    pub requester: String,
    pub allowed: bool,
    /// Why it was refused, when it was.
    #[serde(default)]
    pub refusal: Option<String>,
}

/// The staff member an access was for, as the ledger records it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StaffRef {
    pub staff_id: String,
    pub org_id: String,
    /// Where the staff member's organisation works.
    pub country: String,
    pub grant_id: String,
    pub purpose: String,
    pub ticket: String,
    /// Their roles when they acted.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// One entry of the transparency ledger about a person, exactly as its
/// bytes were hashed into the ledger, so the person can check its leaf hash
/// on their own device.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LedgerEntry {
    /// 16 random bytes in hex, so the leaf hash of a short, predictable
    /// record cannot be guessed by anyone who sees only the tree.
    pub salt: String,
    /// The person's account id.
    pub subject: String,
    pub record: TransferRecord,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staff: Option<StaffRef>,
}

/// One of my ledger entries with its inclusion proof.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProvenAccess {
    pub index: u64,
    /// The entry's bytes, as hashed into the ledger (JSON of a
    /// [`LedgerEntry`]).
    pub entry: Bytes,
    /// The inclusion proof against the answer's head: hex SHA-256 hashes.
    pub proof: Vec<String>,
}

/// Every access to my data the ledger holds, each with its proof, against a
/// signed tree head; and the consistency proof from the head I saw last.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MyAccesses {
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub head: kizuna_ledger::SignedTreeHead,
    /// From the tree size asked about (`since`) to `head`: hex hashes.
    pub consistency: Vec<String>,
    pub accesses: Vec<ProvenAccess>,
    /// Records from before the ledger existed: shown, not provable.
    pub unproven: Vec<TransferRecord>,
}

/// The ledger's public key and name, for clients and witnesses.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LedgerKey {
    pub origin: String,
    /// The Ed25519 public key that signs tree heads, hex.
    pub public_key: String,
}
