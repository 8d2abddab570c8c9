//! The delivery service's write path and live fan-out.
//!
//! Every submission to any group goes through one sequencer task, which writes
//! batches of them in one transaction (group commit): a sender is answered only
//! after its message is on disk, and many senders share one fsync. Accepted
//! entries are then pushed to the recipients' live connections, if any; the
//! queue on disk stays the source of truth until the device acknowledges.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use kizuna_store::{Accepted, MessageKind, QueuedEntry, Rejection, Store, StoreError, Submission};
use kizuna_wire::{Bytes, Envelope, EnvelopeKind};
use tokio::sync::{mpsc, oneshot};

/// Most submissions written in one transaction.
const MAX_BATCH: usize = 256;
/// Entries buffered per live connection before it is marked as lagging and
/// left to catch up from the queue on disk.
const LIVE_BUFFER: usize = 512;

type Reply = oneshot::Sender<Result<Result<Accepted, Rejection>, StoreError>>;

struct Job {
    submission: Submission,
    sender_handle: String,
    reply: Reply,
}

#[derive(Clone)]
pub struct Sequencer {
    tx: mpsc::Sender<Job>,
}

impl Sequencer {
    pub fn start(store: Arc<dyn Store>, hub: Arc<Hub>) -> (Sequencer, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::channel::<Job>(4096);
        let task = tokio::spawn(async move {
            let mut jobs = Vec::with_capacity(MAX_BATCH);
            while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
                let (subs, rest): (Vec<_>, Vec<_>) = jobs
                    .drain(..)
                    .map(|j| (j.submission, (j.sender_handle, j.reply)))
                    .unzip();
                match store.submit(subs).await {
                    Ok(results) => {
                        for (result, (handle, reply)) in results.into_iter().zip(rest) {
                            if let Ok(acc) = &result {
                                hub.push(&acc.queued, &handle);
                            }
                            let _ = reply.send(Ok(result));
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "group commit failed; every submission in the batch is refused");
                        for (_, reply) in rest {
                            let _ = reply.send(Err(StoreError::Backend(e.to_string())));
                        }
                    }
                }
            }
        });
        (Sequencer { tx }, task)
    }

    /// Submits and waits until the outcome is durable.
    pub async fn submit(
        &self,
        submission: Submission,
        sender_handle: String,
    ) -> Result<Result<Accepted, Rejection>, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job {
                submission,
                sender_handle,
                reply,
            })
            .await
            .map_err(|_| StoreError::Backend("the node is shutting down".into()))?;
        rx.await
            .map_err(|_| StoreError::Backend("the node is shutting down".into()))?
    }
}

pub fn envelope_kind(k: MessageKind) -> EnvelopeKind {
    match k {
        MessageKind::Welcome => EnvelopeKind::Welcome,
        MessageKind::Commit => EnvelopeKind::Commit,
        MessageKind::Application => EnvelopeKind::Application,
    }
}

/// One live WebSocket of a device.
pub struct LiveConnection {
    pub id: u64,
    pub tx: mpsc::Sender<Arc<Envelope>>,
    /// Set when an entry could not be buffered; the connection then re-reads
    /// its queue from disk.
    pub lagged: Arc<AtomicBool>,
}

/// Live connections by device id.
#[derive(Default)]
pub struct Hub {
    next_id: AtomicU64,
    live: Mutex<HashMap<String, Vec<LiveConnection>>>,
}

pub struct Registration {
    pub id: u64,
    pub rx: mpsc::Receiver<Arc<Envelope>>,
    pub lagged: Arc<AtomicBool>,
}

impl Hub {
    pub fn register(&self, device_id: &str) -> Registration {
        let (tx, rx) = mpsc::channel(LIVE_BUFFER);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let lagged = Arc::new(AtomicBool::new(false));
        self.lock()
            .entry(device_id.to_string())
            .or_default()
            .push(LiveConnection {
                id,
                tx,
                lagged: lagged.clone(),
            });
        Registration { id, rx, lagged }
    }

    pub fn unregister(&self, device_id: &str, id: u64) {
        let mut live = self.lock();
        if let Some(v) = live.get_mut(device_id) {
            v.retain(|c| c.id != id);
            if v.is_empty() {
                live.remove(device_id);
            }
        }
    }

    pub fn connected(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<LiveConnection>>> {
        match self.live.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn push(&self, entries: &[QueuedEntry], sender_handle: &str) {
        let live = self.lock();
        if live.is_empty() {
            return;
        }
        for e in entries {
            let Some(conns) = live.get(&e.device_id) else {
                continue;
            };
            let env = Arc::new(Envelope {
                seq: e.seq,
                kind: envelope_kind(e.kind),
                group_id: Bytes(e.group_id.clone()),
                group_seq: e.group_seq,
                sender_handle: sender_handle.to_string(),
                sender_device: e.sender_device.clone(),
                server_time: e.server_time,
                payload: Bytes(e.payload.as_ref().clone()),
            });
            for c in conns {
                if c.tx.try_send(env.clone()).is_err() {
                    c.lagged.store(true, Ordering::Release);
                }
            }
        }
    }
}
