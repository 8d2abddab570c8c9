//! A breach's scope: the people whose data was read under the credentials
//! it concerns, found from the clear columns of their regions' entries and
//! confirmed by opening each entry.

use crate::{Content, Vault, VaultError};

/// One person whose data was read under the credentials a breach concerns.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Affected {
    /// The person's account id.
    pub subject: String,
    pub region: String,
    /// What was read of them.
    pub fields: std::collections::BTreeSet<String>,
    pub first_at: u64,
    pub last_at: u64,
    pub reads: u64,
    /// By whom: organisations and staff members.
    pub orgs: std::collections::BTreeSet<String>,
    pub staff: std::collections::BTreeSet<String>,
    /// Ledger indexes of the reads, for anyone who checks them.
    pub entries: Vec<u64>,
}

/// Access records opened per step while scoping a breach.
const SCOPE_PAGE: u32 = 10_000;

impl Vault {
    /// Everyone whose data was read under `by` (an organisation's or a
    /// staff member's credentials) in its time window, with what was read
    /// and when, from the ledger's entries in every region this node may
    /// reach. Refused attempts read nothing and are not counted.
    pub async fn read_under(
        &self,
        by: &kizuna_store::AccessedBy,
        progress: &(dyn crate::Progress + Sync),
    ) -> Result<Vec<Affected>, VaultError> {
        let mut out = Vec::new();
        for id in self.regions.keys() {
            let Ok(rv) = self.maintained(id) else {
                continue;
            };
            let mut people: std::collections::HashMap<String, Affected> =
                std::collections::HashMap::new();
            let mut keys = std::collections::HashMap::new();
            let mut cursor = (0u64, 0i64);
            loop {
                let page = rv.store.accesses_by(by, cursor, SCOPE_PAGE).await?;
                let Some((last_id, last)) = page.last() else {
                    break;
                };
                cursor = (last.access.at, *last_id);
                progress.advance(page.len() as u64);
                rv.checked_keys(&mut keys, &page.iter().map(|(_, r)| r).collect::<Vec<_>>())
                    .await?;
                for (_, row) in page {
                    // Every row is checked before it counts: the columns it
                    // was found by must be the entry's own, or the scope
                    // would name the wrong people. A row that fails is
                    // tampering, and the whole scope is refused with it.
                    let opened = match rv.checked_access(&keys, &row) {
                        Ok(opened) => opened,
                        // An erased person's read: nobody left to tell, and
                        // nothing left to count it by.
                        Err(Content::Erased) => continue,
                        Err(c) => {
                            let what = c.problem().unwrap_or_default();
                            let entry = row
                                .access
                                .idx
                                .map_or("an access record not yet numbered".into(), |i| {
                                    format!("entry {i}")
                                });
                            tracing::error!(region = %id, %entry, %what, "an access record was altered; the breach scope is refused");
                            return Err(VaultError::Tampered {
                                region: id.clone(),
                                entry,
                                what,
                            });
                        }
                    };
                    let r = &opened.record;
                    if r.action != "read" || !r.allowed {
                        continue;
                    }
                    let a = people
                        .entry(row.subject_id.clone())
                        .or_insert_with(|| Affected {
                            subject: row.subject_id.clone(),
                            region: id.clone(),
                            fields: Default::default(),
                            first_at: r.at,
                            last_at: r.at,
                            reads: 0,
                            orgs: Default::default(),
                            staff: Default::default(),
                            entries: Vec::new(),
                        });
                    a.fields.extend(r.categories.iter().cloned());
                    a.first_at = a.first_at.min(r.at);
                    a.last_at = a.last_at.max(r.at);
                    a.reads += 1;
                    a.orgs.extend(row.access.org_id.iter().cloned());
                    a.staff.extend(row.access.staff_id.iter().cloned());
                    a.entries.extend(opened.idx);
                }
            }
            let mut region: Vec<Affected> = people.into_values().collect();
            region.sort_by(|a, b| a.subject.cmp(&b.subject));
            out.extend(region);
        }
        Ok(out)
    }
}
