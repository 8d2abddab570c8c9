//! Checking a log from its leaves alone: recompute the tree at the size of
//! every signed head and compare, as an auditor does offline on a data
//! directory or online from the leaf hashes a node publishes.

use std::path::Path;

use ed25519_dalek::VerifyingKey;

use crate::head::SignedTreeHead;
use crate::keymap::KeyMap;
use crate::merkle::{node_hash, Hash};
use crate::LedgerError;

/// Roots of a growing tree without keeping it: the roots of its complete
/// subtrees, largest first (the RFC 9162 tree's left spine).
#[derive(Default)]
struct Frontier {
    size: u64,
    /// (height, hash) from the largest subtree down.
    stack: Vec<(u32, Hash)>,
}

impl Frontier {
    fn push(&mut self, leaf: Hash) {
        let mut node = (0u32, leaf);
        while let Some(&(h, left)) = self.stack.last() {
            if h != node.0 {
                break;
            }
            self.stack.pop();
            node = (h + 1, node_hash(&left, &node.1));
        }
        self.stack.push(node);
        self.size += 1;
    }

    fn root(&self) -> Hash {
        let mut it = self.stack.iter().rev();
        let Some(&(_, mut acc)) = it.next() else {
            return crate::merkle::empty_root();
        };
        for (_, left) in it {
            acc = node_hash(left, &acc);
        }
        acc
    }
}

/// Something wrong with the log itself.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LogProblem {
    /// The first leaf the problem concerns, when one can be named.
    pub index: Option<u64>,
    pub what: String,
}

/// Checks `heads` (each one's signature, size and root) against `leaves`,
/// in one pass over the leaves. `witnessed` are heads kept outside the node
/// (by witnesses or clients): a log rolled back or rewritten behind them
/// shows here even if its own heads were rewritten with it. With `keyed`
/// (each leaf logged under a directory key, in order), each head's key
/// directory root is recomputed and compared too.
pub fn check_heads(
    leaves: &[Hash],
    keyed: Option<&[(u64, Hash)]>,
    heads: &[SignedTreeHead],
    witnessed: &[SignedTreeHead],
    key: &VerifyingKey,
    origin: &str,
) -> Vec<LogProblem> {
    let mut problems = Vec::new();
    let mut all: Vec<(&SignedTreeHead, &str)> = heads
        .iter()
        .map(|h| (h, "the ledger's own"))
        .chain(witnessed.iter().map(|h| (h, "a witnessed")))
        .collect();
    for (h, whose) in &all {
        if h.origin != origin {
            problems.push(LogProblem {
                index: None,
                what: format!(
                    "{whose} head of {} entries names ledger '{}', not '{origin}'",
                    h.size, h.origin
                ),
            });
        } else if h.verify(key).is_err() {
            problems.push(LogProblem {
                index: None,
                what: format!(
                    "{whose} head of {} entries signed at {} does not verify with the ledger's key",
                    h.size, h.timestamp_ms
                ),
            });
        }
    }
    let n = leaves.len() as u64;
    all.sort_by_key(|(h, _)| h.size);
    let mut f = Frontier::default();
    let mut map = keyed.map(|_| KeyMap::default());
    let mut keys = keyed.unwrap_or_default().iter().peekable();
    let mut next = 0;
    for (i, leaf) in leaves.iter().enumerate() {
        while next < all.len() && all[next].0.size == i as u64 {
            check_one(&f, map.as_ref(), all[next], &mut problems);
            next += 1;
        }
        f.push(*leaf);
        if let (Some(m), Some((_, k))) = (&mut map, keys.next_if(|(at, _)| *at == i as u64)) {
            *m = m.log(k, leaf);
        }
    }
    while next < all.len() && all[next].0.size == n {
        check_one(&f, map.as_ref(), all[next], &mut problems);
        next += 1;
    }
    for (h, whose) in &all[next..] {
        problems.push(LogProblem {
            index: Some(n),
            what: format!(
                "{whose} head signed at {} covers {} entries but the log holds {n}: entries {n}.. were removed or the log was rolled back",
                h.timestamp_ms, h.size
            ),
        });
    }
    problems
}

fn check_one(
    f: &Frontier,
    map: Option<&KeyMap>,
    (h, whose): (&SignedTreeHead, &str),
    problems: &mut Vec<LogProblem>,
) {
    if let (Some(m), Some(keys)) = (map, h.keys) {
        if m.root() != keys {
            problems.push(LogProblem {
                index: None,
                what: format!(
                    "the key directory of the first {} entries is not the one {whose} head signed at {} commits to: a key-log entry was hidden from it, added to it, or filed under another handle",
                    h.size, h.timestamp_ms
                ),
            });
        }
    }
    if f.root() != h.root {
        problems.push(LogProblem {
            index: None,
            what: format!(
                "the first {} entries no longer match {whose} head signed at {}: an entry before it was changed, removed or reordered",
                h.size, h.timestamp_ms
            ),
        });
    }
}

/// The leaves and heads of the ledger in `dir`, read as they are, without
/// the checks opening it for writing makes.
pub fn read_log(dir: &Path) -> Result<(Vec<Hash>, Vec<SignedTreeHead>), LedgerError> {
    let path = dir.join(crate::log::LEAVES_FILE);
    let bytes = std::fs::read(&path).map_err(|e| LedgerError::Unreadable {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let leaves = bytes
        .chunks_exact(32)
        .map(|c| c.try_into().unwrap_or([0; 32]))
        .collect();
    let heads = crate::log::read_heads(&dir.join(crate::log::HEADS_FILE))?;
    Ok((leaves, heads))
}

/// The directory keys recorded for the first `count` leaves of the ledger
/// in `dir` (its index and key, in order), read as they are; the roots
/// recorded beside them are the node's word, recomputed by the audit.
pub fn read_keyed(dir: &Path, count: u64) -> Result<Vec<(u64, Hash)>, LedgerError> {
    let path = dir.join(crate::log::KEYS_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(LedgerError::Unreadable {
                path,
                reason: e.to_string(),
            })
        }
    };
    let mut keyed = Vec::new();
    for r in bytes.chunks_exact(72) {
        let mut index = [0u8; 8];
        index.copy_from_slice(&r[..8]);
        let index = u64::from_be_bytes(index);
        if index >= count {
            break;
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(&r[8..40]);
        keyed.push((index, key));
    }
    Ok(keyed)
}
