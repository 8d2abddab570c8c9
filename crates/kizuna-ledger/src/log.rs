//! The ledger on disk: `leaves` holds every leaf hash, 32 bytes each, in
//! order; `keys` the directory key of each leaf logged under one (its
//! index, 8 bytes big-endian, the key, and the directory's root after it,
//! so that opening builds the directory once rather than replaying it); `heads` holds every tree head
//! the ledger signed, one JSON line each. Appends are group-committed: whoever appends while a batch is
//! being made durable joins the next one, and every caller is answered only
//! once their leaves are on disk.
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
use crate::keymap::{KeyMap, KeyProof, EMPTY_ROOT};
use crate::merkle::{self, node_hash, split, Hash, Subtrees};
use crate::LedgerError;

mod roots;
pub(crate) use roots::{keys_root_with, root_with};

const BLOCK_LEVEL: u32 = 6;
/// Leaves per block: the smallest subtree the ledger keeps in memory.
pub const BLOCK_LEAVES: u64 = 1 << BLOCK_LEVEL;
/// Leaves written in one group commit at most.
const MAX_BATCH: usize = 1 << 16;
pub(crate) const LEAVES_FILE: &str = "leaves";
pub(crate) const HEADS_FILE: &str = "heads";
pub(crate) const KEYS_FILE: &str = "keys";
const KEY_RECORD: usize = 72;
/// Versions of the key directory kept for proofs against recent heads.
const KEPT_VERSIONS: usize = 256;

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

/// A leaf logged under a directory key, and the directory's root after it.
#[derive(Clone, Copy)]
struct Keyed {
    index: u64,
    key: Hash,
    root: Hash,
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

    fn push_leaf(&mut self, leaf: &Leaf) {
        if let Some(key) = &leaf.key {
            self.keys = self.keys.log(key, &leaf.hash);
            self.keyed.push(Keyed {
                index: self.size,
                key: *key,
                root: self.keys.root(),
            });
            self.versions.push_back((self.size, self.keys.clone()));
            if self.versions.len() > KEPT_VERSIONS {
                self.versions.pop_front();
            }
        }
        self.push(leaf.hash);
    }

    /// How many directory changes the first `size` leaves hold.
    fn keyed_before(&self, size: u64) -> usize {
        self.keyed.partition_point(|k| k.index < size)
    }

    fn keys_root_at(&self, size: u64) -> Hash {
        match self.keyed_before(size) {
            0 => EMPTY_ROOT,
            n => self.keyed[n - 1].root,
        }
    }

