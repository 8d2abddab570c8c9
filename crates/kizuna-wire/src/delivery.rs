//! Groups and delivery: creating a group, its commits, proposals and messages,
//! what a device receives, and what an application message carries inside.

use serde::{Deserialize, Serialize};

use crate::{Bytes, ErrorBody};

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
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::fields::schemas::device_ids))]
    pub added_devices: Vec<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::fields::schemas::device_ids))]
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
    /// The files (uploaded by this device to this chat) the message
    /// carries: from now on the chat's present devices may fetch them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
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
    /// The position of the newest announcement of the accounts this
    /// person follows (0: none): a device whose announcements cursor is
    /// behind it reads `GET /v1/announcements`, and no other asks.
    #[serde(default)]
    pub announcements_to: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AckRequest {
    #[cfg_attr(feature = "openapi", schema(maximum = 9223372036854775807u64))]
    pub up_to: u64,
}

/// Frames a client sends on the WebSocket.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    Ack {
        #[cfg_attr(feature = "openapi", schema(maximum = 9223372036854775807u64))]
        up_to: u64,
    },
}

/// Frames the server sends on the WebSocket.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    Envelope(Envelope),
    KeyPackagesLow,
    /// An account this device's person follows announced something: read
    /// `GET /v1/announcements` after the last one this device has.
    Announcements,
    Error(ErrorBody),
}

/// What travels inside an MLS application message. The server never sees it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum ChatContent {
    Text {
        text: String,
        /// The sender's display name as they chose it, so that people see
        /// a name, never learned by the node.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    ChatName {
        name: String,
    },
    /// Text with a structure: a card with buttons or a form, an answer to
    /// one, or a follower's request to an official account.
    Structured {
        text: String,
        structured: crate::Structured,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// A file, sealed with its own key, fetched from the node by id.
    File {
        file: crate::FileRef,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        caption: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
}

/// The plaintext of an MLS application message: the content as the sender
/// committed to it (JSON of a [`ChatContent`]), and the franking key that
/// opens the commitment. Only a recipient who reports it reveals either.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FrankedContent {
    pub body: String,
    pub franking_key: Bytes,
}
