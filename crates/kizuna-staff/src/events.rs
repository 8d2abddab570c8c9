//! What the realm records: every event goes into the transparency ledger
//! before the caller goes on, and the events the store holds can be checked
//! against their ledger entries.

use std::sync::Arc;

use kizuna_policy::RealmAction;
use rand::RngCore;

use crate::store::LoggedEvent;
use crate::{Event, EventKind, Session, StaffError, StaffRealm};

/// How long an append to a shared ledger may take at most: an event left
/// unnumbered for longer belongs to a node that died.
const CLUSTER_APPEND_GRACE_MS: u64 = 60_000;

/// One event the staff store holds for the ledger, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldEvent {
    pub index: u64,
    pub leaf: Vec<u8>,
    /// Its stored bytes hash to its leaf, and its columns say what they say.
    pub intact: bool,
}

/// An event the staff store holds that was written but not yet numbered:
/// the node stopped between its write and the note of its ledger index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingEvent {
    pub leaf: Vec<u8>,
    /// The ledger's size when it was written: its leaf, if appended, lies
    /// at or after this.
    pub after: u64,
    /// Its stored bytes hash to its leaf, and its columns say what they say.
    pub intact: bool,
}

/// A governed read as the staff realm recorded it, before the person's
/// access record was sealed: a second account of the same read, kept in
/// another store under its own ledger entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRead {
    pub at: u64,
    pub staff_id: Option<String>,
    pub org_id: Option<String>,
    /// The person's handle when they were read.
    pub subject: String,
    pub fields: Vec<String>,
    /// Its ledger index; none while not yet numbered.
    pub index: Option<u64>,
    /// Its stored bytes hash to its leaf, and its columns say what they say.
    pub intact: bool,
}

/// A step of an official account's verification as the staff realm
/// recorded it: what the key log's `verified` entries point at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfficialStep {
    pub index: u64,
    pub kind: EventKind,
    pub staff_id: Option<String>,
    pub application: String,
    /// The handle and account the step names.
    pub handle: Option<String>,
    pub account_id: Option<String>,
    /// For the application itself: SHA-256 (hex) of the claim's bytes.
    pub claim_sha256: Option<String>,
    /// SHA-256 (hex) of the evidence the first person recorded.
    pub evidence_sha256: Option<String>,
    /// Its stored bytes hash to its leaf, and its columns say what they say.
    pub intact: bool,
}

