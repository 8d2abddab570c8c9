//! RFC 9162 Merkle tree hashing and proofs: leaf = H(0x00 ‖ entry),
//! node = H(0x01 ‖ left ‖ right), the tree over n leaves split at the
//! largest power of two below n. Generation follows the definitions of
//! §2.1.3.1 and §2.1.4.1 over any source of subtree hashes; verification
//! follows the algorithms of §2.1.3.2 and §2.1.4.2, which need no tree.

use sha2::{Digest, Sha256};

use crate::LedgerError;

/// A SHA-256 output: a leaf hash, a node hash or a tree's root.
pub type Hash = [u8; 32];

/// The root of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// A hash as a node publishes it (leaf hashes, proof hashes): 64 hex
/// digits. `None` when the text is not one.
pub fn hash_from_hex(hex: &str) -> Option<Hash> {
    hex::decode(hex).ok()?.try_into().ok()
}

pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    h.finalize().into()
}

pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The largest power of two smaller than `n` (n ≥ 2): where a tree splits.
pub fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// Whatever can give the hash of the tree over leaves `[start, end)` for
/// the ranges the proofs ask for: a slice of leaf hashes in memory, or the
/// ledger's files.
pub trait Subtrees {
    fn subtree(&self, start: u64, end: u64) -> Result<Hash, LedgerError>;
}

impl Subtrees for [Hash] {
    fn subtree(&self, start: u64, end: u64) -> Result<Hash, LedgerError> {
        if end > self.len() as u64 || start >= end {
            return Err(LedgerError::Range {
                start,
                end,
                size: self.len() as u64,
            });
        }
        Ok(root(&self[start as usize..end as usize]))
    }
}

/// The tree head over these leaf hashes, straight from the definition.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n as u64) as usize;
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves.
pub fn inclusion_proof(
    tree: &(impl Subtrees + ?Sized),
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, LedgerError> {
    if index >= size {
        return Err(LedgerError::IndexOutOfRange { index, size });
    }
    let mut proof = Vec::new();
    path(tree, index, 0, size, &mut proof)?;
    Ok(proof)
}

fn path(
    tree: &(impl Subtrees + ?Sized),
    m: u64,
    lo: u64,
    hi: u64,
    out: &mut Vec<Hash>,
) -> Result<(), LedgerError> {
    if hi - lo == 1 {
        return Ok(());
    }
    let k = split(hi - lo);
    if m < lo + k {
        path(tree, m, lo, lo + k, out)?;
        out.push(tree.subtree(lo + k, hi)?);
    } else {
        path(tree, m, lo + k, hi, out)?;
        out.push(tree.subtree(lo, lo + k)?);
    }
    Ok(())
}

/// The consistency proof from the tree of `old` leaves to the tree of
/// `new` leaves (empty when they are the same size).
pub fn consistency_proof(
    tree: &(impl Subtrees + ?Sized),
    old: u64,
    new: u64,
) -> Result<Vec<Hash>, LedgerError> {
    if old > new {
        return Err(LedgerError::Shrunk { old, new });
    }
    let mut proof = Vec::new();
    if old > 0 && old < new {
        subproof(tree, old, 0, new, true, &mut proof)?;
    }
    Ok(proof)
}

fn subproof(
    tree: &(impl Subtrees + ?Sized),
    m: u64,
    lo: u64,
    hi: u64,
    whole: bool,
    out: &mut Vec<Hash>,
) -> Result<(), LedgerError> {
    let n = hi - lo;
    if m == n {
        if !whole {
            out.push(tree.subtree(lo, hi)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof(tree, m, lo, lo + k, whole, out)?;
        out.push(tree.subtree(lo + k, hi)?);
    } else {
        subproof(tree, m - k, lo + k, hi, false, out)?;
        out.push(tree.subtree(lo, lo + k)?);
    }
    Ok(())
}

/// Checks that `leaf` is at `index` in the tree of `size` leaves whose head
/// is `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), LedgerError> {
    if index >= size {
        return Err(LedgerError::IndexOutOfRange { index, size });
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return Err(LedgerError::BadProof("the inclusion proof is too long"));
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(LedgerError::BadProof("the inclusion proof is too short"));
    }
    if &r != root {
        return Err(LedgerError::BadProof(
            "the entry is not in the tree with this head",
        ));
    }
    Ok(())
}

/// Checks that the tree of `old` leaves with head `old_root` is a prefix of
/// the tree of `new` leaves with head `new_root` (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), LedgerError> {
    if old > new {
        return Err(LedgerError::Shrunk { old, new });
    }
    if old == new {
        return if proof.is_empty() && old_root == new_root {
            Ok(())
        } else {
            Err(LedgerError::BadProof(
                "two heads of the same size differ: the log forked",
            ))
        };
    }
    if old == 0 {
        // Every tree extends the empty one.
        return if proof.is_empty() {
            Ok(())
        } else {
            Err(LedgerError::BadProof(
                "a proof from the empty tree must be empty",
            ))
        };
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else {
        return Err(LedgerError::BadProof("the consistency proof is empty"));
    };
    let (mut f, mut s) = (old - 1, new - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if s == 0 {
            return Err(LedgerError::BadProof("the consistency proof is too long"));
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(LedgerError::BadProof("the consistency proof is too short"));
    }
    if &fr != old_root || &sr != new_root {
        return Err(LedgerError::BadProof(
            "the newer head does not extend the older one: the log was rewritten",
        ));
    }
    Ok(())
}
