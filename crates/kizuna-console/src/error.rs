//! What can go wrong on the staff member's side, with the same wording the
//! device client uses for the same failures.

use std::path::PathBuf;

use kizuna_wire::ErrorCode;

/// What can go wrong in the console, each with a message a person can act on.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("cannot reach the server at {server}: {reason}")]
    Unreachable { server: String, reason: String },
    #[error("the server refused: {message} ({code})")]
    Api { code: ErrorCode, message: String },
    #[error("the server answered something unexpected: {0}")]
    Protocol(String),
    #[error("local state in {path}: {reason}")]
    Local { path: PathBuf, reason: String },
    #[error("{0}")]
    Invalid(String),
    #[error("cannot set up TLS: {0}")]
    Tls(String),
}

impl ConsoleError {
    pub fn api_code(&self) -> Option<ErrorCode> {
        match self {
            ConsoleError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }
}

pub type Result<T, E = ConsoleError> = std::result::Result<T, E>;
