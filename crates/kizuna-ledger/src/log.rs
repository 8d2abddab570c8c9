//! The ledger on disk: `leaves` holds every leaf hash, 32 bytes each, in
//! order; `keys` a record of each leaf filed in the key directory (see
//! `keys`); `heads` holds every tree head the ledger signed, one JSON line
//! each. Appends are group-committed (see `commit`): every caller is
//! answered only once their leaves are on disk.
//!
//! In memory the ledger keeps the hash of every complete block of
//! `BLOCK_LEAVES` leaves and every complete subtree above it (under a
//! fortieth of the leaves' size), so a proof needs at most one block read
//! from the file whatever the log's size.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex, RwLock};

use crate::head::{SignedTreeHead, TreeHeadKey};
use crate::keymap::KeyMap;
use crate::merkle::{self, node_hash, split, Hash, Subtrees};
use crate::LedgerError;

mod commit;
mod keys;
mod roots;
use commit::{commit_loop, write_batch, Pending};
use keys::{read_keys, write_keys, Keyed};
pub(crate) use roots::{keys_root_with, root_with};

const BLOCK_LEVEL: u32 = 6;
/// Leaves per block: the smallest subtree the ledger keeps in memory.
pub const BLOCK_LEAVES: u64 = 1 << BLOCK_LEVEL;
/// Leaves written in one group commit at most.
const MAX_BATCH: usize = 1 << 16;
pub(crate) const LEAVES_FILE: &str = "leaves";
pub(crate) const HEADS_FILE: &str = "heads";
pub(crate) const KEYS_FILE: &str = "keys";
/// A leaf as it is appended: its hash, and the directory key it is logged
/// under, if any (the key log's entries are, under their handle's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Leaf {
    pub hash: Hash,
    pub key: Option<Hash>,
}

impl Leaf {
    pub fn plain(hash: Hash) -> Leaf {
        Leaf { hash, key: None }
    }
}

struct Tree {
    size: u64,
    /// `upper[l][i]` is the hash of leaves `[i·2^(6+l), (i+1)·2^(6+l))`.
    upper: Vec<Vec<Hash>>,
    /// The leaves after the last complete block.
    tail: Vec<Hash>,
    /// The key directory over every leaf, each change to it, and its
    /// latest versions.
    keys: KeyMap,
    keyed: Vec<Keyed>,
    versions: VecDeque<(u64, KeyMap)>,
}

impl Tree {
    fn empty() -> Tree {
        Tree {
            size: 0,
            upper: Vec::new(),
            tail: Vec::new(),
            keys: KeyMap::default(),
            keyed: Vec::new(),
            versions: VecDeque::new(),
        }
    }

    fn push(&mut self, leaf: Hash) {
        self.tail.push(leaf);
        self.size += 1;
        if self.tail.len() as u64 == BLOCK_LEAVES {
            let mut node = merkle::root(&self.tail);
            self.tail.clear();
            let mut level = 0;
            loop {
                if self.upper.len() == level {
                    self.upper.push(Vec::new());
                }
                self.upper[level].push(node);
                let row = &self.upper[level];
                if row.len() % 2 == 1 {
                    break;
                }
                node = node_hash(&row[row.len() - 2], &row[row.len() - 1]);
                level += 1;
            }
        }
    }
}

/// The tree as it is now, with the file its older leaves are read from.
struct View<'a> {
    tree: &'a Tree,
    file: &'a File,
}

impl View<'_> {
    fn read(&self, start: u64, end: u64) -> Result<Vec<Hash>, LedgerError> {
        let tail_start = self.tree.size - self.tree.tail.len() as u64;
        if start >= tail_start {
            return Ok(
                self.tree.tail[(start - tail_start) as usize..(end - tail_start) as usize].to_vec(),
            );
        }
        let mut buf = vec![0u8; ((end - start) * 32) as usize];
        self.file.read_exact_at(&mut buf, start * 32).map_err(|e| {
            LedgerError::Damaged(format!("leaves {start}..{end} cannot be read: {e}"))
        })?;
        Ok(buf
            .chunks_exact(32)
            .map(|c| c.try_into().unwrap_or([0; 32]))
            .collect())
    }
}

impl Subtrees for View<'_> {
    fn subtree(&self, start: u64, end: u64) -> Result<Hash, LedgerError> {
        let size = self.tree.size;
        if end > size || start >= end {
            return Err(LedgerError::Range { start, end, size });
        }
        let len = end - start;
        if start / BLOCK_LEAVES == (end - 1) / BLOCK_LEAVES {
            return Ok(merkle::root(&self.read(start, end)?));
        }
        if len.is_power_of_two() && start.is_multiple_of(len) {
            let level = (len.trailing_zeros() - BLOCK_LEVEL) as usize;
            return self
                .tree
                .upper
                .get(level)
                .and_then(|row| row.get((start / len) as usize))
                .copied()
                .ok_or_else(|| {
                    LedgerError::Damaged(format!("the subtree {start}..{end} is missing"))
                });
        }
        let k = split(len);
        Ok(node_hash(
            &self.subtree(start, start + k)?,
            &self.subtree(start + k, end)?,
        ))
    }
}

