//! A Kizuna node's HTTP edge: the user listener (accounts, groups, delivery
//! over HTTP and WebSocket, a person's own data) and the staff listener
//! (the staff realm and governed access), each handler parsing a request,
//! calling `kizuna-node` and mapping the outcome to an error code.

mod edge;
mod error;
mod openapi;
mod ops;
mod staff;
mod user;

// What the node does without HTTP; the handlers reach it by these names.
pub(crate) use kizuna_node::{auth, delivery, limits, sanctions};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use kizuna_config::{DataDir, DataDirLock, Regions};
use kizuna_node::Node;
use kizuna_store::Store;
use kizuna_vault::Vault;

pub use edge::{client_address, raise_open_file_limit, Edge, TlsError, TlsFiles};
pub use kizuna_node::ops::{admin, audit};
/// Where a node without an SMS gateway leaves the codes it would send.
pub use kizuna_node::phone::Outbox as PhoneOutbox;
pub use kizuna_node::stores;
pub use kizuna_node::Limits;
pub use kizuna_node::{check_configuration, ledger_origin, open_ledger, open_vault};
pub use kizuna_node::{AuthError, DeviceIdentity, UserAuth};
pub use kizuna_policy::{DEFAULT_POLICY, SCHEMA as POLICY_SCHEMA};
pub use kizuna_staff::{totp_now, AnomalyLimits};
pub use openapi::spec as openapi_spec;
pub use staff::openapi::spec as staff_openapi_spec;

/// Loads and validates a staff access policy as `RunningServer::start`
/// does (`None`: the shipped policy), for checking one before serving.
pub fn load_policy(path: Option<&std::path::Path>) -> Result<(), ServerError> {
    kizuna_policy::Policy::load(path)?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub limits: Limits,
    /// The region configuration: placement, access rules, disclosures.
    pub regions: Regions,
    /// The staff realm's own listener (loopback by default); `None` runs
    /// the node without one.
    pub staff_listen: Option<SocketAddr>,
    /// The Cedar policy for staff access; `None` is the shipped default.
    pub policy: Option<PathBuf>,
    /// When staff behaviour raises an alert and suspends the member.
    pub anomaly: kizuna_staff::AnomalyLimits,
    /// TLS, trusted proxies, the connection limit and timeouts of both
    /// listeners.
    pub edge: Edge,
    /// The operations listener (`/healthz`, `/readyz`, `/metrics`); `None`
    /// runs the node without one.
    pub ops_listen: Option<SocketAddr>,
}

