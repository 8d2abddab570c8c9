//! What a commit does to a group's routing, read from the commit itself:
//! the roster checks it against the group's public state, and here every
//! member it leaves in the group is matched to a registered device with the
//! key that device registered. A member cannot add a device that is not
//! who it claims to be, remove someone it does not say it removes, or move
//! the epoch with a commit the others cannot process.

use std::collections::HashSet;

use kizuna_store::Store;
use kizuna_wire::{credential_identity, parse_credential_identity, ErrorCode};

use crate::auth::DeviceIdentity;
use crate::error::NodeError;
use crate::roster::{self, Leaf, PublicState};

/// The routing change a checked commit makes, and the state after it.
pub struct Derived {
    pub epoch: u64,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// The handles of the people the commit brings into the group, none
    /// of whose devices were in it before.
    pub joining: Vec<String>,
    pub state: Vec<u8>,
}

pub fn invalid(message: impl Into<String>) -> NodeError {
    NodeError::invalid(ErrorCode::InvalidCommit, message)
}

/// The device a leaf is, if its identity is a Kizuna device's.
fn device_of(leaf: &Leaf) -> Result<(String, String), NodeError> {
    parse_credential_identity(&leaf.identity).ok_or_else(|| {
        invalid(format!(
            "a member's credential ({}) is not a Kizuna device's",
            String::from_utf8_lossy(&leaf.identity)
        ))
    })
}

/// Checks that each leaf is a registered device of the handle it names,
/// with the signature key that device registered.
async fn check_registered(store: &dyn Store, leaves: &[&Leaf]) -> Result<(), NodeError> {
    for leaf in leaves {
        let (handle, device_id) = device_of(leaf)?;
        let known = store.device(&device_id).await?;
        match known {
            Some(d) if d.handle == handle && d.signature_key == leaf.signature_key => {}
            _ => {
                return Err(invalid(format!(
                    "the group would hold {handle}/{device_id}, which is not a device of \
                     {handle} with that key"
                )))
            }
        }
    }
    Ok(())
}

fn device_ids(leaves: &[Leaf]) -> Result<Vec<String>, NodeError> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(leaves.len());
    for l in leaves {
        let (_, d) = device_of(l)?;
        if !seen.insert(d.clone()) {
            return Err(invalid(format!("device {d} would be in the group twice")));
        }
        out.push(d);
    }
    Ok(out)
}

/// A new group's public state from its creator's GroupInfo: the creator,
/// with its registered key, must be its one member.
pub async fn start(
    store: &dyn Store,
    group_id: &[u8],
    me: &DeviceIdentity,
    handle: &str,
    group_info: &[u8],
    node: &openmls::prelude::ExternalSender,
) -> Result<Vec<u8>, NodeError> {
    let (state, members) = roster::from_group_info(group_id, group_info, node)?;
    let mine = credential_identity(handle, &me.device_id);
    match members.as_slice() {
        [only] if only.identity == mine.as_bytes() => {
            check_registered(store, &[only]).await?;
            Ok(state.0)
        }
        _ => Err(invalid(
            "a new group's GroupInfo must hold exactly its creator, this device",
        )),
    }
}

/// Checks a commit submitted by `me` and derives what it changes. The
/// lists the committer gave must be exactly what the commit does.
pub async fn derive(
    store: &dyn Store,
    group_id: &[u8],
    me: &DeviceIdentity,
    handle: &str,
    commit: &[u8],
    claimed_added: &[String],
    claimed_removed: &[String],
) -> Result<Derived, NodeError> {
    let state = store.group_state(group_id).await?.ok_or_else(|| {
        invalid(
            "this chat was started before the node checked commits, so its membership can no \
             longer change; start a new chat",
        )
    })?;
    let checked = roster::check_commit(group_id, &PublicState(state), commit)?;
    if checked.committer.identity != credential_identity(handle, &me.device_id).as_bytes() {
        return Err(invalid(
            "the commit is signed by another member than the device submitting it",
        ));
    }
    // Every leaf that is new or changed must be a registered device.
    let changed: Vec<&Leaf> = checked
        .after
        .iter()
        .filter(|l| !checked.before.contains(l))
        .collect();
    check_registered(store, &changed).await?;
    let before = device_ids(&checked.before)?;
    let after = device_ids(&checked.after)?;
    let added: Vec<String> = after
        .iter()
        .filter(|d| !before.contains(d))
        .cloned()
        .collect();
    let removed: Vec<String> = before
        .iter()
        .filter(|d| !after.contains(d))
        .cloned()
        .collect();
    let same = |claimed: &[String], real: &[String]| {
        claimed.len() == real.len() && claimed.iter().all(|d| real.contains(d))
    };
    if !same(claimed_added, &added) || !same(claimed_removed, &removed) {
        return Err(invalid(format!(
            "the commit adds {added:?} and removes {removed:?}, not what it claims \
             (adds {claimed_added:?}, removes {claimed_removed:?})"
        )));
    }
    let handles_before: HashSet<String> = checked
        .before
        .iter()
        .filter_map(|l| device_of(l).ok().map(|(h, _)| h))
        .collect();
    let mut joining = Vec::new();
    for leaf in &checked.after {
        let (h, _) = device_of(leaf)?;
        if !handles_before.contains(&h) && !joining.contains(&h) {
            joining.push(h);
        }
    }
    Ok(Derived {
        epoch: checked.epoch,
        added,
        removed,
        joining,
        state: checked.state.0,
    })
}

/// Checks a member's proposal to leave, submitted by that member.
pub async fn departure(
    store: &dyn Store,
    group_id: &[u8],
    me: &DeviceIdentity,
    handle: &str,
    proposal: &[u8],
) -> Result<(u64, Vec<u8>), NodeError> {
    let state = store
        .group_state(group_id)
        .await?
        .ok_or_else(|| invalid("this chat was started before the node checked commits"))?;
    let checked = roster::check_departure(group_id, &PublicState(state), proposal)?;
    if checked.leaving.identity != credential_identity(handle, &me.device_id).as_bytes() {
        return Err(invalid(
            "the proposal is signed by another member than the device submitting it",
        ));
    }
    Ok((checked.epoch, checked.state.0))
}
