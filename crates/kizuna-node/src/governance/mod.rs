//! Governed access to personal data: grants requested with a purpose,
//! ticket and duration, approved by a second person, and reads that return
//! only granted fields. Every decision is the Cedar policy's; every step is
//! an event, and every read (or refused read) is also sealed into the
//! person's own access records. Refusals take one path (`refusal`), which
//! records them and lets the anomaly rules see them.

mod breach;
mod moderation;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use kizuna_policy::{Action, GrantFacts, PersonFacts, Policy, StaffFacts};
use kizuna_staff::{Session, StaffError, StaffRealm};
use kizuna_store::Store;
use kizuna_vault::{Requester, Vault, VaultError};
use kizuna_wire::staff::*;
use rand::RngCore;

pub struct Governance {
    pub realm: Arc<StaffRealm>,
    pub store: Arc<dyn Store>,
    pub vault: Arc<Vault>,
    pub policy: Policy,
    pub anomaly: kizuna_staff::AnomalyLimits,
    pub sanctions: Arc<crate::sanctions::Sanctions>,
    /// Reports a moderator is deciding now, one decision at a time each.
    pub deciding: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl Governance {
    /// Opens the staff realm of a data directory (its own store and token
    /// key; nothing of the user realm's) for `node`, and records which
    /// access policy it decides by. It holds the node's stores, never the
    /// node itself, so the node's sequencer ends when the node is dropped.
    pub async fn open(
        dir: &kizuna_config::DataDir,
        node: &crate::Node,
        policy: Policy,
        anomaly: kizuna_staff::AnomalyLimits,
    ) -> Result<Governance, StaffError> {
        use sha2::Digest;
        let key = dir
            .key(kizuna_config::NodeKey::StaffToken)
            .map_err(storage)?;
        let ledger = node.vault.ledger().map_err(vault_failure)?.clone();
        let realm = Arc::new(StaffRealm::open(&dir.staff_store(), key, ledger).await?);
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
        Ok(Governance {
            realm,
            store: node.store.clone(),
            vault: node.vault.clone(),
            policy,
            anomaly,
            sanctions: node.sanctions.clone(),
            deciding: Default::default(),
        })
    }
}

fn staff_facts(s: &Session) -> StaffFacts {
    facts_of_member(&s.member, &s.org)
}

fn facts_of_member(member: &StaffMember, org: &Org) -> StaffFacts {
    StaffFacts {
        staff_id: member.staff_id.clone(),
        roles: member.roles.iter().map(Role::name).collect(),
        org_id: org.org_id.clone(),
        org_kind: org.kind.name(),
        org_country: org.country.clone(),
        org_regions: org.scope.regions.clone(),
        org_purposes: org.scope.purposes.clone(),
        org_fields: org.scope.fields.clone(),
    }
}

pub(crate) fn storage(e: impl std::fmt::Display) -> StaffError {
    StaffError::Storage(e.to_string())
}

/// A vault failure as the staff realm answers it: an unwritable ledger is
/// said so (nothing happens until it is back), anything else is storage.
pub(crate) fn vault_failure(e: VaultError) -> StaffError {
    match e {
        VaultError::Ledger(l) => StaffError::LedgerUnavailable(l.to_string()),
        other => storage(other),
    }
}

impl Governance {
    /// A person by handle, with the facts the policy decides on.
    async fn person(
        &self,
        handle: &str,
    ) -> Result<(kizuna_store::Account, PersonFacts), StaffError> {
        let account = self
            .store
            .account_by_handle(handle)
            .await
            .map_err(storage)?
            .ok_or_else(|| StaffError::NotFound(format!("person '{handle}'")))?;
        let facts = PersonFacts {
            subject: handle.to_string(),
            ..self.region_facts(&account.region)
        };
        Ok((account, facts))
    }

    /// A region as the policy sees it for grants over its abuse reports:
    /// the facts any of its people would have.
    pub(crate) fn region_facts(&self, region: &str) -> PersonFacts {
        PersonFacts {
            subject: format!("region {region}"),
            region: region.to_string(),
            region_countries: self
                .vault
                .config()
                .region(region)
                .map(|r| r.access_from.iter().map(|a| a.country.clone()).collect())
                .unwrap_or_default(),
        }
    }

