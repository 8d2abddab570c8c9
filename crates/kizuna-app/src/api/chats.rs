//! Chats: the list, conversations, sending and reading, membership, chat
//! requests, and reporting a message.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use kizuna_client::{Event, MembershipChange};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::MessageView;
use crate::events::PageEvent;
use crate::{AppError, AppState};

/// Longest message text the page may send, in characters.
pub(super) const MAX_TEXT: usize = 10_000;
/// Most people a new chat may start with.
const MAX_WITH: usize = 100;
/// Longest note a report may carry, in characters.
const MAX_NOTE: usize = 2_000;

#[derive(Serialize)]
pub(super) struct ChatView {
    chat: String,
    name: Option<String>,
    active: bool,
    /// Handles of the other members, as this device sees them.
    members: Vec<String>,
    last: Option<kizuna_client::LastMessage>,
    unread: u64,
    /// Set while the chat is a request from someone not in my contacts.
    request: Option<Request>,
    /// Set when I follow an official account through this chat.
    official: Option<super::official::OfficialMark>,
}

#[derive(Serialize)]
struct Request {
    from: String,
}

/// A handle as a person types it: without spaces or a leading `@`.
fn handle(h: &str) -> String {
    h.trim().trim_start_matches('@').to_string()
}

pub(super) async fn list(
    State(state): State<Arc<AppState>>,
) -> Result<Json<Vec<ChatView>>, AppError> {
    let mut client = state.client.lock().await;
    let me = client.identity().handle.clone();
    let mut official = state.official_marks.current(&state, false);
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
        let chat = c.chat;
        out.push(ChatView {
            chat: chat.clone(),
            name: c.name,
            active: c.active,
            members,
            last: c.last,
            unread: c.unread,
            request: None,
            official: official.remove(&chat),
        });
    }
    for r in client.chat_requests().await? {
        out.push(ChatView {
            chat: r.chat,
            name: r.name,
            active: true,
            members: vec![r.from.clone()],
            last: None,
            unread: r.messages,
            request: Some(Request { from: r.from }),
            official: None,
        });
    }
    // Newest first, as a chat list is read.
    out.sort_by_key(|c| std::cmp::Reverse(c.last.as_ref().map(|l| l.server_time)));
    Ok(Json(out))
}

#[derive(Deserialize)]
pub(super) struct NewChat {
    with: Vec<String>,
    name: Option<String>,
}

pub(super) async fn create(
    State(state): State<Arc<AppState>>,
    Json(new): Json<NewChat>,
) -> Result<Json<Value>, AppError> {
    let with: Vec<String> = new
        .with
        .iter()
        .map(|h| handle(h))
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
    Ok(Json(json!({ "chat": chat })))
}

#[derive(Serialize)]
pub(super) struct Messages {
    messages: Vec<MessageView>,
}

