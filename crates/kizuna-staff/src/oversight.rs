//! Oversight of staff: anomaly detection that suspends at once, alerts,
//! break-glass reviews someone else completes, and scoping a breach.

use kizuna_policy::RealmAction;
use kizuna_wire::staff::{BreachQuery, Grant, Org, Review, ReviewCompletion, StaffMember};

use crate::{Event, EventKind, Session, StaffError, StaffRealm};

/// When one staff member's behaviour raises an alert and suspends them.
#[derive(Clone, Copy, Debug)]
pub struct AnomalyLimits {
    /// Refusals (of requests, approvals, reads) within an hour.
    pub denials_per_hour: u64,
    /// Different people read within an hour.
    pub people_per_hour: u64,
}

impl Default for AnomalyLimits {
    fn default() -> Self {
        AnomalyLimits {
            denials_per_hour: 5,
            people_per_hour: 50,
        }
    }
}

impl StaffRealm {
    /// Looks at what a staff member did in the last hour; past a limit, an
    /// alert is raised and the member suspended at once (all sessions end).
    /// Returns the alert, if one was raised.
    /// `about_to_read` counts a person the member is about to read, so the
    /// read past the limit is the one refused.
    pub async fn watch(
        &self,
        staff_id: &str,
        org_id: &str,
        about_to_read: Option<&str>,
        limits: AnomalyLimits,
    ) -> Result<Option<String>, StaffError> {
        let hour_ago = kizuna_wire::now_ms().saturating_sub(3_600_000);
        let denials = self
            .store
            .count_events(
                staff_id,
                &EventKind::ALL
                    .into_iter()
                    .filter(|k| k.is_refusal())
                    .collect::<Vec<_>>(),
                hour_ago,
            )
            .await?;
        let mut people = self.store.people_read(staff_id, hour_ago).await?;
        if let Some(subject) = about_to_read {
            if !self.store.has_read(staff_id, subject, hour_ago).await? {
                people += 1;
            }
        }
        let why = if denials >= limits.denials_per_hour {
            format!(
                "{denials} refused attempts within an hour (limit {})",
                limits.denials_per_hour
            )
        } else if people > limits.people_per_hour {
            format!(
                "{people} different people read within an hour (limit {})",
                limits.people_per_hour
            )
        } else {
            return Ok(None);
        };
        let alert = Event {
            at: kizuna_wire::now_ms(),
            kind: EventKind::Anomaly,
            staff_id: Some(staff_id.to_string()),
            org_id: Some(org_id.to_string()),
            detail: serde_json::json!({ "why": why, "action": "staff member suspended" }),
        };
        self.append(&Event {
            kind: EventKind::Alert,
            ..alert.clone()
        })
        .await?;
        self.store.insert_alert(&alert).await?;
        // The suspension is recorded before it takes effect.
        self.record(
            EventKind::StaffSuspended,
            Some(staff_id),
            Some(org_id),
            serde_json::json!({ "by": "anomaly detection", "why": why }),
        )
        .await?;
        self.store
            .suspend_member(staff_id, kizuna_wire::now_ms())
            .await?;
        tracing::warn!(%staff_id, %org_id, %why, "staff anomaly: alert raised and member suspended");
        Ok(Some(why))
    }

    /// A break-glass grant was taken: an alert, and a review that someone
    /// else must complete.
    pub async fn break_glass_opened(&self, g: &Grant) -> Result<(), StaffError> {
        let alert = Event {
            at: kizuna_wire::now_ms(),
            kind: EventKind::BreakGlass,
            staff_id: Some(g.staff_id.clone()),
            org_id: Some(g.org_id.clone()),
            detail: serde_json::json!({
                "why": format!("break-glass access to {} ({}), ticket {}", g.subjects.join(", "), g.fields.join(","), g.ticket),
                "grant": g.grant_id,
            }),
        };
        self.store.insert_alert(&alert).await?;
        self.store
            .insert_review(&Review {
                grant_id: g.grant_id.clone(),
                staff_id: g.staff_id.clone(),
                org_id: g.org_id.clone(),
                opened_at: alert.at,
                completed_by: None,
                completed_at: None,
                justified: None,
                note: None,
            })
            .await
    }

