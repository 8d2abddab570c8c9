//! A person's own data: their account as they see it, contacts and blocks,
//! where each category is kept (the data map), the export, and erasure.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{reports, Bytes, TransferRecord};

/// The caller's own account, including the personal fields only they see.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MeView {
    pub account_id: String,
    pub handle: String,
    pub region: String,
    pub name: String,
    pub phone: String,
    pub email: Option<String>,
    pub devices: Vec<String>,
}

/// A country from which a category of my data may be reached, and why; for
/// a foreign country, what the law asks to be told about it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessCountry {
    pub country: String,
    pub why: String,
    #[serde(default)]
    pub disclosure: Option<ForeignDisclosure>,
    /// `why` in other languages, by language tag ("ja", "ko"), as the
    /// operator's configuration gives them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub why_translations: BTreeMap<String, String>,
}

/// Japan APPI Art. 28 and GDPR Art. 13(1)(f): the foreign country, its
/// protection system, the recipient's measures and the transfer's basis.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ForeignDisclosure {
    pub country_name: String,
    pub protection_system: String,
    pub recipient_measures: String,
    pub transfer_basis: String,
    /// The same disclosure in other languages, by language tag.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub translations: BTreeMap<String, DisclosureText>,
}

/// A foreign-transfer disclosure in one language.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DisclosureText {
    pub country_name: String,
    pub protection_system: String,
    pub recipient_measures: String,
    pub transfer_basis: String,
}

/// Where one category of my data is stored and from where it may be reached.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DataCategory {
    pub category: String,
    pub fields: Vec<String>,
    pub region: String,
    pub region_name: String,
    /// ISO 3166-1 alpha-2 code of the country the store is in.
    pub country: String,
    /// How it is protected at rest.
    pub protection: String,
    pub accessible_from: Vec<AccessCountry>,
}

/// Each category of my data, where it is and from where it may be reached,
/// generated from the same configuration that places and guards it, with the
/// transfers that actually happened.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DataMap {
    pub home_region: String,
    pub home_region_name: String,
    pub home_country: String,
    /// The region and country of the node answering.
    pub node_region: String,
    pub node_country: String,
    /// What the node answering keeps in its own country and why, when
    /// that country is not my home region's.
    #[serde(default)]
    pub kept_abroad: Option<KeptAbroad>,
    pub categories: Vec<DataCategory>,
    pub transfers: Vec<TransferRecord>,
    /// The abuse reports I filed, where each is kept and how it stands.
    #[serde(default)]
    pub reports: Vec<reports::HeldReport>,
    /// My agreement to the foreign countries that may reach my data.
    #[serde(default)]
    pub consent: Option<crate::Consent>,
    /// The official accounts I follow: who runs each, and where that
    /// organisation keeps what I send it (beyond this service, on its own
    /// machines).
    #[serde(default)]
    pub follows: Vec<crate::FollowedAccount>,
}

/// The data the serving node keeps in its own country, which is foreign to
/// my home region: which, why, and the disclosure owed for that country.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeptAbroad {
    pub region: String,
    pub region_name: String,
    pub country: String,
    /// The categories (of `categories`) kept there.
    pub categories: Vec<String>,
    pub why: String,
    #[serde(default)]
    pub disclosure: Option<ForeignDisclosure>,
}

/// All my personal data (GDPR Art. 15 and 20).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Export {
    pub exported_at: u64,
    pub account_id: String,
    pub handle: String,
    pub created_at: u64,
    pub name: String,
    pub phone: String,
    #[serde(default)]
    pub email: Option<String>,
    pub contacts: Vec<String>,
    /// The people I blocked.
    #[serde(default)]
    pub blocked: Vec<Blocked>,
    pub devices: Vec<ExportDevice>,
    pub data_map: DataMap,
    /// The abuse reports I filed, with the messages they revealed.
    #[serde(default)]
    pub reports: Vec<reports::FiledReport>,
    /// Moderators' decisions about my messages, and my appeals.
    #[serde(default)]
    pub moderation: Vec<reports::ModerationNotice>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExportDevice {
    pub device_id: String,
    pub label: String,
    pub signature_key: Bytes,
}

/// My contact list, kept sealed in my home region.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Contacts {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::fields::schemas::handles))]
    pub handles: Vec<String>,
}

/// Someone I blocked: the node refuses their invitations and their
/// messages in our one-to-one chats.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Blocked {
    pub handle: String,
    pub account_id: String,
    /// When I blocked them (milliseconds since the epoch).
    pub since: u64,
}

/// The people I blocked, kept sealed in my home region.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BlockList {
    pub blocked: Vec<Blocked>,
}

/// The answer to erasing my account.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Erased {
    pub account_id: String,
    /// The region whose data key for me was destroyed.
    pub region: String,
}
