//! Abuse reports and moderation notices as personal data: a report is the
//! reporter's, sealed in their home region under their data key; what a
//! moderator decided about a message is its sender's, sealed in theirs.

use kizuna_store::{ReportRow, StoreError};
use kizuna_wire::reports::{FiledReport, ModerationNotice, ReportState};
use kizuna_wire::TransferRecord;
use serde::{Deserialize, Serialize};

use crate::{Access, Action, Category, RegionVault, Requester, Vault, VaultError};

/// A report as sealed: what the reporter filed, and who is to be told of
/// its outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportBody {
    pub report: FiledReport,
    pub reported_account: String,
    /// Their home region when the report was filed; a decision looks up
    /// where they live now.
    pub reported_region: String,
    /// The files its messages carry, by their place in the chat, with the
    /// keys the reporter revealed: a moderator who opens the report may
    /// open them.
    #[serde(default)]
    pub files: Vec<(u64, kizuna_wire::FileRef)>,
}

/// A report in a region's queue, and where it is.
#[derive(Clone, Debug)]
pub struct QueuedReport {
    pub region: String,
    pub row: ReportRow,
}

/// Each report's record is bound to its id, so one cannot stand in for
/// another of the same person.
fn report_category(report_id: &str) -> String {
    format!("{}:{report_id}", Category::Reports.name())
}

impl RegionVault {
    fn seal_report(
        &self,
        body: &ReportBody,
        subject: &str,
        key: &crate::seal::DataKey,
        dkv: u32,
    ) -> Result<Vec<u8>, VaultError> {
        let pt = serde_json::to_vec(body).map_err(|e| self.unsealable(e.to_string()))?;
        self.seal_category(
            key,
            subject,
            dkv,
            &report_category(&body.report.report_id),
            &pt,
        )
    }

    pub(crate) async fn open_report(&self, row: &ReportRow) -> Result<ReportBody, VaultError> {
        let (key, dkv) = self.data_key(&row.subject_id).await?;
        self.open_report_with(row, &key, dkv)
    }

    pub(crate) fn open_report_with(
        &self,
        row: &ReportRow,
        key: &crate::seal::DataKey,
        dkv: u32,
    ) -> Result<ReportBody, VaultError> {
        let pt = self.open_category(
            key,
            &row.subject_id,
            dkv,
            &report_category(&row.report_id),
            &row.sealed,
        )?;
        let mut body: ReportBody =
            serde_json::from_slice(&pt).map_err(|e| self.unsealable(e.to_string()))?;
        // The state in the clear is the queue's, changed without opening
        // the report (an appeal); it is the one that counts.
        if let Some(state) = ReportState::parse(&row.state) {
            body.report.state = state;
        }
        Ok(body)
    }

    /// A report's row with its content sealed anew (under `key`, version
    /// `dkv`): for changes of state and for moves.
    pub(crate) fn resealed(
        &self,
        row: &ReportRow,
        body: &ReportBody,
        key: &crate::seal::DataKey,
        dkv: u32,
    ) -> Result<ReportRow, VaultError> {
        Ok(ReportRow {
            state: body.report.state.name().to_string(),
            sealed: self.seal_report(body, &row.subject_id, key, dkv)?,
            ..row.clone()
        })
    }
}

impl Vault {
    /// Files a report in the reporter's home region, sealed. One person
    /// reports one message once (`message_key` names it).
    pub async fn file_report(
        &self,
        subject: &str,
        region: &str,
        body: &ReportBody,
        message_key: Vec<u8>,
        requester: &Requester,
    ) -> Result<(), VaultError> {
        let rv = self
            .reach(&Access {
                subject,
                region,
                action: Action::Write,
                categories: &[Category::Reports],
                requester,
            })
            .await?;
        let (key, dkv) = rv.data_key(subject).await?;
        let row = ReportRow {
            report_id: body.report.report_id.clone(),
            subject_id: subject.to_string(),
            message_key,
            created_at: body.report.created_at,
            reason: body.report.reason.name().to_string(),
            state: ReportState::Open.name().to_string(),
            resolved_at: None,
            sealed: rv.seal_report(body, subject, &key, dkv)?,
        };
        match rv.store.put_report(row).await {
            Err(StoreError::Conflict("report")) => Err(VaultError::AlreadyReported),
            r => Ok(r?),
        }
    }

