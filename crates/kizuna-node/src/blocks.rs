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

use hmac::{Hmac, Mac};
use kizuna_store::{Store, StoreError};
use kizuna_wire::{now_ms, valid_handle, BlockList, Blocked, ErrorCode};
use sha2::Sha256;

use crate::auth::DeviceIdentity;
use crate::error::NodeError;
use crate::node::Node;

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

    /// Notes a block another node recorded, by its hash prefix (hex).
    pub fn note_prefix(&self, hex_prefix: &str) {
        if let Ok(bytes) = hex::decode(hex_prefix) {
            if bytes.len() >= 8 {
                self.note_blocked(&bytes);
            }
        }
    }

    /// Reads the blocked accounts' prefixes from the store again.
    pub async fn reload(&self, store: &dyn Store) -> Result<(), StoreError> {
        let fresh: HashSet<[u8; 8]> = store
            .blocked_accounts()
            .await?
            .iter()
            .filter(|h| h.len() >= 8)
            .map(|h| prefix(h))
            .collect();
        if let Ok(mut set) = self.blocked.write() {
            set.extend(fresh);
        }
        Ok(())
    }
}

/// What a blocked person is told, whatever they tried.
pub fn refused() -> NodeError {
    NodeError::forbidden(
        ErrorCode::Refused,
        "this person does not accept this from you",
    )
}

impl Node {
    /// Refuses unless `blocker` lets `account` reach them.
    async fn check_pair(&self, blocker: &str, account: &str) -> Result<(), NodeError> {
        if blocker != account
            && self
                .store
                .has_block(&self.blocks.pair(blocker, account))
                .await?
        {
            return Err(refused());
        }
        Ok(())
    }

    /// Refuses a claim of key packages, or an invitation, from `account` to
    /// anyone among `targets` (accounts) who blocked it.
    pub async fn check_reach(&self, account: &str, targets: &[String]) -> Result<(), NodeError> {
        if targets.iter().all(|t| t == account) || !self.blocks.maybe_blocked(account) {
            return Ok(());
        }
        for t in targets {
            self.check_pair(t, account).await?;
        }
        Ok(())
    }

    /// Refuses a commit by `account` that brings in people (by handle) who
    /// blocked it. Nobody's account is looked up unless someone blocks it.
    pub async fn check_invitation(
        &self,
        account: &str,
        joining: &[String],
    ) -> Result<(), NodeError> {
        if joining.is_empty() || !self.blocks.maybe_blocked(account) {
            return Ok(());
        }
        let mut targets = Vec::with_capacity(joining.len());
        for h in joining {
            if let Some(a) = self.store.account_by_handle(h).await? {
                targets.push(a.account_id);
            }
        }
        self.check_reach(account, &targets).await
    }

    /// Refuses a message from `account` in a group of exactly two people when
    /// the other one blocked it.
    pub async fn check_message(&self, group_id: &[u8], account: &str) -> Result<(), NodeError> {
        if !self.blocks.maybe_blocked(account) {
            return Ok(());
        }
        let Some(group) = self.store.group(group_id).await? else {
            return Ok(());
        };
        let mut others: Vec<String> = Vec::new();
        for d in &group.members {
            if let Some(dev) = self.store.device(d).await? {
                if dev.account_id != account && !others.contains(&dev.account_id) {
                    others.push(dev.account_id);
                    if others.len() > 1 {
                        return Ok(());
                    }
                }
            }
        }
        match others.as_slice() {
            [other] => self.check_pair(other, account).await,
            _ => Ok(()),
        }
    }

    /// Lifts every block the account made and every block against it, before
    /// the account is erased: its sealed list goes with its key, and nobody
    /// is left holding hashes about it.
    pub async fn forget_blocks(
        &self,
        account: &str,
        region: &str,
        requester: &kizuna_vault::Requester,
    ) -> Result<(), NodeError> {
        let list = self.vault.blocks(account, region, requester).await?;
        let pairs: Vec<Vec<u8>> = list
            .blocked
            .iter()
            .map(|b| self.blocks.pair(account, &b.account_id))
            .collect();
        self.store.remove_blocks(&pairs).await?;
        self.store
            .remove_blocks_of(&self.blocks.blocked(account))
            .await?;
        Ok(())
    }

