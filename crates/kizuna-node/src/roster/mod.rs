//! The node's public view of each MLS group: its ratchet tree and group
//! context, followed from public handshake messages as RFC 9420 allows a
//! delivery service to. Every commit is checked against it, and who joins
//! and who leaves is read from the commit itself, never from what the
//! committer says. The view holds no secret: nothing here can decrypt an
//! application message. Free of I/O: state in, state out.

use std::collections::HashMap;

use openmls::prelude::tls_codec::Deserialize;
use openmls::prelude::*;
use openmls_rust_crypto::OpenMlsRustCrypto;

/// A group's public state as the node stores it: opaque bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicState(pub Vec<u8>);

/// One member of a group as its leaf shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leaf {
    /// The credential's identity (`handle/device_id`).
    pub identity: Vec<u8>,
    pub signature_key: Vec<u8>,
}

/// A commit that holds up, with what it does.
#[derive(Debug)]
pub struct CheckedCommit {
    /// The epoch the commit was made in.
    pub epoch: u64,
    pub committer: Leaf,
    pub before: Vec<Leaf>,
    pub after: Vec<Leaf>,
    /// The group's public state once the commit is merged.
    pub state: PublicState,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RosterError {
    #[error("not a valid MLS message")]
    Garbage,
    #[error(
        "a commit must be sent as a PublicMessage, so the node can check it; update the client"
    )]
    NotPublic,
    #[error("expected a commit, got another kind of message")]
    NotACommit,
    #[error("expected a GroupInfo carrying its ratchet tree")]
    NotAGroupInfo,
    #[error("the GroupInfo is for group epoch {0}; a new group starts at epoch 0")]
    NotNew(u64),
    #[error("the GroupInfo is for another group")]
    WrongGroup,
    #[error(
        "a new group must name this node as its one external sender (GET /v1/delivery-service), \
         so that a revoked device or an erased account can be taken out of it"
    )]
    NoExternalSender,
    #[error("the commit does not hold up against the group: {0}")]
    Invalid(String),
    #[error("the group is at epoch {current}, the commit is for epoch {sent}")]
    Stale { current: u64, sent: u64 },
    #[error("a member may propose only its own departure")]
    NotADeparture,
    #[error("{0} has left the group and the commit does not remove them; process what is waiting and commit again")]
    DepartureLeftOut(String),
    #[error("only members commit; external joins are not accepted")]
    NotFromMember,
    #[error("the node's state of this group is damaged: {0}")]
    Damaged(String),
}

fn provider_with(state: Option<&PublicState>) -> Result<OpenMlsRustCrypto, RosterError> {
    let provider = OpenMlsRustCrypto::default();
    if let Some(s) = state {
        let values = decode(&s.0).ok_or_else(|| RosterError::Damaged("unreadable".into()))?;
        *provider
            .storage()
            .values
            .write()
            .map_err(|_| RosterError::Damaged("lock poisoned".into()))? = values;
    }
    Ok(provider)
}

fn state_of(provider: &OpenMlsRustCrypto) -> Result<PublicState, RosterError> {
    let values = provider
        .storage()
        .values
        .read()
        .map_err(|_| RosterError::Damaged("lock poisoned".into()))?;
    Ok(PublicState(encode(&values)))
}

/// Length-prefixed pairs, sorted, so one state has one encoding.
fn encode(values: &HashMap<Vec<u8>, Vec<u8>>) -> Vec<u8> {
    let mut pairs: Vec<_> = values.iter().collect();
    pairs.sort();
    let mut out = Vec::new();
    for (k, v) in pairs {
        for part in [k, v] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part);
        }
    }
    out
}

fn decode(mut b: &[u8]) -> Option<HashMap<Vec<u8>, Vec<u8>>> {
    let take = |b: &mut &[u8]| -> Option<Vec<u8>> {
        let n = u32::from_be_bytes(b.get(..4)?.try_into().ok()?) as usize;
        let part = b.get(4..4 + n)?.to_vec();
        *b = &b[4 + n..];
        Some(part)
    };
    let mut out = HashMap::new();
    while !b.is_empty() {
        let k = take(&mut b)?;
        let v = take(&mut b)?;
        out.insert(k, v);
    }
    Some(out)
}

fn leaves(group: &PublicGroup) -> Vec<Leaf> {
    group.members().map(|m| leaf_of(&m)).collect()
}

fn leaf_of(m: &Member) -> Leaf {
    Leaf {
        identity: identity_bytes(&m.credential),
        signature_key: m.signature_key.clone(),
    }
}

fn identity_bytes(c: &Credential) -> Vec<u8> {
    BasicCredential::try_from(c.clone())
        .map(|b| b.identity().to_vec())
        .unwrap_or_default()
}

