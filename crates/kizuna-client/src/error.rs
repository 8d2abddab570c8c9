use std::path::PathBuf;

use kizuna_wire::ErrorCode;

/// What can go wrong in the client, each with a message a person can act on.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no Kizuna identity in {0}; run `kizuna register` (or `kizuna device link`) first")]
    NotRegistered(PathBuf),
    #[error("{0} already holds a Kizuna identity; use another --home to register again")]
    AlreadyRegistered(PathBuf),
    #[error("cannot reach the server at {server}: {reason}")]
    Unreachable { server: String, reason: String },
    #[error("the server refused: {message} ({code})")]
    Api { code: ErrorCode, message: String },
    #[error("the server answered something unexpected: {0}")]
    Protocol(String),
    #[error("cannot set up TLS: {0}")]
    Tls(String),
    #[error("MLS: {0}")]
    Mls(String),
    #[error("local state in {path}: {reason}")]
    Local { path: PathBuf, reason: String },
    #[error("no chat matches '{0}'; `kizuna chats` lists them")]
    UnknownChat(String),
    #[error("'{0}' matches more than one chat; use more of the chat id")]
    AmbiguousChat(String),
    #[error("you are no longer a member of chat {0}")]
    NotInChat(String),
    #[error("chat {chat} is a chat request from {from}: `kizuna chat accept {chat}` first, or decline it")]
    ChatRequest { chat: String, from: String },
    #[error("'{handle}' is not in chat {chat}")]
    NotAMember { chat: String, handle: String },
    #[error("{0}")]
    Invalid(String),
    /// The command would change nothing (already a member, not a member);
    /// nothing was sent.
    #[error("nothing changed: {0}")]
    Unchanged(String),
    #[error("gave up after {0} attempts because other members kept changing the group; try again")]
    TooManyRetries(u32),
    #[error("THE TRANSPARENCY LEDGER FAILED VERIFICATION: {0}. Access records may have been altered or hidden; keep this output and report it")]
    LedgerTampered(String),
    #[error(
        "KEYS NOT IN THE KEY LOG: {0}. Someone may be listening in; keep this output and report it"
    )]
    KeysNotLogged(String),
}

impl ClientError {
    pub fn api_code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }
}

pub type Result<T, E = ClientError> = std::result::Result<T, E>;
