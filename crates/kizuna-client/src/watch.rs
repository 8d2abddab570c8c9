//! Staying connected: a sync, then entries as they arrive over a
//! WebSocket, reconnecting after a dropped connection.

use futures_util::{SinkExt, StreamExt};
use kizuna_wire::{ClientFrame, EnvelopeKind, ServerFrame};

use crate::{Client, ClientError, Event, Result};

/// How often a connected device looks at its account's own keys again.
const MONITOR_EVERY: std::time::Duration = std::time::Duration::from_secs(10 * 60);

impl Client {
    /// Like [`Client::sync`], then stays connected over a WebSocket and
    /// handles each entry as it arrives, until `stop` completes. Reconnects
    /// after a dropped connection.
    pub async fn watch<F: FnMut(&Event)>(
        &mut self,
        on_event: F,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<()> {
        self.watch_connected(on_event, |_| {}, stop).await
    }

    /// [`Client::watch`], telling `on_connected` each time the device
    /// comes to be connected to the node (true) or loses it (false), for an
    /// app that shows whether it is live.
    pub async fn watch_connected<F: FnMut(&Event), C: FnMut(bool)>(
        &mut self,
        mut on_event: F,
        mut on_connected: C,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<()> {
        tokio::pin!(stop);
        let mut backoff = std::time::Duration::from_millis(200);
        loop {
            // While the server is unreachable, keep trying (with backoff)
            // until stopped; any other failure ends the watch.
            let caught_up = tokio::select! {
                r = self.sync() => r,
                _ = &mut stop => return Ok(()),
            };
            match caught_up {
                Ok(events) => events.iter().for_each(&mut on_event),
                Err(ClientError::Unreachable { server, reason }) => {
                    on_connected(false);
                    tracing_free_log(&format!("{server} unreachable ({reason}); retrying"));
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = &mut stop => return Ok(()),
                    }
                    backoff = (backoff * 2).min(std::time::Duration::from_secs(10));
                    continue;
                }
                Err(e) => return Err(e),
            }
            let token = self.token().await?;
            let cursor = self.local.cursor().await?;
            let url = self.transport.ws_url(&format!("/v1/ws?after={cursor}"));
            let mut req =
                tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
                    url.as_str(),
                )
                .map_err(|e| ClientError::Protocol(e.to_string()))?;
            req.headers_mut().insert(
                "authorization",
                format!("Bearer {token}")
                    .parse()
                    .map_err(|_| ClientError::Protocol("bad token".into()))?,
            );
            let conn = tokio::select! {
                c = tokio_tungstenite::connect_async_tls_with_config(
                    req,
                    None,
                    true,
                    Some(self.transport.ws_connector()),
                ) => c,
                _ = &mut stop => return Ok(()),
            };
            let (mut ws, _) = match conn {
                Ok(c) => c,
                Err(e) => {
                    on_connected(false);
                    // The next attempt goes to the next node, if several.
                    self.transport.ws_failed();
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = &mut stop => return Ok(()),
                    }
                    backoff = (backoff * 2).min(std::time::Duration::from_secs(10));
                    tracing_free_log(&format!("reconnecting: {e}"));
                    continue;
                }
            };
            backoff = std::time::Duration::from_millis(200);
            on_connected(true);
            // The account's own keys, looked at again while the device
            // stays connected, as each sync looks at them.
            let mut monitor = tokio::time::interval_at(
                tokio::time::Instant::now() + MONITOR_EVERY,
                MONITOR_EVERY,
            );
            loop {
                let frame = tokio::select! {
                    f = ws.next() => f,
                    _ = monitor.tick() => {
                        let _g = self.begin().await?;
                        // Members whose check waited, and the account's keys.
                        self.check_member_keys().await?.iter().for_each(&mut on_event);
                        match self.monitor_own_keys().await {
                            Ok(linked) => linked.iter().for_each(&mut on_event),
                            Err(e @ (ClientError::KeysNotLogged(_) | ClientError::LedgerTampered(_))) => {
                                return Err(e)
                            }
                            // Looked at again at the next tick.
                            Err(_) => {}
                        }
                        continue;
                    }
                    _ = &mut stop => {
                        let _ = ws.close(None).await;
                        return Ok(());
                    }
                };
                let text = match frame {
                    Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t))) => t,
                    Some(Ok(_)) => continue,
                    None | Some(Err(_)) => {
                        on_connected(false);
                        break;
                    }
                };
                match serde_json::from_str::<ServerFrame>(text.as_str()) {
                    Ok(ServerFrame::Envelope(env)) => {
                        let mut events = Vec::new();
                        let _g = self.begin().await?;
                        let brings_members =
                            matches!(env.kind, EnvelopeKind::Welcome | EnvelopeKind::Commit);
                        let last = self.apply_envelopes(vec![env], &mut events).await?;
                        // Members it brought, checked against the key log
                        // at once, as a sync checks them.
                        if brings_members {
                            events.extend(self.check_member_keys().await?);
                        }
                        drop(_g);
                        // Stored on the device: shown now, whatever becomes of
                        // the acknowledgement. A connection that drops while
                        // it goes would otherwise leave a stored message that
                        // the next catch-up starts after, never shown live.
                        for e in &events {
                            on_event(e);
                        }
                        let ack = serde_json::to_string(&ClientFrame::Ack { up_to: last })
                            .unwrap_or_default();
                        if ws
                            .send(tokio_tungstenite::tungstenite::Message::Text(ack.into()))
                            .await
                            .is_err()
                        {
                            break;
                        }
                    }
                    Ok(ServerFrame::Announcements) => {
                        let _g = self.begin().await?;
                        // One that cannot be checked now is read at the
                        // next sync; only tampering ends the watch.
                        let read = self.read_announcements().await;
                        drop(_g);
                        match read {
                            Ok(events) => events.iter().for_each(&mut on_event),
                            Err(
                                e
                                @ (ClientError::KeysNotLogged(_) | ClientError::LedgerTampered(_)),
                            ) => return Err(e),
                            Err(_) => {}
                        }
                    }
                    Ok(ServerFrame::KeyPackagesLow) => {
                        let _g = self.begin().await?;
                        self.replenish_key_packages(false).await?;
                    }
                    Ok(ServerFrame::Error(e)) => {
                        return Err(ClientError::Api {
                            code: e.code,
                            message: e.message,
                        })
                    }
                    Err(e) => return Err(ClientError::Protocol(format!("unreadable frame: {e}"))),
                }
            }
        }
    }
}

fn tracing_free_log(msg: &str) {
    if std::env::var_os("KIZUNA_DEBUG").is_some() {
        eprintln!("{msg}");
    }
}