    pub(crate) fn decide(
        &self,
        action: Action,
        s: &Session,
        person: &PersonFacts,
        grant: &GrantFacts,
    ) -> Result<kizuna_policy::Verdict, StaffError> {
        self.policy
            .decide(action, &staff_facts(s), person, grant)
            .map_err(storage)
    }
}

impl Governance {
    /// A refusal the policy decided: an event of the staff realm (with the
    /// rules and reasons), a record for the person it was about (their
    /// account, home region, and the requester as their records name it),
    /// and the anomaly check. Returns the error to answer with.
    pub(crate) async fn refusal(
        &self,
        s: &Session,
        event: kizuna_staff::EventKind,
        mut details: serde_json::Value,
        person: Option<(&str, &str, &Requester)>,
        what: &str,
        v: &kizuna_policy::Verdict,
    ) -> StaffError {
        details["rules"] = serde_json::json!(v.rules);
        details["reasons"] = serde_json::json!(v.reasons);
        if let Err(e) = self
            .realm
            .record(
                event,
                Some(&s.member.staff_id),
                Some(&s.org.org_id),
                details,
            )
            .await
        {
            return e;
        }
        if let Some((subject, region, requester)) = person {
            if let Err(e) = self
                .vault
                .record_refused_access(
                    subject,
                    region,
                    &s.org.country,
                    &v.reasons.join("; "),
                    requester,
                )
                .await
            {
                tracing::warn!(error = %e, "a refused staff access could not be recorded for the person");
            }
        }
        self.watch(s).await;
        refused(what, v)
    }

