//! Moderators' restrictions and suspensions: kept in the node store, held in
//! memory so that every request and every message checks them for free.

use std::collections::HashMap;
use std::sync::RwLock;

use axum::http::StatusCode;
use kizuna_store::{Sanction, Store, StoreError};
use kizuna_wire::{utc, ErrorCode};

use crate::error::ApiError;

#[derive(Default)]
pub struct Sanctions {
    by_account: RwLock<HashMap<String, Sanction>>,
}

/// Paths a suspended account may still use: to read what was decided and
/// to appeal it.
const WHILE_SUSPENDED: &str = "/v1/me/moderation";

impl Sanctions {
    pub async fn load(store: &dyn Store) -> Result<Sanctions, StoreError> {
        Ok(Sanctions {
            by_account: RwLock::new(store.sanctions().await?.into_iter().collect()),
        })
    }

    fn current(&self, account_id: &str) -> Option<Sanction> {
        let m = match self.by_account.read() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        let s = *m.get(account_id)?;
        match s.until {
            Some(t) if t <= kizuna_wire::now_ms() => None,
            _ => Some(s),
        }
    }

    /// A suspended account's devices are refused everything but reading
    /// and appealing the decision.
    pub fn check_request(&self, account_id: &str, path: &str) -> Result<(), ApiError> {
        match self.current(account_id) {
            Some(s) if !s.sending_only && !path.starts_with(WHILE_SUSPENDED) => {
                Err(ApiError::forbidden(
                    ErrorCode::Suspended,
                    format!(
                        "this account is suspended {} by a moderator's decision; \
                         `kizuna me moderation` shows why and `kizuna me appeal` appeals it",
                        until(s.until)
                    ),
                ))
            }
            _ => Ok(()),
        }
    }

    /// A restricted (or suspended) account may not send.
    pub fn check_send(&self, account_id: &str) -> Result<(), ApiError> {
        match self.current(account_id) {
            Some(s) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
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

    /// Records a sanction (or lifts one) on disk, then here.
    pub async fn set(
        &self,
        store: &dyn Store,
        account_id: &str,
        sanction: Option<Sanction>,
    ) -> Result<(), StoreError> {
        store.set_sanction(account_id, sanction).await?;
        let mut m = match self.by_account.write() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        match sanction {
            Some(s) => m.insert(account_id.to_string(), s),
            None => m.remove(account_id),
        };
        Ok(())
    }
}

fn until(t: Option<u64>) -> String {
    match t {
        Some(t) => format!("until {}", utc(t)),
        None => "until a moderator lifts it".into(),
    }
}
