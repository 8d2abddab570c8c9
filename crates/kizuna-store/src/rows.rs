//! What the node store keeps, row by row: the plain data its methods take
//! and answer, apart from the `Store` trait that names the methods.

#[derive(Clone, Debug)]
pub struct Account {
    pub account_id: String,
    pub handle: String,
    pub region: String,
    pub created_at: u64,
}

#[derive(Clone, Debug)]
pub struct Device {
    pub device_id: String,
    pub account_id: String,
    pub handle: String,
    pub signature_key: Vec<u8>,
    pub label: String,
}

/// An account and its first device. Personal fields are not here: they live
/// sealed in the person's home region (see `RegionStore`).
#[derive(Clone, Debug)]
pub struct NewAccount {
    pub account: Account,
    pub device: Device,
}

/// A person following an official account: what the node needs to bring
/// them the account's announcements, and to tell them whom they follow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Follow {
    pub official_id: String,
    pub follower_id: String,
    /// The one-to-one chat the follower opened with the account.
    pub group_id: Vec<u8>,
    pub since: u64,
}

/// An official account's announcement as the node keeps it: signed bytes
/// it cannot alter, at a position in the node's order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredAnnouncement {
    pub pos: u64,
    pub official_id: String,
    pub device_id: String,
    pub body: Vec<u8>,
    pub signature: Vec<u8>,
    pub at: u64,
}

/// An entry of the key log as the node store keeps it: public, so kept in
/// the clear, beside its leaf.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyLogRow {
    pub leaf: Vec<u8>,
    /// Its ledger index; none while its append is under way, or after a
    /// crash stopped it there.
    pub idx: Option<u64>,
    /// The ledger's size when it was written.
    pub after: u64,
    pub at: u64,
    pub handle: String,
    pub account_id: String,
    /// The entry's bytes, as hashed into its leaf.
    pub entry: Vec<u8>,
}

/// A profile kept in the node store by an earlier version, before profiles
/// moved to the person's home region.
#[derive(Clone, Debug)]
pub struct LegacyProfile {
    pub account_id: String,
    pub region: String,
    pub blob: Vec<u8>,
}

#[derive(Clone, Debug)]
pub struct Group {
    pub group_id: Vec<u8>,
    pub epoch: u64,
    pub members: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageKind {
    Welcome = 0,
    Commit = 1,
    Application = 2,
    Proposal = 3,
    /// The node's proposal to remove a device its owner revoked.
    Revocation = 4,
    /// The node's proposal to remove a device of an erased account.
    Erasure = 5,
}

impl MessageKind {
    pub(crate) fn from_i64(v: i64) -> Option<Self> {
        match v {
            0 => Some(MessageKind::Welcome),
            1 => Some(MessageKind::Commit),
            2 => Some(MessageKind::Application),
            3 => Some(MessageKind::Proposal),
            4 => Some(MessageKind::Revocation),
            5 => Some(MessageKind::Erasure),
            _ => None,
        }
    }
}

/// What a moderator's decision keeps an account from doing, until when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sanction {
    /// Only sending is refused (otherwise the account may not sign in).
    pub sending_only: bool,
    /// Milliseconds since the epoch; none for no end.
    pub until: Option<u64>,
}

/// The agreement under which the foreign countries of an account's home
/// region may reach its data: which region's disclosures, in which
/// version. What was agreed, and when, is the person's data, sealed in
/// that region; this is only what the node enforces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StandingAgreement {
    pub region: String,
    pub version: String,
}

/// A file someone sends, as the node routes it: sealed bytes it cannot
/// open, kept in `region`'s file store, fetched part by part by the
/// devices that were in the chat when it was sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredFile {
    pub file_id: String,
    pub group_id: Vec<u8>,
    /// Who sent it, and from which device it was uploaded.
    pub account_id: String,
    pub device_id: String,
    /// The region whose file store keeps it: the sender's home.
    pub region: String,
    /// Its sealed size in bytes.
    pub size: u64,
    pub parts: u32,
    /// Parts kept so far, from the first on.
    pub received: u32,
    /// Parts kept past the first missing one, so a device may have
    /// several in flight: bit `i` is part `received + 1 + i`.
    pub ahead: u64,
    pub created_at: u64,
    /// When a message carrying it went out; none while unsent.
    pub sent_at: Option<u64>,
}

/// How far past the first part it lacks a file's record remembers parts
/// kept (the width of [`StoredFile::ahead`]).
pub const PARTS_AHEAD: u32 = 63;

impl StoredFile {
    /// Whether part `n` is kept.
    pub fn has_part(&self, n: u32) -> bool {
        n < self.received
            || (n > self.received
                && n - self.received <= PARTS_AHEAD
                && self.ahead & (1 << (n - self.received - 1)) != 0)
    }

    /// Records part `n` as kept: when it is the first missing one, the
    /// count moves past it and every part kept after it. A part further
    /// ahead than [`PARTS_AHEAD`], or past the last, is not recorded.
    pub fn part_kept(&mut self, n: u32) {
        if n >= self.parts || n < self.received {
            return;
        }
        let offset = n - self.received;
        if offset > PARTS_AHEAD {
            return;
        }
        if offset > 0 {
            self.ahead |= 1 << (offset - 1);
            return;
        }
        self.received += 1;
        while self.ahead & 1 != 0 {
            self.ahead >>= 1;
            self.received += 1;
        }
        self.ahead >>= 1;
    }
}

