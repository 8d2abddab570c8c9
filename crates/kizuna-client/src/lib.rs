//! The Kizuna client library: a device's MLS identity and groups, its local
//! history, and the protocol with a Kizuna server. The CLI, the tests, the demo
//! and the load generator all drive this same library.
//!
//! Every operation runs under a lock on the home directory and starts from the
//! state on disk, so several processes on one home (say `watch` and `send`)
//! never use a stale ratchet. New MLS state is written before anything built
//! from it leaves the device, so a crash can waste a key but never reuse one.
//!
//! [`Client`] and its construction are here; its operations are grouped by
//! kind, one `impl Client` block per module (devices, chats, requests,
//! commits, send, sync, watch, privacy, people, reports, ledger checks).

pub mod audit;
mod chats;
mod commits;
mod devices;
mod error;
mod files;
mod key_log;
mod key_packages;
mod ledger;
mod local;
mod mls;
mod official;
mod people;
mod privacy;
mod reports;
mod requests;
mod safety;
mod send;
mod session;
mod sync;
mod transport;
mod watch;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use kizuna_wire::*;
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;
use reqwest::Method;

pub use error::{ClientError, Result};
pub use files::{media_type, refused_token, FileSave, FileSend, PartSender, SavedFile};
pub use key_log::{LoggedDevice, LoggedKeys, OfficialBadge, RevokedBadge};
pub use ledger::{VerifiedAccess, VerifiedAccesses};
pub use local::{
    Attachment, ChatRequest, ChatSummary, FrankProof, LastMessage, Standing, StoredMessage,
    Unopened,
};
pub use official::{OfficialDetails, OfficialStanding, ReceivedAnnouncement};
pub use safety::{KeyStanding, SafetyNumber};
pub use transport::{normalise_server, ServerAddress};

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

/// Where a device keeps its person's display name, which its messages carry.
const DISPLAY_NAME: &str = "display_name";

/// A display name as others' devices keep it: at most 100 characters, with
/// no control characters (a name is shown beside messages, not obeyed).
pub(crate) fn display_name(n: &str) -> String {
    n.chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect::<String>()
        .trim()
        .to_string()
}

/// One-time key packages a device keeps on the server.
const KEY_PACKAGE_TARGET: usize = 30;
/// Attempts at a commit or send when other members keep winning the epoch.
const MAX_ATTEMPTS: u32 = 8;

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
    /// A device was linked to this account since this device last looked,
    /// vouched for in the key log by `by`, another device of the account.
    DeviceLinked {
        device_id: String,
        by: String,
        at: u64,
    },
    /// A member of a chat (one a Welcome brought, or another member added)
    /// whose key the key log does not show as `handle`'s device: it may not
    /// be `handle` at all. Nothing it sends should be trusted until the
    /// safety number is compared.
    KeyNotLogged {
        chat: String,
        handle: String,
        device_id: String,
        why: String,
    },
    /// An official account's announcement, checked on this device.
    Announcement(crate::ReceivedAnnouncement),
    /// An announcement that did not hold up: altered or made up by the
    /// node, or from an account no longer official. Not kept.
    AnnouncementRefused {
        handle: String,
        pos: u64,
        why: String,
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
    /// The code [`Client::send_phone_code`] had sent to the phone.
    pub phone_code: &'a str,
    pub email: Option<&'a str>,
    pub region: &'a str,
    pub device_label: &'a str,
    /// The version of the region's disclosures ([`Client::disclosures`])
    /// the person read and agreed to; the node creates nothing without it.
    pub agreed_disclosures: Option<&'a str>,
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
    /// The newest announcement position the node named in an inbox page:
    /// announcements are read only when it is past what this device has.
    announcements_to: u64,
}

