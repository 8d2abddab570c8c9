//! The delivery service's write path and live fan-out.
//!
//! Every submission to any group goes through one sequencer task, which writes
//! batches of them in one transaction (group commit): a sender is answered only
//! after its message is on disk, and many senders share one fsync. Accepted
//! entries are then pushed to the recipients' live connections, if any; the
//! queue on disk stays the source of truth until the device acknowledges.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use kizuna_store::{
    Accepted, Ack, MessageKind, QueuedEntry, Rejection, Store, StoreError, Submission,
};
use kizuna_wire::{Bytes, EnvelopeKind};
use tokio::sync::{mpsc, oneshot};

/// A group commit slower than this is reported: every sender in it waited.
const SLOW_BATCH: std::time::Duration = std::time::Duration::from_millis(100);
/// Most devices' acknowledgements applied in one transaction.
const ACKS_PER_BATCH: usize = 512;
/// Most submissions written in one transaction.
const MAX_BATCH: usize = 256;
/// Entries buffered per live connection before it is marked as lagging and
/// left to catch up from the queue on disk. Entries are small (a sequence
/// number and a shared body) and the channel allocates as it fills, so an idle
/// connection pays nothing for this headroom.
const LIVE_BUFFER: usize = 1024;

type Reply = oneshot::Sender<Result<Result<Accepted, Rejection>, StoreError>>;
type AckDone = oneshot::Sender<Result<(), StoreError>>;

enum Job {
    Submit {
        submission: Submission,
        sender_handle: String,
        reply: Reply,
    },
    Ack {
        ack: Ack,
        done: Option<AckDone>,
    },
}

#[derive(Clone)]
pub struct Sequencer {
    tx: mpsc::Sender<Job>,
}

fn closing() -> StoreError {
    StoreError::Backend("the node is shutting down".into())
}

