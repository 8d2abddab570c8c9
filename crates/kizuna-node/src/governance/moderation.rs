//! The moderation queue. A moderator opens the abuse reports of a region's
//! people only under a live ABUSE_REPORT_REVIEW grant over that region, as
//! the Cedar policy decides (jurisdiction included); each opening is
//! written to the reporter's and the reported sender's own access records,
//! and so the ledger, before anything is shown.

use kizuna_policy::{Action, GrantFacts, PersonFacts};
use kizuna_staff::{Session, StaffError};
use kizuna_store::Sanction;
use kizuna_vault::{QueuedReport, ReportBody, Requester, VaultError};
use kizuna_wire::reports::*;
use kizuna_wire::staff::*;

use super::{facts_of, requester_of, storage, vault_failure, Governance};

fn no_grant() -> StaffError {
    StaffError::Forbidden(
        "you hold no live ABUSE_REPORT_REVIEW grant over any region's reports; request one \
         (`kizuna staff request --fields reports --region R --purpose ABUSE_REPORT_REVIEW ...`) \
         and have it approved"
            .into(),
    )
}

fn vault_refusal(e: VaultError) -> StaffError {
    match e {
        VaultError::AccessDenied { .. } => StaffError::Forbidden(e.to_string()),
        other => vault_failure(other),
    }
}

impl Governance {
    /// The policy's verdict on this staff member opening reports of a
    /// region's people, under the live grant that covers the region if
    /// there is one.
    fn report_verdict(
        &self,
        s: &Session,
        grants: &[Grant],
        region: &str,
        person: &PersonFacts,
    ) -> Result<(Option<Grant>, kizuna_policy::Verdict), StaffError> {
        let grant = grants
            .iter()
            .find(|g| g.regions.iter().any(|r| r == region))
            .cloned();
        let facts = match &grant {
            Some(g) => facts_of(g, true),
            None => GrantFacts {
                purpose: String::new(),
                fields: vec![REPORTS_FIELD.to_string()],
                duration_secs: 0,
                break_glass: false,
                live: false,
                consented: false,
                requester: s.member.staff_id.clone(),
                requester_org: s.org.org_id.clone(),
            },
        };
        let v = self.decide(Action::OpenReport, s, person, &facts)?;
        Ok((grant, v))
    }

    /// Finds a report and decides whether this staff member may open it;
    /// a refusal is recorded as an event and for the reporter.
    pub(super) async fn open_allowed(
        &self,
        s: &Session,
        report_id: &str,
    ) -> Result<(QueuedReport, Grant, Requester), StaffError> {
        let q = self
            .vault
            .find_report(report_id)
            .await
            .map_err(vault_failure)?
            .ok_or_else(|| StaffError::NotFound(format!("report {report_id}")))?;
        let person = PersonFacts {
            subject: format!("the reporter of {report_id}"),
            ..self.region_facts(&q.region)
        };
        let grants = self.realm.live_report_grants(&s.member.staff_id).await?;
        let (grant, v) = self.report_verdict(s, &grants, &q.region, &person)?;
        let (Some(grant), true) = (grant, v.allowed) else {
            let requester = Requester::Staff(kizuna_wire::StaffRef {
                staff_id: s.member.staff_id.clone(),
                org_id: s.org.org_id.clone(),
                country: s.org.country.clone(),
                grant_id: "none".into(),
                purpose: "ABUSE_REPORT_REVIEW".into(),
                ticket: "none".into(),
                roles: s
                    .member
                    .roles
                    .iter()
                    .map(|r| r.name().to_string())
                    .collect(),
            });
            return Err(self
                .refusal(
                    s,
                    kizuna_staff::EventKind::ReportOpenDenied,
                    serde_json::json!({ "report": report_id, "region": q.region }),
                    Some((&q.row.subject_id, &q.region, &requester)),
                    &format!("opening report {report_id}"),
                    &v,
                )
                .await);
        };
        let requester = requester_of(&grant, &s.org.country, &s.member.roles);
        Ok((q, grant, requester))
    }

