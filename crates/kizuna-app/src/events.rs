//! What the page learns without asking: the device stays connected to the
//! node, and each message it receives and opens is pushed to the page as a
//! server-sent event.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use kizuna_client::{Client, Event};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::StreamExt;

use crate::api::MessageView;
use crate::AppState;

/// One thing to tell the page.
#[derive(Clone, Debug)]
pub(crate) enum PageEvent {
    Message {
        chat: String,
        message: MessageView,
    },
    /// Something about the chat list changed: the page reads it again.
    Chats,
    /// Whether the device is connected to the node.
    Status {
        connected: bool,
    },
    /// A chat holds a device the key log does not bind to the person it
    /// claims to be: the page shows it as a banner that stays.
    KeyNotLogged {
        message: String,
    },
    /// An official account's announcement, checked on the device.
    Announcement(kizuna_client::ReceivedAnnouncement),
    /// An announcement the device refused: altered or made up by the node.
    AnnouncementRefused {
        message: String,
    },
}

impl PageEvent {
    fn to_sse(&self) -> SseEvent {
        let (name, data) = match self {
            PageEvent::Message { chat, message } => (
                "message",
                serde_json::json!({ "chat": chat, "message": message }),
            ),
            PageEvent::Chats => ("chats", serde_json::json!({})),
            PageEvent::Status { connected } => {
                ("status", serde_json::json!({ "connected": connected }))
            }
            PageEvent::Announcement(a) => {
                ("announcement", serde_json::to_value(a).unwrap_or_default())
            }
            PageEvent::AnnouncementRefused { message } => (
                "announcement_refused",
                serde_json::json!({ "message": message }),
            ),
            PageEvent::KeyNotLogged { message } => {
                ("key_not_logged", serde_json::json!({ "message": message }))
            }
        };
        SseEvent::default().event(name).data(data.to_string())
    }
}

/// How the page sees something the device received.
fn page_events(e: &Event, my_device: &str) -> Vec<PageEvent> {
    match e {
        Event::Message(m) => vec![
            PageEvent::Message {
                chat: m.chat.clone(),
                message: MessageView::of(m, my_device),
            },
            PageEvent::Chats,
        ],
        Event::Undecryptable(u) => vec![
            PageEvent::Message {
                chat: u.chat.clone(),
                message: MessageView::unopened(u),
            },
            PageEvent::Chats,
        ],
        Event::KeyNotLogged { .. } => vec![
            PageEvent::KeyNotLogged {
                message: warning(e).unwrap_or_default(),
            },
            PageEvent::Chats,
        ],
        Event::Announcement(a) => vec![PageEvent::Announcement(a.clone())],
        Event::AnnouncementRefused { handle, why, .. } => vec![PageEvent::AnnouncementRefused {
            message: format!("an announcement said to be {handle}'s: {why}"),
        }],
        _ => vec![PageEvent::Chats],
    }
}

/// What the page says of a chat member the key log did not bind to the
/// person it claims to be.
pub(crate) fn warning(e: &Event) -> Option<String> {
    match e {
        Event::KeyNotLogged {
            chat,
            handle,
            device_id,
            why,
        } => Some(format!(
            "chat {}: a device that calls itself {handle}'s ({device_id}): {why}",
            chat.get(..8).unwrap_or(chat)
        )),
        _ => None,
    }
}

/// Keeps `watcher` connected to the node for as long as the app runs,
/// passing what it receives to the page, and whether it is connected.
pub(crate) fn spawn_watcher(
    mut watcher: Client,
    events: broadcast::Sender<PageEvent>,
    connected: Arc<AtomicBool>,
    key_warnings: Arc<std::sync::Mutex<Vec<String>>>,
) {
    tokio::spawn(async move {
        let me = watcher.identity().device_id.clone();
        let mut backoff = Duration::from_millis(200);
        let tell = |now: bool| {
            if connected.swap(now, Ordering::Relaxed) != now {
                let _ = events.send(PageEvent::Status { connected: now });
            }
        };
        loop {
            let r = watcher
                .watch_connected(
                    |e| {
                        for p in page_events(e, &me) {
                            // A warning is kept for pages yet to connect:
                            // the device is told of it only once.
                            if let PageEvent::KeyNotLogged { message } = &p {
                                key_warnings
                                    .lock()
                                    .unwrap_or_else(|p| p.into_inner())
                                    .push(message.clone());
                            }
                            // No page listening is no failure.
                            let _ = events.send(p);
                        }
                    },
                    tell,
                    std::future::pending(),
                )
                .await;
            // The watch only ends on a failure it does not retry itself;
            // the page is told, and the device tries again.
            if r.is_err() {
                tell(false);
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(10));
        }
    });
}

/// `GET /api/events`: the page's stream of events.
pub(crate) async fn stream(
    State(state): State<Arc<AppState>>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let rx = state.events.subscribe();
    // A page that just connected learns where the device stands at once.
    let now = PageEvent::Status {
        connected: state.connected.load(Ordering::Relaxed),
    };
    // And of every chat member the key log did not bind to their person.
    let warnings: Vec<_> = state
        .key_warnings
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|message| {
            Ok(PageEvent::KeyNotLogged {
                message: message.clone(),
            }
            .to_sse())
        })
        .collect();
    let events = tokio_stream::once(Ok(now.to_sse()))
        .chain(tokio_stream::iter(warnings))
        // A page that fell behind is told to read the chat list again,
        // which brings back what it missed.
        .chain(BroadcastStream::new(rx).map(|e| {
            Ok(match e {
                Ok(p) => p.to_sse(),
                Err(_) => PageEvent::Chats.to_sse(),
            })
        }));
    Sse::new(events).keep_alive(KeepAlive::default())
}
