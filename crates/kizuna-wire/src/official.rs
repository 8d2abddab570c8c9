//! Official accounts: a public body (a city, a ministry, a hospital) whose
//! account the operator verified. The organisation says who it is in a
//! claim its own device signs; two of the operator's staff verify it; the
//! verification is an entry of the key log, so every device checks the
//! badge itself and sees a revocation as soon as the log holds it.

use serde::{Deserialize, Serialize};

use crate::Bytes;

/// Domain separation for the signature an official account's device makes
/// over its organisation's claim.
pub const OFFICIAL_CLAIM_CONTEXT: &[u8] = b"kizuna-official-claim-v1";

/// The message an official account's device signs: its claim's exact bytes.
/// The key log carries the signature, so a badge says only what the
/// organisation itself said, under a key the log binds to its account.
pub fn official_claim_signing_input(claim: &[u8]) -> Vec<u8> {
    let mut v = OFFICIAL_CLAIM_CONTEXT.to_vec();
    v.push(0);
    v.extend_from_slice(claim);
    v
}

/// What kind of public body runs an official account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OfficialKind {
    /// A city, town or village.
    Municipality,
    /// A prefecture, province or state.
    Prefecture,
    Ministry,
    /// Another government agency.
    Agency,
    Hospital,
    School,
    /// Water, power, transport.
    Utility,
    Other,
}

impl OfficialKind {
    pub const ALL: [OfficialKind; 8] = [
        OfficialKind::Municipality,
        OfficialKind::Prefecture,
        OfficialKind::Ministry,
        OfficialKind::Agency,
        OfficialKind::Hospital,
        OfficialKind::School,
        OfficialKind::Utility,
        OfficialKind::Other,
    ];

    pub fn name(&self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

impl std::str::FromStr for OfficialKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OfficialKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown kind '{s}'; kinds are {}",
                    OfficialKind::ALL.map(|k| k.name()).join(", ")
                )
            })
    }
}

/// What an organisation says of itself when it applies: who it is, whom
/// it serves, and where it keeps what people send it. Its account's device
/// signs these bytes as they are, and every follower is shown them.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OfficialClaim {
    /// The account's handle.
    pub handle: String,
    /// The account's id: a badge belongs to this account, never to whoever
    /// holds the handle later.
    pub account_id: String,
    /// The organisation's name, as residents know it.
    pub organisation: String,
    pub kind: OfficialKind,
    /// The country it is a public body of (ISO 3166-1 alpha-2).
    pub country: String,
    /// The area it serves (a city, a ward), if not the whole country.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area: Option<String>,
    /// Where it keeps what people send it: on whose machines, and where.
    pub keeps_data: String,
    /// The country those machines are in.
    pub keeps_data_country: String,
    /// Where a person asks it about their data (an address, a page).
    pub contact: String,
    /// When the claim was made (ms).
    pub at: u64,
}

/// An organisation's application for an official account: its claim and
/// its device's signature over [`official_claim_signing_input`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OfficialApplicationRequest {
    /// The JSON of an [`OfficialClaim`], exactly as signed.
    pub claim: Bytes,
    pub signature: Bytes,
}

/// Where an application stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ApplicationState {
    /// Waiting for a member of the operator's staff to check the evidence.
    Submitted,
    /// Checked, with the evidence recorded: waiting for a second person.
    Proposed,
    /// Verified: the badge is in the key log.
    Verified,
    Rejected,
    /// Verified once, then revoked.
    Revoked,
    /// Another application of the same account was verified, or the account
    /// is gone.
    Withdrawn,
}

impl ApplicationState {
    pub fn name(&self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

/// An application as its organisation sees it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OfficialApplication {
    pub application_id: String,
    pub claim: OfficialClaim,
    pub state: ApplicationState,
    pub submitted_at: u64,
    /// When it was last decided (verified, rejected, revoked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<u64>,
    /// Why it was rejected or revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The key-log entry of its verification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_entry: Option<u64>,
}

/// What the operator recorded when it verified an account, as the key log
/// carries it: the organisation's claim as its device signed it, and where
/// the two people's steps are in the ledger.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Verification {
    /// The JSON of the [`OfficialClaim`], exactly as the device signed it.
    pub claim: String,
    pub application_id: String,
    /// SHA-256 of the evidence the first person recorded, hex: the text
    /// stays in the staff realm's events, and the audit holds one to the
    /// other.
    pub evidence: String,
    /// The ledger index of the first person's step (the evidence checked).
    pub proposed: u64,
    /// The ledger index of the second person's approval.
    pub approved: u64,
}