    /// The people `me` blocked who still have an account.
    pub async fn blocks_of(&self, me: &DeviceIdentity) -> Result<BlockList, NodeError> {
        let a = self.account_of(me).await?;
        let mut list = self
            .vault
            .blocks(&a.account_id, &a.region, &me.requester())
            .await?;
        // Someone who erased their account is nobody to block any more, and
        // their handle may be someone else's now.
        let ids: Vec<String> = list.blocked.iter().map(|b| b.account_id.clone()).collect();
        let live = self.store.accounts_by_ids(&ids).await?;
        list.blocked
            .retain(|b| live.iter().any(|a| a.account_id == b.account_id));
        Ok(list)
    }

    async fn block_target(&self, handle: &str) -> Result<kizuna_store::Account, NodeError> {
        if !valid_handle(handle) {
            return Err(NodeError::invalid(
                ErrorCode::InvalidHandle,
                "a handle is 3-32 lowercase letters, digits, '_' or '.', starting with a letter",
            ));
        }
        self.store.account_by_handle(handle).await?.ok_or_else(|| {
            NodeError::not_found(
                ErrorCode::UnknownAccount,
                format!("nobody has the handle '{handle}'"),
            )
        })
    }

    /// Blocks `handle` for `me`; blocking someone already blocked changes
    /// nothing.
    pub async fn block(&self, me: &DeviceIdentity, handle: &str) -> Result<BlockList, NodeError> {
        let a = self.account_of(me).await?;
        let them = self.block_target(handle).await?;
        if them.account_id == a.account_id {
            return Err(NodeError::invalid(
                ErrorCode::BadRequest,
                "you cannot block yourself",
            ));
        }
        let who = me.requester();
        let mut list = self.vault.blocks(&a.account_id, &a.region, &who).await?;
        if list.blocked.iter().any(|b| b.account_id == them.account_id) {
            return Ok(list);
        }
        list.blocked.push(Blocked {
            handle: them.handle,
            account_id: them.account_id.clone(),
            since: now_ms(),
        });
        // Enforced before it is listed: a block the person sees always holds.
        // Should the sealed write fail, the request is answered with an error
        // and repeating it finishes the work.
        let blocked = self.blocks.blocked(&them.account_id);
        self.store
            .put_block(&self.blocks.pair(&a.account_id, &them.account_id), &blocked)
            .await?;
        self.blocks.note_blocked(&blocked);
        self.announce(crate::cluster::Notice::Blocked {
            prefix: hex::encode(&blocked[..8.min(blocked.len())]),
        });
        self.vault
            .set_blocks(&a.account_id, &a.region, &list, &who)
            .await?;
        Ok(list)
    }

    /// Lifts `me`'s block of `handle`; unblocking someone not blocked changes
    /// nothing.
    pub async fn unblock(&self, me: &DeviceIdentity, handle: &str) -> Result<BlockList, NodeError> {
        let a = self.account_of(me).await?;
        let who = me.requester();
        let mut list = self.vault.blocks(&a.account_id, &a.region, &who).await?;
        // By the handle as listed: the account may be gone since.
        let Some(i) = list.blocked.iter().position(|b| b.handle == handle) else {
            self.block_target(handle).await?;
            return Ok(list);
        };
        let gone = list.blocked.remove(i);
        // Listed as lifted only once it no longer holds.
        self.store
            .remove_blocks(&[self.blocks.pair(&a.account_id, &gone.account_id)])
            .await?;
        self.vault
            .set_blocks(&a.account_id, &a.region, &list, &who)
            .await?;
        Ok(list)
    }
}
