//! Durable state of a Kizuna node behind one `Store` trait, with the embedded
//! SQLite implementation and the PostgreSQL one that many nodes share.
//!
//! The store keeps only what a delivery service needs: accounts and devices,
//! key packages, group routing (epoch and member devices), and the log of
//! opaque MLS messages that devices have not all acknowledged yet: each
//! message is stored once, and each device keeps one acknowledged position.
//! Personal fields are not kept here at all: each region has its own
//! `RegionStore`, holding only what the vault sealed. Both node stores
//! behave alike (one suite of tests runs on each); `PgStore` reads what it
//! decides on under row locks instead of caching it, since other nodes
//! write to the same database.

#[cfg(test)]
mod conformance;
mod delegation;
pub mod postgres;
mod private;
mod region;
#[cfg(test)]
mod region_conformance;
mod rows;
mod sqlite;
mod write_stats;

pub use postgres::{LedgerLeaf, PgLedgerLog, PgLocation, PgRegionStore, PgStore};
pub use region::{
    AccessedBy, LedgerRow, PhoneCode, RegionStore, ReportRow, SealedAccess, SealedSubject,
    SqliteRegionStore, WrappedKey, ERASED,
};
pub use rows::*;
pub use sqlite::SqliteStore;
pub use write_stats::{Histogram, WriteStats, BYTE_BOUNDS, TIME_BOUNDS_US};

