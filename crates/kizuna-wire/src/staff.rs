//! The staff realm's API types. Staff are not users: these types, the staff
//! listener, its tokens and its store have nothing in common with the user
//! realm's.

use serde::{Deserialize, Serialize};

/// The default port of the staff API, on loopback only.
pub const DEFAULT_STAFF_PORT: u16 = 7481;

/// Prefix of staff session tokens, so each realm can name the other's token
/// when it is refused.
pub const STAFF_TOKEN_PREFIX: &str = "kzs1";
/// Prefix of user-realm device tokens.
pub const USER_TOKEN_PREFIX: &str = "kzu1";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OrgKind {
    Operator,
    Contractor,
    Affiliate,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Support,
    Moderator,
    Approver,
    Security,
    Admin,
}

/// The snake_case word a value has in JSON, for messages and listings.
fn name_of<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

impl Role {
    pub fn name(&self) -> String {
        name_of(self)
    }
}

impl OrgKind {
    pub fn name(&self) -> String {
        name_of(self)
    }
}

impl GrantState {
    pub fn name(&self) -> String {
        name_of(self)
    }
}

/// A snake_case name parsed the way its JSON form is, or a message that
/// lists the names there are.
fn by_name<T: serde::de::DeserializeOwned>(s: &str, what: &str, names: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .map_err(|_| format!("unknown {what} '{s}'; they are {names}"))
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        by_name(s, "role", "support, moderator, approver, security, admin")
    }
}

impl std::str::FromStr for OrgKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        by_name(s, "organisation kind", "operator, contractor, affiliate")
    }
}

/// The widest access an organisation may ever be granted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrgScope {
    pub regions: Vec<String>,
    pub purposes: Vec<String>,
    pub fields: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Org {
    pub org_id: String,
    pub kind: OrgKind,
    /// ISO 3166-1 alpha-2 code of the country its staff work in.
    pub country: String,
    /// Networks (CIDR) its staff may connect from.
    pub networks: Vec<String>,
    pub scope: OrgScope,
    #[serde(default)]
    pub suspended_at: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StaffMember {
    pub staff_id: String,
    pub org_id: String,
    pub roles: Vec<Role>,
    #[serde(default)]
    pub suspended_at: Option<u64>,
    pub created_at: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StaffLogin {
    pub staff_id: String,
    pub password: String,
    /// The current 6-digit code of the staff member's authenticator.
    pub totp: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StaffSession {
    pub token: String,
    /// Unix seconds.
    pub expires_at: u64,
    pub staff_id: String,
    pub org_id: String,
}

/// Who a staff session is: the member, their organisation as they stand
/// now, and the address the request came from, as `GET /staff/v1/me`
/// answers.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StaffIdentity {
    pub member: StaffMember,
    pub org: Org,
    /// The request's source address, which is within one of the
    /// organisation's networks.
    pub source: String,
}

/// One event of the staff realm, as `GET /staff/v1/events` lists them
/// (newest first) and `GET /staff/v1/alerts` lists the alerts raised.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StaffEvent {
    /// Milliseconds since the Unix epoch.
    pub at: u64,
    /// The kind of event, in snake_case (`login`, `login_failed`,
    /// `grant_requested`, `read`, `read_denied`, ...).
    pub kind: String,
    /// The staff member it is about, where there is one (an alert always
    /// names one).
    pub staff_id: Option<String>,
    pub org_id: Option<String>,
    /// What happened, as the realm recorded it; its fields depend on the
    /// kind.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub detail: serde_json::Value,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewStaffMember {
    pub staff_id: String,
    pub org_id: String,
    pub roles: Vec<Role>,
}

/// A new staff member's credentials, shown once to whoever created them.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StaffCredentials {
    pub staff_id: String,
    pub password: String,
    /// Base32, for an authenticator app.
    pub totp_secret: String,
    pub totp_uri: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Suspended {
    pub id: String,
    /// Sessions ended by the suspension.
    pub sessions_ended: u64,
}

/// A session its member ended before it expired.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoggedOut {
    pub staff_id: String,
    /// When the session ended (seconds since the Unix epoch); its token is
    /// refused from then on.
    pub ended_at: u64,
}

/// Why a staff member needs personal data: a fixed list of justification
/// codes, like a cloud provider's access-approval reasons.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Purpose {
    CustomerSupport,
    AbuseReportReview,
    LegalRequest,
    IncidentResponse,
    ServiceMaintenance,
}

impl Purpose {
    pub fn code(self) -> &'static str {
        match self {
            Purpose::CustomerSupport => "CUSTOMER_SUPPORT",
            Purpose::AbuseReportReview => "ABUSE_REPORT_REVIEW",
            Purpose::LegalRequest => "LEGAL_REQUEST",
            Purpose::IncidentResponse => "INCIDENT_RESPONSE",
            Purpose::ServiceMaintenance => "SERVICE_MAINTENANCE",
        }
    }
    pub const ALL: [Purpose; 5] = [
        Purpose::CustomerSupport,
        Purpose::AbuseReportReview,
        Purpose::LegalRequest,
        Purpose::IncidentResponse,
        Purpose::ServiceMaintenance,
    ];
}

impl std::str::FromStr for Purpose {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Purpose::ALL
            .into_iter()
            .find(|p| p.code() == s)
            .ok_or_else(|| {
                format!(
                    "unknown purpose '{s}'; purposes are {}",
                    Purpose::ALL.map(|p| p.code()).join(", ")
                )
            })
    }
}

