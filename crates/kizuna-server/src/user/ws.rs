//! The real-time plane: one WebSocket per online device. The server replays
//! the device's queue from the cursor the client gives, then pushes new
//! entries as they are accepted; the client acknowledges over the same socket.

use std::sync::atomic::Ordering;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use futures_util::SinkExt;
use kizuna_wire::{ClientFrame, Envelope, ErrorBody, ErrorCode, ServerFrame};
use serde::Deserialize;

use super::{ApiQuery, AuthedDevice, Shared};
use crate::delivery::LiveEntry;
use crate::error::ApiError;

/// Small buffers: an idle device should cost the server a few KiB, not the
/// 128 KiB tungstenite reserves by default. Clients only send acknowledgements,
/// so 1 KiB reads suffice; larger frames still arrive, in more reads.
const READ_BUFFER: usize = 1024;
const MAX_FRAME: usize = 64 * 1024;
const REPLAY_PAGE: u32 = 500;
/// Ticks (of 250 ms) between pings: 30 s, well inside the node's idle
/// timeout and the usual NAT timeouts.
const PING_EVERY_TICKS: u32 = 120;
/// How often ticks come, in milliseconds.
const TICK_MS: u64 = 250;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WsQuery {
    /// Replay entries after this position.
    #[serde(default)]
    #[param(maximum = 9223372036854775807u64)]
    after: u64,
}

impl kizuna_wire::Checked for WsQuery {
    fn check(&self) -> Result<(), kizuna_wire::FieldError> {
        kizuna_wire::fields::check_stored("after", self.after).map(drop)
    }
}

/// The WebSocket: `ServerFrame`s from the server, `ClientFrame`s from the
/// device.
#[utoipa::path(
    get,
    path = "/v1/ws",
    tag = "user",
    summary = "WebSocket: replay from ?after=, then live envelopes; the device sends {\"type\":\"ack\",\"up_to\":N}",
    params(WsQuery),
    responses(
        (status = 101, description = "switching to the WebSocket; frames are ServerFrame (server to device) and ClientFrame (device to server)"),
        (status = "default", description = "an error with a stable code", body = kizuna_wire::ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn upgrade(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    ApiQuery(q): ApiQuery<WsQuery>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    // A plain request, or one missing an upgrade header, is told what a
    // WebSocket handshake needs, in the API's own error shape.
    let ws = ws.map_err(|r| {
        ApiError::new(
            r.status(),
            ErrorCode::BadRequest,
            format!(
                "{}; /v1/ws takes a WebSocket handshake (GET with Upgrade: websocket)",
                r.body_text()
            ),
        )
    })?;
    // Answered before the upgrade, so the device reads why; the session
    // checks again under the hub's lock, for connections opened at once.
    let cap = s.limits.websockets_per_device;
    if s.hub.connections_of(&me.device_id) >= cap {
        return Err(too_many_websockets(cap));
    }
    Ok(ws
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_message_size(MAX_FRAME)
        .max_frame_size(MAX_FRAME)
        .on_upgrade(move |socket| async move {
            let device = me.device_id.clone();
            if let Err(e) = session(s, &me, q.after, socket).await {
                tracing::debug!(device = %device, error = %e, "websocket closed");
            }
        }))
}

fn too_many_websockets(cap: usize) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::TooManyConnections,
        format!(
            "this device already holds {cap} live WebSockets, the most one device may; \
             close one (or wait for a dropped one to time out) and connect again"
        ),
    )
}

/// Queues an envelope on the socket; the caller flushes.
async fn feed_env(socket: &mut WebSocket, env: &Envelope) -> Result<(), axum::Error> {
    let text = serde_json::to_string(&ServerFrame::Envelope(env.clone())).unwrap_or_default();
    socket.feed(Message::Text(text.into())).await
}

