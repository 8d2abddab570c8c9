//! Roots a mirror checks the shared log's heads against, over its own
//! leaves and over leaves it has read but not yet written: nothing is
//! written into a mirror before every head covering it was checked.

use super::{Leaf, Shared, View};
use crate::merkle::{self, empty_root, node_hash, split, Hash, Subtrees};
use crate::LedgerError;

/// The mirror's leaves followed by `after`, which are not written yet.
struct Joined<'a> {
    view: View<'a>,
    after: &'a [Hash],
}

impl Subtrees for Joined<'_> {
    fn subtree(&self, start: u64, end: u64) -> Result<Hash, LedgerError> {
        let held = self.view.tree.size;
        let size = held + self.after.len() as u64;
        if end > size || start >= end {
            return Err(LedgerError::Range { start, end, size });
        }
        if end <= held {
            return self.view.subtree(start, end);
        }
        if start >= held {
            return Ok(merkle::root(
                &self.after[(start - held) as usize..(end - held) as usize],
            ));
        }
        let k = split(end - start);
        Ok(node_hash(
            &self.subtree(start, start + k)?,
            &self.subtree(start + k, end)?,
        ))
    }
}

/// The key directory's root over the first `size` of the mirror's leaves
/// followed by `after`.
pub(crate) fn keys_root_with(shared: &Shared, size: u64, after: &[Leaf]) -> Hash {
    let tree = shared
        .tree
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if size <= tree.size {
        return tree.keys_root_at(size);
    }
    let mut map = tree.keys.clone();
    let count = (size - tree.size) as usize;
    for l in after.iter().take(count) {
        if let Some(k) = &l.key {
            map = map.log(k, &l.hash);
        }
    }
    map.root()
}

/// The root of the tree over the first `size` of the mirror's leaves
/// followed by `after`.
pub(crate) fn root_with(shared: &Shared, size: u64, after: &[Hash]) -> Result<Hash, LedgerError> {
    if size == 0 {
        return Ok(empty_root());
    }
    let tree = shared
        .tree
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    Joined {
        view: View {
            tree: &tree,
            file: &shared.reader,
        },
        after,
    }
    .subtree(0, size)
}
