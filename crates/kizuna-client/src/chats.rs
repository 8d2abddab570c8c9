//! Chats and their members: finding a chat by id, prefix or name, creating
//! one, adding, removing and leaving, and the history kept on this device.

use kizuna_wire::{
    Bytes, ChatContent, ClaimRequest, CommitAccepted, CreateGroupRequest, DeliveryService,
    ErrorCode, GroupView, ProposalRequest,
};
use openmls::prelude::MlsGroup;
use reqwest::Method;

use crate::local::Changes;
use crate::{
    group_hex, mls, ChatSummary, Client, ClientError, Event, MembershipChange, Result, Standing,
    StoredMessage, MAX_ATTEMPTS,
};

impl Client {
    /// Finds a chat by full id, unique id prefix, or exact name.
    pub async fn resolve_chat(&self, s: &str) -> Result<String> {
        let chats = self.local.chat_ids().await?;
        if let Some(c) = chats.iter().find(|c| c.0 == s) {
            return Ok(c.0.clone());
        }
        let by_name: Vec<_> = chats.iter().filter(|c| c.1.as_deref() == Some(s)).collect();
        let matches: Vec<_> = if by_name.is_empty() {
            chats
                .iter()
                .filter(|c| c.0.starts_with(s) && s.len() >= 4)
                .collect()
        } else {
            by_name
        };
        match matches.len() {
            0 => Err(ClientError::UnknownChat(s.to_string())),
            1 => Ok(matches[0].0.clone()),
            _ => Err(ClientError::AmbiguousChat(s.to_string())),
        }
    }

