//! What the app answers the page when something fails: a status and a
//! JSON body with a stable code and a message a person can act on.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kizuna_client::ClientError;
use kizuna_console::ConsoleError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Console(#[from] ConsoleError),
    #[error("log in first: the staff session ended or was never opened")]
    NotLoggedIn,
    #[error("cannot listen on the loopback address: {0}")]
    Bind(String),
    #[error("the app's server stopped: {0}")]
    Serve(String),
    #[error("this page's session ended; open the address `kizuna app` printed again")]
    NoSession,
    #[error("this app answers only at its own loopback address")]
    WrongHost,
    #[error("{0}")]
    Invalid(String),
    #[error("no such page")]
    NotFound,
}

impl AppError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            AppError::NoSession => (StatusCode::UNAUTHORIZED, "no_session"),
            AppError::NotLoggedIn => (StatusCode::UNAUTHORIZED, "staff_session_expired"),
            AppError::Console(e) => match e {
                ConsoleError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid"),
                ConsoleError::Unreachable { .. } => (StatusCode::BAD_GATEWAY, "unreachable"),
                ConsoleError::Api { .. } => (StatusCode::BAD_GATEWAY, "refused"),
                _ => (StatusCode::INTERNAL_SERVER_ERROR, "console_failed"),
            },
            AppError::WrongHost => (StatusCode::FORBIDDEN, "wrong_host"),
            AppError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid"),
            AppError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            AppError::Bind(_) | AppError::Serve(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "app_failed")
            }
            AppError::Client(e) => match e {
                ClientError::UnknownChat(_) | ClientError::AmbiguousChat(_) => {
                    (StatusCode::NOT_FOUND, "unknown_chat")
                }
                ClientError::NotInChat(_) => (StatusCode::CONFLICT, "not_in_chat"),
                ClientError::ChatRequest { .. } => (StatusCode::CONFLICT, "chat_request"),
                ClientError::NotAMember { .. } => (StatusCode::CONFLICT, "not_a_member"),
                ClientError::Unchanged(_) => (StatusCode::CONFLICT, "unchanged"),
                ClientError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid"),
                ClientError::Unreachable { .. } => (StatusCode::BAD_GATEWAY, "unreachable"),
                ClientError::Api { .. } => (StatusCode::BAD_GATEWAY, "refused"),
                ClientError::LedgerTampered(_) => (StatusCode::BAD_GATEWAY, "ledger_tampered"),
                ClientError::KeysNotLogged(_) => (StatusCode::BAD_GATEWAY, "keys_not_logged"),
                ClientError::TooManyRetries(_) => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
                _ => (StatusCode::INTERNAL_SERVER_ERROR, "device_failed"),
            },
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        // A refusal by the node keeps the node's own code, so the page can
        // tell "blocked" from "not found".
        let node_code = match &self {
            AppError::Client(ClientError::Api { code, .. })
            | AppError::Console(ConsoleError::Api { code, .. }) => Some(*code),
            _ => None,
        };
        let code = match node_code {
            Some(code) => serde_json::to_value(code)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_else(|| code_str(code)),
            None => code.to_string(),
        };
        (
            status,
            axum::Json(serde_json::json!({ "code": code, "message": self.to_string() })),
        )
            .into_response()
    }
}

fn code_str(code: impl std::fmt::Debug) -> String {
    format!("{code:?}")
}
