//! The types a Kizuna client and server exchange over HTTP and WebSocket.
//!
//! Everything here is plain data with a stable JSON shape. Binary fields (MLS
//! messages, keys, signatures) travel as standard base64 strings.

use serde::{Deserialize, Serialize};

/// The user API's default port on loopback. Chosen away from the ports of the
/// databases and brokers a node usually runs beside (5432, 4222, 6379, 5672,
/// 1883, 3306).
pub const DEFAULT_USER_PORT: u16 = 7480;

/// The only ciphersuite Kizuna clients speak: X25519, AES-128-GCM, SHA-256,
/// Ed25519 (RFC 9420 ciphersuite 0x0001).
pub const CIPHERSUITE_NAME: &str = "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519";

/// Domain separation for the signature a device makes when it registers.
pub const REGISTER_CONTEXT: &[u8] = b"kizuna-register-v1";
/// Domain separation for the signature that answers an auth challenge.
pub const AUTH_CONTEXT: &[u8] = b"kizuna-auth-v1";
/// Domain separation for the signature of a device-link request.
pub const LINK_CONTEXT: &[u8] = b"kizuna-link-v1";

/// Bytes carried as base64 in JSON.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Bytes(pub Vec<u8>);

impl std::fmt::Debug for Bytes {
    // Never print payloads: they are ciphertext at best and secrets at worst.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bytes({} bytes)", self.0.len())
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Bytes {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .content_encoding("base64")
            .description(Some("Bytes in standard base64"))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Bytes {}

impl From<Vec<u8>> for Bytes {
    fn from(v: Vec<u8>) -> Self {
        Bytes(v)
    }
}

impl Serialize for Bytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use base64::Engine;
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use base64::Engine;
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s.as_bytes())
            .map(Bytes)
            .map_err(|e| serde::de::Error::custom(format!("invalid base64: {e}")))
    }
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

/// Every error the API returns has one of these codes; clients branch on the
/// code, people read the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    MalformedJson,
    InvalidHandle,
    InvalidRegion,
    WrongRealm,
    InvalidCredentials,
    NetworkNotAllowed,
    Suspended,
    InvalidNetwork,
    InvalidPhone,
    InvalidEmail,
    InvalidName,
    PhoneTaken,
    RegionAccessDenied,
    InvalidSignature,
    InvalidMessage,
    Unauthorized,
    TokenExpired,
    Forbidden,
    NotFound,
    UnknownGroup,
    UnknownDevice,
    UnknownAccount,
    HandleTaken,
    GroupExists,
    NotMember,
    AlreadyMember,
    StaleEpoch,
    NoKeyPackage,
    MessageTooLarge,
    GroupTooLarge,
    TooManyKeyPackages,
    RateLimited,
    LinkPending,
    Unavailable,
    /// The transparency ledger cannot be written: what it must record
    /// first does not happen.
    LedgerUnavailable,
    /// The node's ledger is smaller than a head the client saw before.
    LedgerRolledBack,
    /// An entry about me that the node holds no longer opens: it was
    /// altered, or the node's region keys are wrong.
    LedgerEntryUnreadable,
    /// A reported message is not what its sender sent, where and when the
    /// report says: the report was refused.
    ReportNotVerified,
    /// This device already reported that message.
    AlreadyReported,
    /// A moderator restricted this account from sending for now.
    SendingRestricted,
    /// A commit or GroupInfo that does not hold up against the group's
    /// public state, or whose change differs from what it claims: refused,
    /// and the group's epoch did not move.
    InvalidCommit,
    /// The person this would reach does not accept it from this account;
    /// nothing more is said.
    Refused,
    Internal,
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = serde_json::to_value(self).map_err(|_| std::fmt::Error)?;
        f.write_str(v.as_str().unwrap_or("internal"))
    }
}

/// The JSON body of every error response.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
}

// ---- accounts and devices ----

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegisterRequest {
    pub handle: String,
    pub name: String,
    pub phone: String,
    #[serde(default)]
    pub email: Option<String>,
    pub region: String,
    pub device: NewDevice,
}

/// A device key, with a signature over [`register_signing_input`] or
/// [`link_signing_input`] proving the caller holds its private half.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewDevice {
    pub signature_key: Bytes,
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
    pub device_id: String,
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

/// The delivery service's own identity in every group: the one external
/// sender, whose Remove proposals (a device revoked, an account erased)
/// members accept and commit.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryService {
    /// Its Ed25519 signature key.
    pub signature_key: Bytes,
    /// Its basic credential's identity.
    pub identity: String,
}

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

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PhoneLookupRequest {
    pub phone: String,
}

/// Only the handle is revealed, never another person's phone or e-mail.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PhoneLookupResponse {
    pub handle: Option<String>,
}

// ---- key packages ----

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
    pub handles: Vec<String>,
    /// Claim one key package for each of these devices.
    #[serde(default)]
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