fn load(provider: &OpenMlsRustCrypto, group_id: &[u8]) -> Result<PublicGroup, RosterError> {
    PublicGroup::load(provider.storage(), &GroupId::from_slice(group_id))
        .map_err(|e| RosterError::Damaged(e.to_string()))?
        .ok_or_else(|| RosterError::Damaged("no group in it".into()))
}

/// The public state of a new group, from the GroupInfo its creator signed
/// at epoch 0 with the ratchet tree in it; and its members.
pub fn from_group_info(
    group_id: &[u8],
    group_info: &[u8],
    node: &ExternalSender,
) -> Result<(PublicState, Vec<Leaf>), RosterError> {
    let msg = MlsMessageIn::tls_deserialize_exact(group_info).map_err(|_| RosterError::Garbage)?;
    let MlsMessageBodyIn::GroupInfo(info) = msg.extract() else {
        return Err(RosterError::NotAGroupInfo);
    };
    if info.group_id().as_slice() != group_id {
        return Err(RosterError::WrongGroup);
    }
    if info.epoch().as_u64() != 0 {
        return Err(RosterError::NotNew(info.epoch().as_u64()));
    }
    let tree = info
        .extensions()
        .ratchet_tree()
        .ok_or(RosterError::NotAGroupInfo)?
        .ratchet_tree()
        .clone();
    let provider = provider_with(None)?;
    let (group, _) = PublicGroup::from_external(
        provider.crypto(),
        provider.storage(),
        tree,
        info,
        ProposalStore::new(),
    )
    .map_err(|e| RosterError::Invalid(e.to_string()))?;
    match group.group_context().extensions().external_senders() {
        Some(senders) if senders.as_slice() == std::slice::from_ref(node) => {}
        _ => return Err(RosterError::NoExternalSender),
    }
    Ok((state_of(&provider)?, leaves(&group)))
}

/// One of the node's proposals, with the group's public view after it.
pub type NodeProposal = (Vec<u8>, PublicState);

/// The node's proposal to remove, from the group whose public state is
/// `state`, every leaf whose identity is one of `identities`: each signed
/// with the node's key as the group's external sender, and kept in the
/// view for the next commit to carry out; each with the view after it.
/// Empty when none is there.
pub fn propose_removals(
    group_id: &[u8],
    state: &PublicState,
    identities: &[Vec<u8>],
    signer: &impl openmls_traits::signatures::Signer,
) -> Result<(u64, Vec<NodeProposal>), RosterError> {
    let provider = provider_with(Some(state))?;
    let mut group = load(&provider, group_id)?;
    let epoch = group.group_context().epoch();
    let leaves: Vec<LeafNodeIndex> = group
        .members()
        .filter(|m| identities.contains(&identity_bytes(&m.credential)))
        .map(|m| m.index)
        .collect();
    let mut proposals = Vec::new();
    for leaf in leaves {
        let message = ExternalProposal::new_remove::<OpenMlsRustCrypto>(
            leaf,
            GroupId::from_slice(group_id),
            epoch,
            signer,
            SenderExtensionIndex::new(0),
        )
        .map_err(|e| RosterError::Invalid(e.to_string()))?;
        let bytes = message
            .to_bytes()
            .map_err(|e| RosterError::Invalid(e.to_string()))?;
        // Through the same checks as any member's message: what the node
        // proposes must be what the members will accept.
        let msg = MlsMessageIn::tls_deserialize_exact(&bytes).map_err(|_| RosterError::Garbage)?;
        let MlsMessageBodyIn::PublicMessage(public) = msg.extract() else {
            return Err(RosterError::NotPublic);
        };
        let processed = group
            .process_message(provider.crypto(), public)
            .map_err(|e| RosterError::Invalid(e.to_string()))?;
        let ProcessedMessageContent::ProposalMessage(queued) = processed.into_content() else {
            return Err(RosterError::NotADeparture);
        };
        group
            .add_proposal(provider.storage(), *queued)
            .map_err(|e| RosterError::Damaged(e.to_string()))?;
        proposals.push((bytes, state_of(&provider)?));
    }
    Ok((epoch.as_u64(), proposals))
}

/// A member's proposal to leave, checked.
#[derive(Debug)]
pub struct CheckedDeparture {
    pub epoch: u64,
    pub leaving: Leaf,
    /// The group's public state with the proposal waiting in it.
    pub state: PublicState,
}

/// A handshake message from a member, processed against the group's
/// public view: the view it was processed in, who sent it, and what it is.
struct FromMember {
    provider: OpenMlsRustCrypto,
    group: PublicGroup,
    epoch: u64,
    sender: Leaf,
    sender_index: LeafNodeIndex,
    content: ProcessedMessageContent,
}

