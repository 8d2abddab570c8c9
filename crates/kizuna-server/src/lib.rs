//! A Kizuna node's user realm: the MLS delivery service and account API over
//! HTTP and WebSocket, wired to a store, the vault and the sequencer.
//!
//! The server only ever relays ciphertext: it reads the public framing of MLS
//! messages (group, epoch, content type) to order them and accepts exactly one
//! commit per group epoch; it never holds a key that decrypts content.

pub mod admin;
mod api;
pub mod audit;
mod blocks;
mod breach;
mod departures;
mod error;
mod governance;
mod ledger;
mod me;
mod moderation;
mod openapi;
mod reports;
mod ws;

// What the node does without HTTP; the handlers reach it by these names.
pub(crate) use kizuna_node::{auth, commits, delivery, framing, limits, roster, sanctions};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use kizuna_config::{DataDir, DataDirLock, NodeKey, Regions};
use kizuna_store::{SqliteStore, Store};
use kizuna_vault::{Requester, Vault};

pub use kizuna_node::Limits;
pub use kizuna_node::{AuthError, DeviceIdentity, UserAuth};
pub use kizuna_policy::{DEFAULT_POLICY, SCHEMA as POLICY_SCHEMA};
pub use kizuna_staff::AnomalyLimits;
pub use openapi::spec as openapi_spec;

