//! What a Kizuna node does, with no HTTP in it: reading the public framing
//! of MLS messages, following each group's public state, authenticating
//! devices, limiting rates, and sequencing and fanning out every
//! submission. The server's handlers call it; tests call it directly.

pub mod accounts;
pub mod auth;
pub mod blocks;
pub mod commits;
pub mod delivery;
pub mod departures;
pub mod devices;
pub mod error;
pub mod framing;
pub mod governance;
pub mod groups;
pub mod key_packages;
pub mod limits;
pub mod node;
pub mod ops;
pub mod privacy;
pub mod reports;
pub mod roster;
pub mod sanctions;
pub mod transparency;

pub use auth::{AuthError, DeviceIdentity, UserAuth};
pub use error::{Kind, NodeError};
pub use limits::Limits;
pub use node::{ledger_origin, open_ledger, open_vault, Node, OpenError};

#[cfg(test)]
mod tests;
