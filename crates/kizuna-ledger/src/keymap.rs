//! The key directory: a map from a name's 32-byte key (a handle's, for the
//! key log) to the chain of every leaf the ledger logged under it, kept as
//! a compact sparse Merkle tree whose root each signed head carries. A
//! head then stands for one history per name: a node that leaves an entry
//! out of what it shows someone about a name, or shows two people two
//! histories, contradicts a head it signed.
//!
//! A subtree with no entry hashes to zero, one with a single entry is that
//! entry's leaf wherever it sits, and only subtrees with two or more
//! entries branch, so the tree is as deep as its keys' common prefixes and
//! its root depends on its entries alone. Versions share their unchanged
//! subtrees, so keeping the map of a recent head costs only what changed.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::merkle::Hash;
use crate::LedgerError;

/// The root of a map with no entry.
pub const EMPTY_ROOT: Hash = [0; 32];

/// The key a name is logged under: SHA-256 of a label and the name.
pub fn directory_key(name: &str) -> Hash {
    let mut h = Sha256::new();
    h.update(b"kizuna key directory\0");
    h.update(name.as_bytes());
    h.finalize().into()
}

/// A name's value after one more leaf: the chain of its leaves in ledger
/// order, so that the value stands for the whole history, not its end.
pub fn chain(previous: Option<&Hash>, leaf: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x04]);
    h.update(previous.unwrap_or(&EMPTY_ROOT));
    h.update(leaf);
    h.finalize().into()
}

/// The value a name has after `leaves`, in ledger order; none for none.
pub fn chain_all<'a>(leaves: impl IntoIterator<Item = &'a Hash>) -> Option<Hash> {
    leaves
        .into_iter()
        .fold(None, |value, leaf| Some(chain(value.as_ref(), leaf)))
}

// 0x00 and 0x01 are the log's own leaf and node prefixes (RFC 9162); the
// map's nodes are never taken for the log's.
fn entry_hash(key: &Hash, value: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x02]);
    h.update(key);
    h.update(value);
    h.finalize().into()
}

fn branch_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x03]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

fn bit(key: &Hash, depth: usize) -> bool {
    (key[depth / 8] >> (7 - depth % 8)) & 1 == 1
}

// An entry's hash is not kept: it costs one SHA-256 to make, and the
// map holds one entry per name, so its 32 bytes matter at a nation's size.
enum Node {
    Entry {
        key: Hash,
        value: Hash,
    },
    Branch {
        left: Option<Arc<Node>>,
        right: Option<Arc<Node>>,
        hash: Hash,
    },
}

impl Node {
    fn hash(&self) -> Hash {
        match self {
            Node::Entry { key, value } => entry_hash(key, value),
            Node::Branch { hash, .. } => *hash,
        }
    }

    fn entry(key: Hash, value: Hash) -> Arc<Node> {
        Arc::new(Node::Entry { key, value })
    }

    fn branch(left: Option<Arc<Node>>, right: Option<Arc<Node>>) -> Arc<Node> {
        let hash = branch_hash(&hash_of(&left), &hash_of(&right));
        Arc::new(Node::Branch { left, right, hash })
    }
}

fn hash_of(node: &Option<Arc<Node>>) -> Hash {
    node.as_ref().map_or(EMPTY_ROOT, |n| n.hash())
}

/// Two entries under one subtree at `depth`: branches down to where their
/// keys part.
fn split(depth: usize, a: Arc<Node>, a_key: &Hash, b: Arc<Node>, b_key: &Hash) -> Arc<Node> {
    match (bit(a_key, depth), bit(b_key, depth)) {
        (false, true) => Node::branch(Some(a), Some(b)),
        (true, false) => Node::branch(Some(b), Some(a)),
        (false, false) => Node::branch(Some(split(depth + 1, a, a_key, b, b_key)), None),
        (true, true) => Node::branch(None, Some(split(depth + 1, a, a_key, b, b_key))),
    }
}

fn set(node: &Option<Arc<Node>>, depth: usize, key: &Hash, value: Hash) -> Arc<Node> {
    let Some(held) = node else {
        return Node::entry(*key, value);
    };
    match held.as_ref() {
        Node::Entry { key: k, .. } if k == key => Node::entry(*key, value),
        Node::Entry { key: k, .. } => split(depth, held.clone(), k, Node::entry(*key, value), key),
        Node::Branch { left, right, .. } => {
            if bit(key, depth) {
                Node::branch(left.clone(), Some(set(right, depth + 1, key, value)))
            } else {
                Node::branch(Some(set(left, depth + 1, key, value)), right.clone())
            }
        }
    }
}

