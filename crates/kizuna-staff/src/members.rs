//! Organisations and their staff: the operator's bootstrap, adding and
//! suspending organisations and members, and the checks on their ids and
//! networks.

use kizuna_policy::RealmAction;
use kizuna_wire::staff::{
    NewStaffMember, Org, OrgKind, OrgScope, Purpose, Role, StaffCredentials, StaffMember,
    Suspended, PERSONAL_FIELDS,
};

use crate::store::StoredMember;
use crate::{EventKind, Session, StaffError, StaffRealm};

fn valid_id(id: &str) -> bool {
    (3..=32).contains(&id.len())
        && id.as_bytes()[0].is_ascii_lowercase()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

pub(crate) fn networks(list: &[String]) -> Result<Vec<ipnet::IpNet>, StaffError> {
    list.iter()
        .map(|n| {
            n.parse::<ipnet::IpNet>().map_err(|_| {
                StaffError::Invalid(format!(
                    "'{n}' is not a network in CIDR form like 10.0.0.0/8"
                ))
            })
        })
        .collect()
}

impl StaffRealm {
    /// Creates the operator organisation and its first admin, once. Runs
    /// offline on the node's machine; the credentials are shown only here.
    pub async fn bootstrap(
        &self,
        staff_id: &str,
        country: &str,
        nets: Vec<String>,
        regions: Vec<String>,
    ) -> Result<StaffCredentials, StaffError> {
        let _one_at_a_time = self.store.bootstrap_lock().await?;
        if self.store.has_staff().await? {
            return Err(StaffError::Exists(
                "a staff member (bootstrap runs only on an empty staff realm)".into(),
            ));
        }
        if !valid_id(staff_id) {
            return Err(StaffError::Invalid(
                "a staff id is 3-32 lowercase letters, digits, '-' or '.', starting with a letter"
                    .into(),
            ));
        }
        networks(&nets)?;
        let org = Org {
            org_id: "operator".into(),
            kind: OrgKind::Operator,
            country: country.to_string(),
            networks: nets,
            // The operator may be granted anything the policy allows; its
            // staff still need a grant, approved by another, for each access.
            scope: OrgScope {
                regions,
                purposes: Purpose::ALL.iter().map(|p| p.code().to_string()).collect(),
                fields: PERSONAL_FIELDS.iter().map(|f| f.to_string()).collect(),
            },
            suspended_at: None,
        };
        // Recorded before it takes effect, as every event of the realm is.
        self.record(
            EventKind::Bootstrap,
            Some(staff_id),
            Some("operator"),
            serde_json::json!({}),
        )
        .await?;
        if self.store.org("operator").await?.is_none() {
            self.store.insert_org(&org).await?;
        }
        let (password, hash, b32) = Self::credentials(staff_id)?;
        self.store
            .insert_member(&StoredMember {
                member: StaffMember {
                    staff_id: staff_id.to_string(),
                    org_id: "operator".into(),
                    roles: vec![Role::Admin, Role::Approver, Role::Security],
                    suspended_at: None,
                    created_at: kizuna_wire::now_ms(),
                },
                password_hash: hash,
                totp_secret: self.seal_totp(staff_id, &b32)?,
            })
            .await?;
        Ok(Self::shown(staff_id, password, b32))
    }

    pub async fn add_org(&self, by: &Session, org: Org) -> Result<Org, StaffError> {
        self.allow(by, RealmAction::ManageOrgs, "")?;
        if !valid_id(&org.org_id) {
            return Err(StaffError::Invalid(
                "an organisation id is 3-32 lowercase letters, digits, '-' or '.'".into(),
            ));
        }
        if org.country.len() != 2 || !org.country.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(StaffError::Invalid(format!(
                "country '{}' is not an ISO 3166-1 alpha-2 code like \"JP\"",
                org.country
            )));
        }
        if org.networks.is_empty() {
            return Err(StaffError::Invalid(
                "an organisation needs at least one network its staff connect from".into(),
            ));
        }
        networks(&org.networks)?;
        let org = Org {
            suspended_at: None,
            ..org
        };
        self.record(
            EventKind::OrgAdded,
            Some(&by.member.staff_id),
            Some(&org.org_id),
            serde_json::to_value(&org).unwrap_or_default(),
        )
        .await?;
        self.store.insert_org(&org).await?;
        Ok(org)
    }

    pub async fn suspend_org(&self, by: &Session, org_id: &str) -> Result<Suspended, StaffError> {
        self.allow(by, RealmAction::ManageOrgs, org_id)?;
        if self.store.org(org_id).await?.is_none() {
            return Err(StaffError::NotFound(format!("organisation {org_id}")));
        }
        self.record(
            EventKind::OrgSuspended,
            Some(&by.member.staff_id),
            Some(org_id),
            serde_json::json!({}),
        )
        .await?;
        let ended = self
            .store
            .suspend_org(org_id, kizuna_wire::now_ms())
            .await?;
        Ok(Suspended {
            id: org_id.to_string(),
            sessions_ended: ended,
        })
    }

    pub async fn orgs(&self, by: &Session) -> Result<Vec<Org>, StaffError> {
        self.allow(by, RealmAction::ManageOrgs, "")?;
        self.store.orgs().await
    }

    pub async fn add_member(
        &self,
        by: &Session,
        new: &NewStaffMember,
    ) -> Result<StaffCredentials, StaffError> {
        self.allow(by, RealmAction::ManageStaff, "")?;
        if !valid_id(&new.staff_id) {
            return Err(StaffError::Invalid(
                "a staff id is 3-32 lowercase letters, digits, '-' or '.', starting with a letter"
                    .into(),
            ));
        }
        if new.roles.is_empty() {
            return Err(StaffError::Invalid(
                "a staff member needs at least one role".into(),
            ));
        }
        let org = self
            .store
            .org(&new.org_id)
            .await?
            .ok_or_else(|| StaffError::NotFound(format!("organisation {}", new.org_id)))?;
        if org.suspended_at.is_some() {
            return Err(StaffError::Suspended(format!(
                "organisation {}",
                org.org_id
            )));
        }
        self.allow_on(
            by,
            RealmAction::ManageStaff,
            &kizuna_policy::Target {
                about: new.staff_id.clone(),
                org_kind: org.kind.name(),
                roles: new.roles.iter().map(Role::name).collect(),
            },
        )?;
        if self.store.member(&new.staff_id).await?.is_some() {
            return Err(StaffError::Exists(format!("staff member {}", new.staff_id)));
        }
        let (password, hash, b32) = Self::credentials(&new.staff_id)?;
        self.record(
            EventKind::StaffAdded,
            Some(&new.staff_id),
            Some(&new.org_id),
            serde_json::json!({ "by": by.member.staff_id, "roles": new.roles }),
        )
        .await?;
        self.store
            .insert_member(&StoredMember {
                member: StaffMember {
                    staff_id: new.staff_id.clone(),
                    org_id: new.org_id.clone(),
                    roles: new.roles.clone(),
                    suspended_at: None,
                    created_at: kizuna_wire::now_ms(),
                },
                password_hash: hash,
                totp_secret: self.seal_totp(&new.staff_id, &b32)?,
            })
            .await?;
        Ok(Self::shown(&new.staff_id, password, b32))
    }

    pub async fn suspend_member(
        &self,
        by: &Session,
        staff_id: &str,
    ) -> Result<Suspended, StaffError> {
        self.allow(by, RealmAction::ManageStaff, staff_id)?;
        let m = self
            .store
            .member(staff_id)
            .await?
            .ok_or_else(|| StaffError::NotFound(format!("staff member {staff_id}")))?;
        self.record(
            EventKind::StaffSuspended,
            Some(staff_id),
            Some(&m.member.org_id),
            serde_json::json!({ "by": by.member.staff_id }),
        )
        .await?;
        let ended = self
            .store
            .suspend_member(staff_id, kizuna_wire::now_ms())
            .await?;
        Ok(Suspended {
            id: staff_id.to_string(),
            sessions_ended: ended,
        })
    }

    pub async fn members(&self, by: &Session) -> Result<Vec<StaffMember>, StaffError> {
        self.allow(by, RealmAction::ManageStaff, "")?;
        self.store.members().await
    }
}
