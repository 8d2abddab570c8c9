//! Official accounts as people use them: whether an account holds a badge
//! now (read from the key log, as devices read it), and following one
//! through a one-to-one chat, which is what brings its announcements.

use std::sync::Arc;

use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use kizuna_store::{Follow, StoredAnnouncement};
use kizuna_wire::fields::{Class, Field, ID};
use kizuna_wire::{
    announce_signing_input, Announcement, AnnouncementAccepted, AnnouncementPage,
    AnnouncementRequest, Bytes, ErrorCode, FollowRequest, FollowedAccount, KeyChange, KeyEntry,
    OfficialClaim, ServerFrame, SignedAnnouncement, MAX_ANNOUNCEMENT,
};

use crate::auth::DeviceIdentity;
use crate::error::NodeError;
use crate::node::Node;

/// An official account's badge as the node reads its key log.
#[derive(Clone, Debug)]
pub struct Badge {
    pub account_id: String,
    pub application_id: String,
    pub claim: OfficialClaim,
}

/// An announcement's text: free text, tabs and line breaks kept.
const ANNOUNCEMENT_TEXT: Field = Field {
    name: "text",
    min: 1,
    max: MAX_ANNOUNCEMENT,
    class: Class::Text,
    code: ErrorCode::BadRequest,
};

/// A handle as the key log has it now: the account that holds it, and
/// that account's badge if it has one.
#[derive(Clone, Debug, Default)]
pub struct Standing {
    pub holder: Option<String>,
    pub badge: Option<Badge>,
}

/// Reads a handle's standing from its key-log entries, as devices replay
/// them; the node never decides a badge itself.
pub(crate) async fn standing_in(
    store: &dyn kizuna_store::Store,
    handle: &str,
) -> Result<Standing, NodeError> {
    let mut now = Standing::default();
    for row in store.key_entries(handle).await? {
        let Ok(e) = serde_json::from_slice::<KeyEntry>(&row.entry) else {
            continue;
        };
        match e.change {
            KeyChange::Registered | KeyChange::Adopted
                if now.holder.as_deref() != Some(e.account_id.as_str()) =>
            {
                now.holder = Some(e.account_id);
                now.badge = None;
            }
            KeyChange::Erased => now = Standing::default(),
            KeyChange::Verified if now.holder.as_deref() == Some(e.account_id.as_str()) => {
                now.badge = e.verification.and_then(|v| {
                    Some(Badge {
                        claim: serde_json::from_str::<OfficialClaim>(&v.claim).ok()?,
                        application_id: v.application_id,
                        account_id: e.account_id,
                    })
                });
            }
            KeyChange::VerificationRevoked => now.badge = None,
            _ => {}
        }
    }
    Ok(now)
}

