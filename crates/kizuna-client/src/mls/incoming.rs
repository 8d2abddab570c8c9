//! Queued entries as they arrive: commits, proposals the node made,
//! welcomes and application messages, applied to the device's groups and
//! told as events.

use kizuna_wire::*;
use openmls::prelude::tls_codec::Deserialize;
use openmls::prelude::*;
use openmls_rust_crypto::OpenMlsRustCrypto;

use super::*;

fn protocol_message(bytes: &[u8]) -> Result<ProtocolMessage> {
    MlsMessageIn::tls_deserialize_exact(bytes)
        .map_err(mls_err)?
        .try_into_protocol_message()
        .map_err(mls_err)
}

/// The epoch in a handshake or application message's public framing.
pub fn epoch_of(bytes: &[u8]) -> Option<u64> {
    protocol_message(bytes).ok().map(|m| m.epoch().as_u64())
}

/// A member's device and key as a chat's tree holds them: what the key
/// log must bind to that person.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MemberKey {
    pub chat: String,
    pub handle: String,
    pub device_id: String,
    /// Its signature key, hex.
    pub key: String,
}

/// A member as its leaf names it; one whose credential names no Kizuna
/// device is kept too (its handle then fails the check), never dropped.
fn member_key(chat: &str, credential: &Credential, key: &[u8]) -> MemberKey {
    let (handle, device_id) = identity_of(credential).unwrap_or_else(|| {
        let raw = BasicCredential::try_from(credential.clone())
            .map(|b| String::from_utf8_lossy(b.identity()).into_owned())
            .unwrap_or_default();
        (format!("(unreadable: {raw:.40})"), String::new())
    });
    MemberKey {
        chat: chat.to_string(),
        handle,
        device_id,
        key: hex::encode(key),
    }
}

/// Processes one queued entry, appending what happened to `events`, and
/// to `met` the members it brought (a Welcome's, or a commit's adds). An
/// entry that cannot be opened becomes an `Undecryptable` event, which the
/// device keeps and shows.
pub fn apply(
    provider: &OpenMlsRustCrypto,
    me: &Identity,
    env: &Envelope,
    events: &mut Vec<Event>,
    met: &mut Vec<MemberKey>,
) {
    if let Err(e) = apply_inner(provider, me, env, events, met) {
        events.push(Event::Undecryptable(Unopened {
            chat: hex::encode(&env.group_id.0),
            seq: env.group_seq,
            what: match env.kind {
                EnvelopeKind::Welcome => "welcome",
                EnvelopeKind::Commit => "commit",
                EnvelopeKind::Application => "message",
                EnvelopeKind::Proposal | EnvelopeKind::Revocation | EnvelopeKind::Erasure => {
                    "proposal"
                }
            }
            .to_string(),
            sender: env.sender_handle.clone(),
            sender_device: env.sender_device.clone(),
            server_time: env.server_time,
            reason: e.to_string(),
            payload: env.payload.0.clone(),
        }));
    }
}

/// Who a commit added, removed, or let leave, by handle.
fn membership_change(
    group: &MlsGroup,
    staged: &StagedCommit,
) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut added = Vec::new();
    let mut removed = Vec::new();
    let mut left = Vec::new();
    let note = |list: &mut Vec<String>, handle: String| {
        if !list.contains(&handle) {
            list.push(handle);
        }
    };
    for a in staged.add_proposals() {
        if let Some((h, _)) = identity_of(a.add_proposal().key_package().leaf_node().credential()) {
            note(&mut added, h);
        }
    }
    for r in staged.remove_proposals() {
        let leaf = r.remove_proposal().removed();
        let Some((h, _)) = group.member(leaf).and_then(identity_of) else {
            continue;
        };
        match r.sender() {
            Sender::Member(by) if *by == leaf => note(&mut left, h),
            // The node's removals were announced when proposed.
            Sender::External(_) => {}
            _ => note(&mut removed, h),
        }
    }
    (added, removed, left)
}

