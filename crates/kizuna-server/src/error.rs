//! API errors: a stable machine code, a message a person can act on, and the
//! HTTP status that goes with them.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kizuna_node::{Kind, NodeError};
use kizuna_store::{Rejection, StoreError};
use kizuna_wire::{ErrorBody, ErrorCode};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
    pub fn bad_request(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn not_found(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }
    pub fn unauthorized(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }
    pub fn forbidden(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }
    pub fn conflict(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::MessageTooLarge,
            message,
        )
    }
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "the server failed to complete the request; nothing was changed, try again",
        )
    }
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code,
            message: self.message.clone(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status;
        (status, axum::Json(self.body())).into_response()
    }
}

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> Self {
        let status = match e.kind {
            Kind::Invalid => StatusCode::BAD_REQUEST,
            Kind::Forbidden => StatusCode::FORBIDDEN,
            Kind::NotFound => StatusCode::NOT_FOUND,
            Kind::Conflict => StatusCode::CONFLICT,
            Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if let Some(cause) = &e.cause {
            tracing::error!(error = %cause, "a request failed inside the node");
        }
        ApiError::new(status, e.code, e.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        NodeError::from(e).into()
    }
}

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> Self {
        NodeError::from(r).into()
    }
}

impl From<kizuna_node::roster::RosterError> for ApiError {
    fn from(e: kizuna_node::roster::RosterError) -> Self {
        NodeError::from(e).into()
    }
}

impl From<kizuna_vault::VaultError> for ApiError {
    fn from(e: kizuna_vault::VaultError) -> Self {
        use kizuna_vault::VaultError as V;
        let msg = e.to_string();
        match e {
            V::InvalidPhone => ApiError::bad_request(ErrorCode::InvalidPhone, msg),
            V::InvalidEmail => ApiError::bad_request(ErrorCode::InvalidEmail, msg),
            V::InvalidName => ApiError::bad_request(ErrorCode::InvalidName, msg),
            V::InvalidContacts => ApiError::bad_request(ErrorCode::BadRequest, msg),
            V::TooManyBlocks => ApiError::conflict(ErrorCode::BadRequest, msg),
            V::UnknownRegion(_) => ApiError::bad_request(ErrorCode::InvalidRegion, msg),
            V::PhoneTaken => ApiError::conflict(
                ErrorCode::PhoneTaken,
                "this phone number is already registered to another account",
            ),
            V::AccessDenied { .. } => ApiError::forbidden(
                ErrorCode::RegionAccessDenied,
                format!("{msg}; use a node of that region, or ask the operator about its rules"),
            ),
            V::NotFound(_) => ApiError::not_found(ErrorCode::UnknownAccount, msg),
            V::AlreadyReported => ApiError::conflict(ErrorCode::AlreadyReported, msg),
            V::Store(s) => s.into(),
            V::Ledger(l) => {
                tracing::error!(error = %l, "ledger failure");
                ApiError::new(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::LedgerUnavailable,
                    format!("{l}; nothing was changed"),
                )
            }
            V::Key { .. } | V::Unsealable { .. } | V::CopyMismatch(_) => {
                tracing::error!(error = %msg, "vault failure");
                ApiError::new(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::Unavailable,
                    "personal data cannot be opened on this node right now; nothing was changed",
                )
            }
        }
    }
}
