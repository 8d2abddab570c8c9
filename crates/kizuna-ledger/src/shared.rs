//! One ledger for a deployment of many nodes. The log itself lives in a
//! store every node reaches (a [`SharedLog`]), which alone decides the order
//! of leaves and which head stands for each size; a node's `leaves` and
//! `heads` files are a mirror of it, from which proofs are served as they
//! are on a node on its own.
//!
//! A node appends to the shared log first and answers once its mirror has
//! caught up through the new leaves, so the caller can be given proofs for
//! them at once. Between appends a follower catches the mirror up with what
//! other nodes appended.

use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use crate::head::{SignedTreeHead, TreeHeadKey};
use crate::log::{Leaf, Ledger, Shared};
use crate::merkle::Hash;
use crate::LedgerError;

/// How often a mirror looks for what other nodes appended.
const FOLLOW_EVERY: Duration = Duration::from_millis(200);
/// Leaves read from the shared log in one request.
const LEAVES_PAGE: u32 = 4096;
/// Heads read from the shared log in one request.
const HEADS_PAGE: u32 = 256;
/// Leaves sent to the shared log in one append at most.
const MAX_BATCH: usize = 1 << 16;

/// The append-only log every node of a deployment shares.
#[async_trait]
pub trait SharedLog: Send + Sync {
    /// Where the log is, as a message to an operator names it.
    fn place(&self) -> String;

    /// Takes the next indexes for all `leaves` at once (with the directory
    /// key each is logged under) and answers the first; the leaves are
    /// durable when it answers. One writer at a time.
    async fn append(&self, leaves: &[Leaf]) -> Result<u64, LedgerError>;

    /// At most `limit` leaves from index `start` on, in order, without gaps.
    async fn leaves_from(&self, start: u64, limit: u32) -> Result<Vec<Leaf>, LedgerError>;

    /// How many leaves the log holds.
    async fn size(&self) -> Result<u64, LedgerError>;

    /// Keeps `head_json` as the head for `size` unless a head for `size` or
    /// a larger size is kept already, so that the heads, in order of size,
    /// are also in the order they were kept. Answers the head that stands:
    /// the one given, or the latest one kept before it.
    async fn put_head(&self, size: u64, head_json: &str) -> Result<(u64, String), LedgerError>;

    /// At most `limit` kept heads for sizes from `size` on, smallest first.
    async fn heads_from(&self, size: u64, limit: u32) -> Result<Vec<(u64, String)>, LedgerError>;

    /// Replaces the head kept for `size` with `head_json` (the same tree,
    /// signed later) if `size` is the largest kept: a quiet log's head is
    /// signed again rather than left to grow old. Answers the head that
    /// stands, as [`SharedLog::put_head`].
    async fn refresh_head(&self, size: u64, head_json: &str) -> Result<(u64, String), LedgerError>;
}

/// The mirror's side of a shared log.
pub(crate) struct Mirror {
    shared: Arc<Shared>,
    pub(crate) log: Arc<dyn SharedLog>,
    /// Held while the mirror's files are extended: one catch-up at a time.
    catching: tokio::sync::Mutex<()>,
}

struct Waiting {
    leaves: Vec<Leaf>,
    reply: oneshot::Sender<Result<u64, LedgerError>>,
}