/// The subtree at `depth` over `entries`, sorted by key, all sharing the
/// path to it.
fn build(depth: usize, entries: &[(Hash, Hash)]) -> Option<Arc<Node>> {
    match entries {
        [] => None,
        [(key, value)] => Some(Node::entry(*key, *value)),
        _ => {
            let split = entries.partition_point(|(k, _)| !bit(k, depth));
            let (left, right) = entries.split_at(split);
            Some(Node::branch(
                build(depth + 1, left),
                build(depth + 1, right),
            ))
        }
    }
}

/// One version of the map. Cloning it is cheap.
#[derive(Clone, Default)]
pub struct KeyMap {
    root: Option<Arc<Node>>,
}

/// Where the path of a key ends in a map: an empty subtree, or the one
/// entry of its subtree (the key's own, or another's, which then proves
/// the key has none).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PathEnd {
    Empty,
    Entry { key: Hash, value: Hash },
}

/// The hashes beside a key's path, from the root down, and where it ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyProof {
    pub siblings: Vec<Hash>,
    pub end: PathEnd,
}

impl KeyMap {
    pub fn root(&self) -> Hash {
        hash_of(&self.root)
    }

    /// The value under `key`, if any.
    pub fn get(&self, key: &Hash) -> Option<Hash> {
        let mut node = self.root.as_deref();
        let mut depth = 0;
        while let Some(n) = node {
            match n {
                Node::Entry { key: k, value, .. } => return (k == key).then_some(*value),
                Node::Branch { left, right, .. } => {
                    node = if bit(key, depth) { right } else { left }.as_deref();
                    depth += 1;
                }
            }
        }
        None
    }

    /// The map holding exactly `entries` (key, value), built at once.
    pub fn from_entries(mut entries: Vec<(Hash, Hash)>) -> KeyMap {
        entries.sort_unstable_by_key(|e| e.0);
        entries.dedup_by(|a, b| a.0 == b.0);
        KeyMap {
            root: build(0, &entries),
        }
    }

    /// The map with `leaf` chained onto `key`'s value.
    pub fn log(&self, key: &Hash, leaf: &Hash) -> KeyMap {
        let value = chain(self.get(key).as_ref(), leaf);
        KeyMap {
            root: Some(set(&self.root, 0, key, value)),
        }
    }

    pub fn prove(&self, key: &Hash) -> KeyProof {
        let mut siblings = Vec::new();
        let mut node = self.root.as_deref();
        let mut depth = 0;
        loop {
            match node {
                None => {
                    return KeyProof {
                        siblings,
                        end: PathEnd::Empty,
                    }
                }
                Some(Node::Entry { key, value, .. }) => {
                    return KeyProof {
                        siblings,
                        end: PathEnd::Entry {
                            key: *key,
                            value: *value,
                        },
                    }
                }
                Some(Node::Branch { left, right, .. }) => {
                    let (next, beside) = if bit(key, depth) {
                        (right, left)
                    } else {
                        (left, right)
                    };
                    siblings.push(hash_of(beside));
                    node = next.as_deref();
                    depth += 1;
                }
            }
        }
    }
}