    /// Opens a report the policy allowed: recorded for the reporter, then
    /// for the reported sender (their message, their appeal), then shown.
    /// The reported sender's home region must allow the moderator's country
    /// too: their appeal is their data, and a decision writes to it.
    pub(super) async fn opened(
        &self,
        s: &Session,
        q: &QueuedReport,
        grant: &Grant,
        requester: &Requester,
    ) -> Result<Opened, StaffError> {
        let body = self
            .vault
            .open_report_governed(q, &s.org.country, requester)
            .await
            .map_err(vault_refusal)?;
        // Where the reported person lives now (they may have moved since);
        // nowhere if they erased their account.
        let home = self
            .store
            .account_by_id(&body.reported_account)
            .await
            .map_err(storage)?
            .map(|a| a.region);
        let Some(home) = home else {
            return Ok(Opened {
                body,
                appeal: None,
                sender_home: None,
            });
        };
        let person = PersonFacts {
            subject: body.report.reported_handle.clone(),
            ..self.region_facts(&home)
        };
        let v = self.decide(Action::OpenReport, s, &person, &facts_of(grant, true))?;
        if !v.allowed {
            return Err(self
                .refusal(
                    s,
                    kizuna_staff::EventKind::ReportOpenDenied,
                    serde_json::json!({ "report": q.row.report_id, "reported_region": home }),
                    Some((&body.reported_account, &home, requester)),
                    &format!(
                        "report {} (about a person of region {home})",
                        q.row.report_id
                    ),
                    &v,
                )
                .await);
        }
        let notice = match self
            .vault
            .reported_sender_view(
                &body.reported_account,
                &home,
                &q.row.report_id,
                &s.org.country,
                requester,
            )
            .await
        {
            Ok(n) => n,
            // Erased between the two reads: nothing of theirs is left.
            Err(VaultError::NotFound(_)) => None,
            Err(e) => return Err(vault_refusal(e)),
        };
        Ok(Opened {
            body,
            appeal: notice.and_then(|n| n.appeal),
            sender_home: Some(home),
        })
    }
}

/// Holds a report while one moderator decides it.
pub(crate) struct Deciding<'a> {
    set: &'a std::sync::Mutex<std::collections::HashSet<String>>,
    report_id: String,
}

impl Drop for Deciding<'_> {
    fn drop(&mut self) {
        let mut set = match self.set.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        set.remove(&self.report_id);
    }
}

impl Governance {
    fn deciding(&self, report_id: &str) -> Result<Deciding<'_>, StaffError> {
        let mut set = match self.deciding.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        if !set.insert(report_id.to_string()) {
            return Err(StaffError::Invalid(format!(
                "another moderator is deciding report {report_id} right now; look at it again in a moment"
            )));
        }
        Ok(Deciding {
            set: &self.deciding,
            report_id: report_id.to_string(),
        })
    }
}

/// A report as opened for a moderator, and where its reported sender lives.
pub(super) struct Opened {
    pub(super) body: ReportBody,
    appeal: Option<Appeal>,
    sender_home: Option<String>,
}

fn shown(
    q: &QueuedReport,
    body: ReportBody,
    appeal: Option<Appeal>,
    grant: &Grant,
) -> OpenedReport {
    let r = body.report;
    OpenedReport {
        report_id: r.report_id,
        region: q.region.clone(),
        created_at: r.created_at,
        reason: r.reason,
        note: r.note,
        chat: r.chat,
        reported_handle: r.reported_handle,
        messages: r.messages,
        state: r.state,
        outcome: r.outcome,
        appeal,
        grant_id: grant.grant_id.clone(),
    }
}