/// What a ledger that mirrors a shared log runs: the writer that batches
/// this node's appends and the follower. Both stop with the ledger.
pub(crate) struct Following {
    pub(crate) mirror: Arc<Mirror>,
    appends: mpsc::UnboundedSender<Waiting>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Following {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Following {
    fn start(mirror: Arc<Mirror>) -> Following {
        let (appends, waiting) = mpsc::unbounded_channel();
        let tasks = vec![
            tokio::spawn(write_batches(mirror.clone(), waiting)),
            tokio::spawn(follow(Arc::downgrade(&mirror))),
        ];
        Following {
            mirror,
            appends,
            tasks,
        }
    }

    pub(crate) async fn append(&self, leaves: Vec<Leaf>) -> Result<u64, LedgerError> {
        let stopped = || LedgerError::Unwritable("the ledger's writer stopped".into());
        let (reply, answer) = oneshot::channel();
        self.appends
            .send(Waiting { leaves, reply })
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// The same failure, for each caller of a batch that failed.
fn again(e: &LedgerError) -> LedgerError {
    match e {
        LedgerError::Unwritable(s) => LedgerError::Unwritable(s.clone()),
        LedgerError::Damaged(s) => LedgerError::Damaged(s.clone()),
        e => LedgerError::Shared(e.to_string()),
    }
}

/// Group commit against the shared log: whoever appends while a batch is
/// out joins the next one, which costs one round trip to the log whatever
/// its size.
async fn write_batches(mirror: Arc<Mirror>, mut waiting: mpsc::UnboundedReceiver<Waiting>) {
    while let Some(first) = waiting.recv().await {
        let mut count = first.leaves.len();
        let mut batch = vec![first];
        while count < MAX_BATCH {
            match waiting.try_recv() {
                Ok(w) => {
                    count += w.leaves.len();
                    batch.push(w);
                }
                Err(_) => break,
            }
        }
        let leaves: Vec<Leaf> = batch
            .iter()
            .flat_map(|w| w.leaves.iter().copied())
            .collect();
        let outcome = match mirror.log.append(&leaves).await {
            Ok(first) => mirror
                .catch_up_through(first + leaves.len() as u64)
                .await
                .map(|()| first),
            Err(e) => Err(e),
        };
        match outcome {
            Ok(mut at) => {
                for w in batch {
                    let n = w.leaves.len() as u64;
                    let _ = w.reply.send(Ok(at));
                    at += n;
                }
            }
            Err(e) => {
                for w in batch {
                    let _ = w.reply.send(Err(again(&e)));
                }
            }
        }
    }
}

/// Keeps the mirror up to date with what other nodes append. A failure is
/// logged once until the mirror follows again: the next append or head
/// retries anyway and answers the caller with it.
async fn follow(mirror: Weak<Mirror>) {
    let mut tick = tokio::time::interval(FOLLOW_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tick.tick().await;
        let Some(m) = mirror.upgrade() else { return };
        match m.catch_up().await {
            Ok(_) => failing = false,
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "the ledger's mirror cannot follow the shared log");
            }
            Err(_) => {}
        }
    }
}

fn blocking_failed(e: tokio::task::JoinError) -> LedgerError {
    LedgerError::Unwritable(format!("writing the ledger's mirror stopped: {e}"))
}

impl Mirror {
    fn place(&self) -> String {
        self.log.place()
    }

    /// Copies whatever the shared log holds beyond the mirror into it, with
    /// the heads the shared log kept for sizes the mirror then holds; every
    /// head is checked against the leaves before any of them is written.
    /// Answers the mirror's size.
    pub(crate) async fn catch_up(&self) -> Result<u64, LedgerError> {
        let _one = self.catching.lock().await;
        loop {
            let held = self.shared.size();
            let leaves = self.log.leaves_from(held, LEAVES_PAGE).await?;
            let full = leaves.len() >= LEAVES_PAGE as usize;
            let heads = self.heads_through(&leaves).await?;
            if leaves.is_empty() && heads.is_empty() {
                break;
            }
            let shared = self.shared.clone();
            tokio::task::spawn_blocking(move || {
                if !leaves.is_empty() {
                    shared.extend(&leaves)?;
                }
                let mut kept = shared
                    .heads
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                for h in heads {
                    if kept.last().is_none_or(|l| l.size < h.size) {
                        shared.keep_head(&mut kept, h)?;
                    }
                }
                Ok::<(), LedgerError>(())
            })
            .await
            .map_err(blocking_failed)??;
            if !full {
                break;
            }
        }
        Ok(self.shared.size())
    }

    /// Keeps a head the shared log holds for `size` (signed again for a
    /// size the mirror has a head for already) once checked, if it is not
    /// the mirror's latest.
    pub(crate) fn adopt_head(&self, size: u64, json: &str) -> Result<(), LedgerError> {
        let head = self.checked_head(size, json, &[])?;
        let mut kept = self
            .shared
            .heads
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if kept.last() != Some(&head) && kept.last().is_none_or(|l| l.size <= head.size) {
            self.shared.keep_head(&mut kept, head)?;
        }
        Ok(())
    }

    /// Catches up until the mirror holds the first `size` leaves, which the
    /// shared log said it holds.
    async fn catch_up_through(&self, size: u64) -> Result<(), LedgerError> {
        let held = self.catch_up().await?;
        if held < size {
            return Err(LedgerError::Damaged(format!(
                "the shared log {} took leaves up to {size} but then answered only {held}",
                self.place()
            )));
        }
        Ok(())
    }

    /// The shared log's heads after the mirror's last one, for sizes up to
    /// the mirror's leaves and then `after`, each checked against them.
    async fn heads_through(&self, after: &[Leaf]) -> Result<Vec<SignedTreeHead>, LedgerError> {
        let reach = self.shared.size() + after.len() as u64;
        let mut from = self
            .shared
            .heads
            .lock()
            .map(|h| h.last().map_or(0, |l| l.size + 1))
            .unwrap_or(0);
        let mut heads = Vec::new();
        loop {
            let page = self.log.heads_from(from, HEADS_PAGE).await?;
            for (size, json) in &page {
                if *size > reach {
                    return Ok(heads);
                }
                heads.push(self.checked_head(*size, json, after)?);
                from = size + 1;
            }
            if page.len() < HEADS_PAGE as usize {
                return Ok(heads);
            }
        }
    }

    /// A head from the shared log, refused unless it is this deployment's
    /// and matches the mirror's leaves.
    fn checked_head(
        &self,
        size: u64,
        json: &str,
        after: &[Leaf],
    ) -> Result<SignedTreeHead, LedgerError> {
        let head: SignedTreeHead = serde_json::from_str(json).map_err(|e| {
            LedgerError::Damaged(format!(
                "the head the shared log {} keeps for {size} entries is not a tree head: {e}",
                self.place()
            ))
        })?;
        if head.size != size || head.origin != self.shared.key.origin() {
            return Err(LedgerError::Damaged(format!(
                "the shared log {} keeps a head of {} for {} entries as its head for {size}",
                self.place(),
                head.origin,
                head.size
            )));
        }
        head.verify(&self.shared.key.verifying_key()).map_err(|_| {
            LedgerError::Damaged(format!(
                "the head the shared log {} keeps for {size} entries is not signed by this node's ledger key: every node of a deployment signs with the same ledger key",
                self.place()
            ))
        })?;
        let hashes: Vec<Hash> = after.iter().map(|l| l.hash).collect();
        if let Some(keys) = head.keys {
            let ours = crate::log::keys_root_with(&self.shared, size, after);
            if ours != keys {
                return Err(LedgerError::Damaged(format!(
                    "the key directory over the first {size} entries of the mirror at {} has the root {} but the shared log {} signed {} for it: the shared log's leaves lost their directory keys",
                    self.shared.dir.display(),
                    hex::encode(ours),
                    self.place(),
                    hex::encode(keys)
                )));
            }
        }
        let ours = crate::log::root_with(&self.shared, size, &hashes)?;
        if ours != head.root {
            return Err(LedgerError::Damaged(format!(
                "the first {size} entries of the mirror at {} have the root {} but the shared log {} signed {} for them: the mirror belongs to another log; move it aside and the node rebuilds it from the shared log",
                self.shared.dir.display(),
                hex::encode(ours),
                self.place(),
                hex::encode(head.root)
            )));
        }
        Ok(head)
    }
}

impl Ledger {
    /// Opens the ledger in `dir` as a mirror of the log every node of a
    /// deployment shares. The mirror must be a beginning of the shared log
    /// (its last leaf and its latest head are compared, and every shared
    /// head it catches up to is checked against its leaves); then it
    /// catches up and keeps following.
    pub async fn open_shared(
        dir: &Path,
        key: TreeHeadKey,
        log: Arc<dyn SharedLog>,
    ) -> Result<Ledger, LedgerError> {
        let at = dir.to_path_buf();
        let shared = tokio::task::spawn_blocking(move || Shared::open(&at, key))
            .await
            .map_err(blocking_failed)??;
        let mut ledger = Ledger::from_files(Arc::new(shared));
        ledger.check_heads()?;
        let mirror = Arc::new(Mirror {
            shared: ledger.shared.clone(),
            log,
            catching: tokio::sync::Mutex::new(()),
        });
        ledger.check_prefix(&mirror).await?;
        ledger.file_earlier_from(&mirror).await?;
        mirror.catch_up().await?;
        ledger.mirror = Some(Following::start(mirror));
        Ok(ledger)
    }

    /// A mirror kept before heads carried the key directory files its
    /// leaves under the keys the shared log now holds for them, once.
    async fn file_earlier_from(&self, mirror: &Mirror) -> Result<(), LedgerError> {
        let held = self.size();
        if held == 0 || !self.keyed_leaves().is_empty() {
            return Ok(());
        }
        let mut keyed = Vec::new();
        let mut at = 0;
        while at < held {
            let page = mirror.log.leaves_from(at, LEAVES_PAGE).await?;
            if page.is_empty() {
                break;
            }
            for (i, l) in page.iter().enumerate() {
                if let Some(k) = l.key.filter(|_| at + (i as u64) < held) {
                    keyed.push((at + i as u64, k));
                }
            }
            at += page.len() as u64;
        }
        self.file_earlier(keyed)?;
        Ok(())
    }

    /// Refuses a mirror that is not a beginning of the shared log.
    async fn check_prefix(&self, mirror: &Mirror) -> Result<(), LedgerError> {
        let dir = self.shared.dir.display();
        let place = mirror.place();
        let held = self.size();
        if held > 0 {
            let theirs = mirror.log.size().await?;
            if theirs < held {
                return Err(LedgerError::Damaged(format!(
                    "the mirror at {dir} holds {held} entries but the shared log {place} holds {theirs}: the mirror belongs to another log, or the shared log lost entries"
                )));
            }
            let ours = self.leaves(held - 1, held)?;
            let shared_leaf: Vec<Hash> = mirror
                .log
                .leaves_from(held - 1, 1)
                .await?
                .into_iter()
                .map(|l| l.hash)
                .collect();
            if shared_leaf.first() != ours.first() {
                return Err(LedgerError::Damaged(format!(
                    "entry {} of the mirror at {dir} is {} but entry {} of the shared log {place} is {}: the mirror belongs to another log; move it aside and the node rebuilds it from the shared log",
                    held - 1,
                    ours.first().map(hex::encode).unwrap_or_default(),
                    held - 1,
                    shared_leaf.first().map(hex::encode).unwrap_or_else(|| "missing".into()),
                )));
            }
        }
        if let Some(ours) = self.latest_head() {
            let theirs = mirror.log.heads_from(ours.size, 1).await?;
            let kept = theirs
                .first()
                .filter(|(size, _)| *size == ours.size)
                .and_then(|(_, json)| serde_json::from_str::<SignedTreeHead>(json).ok());
            // Signed again for the same tree by another node, it is the same
            // head in all that it proves.
            let same = kept.as_ref().is_some_and(|k| {
                k.size == ours.size
                    && k.root == ours.root
                    && (k.keys == ours.keys || ours.keys.is_none())
                    && k.origin == ours.origin
                    && k.verify(&self.shared.key.verifying_key()).is_ok()
            });
            if !same {
                return Err(LedgerError::Damaged(format!(
                    "the head for {} entries in the mirror at {dir} is not the one the shared log {place} keeps: the mirror belongs to another log; move it aside and the node rebuilds it from the shared log",
                    ours.size
                )));
            }
        }
        Ok(())
    }

    /// Brings the mirror of a shared log up to date now (the follower does
    /// so every 200 ms); answers the ledger's size. A ledger on its own is
    /// always up to date.
    pub async fn catch_up(&self) -> Result<u64, LedgerError> {
        match &self.mirror {
            Some(f) => f.mirror.catch_up().await,
            None => Ok(self.size()),
        }
    }

    /// Whether this ledger mirrors a log shared by many nodes.
    pub fn is_shared(&self) -> bool {
        self.mirror.is_some()
    }

    /// Where each leaf a store wrote, unnumbered, when the ledger held
    /// `after` entries, stands now: its index, or none if it was never
    /// appended. A mirror catches up first, so an entry another node
    /// appended is not taken for one that never was.
    pub async fn find_appended(
        &self,
        written: &[(&[u8], u64)],
    ) -> Result<Vec<Option<u64>>, LedgerError> {
        if written.is_empty() {
            return Ok(Vec::new());
        }
        let size = self.catch_up().await?;
        let from = written
            .iter()
            .map(|(_, after)| *after)
            .min()
            .unwrap_or(size)
            .min(size);
        let tail = self.leaves(from, size)?;
        Ok(written
            .iter()
            .map(|(leaf, _)| {
                tail.iter()
                    .position(|l| l.as_slice() == *leaf)
                    .map(|i| from + i as u64)
            })
            .collect())
    }
}
