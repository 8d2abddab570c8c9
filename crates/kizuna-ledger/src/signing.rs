//! Signing the ledger's tree heads and serving them. A ledger on its own
//! signs and keeps its heads itself; a mirror of a shared log offers its
//! head to the shared log and keeps whichever head the log kept for that
//! size, so that every node serves the same heads. A head that stands for
//! a log that has not grown is signed again after `HEAD_REFRESH_MS`.

use crate::head::SignedTreeHead;
use crate::log::{now_ms, Ledger};
use crate::LedgerError;

/// How long the head of a log that has not grown stands before a request
/// for a head signs it again: a device takes a head as current for an
/// hour at most, so a quiet log must not leave it with an older one.
pub const HEAD_REFRESH_MS: u64 = 10 * 60 * 1000;

/// Whether `last` still stands as the head of a log of `size` entries.
fn stands(last: &SignedTreeHead, size: u64) -> bool {
    last.size == size
        && last.keys.is_some()
        && now_ms().saturating_sub(last.timestamp_ms) < HEAD_REFRESH_MS
}

impl Ledger {
    /// Signs the current tree head, keeps it, and returns it; if nothing was
    /// appended since the last head, that head is returned instead, unless
    /// it is older than [`HEAD_REFRESH_MS`] or was signed before heads
    /// carried the key directory: a head for the same size is then signed
    /// again.
    pub fn sign_head(&self) -> Result<SignedTreeHead, LedgerError> {
        let mut heads = self
            .shared
            .heads
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let size = self.size();
        if let Some(last) = heads.last() {
            if stands(last, size) {
                return Ok(last.clone());
            }
        }
        if self.mirror.is_some() {
            return Err(LedgerError::Shared(
                "a shared ledger's heads are signed through sign_head_async, which agrees them with the other nodes".into(),
            ));
        }
        let head = self.shared.key.sign_with_keys(
            size,
            self.root_at(size)?,
            Some(self.keys_root_at(size)),
            now_ms(),
        );
        self.shared.keep_head(&mut heads, head.clone())?;
        Ok(head)
    }

    /// The latest signed head if it covers the first `size` entries, else a
    /// new one: a reader of entries the last head already covers costs no
    /// signature and no fsync.
    pub fn head_covering(&self, size: u64) -> Result<SignedTreeHead, LedgerError> {
        match self.latest_head() {
            Some(h) if h.size >= size && h.keys.is_some() => Ok(h),
            _ => self.sign_head(),
        }
    }

    /// The latest signed head if it is younger than `max_age_ms` (or the
    /// log has not grown since), else a new one: however often heads are
    /// asked for, at most one is signed per `max_age_ms`.
    pub fn recent_head(&self, max_age_ms: u64) -> Result<SignedTreeHead, LedgerError> {
        match self.latest_head() {
            Some(h) if now_ms().saturating_sub(h.timestamp_ms) < max_age_ms && h.keys.is_some() => {
                Ok(h)
            }
            _ => self.sign_head(),
        }
    }

    /// Every head this ledger signed, oldest first.
    pub fn heads(&self) -> Vec<SignedTreeHead> {
        self.shared
            .heads
            .lock()
            .map(|h| h.clone())
            .unwrap_or_default()
    }

    /// At most `limit` signed heads after the first `skip`, oldest first:
    /// the list grows for ever, so it is read a page at a time.
    pub fn heads_page(&self, skip: usize, limit: usize) -> Vec<SignedTreeHead> {
        self.shared
            .heads
            .lock()
            .map(|h| h.iter().skip(skip).take(limit).cloned().collect())
            .unwrap_or_default()
    }

    /// The latest signed head, if any.
    pub fn latest_head(&self) -> Option<SignedTreeHead> {
        self.shared
            .heads
            .lock()
            .ok()
            .and_then(|h| h.last().cloned())
    }

    /// [`Ledger::sign_head`] for a ledger that may mirror a shared log: the
    /// head signed for the mirror's size is offered to the shared log, and
    /// the one the log keeps (this one, or one another node signed first)
    /// is adopted and returned. A ledger on its own signs as `sign_head`.
    pub async fn sign_head_async(&self) -> Result<SignedTreeHead, LedgerError> {
        let Some(following) = &self.mirror else {
            return self.sign_head();
        };
        let mirror = &following.mirror;
        let size = self.size();
        if let Some(last) = self.latest_head() {
            if stands(&last, size) {
                return Ok(last);
            }
        }
        let head = self.shared.key.sign_with_keys(
            size,
            self.root_at(size)?,
            Some(self.keys_root_at(size)),
            now_ms(),
        );
        let json = serde_json::to_string(&head)
            .map_err(|e| LedgerError::Unwritable(format!("a tree head: {e}")))?;
        let (mut kept, mut kept_json) = mirror.log.put_head(size, &json).await?;
        if kept == size && kept_json != json {
            // Another head stands for this size. Signed long ago (the log
            // has not grown since), ours, signed now, replaces it.
            let standing = serde_json::from_str::<SignedTreeHead>(&kept_json).ok();
            if !standing.is_some_and(|h| stands(&h, size)) {
                (kept, kept_json) = mirror.log.refresh_head(size, &json).await?;
            }
        }
        mirror.catch_up().await?;
        if kept == size {
            mirror.adopt_head(size, &kept_json)?;
        }
        let heads = self.shared.heads.lock().map_err(|_| {
            LedgerError::Unwritable("the ledger's heads were left half-changed".into())
        })?;
        heads
            .iter()
            .rev()
            .find(|h| h.size == kept)
            .cloned()
            .ok_or_else(|| {
                LedgerError::Damaged(format!(
                    "the shared log {} kept a head for {kept} entries that the mirror at {} cannot adopt",
                    mirror.log.place(),
                    self.shared.dir.display()
                ))
            })
    }

    /// [`Ledger::head_covering`] for a ledger that may mirror a shared log:
    /// entries another node appended are caught up first.
    pub async fn head_covering_async(&self, size: u64) -> Result<SignedTreeHead, LedgerError> {
        if size > self.size() {
            self.catch_up().await?;
        }
        match self.latest_head() {
            Some(h) if h.size >= size && h.keys.is_some() => Ok(h),
            _ => self.sign_head_async().await,
        }
    }

    /// [`Ledger::recent_head`] for a ledger that may mirror a shared log.
    pub async fn recent_head_async(&self, max_age_ms: u64) -> Result<SignedTreeHead, LedgerError> {
        match self.latest_head() {
            Some(h) if now_ms().saturating_sub(h.timestamp_ms) < max_age_ms && h.keys.is_some() => {
                Ok(h)
            }
            _ => self.sign_head_async().await,
        }
    }
}
