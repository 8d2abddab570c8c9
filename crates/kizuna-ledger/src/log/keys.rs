//! The key directory beside the log: which leaves are filed under which
//! directory key, the `keys` file that records them (index, key, and the
//! directory's root after each), and the proofs served from it.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use super::{io_error, Leaf, Ledger, Tree, View, KEYS_FILE};
use crate::keymap::{KeyMap, KeyProof, EMPTY_ROOT};
use crate::merkle::Hash;
use crate::LedgerError;

pub(super) const KEY_RECORD: usize = 72;
/// Versions of the key directory kept for proofs against recent heads.
pub(super) const KEPT_VERSIONS: usize = 256;

/// A leaf logged under a directory key, and the directory's root after it.
#[derive(Clone, Copy)]
pub(super) struct Keyed {
    pub(super) index: u64,
    pub(super) key: Hash,
    pub(super) root: Hash,
}

/// The records of `leaves`, appended after the first `size` to a log
/// whose directory is `keys`: each filed leaf's index, key, and the root
/// after it.
pub(super) fn records(keys: &KeyMap, size: u64, leaves: &[Leaf]) -> Vec<u8> {
    let mut records = Vec::new();
    let mut map = keys.clone();
    for (i, l) in leaves.iter().enumerate() {
        if let Some(k) = &l.key {
            map = map.log(k, &l.hash);
            records.extend_from_slice(&(size + i as u64).to_be_bytes());
            records.extend_from_slice(k);
            records.extend_from_slice(&map.root());
        }
    }
    records
}

impl Tree {
    /// Takes the directory read at open: built once from each name's final
    /// chain, it must have the root the last record holds.
    pub(super) fn install_keys(
        &mut self,
        records: Vec<Keyed>,
        chains: HashMap<Hash, Hash>,
        path: &Path,
    ) -> Result<(), LedgerError> {
        self.keys = KeyMap::from_entries(chains.into_iter().collect());
        let built = self.keys.root();
        if let Some(last) = records.last() {
            if last.root != built {
                return Err(LedgerError::Damaged(format!(
                    "the key directory built from {} has the root {}, not the {} it recorded: the keys file or the leaves were changed",
                    path.display(),
                    hex::encode(built),
                    hex::encode(last.root)
                )));
            }
            self.versions.push_back((last.index, self.keys.clone()));
        }
        self.keyed = records;
        Ok(())
    }

    pub(super) fn push_leaf(&mut self, leaf: &Leaf) {
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
    pub(super) fn keyed_before(&self, size: u64) -> usize {
        self.keyed.partition_point(|k| k.index < size)
    }

    pub(super) fn keys_root_at(&self, size: u64) -> Hash {
        match self.keyed_before(size) {
            0 => EMPTY_ROOT,
            n => self.keyed[n - 1].root,
        }
    }

    /// The directory over the first `size` leaves, if still kept.
    pub(super) fn keys_at(&self, size: u64) -> Option<KeyMap> {
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
}

impl Ledger {
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
}

/// The directory keys recorded for the first `count` leaves, in order; a
/// record a crash tore, or one for a leaf that was never written, is cut
/// off, as it was never acknowledged.
pub(super) fn read_keys(path: &Path, count: u64) -> Result<Vec<Keyed>, LedgerError> {
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
pub(super) fn write_keys(path: &Path, durable: usize, bytes: &[u8]) -> std::io::Result<()> {
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
