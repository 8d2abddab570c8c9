//! The one writer of a ledger on its own: appends are group-committed —
//! whoever appends while a batch is being made durable joins the next one
//! — and every caller is answered only once its leaves are on disk.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::mpsc;

use super::{Leaf, Shared, MAX_BATCH};
use crate::LedgerError;

pub(super) struct Pending {
    pub(super) leaves: Vec<Leaf>,
    pub(super) reply: tokio::sync::oneshot::Sender<Result<u64, LedgerError>>,
}

/// Writes `bytes` after the first `durable` leaves and makes them durable.
/// The file is opened for each batch, so a ledger whose storage has gone
/// away fails here rather than writing into a file no one will read.
pub(super) fn write_batch(path: &Path, durable: u64, bytes: &[u8]) -> std::io::Result<()> {
    let f = OpenOptions::new().write(true).open(path)?;
    if f.metadata()?.len() != durable * 32 {
        // What a failed batch left behind was never acknowledged.
        f.set_len(durable * 32)?;
    }
    f.write_all_at(bytes, durable * 32)?;
    f.sync_data()
}

pub(super) fn commit_loop(shared: &Shared, rx: mpsc::Receiver<Pending>) {
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
