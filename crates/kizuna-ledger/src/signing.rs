//! Signing the ledger's tree heads and serving them. A ledger on its own
//! signs and keeps its heads itself; a mirror of a shared log offers its
//! head to the shared log and keeps whichever head the log kept for that
//! size, so that every node serves the same heads.

use crate::head::SignedTreeHead;
use crate::log::{now_ms, Ledger};
use crate::LedgerError;

impl Ledger {
    /// Signs the current tree head, keeps it, and returns it; if nothing was
    /// appended since the last head, that head is returned instead (unless
    /// it was signed before heads carried the key directory: a head for
    /// the same size is then signed again, with it).
    pub fn sign_head(&self) -> Result<SignedTreeHead, LedgerError> {
        let mut heads = self
            .shared
            .heads
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let size = self.size();
        if let Some(last) = heads.last() {
            if last.size == size && last.keys.is_some() {
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
            if last.size == size && last.keys.is_some() {
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
        let (kept, _) = mirror.log.put_head(size, &json).await?;
        mirror.catch_up().await?;
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