// ---- groups and delivery ----

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateGroupRequest {
    /// The MLS group id, chosen by the creator.
    pub group_id: Bytes,
    /// The group's GroupInfo at epoch 0 (an MLS message), signed by its
    /// creator and carrying the ratchet tree: the node's public view of the
    /// group starts from it, and every commit is checked against that view.
    pub group_info: Bytes,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupView {
    pub group_id: Bytes,
    pub epoch: u64,
    pub members: Vec<String>,
}

/// A commit for the group's current epoch, as an MLS PublicMessage. The node
/// checks it against the group's public state and reads which devices it
/// adds and removes from the commit itself; the lists given here must be
/// exactly what it reads, or the commit is refused.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CommitRequest {
    pub commit: Bytes,
    #[serde(default)]
    pub welcome: Option<Bytes>,
    #[serde(default)]
    pub added_devices: Vec<String>,
    #[serde(default)]
    pub removed_devices: Vec<String>,
}

/// A proposal for the group's current epoch, as an MLS PublicMessage: a
/// member's own departure, which the next commit carries out.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProposalRequest {
    pub proposal: Bytes,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CommitAccepted {
    /// The group's epoch after this commit.
    pub epoch: u64,
    pub group_seq: u64,
    pub server_time: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SendRequest {
    /// An MLS PrivateMessage carrying application content.
    pub message: Bytes,
    /// The sender's franking commitment to the content (32 bytes).
    #[serde(default)]
    pub commitment: Option<Bytes>,
    /// An id the device chose for this message (8 to 32 bytes), the same
    /// on every retry of it. A retry of the device's last accepted message
    /// is answered as the first attempt was and delivered only once.
    #[serde(default)]
    pub client_id: Option<Bytes>,
}

/// The shortest and longest id a device may give a message it sends.
pub const CLIENT_ID_BYTES: std::ops::RangeInclusive<usize> = 8..=32;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SendAccepted {
    pub group_seq: u64,
    /// Milliseconds since the Unix epoch, when the server accepted it.
    pub server_time: u64,
    /// The node's binding of the commitment to sender, chat and time.
    #[serde(default)]
    pub binding: Option<Bytes>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EnvelopeKind {
    Welcome,
    Commit,
    Application,
    /// A member's proposal (its departure) that the next commit carries out.
    Proposal,
    /// The node's proposal to remove a device its owner revoked.
    Revocation,
    /// The node's proposal to remove a device of an account that was erased.
    Erasure,
}

/// One entry of a device's queue: an opaque MLS message and the routing facts
/// the server vouches for.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Envelope {
    /// Position in this device's queue; acknowledge up to it.
    pub seq: u64,
    pub kind: EnvelopeKind,
    pub group_id: Bytes,
    /// Position in the group's total order.
    pub group_seq: u64,
    pub sender_handle: String,
    pub sender_device: String,
    pub server_time: u64,
    pub payload: Bytes,
    /// For an application message: its franking commitment and the node's
    /// binding, which the recipient keeps to be able to report it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub franking: Option<Franking>,
}

/// An application message's franking, as delivered.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Franking {
    /// The sender's commitment to the content (32 bytes).
    pub commitment: Bytes,
    /// The node's binding of it to sender, chat and time (32 bytes).
    pub binding: Bytes,
}

impl Franking {
    /// The 64 bytes a node keeps: commitment, then binding.
    pub fn from_stored(b: &[u8; 64]) -> Franking {
        Franking {
            commitment: Bytes(b[..32].to_vec()),
            binding: Bytes(b[32..].to_vec()),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InboxResponse {
    pub envelopes: Vec<Envelope>,
    pub key_packages_low: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AckRequest {
    pub up_to: u64,
}

/// Frames a client sends on the WebSocket.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    Ack { up_to: u64 },
}

/// Frames the server sends on the WebSocket.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    Envelope(Envelope),
    KeyPackagesLow,
    Error(ErrorBody),
}

// ---- linking a second device ----

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LinkRequest {
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
    pub code: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LinkApproved {
    pub device_id: String,
}

// ---- where my data is (data map, export, erasure) ----

/// A country from which a category of my data may be reached, and why; for
/// a foreign country, what the law asks to be told about it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessCountry {
    pub country: String,
    pub why: String,
    #[serde(default)]
    pub disclosure: Option<ForeignDisclosure>,
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

/// One access to my personal data that crossed a border, or was refused
/// because it would have.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TransferRecord {
    /// Milliseconds since the Unix epoch.
    pub at: u64,
    /// `read`, `write`, `lookup`, `move` or `erase`.
    pub action: String,
    pub categories: Vec<String>,
    /// The region whose store holds the data.
    pub region: String,
    /// The country the data was reached from.
    pub to_country: String,
    /// The rule's transfer basis; none when refused.
    #[serde(default)]
    pub basis: Option<String>,
    /// Who it was for.
    pub requester: String,
    pub allowed: bool,
    /// Why it was refused, when it was.
    #[serde(default)]
    pub refusal: Option<String>,
}

/// The staff member an access was for, as the ledger records it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StaffRef {
    pub staff_id: String,
    pub org_id: String,
    /// Where the staff member's organisation works.
    pub country: String,
    pub grant_id: String,
    pub purpose: String,
    pub ticket: String,
    /// Their roles when they acted.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// One entry of the transparency ledger about a person, exactly as its
/// bytes were hashed into the ledger, so the person can check its leaf hash
/// on their own device.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LedgerEntry {
    /// 16 random bytes in hex, so the leaf hash of a short, predictable
    /// record cannot be guessed by anyone who sees only the tree.
    pub salt: String,
    /// The person's account id.
    pub subject: String,
    pub record: TransferRecord,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staff: Option<StaffRef>,
}

/// One of my ledger entries with its inclusion proof.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProvenAccess {
    pub index: u64,
    /// The entry's bytes, as hashed into the ledger (JSON of a
    /// [`LedgerEntry`]).
    pub entry: Bytes,
    /// The inclusion proof against the answer's head: hex SHA-256 hashes.
    pub proof: Vec<String>,
}