    /// The reports a person filed, opened for them.
    pub async fn reports_of(
        &self,
        subject: &str,
        region: &str,
        requester: &Requester,
    ) -> Result<Vec<FiledReport>, VaultError> {
        let rv = self
            .reach(&Access {
                subject,
                region,
                action: Action::Read,
                categories: &[Category::Reports],
                requester,
            })
            .await?;
        let rows = rv.store.reports_of(subject).await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let (key, dkv) = rv.data_key(subject).await?;
        rows.iter()
            .map(|r| rv.open_report_with(r, &key, dkv).map(|b| b.report))
            .collect()
    }

    /// The moderation queue of the regions given that this node may reach:
    /// nothing of any report's content is opened.
    pub async fn report_queue(
        &self,
        regions: &[String],
        states: &[ReportState],
        limit: u32,
    ) -> Result<Vec<QueuedReport>, VaultError> {
        let states: Vec<&str> = states.iter().map(|s| s.name()).collect();
        let mut out = Vec::new();
        for region in regions {
            let rv = self.maintained(region)?;
            for row in rv.store.reports_in(&states, limit).await? {
                out.push(QueuedReport {
                    region: region.clone(),
                    row,
                });
            }
        }
        out.sort_by_key(|q| q.row.created_at);
        out.truncate(limit as usize);
        Ok(out)
    }

    /// Where a report is, among the regions this node may reach.
    pub async fn find_report(&self, report_id: &str) -> Result<Option<QueuedReport>, VaultError> {
        for region in self.regions.keys() {
            let Ok(rv) = self.maintained(region) else {
                continue;
            };
            if let Some(row) = rv.store.report(report_id).await? {
                return Ok(Some(QueuedReport {
                    region: region.clone(),
                    row,
                }));
            }
        }
        Ok(None)
    }

