//! Abuse reports: what a device reveals of a chat to report it, what the
//! reporter and the reported person are shown, and what moderators open.

use serde::{Deserialize, Serialize};

use crate::Bytes;

/// Why a message is reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReportReason {
    Spam,
    Harassment,
    Illegal,
    Other,
}

impl ReportReason {
    pub fn name(self) -> &'static str {
        match self {
            ReportReason::Spam => "spam",
            ReportReason::Harassment => "harassment",
            ReportReason::Illegal => "illegal",
            ReportReason::Other => "other",
        }
    }
}

/// How a report names its reporter's own messages, so that moderators do
/// not learn who reported.
pub const REPORTER: &str = "(the reporter)";

/// Most preceding messages a report may carry as context.
pub const MAX_CONTEXT: usize = 20;
/// Longest note a reporter may add.
pub const MAX_NOTE: usize = 1000;

/// One message a device reveals: the body its sender committed to, the
/// franking key from inside the ciphertext, and the commitment and binding
/// that came with it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RevealedMessage {
    #[cfg_attr(feature = "openapi", schema(maximum = 9223372036854775807u64))]
    pub group_seq: u64,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::fields::schemas::handle))]
    pub sender_handle: String,
    /// The node's acceptance time, milliseconds since the epoch.
    #[cfg_attr(feature = "openapi", schema(maximum = 9223372036854775807u64))]
    pub server_time: u64,
    /// The exact committed bytes: JSON of a `ChatContent`.
    pub body: String,
    pub franking_key: Bytes,
    pub commitment: Bytes,
    pub binding: Bytes,
}

/// `POST /v1/reports`: the reported message last, after up to
/// [`MAX_CONTEXT`] preceding messages of the same chat.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReportRequest {
    pub group_id: Bytes,
    pub reason: ReportReason,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::fields::schemas::report_note))]
    pub note: Option<String>,
    pub messages: Vec<RevealedMessage>,
}

/// The state of a report in the moderation queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReportState {
    Open,
    Resolved,
    /// The reported person appealed the outcome; it waits for a moderator
    /// again.
    Appealed,
}

impl ReportState {
    pub fn name(self) -> &'static str {
        match self {
            ReportState::Open => "open",
            ReportState::Resolved => "resolved",
            ReportState::Appealed => "appealed",
        }
    }
    pub fn parse(s: &str) -> Option<ReportState> {
        match s {
            "open" => Some(ReportState::Open),
            "resolved" => Some(ReportState::Resolved),
            "appealed" => Some(ReportState::Appealed),
            _ => None,
        }
    }
}

/// What a moderator does about a report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ModerationAction {
    None,
    Warn,
    /// The person may not send messages until the restriction ends.
    Restrict,
    /// The person's devices may not sign in until the suspension ends.
    Suspend,
}

impl ModerationAction {
    pub fn name(self) -> &'static str {
        match self {
            ModerationAction::None => "none",
            ModerationAction::Warn => "warn",
            ModerationAction::Restrict => "restrict",
            ModerationAction::Suspend => "suspend",
        }
    }
}

/// A moderator's decision on a report.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Outcome {
    pub action: ModerationAction,
    /// Why, in words the reported person is shown.
    pub reason: String,
    pub decided_at: u64,
    /// When a restriction or suspension ends; none for one without end.
    #[serde(default)]
    pub until: Option<u64>,
    /// Whether this decision answered an appeal.
    #[serde(default)]
    pub on_appeal: bool,
}

/// A report as filed, the reporter's own data.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FiledReport {
    pub report_id: String,
    pub created_at: u64,
    pub reason: ReportReason,
    #[serde(default)]
    pub note: Option<String>,
    /// The chat's group id, hex.
    pub chat: String,
    pub reported_handle: String,
    /// The reported message last, after its context.
    pub messages: Vec<ShownMessage>,
    pub state: ReportState,
    #[serde(default)]
    pub outcome: Option<Outcome>,
}

/// A verified message as a report shows it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ShownMessage {
    pub group_seq: u64,
    pub sender_handle: String,
    pub server_time: u64,
    pub text: String,
    /// The file the message carries, as its sender described it (proven
    /// by the message's franking); a moderator opens it with
    /// `GET /staff/v1/reports/{report}/files/{group_seq}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<ShownFile>,
}

/// A file as a report shows it: its description, not its key.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ShownFile {
    pub file_name: String,
    pub media_type: String,
    /// Its size in bytes, before sealing.
    #[cfg_attr(feature = "openapi", schema(maximum = 9223372036854775807u64))]
    pub size: u64,
    /// The SHA-256 of its bytes, which the opened file must match.
    pub sha256: Bytes,
}

impl From<&crate::FileRef> for ShownFile {
    fn from(f: &crate::FileRef) -> Self {
        ShownFile {
            file_name: f.file_name.clone(),
            media_type: f.media_type.clone(),
            size: f.size,
            sha256: f.sha256.clone(),
        }
    }
}

/// A report as the data map lists it: where it is kept, and its state.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HeldReport {
    pub report_id: String,
    pub created_at: u64,
    pub region: String,
    pub state: String,
    /// When it was resolved; it is deleted a retention period later.
    #[serde(default)]
    pub resolved_at: Option<u64>,
}

/// The answer to filing a report.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReportFiled {
    pub report_id: String,
    /// The region whose store keeps it, sealed: the reporter's home.
    pub region: String,
    pub messages: usize,
}

/// What the reported person is told about a decision on one of their
/// messages, kept sealed in their home region.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModerationNotice {
    pub report_id: String,
    pub chat: String,
    pub message: ShownMessage,
    pub report_reason: ReportReason,
    pub outcome: Outcome,
    #[serde(default)]
    pub appeal: Option<Appeal>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Appeal {
    pub at: u64,
    pub note: String,
}

/// `POST /v1/me/moderation/{report}/appeal`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppealRequest {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::fields::schemas::appeal_note))]
    pub note: String,
}

// ---- the staff side ----

/// A report in the queue, as listed: nothing of its content.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QueuedReport {
    pub report_id: String,
    pub region: String,
    pub created_at: u64,
    pub reason: ReportReason,
    pub state: ReportState,
}

/// A report as a moderator opens it. The reporter is not named.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OpenedReport {
    pub report_id: String,
    pub region: String,
    pub created_at: u64,
    pub reason: ReportReason,
    #[serde(default)]
    pub note: Option<String>,
    pub chat: String,
    pub reported_handle: String,
    pub messages: Vec<ShownMessage>,
    pub state: ReportState,
    #[serde(default)]
    pub outcome: Option<Outcome>,
    #[serde(default)]
    pub appeal: Option<Appeal>,
    pub grant_id: String,
}

/// `POST /staff/v1/reports/{id}/resolve`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResolveRequest {
    pub action: ModerationAction,
    /// Why, as the reported person will read it.
    pub reason: String,
    /// For a restriction or suspension: how many days; none for no end.
    #[serde(default)]
    pub days: Option<u32>,
}
