//! The error every API answer may be: a code clients branch on, and a message
//! people read.

use serde::{Deserialize, Serialize};

/// Every error the API returns has one of these codes; clients branch on the
/// code, people read the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    MalformedJson,
    InvalidHandle,
    InvalidRegion,
    WrongRealm,
    InvalidCredentials,
    NetworkNotAllowed,
    Suspended,
    InvalidNetwork,
    InvalidPhone,
    InvalidEmail,
    InvalidName,
    PhoneTaken,
    /// The code is not the one sent to this number; the guess was spent.
    PhoneCodeWrong,
    /// No code sent to this number is live (none asked for, expired, its
    /// guesses spent, or it proved the number already): ask for a new one.
    PhoneCodeNeeded,
    RegionAccessDenied,
    InvalidSignature,
    InvalidMessage,
    Unauthorized,
    TokenExpired,
    Forbidden,
    NotFound,
    UnknownGroup,
    UnknownDevice,
    UnknownAccount,
    HandleTaken,
    /// An organisation or staff member with that id exists already.
    AlreadyExists,
    GroupExists,
    NotMember,
    AlreadyMember,
    StaleEpoch,
    NoKeyPackage,
    MessageTooLarge,
    GroupTooLarge,
    TooManyKeyPackages,
    RateLimited,
    LinkPending,
    Unavailable,
    /// The node holds as many connections as it may (or this device as
    /// many WebSockets); try again shortly, or close another one.
    TooManyConnections,
    /// The request did not arrive in time: its headers or body were too slow.
    RequestTimeout,
    /// The transparency ledger cannot be written: what it must record
    /// first does not happen.
    LedgerUnavailable,
    /// The node's ledger is smaller than a head the client saw before.
    LedgerRolledBack,
    /// An entry about me that the node holds no longer opens: it was
    /// altered, or the node's region keys are wrong.
    LedgerEntryUnreadable,
    /// A reported message is not what its sender sent, where and when the
    /// report says: the report was refused.
    ReportNotVerified,
    /// This device already reported that message.
    AlreadyReported,
    /// A moderator restricted this account from sending for now.
    SendingRestricted,
    /// A commit or GroupInfo that does not hold up against the group's
    /// public state, or whose change differs from what it claims: refused,
    /// and the group's epoch did not move.
    InvalidCommit,
    /// The person this would reach does not accept it from this account;
    /// nothing more is said.
    Refused,
    /// The person has not agreed to the current disclosures of the foreign
    /// countries that may reach their data (or withdrew it): registration
    /// creates nothing, and a node abroad serves only their own data.
    AgreementRequired,
    /// The endpoint exists but not for this method; the `Allow` header
    /// names the ones it takes.
    MethodNotAllowed,
    /// The file is larger than the node takes; nothing was stored.
    FileTooLarge,
    /// The files this account keeps, and this one, would pass its quota;
    /// nothing was stored.
    QuotaExceeded,
    /// No such file, or not one this device may fetch: the same answer,
    /// so a file's existence is not told to anyone outside its chat.
    UnknownFile,
    /// A part too far past the first one the node lacks (or past the
    /// last), not its length, or not what its `Content-Digest` says:
    /// refused, and nothing of it kept.
    BadPart,
    /// A stored file's bytes are not the ones its message describes: they
    /// were altered where they are kept, and nothing of them was sent.
    FileAltered,
    /// A message names a file whose upload has not finished.
    FileIncomplete,
    Internal,
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = serde_json::to_value(self).map_err(|_| std::fmt::Error)?;
        f.write_str(v.as_str().unwrap_or("internal"))
    }
}

/// The JSON body of every error response.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
}

/// Reads a request body that must be one JSON object. serde reads a struct
/// from an array too, field by field in order, so `[]` would otherwise pass
/// as a request whose fields all default; every request Kizuna takes is an
/// object, and anything else is refused with what was wrong.
pub fn from_json_object<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => serde_json::from_slice(body)
            .map_err(|e| format!("the request body is not the JSON this endpoint takes: {e}")),
        Some(_) => Err("the request body must be a JSON object".into()),
        None => Err("the request body is empty; this endpoint takes a JSON object".into()),
    }
}