impl Node {
    /// The badge `handle` holds now, if any: the last `verified` entry of
    /// the account that holds the handle, not revoked since.
    pub async fn badge(&self, handle: &str) -> Result<Option<Badge>, NodeError> {
        Ok(standing_in(self.store.as_ref(), handle).await?.badge)
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

    /// Keeps an announcement of the official account this device belongs
    /// to: signed by this device over its exact bytes, which followers'
    /// devices check against the key log. Kept once, read by every
    /// follower after its position; followers' devices connected now are
    /// told at once.
    pub async fn post_announcement(
        &self,
        me: &DeviceIdentity,
        req: AnnouncementRequest,
    ) -> Result<AnnouncementAccepted, NodeError> {
        let account = self.account_of(me).await?;
        let badge = self
            .badge(&account.handle)
            .await?
            .filter(|b| b.account_id == account.account_id)
            .ok_or_else(|| {
                NodeError::forbidden(
                    ErrorCode::Forbidden,
                    "only a verified official account announces; `kizuna official apply` first",
                )
            })?;
        let a: Announcement = serde_json::from_slice(&req.announcement.0).map_err(|e| {
            NodeError::invalid(
                ErrorCode::BadRequest,
                format!("announcement is not the JSON of an announcement: {e}"),
            )
        })?;
        let field = |e: kizuna_wire::FieldError| NodeError::invalid(e.code, e.to_string());
        ID.check_at("id", &a.id).map_err(field)?;
        ANNOUNCEMENT_TEXT.check(&a.text).map_err(field)?;
        if a.handle != account.handle || a.account_id != badge.account_id {
            return Err(NodeError::invalid(
                ErrorCode::BadRequest,
                "the announcement names another account; an account announces for itself",
            ));
        }
        let now = kizuna_wire::now_ms();
        if a.at > now + 300_000 || a.at + 3_600_000 < now {
            return Err(NodeError::invalid(
                ErrorCode::BadRequest,
                "the announcement's time is not now: make it again",
            ));
        }
        let device = self.store.device(&me.device_id).await?.ok_or_else(|| {
            NodeError::not_found(ErrorCode::UnknownDevice, "this device no longer exists")
        })?;
        let signed = <[u8; 32]>::try_from(device.signature_key.as_slice())
            .ok()
            .and_then(|k| VerifyingKey::from_bytes(&k).ok())
            .zip(Signature::from_slice(&req.signature.0).ok())
            .is_some_and(|(k, sig)| {
                k.verify(&announce_signing_input(&req.announcement.0), &sig)
                    .is_ok()
            });
        if !signed {
            return Err(NodeError::invalid(
                ErrorCode::InvalidSignature,
                "the signature is not this device's over the announcement",
            ));
        }
        let pos = self
            .store
            .add_announcement(&StoredAnnouncement {
                pos: 0,
                official_id: account.account_id.clone(),
                device_id: me.device_id.clone(),
                body: req.announcement.0,
                signature: req.signature.0,
                at: now,
            })
            .await?;
        // Kept: telling connected devices is a hint, and its failure does
        // not make the announcement any less kept.
        if let Err(e) = self.tell_followers(&account.account_id).await {
            tracing::warn!(error = %e, "followers connected here were not told of an announcement; they read it at their next sync");
        }
        self.announce(crate::cluster::Notice::Announced {
            official: account.account_id,
        });
        Ok(AnnouncementAccepted { pos, at: now })
    }

    /// Tells every follower device of `official` connected here to read
    /// the announcements; answers how many connections were told.
    pub(crate) async fn tell_followers(&self, official: &str) -> Result<usize, NodeError> {
        let frame: Arc<str> = serde_json::to_string(&ServerFrame::Announcements)
            .unwrap_or_default()
            .into();
        // The devices connected here, not every follower's: the cost is the
        // connections this node holds, however many follow.
        let connected = self.hub.connected_devices();
        let followers = self.store.followers_among(official, &connected).await?;
        Ok(self.hub.notify(&followers, &frame))
    }

    /// The announcements of the accounts this account follows, after
    /// `after`, oldest first: each as its device signed it, for this
    /// device to check.
    pub async fn announcements(
        &self,
        me: &DeviceIdentity,
        after: u64,
        limit: u32,
    ) -> Result<AnnouncementPage, NodeError> {
        let rows = self
            .store
            .announcements_for(&me.account_id, after, limit)
            .await?;
        let mut ids: Vec<String> = rows.iter().map(|r| r.official_id.clone()).collect();
        ids.sort();
        ids.dedup();
        let accounts = self.store.accounts_by_ids(&ids).await?;
        Ok(AnnouncementPage {
            announcements: rows
                .into_iter()
                .filter_map(|r| {
                    let handle = accounts
                        .iter()
                        .find(|a| a.account_id == r.official_id)?
                        .handle
                        .clone();
                    Some(SignedAnnouncement {
                        pos: r.pos,
                        handle,
                        device_id: r.device_id,
                        announcement: Bytes(r.body),
                        signature: Bytes(r.signature),
                    })
                })
                .collect(),
        })
    }
}

/// How long the node keeps an announcement: a device shows none older
/// than a week, and a day more allows for clocks that differ.
pub const ANNOUNCEMENTS_KEPT: std::time::Duration = std::time::Duration::from_secs(8 * 24 * 3600);

/// How often announcements past their time are looked for.
const ANNOUNCEMENT_SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

impl Node {
    /// Deletes the announcements past [`ANNOUNCEMENTS_KEPT`] at `now`;
    /// answers how many went.
    pub async fn sweep_announcements(&self, now: u64) -> Result<u64, NodeError> {
        let before = now.saturating_sub(ANNOUNCEMENTS_KEPT.as_millis() as u64);
        let gone = self.store.forget_announcements_before(before).await?;
        if gone > 0 {
            tracing::info!(
                announcements = gone,
                "deleted announcements past the week devices show them"
            );
        }
        Ok(gone)
    }
}

/// Sweeps announcements past their time until `shutdown`: once at start,
/// so a node that was down does not keep them a period longer, then every
/// ten minutes.
pub async fn announcement_retention(
    node: Arc<Node>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        if let Err(e) = node.sweep_announcements(kizuna_wire::now_ms()).await {
            tracing::error!(error = %e, cause = ?e.cause, "announcements past their time could not be deleted; trying again");
        }
        tokio::select! {
            _ = tokio::time::sleep(ANNOUNCEMENT_SWEEP_EVERY) => {}
            _ = shutdown.wait_for(|v| *v) => return,
        }
    }
}