/// Reads `bytes` as a PublicMessage of `kind` for the current epoch of the
/// group whose public view is `state`, signed by one of its members, and
/// processes it by RFC 9420's rules (`wrong_kind` when it is another kind).
fn from_member(
    group_id: &[u8],
    state: &PublicState,
    bytes: &[u8],
    kind: ContentType,
    wrong_kind: RosterError,
) -> Result<FromMember, RosterError> {
    let msg = MlsMessageIn::tls_deserialize_exact(bytes).map_err(|_| RosterError::Garbage)?;
    let public = match msg.extract() {
        MlsMessageBodyIn::PublicMessage(m) => m,
        MlsMessageBodyIn::PrivateMessage(_) => return Err(RosterError::NotPublic),
        _ => return Err(wrong_kind),
    };
    if public.content_type() != kind {
        return Err(wrong_kind);
    }
    let provider = provider_with(Some(state))?;
    let group = load(&provider, group_id)?;
    let epoch = group.group_context().epoch().as_u64();
    if public.epoch().as_u64() != epoch {
        return Err(RosterError::Stale {
            current: epoch,
            sent: public.epoch().as_u64(),
        });
    }
    let processed = group
        .process_message(provider.crypto(), public)
        .map_err(|e| RosterError::Invalid(e.to_string()))?;
    let Sender::Member(by) = *processed.sender() else {
        return Err(RosterError::NotFromMember);
    };
    let sender = group
        .members()
        .find(|m| m.index == by)
        .map(|m| leaf_of(&m))
        .ok_or(RosterError::NotFromMember)?;
    Ok(FromMember {
        provider,
        group,
        epoch,
        sender,
        sender_index: by,
        content: processed.into_content(),
    })
}

/// Checks a proposal for the group whose public state is `state`: a
/// PublicMessage, signed by a member, for the current epoch, removing that
/// member itself. The next commit must carry it out.
pub fn check_departure(
    group_id: &[u8],
    state: &PublicState,
    proposal: &[u8],
) -> Result<CheckedDeparture, RosterError> {
    let FromMember {
        provider,
        mut group,
        epoch,
        sender,
        sender_index,
        content,
    } = from_member(
        group_id,
        state,
        proposal,
        ContentType::Proposal,
        RosterError::NotADeparture,
    )?;
    let ProcessedMessageContent::ProposalMessage(queued) = content else {
        return Err(RosterError::NotADeparture);
    };
    match queued.proposal() {
        Proposal::Remove(r) if r.removed() == sender_index => {}
        _ => return Err(RosterError::NotADeparture),
    }
    group
        .add_proposal(provider.storage(), *queued)
        .map_err(|e| RosterError::Damaged(e.to_string()))?;
    Ok(CheckedDeparture {
        epoch,
        leaving: sender,
        state: state_of(&provider)?,
    })
}

/// Checks a commit for the group whose public state is `state`: it must be
/// a PublicMessage from a member, signed by that member, for the state's
/// epoch, and valid by RFC 9420's rules against the tree. Returns who was a
/// member before and after, and the state after.
pub fn check_commit(
    group_id: &[u8],
    state: &PublicState,
    commit: &[u8],
) -> Result<CheckedCommit, RosterError> {
    let FromMember {
        provider,
        mut group,
        epoch,
        sender: committer,
        content,
        ..
    } = from_member(
        group_id,
        state,
        commit,
        ContentType::Commit,
        RosterError::NotACommit,
    )?;
    let before = leaves(&group);
    let senders_before = group
        .group_context()
        .extensions()
        .external_senders()
        .cloned();
    let ProcessedMessageContent::StagedCommitMessage(staged) = content else {
        return Err(RosterError::NotACommit);
    };
    // A departure waiting in this epoch is carried out by its next commit.
    let removes: Vec<LeafNodeIndex> = staged
        .remove_proposals()
        .map(|r| r.remove_proposal().removed())
        .collect();
    let waiting = group
        .queued_proposals(provider.storage())
        .map_err(|e| RosterError::Damaged(e.to_string()))?;
    for (_, p) in waiting {
        if let Proposal::Remove(r) = p.proposal() {
            if !removes.contains(&r.removed()) {
                let who = group
                    .members()
                    .find(|m| m.index == r.removed())
                    .map(|m| String::from_utf8_lossy(&identity_bytes(&m.credential)).into_owned())
                    .unwrap_or_default();
                return Err(RosterError::DepartureLeftOut(who));
            }
        }
    }
    group
        .merge_commit(provider.storage(), *staged)
        .map_err(|e| RosterError::Invalid(e.to_string()))?;
    // The node stays the group's one external sender: a member may not
    // take away its means to remove a revoked device.
    if group
        .group_context()
        .extensions()
        .external_senders()
        .cloned()
        != senders_before
    {
        return Err(RosterError::Invalid(
            "a commit may not change the group's external senders".into(),
        ));
    }
    let after = leaves(&group);
    Ok(CheckedCommit {
        epoch,
        committer,
        before,
        after,
        state: state_of(&provider)?,
    })
}

#[cfg(test)]
mod tests;
