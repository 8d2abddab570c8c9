//! Official accounts as people use them: whether an account holds a badge
//! now (read from the key log, as devices read it), and following one
//! through a one-to-one chat, which is what brings its announcements.

use kizuna_store::Follow;
use kizuna_wire::{
    Bytes, ErrorCode, FollowRequest, FollowedAccount, KeyChange, KeyEntry, OfficialClaim,
};

use crate::auth::DeviceIdentity;
use crate::error::NodeError;
use crate::node::Node;

/// An official account's badge as the node reads its key log.
#[derive(Clone, Debug)]
pub struct Badge {
    pub account_id: String,
    pub claim: OfficialClaim,
}

impl Node {
    /// The badge `handle` holds now, if any: the last `verified` entry of
    /// the account that holds the handle, not revoked since. The node
    /// reads what every device checks; it never decides a badge itself.
    pub async fn badge(&self, handle: &str) -> Result<Option<Badge>, NodeError> {
        let mut account: Option<String> = None;
        let mut badge = None;
        for row in self.store.key_entries(handle).await? {
            let Ok(e) = serde_json::from_slice::<KeyEntry>(&row.entry) else {
                continue;
            };
            match e.change {
                KeyChange::Registered | KeyChange::Adopted
                    if account.as_deref() != Some(e.account_id.as_str()) =>
                {
                    account = Some(e.account_id);
                    badge = None;
                }
                KeyChange::Erased => {
                    account = None;
                    badge = None;
                }
                KeyChange::Verified if account.as_deref() == Some(e.account_id.as_str()) => {
                    badge = e
                        .verification
                        .and_then(|v| serde_json::from_str::<OfficialClaim>(&v.claim).ok())
                        .map(|claim| Badge {
                            account_id: e.account_id,
                            claim,
                        });
                }
                KeyChange::VerificationRevoked => badge = None,
                _ => {}
            }
        }
        Ok(badge)
    }

    /// Follows the official account `handle` through a chat this device
    /// shares with one of its devices. Following again through another
    /// chat moves the follow there.
    pub async fn follow(
        &self,
        me: &DeviceIdentity,
        handle: &str,
        req: FollowRequest,
    ) -> Result<FollowedAccount, NodeError> {
        let badge = self.badge(handle).await?.ok_or_else(|| {
            NodeError::not_found(
                ErrorCode::UnknownAccount,
                format!("{handle} is not an official account; only verified ones are followed"),
            )
        })?;
        if badge.account_id == me.account_id {
            return Err(NodeError::invalid(
                ErrorCode::BadRequest,
                "an official account does not follow itself",
            ));
        }
        let group =
            self.store.group(&req.group_id.0).await?.ok_or_else(|| {
                NodeError::not_found(ErrorCode::UnknownGroup, "no chat by that id")
            })?;
        let theirs: Vec<String> = self
            .store
            .devices_of(&badge.account_id)
            .await?
            .into_iter()
            .map(|d| d.device_id)
            .collect();
        if !group.members.contains(&me.device_id)
            || !group.members.iter().any(|d| theirs.contains(d))
        {
            return Err(NodeError::forbidden(
                ErrorCode::NotMember,
                format!("that chat is not one this device shares with {handle}; open a chat with it first"),
            ));
        }
        let since = kizuna_wire::now_ms();
        self.store
            .follow(&Follow {
                official_id: badge.account_id,
                follower_id: me.account_id.clone(),
                group_id: req.group_id.0.clone(),
                since,
            })
            .await?;
        let kept = self.follows(me).await?;
        kept.into_iter()
            .find(|f| f.handle == handle)
            .ok_or_else(|| NodeError::internal("a follow just kept is not listed"))
    }

    /// Stops following `handle`; answers whether this account followed it.
    pub async fn unfollow(&self, me: &DeviceIdentity, handle: &str) -> Result<bool, NodeError> {
        let Some(account) = self.store.account_by_handle(handle).await? else {
            return Ok(false);
        };
        Ok(self
            .store
            .unfollow(&account.account_id, &me.account_id)
            .await?)
    }

    /// The official accounts this account follows, each with the claim
    /// its badge carries now (none when revoked since).
    pub async fn follows(&self, me: &DeviceIdentity) -> Result<Vec<FollowedAccount>, NodeError> {
        let follows = self.store.follows_of(&me.account_id).await?;
        let accounts = self
            .store
            .accounts_by_ids(
                &follows
                    .iter()
                    .map(|f| f.official_id.clone())
                    .collect::<Vec<_>>(),
            )
            .await?;
        let mut listed = Vec::with_capacity(follows.len());
        for f in follows {
            let Some(a) = accounts.iter().find(|a| a.account_id == f.official_id) else {
                continue;
            };
            let claim = self
                .badge(&a.handle)
                .await?
                .filter(|b| b.account_id == a.account_id)
                .map(|b| b.claim);
            listed.push(FollowedAccount {
                handle: a.handle.clone(),
                claim,
                since: f.since,
                group_id: Bytes(f.group_id),
            });
        }
        Ok(listed)
    }
}
