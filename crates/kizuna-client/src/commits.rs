//! MLS commits: built for the current epoch, retried when another member's
//! commit wins it, settled after a lost answer, or built for tools without
//! being sent.

use kizuna_wire::{
    Bytes, ClaimRequest, CommitAccepted, CommitRequest, EnvelopeKind, ErrorCode, GroupView,
};
use openmls::prelude::OpenMlsProvider as _;
use reqwest::Method;

use crate::local::Changes;
use crate::{mls, mls_err, Client, ClientError, Devices, Event, Result, MAX_ATTEMPTS};

/// Local note naming the chat whose commit was sent but not yet answered.
const INFLIGHT_COMMIT: &str = "inflight_commit";

impl Client {
    /// Carries out the departures waiting in each chat this device is in:
    /// whoever acts first after a member leaves commits it.
    pub(crate) async fn commit_departures(&mut self) -> Result<()> {
        let chats: Vec<String> = self
            .local
            .chat_ids()
            .await?
            .into_iter()
            .filter(|c| c.2)
            .map(|c| c.0)
            .collect();
        for chat in chats {
            let Ok(group) = self.load_group(&chat) else {
                continue;
            };
            let left = mls::departing_handles(&group);
            if left.is_empty() {
                continue;
            }
            match self.commit_change(&chat, mls::Change::Pending).await {
                Ok(Some(_)) => self.seen.push(Event::MembersChanged {
                    chat,
                    by: self.identity.handle.clone(),
                    added: vec![],
                    removed: vec![],
                    left,
                }),
                Ok(None) | Err(ClientError::NotInChat(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Builds a commit for the current epoch and submits it; when another
    /// member's commit won the epoch, processes it and tries again. Returns
    /// the devices changed and the node's answer, or `None` when there was
    /// nothing to change.
    ///
    /// Everything waiting for this device is processed first: a message
    /// sent in this epoch must be opened before the commit moves the group
    /// on, or it would need the past epoch's secrets.
    pub(crate) async fn commit_change(
        &mut self,
        chat: &str,
        change: mls::Change,
    ) -> Result<Option<(Devices, CommitAccepted)>> {
        self.catch_up().await?;
        // A message still in flight was written before this commit; it goes
        // first, to the members it was written for.
        self.flush_outbox().await?;
        self.commit_now(chat, change).await
    }

    /// The commit loop of [`Client::commit_change`], on a device that has
    /// caught up.
    pub(crate) async fn commit_now(
        &mut self,
        chat: &str,
        change: mls::Change,
    ) -> Result<Option<(Devices, CommitAccepted)>> {
        for _ in 0..MAX_ATTEMPTS {
            let mut group = self.load_group(chat)?;
            let Some(prepared) =
                mls::prepare_commit(&self.provider, &self.signer, &mut group, &change)?
            else {
                return Ok(None);
            };
            let changed = (prepared.added.clone(), prepared.removed.clone());
            // The pending commit and the note that it is in flight are on
            // disk before it leaves: after a crash or a lost answer, the next
            // operation finds out whether the server took it.
            self.save(Changes {
                meta: vec![(INFLIGHT_COMMIT, chat.as_bytes().to_vec())],
                ..Default::default()
            })
            .await?;
            let req = CommitRequest {
                commit: Bytes(prepared.commit),
                welcome: prepared.welcome.map(Bytes),
                added_devices: prepared.added,
                removed_devices: prepared.removed,
            };
            let r: Result<CommitAccepted> = self
                .call(
                    Method::POST,
                    &format!("/v1/groups/{chat}/commits"),
                    Some(&req),
                )
                .await;
            match r {
                Ok(accepted) => {
                    group
                        .merge_pending_commit(&self.provider)
                        .map_err(mls_err)?;
                    self.save(Changes {
                        meta: vec![(INFLIGHT_COMMIT, Vec::new())],
                        ..Default::default()
                    })
                    .await?;
                    return Ok(Some((changed, accepted)));
                }
                Err(e @ ClientError::Api { .. }) => {
                    // A definite refusal: nothing of the commit was kept.
                    group
                        .clear_pending_commit(self.provider.storage())
                        .map_err(mls_err)?;
                    self.save(Changes {
                        meta: vec![(INFLIGHT_COMMIT, Vec::new())],
                        ..Default::default()
                    })
                    .await?;
                    if e.api_code() == Some(ErrorCode::StaleEpoch) {
                        self.catch_up().await?;
                        continue;
                    }
                    return Err(e);
                }
                // No answer: the server may or may not have taken it; the
                // in-flight note stays for the next operation to resolve.
                Err(e) => return Err(e),
            }
        }
        Err(ClientError::TooManyRetries(MAX_ATTEMPTS))
    }

    /// Settles a commit whose answer never arrived: merged if the server took
    /// it, dropped if another commit won its epoch or it never arrived.
    pub(crate) async fn resolve_inflight_commit(&mut self) -> Result<()> {
        let chat = match self.local.meta_string(INFLIGHT_COMMIT).await? {
            Some(c) if !c.is_empty() => c,
            _ => return Ok(()),
        };
        let settle = Changes {
            meta: vec![(INFLIGHT_COMMIT, Vec::new())],
            ..Default::default()
        };
        let mut group = match self.load_group(&chat) {
            Ok(g) if g.pending_commit().is_some() => g,
            _ => return self.save(settle).await,
        };
        let epoch = group.epoch().as_u64();
        let gid = group.group_id().as_slice().to_vec();
        // Another member's commit for the same epoch, waiting in our queue,
        // means ours lost: the server takes one commit per epoch.
        let queued = self.peek_inbox().await?;
        let lost = queued.iter().any(|e| {
            e.kind == EnvelopeKind::Commit
                && e.group_id.0 == gid
                && mls::epoch_of(&e.payload.0) == Some(epoch)
        });
        let won = !lost && {
            let g: GroupView = self
                .call::<(), _>(Method::GET, &format!("/v1/groups/{chat}"), None)
                .await?;
            g.epoch > epoch
        };
        if won {
            group
                .merge_pending_commit(&self.provider)
                .map_err(mls_err)?;
        } else {
            group
                .clear_pending_commit(self.provider.storage())
                .map_err(mls_err)?;
        }
        self.save(settle).await
    }

    /// The commit that would remove `handle` from the chat, built and then
    /// dropped: nothing is sent or kept. For tools and tests that speak the
    /// API themselves (`POST /v1/groups/{chat}/commits`).
    pub async fn prepare_removal(&mut self, chat: &str, handle: &str) -> Result<CommitRequest> {
        let _g = self.begin().await?;
        let chat = self.resolve_member_chat(chat).await?;
        self.prepare(&chat, mls::Change::Remove(handle.to_string()))
            .ok_or_else(|| ClientError::Unchanged(format!("{handle} is not in chat {chat}")))?
    }

    /// Like [`Client::prepare_removal`], for adding `handle`: their key
    /// packages are claimed (and so used up) now.
    pub async fn prepare_addition(&mut self, chat: &str, handle: &str) -> Result<CommitRequest> {
        let _g = self.begin().await?;
        let chat = self.resolve_member_chat(chat).await?;
        let claimed = self
            .claim(ClaimRequest {
                handles: vec![handle.to_string()],
                devices: vec![],
            })
            .await?;
        self.prepare(&chat, mls::Change::Add(claimed))
            .ok_or_else(|| ClientError::Unchanged(format!("{handle} is already in chat {chat}")))?
    }

    fn prepare(&mut self, chat: &str, change: mls::Change) -> Option<Result<CommitRequest>> {
        let built = (|| {
            let mut group = self.load_group(chat)?;
            let prepared = mls::prepare_commit(&self.provider, &self.signer, &mut group, &change)?;
            group
                .clear_pending_commit(self.provider.storage())
                .map_err(mls_err)?;
            Ok(prepared)
        })();
        match built {
            Ok(None) => None,
            Ok(Some(prepared)) => Some(Ok(CommitRequest {
                commit: Bytes(prepared.commit),
                welcome: prepared.welcome.map(Bytes),
                added_devices: prepared.added,
                removed_devices: prepared.removed,
            })),
            Err(e) => Some(Err(e)),
        }
    }
}
