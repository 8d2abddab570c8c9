//! Delivery to the organisation's webhook: the device kept connected to
//! the node stores what arrives; each chat's new messages from followers
//! are then POSTed in order, one at a time, and a chat's cursor moves only
//! once the webhook answered 2xx. A webhook that is down is tried again;
//! a daemon that stops is caught up at its next start.

use std::sync::Arc;
use std::time::Duration;

use kizuna_client::{Client, StoredMessage};
use kizuna_wire::{FollowerRequest, Structured};
use tokio::sync::watch;

use crate::state::Follower;
use crate::Shared;

/// What the webhook receives, as JSON with a `type`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WebhookEvent {
    /// Someone followed the account: the chat they follow through.
    Followed { chat: String, from: String },
    /// A follower's message: text, and any structure (an answer to a
    /// card, an erasure request, segments).
    Message {
        chat: String,
        seq: u64,
        from: String,
        at: u64,
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        structured: Option<Structured>,
    },
}

/// Keeps `watcher` connected to the node, waking the delivery whenever
/// something arrives.
pub(crate) async fn watch(
    mut watcher: Client,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(200);
    loop {
        let stopped = {
            let mut s = stop.clone();
            async move {
                let _ = s.wait_for(|v| *v).await;
            }
        };
        let r = watcher
            .watch_connected(|_| shared.wake.notify_one(), |_| {}, stopped)
            .await;
        if *stop.borrow() {
            return;
        }
        if let Err(e) = r {
            eprintln!("kizuna bot: the connection to the node failed ({e}); trying again");
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.wait_for(|v| *v) => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

/// Delivers what waits, whenever woken and every two seconds (a webhook
/// that refused is tried again), until stopped.
pub(crate) async fn deliver(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        if let Err(e) = pass(&shared).await {
            eprintln!("kizuna bot: {e}; trying again");
        }
        tokio::select! {
            _ = shared.wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = stop.wait_for(|v| *v) => return,
        }
    }
}

/// One pass: accept the chats followers opened, gather what the webhook
/// has not taken, post it in order.
async fn pass(shared: &Shared) -> Result<(), String> {
    let (pending, seen) = gather(shared).await.map_err(|e| e.to_string())?;
    // A chat whose event the webhook refused waits, in order, for the next
    // pass; the other chats go on.
    let mut waiting = std::collections::HashSet::new();
    let mut failed = None;
    for event in pending {
        let chat = match &event {
            WebhookEvent::Followed { chat, .. } | WebhookEvent::Message { chat, .. } => {
                chat.clone()
            }
        };
        if waiting.contains(&chat) {
            continue;
        }
        if let Err(e) = post(shared, &event).await {
            waiting.insert(chat);
            failed = Some(e);
            continue;
        }
        let mut st = shared.state.lock().await;
        match &event {
            WebhookEvent::Followed { chat, .. } => {
                if let Some(f) = st.followers.get_mut(chat) {
                    f.told = true;
                }
            }
            WebhookEvent::Message { chat, seq, .. } => {
                st.delivered.insert(chat.clone(), *seq);
            }
        }
        st.save().map_err(|e| e.to_string())?;
    }
    let mut st = shared.state.lock().await;
    for (chat, mark) in seen {
        if !waiting.contains(&chat) {
            st.read_through.insert(chat, mark);
        }
    }
    st.save().map_err(|e| e.to_string())?;
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// What waits for the webhook, in order, and the chats read through (with
/// the number of messages each held and the time of its latest).
async fn gather(
    shared: &Shared,
) -> Result<(Vec<WebhookEvent>, Vec<(String, (u64, u64))>), crate::BotError> {
    let mut c = shared.client.lock().await;
    let me = c.identity().handle.clone();
    // Every chat someone opened with the account is a follower's: taken.
    for r in c.chat_requests().await? {
        c.accept_chat(&r.chat).await?;
        let mut st = shared.state.lock().await;
        st.followers.entry(r.chat.clone()).or_insert(Follower {
            chat: r.chat,
            handle: r.from,
            ..Default::default()
        });
        st.save()?;
    }
    let mut pending = Vec::new();
    let mut seen = Vec::new();
    let chats = c.chats().await?;
    // A chat opened by someone among the account's contacts is no request:
    // its follower is whoever else is in it.
    let mut opened = Vec::new();
    {
        let st = shared.state.lock().await;
        for chat in chats.iter().filter(|c| c.active) {
            if !st.followers.contains_key(&chat.chat) {
                opened.push(chat.chat.clone());
            }
        }
    }
    let mut found = Vec::new();
    for chat in opened {
        if let Some((handle, _)) = c.members(&chat).await?.into_iter().find(|(h, _)| *h != me) {
            found.push(Follower {
                chat,
                handle,
                ..Default::default()
            });
        }
    }
    let mut st = shared.state.lock().await;
    for f in found {
        st.followers.entry(f.chat.clone()).or_insert(f);
    }
    for chat in chats {
        // Read again only when it holds more, or newer, messages than
        // when it was last read through.
        let latest = (chat.messages, chat.last_time.unwrap_or(0));
        if st.read_through.get(&chat.chat) == Some(&latest) {
            continue;
        }
        let after = st.delivered.get(&chat.chat).copied().unwrap_or(0);
        let news: Vec<StoredMessage> = c
            .history(&chat.chat)
            .await?
            .into_iter()
            .filter(|m| m.seq > after && m.sender != me)
            .collect();
        for m in news {
            let f = st
                .followers
                .entry(m.chat.clone())
                .or_insert_with(|| Follower {
                    chat: m.chat.clone(),
                    handle: m.sender.clone(),
                    ..Default::default()
                });
            if let Some(Structured::Request(FollowerRequest::Segments { segments })) =
                m.structured.as_deref()
            {
                f.segments = segments.clone();
            }
            pending.push(WebhookEvent::Message {
                chat: m.chat.clone(),
                seq: m.seq,
                from: m.sender.clone(),
                at: m.server_time,
                text: m.text.clone(),
                structured: m.structured.map(|s| *s),
            });
        }
        seen.push((chat.chat, latest));
    }
    // Followers not yet announced go first.
    let mut told: Vec<WebhookEvent> = st
        .followers
        .values()
        .filter(|f| !f.told)
        .map(|f| WebhookEvent::Followed {
            chat: f.chat.clone(),
            from: f.handle.clone(),
        })
        .collect();
    st.save()?;
    told.extend(pending);
    Ok((told, seen))
}

async fn post(shared: &Shared, event: &WebhookEvent) -> Result<(), String> {
    let r = shared
        .http
        .post(&shared.config.webhook)
        .bearer_auth(&shared.config.secret)
        .json(event)
        .send()
        .await
        .map_err(|e| {
            format!(
                "the webhook {} cannot be reached: {e}",
                shared.config.webhook
            )
        })?;
    if r.status().is_success() {
        Ok(())
    } else {
        Err(format!(
            "the webhook {} answered {}",
            shared.config.webhook,
            r.status()
        ))
    }
}