    /// The organisations and staff members a breach concerns, as they stand
    /// now, for the operator's security staff; the scoping is recorded
    /// before anything is looked at.
    pub async fn breach_subjects(
        &self,
        by: &Session,
        q: &BreachQuery,
    ) -> Result<(Vec<Org>, Vec<StaffMember>), StaffError> {
        self.allow(by, RealmAction::Oversee, "")?;
        if let (Some(from), Some(to)) = (q.from, q.to) {
            if from > to {
                return Err(StaffError::Invalid("--from must not be after --to".into()));
            }
        }
        let (orgs, staff) = match (&q.staff_id, &q.org_id) {
            (Some(s), org) => {
                let (m, o) = self.member_and_org(s).await?;
                if org.as_ref().is_some_and(|org| org != &o.org_id) {
                    return Err(StaffError::Invalid(format!(
                        "staff member {s} belongs to {}, not {}",
                        o.org_id,
                        org.as_deref().unwrap_or_default()
                    )));
                }
                (vec![o], vec![m])
            }
            (None, Some(org)) => {
                let o = self
                    .store
                    .org(org)
                    .await?
                    .ok_or_else(|| StaffError::NotFound(format!("organisation {org}")))?;
                let members = self
                    .store
                    .members()
                    .await?
                    .into_iter()
                    .filter(|m| &m.org_id == org)
                    .collect();
                (vec![o], members)
            }
            (None, None) => {
                return Err(StaffError::Invalid(
                    "name the credentials: an organisation (--org) or a staff member (--staff)"
                        .into(),
                ))
            }
        };
        self.record(
            EventKind::BreachScoped,
            Some(&by.member.staff_id),
            Some(&by.org.org_id),
            serde_json::to_value(q).map_err(|e| StaffError::Storage(e.to_string()))?,
        )
        .await?;
        Ok((orgs, staff))
    }

    pub async fn reviews(&self, by: &Session) -> Result<Vec<Review>, StaffError> {
        self.allow(by, RealmAction::Oversee, "")?;
        self.store.reviews().await
    }

    /// Completes a break-glass review: by someone other than who broke the
    /// glass, once.
    pub async fn complete_review(
        &self,
        by: &Session,
        grant_id: &str,
        c: &ReviewCompletion,
    ) -> Result<Review, StaffError> {
        self.allow(by, RealmAction::Oversee, "")?;
        let r = self
            .store
            .review(grant_id)
            .await?
            .ok_or_else(|| StaffError::NotFound(format!("review of grant {grant_id}")))?;
        self.allow(by, RealmAction::Oversee, &r.staff_id)?;
        if r.completed_at.is_some() {
            return Err(StaffError::Invalid(format!(
                "the review of {grant_id} is already complete"
            )));
        }
        if c.note.trim().is_empty() || c.note.len() > 2000 {
            return Err(StaffError::Invalid(
                "a review needs a note of 1 to 2000 characters".into(),
            ));
        }
        let done = Review {
            completed_by: Some(by.member.staff_id.clone()),
            completed_at: Some(kizuna_wire::now_ms()),
            justified: Some(c.justified),
            note: Some(c.note.trim().to_string()),
            ..r
        };
        self.record(
            EventKind::ReviewCompleted,
            Some(&by.member.staff_id),
            Some(&by.org.org_id),
            serde_json::json!({ "grant": grant_id, "justified": c.justified }),
        )
        .await?;
        if !self.store.complete_review(&done).await? {
            return Err(StaffError::Invalid(format!(
                "the review of {grant_id} is already complete"
            )));
        }
        Ok(done)
    }

    /// Alerts, newest first, for the operator's security staff and admins.
    pub async fn alerts(&self, by: &Session) -> Result<Vec<serde_json::Value>, StaffError> {
        self.allow(by, RealmAction::Oversee, "")?;
        self.store.alerts().await
    }
}
