//! Devices that end: a device its owner revoked (a lost phone), or every
//! device of an erased account. The node — the one external sender every
//! group names — proposes the removal of each such device from each group
//! it is in, signed with its delivery key, and routes nothing more to it;
//! members check the signature, are told why, and the next one to act
//! commits the removal. Then the device itself goes: its key packages, its
//! queue, its tokens and its open connections, at once.

use std::collections::{BTreeSet, HashSet};
use std::sync::RwLock;

use kizuna_store::{MessageKind, NodeProposal, Store, Submission};
use kizuna_wire::{credential_identity, now_ms, Bytes, DeliveryService, KeyChange};
use openmls::prelude::{BasicCredential, ExternalSender, SignatureScheme};
use openmls_basic_credential::SignatureKeyPair;

use crate::error::NodeError;
use crate::key_log::LoggedDevice;
use crate::node::Node;
use crate::roster::{self, PublicState};

/// The node's identity as the groups' external sender.
pub const NODE_IDENTITY: &str = "kizuna-node";

/// How often a group's proposals are made again when a commit keeps
/// winning the epoch first.
const ATTEMPTS: usize = 8;

/// The key the node signs its own proposals with (`keys/delivery.key`), a
/// key of its own so that neither realm's token key can speak for it.
pub struct DeliveryKey {
    signer: SignatureKeyPair,
}

impl DeliveryKey {
    pub fn from_seed(seed: [u8; 32]) -> DeliveryKey {
        let public = ed25519_dalek::SigningKey::from_bytes(&seed)
            .verifying_key()
            .to_bytes()
            .to_vec();
        DeliveryKey {
            signer: SignatureKeyPair::from_raw(SignatureScheme::ED25519, seed.to_vec(), public),
        }
    }

    /// What every new group must name as its one external sender.
    pub fn external_sender(&self) -> ExternalSender {
        ExternalSender::new(
            self.signer.public().into(),
            BasicCredential::new(NODE_IDENTITY.as_bytes().to_vec()).into(),
        )
    }

    pub fn view(&self) -> DeliveryService {
        DeliveryService {
            signature_key: Bytes(self.signer.public().to_vec()),
            identity: NODE_IDENTITY.to_string(),
        }
    }
}

/// Why devices end.
#[derive(Clone, Copy, Debug)]
pub enum Why {
    Revoked,
    Erased,
}

/// Devices that ended in this process; with the store, what the
/// authentication of every request checks.
#[derive(Default)]
pub struct Ended {
    gone: RwLock<HashSet<String>>,
    live: RwLock<HashSet<String>>,
}

/// Devices known to exist kept in memory before the set starts over.
const LIVE_CACHE: usize = 1_000_000;

impl Ended {
    /// Whether a device with a valid token still exists: a revoked device's
    /// tokens end at once, not when they expire.
    pub async fn is_live(&self, store: &dyn Store, device: &str) -> Result<bool, NodeError> {
        if self
            .gone
            .read()
            .map(|g| g.contains(device))
            .unwrap_or(false)
        {
            return Ok(false);
        }
        if self
            .live
            .read()
            .map(|l| l.contains(device))
            .unwrap_or(false)
        {
            return Ok(true);
        }
        let exists = store.device(device).await?.is_some();
        if exists {
            if let Ok(mut l) = self.live.write() {
                if l.len() > LIVE_CACHE {
                    l.clear();
                }
                l.insert(device.to_string());
            }
        }
        Ok(exists)
    }

    /// Forgets which devices were seen to exist: another node may have
    /// ended some while this one could not hear of it.
    pub(crate) fn forget_live(&self) {
        if let Ok(mut l) = self.live.write() {
            l.clear();
        }
    }

    pub(crate) fn end(&self, device: &str) {
        if let Ok(mut l) = self.live.write() {
            l.remove(device);
        }
        if let Ok(mut g) = self.gone.write() {
            g.insert(device.to_string());
        }
    }
}

impl Node {
    /// Takes `devices` of `handle` out of every group they are in, then
    /// removes them. Safe to repeat: a device already out of a group's routing
    /// is not proposed again.
    pub async fn end_devices(
        &self,
        handle: &str,
        devices: &[String],
        why: Why,
    ) -> Result<(), NodeError> {
        let identities: Vec<Vec<u8>> = devices
            .iter()
            .map(|d| credential_identity(handle, d).into_bytes())
            .collect();
        let mut groups = BTreeSet::new();
        for d in devices {
            groups.extend(self.store.groups_of(d).await?);
        }
        for group in groups {
            self.propose_removals(&group, handle, devices, &identities, why)
                .await?;
        }
        for d in devices {
            // Its key may no longer be handed out once this is logged.
            if let Some(device) = self.store.device(d).await? {
                self.log_key_change(
                    KeyChange::DeviceRemoved,
                    handle,
                    &device.account_id,
                    Some(LoggedDevice {
                        id: d,
                        key: &device.signature_key,
                        endorsed_by: None,
                        signature: None,
                    }),
                )
                .await?;
            }
            self.ended.end(d);
            self.hub.drop_device(d);
            self.store.delete_device(d).await?;
            self.announce(crate::cluster::Notice::DeviceEnded { device: d.clone() });
        }
        Ok(())
    }

    async fn propose_removals(
        &self,
        group: &[u8],
        handle: &str,
        devices: &[String],
        identities: &[Vec<u8>],
        why: Why,
    ) -> Result<(), NodeError> {
        let kind = match why {
            Why::Revoked => MessageKind::Revocation,
            Why::Erased => MessageKind::Erasure,
        };
        'attempt: for _ in 0..ATTEMPTS {
            // A group from before the node kept views has no external sender:
            // the device leaves its routing when it is removed, nothing more.
            let Some(state) = self.store.group_state(group).await? else {
                return Ok(());
            };
            let (epoch, proposals) = roster::propose_removals(
                group,
                &PublicState(state),
                identities,
                &self.delivery_key.signer,
            )?;
            let last = proposals.len();
            for (i, (proposal, state)) in proposals.into_iter().enumerate() {
                let accepted = self
                    .sequencer
                    .submit(
                        Submission::Proposal {
                            group_id: group.to_vec(),
                            sender_device: devices.first().cloned().unwrap_or_default(),
                            epoch,
                            proposal,
                            server_time: now_ms(),
                            state: state.0,
                            // Routing ends with the last of them, so every
                            // proposal reaches the members first.
                            by_node: Some(NodeProposal {
                                kind,
                                removes: if i + 1 == last {
                                    devices.to_vec()
                                } else {
                                    Vec::new()
                                },
                            }),
                        },
                        handle.to_string(),
                    )
                    .await?;
                match accepted {
                    Ok(_) => {}
                    Err(kizuna_store::Rejection::StaleEpoch { .. }) => continue 'attempt,
                    Err(r) => return Err(r.into()),
                }
            }
            return Ok(());
        }
        Err(NodeError::conflict(
            kizuna_wire::ErrorCode::StaleEpoch,
            "the group kept changing while its members were told; try again",
        ))
    }
}
