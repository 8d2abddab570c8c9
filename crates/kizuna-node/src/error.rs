//! What the node answers when it cannot do what was asked: the wire's
//! stable code, a message a person can act on, and a kind that tells the
//! edge how to answer (HTTP maps it to a status).

use kizuna_store::{Rejection, StoreError};
use kizuna_wire::ErrorCode;

use crate::roster::RosterError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The request cannot be acted on as given.
    Invalid,
    /// The caller could not be told apart from anyone else (no token, a
    /// bad signature, a device that no longer exists).
    Unauthorized,
    /// Not allowed for this account or device.
    Forbidden,
    NotFound,
    /// Another change came first, or the thing exists already.
    Conflict,
    /// Larger than the node accepts.
    TooLarge,
    /// Well formed, but what it claims does not check out (a report whose
    /// messages do not verify).
    Unverified,
    /// More often than the node allows; the message says when to retry.
    RateLimited,
    /// Something the node needs (the ledger, a region's keys) cannot be
    /// reached now; nothing was changed and the request may be repeated.
    Unavailable,
    /// The node failed; nothing was changed. `cause` says why, for the log.
    Internal,
}

#[derive(Debug, thiserror::Error)]
#[error("{message} ({code})")]
pub struct NodeError {
    pub kind: Kind,
    pub code: ErrorCode,
    pub message: String,
    /// For the operator's log only: never shown to the caller.
    pub cause: Option<String>,
}

impl NodeError {
    pub fn new(kind: Kind, code: ErrorCode, message: impl Into<String>) -> NodeError {
        NodeError {
            kind,
            code,
            message: message.into(),
            cause: None,
        }
    }

    pub fn invalid(code: ErrorCode, message: impl Into<String>) -> NodeError {
        Self::new(Kind::Invalid, code, message)
    }

    pub fn forbidden(code: ErrorCode, message: impl Into<String>) -> NodeError {
        Self::new(Kind::Forbidden, code, message)
    }

    pub fn not_found(code: ErrorCode, message: impl Into<String>) -> NodeError {
        Self::new(Kind::NotFound, code, message)
    }

    pub fn conflict(code: ErrorCode, message: impl Into<String>) -> NodeError {
        Self::new(Kind::Conflict, code, message)
    }

    pub fn too_large(message: impl Into<String>) -> NodeError {
        Self::new(Kind::TooLarge, ErrorCode::MessageTooLarge, message)
    }

    pub fn internal(cause: impl Into<String>) -> NodeError {
        NodeError {
            cause: Some(cause.into()),
            ..Self::new(
                Kind::Internal,
                ErrorCode::Internal,
                "the server failed to complete the request; nothing was changed, try again",
            )
        }
    }
}

/// A request field that breaks its rule (`kizuna_wire::fields`).
impl From<kizuna_wire::FieldError> for NodeError {
    fn from(e: kizuna_wire::FieldError) -> Self {
        NodeError::invalid(e.code, e.to_string())
    }
}

impl From<StoreError> for NodeError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => {
                NodeError::conflict(ErrorCode::BadRequest, format!("{what} already exists"))
            }
            StoreError::NotFound(what) => {
                NodeError::not_found(ErrorCode::NotFound, format!("{what} not found"))
            }
            StoreError::Backend(msg) => NodeError::internal(format!("store failure: {msg}")),
            e @ (StoreError::SchemaTooNew { .. } | StoreError::SchemaOutdated { .. }) => {
                NodeError::internal(e.to_string())
            }
        }
    }
}

