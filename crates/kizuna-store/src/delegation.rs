//! Both backends implement each store trait the same way: every method is
//! the backend's inherent method of the same name, kept in the file for its
//! kind of operation. Inherent methods come first in method lookup, so none
//! of these calls itself.

/// `impl Store for $store`, each method calling `$store`'s own.
macro_rules! store_by_inherent_methods {
    ($store:ty) => {
        const _: () = {
            use $crate::*;

            #[async_trait::async_trait]
            impl $crate::Store for $store {
                async fn create_accounts(&self, accounts: Vec<NewAccount>) -> Result<()> {
                    self.create_accounts(accounts).await
                }

                async fn account_by_handle(&self, handle: &str) -> Result<Option<Account>> {
                    self.account_by_handle(handle).await
                }

                async fn write_key_entry(&self, row: &KeyLogRow) -> Result<()> {
                    self.write_key_entry(row).await
                }

                async fn write_key_entries(&self, rows: &[KeyLogRow]) -> Result<()> {
                    self.write_key_entries(rows).await
                }

                async fn drop_pending_key_entry(&self, leaf: &[u8]) -> Result<()> {
                    self.drop_pending_key_entry(leaf).await
                }

                async fn pending_key_entries(&self) -> Result<Vec<KeyLogRow>> {
                    self.pending_key_entries().await
                }

                async fn key_entries(&self, handle: &str) -> Result<Vec<KeyLogRow>> {
                    self.key_entries(handle).await
                }

                async fn key_entries_from(&self, from: u64, limit: u32) -> Result<Vec<KeyLogRow>> {
                    self.key_entries_from(from, limit).await
                }

                async fn highest_key_entry(&self) -> Result<Option<KeyLogRow>> {
                    self.highest_key_entry().await
                }

                async fn devices_without_key_entries(&self) -> Result<Vec<Device>> {
                    self.devices_without_key_entries().await
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

                async fn legacy_profiles(&self, limit: u32) -> Result<Vec<LegacyProfile>> {
                    self.legacy_profiles(limit).await
                }

                async fn drop_legacy_profile(&self, account_id: &str) -> Result<()> {
                    self.drop_legacy_profile(account_id).await
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

                async fn device_activity(
                    &self,
                    account_id: &str,
                ) -> Result<Vec<(Device, u64, Option<u64>)>> {
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

                async fn inbox(
                    &self,
                    device_id: &str,
                    after: u64,
                    limit: u32,
                ) -> Result<Vec<InboxEntry>> {
                    self.inbox(device_id, after, limit).await
                }

                async fn inboxes(
                    &self,
                    wanted: &[(String, u64)],
                    limit: u32,
                ) -> Result<Vec<Vec<InboxEntry>>> {
                    self.inboxes(wanted, limit).await
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

                async fn agreement(
                    &self,
                    account_id: &str,
                ) -> Result<Option<crate::StandingAgreement>> {
                    self.agreement(account_id).await
                }

                async fn set_agreement(
                    &self,
                    account_id: &str,
                    agreement: Option<crate::StandingAgreement>,
                ) -> Result<()> {
                    self.set_agreement(account_id, agreement).await
                }

                async fn begin_file(
                    &self,
                    file: StoredFile,
                    quota: u64,
                ) -> Result<std::result::Result<(), u64>> {
                    self.begin_file(file, quota).await
                }

                async fn file(&self, file_id: &str) -> Result<Option<StoredFile>> {
                    self.file(file_id).await
                }

                async fn file_part_stored(&self, file_id: &str, n: u32) -> Result<u32> {
                    self.file_part_stored(file_id, n).await
                }

                async fn attach_files(
                    &self,
                    file_ids: &[String],
                    device_id: &str,
                    group_id: &[u8],
                    now: u64,
                ) -> Result<FileAttach> {
                    self.attach_files(file_ids, device_id, group_id, now).await
                }

                async fn may_read_file(&self, file_id: &str, device_id: &str) -> Result<bool> {
                    self.may_read_file(file_id, device_id).await
                }

                async fn hold_files(&self, report_id: &str, file_ids: &[String]) -> Result<()> {
                    self.hold_files(report_id, file_ids).await
                }

                async fn release_holds(&self, report_id: &str) -> Result<()> {
                    self.release_holds(report_id).await
                }

                async fn holds_past(
                    &self,
                    sent_before: u64,
                    limit: u32,
                ) -> Result<Vec<(String, String)>> {
                    self.holds_past(sent_before, limit).await
                }

                async fn expired_files(
                    &self,
                    unsent_before: u64,
                    sent_before: u64,
                    limit: u32,
                ) -> Result<Vec<StoredFile>> {
                    self.expired_files(unsent_before, sent_before, limit).await
                }

                async fn forget_file(&self, file_id: &str) -> Result<()> {
                    self.forget_file(file_id).await
                }

                async fn files_sent_by(&self, account_id: &str) -> Result<Vec<StoredFile>> {
                    self.files_sent_by(account_id).await
                }

                async fn file_regions_readable_by(&self, account_id: &str) -> Result<Vec<String>> {
                    self.file_regions_readable_by(account_id).await
                }

                async fn set_file_region(&self, file_id: &str, region: &str) -> Result<()> {
                    self.set_file_region(file_id, region).await
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

                async fn follow(&self, f: &Follow) -> Result<bool> {
                    self.follow(f).await
                }

                async fn follow_many(&self, follows: &[Follow]) -> Result<()> {
                    self.follow_many(follows).await
                }

                async fn unfollow(&self, official_id: &str, follower_id: &str) -> Result<bool> {
                    self.unfollow(official_id, follower_id).await
                }

                async fn follows_of(&self, follower_id: &str) -> Result<Vec<Follow>> {
                    self.follows_of(follower_id).await
                }

                async fn followers_of(
                    &self,
                    official_id: &str,
                    after: &str,
                    limit: u32,
                ) -> Result<Vec<Follow>> {
                    self.followers_of(official_id, after, limit).await
                }

                async fn followers_among(
                    &self,
                    official_id: &str,
                    devices: &[String],
                ) -> Result<Vec<String>> {
                    self.followers_among(official_id, devices).await
                }

                async fn latest_announcement_for(&self, follower_id: &str) -> Result<u64> {
                    self.latest_announcement_for(follower_id).await
                }

                async fn add_announcement(&self, a: &StoredAnnouncement) -> Result<u64> {
                    self.add_announcement(a).await
                }

                async fn announcements_for(
                    &self,
                    follower_id: &str,
                    after: u64,
                    limit: u32,
                ) -> Result<Vec<StoredAnnouncement>> {
                    self.announcements_for(follower_id, after, limit).await
                }

                async fn forget_announcements_before(&self, at: u64) -> Result<u64> {
                    self.forget_announcements_before(at).await
                }

                fn write_stats(&self) -> Option<std::sync::Arc<WriteStats>> {
                    self.write_stats()
                }

                async fn close(&self) {
                    self.close().await
                }
            }
        };
    };
}

/// `impl RegionStore for $store`, each method calling `$store`'s own.
macro_rules! region_store_by_inherent_methods {
    ($store:ty) => {
        const _: () = {
            use $crate::region::*;
            use $crate::Result;

            #[async_trait::async_trait]
            impl $crate::RegionStore for $store {
                async fn put_subjects(&self, subjects: Vec<SealedSubject>) -> Result<()> {
                    self.put_subjects(subjects).await
                }

                async fn subject(&self, subject_id: &str) -> Result<Option<SealedSubject>> {
                    self.subject(subject_id).await
                }

                async fn wrapped_key(&self, subject_id: &str) -> Result<Option<WrappedKey>> {
                    self.wrapped_key(subject_id).await
                }

                async fn wrapped_keys(&self, subject_ids: &[String]) -> Result<Vec<WrappedKey>> {
                    self.wrapped_keys(subject_ids).await
                }

                async fn record(
                    &self,
                    subject_id: &str,
                    category: &str,
                ) -> Result<Option<Vec<u8>>> {
                    self.record(subject_id, category).await
                }

                async fn put_record(
                    &self,
                    subject_id: &str,
                    category: &str,
                    sealed: &[u8],
                ) -> Result<()> {
                    self.put_record(subject_id, category, sealed).await
                }

                async fn subject_by_phone_hash(&self, phone_hash: &[u8]) -> Result<Option<String>> {
                    self.subject_by_phone_hash(phone_hash).await
                }

                async fn put_phone_code(&self, code: PhoneCode, now: u64) -> Result<()> {
                    self.put_phone_code(code, now).await
                }

                async fn spend_phone_code_try(
                    &self,
                    phone_hash: &[u8],
                    now: u64,
                ) -> Result<Option<Vec<u8>>> {
                    self.spend_phone_code_try(phone_hash, now).await
                }

                async fn drop_phone_code(&self, phone_hash: &[u8]) -> Result<()> {
                    self.drop_phone_code(phone_hash).await
                }

                async fn withdraw_phone_code(
                    &self,
                    phone_hash: &[u8],
                    code_hash: &[u8],
                ) -> Result<()> {
                    self.withdraw_phone_code(phone_hash, code_hash).await
                }

                async fn append_accesses(
                    &self,
                    accesses: Vec<(String, SealedAccess)>,
                ) -> Result<()> {
                    self.append_accesses(accesses).await
                }

                async fn access_records(&self, subject_id: &str) -> Result<Vec<SealedAccess>> {
                    self.access_records(subject_id).await
                }

                async fn set_access_index(&self, leaf: &[u8], idx: u64) -> Result<()> {
                    self.set_access_index(leaf, idx).await
                }

                async fn number_accesses(&self, numbered: &[(String, SealedAccess)]) -> Result<()> {
                    self.number_accesses(numbered).await
                }

                async fn drop_pending_access(&self, leaf: &[u8]) -> Result<()> {
                    self.drop_pending_access(leaf).await
                }

                async fn pending_access(&self) -> Result<Vec<LedgerRow>> {
                    self.pending_access().await
                }

                async fn last_entry(&self) -> Result<Option<LedgerRow>> {
                    self.last_entry().await
                }

                async fn ledger_rows(&self, from: u64, limit: u32) -> Result<Vec<LedgerRow>> {
                    self.ledger_rows(from, limit).await
                }

                async fn accesses_by(
                    &self,
                    by: &AccessedBy,
                    after: (u64, i64),
                    limit: u32,
                ) -> Result<Vec<(i64, LedgerRow)>> {
                    self.accesses_by(by, after, limit).await
                }

                async fn erase_subject(&self, subject_id: &str, keep_ledger: bool) -> Result<bool> {
                    self.erase_subject(subject_id, keep_ledger).await
                }

                async fn tombstone_accesses(
                    &self,
                    subject_id: &str,
                    seals: &[(Vec<u8>, Vec<u8>)],
                ) -> Result<u64> {
                    self.tombstone_accesses(subject_id, seals).await
                }

                async fn tombstones_sealed(&self) -> Result<bool> {
                    self.tombstones_sealed().await
                }

                async fn bare_tombstones(&self) -> Result<Vec<LedgerRow>> {
                    self.bare_tombstones().await
                }

                async fn seal_bare_tombstones(&self, seals: &[(Vec<u8>, Vec<u8>)]) -> Result<()> {
                    self.seal_bare_tombstones(seals).await
                }

                async fn put_report(&self, r: ReportRow) -> Result<()> {
                    self.put_report(r).await
                }

                async fn report(&self, report_id: &str) -> Result<Option<ReportRow>> {
                    self.report(report_id).await
                }

                async fn reports_in(&self, states: &[&str], limit: u32) -> Result<Vec<ReportRow>> {
                    self.reports_in(states, limit).await
                }

                async fn reports_of(&self, subject_id: &str) -> Result<Vec<ReportRow>> {
                    self.reports_of(subject_id).await
                }

                async fn update_report(&self, r: &ReportRow, from: &str) -> Result<bool> {
                    self.update_report(r, from).await
                }

                async fn reports_resolved_before(
                    &self,
                    before: u64,
                    limit: u32,
                ) -> Result<Vec<ReportRow>> {
                    self.reports_resolved_before(before, limit).await
                }

                async fn delete_resolved_report(
                    &self,
                    report_id: &str,
                    before: u64,
                ) -> Result<bool> {
                    self.delete_resolved_report(report_id, before).await
                }

                async fn subjects_after(&self, after: &str, limit: u32) -> Result<Vec<WrappedKey>> {
                    self.subjects_after(after, limit).await
                }

                async fn key_versions(&self) -> Result<Vec<(u32, u64)>> {
                    self.key_versions().await
                }

                async fn rewrap(&self, keys: &[(WrappedKey, Vec<u8>)]) -> Result<u64> {
                    self.rewrap(keys).await
                }

                async fn close(&self) {
                    self.close().await
                }
            }
        };
    };
}

pub(crate) use {region_store_by_inherent_methods, store_by_inherent_methods};
