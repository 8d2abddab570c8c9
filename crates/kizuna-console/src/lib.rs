//! The staff member's side of Kizuna: a client of the staff listener —
//! login, grants, governed reads, moderation, breach scoping — and the
//! regulator breach drafts built from what it returns.
//!
//! It shares no code with the device client: a person's device carries no
//! staff code, and a staff member's session is never a device identity.

pub mod breach;
mod error;
pub mod staff;
mod transport;

pub use error::{ConsoleError, Result};
