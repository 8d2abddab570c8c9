//! Governed reads: only the fields of a live grant, recorded for the
//! person before anything is opened.

use kizuna_policy::{Action, GrantFacts};
use kizuna_staff::{Session, StaffError};
use kizuna_wire::staff::*;

use super::*;

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
        g.metrics.governed_read();
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
