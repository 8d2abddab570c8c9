//! Moderators' restrictions and suspensions: kept in the node store, held in
//! memory so that every request and every message checks them for free.

use std::collections::HashMap;
use std::sync::RwLock;

use kizuna_store::{Sanction, Store, StoreError};
use kizuna_wire::{utc, ErrorCode};

use crate::error::NodeError;

/// Each account's sanctions, by the report whose decision set it.
type ByAccount = HashMap<String, HashMap<String, Sanction>>;

#[derive(Default)]
pub struct Sanctions {
    by_account: RwLock<ByAccount>,
}

/// What a request reaches, as far as a suspension cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// The person's own data (to see it, take it with them or erase it)
    /// and the decision (to read and appeal it): open while suspended.
    OwnData,
    /// Everything else the service does.
    Service,
}

impl Sanctions {
    pub async fn load(store: &dyn Store) -> Result<Sanctions, StoreError> {
        let mut by_account = ByAccount::new();
        for (account, report, s) in store.sanctions().await? {
            by_account.entry(account).or_default().insert(report, s);
        }
        Ok(Sanctions {
            by_account: RwLock::new(by_account),
        })
    }

    /// Reads every sanction from the store again: another node decided one.
    pub async fn reload(&self, store: &dyn Store) -> Result<(), StoreError> {
        let fresh = Self::load(store).await?;
        let fresh = match fresh.by_account.into_inner() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        match self.by_account.write() {
            Ok(mut m) => *m = fresh,
            Err(p) => *p.into_inner() = fresh,
        }
        Ok(())
    }

    /// What holds now: a suspension over a restriction, the later end over
    /// the earlier (no end over any).
    fn current(&self, account_id: &str) -> Option<Sanction> {
        let m = match self.by_account.read() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        let now = kizuna_wire::now_ms();
        m.get(account_id)?
            .values()
            .filter(|s| s.until.is_none_or(|t| t > now))
            .copied()
            .max_by_key(|s| (!s.sending_only, s.until.is_none(), s.until))
    }

    /// A suspended account's devices are refused everything but reading
    /// and appealing the decision.
    pub fn check_request(&self, account_id: &str, reach: Reach) -> Result<(), NodeError> {
        match self.current(account_id) {
            Some(s) if !s.sending_only && reach == Reach::Service => Err(NodeError::forbidden(
                ErrorCode::Suspended,
                format!(
                    "this account is suspended {} by a moderator's decision; \
                         `kizuna me moderation` shows why and `kizuna me appeal` appeals it \
                         (your own data stays yours to see, export or erase)",
                    until(s.until)
                ),
            )),
            _ => Ok(()),
        }
    }

    /// A restricted (or suspended) account may not send.
    pub fn check_send(&self, account_id: &str) -> Result<(), NodeError> {
        match self.current(account_id) {
            Some(s) => Err(NodeError::forbidden(
                ErrorCode::SendingRestricted,
                format!(
                    "this account may not send messages {} by a moderator's decision; \
                     `kizuna me moderation` shows why and `kizuna me appeal` appeals it",
                    until(s.until)
                ),
            )),
            None => Ok(()),
        }
    }

    /// Whether a report's decision holds a sanction in force: its report is
    /// kept as long as that lasts, the record it can be appealed against.
    pub fn in_force_for_report(&self, report_id: &str) -> bool {
        let m = match self.by_account.read() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        let now = kizuna_wire::now_ms();
        m.values().any(|r| {
            r.get(report_id)
                .is_some_and(|s| s.until.is_none_or(|t| t > now))
        })
    }

    /// Lifts what these reports' decisions set: a sanction does not outlive
    /// the report it rests on (gone with its reporter's account).
    pub async fn lift_reports(
        &self,
        store: &dyn Store,
        report_ids: &[String],
    ) -> Result<(), StoreError> {
        store.lift_sanctions_of_reports(report_ids).await?;
        let mut m = match self.by_account.write() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        for r in m.values_mut() {
            r.retain(|id, _| !report_ids.contains(id));
        }
        m.retain(|_, r| !r.is_empty());
        Ok(())
    }

    /// Records the sanction a report's decision sets (or lifts, for `None`)
    /// on disk, then here.
    pub async fn set(
        &self,
        store: &dyn Store,
        account_id: &str,
        report_id: &str,
        sanction: Option<Sanction>,
    ) -> Result<(), StoreError> {
        store.set_sanction(account_id, report_id, sanction).await?;
        let mut m = match self.by_account.write() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        match sanction {
            Some(s) => {
                m.entry(account_id.to_string())
                    .or_default()
                    .insert(report_id.to_string(), s);
            }
            None => {
                if let Some(r) = m.get_mut(account_id) {
                    r.remove(report_id);
                    if r.is_empty() {
                        m.remove(account_id);
                    }
                }
            }
        }
        Ok(())
    }
}

fn until(t: Option<u64>) -> String {
    match t {
        Some(t) => format!("until {}", utc(t)),
        None => "until a moderator lifts it".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(entries: &[(&str, Sanction)]) -> Sanctions {
        let s = Sanctions::default();
        if let Ok(mut m) = s.by_account.write() {
            let r = m.entry("a".into()).or_default();
            for (report, x) in entries {
                r.insert(report.to_string(), *x);
            }
        }
        s
    }

    #[test]
    fn the_strongest_sanction_in_force_holds() {
        let now = kizuna_wire::now_ms();
        let restrict = Sanction {
            sending_only: true,
            until: None,
        };
        let ended = Sanction {
            sending_only: false,
            until: Some(now - 1),
        };
        let suspend = Sanction {
            sending_only: false,
            until: Some(now + 60_000),
        };
        assert_eq!(
            with(&[("r1", restrict), ("r2", ended)]).current("a"),
            Some(restrict)
        );
        assert_eq!(
            with(&[("r1", restrict), ("r2", suspend)]).current("a"),
            Some(suspend)
        );
        assert_eq!(with(&[("r2", ended)]).current("a"), None);
        let s = with(&[("r1", restrict), ("r2", suspend)]);
        assert!(s.check_request("a", Reach::Service).is_err());
        assert!(s.check_request("a", Reach::OwnData).is_ok());
        assert!(s.check_send("b").is_ok());
    }
}