pub(crate) struct Shared {
    pub(crate) dir: PathBuf,
    tree: RwLock<Tree>,
    reader: File,
    pub(crate) key: TreeHeadKey,
    pub(crate) heads: Mutex<Vec<SignedTreeHead>>,
    /// Set when directory records were written for leaves that then were
    /// not: they are cut before anything else is written.
    keys_dirty: std::sync::atomic::AtomicBool,
}

pub struct Ledger {
    pub(crate) shared: Arc<Shared>,
    appends: Option<mpsc::Sender<Pending>>,
    committer: Option<std::thread::JoinHandle<()>>,
    /// Set when the ledger mirrors a log shared by many nodes.
    pub(crate) mirror: Option<crate::shared::Following>,
}

pub(crate) fn io_error(path: &Path, e: impl std::fmt::Display) -> LedgerError {
    LedgerError::Unreadable {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Ledger {
    /// Opens (or creates) the ledger in `dir`. A torn last write — leaves
    /// that were never acknowledged — is cut off; a signed head the leaves
    /// no longer match means the log was altered, and it does not open.
    pub fn open(dir: &Path, key: TreeHeadKey) -> Result<Ledger, LedgerError> {
        let ledger = Ledger::start(Arc::new(Shared::open(dir, key)?));
        ledger.check_heads()?;
        Ok(ledger)
    }

    /// A ledger whose appends go to the local files alone, or (for a
    /// mirror) that appends nothing itself.
    pub(crate) fn from_files(shared: Arc<Shared>) -> Ledger {
        Ledger {
            shared,
            appends: None,
            committer: None,
            mirror: None,
        }
    }

    fn start(shared: Arc<Shared>) -> Ledger {
        let (tx, rx) = mpsc::channel::<Pending>();
        let s = shared.clone();
        let committer = std::thread::Builder::new()
            .name("ledger-commit".into())
            .spawn(move || commit_loop(&s, rx))
            .ok();
        Ledger {
            shared,
            appends: committer.as_ref().map(|_| tx),
            committer,
            mirror: None,
        }
    }
}

impl Shared {
    /// Reads the ledger's files in `dir`, creating them, and cuts off a
    /// torn last write.
    pub(crate) fn open(dir: &Path, key: TreeHeadKey) -> Result<Shared, LedgerError> {
        // The ledger is the node's alone: its directory 0700 and its files
        // 0600, like every other file of the data directory.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| io_error(dir, e))?;
        let leaves_path = dir.join(LEAVES_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&leaves_path)
            .map_err(|e| io_error(&leaves_path, e))?;
        let len = file
            .metadata()
            .map_err(|e| io_error(&leaves_path, e))?
            .len();
        if len % 32 != 0 {
            file.set_len(len - len % 32)
                .and_then(|_| file.sync_data())
                .map_err(|e| io_error(&leaves_path, e))?;
        }
        // The keys file exists, by name, before any leaf is written after
        // it: a crash cannot keep the leaves and lose their keys' file.
        let keys_path = dir.join(KEYS_FILE);
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&keys_path)
            .map_err(|e| io_error(&keys_path, e))?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_error(dir, e))?;
        let count = len / 32;
        let records = read_keys(&keys_path, count)?;
        let mut keyed = records.iter().peekable();
        // Each name's chain, built as the leaves are read; the directory is
        // built from them once at the end.
        let mut chains = std::collections::HashMap::new();
        let mut tree = Tree::empty();
        let mut r = BufReader::with_capacity(1 << 20, &file);
        let mut leaf = [0u8; 32];
        for index in 0..count {
            r.read_exact(&mut leaf)
                .map_err(|e| io_error(&leaves_path, e))?;
            if let Some(k) = keyed.next_if(|k| k.index == index) {
                let value = crate::keymap::chain(chains.get(&k.key), &leaf);
                chains.insert(k.key, value);
            }
            tree.push(leaf);
        }
        drop(r);
        tree.install_keys(records, chains, &keys_path)?;
        let heads = read_heads(&dir.join(HEADS_FILE))?;
        Ok(Shared {
            dir: dir.to_path_buf(),
            tree: RwLock::new(tree),
            reader: file,
            key,
            heads: Mutex::new(heads),
            keys_dirty: std::sync::atomic::AtomicBool::new(false),
        })
    }

    pub(crate) fn size(&self) -> u64 {
        self.tree.read().map(|t| t.size).unwrap_or(0)
    }

    /// Writes leaves after the ones held and makes them durable, then
    /// takes them into the tree: how a mirror follows the shared log. Its
    /// one caller at a time is the mirror's catching up, so the size read
    /// before writing is still the size after.
    pub(crate) fn extend(&self, leaves: &[Leaf]) -> Result<(), LedgerError> {
        let (size, keyed, keys) = self.durable();
        self.write(size, keyed, &keys, leaves)?;
        let mut tree = self
            .tree
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for l in leaves {
            tree.push_leaf(l);
        }
        Ok(())
    }

    /// How many leaves and directory records are durable, and the
    /// directory over them.
    fn durable(&self) -> (u64, usize, KeyMap) {
        let tree = self
            .tree
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        (tree.size, tree.keyed.len(), tree.keys.clone())
    }

    /// Makes `leaves` durable after the first `size`, their directory
    /// records (with the root each leaves `keys` at) after the first
    /// `keyed`: before the leaves, so a record whose leaf a crash left out
    /// is dropped at the next open.
    fn write(
        &self,
        size: u64,
        keyed: usize,
        keys: &KeyMap,
        leaves: &[Leaf],
    ) -> Result<(), LedgerError> {
        let records = keys::records(keys, size, leaves);
        let bytes: Vec<u8> = leaves.iter().flat_map(|l| l.hash).collect();
        use std::sync::atomic::Ordering::SeqCst;
        let keys_path = self.dir.join(KEYS_FILE);
        let unwritable =
            |p: &Path, e: std::io::Error| LedgerError::Unwritable(format!("{}: {e}", p.display()));
        if !records.is_empty() || self.keys_dirty.load(SeqCst) {
            write_keys(&keys_path, keyed, &records).map_err(|e| unwritable(&keys_path, e))?;
            self.keys_dirty.store(false, SeqCst);
        }
        let path = self.dir.join(LEAVES_FILE);
        let written = write_batch(&path, size, &bytes).map_err(|e| unwritable(&path, e));
        if written.is_err() && !records.is_empty() {
            self.keys_dirty.store(true, SeqCst);
        }
        written
    }

    /// Keeps a signed head in the `heads` file and in memory.
    pub(crate) fn keep_head(
        &self,
        heads: &mut Vec<SignedTreeHead>,
        head: SignedTreeHead,
    ) -> Result<(), LedgerError> {
        let path = self.dir.join(HEADS_FILE);
        let line = serde_json::to_string(&head)
            .map_err(|e| LedgerError::Unwritable(format!("a tree head: {e}")))?;
        OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut f| {
                f.write_all(format!("{line}\n").as_bytes())?;
                f.sync_data()
            })
            .map_err(|e| LedgerError::Unwritable(format!("{}: {e}", path.display())))?;
        heads.push(head);
        Ok(())
    }
}

