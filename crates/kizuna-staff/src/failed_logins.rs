//! Failed logins, counted in memory and recorded one event per window: a
//! flood of wrong guesses costs the ledger one entry a minute, not one
//! each, and still says how many there were, which staff ids were tried and
//! from where. The failures of each known staff id are kept apart, for the
//! lock after [`MAX_FAILED_LOGINS`].

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use crate::login::{LOGIN_WINDOW_MS, MAX_FAILED_LOGINS};
use crate::{EventKind, StaffError, StaffRealm};

/// How long failures are counted before they are recorded as one event.
pub const FAILED_LOGIN_WINDOW_MS: u64 = 60_000;

/// Distinct staff ids, and addresses, one window's event names; past these,
/// further ones are only counted, so a flood of made-up ids cannot make one
/// event grow without bound.
pub const FAILED_LOGIN_NAMES: usize = 64;

/// The longest staff id a window's event names in full: an id is whatever
/// the attempt sent, and a long one is cut rather than written whole.
const NAMED_ID_CHARS: usize = 64;

/// Why an attempt failed, as the window's event counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Failure {
    UnknownStaffId,
    OutsideNetworks,
    WrongPasswordOrCode,
    CodeAlreadyUsed,
    Locked,
    Suspended,
}

impl Failure {
    fn as_str(self) -> &'static str {
        match self {
            Failure::UnknownStaffId => "unknown staff id",
            Failure::OutsideNetworks => "not from the organisation's networks",
            Failure::WrongPasswordOrCode => "wrong password or authenticator code",
            Failure::CodeAlreadyUsed => "authenticator code already used",
            Failure::Locked => "too many failed logins",
            Failure::Suspended => "suspended",
        }
    }

    /// Whether it counts towards locking the staff id: only a guess that
    /// was checked. From outside the networks nothing is checked, and a
    /// locked id is not checked either, so the lock ends with its window.
    fn counts_towards_lock(self) -> bool {
        matches!(
            self,
            Failure::WrongPasswordOrCode | Failure::CodeAlreadyUsed
        )
    }
}

/// One window's failures.
#[derive(Default)]
struct Window {
    opened_at: u64,
    count: u64,
    reasons: BTreeMap<Failure, u64>,
    staff_ids: BTreeMap<String, u64>,
    other_staff_ids: u64,
    sources: BTreeMap<IpAddr, u64>,
    other_sources: u64,
    /// When each known staff id's checked guesses failed (the ones that
    /// count towards its lock), so a restart can rebuild the lock from the
    /// recorded windows. Bounded like the lock itself: the staff, and
    /// [`MAX_FAILED_LOGINS`] times each.
    checked: BTreeMap<String, Vec<u64>>,
}

fn tally<K: Ord>(names: &mut BTreeMap<K, u64>, others: &mut u64, key: K, n: u64) {
    if let Some(c) = names.get_mut(&key) {
        *c += n;
    } else if names.len() < FAILED_LOGIN_NAMES {
        names.insert(key, n);
    } else {
        *others += n;
    }
}

impl Window {
    fn add(&mut self, staff_id: &str, source: IpAddr, why: Failure, checked_at: Option<u64>) {
        if let Some(at) = checked_at {
            let times = self.checked.entry(staff_id.to_string()).or_default();
            times.push(at);
            let excess = times.len().saturating_sub(MAX_FAILED_LOGINS as usize);
            times.drain(..excess);
        }
        self.count += 1;
        *self.reasons.entry(why).or_default() += 1;
        let named: String = staff_id.chars().take(NAMED_ID_CHARS).collect();
        tally(&mut self.staff_ids, &mut self.other_staff_ids, named, 1);
        tally(&mut self.sources, &mut self.other_sources, source, 1);
    }

    /// Puts back what a window that could not be recorded counted.
    fn merge(&mut self, w: Window) {
        self.opened_at = self.opened_at.min(w.opened_at);
        self.count += w.count;
        for (k, n) in w.reasons {
            *self.reasons.entry(k).or_default() += n;
        }
        for (k, n) in w.staff_ids {
            tally(&mut self.staff_ids, &mut self.other_staff_ids, k, n);
        }
        self.other_staff_ids += w.other_staff_ids;
        for (k, n) in w.sources {
            tally(&mut self.sources, &mut self.other_sources, k, n);
        }
        self.other_sources += w.other_sources;
        for (k, times) in w.checked {
            let mine = self.checked.entry(k).or_default();
            mine.extend(times);
            mine.sort_unstable();
            let excess = mine.len().saturating_sub(MAX_FAILED_LOGINS as usize);
            mine.drain(..excess);
        }
    }

    fn detail(&self, closed_at: u64) -> serde_json::Value {
        serde_json::json!({
            "from": self.opened_at,
            "until": closed_at,
            "count": self.count,
            "reasons": self.reasons.iter().map(|(k, n)| (k.as_str(), n)).collect::<BTreeMap<_, _>>(),
            "staff_ids": self.staff_ids,
            "other_staff_ids": self.other_staff_ids,
            "sources": self.sources.iter().map(|(k, n)| (k.to_string(), n)).collect::<BTreeMap<_, _>>(),
            "other_sources": self.other_sources,
            "checked_failures": self.checked,
        })
    }
}

#[derive(Default)]
struct Tally {
    window: Option<Window>,
    /// When each known staff id's checked guesses failed, within
    /// [`LOGIN_WINDOW_MS`]; at most [`MAX_FAILED_LOGINS`] each, and only
    /// for ids that exist, so it is bounded by the staff.
    recent: HashMap<String, Vec<u64>>,
}

#[derive(Default)]
pub(crate) struct FailedLogins {
    tally: Mutex<Tally>,
}

