//! Groups and delivery: starting a group, committing and proposing changes
//! to it (each checked against its public state), sending application
//! messages (franked), and each device's inbox. Everything a group receives
//! goes through the sequencer, which orders it and makes it durable before
//! anyone is answered.

use kizuna_store::{StoreError, Submission};
use kizuna_wire::{
    now_ms, Bytes, CommitAccepted, CommitRequest, Envelope, ErrorCode, Franking, GroupView,
    SendAccepted, SendRequest, CLIENT_ID_BYTES,
};

use crate::auth::DeviceIdentity;
use crate::commits;
use crate::delivery::envelope_kind;
use crate::error::NodeError;
use crate::framing;
use crate::node::Node;

/// Most bytes of a group id.
const MAX_GROUP_ID: usize = 64;

impl Node {
    /// Starts a group of one device from the group info it published. A
    /// restricted account starts no chats.
    pub async fn create_group(
        &self,
        me: &DeviceIdentity,
        group_id: Vec<u8>,
        group_info: &[u8],
    ) -> Result<GroupView, NodeError> {
        self.sanctions.check_send(&me.account_id)?;
        if group_id.is_empty() || group_id.len() > MAX_GROUP_ID {
            return Err(NodeError::invalid(
                ErrorCode::BadRequest,
                "the group id must be 1 to 64 bytes",
            ));
        }
        let handle = self.sender_handle(me).await?;
        let state = commits::start(
            &*self.store,
            &group_id,
            me,
            &handle,
            group_info,
            &self.delivery_key.external_sender(),
        )
        .await?;
        match self
            .store
            .create_group(&group_id, &me.device_id, now_ms(), state)
            .await
        {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                return Err(NodeError::conflict(
                    ErrorCode::GroupExists,
                    "a group with this id exists; pick a fresh random id",
                ))
            }
            Err(e) => return Err(e.into()),
        }
        Ok(GroupView {
            group_id: Bytes(group_id),
            epoch: 0,
            members: vec![me.device_id.clone()],
        })
    }

    /// A group's epoch and member devices, for its members only.
    pub async fn group(
        &self,
        me: &DeviceIdentity,
        group_id: &[u8],
    ) -> Result<GroupView, NodeError> {
        let g = self.store.group(group_id).await?.ok_or_else(|| {
            NodeError::not_found(ErrorCode::UnknownGroup, "no such group on this server")
        })?;
        if !g.members.contains(&me.device_id) {
            return Err(NodeError::forbidden(
                ErrorCode::NotMember,
                "this device is not a member of the group",
            ));
        }
        Ok(GroupView {
            group_id: Bytes(g.group_id),
            epoch: g.epoch,
            members: g.members,
        })
    }

    /// A commit (with its Welcome when it adds devices): who it adds and
    /// removes is derived from the commit itself, never taken from the
    /// request, and it wins its epoch or is refused as stale.
    pub async fn commit(
        &self,
        me: &DeviceIdentity,
        group_id: Vec<u8>,
        req: CommitRequest,
    ) -> Result<CommitAccepted, NodeError> {
        self.sanctions.check_send(&me.account_id)?;
        let size = req.commit.0.len() + req.welcome.as_ref().map_or(0, |w| w.0.len());
        if size > self.limits.max_handshake_bytes {
            return Err(NodeError::too_large(format!(
                "commit and Welcome together may be at most {} bytes",
                self.limits.max_handshake_bytes
            )));
        }
        framing::commit(&req.commit.0, &group_id)
            .map_err(|e| NodeError::invalid(ErrorCode::InvalidMessage, e.to_string()))?;
        let handle = self.sender_handle(me).await?;
        let derived = commits::derive(
            &*self.store,
            &group_id,
            me,
            &handle,
            &req.commit.0,
            &req.added_devices,
            &req.removed_devices,
        )
        .await?;
        self.check_invitation(&me.account_id, &derived.joining)
            .await?;
        if !derived.added.is_empty() {
            // Adding a third person to a one-to-one chat whose other person
            // blocked the committer would let them speak there again.
            self.check_message(&group_id, &me.account_id).await?;
        }
        match (&req.welcome, derived.added.is_empty()) {
            (Some(w), false) => framing::welcome(&w.0)
                .map_err(|e| NodeError::invalid(ErrorCode::InvalidMessage, e.to_string()))?,
            (None, true) => {}
            (Some(_), true) => {
                return Err(commits::invalid(
                    "a Welcome came with a commit that adds nobody",
                ))
            }
            (None, false) => {
                return Err(commits::invalid(
                    "the commit adds devices but no Welcome came for them",
                ))
            }
        }
        let now = now_ms();
        let accepted = self
            .sequencer
            .submit(
                Submission::Commit {
                    group_id,
                    sender_device: me.device_id.clone(),
                    epoch: derived.epoch,
                    commit: req.commit.0,
                    welcome: req.welcome.map(|w| w.0),
                    added: derived.added,
                    removed: derived.removed,
                    server_time: now,
                    max_members: self.limits.max_group_devices,
                    state: derived.state,
                },
                handle,
            )
            .await??;
        Ok(CommitAccepted {
            epoch: accepted.epoch,
            group_seq: accepted.group_seq,
            server_time: now,
        })
    }

    /// A member's proposal to leave the group, which the next commit by
    /// another member carries out.
    pub async fn propose(
        &self,
        me: &DeviceIdentity,
        group_id: Vec<u8>,
        proposal: Vec<u8>,
    ) -> Result<CommitAccepted, NodeError> {
        if proposal.len() > self.limits.max_handshake_bytes {
            return Err(NodeError::too_large(format!(
                "a proposal may be at most {} bytes",
                self.limits.max_handshake_bytes
            )));
        }
        let handle = self.sender_handle(me).await?;
        let (epoch, state) =
            commits::departure(&*self.store, &group_id, me, &handle, &proposal).await?;
        let now = now_ms();
        let accepted = self
            .sequencer
            .submit(
                Submission::Proposal {
                    group_id,
                    sender_device: me.device_id.clone(),
                    epoch,
                    proposal,
                    server_time: now,
                    state,
                    by_node: None,
                },
                handle,
            )
            .await??;
        Ok(CommitAccepted {
            epoch: accepted.epoch,
            group_seq: accepted.group_seq,
            server_time: now,
        })
    }

    /// An application message: the node binds its franking commitment to
    /// the sender, chat and time, so a report of it can be verified later.
    /// A retry with the same client id is answered with the first attempt's
    /// time and binding, and stored once.
    pub async fn send(
        &self,
        me: &DeviceIdentity,
        group_id: Vec<u8>,
        req: SendRequest,
    ) -> Result<SendAccepted, NodeError> {
        if req.message.0.len() > self.limits.max_message_bytes {
            return Err(NodeError::too_large(format!(
                "a message may be at most {} bytes of ciphertext",
                self.limits.max_message_bytes
            )));
        }
        let framing = framing::application(&req.message.0, &group_id)
            .map_err(|e| NodeError::invalid(ErrorCode::InvalidMessage, e.to_string()))?;
        let commitment = req
            .commitment
            .as_ref()
            .and_then(|c| <[u8; 32]>::try_from(c.0.as_slice()).ok())
            .map(kizuna_franking::Commitment)
            .ok_or_else(|| {
                NodeError::invalid(
                    ErrorCode::InvalidMessage,
                    "an application message must carry its 32-byte franking commitment",
                )
            })?;
        if let Some(id) = &req.client_id {
            if !CLIENT_ID_BYTES.contains(&id.0.len()) {
                return Err(NodeError::invalid(
                    ErrorCode::BadRequest,
                    format!(
                        "client_id must be {} to {} bytes",
                        CLIENT_ID_BYTES.start(),
                        CLIENT_ID_BYTES.end()
                    ),
                ));
            }
        }
        self.sanctions.check_send(&me.account_id)?;
        self.check_message(&group_id, &me.account_id).await?;
        self.attach_files(me, &group_id, &req.files).await?;
        let now = now_ms();
        let handle = self.sender_handle(me).await?;
        let binding = kizuna_franking::bind(
            &self.franking_key,
            &commitment,
            &kizuna_franking::Envelope {
                chat: &group_id,
                sender: &handle,
                time_ms: now,
            },
        );
        let mut franking = [0u8; 64];
        franking[..32].copy_from_slice(&commitment.0);
        franking[32..].copy_from_slice(&binding.0);
        let accepted = self
            .sequencer
            .submit(
                kizuna_store::Submission::Application {
                    group_id,
                    sender_device: me.device_id.clone(),
                    epoch: framing.epoch,
                    payload: req.message.0,
                    server_time: now,
                    franking: Some(franking),
                    client_id: req.client_id.map(|b| b.0),
                },
                handle,
            )
            .await??;
        // A retry carries the first attempt's time and binding.
        Ok(SendAccepted {
            group_seq: accepted.group_seq,
            server_time: accepted.server_time,
            binding: Some(Bytes(accepted.franking.unwrap_or(franking)[32..].to_vec())),
        })
    }

    /// Up to `limit` entries of a device's queue after position `after`.
    pub async fn inbox(
        &self,
        device_id: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<Envelope>, NodeError> {
        let entries = self.store.inbox(device_id, after, limit).await?;
        Ok(entries
            .into_iter()
            .map(|e| Envelope {
                seq: e.seq,
                kind: envelope_kind(e.kind),
                group_id: Bytes(e.group_id),
                group_seq: e.group_seq,
                sender_handle: e.sender_handle,
                sender_device: e.sender_device,
                server_time: e.server_time,
                payload: Bytes(e.payload),
                franking: e.franking.as_ref().map(Franking::from_stored),
            })
            .collect())
    }

    /// Releases a device's queue up to `up_to`, which it has stored.
    pub async fn ack(&self, me: &DeviceIdentity, up_to: u64) -> Result<(), NodeError> {
        kizuna_wire::fields::check_stored("up_to", up_to)?;
        Ok(self.sequencer.ack(me.device_id.clone(), up_to).await?)
    }
}
