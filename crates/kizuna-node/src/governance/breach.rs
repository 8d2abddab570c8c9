//! Scoping a breach from the ledger: everyone whose data was read under an
//! organisation's or a staff member's credentials in a window, what was
//! read and when, per region and per field, for the operator's security
//! staff.

use std::collections::BTreeMap;

use kizuna_staff::{Session, StaffError};
use kizuna_store::AccessedBy;
use kizuna_wire::staff::*;

use super::{vault_failure, Governance};

/// The node keeps no progress of its own to show: the caller waits.
struct Unseen;

impl kizuna_vault::Progress for Unseen {
    fn total(&self, _: u64) {}
    fn advance(&self, _: u64) {}
}

impl Governance {
    /// Who and what a breach of some organisations or staff concerns.
    pub async fn breach_scope(
        &self,
        s: &Session,
        q: BreachQuery,
    ) -> Result<BreachScope, StaffError> {
        let g = self;
        let (orgs, staff) = g.realm.breach_subjects(s, &q).await?;
        let ledger_size = g.vault.ledger().map_err(vault_failure)?.size();
        let scoped_at = kizuna_wire::now_ms();
        let by = AccessedBy {
            org_id: q.org_id.clone(),
            staff_id: q.staff_id.clone(),
            from: q.from.unwrap_or(0),
            to: q.to.unwrap_or(scoped_at),
        };
        let affected = g
            .vault
            .read_under(&by, &Unseen)
            .await
            .map_err(vault_failure)?;
        let mut per_field: BTreeMap<String, u64> = BTreeMap::new();
        let mut per_region: BTreeMap<String, u64> = BTreeMap::new();
        let mut people = Vec::with_capacity(affected.len());
        let ids: Vec<String> = affected.iter().map(|a| a.subject.clone()).collect();
        let handles: std::collections::HashMap<String, String> = g
            .store
            .accounts_by_ids(&ids)
            .await
            .map_err(|e| StaffError::Storage(e.to_string()))?
            .into_iter()
            .map(|a| (a.account_id, a.handle))
            .collect();
        for a in affected {
            let handle = match handles.get(&a.subject) {
                Some(h) => h.clone(),
                // Erased since: nobody left to tell, but still counted.
                None => format!("(erased account {})", a.subject),
            };
            for f in &a.fields {
                *per_field.entry(f.clone()).or_default() += 1;
            }
            *per_region.entry(a.region.clone()).or_default() += 1;
            people.push(AffectedPerson {
                handle,
                region: a.region,
                fields: a.fields.into_iter().collect(),
                first_at: a.first_at,
                last_at: a.last_at,
                reads: a.reads,
                orgs: a.orgs.into_iter().collect(),
                staff: a.staff.into_iter().collect(),
                entries: a.entries,
            });
        }
        let regions = g
            .vault
            .config()
            .regions()
            .iter()
            .map(|r| BreachRegion {
                id: r.id.clone(),
                name: r.name.clone(),
                country: r.country.clone(),
                affected: per_region.get(&r.id).copied().unwrap_or(0),
            })
            .collect();
        Ok(BreachScope {
            query: BreachQuery {
                from: Some(by.from),
                to: Some(by.to),
                ..q
            },
            scoped_at,
            scoped_by: s.member.staff_id.clone(),
            orgs,
            staff,
            regions,
            per_field,
            people,
            ledger_size,
        })
    }
}