async fn session(
    s: Shared,
    me: &crate::auth::DeviceIdentity,
    after: u64,
    mut socket: WebSocket,
) -> Result<(), axum::Error> {
    let device = me.device_id.as_str();
    // Register before reading the backlog so nothing accepted in between is
    // missed; duplicates are skipped by sequence number.
    let cap = s.limits.websockets_per_device;
    let Some(mut reg) = s.hub.register_within(device, cap, after) else {
        let text = serde_json::to_string(&ServerFrame::Error(too_many_websockets(cap).body()))
            .unwrap_or_default();
        let _ = socket.send(Message::Text(text.into())).await;
        let _ = socket.send(Message::Close(None)).await;
        return Ok(());
    };
    let result = run(&s, me, after, &mut socket, &mut reg).await;
    s.hub.unregister(device, reg.id);
    result
}

async fn replay(
    s: &Shared,
    device: &str,
    last: &mut u64,
    socket: &mut WebSocket,
) -> Result<(), axum::Error> {
    loop {
        let page = match s.inbox(device, *last, REPLAY_PAGE).await {
            Ok(p) => p,
            Err(e) => {
                let frame = ServerFrame::Error(ErrorBody {
                    code: e.code,
                    message: e.message,
                });
                let _ = socket
                    .send(Message::Text(
                        serde_json::to_string(&frame).unwrap_or_default().into(),
                    ))
                    .await;
                return Err(axum::Error::new(std::io::Error::other("queue read failed")));
            }
        };
        let n = page.len();
        for env in page {
            feed_env(socket, &env).await?;
            s.metrics.delivered(env.server_time);
            *last = env.seq;
        }
        // One flush a page: one system call carries its frames.
        if n > 0 {
            socket.flush().await?;
        }
        if n < REPLAY_PAGE as usize {
            return Ok(());
        }
    }
}

