//! The node store on PostgreSQL, shared by every node of a deployment.
//!
//! Nothing that another node may change is cached here: each write
//! transaction reads what it decides on under the row locks of what it
//! changes. Locks are always taken in one order: group rows (sorted by
//! group id), then the rows of the devices involved, then the log position
//! counter, last, held until commit so that log positions become visible
//! in the order they were handed out.

mod accounts;
mod agreements;
mod batch;
mod blocks;
mod devices;
mod groups;
mod inbox;
mod key_packages;
mod links;
mod release;
mod sanctions;
mod schema;
mod submit;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use sqlx::PgPool;

use super::{connect, PgLocation};
use crate::*;
pub(crate) use schema::NODE;

/// Connections each node keeps to the node database.
const POOL_SIZE: u32 = 8;

/// What this node's acknowledgements may have made releasable, for the
/// next release pass. Every acknowledgement goes through some node, which
/// releases what it made releasable; a node that starts looks at everything.
#[derive(Default)]
struct Releasable {
    /// Devices that acknowledged through this node since its last release.
    acked: Mutex<HashSet<String>>,
    /// Whether the next release looks at every group.
    all: AtomicBool,
}

impl Releasable {
    fn note_acked<'a>(&self, devices: impl IntoIterator<Item = &'a str>) {
        if let Ok(mut acked) = self.acked.lock() {
            acked.extend(devices.into_iter().map(str::to_string));
        } else {
            self.all.store(true, Ordering::Relaxed);
        }
    }

    fn release_everything(&self) {
        self.all.store(true, Ordering::Relaxed);
    }

    fn take(&self) -> (bool, Vec<String>) {
        let all = self.all.swap(false, Ordering::Relaxed);
        let devices = match self.acked.lock() {
            Ok(mut acked) => acked.drain().collect(),
            Err(_) => Vec::new(),
        };
        (all, devices)
    }
}

pub struct PgStore {
    pool: PgPool,
    releasable: Arc<Releasable>,
}

impl PgStore {
    /// Brings the node database at `at` to the schema this Kizuna knows;
    /// answers the versions it applied (none when it was up to date).
    pub async fn migrate(at: &PgLocation) -> Result<Vec<u64>> {
        let pool = connect(at, 1).await?;
        let applied = NODE.migrate(&pool).await;
        pool.close().await;
        applied
    }

    /// Connects to the node database at `at`, which must be at exactly the
    /// schema this Kizuna knows (see [`PgStore::migrate`]).
    pub async fn open(at: &PgLocation) -> Result<PgStore> {
        let pool = connect(at, POOL_SIZE).await?;
        if let Err(e) = NODE.check(&pool, at).await {
            pool.close().await;
            return Err(e);
        }
        let releasable = Arc::new(Releasable {
            all: AtomicBool::new(true),
            ..Releasable::default()
        });
        tokio::spawn(release::housekeeping(pool.clone(), releasable.clone()));
        Ok(PgStore { pool, releasable })
    }

    pub(crate) async fn close(&self) {
        if let Err(e) = self.release_delivered().await {
            tracing::warn!(error = %e, "releasing delivered messages on close failed");
        }
        self.pool.close().await;
    }

    #[cfg(test)]
    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }
}

// Each method is the inherent one of the same name, in the file for its kind
// of operation: inherent methods come first in method lookup, so none of
// these calls itself.
#[async_trait]
impl Store for PgStore {
    async fn create_accounts(&self, accounts: Vec<NewAccount>) -> Result<()> {
        self.create_accounts(accounts).await
    }

    async fn account_by_handle(&self, handle: &str) -> Result<Option<Account>> {
        self.account_by_handle(handle).await
    }

    async fn account_by_id(&self, account_id: &str) -> Result<Option<Account>> {
        self.account_by_id(account_id).await
    }

    async fn accounts_by_ids(&self, account_ids: &[String]) -> Result<Vec<Account>> {
        self.accounts_by_ids(account_ids).await
    }

    async fn account_regions(&self) -> Result<Vec<(String, u64)>> {
        self.account_regions().await
    }

    async fn set_region(&self, account_id: &str, region: &str) -> Result<()> {
        self.set_region(account_id, region).await
    }

    async fn delete_account(&self, account_id: &str) -> Result<bool> {
        self.delete_account(account_id).await
    }

    /// A PostgreSQL node store never kept profiles.
    async fn legacy_profiles(&self, _limit: u32) -> Result<Vec<LegacyProfile>> {
        Ok(Vec::new())
    }

    async fn drop_legacy_profile(&self, _account_id: &str) -> Result<()> {
        Ok(())
    }

