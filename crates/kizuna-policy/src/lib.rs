//! Access decisions for the staff realm: Cedar policies, validated against
//! Kizuna's schema, over staff (with organisation, country and roles),
//! people (with home region and the countries declared for it) and the grant
//! at hand. Default deny; every refusal names the rule that made it.

use std::path::Path;
use std::str::FromStr;

use cedar_policy::{
    Authorizer, Context, Decision, Entities, EntityUid, PolicyId, PolicySet, Request, Response,
    Schema, ValidationMode, Validator,
};

mod realm;
pub use realm::{Actor, RealmAction, RealmPolicy, Target, REALM_POLICY, REALM_SCHEMA};

pub const SCHEMA: &str = include_str!("schema.cedarschema");
pub const DEFAULT_POLICY: &str = include_str!("default.cedar");

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read the policy file {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("the policy in {origin} does not parse: {message}")]
    Parse { origin: String, message: String },
    #[error("the policy in {origin} does not fit Kizuna's schema: {message}")]
    Invalid { origin: String, message: String },
    #[error("an access question could not be put to the policy: {0}")]
    Query(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    RequestGrant,
    ApproveGrant,
    Read,
    /// Opening an abuse report (or the queue it is in); the person is the
    /// reporter, whose region holds it.
    OpenReport,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::RequestGrant => "request_grant",
            Action::ApproveGrant => "approve_grant",
            Action::Read => "read",
            Action::OpenReport => "open_report",
        }
    }
}

/// Who asks.
#[derive(Clone, Debug)]
pub struct StaffFacts {
    pub staff_id: String,
    pub roles: Vec<String>,
    pub org_id: String,
    pub org_kind: String,
    pub org_country: String,
    pub org_regions: Vec<String>,
    pub org_purposes: Vec<String>,
    pub org_fields: Vec<String>,
}

/// Whose data.
#[derive(Clone, Debug)]
pub struct PersonFacts {
    pub subject: String,
    pub region: String,
    pub region_countries: Vec<String>,
}

/// The grant the question is about.
#[derive(Clone, Debug)]
pub struct GrantFacts {
    pub purpose: String,
    pub fields: Vec<String>,
    pub duration_secs: u64,
    pub break_glass: bool,
    pub live: bool,
    pub consented: bool,
    pub requester: String,
    pub requester_org: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    /// For a refusal: why, from the `@reason` of each forbidding rule, or
    /// that no rule permits it.
    pub reasons: Vec<String>,
    /// The ids of the rules that decided.
    pub rules: Vec<String>,
}

pub struct Policy {
    set: PolicySet,
    schema: Schema,
    /// The policy's source, so that a change is visible and recordable.
    pub text: String,
    pub origin: String,
    /// Whether each question's entities and context are checked against
    /// the schema. They are built here, in one shape; that shape is checked
    /// once at load, and then the check is skipped for speed.
    strict: bool,
}

