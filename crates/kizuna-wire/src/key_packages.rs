//! Key packages: a device's upload, how many it has left, and those claimed to
//! add devices to a group.

use serde::{Deserialize, Serialize};

use crate::Bytes;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyPackageUpload {
    pub key_packages: Vec<Bytes>,
    #[serde(default)]
    pub last_resort: Option<Bytes>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyPackageStatus {
    /// One-time key packages left (the last-resort one is not counted).
    pub remaining: u32,
    pub has_last_resort: bool,
    /// The device should upload more.
    pub low: bool,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClaimRequest {
    /// Claim one key package for every device of each of these accounts.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::fields::schemas::claimed_handles))]
    pub handles: Vec<String>,
    /// Claim one key package for each of these devices.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::fields::schemas::claimed_devices))]
    pub devices: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClaimedKeyPackage {
    pub handle: String,
    pub device_id: String,
    pub key_package: Bytes,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClaimResponse {
    pub key_packages: Vec<ClaimedKeyPackage>,
}
