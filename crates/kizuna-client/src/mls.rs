//! The MLS side of a device, kept free of I/O: identities, key packages,
//! commits and the processing of queued entries.

use kizuna_wire::*;
use openmls::prelude::tls_codec::Deserialize;
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;
use openmls_traits::signatures::Signer;
use openmls_traits::OpenMlsProvider;
use rand::RngCore;

use crate::error::{ClientError, Result};
use crate::{mls_err, Event, Identity, StoredMessage, Unopened};

mod franking;
mod incoming;

pub use franking::franked;
use franking::unpack;
pub use incoming::{apply, epoch_of, open_application, MemberKey};

pub const CIPHERSUITE: Ciphersuite = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;

pub fn new_signer() -> Result<SignatureKeyPair> {
    SignatureKeyPair::new(CIPHERSUITE.signature_algorithm()).map_err(mls_err)
}

pub fn sign(signer: &SignatureKeyPair, msg: &[u8]) -> Result<Vec<u8>> {
    signer
        .sign(msg)
        .map_err(|e| ClientError::Mls(format!("{e:?}")))
}

pub fn credential(id: &Identity, signer: &SignatureKeyPair) -> CredentialWithKey {
    CredentialWithKey {
        credential: BasicCredential::new(
            credential_identity(&id.handle, &id.device_id).into_bytes(),
        )
        .into(),
        signature_key: signer.public().into(),
    }
}

/// Past epochs whose secrets a device keeps. A device processes everything
/// waiting for a group before it commits, but a message sent at the same
/// moment is ordered before the commit and arrives after it: with these
/// secrets it still opens, up to this many membership changes later.
pub const PAST_EPOCHS: usize = 8;

// Handshake messages go as PublicMessages, so the node can check every
// commit against the group's public state; application messages are always
// encrypted.
// The node is the group's one external sender: it may propose removing a
// revoked device or an erased account's devices, nothing else.
fn create_config(node: &DeliveryService) -> Result<MlsGroupCreateConfig> {
    let sender = ExternalSender::new(
        node.signature_key.0.clone().into(),
        BasicCredential::new(node.identity.as_bytes().to_vec()).into(),
    );
    Ok(MlsGroupCreateConfig::builder()
        .ciphersuite(CIPHERSUITE)
        .use_ratchet_tree_extension(true)
        .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .max_past_epochs(PAST_EPOCHS)
        .with_group_context_extensions(
            Extensions::single(Extension::ExternalSenders(vec![sender])).map_err(mls_err)?,
        )
        .build())
}

fn join_config() -> MlsGroupJoinConfig {
    MlsGroupJoinConfig::builder()
        .use_ratchet_tree_extension(true)
        .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .max_past_epochs(PAST_EPOCHS)
        .build()
}

/// Loads a group, bringing a group stored by an earlier version, which kept
/// no past epochs, up to today's configuration.
pub fn load_group(provider: &OpenMlsRustCrypto, group_id: &[u8]) -> Result<Option<MlsGroup>> {
    let Some(mut group) =
        MlsGroup::load(provider.storage(), &GroupId::from_slice(group_id)).map_err(mls_err)?
    else {
        return Ok(None);
    };
    // Written only where it differs: the store keeps what changed.
    group
        .set_configuration(provider.storage(), &join_config())
        .map_err(mls_err)?;
    Ok(Some(group))
}

pub fn key_package(
    provider: &OpenMlsRustCrypto,
    signer: &SignatureKeyPair,
    cwk: CredentialWithKey,
    last_resort: bool,
) -> Result<Vec<u8>> {
    // Every package declares it understands the last-resort extension, so the
    // last-resort one is valid and all of them look alike.
    let mut b = KeyPackage::builder().leaf_node_capabilities(
        Capabilities::builder()
            .extensions(vec![ExtensionType::LastResort])
            .build(),
    );
    if last_resort {
        b = b.mark_as_last_resort();
    }
    let bundle = b
        .build(CIPHERSUITE, provider, signer, cwk)
        .map_err(mls_err)?;
    MlsMessageOut::from(bundle.key_package().clone())
        .to_bytes()
        .map_err(mls_err)
}