async fn run(
    s: &Shared,
    me: &crate::auth::DeviceIdentity,
    after: u64,
    socket: &mut WebSocket,
    reg: &mut crate::delivery::Registration,
) -> Result<(), axum::Error> {
    let device = me.device_id.as_str();
    let mut last = after;
    Box::pin(replay(s, device, &mut last, socket)).await?;
    reg.read_to.fetch_max(last, Ordering::AcqRel);
    if let Ok(st) = s.store.key_package_count(device).await {
        if st.one_time < s.limits.low_key_packages {
            let t = serde_json::to_string(&ServerFrame::KeyPackagesLow).unwrap_or_default();
            socket.send(Message::Text(t.into())).await?;
        }
    }
    let mut shutdown = s.shutdown.clone();
    // Each connection ticks at its own phase, so thousands of connections
    // opened together do not all pass their acknowledgements on at once.
    let phase = std::time::Duration::from_millis(rand::random::<u64>() % 250);
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + phase,
        std::time::Duration::from_millis(TICK_MS),
    );
    // Acknowledgements are coalesced and passed on at most four times a
    // second: a device that acks every entry should not cost a write each.
    let mut pending_ack: Option<u64> = None;
    // A ping now and then: the device's answer is what keeps a quiet but
    // live connection inside the node's idle timeout, and a dead one is
    // found and closed.
    let mut ticks_to_ping = PING_EVERY_TICKS;
    // In a cluster, the connection's own re-reads of its queue, for a
    // wake-up NATS lost.
    let reread_every = (s.limits.cluster_reread.as_millis() as u64 / TICK_MS).max(1) as u32;
    let mut ticks_to_reread = reread_every;
    let result = loop {
        tokio::select! {
            entry = reg.rx.recv() => {
                let Some(entry) = entry else { break Ok(()) };
                if let Err(e) = Box::pin(forward(s, socket, entry, &mut reg.rx, &mut last)).await {
                    break Err(e);
                }
            }
            _ = tick.tick() => {
                ticks_to_ping -= 1;
                if ticks_to_ping == 0 {
                    ticks_to_ping = PING_EVERY_TICKS;
                    if let Err(e) = socket.send(Message::Ping(Default::default())).await {
                        break Err(e);
                    }
                }
                // Wake-ups between nodes are sent at most once; a re-read
                // now and then finds what a lost one would have announced.
                // It joins the node's next read of woken devices' queues.
                ticks_to_reread -= 1;
                if ticks_to_reread == 0 {
                    ticks_to_reread = reread_every;
                    if s.hub.cluster().is_some() {
                        s.hub.wake(device);
                    }
                }
                // A suspension decided while connected ends the connection.
                if let Err(e) = s
                    .sanctions
                    .check_request(&me.account_id, crate::sanctions::Reach::Service)
                {
                    let e = crate::error::ApiError::from(e);
                    let text = serde_json::to_string(&ServerFrame::Error(e.body())).unwrap_or_default();
                    let _ = socket.send(Message::Text(text.into())).await;
                    let _ = socket.send(Message::Close(None)).await;
                    break Ok(());
                }
                if let Some(up_to) = pending_ack.take() {
                    s.sequencer.ack_later(device.to_string(), up_to).await;
                }
                if reg.lagged.swap(false, Ordering::AcqRel) {
                    // Drop what is buffered; the queue on disk has it all.
                    while reg.rx.try_recv().is_ok() {}
                    // Boxed: rare, and its state would otherwise enlarge every
                    // idle connection's task.
                    if let Err(e) = Box::pin(replay(s, device, &mut last, socket)).await {
                        break Err(e);
                    }
                    // What was dropped is read again after what was sent.
                    reg.read_to.store(last, Ordering::Release);
                }
            }
            msg = socket.recv() => {
                match msg {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break Ok(()),
                    Some(Ok(Message::Text(t))) => match client_frame(t.as_str()) {
                        Ok(up_to) => pending_ack = Some(pending_ack.map_or(up_to, |p| p.max(up_to))),
                        Err(error) => {
                            let text = serde_json::to_string(&ServerFrame::Error(error)).unwrap_or_default();
                            if let Err(e) = socket.send(Message::Text(text.into())).await {
                                break Err(e);
                            }
                        }
                    },
                    Some(Ok(_)) => {}
                }
            }
            _ = shutdown.changed() => {
                let _ = socket.send(Message::Close(None)).await;
                break Ok(());
            }
        }
    };
    if let Some(up_to) = pending_ack {
        s.sequencer.ack_later(device.to_string(), up_to).await;
    }
    result
}

/// Writes a live entry and everything else already waiting, then flushes
/// once: under load, one system call carries many frames.
async fn forward(
    s: &Shared,
    socket: &mut WebSocket,
    first: LiveEntry,
    rx: &mut tokio::sync::mpsc::Receiver<LiveEntry>,
    last: &mut u64,
) -> Result<(), axum::Error> {
    let mut next = Some(first);
    let mut wrote = false;
    while let Some(e) = next {
        if e.seq == 0 {
            socket.feed(Message::Text(e.frame().into())).await?;
            wrote = true;
        } else if e.seq > *last {
            socket.feed(Message::Text(e.frame().into())).await?;
            s.metrics.delivered(e.server_time);
            *last = e.seq;
            wrote = true;
        }
        next = rx.try_recv().ok();
    }
    if wrote {
        socket.flush().await?;
    }
    Ok(())
}

/// An acknowledgement, or the error that answers an unreadable frame.
fn client_frame(text: &str) -> Result<u64, ErrorBody> {
    match serde_json::from_str::<ClientFrame>(text) {
        Ok(ClientFrame::Ack { up_to }) => kizuna_wire::fields::check_stored("up_to", up_to)
            .map_err(|e| ErrorBody {
                code: e.code,
                message: e.to_string(),
            }),
        Err(e) => Err(ErrorBody {
            code: ErrorCode::MalformedJson,
            message: format!("unreadable frame: {e}"),
        }),
    }
}
