//! The transparency ledger: an append-only Merkle log of entry hashes with
//! RFC 9162 inclusion and consistency proofs and Ed25519-signed tree heads.
//!
//! The ledger holds only leaf hashes; the entries themselves are kept
//! elsewhere (sealed, in the home region of the person they concern), so
//! anyone may check the tree without seeing what it records.

pub mod audit;
mod head;
pub mod keymap;
mod log;
mod memory;
pub mod merkle;
pub mod note;
mod shared;
mod signing;

pub use head::{attested, key_from_hex, SignedTreeHead, TreeHeadKey};
pub use keymap::{directory_key, KeyProof, PathEnd};
pub use log::{Leaf, Ledger, BLOCK_LEAVES};
pub use memory::InMemoryLog;
pub use merkle::{hash_from_hex, leaf_hash, Hash};
pub use shared::SharedLog;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("entry {index} is not in a tree of {size} entries")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("leaves {start}..{end} are not in a tree of {size} entries")]
    Range { start: u64, end: u64, size: u64 },
    #[error("a tree of {old} entries cannot follow one of {new}: the log never shrinks")]
    Shrunk { old: u64, new: u64 },
    #[error("{0}")]
    BadProof(&'static str),
    #[error("the tree head is not signed by this ledger's key")]
    BadSignature,
    #[error("the ledger cannot be written ({0}); nothing that must be recorded first can happen until it can")]
    Unwritable(String),
    #[error("the ledger at {path} cannot be read: {reason}")]
    Unreadable {
        path: std::path::PathBuf,
        reason: String,
    },
    /// The log the nodes of a deployment share cannot be reached, or
    /// cannot be used as this node asks.
    #[error("the shared ledger cannot be used ({0}); nothing that must be recorded first can happen until it can")]
    Shared(String),
    #[error("the ledger is damaged: {0}")]
    Damaged(String),
    /// The key directory at a size is no longer kept in memory.
    #[error("the key directory over the first {size} entries is no longer kept; ask about a newer tree head")]
    DirectoryNotKept { size: u64 },
    #[error("{0} is not a tree head: {1}")]
    NotAHead(&'static str, String),
    /// A store holds an entry the ledger does not: the ledger is older than
    /// what was recorded in it. Numbering on from its end would give new
    /// entries numbers the store already holds.
    #[error("{store} holds {what}, but the ledger holds {size} entries: the ledger was rolled back or replaced; restore it from its backup (the node never renumbers entries), or run `kizuna audit verify --data-dir DIR` to see what is missing")]
    RolledBack {
        store: String,
        what: String,
        size: u64,
    },
}

#[cfg(test)]
mod shared_tests;
#[cfg(test)]
mod tests;
