//! Governed access to personal data: grants requested with a purpose,
//! ticket and duration, approved by a second person, and reads that return
//! only granted fields. Every decision is the Cedar policy's; every step is
//! an event, and every read (or refused read) is also sealed into the
//! person's own access records. Refusals take one path (`refusal`), which
//! records them and lets the anomaly rules see them.

mod breach;
mod consent;
mod grants;
mod moderation;
mod official;
mod reads;
mod report_files;
#[cfg(test)]
mod tests;

pub use report_files::OpenedFile;

use std::sync::Arc;

use kizuna_policy::{Action, GrantFacts, PersonFacts, Policy, StaffFacts};
use kizuna_staff::{Session, StaffError, StaffRealm};
use kizuna_store::Store;
use kizuna_vault::{Requester, Vault, VaultError};
use kizuna_wire::staff::*;

pub struct Governance {
    pub realm: Arc<StaffRealm>,
    pub store: Arc<dyn Store>,
    pub vault: Arc<Vault>,
    pub policy: Policy,
    pub anomaly: kizuna_staff::AnomalyLimits,
    pub sanctions: Arc<crate::sanctions::Sanctions>,
    /// The cluster the node serves in, told of every sanction decided.
    pub cluster: Option<Arc<crate::cluster::ClusterLink>>,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The regions' file stores, for the files reported messages carry.
    pub files: Arc<crate::files::FileStores>,
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
        let regions = node.vault.config();
        // Every node of a cluster checks the sessions every other opened.
        let key = crate::stores::node_key(dir, regions, kizuna_config::NodeKey::StaffToken)
            .map_err(storage)?;
        let at = crate::stores::staff_location(dir, regions).map_err(storage)?;
        let ledger = node.vault.ledger().map_err(vault_failure)?.clone();
        let realm = Arc::new(StaffRealm::open(at, key, ledger).await?);
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
            cluster: node.hub.cluster().cloned(),
            metrics: node.metrics.clone(),
            files: node.files.clone(),
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
        e @ VaultError::Tampered { .. } => StaffError::Tampered(e.to_string()),
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
        // Without the person's agreement to their region's disclosures no
        // country abroad may reach them, whatever the region declares.
        let region_countries =
            crate::disclosures::reachable_from(self.store.as_ref(), &self.vault, &account)
                .await
                .map_err(storage)?;
        let facts = PersonFacts {
            subject: handle.to_string(),
            region_countries,
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
        self.check_anomalies(s).await;
        refused(what, v)
    }

    /// After each refusal or read: past the limits, an alert and a
    /// suspension. A failure here is logged, never hidden as success.
    pub(crate) async fn check_anomalies(&self, s: &Session) {
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
    async fn record_grant_step(
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
