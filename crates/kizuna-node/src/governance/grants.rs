//! The grant lifecycle: a request with a purpose, ticket and duration,
//! the second person's approval or denial, and ending a grant early.

use kizuna_policy::Action;
use kizuna_staff::{Session, StaffError};
use kizuna_wire::staff::*;
use rand::RngCore;

use super::*;

impl Governance {
    /// Approves a pending grant: a second person, as the policy decides.
    pub async fn approve_grant(&self, s: &Session, grant_id: &str) -> Result<Grant, StaffError> {
        decide_on(self, s, grant_id, true).await
    }

    /// Denies a pending grant.
    pub async fn deny_grant(&self, s: &Session, grant_id: &str) -> Result<Grant, StaffError> {
        decide_on(self, s, grant_id, false).await
    }

    /// A grant request: checked, decided by the policy, recorded, and
    /// (for break-glass) live at once.
    pub async fn request_grant(&self, s: &Session, req: GrantRequest) -> Result<Grant, StaffError> {
        let g = self;
        let for_reports = req.fields.iter().any(|f| f == REPORTS_FIELD);
        if for_reports {
            if req.fields.len() != 1
                || req.purpose != Purpose::AbuseReportReview
                || !req.subjects.is_empty()
                || req.regions.is_empty()
            {
                return Err(StaffError::Invalid(
                    "a grant over abuse reports names only the field 'reports', the purpose \
                     ABUSE_REPORT_REVIEW and the regions whose reports it opens (--region), no people"
                        .into(),
                ));
            }
            if req.break_glass {
                return Err(StaffError::Invalid(
                    "abuse reports wait for a second person's approval; there is no break-glass for them"
                        .into(),
                ));
            }
            if let Some(r) = req
                .regions
                .iter()
                .find(|r| g.vault.config().region(r).is_none())
            {
                return Err(StaffError::Invalid(format!(
                    "unknown region '{r}'; regions are {}",
                    g.vault.config().ids().join(", ")
                )));
            }
        } else if !req.regions.is_empty() {
            return Err(StaffError::Invalid(
                "only a grant over abuse reports (--fields reports) names regions".into(),
            ));
        } else if req.subjects.is_empty() || req.subjects.len() > 100 {
            return Err(StaffError::Invalid(
                "name 1 to 100 people (--subject)".into(),
            ));
        }
        let mut fields = req.fields.clone();
        fields.sort();
        fields.dedup();
        if fields.is_empty() {
            return Err(StaffError::Invalid("name at least one field".into()));
        }
        if let Some(f) = fields
            .iter()
            .find(|f| !PERSONAL_FIELDS.contains(&f.as_str()))
        {
            return Err(StaffError::Invalid(format!(
                "unknown field '{f}'; fields are {}",
                PERSONAL_FIELDS.join(", ")
            )));
        }
        if req.ticket.trim().is_empty() || req.ticket.len() > 64 {
            return Err(StaffError::Invalid(
                "a ticket reference of 1 to 64 characters is required".into(),
            ));
        }
        if req.reason.trim().is_empty() || req.reason.len() > 500 {
            return Err(StaffError::Invalid(
                "a reason of 1 to 500 characters is required".into(),
            ));
        }
        if req.duration_secs == 0 {
            return Err(StaffError::Invalid("the duration must be positive".into()));
        }
        let mut id = [0u8; 8];
        rand::thread_rng().fill_bytes(&mut id);
        let now = kizuna_wire::now_ms();
        let mut grant = Grant {
            grant_id: format!("g-{}", hex::encode(id)),
            staff_id: s.member.staff_id.clone(),
            org_id: s.org.org_id.clone(),
            subjects: req.subjects.clone(),
            fields,
            purpose: req.purpose,
            ticket: req.ticket.trim().to_string(),
            reason: req.reason.trim().to_string(),
            duration_secs: req.duration_secs,
            break_glass: req.break_glass,
            state: GrantState::Pending,
            requested_at: now,
            decided_by: None,
            decided_at: None,
            expires_at: None,
            consented: Vec::new(),
            declined: Vec::new(),
            regions: req.regions.clone(),
        };
        for region in &grant.regions {
            let facts = g.region_facts(region);
            let v = g.decide(Action::RequestGrant, s, &facts, &facts_of(&grant, false))?;
            if !v.allowed {
                return Err(g
                    .refusal(
                        s,
                        kizuna_staff::EventKind::GrantRefused,
                        serde_json::json!({ "region": region }),
                        None,
                        &format!("the abuse reports of region {region}"),
                        &v,
                    )
                    .await);
            }
        }
        let mut people = Vec::new();
        for subject in &req.subjects {
            let (account, person) = g.person(subject).await?;
            let v = g.decide(Action::RequestGrant, s, &person, &facts_of(&grant, false))?;
            if !v.allowed {
                g.record_grant_step(
                    &account,
                    "grant_requested",
                    &grant,
                    &s.org.country,
                    Err(&v.reasons.join("; ")),
                )
                .await?;
                g.realm
                    .record(
                        kizuna_staff::EventKind::GrantRefused,
                        Some(&s.member.staff_id),
                        Some(&s.org.org_id),
                        serde_json::json!({ "subject": subject, "rules": v.rules, "reasons": v.reasons }),
                    )
                    .await?;
                g.check_anomalies(s).await;
                return Err(refused(&format!("access to {subject}"), &v));
            }
            people.push(account);
        }
        let step = if grant.break_glass {
            kizuna_staff::EventKind::BreakGlass
        } else {
            kizuna_staff::EventKind::GrantRequested
        };
        for account in &people {
            g.record_grant_step(
                account,
                step.as_str(),
                &grant,
                &s.org.country,
                Ok(grant.reason.as_str()),
            )
            .await?;
        }
        if grant.break_glass {
            // Immediate, short, and loud: recorded as break-glass for review.
            grant.state = GrantState::Approved;
            grant.decided_by = Some("break-glass".into());
            grant.decided_at = Some(now);
            grant.expires_at = Some(now + grant.duration_secs * 1000);
        }
        g.realm
            .record(
                if grant.break_glass {
                    kizuna_staff::EventKind::BreakGlass
                } else {
                    kizuna_staff::EventKind::GrantRequested
                },
                Some(&s.member.staff_id),
                Some(&s.org.org_id),
                serde_json::to_value(&grant).unwrap_or_default(),
            )
            .await?;
        g.realm.insert_grant(&grant).await?;
        if grant.break_glass {
            g.realm.break_glass_opened(&grant).await?;
        }
        Ok(grant)
    }
}