pub(super) async fn messages(
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
pub(super) struct Send {
    text: String,
}

pub(super) async fn send(
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
    super::shown_as_sent(&state, &mut client, &chat, &sent).await
}

#[derive(Deserialize)]
pub(super) struct Answer {
    #[serde(default)]
    choice: Option<String>,
    #[serde(default)]
    values: std::collections::BTreeMap<String, String>,
}

/// Answers a card's button or form: the choice goes back end to end.
pub(super) async fn answer(
    State(state): State<Arc<AppState>>,
    Path((chat, seq)): Path<(String, u64)>,
    Json(a): Json<Answer>,
) -> Result<Json<MessageView>, AppError> {
    let mut client = state.client.lock().await;
    let sent = client
        .answer(&chat, seq, a.choice.as_deref(), a.values)
        .await?;
    super::shown_as_sent(&state, &mut client, &chat, &sent).await
}

#[derive(Deserialize)]
pub(super) struct Read {
    seq: u64,
}

pub(super) async fn read(
    State(state): State<Arc<AppState>>,
    Path(chat): Path<String>,
    Json(read): Json<Read>,
) -> Result<Json<Value>, AppError> {
    let client = state.client.lock().await;
    let chat = client.resolve_chat(&chat).await?;
    client.mark_read(&chat, read.seq).await?;
    let unread = client
        .chats()
        .await?
        .into_iter()
        .find(|c| c.chat == chat)
        .map(|c| c.unread)
        .unwrap_or(0);
    Ok(Json(json!({ "unread": unread })))
}

#[derive(Serialize)]
pub(super) struct Member {
    handle: String,
    devices: Vec<String>,
}

pub(super) async fn members(
    State(state): State<Arc<AppState>>,
    Path(chat): Path<String>,
) -> Result<Json<Vec<Member>>, AppError> {
    let members = state.client.lock().await.members(&chat).await?;
    let mut out: Vec<Member> = Vec::new();
    for (handle, device) in members {
        match out.iter_mut().find(|m| m.handle == handle) {
            Some(m) => m.devices.push(device),
            None => out.push(Member {
                handle,
                devices: vec![device],
            }),
        }
    }
    out.sort_by(|a, b| a.handle.cmp(&b.handle));
    Ok(Json(out))
}

fn changed(state: &AppState, c: MembershipChange) -> Json<Value> {
    let _ = state.events.send(PageEvent::Chats);
    Json(json!({ "added": c.added, "removed": c.removed }))
}

#[derive(Deserialize)]
pub(super) struct Add {
    handle: String,
}

pub(super) async fn add(
    State(state): State<Arc<AppState>>,
    Path(chat): Path<String>,
    Json(add): Json<Add>,
) -> Result<Json<Value>, AppError> {
    let who = handle(&add.handle);
    if who.is_empty() {
        return Err(AppError::Invalid("name the person to add".into()));
    }
    let c = state.client.lock().await.add_member(&chat, &who).await?;
    Ok(changed(&state, c))
}

pub(super) async fn remove(
    State(state): State<Arc<AppState>>,
    Path((chat, who)): Path<(String, String)>,
) -> Result<Json<Value>, AppError> {
    let c = state
        .client
        .lock()
        .await
        .remove_member(&chat, &handle(&who))
        .await?;
    Ok(changed(&state, c))
}

pub(super) async fn leave(
    State(state): State<Arc<AppState>>,
    Path(chat): Path<String>,
) -> Result<Json<Value>, AppError> {
    state.client.lock().await.leave(&chat).await?;
    let _ = state.events.send(PageEvent::Chats);
    Ok(Json(json!({ "left": true })))
}

pub(super) async fn accept(
    State(state): State<Arc<AppState>>,
    Path(chat): Path<String>,
) -> Result<Json<Value>, AppError> {
    let r = state.client.lock().await.accept_chat(&chat).await?;
    let _ = state.events.send(PageEvent::Chats);
    Ok(Json(json!({ "chat": r.chat })))
}

#[derive(Deserialize)]
pub(super) struct Decline {
    #[serde(default)]
    block: bool,
}

pub(super) async fn decline(
    State(state): State<Arc<AppState>>,
    Path(chat): Path<String>,
    Json(d): Json<Decline>,
) -> Result<Json<Value>, AppError> {
    let r = state
        .client
        .lock()
        .await
        .decline_chat(&chat, d.block)
        .await?;
    let _ = state.events.send(PageEvent::Chats);
    Ok(Json(json!({ "chat": r.chat })))
}

#[derive(Deserialize)]
pub(super) struct Report {
    reason: kizuna_wire::reports::ReportReason,
    note: Option<String>,
    #[serde(default)]
    preceding: usize,
}

/// Reports a message as its franking proves it was sent: the node checks
/// the proof before it keeps the report.
pub(super) async fn report(
    State(state): State<Arc<AppState>>,
    Path((chat, seq)): Path<(String, u64)>,
    Json(r): Json<Report>,
) -> Result<Json<Value>, AppError> {
    let note = r.note.as_deref().map(str::trim).filter(|n| !n.is_empty());
    if note.is_some_and(|n| n.chars().count() > MAX_NOTE) {
        return Err(AppError::Invalid(format!(
            "a report's note holds at most {MAX_NOTE} characters"
        )));
    }
    let filed = state
        .client
        .lock()
        .await
        .report(&chat, seq, r.reason, note, r.preceding)
        .await?;
    Ok(Json(json!({ "report_id": filed.report_id })))
}
