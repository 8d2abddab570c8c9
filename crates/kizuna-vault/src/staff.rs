//! Staff access to a person's data, already decided by policy: sealed into
//! the person's own access records first, then carried out or refused.

use kizuna_wire::{Contacts, TransferRecord};

use crate::region::RegionVault;
use crate::{Access, Action, Category, Profile, Requester, Vault, VaultError};

/// One step of the staff realm about a person, as they are told of it.
pub struct StaffStep<'a> {
    /// `grant_requested`, `grant_approved`, `read`, ...
    pub step: &'a str,
    pub fields: &'a [String],
    /// Where the staff member works.
    pub from_country: &'a str,
    /// The basis, or why it was refused.
    pub outcome: Result<&'a str, &'a str>,
}

impl Vault {
    /// A staff member's read under a grant, already decided by policy: the
    /// access is sealed into the person's access records first (whatever
    /// the region), naming the fields the grant lets the staff member see,
    /// then the profile and, if granted, the contacts are opened.
    pub async fn governed_read(
        &self,
        subject: &str,
        region: &str,
        from_country: &str,
        fields: &[String],
        requester: &Requester,
    ) -> Result<(Profile, Option<Contacts>), VaultError> {
        let with_contacts = fields.iter().any(|f| f == "contacts");
        let mut categories = vec![Category::Profile];
        if with_contacts {
            categories.push(Category::Contacts);
        }
        let rv = self
            .reach_governed(
                &Access {
                    subject,
                    region,
                    action: Action::Read,
                    categories: &categories,
                    requester,
                },
                fields,
                from_country,
            )
            .await?;
        let profile = rv
            .open_record(subject, Category::Profile)
            .await?
            .ok_or_else(|| VaultError::NotFound(region.to_string()))?;
        let contacts = if with_contacts {
            Some(
                rv.open_record(subject, Category::Contacts)
                    .await?
                    .unwrap_or_default(),
            )
        } else {
            None
        };
        Ok((profile, contacts))
    }

    /// A staff access already decided by policy: sealed into the person's
    /// access records first (whatever the region), naming what the staff
    /// member is shown; then the region is handed out. Across a border the
    /// one record says so in its basis; a border that refuses is recorded
    /// and refused.
    pub(crate) async fn reach_governed(
        &self,
        access: &Access<'_>,
        shown: &[String],
        from_country: &str,
    ) -> Result<&RegionVault, VaultError> {
        // One read, one record: across a border it says so in its basis,
        // rather than adding a transfer record of its own.
        let reached = match self.decide(access) {
            Ok(r) => r,
            // The border refuses: recorded as such, and refused.
            Err(VaultError::AccessDenied { .. }) => {
                self.reach(access).await?;
                return Err(VaultError::AccessDenied {
                    region: access.region.to_string(),
                    from: self.config.node_region().country.clone(),
                });
            }
            Err(e) => return Err(e),
        };
        let grant = "a grant approved by a second person, allowed by the access policy";
        let record = TransferRecord {
            at: kizuna_wire::now_ms(),
            action: "read".into(),
            // What the staff member sees, which is what a breach of their
            // credentials would have exposed.
            categories: shown.to_vec(),
            region: access.region.to_string(),
            to_country: from_country.to_string(),
            basis: Some(match &reached.transfer {
                Some(t) => format!(
                    "{grant}; across the border on: {}",
                    t.basis.as_deref().unwrap_or("-")
                ),
                None => grant.to_string(),
            }),
            requester: access.requester.describe(),
            allowed: true,
            refusal: None,
        };
        let rv = reached.region;
        self.record(rv, access.subject, &record, access.requester)
            .await?;
        Ok(rv)
    }

    /// A staff access the policy refused, recorded for the person it was
    /// about.
    pub async fn record_refused_access(
        &self,
        subject: &str,
        region: &str,
        from_country: &str,
        refusal: &str,
        requester: &Requester,
    ) -> Result<(), VaultError> {
        self.record_staff_step(
            subject,
            region,
            &StaffStep {
                step: "read",
                fields: &[Category::Profile.name().to_string()],
                from_country,
                outcome: Err(refusal),
            },
            requester,
        )
        .await
    }

    /// A step of the staff realm about a person (a grant requested,
    /// approved, denied or revoked, or refused), sealed into their own
    /// access records so they see who asked for what, from where, and what
    /// became of it.
    pub async fn record_staff_step(
        &self,
        subject: &str,
        region: &str,
        step: &StaffStep<'_>,
        requester: &Requester,
    ) -> Result<(), VaultError> {
        let rv = self.maintained(region)?;
        let record = TransferRecord {
            at: kizuna_wire::now_ms(),
            action: step.step.to_string(),
            categories: step.fields.to_vec(),
            region: region.to_string(),
            to_country: step.from_country.to_string(),
            basis: step.outcome.ok().map(str::to_string),
            requester: requester.describe(),
            allowed: step.outcome.is_ok(),
            refusal: step.outcome.err().map(str::to_string),
        };
        self.record(rv, subject, &record, requester).await
    }
}