/// Validates a claimed key package and checks it belongs to the device and
/// handle the server says it does.
pub fn check_claimed(provider: &OpenMlsRustCrypto, c: &ClaimedKeyPackage) -> Result<KeyPackage> {
    let msg = MlsMessageIn::tls_deserialize_exact(&c.key_package.0).map_err(mls_err)?;
    let MlsMessageBodyIn::KeyPackage(kp_in) = msg.extract() else {
        return Err(ClientError::Protocol(
            "a claimed key package is not a key package".into(),
        ));
    };
    let kp = kp_in
        .validate(provider.crypto(), ProtocolVersion::Mls10)
        .map_err(mls_err)?;
    let cred = BasicCredential::try_from(kp.leaf_node().credential().clone()).map_err(mls_err)?;
    if cred.identity() != credential_identity(&c.handle, &c.device_id).as_bytes() {
        return Err(ClientError::Protocol(format!(
            "the key package for {}/{} carries another identity",
            c.handle, c.device_id
        )));
    }
    Ok(kp)
}

pub fn random_group_id() -> Vec<u8> {
    let mut g = vec![0u8; 16];
    rand::thread_rng().fill_bytes(&mut g);
    g
}

/// A new group of this device alone, and its GroupInfo (with the ratchet
/// tree) from which the node starts its public view of the group.
pub fn create_group(
    provider: &OpenMlsRustCrypto,
    signer: &SignatureKeyPair,
    id: &Identity,
    group_id: &[u8],
    node: &DeliveryService,
) -> Result<(MlsGroup, Vec<u8>)> {
    let group = MlsGroup::new_with_group_id(
        provider,
        signer,
        &create_config(node)?,
        GroupId::from_slice(group_id),
        credential(id, signer),
    )
    .map_err(mls_err)?;
    let info = group
        .export_group_info(provider.crypto(), signer, true)
        .map_err(mls_err)?
        .to_bytes()
        .map_err(mls_err)?;
    Ok((group, info))
}

pub enum Change {
    /// Add these devices (validated key package, device id).
    Add(Vec<(KeyPackage, String)>),
    /// Remove every device of this handle.
    Remove(String),
    /// Carry out the proposals waiting in this epoch (members' departures).
    Pending,
}

pub struct PreparedCommit {
    pub commit: Vec<u8>,
    pub welcome: Option<Vec<u8>>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

fn identity_of(c: &Credential) -> Option<(String, String)> {
    let b = BasicCredential::try_from(c.clone()).ok()?;
    parse_credential_identity(b.identity())
}

pub fn members(group: &MlsGroup) -> Vec<(String, String)> {
    group
        .members()
        .filter_map(|m| identity_of(&m.credential))
        .collect()
}

/// Each member device's handle and signature key, as the group's tree
/// holds them.
pub fn member_keys(group: &MlsGroup) -> Vec<(String, Vec<u8>)> {
    group
        .members()
        .filter_map(|m| identity_of(&m.credential).map(|(h, _)| (h, m.signature_key)))
        .collect()
}

/// The devices whose departure waits in this epoch: every commit carries
/// the waiting proposals out.
fn departing(group: &MlsGroup) -> Vec<String> {
    departing_leaves(group)
        .into_iter()
        .filter_map(|i| group.member(i).and_then(identity_of))
        .map(|(_, d)| d)
        .collect()
}

fn departing_leaves(group: &MlsGroup) -> Vec<LeafNodeIndex> {
    group
        .pending_proposals()
        .filter_map(|p| match p.proposal() {
            Proposal::Remove(r) => Some(r.removed()),
            _ => None,
        })
        .collect()
}

/// The handles whose departure waits in this epoch.
pub fn departing_handles(group: &MlsGroup) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for i in departing_leaves(group) {
        if let Some((h, _)) = group.member(i).and_then(identity_of) {
            if !out.contains(&h) {
                out.push(h);
            }
        }
    }
    out
}

