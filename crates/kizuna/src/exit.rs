//! How a command ends when it fails: the errors the CLI adds to those of
//! the libraries, and the exit code each failure maps to.

use kizuna_client::ClientError;

/// The exit codes, as `--help` states them.
pub const EXIT_HELP: &str =
    "Exit codes: 0 success, 1 failure, 2 usage error, 3 no identity or unknown chat here, \
4 the server refused the request, 5 the server could not be reached, 6 the transparency \
ledger failed verification, 7 some messages could not be opened (they are kept and shown), \
8 nothing changed (already a member, not a member), 9 the chat is a request not yet accepted \
(`kizuna chat requests`).";

/// Some entries could not be opened: they were kept and shown; exits with 7.
#[derive(Debug)]
pub struct Unopened(pub usize);

impl std::fmt::Display for Unopened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} entr{} could not be opened on this device; they are kept and shown in the chat's history",
            self.0,
            if self.0 == 1 { "y" } else { "ies" }
        )
    }
}

impl std::error::Error for Unopened {}

/// A lookup that found nothing; exits with 3 like other "not here" cases.
#[derive(Debug)]
pub struct NotFound(pub String);

impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotFound {}

/// A command line that cannot be acted on as given; exits with 2.
#[derive(Debug)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// The exit code a failure ends the command with, as `EXIT_HELP` lists them.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<NotFound>().is_some() {
        return 3;
    }
    if e.downcast_ref::<Usage>().is_some() {
        return 2;
    }
    if e.downcast_ref::<crate::audit::AuditFailed>().is_some() {
        return 6;
    }
    if e.downcast_ref::<Unopened>().is_some() {
        return 7;
    }
    // The staff console's failures end the same way as the device
    // client's: a refusal with 4, an unreachable listener with 5.
    match e.downcast_ref::<kizuna_console::ConsoleError>() {
        Some(kizuna_console::ConsoleError::Api { .. }) => return 4,
        Some(kizuna_console::ConsoleError::Unreachable { .. }) => return 5,
        Some(_) => return 1,
        None => {}
    }
    match e.downcast_ref::<ClientError>() {
        Some(
            ClientError::NotRegistered(_)
            | ClientError::UnknownChat(_)
            | ClientError::AmbiguousChat(_),
        ) => 3,
        Some(ClientError::Api { .. }) => 4,
        Some(ClientError::Unreachable { .. }) => 5,
        Some(ClientError::LedgerTampered(_)) => 6,
        Some(ClientError::Unchanged(_)) => 8,
        Some(ClientError::ChatRequest { .. }) => 9,
        _ => 1,
    }
}
