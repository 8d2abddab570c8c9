//! Logging in with a password and a TOTP code from an organisation's
//! networks, and checking the session token on every request.

use std::net::IpAddr;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use kizuna_wire::staff::{
    LoggedOut, Org, StaffLogin, StaffMember, StaffSession, STAFF_TOKEN_PREFIX, USER_TOKEN_PREFIX,
};
use rand::RngCore;

use crate::credentials::totp;
use crate::failed_logins::Failure;
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

/// A password hash nobody's password matches, checked when the staff id is
/// unknown or the attempt comes from outside its organisation's networks:
/// the same argon2 work as a real check, so the time taken does not tell
/// those apart from a wrong password.
fn unmatched_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        let mut unguessable = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut unguessable);
        Argon2::default()
            .hash_password(
                hex::encode(unguessable).as_bytes(),
                &SaltString::generate(&mut argon2::password_hash::rand_core::OsRng),
            )
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

fn password_matches(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).ok().is_some_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// The time step of `code` if it is the code of one of the steps the realm
/// accepts around `now` (one either side, for clocks a little apart).
fn totp_step(t: &totp_rs::TOTP, code: &str, now: u64) -> Option<u64> {
    let step = now / t.step;
    [step.saturating_sub(1), step, step + 1]
        .into_iter()
        .find(|s| {
            let expect = t.generate(s * t.step);
            expect.len() == code.len()
                && expect
                    .bytes()
                    .zip(code.bytes())
                    .fold(0u8, |a, (x, y)| a | (x ^ y))
                    == 0
        })
}

impl StaffRealm {
    /// Password and TOTP, from a network of the staff member's organisation.
    /// An unknown staff id, a known one from outside its organisation's
    /// networks and a wrong password or code get the same answer after the
    /// same work, so none of them tells a guesser which staff ids exist.
    /// Failures are counted and recorded one event per window
    /// (`failed_logins.rs`); a success is an event of its own, recorded
    /// before the session exists.
    pub async fn login(
        &self,
        req: &StaffLogin,
        source: IpAddr,
    ) -> Result<StaffSession, StaffError> {
        // Every attempt, whatever its outcome, waits its turn: attempts sent
        // together cannot all pass the failure count before any failure is
        // counted, and a refusal of one kind cannot come back sooner than
        // another.
        let _one_at_a_time = self.login_gate.lock().await;
        let stored = self.store.member(&req.staff_id).await?;
        let org = match &stored {
            Some(s) => Some(self.store.org(&s.member.org_id).await?.ok_or_else(|| {
                StaffError::Storage(format!("organisation {} is missing", s.member.org_id))
            })?),
            None => None,
        };
        let reachable = match &org {
            Some(org) => networks(&org.networks)?.iter().any(|n| n.contains(&source)),
            None => false,
        };
        let why = if stored.is_none() {
            Failure::UnknownStaffId
        } else {
            Failure::OutsideNetworks
        };
        let (Some(stored), Some(org), true) = (stored, org, reachable) else {
            // From outside the organisation's networks nothing is checked:
            // no guess can be tried, or confirmed, from there, and such
            // attempts do not count towards locking the staff id.
            let _ = password_matches(&req.password, unmatched_hash());
            self.failed_login(&req.staff_id, false, source, why).await?;
            return Err(StaffError::InvalidCredentials);
        };
        let m = &stored.member;
        if self
            .login_locked(&m.staff_id, kizuna_wire::now_ms())
            .await?
        {
            // Not even checked: a guess now tells the guesser nothing.
            self.failed_login(&m.staff_id, true, source, Failure::Locked)
                .await?;
            return Err(StaffError::TooManyFailedLogins {
                minutes: LOGIN_WINDOW_MS / 60_000,
            });
        }
        let ok_password = password_matches(&req.password, &stored.password_hash);
        let step = totp_step(
            &totp(&self.open_totp(&m.staff_id, &stored.totp_secret)?)?,
            req.totp.trim(),
            now_secs(),
        );
        let (true, Some(step)) = (ok_password, step) else {
            self.failed_login(&m.staff_id, true, source, Failure::WrongPasswordOrCode)
                .await?;
            return Err(StaffError::InvalidCredentials);
        };
        if let Err(e) = self.admissible(m, &org, source) {
            self.failed_login(&m.staff_id, true, source, Failure::Suspended)
                .await?;
            return Err(e);
        }
        // A code opens one session: one seen on a screen or in a log, or
        // sent again by whoever captured the request, is refused.
        if !self.store.spend_totp_step(&m.staff_id, step).await? {
            self.failed_login(&m.staff_id, true, source, Failure::CodeAlreadyUsed)
                .await?;
            return Err(StaffError::InvalidCredentials);
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

    /// Ends the session before its expiry: its token is refused from now
    /// on, wherever a copy of it is. Recorded first, as a login is, so the
    /// realm's events say when each session stopped being usable.
    pub async fn logout(&self, session: &Session) -> Result<LoggedOut, StaffError> {
        self.record(
            EventKind::Logout,
            Some(&session.member.staff_id),
            Some(&session.org.org_id),
            serde_json::json!({
                "source": session.source.to_string(),
                "session": session.session_id,
            }),
        )
        .await?;
        let ended_at = now_secs();
        if !self
            .store
            .end_session(&session.session_id, ended_at)
            .await?
        {
            // Ended meanwhile by a suspension or a second logout: either
            // way the token no longer opens anything.
            return Err(StaffError::InvalidSession("the session was ended"));
        }
        Ok(LoggedOut {
            staff_id: session.member.staff_id.clone(),
            ended_at,
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
