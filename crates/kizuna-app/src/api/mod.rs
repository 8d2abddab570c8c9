//! The page's API: what it reads and does, answered by the device's own
//! client library. JSON in and out; errors as [`AppError`]. One module per
//! part of the page: chats, people and devices, the privacy centre.

mod chats;
mod files;
mod official;
mod people;
mod privacy;

pub(crate) use files::outbox;
pub(crate) use official::OfficialMarks;

use std::sync::Arc;

use axum::extract::State;
use axum::http::Uri;
use axum::middleware;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use kizuna_client::{StoredMessage, Unopened};
use serde::Serialize;

use crate::{assets, events, session, AppState};

pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/api/me", get(me))
        .route("/api/announcements", get(announcements))
        .route("/api/chats", get(chats::list).post(chats::create))
        .route(
            "/api/chats/{chat}/messages",
            get(chats::messages).post(chats::send),
        )
        .route("/api/chats/{chat}/files", post(files::send))
        .route(
            "/api/chats/{chat}/messages/{seq}/answer",
            post(chats::answer),
        )
        .route("/api/chats/{chat}/messages/{seq}/file", get(files::fetch))
        .route("/api/chats/{chat}/read", post(chats::read))
        .route(
            "/api/chats/{chat}/members",
            get(chats::members).post(chats::add),
        )
        .route("/api/chats/{chat}/members/{handle}", delete(chats::remove))
        .route("/api/chats/{chat}/leave", post(chats::leave))
        .route("/api/chats/{chat}/accept", post(chats::accept))
        .route("/api/chats/{chat}/decline", post(chats::decline))
        .route(
            "/api/chats/{chat}/messages/{seq}/report",
            post(chats::report),
        )
        .route("/api/official/{handle}", get(official::standing))
        .route("/api/official/{handle}/follow", post(official::follow))
        .route("/api/official/{handle}/unfollow", post(official::unfollow))
        .route("/api/moderation", get(people::moderation))
        .route("/api/reports", get(people::reports))
        .route("/api/blocked", get(people::blocked).post(people::block))
        .route("/api/blocked/{handle}", delete(people::unblock))
        .route(
            "/api/people/{handle}/safety",
            get(people::safety_number).post(people::confirm_safety_number),
        )
        .route("/api/safety/changed", get(people::changed_keys))
        .route("/api/devices", get(people::devices))
        .route("/api/devices/approve", post(people::approve))
        .route("/api/devices/{device}", delete(people::revoke))
        .route(
            "/api/contacts",
            get(people::contacts).put(people::set_contacts),
        )
        .route("/api/privacy/data-map", get(privacy::data_map))
        .route("/api/privacy/accesses", get(privacy::accesses))
        .route("/api/privacy/requests", get(privacy::requests))
        .route(
            "/api/privacy/requests/{grant}/{answer}",
            post(privacy::answer),
        )
        .route("/api/privacy/export", get(privacy::export))
        .route("/api/privacy/erase", post(privacy::erase))
        .route("/api/events", get(events::stream))
        .fallback(|uri: Uri| async move { assets::device(uri.path()) })
        .layer(middleware::from_fn_with_state(
            state.sessions.clone(),
            session::guard,
        ))
        .with_state(state)
}

/// A message as the page shows it.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct MessageView {
    seq: u64,
    sender: String,
    /// The display name the message carried, if any.
    sender_name: Option<String>,
    sender_device: String,
    text: String,
    server_time: u64,
    mine: bool,
    /// Why the device could not open it, if it could not.
    unopened: Option<String>,
    /// The file it carries, if any (boxed: most messages carry none).
    file: Option<Box<files::FileView>>,
    /// Its structure: a card's buttons or form, an answer, a request.
    structured: Option<Box<kizuna_wire::Structured>>,
}

impl MessageView {
    pub fn of(m: &StoredMessage, my_device: &str) -> Self {
        MessageView {
            seq: m.seq,
            sender: m.sender.clone(),
            sender_name: m.sender_name.clone(),
            sender_device: m.sender_device.clone(),
            text: m.text.clone(),
            server_time: m.server_time,
            mine: m.sender_device == my_device,
            unopened: None,
            file: m.file.as_ref().map(|f| Box::new(files::FileView::of(f))),
            structured: m.structured.clone(),
        }
    }

    pub fn unopened(u: &Unopened) -> Self {
        MessageView {
            seq: u.seq,
            sender: u.sender.clone(),
            sender_name: None,
            sender_device: u.sender_device.clone(),
            text: String::new(),
            server_time: u.server_time,
            mine: false,
            unopened: Some(u.reason.clone()),
            file: None,
            structured: None,
        }
    }
}

/// A message this device just sent, as the page is told of it: with
/// whatever the send processed on its way (others' messages first), the
/// chat marked read up to it, and the chat list refreshed.
async fn shown_as_sent(
    state: &AppState,
    client: &mut kizuna_client::Client,
    chat: &str,
    sent: &StoredMessage,
) -> Result<Json<MessageView>, crate::AppError> {
    let me = client.identity().device_id.clone();
    for e in client.take_seen() {
        if let kizuna_client::Event::Message(m) = e {
            let _ = state.events.send(events::PageEvent::Message {
                chat: m.chat.clone(),
                message: MessageView::of(&m, &me),
            });
        }
    }
    client.mark_read(chat, sent.seq).await?;
    let _ = state.events.send(events::PageEvent::Chats);
    Ok(Json(MessageView::of(sent, &me)))
}

/// The announcements this device received and checked, newest first.
async fn announcements(
    State(state): State<Arc<AppState>>,
) -> Result<Json<Vec<kizuna_client::ReceivedAnnouncement>>, crate::AppError> {
    Ok(Json(state.client.lock().await.announcements(20).await?))
}

async fn me(State(state): State<Arc<AppState>>) -> Json<kizuna_client::Identity> {
    Json(state.client.lock().await.identity().clone())
}