/// Unverifiable reports one device may send in an hour; past it they are
/// refused without being recorded.
const REFUSED_REPORTS_PER_HOUR: f64 = 10.0;

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
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    DataDir(#[from] kizuna_config::DataDirError),
    #[error("cannot open the store: {0}")]
    Store(#[from] kizuna_store::StoreError),
    #[error("{count} people have their home in region '{region}', which {origin} does not define; restore the region, or move them with `kizuna admin move-region` under the old configuration first")]
    RegionMissing {
        region: String,
        count: u64,
        origin: String,
    },
    #[error("{0}")]
    Policy(#[from] kizuna_policy::PolicyError),
    #[error("cannot open the staff realm: {0}")]
    Staff(#[from] kizuna_staff::StaffError),
    #[error("cannot open the vault: {0}")]
    Vault(#[from] kizuna_vault::VaultError),
    #[error("cannot open the transparency ledger: {0}; `kizuna audit verify --data-dir DIR` names what is wrong")]
    Ledger(#[from] kizuna_ledger::LedgerError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A running node. Dropping it does not stop it; call [`RunningServer::shutdown`].
pub struct RunningServer {
    pub addr: SocketAddr,
    /// Where the staff API listens, if it does.
    pub staff_addr: Option<SocketAddr>,
    staff: Option<(Arc<kizuna_staff::StaffRealm>, tokio::task::JoinHandle<()>)>,
    shutdown: tokio::sync::watch::Sender<bool>,
    serve: tokio::task::JoinHandle<()>,
    sequencer: tokio::task::JoinHandle<()>,
    store: Arc<dyn Store>,
    state: Arc<api::AppState>,
    vault: Arc<Vault>,
    lock: DataDirLock,
}

/// The name a node's ledger signs its tree heads with.
pub fn ledger_origin(regions: &Regions) -> String {
    format!("kizuna/ledger/{}", regions.node_region().id)
}

/// Opens the vault of a data directory with its transparency ledger,
/// whose tree heads are signed by a key of its own that neither realm's
/// tokens use.
pub async fn open_vault(data_dir: &DataDir, regions: Regions) -> Result<Vault, ServerError> {
    let ledger = open_ledger(data_dir, &regions)?;
    Ok(Vault::open(regions, data_dir, ledger).await?)
}

/// The transparency ledger of a data directory.
pub(crate) fn open_ledger(
    data_dir: &DataDir,
    regions: &Regions,
) -> Result<Arc<kizuna_ledger::Ledger>, ServerError> {
    let seed = data_dir.key(NodeKey::LedgerSigning)?;
    Ok(Arc::new(kizuna_ledger::Ledger::open(
        &data_dir.ledger(),
        kizuna_ledger::TreeHeadKey::new(&ledger_origin(regions), seed),
    )?))
}

/// Moves profiles that an earlier version kept in the node store into their
/// home regions, sealed; each is dropped from the node store only once its
/// region holds it. A profile that cannot move (a field today's rules
/// refuse, a region this node may not reach) stays where it was, is named in
/// the log, and is tried again on the next start; the others move on.
async fn adopt_legacy_profiles(store: &dyn Store, vault: &Vault) -> Result<(), ServerError> {
    let requester = Requester::Operator {
        command: "kizuna serve (moving stored profiles into their home regions)".into(),
    };
    let mut skipped = 0u32;
    loop {
        let batch = store.legacy_profiles(skipped + 500).await?;
        if batch.len() <= skipped as usize {
            if skipped > 0 {
                tracing::error!(
                    count = skipped,
                    "profiles left in the node store; see the messages above"
                );
            }
            return Ok(());
        }
        for p in batch.into_iter().skip(skipped as usize) {
            let moved = match serde_json::from_slice::<kizuna_vault::Profile>(&p.blob) {
                Ok(profile) => vault
                    .register(&p.account_id, &p.region, &profile, &requester)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(format!("unreadable: {e}")),
            };
            match moved {
                Ok(()) => store.drop_legacy_profile(&p.account_id).await?,
                Err(why) => {
                    tracing::error!(account = %p.account_id, region = %p.region, %why, "a stored profile could not move to its region");
                    skipped += 1;
                }
            }
        }
    }
}

impl RunningServer {
    /// Opens the store under `data_dir`, binds, and serves in the background.
    pub async fn start(config: ServerConfig) -> Result<RunningServer, ServerError> {
        let dir = &DataDir::new(&config.data_dir);
        let lock = dir.lock()?;
        let token_key = dir.key(NodeKey::UserToken)?;
        // Its own key: a report can only be verified by this node's binding.
        let franking_key = dir.key(NodeKey::Franking)?;
        // Its own key: only the node speaks as the groups' external sender.
        let delivery_key = departures::DeliveryKey::from_seed(dir.key(NodeKey::Delivery)?);
        // Its own key: only the node can test who blocked whom.
        let block_key = dir.key(NodeKey::Blocks)?;
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.node_store()).await?);
        // People whose region the configuration dropped would be unreachable
        // and their data map would lie; refuse rather than serve them wrong.
        for (region, count) in store.account_regions().await? {
            if config.regions.region(&region).is_none() {
                return Err(ServerError::RegionMissing {
                    region,
                    count,
                    origin: config.regions.origin.clone(),
                });
            }
        }
        // A policy with an error stops the node before it listens.
        let policy = kizuna_policy::Policy::load(config.policy.as_deref())?;
        let vault = Arc::new(open_vault(dir, config.regions.clone()).await?);
        adopt_legacy_profiles(store.as_ref(), &vault).await?;
        let sanctions = Arc::new(sanctions::Sanctions::load(store.as_ref()).await?);
        let blocks = blocks::Blocks::load(block_key, store.as_ref()).await?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| ServerError::Listen {
                addr: config.listen,
                source,
            })?;
        let addr = listener
            .local_addr()
            .map_err(|source| ServerError::Listen {
                addr: config.listen,
                source,
            })?;
        let hub = Arc::new(delivery::Hub::default());
        let (sequencer, seq_task) = delivery::Sequencer::start(store.clone(), hub.clone());
        let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
        // The staff realm: its own key, store and listener; nothing of the
        // user realm's is handed to it.
        let staff = match config.staff_listen {
            None => None,
            Some(listen) => {
                let staff_key = dir.key(NodeKey::StaffToken)?;
                let realm = Arc::new(
                    kizuna_staff::StaffRealm::open(
                        &dir.staff_store(),
                        staff_key,
                        vault.ledger()?.clone(),
                    )
                    .await?,
                );
                let listener = tokio::net::TcpListener::bind(listen)
                    .await
                    .map_err(|source| ServerError::Listen {
                        addr: listen,
                        source,
                    })?;
                let staff_addr = listener
                    .local_addr()
                    .map_err(|source| ServerError::Listen {
                        addr: listen,
                        source,
                    })?;
                use sha2::Digest;
                realm
                    .record(
                        kizuna_staff::EventKind::PolicyLoaded,
                        None,
                        None,
                        serde_json::json!({
                            "origin": policy.origin,
                            "sha256": hex::encode(sha2::Sha256::digest(policy.text.as_bytes())),
                        }),
                    )
                    .await?;
                let gov_for_users = Arc::new(governance::Governance {
                    realm: realm.clone(),
                    store: store.clone(),
                    vault: vault.clone(),
                    policy,
                    anomaly: config.anomaly,
                    sanctions: sanctions.clone(),
                    deciding: Default::default(),
                });
                let gov = gov_for_users.clone();
                let app = kizuna_staff::router(realm.clone())
                    .merge(governance::routes(gov.clone()))
                    .merge(breach::routes(gov.clone()))
                    .merge(moderation::routes(gov))
                    .into_make_service_with_connect_info::<SocketAddr>();
                let mut stop = shutdown_rx.clone();
                let task = tokio::spawn(async move {
                    let r = axum::serve(listener, app)
                        .with_graceful_shutdown(async move {
                            let _ = stop.wait_for(|v| *v).await;
                        })
                        .await;
                    if let Err(e) = r {
                        tracing::error!(error = %e, "the staff listener stopped with an error");
                    }
                });
                Some((staff_addr, realm, task, gov_for_users))
            }
        };
        let governance = staff.as_ref().map(|(_, _, _, g)| g.clone());
        let limits = config.limits.clone();
        let state = Arc::new(api::AppState {
            governance,
            store: store.clone(),
            vault: vault.clone(),
            auth: UserAuth::new(token_key, limits.token_ttl_secs),
            rate: limits::RateLimiter::new(
                limits.requests_per_second as f64,
                limits.request_burst as f64,
            ),
            phone_rate: limits::RateLimiter::new(
                limits.phone_lookups_per_minute as f64 / 60.0,
                limits.phone_lookups_per_minute as f64,
            ),
            signup_rate: limits::RateLimiter::new(
                limits.signups_per_minute as f64 / 60.0,
                limits.signups_per_minute as f64,
            ),
            refused_reports: limits::RateLimiter::new(
                REFUSED_REPORTS_PER_HOUR / 3600.0,
                REFUSED_REPORTS_PER_HOUR,
            ),
            limits,
            sequencer,
            hub,
            handles: Default::default(),
            shutdown: shutdown_rx.clone(),
            franking_key,
            sanctions,
            delivery_key,
            blocks,
            ended: Default::default(),
        });
        tokio::spawn(reports::retention(
            vault.clone(),
            state.sanctions.clone(),
            config.regions.report_retention,
            shutdown_rx.clone(),
        ));
        // Connections carry their peer address, for limits that cannot be
        // keyed by a device.
        let app = api::router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
        let mut stop = shutdown_rx;
        let serve = tokio::spawn(async move {
            let r = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|v| *v).await;
                })
                .await;
            if let Err(e) = r {
                tracing::error!(error = %e, "server stopped with an error");
            }
        });
        let staff_addr = staff.as_ref().map(|(a, _, _, _)| *a);
        let staff = staff.map(|(_, realm, task, _)| (realm, task));
        Ok(RunningServer {
            addr,
            staff_addr,
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

    /// Number of live WebSocket connections.
    pub fn live_connections(&self) -> usize {
        self.state.hub.connected()
    }

    /// Stops accepting requests, lets in-flight ones finish (every message a
    /// client was told is stored already is on disk), and closes the store.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.serve.await;
        if let Some((realm, task)) = self.staff {
            let _ = task.await;
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
