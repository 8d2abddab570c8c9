//! Logging in with a password and a TOTP code from an organisation's
//! networks, and checking the session token on every request.

use std::net::IpAddr;

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use argon2::Argon2;
use kizuna_wire::staff::{
    Org, StaffLogin, StaffMember, StaffSession, STAFF_TOKEN_PREFIX, USER_TOKEN_PREFIX,
};
use rand::RngCore;

use crate::credentials::totp;
use crate::members::networks;
use crate::{EventKind, Session, StaffError, StaffRealm};

/// How long a staff session lasts: a working block, not a standing login.
pub const SESSION_TTL_SECS: u64 = 8 * 3600;

/// Failed logins of one staff id within [`LOGIN_WINDOW_MS`] after which
/// the id may not log in until the window has passed: a password and a
/// 6-digit code are not left open to guessing.
pub const MAX_FAILED_LOGINS: u64 = 5;
pub const LOGIN_WINDOW_MS: u64 = 15 * 60 * 1000;

fn now_secs() -> u64 {
    kizuna_wire::now_ms() / 1000
}

impl StaffRealm {
    /// Password and TOTP, from a network of the staff member's organisation.
    /// Every attempt is an event; a failure does not say which part was wrong.
    pub async fn login(
        &self,
        req: &StaffLogin,
        source: IpAddr,
    ) -> Result<StaffSession, StaffError> {
        let failed =
            |reason: &str| serde_json::json!({ "source": source.to_string(), "reason": reason });
        let Some(stored) = self.store.member(&req.staff_id).await? else {
            self.record(
                EventKind::LoginFailed,
                None,
                None,
                failed("unknown staff id"),
            )
            .await?;
            return Err(StaffError::InvalidCredentials);
        };
        let m = &stored.member;
        let org =
            self.store.org(&m.org_id).await?.ok_or_else(|| {
                StaffError::Storage(format!("organisation {} is missing", m.org_id))
            })?;
        // From outside the organisation's networks nothing is checked: no
        // guess can be tried, or confirmed, from there, and such attempts
        // do not count towards locking the staff id.
        let nets = networks(&org.networks)?;
        if !nets.iter().any(|n| n.contains(&source)) {
            self.record(
                EventKind::LoginOutsideNetwork,
                Some(&m.staff_id),
                Some(&m.org_id),
                failed("not from the organisation's networks"),
            )
            .await?;
            return Err(StaffError::NetworkNotAllowed {
                org: org.org_id.clone(),
                from: source,
            });
        }
        let _one_at_a_time = self.login_gate.lock().await;
        let window = kizuna_wire::now_ms().saturating_sub(LOGIN_WINDOW_MS);
        if self
            .store
            .count_events(&m.staff_id, &[EventKind::LoginFailed], window)
            .await?
            >= MAX_FAILED_LOGINS
        {
            // Not even checked: a guess now tells the guesser nothing. Kept
            // apart from failures, so the lock ends when the window does.
            self.record(
                EventKind::LoginThrottled,
                Some(&m.staff_id),
                Some(&m.org_id),
                failed("too many failed logins"),
            )
            .await?;
            return Err(StaffError::TooManyFailedLogins {
                minutes: LOGIN_WINDOW_MS / 60_000,
            });
        }
        let ok_password = PasswordHash::new(&stored.password_hash)
            .ok()
            .is_some_and(|h| {
                Argon2::default()
                    .verify_password(req.password.as_bytes(), &h)
                    .is_ok()
            });
        let ok_totp = totp(&self.open_totp(&m.staff_id, &stored.totp_secret)?)?
            .check_current(req.totp.trim())
            .unwrap_or(false);
        if !ok_password || !ok_totp {
            let why = if ok_password {
                "wrong authenticator code"
            } else {
                "wrong password"
            };
            self.record(
                EventKind::LoginFailed,
                Some(&m.staff_id),
                Some(&m.org_id),
                failed(why),
            )
            .await?;
            return Err(StaffError::InvalidCredentials);
        }
        if let Err(e) = self.admissible(m, &org, source) {
            self.record(
                EventKind::LoginFailed,
                Some(&m.staff_id),
                Some(&m.org_id),
                failed(&e.to_string()),
            )
            .await?;
            return Err(e);
        }
        let mut id = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut id);
        let session_id = hex::encode(id);
        let now = now_secs();
        let exp = now + SESSION_TTL_SECS;
        // Recorded before the session exists: no session without its event.
        self.record(
            EventKind::Login,
            Some(&m.staff_id),
            Some(&m.org_id),
            serde_json::json!({ "source": source.to_string(), "session": session_id }),
        )
        .await?;
        self.store
            .insert_session(
                &session_id,
                &m.staff_id,
                &m.org_id,
                &source.to_string(),
                now,
                exp,
            )
            .await?;
        let tag = self.mac(&[session_id.as_bytes(), exp.to_string().as_bytes()]);
        Ok(StaffSession {
            token: format!(
                "{STAFF_TOKEN_PREFIX}.{session_id}.{exp}.{}",
                hex::encode(tag)
            ),
            expires_at: exp,
            staff_id: m.staff_id.clone(),
            org_id: m.org_id.clone(),
        })
    }

    fn admissible(&self, m: &StaffMember, org: &Org, source: IpAddr) -> Result<(), StaffError> {
        if org.suspended_at.is_some() {
            return Err(StaffError::Suspended(format!(
                "organisation {}",
                org.org_id
            )));
        }
        if m.suspended_at.is_some() {
            return Err(StaffError::Suspended(format!(
                "staff member {}",
                m.staff_id
            )));
        }
        let nets = networks(&org.networks)?;
        if !nets.iter().any(|n| n.contains(&source)) {
            return Err(StaffError::NetworkNotAllowed {
                org: org.org_id.clone(),
                from: source,
            });
        }
        Ok(())
    }

    /// Checks a session token on every request: its tag, its expiry, that
    /// it was not ended, that neither the member nor the organisation is
    /// suspended, and that the request comes from the organisation's
    /// networks.
    pub async fn authenticate(&self, token: &str, source: IpAddr) -> Result<Session, StaffError> {
        if token.starts_with(&format!("{USER_TOKEN_PREFIX}.")) {
            return Err(StaffError::WrongRealm);
        }
        let mut parts = token.split('.');
        let (Some(STAFF_TOKEN_PREFIX), Some(id), Some(exp), Some(tag), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(StaffError::InvalidSession("not a staff session token"));
        };
        let expect = self.mac(&[id.as_bytes(), exp.as_bytes()]);
        let tag = hex::decode(tag).map_err(|_| StaffError::InvalidSession("damaged token"))?;
        if tag.len() != expect.len()
            || tag.iter().zip(expect).fold(0u8, |a, (x, y)| a | (x ^ y)) != 0
        {
            return Err(StaffError::InvalidSession("the token was not issued here"));
        }
        let stored = self
            .store
            .session(id)
            .await?
            .ok_or(StaffError::InvalidSession("unknown session"))?;
        if stored.ended_at.is_some() {
            return Err(StaffError::InvalidSession("the session was ended"));
        }
        if now_secs() >= stored.expires_at {
            return Err(StaffError::SessionExpired);
        }
        let member = self
            .store
            .member(&stored.staff_id)
            .await?
            .ok_or(StaffError::InvalidSession(
                "the staff member no longer exists",
            ))?
            .member;
        let org = self
            .store
            .org(&stored.org_id)
            .await?
            .ok_or(StaffError::InvalidSession(
                "the organisation no longer exists",
            ))?;
        self.admissible(&member, &org, source)?;
        Ok(Session {
            session_id: stored.session_id,
            member,
            org,
            source,
        })
    }
}