    /// Whether a report is surely no longer kept: found in no region, and
    /// every region searched (one this node may not reach might keep it).
    pub async fn report_is_gone(&self, report_id: &str) -> Result<bool, VaultError> {
        for region in self.regions.keys() {
            let Ok(rv) = self.maintained(region) else {
                return Ok(false);
            };
            if rv.store.report(report_id).await?.is_some() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Opens a report for a moderator whose access the policy allowed: the
    /// opening is sealed into the reporter's access records (and so the
    /// ledger) before anything is opened.
    pub async fn open_report_governed(
        &self,
        q: &QueuedReport,
        from_country: &str,
        requester: &Requester,
    ) -> Result<ReportBody, VaultError> {
        let rv = self
            .reach_governed(
                &Access {
                    subject: &q.row.subject_id,
                    region: &q.region,
                    action: Action::Read,
                    categories: &[Category::Reports],
                    requester,
                },
                &[format!("report {}", q.row.report_id)],
                from_country,
            )
            .await?;
        rv.open_report(&q.row).await
    }

    /// Changes a report's state and content (a decision, an appeal) if it
    /// is still as it was read; false if someone changed it meanwhile.
    pub async fn update_report(
        &self,
        q: &QueuedReport,
        body: &ReportBody,
        resolved_at: Option<u64>,
    ) -> Result<bool, VaultError> {
        let rv = self.maintained(&q.region)?;
        let (key, dkv) = rv.data_key(&q.row.subject_id).await?;
        let row = ReportRow {
            resolved_at,
            ..rv.resealed(&q.row, body, &key, dkv)?
        };
        Ok(rv.store.update_report(&row, &q.row.state).await?)
    }

    /// Moves a report to another state in the queue without opening it;
    /// false if it changed meanwhile.
    pub async fn set_report_state(
        &self,
        q: &QueuedReport,
        state: ReportState,
    ) -> Result<bool, VaultError> {
        let rv = self.maintained(&q.region)?;
        let row = kizuna_store::ReportRow {
            state: state.name().to_string(),
            ..q.row.clone()
        };
        Ok(rv.store.update_report(&row, &q.row.state).await?)
    }

    /// What a moderator opening a report sees of the reported sender: only
    /// that their message was opened, and their appeal if they made one.
    /// It is sealed into the sender's own access records first.
    pub async fn reported_sender_view(
        &self,
        subject: &str,
        region: &str,
        report_id: &str,
        from_country: &str,
        requester: &Requester,
    ) -> Result<Option<ModerationNotice>, VaultError> {
        let rv = self
            .reach_governed(
                &Access {
                    subject,
                    region,
                    action: Action::Read,
                    categories: &[Category::Moderation],
                    requester,
                },
                &[format!(
                    "your reported message, and your appeal if any (report {report_id})"
                )],
                from_country,
            )
            .await?;
        let all: Vec<ModerationNotice> = rv
            .open_record(subject, Category::Moderation)
            .await?
            .unwrap_or_default();
        Ok(all.into_iter().find(|n| n.report_id == report_id))
    }

    /// A report the node refused because a message in it did not verify,
    /// recorded for the person who tried.
    pub async fn record_refused_report(
        &self,
        subject: &str,
        region: &str,
        why: &str,
        requester: &Requester,
    ) -> Result<(), VaultError> {
        let rv = self.maintained(region)?;
        let record = TransferRecord {
            at: kizuna_wire::now_ms(),
            action: "report".into(),
            categories: vec![Category::Reports.name().to_string()],
            region: region.to_string(),
            to_country: self.config.node_region().country.clone(),
            basis: None,
            requester: requester.describe(),
            allowed: false,
            refusal: Some(why.to_string()),
        };
        self.record(rv, subject, &record, requester).await
    }

    /// The ids of the reports a person filed (nothing is opened).
    pub async fn report_ids_of(
        &self,
        subject: &str,
        region: &str,
    ) -> Result<Vec<String>, VaultError> {
        Ok(self
            .maintained(region)?
            .store
            .reports_of(subject)
            .await?
            .into_iter()
            .map(|r| r.report_id)
            .collect())
    }

    /// Deletes resolved reports whose retention ended by `before`, except
    /// those `keep` names (a sanction they set is still in force): each
    /// deletion is recorded for the reporter first. Returns those that went.
    pub async fn delete_expired_reports(
        &self,
        before: u64,
        keep: impl Fn(&str) -> bool,
    ) -> Result<Vec<String>, VaultError> {
        let mut gone = Vec::new();
        let regions: Vec<String> = self.regions.keys().cloned().collect();
        for region in regions {
            let Ok(rv) = self.maintained(&region) else {
                continue;
            };
            for row in rv.store.reports_resolved_before(before, 256).await? {
                if keep(&row.report_id) {
                    continue;
                }
                let record = TransferRecord {
                    at: kizuna_wire::now_ms(),
                    action: "erase".into(),
                    categories: vec![format!("report {}", row.report_id)],
                    region: region.clone(),
                    to_country: self.config.node_region().country.clone(),
                    basis: Some("the retention period of resolved reports ended".into()),
                    requester: Requester::Retention.describe(),
                    allowed: true,
                    refusal: None,
                };
                self.record(rv, &row.subject_id, &record, &Requester::Retention)
                    .await?;
                // An appeal since the row was read keeps the report (its
                // record of deletion then stands for nothing deleted, which
                // errs on the side of telling).
                if rv
                    .store
                    .delete_resolved_report(&row.report_id, before)
                    .await?
                {
                    gone.push(row.report_id);
                }
            }
        }
        Ok(gone)
    }

    /// What moderators decided about a person's messages.
    pub async fn notices(
        &self,
        subject: &str,
        region: &str,
        requester: &Requester,
    ) -> Result<Vec<ModerationNotice>, VaultError> {
        Ok(self
            .read_record(subject, region, Category::Moderation, requester)
            .await?
            .unwrap_or_default())
    }

    /// Adds or replaces (by report) a notice to a person about one of their
    /// messages.
    pub async fn put_notice(
        &self,
        subject: &str,
        region: &str,
        notice: ModerationNotice,
        requester: &Requester,
    ) -> Result<(), VaultError> {
        let rv = self
            .reach(&Access {
                subject,
                region,
                action: Action::Write,
                categories: &[Category::Moderation],
                requester,
            })
            .await?;
        let _one_writer = self.notices.lock().await;
        let mut all: Vec<ModerationNotice> = rv
            .open_record(subject, Category::Moderation)
            .await?
            .unwrap_or_default();
        all.retain(|n| n.report_id != notice.report_id);
        all.push(notice);
        rv.put_sealed(subject, Category::Moderation, &all).await
    }
}
