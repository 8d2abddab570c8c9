//! The node itself: what it holds while it runs (store, vault, keys,
//! sequencer, the hub of live connections, what it enforces in memory) and
//! how it opens a data directory.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use kizuna_config::{DataDir, DataDirError, NodeKey, Regions};
use kizuna_store::{Account, Store};
use kizuna_vault::{Requester, Vault};
use kizuna_wire::ErrorCode;

use crate::auth::{DeviceIdentity, UserAuth};
use crate::blocks::Blocks;
use crate::delivery::{Hub, Sequencer};
use crate::departures::{DeliveryKey, Ended};
use crate::error::NodeError;
use crate::limits::{Limits, RateLimiter};
use crate::sanctions::Sanctions;

/// Unverifiable reports one device may send in an hour; past it they are
/// refused without being recorded.
const REFUSED_REPORTS_PER_HOUR: f64 = 10.0;

/// Handles kept in memory before the cache starts over.
const HANDLE_CACHE: usize = 1_000_000;

/// A running node's state. The edges (HTTP, WebSocket) hold it; it holds
/// nothing of theirs.
pub struct Node {
    pub store: Arc<dyn Store>,
    pub vault: Arc<Vault>,
    pub auth: UserAuth,
    pub limits: Limits,
    /// Phone-number lookups, per device.
    pub phone_rate: RateLimiter,
    /// Where phone codes go, and how many each number asked for.
    pub phone_codes: crate::phone::PhoneCodes,
    /// The token buckets a cluster's nodes share in Redis, when it names one.
    pub shared_buckets: Option<Arc<crate::limits::SharedBuckets>>,
    /// Reports refused as unverifiable, per device: each is recorded, so a
    /// device may not make the ledger grow without bound by sending them.
    pub refused_reports: RateLimiter,
    pub sequencer: Sequencer,
    pub hub: Arc<Hub>,
    /// What the operations listener reports.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Binds each accepted message's franking commitment to its sender,
    /// chat and time (`keys/franking.key`).
    pub franking_key: [u8; 32],
    pub sanctions: Arc<Sanctions>,
    /// Signs the node's own proposals as every group's external sender.
    pub delivery_key: DeliveryKey,
    /// The blocks the node enforces, by keyed hashes (`keys/blocks.key`).
    pub blocks: Blocks,
    /// Devices revoked or erased: their tokens end at once.
    pub ended: Ended,
    /// Which accounts the node may serve beyond their rights, by their
    /// agreement to their region's disclosures.
    pub agreements: crate::disclosures::Agreements,
    /// The file stores of the regions this node may reach.
    pub files: Arc<crate::files::FileStores>,
    handles: RwLock<HashMap<String, String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    #[error("cannot open the store: {0}")]
    Store(#[from] kizuna_store::StoreError),
    #[error("{count} people have their home in region '{region}', which {origin} does not define; restore the region, or move them with `kizuna admin move-region` under the old configuration first")]
    RegionMissing {
        region: String,
        count: u64,
        origin: String,
    },
    #[error("cannot open the vault: {0}")]
    Vault(#[from] kizuna_vault::VaultError),
    #[error("cannot open the transparency ledger: {0}; `kizuna audit verify --data-dir DIR` names what is wrong")]
    Ledger(#[from] kizuna_ledger::LedgerError),
    #[error("cannot open the staff store: {0}")]
    Staff(#[from] kizuna_staff::StaffError),
    #[error("the key file {path} is missing; the nodes of a cluster share their keys: make them once with `kizuna admin init-keys`, then give every node a copy of that data directory's keys/")]
    ClusterKeyMissing { path: std::path::PathBuf },
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
    #[error(transparent)]
    SharedLimits(#[from] crate::limits::RedisUnreachable),
    #[error(transparent)]
    Files(#[from] crate::files::FileStoreError),
    #[error("the SMS gateway of the configuration: {0}")]
    PhoneGateway(#[from] crate::phone::SendError),
    /// Entries of the key log a crash left unnumbered could not be settled.
    #[error("the key log's unfinished entries could not be settled: {0}")]
    KeyLog(String),
}

/// The name a node's ledger signs its tree heads with.
pub fn ledger_origin(regions: &Regions) -> String {
    format!("kizuna/ledger/{}", regions.node_region().id)
}

/// The transparency ledger of a data directory, whose tree heads are signed
/// by a key of its own that neither realm's tokens use.
pub fn open_ledger(
    dir: &DataDir,
    regions: &Regions,
) -> Result<Arc<kizuna_ledger::Ledger>, OpenError> {
    let seed = crate::stores::node_key(dir, regions, NodeKey::LedgerSigning)?;
    Ok(Arc::new(kizuna_ledger::Ledger::open(
        &dir.ledger(),
        kizuna_ledger::TreeHeadKey::new(&ledger_origin(regions), seed),
    )?))
}

/// Refuses a configuration that no longer defines a region where people
/// have their home: they would be unreachable and their data map would lie.
async fn regions_cover(store: &dyn Store, regions: &Regions) -> Result<(), OpenError> {
    for (region, count) in store.account_regions().await? {
        if regions.region(&region).is_none() {
            return Err(OpenError::RegionMissing {
                region,
                count,
                origin: regions.origin.clone(),
            });
        }
    }
    Ok(())
}

/// Checks a configuration against a data directory as opening the node
/// would, without opening it: what `kizuna config check --data-dir` asks.
/// A directory with no node store yet holds nobody, and passes.
pub async fn check_configuration(dir: &DataDir, regions: &Regions) -> Result<(), OpenError> {
    if regions.node_store.is_none() && !dir.node_store().exists() {
        return Ok(());
    }
    let store = crate::stores::open_node_store(dir, regions).await?;
    let checked = regions_cover(store.as_ref(), regions).await;
    store.close().await;
    checked
}

/// Opens the vault of a data directory with its transparency ledger,
/// once the ledger is known to hold every entry the data directory's
/// stores numbered (the vault checks its regions itself).
pub async fn open_vault(dir: &DataDir, regions: Regions) -> Result<Vault, OpenError> {
    // A cluster's nodes share one ledger in the node database; this node's
    // ledger files mirror it.
    let ledger = crate::stores::open_node_ledger(dir, &regions).await?;
    check_staff_entries(dir, &regions, &ledger).await?;
    Ok(Vault::open(regions, dir, ledger).await?)
}

/// A ledger rolled back behind the staff store would number the regions'
/// next entries with numbers the staff store already holds, whether or
/// not this start opens the staff realm: refuse before anything is
/// numbered.
async fn check_staff_entries(
    dir: &DataDir,
    regions: &Regions,
    ledger: &kizuna_ledger::Ledger,
) -> Result<(), OpenError> {
    let at = crate::stores::staff_location(dir, regions)?;
    if matches!(&at, kizuna_staff::StaffStoreAt::File(path) if !path.exists()) {
        return Ok(());
    }
    let realm = kizuna_staff::StaffRealm::open_for_audit(at).await?;
    let held = realm.check_held_by(ledger).await;
    realm.close().await;
    Ok(held??)
}

impl Node {
    /// Opens the node of a data directory (whose lock the caller holds) and
    /// starts its sequencer, which ends when the node is dropped.
    pub async fn open(
        dir: &DataDir,
        regions: Regions,
        limits: Limits,
    ) -> Result<(Node, tokio::task::JoinHandle<()>), OpenError> {
        // Owner-only, whoever opens it and whatever an earlier version left.
        dir.keep_private()?;
        let key = |k| crate::stores::node_key(dir, &regions, k);
        let token_key = key(NodeKey::UserToken)?;
        // Its own key: a report can only be verified by this node's binding.
        let franking_key = key(NodeKey::Franking)?;
        // Its own key: only the node speaks as the groups' external sender.
        let delivery_key = DeliveryKey::from_seed(key(NodeKey::Delivery)?);
        // Its own key: only the node can test who blocked whom.
        let block_key = key(NodeKey::Blocks)?;
        let store = crate::stores::open_node_store(dir, &regions).await?;
        regions_cover(store.as_ref(), &regions).await?;
        let cluster = regions.cluster.clone();
        // Nothing reaches a phone until the configuration names a gateway;
        // the server says which when it starts.
        let code_sender: Arc<dyn crate::phone::CodeSender> = match &regions.phone_gateway {
            Some(g) => Arc::new(crate::phone::Gateway::configured(g, dir)?),
            None => Arc::new(crate::phone::Outbox::new(dir.phone_outbox())),
        };
        let files = Arc::new(crate::files::FileStores::open(dir, &regions)?);
        let vault = Arc::new(open_vault(dir, regions).await?);
        crate::key_log::check_held_by(store.as_ref(), vault.ledger()?).await?;
        crate::key_log::settle_pending(store.as_ref(), vault.ledger()?)
            .await
            .map_err(|e| OpenError::KeyLog(e.to_string()))?;
        let filed = crate::key_log::file_earlier_entries(store.as_ref(), vault.ledger()?)
            .await
            .map_err(|e| OpenError::KeyLog(e.to_string()))?;
        if filed > 0 {
            tracing::info!(
                entries = filed,
                "key-log entries from before the key directory were filed in it"
            );
        }
        let adopted = crate::key_log::adopt_earlier_devices(store.as_ref(), vault.ledger()?)
            .await
            .map_err(|e| OpenError::KeyLog(e.to_string()))?;
        if adopted > 0 {
            tracing::info!(
                devices = adopted,
                "devices bound before the key log existed were entered into it"
            );
        }
        adopt_legacy_profiles(store.as_ref(), &vault).await?;
        let sanctions = Arc::new(Sanctions::load(store.as_ref()).await?);
        let blocks = Blocks::load(block_key, store.as_ref()).await?;
        let hub = Arc::new(Hub::default());
        if let Some(cluster) = &cluster {
            let wakes = crate::cluster::ClusterLink::connect(cluster, Arc::downgrade(&hub)).await?;
            hub.join_cluster(wakes, store.clone());
        }
        // Phone look-ups and sign-ups are limited for the cluster as one,
        // where it names a Redis; else each node counts its own.
        let shared_buckets = match cluster
            .as_ref()
            .and_then(|c| c.redis.as_deref().map(|r| (c, r)))
        {
            Some((c, url)) => Some(Arc::new(
                crate::limits::SharedBuckets::connect(url, &c.name).await?,
            )),
            None => None,
        };
        let metrics = Arc::new(crate::metrics::Metrics::default());
        let (sequencer, task) = Sequencer::start(store.clone(), hub.clone(), metrics.clone());
        let node = Node {
            auth: UserAuth::new(token_key, limits.token_ttl_secs),
            phone_rate: RateLimiter::new(
                limits.phone_lookups_per_minute as f64 / 60.0,
                limits.phone_lookups_per_minute as f64,
            )
            .shared_in(shared_buckets.clone(), "phone"),
            phone_codes: crate::phone::PhoneCodes::new(code_sender, shared_buckets.clone()),
            shared_buckets,
            refused_reports: RateLimiter::new(
                REFUSED_REPORTS_PER_HOUR / 3600.0,
                REFUSED_REPORTS_PER_HOUR,
            ),
            limits,
            store,
            vault,
            sequencer,
            hub,
            metrics,
            franking_key,
            sanctions,
            delivery_key,
            blocks,
            ended: Ended::default(),
            agreements: Default::default(),
            files,
            handles: RwLock::default(),
        };
        Ok((node, task))
    }

    /// The account of a device, which a request's token names.
    pub async fn account_of(&self, me: &DeviceIdentity) -> Result<Account, NodeError> {
        self.store
            .account_by_id(&me.account_id)
            .await?
            .ok_or_else(|| {
                NodeError::not_found(ErrorCode::UnknownAccount, "this account no longer exists")
            })
    }

    /// The handle of the account a device belongs to. Handles never change,
    /// so each account's is looked up once.
    pub async fn sender_handle(&self, me: &DeviceIdentity) -> Result<String, NodeError> {
        if let Some(h) = self
            .handles
            .read()
            .ok()
            .and_then(|m| m.get(&me.account_id).cloned())
        {
            return Ok(h);
        }
        let h = self
            .store
            .account_by_id(&me.account_id)
            .await?
            .map(|a| a.handle)
            .unwrap_or_default();
        if let Ok(mut m) = self.handles.write() {
            if m.len() > HANDLE_CACHE {
                m.clear();
            }
            m.insert(me.account_id.clone(), h.clone());
        }
        Ok(h)
    }

    /// Forgets an erased account's handle, which someone else may take.
    /// Tells the cluster's other nodes what changed here, if in a cluster.
    pub(crate) fn announce(&self, notice: crate::cluster::Notice) {
        if let Some(c) = self.hub.cluster() {
            c.announce(notice);
        }
    }

    /// In a cluster: applies what other nodes announce, and settles the
    /// access records a node that died left pending, for as long as the
    /// node lives.
    pub async fn listen_to_cluster(self: &Arc<Self>) -> Result<(), OpenError> {
        let Some(link) = self.hub.cluster().cloned() else {
            return Ok(());
        };
        let vault = Arc::downgrade(&self.vault);
        let store = Arc::downgrade(&self.store);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
            every.tick().await;
            loop {
                every.tick().await;
                let (Some(vault), Some(store)) = (vault.upgrade(), store.upgrade()) else {
                    return;
                };
                if let Err(e) = vault.settle_pending().await {
                    tracing::warn!(error = %e, "settling pending access records failed; tried again in a minute");
                }
                if let Ok(ledger) = vault.ledger() {
                    if let Err(e) = crate::key_log::settle_pending(store.as_ref(), ledger).await {
                        tracing::warn!(error = %e, "settling pending key-log entries failed; tried again in a minute");
                    }
                }
            }
        });
        let node = Arc::downgrade(self);
        link.listen(move |notice| {
            let Some(node) = node.upgrade() else {
                return false;
            };
            tokio::spawn(async move {
                if let Err(e) = node.apply(notice).await {
                    tracing::warn!(error = %e, "a notice from the cluster could not be applied; it is again when the link to NATS comes back");
                }
            });
            true
        })
        .await?;
        Ok(())
    }

    async fn apply(&self, notice: Option<crate::cluster::Notice>) -> Result<(), OpenError> {
        use crate::cluster::Notice;
        match notice {
            None => {
                self.sanctions.reload(self.store.as_ref()).await?;
                self.blocks.reload(self.store.as_ref()).await?;
                self.ended.forget_live();
                self.agreements.clear();
                if let Ok(mut h) = self.handles.write() {
                    h.clear();
                }
            }
            Some(Notice::Sanctions) => self.sanctions.reload(self.store.as_ref()).await?,
            Some(Notice::Blocked { prefix }) => self.blocks.note_prefix(&prefix),
            Some(Notice::DeviceEnded { device }) => {
                self.ended.end(&device);
                self.hub.drop_device(&device);
            }
            Some(Notice::Agreement { account }) => self.agreements.set(&account, None),
            Some(Notice::AccountGone { account }) => {
                self.agreements.set(&account, None);
                self.forget_handle(&account);
            }
            Some(Notice::Announced { official }) => {
                // A hint only: a device not told reads them at its next sync.
                if let Err(e) = self.tell_followers(&official).await {
                    tracing::warn!(error = %e, "followers connected here were not told of an announcement");
                }
            }
        }
        Ok(())
    }

    pub(crate) fn forget_handle(&self, account: &str) {
        if let Ok(mut h) = self.handles.write() {
            h.remove(account);
        }
    }
}

/// Moves profiles that an earlier version kept in the node store into their
/// home regions, sealed; each is dropped from the node store only once its
/// region holds it. A profile that cannot move (a field today's rules
/// refuse, a region this node may not reach) stays where it was, is named in
/// the log, and is tried again on the next start; the others move on.
async fn adopt_legacy_profiles(store: &dyn Store, vault: &Vault) -> Result<(), OpenError> {
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
