//! What a Kizuna node does, with no HTTP in it: accounts, devices, key
//! packages, groups and delivery, a person's own data, blocks, reports,
//! governed access and the ledger as people read it, and the operator's
//! offline tools. The server's handlers call it; tests call it directly.
//!
//! The node only ever relays ciphertext: it reads the public framing of MLS
//! messages (group, epoch, content type) and the public handshake messages
//! to order them and accepts exactly one commit per group epoch; it never
//! holds a key that decrypts content.

pub mod accounts;
pub mod auth;
pub mod blocks;
pub mod cluster;
pub mod commits;
pub mod delivery;
pub mod departures;
pub mod devices;
pub mod disclosures;
pub mod error;
pub mod files;
pub mod framing;
pub mod governance;
pub mod groups;
pub mod key_log;
pub mod key_packages;
pub mod limits;
pub mod metrics;
pub mod node;
pub mod official;
pub mod ops;
pub mod phone;
pub mod privacy;
pub mod reports;
pub mod roster;
pub mod sanctions;
pub mod shared_ledger;
pub mod stores;
pub mod transparency;

pub use auth::{AuthError, DeviceIdentity, UserAuth};
pub use error::{Kind, NodeError};
pub use limits::Limits;
pub use node::{check_configuration, ledger_origin, open_ledger, open_vault, Node, OpenError};

#[cfg(test)]
mod tests;
