//! The person's side of a grant whose purpose asks them first: the
//! requests waiting for their agreement, and their answer.

use kizuna_staff::StaffError;
use kizuna_wire::staff::*;

use super::*;

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