/// Every access to my data the ledger holds, each with its proof, against a
/// signed tree head; and the consistency proof from the head I saw last.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MyAccesses {
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub head: kizuna_ledger::SignedTreeHead,
    /// From the tree size asked about (`since`) to `head`: hex hashes.
    pub consistency: Vec<String>,
    pub accesses: Vec<ProvenAccess>,
    /// Records from before the ledger existed: shown, not provable.
    pub unproven: Vec<TransferRecord>,
}

/// The ledger's public key and name, for clients and witnesses.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LedgerKey {
    pub origin: String,
    /// The Ed25519 public key that signs tree heads, hex.
    pub public_key: String,
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
    pub categories: Vec<DataCategory>,
    pub transfers: Vec<TransferRecord>,
    /// The abuse reports I filed, where each is kept and how it stands.
    #[serde(default)]
    pub reports: Vec<reports::HeldReport>,
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

pub mod reports;
pub mod staff;

/// What travels inside an MLS application message. The server never sees it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum ChatContent {
    Text { text: String },
    ChatName { name: String },
}

/// The plaintext of an MLS application message: the content as the sender
/// committed to it (JSON of a [`ChatContent`]), and the franking key that
/// opens the commitment. Only a recipient who reports it reveals either.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FrankedContent {
    pub body: String,
    pub franking_key: Bytes,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch as `YYYY-MM-DD hh:mm:ss UTC`.
pub fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Reads a UTC time written as `utc` writes it, as RFC 3339
/// (`2026-11-24T10:00:00Z`), as a date alone, or as milliseconds since the
/// epoch.
pub fn parse_utc(text: &str) -> Option<u64> {
    let t = text.trim();
    if let Ok(ms) = t.parse::<u64>() {
        return Some(ms);
    }
    let t = t.trim_end_matches(" UTC").trim_end_matches('Z');
    let (date, time) = t.split_once(['T', ' ']).unwrap_or((t, "00:00:00"));
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut hms = time.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (h, min, sec) = (
        hms.next()??,
        hms.next().flatten().unwrap_or(0),
        hms.next().flatten().unwrap_or(0),
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || h > 23 || min > 59 || sec > 60 {
        return None;
    }
    // Days since 1970-01-01 from a civil date (the inverse of `utc`).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + min * 60 + sec;
    u64::try_from(secs).ok().map(|s| s * 1000)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_back_as_they_are_written() {
        for ms in [0u64, 951_782_400_000, 1_764_000_000_000, 4_107_542_399_000] {
            assert_eq!(parse_utc(&utc(ms)), Some(ms), "{}", utc(ms));
        }
        assert_eq!(
            parse_utc("2026-11-24T10:00:00Z"),
            parse_utc("2026-11-24 10:00:00 UTC")
        );
        assert_eq!(parse_utc("2000-03-01"), Some(951_868_800_000));
        assert_eq!(parse_utc("1700000000000"), Some(1_700_000_000_000));
        for bad in ["", "yesterday", "2026-13-01", "2026-02-30T25:00:00Z"] {
            assert_eq!(parse_utc(bad), None, "{bad}");
        }
    }

    #[test]
    fn error_codes_are_snake_case() {
        assert_eq!(ErrorCode::StaleEpoch.to_string(), "stale_epoch");
        let j = serde_json::to_string(&ErrorBody {
            code: ErrorCode::MessageTooLarge,
            message: "x".into(),
        })
        .unwrap();
        assert!(j.contains("\"message_too_large\""));
    }

    #[test]
    fn bytes_round_trip_and_reject_bad_base64() {
        let b = Bytes(vec![0, 1, 2, 255]);
        let j = serde_json::to_string(&b).unwrap();
        let back: Bytes = serde_json::from_str(&j).unwrap();
        assert_eq!(b, back);
        assert!(serde_json::from_str::<Bytes>("\"!!!\"").is_err());
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_795_539_139_097), "2026-11-24 16:52:19 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
    }

    #[test]
    fn handles() {
        assert!(valid_handle("alice"));
        assert!(!valid_handle("Al"));
        assert!(!valid_handle("a/b"));
        assert!(!valid_handle("1abc"));
    }
}
