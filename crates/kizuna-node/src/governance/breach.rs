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
    /// The people the staff realm recorded a governed read of, under the
    /// credentials in question, that no region's access records show.
    ///
    /// The realm records each read (in its own store, under its own ledger
    /// entry) before the person's access record is sealed, so the two are
    /// independent accounts of the same read. Access records found by
    /// relabelled or deleted columns would otherwise drop a person from
    /// the scope without a trace; such a person is in it all the same,
    /// with no ledger entry of theirs to show, and the operator is told.
    /// An edited read event is tampering, and refuses the scope.
    async fn reads_no_record_shows(
        &self,
        by: &AccessedBy,
        found: &[kizuna_vault::Affected],
    ) -> Result<Vec<AffectedPerson>, StaffError> {
        let recorded = self
            .realm
            .recorded_reads(by.staff_id.as_deref(), by.org_id.as_deref(), by.from, by.to)
            .await?;
        let shown: std::collections::HashSet<&str> =
            found.iter().map(|a| a.subject.as_str()).collect();
        let mut hidden: BTreeMap<String, AffectedPerson> = BTreeMap::new();
        for r in recorded {
            let staff = r.staff_id.clone().unwrap_or_default();
            if !r.intact {
                let entry = r
                    .index
                    .map_or("a staff event not yet numbered".into(), |i| {
                        format!("staff event {i}")
                    });
                return Err(StaffError::Tampered(format!(
                    "{entry} (a read of '{}' by '{staff}') was edited: it no longer says what was hashed into the ledger; `kizuna audit verify --data-dir DIR` names every such entry",
                    r.subject
                )));
            }
            let Some(account) = self
                .store
                .account_by_handle(&r.subject)
                .await
                .map_err(|e| StaffError::Storage(e.to_string()))?
            else {
                // Erased since: their entries are tombstones, and there is
                // nobody left to tell.
                continue;
            };
            // The handle was taken again after the read: not this person.
            if account.created_at > r.at || shown.contains(account.account_id.as_str()) {
                continue;
            }
            tracing::error!(
                person = %r.subject,
                staff = %staff,
                at = r.at,
                "the staff realm recorded a read that no access record shows: access records were relabelled or deleted; run `kizuna audit verify`"
            );
            let p = hidden
                .entry(account.account_id.clone())
                .or_insert_with(|| AffectedPerson {
                    handle: account.handle.clone(),
                    region: account.region.clone(),
                    fields: Vec::new(),
                    first_at: r.at,
                    last_at: r.at,
                    reads: 0,
                    orgs: Vec::new(),
                    staff: Vec::new(),
                    entries: Vec::new(),
                });
            p.first_at = p.first_at.min(r.at);
            p.last_at = p.last_at.max(r.at);
            p.reads += 1;
            for (list, v) in [
                (&mut p.fields, r.fields.clone()),
                (&mut p.orgs, r.org_id.iter().cloned().collect()),
                (&mut p.staff, r.staff_id.iter().cloned().collect()),
            ] {
                for x in v {
                    if !list.contains(&x) {
                        list.push(x);
                    }
                }
                list.sort();
            }
        }
        Ok(hidden.into_values().collect())
    }

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
        let hidden = g.reads_no_record_shows(&by, &affected).await?;
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
        for p in hidden {
            for f in &p.fields {
                *per_field.entry(f.clone()).or_default() += 1;
            }
            *per_region.entry(p.region.clone()).or_default() += 1;
            people.push(p);
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
