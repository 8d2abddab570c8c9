//! The staff realm: organisations and their staff, login with an argon2id
//! password and a TOTP code, and short-lived sessions bound to the
//! organisation's networks — with its own store, its own token key and its
//! own listener, sharing nothing with the user realm.

mod store;

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use hmac::{Hmac, Mac};
use kizuna_policy::RealmAction;
use kizuna_wire::staff::*;
use rand::{Rng, RngCore};
use sha2::Sha256;

pub use store::{Event, EventKind};
use store::{StaffStore, StoredMember};

/// How long a staff session lasts: a working block, not a standing login.
pub const SESSION_TTL_SECS: u64 = 8 * 3600;

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
    #[error("{0}")]
    LedgerUnavailable(String),
    #[error("too many failed logins for this staff id; try again in {minutes} minutes")]
    TooManyFailedLogins { minutes: u64 },
}

/// Failed logins of one staff id within [`LOGIN_WINDOW_MS`] after which
/// the id may not log in until the window has passed: a password and a
/// 6-digit code are not left open to guessing.
pub const MAX_FAILED_LOGINS: u64 = 5;
pub const LOGIN_WINDOW_MS: u64 = 15 * 60 * 1000;

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
    /// all pass the failure count before any failure is recorded.
    login_gate: tokio::sync::Mutex<()>,
}

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

fn now_secs() -> u64 {
    kizuna_wire::now_ms() / 1000
}

fn random_text(n: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    (0..n)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// How a TOTP secret is kept in the staff store: sealed under a key derived
/// from the staff realm's own key and bound to the staff id, so a copy of the
/// store (a backup, a stray file) is not enough to mint login codes, and a
/// sealed secret moved to another member's row does not open.
const SEALED_TOTP: &str = "x1:";

fn totp(secret_b32: &str) -> Result<totp_rs::TOTP, StaffError> {
    let bytes = totp_rs::Secret::Encoded(secret_b32.to_string())
        .to_bytes()
        .map_err(|_| StaffError::Storage("a stored TOTP secret is damaged".into()))?;
    totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 1, 30, bytes)
        .map_err(|e| StaffError::Storage(format!("a stored TOTP secret is unusable: {e}")))
}