impl FailedLogins {
    fn tally(&self) -> std::sync::MutexGuard<'_, Tally> {
        match self.tally.lock() {
            Ok(t) => t,
            Err(p) => p.into_inner(),
        }
    }

    /// Whether the known staff id failed too often within the lock window,
    /// as this node counted.
    fn locked(&self, staff_id: &str, now: u64) -> bool {
        let since = now.saturating_sub(LOGIN_WINDOW_MS);
        self.tally().recent.get(staff_id).is_some_and(|t| {
            t.iter().filter(|at| **at >= since).count() as u64 >= MAX_FAILED_LOGINS
        })
    }
}

impl StaffRealm {
    /// Whether the known staff id failed too often within the lock window:
    /// as this node counted, or as the store holds the failures of every
    /// node that shares it, so spreading guesses over nodes gains nothing.
    pub(crate) async fn login_locked(&self, staff_id: &str, now: u64) -> Result<bool, StaffError> {
        if self.failed_logins.locked(staff_id, now) {
            return Ok(true);
        }
        let since = now.saturating_sub(LOGIN_WINDOW_MS);
        Ok(self.store.login_failures(staff_id, since).await? >= MAX_FAILED_LOGINS)
    }

    /// Counts one failed login; `known` says whether the staff id exists.
    /// Records the window first if it has closed, and at once when this
    /// failure locks the staff id, so the lock is never in force before the
    /// failures that caused it are in the ledger.
    pub(crate) async fn failed_login(
        &self,
        staff_id: &str,
        known: bool,
        source: IpAddr,
        why: Failure,
    ) -> Result<(), StaffError> {
        let now = kizuna_wire::now_ms();
        let (closed, locks) = {
            let mut t = self.failed_logins.tally();
            let closed = t
                .window
                .take_if(|w| now.saturating_sub(w.opened_at) >= FAILED_LOGIN_WINDOW_MS);
            let counts = known && why.counts_towards_lock();
            t.window
                .get_or_insert_with(|| Window {
                    opened_at: now,
                    ..Default::default()
                })
                .add(staff_id, source, why, counts.then_some(now));
            let mut locks = false;
            if counts {
                let since = now.saturating_sub(LOGIN_WINDOW_MS);
                let times = t.recent.entry(staff_id.to_string()).or_default();
                times.retain(|at| *at >= since);
                times.push(now);
                locks = times.len() as u64 >= MAX_FAILED_LOGINS;
            }
            (closed, locks)
        };
        let locks = if known && why.counts_towards_lock() {
            let since = now.saturating_sub(LOGIN_WINDOW_MS);
            let counted = self
                .store
                .note_login_failure(staff_id, now, since, since)
                .await?;
            locks || counted >= MAX_FAILED_LOGINS
        } else {
            locks
        };
        if let Some(w) = closed {
            self.record_window(w, now).await?;
        }
        if locks {
            self.record_failed_logins().await?;
        }
        Ok(())
    }

    /// Rebuilds the locks in force from the failure windows recorded within
    /// the lock window: a restart must not give a guesser a fresh count.
    pub(crate) async fn restore_login_locks(&self) -> Result<(), StaffError> {
        let now = kizuna_wire::now_ms();
        let since = now.saturating_sub(LOGIN_WINDOW_MS);
        // A window is recorded when it closes, up to a window after its
        // failures: read back far enough to see every failure since `since`.
        let details = self
            .store
            .details_since(EventKind::LoginFailures, since)
            .await?;
        let mut t = self.failed_logins.tally();
        for d in details {
            let Some(checked) = d.get("checked_failures").and_then(|c| c.as_object()) else {
                continue;
            };
            for (id, times) in checked {
                let recent = t.recent.entry(id.clone()).or_default();
                recent.extend(
                    times
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|v| v.as_u64())
                        .filter(|at| *at >= since),
                );
                recent.sort_unstable();
                recent.dedup();
            }
        }
        Ok(())
    }

    /// Records the failed logins counted so far as one event, whatever the
    /// window's age: at shutdown, and before a lock takes effect.
    pub async fn record_failed_logins(&self) -> Result<(), StaffError> {
        let w = self.failed_logins.tally().window.take();
        match w {
            Some(w) => self.record_window(w, kizuna_wire::now_ms()).await,
            None => Ok(()),
        }
    }

    /// Records the window of failed logins if it has closed; what the
    /// periodic task calls, so a window is recorded even when no attempt
    /// follows it.
    pub async fn record_closed_failed_logins(&self) -> Result<(), StaffError> {
        let now = kizuna_wire::now_ms();
        let w = self
            .failed_logins
            .tally()
            .window
            .take_if(|w| now.saturating_sub(w.opened_at) >= FAILED_LOGIN_WINDOW_MS);
        match w {
            Some(w) => self.record_window(w, now).await,
            None => Ok(()),
        }
    }

    async fn record_window(&self, w: Window, now: u64) -> Result<(), StaffError> {
        match self
            .record(EventKind::LoginFailures, None, None, w.detail(now))
            .await
        {
            Ok(()) => Ok(()),
            Err(e) => {
                // Kept to be recorded with the next window: failures are
                // never dropped because the ledger was away for a moment.
                let mut t = self.failed_logins.tally();
                match t.window.as_mut() {
                    Some(current) => current.merge(w),
                    None => t.window = Some(w),
                }
                Err(e)
            }
        }
    }
}

/// Records each window of failed logins once it closes, until `shutdown`.
pub async fn record_failed_logins_every_window(
    realm: std::sync::Arc<StaffRealm>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let every = Duration::from_millis(FAILED_LOGIN_WINDOW_MS / 4);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.wait_for(|v| *v) => return,
        }
        if let Err(e) = realm.record_closed_failed_logins().await {
            tracing::error!(error = %e, "failed logins could not be recorded; trying again");
        }
    }
}