impl Ledger {
    /// Every signed head must be signed by this ledger's key and match the
    /// leaves it covers.
    pub(crate) fn check_heads(&self) -> Result<(), LedgerError> {
        let heads = self.heads();
        let key = self.shared.key.verifying_key();
        let size = self.size();
        for h in &heads {
            h.verify(&key)?;
            if h.size > size {
                return Err(LedgerError::Damaged(format!(
                    "a tree head signed at {} covers {} entries but the log holds {size}: entries were removed",
                    h.timestamp_ms, h.size
                )));
            }
            if self.root_at(h.size)? != h.root {
                return Err(LedgerError::Damaged(format!(
                    "the first {} entries no longer match the head signed at {}: entries were changed",
                    h.size, h.timestamp_ms
                )));
            }
            if h.keys.is_some_and(|k| k != self.keys_root_at(h.size)) {
                return Err(LedgerError::Damaged(format!(
                    "the key directory of the first {} entries no longer matches the head signed at {}: the keys file was changed",
                    h.size, h.timestamp_ms
                )));
            }
        }
        Ok(())
    }

    pub fn origin(&self) -> &str {
        self.shared.key.origin()
    }

    pub fn verifying_key(&self) -> ed25519_dalek::VerifyingKey {
        self.shared.key.verifying_key()
    }

    /// The ledger key's signature over a statement of its own
    /// ([`crate::TreeHeadKey::attest`]).
    pub fn attest(&self, statement: &[u8]) -> [u8; 64] {
        self.shared.key.attest(statement)
    }

    /// Appends leaf hashes and answers with the index of the first, once
    /// all of them are durable.
    pub async fn append(&self, leaves: Vec<Hash>) -> Result<u64, LedgerError> {
        self.append_leaves(leaves.into_iter().map(Leaf::plain).collect())
            .await
    }