/// The node's proposal, whose signature MLS checked against the group's
/// one external sender: only the removal of a device, which the person is
/// told of now and the next commit carries out.
fn node_proposal(
    provider: &OpenMlsRustCrypto,
    group: &mut MlsGroup,
    processed: ProcessedMessage,
    env: &Envelope,
    events: &mut Vec<Event>,
) -> Result<()> {
    let chat = hex::encode(&env.group_id.0);
    let ProcessedMessageContent::ProposalMessage(p) = processed.into_content() else {
        return Err(ClientError::Protocol(
            "the node may only propose removals".into(),
        ));
    };
    let Proposal::Remove(r) = p.proposal() else {
        return Err(ClientError::Protocol(
            "the node may only propose removals".into(),
        ));
    };
    let handle = group
        .member(r.removed())
        .and_then(identity_of)
        .map(|(h, _)| h)
        .unwrap_or_default();
    group
        .store_pending_proposal(provider.storage(), *p)
        .map_err(mls_err)?;
    events.push(match env.kind {
        EnvelopeKind::Erasure => Event::AccountDeleted { chat, handle },
        _ => Event::DeviceRevoked { chat, handle },
    });
    Ok(())
}

fn apply_inner(
    provider: &OpenMlsRustCrypto,
    _me: &Identity,
    env: &Envelope,
    events: &mut Vec<Event>,
    met: &mut Vec<MemberKey>,
) -> Result<()> {
    let chat = hex::encode(&env.group_id.0);
    match env.kind {
        EnvelopeKind::Welcome => {
            let msg = MlsMessageIn::tls_deserialize_exact(&env.payload.0).map_err(mls_err)?;
            let MlsMessageBodyIn::Welcome(welcome) = msg.extract() else {
                return Err(ClientError::Protocol(
                    "a Welcome entry holds another message".into(),
                ));
            };
            let group = StagedWelcome::build_from_welcome(provider, &join_config(), welcome)
                .map_err(mls_err)?
                .replace_old_group()
                .build()
                .map_err(mls_err)?
                .into_group(provider)
                .map_err(mls_err)?;
            // A device added again would find the proposals it kept from
            // its last stay under the same group id when the group is next
            // loaded: they name leaves of a tree that is gone, and a joiner
            // has none pending.
            openmls_traits::storage::StorageProvider::clear_proposal_queue::<
                GroupId,
                openmls::ciphersuite::hash_ref::ProposalRef,
            >(provider.storage(), group.group_id())
            .map_err(mls_err)?;
            let chat = hex::encode(group.group_id().as_slice());
            met.extend(
                group
                    .members()
                    .map(|m| member_key(&chat, &m.credential, &m.signature_key)),
            );
            events.push(Event::Joined {
                chat,
                by: env.sender_handle.clone(),
            });
            Ok(())
        }
        EnvelopeKind::Commit
        | EnvelopeKind::Application
        | EnvelopeKind::Proposal
        | EnvelopeKind::Revocation
        | EnvelopeKind::Erasure => {
            let mut group = load_group(provider, &env.group_id.0)?
                .ok_or_else(|| ClientError::UnknownChat(chat.clone()))?;
            // A proposal is resolved by the commit of its epoch. One ordered
            // just before this device's own commit of that epoch arrives
            // after the device moved on: that commit already carried it out.
            let proposal = matches!(
                env.kind,
                EnvelopeKind::Proposal | EnvelopeKind::Revocation | EnvelopeKind::Erasure
            );
            if proposal && epoch_of(&env.payload.0).is_some_and(|e| e < group.epoch().as_u64()) {
                return Ok(());
            }
            let processed = group
                .process_message(provider, protocol_message(&env.payload.0)?)
                .map_err(mls_err)?;
            if matches!(processed.sender(), Sender::External(_)) {
                return node_proposal(provider, &mut group, processed, env, events);
            }
            let (handle, device) = identity_of(processed.credential())
                .ok_or_else(|| ClientError::Protocol("sender without a Kizuna identity".into()))?;
            // The server vouches for which device submitted the entry; MLS
            // for who signed it. They must agree.
            if device != env.sender_device {
                return Err(ClientError::Protocol(format!(
                    "signed by {handle}/{device} but submitted by device {}",
                    env.sender_device
                )));
            }
            match processed.into_content() {
                ProcessedMessageContent::ApplicationMessage(app) => {
                    let (content, proof) = unpack(&app.into_bytes(), env, &handle)?;
                    let proof = proof.map(Box::new);
                    match content {
                        ChatContent::Text { text, name } => {
                            events.push(Event::Message(StoredMessage {
                                chat,
                                sender: handle,
                                sender_name: name
                                    .map(|n| crate::display_name(&n))
                                    .filter(|n| !n.is_empty()),
                                sender_device: device,
                                text,
                                server_time: env.server_time,
                                seq: env.group_seq,
                                proof,
                                file: None,
                                structured: None,
                            }))
                        }
                        ChatContent::Structured {
                            text,
                            structured,
                            name,
                        } => events.push(Event::Message(StoredMessage {
                            chat,
                            sender: handle,
                            sender_name: name
                                .map(|n| crate::display_name(&n))
                                .filter(|n| !n.is_empty()),
                            sender_device: device,
                            text,
                            server_time: env.server_time,
                            seq: env.group_seq,
                            proof,
                            file: None,
                            structured: Some(Box::new(structured)),
                        })),
                        ChatContent::ChatName { name } => events.push(Event::Renamed {
                            chat,
                            name,
                            by: handle,
                        }),
                        ChatContent::File {
                            file,
                            caption,
                            name,
                        } => events.push(Event::Message(StoredMessage {
                            chat,
                            sender: handle,
                            sender_name: name
                                .map(|n| crate::display_name(&n))
                                .filter(|n| !n.is_empty()),
                            sender_device: device,
                            text: caption.unwrap_or_default(),
                            server_time: env.server_time,
                            seq: env.group_seq,
                            proof,
                            file: Some(crate::local::Attachment::of(&file)),
                            structured: None,
                        })),
                    }
                }
                ProcessedMessageContent::StagedCommitMessage(staged) => {
                    let removed = staged.self_removed();
                    let (added, others_removed, left) = membership_change(&group, &staged);
                    met.extend(staged.add_proposals().map(|a| {
                        let leaf = a.add_proposal().key_package().leaf_node();
                        member_key(&chat, leaf.credential(), leaf.signature_key().as_slice())
                    }));
                    group
                        .merge_staged_commit(provider, *staged)
                        .map_err(mls_err)?;
                    events.push(if removed {
                        Event::Removed { chat, by: handle }
                    } else {
                        Event::MembersChanged {
                            chat,
                            by: handle,
                            added,
                            removed: others_removed,
                            left,
                        }
                    });
                }
                ProcessedMessageContent::ProposalMessage(p) => {
                    group
                        .store_pending_proposal(provider.storage(), *p)
                        .map_err(mls_err)?;
                }
                _ => {}
            }
            Ok(())
        }
    }
}

/// Decrypts one application message with the group's current state.
pub fn open_application(
    provider: &OpenMlsRustCrypto,
    group: &mut MlsGroup,
    bytes: &[u8],
) -> Result<String> {
    let processed = group
        .process_message(provider, protocol_message(bytes)?)
        .map_err(mls_err)?;
    match processed.into_content() {
        ProcessedMessageContent::ApplicationMessage(app) => {
            let plain = app.into_bytes();
            let content = match serde_json::from_slice::<FrankedContent>(&plain) {
                Ok(f) => serde_json::from_str::<ChatContent>(&f.body),
                Err(_) => serde_json::from_slice::<ChatContent>(&plain),
            };
            match content {
                Ok(ChatContent::Text { text, .. } | ChatContent::Structured { text, .. }) => {
                    Ok(text)
                }
                Ok(ChatContent::ChatName { name }) => Ok(name),
                Ok(ChatContent::File { file, caption, .. }) => Ok(match caption {
                    Some(c) => format!("{} ({c})", file.file_name),
                    None => file.file_name,
                }),
                Err(e) => Err(ClientError::Protocol(e.to_string())),
            }
        }
        _ => Err(ClientError::Protocol("not an application message".into())),
    }
}