    /// Creates a chat with every device of each handle (and this account's
    /// other devices); a 1:1 chat is a group of two people.
    pub async fn create_chat(&mut self, with: &[String], name: Option<&str>) -> Result<String> {
        if with.is_empty() {
            return Err(ClientError::Invalid(
                "a chat needs at least one other person (--with)".into(),
            ));
        }
        if with.contains(&self.identity.handle) {
            return Err(ClientError::Invalid(
                "you are in the chat already; name the others".into(),
            ));
        }
        let _g = self.begin().await?;
        let mine = self.account(&self.identity.handle.clone()).await?;
        let others: Vec<String> = mine
            .devices
            .into_iter()
            .filter(|d| *d != self.identity.device_id)
            .collect();
        let claimed = self
            .claim(ClaimRequest {
                handles: with.to_vec(),
                devices: others,
            })
            .await?;
        let group_id = mls::random_group_id();
        let chat = group_hex(&group_id);
        let node: DeliveryService = self
            .call::<(), _>(Method::GET, "/v1/delivery-service", None)
            .await?;
        let (_, group_info) = mls::create_group(
            &self.provider,
            &self.signer,
            &self.identity,
            &group_id,
            &node,
        )?;
        let _: GroupView = self
            .call(
                Method::POST,
                "/v1/groups",
                Some(&CreateGroupRequest {
                    group_id: Bytes(group_id.clone()),
                    group_info: Bytes(group_info),
                }),
            )
            .await?;
        self.save(Changes {
            chats: vec![(chat.clone(), name.map(str::to_string))],
            ..Default::default()
        })
        .await?;
        self.commit_change(&chat, mls::Change::Add(claimed)).await?;
        if let Some(n) = name {
            let mut id = vec![0u8; 16];
            rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut id);
            self.send_content(
                &chat,
                &ChatContent::ChatName {
                    name: n.to_string(),
                },
                id,
            )
            .await?;
        }
        Ok(chat)
    }

    /// Adds every device of `handle` to the chat. Refused, with nothing
    /// sent, when every one of them is a member already.
    pub async fn add_member(&mut self, chat: &str, handle: &str) -> Result<MembershipChange> {
        let _g = self.begin().await?;
        let chat = self.resolve_accepted_chat(chat).await?;
        let claimed = self
            .claim(ClaimRequest {
                handles: vec![handle.to_string()],
                devices: vec![],
            })
            .await?;
        let change = self
            .commit_change(&chat, mls::Change::Add(claimed))
            .await?
            .map(|done| MembershipChange::of(&chat, handle, done))
            .ok_or_else(|| ClientError::Unchanged(format!("{handle} is already in chat {chat}")))?;
        self.tell_newcomers_the_name(&chat).await?;
        Ok(change)
    }

    /// A chat's name travels only inside the group, as a message: members
    /// added after it was named learn it from the one who added them.
    pub(crate) async fn tell_newcomers_the_name(&mut self, chat: &str) -> Result<()> {
        let name = self
            .local
            .chat_ids()
            .await?
            .into_iter()
            .find(|c| c.0 == chat)
            .and_then(|c| c.1);
        if let Some(name) = name {
            let mut id = vec![0u8; 16];
            rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut id);
            self.send_content(chat, &ChatContent::ChatName { name }, id)
                .await?;
        }
        Ok(())
    }

    /// Removes every device of `handle` from the chat.
    pub async fn remove_member(&mut self, chat: &str, handle: &str) -> Result<MembershipChange> {
        let _g = self.begin().await?;
        let chat = self.resolve_accepted_chat(chat).await?;
        self.commit_change(&chat, mls::Change::Remove(handle.to_string()))
            .await?
            .map(|done| MembershipChange::of(&chat, handle, done))
            .ok_or_else(|| ClientError::Unchanged(format!("{handle} is not in chat {chat}")))
    }

    /// Leaves the chat: a proposal to remove this device, which the next
    /// member to act carries out; the others see that this person left.
    /// This device keeps the history and forgets the chat's keys at once.
    pub async fn leave(&mut self, chat: &str) -> Result<MembershipChange> {
        let _g = self.begin().await?;
        let chat = self.resolve_member_chat(chat).await?;
        self.leave_locked(chat).await
    }

    pub(crate) async fn leave_locked(&mut self, chat: String) -> Result<MembershipChange> {
        self.catch_up().await?;
        self.flush_outbox().await?;
        for _ in 0..MAX_ATTEMPTS {
            let mut group = self.load_group(&chat)?;
            let proposal = mls::leave(&self.provider, &self.signer, &mut group)?;
            let r: Result<CommitAccepted> = self
                .call(
                    Method::POST,
                    &format!("/v1/groups/{chat}/proposals"),
                    Some(&ProposalRequest {
                        proposal: Bytes(proposal),
                    }),
                )
                .await;
            match r {
                Ok(a) => {
                    // The keys stay only for what was sent before the
                    // departure and has not arrived yet; the first entry
                    // after it drops them.
                    self.save(Changes {
                        left: vec![(chat.clone(), a.group_seq)],
                        ..Default::default()
                    })
                    .await?;
                    return Ok(MembershipChange {
                        chat,
                        handle: self.identity.handle.clone(),
                        added: vec![],
                        removed: vec![self.identity.device_id.clone()],
                        epoch: a.epoch,
                        seq: a.group_seq,
                    });
                }
                Err(e) if e.api_code() == Some(ErrorCode::StaleEpoch) => {
                    // Another member's commit came first: drop the proposal
                    // with the state it was made in, catch up, try again.
                    self.reload_mls().await?;
                    self.catch_up().await?;
                }
                Err(e) => {
                    self.reload_mls().await?;
                    return Err(e);
                }
            }
        }
        Err(ClientError::TooManyRetries(MAX_ATTEMPTS))
    }

    /// The members of a chat as this device sees them: (handle, device).
    pub async fn members(&mut self, chat: &str) -> Result<Vec<(String, String)>> {
        let _g = self.begin().await?;
        let chat = self.resolve_member_chat(chat).await?;
        let group = self.load_group(&chat)?;
        Ok(mls::members(&group))
    }

    /// A chat this device is in and that this person accepted.
    pub(crate) async fn resolve_accepted_chat(&self, s: &str) -> Result<String> {
        let chat = self.resolve_member_chat(s).await?;
        match self.local.standings().await?.remove(&chat) {
            Some(Standing::Request { from }) => Err(ClientError::ChatRequest { chat, from }),
            _ => Ok(chat),
        }
    }

    /// A chat this device is in (by id, prefix or name): not one it left.
    pub(crate) async fn resolve_member_chat(&self, s: &str) -> Result<String> {
        let chat = self.resolve_chat(s).await?;
        if self.local.departures().await?.contains_key(&chat) {
            return Err(ClientError::NotInChat(chat));
        }
        Ok(chat)
    }

    pub(crate) fn load_group(&self, chat: &str) -> Result<MlsGroup> {
        let gid = hex::decode(chat).map_err(|_| ClientError::UnknownChat(chat.to_string()))?;
        let g = mls::load_group(&self.provider, &gid)?
            .ok_or_else(|| ClientError::UnknownChat(chat.to_string()))?;
        if !g.is_active() {
            return Err(ClientError::NotInChat(chat.to_string()));
        }
        Ok(g)
    }

    pub async fn chats(&self) -> Result<Vec<ChatSummary>> {
        self.local.chats(&self.identity.device_id).await
    }

    /// Marks a chat read up to the message `seq`; its unread count then
    /// counts only what came after.
    pub async fn mark_read(&self, chat: &str, seq: u64) -> Result<()> {
        let chat = self.resolve_chat(chat).await?;
        self.local.mark_read(&chat, seq).await?;
        Ok(())
    }

    pub async fn history(&self, chat: &str) -> Result<Vec<StoredMessage>> {
        let chat = self.resolve_chat(chat).await?;
        self.local.history(&chat).await
    }

    /// A chat's history as this device shows it: its messages and, in
    /// their places, the entries it could not open.
    pub async fn timeline(&self, chat: &str) -> Result<Vec<Event>> {
        let chat = self.resolve_chat(chat).await?;
        let mut out: Vec<Event> = self
            .local
            .history(&chat)
            .await?
            .into_iter()
            .map(Event::Message)
            .chain(
                self.local
                    .unopened(&chat)
                    .await?
                    .into_iter()
                    .map(Event::Undecryptable),
            )
            .collect();
        out.sort_by_key(|e| match e {
            Event::Message(m) => m.seq,
            Event::Undecryptable(u) => u.seq,
            _ => 0,
        });
        Ok(out)
    }
}