    /// The directory over the first `size` leaves, if still kept.
    fn keys_at(&self, size: u64) -> Option<KeyMap> {
        let n = self.keyed_before(size);
        if n == 0 {
            return Some(KeyMap::default());
        }
        let index = self.keyed[n - 1].index;
        self.versions
            .iter()
            .rev()
            .find(|(i, _)| *i == index)
            .map(|(_, m)| m.clone())
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

struct Pending {
    leaves: Vec<Leaf>,
    reply: tokio::sync::oneshot::Sender<Result<u64, LedgerError>>,
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
        let mut chains: std::collections::HashMap<Hash, Hash> = Default::default();
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
        tree.keys = KeyMap::from_entries(chains.into_iter().collect());
        let built = tree.keys.root();
        if let Some(last) = records.last() {
            if last.root != built {
                return Err(LedgerError::Damaged(format!(
                    "the key directory built from {} has the root {}, not the {} it recorded: the keys file or the leaves were changed",
                    keys_path.display(),
                    hex::encode(built),
                    hex::encode(last.root)
                )));
            }
            tree.versions.push_back((last.index, tree.keys.clone()));
        }
        tree.keyed = records;
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
        let mut records = Vec::new();
        let mut map = keys.clone();
        let mut bytes = Vec::with_capacity(leaves.len() * 32);
        for (i, l) in leaves.iter().enumerate() {
            bytes.extend_from_slice(&l.hash);
            if let Some(k) = &l.key {
                map = map.log(k, &l.hash);
                records.extend_from_slice(&(size + i as u64).to_be_bytes());
                records.extend_from_slice(k);
                records.extend_from_slice(&map.root());
            }
        }
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

    /// The key directory's root over the first `size` entries.
    pub fn keys_root_at(&self, size: u64) -> Hash {
        self.with_view(|v| v.tree.keys_root_at(size))
    }

    /// What the key directory over the first `size` entries holds under
    /// `key`, and the proof of it against that root. Only recent versions
    /// are kept: for an older size, ask about a newer head.
    pub fn key_proof(
        &self,
        key: &Hash,
        size: u64,
    ) -> Result<(Option<Hash>, KeyProof), LedgerError> {
        self.with_view(|v| {
            if size > v.tree.size {
                return Err(LedgerError::IndexOutOfRange {
                    index: size,
                    size: v.tree.size,
                });
            }
            let map = v
                .tree
                .keys_at(size)
                .ok_or(LedgerError::DirectoryNotKept { size })?;
            Ok((map.get(key), map.prove(key)))
        })
    }

    /// Files leaves appended before the key directory existed under their
    /// directory keys (index, key), when no leaf is filed yet: a ledger kept
    /// before heads carried the directory. Heads that already carry one
    /// must agree with the result. Answers how many were filed.
    pub fn file_earlier(&self, mut keyed: Vec<(u64, Hash)>) -> Result<usize, LedgerError> {
        keyed.sort_unstable();
        keyed.dedup_by_key(|k| k.0);
        let mut tree = self
            .shared
            .tree
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if keyed.is_empty() || !tree.keyed.is_empty() {
            return Ok(0);
        }
        let mut map = KeyMap::default();
        let mut records = Vec::with_capacity(keyed.len());
        let mut bytes = Vec::with_capacity(keyed.len() * KEY_RECORD);
        for (index, key) in keyed {
            if index >= tree.size {
                return Err(LedgerError::Damaged(format!(
                    "entry {index} is to be filed in the key directory but the ledger holds {}",
                    tree.size
                )));
            }
            let leaf = View {
                tree: &tree,
                file: &self.shared.reader,
            }
            .read(index, index + 1)?
            .first()
            .copied()
            .unwrap_or_default();
            map = map.log(&key, &leaf);
            let root = map.root();
            bytes.extend_from_slice(&index.to_be_bytes());
            bytes.extend_from_slice(&key);
            bytes.extend_from_slice(&root);
            records.push(Keyed { index, key, root });
        }
        let filed = Tree {
            keyed: records,
            ..Tree::empty()
        };
        for h in self.heads() {
            if h.keys.is_some_and(|k| k != filed.keys_root_at(h.size)) {
                return Err(LedgerError::Damaged(format!(
                    "the head of {} entries signed at {} commits to a key directory without the entries the key log files before it",
                    h.size, h.timestamp_ms
                )));
            }
        }
        let path = self.shared.dir.join(KEYS_FILE);
        write_keys(&path, 0, &bytes)
            .map_err(|e| LedgerError::Unwritable(format!("{}: {e}", path.display())))?;
        let count = filed.keyed.len();
        if let Some(last) = filed.keyed.last() {
            tree.versions.push_back((last.index, map.clone()));
        }
        tree.keyed = filed.keyed;
        tree.keys = map;
        Ok(count)
    }

    /// Every leaf logged under a directory key: its index and the key, in
    /// order; what an audit matches against the entries behind them.
    pub fn keyed_leaves(&self) -> Vec<(u64, Hash)> {
        self.with_view(|v| v.tree.keyed.iter().map(|k| (k.index, k.key)).collect())
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

/// The directory keys recorded for the first `count` leaves, in order; a
/// record a crash tore, or one for a leaf that was never written, is cut
/// off, as it was never acknowledged.
fn read_keys(path: &Path, count: u64) -> Result<Vec<Keyed>, LedgerError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(path, e)),
    };
    let mut keys = Vec::with_capacity(bytes.len() / KEY_RECORD);
    for r in bytes.chunks_exact(KEY_RECORD) {
        let mut index = [0u8; 8];
        index.copy_from_slice(&r[..8]);
        let index = u64::from_be_bytes(index);
        if index >= count {
            break;
        }
        if keys.last().is_some_and(|last: &Keyed| last.index >= index) {
            return Err(LedgerError::Damaged(format!(
                "{} names entry {index} out of order",
                path.display()
            )));
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(&r[8..40]);
        let mut root = [0u8; 32];
        root.copy_from_slice(&r[40..]);
        keys.push(Keyed { index, key, root });
    }
    if bytes.len() != keys.len() * KEY_RECORD {
        OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| {
                f.set_len((keys.len() * KEY_RECORD) as u64)?;
                f.sync_data()
            })
            .map_err(|e| io_error(path, e))?;
    }
    Ok(keys)
}

/// Writes directory key records after the first `durable` and makes them
/// durable.
fn write_keys(path: &Path, durable: usize, bytes: &[u8]) -> std::io::Result<()> {
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)?;
    let at = (durable * KEY_RECORD) as u64;
    if f.metadata()?.len() != at {
        f.set_len(at)?;
    }
    f.write_all_at(bytes, at)?;
    f.sync_data()
}

/// Writes `bytes` after the first `durable` leaves and makes them durable.
/// The file is opened for each batch, so a ledger whose storage has gone
/// away fails here rather than writing into a file no one will read.
fn write_batch(path: &Path, durable: u64, bytes: &[u8]) -> std::io::Result<()> {
    let f = OpenOptions::new().write(true).open(path)?;
    if f.metadata()?.len() != durable * 32 {
        // What a failed batch left behind was never acknowledged.
        f.set_len(durable * 32)?;
    }
    f.write_all_at(bytes, durable * 32)?;
    f.sync_data()
}

fn commit_loop(shared: &Shared, rx: mpsc::Receiver<Pending>) {
    let mut leaves = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        let mut count = batch[0].leaves.len();
        while count < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => {
                    count += p.leaves.len();
                    batch.push(p);
                }
                Err(_) => break,
            }
        }
        leaves.clear();
        for p in &batch {
            leaves.extend_from_slice(&p.leaves);
        }
        let (durable, keyed, keys) = shared.durable();
        match shared.write(durable, keyed, &keys, &leaves) {
            Ok(()) => {
                let mut tree = shared
                    .tree
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                for p in batch {
                    let first = tree.size;
                    for l in &p.leaves {
                        tree.push_leaf(l);
                    }
                    let _ = p.reply.send(Ok(first));
                }
            }
            Err(e) => {
                for p in batch {
                    let _ = p.reply.send(Err(match &e {
                        LedgerError::Unwritable(s) => LedgerError::Unwritable(s.clone()),
                        e => LedgerError::Unwritable(e.to_string()),
                    }));
                }
            }
        }
    }
}
