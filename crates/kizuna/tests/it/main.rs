//! End-to-end tests: a real server on an ephemeral port with a temporary data
//! directory, driven by the same client library the CLI uses.

mod announcements;
mod app;
mod architecture;
mod bad_input;
mod bot;
mod breach;
mod chat_faults;
mod cli;
mod cluster;
mod consent;
mod devices;
mod durability;
mod edge;
mod files;
mod groups;
mod harness;
mod ledger;
mod limits;
mod messaging;
mod moderation;
mod official;
mod phone;
mod privacy;
mod reports;
mod requests;
mod residency;
mod staff;
mod verify;
