//! Accounts and devices: registering, signing in, linking another device, and
//! what a device signs to prove it holds its key.

use serde::{Deserialize, Serialize};

use crate::Bytes;

/// Domain separation for the signature a device makes when it registers.
pub const REGISTER_CONTEXT: &[u8] = b"kizuna-register-v1";

/// Domain separation for the signature that answers an auth challenge.
pub const AUTH_CONTEXT: &[u8] = b"kizuna-auth-v1";

/// Domain separation for the signature of a device-link request.
pub const LINK_CONTEXT: &[u8] = b"kizuna-link-v1";

/// Domain separation for the signature by which a device of an account
/// vouches for a device linked to it.
pub const ENDORSE_CONTEXT: &[u8] = b"kizuna-endorse-v1";

/// The message a device of `account_id` signs to vouch for the device
/// whose key is `signature_key`. The key log carries the signature, so
/// every device can tell a device its account linked from one the node
/// added: the node holds no key that makes it.
pub fn endorse_signing_input(account_id: &str, signature_key: &[u8]) -> Vec<u8> {
    let mut v = ENDORSE_CONTEXT.to_vec();
    v.push(0);
    v.extend_from_slice(account_id.as_bytes());
    v.push(0);
    v.extend_from_slice(signature_key);
    v
}

/// The message signed to prove possession of a device key at registration.
pub fn register_signing_input(handle: &str, signature_key: &[u8]) -> Vec<u8> {
    let mut v = REGISTER_CONTEXT.to_vec();
    v.push(0);
    v.extend_from_slice(handle.as_bytes());
    v.push(0);
    v.extend_from_slice(signature_key);
    v
}

/// The message signed to answer an auth challenge.
pub fn auth_signing_input(device_id: &str, challenge: &str) -> Vec<u8> {
    let mut v = AUTH_CONTEXT.to_vec();
    v.push(0);
    v.extend_from_slice(device_id.as_bytes());
    v.push(0);
    v.extend_from_slice(challenge.as_bytes());
    v
}

/// The message signed by a device asking to join an existing account.
pub fn link_signing_input(handle: &str, signature_key: &[u8]) -> Vec<u8> {
    let mut v = LINK_CONTEXT.to_vec();
    v.push(0);
    v.extend_from_slice(handle.as_bytes());
    v.push(0);
    v.extend_from_slice(signature_key);
    v
}

/// The MLS credential identity of a device: `handle/device_id`. The server
/// checks it on every key package, so members can trust the handle they see.
pub fn credential_identity(handle: &str, device_id: &str) -> String {
    format!("{handle}/{device_id}")
}

/// A device's id is derived from its identity key, so a device knows it
/// before the server does and can put it in its key packages at once.
pub fn device_id_for_key(signature_key: &[u8]) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(signature_key);
    d[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Splits a credential identity into handle and device id.
pub fn parse_credential_identity(identity: &[u8]) -> Option<(String, String)> {
    let s = std::str::from_utf8(identity).ok()?;
    let (h, d) = s.split_once('/')?;
    Some((h.to_string(), d.to_string()))
}

/// Handles are 3–32 characters of lowercase ASCII letters, digits, `_` and `.`,
/// starting with a letter, so they are unambiguous and safe in paths.
pub fn valid_handle(h: &str) -> bool {
    let b = h.as_bytes();
    (3..=32).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'.')
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegisterRequest {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::fields::schemas::handle))]
    pub handle: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::fields::schemas::name))]
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::fields::schemas::phone))]
    pub phone: String,
    /// The code `POST /v1/phone/codes` sent to the phone: registering
    /// proves the person holds the number.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::fields::schemas::phone_code))]
    pub phone_code: String,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::fields::schemas::email))]
    pub email: Option<String>,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::fields::schemas::region))]
    pub region: String,
    pub device: NewDevice,
    /// The version of the region's disclosures (`GET
    /// /v1/regions/{region}/disclosures`) the person agreed to; without it,
    /// or with an older one, nothing is created.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(schema_with = crate::fields::schemas::agreed_disclosures)
    )]
    pub agreed_disclosures: Option<String>,
}

/// Asks for a one-time code sent to a phone number, to register with it in
/// a region (the code is kept in that region, keyed like its phone index).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PhoneCodeRequest {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::fields::schemas::phone))]
    pub phone: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::fields::schemas::region))]
    pub region: String,
    /// The version of the region's disclosures the person agreed to, as a
    /// registration carries it: the number goes nowhere before that.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(schema_with = crate::fields::schemas::agreed_disclosures)
    )]
    pub agreed_disclosures: Option<String>,
}

/// A code is on its way. It says nothing of whether the number is
/// registered: only the number's holder learns that, by registering.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PhoneCodeSent {
    /// Milliseconds since the Unix epoch, when the code stops working.
    pub expires_at: u64,
    /// Wrong guesses the code allows before a new one is needed.
    pub tries: u32,
}

/// A device key, with a signature over [`register_signing_input`] or
/// [`link_signing_input`] proving the caller holds its private half.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewDevice {
    pub signature_key: Bytes,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::fields::schemas::device_label))]
    pub label: String,
    pub signature: Bytes,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegisterResponse {
    pub account_id: String,
    pub device_id: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChallengeRequest {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::fields::schemas::device_id))]
    pub device_id: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChallengeResponse {
    pub challenge: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenRequest {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::fields::schemas::device_id))]
    pub device_id: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::fields::schemas::challenge))]
    pub challenge: String,
    pub signature: Bytes,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenResponse {
    pub token: String,
    /// Unix seconds.
    pub expires_at: u64,
}

/// What anyone may learn about an account: its handle and device ids.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccountView {
    pub handle: String,
    pub devices: Vec<String>,
}

/// One of my devices, as `GET /v1/devices` lists them.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceView {
    pub device_id: String,
    pub label: String,
    /// Milliseconds since the Unix epoch, when it was added to the account.
    pub linked_at: u64,
    /// When it last signed in (took a token), if it has.
    pub last_seen: Option<u64>,
    /// Whether this is the device asking.
    pub this_device: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PhoneLookupRequest {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::fields::schemas::phone))]
    pub phone: String,
}

/// Only the handle is revealed, never another person's phone or e-mail.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PhoneLookupResponse {
    pub handle: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LinkRequest {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::fields::schemas::handle))]
    pub handle: String,
    pub device: NewDevice,
    pub key_packages: Vec<Bytes>,
    pub last_resort: Bytes,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LinkPending {
    pub link_id: String,
    /// Shown on the new device, typed on an existing one.
    pub code: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LinkStatus {
    pub approved: bool,
    pub device_id: Option<String>,
    pub account_id: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LinkApprove {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::fields::schemas::link_code))]
    pub code: String,
    /// The approving device's Ed25519 signature over
    /// [`endorse_signing_input`] of the account and the new device's key.
    pub endorsement: Bytes,
}

/// A link code, to see which device asks to join before approving it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LinkCode {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::fields::schemas::link_code))]
    pub code: String,
}

/// The device a pending link request is for.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PendingDevice {
    pub device_id: String,
    /// Its Ed25519 signature key, which the approval vouches for.
    pub signature_key: Bytes,
    pub label: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LinkApproved {
    pub device_id: String,
}
