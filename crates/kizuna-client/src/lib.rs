//! The Kizuna client library: a device's MLS identity and groups, its local
//! history, and the protocol with a Kizuna server. The CLI, the tests, the demo
//! and the load generator all drive this same library.
//!
//! Every operation runs under a lock on the home directory and starts from the
//! state on disk, so several processes on one home (say `watch` and `send`)
//! never use a stale ratchet. New MLS state is written before anything built
//! from it leaves the device, so a crash can waste a key but never reuse one.

pub mod audit;
mod error;
mod ledger;
mod local;
mod mls;
mod transport;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use futures_util::{SinkExt, StreamExt};
use kizuna_wire::*;
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;
use reqwest::Method;

pub use error::{ClientError, Result};
pub use ledger::{VerifiedAccess, VerifiedAccesses};
pub use local::{ChatRequest, ChatSummary, FrankProof, Standing, StoredMessage, Unopened};
pub use transport::normalise_server;

use local::{Changes, Local};
use transport::Transport;

/// The devices a commit added and removed.
type Devices = (Vec<String>, Vec<String>);

impl MembershipChange {
    fn of(chat: &str, handle: &str, ((added, removed), a): (Devices, CommitAccepted)) -> Self {
        MembershipChange {
            chat: chat.to_string(),
            handle: handle.to_string(),
            added,
            removed,
            epoch: a.epoch,
            seq: a.group_seq,
        }
    }
}

/// One-time key packages a device keeps on the server.
const KEY_PACKAGE_TARGET: usize = 30;
/// Attempts at a commit or send when other members keep winning the epoch.
const MAX_ATTEMPTS: u32 = 8;
const INBOX_PAGE: u32 = 500;
/// Local note naming the chat whose commit was sent but not yet answered.
const INFLIGHT_COMMIT: &str = "inflight_commit";

/// Who this device is.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Identity {
    pub server: String,
    pub handle: String,
    pub account_id: String,
    pub device_id: String,
}

/// Something that happened on sync or watch. As JSON, one object with a
/// `type` naming the variant.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    Message(StoredMessage),
    Joined {
        chat: String,
        by: String,
    },
    /// Someone not in this person's contacts put them into a chat: it is
    /// a request, and nothing of it is shown as a normal chat until they
    /// accept it (`kizuna chat accept`).
    Request {
        chat: String,
        by: String,
    },
    Removed {
        chat: String,
        by: String,
    },
    /// A commit by `by`; each list holds handles.
    MembersChanged {
        chat: String,
        by: String,
        added: Vec<String>,
        removed: Vec<String>,
        left: Vec<String>,
    },
    Renamed {
        chat: String,
        name: String,
        by: String,
    },
    /// An entry this device could not open. It is kept and shown in the
    /// chat's history, never dropped silently.
    Undecryptable(Unopened),
    /// One of a person's devices was revoked: it is being taken out of the
    /// chat, and receives nothing more.
    DeviceRevoked {
        chat: String,
        handle: String,
    },
    /// A person erased their account: their devices are being taken out of
    /// the chat.
    AccountDeleted {
        chat: String,
        handle: String,
    },
    /// A message of this device's that left without an answer and that
    /// the node then refused for good: it was never delivered.
    NotSent {
        chat: String,
        /// The content as JSON.
        content: String,
        reason: String,
    },
}

/// What a membership command changed.
#[derive(Clone, Debug, serde::Serialize)]
pub struct MembershipChange {
    pub chat: String,
    pub handle: String,
    /// The devices the commit added.
    pub added: Vec<String>,
    /// The devices it removed: those named, and any whose departure was
    /// waiting (every commit carries those out).
    pub removed: Vec<String>,
    /// The group's epoch after the change.
    pub epoch: u64,
    /// The commit's place in the chat's order.
    pub seq: u64,
}

pub struct RegisterOptions<'a> {
    pub handle: &'a str,
    pub name: &'a str,
    pub phone: &'a str,
    pub email: Option<&'a str>,
    pub region: &'a str,
    pub device_label: &'a str,
}

pub struct Client {
    home: PathBuf,
    local: Local,
    transport: Transport,
    provider: OpenMlsRustCrypto,
    loaded: HashMap<Vec<u8>, Vec<u8>>,
    signer: SignatureKeyPair,
    identity: Identity,
    token: Option<(String, u64)>,
    /// What an operation found waiting and processed before it could act
    /// (a commit is built only on a group with nothing pending), for the
    /// caller to show: see [`Client::take_seen`].
    seen: Vec<Event>,
}

/// Held for the length of one operation; dropping it releases the home.
struct HomeLock(#[allow(dead_code)] std::fs::File);

async fn lock_home(home: &Path) -> Result<HomeLock> {
    let path = home.join("lock");
    let f = tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        f.lock()?;
        Ok(f)
    })
    .await
    .map_err(|e| ClientError::Local {
        path: home.to_path_buf(),
        reason: e.to_string(),
    })?
    .map_err(|e| ClientError::Local {
        path: home.to_path_buf(),
        reason: format!("cannot lock: {e}"),
    })?;
    Ok(HomeLock(f))
}

fn mls_err(e: impl std::fmt::Display) -> ClientError {
    ClientError::Mls(e.to_string())
}

fn group_hex(g: &[u8]) -> String {
    hex::encode(g)
}

/// The chat an event is about.
fn chat_of(e: &Event) -> &str {
    match e {
        Event::Message(m) => &m.chat,
        Event::Undecryptable(u) => &u.chat,
        Event::Joined { chat, .. }
        | Event::Request { chat, .. }
        | Event::Removed { chat, .. }
        | Event::MembersChanged { chat, .. }
        | Event::Renamed { chat, .. }
        | Event::DeviceRevoked { chat, .. }
        | Event::AccountDeleted { chat, .. }
        | Event::NotSent { chat, .. } => chat,
    }
}

impl Client {
    /// Creates the account and this device's MLS identity, and publishes its
    /// key packages.
    pub async fn register(home: &Path, server: &str, opts: RegisterOptions<'_>) -> Result<Client> {
        let local = Local::open(home).await?;
        if local.meta("device_id").await?.is_some() {
            return Err(ClientError::AlreadyRegistered(home.to_path_buf()));
        }
        let transport = Transport::new(server);
        let signer = mls::new_signer()?;
        let key = signer.public().to_vec();
        let signature = mls::sign(&signer, &register_signing_input(opts.handle, &key))?;
        let resp: RegisterResponse = transport
            .call(
                Method::POST,
                "/v1/accounts",
                None,
                Some(&RegisterRequest {
                    handle: opts.handle.to_string(),
                    name: opts.name.to_string(),
                    phone: opts.phone.to_string(),
                    email: opts.email.map(str::to_string),
                    region: opts.region.to_string(),
                    device: NewDevice {
                        signature_key: Bytes(key),
                        label: opts.device_label.to_string(),
                        signature: Bytes(signature),
                    },
                }),
            )
            .await?;
        let identity = Identity {
            server: transport.base.clone(),
            handle: opts.handle.to_string(),
            account_id: resp.account_id,
            device_id: resp.device_id,
        };
        Self::save_identity(&local, &identity, &signer).await?;
        let mut client = Client::assemble(home, local, transport, signer, identity);
        let _g = client.begin().await?;
        client.replenish_key_packages(true).await?;
        Ok(client)
    }

    async fn save_identity(local: &Local, id: &Identity, signer: &SignatureKeyPair) -> Result<()> {
        local.set_meta("server", id.server.as_bytes()).await?;
        local.set_meta("handle", id.handle.as_bytes()).await?;
        local
            .set_meta("account_id", id.account_id.as_bytes())
            .await?;
        let key = serde_json::to_vec(signer).map_err(|e| ClientError::Mls(e.to_string()))?;
        local.set_meta("signer", &key).await?;
        // Written last: its presence means the identity is complete.
        local.set_meta("device_id", id.device_id.as_bytes()).await?;
        Ok(())
    }

