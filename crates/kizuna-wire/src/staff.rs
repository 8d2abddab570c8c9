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

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).map_err(|_| {
            format!("unknown role '{s}'; roles are support, moderator, approver, security, admin")
        })
    }
}

impl std::str::FromStr for OrgKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).map_err(|_| {
            format!("unknown organisation kind '{s}'; kinds are operator, contractor, affiliate")
        })
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