impl From<Rejection> for NodeError {
    fn from(r: Rejection) -> Self {
        let msg = r.to_string();
        match r {
            Rejection::UnknownGroup => {
                NodeError::not_found(ErrorCode::UnknownGroup, "no such group on this server")
            }
            Rejection::NotMember => NodeError::forbidden(ErrorCode::NotMember, msg),
            Rejection::StaleEpoch { .. } => NodeError::conflict(
                ErrorCode::StaleEpoch,
                format!("{msg}; process the group's newer messages and retry"),
            ),
            Rejection::AlreadyMember(_) => NodeError::conflict(ErrorCode::AlreadyMember, msg),
            Rejection::NotAMember(_) => NodeError::invalid(ErrorCode::NotMember, msg),
            Rejection::UnknownDevice(_) => NodeError::not_found(ErrorCode::UnknownDevice, msg),
            Rejection::GroupTooLarge(_) => NodeError::invalid(ErrorCode::GroupTooLarge, msg),
        }
    }
}

impl From<RosterError> for NodeError {
    fn from(e: RosterError) -> Self {
        match e {
            RosterError::Damaged(_) => {
                NodeError::internal(format!("a group's public state is damaged: {e}"))
            }
            RosterError::Stale { current, sent } => Rejection::StaleEpoch { current, sent }.into(),
            // The committer has not processed a departure yet: like a
            // commit that lost its epoch, it catches up and tries again.
            e @ RosterError::DepartureLeftOut(_) => {
                NodeError::conflict(ErrorCode::StaleEpoch, e.to_string())
            }
            e => NodeError::invalid(ErrorCode::InvalidCommit, e.to_string()),
        }
    }
}

impl From<kizuna_vault::VaultError> for NodeError {
    fn from(e: kizuna_vault::VaultError) -> Self {
        use kizuna_vault::VaultError as V;
        let msg = e.to_string();
        match e {
            V::InvalidPhone => NodeError::invalid(ErrorCode::InvalidPhone, msg),
            V::InvalidEmail => NodeError::invalid(ErrorCode::InvalidEmail, msg),
            V::InvalidName => NodeError::invalid(ErrorCode::InvalidName, msg),
            V::InvalidContacts => NodeError::invalid(ErrorCode::BadRequest, msg),
            V::TooManyBlocks => NodeError::conflict(ErrorCode::BadRequest, msg),
            V::UnknownRegion(_) => NodeError::invalid(ErrorCode::InvalidRegion, msg),
            V::PhoneTaken => NodeError::conflict(
                ErrorCode::PhoneTaken,
                "this phone number is already registered to another account",
            ),
            V::PhoneCodeWrong => NodeError::invalid(ErrorCode::PhoneCodeWrong, msg),
            V::PhoneCodeNeeded => NodeError::conflict(ErrorCode::PhoneCodeNeeded, msg),
            V::AccessDenied { .. } => NodeError::forbidden(
                ErrorCode::RegionAccessDenied,
                format!("{msg}; use a node of that region, or ask the operator about its rules"),
            ),
            V::NotFound(_) => NodeError::not_found(ErrorCode::UnknownAccount, msg),
            V::AlreadyReported => NodeError::conflict(ErrorCode::AlreadyReported, msg),
            V::Store(s) => s.into(),
            V::Ledger(l) => NodeError {
                cause: Some(format!("ledger failure: {l}")),
                ..NodeError::new(
                    Kind::Unavailable,
                    ErrorCode::LedgerUnavailable,
                    format!("{l}; nothing was changed"),
                )
            },
            V::Key { .. } | V::Unsealable { .. } | V::CopyMismatch(_) | V::Tampered { .. } => NodeError {
                cause: Some(format!("vault failure: {msg}")),
                ..NodeError::new(
                    Kind::Unavailable,
                    ErrorCode::Unavailable,
                    "personal data cannot be opened on this node right now; nothing was changed",
                )
            },
        }
    }
}

/// A staff-realm failure met while answering a person (their pending
/// requests): what they may act on, or the node's failure.
impl From<kizuna_staff::StaffError> for NodeError {
    fn from(e: kizuna_staff::StaffError) -> Self {
        use kizuna_staff::StaffError as S;
        match e {
            S::NotFound(what) => NodeError::not_found(ErrorCode::NotFound, format!("no {what}")),
            S::Invalid(m) => NodeError::conflict(ErrorCode::BadRequest, m),
            other => NodeError::internal(format!("answering a staff request failed: {other}")),
        }
    }
}