/// Approves or denies a pending grant, as the policy decides.
async fn decide_on(
    g: &Governance,
    s: &Session,
    grant_id: &str,
    approve: bool,
) -> Result<Grant, StaffError> {
    let grant = g.realm.grant(grant_id).await?;
    if grant.state != GrantState::Pending {
        return Err(StaffError::Invalid(format!(
            "grant {grant_id} is not pending; it is {}",
            grant.state.name()
        )));
    }
    let mut people = Vec::new();
    let mut targets = Vec::new();
    for subject in &grant.subjects {
        let (account, person) = g.person(subject).await?;
        people.push(account);
        targets.push(person);
    }
    targets.extend(grant.regions.iter().map(|r| g.region_facts(r)));
    for person in &targets {
        let v = g.decide(Action::ApproveGrant, s, person, &facts_of(&grant, false))?;
        if !v.allowed {
            g.realm
                .record(
                    kizuna_staff::EventKind::ApprovalRefused,
                    Some(&s.member.staff_id),
                    Some(&s.org.org_id),
                    serde_json::json!({ "grant": grant_id, "rules": v.rules, "reasons": v.reasons }),
                )
                .await?;
            g.check_anomalies(s).await;
            return Err(refused(&format!("deciding grant {grant_id}"), &v));
        }
    }
    let now = kizuna_wire::now_ms();
    let mut decided = grant.clone();
    decided.state = if approve {
        GrantState::Approved
    } else {
        GrantState::Denied
    };
    decided.decided_by = Some(s.member.staff_id.clone());
    decided.decided_at = Some(now);
    if approve {
        decided.expires_at = Some(now + grant.duration_secs * 1000);
    }
    // The country the grant's holder works in: where the data would go.
    let (_, org) = g.realm.member_and_org(&grant.staff_id).await?;
    let verdict = format!(
        "{} by {} of {}",
        if approve { "approved" } else { "denied" },
        s.member.staff_id,
        s.org.org_id
    );
    for account in &people {
        g.record_grant_step(
            account,
            if approve {
                "grant_approved"
            } else {
                "grant_denied"
            },
            &grant,
            &org.country,
            Ok(verdict.as_str()),
        )
        .await?;
    }
    g.realm
        .record(
            if approve {
                kizuna_staff::EventKind::GrantApproved
            } else {
                kizuna_staff::EventKind::GrantDenied
            },
            Some(&s.member.staff_id),
            Some(&s.org.org_id),
            serde_json::json!({ "grant": grant_id, "requester": grant.staff_id }),
        )
        .await?;
    g.realm.update_grant(&decided, GrantState::Pending).await?;
    Ok(decided)
}

impl Governance {
    /// Ends a grant early; each person it named is told first.
    pub async fn revoke_grant(&self, s: &Session, id: String) -> Result<Grant, StaffError> {
        let g = self;
        let grant = g.realm.grant(&id).await?;
        g.realm
            .allow(s, kizuna_policy::RealmAction::RevokeGrant, &grant.staff_id)?;
        if !matches!(grant.state, GrantState::Pending | GrantState::Approved) {
            return Err(StaffError::Invalid(format!("grant {id} is already closed")));
        }
        let (_, org) = g.realm.member_and_org(&grant.staff_id).await?;
        let verdict = format!("revoked by {} of {}", s.member.staff_id, s.org.org_id);
        for subject in &grant.subjects {
            if let Ok((account, _)) = g.person(subject).await {
                g.record_grant_step(
                    &account,
                    "grant_revoked",
                    &grant,
                    &org.country,
                    Ok(verdict.as_str()),
                )
                .await?;
            }
        }
        let mut revoked = grant.clone();
        revoked.state = GrantState::Revoked;
        revoked.decided_by = Some(s.member.staff_id.clone());
        revoked.decided_at = Some(kizuna_wire::now_ms());
        g.realm
            .record(
                kizuna_staff::EventKind::GrantRevoked,
                Some(&s.member.staff_id),
                Some(&s.org.org_id),
                serde_json::json!({ "grant": id }),
            )
            .await?;
        g.realm.update_grant(&revoked, grant.state).await?;
        Ok(revoked)
    }
}