impl Sequencer {
    pub fn start(
        store: Arc<dyn Store>,
        hub: Arc<Hub>,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> (Sequencer, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::channel::<Job>(4096);
        let task = tokio::spawn(async move {
            let mut jobs = Vec::with_capacity(MAX_BATCH);
            // Acknowledgements are work nobody waits on; a wave of them is
            // spread over batches so it cannot stall the messages behind it.
            let mut acks: VecDeque<(Ack, Option<AckDone>)> = VecDeque::new();
            loop {
                if acks.is_empty() {
                    if rx.recv_many(&mut jobs, MAX_BATCH).await == 0 {
                        break;
                    }
                } else {
                    // Take what is waiting without blocking: the acks are work.
                    while jobs.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(j) => jobs.push(j),
                            Err(_) => break,
                        }
                    }
                }
                let mut subs = Vec::new();
                let mut replies = Vec::new();
                for j in jobs.drain(..) {
                    match j {
                        Job::Submit {
                            submission,
                            sender_handle,
                            reply,
                        } => {
                            subs.push(submission);
                            replies.push((sender_handle, reply));
                        }
                        Job::Ack { ack, done } => acks.push_back((ack, done)),
                    }
                }
                let take = acks.len().min(ACKS_PER_BATCH);
                let (batch_acks, ack_done): (Vec<Ack>, Vec<_>) = acks.drain(..take).unzip();
                let started = std::time::Instant::now();
                let (submissions, acknowledgements) = (subs.len(), batch_acks.len());
                let commits: Vec<bool> = subs
                    .iter()
                    .map(|s| matches!(s, Submission::Commit { .. }))
                    .collect();
                let r = store.submit(subs, batch_acks).await;
                let took = started.elapsed();
                if took > SLOW_BATCH {
                    tracing::warn!(
                        ms = took.as_millis() as u64,
                        submissions,
                        acknowledgements,
                        "a group commit took long; senders waited for it"
                    );
                }
                match r {
                    Ok(results) => {
                        if let Some(wakes) = hub.cluster() {
                            // Woken before the senders are answered: a reply
                            // that overtook the wake-up could be followed by
                            // a message the recipient is slower to see.
                            let devices: std::collections::BTreeSet<&str> = results
                                .iter()
                                .flatten()
                                .flat_map(|acc| acc.queued.iter().map(|e| e.device_id.as_str()))
                                .collect();
                            wakes.publish(devices).await;
                        }
                        for ((result, (handle, reply)), commit) in
                            results.into_iter().zip(replies).zip(commits)
                        {
                            match &result {
                                Ok(acc) => {
                                    hub.push(&acc.queued, &handle);
                                    if commit {
                                        metrics.committed();
                                    }
                                }
                                Err(_) => metrics.refused(),
                            }
                            let _ = reply.send(Ok(result));
                        }
                        for d in ack_done.into_iter().flatten() {
                            let _ = d.send(Ok(()));
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "group commit failed; every submission in the batch is refused");
                        for (_, reply) in replies {
                            let _ = reply.send(Err(StoreError::Backend(e.to_string())));
                        }
                        for d in ack_done.into_iter().flatten() {
                            let _ = d.send(Err(StoreError::Backend(e.to_string())));
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
            .send(Job::Submit {
                submission,
                sender_handle,
                reply,
            })
            .await
            .map_err(|_| closing())?;
        rx.await.map_err(|_| closing())?
    }

    /// Acknowledges queue entries in the next batch and waits for it.
    pub async fn ack(&self, device_id: String, up_to: u64) -> Result<(), StoreError> {
        let (done, rx) = oneshot::channel();
        self.tx
            .send(Job::Ack {
                ack: Ack { device_id, up_to },
                done: Some(done),
            })
            .await
            .map_err(|_| closing())?;
        rx.await.map_err(|_| closing())?
    }

    /// Acknowledges without waiting: a lost acknowledgement only means the
    /// device is offered the entries again, and it skips what it has.
    pub async fn ack_later(&self, device_id: String, up_to: u64) {
        let _ = self
            .tx
            .send(Job::Ack {
                ack: Ack { device_id, up_to },
                done: None,
            })
            .await;
    }
}

pub fn envelope_kind(k: MessageKind) -> EnvelopeKind {
    match k {
        MessageKind::Welcome => EnvelopeKind::Welcome,
        MessageKind::Commit => EnvelopeKind::Commit,
        MessageKind::Application => EnvelopeKind::Application,
        MessageKind::Proposal => EnvelopeKind::Proposal,
        MessageKind::Revocation => EnvelopeKind::Revocation,
        MessageKind::Erasure => EnvelopeKind::Erasure,
    }
}

/// A queue entry on its way to a live connection: its sequence number and
/// the rest of the envelope, serialised once for all recipients.
pub struct LiveEntry {
    pub seq: u64,
    /// When the message was stored (ms), for the delivery latency.
    pub server_time: u64,
    pub body: Arc<str>,
}

impl LiveEntry {
    /// The WebSocket text frame: a `ServerFrame::Envelope`.
    pub fn frame(&self) -> String {
        format!(
            "{{\"type\":\"envelope\",\"seq\":{},{}",
            self.seq,
            &self.body[1..]
        )
    }
}

/// One live WebSocket of a device.
pub struct LiveConnection {
    pub id: u64,
    pub tx: mpsc::Sender<LiveEntry>,
    /// Set when an entry could not be buffered; the connection then re-reads
    /// its queue from disk.
    pub lagged: Arc<AtomicBool>,
    /// Notified when the device has something new in the store (in a
    /// cluster, where entries are not pushed): the connection re-reads.
    pub wake: Arc<tokio::sync::Notify>,
}

/// Live connections by device id.
#[derive(Default)]
pub struct Hub {
    next_id: AtomicU64,
    live: Mutex<HashMap<String, Vec<LiveConnection>>>,
    /// In a cluster: the link to the other nodes, and the wake-ups listened
    /// to for each device connected here.
    wakes: std::sync::OnceLock<Arc<crate::cluster::ClusterLink>>,
    watching: Mutex<HashMap<String, tokio::task::JoinHandle<()>>>,
}

pub struct Registration {
    pub id: u64,
    pub rx: mpsc::Receiver<LiveEntry>,
    pub lagged: Arc<AtomicBool>,
    pub wake: Arc<tokio::sync::Notify>,
}

impl Hub {
    /// Makes this hub a cluster node's: entries are no longer pushed from
    /// memory but read from the store when a wake-up comes, whichever node
    /// stored them.
    pub fn join_cluster(self: &Arc<Self>, wakes: Arc<crate::cluster::ClusterLink>) {
        let _ = self.wakes.set(wakes);
    }

    /// The cluster link, if the node is in one.
    pub fn cluster(&self) -> Option<&Arc<crate::cluster::ClusterLink>> {
        self.wakes.get()
    }

    /// Wakes every connection of a device to re-read its queue.
    pub fn wake(&self, device_id: &str) {
        if let Some(conns) = self.lock().get(device_id) {
            for c in conns {
                c.wake.notify_one();
            }
        }
    }

    /// Wakes every connection (the link to the cluster came back).
    pub fn wake_all(&self) {
        for conns in self.lock().values() {
            for c in conns {
                c.wake.notify_one();
            }
        }
    }

    fn watching(&self) -> std::sync::MutexGuard<'_, HashMap<String, tokio::task::JoinHandle<()>>> {
        match self.watching.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Registers a connection unless the device already holds `cap`; the
    /// count and the registration happen under one lock, so connections
    /// opened at once cannot all slip under the cap.
    pub fn register_within(self: &Arc<Self>, device_id: &str, cap: usize) -> Option<Registration> {
        let mut live = self.lock();
        if live.get(device_id).map_or(0, Vec::len) >= cap {
            return None;
        }
        let (tx, rx) = mpsc::channel(LIVE_BUFFER);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let lagged = Arc::new(AtomicBool::new(false));
        let wake = Arc::new(tokio::sync::Notify::new());
        let conns = live.entry(device_id.to_string()).or_default();
        let first = conns.is_empty();
        conns.push(LiveConnection {
            id,
            tx,
            lagged: lagged.clone(),
            wake: wake.clone(),
        });
        drop(live);
        if first {
            if let Some(w) = self.wakes.get() {
                let weak = Arc::downgrade(self);
                let task = w.watch(device_id.to_string(), weak);
                if let Some(old) = self.watching().insert(device_id.to_string(), task) {
                    old.abort();
                }
            }
        }
        Some(Registration {
            id,
            rx,
            lagged,
            wake,
        })
    }

    /// Live connections of one device.
    pub fn connections_of(&self, device_id: &str) -> usize {
        self.lock().get(device_id).map_or(0, Vec::len)
    }

    pub fn unregister(&self, device_id: &str, id: u64) {
        let mut live = self.lock();
        if let Some(v) = live.get_mut(device_id) {
            v.retain(|c| c.id != id);
            if v.is_empty() {
                live.remove(device_id);
                drop(live);
                self.stop_watching(device_id);
            }
        }
    }

    fn stop_watching(&self, device_id: &str) {
        if let Some(task) = self.watching().remove(device_id) {
            task.abort();
        }
    }

    /// Ends every live connection of a device: their channels close, and
    /// each connection's task ends with them.
    pub fn drop_device(&self, device_id: &str) {
        self.lock().remove(device_id);
        self.stop_watching(device_id);
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
        // In a cluster every connection reads what is new from the store
        // when woken: a push from memory could overtake an earlier position
        // another node stored, and the device would acknowledge past it.
        if self.wakes.get().is_some() {
            return;
        }
        let live = self.lock();
        if live.is_empty() {
            return;
        }
        // Entries of one message share its payload; serialise it once.
        let mut body: Option<(*const Vec<u8>, Arc<str>)> = None;
        for e in entries {
            let Some(conns) = live.get(&e.device_id) else {
                continue;
            };
            let ptr = Arc::as_ptr(&e.payload);
            let text = match &body {
                Some((p, t)) if *p == ptr => t.clone(),
                _ => {
                    let t: Arc<str> = serde_json::to_string(&EnvelopeBody {
                        kind: envelope_kind(e.kind),
                        group_id: &Bytes(e.group_id.clone()),
                        group_seq: e.group_seq,
                        sender_handle,
                        sender_device: &e.sender_device,
                        server_time: e.server_time,
                        payload: &Bytes(e.payload.as_ref().clone()),
                        franking: e.franking.as_ref().map(kizuna_wire::Franking::from_stored),
                    })
                    .unwrap_or_default()
                    .into();
                    body = Some((ptr, t.clone()));
                    t
                }
            };
            for c in conns {
                let entry = LiveEntry {
                    seq: e.seq,
                    server_time: e.server_time,
                    body: text.clone(),
                };
                if c.tx.try_send(entry).is_err() {
                    c.lagged.store(true, Ordering::Release);
                }
            }
        }
    }
}

/// An [`Envelope`] without its per-device sequence number.
#[derive(serde::Serialize)]
struct EnvelopeBody<'a> {
    kind: EnvelopeKind,
    group_id: &'a Bytes,
    group_seq: u64,
    sender_handle: &'a str,
    sender_device: &'a str,
    server_time: u64,
    payload: &'a Bytes,
    #[serde(skip_serializing_if = "Option::is_none")]
    franking: Option<kizuna_wire::Franking>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_frames_parse_as_server_frames() {
        let body = serde_json::to_string(&EnvelopeBody {
            kind: EnvelopeKind::Application,
            group_id: &Bytes(vec![1, 2]),
            group_seq: 7,
            sender_handle: "alice",
            sender_device: "d1",
            server_time: 5,
            payload: &Bytes(vec![9; 10]),
            franking: Some(kizuna_wire::Franking::from_stored(&[7; 64])),
        })
        .unwrap();
        let e = LiveEntry {
            seq: 42,
            server_time: 5,
            body: body.into(),
        };
        match serde_json::from_str::<kizuna_wire::ServerFrame>(&e.frame()).unwrap() {
            kizuna_wire::ServerFrame::Envelope(env) => {
                assert_eq!(env.seq, 42);
                assert_eq!(env.group_seq, 7);
                assert_eq!(env.payload.0, vec![9; 10]);
                assert_eq!(env.franking.unwrap().binding.0, vec![7; 32]);
            }
            other => panic!("{other:?}"),
        }
    }
}