impl Policy {
    /// The policy in `path`, or the shipped default; either way validated
    /// against the schema, or refused with Cedar's message.
    pub fn load(path: Option<&Path>) -> Result<Policy, PolicyError> {
        match path {
            None => Policy::parse(DEFAULT_POLICY, "the shipped default policy"),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| PolicyError::Read {
                    path: p.display().to_string(),
                    reason: e.to_string(),
                })?;
                Policy::parse(&text, &p.display().to_string())
            }
        }
    }

    pub fn parse(text: &str, origin: &str) -> Result<Policy, PolicyError> {
        let (schema, _) =
            Schema::from_cedarschema_str(SCHEMA).map_err(|e| PolicyError::Invalid {
                origin: "Kizuna's schema".into(),
                message: e.to_string(),
            })?;
        let set = parse_validated(text, origin, &schema)?;
        let mut policy = Policy {
            set,
            schema,
            text: text.to_string(),
            origin: origin.to_string(),
            strict: true,
        };
        policy.probe()?;
        policy.strict = false;
        Ok(policy)
    }

    /// Puts one question of every action, with the schema checked, so that
    /// a question this code builds that the schema would refuse fails at
    /// load rather than at a request.
    fn probe(&self) -> Result<(), PolicyError> {
        let staff = StaffFacts {
            staff_id: "probe".into(),
            roles: vec!["support".into()],
            org_id: "probe".into(),
            org_kind: "operator".into(),
            org_country: "JP".into(),
            org_regions: vec!["jp".into()],
            org_purposes: vec!["CUSTOMER_SUPPORT".into()],
            org_fields: vec!["phone".into()],
        };
        let person = PersonFacts {
            subject: "probe".into(),
            region: "jp".into(),
            region_countries: vec!["JP".into()],
        };
        let grant = GrantFacts {
            purpose: "CUSTOMER_SUPPORT".into(),
            fields: vec!["phone".into()],
            duration_secs: 60,
            break_glass: false,
            live: true,
            consented: true,
            requester: "probe".into(),
            requester_org: "probe".into(),
        };
        for action in [
            Action::RequestGrant,
            Action::ApproveGrant,
            Action::Read,
            Action::OpenReport,
        ] {
            self.decide(action, &staff, &person, &grant)?;
        }
        Ok(())
    }

    /// Whether a read under this grant waits for the person's agreement:
    /// everything else allowing, a rule whose id starts with `consent`
    /// forbids it until they agree.
    pub fn needs_consent(
        &self,
        staff: &StaffFacts,
        person: &PersonFacts,
        grant: &GrantFacts,
    ) -> Result<bool, PolicyError> {
        let asked = GrantFacts {
            live: true,
            consented: false,
            ..grant.clone()
        };
        let v = self.decide(Action::Read, staff, person, &asked)?;
        Ok(!v.allowed && v.rules.iter().any(|r| r.starts_with("consent")))
    }

    pub fn decide(
        &self,
        action: Action,
        staff: &StaffFacts,
        person: &PersonFacts,
        grant: &GrantFacts,
    ) -> Result<Verdict, PolicyError> {
        let q = |e: String| PolicyError::Query(e);
        let org_uid = format!("Kizuna::Org::{}", json_str(&staff.org_id));
        let staff_uid = format!("Kizuna::Staff::{}", json_str(&staff.staff_id));
        let person_uid = format!("Kizuna::Person::{}", json_str(&person.subject));
        let entities = serde_json::json!([
            {
                "uid": { "type": "Kizuna::Org", "id": staff.org_id },
                "attrs": {
                    "id": staff.org_id,
                    "kind": staff.org_kind,
                    "country": staff.org_country,
                    "regions": staff.org_regions,
                    "purposes": staff.org_purposes,
                    "fields": staff.org_fields,
                },
                "parents": []
            },
            {
                "uid": { "type": "Kizuna::Staff", "id": staff.staff_id },
                "attrs": {
                    "id": staff.staff_id,
                    "org": { "__entity": { "type": "Kizuna::Org", "id": staff.org_id } },
                    "roles": staff.roles,
                },
                "parents": []
            },
            {
                "uid": { "type": "Kizuna::Person", "id": person.subject },
                "attrs": {
                    "region": person.region,
                    "region_countries": person.region_countries,
                },
                "parents": []
            }
        ]);
        let schema = self.strict.then_some(&self.schema);
        let entities = Entities::from_json_value(entities, schema).map_err(|e| q(e.to_string()))?;
        let action_uid =
            EntityUid::from_str(&format!("Kizuna::Action::{}", json_str(action.name())))
                .map_err(|e| q(e.to_string()))?;
        let context = Context::from_json_value(
            serde_json::json!({
                "purpose": grant.purpose,
                "fields": grant.fields,
                // Saturating, never wrapping: a duration past what Cedar's
                // integers hold must still be too long for every rule.
                "duration_secs": i64::try_from(grant.duration_secs).unwrap_or(i64::MAX),
                "break_glass": grant.break_glass,
                "live": grant.live,
                "consented": grant.consented,
                "requester": grant.requester,
                "requester_org": grant.requester_org,
            }),
            schema.map(|s| (s, &action_uid)),
        )
        .map_err(|e| q(e.to_string()))?;
        let _ = org_uid;
        let request = Request::new(
            EntityUid::from_str(&staff_uid).map_err(|e| q(e.to_string()))?,
            action_uid,
            EntityUid::from_str(&person_uid).map_err(|e| q(e.to_string()))?,
            context,
            schema,
        )
        .map_err(|e| q(e.to_string()))?;
        let response = Authorizer::new().is_authorized(&request, &self.set, &entities);
        Ok(verdict(&self.set, &response))
    }
}

/// A policy set parsed and validated against `schema`, or refused with
/// Cedar's message.
fn parse_validated(text: &str, origin: &str, schema: &Schema) -> Result<PolicySet, PolicyError> {
    let set = PolicySet::from_str(text).map_err(|e| PolicyError::Parse {
        origin: origin.to_string(),
        message: format!("{e:?}").chars().take(2000).collect(),
    })?;
    let result = Validator::new(schema.clone()).validate(&set, ValidationMode::Strict);
    if !result.validation_passed() {
        let message = result
            .validation_errors()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("; ");
        return Err(PolicyError::Invalid {
            origin: origin.to_string(),
            message,
        });
    }
    Ok(set)
}

/// What a decision says: allowed or not, the rules that decided (by their
/// `@id`), and for a refusal each forbidding rule's `@reason`.
fn verdict(set: &PolicySet, response: &Response) -> Verdict {
    let decided: Vec<&PolicyId> = response.diagnostics().reason().collect();
    // A rule is named by its `@id` annotation where it has one.
    let annotation = |id: &PolicyId, key: &str| {
        set.policy(id)
            .and_then(|p| p.annotation(key).map(str::to_string))
    };
    let rules: Vec<String> = decided
        .iter()
        .map(|id| annotation(id, "id").unwrap_or_else(|| id.to_string()))
        .collect();
    let allowed = response.decision() == Decision::Allow;
    let mut reasons: Vec<String> = if allowed {
        Vec::new()
    } else {
        decided
            .iter()
            .zip(&rules)
            .map(|(id, name)| {
                annotation(id, "reason").unwrap_or_else(|| format!("forbidden by rule {name}"))
            })
            .collect()
    };
    if !allowed && reasons.is_empty() {
        reasons.push("no rule of the policy permits it (default deny)".into());
    }
    for e in response.diagnostics().errors() {
        reasons.push(format!("a rule failed to evaluate: {e}"));
    }
    Verdict {
        allowed,
        reasons,
        rules,
    }
}

/// A Cedar entity id as a quoted string literal.
fn json_str(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

#[cfg(test)]
mod tests;
