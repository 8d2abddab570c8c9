//! What the realm records: every event goes into the transparency ledger
//! before the caller goes on, and the events the store holds can be checked
//! against their ledger entries.

use std::sync::Arc;

use kizuna_policy::RealmAction;
use rand::RngCore;

use crate::{Event, EventKind, Session, StaffError, StaffRealm};

/// One event the staff store holds for the ledger, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldEvent {
    pub index: u64,
    pub leaf: Vec<u8>,
    /// Its stored bytes hash to its leaf, and its columns say what they say.
    pub intact: bool,
}

/// A staff-realm event as its bytes are hashed into the ledger.
#[derive(serde::Serialize, serde::Deserialize)]
struct StaffEntry {
    salt: String,
    at: u64,
    kind: String,
    staff_id: Option<String>,
    org_id: Option<String>,
    detail: serde_json::Value,
}

impl StaffRealm {
    fn ledger(&self) -> Result<&Arc<kizuna_ledger::Ledger>, StaffError> {
        self.ledger.as_ref().ok_or_else(|| {
            StaffError::LedgerUnavailable("the staff realm was opened for an audit only".into())
        })
    }

    /// Settles events a crash left between their write and their ledger
    /// index, as the vault does its records.
    pub(crate) async fn settle_pending(&self) -> Result<(), StaffError> {
        let pending = self.store.pending_events().await?;
        if pending.is_empty() {
            return Ok(());
        }
        let ledger = self.ledger()?;
        let size = ledger.size();
        let from = pending
            .iter()
            .map(|p| p.after)
            .min()
            .unwrap_or(size)
            .min(size);
        let tail = ledger
            .leaves(from, size)
            .map_err(|e| StaffError::LedgerUnavailable(e.to_string()))?;
        for p in pending {
            match tail.iter().position(|l| l.as_slice() == p.leaf.as_slice()) {
                Some(i) => self.store.set_event_index(&p.leaf, from + i as u64).await?,
                None => self.store.drop_pending_event(&p.leaf).await?,
            }
        }
        Ok(())
    }

    /// The ledger entries this store holds from index `from` on, checked.
    pub async fn held_events(&self, from: u64, limit: u32) -> Result<Vec<HeldEvent>, StaffError> {
        Ok(self
            .store
            .ledger_events(from, limit)
            .await?
            .into_iter()
            .filter_map(|e| {
                let index = e.idx?;
                let hashed = kizuna_ledger::leaf_hash(&e.entry).as_slice() == e.leaf.as_slice();
                let says = serde_json::from_slice::<StaffEntry>(&e.entry).is_ok_and(|x| {
                    x.at == e.at
                        && x.kind == e.kind
                        && x.staff_id == e.staff_id
                        && x.org_id == e.org_id
                        && x.detail == e.detail
                });
                Some(HeldEvent {
                    index,
                    leaf: e.leaf,
                    intact: hashed && says,
                })
            })
            .collect())
    }

    /// Appends one event of the staff realm, and to the ledger before the
    /// caller goes on: an event the ledger cannot take is taken back and
    /// what it records must not happen.
    pub async fn record(
        &self,
        kind: EventKind,
        staff_id: Option<&str>,
        org_id: Option<&str>,
        detail: serde_json::Value,
    ) -> Result<(), StaffError> {
        self.append(&Event {
            at: kizuna_wire::now_ms(),
            kind,
            staff_id: staff_id.map(str::to_string),
            org_id: org_id.map(str::to_string),
            detail,
        })
        .await
    }

    pub(crate) async fn append(&self, e: &Event) -> Result<(), StaffError> {
        let ledger = self.ledger()?;
        let mut salt = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut salt);
        let entry = serde_json::to_vec(&StaffEntry {
            salt: hex::encode(salt),
            at: e.at,
            kind: e.kind.as_str().to_string(),
            staff_id: e.staff_id.clone(),
            org_id: e.org_id.clone(),
            detail: e.detail.clone(),
        })
        .map_err(|e| StaffError::Storage(e.to_string()))?;
        let leaf = kizuna_ledger::leaf_hash(&entry);
        self.store.append(e, &entry, &leaf, ledger.size()).await?;
        match ledger.append(vec![leaf]).await {
            Ok(idx) => self.store.set_event_index(&leaf, idx).await,
            Err(err) => {
                if let Err(undo) = self.store.drop_pending_event(&leaf).await {
                    tracing::warn!(error = %undo, "an unlogged staff event could not be taken back; it is settled at the next start");
                }
                Err(StaffError::LedgerUnavailable(err.to_string()))
            }
        }
    }

    /// Recent staff-realm events, newest first.
    pub async fn events(
        &self,
        by: &Session,
        limit: u32,
    ) -> Result<Vec<serde_json::Value>, StaffError> {
        self.allow(by, RealmAction::ReadEvents, "")?;
        self.store.events(limit).await
    }
}
