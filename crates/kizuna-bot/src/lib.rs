//! An official account's daemon: the account's own device, run by the
//! organisation on its own machines, which posts what followers send to the
//! organisation's webhook and sends what the organisation's local API is
//! given — replies, cards and notices — end to end, so nothing a resident
//! tells the organisation passes through anyone else readable.

mod api;
mod state;
mod webhook;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kizuna_client::Client;
use tokio::sync::{Mutex, Notify};

pub use api::{AnnounceRequest, MessageRequest, NoticeRequest, NoticeSent, SentMessage};
pub use state::Follower;
pub use webhook::WebhookEvent;

/// The default port of a daemon's local API, on loopback.
pub const DEFAULT_BOT_PORT: u16 = 7490;

/// Where the daemon runs and whom it talks to.
#[derive(Clone, Debug)]
pub struct BotConfig {
    /// The official account's device home.
    pub home: PathBuf,
    /// The organisation's webhook: every event is POSTed there as JSON.
    pub webhook: String,
    /// Where the local API listens (loopback, unless the organisation
    /// means otherwise).
    pub listen: SocketAddr,
    /// The secret both directions carry as `Authorization: Bearer`.
    pub secret: String,
}

#[derive(Debug, thiserror::Error)]
pub enum BotError {
    #[error(transparent)]
    Client(#[from] kizuna_client::ClientError),
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: SocketAddr, reason: String },
    #[error("the daemon's state in {path}: {reason}")]
    State { path: PathBuf, reason: String },
    #[error("the secret file {path}: {reason}")]
    Secret { path: PathBuf, reason: String },
}

/// The secret in `path`, made (32 random bytes, hex, owner-only) if the
/// file does not exist yet, so the organisation's webhook can be given it.
pub fn secret_from(path: &Path) -> Result<String, BotError> {
    let fail = |reason: String| BotError::Secret {
        path: path.to_path_buf(),
        reason,
    };
    match std::fs::read_to_string(path) {
        Ok(s) if s.trim().len() >= 16 => Ok(s.trim().to_string()),
        Ok(_) => Err(fail(
            "holds fewer than 16 characters; a guessable secret lets anyone on this machine send as the organisation".into(),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut b = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut b);
            let s = hex::encode(b);
            state::write_private(path, s.as_bytes()).map_err(|e| fail(e.to_string()))?;
            Ok(s)
        }
        Err(e) => Err(fail(e.to_string())),
    }
}

/// What the daemon's parts share: the device (one operation at a time, as
/// every client of a home), its state, and the wake-up of the delivery.
pub(crate) struct Shared {
    pub client: Mutex<Client>,
    pub state: Mutex<state::State>,
    pub wake: Notify,
    pub config: BotConfig,
    pub http: reqwest::Client,
}

/// A running daemon: its local API's address, and the task that keeps it.
pub struct RunningBot {
    pub addr: SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningBot {
    /// Starts the daemon: the local API, the device kept connected to the
    /// node, and the delivery of what arrives to the webhook.
    pub async fn start(config: BotConfig) -> Result<RunningBot, BotError> {
        let client = Client::open(&config.home).await?;
        let watcher = Client::open(&config.home).await?;
        let state = state::State::load(&config.home)?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| BotError::Listen {
                addr: config.listen,
                reason: e.to_string(),
            })?;
        let addr = listener.local_addr().map_err(|e| BotError::Listen {
            addr: config.listen,
            reason: e.to_string(),
        })?;
        let shared = Arc::new(Shared {
            client: Mutex::new(client),
            state: Mutex::new(state),
            wake: Notify::new(),
            config,
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .map_err(|e| BotError::Listen {
                    addr,
                    reason: e.to_string(),
                })?,
        });
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let tasks = vec![
            tokio::spawn(webhook::watch(watcher, shared.clone(), stopped.clone())),
            tokio::spawn(webhook::deliver(shared.clone(), stopped.clone())),
            tokio::spawn(api::serve(listener, shared, stopped)),
        ];
        Ok(RunningBot { addr, stop, tasks })
    }

    /// Stops the daemon; what was delivered is recorded, the rest is
    /// delivered by the next start.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}