    fn assemble(
        home: &Path,
        local: Local,
        transport: Transport,
        signer: SignatureKeyPair,
        identity: Identity,
    ) -> Client {
        Client {
            home: home.to_path_buf(),
            local,
            transport,
            provider: OpenMlsRustCrypto::default(),
            loaded: HashMap::new(),
            signer,
            identity,
            token: None,
            seen: Vec::new(),
        }
    }

    /// Opens the identity kept under `home`.
    pub async fn open(home: &Path) -> Result<Client> {
        if !home.join("device.sqlite").exists() {
            return Err(ClientError::NotRegistered(home.to_path_buf()));
        }
        let local = Local::open(home).await?;
        let Some(device_id) = local.meta_string("device_id").await? else {
            return Err(ClientError::NotRegistered(home.to_path_buf()));
        };
        let local_ref = &local;
        let get = |k: &'static str| async move {
            let local = local_ref;
            local.meta(k).await?.ok_or_else(|| ClientError::Local {
                path: local.path.clone(),
                reason: format!("missing {k}"),
            })
        };
        let server = String::from_utf8_lossy(&get("server").await?).into_owned();
        let handle = String::from_utf8_lossy(&get("handle").await?).into_owned();
        let account_id = String::from_utf8_lossy(&get("account_id").await?).into_owned();
        let signer: SignatureKeyPair =
            serde_json::from_slice(&get("signer").await?).map_err(|e| ClientError::Local {
                path: local.path.clone(),
                reason: format!("damaged device key: {e}"),
            })?;
        let token = match (
            local.meta_string("token").await?,
            local.meta_string("token_expires").await?,
        ) {
            (Some(t), Some(e)) => e.parse().ok().map(|e| (t, e)),
            _ => None,
        };
        let transport = Transport::new(&server);
        let identity = Identity {
            server: transport.base.clone(),
            handle,
            account_id,
            device_id,
        };
        let mut c = Client::assemble(home, local, transport, signer, identity);
        c.token = token;
        Ok(c)
    }

    /// Asks to add this new device to the account `handle`, shows the code to
    /// type on an existing device, and waits until it is approved there.
    pub async fn link_device(
        home: &Path,
        server: &str,
        handle: &str,
        label: &str,
        mut on_code: impl FnMut(&str),
        timeout: std::time::Duration,
    ) -> Result<Client> {
        let local = Local::open(home).await?;
        if local.meta("device_id").await?.is_some() {
            return Err(ClientError::AlreadyRegistered(home.to_path_buf()));
        }
        let transport = Transport::new(server);
        let signer = mls::new_signer()?;
        let key = signer.public().to_vec();
        let device_id = device_id_for_key(&key);
        let identity = Identity {
            server: transport.base.clone(),
            handle: handle.to_string(),
            account_id: String::new(),
            device_id: device_id.clone(),
        };
        let mut client = Client::assemble(home, local, transport, signer, identity);
        let _g = client.begin().await?;
        let (kps, last_resort) = client.new_key_packages(KEY_PACKAGE_TARGET)?;
        client.save(Changes::default()).await?;
        let signature = mls::sign(&client.signer, &link_signing_input(handle, &key))?;
        let pending: LinkPending = client
            .transport
            .call(
                Method::POST,
                "/v1/links",
                None,
                Some(&LinkRequest {
                    handle: handle.to_string(),
                    device: NewDevice {
                        signature_key: Bytes(key),
                        label: label.to_string(),
                        signature: Bytes(signature),
                    },
                    key_packages: kps,
                    last_resort,
                }),
            )
            .await?;
        on_code(&pending.code);
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let st: LinkStatus = client
                .transport
                .call::<(), _>(
                    Method::GET,
                    &format!("/v1/links/{}", pending.link_id),
                    None,
                    None,
                )
                .await?;
            if let (true, Some(account_id)) = (st.approved, st.account_id) {
                client.identity.account_id = account_id;
                Self::save_identity(&client.local, &client.identity, &client.signer).await?;
                return Ok(client);
            }
            if tokio::time::Instant::now() > deadline {
                return Err(ClientError::Invalid(format!(
                    "code {} was not approved in time; run the command again",
                    pending.code
                )));
            }
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
    }

    /// Approves a new device of this account (its code from `device link`)
    /// and adds it to every chat this device is in and accepted. Returns the new
    /// device's id and what changed in each chat.
    pub async fn approve_device(&mut self, code: &str) -> Result<(String, Vec<MembershipChange>)> {
        let _g = self.begin().await?;
        let token = self.token().await?;
        let approved: LinkApproved = self
            .transport
            .call(
                Method::POST,
                "/v1/links/approve",
                Some(&token),
                Some(&LinkApprove {
                    code: code.to_string(),
                }),
            )
            .await?;
        self.catch_up().await?;
        // Not the chat requests: the new device, added by its own account,
        // would take them for chats this person accepted.
        let standings = self.local.standings().await?;
        let chats: Vec<String> = self
            .local
            .chat_ids()
            .await?
            .into_iter()
            .filter(|c| c.2 && standings.get(&c.0).is_none_or(|s| *s == Standing::Accepted))
            .map(|c| c.0)
            .collect();
        let mut changes = Vec::new();
        for chat in chats {
            let claimed = self
                .claim(ClaimRequest {
                    handles: vec![],
                    devices: vec![approved.device_id.clone()],
                })
                .await?;
            match self.commit_change(&chat, mls::Change::Add(claimed)).await {
                Ok(Some(done)) => {
                    changes.push(MembershipChange::of(&chat, &self.identity.handle, done))
                }
                // Already there, or this device is no longer in the chat.
                Ok(None) | Err(ClientError::NotInChat(_) | ClientError::UnknownChat(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok((approved.device_id, changes))
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    pub fn home(&self) -> &Path {
        &self.home
    }

    /// Takes the home lock and loads the MLS state from disk.
    async fn begin(&mut self) -> Result<HomeLock> {
        let g = lock_home(&self.home).await?;
        self.reload_mls().await?;
        Ok(g)
    }

    /// Drops MLS state not written to disk, and loads what is there.
    async fn reload_mls(&mut self) -> Result<()> {
        let map = self.local.load_mls().await?;
        *self
            .provider
            .storage()
            .values
            .write()
            .map_err(|_| ClientError::Mls("storage lock poisoned".into()))? = map.clone();
        self.loaded = map;
        Ok(())
    }

    async fn save(&mut self, changes: Changes) -> Result<()> {
        let after = self
            .provider
            .storage()
            .values
            .read()
            .map_err(|_| ClientError::Mls("storage lock poisoned".into()))?
            .clone();
        self.local.commit(&mut self.loaded, &after, changes).await
    }

    async fn token(&mut self) -> Result<String> {
        if let Some((t, exp)) = &self.token {
            if *exp > now_ms() / 1000 + 30 {
                return Ok(t.clone());
            }
        }
        let c: ChallengeResponse = self
            .transport
            .call(
                Method::POST,
                "/v1/auth/challenge",
                None,
                Some(&ChallengeRequest {
                    device_id: self.identity.device_id.clone(),
                }),
            )
            .await?;
        let sig = mls::sign(
            &self.signer,
            &auth_signing_input(&self.identity.device_id, &c.challenge),
        )?;
        let t: TokenResponse = self
            .transport
            .call(
                Method::POST,
                "/v1/auth/token",
                None,
                Some(&TokenRequest {
                    device_id: self.identity.device_id.clone(),
                    challenge: c.challenge,
                    signature: Bytes(sig),
                }),
            )
            .await?;
        self.local.set_meta("token", t.token.as_bytes()).await?;
        self.local
            .set_meta("token_expires", t.expires_at.to_string().as_bytes())
            .await?;
        self.token = Some((t.token.clone(), t.expires_at));
        Ok(t.token)
    }

    /// An authenticated call; a token the server no longer accepts is renewed once.
    async fn call<B: serde::Serialize, R: serde::de::DeserializeOwned>(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<R> {
        let bytes = self.call_raw(method, path, body).await?;
        if bytes.is_empty() {
            return serde_json::from_slice(b"null")
                .map_err(|e| ClientError::Protocol(e.to_string()));
        }
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Protocol(format!("{path}: {e}")))
    }

    async fn call_raw<B: serde::Serialize>(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<Vec<u8>> {
        let token = self.token().await?;
        match self
            .transport
            .call_raw(method.clone(), path, Some(&token), body)
            .await
        {
            Err(ClientError::Api {
                code: ErrorCode::TokenExpired | ErrorCode::Unauthorized,
                ..
            }) => {
                self.token = None;
                let token = self.token().await?;
                self.transport
                    .call_raw(method, path, Some(&token), body)
                    .await
            }
            other => other,
        }
    }

    fn new_key_packages(&self, n: usize) -> Result<(Vec<Bytes>, Bytes)> {
        let cwk = mls::credential(&self.identity, &self.signer);
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(Bytes(mls::key_package(
                &self.provider,
                &self.signer,
                cwk.clone(),
                false,
            )?));
        }
        let lr = Bytes(mls::key_package(&self.provider, &self.signer, cwk, true)?);
        Ok((out, lr))
    }

    /// Tops up this device's key packages on the server (and, when `fresh`,
    /// publishes a last-resort one).
    async fn replenish_key_packages(&mut self, fresh: bool) -> Result<()> {
        let status: KeyPackageStatus = self
            .call::<(), _>(Method::GET, "/v1/devices/me/key-packages", None)
            .await?;
        let need = KEY_PACKAGE_TARGET.saturating_sub(status.remaining as usize);
        if need == 0 && status.has_last_resort && !fresh {
            return Ok(());
        }
        let (kps, lr) = self.new_key_packages(need)?;
        // The private halves are on disk before the public ones are published.
        self.save(Changes::default()).await?;
        let _: KeyPackageStatus = self
            .call(
                Method::POST,
                "/v1/devices/me/key-packages",
                Some(&KeyPackageUpload {
                    key_packages: kps,
                    last_resort: (fresh || !status.has_last_resort).then_some(lr),
                }),
            )
            .await?;
        Ok(())
    }

    pub async fn me(&mut self) -> Result<MeView> {
        self.call::<(), _>(Method::GET, "/v1/me", None).await
    }

    /// Where each category of my data is stored, from where it may be
    /// reached, and the transfers that happened.
    pub async fn data_map(&mut self) -> Result<DataMap> {
        self.call::<(), _>(Method::GET, "/v1/me/data-map", None)
            .await
    }

    /// All my personal data as the service holds it.
    pub async fn export(&mut self) -> Result<Export> {
        self.call::<(), _>(Method::GET, "/v1/me/export", None).await
    }

    pub async fn contacts(&mut self) -> Result<Contacts> {
        self.call::<(), _>(Method::GET, "/v1/me/contacts", None)
            .await
    }

    pub async fn set_contacts(&mut self, contacts: &Contacts) -> Result<()> {
        self.call_raw(Method::PUT, "/v1/me/contacts", Some(contacts))
            .await?;
        Ok(())
    }

    /// Erases my account on the service: my data key is destroyed, then my
    /// account, devices and queues. This device's local history stays here.
    pub async fn erase_account(&mut self) -> Result<Erased> {
        self.call::<(), _>(Method::DELETE, "/v1/me", None).await
    }

    /// Staff requests for my data that ask for my agreement first.
    pub async fn access_requests(&mut self) -> Result<Vec<kizuna_wire::staff::AccessRequest>> {
        self.call::<(), _>(Method::GET, "/v1/me/requests", None)
            .await
    }

    /// Agrees to (or declines) a staff request for my data.
    pub async fn answer_access_request(&mut self, grant_id: &str, agree: bool) -> Result<()> {
        let verb = if agree { "agree" } else { "decline" };
        self.call_raw::<()>(
            Method::POST,
            &format!("/v1/me/requests/{grant_id}/{verb}"),
            None,
        )
        .await?;
        Ok(())
    }

    /// Reports message `seq` of a chat to the service, revealing it (and, if
    /// asked, up to `preceding` earlier messages of the chat as context)
    /// with what proves each: the node checks every one against its own
    /// binding before it keeps the report.
    pub async fn report(
        &mut self,
        chat: &str,
        seq: u64,
        reason: kizuna_wire::reports::ReportReason,
        note: Option<&str>,
        preceding: usize,
    ) -> Result<kizuna_wire::reports::ReportFiled> {
        use kizuna_wire::reports::{ReportRequest, RevealedMessage, MAX_CONTEXT};
        if preceding > MAX_CONTEXT {
            return Err(ClientError::Invalid(format!(
                "a report carries at most {MAX_CONTEXT} preceding messages"
            )));
        }
        let chat = self.resolve_chat(chat).await?;
        let history = self.local.history(&chat).await?;
        let Some(at) = history.iter().position(|m| m.seq == seq) else {
            return Err(ClientError::Invalid(format!(
                "chat {chat} has no message {seq} on this device; `kizuna read {chat}` lists them"
            )));
        };
        let reported = &history[at];
        if reported.sender == self.identity.handle {
            return Err(ClientError::Invalid(
                "you cannot report your own message".into(),
            ));
        }
        if reported.proof.is_none() {
            return Err(ClientError::Invalid(format!(
                "message {seq} came without franking (sent before this service franked messages) and cannot be proven; it cannot be reported"
            )));
        }
        // Context: the closest earlier messages that can be proven.
        let mut chosen: Vec<&StoredMessage> = history[..at]
            .iter()
            .rev()
            .filter(|m| m.proof.is_some())
            .take(preceding)
            .collect();
        chosen.reverse();
        chosen.push(reported);
        let messages = chosen
            .into_iter()
            .filter_map(|m| {
                let p = m.proof.as_ref()?;
                Some(RevealedMessage {
                    group_seq: m.seq,
                    sender_handle: m.sender.clone(),
                    server_time: m.server_time,
                    body: p.body.clone(),
                    franking_key: Bytes(p.key.to_vec()),
                    commitment: Bytes(p.commitment.to_vec()),
                    binding: Bytes(p.binding.to_vec()),
                })
            })
            .collect();
        let group_id = hex::decode(&chat).map_err(|_| ClientError::UnknownChat(chat.clone()))?;
        self.send_report(&ReportRequest {
            group_id: Bytes(group_id),
            reason,
            note: note.map(str::to_string),
            messages,
        })
        .await
    }

    /// Sends a report as given. `report` builds one from local history;
    /// this is for callers that build their own.
    pub async fn send_report(
        &mut self,
        req: &kizuna_wire::reports::ReportRequest,
    ) -> Result<kizuna_wire::reports::ReportFiled> {
        self.call(Method::POST, "/v1/reports", Some(req)).await
    }

    /// The reports I filed and what became of them.
    pub async fn my_reports(&mut self) -> Result<Vec<kizuna_wire::reports::FiledReport>> {
        self.call::<(), _>(Method::GET, "/v1/me/reports", None)
            .await
    }

    /// What moderators decided about my messages.
    pub async fn moderation(&mut self) -> Result<Vec<kizuna_wire::reports::ModerationNotice>> {
        self.call::<(), _>(Method::GET, "/v1/me/moderation", None)
            .await
    }

    /// Appeals a moderator's decision about one of my messages.
    pub async fn appeal(
        &mut self,
        report_id: &str,
        note: &str,
    ) -> Result<kizuna_wire::reports::ModerationNotice> {
        self.call(
            Method::POST,
            &format!("/v1/me/moderation/{report_id}/appeal"),
            Some(&kizuna_wire::reports::AppealRequest {
                note: note.to_string(),
            }),
        )
        .await
    }

    /// My devices: label, when each was linked, when it last signed in.
    pub async fn devices(&mut self) -> Result<Vec<DeviceView>> {
        self.call::<(), _>(Method::GET, "/v1/devices", None).await
    }

    /// Revokes one of my devices (a lost phone): it is taken out of every
    /// chat, and its tokens and connections end at once.
    pub async fn revoke_device(&mut self, device_id: &str) -> Result<()> {
        self.call_raw::<()>(Method::DELETE, &format!("/v1/devices/{device_id}"), None)
            .await?;
        Ok(())
    }

    /// The handle registered with this phone number, if any.
    pub async fn lookup_phone(&mut self, phone: &str) -> Result<Option<String>> {
        let r: PhoneLookupResponse = self
            .call(
                Method::POST,
                "/v1/lookup/phone",
                Some(&PhoneLookupRequest {
                    phone: phone.to_string(),
                }),
            )
            .await?;
        Ok(r.handle)
    }

    /// The device ids of an account.
    pub async fn account(&mut self, handle: &str) -> Result<AccountView> {
        self.call::<(), _>(Method::GET, &format!("/v1/accounts/{handle}"), None)
            .await
    }

    async fn claim(&mut self, req: ClaimRequest) -> Result<Vec<(KeyPackage, String)>> {
        let resp: ClaimResponse = self
            .call(Method::POST, "/v1/key-packages/claim", Some(&req))
            .await?;
        resp.key_packages
            .into_iter()
            .map(|c| {
                let kp = mls::check_claimed(&self.provider, &c)?;
                Ok((kp, c.device_id))
            })
            .collect()
    }

    /// Finds a chat by full id, unique id prefix, or exact name.
    pub async fn resolve_chat(&self, s: &str) -> Result<String> {
        let chats = self.local.chat_ids().await?;
        if let Some(c) = chats.iter().find(|c| c.0 == s) {
            return Ok(c.0.clone());
        }
        let by_name: Vec<_> = chats.iter().filter(|c| c.1.as_deref() == Some(s)).collect();
        let matches: Vec<_> = if by_name.is_empty() {
            chats
                .iter()
                .filter(|c| c.0.starts_with(s) && s.len() >= 4)
                .collect()
        } else {
            by_name
        };
        match matches.len() {
            0 => Err(ClientError::UnknownChat(s.to_string())),
            1 => Ok(matches[0].0.clone()),
            _ => Err(ClientError::AmbiguousChat(s.to_string())),
        }
    }

    /// Creates a chat with every device of each handle (and this account's
    /// other devices); a 1:1 chat is a group of two people.
    pub async fn create_chat(&mut self, with: &[String], name: Option<&str>) -> Result<String> {
        if with.is_empty() {
            return Err(ClientError::Invalid(
                "a chat needs at least one other person (--with)".into(),
            ));
        }
        if with.contains(&self.identity.handle) {
            return Err(ClientError::Invalid(
                "you are in the chat already; name the others".into(),
            ));
        }
        let _g = self.begin().await?;
        let mine = self.account(&self.identity.handle.clone()).await?;
        let others: Vec<String> = mine
            .devices
            .into_iter()
            .filter(|d| *d != self.identity.device_id)
            .collect();
        let claimed = self
            .claim(ClaimRequest {
                handles: with.to_vec(),
                devices: others,
            })
            .await?;
        let group_id = mls::random_group_id();
        let chat = group_hex(&group_id);
        let node: DeliveryService = self
            .call::<(), _>(Method::GET, "/v1/delivery-service", None)
            .await?;
        let (_, group_info) = mls::create_group(
            &self.provider,
            &self.signer,
            &self.identity,
            &group_id,
            &node,
        )?;
        let _: GroupView = self
            .call(
                Method::POST,
                "/v1/groups",
                Some(&CreateGroupRequest {
                    group_id: Bytes(group_id.clone()),
                    group_info: Bytes(group_info),
                }),
            )
            .await?;
        self.save(Changes {
            chats: vec![(chat.clone(), name.map(str::to_string))],
            ..Default::default()
        })
        .await?;
        self.commit_change(&chat, mls::Change::Add(claimed)).await?;
        if let Some(n) = name {
            let mut id = vec![0u8; 16];
            rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut id);
            self.send_content(
                &chat,
                &ChatContent::ChatName {
                    name: n.to_string(),
                },
                id,
            )
            .await?;
        }
        Ok(chat)
    }

    /// Adds every device of `handle` to the chat. Refused, with nothing
    /// sent, when every one of them is a member already.
    pub async fn add_member(&mut self, chat: &str, handle: &str) -> Result<MembershipChange> {
        let _g = self.begin().await?;
        let chat = self.resolve_accepted_chat(chat).await?;
        let claimed = self
            .claim(ClaimRequest {
                handles: vec![handle.to_string()],
                devices: vec![],
            })
            .await?;
        self.commit_change(&chat, mls::Change::Add(claimed))
            .await?
            .map(|done| MembershipChange::of(&chat, handle, done))
            .ok_or_else(|| ClientError::Unchanged(format!("{handle} is already in chat {chat}")))
    }

    /// Removes every device of `handle` from the chat.
    pub async fn remove_member(&mut self, chat: &str, handle: &str) -> Result<MembershipChange> {
        let _g = self.begin().await?;
        let chat = self.resolve_accepted_chat(chat).await?;
        self.commit_change(&chat, mls::Change::Remove(handle.to_string()))
            .await?
            .map(|done| MembershipChange::of(&chat, handle, done))
            .ok_or_else(|| ClientError::Unchanged(format!("{handle} is not in chat {chat}")))
    }

    /// Leaves the chat: a proposal to remove this device, which the next
    /// member to act carries out; the others see that this person left.
    /// This device keeps the history and forgets the chat's keys at once.
    pub async fn leave(&mut self, chat: &str) -> Result<MembershipChange> {
        let _g = self.begin().await?;
        let chat = self.resolve_member_chat(chat).await?;
        self.leave_locked(chat).await
    }

    async fn leave_locked(&mut self, chat: String) -> Result<MembershipChange> {
        self.catch_up().await?;
        self.flush_outbox().await?;
        for _ in 0..MAX_ATTEMPTS {
            let mut group = self.load_group(&chat)?;
            let proposal = mls::leave(&self.provider, &self.signer, &mut group)?;
            let r: Result<CommitAccepted> = self
                .call(
                    Method::POST,
                    &format!("/v1/groups/{chat}/proposals"),
                    Some(&ProposalRequest {
                        proposal: Bytes(proposal),
                    }),
                )
                .await;
            match r {
                Ok(a) => {
                    // The keys stay only for what was sent before the
                    // departure and has not arrived yet; the first entry
                    // after it drops them.
                    self.save(Changes {
                        left: vec![(chat.clone(), a.group_seq)],
                        ..Default::default()
                    })
                    .await?;
                    return Ok(MembershipChange {
                        chat,
                        handle: self.identity.handle.clone(),
                        added: vec![],
                        removed: vec![self.identity.device_id.clone()],
                        epoch: a.epoch,
                        seq: a.group_seq,
                    });
                }
                Err(e) if e.api_code() == Some(ErrorCode::StaleEpoch) => {
                    // Another member's commit came first: drop the proposal
                    // with the state it was made in, catch up, try again.
                    self.reload_mls().await?;
                    self.catch_up().await?;
                }
                Err(e) => {
                    self.reload_mls().await?;
                    return Err(e);
                }
            }
        }
        Err(ClientError::TooManyRetries(MAX_ATTEMPTS))
    }

    /// Carries out the departures waiting in each chat this device is in:
    /// whoever acts first after a member leaves commits it.
    async fn commit_departures(&mut self) -> Result<()> {
        let chats: Vec<String> = self
            .local
            .chat_ids()
            .await?
            .into_iter()
            .filter(|c| c.2)
            .map(|c| c.0)
            .collect();
        for chat in chats {
            let Ok(group) = self.load_group(&chat) else {
                continue;
            };
            let left = mls::departing_handles(&group);
            if left.is_empty() {
                continue;
            }
            match self.commit_change(&chat, mls::Change::Pending).await {
                Ok(Some(_)) => self.seen.push(Event::MembersChanged {
                    chat,
                    by: self.identity.handle.clone(),
                    added: vec![],
                    removed: vec![],
                    left,
                }),
                Ok(None) | Err(ClientError::NotInChat(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Events this client processed on its own while doing something else
    /// (a commit or send first processes what waits for the group), since
    /// the last call.
    pub fn take_seen(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.seen)
    }

    /// The members of a chat as this device sees them: (handle, device).
    pub async fn members(&mut self, chat: &str) -> Result<Vec<(String, String)>> {
        let _g = self.begin().await?;
        let chat = self.resolve_member_chat(chat).await?;
        let group = self.load_group(&chat)?;
        Ok(mls::members(&group))
    }

    /// A chat this device is in and that this person accepted.
    async fn resolve_accepted_chat(&self, s: &str) -> Result<String> {
        let chat = self.resolve_member_chat(s).await?;
        match self.local.standings().await?.remove(&chat) {
            Some(Standing::Request { from }) => Err(ClientError::ChatRequest { chat, from }),
            _ => Ok(chat),
        }
    }

    /// The chats someone not in my contacts put me into, waiting for me to
    /// accept or decline them.
    pub async fn chat_requests(&self) -> Result<Vec<ChatRequest>> {
        self.local.requests().await
    }

    /// The chat request `s` names.
    async fn resolve_request(&self, s: &str) -> Result<(String, String)> {
        let chat = self.resolve_chat(s).await?;
        match self.local.standings().await?.remove(&chat) {
            Some(Standing::Request { from }) => Ok((chat, from)),
            _ => Err(ClientError::Unchanged(format!(
                "chat {chat} is not a chat request"
            ))),
        }
    }

    /// Accepts a chat request: from now on it is a normal chat, with what
    /// was sent in it while it waited.
    pub async fn accept_chat(&mut self, chat: &str) -> Result<ChatRequest> {
        let _g = self.begin().await?;
        let (chat, _) = self.resolve_request(chat).await?;
        let request = self.request_view(&chat).await?;
        self.save(Changes {
            standing: vec![(chat, Standing::Accepted)],
            ..Default::default()
        })
        .await?;
        Ok(request)
    }

    /// Declines a chat request: this device leaves the chat and forgets
    /// what was sent in it; with `block`, the person who started it is
    /// blocked too.
    pub async fn decline_chat(&mut self, chat: &str, block: bool) -> Result<ChatRequest> {
        let _g = self.begin().await?;
        let (chat, from) = self.resolve_request(chat).await?;
        let request = self.request_view(&chat).await?;
        if block {
            self.block(&from).await?;
        }
        // Removed meanwhile by the others: there is nothing left to leave.
        match self.leave_locked(chat.clone()).await {
            Ok(_) | Err(ClientError::NotInChat(_)) => {}
            Err(e) => return Err(e),
        }
        self.save(Changes {
            standing: vec![(chat, Standing::Declined)],
            ..Default::default()
        })
        .await?;
        Ok(request)
    }

    async fn request_view(&self, chat: &str) -> Result<ChatRequest> {
        self.local
            .requests()
            .await?
            .into_iter()
            .find(|r| r.chat == chat)
            .ok_or_else(|| ClientError::UnknownChat(chat.to_string()))
    }

    /// Blocks `handle`: the node refuses their invitations and their
    /// messages in one-to-one chats with me. Returns whom I block now.
    pub async fn block(&mut self, handle: &str) -> Result<BlockList> {
        self.call::<(), _>(Method::PUT, &format!("/v1/me/blocks/{handle}"), None)
            .await
    }

    pub async fn unblock(&mut self, handle: &str) -> Result<BlockList> {
        self.call::<(), _>(Method::DELETE, &format!("/v1/me/blocks/{handle}"), None)
            .await
    }

    pub async fn blocked(&mut self) -> Result<BlockList> {
        self.call::<(), _>(Method::GET, "/v1/me/blocks", None).await
    }

    /// A chat this device is in (by id, prefix or name): not one it left.
    async fn resolve_member_chat(&self, s: &str) -> Result<String> {
        let chat = self.resolve_chat(s).await?;
        if self.local.departures().await?.contains_key(&chat) {
            return Err(ClientError::NotInChat(chat));
        }
        Ok(chat)
    }

    fn load_group(&self, chat: &str) -> Result<MlsGroup> {
        let gid = hex::decode(chat).map_err(|_| ClientError::UnknownChat(chat.to_string()))?;
        let g = mls::load_group(&self.provider, &gid)?
            .ok_or_else(|| ClientError::UnknownChat(chat.to_string()))?;
        if !g.is_active() {
            return Err(ClientError::NotInChat(chat.to_string()));
        }
        Ok(g)
    }

    /// Builds a commit for the current epoch and submits it; when another
    /// member's commit won the epoch, processes it and tries again. Returns
    /// the devices changed and the node's answer, or `None` when there was
    /// nothing to change.
    ///
    /// Everything waiting for this device is processed first: a message
    /// sent in this epoch must be opened before the commit moves the group
    /// on, or it would need the past epoch's secrets.
    async fn commit_change(
        &mut self,
        chat: &str,
        change: mls::Change,
    ) -> Result<Option<(Devices, CommitAccepted)>> {
        self.catch_up().await?;
        // A message still in flight was written before this commit; it goes
        // first, to the members it was written for.
        self.flush_outbox().await?;
        self.commit_now(chat, change).await
    }

    /// The commit loop of [`Client::commit_change`], on a device that has
    /// caught up.
    async fn commit_now(
        &mut self,
        chat: &str,
        change: mls::Change,
    ) -> Result<Option<(Devices, CommitAccepted)>> {
        for _ in 0..MAX_ATTEMPTS {
            let mut group = self.load_group(chat)?;
            let Some(prepared) =
                mls::prepare_commit(&self.provider, &self.signer, &mut group, &change)?
            else {
                return Ok(None);
            };
            let changed = (prepared.added.clone(), prepared.removed.clone());
            // The pending commit and the note that it is in flight are on
            // disk before it leaves: after a crash or a lost answer, the next
            // operation finds out whether the server took it.
            self.save(Changes {
                meta: vec![(INFLIGHT_COMMIT, chat.as_bytes().to_vec())],
                ..Default::default()
            })
            .await?;
            let req = CommitRequest {
                commit: Bytes(prepared.commit),
                welcome: prepared.welcome.map(Bytes),
                added_devices: prepared.added,
                removed_devices: prepared.removed,
            };
            let r: Result<CommitAccepted> = self
                .call(
                    Method::POST,
                    &format!("/v1/groups/{chat}/commits"),
                    Some(&req),
                )
                .await;
            match r {
                Ok(accepted) => {
                    group
                        .merge_pending_commit(&self.provider)
                        .map_err(mls_err)?;
                    self.save(Changes {
                        meta: vec![(INFLIGHT_COMMIT, Vec::new())],
                        ..Default::default()
                    })
                    .await?;
                    return Ok(Some((changed, accepted)));
                }
                Err(e @ ClientError::Api { .. }) => {
                    // A definite refusal: nothing of the commit was kept.
                    group
                        .clear_pending_commit(self.provider.storage())
                        .map_err(mls_err)?;
                    self.save(Changes {
                        meta: vec![(INFLIGHT_COMMIT, Vec::new())],
                        ..Default::default()
                    })
                    .await?;
                    if e.api_code() == Some(ErrorCode::StaleEpoch) {
                        self.catch_up().await?;
                        continue;
                    }
                    return Err(e);
                }
                // No answer: the server may or may not have taken it; the
                // in-flight note stays for the next operation to resolve.
                Err(e) => return Err(e),
            }
        }
        Err(ClientError::TooManyRetries(MAX_ATTEMPTS))
    }

    /// Settles a commit whose answer never arrived: merged if the server took
    /// it, dropped if another commit won its epoch or it never arrived.
    async fn resolve_inflight_commit(&mut self) -> Result<()> {
        let chat = match self.local.meta_string(INFLIGHT_COMMIT).await? {
            Some(c) if !c.is_empty() => c,
            _ => return Ok(()),
        };
        let settle = Changes {
            meta: vec![(INFLIGHT_COMMIT, Vec::new())],
            ..Default::default()
        };
        let mut group = match self.load_group(&chat) {
            Ok(g) if g.pending_commit().is_some() => g,
            _ => return self.save(settle).await,
        };
        let epoch = group.epoch().as_u64();
        let gid = group.group_id().as_slice().to_vec();
        // Another member's commit for the same epoch, waiting in our queue,
        // means ours lost: the server takes one commit per epoch.
        let queued = self.peek_inbox().await?;
        let lost = queued.iter().any(|e| {
            e.kind == EnvelopeKind::Commit
                && e.group_id.0 == gid
                && mls::epoch_of(&e.payload.0) == Some(epoch)
        });
        let won = !lost && {
            let g: GroupView = self
                .call::<(), _>(Method::GET, &format!("/v1/groups/{chat}"), None)
                .await?;
            g.epoch > epoch
        };
        if won {
            group
                .merge_pending_commit(&self.provider)
                .map_err(mls_err)?;
        } else {
            group
                .clear_pending_commit(self.provider.storage())
                .map_err(mls_err)?;
        }
        self.save(settle).await
    }

    /// Encrypts and sends a text message.
    pub async fn send(&mut self, chat: &str, text: &str) -> Result<StoredMessage> {
        if text.is_empty() {
            return Err(ClientError::Invalid("the message is empty".into()));
        }
        let _g = self.begin().await?;
        let chat = self.resolve_accepted_chat(chat).await?;
        self.resolve_inflight_commit().await?;
        self.flush_outbox().await?;
        let content = ChatContent::Text {
            text: text.to_string(),
        };
        let mut id = vec![0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut id);
        self.send_content(&chat, &content, id)
            .await?
            .ok_or_else(|| {
                ClientError::Protocol("a text message was stored as another kind".into())
            })
    }

    /// Encrypts content for the group's current epoch and submits it under
    /// `client_id`, then records it (a text in the history, a name on the
    /// chat). The ciphertext leaves only once the advanced ratchet and the
    /// message are on disk as the one in flight: a send with no answer is
    /// sent again, with the same id, by the next send or sync, and the node
    /// delivers it once.
    async fn send_content(
        &mut self,
        chat: &str,
        content: &ChatContent,
        client_id: Vec<u8>,
    ) -> Result<Option<StoredMessage>> {
        let group_id = hex::decode(chat).map_err(|_| ClientError::UnknownChat(chat.to_string()))?;
        for _ in 0..MAX_ATTEMPTS {
            let (plain, proof) = mls::franked(content, &group_id, &self.identity.handle)?;
            let mut group = self.load_group(chat)?;
            // MLS sends nothing while a proposal waits: a member's
            // departure is carried out first.
            if group.pending_proposals().next().is_some() {
                self.commit_now(chat, mls::Change::Pending).await?;
                continue;
            }
            let ct = group
                .create_message(&self.provider, &self.signer, &plain)
                .map_err(mls_err)?
                .to_bytes()
                .map_err(mls_err)?;
            let outgoing = local::Outgoing {
                client_id: client_id.clone(),
                chat: chat.to_string(),
                content: proof.body.clone(),
                message: ct,
                commitment: proof.commitment,
                franking_key: proof.key,
            };
            self.save(Changes {
                outbox: Some(Some(outgoing.clone())),
                ..Default::default()
            })
            .await?;
            match self.submit_outgoing(&outgoing).await {
                Ok(a) => return self.record_sent(&outgoing, content, a).await,
                Err(e) if e.api_code() == Some(ErrorCode::StaleEpoch) => self.catch_up().await?,
                Err(e @ ClientError::Api { .. }) => {
                    // A definite refusal: nothing of it was kept.
                    self.save(Changes {
                        outbox: Some(None),
                        ..Default::default()
                    })
                    .await?;
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(ClientError::TooManyRetries(MAX_ATTEMPTS))
    }

    async fn submit_outgoing(&mut self, o: &local::Outgoing) -> Result<SendAccepted> {
        self.call(
            Method::POST,
            &format!("/v1/groups/{}/messages", o.chat),
            Some(&SendRequest {
                message: Bytes(o.message.clone()),
                commitment: Some(Bytes(o.commitment.to_vec())),
                client_id: Some(Bytes(o.client_id.clone())),
            }),
        )
        .await
    }

    /// Keeps what the node accepted and clears it from the outbox, in one
    /// transaction.
    async fn record_sent(
        &mut self,
        o: &local::Outgoing,
        content: &ChatContent,
        a: SendAccepted,
    ) -> Result<Option<StoredMessage>> {
        let proof = FrankProof {
            body: o.content.clone(),
            key: o.franking_key,
            commitment: o.commitment,
            binding: a
                .binding
                .as_ref()
                .and_then(|b| b.0.clone().try_into().ok())
                .unwrap_or([0; 32]),
        };
        let mut changes = Changes {
            outbox: Some(None),
            ..Default::default()
        };
        let sent = match content {
            ChatContent::Text { text } => {
                let m = StoredMessage {
                    chat: o.chat.clone(),
                    sender: self.identity.handle.clone(),
                    sender_device: self.identity.device_id.clone(),
                    text: text.clone(),
                    server_time: a.server_time,
                    seq: a.group_seq,
                    proof: Some(proof),
                };
                changes.messages.push(m.clone());
                Some(m)
            }
            ChatContent::ChatName { name } => {
                changes.names.push((o.chat.clone(), name.clone()));
                None
            }
        };
        self.save(changes).await?;
        Ok(sent)
    }

    /// Sends again the message that left without an answer, with its id:
    /// the node delivers it once whether or not the first attempt arrived.
    /// A message the group has moved past is encrypted again for the new
    /// epoch, keeping its id.
    async fn flush_outbox(&mut self) -> Result<()> {
        let Some(o) = self.local.outbox().await? else {
            return Ok(());
        };
        let content: ChatContent =
            serde_json::from_str(&o.content).map_err(|e| ClientError::Local {
                path: self.local.path.clone(),
                reason: format!("damaged outbox: {e}"),
            })?;
        let sent = match self.submit_outgoing(&o).await {
            Ok(a) => self.record_sent(&o, &content, a).await,
            Err(e) if e.api_code() == Some(ErrorCode::StaleEpoch) => {
                self.catch_up().await?;
                self.send_content(&o.chat, &content, o.client_id.clone())
                    .await
            }
            Err(e) => Err(e),
        };
        match sent {
            Ok(Some(m)) => self.seen.push(Event::Message(m)),
            Ok(None) => {}
            Err(e @ (ClientError::Unreachable { .. } | ClientError::Local { .. })) => {
                return Err(e)
            }
            Err(e) => {
                // Refused for good (no longer a member, say): it was never
                // delivered, and the person is told.
                self.save(Changes {
                    outbox: Some(None),
                    ..Default::default()
                })
                .await?;
                self.seen.push(Event::NotSent {
                    chat: o.chat.clone(),
                    content: o.content.clone(),
                    reason: e.to_string(),
                });
            }
        }
        Ok(())
    }

    /// Receives, decrypts and stores everything queued for this device.
    pub async fn sync(&mut self) -> Result<Vec<Event>> {
        let mut events = Vec::new();
        self.sync_with(|e| events.push(e.clone())).await?;
        Ok(events)
    }

    /// Like [`Client::sync`], handing over each event once the page it
    /// came in is stored on this device: a sync that fails partway has
    /// shown everything it kept.
    pub async fn sync_with(&mut self, mut on_event: impl FnMut(&Event)) -> Result<()> {
        let _g = self.begin().await?;
        for e in std::mem::take(&mut self.seen) {
            on_event(&e);
        }
        self.sync_pages(&mut on_event).await?;
        self.flush_outbox().await?;
        self.commit_departures().await?;
        for e in std::mem::take(&mut self.seen) {
            on_event(&e);
        }
        Ok(())
    }

    /// Processes what waits for this device in the middle of another
    /// operation, keeping the events for [`Client::take_seen`].
    async fn catch_up(&mut self) -> Result<()> {
        let mut got = Vec::new();
        let r = self.sync_pages(&mut |e| got.push(e.clone())).await;
        self.seen.extend(got);
        r
    }

    async fn sync_pages<F: FnMut(&Event)>(&mut self, on_event: &mut F) -> Result<()> {
        self.resolve_inflight_commit().await?;
        let mut low = false;
        loop {
            let cursor = self.local.cursor().await?;
            let inbox: InboxResponse = self
                .call::<(), _>(
                    Method::GET,
                    &format!("/v1/inbox?after={cursor}&limit={INBOX_PAGE}"),
                    None,
                )
                .await?;
            low |= inbox.key_packages_low;
            let n = inbox.envelopes.len();
            if n == 0 {
                break;
            }
            let mut events = Vec::new();
            let last = self.apply_envelopes(inbox.envelopes, &mut events).await?;
            for e in &events {
                on_event(e);
            }
            let _: () = self
                .call(
                    Method::POST,
                    "/v1/inbox/ack",
                    Some(&AckRequest { up_to: last }),
                )
                .await?;
            if n < INBOX_PAGE as usize {
                break;
            }
        }
        if low {
            self.replenish_key_packages(false).await?;
        }
        Ok(())
    }

    /// Processes envelopes in order and writes the outcome, with the new
    /// cursor, in one transaction. Returns the last sequence number applied.
    async fn apply_envelopes(
        &mut self,
        envelopes: Vec<Envelope>,
        events: &mut Vec<Event>,
    ) -> Result<u64> {
        let cursor = self.local.cursor().await?;
        let mut changes = Changes::default();
        let mut last = cursor;
        // Chats this device left: what was sent before its departure is
        // still read; what came after is not for it, and the first such
        // entry drops the chat's keys.
        let mut left = self.local.departures().await?;
        let mut standings = self.local.standings().await?;
        // Whether a new chat is a request depends on who started it; the
        // contacts are fetched before anything is applied, so that a failure
        // to fetch them leaves the page for the next sync.
        let contacts = if envelopes
            .iter()
            .any(|e| e.kind == EnvelopeKind::Welcome && e.sender_handle != self.identity.handle)
        {
            self.contacts().await?.handles
        } else {
            Vec::new()
        };
        for env in envelopes {
            if env.seq <= cursor {
                continue;
            }
            last = env.seq;
            if env.kind != EnvelopeKind::Welcome {
                if let Some(at) = left.get(&group_hex(&env.group_id.0)) {
                    if env.group_seq > *at {
                        if let Some(mut g) = mls::load_group(&self.provider, &env.group_id.0)? {
                            g.delete(self.provider.storage()).map_err(mls_err)?;
                        }
                        continue;
                    }
                }
            }
            let mut fresh = Vec::new();
            mls::apply(&self.provider, &self.identity, &env, &mut fresh);
            for mut e in fresh {
                let chat = chat_of(&e).to_string();
                let me = &self.identity.handle;
                let mut request = None;
                match &e {
                    // A declined chat keeps nothing of what arrives.
                    Event::Message(m) if standings.get(&chat) != Some(&Standing::Declined) => {
                        changes.messages.push(m.clone())
                    }
                    Event::Undecryptable(u)
                        if standings.get(&chat) != Some(&Standing::Declined) =>
                    {
                        changes.unopened.push(u.clone())
                    }
                    Event::Joined { by, .. } => {
                        // Added again: what follows is for it.
                        left.remove(&chat);
                        changes.chats.push((chat.clone(), None));
                        let standing = if by == me
                            || contacts.contains(by)
                            || standings.get(&chat) == Some(&Standing::Accepted)
                        {
                            Standing::Accepted
                        } else {
                            request = Some(Event::Request {
                                chat: chat.clone(),
                                by: by.clone(),
                            });
                            Standing::Request { from: by.clone() }
                        };
                        standings.insert(chat.clone(), standing.clone());
                        changes.standing.push((chat.clone(), standing));
                    }
                    Event::Removed { .. } => changes.inactive.push(chat.clone()),
                    Event::Renamed { name, .. } => changes.names.push((chat.clone(), name.clone())),
                    _ => {}
                }
                if let Some(r) = request {
                    e = r;
                }
                // What this person sends from another device answers a
                // request there: they accepted it.
                let mine = match &e {
                    Event::Message(m) => &m.sender == me,
                    Event::MembersChanged { by, .. } => by == me,
                    _ => false,
                };
                if mine && matches!(standings.get(&chat), Some(Standing::Request { .. })) {
                    standings.insert(chat.clone(), Standing::Accepted);
                    changes.standing.push((chat.clone(), Standing::Accepted));
                }
                match standings.get(&chat) {
                    Some(Standing::Declined) => {}
                    Some(Standing::Request { .. }) if !matches!(e, Event::Request { .. }) => {}
                    _ => events.push(e),
                }
            }
        }
        changes.cursor = Some(last);
        self.save(changes).await?;
        Ok(last)
    }

    /// Like [`Client::sync`], then stays connected over a WebSocket and
    /// handles each entry as it arrives, until `stop` completes. Reconnects
    /// after a dropped connection.
    pub async fn watch<F: FnMut(&Event)>(
        &mut self,
        mut on_event: F,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<()> {
        tokio::pin!(stop);
        let mut backoff = std::time::Duration::from_millis(200);
        loop {
            // While the server is unreachable, keep trying (with backoff)
            // until stopped; any other failure ends the watch.
            let caught_up = tokio::select! {
                r = self.sync() => r,
                _ = &mut stop => return Ok(()),
            };
            match caught_up {
                Ok(events) => events.iter().for_each(&mut on_event),
                Err(ClientError::Unreachable { server, reason }) => {
                    tracing_free_log(&format!("{server} unreachable ({reason}); retrying"));
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = &mut stop => return Ok(()),
                    }
                    backoff = (backoff * 2).min(std::time::Duration::from_secs(10));
                    continue;
                }
                Err(e) => return Err(e),
            }
            let token = self.token().await?;
            let cursor = self.local.cursor().await?;
            let url = self.transport.ws_url(&format!("/v1/ws?after={cursor}"));
            let mut req =
                tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
                    url.as_str(),
                )
                .map_err(|e| ClientError::Protocol(e.to_string()))?;
            req.headers_mut().insert(
                "authorization",
                format!("Bearer {token}")
                    .parse()
                    .map_err(|_| ClientError::Protocol("bad token".into()))?,
            );
            let conn = tokio::select! {
                c = tokio_tungstenite::connect_async(req) => c,
                _ = &mut stop => return Ok(()),
            };
            let (mut ws, _) = match conn {
                Ok(c) => c,
                Err(e) => {
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = &mut stop => return Ok(()),
                    }
                    backoff = (backoff * 2).min(std::time::Duration::from_secs(10));
                    tracing_free_log(&format!("reconnecting: {e}"));
                    continue;
                }
            };
            backoff = std::time::Duration::from_millis(200);
            loop {
                let frame = tokio::select! {
                    f = ws.next() => f,
                    _ = &mut stop => {
                        let _ = ws.close(None).await;
                        return Ok(());
                    }
                };
                let text = match frame {
                    Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t))) => t,
                    Some(Ok(_)) => continue,
                    None | Some(Err(_)) => break,
                };
                match serde_json::from_str::<ServerFrame>(text.as_str()) {
                    Ok(ServerFrame::Envelope(env)) => {
                        let mut events = Vec::new();
                        let _g = self.begin().await?;
                        let last = self.apply_envelopes(vec![env], &mut events).await?;
                        drop(_g);
                        let ack = serde_json::to_string(&ClientFrame::Ack { up_to: last })
                            .unwrap_or_default();
                        if ws
                            .send(tokio_tungstenite::tungstenite::Message::Text(ack.into()))
                            .await
                            .is_err()
                        {
                            break;
                        }
                        for e in &events {
                            on_event(e);
                        }
                    }
                    Ok(ServerFrame::KeyPackagesLow) => {
                        let _g = self.begin().await?;
                        self.replenish_key_packages(false).await?;
                    }
                    Ok(ServerFrame::Error(e)) => {
                        return Err(ClientError::Api {
                            code: e.code,
                            message: e.message,
                        })
                    }
                    Err(e) => return Err(ClientError::Protocol(format!("unreadable frame: {e}"))),
                }
            }
        }
    }

    /// Encrypts text messages for a chat without sending them, in order, and
    /// writes the advanced ratchet before returning. For load generators that
    /// must not spend the measured time encrypting; each request (ciphertext and franking commitment) is sent
    /// with `POST /v1/groups/{chat}/messages`.
    pub async fn prepare_messages(
        &mut self,
        chat: &str,
        texts: &[String],
    ) -> Result<Vec<SendRequest>> {
        let _g = self.begin().await?;
        let chat = self.resolve_member_chat(chat).await?;
        let group_id = hex::decode(&chat).map_err(|_| ClientError::UnknownChat(chat.clone()))?;
        let mut group = self.load_group(&chat)?;
        let mut out = Vec::with_capacity(texts.len());
        for t in texts {
            let (plain, proof) = mls::franked(
                &ChatContent::Text { text: t.clone() },
                &group_id,
                &self.identity.handle,
            )?;
            out.push(SendRequest {
                message: Bytes(
                    group
                        .create_message(&self.provider, &self.signer, &plain)
                        .map_err(mls_err)?
                        .to_bytes()
                        .map_err(mls_err)?,
                ),
                commitment: Some(Bytes(proof.commitment.to_vec())),
                client_id: None,
            });
        }
        self.save(Changes::default()).await?;
        Ok(out)
    }

    /// The commit that would remove `handle` from the chat, built and then
    /// dropped: nothing is sent or kept. For tools and tests that speak the
    /// API themselves (`POST /v1/groups/{chat}/commits`).
    pub async fn prepare_removal(&mut self, chat: &str, handle: &str) -> Result<CommitRequest> {
        let _g = self.begin().await?;
        let chat = self.resolve_member_chat(chat).await?;
        self.prepare(&chat, mls::Change::Remove(handle.to_string()))
            .ok_or_else(|| ClientError::Unchanged(format!("{handle} is not in chat {chat}")))?
    }

    /// Like [`Client::prepare_removal`], for adding `handle`: their key
    /// packages are claimed (and so used up) now.
    pub async fn prepare_addition(&mut self, chat: &str, handle: &str) -> Result<CommitRequest> {
        let _g = self.begin().await?;
        let chat = self.resolve_member_chat(chat).await?;
        let claimed = self
            .claim(ClaimRequest {
                handles: vec![handle.to_string()],
                devices: vec![],
            })
            .await?;
        self.prepare(&chat, mls::Change::Add(claimed))
            .ok_or_else(|| ClientError::Unchanged(format!("{handle} is already in chat {chat}")))?
    }

    fn prepare(&mut self, chat: &str, change: mls::Change) -> Option<Result<CommitRequest>> {
        let built = (|| {
            let mut group = self.load_group(chat)?;
            let prepared = mls::prepare_commit(&self.provider, &self.signer, &mut group, &change)?;
            group
                .clear_pending_commit(self.provider.storage())
                .map_err(mls_err)?;
            Ok(prepared)
        })();
        match built {
            Ok(None) => None,
            Ok(Some(prepared)) => Some(Ok(CommitRequest {
                commit: Bytes(prepared.commit),
                welcome: prepared.welcome.map(Bytes),
                added_devices: prepared.added,
                removed_devices: prepared.removed,
            })),
            Err(e) => Some(Err(e)),
        }
    }

    /// A bearer token for this device, for calling the HTTP API directly.
    pub async fn bearer_token(&mut self) -> Result<String> {
        self.token().await
    }

    /// The entries queued for this device, without processing or
    /// acknowledging them.
    pub async fn peek_inbox(&mut self) -> Result<Vec<Envelope>> {
        let cursor = self.local.cursor().await?;
        let inbox: InboxResponse = self
            .call::<(), _>(
                Method::GET,
                &format!("/v1/inbox?after={cursor}&limit={INBOX_PAGE}"),
                None,
            )
            .await?;
        Ok(inbox.envelopes)
    }

    pub async fn chats(&self) -> Result<Vec<ChatSummary>> {
        self.local.chats().await
    }

    pub async fn history(&self, chat: &str) -> Result<Vec<StoredMessage>> {
        let chat = self.resolve_chat(chat).await?;
        self.local.history(&chat).await
    }

    /// A chat's history as this device shows it: its messages and, in
    /// their places, the entries it could not open.
    pub async fn timeline(&self, chat: &str) -> Result<Vec<Event>> {
        let chat = self.resolve_chat(chat).await?;
        let mut out: Vec<Event> = self
            .local
            .history(&chat)
            .await?
            .into_iter()
            .map(Event::Message)
            .chain(
                self.local
                    .unopened(&chat)
                    .await?
                    .into_iter()
                    .map(Event::Undecryptable),
            )
            .collect();
        out.sort_by_key(|e| match e {
            Event::Message(m) => m.seq,
            Event::Undecryptable(u) => u.seq,
            _ => 0,
        });
        Ok(out)
    }

    /// Tries to open an MLS application message of a chat with this device's
    /// state. Used to show that a removed member cannot read later messages,
    /// and by the load generator to prove arrivals are real.
    pub async fn open_ciphertext(&mut self, chat: &str, ciphertext: &[u8]) -> Result<String> {
        let _g = self.begin().await?;
        let mut group = self.load_group(chat)?;
        let text = mls::open_application(&self.provider, &mut group, ciphertext)?;
        self.save(Changes::default()).await?;
        Ok(text)
    }

    pub async fn close(self) {
        self.local.close().await;
    }
}

fn tracing_free_log(msg: &str) {
    if std::env::var_os("KIZUNA_DEBUG").is_some() {
        eprintln!("{msg}");
    }
}