impl Governance {
    /// The queue of abuse reports a moderator's live grant opens.
    pub async fn report_queue(
        &self,
        s: &Session,
        state: Option<&str>,
    ) -> Result<Vec<kizuna_wire::reports::QueuedReport>, StaffError> {
        let g = self;
        let states: &[ReportState] = match state {
            None | Some("open") => &[ReportState::Open, ReportState::Appealed],
            Some("appealed") => &[ReportState::Appealed],
            Some("resolved") => &[ReportState::Resolved],
            Some("all") => &[
                ReportState::Open,
                ReportState::Appealed,
                ReportState::Resolved,
            ],
            Some(other) => {
                return Err(StaffError::Invalid(format!(
                    "unknown state '{other}'; use open, appealed, resolved or all"
                )))
            }
        };
        let grants = g.realm.live_report_grants(&s.member.staff_id).await?;
        let mut regions: Vec<String> = grants.iter().flat_map(|x| x.regions.clone()).collect();
        regions.sort();
        regions.dedup();
        if regions.is_empty() {
            return Err(no_grant());
        }
        let mut allowed = Vec::new();
        let mut reasons = Vec::new();
        for region in &regions {
            let (_, v) = g.report_verdict(s, &grants, region, &g.region_facts(region))?;
            if v.allowed {
                allowed.push(region.clone());
            } else {
                reasons.push(format!("{region}: {}", v.reasons.join("; ")));
            }
        }
        if allowed.is_empty() {
            g.realm
                .record(
                    kizuna_staff::EventKind::ReportQueueDenied,
                    Some(&s.member.staff_id),
                    Some(&s.org.org_id),
                    serde_json::json!({ "regions": regions, "reasons": reasons }),
                )
                .await?;
            g.check_anomalies(s).await;
            return Err(StaffError::Forbidden(format!(
                "the report queue is refused: {}",
                reasons.join("; ")
            )));
        }
        let queue = g
            .vault
            .report_queue(&allowed, states, 500)
            .await
            .map_err(vault_refusal)?;
        g.realm
            .record(
                kizuna_staff::EventKind::ReportsListed,
                Some(&s.member.staff_id),
                Some(&s.org.org_id),
                serde_json::json!({ "regions": allowed, "count": queue.len() }),
            )
            .await?;
        Ok(queue
            .into_iter()
            .map(|q| kizuna_wire::reports::QueuedReport {
                report_id: q.row.report_id,
                region: q.region,
                created_at: q.row.created_at,
                reason: match q.row.reason.as_str() {
                    "spam" => ReportReason::Spam,
                    "harassment" => ReportReason::Harassment,
                    "illegal" => ReportReason::Illegal,
                    _ => ReportReason::Other,
                },
                state: ReportState::parse(&q.row.state).unwrap_or(ReportState::Open),
            })
            .collect())
    }
}

impl Governance {
    /// One report, opened under a live grant.
    pub async fn open_report(
        &self,
        s: &Session,
        report_id: String,
    ) -> Result<OpenedReport, StaffError> {
        let g = self;
        let (q, grant, requester) = g.open_allowed(s, &report_id).await?;
        // Opened (and recorded for the two people) only once the policy allowed
        // both; the event before anything is shown.
        let o = g.opened(s, &q, &grant, &requester).await?;
        g.realm
            .record(
                kizuna_staff::EventKind::ReportOpened,
                Some(&s.member.staff_id),
                Some(&s.org.org_id),
                serde_json::json!({ "report": report_id, "region": q.region, "grant": grant.grant_id }),
            )
            .await?;
        Ok(shown(&q, o.body, o.appeal, &grant))
    }
}

