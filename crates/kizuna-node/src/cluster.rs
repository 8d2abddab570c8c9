//! Wake-ups between the nodes of a cluster, over core NATS.
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
//! back, and by each connection re-reading its queue every few seconds.

use std::sync::{Arc, Weak};

use futures_util::StreamExt;
use kizuna_config::Cluster;

use crate::delivery::Hub;

/// A node's link to the cluster's NATS servers.
pub struct Wakes {
    client: async_nats::Client,
    prefix: String,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot reach the cluster's NATS server(s) {servers}: {reason}")]
pub struct WakesError {
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

impl Wakes {
    /// Connects to the cluster's NATS servers; every local connection is
    /// woken whenever the link comes back after a break.
    pub async fn connect(cluster: &Cluster, hub: Weak<Hub>) -> Result<Arc<Wakes>, WakesError> {
        let servers = cluster.nats.join(", ");
        let addrs: Vec<async_nats::ServerAddr> = cluster
            .nats
            .iter()
            .map(|u| u.parse())
            .collect::<Result<_, _>>()
            .map_err(|e: std::io::Error| WakesError {
                servers: servers.clone(),
                reason: e.to_string(),
            })?;
        let client = async_nats::ConnectOptions::new()
            .name(format!("kizuna node of cluster {}", cluster.name))
            .retry_on_initial_connect()
            .event_callback(move |event| {
                let hub = hub.clone();
                async move {
                    match event {
                        async_nats::Event::Connected => {
                            // Whatever was published while the link was
                            // down never arrives: every connection re-reads.
                            if let Some(hub) = hub.upgrade() {
                                hub.wake_all();
                            }
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
            .map_err(|e| WakesError {
                servers,
                reason: e.to_string(),
            })?;
        Ok(Arc::new(Wakes {
            client,
            prefix: format!("kz.{}.dev", cluster.name),
        }))
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
