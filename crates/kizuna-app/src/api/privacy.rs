//! The privacy centre: my data map, my access log verified on this device,
//! staff requests waiting for my agreement, export, and erasing my account.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use kizuna_client::VerifiedAccesses;
use kizuna_wire::staff::AccessRequest;
use kizuna_wire::DataMap;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{AppError, AppState};

pub(super) async fn data_map(
    State(state): State<Arc<AppState>>,
) -> Result<Json<DataMap>, AppError> {
    Ok(Json(state.client.lock().await.data_map().await?))
}

/// Every access to my data, each checked on this device against a signed
/// tree head that extends the last one it saw. A ledger that fails the
/// check is an error the page shows as a banner, never an empty log.
pub(super) async fn accesses(
    State(state): State<Arc<AppState>>,
) -> Result<Json<VerifiedAccesses>, AppError> {
    Ok(Json(state.client.lock().await.accesses().await?))
}

pub(super) async fn requests(
    State(state): State<Arc<AppState>>,
) -> Result<Json<Vec<AccessRequest>>, AppError> {
    Ok(Json(state.client.lock().await.access_requests().await?))
}

pub(super) async fn answer(
    State(state): State<Arc<AppState>>,
    Path((grant, answer)): Path<(String, String)>,
) -> Result<Json<Value>, AppError> {
    let agree = match answer.as_str() {
        "agree" => true,
        "decline" => false,
        _ => return Err(AppError::NotFound),
    };
    state
        .client
        .lock()
        .await
        .answer_access_request(&grant, agree)
        .await?;
    Ok(Json(json!({ "grant_id": grant, "agreed": agree })))
}

/// All my personal data as a JSON download.
pub(super) async fn export(State(state): State<Arc<AppState>>) -> Result<Response, AppError> {
    let mut client = state.client.lock().await;
    let export = client.export().await?;
    let handle: String = client
        .identity()
        .handle
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    let body = serde_json::to_vec_pretty(&export).map_err(|e| AppError::Invalid(e.to_string()))?;
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let disposition = format!("attachment; filename=\"kizuna-export-{handle}.json\"");
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&disposition).map_err(|e| AppError::Invalid(e.to_string()))?,
    );
    Ok(r)
}

#[derive(Deserialize)]
pub(super) struct Erase {
    confirm: String,
}

/// Erases my account, once the person typed their own handle to confirm.
pub(super) async fn erase(
    State(state): State<Arc<AppState>>,
    Json(e): Json<Erase>,
) -> Result<Json<Value>, AppError> {
    let mut client = state.client.lock().await;
    if e.confirm.trim() != client.identity().handle {
        return Err(AppError::Invalid(
            "type your own handle to confirm erasing your account".into(),
        ));
    }
    client.erase_account().await?;
    Ok(Json(json!({ "erased": true })))
}
