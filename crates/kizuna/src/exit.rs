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
        Some(ClientError::LedgerTampered(_) | ClientError::KeysNotLogged(_)) => 6,
        Some(ClientError::Unchanged(_)) => 8,
        Some(ClientError::ChatRequest { .. }) => 9,
        _ => 1,
    }
}

/// The stable code a failure has in `--json` output: the server's own code
/// when it refused, else what kind of failure the exit code says it is.
pub fn error_code(e: &anyhow::Error) -> String {
    if let Some(code) = e
        .downcast_ref::<ClientError>()
        .and_then(ClientError::api_code)
        .or_else(|| {
            e.downcast_ref::<kizuna_console::ConsoleError>()
                .and_then(kizuna_console::ConsoleError::api_code)
        })
    {
        return code.to_string();
    }
    match exit_code(e) {
        2 => "usage",
        3 => "not_found",
        5 => "unreachable",
        6 => "ledger_verification_failed",
        7 => "unopened",
        8 => "unchanged",
        9 => "chat_request",
        _ => "failed",
    }
    .to_string()
}

/// Whether the command line asked for JSON: then a failure is JSON too,
/// on standard output where the script reads the answer.
pub fn wants_json() -> bool {
    std::env::args_os().skip(1).any(|a| a == "--json")
}

/// A failure as `--json` prints it: `{"error": {"code", "message"}}`.
pub fn json_error(code: &str, message: &str) -> String {
    serde_json::json!({ "error": { "code": code, "message": message } }).to_string()
}
