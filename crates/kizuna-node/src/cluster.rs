//! What the nodes of a cluster tell each other, over core NATS: wake-ups
//! for devices with something new, and notices of what every node holds in
//! memory and must change when one node changes it.
//!
//! The node store in PostgreSQL is the only record of what each device is
//! to receive: a message is delivered by a node reading the device's queue,
//! never by what travels here. What travels here is "device D has something
//! new" on the subject `kz.<cluster>.dev.<D>`, published by the node that
//! stored it; the node holding D's WebSocket then reads D's queue from the
//! store. Positions in the store become visible in the order they were
//! handed out, so reading after the last position sent misses nothing,
//! whichever node wrote what.
//!
//! Core NATS delivers at most once: a wake-up lost while a connection to
//! NATS was down is made good by waking every local connection once it is
//! back, and by each connection having its queue read every few seconds.
//!
//! Notices (`kz.<cluster>.notice`) carry what a node enforces from memory:
//! a sanction decided, a block made, a device ended, an agreement changed,
//! an account gone. The store has each already; a notice only tells the
//! other nodes to drop or re-read what they hold. When the link to NATS
//! comes back, a node re-reads all of it, for the notices it missed.

use std::sync::{Arc, Weak};

use futures_util::StreamExt;
use kizuna_config::Cluster;

use crate::delivery::Hub;

/// A node's link to the cluster's NATS servers.
pub struct ClusterLink {
    client: async_nats::Client,
    prefix: String,
    notices: String,
    /// Bumped each time the link comes back after a break.
    reconnects: tokio::sync::watch::Sender<u64>,
}

/// What one node changed that the others hold in memory.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notice {
    /// A moderator's decision set or lifted sanctions.
    Sanctions,
    /// Someone blocks the account with this keyed hash prefix (hex).
    Blocked { prefix: String },
    /// A device was revoked or erased: its tokens end now, everywhere.
    DeviceEnded { device: String },
    /// An account's agreement to its region's disclosures changed.
    Agreement { account: String },
    /// An account was erased.
    AccountGone { account: String },
    /// An official account announced something: its followers' devices
    /// connected anywhere are told to read it.
    Announced { official: String },
}

#[derive(Debug, thiserror::Error)]
#[error("cannot reach the cluster's NATS server(s) {servers}: {reason}")]
pub struct ClusterError {
    servers: String,
    reason: String,
}

/// A device id as one subject token: ids the node hands out are hex, but an
/// id with a character NATS gives meaning to is spelled in hex whole.
fn token(device_id: &str) -> String {
    if !device_id.is_empty()
        && device_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        device_id.to_string()
    } else {
        format!("x{}", hex::encode(device_id))
    }
}

impl ClusterLink {
    /// Connects to the cluster's NATS servers; every local connection is
    /// woken whenever the link comes back after a break.
    pub async fn connect(
        cluster: &Cluster,
        hub: Weak<Hub>,
    ) -> Result<Arc<ClusterLink>, ClusterError> {
        let (reconnects, _) = tokio::sync::watch::channel(0u64);
        let bump = reconnects.clone();
        let servers = cluster.nats.join(", ");
        let addrs: Vec<async_nats::ServerAddr> = cluster
            .nats
            .iter()
            .map(|u| u.parse())
            .collect::<Result<_, _>>()
            .map_err(|e: std::io::Error| ClusterError {
                servers: servers.clone(),
                reason: e.to_string(),
            })?;
        let client = async_nats::ConnectOptions::new()
            .name(format!("kizuna node of cluster {}", cluster.name))
            .retry_on_initial_connect()
            .event_callback(move |event| {
                let hub = hub.clone();
                let bump = bump.clone();
                async move {
                    match event {
                        async_nats::Event::Connected => {
                            // Whatever was published while the link was
                            // down never arrives: every connection re-reads,
                            // and so does what listens for notices.
                            if let Some(hub) = hub.upgrade() {
                                hub.wake_all();
                            }
                            bump.send_modify(|n| *n += 1);
                        }
                        async_nats::Event::Disconnected => {
                            tracing::warn!("lost the link to the cluster's NATS; devices here are woken only by their own re-reads until it is back");
                        }
                        other => tracing::debug!(event = %other, "NATS"),
                    }
                }
            })
            .connect(addrs)
            .await
            .map_err(|e| ClusterError {
                servers,
                reason: e.to_string(),
            })?;
        Ok(Arc::new(ClusterLink {
            client,
            prefix: format!("kz.{}.dev", cluster.name),
            notices: format!("kz.{}.notice", cluster.name),
            reconnects,
        }))
    }