/// A proposal to leave the group, as a PublicMessage for the node to check.
pub fn leave(
    provider: &OpenMlsRustCrypto,
    signer: &SignatureKeyPair,
    group: &mut MlsGroup,
) -> Result<Vec<u8>> {
    group
        .leave_group(provider, signer)
        .map_err(mls_err)?
        .to_bytes()
        .map_err(mls_err)
}

/// Builds the commit for `change` on the group's current epoch, leaving it
/// pending. `None` when there is nothing to do.
pub fn prepare_commit(
    provider: &OpenMlsRustCrypto,
    signer: &SignatureKeyPair,
    group: &mut MlsGroup,
    change: &Change,
) -> Result<Option<PreparedCommit>> {
    match change {
        Change::Add(kps) => {
            let present: Vec<String> = members(group).into_iter().map(|m| m.1).collect();
            let fresh: Vec<&(KeyPackage, String)> =
                kps.iter().filter(|k| !present.contains(&k.1)).collect();
            if fresh.is_empty() {
                return Ok(None);
            }
            let packages: Vec<KeyPackage> = fresh.iter().map(|k| k.0.clone()).collect();
            let departing = departing(group);
            let (commit, welcome, _) = group
                .add_members(provider, signer, &packages)
                .map_err(mls_err)?;
            Ok(Some(PreparedCommit {
                commit: commit.to_bytes().map_err(mls_err)?,
                welcome: Some(welcome.to_bytes().map_err(mls_err)?),
                added: fresh.iter().map(|k| k.1.clone()).collect(),
                removed: departing,
            }))
        }
        Change::Pending => {
            let removed = departing(group);
            if group.pending_proposals().next().is_none() {
                return Ok(None);
            }
            let (commit, welcome, _) = group
                .commit_to_pending_proposals(provider, signer)
                .map_err(mls_err)?;
            Ok(Some(PreparedCommit {
                commit: commit.to_bytes().map_err(mls_err)?,
                welcome: welcome.map(|w| w.to_bytes()).transpose().map_err(mls_err)?,
                added: vec![],
                removed,
            }))
        }
        Change::Remove(handle) => {
            let targets: Vec<(LeafNodeIndex, String)> = group
                .members()
                .filter_map(|m| {
                    identity_of(&m.credential)
                        .filter(|(h, _)| h == handle)
                        .map(|(_, d)| (m.index, d))
                })
                .collect();
            if targets.is_empty() {
                return Err(ClientError::NotAMember {
                    chat: hex::encode(group.group_id().as_slice()),
                    handle: handle.clone(),
                });
            }
            let leaving = departing_leaves(group);
            // Someone already leaving goes with the waiting proposals.
            let idx: Vec<LeafNodeIndex> = targets
                .iter()
                .map(|t| t.0)
                .filter(|i| !leaving.contains(i))
                .collect();
            let mut removed: Vec<String> = targets.into_iter().map(|t| t.1).collect();
            for d in departing(group) {
                if !removed.contains(&d) {
                    removed.push(d);
                }
            }
            let (commit, welcome, _) = if idx.is_empty() {
                group
                    .commit_to_pending_proposals(provider, signer)
                    .map_err(mls_err)?
            } else {
                group
                    .remove_members(provider, signer, &idx)
                    .map_err(mls_err)?
            };
            Ok(Some(PreparedCommit {
                commit: commit.to_bytes().map_err(mls_err)?,
                welcome: welcome.map(|w| w.to_bytes()).transpose().map_err(mls_err)?,
                added: vec![],
                removed,
            }))
        }
    }
}