    /// Appends leaves each logged under a directory key (leaf, key), which
    /// the next signed head's directory root covers.
    pub async fn append_keyed(&self, leaves: Vec<(Hash, Hash)>) -> Result<u64, LedgerError> {
        self.append_leaves(
            leaves
                .into_iter()
                .map(|(hash, key)| Leaf {
                    hash,
                    key: Some(key),
                })
                .collect(),
        )
        .await
    }

    async fn append_leaves(&self, leaves: Vec<Leaf>) -> Result<u64, LedgerError> {
        if leaves.is_empty() {
            return Ok(self.size());
        }
        if let Some(mirror) = &self.mirror {
            return mirror.append(leaves).await;
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.appends
            .as_ref()
            .ok_or_else(|| LedgerError::Unwritable("the ledger's writer is not running".into()))?
            .send(Pending { leaves, reply })
            .map_err(|_| LedgerError::Unwritable("the ledger's writer stopped".into()))?;
        answer
            .await
            .map_err(|_| LedgerError::Unwritable("the ledger's writer stopped".into()))?
    }

    pub fn size(&self) -> u64 {
        self.shared.tree.read().map(|t| t.size).unwrap_or(0)
    }

    fn with_view<T>(&self, f: impl FnOnce(&View<'_>) -> T) -> T {
        let tree = self
            .shared
            .tree
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&View {
            tree: &tree,
            file: &self.shared.reader,
        })
    }

    /// The root of the tree over the first `size` entries.
    pub fn root_at(&self, size: u64) -> Result<Hash, LedgerError> {
        roots::root_with(&self.shared, size, &[])
    }

    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, LedgerError> {
        self.with_view(|v| {
            if size > v.tree.size {
                return Err(LedgerError::IndexOutOfRange {
                    index: size,
                    size: v.tree.size,
                });
            }
            merkle::inclusion_proof(v, index, size)
        })
    }

    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, LedgerError> {
        self.with_view(|v| {
            if new > v.tree.size {
                return Err(LedgerError::Shrunk {
                    old: new,
                    new: v.tree.size,
                });
            }
            merkle::consistency_proof(v, old, new)
        })
    }

    /// Leaf hashes `[start, end)`, for whoever recomputes the tree.
    pub fn leaves(&self, start: u64, end: u64) -> Result<Vec<Hash>, LedgerError> {
        self.with_view(|v| {
            if end > v.tree.size || start > end {
                return Err(LedgerError::Range {
                    start,
                    end,
                    size: v.tree.size,
                });
            }
            let mut out = Vec::with_capacity((end - start) as usize);
            let mut at = start;
            while at < end {
                let stop = ((at / BLOCK_LEAVES + 1) * BLOCK_LEAVES).min(end);
                out.extend(v.read(at, stop)?);
                at = stop;
            }
            Ok(out)
        })
    }

    /// Checks that the ledger holds an entry a store numbered `index`, with
    /// this leaf: a store ahead of its ledger means the ledger was rolled
    /// back or replaced, and the node must not number entries again.
    pub fn check_holds(&self, store: &str, index: u64, leaf: &[u8]) -> Result<(), LedgerError> {
        let size = self.size();
        let held = if index < size {
            self.leaves(index, index + 1)?
        } else {
            Vec::new()
        };
        if held.first().map(|l| l.as_slice()) == Some(leaf) {
            return Ok(());
        }
        Err(LedgerError::RolledBack {
            store: store.to_string(),
            what: if index < size {
                format!("entry {index} with a leaf the ledger's entry {index} is not")
            } else {
                format!("entry {index}")
            },
            size,
        })
    }

    /// Checks that a store's entry written when the ledger held `after`
    /// entries (not yet numbered) was written to this ledger or an earlier
    /// state of it, never to a longer one.
    pub fn check_written_after(&self, store: &str, after: u64) -> Result<(), LedgerError> {
        let size = self.size();
        if after <= size {
            return Ok(());
        }
        Err(LedgerError::RolledBack {
            store: store.to_string(),
            what: format!("an entry written when the ledger held {after} entries"),
            size,
        })
    }
}

impl Drop for Ledger {
    fn drop(&mut self) {
        self.mirror.take();
        self.appends.take();
        if let Some(t) = self.committer.take() {
            let _ = t.join();
        }
    }
}

pub(crate) fn read_heads(path: &Path) -> Result<Vec<SignedTreeHead>, LedgerError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(path, e)),
    };
    let mut heads = Vec::new();
    for (i, line) in text.lines().enumerate() {
        match serde_json::from_str::<SignedTreeHead>(line) {
            Ok(h) => heads.push(h),
            // A head cut off by a crash while it was written was never
            // given to anyone.
            Err(_) if i + 1 == text.lines().count() && !text.ends_with('\n') => break,
            Err(e) => {
                return Err(LedgerError::Damaged(format!(
                    "line {} of {} is not a tree head: {e}",
                    i + 1,
                    path.display()
                )))
            }
        }
    }
    Ok(heads)
}