impl Governance {
    /// A moderator's decision on a report, one decision at a time.
    pub async fn resolve_report(
        &self,
        s: &Session,
        report_id: String,
        req: ResolveRequest,
    ) -> Result<OpenedReport, StaffError> {
        let g = self;
        let reason = req.reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 {
            return Err(StaffError::Invalid(
                "say why in 1 to 500 characters (--reason); the reported person reads it".into(),
            ));
        }
        let sanctioning = matches!(
            req.action,
            ModerationAction::Restrict | ModerationAction::Suspend
        );
        match req.days {
            Some(_) if !sanctioning => {
                return Err(StaffError::Invalid(
                    "only a restriction or suspension lasts a number of days".into(),
                ))
            }
            Some(d) if d == 0 || d > 3650 => {
                return Err(StaffError::Invalid("--days must be 1 to 3650".into()))
            }
            _ => {}
        }
        // One decision at a time per report, taken before the report is read:
        // another moderator deciding it now is told so, rather than both
        // writing notices and sanctions.
        let _deciding = g.deciding(&report_id)?;
        let (q, grant, requester) = g.open_allowed(s, &report_id).await?;
        let from = ReportState::parse(&q.row.state).unwrap_or(ReportState::Open);
        if from == ReportState::Resolved {
            return Err(StaffError::Invalid(format!(
                "report {report_id} is already resolved; it opens again only if the reported person appeals"
            )));
        }
        let now = kizuna_wire::now_ms();
        let outcome = Outcome {
            action: req.action,
            reason: reason.to_string(),
            decided_at: now,
            until: req.days.map(|d| now + u64::from(d) * 86_400_000),
            on_appeal: from == ReportState::Appealed,
        };
        let Opened {
            mut body,
            appeal,
            sender_home,
        } = g.opened(s, &q, &grant, &requester).await?;
        // The decision is an event before it takes effect.
        g.realm
            .record(
                kizuna_staff::EventKind::ReportResolved,
                Some(&s.member.staff_id),
                Some(&s.org.org_id),
                serde_json::json!({
                    "report": report_id, "region": q.region, "grant": grant.grant_id,
                    "action": req.action.name(), "until": outcome.until, "on_appeal": outcome.on_appeal,
                }),
            )
            .await?;
        body.report.state = ReportState::Resolved;
        body.report.outcome = Some(outcome.clone());
        // The person is told and the sanction set before the report is marked
        // resolved: both are idempotent, so if anything fails on the way, the
        // report stays open and deciding it again completes what was begun.
        // The reported person is told which message and why, in their region.
        let Some(message) = body.report.messages.last().cloned() else {
            return Err(storage("a report without its reported message"));
        };
        if let Some(home) = &sender_home {
            match g
                .vault
                .put_notice(
                    &body.reported_account,
                    home,
                    ModerationNotice {
                        report_id: report_id.clone(),
                        chat: body.report.chat.clone(),
                        message,
                        report_reason: body.report.reason,
                        outcome: outcome.clone(),
                        appeal: appeal.clone(),
                    },
                    &requester,
                )
                .await
            {
                Ok(()) => {}
                // Erased between the two steps: nobody left to tell.
                Err(VaultError::NotFound(_)) => {}
                Err(e) => return Err(vault_refusal(e)),
            }
            // The sanction this report's decision sets; a decision without one
            // (or on appeal, `none`) lifts only what this report had set.
            let sanction = match req.action {
                ModerationAction::Restrict => Some(Sanction {
                    sending_only: true,
                    until: outcome.until,
                }),
                ModerationAction::Suspend => Some(Sanction {
                    sending_only: false,
                    until: outcome.until,
                }),
                ModerationAction::None | ModerationAction::Warn => None,
            };
            g.sanctions
                .set(
                    g.store.as_ref(),
                    &body.reported_account,
                    &report_id,
                    sanction,
                )
                .await
                .inspect(|_| {
                    if let Some(c) = &g.cluster {
                        c.announce(crate::cluster::Notice::Sanctions);
                    }
                })
                .map_err(storage)?;
        }
        // Marked resolved only if still as it was read. Another moderator's
        // decision in between makes this one fail; the notice and sanction just
        // written stand until one of them decides again.
        if !g
            .vault
            .update_report(&q, &body, Some(now))
            .await
            .map_err(vault_failure)?
        {
            return Err(StaffError::Invalid(format!(
                "report {report_id} changed meanwhile; look at it again"
            )));
        }
        Ok(shown(&q, body, appeal, &grant))
    }
}
