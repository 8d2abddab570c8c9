//! The staff realm: organisations and their staff, login with an argon2id
//! password and a TOTP code, and short-lived sessions bound to the
//! organisation's networks — with its own store, its own token key and its
//! own listener, sharing nothing with the user realm.

mod credentials;
mod events;
mod failed_logins;
mod grants;
mod login;
mod members;
mod official;
mod oversight;
mod store;

use std::net::IpAddr;
use std::sync::Arc;

use kizuna_policy::RealmAction;
use kizuna_wire::staff::*;

pub use credentials::{totp_at, totp_now};
pub use events::{
    settle_pending_every_minute, HeldEvent, OfficialStep, PendingEvent, RecordedRead,
};
pub use failed_logins::{
    record_failed_logins_every_window, FAILED_LOGIN_NAMES, FAILED_LOGIN_WINDOW_MS,
};
pub use login::{LOGIN_WINDOW_MS, MAX_FAILED_LOGINS, SESSION_TTL_SECS};
pub use oversight::AnomalyLimits;
use store::StaffStore;
pub use store::{Event, EventKind, StaffStoreAt};

#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    #[error("wrong staff id, password or authenticator code")]
    InvalidCredentials,
    #[error("{0} is suspended")]
    Suspended(String),
    #[error("{from} is not in the networks organisation {org} may connect from")]
    NetworkNotAllowed { org: String, from: IpAddr },
    #[error("the session is not valid: {0}")]
    InvalidSession(&'static str),
    #[error("the session has expired; log in again")]
    SessionExpired,
    #[error("this is a user-realm token; the staff API accepts only staff sessions")]
    WrongRealm,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0} already exists")]
    Exists(String),
    #[error("no such {0}")]
    NotFound(String),
    #[error("the staff store failed: {0}")]
    Storage(String),
    /// The store's schema is not the one this version knows.
    #[error("{0}")]
    Schema(String),
    #[error("{0}")]
    LedgerUnavailable(String),
    /// Stored entries no longer say what the ledger vouches for: whatever
    /// would be answered from them cannot be trusted.
    #[error("{0}")]
    Tampered(String),
    /// A stored file is not the one its message describes.
    #[error("{0}")]
    FileAltered(String),
    #[error("too many failed logins for this staff id; try again in {minutes} minutes")]
    TooManyFailedLogins { minutes: u64 },
}

/// An authenticated staff session.
#[derive(Clone, Debug)]
pub struct Session {
    pub session_id: String,
    pub member: StaffMember,
    pub org: Org,
    pub source: IpAddr,
}

impl Session {
    /// The session's member as the realm's rules see them.
    pub fn actor(&self) -> kizuna_policy::Actor {
        kizuna_policy::Actor {
            staff_id: self.member.staff_id.clone(),
            roles: self
                .member
                .roles
                .iter()
                .map(|r| r.name().to_string())
                .collect(),
            org_id: self.org.org_id.clone(),
            org_kind: self.org.kind.name().to_string(),
            org_country: self.org.country.clone(),
        }
    }
}

pub struct StaffRealm {
    store: StaffStore,
    key: [u8; 32],
    /// Who may manage and oversee the realm, and end a grant early.
    rules: kizuna_policy::RealmPolicy,
    /// Every event is an entry of the transparency ledger; none only when
    /// opened for an audit.
    ledger: Option<Arc<kizuna_ledger::Ledger>>,
    /// Logins are checked one at a time, so attempts sent together cannot
    /// all pass the failure count before any failure is counted.
    login_gate: tokio::sync::Mutex<()>,
    /// Failed logins of the current window, and of each staff id lately.
    failed_logins: failed_logins::FailedLogins,
}

impl StaffRealm {
    /// Opens the staff store at `at`; `key` signs staff sessions and is
    /// the staff realm's alone (every node of a cluster holds the same);
    /// every event goes into `ledger` first.
    pub async fn open(
        at: impl Into<StaffStoreAt>,
        key: [u8; 32],
        ledger: Arc<kizuna_ledger::Ledger>,
    ) -> Result<StaffRealm, StaffError> {
        let realm = StaffRealm {
            store: StaffStore::open(&at.into()).await?,
            key,
            rules: kizuna_policy::RealmPolicy::builtin()
                .map_err(|e| StaffError::Storage(e.to_string()))?,
            ledger: Some(ledger),
            login_gate: Default::default(),
            failed_logins: Default::default(),
        };
        realm.seal_stored_totps().await?;
        // Before settling anything: events numbered beyond a rolled-back
        // ledger must not be dropped or numbered again.
        if let Some(ledger) = &realm.ledger {
            realm
                .check_held_by(ledger)
                .await?
                .map_err(|e| StaffError::LedgerUnavailable(e.to_string()))?;
        }
        realm.settle_pending().await?;
        realm.restore_login_locks().await?;
        Ok(realm)
    }

    /// Opens the staff store only to check its ledger entries.
    pub async fn open_for_audit(at: impl Into<StaffStoreAt>) -> Result<StaffRealm, StaffError> {
        Ok(StaffRealm {
            store: StaffStore::open(&at.into()).await?,
            key: [0; 32],
            rules: kizuna_policy::RealmPolicy::builtin()
                .map_err(|e| StaffError::Storage(e.to_string()))?,
            ledger: None,
            login_gate: Default::default(),
            failed_logins: Default::default(),
        })
    }

    pub async fn close(&self) {
        self.store.close().await;
    }

    /// Brings the staff store at `at` to this version's schema; answers the
    /// versions applied (none for an embedded store, which its node brings
    /// there itself).
    pub async fn migrate(at: &StaffStoreAt) -> Result<Vec<u64>, StaffError> {
        StaffStore::migrate(at).await
    }

    /// Asks the realm's rules whether `by` may take `action` about the
    /// staff member `about` ("" for nobody); a refusal says why.
    pub fn allow(&self, by: &Session, action: RealmAction, about: &str) -> Result<(), StaffError> {
        let target = kizuna_policy::Target {
            about: about.to_string(),
            ..Default::default()
        };
        self.allow_on(by, action, &target)
    }

    /// The realm's rules' verdict on `by` taking `action` about `about`,
    /// for a caller that records a refusal itself.
    pub fn verdict(
        &self,
        by: &Session,
        action: RealmAction,
        about: &str,
    ) -> Result<kizuna_policy::Verdict, StaffError> {
        let target = kizuna_policy::Target {
            about: about.to_string(),
            ..Default::default()
        };
        self.rules
            .decide_on(action, &by.actor(), &target)
            .map_err(|e| StaffError::Storage(e.to_string()))
    }

    /// Asks the realm's rules whether `by` may take `action` on `target`.
    pub fn allow_on(
        &self,
        by: &Session,
        action: RealmAction,
        target: &kizuna_policy::Target,
    ) -> Result<(), StaffError> {
        let v = self
            .rules
            .decide_on(action, &by.actor(), target)
            .map_err(|e| StaffError::Storage(e.to_string()))?;
        if v.allowed {
            Ok(())
        } else {
            Err(StaffError::Forbidden(v.reasons.join("; ")))
        }
    }
}

#[cfg(test)]
mod tests;
