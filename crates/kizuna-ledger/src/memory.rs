//! A shared log held in memory: the nodes of one process sharing a ledger,
//! as the nodes of a cluster share the one in their database. What the
//! stores and the staff realm test their cluster behaviour against without
//! a database.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::{Leaf, LedgerError, SharedLog};

#[derive(Default)]
pub struct InMemoryLog {
    /// One writer at a time, as the database's advisory lock gives.
    state: Mutex<(Vec<Leaf>, BTreeMap<u64, String>)>,
}

impl InMemoryLog {
    fn state(&self) -> std::sync::MutexGuard<'_, (Vec<Leaf>, BTreeMap<u64, String>)> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl SharedLog for InMemoryLog {
    fn place(&self) -> String {
        "a log in memory".into()
    }

    async fn append(&self, leaves: &[Leaf]) -> Result<u64, LedgerError> {
        let mut s = self.state();
        let first = s.0.len() as u64;
        s.0.extend_from_slice(leaves);
        Ok(first)
    }

    async fn leaves_from(&self, start: u64, limit: u32) -> Result<Vec<Leaf>, LedgerError> {
        let s = self.state();
        let start = (start as usize).min(s.0.len());
        let end = start.saturating_add(limit as usize).min(s.0.len());
        Ok(s.0[start..end].to_vec())
    }

    async fn size(&self) -> Result<u64, LedgerError> {
        Ok(self.state().0.len() as u64)
    }

    async fn put_head(&self, size: u64, head_json: &str) -> Result<(u64, String), LedgerError> {
        let mut s = self.state();
        // A head for this size stands; so does a later one, which this one
        // may not follow in the list.
        if let Some(head) = s.1.get(&size) {
            return Ok((size, head.clone()));
        }
        if let Some((&latest, head)) = s.1.last_key_value() {
            if latest > size {
                return Ok((latest, head.clone()));
            }
        }
        s.1.insert(size, head_json.to_string());
        Ok((size, head_json.to_string()))
    }

    async fn heads_from(&self, size: u64, limit: u32) -> Result<Vec<(u64, String)>, LedgerError> {
        Ok(self
            .state()
            .1
            .range(size..)
            .take(limit as usize)
            .map(|(s, h)| (*s, h.clone()))
            .collect())
    }

    async fn refresh_head(&self, size: u64, head_json: &str) -> Result<(u64, String), LedgerError> {
        let mut s = self.state();
        if s.1
            .last_key_value()
            .is_some_and(|(&latest, _)| latest == size)
        {
            s.1.insert(size, head_json.to_string());
        }
        let (latest, head) =
            s.1.last_key_value()
                .map(|(l, h)| (*l, h.clone()))
                .ok_or_else(|| LedgerError::Shared("no head is kept to sign again".into()))?;
        Ok((latest, head))
    }
}
