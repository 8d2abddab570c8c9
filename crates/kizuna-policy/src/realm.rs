//! The staff realm's own decisions — managing organisations and staff,
//! reading its events, overseeing it, ending a grant early — put to a
//! Cedar policy set built into the node, with a schema of its own.

use std::str::FromStr;

use cedar_policy::{Authorizer, Context, Entities, EntityUid, PolicySet, Request, Schema};

use crate::{json_str, verdict, PolicyError, Verdict};

pub const REALM_SCHEMA: &str = include_str!("realm.cedarschema");
pub const REALM_POLICY: &str = include_str!("realm.cedar");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RealmAction {
    /// Adding, listing and suspending organisations.
    ManageOrgs,
    /// Adding, listing and suspending staff members.
    ManageStaff,
    /// Reading the realm's events.
    ReadEvents,
    /// Alerts, break-glass reviews and breach scoping.
    Oversee,
    /// Ending a grant before it expires.
    RevokeGrant,
    /// Checking an official account's application and recording the
    /// evidence: the first of the two people a verification takes.
    ProposeOfficial,
    /// Approving an application the first person checked (rejecting one
    /// verifies nothing, and is a checker's step).
    ApproveOfficial,
    /// Ending an official account's verification.
    RevokeOfficial,
}

impl RealmAction {
    fn name(self) -> &'static str {
        match self {
            RealmAction::ManageOrgs => "manage_orgs",
            RealmAction::ManageStaff => "manage_staff",
            RealmAction::ReadEvents => "read_events",
            RealmAction::Oversee => "oversee",
            RealmAction::RevokeGrant => "revoke_grant",
            RealmAction::ProposeOfficial => "propose_official",
            RealmAction::ApproveOfficial => "approve_official",
            RealmAction::RevokeOfficial => "revoke_official",
        }
    }

    /// What a refusal says when no rule permits the step.
    fn who_may(self) -> &'static str {
        match self {
            RealmAction::ManageOrgs | RealmAction::ManageStaff | RealmAction::ReadEvents => {
                "only the operator's admins manage organisations and staff"
            }
            RealmAction::Oversee => "this is for the operator's security staff and admins",
            RealmAction::RevokeGrant => {
                "only the requester or the operator's approvers, security or admins revoke a grant"
            }
            RealmAction::ProposeOfficial => {
                "only the operator's support staff, approvers and admins check an official account's evidence"
            }
            RealmAction::ApproveOfficial => {
                "only the operator's approvers and admins approve an official account"
            }
            RealmAction::RevokeOfficial => {
                "only the operator's approvers, security staff and admins revoke an official account"
            }
        }
    }
}

/// Who takes a step in the realm.
#[derive(Clone, Debug)]
pub struct Actor {
    pub staff_id: String,
    pub roles: Vec<String>,
    pub org_id: String,
    pub org_kind: String,
    pub org_country: String,
}

/// Whom a step is about, as the realm's rules see it.
#[derive(Clone, Debug, Default)]
pub struct Target {
    /// The staff member (or, for organisations, the organisation) the step
    /// is about; empty for nobody.
    pub about: String,
    /// For a new staff member: their organisation's kind and their roles.
    pub org_kind: String,
    pub roles: Vec<String>,
}

pub struct RealmPolicy {
    set: PolicySet,
}

impl RealmPolicy {
    /// The built-in rules, validated against their schema.
    pub fn builtin() -> Result<RealmPolicy, PolicyError> {
        let origin = "the staff realm's built-in rules";
        let (schema, _) =
            Schema::from_cedarschema_str(REALM_SCHEMA).map_err(|e| PolicyError::Invalid {
                origin: origin.into(),
                message: e.to_string(),
            })?;
        let set = crate::parse_validated(REALM_POLICY, origin, &schema)?;
        Ok(RealmPolicy { set })
    }

    /// Whether `actor` may take `action`; `about` is the staff member the
    /// step concerns ("" for none).
    pub fn decide(
        &self,
        action: RealmAction,
        actor: &Actor,
        about: &str,
    ) -> Result<Verdict, PolicyError> {
        let target = Target {
            about: about.to_string(),
            ..Target::default()
        };
        self.decide_on(action, actor, &target)
    }

    /// Whether `actor` may take `action` on `target`.
    pub fn decide_on(
        &self,
        action: RealmAction,
        actor: &Actor,
        target: &Target,
    ) -> Result<Verdict, PolicyError> {
        let q = |e: String| PolicyError::Query(e);
        let entities = serde_json::json!([
            {
                "uid": { "type": "Kizuna::Org", "id": actor.org_id },
                "attrs": {
                    "id": actor.org_id,
                    "kind": actor.org_kind,
                    "country": actor.org_country,
                },
                "parents": []
            },
            {
                "uid": { "type": "Kizuna::Staff", "id": actor.staff_id },
                "attrs": {
                    "id": actor.staff_id,
                    "org": { "__entity": { "type": "Kizuna::Org", "id": actor.org_id } },
                    "roles": actor.roles,
                },
                "parents": []
            },
            { "uid": { "type": "Kizuna::Realm", "id": "staff" }, "attrs": {}, "parents": [] }
        ]);
        let entities = Entities::from_json_value(entities, None).map_err(|e| q(e.to_string()))?;
        let uid = |text: String| EntityUid::from_str(&text).map_err(|e| q(e.to_string()));
        let context = Context::from_json_value(
            serde_json::json!({
                "about": target.about,
                "org_kind": target.org_kind,
                "roles": target.roles,
            }),
            None,
        )
        .map_err(|e| q(e.to_string()))?;
        let request = Request::new(
            uid(format!("Kizuna::Staff::{}", json_str(&actor.staff_id)))?,
            uid(format!("Kizuna::Action::{}", json_str(action.name())))?,
            uid("Kizuna::Realm::\"staff\"".into())?,
            context,
            None,
        )
        .map_err(|e| q(e.to_string()))?;
        let response = Authorizer::new().is_authorized(&request, &self.set, &entities);
        let mut v = verdict(&self.set, &response);
        if !v.allowed && v.rules.is_empty() {
            v.reasons = vec![action.who_may().to_string()];
        }
        Ok(v)
    }
}
