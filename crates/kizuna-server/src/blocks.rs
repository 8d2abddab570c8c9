//! Blocking. Whom a person blocked is their personal data: the list is
//! sealed in their home region, through the vault. The node enforces it
//! from keyed hashes alone (`keys/blocks.key`): a hash of each pair (who
//! blocks, whom), and a hash of whom, whose short prefixes the node holds
//! in memory so that a send from someone nobody blocks costs no look-up.
//! What a blocked person learns is a refusal (`refused`), the same
//! whatever was refused; nothing else about the person who blocked them.
//!
//! The node refuses, from a blocked account: claiming the blocker's key
//! packages, a commit that brings the blocker into a group, and messages
//! in a chat of exactly the two of them, or a commit that adds anyone to
//! it (which would make it a group where they speak again). In a larger group a blocked
//! person still speaks to the others; the node cannot leave one member
//! out of a group's messages, and the content is not the node's to read.

use std::collections::HashSet;
use std::sync::RwLock;

use axum::extract::{Path, State};
use hmac::{Hmac, Mac};
use kizuna_store::{Store, StoreError};
use kizuna_wire::{now_ms, valid_handle, BlockList, Blocked, ErrorBody, ErrorCode};
use sha2::Sha256;

use crate::api::{ApiJson, AuthedDevice, Shared};
use crate::error::ApiError;

/// The node's key for block hashes, of its own so that no other key's
/// holder can test who blocked whom, and which accounts someone blocks.
pub struct Blocks {
    key: [u8; 32],
    /// The first 8 bytes of the hash of each account someone blocks. A
    /// match is only a reason to look in the store: two accounts may share
    /// a prefix, and an account unblocked since stays here until restart.
    blocked: RwLock<HashSet<[u8; 8]>>,
}

fn prefix(hash: &[u8]) -> [u8; 8] {
    let mut p = [0u8; 8];
    p.copy_from_slice(&hash[..8]);
    p
}

impl Blocks {
    pub async fn load(key: [u8; 32], store: &dyn Store) -> Result<Blocks, StoreError> {
        let blocked = store
            .blocked_accounts()
            .await?
            .iter()
            .filter(|h| h.len() >= 8)
            .map(|h| prefix(h))
            .collect();
        Ok(Blocks {
            key,
            blocked: RwLock::new(blocked),
        })
    }

    fn hash(&self, parts: &[&str]) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .expect("HMAC takes a key of any length");
        for p in parts {
            // Length-prefixed, so no two different tuples hash alike.
            mac.update(&(p.len() as u32).to_be_bytes());
            mac.update(p.as_bytes());
        }
        mac.finalize().into_bytes().to_vec()
    }

    fn pair(&self, blocker: &str, blocked: &str) -> Vec<u8> {
        self.hash(&["pair", blocker, blocked])
    }

    fn blocked(&self, account: &str) -> Vec<u8> {
        self.hash(&["blocked", account])
    }

    /// Whether someone may block `account`; `false` means nobody does.
    fn maybe_blocked(&self, account: &str) -> bool {
        let p = prefix(&self.blocked(account));
        self.blocked.read().map_or(true, |set| set.contains(&p))
    }

    fn note_blocked(&self, hash: &[u8]) {
        if let Ok(mut set) = self.blocked.write() {
            set.insert(prefix(hash));
        }
    }
}

/// What a blocked person is told, whatever they tried.
pub fn refused() -> ApiError {
    ApiError::forbidden(
        ErrorCode::Refused,
        "this person does not accept this from you",
    )
}

/// Refuses unless `blocker` lets `account` reach them.
async fn check_pair(s: &Shared, blocker: &str, account: &str) -> Result<(), ApiError> {
    if blocker != account && s.store.has_block(&s.blocks.pair(blocker, account)).await? {
        return Err(refused());
    }
    Ok(())
}

/// Refuses a claim of key packages, or an invitation, from `account` to
/// anyone among `targets` (accounts) who blocked it.
pub async fn check_reach(s: &Shared, account: &str, targets: &[String]) -> Result<(), ApiError> {
    if targets.iter().all(|t| t == account) || !s.blocks.maybe_blocked(account) {
        return Ok(());
    }
    for t in targets {
        check_pair(s, t, account).await?;
    }
    Ok(())
}

/// Refuses a commit by `account` that brings in people (by handle) who
/// blocked it. Nobody's account is looked up unless someone blocks it.
pub async fn check_invitation(
    s: &Shared,
    account: &str,
    joining: &[String],
) -> Result<(), ApiError> {
    if joining.is_empty() || !s.blocks.maybe_blocked(account) {
        return Ok(());
    }
    let mut targets = Vec::with_capacity(joining.len());
    for h in joining {
        if let Some(a) = s.store.account_by_handle(h).await? {
            targets.push(a.account_id);
        }
    }
    check_reach(s, account, &targets).await
}

/// Refuses a message from `account` in a group of exactly two people when
/// the other one blocked it.
pub async fn check_message(s: &Shared, group_id: &[u8], account: &str) -> Result<(), ApiError> {
    if !s.blocks.maybe_blocked(account) {
        return Ok(());
    }
    let Some(group) = s.store.group(group_id).await? else {
        return Ok(());
    };
    let mut others: Vec<String> = Vec::new();
    for d in &group.members {
        if let Some(dev) = s.store.device(d).await? {
            if dev.account_id != account && !others.contains(&dev.account_id) {
                others.push(dev.account_id);
                if others.len() > 1 {
                    return Ok(());
                }
            }
        }
    }
    match others.as_slice() {
        [other] => check_pair(s, other, account).await,
        _ => Ok(()),
    }
}

