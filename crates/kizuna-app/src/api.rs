//! The page's API: what it reads and does, answered by the device's own
//! client library. JSON in and out; errors as [`AppError`].

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::Uri;
use axum::middleware;
use axum::routing::{get, post};
use axum::{Json, Router};
use kizuna_client::{Event, StoredMessage, Unopened};
use serde::{Deserialize, Serialize};

use crate::events::PageEvent;
use crate::{assets, events, session, AppError, AppState};

/// Longest message text the page may send, in characters.
const MAX_TEXT: usize = 10_000;
/// Most people a new chat may start with.
const MAX_WITH: usize = 100;

pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/open", get(session::open))
        .route("/api/me", get(me))
        .route("/api/chats", get(chats).post(new_chat))
        .route("/api/chats/{chat}/messages", get(messages).post(send))
        .route("/api/chats/{chat}/read", post(read))
        .route("/api/events", get(events::stream))
        .fallback(|uri: Uri| async move { assets::asset(uri.path()).await })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            session::guard,
        ))
        .with_state(state)
}

/// A message as the page shows it.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct MessageView {
    seq: u64,
    sender: String,
    sender_device: String,
    text: String,
    server_time: u64,
    mine: bool,
    /// Why the device could not open it, if it could not.
    unopened: Option<String>,
}

impl MessageView {
    pub fn of(m: &StoredMessage, my_device: &str) -> Self {
        MessageView {
            seq: m.seq,
            sender: m.sender.clone(),
            sender_device: m.sender_device.clone(),
            text: m.text.clone(),
            server_time: m.server_time,
            mine: m.sender_device == my_device,
            unopened: None,
        }
    }

    pub fn unopened(u: &Unopened) -> Self {
        MessageView {
            seq: u.seq,
            sender: u.sender.clone(),
            sender_device: u.sender_device.clone(),
            text: String::new(),
            server_time: u.server_time,
            mine: false,
            unopened: Some(u.reason.clone()),
        }
    }
}

async fn me(State(state): State<Arc<AppState>>) -> Json<kizuna_client::Identity> {
    Json(state.client.lock().await.identity().clone())
}

#[derive(Serialize)]
struct ChatView {
    chat: String,
    name: Option<String>,
    active: bool,
    /// Handles of the other members, as this device sees them.
    members: Vec<String>,
    last: Option<kizuna_client::LastMessage>,
    unread: u64,
}

async fn chats(State(state): State<Arc<AppState>>) -> Result<Json<Vec<ChatView>>, AppError> {
    let mut client = state.client.lock().await;
    let me = client.identity().handle.clone();
    let mut out = Vec::new();
    for c in client.chats().await? {
        let mut members: Vec<String> = if c.active {
            // A chat this device left has no members it can see.
            client
                .members(&c.chat)
                .await
                .map(|m| m.into_iter().map(|(h, _)| h).collect())
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        members.retain(|h| *h != me);
        members.sort();
        members.dedup();
        out.push(ChatView {
            chat: c.chat,
            name: c.name,
            active: c.active,
            members,
            last: c.last,
            unread: c.unread,
        });
    }
    // Newest first, as a chat list is read.
    out.sort_by_key(|c| std::cmp::Reverse(c.last.as_ref().map(|l| l.server_time)));
    Ok(Json(out))
}

#[derive(Deserialize)]
struct NewChat {
    with: Vec<String>,
    name: Option<String>,
}

async fn new_chat(
    State(state): State<Arc<AppState>>,
    Json(new): Json<NewChat>,
) -> Result<Json<serde_json::Value>, AppError> {
    let with: Vec<String> = new
        .with
        .iter()
        .map(|h| h.trim().trim_start_matches('@').to_string())
        .filter(|h| !h.is_empty())
        .collect();
    if with.is_empty() {
        return Err(AppError::Invalid(
            "name at least one person to chat with".into(),
        ));
    }
    if with.len() > MAX_WITH {
        return Err(AppError::Invalid(format!(
            "a new chat starts with at most {MAX_WITH} people"
        )));
    }
    let name = new.name.as_deref().map(str::trim).filter(|n| !n.is_empty());
    let chat = state.client.lock().await.create_chat(&with, name).await?;
    let _ = state.events.send(PageEvent::Chats);
    Ok(Json(serde_json::json!({ "chat": chat })))
}

#[derive(Serialize)]
struct Messages {
    messages: Vec<MessageView>,
}

async fn messages(
    State(state): State<Arc<AppState>>,
    Path(chat): Path<String>,
) -> Result<Json<Messages>, AppError> {
    let client = state.client.lock().await;
    let me = client.identity().device_id.clone();
    let messages = client
        .timeline(&chat)
        .await?
        .iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(MessageView::of(m, &me)),
            Event::Undecryptable(u) => Some(MessageView::unopened(u)),
            _ => None,
        })
        .collect();
    Ok(Json(Messages { messages }))
}

#[derive(Deserialize)]
struct Send {
    text: String,
}

async fn send(
    State(state): State<Arc<AppState>>,
    Path(chat): Path<String>,
    Json(send): Json<Send>,
) -> Result<Json<MessageView>, AppError> {
    if send.text.trim().is_empty() {
        return Err(AppError::Invalid("the message is empty".into()));
    }
    if send.text.chars().count() > MAX_TEXT {
        return Err(AppError::Invalid(format!(
            "a message holds at most {MAX_TEXT} characters"
        )));
    }
    let mut client = state.client.lock().await;
    let sent = client.send(&chat, &send.text).await?;
    let me = client.identity().device_id.clone();
    // What a send processed on its way (others' messages first) reaches
    // the page too.
    for e in client.take_seen() {
        if let Event::Message(m) = e {
            let _ = state.events.send(PageEvent::Message {
                chat: m.chat.clone(),
                message: MessageView::of(&m, &me),
            });
        }
    }
    client.mark_read(&chat, sent.seq).await?;
    let _ = state.events.send(PageEvent::Chats);
    Ok(Json(MessageView::of(&sent, &me)))
}

#[derive(Deserialize)]
struct Read {
    seq: u64,
}

async fn read(
    State(state): State<Arc<AppState>>,
    Path(chat): Path<String>,
    Json(read): Json<Read>,
) -> Result<Json<serde_json::Value>, AppError> {
    let client = state.client.lock().await;
    client.mark_read(&chat, read.seq).await?;
    let unread = client
        .chats()
        .await?
        .into_iter()
        .find(|c| c.chat == chat || c.chat.starts_with(&chat))
        .map(|c| c.unread)
        .unwrap_or(0);
    Ok(Json(serde_json::json!({ "unread": unread })))
}