/// Following an official account: the one-to-one chat the follower opened
/// with it, where what they tell it is end-to-end encrypted.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FollowRequest {
    pub group_id: Bytes,
}

/// An official account I follow, as my data map names it: who runs it,
/// and where that organisation keeps what I send it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FollowedAccount {
    pub handle: String,
    /// Its badge's claim; none when the badge was revoked since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<OfficialClaim>,
    /// Since when I follow it (ms).
    pub since: u64,
    /// The chat I follow it through.
    pub group_id: Bytes,
}

/// Most buttons on a card, and most fields in its form.
pub const MAX_CHOICES: usize = 20;

/// One choice a card offers: a button, a quick reply, an option of a field.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Choice {
    /// What the answer carries back (a slot's id, "yes").
    pub id: String,
    /// What the person reads on it.
    pub label: String,
}

/// What a form's field takes.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    /// One of the field's options.
    Choice,
    /// A date, `YYYY-MM-DD`.
    Date,
    /// A line of text.
    Text,
}

/// One field of a simple form.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct FormField {
    pub id: String,
    pub label: String,
    pub kind: FieldKind,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<Choice>,
}

/// What a follower asks of an official account, in its own words and in a
/// form its daemon reads.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum FollowerRequest {
    /// Erase what I sent you.
    Erasure,
    /// Send me the notices of these segments (a ward, an age group), and no
    /// others.
    Segments { segments: Vec<String> },
}

/// The structure of a message between an official account and a follower,
/// beside its text. It travels inside the MLS ciphertext like any text:
/// the node never sees it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Structured {
    /// Buttons (or quick replies) to choose one of, or a simple form.
    Card {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        buttons: Vec<Choice>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        fields: Vec<FormField>,
    },
    /// The answer to the card numbered `to` in the chat: the button chosen,
    /// or the form's values by field id.
    Answer {
        to: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        choice: Option<String>,
        #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
        values: std::collections::BTreeMap<String, String>,
    },
    Request(FollowerRequest),
}

impl Structured {
    /// The structure a committed message body carries, if any.
    pub fn in_body(body: &str) -> Option<Structured> {
        match serde_json::from_str::<crate::ChatContent>(body) {
            Ok(crate::ChatContent::Structured { structured, .. }) => Some(structured),
            _ => None,
        }
    }
}

/// Domain separation for an official account's signature over an
/// announcement.
pub const ANNOUNCE_CONTEXT: &[u8] = b"kizuna-announce-v1";

/// The message an official account's device signs to announce: the
/// announcement's exact bytes. Followers' devices check it against the
/// key log, so the node can neither forge an announcement nor alter one.
pub fn announce_signing_input(announcement: &[u8]) -> Vec<u8> {
    let mut v = ANNOUNCE_CONTEXT.to_vec();
    v.push(0);
    v.extend_from_slice(announcement);
    v
}

/// Longest announcement, in characters.
pub const MAX_ANNOUNCEMENT: usize = 4000;

/// How urgent an announcement is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    /// A disaster warning: shown before anything else.
    Emergency,
}

impl std::str::FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "info" => Ok(Severity::Info),
            "warning" => Ok(Severity::Warning),
            "emergency" => Ok(Severity::Emergency),
            _ => Err(format!(
                "unknown severity '{s}'; it is info, warning or emergency"
            )),
        }
    }
}

/// A public notice of an official account to every follower, as its
/// device signs it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Announcement {
    pub handle: String,
    pub account_id: String,
    /// Chosen by the device (1 to 64 letters, digits, `_`, `.`, `-`), so a
    /// repeat is told from a new one.
    pub id: String,
    /// When it was made (ms).
    pub at: u64,
    pub severity: Severity,
    pub text: String,
}

/// An announcement to post: its bytes (the JSON of an [`Announcement`],
/// exactly as signed) and the device's signature over
/// [`announce_signing_input`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AnnouncementRequest {
    pub announcement: Bytes,
    pub signature: Bytes,
}

/// An announcement the node keeps: where it is in the node's order.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AnnouncementAccepted {
    pub pos: u64,
    pub at: u64,
}

/// An announcement as followers' devices receive it: what its device
/// signed, which device, and where it is in the node's order.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignedAnnouncement {
    pub pos: u64,
    pub handle: String,
    pub device_id: String,
    pub announcement: Bytes,
    pub signature: Bytes,
}

/// Announcements of the accounts I follow, after a position, oldest first.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AnnouncementPage {
    pub announcements: Vec<SignedAnnouncement>,
}