/// Checks that the map with `root` holds `value` under `key` (none: no
/// entry), by `proof`.
pub fn verify_key(
    root: &Hash,
    key: &Hash,
    value: Option<&Hash>,
    proof: &KeyProof,
) -> Result<(), LedgerError> {
    if proof.siblings.len() > 256 {
        return Err(LedgerError::BadProof("a key's path is longer than its key"));
    }
    let mut node = match (&proof.end, value) {
        (PathEnd::Empty, None) => EMPTY_ROOT,
        (PathEnd::Entry { key: k, value: v }, Some(want)) if k == key && v == want => {
            entry_hash(k, v)
        }
        (PathEnd::Entry { key: k, value: v }, None) if k != key => entry_hash(k, v),
        (PathEnd::Entry { key: k, .. }, Some(_)) if k == key => {
            return Err(LedgerError::BadProof(
                "the directory holds another history for this name",
            ))
        }
        _ => {
            return Err(LedgerError::BadProof(
                "the directory does not hold this name's history",
            ))
        }
    };
    for (depth, sibling) in proof.siblings.iter().enumerate().rev() {
        node = if bit(key, depth) {
            branch_hash(sibling, &node)
        } else {
            branch_hash(&node, sibling)
        };
    }
    if &node != root {
        return Err(LedgerError::BadProof(
            "the directory proof does not lead to the head's root",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(i: u32) -> Hash {
        directory_key(&format!("name{i}"))
    }

    #[test]
    fn every_name_proves_its_history_and_the_absent_their_absence() {
        let mut map = KeyMap::default();
        assert_eq!(map.root(), EMPTY_ROOT);
        for i in 0..200u32 {
            map = map.log(&k(i % 70), &[i as u8; 32]);
        }
        let root = map.root();
        for i in 0..70u32 {
            let leaves: Vec<Hash> = (0..200u32)
                .filter(|j| j % 70 == i)
                .map(|j| [j as u8; 32])
                .collect();
            let value = chain_all(&leaves).unwrap();
            assert_eq!(map.get(&k(i)), Some(value));
            let proof = map.prove(&k(i));
            verify_key(&root, &k(i), Some(&value), &proof).unwrap();
            // The history without its last entry is not the one held.
            let shorter = chain_all(&leaves[..leaves.len() - 1]);
            assert!(verify_key(&root, &k(i), shorter.as_ref(), &proof).is_err());
        }
        for i in 70..120u32 {
            let proof = map.prove(&k(i));
            verify_key(&root, &k(i), None, &proof).unwrap();
            assert!(verify_key(&root, &k(i), Some(&[1; 32]), &proof).is_err());
        }
    }

    #[test]
    fn the_root_depends_on_the_entries_not_their_order() {
        let a = KeyMap::default().log(&k(1), &[1; 32]).log(&k(2), &[2; 32]);
        let b = KeyMap::default().log(&k(2), &[2; 32]).log(&k(1), &[1; 32]);
        assert_eq!(a.root(), b.root());
        let c = KeyMap::default().log(&k(1), &[2; 32]).log(&k(2), &[1; 32]);
        assert_ne!(a.root(), c.root());
    }

    #[test]
    fn a_map_built_at_once_is_the_map_built_entry_by_entry() {
        let mut one_by_one = KeyMap::default();
        for i in 0..500u32 {
            one_by_one = one_by_one.log(&k(i % 300), &[i as u8; 32]);
        }
        let entries = (0..300u32)
            .map(|i| (k(i), one_by_one.get(&k(i)).unwrap()))
            .collect();
        assert_eq!(KeyMap::from_entries(entries).root(), one_by_one.root());
        assert_eq!(KeyMap::from_entries(Vec::new()).root(), EMPTY_ROOT);
    }

    #[test]
    fn an_altered_proof_fails() {
        let map = (0..9u32).fold(KeyMap::default(), |m, i| m.log(&k(i), &[i as u8; 32]));
        let value = map.get(&k(3)).unwrap();
        let mut proof = map.prove(&k(3));
        assert!(!proof.siblings.is_empty());
        proof.siblings[0][0] ^= 1;
        assert!(verify_key(&map.root(), &k(3), Some(&value), &proof).is_err());
        // An older version keeps its own root and proofs.
        let old = map.clone();
        let newer = map.log(&k(3), &[9; 32]);
        assert_ne!(old.root(), newer.root());
        verify_key(&old.root(), &k(3), Some(&value), &old.prove(&k(3))).unwrap();
    }

    #[test]
    fn keys_that_share_a_long_prefix_branch_down_to_where_they_part() {
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        a[31] = 0b10;
        b[31] = 0b11;
        let map = KeyMap::default().log(&a, &[1; 32]).log(&b, &[2; 32]);
        let proof = map.prove(&b);
        assert_eq!(proof.siblings.len(), 256);
        verify_key(&map.root(), &b, map.get(&b).as_ref(), &proof).unwrap();
        let mut c = [0u8; 32];
        c[31] = 0b01;
        verify_key(&map.root(), &c, None, &map.prove(&c)).unwrap();
    }
}
