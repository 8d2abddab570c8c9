//! The real-time plane: one WebSocket per online device. The server replays
//! the device's queue from the cursor the client gives, then pushes new
//! entries as they are accepted; the client acknowledges over the same socket.

use std::sync::atomic::Ordering;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use kizuna_wire::{ClientFrame, Envelope, ErrorBody, ErrorCode, ServerFrame};
use serde::Deserialize;

use crate::api::{read_inbox, AuthedDevice, Shared};
use crate::error::ApiError;

/// Small buffers: an idle device should cost the server a few KiB, not the
/// 128 KiB tungstenite reserves by default.
const READ_BUFFER: usize = 4 * 1024;
const MAX_FRAME: usize = 64 * 1024;
const REPLAY_PAGE: u32 = 500;

#[derive(Deserialize)]
pub struct WsQuery {
    #[serde(default)]
    after: u64,
}

pub async fn upgrade(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    q: Result<Query<WsQuery>, axum::extract::rejection::QueryRejection>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(ErrorCode::BadRequest, e.body_text()))?;
    Ok(ws
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_message_size(MAX_FRAME)
        .max_frame_size(MAX_FRAME)
        .on_upgrade(move |socket| async move {
            let device = me.device_id.clone();
            if let Err(e) = session(s, &device, q.after, socket).await {
                tracing::debug!(device = %device, error = %e, "websocket closed");
            }
        }))
}

async fn send_env(socket: &mut WebSocket, env: &Envelope) -> Result<(), axum::Error> {
    let text = serde_json::to_string(&ServerFrame::Envelope(env.clone())).unwrap_or_default();
    socket.send(Message::Text(text.into())).await
}

async fn session(
    s: Shared,
    device: &str,
    after: u64,
    mut socket: WebSocket,
) -> Result<(), axum::Error> {
    // Register before reading the backlog so nothing accepted in between is
    // missed; duplicates are skipped by sequence number.
    let mut reg = s.hub.register(device);
    let result = run(&s, device, after, &mut socket, &mut reg).await;
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
        let page = match read_inbox(s, device, *last, REPLAY_PAGE).await {
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
            send_env(socket, &env).await?;
            *last = env.seq;
        }
        if n < REPLAY_PAGE as usize {
            return Ok(());
        }
    }
}

async fn run(
    s: &Shared,
    device: &str,
    after: u64,
    socket: &mut WebSocket,
    reg: &mut crate::delivery::Registration,
) -> Result<(), axum::Error> {
    let mut last = after;
    replay(s, device, &mut last, socket).await?;
    if let Ok(st) = s.store.key_package_count(device).await {
        if st.one_time < s.limits.low_key_packages {
            let t = serde_json::to_string(&ServerFrame::KeyPackagesLow).unwrap_or_default();
            socket.send(Message::Text(t.into())).await?;
        }
    }
    let mut shutdown = s.shutdown.clone();
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tokio::select! {
            env = reg.rx.recv() => {
                let Some(env) = env else { return Ok(()) };
                if env.seq > last {
                    send_env(socket, &env).await?;
                    last = env.seq;
                }
            }
            _ = tick.tick() => {
                if reg.lagged.swap(false, Ordering::AcqRel) {
                    // Drop what is buffered; the queue on disk has it all.
                    while reg.rx.try_recv().is_ok() {}
                    replay(s, device, &mut last, socket).await?;
                }
            }
            msg = socket.recv() => {
                match msg {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Ok(()),
                    Some(Ok(Message::Text(t))) => handle_client_frame(s, device, t.as_str(), socket).await?,
                    Some(Ok(_)) => {}
                }
            }
            _ = shutdown.changed() => {
                let _ = socket.send(Message::Close(None)).await;
                return Ok(());
            }
        }
    }
}

async fn handle_client_frame(
    s: &Shared,
    device: &str,
    text: &str,
    socket: &mut WebSocket,
) -> Result<(), axum::Error> {
    match serde_json::from_str::<ClientFrame>(text) {
        Ok(ClientFrame::Ack { up_to }) => {
            if let Err(e) = s.store.ack(device, up_to).await {
                tracing::error!(error = %e, "ack failed");
            }
            Ok(())
        }
        Err(e) => {
            let frame = ServerFrame::Error(ErrorBody {
                code: ErrorCode::MalformedJson,
                message: format!("unreadable frame: {e}"),
            });
            socket
                .send(Message::Text(
                    serde_json::to_string(&frame).unwrap_or_default().into(),
                ))
                .await
        }
    }
}
