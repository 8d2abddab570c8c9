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

/// How long a badge checked for the chat list stands before it is checked
/// again. The conversation's header and a look-up always check afresh, so
/// a revocation shows there at once.
const LISTED_BADGE_STANDS: Duration = Duration::from_secs(60);

/// Badges this device checked for the chat list: the organisation, or
/// none when the account holds no badge now.
#[derive(Default)]
pub(crate) struct CheckedBadges(std::sync::Mutex<HashMap<String, (Instant, Option<String>)>>);

impl CheckedBadges {
    fn fresh(&self, handle: &str) -> Option<Option<String>> {
        let held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        held.get(handle)
            .filter(|(at, _)| at.elapsed() < LISTED_BADGE_STANDS)
            .map(|(_, org)| org.clone())
    }

    fn keep(&self, s: &OfficialStanding) {
        let org = s.official.as_ref().map(|b| b.claim.organisation.clone());
        let mut held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        held.insert(s.handle.clone(), (Instant::now(), org));
    }
}

/// A chat through which this person follows an official account, as the
/// chat list marks it.
#[derive(Clone, Debug, Serialize)]
pub(super) struct OfficialMark {
    handle: String,
    /// The organisation its badge names; none when it holds no badge now.
    organisation: Option<String>,
}

/// The followed accounts' chats, by chat id, each marked only when this
/// device's own MLS tree says the chat holds this person and the account
/// alone: the node names the chat, and must not make anyone else's look
/// official. While the node cannot be reached the list is shown unmarked,
/// and a badge this device could not check is not shown.
pub(super) async fn marks(state: &AppState, client: &mut Client) -> HashMap<String, OfficialMark> {
    let me = client.identity().handle.clone();
    let mut out = HashMap::new();
    for f in client.follows().await.unwrap_or_default() {
        let chat = hex::encode(&f.group_id.0);
        let alone = match client.members(&chat).await {
            Ok(m) => m.iter().all(|(h, _)| *h == me || *h == f.handle),
            Err(_) => false,
        };
        if !alone {
            continue;
        }
        let organisation = match state.badges.fresh(&f.handle) {
            Some(org) => org,
            None => match client.official(&f.handle).await {
                Ok(s) => {
                    state.badges.keep(&s);
                    s.official.map(|b| b.claim.organisation)
                }
                Err(_) => None,
            },
        };
        out.insert(
            chat,
            OfficialMark {
                handle: f.handle,
                organisation,
            },
        );
    }
    out
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
    let s = state.client.lock().await.official(&h).await?;
    state.badges.keep(&s);
    Ok(Json(s))
}

/// Follows `handle` after checking its badge here: answers the chat.
pub(super) async fn follow(
    State(state): State<Arc<AppState>>,
    Path(h): Path<String>,
) -> Result<Json<Value>, AppError> {
    let h = handle(&h)?;
    let (chat, _) = state.client.lock().await.follow(&h).await?;
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
    let _ = state.events.send(PageEvent::Chats);
    Ok(Json(json!({ "erasure_asked": asked.map(|m| m.seq) })))
}