/// Lifts every block the account made and every block against it, before
/// the account is erased: its sealed list goes with its key, and nobody
/// is left holding hashes about it.
pub async fn forget(
    s: &Shared,
    account: &str,
    region: &str,
    requester: &kizuna_vault::Requester,
) -> Result<(), ApiError> {
    let list = s.vault.blocks(account, region, requester).await?;
    let pairs: Vec<Vec<u8>> = list
        .blocked
        .iter()
        .map(|b| s.blocks.pair(account, &b.account_id))
        .collect();
    s.store.remove_blocks(&pairs).await?;
    s.store.remove_blocks_of(&s.blocks.blocked(account)).await?;
    Ok(())
}

#[utoipa::path(
    get,
    path = "/v1/me/blocks",
    tag = "user",
    summary = "The people I blocked, kept sealed in my home region",
    responses((status = 200, description = "whom I blocked", body = BlockList), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn list(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
) -> Result<ApiJson<BlockList>, ApiError> {
    let a = crate::me::account(&s, &me).await?;
    let mut list = s
        .vault
        .blocks(&a.account_id, &a.region, &me.requester())
        .await?;
    // Someone who erased their account is nobody to block any more, and
    // their handle may be someone else's now.
    let ids: Vec<String> = list.blocked.iter().map(|b| b.account_id.clone()).collect();
    let live = s.store.accounts_by_ids(&ids).await?;
    list.blocked
        .retain(|b| live.iter().any(|a| a.account_id == b.account_id));
    Ok(ApiJson(list))
}

async fn target(s: &Shared, handle: &str) -> Result<kizuna_store::Account, ApiError> {
    if !valid_handle(handle) {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidHandle,
            "a handle is 3-32 lowercase letters, digits, '_' or '.', starting with a letter",
        ));
    }
    s.store.account_by_handle(handle).await?.ok_or_else(|| {
        ApiError::not_found(
            ErrorCode::UnknownAccount,
            format!("nobody has the handle '{handle}'"),
        )
    })
}

#[utoipa::path(
    put,
    path = "/v1/me/blocks/{handle}",
    tag = "user",
    summary = "Block someone: the node refuses their invitations and their messages in our one-to-one chats",
    description = "Idempotent. The person is told nothing; what they try next is refused with `refused`.",
    params(("handle" = String, Path, description = "whom to block", pattern = r"^[a-z][a-z0-9_.]{2,31}$")),
    responses((status = 200, description = "whom I block now", body = BlockList), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn block(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    Path(handle): Path<String>,
) -> Result<ApiJson<BlockList>, ApiError> {
    let a = crate::me::account(&s, &me).await?;
    let them = target(&s, &handle).await?;
    if them.account_id == a.account_id {
        return Err(ApiError::bad_request(
            ErrorCode::BadRequest,
            "you cannot block yourself",
        ));
    }
    let who = me.requester();
    let mut list = s.vault.blocks(&a.account_id, &a.region, &who).await?;
    if list.blocked.iter().any(|b| b.account_id == them.account_id) {
        return Ok(ApiJson(list));
    }
    list.blocked.push(Blocked {
        handle: them.handle,
        account_id: them.account_id.clone(),
        since: now_ms(),
    });
    // Enforced before it is listed: a block the person sees always holds.
    // Should the sealed write fail, the request is answered with an error
    // and repeating it finishes the work.
    let blocked = s.blocks.blocked(&them.account_id);
    s.store
        .put_block(&s.blocks.pair(&a.account_id, &them.account_id), &blocked)
        .await?;
    s.blocks.note_blocked(&blocked);
    s.vault
        .set_blocks(&a.account_id, &a.region, &list, &who)
        .await?;
    Ok(ApiJson(list))
}

#[utoipa::path(
    delete,
    path = "/v1/me/blocks/{handle}",
    tag = "user",
    summary = "Unblock someone",
    description = "Idempotent: unblocking someone not blocked changes nothing.",
    params(("handle" = String, Path, description = "whom to unblock", pattern = r"^[a-z][a-z0-9_.]{2,31}$")),
    responses((status = 200, description = "whom I block now", body = BlockList), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn unblock(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    Path(handle): Path<String>,
) -> Result<ApiJson<BlockList>, ApiError> {
    let a = crate::me::account(&s, &me).await?;
    let who = me.requester();
    let mut list = s.vault.blocks(&a.account_id, &a.region, &who).await?;
    // By the handle as listed: the account may be gone since.
    let Some(i) = list.blocked.iter().position(|b| b.handle == handle) else {
        target(&s, &handle).await?;
        return Ok(ApiJson(list));
    };
    let gone = list.blocked.remove(i);
    // Listed as lifted only once it no longer holds.
    s.store
        .remove_blocks(&[s.blocks.pair(&a.account_id, &gone.account_id)])
        .await?;
    s.vault
        .set_blocks(&a.account_id, &a.region, &list, &who)
        .await?;
    Ok(ApiJson(list))
}