use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("already exists: {0}")]
    Conflict(&'static str),
    #[error("not found: {0}")]
    NotFound(&'static str),
    #[error("storage failure: {0}")]
    Backend(String),
    /// The store was written by a newer Kizuna: opening it with this one
    /// could misread what the newer schema means, so it is refused.
    #[error("the store's schema is version {found}, newer than the {known} this Kizuna knows; run the Kizuna that wrote it (or a newer one), or restore the store from a backup taken before the upgrade")]
    SchemaTooNew { found: u64, known: u64 },
    /// A PostgreSQL database is at an older schema than this Kizuna writes.
    /// Nodes never migrate a shared database on their own; an operator does,
    /// once, for every node.
    #[error("the database {database} is at schema version {found}; this Kizuna needs version {known}: run `kizuna admin migrate` first")]
    SchemaOutdated {
        database: String,
        found: u64,
        known: u64,
    },
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Checkpoints the WAL completely and truncates it, so that pages deleted
/// with `secure_delete` leave no older copy behind in it. Retries while
/// another connection holds an older snapshot.
pub(crate) async fn truncate_wal(pool: &sqlx::SqlitePool) -> Result<()> {
    for _ in 0..100 {
        let busy: i64 = sqlx::query_scalar("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(pool)
            .await?;
        if busy == 0 {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    Err(StoreError::Backend(
        "the write-ahead log could not be emptied: another connection keeps reading".into(),
    ))
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn create_account(&self, new: NewAccount) -> Result<()> {
        self.create_accounts(vec![new]).await
    }
    /// Many accounts at once, in one transaction (an import): all or none.
    async fn create_accounts(&self, new: Vec<NewAccount>) -> Result<()>;

    /// Writes a key-log entry, or gives one already written its index.
    async fn write_key_entry(&self, row: &KeyLogRow) -> Result<()>;
    /// [`Store::write_key_entry`] for many rows in one transaction, as
    /// the devices of a whole upgraded node are entered.
    async fn write_key_entries(&self, rows: &[KeyLogRow]) -> Result<()>;
    /// Takes back an entry whose append failed or never happened.
    async fn drop_pending_key_entry(&self, leaf: &[u8]) -> Result<()>;
    /// Entries written but not yet given their ledger index.
    async fn pending_key_entries(&self) -> Result<Vec<KeyLogRow>>;
    /// A handle's numbered entries, across every account that held it, in
    /// ledger order.
    async fn key_entries(&self, handle: &str) -> Result<Vec<KeyLogRow>>;
    /// Numbered entries from ledger index `from` on, in ledger order.
    async fn key_entries_from(&self, from: u64, limit: u32) -> Result<Vec<KeyLogRow>>;
    /// The numbered entry with the highest index.
    async fn highest_key_entry(&self) -> Result<Option<KeyLogRow>>;
    /// Devices of accounts the key log has no entry for: those registered
    /// before it existed, in account order.
    async fn devices_without_key_entries(&self) -> Result<Vec<Device>>;
    async fn account_by_handle(&self, handle: &str) -> Result<Option<Account>>;
    async fn account_by_id(&self, account_id: &str) -> Result<Option<Account>>;
    /// Many accounts at once (those that exist).
    async fn accounts_by_ids(&self, account_ids: &[String]) -> Result<Vec<Account>>;
    /// How many accounts have their home in each region.
    async fn account_regions(&self) -> Result<Vec<(String, u64)>>;
    /// Records that the account's personal data now lives in `region`.
    async fn set_region(&self, account_id: &str, region: &str) -> Result<()>;
    /// Removes the account, its devices, key packages, link requests and
    /// its place in every group's routing; what waited only for its devices
    /// is released. Messages already delivered to others stay theirs.
    async fn delete_account(&self, account_id: &str) -> Result<bool>;
    /// Profiles an earlier version kept here, to be moved to their regions.
    async fn legacy_profiles(&self, limit: u32) -> Result<Vec<LegacyProfile>>;
    /// Forgets a legacy profile once its region holds it.
    async fn drop_legacy_profile(&self, account_id: &str) -> Result<()>;

    async fn device(&self, device_id: &str) -> Result<Option<Device>>;
    /// Removes one device: its key packages, its place in every group's
    /// routing, what waited only for it. `false` if there was none.
    async fn delete_device(&self, device_id: &str) -> Result<bool>;
    /// The groups whose routing holds the device now.
    async fn groups_of(&self, device_id: &str) -> Result<Vec<Vec<u8>>>;
    /// Notes that the device signed in at `now` (milliseconds).
    async fn touch_device(&self, device_id: &str, now: u64) -> Result<()>;
    /// An account's devices, each with when it was added and last signed in.
    async fn device_activity(&self, account_id: &str) -> Result<Vec<(Device, u64, Option<u64>)>>;
    async fn devices_of(&self, account_id: &str) -> Result<Vec<Device>>;

    /// Adds key packages; refuses (writing nothing) if the device would hold
    /// more than `max` one-time packages. A new last-resort package replaces
    /// the old one.
    async fn add_key_packages(
        &self,
        device_id: &str,
        one_time: Vec<Vec<u8>>,
        last_resort: Option<Vec<u8>>,
        max: u32,
    ) -> Result<Result<KeyPackageCount, u32>>;
    /// Consumes one one-time package, or returns the last-resort one.
    async fn claim_key_package(&self, device_id: &str) -> Result<Option<Vec<u8>>>;
    async fn key_package_count(&self, device_id: &str) -> Result<KeyPackageCount>;

    /// Registers a group at epoch 0 with its creator as the one member and
    /// the node's public view of it.
    async fn create_group(
        &self,
        group_id: &[u8],
        creator: &str,
        now: u64,
        state: Vec<u8>,
    ) -> Result<()>;
    async fn group(&self, group_id: &[u8]) -> Result<Option<Group>>;
    /// The node's public view of a group at its current epoch (none for a
    /// group registered before the node kept one).
    async fn group_state(&self, group_id: &[u8]) -> Result<Option<Vec<u8>>>;

    /// Applies submissions in order, and acknowledgements, in one transaction
    /// (group commit). Each submission gets its own outcome; a rejected one
    /// writes nothing.
    async fn submit(
        &self,
        batch: Vec<Submission>,
        acks: Vec<Ack>,
    ) -> Result<Vec<Result<Accepted, Rejection>>>;

    /// The device's messages after position `after` (and after what it has
    /// acknowledged), oldest first.
    async fn inbox(&self, device_id: &str, after: u64, limit: u32) -> Result<Vec<InboxEntry>>;
    /// [`Store::inbox`] of many devices, each after its own position, read
    /// at once: one page per `(device, after)` asked for, in that order.
    async fn inboxes(&self, wanted: &[(String, u64)], limit: u32) -> Result<Vec<Vec<InboxEntry>>>;
    /// Records that the device has everything up to `up_to`, and deletes
    /// every message no device still waits for.
    async fn ack(&self, device_id: &str, up_to: u64) -> Result<()>;

    async fn create_link(&self, link: PendingLink, code_hash: Vec<u8>) -> Result<()>;
    async fn link(&self, link_id: &str) -> Result<Option<PendingLink>>;
    async fn link_by_code(&self, code_hash: &[u8]) -> Result<Option<PendingLink>>;
    /// Turns a pending link into a device of the account, with its key packages.
    async fn approve_link(&self, link_id: &str, device: Device) -> Result<()>;

    /// The restriction or suspension one report's decision put on an
    /// account, replacing that report's earlier one; `None` lifts it.
    async fn set_sanction(
        &self,
        account_id: &str,
        report_id: &str,
        sanction: Option<Sanction>,
    ) -> Result<()>;
    /// Every sanction: (account, report, sanction).
    async fn sanctions(&self) -> Result<Vec<(String, String, Sanction)>>;
    /// Lifts whatever these reports' decisions set, on anyone.
    async fn lift_sanctions_of_reports(&self, report_ids: &[String]) -> Result<()>;
    /// The agreement standing for an account, if any.
    async fn agreement(&self, account_id: &str) -> Result<Option<StandingAgreement>>;
    /// Records the agreement standing for an account; `None` withdraws it.
    async fn set_agreement(
        &self,
        account_id: &str,
        agreement: Option<StandingAgreement>,
    ) -> Result<()>;
    /// Starts an upload, unless the account's kept files and this one
    /// would pass `quota` bytes: then `Err` with what it already keeps.
    async fn begin_file(&self, file: StoredFile, quota: u64) -> Result<Result<(), u64>>;
    async fn file(&self, file_id: &str) -> Result<Option<StoredFile>>;
    /// Notes that part `n` is kept, when it is the next one expected;
    /// answers how many parts are kept from the first on.
    async fn file_part_stored(&self, file_id: &str, n: u32) -> Result<u32>;
    /// Marks complete uploads of `device_id` for `group_id` sent at `now`,
    /// readable from then on by the group's present member devices; all
    /// or none.
    async fn attach_files(
        &self,
        file_ids: &[String],
        device_id: &str,
        group_id: &[u8],
        now: u64,
    ) -> Result<FileAttach>;
    /// Whether `device_id` was in the chat when the file went out.
    async fn may_read_file(&self, file_id: &str, device_id: &str) -> Result<bool>;
    /// Keeps these files past their retention while report `report_id`
    /// is kept. Idempotent.
    async fn hold_files(&self, report_id: &str, file_ids: &[String]) -> Result<()>;
    /// Ends the holds of a report no longer kept.
    async fn release_holds(&self, report_id: &str) -> Result<()>;
    /// Holds on files sent before `sent_before` (past their retention), as
    /// (file, report): checked against the reports still kept.
    async fn holds_past(&self, sent_before: u64, limit: u32) -> Result<Vec<(String, String)>>;
    /// Files unsent since before `unsent_before`, or sent before
    /// `sent_before` and held by no report: to be deleted.
    async fn expired_files(
        &self,
        unsent_before: u64,
        sent_before: u64,
        limit: u32,
    ) -> Result<Vec<StoredFile>>;
    /// Forgets a file once its bytes are gone from its store.
    async fn forget_file(&self, file_id: &str) -> Result<()>;
    async fn files_sent_by(&self, account_id: &str) -> Result<Vec<StoredFile>>;
    /// The regions keeping files others sent that the account's devices
    /// may fetch.
    async fn file_regions_readable_by(&self, account_id: &str) -> Result<Vec<String>>;
    /// Notes that a file's bytes now live in `region`'s store.
    async fn set_file_region(&self, file_id: &str, region: &str) -> Result<()>;
    /// Records a block by its keyed hashes: of the pair (who blocks, whom)
    /// and of whom alone. Idempotent.
    async fn put_block(&self, pair: &[u8], blocked: &[u8]) -> Result<()>;
    /// Lifts blocks, by their pair hashes; unknown ones are ignored.
    async fn remove_blocks(&self, pairs: &[Vec<u8>]) -> Result<()>;
    /// Lifts every block against the account with this keyed hash.
    async fn remove_blocks_of(&self, blocked: &[u8]) -> Result<()>;
    async fn has_block(&self, pair: &[u8]) -> Result<bool>;
    /// The keyed hash of every account someone blocks.
    async fn blocked_accounts(&self) -> Result<Vec<Vec<u8>>>;
    /// Keeps a follow, or moves it to another chat; answers whether it is
    /// new.
    async fn follow(&self, f: &Follow) -> Result<bool>;
    /// Many follows at once, in one transaction (an import); one already
    /// kept is left as it is.
    async fn follow_many(&self, follows: &[Follow]) -> Result<()>;
    /// Ends a follow; answers whether there was one.
    async fn unfollow(&self, official_id: &str, follower_id: &str) -> Result<bool>;
    /// The accounts one person follows, oldest first.
    async fn follows_of(&self, follower_id: &str) -> Result<Vec<Follow>>;
    /// An official account's followers after `after` (a follower id), in
    /// id order, at most `limit`.
    async fn followers_of(&self, official_id: &str, after: &str, limit: u32)
        -> Result<Vec<Follow>>;
    /// Which of `devices` belong to followers of an official account: what
    /// a node asks of the devices connected to it, so telling followers
    /// costs as many as are connected, not as many as follow.
    async fn followers_among(&self, official_id: &str, devices: &[String]) -> Result<Vec<String>>;
    /// Keeps an announcement at the next position, handed out in commit
    /// order (a reader after a position never skips one committed later);
    /// answers its position.
    async fn add_announcement(&self, a: &StoredAnnouncement) -> Result<u64>;
    /// The position of the newest announcement [`Store::announcements_for`]
    /// would give `follower_id` (0 for none).
    async fn latest_announcement_for(&self, follower_id: &str) -> Result<u64>;
    /// The announcements kept of the accounts `follower_id` follows, after
    /// position `after`, oldest first: a new follower gets those still
    /// kept too, so whoever follows their city during a typhoon sees the
    /// warning in force.
    async fn announcements_for(
        &self,
        follower_id: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<StoredAnnouncement>>;
    /// Deletes the announcements made before `at` (ms): past what any
    /// device still shows. Answers how many went.
    async fn forget_announcements_before(&self, at: u64) -> Result<u64>;
    /// What its group commits waited for and wrote, where the store
    /// counts it (the embedded one does).
    fn write_stats(&self) -> Option<std::sync::Arc<WriteStats>>;
    /// Flushes and closes; called on shutdown.
    async fn close(&self);
}