    async fn device(&self, device_id: &str) -> Result<Option<Device>> {
        self.device(device_id).await
    }

    async fn delete_device(&self, device_id: &str) -> Result<bool> {
        self.delete_device(device_id).await
    }

    async fn groups_of(&self, device_id: &str) -> Result<Vec<Vec<u8>>> {
        self.groups_of(device_id).await
    }

    async fn touch_device(&self, device_id: &str, now: u64) -> Result<()> {
        self.touch_device(device_id, now).await
    }

    async fn device_activity(&self, account_id: &str) -> Result<Vec<(Device, u64, Option<u64>)>> {
        self.device_activity(account_id).await
    }

    async fn devices_of(&self, account_id: &str) -> Result<Vec<Device>> {
        self.devices_of(account_id).await
    }

    async fn add_key_packages(
        &self,
        device_id: &str,
        one_time: Vec<Vec<u8>>,
        last_resort: Option<Vec<u8>>,
        max: u32,
    ) -> Result<Result<KeyPackageCount, u32>> {
        self.add_key_packages(device_id, one_time, last_resort, max)
            .await
    }

    async fn claim_key_package(&self, device_id: &str) -> Result<Option<Vec<u8>>> {
        self.claim_key_package(device_id).await
    }

    async fn key_package_count(&self, device_id: &str) -> Result<KeyPackageCount> {
        self.key_package_count(device_id).await
    }

    async fn create_group(
        &self,
        group_id: &[u8],
        creator: &str,
        now: u64,
        state: Vec<u8>,
    ) -> Result<()> {
        self.create_group(group_id, creator, now, state).await
    }

    async fn group(&self, group_id: &[u8]) -> Result<Option<Group>> {
        self.group(group_id).await
    }

    async fn group_state(&self, group_id: &[u8]) -> Result<Option<Vec<u8>>> {
        self.group_state(group_id).await
    }

    async fn submit(
        &self,
        batch: Vec<Submission>,
        acks: Vec<Ack>,
    ) -> Result<Vec<Result<Accepted, Rejection>>> {
        self.submit(batch, acks).await
    }

    async fn inbox(&self, device_id: &str, after: u64, limit: u32) -> Result<Vec<InboxEntry>> {
        self.inbox(device_id, after, limit).await
    }

    async fn ack(&self, device_id: &str, up_to: u64) -> Result<()> {
        self.ack(device_id, up_to).await
    }

    async fn create_link(&self, link: PendingLink, code_hash: Vec<u8>) -> Result<()> {
        self.create_link(link, code_hash).await
    }

    async fn link(&self, link_id: &str) -> Result<Option<PendingLink>> {
        self.link(link_id).await
    }

    async fn link_by_code(&self, code_hash: &[u8]) -> Result<Option<PendingLink>> {
        self.link_by_code(code_hash).await
    }

    async fn approve_link(&self, link_id: &str, device: Device) -> Result<()> {
        self.approve_link(link_id, device).await
    }

    async fn set_sanction(
        &self,
        account_id: &str,
        report_id: &str,
        sanction: Option<Sanction>,
    ) -> Result<()> {
        self.set_sanction(account_id, report_id, sanction).await
    }

    async fn sanctions(&self) -> Result<Vec<(String, String, Sanction)>> {
        self.sanctions().await
    }

    async fn lift_sanctions_of_reports(&self, report_ids: &[String]) -> Result<()> {
        self.lift_sanctions_of_reports(report_ids).await
    }

    async fn agreement(&self, account_id: &str) -> Result<Option<crate::StandingAgreement>> {
        self.agreement(account_id).await
    }

    async fn set_agreement(
        &self,
        account_id: &str,
        agreement: Option<crate::StandingAgreement>,
    ) -> Result<()> {
        self.set_agreement(account_id, agreement).await
    }

    async fn put_block(&self, pair: &[u8], blocked: &[u8]) -> Result<()> {
        self.put_block(pair, blocked).await
    }

    async fn remove_blocks(&self, pairs: &[Vec<u8>]) -> Result<()> {
        self.remove_blocks(pairs).await
    }

    async fn remove_blocks_of(&self, blocked: &[u8]) -> Result<()> {
        self.remove_blocks_of(blocked).await
    }

    async fn has_block(&self, pair: &[u8]) -> Result<bool> {
        self.has_block(pair).await
    }

    async fn blocked_accounts(&self) -> Result<Vec<Vec<u8>>> {
        self.blocked_accounts().await
    }

    async fn close(&self) {
        self.close().await
    }
}