impl ServerConfig {
    pub fn new(data_dir: impl Into<PathBuf>, listen: SocketAddr) -> Self {
        ServerConfig {
            data_dir: data_dir.into(),
            listen,
            limits: Limits::default(),
            regions: Regions::embedded(),
            // Loopback either way; a node on a port the system picks (tests,
            // the demo) gets its staff listener the same way.
            staff_listen: Some(SocketAddr::from((
                [127, 0, 0, 1],
                if listen.port() == 0 {
                    0
                } else {
                    kizuna_wire::staff::DEFAULT_STAFF_PORT
                },
            ))),
            policy: None,
            anomaly: kizuna_staff::AnomalyLimits::default(),
            edge: Edge::default(),
            ops_listen: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    DataDir(#[from] kizuna_config::DataDirError),
    #[error(transparent)]
    Open(#[from] kizuna_node::OpenError),
    #[error("cannot open the store: {0}")]
    Store(#[from] kizuna_store::StoreError),
    #[error("{0}")]
    Policy(#[from] kizuna_policy::PolicyError),
    #[error("cannot open the staff realm: {0}")]
    Staff(#[from] kizuna_staff::StaffError),
    #[error("cannot open the vault: {0}")]
    Vault(#[from] kizuna_vault::VaultError),
    #[error("cannot open the transparency ledger: {0}; `kizuna audit verify --data-dir DIR` names what is wrong")]
    Ledger(#[from] kizuna_ledger::LedgerError),
    #[error("cannot listen for the {listener} API on {addr}")]
    Listen {
        /// Which of the node's listeners: `user` or `staff`.
        listener: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// A running node. Dropping it does not stop it; call [`RunningServer::shutdown`].
pub struct RunningServer {
    /// `https` when the node serves TLS itself, else `http`.
    pub scheme: &'static str,
    pub addr: SocketAddr,
    /// Where the staff API listens, if it does.
    pub staff_addr: Option<SocketAddr>,
    /// Where the operations listener is, if there is one.
    pub ops_addr: Option<SocketAddr>,
    ops: Option<tokio::task::JoinHandle<()>>,
    staff: Option<(Arc<kizuna_staff::StaffRealm>, tokio::task::JoinHandle<()>)>,
    shutdown: tokio::sync::watch::Sender<bool>,
    serve: tokio::task::JoinHandle<()>,
    sequencer: tokio::task::JoinHandle<()>,
    store: Arc<dyn Store>,
    state: Arc<user::AppState>,
    vault: Arc<Vault>,
    lock: DataDirLock,
}

impl RunningServer {
    /// Opens the store under `data_dir`, binds, and serves in the background.
    pub async fn start(config: ServerConfig) -> Result<RunningServer, ServerError> {
        let dir = &DataDir::new(&config.data_dir);
        let lock = dir.lock()?;
        // A policy with an error stops the node before it listens.
        let policy = kizuna_policy::Policy::load(config.policy.as_deref())?;
        let (node, seq_task) =
            Node::open(dir, config.regions.clone(), config.limits.clone()).await?;
        if config.regions.phone_gateway.is_some() {
            tracing::info!("{}", node.phone_codes.sender.describe());
        } else {
            tracing::warn!("{}", node.phone_codes.sender.describe());
        }
        let node = Arc::new(node);
        node.listen_to_cluster().await?;
        let (store, vault) = (node.store.clone(), node.vault.clone());
        let (listener, addr) = bind("user", config.listen).await?;
        let open_files = raise_open_file_limit();
        let user_gate = edge::Gate::new(&config.edge, open_files)?;
        tracing::info!(
            limit = user_gate.limit(),
            open_files = open_files.unwrap_or(0),
            "connections per listener"
        );
        let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
        // The staff realm: its own key, store and listener; nothing of the
        // user realm's is handed to it.
        let staff = match config.staff_listen {
            None => None,
            Some(listen) => {
                let governance = Arc::new(
                    kizuna_node::governance::Governance::open(dir, &node, policy, config.anomaly)
                        .await?,
                );
                let (listener, staff_addr) = bind("staff", listen).await?;
                let gate = edge::Gate::new(&config.edge, open_files)?;
                let realm = governance.realm.clone();
                tokio::spawn(kizuna_staff::record_failed_logins_every_window(
                    realm.clone(),
                    shutdown_rx.clone(),
                ));
                tokio::spawn(kizuna_staff::settle_pending_every_minute(
                    realm.clone(),
                    shutdown_rx.clone(),
                ));
                let app = staff::router(governance.clone());
                let task = tokio::spawn(edge::serve(
                    listener,
                    app,
                    gate,
                    "staff",
                    shutdown_rx.clone(),
                ));
                Some((staff_addr, realm, task, governance))
            }
        };
        let governance = staff.as_ref().map(|(_, _, _, g)| g.clone());
        // Plain HTTP whatever the APIs speak: it says nothing about anyone,
        // and monitoring inside the operator's network reads it.
        let ops = match config.ops_listen {
            None => None,
            Some(listen) => {
                let (listener, ops_addr) = bind("operations", listen).await?;
                let gate = edge::Gate::new(
                    &Edge {
                        tls: None,
                        ..config.edge.clone()
                    },
                    open_files,
                )?;
                let task = tokio::spawn(edge::serve(
                    listener,
                    ops::router(node.clone()),
                    gate,
                    "operations",
                    shutdown_rx.clone(),
                ));
                Some((ops_addr, task))
            }
        };
        let limits = config.limits.clone();
        let shared_buckets = node.shared_buckets.clone();
        let state = Arc::new(user::AppState {
            node,
            governance,
            rate: limits::RateLimiter::new(
                limits.requests_per_second as f64,
                limits.request_burst as f64,
            ),
            signup_rate: limits::RateLimiter::new(
                limits.signups_per_minute as f64 / 60.0,
                limits.signups_per_minute as f64,
            )
            .shared_in(shared_buckets, "signup"),
            shutdown: shutdown_rx.clone(),
        });
        tokio::spawn(kizuna_node::files::sweep(
            state.node.clone(),
            shutdown_rx.clone(),
        ));
        tokio::spawn(kizuna_node::official::announcement_retention(
            state.node.clone(),
            shutdown_rx.clone(),
        ));
        tokio::spawn(kizuna_node::reports::retention(
            vault.clone(),
            state.node.store.clone(),
            state.sanctions.clone(),
            config.regions.report_retention,
            shutdown_rx.clone(),
        ));
        // Each request carries its client's address (behind a trusted proxy,
        // the one it forwards), for limits that cannot be keyed by a device.
        let scheme = user_gate.scheme();
        let app = user::router(state.clone());
        let serve = tokio::spawn(edge::serve(listener, app, user_gate, "user", shutdown_rx));
        let staff_addr = staff.as_ref().map(|(a, _, _, _)| *a);
        let staff = staff.map(|(_, realm, task, _)| (realm, task));
        let (ops_addr, ops) = match ops {
            Some((a, t)) => (Some(a), Some(t)),
            None => (None, None),
        };
        Ok(RunningServer {
            scheme,
            addr,
            staff_addr,
            ops_addr,
            ops,
            staff,
            shutdown,
            serve,
            sequencer: seq_task,
            store,
            state,
            vault,
            lock,
        })
    }

    /// The user API's address as a client names it, e.g. `https://127.0.0.1:7480`.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// Number of live WebSocket connections.
    pub fn live_connections(&self) -> usize {
        self.state.hub.connected()
    }

    /// Stops accepting requests, lets in-flight ones finish (every message a
    /// client was told is stored already is on disk), and closes the store.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.serve.await;
        if let Some(ops) = self.ops {
            let _ = ops.await;
        }
        if let Some((realm, task)) = self.staff {
            let _ = task.await;
            // Failures of a window not yet closed are recorded, not lost.
            if let Err(e) = realm.record_failed_logins().await {
                tracing::error!(error = %e, "the last failed logins could not be recorded");
            }
            realm.close().await;
        }
        // The sequencer ends when the last handle to it (in the app state) is gone.
        drop(self.state);
        // A WebSocket task still unwinding may hold the state a moment longer.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), self.sequencer).await;
        self.store.close().await;
        self.vault.close().await;
        drop(self.lock);
    }
}

/// Binds one of the node's listeners, naming it in the error.
async fn bind(
    listener: &'static str,
    addr: SocketAddr,
) -> Result<(tokio::net::TcpListener, SocketAddr), ServerError> {
    let fail = |source| ServerError::Listen {
        listener,
        addr,
        source,
    };
    let bound = tokio::net::TcpListener::bind(addr).await.map_err(fail)?;
    let local = bound.local_addr().map_err(fail)?;
    Ok((bound, local))
}
