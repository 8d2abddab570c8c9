//! Live fan-out: entries the sequencer accepted, pushed to the recipients'
//! connections on this node (and, in a cluster, read for devices other
//! nodes woke). The queue on disk stays the source of truth until the
//! device acknowledges; a connection that cannot keep up lags and catches
//! up from it.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use kizuna_store::{InboxEntry, MessageKind, QueuedEntry, Store, StoreError};
use kizuna_wire::{Bytes, EnvelopeKind};
use tokio::sync::mpsc;

/// Entries buffered per live connection before it is marked as lagging and
/// left to catch up from the queue on disk. Entries are small (a sequence
/// number and a shared body) and the channel allocates as it fills, so an idle
/// connection pays nothing for this headroom.
const LIVE_BUFFER: usize = 1024;

/// In a cluster: most woken devices whose queues are read in one statement.
const WOKEN_PER_READ: usize = 256;

/// In a cluster: most entries of one device read at a time; a device with
/// more is read again straight after.
const WOKEN_PAGE: u32 = 256;

/// In a cluster: how long reading woken devices' queues waits after the
/// store failed, before trying again.
const WOKEN_RETRY: std::time::Duration = std::time::Duration::from_millis(200);

/// In a cluster: longest a read of woken queues may take before it is given
/// up and tried again, so a stalled connection to the database cannot hold
/// every live device's deliveries on this node.
const WOKEN_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

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
    /// A frame of its own rather than a queue entry (sequence number 0,
    /// which no queue entry has): written whatever the connection sent
    /// before, and not counted as delivered.
    pub fn notice(frame: Arc<str>) -> LiveEntry {
        LiveEntry {
            seq: 0,
            server_time: 0,
            body: frame,
        }
    }

    /// The WebSocket text frame: a `ServerFrame::Envelope`, or the notice.
    pub fn frame(&self) -> String {
        if self.seq == 0 {
            return self.body.to_string();
        }
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
    /// In a cluster: the position up to which the connection holds its
    /// queue (sent, or buffered in `tx`); its queue is read after it when
    /// the device is woken. Lowered only by the connection itself.
    pub read_to: Arc<AtomicU64>,
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
    /// In a cluster: the devices woken since their queues were last read.
    /// One task reads them all in one statement: a wake-up per message
    /// per recipient would otherwise be a read each.
    woken: Mutex<HashSet<String>>,
    woken_ready: Arc<tokio::sync::Notify>,
    reader: std::sync::OnceLock<tokio::task::JoinHandle<()>>,
}

impl Drop for Hub {
    fn drop(&mut self) {
        if let Some(r) = self.reader.get() {
            r.abort();
        }
    }
}

pub struct Registration {
    pub id: u64,
    pub rx: mpsc::Receiver<LiveEntry>,
    pub lagged: Arc<AtomicBool>,
    pub read_to: Arc<AtomicU64>,
}

impl Hub {
    /// Makes this hub a cluster node's: entries are no longer pushed from
    /// memory but read from the store when a wake-up comes, whichever node
    /// stored them.
    pub fn join_cluster(
        self: &Arc<Self>,
        wakes: Arc<crate::cluster::ClusterLink>,
        store: Arc<dyn Store>,
    ) {
        if self.wakes.set(wakes).is_ok() {
            let task = tokio::spawn(read_woken(
                Arc::downgrade(self),
                self.woken_ready.clone(),
                store,
            ));
            let _ = self.reader.set(task);
        }
    }

    /// The cluster link, if the node is in one.
    pub fn cluster(&self) -> Option<&Arc<crate::cluster::ClusterLink>> {
        self.wakes.get()
    }

    /// Has a device's queue read for its connections here: soon, together
    /// with every other device woken meanwhile.
    pub fn wake(&self, device_id: &str) {
        self.woken_set().insert(device_id.to_string());
        self.woken_ready.notify_one();
    }

    /// Wakes every device connected here (the link to the cluster came back).
    pub fn wake_all(&self) {
        let devices: Vec<String> = self.lock().keys().cloned().collect();
        self.woken_set().extend(devices);
        self.woken_ready.notify_one();
    }

