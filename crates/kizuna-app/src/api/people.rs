//! People and devices: whom I blocked, my contacts, my devices (approving a
//! new one, revoking a lost one), and what moderators decided.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use kizuna_wire::reports::{FiledReport, ModerationNotice};
use kizuna_wire::DeviceView;
use kizuna_wire::{Blocked, Contacts};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::events::PageEvent;
use crate::{AppError, AppState};

pub(super) async fn blocked(
    State(state): State<Arc<AppState>>,
) -> Result<Json<Vec<Blocked>>, AppError> {
    Ok(Json(state.client.lock().await.blocked().await?.blocked))
}

#[derive(Deserialize)]
pub(super) struct Block {
    handle: String,
}

pub(super) async fn block(
    State(state): State<Arc<AppState>>,
    Json(b): Json<Block>,
) -> Result<Json<Vec<Blocked>>, AppError> {
    let who = b.handle.trim().trim_start_matches('@');
    if who.is_empty() {
        return Err(AppError::Invalid("name the person to block".into()));
    }
    Ok(Json(state.client.lock().await.block(who).await?.blocked))
}

pub(super) async fn unblock(
    State(state): State<Arc<AppState>>,
    Path(who): Path<String>,
) -> Result<Json<Vec<Blocked>>, AppError> {
    Ok(Json(state.client.lock().await.unblock(&who).await?.blocked))
}

pub(super) async fn contacts(
    State(state): State<Arc<AppState>>,
) -> Result<Json<Contacts>, AppError> {
    Ok(Json(state.client.lock().await.contacts().await?))
}

pub(super) async fn set_contacts(
    State(state): State<Arc<AppState>>,
    Json(c): Json<Contacts>,
) -> Result<Json<Contacts>, AppError> {
    let mut client = state.client.lock().await;
    client.set_contacts(&c).await?;
    Ok(Json(client.contacts().await?))
}

pub(super) async fn devices(
    State(state): State<Arc<AppState>>,
) -> Result<Json<Vec<DeviceView>>, AppError> {
    Ok(Json(state.client.lock().await.devices().await?))
}

#[derive(Deserialize)]
pub(super) struct Approve {
    code: String,
}

/// Approves the code a new device of mine shows, and adds it to my chats.
pub(super) async fn approve(
    State(state): State<Arc<AppState>>,
    Json(a): Json<Approve>,
) -> Result<Json<Value>, AppError> {
    let code = a.code.trim();
    if code.is_empty() {
        return Err(AppError::Invalid(
            "type the code the new device shows".into(),
        ));
    }
    let (device, _) = state.client.lock().await.approve_device(code).await?;
    let _ = state.events.send(PageEvent::Chats);
    Ok(Json(json!({ "device_id": device })))
}

pub(super) async fn revoke(
    State(state): State<Arc<AppState>>,
    Path(device): Path<String>,
) -> Result<Json<Value>, AppError> {
    let mut client = state.client.lock().await;
    if device == client.identity().device_id {
        return Err(AppError::Invalid(
            "this is the device you are using; revoke it from another of your devices".into(),
        ));
    }
    client.revoke_device(&device).await?;
    Ok(Json(json!({ "revoked": true })))
}

pub(super) async fn moderation(
    State(state): State<Arc<AppState>>,
) -> Result<Json<Vec<ModerationNotice>>, AppError> {
    Ok(Json(state.client.lock().await.moderation().await?))
}

pub(super) async fn reports(
    State(state): State<Arc<AppState>>,
) -> Result<Json<Vec<FiledReport>>, AppError> {
    Ok(Json(state.client.lock().await.my_reports().await?))
}

/// The safety number with someone I share a chat with, and whether I
/// confirmed it.
pub(super) async fn safety_number(
    State(state): State<Arc<AppState>>,
    Path(who): Path<String>,
) -> Result<Json<kizuna_client::SafetyNumber>, AppError> {
    Ok(Json(state.client.lock().await.safety_number(&who).await?))
}

#[derive(Deserialize)]
pub(super) struct Seen {
    /// The digits the page showed and the person compared.
    digits: String,
}

/// The numbers matched: their keys are trusted if the number is still the
/// one the page showed.
pub(super) async fn confirm_safety_number(
    State(state): State<Arc<AppState>>,
    Path(who): Path<String>,
    Json(seen): Json<Seen>,
) -> Result<Json<kizuna_client::SafetyNumber>, AppError> {
    Ok(Json(
        state
            .client
            .lock()
            .await
            .confirm_safety_number(&who, Some(&seen.digits))
            .await?,
    ))
}

/// The people I verified whose keys changed since: a warning until I
/// compare again.
pub(super) async fn changed_keys(
    State(state): State<Arc<AppState>>,
) -> Result<Json<Vec<kizuna_client::SafetyNumber>>, AppError> {
    let mut client = state.client.lock().await;
    // This account's own keys too, at most once a minute: a device added
    // behind the person's back is answered as `keys_not_logged`, which the
    // page shows as a banner.
    let due = {
        let mut last = state
            .own_keys_checked
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let due = last.is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(60));
        if due {
            *last = Some(std::time::Instant::now());
        }
        due
    };
    if due {
        if let Err(e) = client.check_own_keys().await {
            // Looked at again at the next ask; a node that cannot answer
            // now keeps nothing else from being shown.
            *state
                .own_keys_checked
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = None;
            if matches!(
                e,
                kizuna_client::ClientError::KeysNotLogged(_)
                    | kizuna_client::ClientError::LedgerTampered(_)
            ) {
                return Err(e.into());
            }
        }
    }
    Ok(Json(client.changed_keys().await?))
}