/// Whether an event's stored bytes hash to its leaf and its columns say
/// what those bytes say.
fn intact(e: &LoggedEvent) -> bool {
    let hashed = kizuna_ledger::leaf_hash(&e.entry).as_slice() == e.leaf.as_slice();
    let says = serde_json::from_slice::<StaffEntry>(&e.entry).is_ok_and(|x| {
        x.at == e.at
            && x.kind == e.kind
            && x.staff_id == e.staff_id
            && x.org_id == e.org_id
            && x.detail == e.detail
    });
    hashed && says
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
    /// In a cluster, an event written moments ago may be another node's
    /// whose append is under way: only those older than any append takes
    /// are settled, and the node that died is found out by the periodic
    /// settling of every other node.
    pub async fn settle_pending(&self) -> Result<(), StaffError> {
        let ledger = self.ledger()?;
        let settled_before = if ledger.is_shared() {
            kizuna_wire::now_ms().saturating_sub(CLUSTER_APPEND_GRACE_MS)
        } else {
            u64::MAX
        };
        let mut pending = self.store.pending_events().await?;
        pending.retain(|p| p.at < settled_before);
        if pending.is_empty() {
            return Ok(());
        }
        let written: Vec<(&[u8], u64)> = pending
            .iter()
            .map(|p| (p.leaf.as_slice(), p.after))
            .collect();
        let found = ledger
            .find_appended(&written)
            .await
            .map_err(|e| StaffError::LedgerUnavailable(e.to_string()))?;
        for ((leaf, _), at) in written.iter().zip(found) {
            match at {
                Some(idx) => self.store.set_event_index(leaf, idx).await?,
                None => self.store.drop_pending_event(leaf).await?,
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
                Some(HeldEvent {
                    index: e.idx?,
                    intact: intact(&e),
                    leaf: e.leaf,
                })
            })
            .collect())
    }

    /// Every recorded step of an official account's verification (the
    /// evidence checked, the approval), for the audit to hold each badge
    /// in the key log to two people.
    pub async fn official_steps(&self) -> Result<Vec<OfficialStep>, StaffError> {
        use sha2::Digest;
        let kinds = [
            EventKind::OfficialApplied,
            EventKind::OfficialProposed,
            EventKind::OfficialVerified,
        ];
        Ok(self
            .store
            .events_of_kinds(&kinds)
            .await?
            .into_iter()
            .filter_map(|e| {
                let kind = kinds.into_iter().find(|k| k.as_str() == e.kind)?;
                Some(OfficialStep {
                    index: e.idx?,
                    kind,
                    intact: intact(&e),
                    application: e.detail["application"].as_str()?.to_string(),
                    handle: e.detail["handle"].as_str().map(str::to_string),
                    account_id: e.detail["account_id"].as_str().map(str::to_string),
                    claim_sha256: e.detail["claim_sha256"].as_str().map(str::to_string),
                    evidence_sha256: e.detail["evidence"]
                        .as_str()
                        .map(|t| hex::encode(sha2::Sha256::digest(t.as_bytes()))),
                    staff_id: e.staff_id,
                })
            })
            .collect())
    }

    /// The governed reads recorded under a staff member's or an
    /// organisation's credentials in a window, each checked against its
    /// ledger entry.
    pub async fn recorded_reads(
        &self,
        staff_id: Option<&str>,
        org_id: Option<&str>,
        from: u64,
        to: u64,
    ) -> Result<Vec<RecordedRead>, StaffError> {
        Ok(self
            .store
            .read_events(staff_id, org_id, from, to)
            .await?
            .into_iter()
            .map(|e| RecordedRead {
                intact: intact(&e),
                at: e.at,
                subject: e.detail["subject"].as_str().unwrap_or_default().to_string(),
                fields: e.detail["fields"]
                    .as_array()
                    .map(|f| {
                        f.iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
                staff_id: e.staff_id,
                org_id: e.org_id,
                index: e.idx,
            })
            .collect())
    }

    /// The events this store holds written but not yet numbered, checked.
    pub async fn pending_events(&self) -> Result<Vec<PendingEvent>, StaffError> {
        Ok(self
            .store
            .pending_events()
            .await?
            .into_iter()
            .map(|e| PendingEvent {
                intact: intact(&e),
                leaf: e.leaf,
                after: e.after,
            })
            .collect())
    }

    /// Whether `ledger` holds every entry this store numbered or wrote: a
    /// store ahead of its ledger means the ledger was rolled back or
    /// replaced, and numbering on would reuse numbers this store holds.
    /// The outer error is the store's; the inner one names the rollback.
    pub async fn check_held_by(
        &self,
        ledger: &kizuna_ledger::Ledger,
    ) -> Result<Result<(), kizuna_ledger::LedgerError>, StaffError> {
        const STORE: &str = "the staff store";
        // Read before the mirror catches up: whatever another node numbered
        // or wrote by then is in the shared log by then.
        let last = self.store.last_numbered_event().await?;
        let pending = self.store.pending_events().await?;
        if let Err(e) = ledger.catch_up().await {
            return Ok(Err(e));
        }
        if let Some(e) = last {
            if let Some(index) = e.idx {
                if let Err(rolled_back) = ledger.check_holds(STORE, index, &e.leaf) {
                    return Ok(Err(rolled_back));
                }
            }
        }
        for e in pending {
            if let Err(rolled_back) = ledger.check_written_after(STORE, e.after) {
                return Ok(Err(rolled_back));
            }
        }
        Ok(Ok(()))
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
        self.record_at(kind, staff_id, org_id, detail)
            .await
            .map(drop)
    }

    /// [`StaffRealm::record`], answering the event's ledger index, for a
    /// step another entry names.
    pub async fn record_at(
        &self,
        kind: EventKind,
        staff_id: Option<&str>,
        org_id: Option<&str>,
        detail: serde_json::Value,
    ) -> Result<u64, StaffError> {
        self.append(&Event {
            at: kizuna_wire::now_ms(),
            kind,
            staff_id: staff_id.map(str::to_string),
            org_id: org_id.map(str::to_string),
            detail,
        })
        .await
    }

    pub(crate) async fn append(&self, e: &Event) -> Result<u64, StaffError> {
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
        let after = ledger.size();
        self.store.append(e, &entry, &leaf, after).await?;
        match ledger.append(vec![leaf]).await {
            Ok(idx) => {
                self.store
                    .number_appended(e, &entry, &leaf, after, idx)
                    .await?;
                Ok(idx)
            }
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

/// In a cluster, settles once a minute, until `shutdown`, the events a node
/// that died left between their write and their ledger index; nothing to
/// do for a realm whose ledger is its own, settled when it opens.
pub async fn settle_pending_every_minute(
    realm: Arc<StaffRealm>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    if !realm.ledger.as_ref().is_some_and(|l| l.is_shared()) {
        return;
    }
    loop {
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(60)) => {}
            _ = shutdown.wait_for(|v| *v) => return,
        }
        if let Err(e) = realm.settle_pending().await {
            tracing::warn!(error = %e, "settling pending staff events failed; tried again in a minute");
        }
    }
}