/// What became of files named by a message about to be sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileAttach {
    /// Each is now sent, readable by the group's present devices.
    Attached,
    Unknown(String),
    /// Uploaded by another device, or for another chat.
    NotYours(String),
    /// Not every part has arrived.
    Incomplete(String),
}

/// An application message's franking commitment (32 bytes) followed by the
/// node's binding of it (32 bytes): opaque here, kept with the message.
pub type Franking = [u8; 64];

/// One write to a group's total order.
#[derive(Clone, Debug)]
pub enum Submission {
    Application {
        group_id: Vec<u8>,
        sender_device: String,
        epoch: u64,
        payload: Vec<u8>,
        server_time: u64,
        /// The sender's franking commitment and the node's binding of it,
        /// delivered with the message.
        franking: Option<Franking>,
        /// The id the sending device chose for this message. A submission
        /// with the id of the device's last accepted message is a retry:
        /// it is answered as the first was and nothing is written.
        client_id: Option<Vec<u8>>,
    },
    Commit {
        group_id: Vec<u8>,
        sender_device: String,
        epoch: u64,
        commit: Vec<u8>,
        welcome: Option<Vec<u8>>,
        added: Vec<String>,
        removed: Vec<String>,
        server_time: u64,
        max_members: usize,
        /// The group's public state after the commit, kept with it.
        state: Vec<u8>,
    },
    /// A proposal the next commit must carry out (a member's departure);
    /// the epoch stays.
    Proposal {
        group_id: Vec<u8>,
        sender_device: String,
        epoch: u64,
        proposal: Vec<u8>,
        server_time: u64,
        /// The group's public state with the proposal waiting in it.
        state: Vec<u8>,
        /// Set for the node's own proposal, which no member sent.
        by_node: Option<NodeProposal>,
    },
}

/// A proposal the node makes itself: why, and the devices whose routing
/// ends with it (they receive nothing from then on).
#[derive(Clone, Debug)]
pub struct NodeProposal {
    /// `Revocation` or `Erasure`.
    pub kind: MessageKind,
    pub removes: Vec<String>,
}

/// Why a submission was refused; nothing of it was written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("unknown group")]
    UnknownGroup,
    #[error("the sender is not a member of this group")]
    NotMember,
    #[error("the group is at epoch {current}, the message is for epoch {sent}")]
    StaleEpoch { current: u64, sent: u64 },
    #[error("device {0} is already a member")]
    AlreadyMember(String),
    #[error("device {0} is not a member")]
    NotAMember(String),
    #[error("unknown device {0}")]
    UnknownDevice(String),
    #[error("the group would have {0} member devices, more than the limit")]
    GroupTooLarge(usize),
}

/// A message a submission wrote, for one recipient device, ready to be pushed
/// to it while it is connected.
#[derive(Clone, Debug)]
pub struct QueuedEntry {
    pub device_id: String,
    /// The message's position in the node's log: increasing for every
    /// device, not contiguous.
    pub seq: u64,
    pub kind: MessageKind,
    pub group_id: Vec<u8>,
    pub group_seq: u64,
    pub sender_device: String,
    pub server_time: u64,
    pub payload: std::sync::Arc<Vec<u8>>,
    pub franking: Option<Franking>,
}

#[derive(Clone, Debug)]
pub struct Accepted {
    /// Group sequence of the (first) message written.
    pub group_seq: u64,
    /// The group's epoch after this submission.
    pub epoch: u64,
    /// When the message was accepted: for a retry, when the first was.
    pub server_time: u64,
    /// The franking the message was accepted with: for a retry, the first's.
    pub franking: Option<Franking>,
    /// Entries to push to live connections; none for a retry.
    pub queued: Vec<QueuedEntry>,
}

/// A device has every message up to position `up_to`.
#[derive(Clone, Debug)]
pub struct Ack {
    pub device_id: String,
    pub up_to: u64,
}

/// A stored message for one device, with its sender's handle.
#[derive(Clone, Debug)]
pub struct InboxEntry {
    pub seq: u64,
    pub kind: MessageKind,
    pub group_id: Vec<u8>,
    pub group_seq: u64,
    pub sender_device: String,
    pub sender_handle: String,
    pub server_time: u64,
    pub payload: Vec<u8>,
    pub franking: Option<Franking>,
}

#[derive(Clone, Debug)]
pub struct PendingLink {
    pub link_id: String,
    pub account_id: String,
    pub signature_key: Vec<u8>,
    pub label: String,
    pub key_packages: Vec<Vec<u8>>,
    pub last_resort: Vec<u8>,
    pub approved_device: Option<String>,
    pub created_at: u64,
}

#[derive(Clone, Copy, Debug)]
pub struct KeyPackageCount {
    pub one_time: u32,
    pub last_resort: bool,
}
