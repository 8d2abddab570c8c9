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
    /// Why the node failed, for the operator's log; never sent.
    pub cause: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            cause: None,
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
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::MessageTooLarge,
            message,
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
        // The one place a failure is logged: when it is answered.
        if let Some(cause) = &self.cause {
            tracing::error!(error = %cause, code = %self.code, "a request failed");
        }
        let status = self.status;
        (status, axum::Json(self.body())).into_response()
    }
}

/// A field that breaks its rule: refused before anything reads the
/// request, so nothing changes.
impl From<kizuna_wire::FieldError> for ApiError {
    fn from(e: kizuna_wire::FieldError) -> Self {
        ApiError::bad_request(e.code, e.to_string())
    }
}

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> Self {
        let status = match e.kind {
            Kind::Invalid => StatusCode::BAD_REQUEST,
            Kind::Unauthorized => StatusCode::UNAUTHORIZED,
            Kind::Forbidden => StatusCode::FORBIDDEN,
            Kind::NotFound => StatusCode::NOT_FOUND,
            Kind::Conflict => StatusCode::CONFLICT,
            Kind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Kind::Unverified => StatusCode::UNPROCESSABLE_ENTITY,
            Kind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Kind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError {
            cause: e.cause,
            ..ApiError::new(status, e.code, e.message)
        }
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
        NodeError::from(e).into()
    }
}