    /// Tells the other nodes what changed. Sent in the background: the
    /// change is in the store, and a node that misses the notice re-reads
    /// everything when its link comes back.
    pub fn announce(&self, notice: Notice) {
        let client = self.client.clone();
        let subject = self.notices.clone();
        let Ok(body) = serde_json::to_vec(&notice) else {
            return;
        };
        tokio::spawn(async move {
            if let Err(e) = client.publish(subject, body.into()).await {
                tracing::warn!(error = %e, "a notice to the cluster could not be published");
            } else if let Err(e) = client.flush().await {
                tracing::warn!(error = %e, "a notice to the cluster could not be flushed");
            }
        });
    }

    /// Listens for notices (this node's own included, which change nothing)
    /// and hands each to `apply`, with `None` when everything is to be
    /// re-read (the link came back). Ends when `apply` answers false.
    pub async fn listen(
        self: &Arc<Self>,
        mut apply: impl FnMut(Option<Notice>) -> bool + Send + 'static,
    ) -> Result<(), ClusterError> {
        let mut sub = self
            .client
            .subscribe(self.notices.clone())
            .await
            .map_err(|e| ClusterError {
                servers: "the cluster's NATS".into(),
                reason: e.to_string(),
            })?;
        let _ = self.client.flush().await;
        let mut reconnects = self.reconnects.subscribe();
        reconnects.mark_unchanged();
        tokio::spawn(async move {
            loop {
                let notice = tokio::select! {
                    m = sub.next() => match m {
                        Some(m) => match serde_json::from_slice::<Notice>(&m.payload) {
                            Ok(n) => Some(n),
                            Err(e) => {
                                tracing::warn!(error = %e, "an unreadable notice from the cluster was ignored");
                                continue;
                            }
                        },
                        None => return,
                    },
                    changed = reconnects.changed() => match changed {
                        Ok(()) => None,
                        Err(_) => return,
                    },
                };
                if !apply(notice) {
                    return;
                }
            }
        });
        Ok(())
    }

    /// Whether the link to NATS is up now (a node without it still serves,
    /// but is not ready: its devices would hear of new messages late).
    pub fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    fn subject(&self, device_id: &str) -> String {
        format!("{}.{}", self.prefix, token(device_id))
    }

    /// Tells whichever node holds these devices that they have something
    /// new. A failure is logged, not returned: the message is stored, and
    /// the device's own re-reads find it.
    pub async fn publish<'a>(&self, devices: impl IntoIterator<Item = &'a str>) {
        for d in devices {
            if let Err(e) = self
                .client
                .publish(self.subject(d), Default::default())
                .await
            {
                tracing::warn!(error = %e, "a wake-up could not be published");
                return;
            }
        }
        if let Err(e) = self.client.flush().await {
            tracing::warn!(error = %e, "wake-ups could not be flushed to NATS");
        }
    }

    /// Listens for a device's wake-ups while it has a connection here. Once
    /// subscribed it wakes the device's connections once, so that a message
    /// stored between their first read and the subscription is not missed.
    pub(crate) fn watch(&self, device_id: String, hub: Weak<Hub>) -> tokio::task::JoinHandle<()> {
        let client = self.client.clone();
        let subject = self.subject(&device_id);
        tokio::spawn(async move {
            let mut sub = match client.subscribe(subject).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, device = %device_id, "cannot listen for a device's wake-ups; it is woken by its own re-reads");
                    return;
                }
            };
            if let Err(e) = client.flush().await {
                tracing::debug!(error = %e, "NATS flush after subscribing");
            }
            match hub.upgrade() {
                Some(h) => h.wake(&device_id),
                None => return,
            }
            while sub.next().await.is_some() {
                match hub.upgrade() {
                    Some(h) => h.wake(&device_id),
                    None => return,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn device_ids_make_one_subject_token() {
        assert_eq!(super::token("0a1b2c3d4e5f6071"), "0a1b2c3d4e5f6071");
        assert_eq!(super::token("a.b"), format!("x{}", hex::encode("a.b")));
        assert_eq!(super::token("*"), "x2a");
        assert_eq!(super::token(""), "x");
    }
}
