//! Official accounts: one looked up (its badge checked on this device in
//! the key log), followed, and unfollowed with or without asking the
//! organisation to erase what the person sent it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::Json;
use kizuna_client::{Client, OfficialStanding};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::events::PageEvent;
use crate::{AppError, AppState};

/// How long the chat list's marks stand before they are checked again.
/// The conversation's header and a look-up always check afresh, so a
/// revocation shows there at once.
const MARKS_STAND: Duration = Duration::from_secs(60);

/// A chat through which this person follows an official account, as the
/// chat list marks it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(super) struct OfficialMark {
    handle: String,
    /// The organisation its badge names; none when it holds no badge now.
    organisation: Option<String>,
}

/// The chat list's marks, by chat id, as last checked. The list is drawn
/// from what the device holds; checking the marks asks the node, so it is
/// done beside the list, never in its way, and the page is told when they
/// change.
#[derive(Default)]
pub(crate) struct OfficialMarks {
    marks: std::sync::Mutex<(Option<Instant>, HashMap<String, OfficialMark>)>,
    checking: std::sync::atomic::AtomicBool,
}

impl OfficialMarks {
    /// The marks as last checked; a check is started when they are older
    /// than [`MARKS_STAND`] (or `now`).
    pub(super) fn current(
        &self,
        state: &Arc<AppState>,
        now: bool,
    ) -> HashMap<String, OfficialMark> {
        let (checked, marks) = &*self.marks.lock().unwrap_or_else(|p| p.into_inner());
        if now || checked.is_none_or(|at| at.elapsed() >= MARKS_STAND) {
            self.check(state.clone());
        }
        marks.clone()
    }

    fn check(&self, state: Arc<AppState>) {
        use std::sync::atomic::Ordering;
        if self.checking.swap(true, Ordering::AcqRel) {
            return;
        }
        tokio::spawn(async move {
            let found = {
                let mut client = state.client.lock().await;
                marks(&mut client).await
            };
            let marks = &state.official_marks;
            let changed = {
                let mut held = marks.marks.lock().unwrap_or_else(|p| p.into_inner());
                let changed = found.as_ref().is_some_and(|f| *f != held.1);
                if let Some(f) = found {
                    *held = (Some(Instant::now()), f);
                }
                changed
            };
            marks.checking.store(false, Ordering::Release);
            if changed {
                let _ = state.events.send(PageEvent::Chats);
            }
        });
    }
}

/// The followed accounts' chats, by chat id, each marked only when this
/// device's own MLS tree says the chat holds this person and the account
/// alone: the node names the chat, and must not make anyone else's look
/// official. None while the node cannot be reached; a badge this device
/// could not check is not shown.
async fn marks(client: &mut Client) -> Option<HashMap<String, OfficialMark>> {
    let mut out = HashMap::new();
    for f in client.follows().await.ok()? {
        let chat = hex::encode(&f.group_id.0);
        if !client.only_with(&chat, &f.handle).await {
            continue;
        }
        let organisation = match client.official(&f.handle).await {
            Ok(s) => s.official.map(|b| b.claim.organisation),
            Err(_) => None,
        };
        out.insert(
            chat,
            OfficialMark {
                handle: f.handle,
                organisation,
            },
        );
    }
    Some(out)
}

/// A handle as a person types it, checked before anything is asked.
fn handle(h: &str) -> Result<String, AppError> {
    let h = h.trim().trim_start_matches('@').to_string();
    kizuna_wire::fields::HANDLE
        .check(&h)
        .map_err(|e| AppError::Invalid(e.to_string()))?;
    Ok(h)
}

/// Whether `handle` is an official account now, as this device checks it
/// in the key log: the badge and what its organisation says of itself, or
/// when and why it was revoked.
pub(super) async fn standing(
    State(state): State<Arc<AppState>>,
    Path(h): Path<String>,
) -> Result<Json<OfficialStanding>, AppError> {
    let h = handle(&h)?;
    Ok(Json(state.client.lock().await.official(&h).await?))
}

/// Follows `handle` after checking its badge here: answers the chat.
pub(super) async fn follow(
    State(state): State<Arc<AppState>>,
    Path(h): Path<String>,
) -> Result<Json<Value>, AppError> {
    let h = handle(&h)?;
    let (chat, _) = state.client.lock().await.follow(&h).await?;
    state.official_marks.current(&state, true);
    let _ = state.events.send(PageEvent::Chats);
    Ok(Json(json!({ "chat": chat })))
}

#[derive(Deserialize)]
pub(super) struct Unfollow {
    /// Ask the organisation, in the chat, to erase what I sent it first.
    #[serde(default)]
    erase: bool,
}

/// Stops following `handle`, leaving its chat; with `erase`, first asks
/// the organisation to erase what this person sent it.
pub(super) async fn unfollow(
    State(state): State<Arc<AppState>>,
    Path(h): Path<String>,
    Json(u): Json<Unfollow>,
) -> Result<Json<Value>, AppError> {
    let h = handle(&h)?;
    let asked = state.client.lock().await.unfollow(&h, u.erase).await?;
    state.official_marks.current(&state, true);
    let _ = state.events.send(PageEvent::Chats);
    Ok(Json(json!({ "erasure_asked": asked.map(|m| m.seq) })))
}
