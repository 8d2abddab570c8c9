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
    /// Not allowed for this account or device.
    Forbidden,
    NotFound,
    /// Another change came first, or the thing exists already.
    Conflict,
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
