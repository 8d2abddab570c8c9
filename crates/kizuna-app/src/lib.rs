//! The device's own app and the staff console: web pages served on
//! loopback by the person's own process, which keeps the keys (or the staff
//! session) and talks to the node.
//!
//! The page never sees a key: it asks this process for chats and messages
//! as text, and this process encrypts, sends, receives and decrypts with
//! the client library. Only the browser that opened the one-time address
//! gets a session; everything the page runs is embedded in the binary and
//! confined by a strict Content-Security-Policy.

mod api;
mod assets;
mod console;
mod error;
mod events;
mod session;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use kizuna_client::Client;
use tokio::sync::{broadcast, Mutex};

pub use error::AppError;
use events::PageEvent;
use session::Sessions;

/// What the handlers share: the device's client, the page's live events and
/// the session.
pub(crate) struct AppState {
    pub client: Mutex<Client>,
    pub events: broadcast::Sender<PageEvent>,
    pub sessions: Arc<Sessions>,
    /// Whether the device is connected to the node now.
    pub connected: Arc<AtomicBool>,
    /// One lock per file being fetched (without the client): two asks
    /// for one picture fetch it once, and other files do not wait.
    pub saving: Mutex<std::collections::HashMap<String, Arc<Mutex<()>>>>,
    /// When this account's own key-log entries were last checked.
    pub own_keys_checked: std::sync::Mutex<Option<std::time::Instant>>,
    /// Chat members the key log did not bind to their person, as the page
    /// was told of them: told again to every page that connects.
    pub key_warnings: Arc<std::sync::Mutex<Vec<String>>>,
    /// The chat list's marks of followed official accounts.
    pub official_marks: api::OfficialMarks,
}

/// A running app: its address and the task serving it.
pub struct RunningApp {
    /// The address to open, with its one-time secret.
    pub open_url: String,
    /// The loopback address it listens on.
    pub local_addr: SocketAddr,
    served: tokio::task::JoinHandle<Result<(), AppError>>,
}

impl RunningApp {
    /// Serves until the server fails or the process is stopped.
    pub async fn wait(self) -> Result<(), AppError> {
        self.served
            .await
            .map_err(|e| AppError::Serve(e.to_string()))?
    }
}

/// Starts the app of the device kept under `home` on a free loopback port
/// (or `port`, if given).
pub async fn start(home: &Path, port: Option<u16>) -> Result<RunningApp, AppError> {
    let client = Client::open(home).await?;
    // Plaintext of files a killed app was sending is not left behind.
    let _ = std::fs::remove_dir_all(api::outbox(home));
    // A second client on the same home stays connected to the node; the
    // home's lock keeps the two from using a stale ratchet.
    let watcher = Client::open(home).await?;
    let (listener, sessions) = bind(port).await?;
    let (events, _) = broadcast::channel(1024);
    let connected = Arc::new(AtomicBool::new(false));
    // What the device was told of chat members before, shown again.
    let key_warnings = Arc::new(std::sync::Mutex::new(
        client
            .members_not_logged()
            .await?
            .iter()
            .filter_map(events::warning)
            .collect::<Vec<_>>(),
    ));
    let state = Arc::new(AppState {
        client: Mutex::new(client),
        events: events.clone(),
        sessions,
        connected: connected.clone(),
        saving: Mutex::new(Default::default()),
        own_keys_checked: std::sync::Mutex::new(None),
        key_warnings: key_warnings.clone(),
        official_marks: Default::default(),
    });
    events::spawn_watcher(watcher, events, connected, key_warnings);
    serve(listener, state.sessions.clone(), api::router(state))
}

/// Starts the staff console, whose session is kept under `home` (as
/// `kizuna staff login` keeps it), for the node's staff listener at
/// `server` (or the kept session's).
pub async fn start_console(
    home: &Path,
    server: Option<String>,
    ca_cert: Option<String>,
    port: Option<u16>,
) -> Result<RunningApp, AppError> {
    // A session kept by an earlier login serves until the node ends it.
    let kept = kizuna_console::staff::StaffClient::open(home).ok();
    let (listener, sessions) = bind(port).await?;
    let state = Arc::new(console::ConsoleState {
        home: home.to_path_buf(),
        server,
        ca_cert,
        client: tokio::sync::RwLock::new(kept),
        scope: std::sync::Mutex::new(None),
        sessions,
    });
    serve(listener, state.sessions.clone(), console::router(state))
}

/// A free loopback port (or `port`), and the sessions of the page served
/// there: its one-time address is known once the port is.
async fn bind(port: Option<u16>) -> Result<(tokio::net::TcpListener, Arc<Sessions>), AppError> {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port.unwrap_or(0)))
        .await
        .map_err(|e| AppError::Bind(e.to_string()))?;
    let addr = listener
        .local_addr()
        .map_err(|e| AppError::Bind(e.to_string()))?;
    Ok((listener, Arc::new(Sessions::new(addr))))
}

/// Serves `router` on `listener` in a task of its own.
fn serve(
    listener: tokio::net::TcpListener,
    sessions: Arc<Sessions>,
    router: axum::Router,
) -> Result<RunningApp, AppError> {
    let local_addr = listener
        .local_addr()
        .map_err(|e| AppError::Bind(e.to_string()))?;
    let served = tokio::spawn(async move {
        axum::serve(listener, router)
            .await
            .map_err(|e| AppError::Serve(e.to_string()))
    });
    Ok(RunningApp {
        open_url: sessions.open_url(),
        local_addr,
        served,
    })
}