    /// After each refusal or read: past the limits, an alert and a
    /// suspension. A failure here is logged, never hidden as success.
    pub(crate) async fn watch(&self, s: &Session) {
        if let Err(e) = self
            .realm
            .watch(&s.member.staff_id, &s.org.org_id, None, self.anomaly)
            .await
        {
            tracing::error!(error = %e, "anomaly detection failed");
        }
    }
}

pub(crate) fn requester_of(g: &Grant, country: &str, roles: &[Role]) -> Requester {
    Requester::Staff(kizuna_wire::StaffRef {
        staff_id: g.staff_id.clone(),
        org_id: g.org_id.clone(),
        country: country.to_string(),
        grant_id: g.grant_id.clone(),
        purpose: g.purpose.code().to_string(),
        ticket: g.ticket.clone(),
        roles: roles.iter().map(|r| r.name().to_string()).collect(),
    })
}

impl Governance {
    /// Seals a step about a grant into the person's own access records,
    /// before the step takes effect: if it cannot be recorded, it does not
    /// happen.
    async fn tell(
        &self,
        account: &kizuna_store::Account,
        step: &str,
        grant: &Grant,
        country: &str,
        outcome: Result<&str, &str>,
    ) -> Result<(), StaffError> {
        // The roles of the member the grant is for, as they stand.
        let (member, _) = self.realm.member_and_org(&grant.staff_id).await?;
        self.vault
            .record_staff_step(
                &account.account_id,
                &account.region,
                &kizuna_vault::StaffStep {
                    step,
                    fields: &grant.fields,
                    from_country: country,
                    outcome,
                },
                &requester_of(grant, country, &member.roles),
            )
            .await
            .map_err(vault_failure)
    }
}

pub(crate) fn facts_of(g: &Grant, live: bool) -> GrantFacts {
    GrantFacts {
        purpose: g.purpose.code().to_string(),
        fields: g.fields.clone(),
        duration_secs: g.duration_secs,
        break_glass: g.break_glass,
        live,
        consented: false,
        requester: g.staff_id.clone(),
        requester_org: g.org_id.clone(),
    }
}

fn refused(what: &str, v: &kizuna_policy::Verdict) -> StaffError {
    StaffError::Forbidden(format!("{what} is refused: {}", v.reasons.join("; ")))
}

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
                g.tell(
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
                g.watch(s).await;
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
            g.tell(
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
            g.watch(s).await;
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
        g.tell(
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
                g.tell(
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

/// Shows only the last two digits.
fn mask_phone(phone: &str) -> String {
    let digits: Vec<char> = phone.chars().filter(|c| c.is_ascii_digit()).collect();
    let tail: String = digits[digits.len().saturating_sub(2)..].iter().collect();
    format!("{}{tail}", "•".repeat(digits.len().saturating_sub(2)))
}

impl Governance {
    /// A read of a person's data under a live grant: only the granted
    /// fields, sealed into the person's access records first.
    pub async fn governed_read(
        &self,
        s: &Session,
        handle: String,
    ) -> Result<GovernedRead, StaffError> {
        let g = self;
        let (account, person) = g.person(&handle).await?;
        let live = g.realm.live_grants_for(&s.member.staff_id, &handle).await?;
        let grant = live.first().cloned();
        let facts = match &grant {
            Some(gr) => GrantFacts {
                consented: gr.consented.contains(&handle) && !gr.declined.contains(&handle),
                ..facts_of(gr, true)
            },
            None => GrantFacts {
                purpose: String::new(),
                fields: Vec::new(),
                duration_secs: 0,
                break_glass: false,
                live: false,
                consented: false,
                requester: s.member.staff_id.clone(),
                requester_org: s.org.org_id.clone(),
            },
        };
        let requester = Requester::Staff(kizuna_wire::StaffRef {
            staff_id: s.member.staff_id.clone(),
            org_id: s.org.org_id.clone(),
            country: s.org.country.clone(),
            grant_id: grant.as_ref().map_or("none".into(), |g| g.grant_id.clone()),
            purpose: grant
                .as_ref()
                .map_or("none".into(), |g| g.purpose.code().to_string()),
            ticket: grant.as_ref().map_or("none".into(), |g| g.ticket.clone()),
            roles: s
                .member
                .roles
                .iter()
                .map(|r| r.name().to_string())
                .collect(),
        });
        let v = g.decide(Action::Read, s, &person, &facts)?;
        let (Some(grant), true) = (grant, v.allowed) else {
            return Err(g
                .refusal(
                    s,
                    kizuna_staff::EventKind::ReadDenied,
                    serde_json::json!({ "subject": handle }),
                    Some((&account.account_id, &account.region, &requester)),
                    &format!("reading {handle}'s data"),
                    &v,
                )
                .await);
        };
        // One person too many in an hour: this read is the one refused.
        if let Some(why) = g
            .realm
            .watch(&s.member.staff_id, &s.org.org_id, Some(&handle), g.anomaly)
            .await?
        {
            return Err(StaffError::Suspended(format!(
                "staff member {} ({why}); an alert was raised",
                s.member.staff_id
            )));
        }
        // The event comes first: no read without its record.
        g.realm
            .record(
                kizuna_staff::EventKind::Read,
                Some(&s.member.staff_id),
                Some(&s.org.org_id),
                serde_json::json!({ "subject": handle, "grant": grant.grant_id, "fields": grant.fields }),
            )
            .await?;
        let want = |f: &str| grant.fields.iter().any(|x| x == f);
        let (profile, contacts) = g
            .vault
            .governed_read(
                &account.account_id,
                &account.region,
                &s.org.country,
                &grant.fields,
                &requester,
            )
            .await
            .map_err(|e| match e {
                VaultError::AccessDenied { .. } => StaffError::Forbidden(e.to_string()),
                VaultError::NotFound(_) => {
                    StaffError::NotFound(format!("{handle}'s personal data"))
                }
                other => vault_failure(other),
            })?;
        Ok(GovernedRead {
            subject: handle,
            region: account.region,
            grant_id: grant.grant_id.clone(),
            name: want("name").then_some(profile.name),
            phone: Some(if want("phone") {
                profile.phone
            } else {
                mask_phone(&profile.phone)
            }),
            email: if want("email") { profile.email } else { None },
            contacts: contacts.map(|c| c.handles),
        })
    }
}

impl Governance {
    /// Open staff requests naming this person whose purpose asks them first.
    pub async fn requests_for(&self, handle: &str) -> Result<Vec<AccessRequest>, StaffError> {
        let (_, person) = self.person(handle).await?;
        let mut out = Vec::new();
        for g in self.realm.grants_naming(handle).await? {
            let (member, org) = self.realm.member_and_org(&g.staff_id).await?;
            let asks = self
                .policy
                .needs_consent(
                    &facts_of_member(&member, &org),
                    &person,
                    &facts_of(&g, true),
                )
                .map_err(storage)?;
            if !asks {
                continue;
            }
            let my_answer = if g.consented.iter().any(|h| h == handle) {
                "agreed"
            } else if g.declined.iter().any(|h| h == handle) {
                "declined"
            } else {
                "waiting"
            };
            out.push(AccessRequest {
                grant_id: g.grant_id.clone(),
                staff_id: g.staff_id.clone(),
                org_id: g.org_id.clone(),
                country: org.country.clone(),
                fields: g.fields.clone(),
                purpose: g.purpose,
                ticket: g.ticket.clone(),
                reason: g.reason.clone(),
                duration_secs: g.duration_secs,
                requested_at: g.requested_at,
                my_answer: my_answer.into(),
            });
        }
        Ok(out)
    }

    /// The person's answer to a request that asks them.
    pub async fn answer(
        &self,
        handle: &str,
        grant_id: &str,
        agree: bool,
    ) -> Result<Grant, StaffError> {
        let asked = self.requests_for(handle).await?;
        if !asked.iter().any(|r| r.grant_id == grant_id) {
            return Err(StaffError::NotFound(format!(
                "open request {grant_id} asking for your agreement"
            )));
        }
        let g = self.realm.grant(grant_id).await?;
        let mut answered = g.clone();
        answered.consented.retain(|h| h != handle);
        answered.declined.retain(|h| h != handle);
        if agree {
            answered.consented.push(handle.to_string());
        } else {
            answered.declined.push(handle.to_string());
        }
        self.realm
            .record(
                if agree {
                    kizuna_staff::EventKind::ConsentGiven
                } else {
                    kizuna_staff::EventKind::ConsentDeclined
                },
                None,
                Some(&g.org_id),
                serde_json::json!({ "grant": grant_id, "subject": handle }),
            )
            .await?;
        self.realm.update_grant(&answered, g.state).await?;
        Ok(answered)
    }
}
