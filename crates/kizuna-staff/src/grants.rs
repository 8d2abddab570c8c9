//! Grants of access as the realm stores them: kept, changed only from the
//! state they were read in, and listed by whom and what they cover.

use kizuna_wire::staff::{Grant, GrantState, Org, OrgKind, Role, StaffMember, REPORTS_FIELD};

use crate::{Session, StaffError, StaffRealm};

impl StaffRealm {
    pub async fn insert_grant(&self, g: &Grant) -> Result<(), StaffError> {
        self.store.insert_grant(g).await
    }

    pub async fn grant(&self, grant_id: &str) -> Result<Grant, StaffError> {
        self.store
            .grant(grant_id)
            .await?
            .ok_or_else(|| StaffError::NotFound(format!("grant {grant_id}")))
    }

    /// Changes a grant if it is still in state `from`; otherwise says what
    /// it became meanwhile.
    pub async fn update_grant(&self, g: &Grant, from: GrantState) -> Result<(), StaffError> {
        if self.store.update_grant(g, from).await? {
            Ok(())
        } else {
            Err(StaffError::Invalid(format!(
                "grant {} changed meanwhile; look at it again",
                g.grant_id
            )))
        }
    }

    /// My grants; an approver, security or admin of the operator sees all.
    pub async fn grants(&self, by: &Session) -> Result<Vec<Grant>, StaffError> {
        let sees_all = by.org.kind == OrgKind::Operator
            && by
                .member
                .roles
                .iter()
                .any(|r| matches!(r, Role::Approver | Role::Security | Role::Admin));
        let now = kizuna_wire::now_ms();
        let mut gs = self
            .store
            .grants(if sees_all {
                None
            } else {
                Some(&by.member.staff_id)
            })
            .await?;
        for g in &mut gs {
            if g.state == GrantState::Approved && !g.live(now) {
                g.state = GrantState::Expired;
            }
        }
        Ok(gs)
    }

    /// Open grants that name a person.
    pub async fn grants_naming(&self, handle: &str) -> Result<Vec<Grant>, StaffError> {
        self.store.grants_naming(handle).await
    }

    /// A staff member and their organisation, for decisions about their
    /// grants when they are not the one asking.
    pub async fn member_and_org(&self, staff_id: &str) -> Result<(StaffMember, Org), StaffError> {
        let m = self
            .store
            .member(staff_id)
            .await?
            .ok_or_else(|| StaffError::NotFound(format!("staff member {staff_id}")))?
            .member;
        let o = self
            .store
            .org(&m.org_id)
            .await?
            .ok_or_else(|| StaffError::NotFound(format!("organisation {}", m.org_id)))?;
        Ok((m, o))
    }

    /// Live grants of a staff member that cover a person.
    pub async fn live_grants_for(
        &self,
        staff_id: &str,
        subject: &str,
    ) -> Result<Vec<Grant>, StaffError> {
        self.live_grants(staff_id, |g| g.subjects.iter().any(|s| s == subject))
            .await
    }

    /// Live grants of a staff member over abuse reports, and the regions
    /// each opens.
    pub async fn live_report_grants(&self, staff_id: &str) -> Result<Vec<Grant>, StaffError> {
        self.live_grants(staff_id, |g| g.fields.iter().any(|f| f == REPORTS_FIELD))
            .await
    }

    async fn live_grants(
        &self,
        staff_id: &str,
        covers: impl Fn(&Grant) -> bool,
    ) -> Result<Vec<Grant>, StaffError> {
        let now = kizuna_wire::now_ms();
        Ok(self
            .store
            .grants(Some(staff_id))
            .await?
            .into_iter()
            .filter(|g| g.live(now) && covers(g))
            .collect())
    }
}