/// Held for the length of one operation; dropping it releases the home.
struct HomeLock(#[allow(dead_code)] std::fs::File);

async fn lock_home(home: &Path) -> Result<HomeLock> {
    let path = home.join("lock");
    let f = tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
        let mut opts = std::fs::OpenOptions::new();
        opts.create(true).truncate(false).write(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let f = opts.open(&path)?;
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

impl Client {
    /// Creates the account and this device's MLS identity, and publishes its
    /// key packages.
    pub async fn register(
        home: &Path,
        server: impl Into<ServerAddress>,
        opts: RegisterOptions<'_>,
    ) -> Result<Client> {
        let server = server.into();
        let local = Local::open(home).await?;
        if local.meta("device_id").await?.is_some() {
            return Err(ClientError::AlreadyRegistered(home.to_path_buf()));
        }
        let transport = Transport::new(&server)?;
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
                    phone_code: opts.phone_code.trim().to_string(),
                    email: opts.email.map(str::to_string),
                    region: opts.region.to_string(),
                    agreed_disclosures: opts.agreed_disclosures.map(str::to_string),
                    device: NewDevice {
                        signature_key: Bytes(key),
                        label: opts.device_label.to_string(),
                        signature: Bytes(signature),
                    },
                }),
            )
            .await?;
        let identity = Identity {
            server: transport.servers(),
            handle: opts.handle.to_string(),
            account_id: resp.account_id,
            device_id: resp.device_id,
        };
        Self::save_identity(&local, &identity, &signer, &server).await?;
        local
            .set_meta(DISPLAY_NAME, opts.name.trim().as_bytes())
            .await?;
        let mut client = Client::assemble(home, local, transport, signer, identity);
        let _g = client.begin().await?;
        client.replenish_key_packages(true).await?;
        Ok(client)
    }

    /// What a person whose home is `region` must read and agree to before
    /// registering there: every foreign country that may reach their data,
    /// with its disclosure, and the version to agree to.
    pub async fn disclosures(
        server: impl Into<ServerAddress>,
        region: &str,
    ) -> Result<kizuna_wire::Disclosures> {
        Transport::new(&server.into())?
            .call::<(), _>(
                Method::GET,
                &format!("/v1/regions/{region}/disclosures"),
                None,
                None,
            )
            .await
    }

    /// Asks the node to send a one-time code to `phone`, which registering
    /// in `region` with that number then needs; `agreed_disclosures` as
    /// for [`Client::register`] (the disclosures name where the number
    /// goes to be sent the code).
    pub async fn send_phone_code(
        server: impl Into<ServerAddress>,
        phone: &str,
        region: &str,
        agreed_disclosures: Option<&str>,
    ) -> Result<kizuna_wire::PhoneCodeSent> {
        let req = kizuna_wire::PhoneCodeRequest {
            phone: phone.to_string(),
            region: region.to_string(),
            agreed_disclosures: agreed_disclosures.map(str::to_string),
        };
        Transport::new(&server.into())?
            .call(Method::POST, "/v1/phone/codes", None, Some(&req))
            .await
    }

    async fn save_identity(
        local: &Local,
        id: &Identity,
        signer: &SignatureKeyPair,
        server: &ServerAddress,
    ) -> Result<()> {
        local.set_meta("server", id.server.as_bytes()).await?;
        // The authority this device trusts for its server, kept for every
        // later command.
        if let Some(pem) = &server.ca_cert {
            local.set_meta("ca_cert", pem).await?;
        }
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
            announcements_to: 0,
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
        let address = ServerAddress {
            url: server,
            ca_cert: local.meta("ca_cert").await?,
        };
        let transport = Transport::new(&address)?;
        let identity = Identity {
            server: transport.servers(),
            handle,
            account_id,
            device_id,
        };
        let mut c = Client::assemble(home, local, transport, signer, identity);
        c.token = token;
        Ok(c)
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The name this person's messages carry to the others in a chat: the
    /// one they registered with, asked of the node once by a device linked
    /// later. None when it cannot be had now; messages go without it.
    pub async fn display_name(&mut self) -> Option<String> {
        if let Ok(Some(n)) = self.local.meta_string(DISPLAY_NAME).await {
            return Some(n).filter(|n| !n.is_empty());
        }
        let me = self.me().await.ok()?;
        let name = display_name(&me.name);
        self.local
            .set_meta(DISPLAY_NAME, name.as_bytes())
            .await
            .ok()?;
        Some(name).filter(|n| !n.is_empty())
    }

    pub fn home(&self) -> &Path {
        &self.home
    }

    /// Takes the home lock and loads the MLS state from disk.
    pub(crate) async fn begin(&mut self) -> Result<HomeLock> {
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

    /// Events this client processed on its own while doing something else
    /// (a commit or send first processes what waits for the group), since
    /// the last call.
    pub fn take_seen(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.seen)
    }

    pub async fn close(self) {
        self.local.close().await;
    }
}
