//! What every `RegionStore` promises, checked on each implementation: one
//! test body per promise, taking the store as `Arc<dyn RegionStore>`, run
//! once on SQLite (a file of its own) and once on PostgreSQL (a database of
//! its own, migrated and opened as a node opens it). What only PostgreSQL
//! has to keep (its schema versions, nodes writing at once) is in
//! `postgres.rs`.

mod access;
mod keys;
mod phone_codes;
mod postgres;
mod reports;
mod subjects;

use std::path::PathBuf;
use std::sync::Arc;

use crate::postgres::scratch::ScratchDatabase;
use crate::{
    PgRegionStore, RegionStore, ReportRow, SealedAccess, SealedSubject, SqliteRegionStore,
    WrappedKey,
};

/// A store under test and what must outlive it.
pub(super) struct Under {
    pub store: Arc<dyn RegionStore>,
    /// The directory or database the store lives in, removed when the
    /// test ends.
    _keep: Box<dyn std::any::Any + Send>,
}

/// A directory removed when the test ends.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(super) async fn on_sqlite(label: &str) -> Under {
    let dir = std::env::temp_dir().join(format!(
        "kizuna-region-{label}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let store = SqliteRegionStore::open(&dir.join("region.sqlite"))
        .await
        .unwrap();
    Under {
        store: Arc::new(store),
        _keep: Box::new(TempDir(dir)),
    }
}

pub(super) async fn on_postgres(label: &str) -> Under {
    let db = ScratchDatabase::create(label).await;
    assert_eq!(
        PgRegionStore::migrate(db.location()).await.unwrap(),
        [1, 2, 3]
    );
    let store = PgRegionStore::open(db.location()).await.unwrap();
    Under {
        store: Arc::new(store),
        _keep: Box::new(db),
    }
}

/// Instantiates each test body once per implementation, as
/// `region_conformance::sqlite::NAME` and `region_conformance::postgres_store::NAME`.
macro_rules! on_every_store {
    ($($group:ident :: $name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let under = super::on_sqlite(stringify!($name)).await;
                    super::$group::$name(under.store.clone()).await;
                    under.store.close().await;
                }
            )*
        }
        mod postgres_store {
            $(
                #[tokio::test]
                async fn $name() {
                    let under = super::on_postgres(stringify!($name)).await;
                    super::$group::$name(under.store.clone()).await;
                    under.store.close().await;
                }
            )*
        }
    };
}

on_every_store!(
    subjects::put_and_read_a_subject,
    subjects::putting_again_replaces_everything,
    subjects::a_held_phone_refuses_the_whole_batch,
    subjects::an_unproven_number_is_found_by_nobody_and_taken_by_its_proven_holder,
    subjects::put_record_needs_a_key,
    subjects::wrapped_keys_of_many,
    subjects::erase_without_ledger_leaves_nothing,
    subjects::erase_keeping_ledger_leaves_tombstones,
    access::appended_records_get_their_indexes,
    access::a_failed_append_is_dropped,
    access::a_record_taken_back_during_its_append_is_written_again,
    access::accesses_by_pages_in_time_order,
    access::tombstones_are_sealed_by_leaf,
    access::bare_tombstones_get_sealed_once,
    reports::a_report_is_filed_once,
    reports::the_queue_reads_by_state_oldest_first,
    reports::update_report_is_compare_and_set,
    reports::resolved_reports_expire,
    keys::subjects_after_pages_by_id,
    keys::key_versions_count_people,
    keys::rewrap_is_compare_and_set,
    phone_codes::a_code_allows_its_guesses_until_it_expires,
    phone_codes::a_new_code_replaces_the_old_and_sweeps_expired_ones,
);

pub(super) fn key(id: &str, wrapped: &[u8], region_key_version: u32) -> WrappedKey {
    WrappedKey {
        subject_id: id.into(),
        data_key_version: 1,
        region_key_version,
        wrapped: wrapped.to_vec(),
        created_at: 1_000,
    }
}

/// An access record at `at`, numbered `idx` in the ledger if given, by
/// `org`/`staff`.
pub(super) fn access(
    at: u64,
    leaf: Option<&[u8]>,
    idx: Option<u64>,
    org: Option<&str>,
    staff: Option<&str>,
) -> SealedAccess {
    SealedAccess {
        at,
        sealed: format!("sealed access at {at}").into_bytes(),
        leaf: leaf.map(|l| l.to_vec()),
        idx,
        after: idx.unwrap_or(0),
        org_id: org.map(Into::into),
        staff_id: staff.map(Into::into),
    }
}

pub(super) fn report(id: &str, subject: &str, message: &[u8], created_at: u64) -> ReportRow {
    ReportRow {
        report_id: id.into(),
        subject_id: subject.into(),
        message_key: message.to_vec(),
        created_at,
        reason: "spam".into(),
        state: "open".into(),
        resolved_at: None,
        sealed: format!("sealed report {id}").into_bytes(),
    }
}

/// A person with two records, a phone hash if given, and nothing else.
pub(super) fn person(id: &str, phone: Option<&[u8]>) -> SealedSubject {
    SealedSubject {
        key: key(id, format!("key of {id}").as_bytes(), 1),
        records: vec![
            ("contacts".into(), format!("contacts of {id}").into_bytes()),
            ("profile".into(), format!("profile of {id}").into_bytes()),
        ],
        phone_hash: phone.map(|p| p.to_vec()),
        phone_proven: true,
        access: Vec::new(),
        reports: Vec::new(),
    }
}