fn valid_id(id: &str) -> bool {
    (3..=32).contains(&id.len())
        && id.as_bytes()[0].is_ascii_lowercase()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

fn networks(list: &[String]) -> Result<Vec<ipnet::IpNet>, StaffError> {
    list.iter()
        .map(|n| {
            n.parse::<ipnet::IpNet>().map_err(|_| {
                StaffError::Invalid(format!(
                    "'{n}' is not a network in CIDR form like 10.0.0.0/8"
                ))
            })
        })
        .collect()
}

impl StaffRealm {
    /// Opens the staff store at `store_path`; `key` signs staff sessions and
    /// is the staff realm's alone; every event goes into `ledger` first.
    pub async fn open(
        store_path: &Path,
        key: [u8; 32],
        ledger: Arc<kizuna_ledger::Ledger>,
    ) -> Result<StaffRealm, StaffError> {
        let realm = StaffRealm {
            store: StaffStore::open(store_path).await?,
            key,
            rules: kizuna_policy::RealmPolicy::builtin()
                .map_err(|e| StaffError::Storage(e.to_string()))?,
            ledger: Some(ledger),
            login_gate: Default::default(),
        };
        realm.seal_stored_totps().await?;
        realm.settle_pending().await?;
        Ok(realm)
    }

    /// Opens the staff store only to check its ledger entries.
    pub async fn open_for_audit(store_path: &Path) -> Result<StaffRealm, StaffError> {
        Ok(StaffRealm {
            store: StaffStore::open(store_path).await?,
            key: [0; 32],
            rules: kizuna_policy::RealmPolicy::builtin()
                .map_err(|e| StaffError::Storage(e.to_string()))?,
            ledger: None,
            login_gate: Default::default(),
        })
    }

    fn ledger(&self) -> Result<&Arc<kizuna_ledger::Ledger>, StaffError> {
        self.ledger.as_ref().ok_or_else(|| {
            StaffError::LedgerUnavailable("the staff realm was opened for an audit only".into())
        })
    }

    /// Settles events a crash left between their write and their ledger
    /// index, as the vault does its records.
    async fn settle_pending(&self) -> Result<(), StaffError> {
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

    pub async fn close(&self) {
        self.store.close().await;
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

    async fn append(&self, e: &Event) -> Result<(), StaffError> {
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

    fn credentials(staff_id: &str) -> Result<(String, String, String), StaffError> {
        let password = random_text(20);
        let hash = Argon2::default()
            .hash_password(password.as_bytes(), &SaltString::generate(&mut OsRng))
            .map_err(|e| StaffError::Storage(format!("cannot hash a password: {e}")))?
            .to_string();
        let mut secret = [0u8; 20];
        rand::thread_rng().fill_bytes(&mut secret);
        let b32 = totp_rs::Secret::Raw(secret.to_vec())
            .to_encoded()
            .to_string();
        let _ = staff_id;
        Ok((password, hash, b32))
    }

    fn shown(staff_id: &str, password: String, b32: String) -> StaffCredentials {
        StaffCredentials {
            staff_id: staff_id.to_string(),
            totp_uri: format!(
                "otpauth://totp/Kizuna%20staff:{staff_id}?secret={b32}&issuer=Kizuna%20staff&digits=6&period=30"
            ),
            password,
            totp_secret: b32,
        }
    }

    /// Creates the operator organisation and its first admin, once. Runs
    /// offline on the node's machine; the credentials are shown only here.
    pub async fn bootstrap(
        &self,
        staff_id: &str,
        country: &str,
        nets: Vec<String>,
        regions: Vec<String>,
    ) -> Result<StaffCredentials, StaffError> {
        if self.store.has_staff().await? {
            return Err(StaffError::Exists(
                "a staff member (bootstrap runs only on an empty staff realm)".into(),
            ));
        }
        if !valid_id(staff_id) {
            return Err(StaffError::Invalid(
                "a staff id is 3-32 lowercase letters, digits, '-' or '.', starting with a letter"
                    .into(),
            ));
        }
        networks(&nets)?;
        let org = Org {
            org_id: "operator".into(),
            kind: OrgKind::Operator,
            country: country.to_string(),
            networks: nets,
            // The operator may be granted anything the policy allows; its
            // staff still need a grant, approved by another, for each access.
            scope: OrgScope {
                regions,
                purposes: Purpose::ALL.iter().map(|p| p.code().to_string()).collect(),
                fields: PERSONAL_FIELDS.iter().map(|f| f.to_string()).collect(),
            },
            suspended_at: None,
        };
        if self.store.org("operator").await?.is_none() {
            self.store.insert_org(&org).await?;
        }
        let (password, hash, b32) = Self::credentials(staff_id)?;
        self.store
            .insert_member(&StoredMember {
                member: StaffMember {
                    staff_id: staff_id.to_string(),
                    org_id: "operator".into(),
                    roles: vec![Role::Admin, Role::Approver, Role::Security],
                    suspended_at: None,
                    created_at: kizuna_wire::now_ms(),
                },
                password_hash: hash,
                totp_secret: self.seal_totp(staff_id, &b32)?,
            })
            .await?;
        self.record(
            EventKind::Bootstrap,
            Some(staff_id),
            Some("operator"),
            serde_json::json!({}),
        )
        .await?;
        Ok(Self::shown(staff_id, password, b32))
    }

    fn totp_cipher(&self) -> chacha20poly1305::XChaCha20Poly1305 {
        use chacha20poly1305::KeyInit;
        let key = self.mac(&[b"totp-seal"]);
        chacha20poly1305::XChaCha20Poly1305::new(&key.into())
    }

    fn seal_totp(&self, staff_id: &str, b32: &str) -> Result<String, StaffError> {
        use chacha20poly1305::aead::{Aead, Payload};
        let mut nonce = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut nonce);
        let sealed = self
            .totp_cipher()
            .encrypt(
                &nonce.into(),
                Payload {
                    msg: b32.as_bytes(),
                    aad: staff_id.as_bytes(),
                },
            )
            .map_err(|_| StaffError::Storage("cannot seal a TOTP secret".into()))?;
        Ok(format!(
            "{SEALED_TOTP}{}{}",
            hex::encode(nonce),
            hex::encode(sealed)
        ))
    }

    fn open_totp(&self, staff_id: &str, stored: &str) -> Result<String, StaffError> {
        use chacha20poly1305::aead::{Aead, Payload};
        let damaged = || {
            StaffError::Storage(format!(
                "the TOTP secret of {staff_id} does not open with this node's staff key"
            ))
        };
        let raw = stored
            .strip_prefix(SEALED_TOTP)
            .and_then(|h| hex::decode(h).ok())
            .filter(|b| b.len() > 24)
            .ok_or_else(damaged)?;
        let (nonce, sealed) = raw.split_at(24);
        let plain = self
            .totp_cipher()
            .decrypt(
                nonce.into(),
                Payload {
                    msg: sealed,
                    aad: staff_id.as_bytes(),
                },
            )
            .map_err(|_| damaged())?;
        String::from_utf8(plain).map_err(|_| damaged())
    }

    /// Seals TOTP secrets a store written before they were sealed still
    /// holds in the clear; a no-op once done.
    async fn seal_stored_totps(&self) -> Result<(), StaffError> {
        for (staff_id, stored) in self.store.totp_secrets().await? {
            if !stored.starts_with(SEALED_TOTP) {
                let sealed = self.seal_totp(&staff_id, &stored)?;
                self.store.set_totp_secret(&staff_id, &sealed).await?;
            }
        }
        Ok(())
    }

    fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        m.update(b"kizuna-staff-session-v1");
        for p in parts {
            m.update(&(p.len() as u32).to_be_bytes());
            m.update(p);
        }
        m.finalize().into_bytes().into()
    }

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

    pub async fn add_org(&self, by: &Session, org: Org) -> Result<Org, StaffError> {
        self.allow(by, RealmAction::ManageOrgs, "")?;
        if !valid_id(&org.org_id) {
            return Err(StaffError::Invalid(
                "an organisation id is 3-32 lowercase letters, digits, '-' or '.'".into(),
            ));
        }
        if org.country.len() != 2 || !org.country.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(StaffError::Invalid(format!(
                "country '{}' is not an ISO 3166-1 alpha-2 code like \"JP\"",
                org.country
            )));
        }
        if org.networks.is_empty() {
            return Err(StaffError::Invalid(
                "an organisation needs at least one network its staff connect from".into(),
            ));
        }
        networks(&org.networks)?;
        let org = Org {
            suspended_at: None,
            ..org
        };
        self.record(
            EventKind::OrgAdded,
            Some(&by.member.staff_id),
            Some(&org.org_id),
            serde_json::to_value(&org).unwrap_or_default(),
        )
        .await?;
        self.store.insert_org(&org).await?;
        Ok(org)
    }

    pub async fn suspend_org(&self, by: &Session, org_id: &str) -> Result<Suspended, StaffError> {
        self.allow(by, RealmAction::ManageOrgs, "")?;
        if org_id == by.org.org_id {
            return Err(StaffError::Forbidden(
                "an organisation cannot suspend itself; suspend its members instead".into(),
            ));
        }
        if self.store.org(org_id).await?.is_none() {
            return Err(StaffError::NotFound(format!("organisation {org_id}")));
        }
        self.record(
            EventKind::OrgSuspended,
            Some(&by.member.staff_id),
            Some(org_id),
            serde_json::json!({}),
        )
        .await?;
        let ended = self
            .store
            .suspend_org(org_id, kizuna_wire::now_ms())
            .await?;
        Ok(Suspended {
            id: org_id.to_string(),
            sessions_ended: ended,
        })
    }

    pub async fn orgs(&self, by: &Session) -> Result<Vec<Org>, StaffError> {
        self.allow(by, RealmAction::ManageOrgs, "")?;
        self.store.orgs().await
    }

    pub async fn add_member(
        &self,
        by: &Session,
        new: &NewStaffMember,
    ) -> Result<StaffCredentials, StaffError> {
        self.allow(by, RealmAction::ManageStaff, "")?;
        if !valid_id(&new.staff_id) {
            return Err(StaffError::Invalid(
                "a staff id is 3-32 lowercase letters, digits, '-' or '.', starting with a letter"
                    .into(),
            ));
        }
        if new.roles.is_empty() {
            return Err(StaffError::Invalid(
                "a staff member needs at least one role".into(),
            ));
        }
        let org = self
            .store
            .org(&new.org_id)
            .await?
            .ok_or_else(|| StaffError::NotFound(format!("organisation {}", new.org_id)))?;
        if org.suspended_at.is_some() {
            return Err(StaffError::Suspended(format!(
                "organisation {}",
                org.org_id
            )));
        }
        if org.kind != OrgKind::Operator && new.roles.contains(&Role::Admin) {
            return Err(StaffError::Forbidden(
                "only the operator's staff can be admins".into(),
            ));
        }
        if self.store.member(&new.staff_id).await?.is_some() {
            return Err(StaffError::Exists(format!("staff member {}", new.staff_id)));
        }
        let (password, hash, b32) = Self::credentials(&new.staff_id)?;
        self.record(
            EventKind::StaffAdded,
            Some(&new.staff_id),
            Some(&new.org_id),
            serde_json::json!({ "by": by.member.staff_id, "roles": new.roles }),
        )
        .await?;
        self.store
            .insert_member(&StoredMember {
                member: StaffMember {
                    staff_id: new.staff_id.clone(),
                    org_id: new.org_id.clone(),
                    roles: new.roles.clone(),
                    suspended_at: None,
                    created_at: kizuna_wire::now_ms(),
                },
                password_hash: hash,
                totp_secret: self.seal_totp(&new.staff_id, &b32)?,
            })
            .await?;
        Ok(Self::shown(&new.staff_id, password, b32))
    }

    pub async fn suspend_member(
        &self,
        by: &Session,
        staff_id: &str,
    ) -> Result<Suspended, StaffError> {
        self.allow(by, RealmAction::ManageStaff, staff_id)?;
        let m = self
            .store
            .member(staff_id)
            .await?
            .ok_or_else(|| StaffError::NotFound(format!("staff member {staff_id}")))?;
        self.record(
            EventKind::StaffSuspended,
            Some(staff_id),
            Some(&m.member.org_id),
            serde_json::json!({ "by": by.member.staff_id }),
        )
        .await?;
        let ended = self
            .store
            .suspend_member(staff_id, kizuna_wire::now_ms())
            .await?;
        Ok(Suspended {
            id: staff_id.to_string(),
            sessions_ended: ended,
        })
    }

    pub async fn members(&self, by: &Session) -> Result<Vec<StaffMember>, StaffError> {
        self.allow(by, RealmAction::ManageStaff, "")?;
        self.store.members().await
    }
}

impl StaffRealm {
    pub async fn insert_grant(&self, g: &Grant) -> Result<(), StaffError> {
        self.store.insert_grant(g).await
    }

    pub async fn grant(&self, grant_id: &str) -> Result<Grant, StaffError> {
        self.store
            .grant(grant_id)
            .await?
            .ok_or_else(|| StaffError::NotFound(format!("grant {grant_id}")))
    }

    /// Changes a grant if it is still in state `from`; otherwise says what
    /// it became meanwhile.
    pub async fn update_grant(&self, g: &Grant, from: GrantState) -> Result<(), StaffError> {
        if self.store.update_grant(g, from).await? {
            Ok(())
        } else {
            Err(StaffError::Invalid(format!(
                "grant {} changed meanwhile; look at it again",
                g.grant_id
            )))
        }
    }

    /// My grants; an approver, security or admin of the operator sees all.
    pub async fn grants(&self, by: &Session) -> Result<Vec<Grant>, StaffError> {
        let sees_all = by.org.kind == OrgKind::Operator
            && by
                .member
                .roles
                .iter()
                .any(|r| matches!(r, Role::Approver | Role::Security | Role::Admin));
        let now = kizuna_wire::now_ms();
        let mut gs = self
            .store
            .grants(if sees_all {
                None
            } else {
                Some(&by.member.staff_id)
            })
            .await?;
        for g in &mut gs {
            if g.state == GrantState::Approved && !g.live(now) {
                g.state = GrantState::Expired;
            }
        }
        Ok(gs)
    }

    /// Open grants that name a person.
    pub async fn grants_naming(&self, handle: &str) -> Result<Vec<Grant>, StaffError> {
        self.store.grants_naming(handle).await
    }

    /// A staff member and their organisation, for decisions about their
    /// grants when they are not the one asking.
    pub async fn member_and_org(&self, staff_id: &str) -> Result<(StaffMember, Org), StaffError> {
        let m = self
            .store
            .member(staff_id)
            .await?
            .ok_or_else(|| StaffError::NotFound(format!("staff member {staff_id}")))?
            .member;
        let o = self
            .store
            .org(&m.org_id)
            .await?
            .ok_or_else(|| StaffError::NotFound(format!("organisation {}", m.org_id)))?;
        Ok((m, o))
    }

    /// Live grants of a staff member that cover a person.
    pub async fn live_grants_for(
        &self,
        staff_id: &str,
        subject: &str,
    ) -> Result<Vec<Grant>, StaffError> {
        self.live_grants(staff_id, |g| g.subjects.iter().any(|s| s == subject))
            .await
    }

    /// Live grants of a staff member over abuse reports, and the regions
    /// each opens.
    pub async fn live_report_grants(&self, staff_id: &str) -> Result<Vec<Grant>, StaffError> {
        self.live_grants(staff_id, |g| g.fields.iter().any(|f| f == REPORTS_FIELD))
            .await
    }

    async fn live_grants(
        &self,
        staff_id: &str,
        covers: impl Fn(&Grant) -> bool,
    ) -> Result<Vec<Grant>, StaffError> {
        let now = kizuna_wire::now_ms();
        Ok(self
            .store
            .grants(Some(staff_id))
            .await?
            .into_iter()
            .filter(|g| g.live(now) && covers(g))
            .collect())
    }
}

/// When one staff member's behaviour raises an alert and suspends them.
#[derive(Clone, Copy, Debug)]
pub struct AnomalyLimits {
    /// Refusals (of requests, approvals, reads) within an hour.
    pub denials_per_hour: u64,
    /// Different people read within an hour.
    pub people_per_hour: u64,
}

impl Default for AnomalyLimits {
    fn default() -> Self {
        AnomalyLimits {
            denials_per_hour: 5,
            people_per_hour: 50,
        }
    }
}

impl StaffRealm {
    /// Looks at what a staff member did in the last hour; past a limit, an
    /// alert is raised and the member suspended at once (all sessions end).
    /// Returns the alert, if one was raised.
    /// `about_to_read` counts a person the member is about to read, so the
    /// read past the limit is the one refused.
    pub async fn watch(
        &self,
        staff_id: &str,
        org_id: &str,
        about_to_read: Option<&str>,
        limits: AnomalyLimits,
    ) -> Result<Option<String>, StaffError> {
        let hour_ago = kizuna_wire::now_ms().saturating_sub(3_600_000);
        let denials = self
            .store
            .count_events(
                staff_id,
                &EventKind::ALL
                    .into_iter()
                    .filter(|k| k.is_refusal())
                    .collect::<Vec<_>>(),
                hour_ago,
            )
            .await?;
        let mut people = self.store.people_read(staff_id, hour_ago).await?;
        if let Some(subject) = about_to_read {
            if !self.store.has_read(staff_id, subject, hour_ago).await? {
                people += 1;
            }
        }
        let why = if denials >= limits.denials_per_hour {
            format!(
                "{denials} refused attempts within an hour (limit {})",
                limits.denials_per_hour
            )
        } else if people > limits.people_per_hour {
            format!(
                "{people} different people read within an hour (limit {})",
                limits.people_per_hour
            )
        } else {
            return Ok(None);
        };
        let alert = Event {
            at: kizuna_wire::now_ms(),
            kind: EventKind::Anomaly,
            staff_id: Some(staff_id.to_string()),
            org_id: Some(org_id.to_string()),
            detail: serde_json::json!({ "why": why, "action": "staff member suspended" }),
        };
        self.append(&Event {
            kind: EventKind::Alert,
            ..alert.clone()
        })
        .await?;
        self.store.insert_alert(&alert).await?;
        self.store
            .suspend_member(staff_id, kizuna_wire::now_ms())
            .await?;
        self.record(
            EventKind::StaffSuspended,
            Some(staff_id),
            Some(org_id),
            serde_json::json!({ "by": "anomaly detection", "why": why }),
        )
        .await?;
        tracing::warn!(%staff_id, %org_id, %why, "staff anomaly: alert raised and member suspended");
        Ok(Some(why))
    }

    /// A break-glass grant was taken: an alert, and a review that someone
    /// else must complete.
    pub async fn break_glass_opened(&self, g: &Grant) -> Result<(), StaffError> {
        let alert = Event {
            at: kizuna_wire::now_ms(),
            kind: EventKind::BreakGlass,
            staff_id: Some(g.staff_id.clone()),
            org_id: Some(g.org_id.clone()),
            detail: serde_json::json!({
                "why": format!("break-glass access to {} ({}), ticket {}", g.subjects.join(", "), g.fields.join(","), g.ticket),
                "grant": g.grant_id,
            }),
        };
        self.store.insert_alert(&alert).await?;
        self.store
            .insert_review(&Review {
                grant_id: g.grant_id.clone(),
                staff_id: g.staff_id.clone(),
                org_id: g.org_id.clone(),
                opened_at: alert.at,
                completed_by: None,
                completed_at: None,
                justified: None,
                note: None,
            })
            .await
    }

    /// The organisations and staff members a breach concerns, as they stand
    /// now, for the operator's security staff; the scoping is recorded
    /// before anything is looked at.
    pub async fn breach_subjects(
        &self,
        by: &Session,
        q: &BreachQuery,
    ) -> Result<(Vec<Org>, Vec<StaffMember>), StaffError> {
        self.allow(by, RealmAction::Oversee, "")?;
        if let (Some(from), Some(to)) = (q.from, q.to) {
            if from > to {
                return Err(StaffError::Invalid("--from must not be after --to".into()));
            }
        }
        let (orgs, staff) = match (&q.staff_id, &q.org_id) {
            (Some(s), org) => {
                let (m, o) = self.member_and_org(s).await?;
                if org.as_ref().is_some_and(|org| org != &o.org_id) {
                    return Err(StaffError::Invalid(format!(
                        "staff member {s} belongs to {}, not {}",
                        o.org_id,
                        org.as_deref().unwrap_or_default()
                    )));
                }
                (vec![o], vec![m])
            }
            (None, Some(org)) => {
                let o = self
                    .store
                    .org(org)
                    .await?
                    .ok_or_else(|| StaffError::NotFound(format!("organisation {org}")))?;
                let members = self
                    .store
                    .members()
                    .await?
                    .into_iter()
                    .filter(|m| &m.org_id == org)
                    .collect();
                (vec![o], members)
            }
            (None, None) => {
                return Err(StaffError::Invalid(
                    "name the credentials: an organisation (--org) or a staff member (--staff)"
                        .into(),
                ))
            }
        };
        self.record(
            EventKind::BreachScoped,
            Some(&by.member.staff_id),
            Some(&by.org.org_id),
            serde_json::to_value(q).map_err(|e| StaffError::Storage(e.to_string()))?,
        )
        .await?;
        Ok((orgs, staff))
    }

    /// Asks the realm's rules whether `by` may take `action` about the
    /// staff member `about` ("" for nobody); a refusal says why.
    pub fn allow(&self, by: &Session, action: RealmAction, about: &str) -> Result<(), StaffError> {
        let v = self
            .rules
            .decide(action, &by.actor(), about)
            .map_err(|e| StaffError::Storage(e.to_string()))?;
        if v.allowed {
            Ok(())
        } else {
            Err(StaffError::Forbidden(v.reasons.join("; ")))
        }
    }

    pub async fn reviews(&self, by: &Session) -> Result<Vec<Review>, StaffError> {
        self.allow(by, RealmAction::Oversee, "")?;
        self.store.reviews().await
    }

    /// Completes a break-glass review: by someone other than who broke the
    /// glass, once.
    pub async fn complete_review(
        &self,
        by: &Session,
        grant_id: &str,
        c: &ReviewCompletion,
    ) -> Result<Review, StaffError> {
        self.allow(by, RealmAction::Oversee, "")?;
        let r = self
            .store
            .review(grant_id)
            .await?
            .ok_or_else(|| StaffError::NotFound(format!("review of grant {grant_id}")))?;
        self.allow(by, RealmAction::Oversee, &r.staff_id)?;
        if r.completed_at.is_some() {
            return Err(StaffError::Invalid(format!(
                "the review of {grant_id} is already complete"
            )));
        }
        if c.note.trim().is_empty() || c.note.len() > 2000 {
            return Err(StaffError::Invalid(
                "a review needs a note of 1 to 2000 characters".into(),
            ));
        }
        let done = Review {
            completed_by: Some(by.member.staff_id.clone()),
            completed_at: Some(kizuna_wire::now_ms()),
            justified: Some(c.justified),
            note: Some(c.note.trim().to_string()),
            ..r
        };
        self.record(
            EventKind::ReviewCompleted,
            Some(&by.member.staff_id),
            Some(&by.org.org_id),
            serde_json::json!({ "grant": grant_id, "justified": c.justified }),
        )
        .await?;
        if !self.store.complete_review(&done).await? {
            return Err(StaffError::Invalid(format!(
                "the review of {grant_id} is already complete"
            )));
        }
        Ok(done)
    }

    /// Alerts, newest first, for the operator's security staff and admins.
    pub async fn alerts(&self, by: &Session) -> Result<Vec<serde_json::Value>, StaffError> {
        self.allow(by, RealmAction::Oversee, "")?;
        self.store.alerts().await
    }
}

/// The current code of a TOTP secret, for tests and scripted logins.
pub fn totp_now(secret_b32: &str) -> Result<String, StaffError> {
    totp(secret_b32)?
        .generate_current()
        .map_err(|e| StaffError::Storage(format!("the clock is before 1970: {e}")))
}

#[cfg(test)]
mod tests;