/// The personal fields a grant can cover. `reports` is the abuse reports
/// of a region's people, granted by region rather than by person.
pub const PERSONAL_FIELDS: [&str; 5] = ["name", "phone", "email", "contacts", REPORTS_FIELD];

/// The field of a grant over a region's abuse reports.
pub const REPORTS_FIELD: &str = "reports";

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GrantRequest {
    /// Handles of the people whose data is needed.
    pub subjects: Vec<String>,
    pub fields: Vec<String>,
    pub purpose: Purpose,
    pub ticket: String,
    pub reason: String,
    pub duration_secs: u64,
    #[serde(default)]
    pub break_glass: bool,
    /// For a grant over abuse reports: the regions whose reports it opens.
    #[serde(default)]
    pub regions: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum GrantState {
    Pending,
    Approved,
    Denied,
    Revoked,
    Expired,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Grant {
    pub grant_id: String,
    pub staff_id: String,
    pub org_id: String,
    pub subjects: Vec<String>,
    pub fields: Vec<String>,
    pub purpose: Purpose,
    pub ticket: String,
    pub reason: String,
    pub duration_secs: u64,
    pub break_glass: bool,
    pub state: GrantState,
    pub requested_at: u64,
    #[serde(default)]
    pub decided_by: Option<String>,
    #[serde(default)]
    pub decided_at: Option<u64>,
    /// Milliseconds since the Unix epoch; set when approved.
    #[serde(default)]
    pub expires_at: Option<u64>,
    /// People (handles) who agreed to this grant, where its purpose asks them.
    #[serde(default)]
    pub consented: Vec<String>,
    /// People who declined it.
    #[serde(default)]
    pub declined: Vec<String>,
    /// For a grant over abuse reports: the regions whose reports it opens.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<String>,
}

impl Grant {
    /// Approved and not yet expired.
    pub fn live(&self, now_ms: u64) -> bool {
        self.state == GrantState::Approved && self.expires_at.is_some_and(|e| now_ms < e)
    }
}

/// A person's data as a staff member may see it: granted fields in full,
/// the others absent or masked.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GovernedRead {
    pub subject: String,
    pub region: String,
    pub grant_id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// The full number if granted, else only its last two digits.
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub contacts: Option<Vec<String>>,
}

/// The review every break-glass access leaves behind, until someone else
/// with the security or admin role completes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Review {
    pub grant_id: String,
    pub staff_id: String,
    pub org_id: String,
    pub opened_at: u64,
    #[serde(default)]
    pub completed_by: Option<String>,
    #[serde(default)]
    pub completed_at: Option<u64>,
    #[serde(default)]
    pub justified: Option<bool>,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReviewCompletion {
    pub justified: bool,
    pub note: String,
}

/// A staff request for my data that waits for my agreement.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessRequest {
    pub grant_id: String,
    pub staff_id: String,
    pub org_id: String,
    /// The country the staff member works in.
    pub country: String,
    pub fields: Vec<String>,
    pub purpose: Purpose,
    pub ticket: String,
    pub reason: String,
    pub duration_secs: u64,
    pub requested_at: u64,
    /// `waiting`, `agreed` or `declined`.
    pub my_answer: String,
}

/// Whose credentials a breach concerns, and when.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BreachQuery {
    #[serde(default)]
    pub org_id: Option<String>,
    #[serde(default)]
    pub staff_id: Option<String>,
    /// Milliseconds since the epoch; from the beginning if absent.
    #[serde(default)]
    pub from: Option<u64>,
    /// Milliseconds since the epoch; until now if absent.
    #[serde(default)]
    pub to: Option<u64>,
}

/// One person whose data was read under those credentials.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AffectedPerson {
    pub handle: String,
    pub region: String,
    pub fields: Vec<String>,
    pub first_at: u64,
    pub last_at: u64,
    pub reads: u64,
    pub orgs: Vec<String>,
    pub staff: Vec<String>,
    /// The ledger entries of the reads.
    pub entries: Vec<u64>,
}

/// A region as the drafts need it: which law speaks for its people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BreachRegion {
    pub id: String,
    pub name: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    pub affected: u64,
}

/// Everything read under a set of credentials in a window, from the
/// ledger, and what was done about them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BreachScope {
    pub query: BreachQuery,
    pub scoped_at: u64,
    pub scoped_by: String,
    /// The organisations concerned, as they stand now (suspended or not).
    pub orgs: Vec<Org>,
    /// The staff members concerned, as they stand now.
    pub staff: Vec<StaffMember>,
    pub regions: Vec<BreachRegion>,
    /// People affected per field.
    pub per_field: std::collections::BTreeMap<String, u64>,
    pub people: Vec<AffectedPerson>,
    /// The ledger's size when scoped: every read before it is counted.
    pub ledger_size: u64,
}

/// The first person's step on an official account's application: the
/// evidence they checked (a registry extract, a call to the organisation's
/// published number) and the ticket it is filed under.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VerificationProposal {
    pub evidence: String,
    pub ticket: String,
}

/// Why an application is rejected or a verification revoked: the
/// organisation is told, and a revocation's reason is public in the key log.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VerificationDecision {
    pub reason: String,
}

/// An application for an official account as the staff realm keeps it:
/// what the organisation sees, the claim's bytes and signature as its
/// device made them, and who took each step with what evidence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OfficialReview {
    pub application: crate::OfficialApplication,
    /// The claim exactly as signed.
    pub claim_bytes: crate::Bytes,
    pub signature: crate::Bytes,
    /// The device that signed it.
    pub device_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposed_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposed_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    /// The ledger index of the first person's step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposal_entry: Option<u64>,
    /// Who approved, rejected or revoked it last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
}
