//! A person's agreement to the foreign countries that may reach their
//! data: what they are told before it (the disclosures of their home
//! region), the agreement itself and its withdrawal, as they see them.

use serde::{Deserialize, Serialize};

use crate::AccessCountry;

/// What a person whose data lives in `region` must be told, and agree to,
/// before any foreign country reaches it (Japan APPI Art. 28, Korea PIPA
/// Art. 28-8, GDPR Art. 13(1)(f)).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Disclosures {
    /// The home region these disclosures are for.
    pub region: String,
    pub region_name: String,
    /// ISO 3166-1 alpha-2 code of the region's own country.
    pub country: String,
    /// The region and country of the node answering, which serves the
    /// person from there.
    pub node_region: String,
    pub node_country: String,
    /// Changes whenever any text below changes: an agreement names the
    /// version it was given to, so a changed text is asked again.
    pub version: String,
    /// Every foreign country that may reach the person's data, each with
    /// why and its full disclosure. Empty: nothing needs agreeing to.
    pub foreign: Vec<AccessCountry>,
    /// Where the phone number goes to receive the code that proves it,
    /// when the service sends codes through an SMS gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_gateway: Option<PhoneGatewayDisclosure>,
}

/// The SMS gateway a registering person's phone number is sent to, so a
/// one-time code reaches it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PhoneGatewayDisclosure {
    /// Who runs it.
    pub operator: String,
    /// The gateway's host name.
    pub host: String,
    /// ISO 3166-1 alpha-2 code of the country it runs in (one the region's
    /// rules allow; a foreign one is among `foreign`).
    pub country: String,
}

/// Agreeing to the disclosures shown: the version they carried.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgreeRequest {
    #[cfg_attr(
        feature = "openapi",
        schema(schema_with = crate::fields::schemas::disclosures_version)
    )]
    pub version: String,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ConsentStep {
    Agreed,
    Withdrawn,
}

/// One step of a person's agreement, kept sealed in their home region.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsentEvent {
    /// Milliseconds since the Unix epoch.
    pub at: u64,
    pub step: ConsentStep,
    /// The home region whose disclosures it was about.
    pub region: String,
    /// The version of the disclosures agreed to or withdrawn from.
    pub version: String,
    /// The foreign countries the disclosures named.
    pub countries: Vec<String>,
    /// Which device did it.
    pub device_id: String,
}

/// Whether the foreign countries of my home region may reach my data now.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// I agreed to the current disclosures of my home region.
    Agreed,
    /// No foreign country may reach my data: there is nothing to agree to.
    NotNeeded,
    /// I have not agreed to the current disclosures: I never did, my home
    /// region changed, or their text changed since.
    Needed,
    /// I withdrew my agreement.
    Withdrawn,
}

/// My agreement as it stands, what follows from it, the disclosures it is
/// about and every step I took.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Consent {
    pub standing: Standing,
    /// What the standing means for my account, in plain words.
    pub consequence: String,
    /// While my agreement stands: what withdrawing it would mean, to read
    /// before doing it.
    #[serde(default)]
    pub if_withdrawn: Option<String>,
    /// The current disclosures of my home region.
    pub disclosures: Disclosures,
    /// Oldest first.
    pub history: Vec<ConsentEvent>,
}
