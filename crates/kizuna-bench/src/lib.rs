//! The load generator: real devices, real MLS ciphertext, real WebSockets
//! against a real node, measuring delivered messages per second, latency from
//! send to arrival, losses, and the server's memory.
//!
//! Messages are encrypted before the clock starts and sent open-loop on a
//! fixed schedule; latency is measured from each message's scheduled send
//! time, so a slow server cannot hide its delay by slowing the sender.
//!
//! This file holds what every benchmark shares, its error and its progress
//! reports; each kind of benchmark and its report is a module.

pub mod announce;
pub mod breach;
mod cluster;
pub mod files;
pub mod governed;
pub mod ledger;
mod messaging;
mod node;
pub mod policy;

pub use announce::{run_announce, AnnounceOptions, AnnounceReport};
pub use breach::{run_breach, BreachOptions, BreachReport};
pub use cluster::{cluster_toml, ClusterOptions};
pub use files::{run_files, FilesOptions, FilesReport};
pub use governed::{run_governed, GovernedOptions};
pub use messaging::{run, BenchOptions, Report};

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("cannot start the server: {0}")]
    Server(String),
    #[error(transparent)]
    Client(#[from] kizuna_client::ClientError),
    #[error(transparent)]
    Console(#[from] kizuna_console::ConsoleError),
    #[error("setup failed: {0}")]
    Setup(String),
}

/// What the run is doing, for a progress display: a stage begins (with the
/// number of steps it has, when it is counted), or steps of it are done.
#[derive(Clone, Copy, Debug)]
pub enum Progress<'a> {
    Stage { name: &'a str, steps: Option<u64> },
    Done(u64),
}