    fn woken_set(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        match self.woken.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Each of these devices still connected here, with the position its
    /// queue is to be read after: the lowest any of its connections holds.
    fn read_positions(&self, devices: &[String]) -> Vec<(String, u64)> {
        let live = self.lock();
        devices
            .iter()
            .filter_map(|d| {
                let conns = live.get(d)?;
                let after = conns
                    .iter()
                    .map(|c| c.read_to.load(Ordering::Acquire))
                    .min()?;
                Some((d.clone(), after))
            })
            .collect()
    }

    /// Hands what was read of a device's queue to each of its connections,
    /// from where that connection's holding ends; a connection that cannot
    /// buffer it all is marked as lagging and re-reads for itself.
    fn hand_over(&self, device_id: &str, page: &[InboxEntry], bodies: &mut HashMap<u64, Arc<str>>) {
        if page.is_empty() {
            return;
        }
        // Serialised before the lock, once per message for every device.
        let texts: Vec<Arc<str>> = page
            .iter()
            .map(|e| bodies.entry(e.seq).or_insert_with(|| body_of(e)).clone())
            .collect();
        let live = self.lock();
        let Some(conns) = live.get(device_id) else {
            return;
        };
        for c in conns {
            let from = c.read_to.load(Ordering::Acquire);
            for (e, text) in page.iter().zip(&texts) {
                if e.seq <= from {
                    continue;
                }
                let entry = LiveEntry {
                    seq: e.seq,
                    server_time: e.server_time,
                    body: text.clone(),
                };
                if c.tx.try_send(entry).is_err() {
                    c.lagged.store(true, Ordering::Release);
                    break;
                }
                c.read_to.fetch_max(e.seq, Ordering::AcqRel);
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
    /// `after` is where the connection starts reading its queue.
    pub fn register_within(
        self: &Arc<Self>,
        device_id: &str,
        cap: usize,
        after: u64,
    ) -> Option<Registration> {
        let mut live = self.lock();
        if live.get(device_id).map_or(0, Vec::len) >= cap {
            return None;
        }
        let (tx, rx) = mpsc::channel(LIVE_BUFFER);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let lagged = Arc::new(AtomicBool::new(false));
        let read_to = Arc::new(AtomicU64::new(after));
        let conns = live.entry(device_id.to_string()).or_default();
        let first = conns.is_empty();
        conns.push(LiveConnection {
            id,
            tx,
            lagged: lagged.clone(),
            read_to: read_to.clone(),
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
            read_to,
        })
    }

    /// Tells each of these devices connected here, on every connection,
    /// `frame`; a connection whose buffer is full is not told now and
    /// finds out at its device's next sync.
    pub fn notify(&self, devices: &[String], frame: &Arc<str>) -> usize {
        let live = self.lock();
        let mut told = 0;
        for d in devices {
            for c in live.get(d).into_iter().flatten() {
                if c.tx.try_send(LiveEntry::notice(frame.clone())).is_ok() {
                    told += 1;
                }
            }
        }
        told
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

    /// The devices connected here now.
    pub fn connected_devices(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
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

    pub(super) fn push(&self, entries: &[QueuedEntry], sender_handle: &str) {
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

/// In a cluster: reads the queues of the devices woken here, all those
/// woken meanwhile in one statement, and hands the entries to their
/// connections. Under load a read takes in every wake-up that came while
/// the one before was under way. Ends with the hub.
async fn read_woken(hub: Weak<Hub>, ready: Arc<tokio::sync::Notify>, store: Arc<dyn Store>) {
    loop {
        ready.notified().await;
        let Some(hub) = hub.upgrade() else {
            return;
        };
        let devices: Vec<String> = hub.woken_set().drain().collect();
        let mut bodies = HashMap::new();
        for chunk in devices.chunks(WOKEN_PER_READ) {
            let wanted = hub.read_positions(chunk);
            if wanted.is_empty() {
                continue;
            }
            let read = tokio::time::timeout(WOKEN_READ_TIMEOUT, store.inboxes(&wanted, WOKEN_PAGE))
                .await
                .unwrap_or_else(|_| {
                    Err(StoreError::Backend(format!(
                        "the database gave no answer within {} s",
                        WOKEN_READ_TIMEOUT.as_secs()
                    )))
                });
            match read {
                Ok(pages) => {
                    for ((device, _), page) in wanted.iter().zip(pages) {
                        hub.hand_over(device, &page, &mut bodies);
                        if page.len() >= WOKEN_PAGE as usize {
                            hub.wake(device);
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, devices = wanted.len(), "reading the queues of woken devices failed; trying again shortly");
                    for (d, _) in &wanted {
                        hub.wake(d);
                    }
                    tokio::time::sleep(WOKEN_RETRY).await;
                }
            }
        }
    }
}

/// A stored entry's envelope without its per-device sequence number, as a
/// live connection sends it.
fn body_of(e: &InboxEntry) -> Arc<str> {
    serde_json::to_string(&EnvelopeBody {
        kind: envelope_kind(e.kind),
        group_id: &Bytes(e.group_id.clone()),
        group_seq: e.group_seq,
        sender_handle: &e.sender_handle,
        sender_device: &e.sender_device,
        server_time: e.server_time,
        payload: &Bytes(e.payload.clone()),
        franking: e.franking.as_ref().map(kizuna_wire::Franking::from_stored),
    })
    .unwrap_or_default()
    .into()
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

    fn stored(seq: u64) -> InboxEntry {
        InboxEntry {
            seq,
            kind: MessageKind::Application,
            group_id: vec![1],
            group_seq: seq,
            sender_device: "d1".into(),
            sender_handle: "alice".into(),
            server_time: 5,
            payload: vec![seq as u8],
            franking: None,
        }
    }

    fn seqs(rx: &mut mpsc::Receiver<LiveEntry>) -> Vec<u64> {
        std::iter::from_fn(|| rx.try_recv().ok().map(|e| e.seq)).collect()
    }

    #[test]
    fn a_read_queue_reaches_each_connection_from_where_it_holds_it() {
        let hub = Arc::new(Hub::default());
        let mut first = hub.register_within("bob", 4, 0).unwrap();
        let mut second = hub.register_within("bob", 4, 2).unwrap();
        // Read after the lowest position any connection holds.
        assert_eq!(
            hub.read_positions(&["bob".into(), "nobody".into()]),
            [("bob".to_string(), 0)]
        );
        let page: Vec<InboxEntry> = (1..=3).map(stored).collect();
        let mut bodies = HashMap::new();
        hub.hand_over("bob", &page, &mut bodies);
        assert_eq!(seqs(&mut first.rx), [1, 2, 3]);
        assert_eq!(seqs(&mut second.rx), [3]);
        assert_eq!(bodies.len(), 3, "each message is serialised once");
        assert_eq!(first.read_to.load(Ordering::Acquire), 3);
        assert_eq!(hub.read_positions(&["bob".into()]), [("bob".into(), 3)]);
        // Read again from an older position: nothing is handed over twice.
        hub.hand_over("bob", &page, &mut bodies);
        assert!(seqs(&mut first.rx).is_empty() && seqs(&mut second.rx).is_empty());
        match serde_json::from_str::<kizuna_wire::ServerFrame>(
            &LiveEntry {
                seq: 1,
                server_time: 5,
                body: bodies[&1].clone(),
            }
            .frame(),
        )
        .unwrap()
        {
            kizuna_wire::ServerFrame::Envelope(env) => {
                assert_eq!((env.seq, env.sender_handle.as_str()), (1, "alice"));
                assert_eq!(env.payload.0, vec![1]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_connection_that_cannot_buffer_its_queue_lags_and_holds_only_what_it_took() {
        let hub = Arc::new(Hub::default());
        let mut reg = hub.register_within("bob", 4, 0).unwrap();
        let page: Vec<InboxEntry> = (1..=LIVE_BUFFER as u64 + 10).map(stored).collect();
        hub.hand_over("bob", &page, &mut HashMap::new());
        assert!(reg.lagged.load(Ordering::Acquire));
        // The next read starts after what is buffered, not after the page.
        assert_eq!(reg.read_to.load(Ordering::Acquire), LIVE_BUFFER as u64);
        assert_eq!(seqs(&mut reg.rx).len(), LIVE_BUFFER);
    }

    #[test]
    fn woken_devices_wait_together_for_one_read() {
        let hub = Hub::default();
        hub.wake("bob");
        hub.wake("carol");
        hub.wake("bob");
        let mut woken: Vec<String> = hub.woken_set().drain().collect();
        woken.sort();
        assert_eq!(woken, ["bob", "carol"]);
    }

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
