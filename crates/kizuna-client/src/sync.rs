//! Receiving: the inbox fetched a page at a time, each entry opened and
//! stored with the new cursor in one transaction, then acknowledged.

use std::collections::HashMap;

use kizuna_wire::{AckRequest, Envelope, EnvelopeKind, InboxResponse};
use openmls::prelude::OpenMlsProvider as _;
use reqwest::Method;

use crate::local::Changes;
use crate::{group_hex, mls, mls_err, Client, ClientError, Event, Result, Standing};

/// Inbox entries fetched per request.
const INBOX_PAGE: u32 = 500;

/// The chat an event is about.
fn chat_of(e: &Event) -> &str {
    match e {
        Event::Message(m) => &m.chat,
        Event::Undecryptable(u) => &u.chat,
        Event::Joined { chat, .. }
        | Event::Request { chat, .. }
        | Event::Removed { chat, .. }
        | Event::MembersChanged { chat, .. }
        | Event::Renamed { chat, .. }
        | Event::DeviceRevoked { chat, .. }
        | Event::AccountDeleted { chat, .. }
        | Event::NotSent { chat, .. }
        | Event::KeyNotLogged { chat, .. } => chat,
        // About the account, not a chat; never made from a group's message.
        Event::DeviceLinked { .. } | Event::Announcement(_) | Event::AnnouncementRefused { .. } => {
            ""
        }
    }
}

impl Client {
    /// Receives, decrypts and stores everything queued for this device.
    pub async fn sync(&mut self) -> Result<Vec<Event>> {
        let mut events = Vec::new();
        self.sync_with(|e| events.push(e.clone())).await?;
        Ok(events)
    }

    /// Like [`Client::sync`], handing over each event once the page it
    /// came in is stored on this device: a sync that fails partway has
    /// shown everything it kept.
    pub async fn sync_with(&mut self, mut on_event: impl FnMut(&Event)) -> Result<()> {
        let _g = self.begin().await?;
        for e in std::mem::take(&mut self.seen) {
            on_event(&e);
        }
        self.sync_pages(&mut on_event).await?;
        self.flush_outbox().await?;
        self.commit_departures().await?;
        for e in std::mem::take(&mut self.seen) {
            on_event(&e);
        }
        // The members this device met in chats, checked against the key
        // log once they are stored; what cannot be checked now waits. First,
        // so an alarm about this account's own keys does not keep them
        // unchecked.
        for e in self.check_member_keys().await? {
            on_event(&e);
        }
        // This account's own keys, at every sync. A ledger the node cannot
        // reach now does not stop messages (the next sync looks again); a
        // log that says other than what this account did stops it, loudly.
        match self.monitor_own_keys().await {
            Ok(linked) => linked.iter().for_each(&mut on_event),
            Err(e @ (ClientError::KeysNotLogged(_) | ClientError::LedgerTampered(_))) => {
                return Err(e)
            }
            // Not checked this time (a ledger or node that cannot answer
            // now); the next sync looks again.
            Err(_) => {}
        }
        // The announcements of the accounts this person follows, when the
        // node said there are newer ones than this device has; one that
        // cannot be checked now waits for the next sync.
        let have = self.local.announcements_after().await?;
        let read = if self.announcements_to > have {
            self.read_announcements().await
        } else {
            Ok(Vec::new())
        };
        match read {
            Ok(got) => got.iter().for_each(&mut on_event),
            Err(e @ (ClientError::KeysNotLogged(_) | ClientError::LedgerTampered(_))) => {
                return Err(e)
            }
            Err(_) => {}
        }
        Ok(())
    }

    /// Processes what waits for this device in the middle of another
    /// operation, keeping the events for [`Client::take_seen`].
    pub(crate) async fn catch_up(&mut self) -> Result<()> {
        let mut got = Vec::new();
        let r = self.sync_pages(&mut |e| got.push(e.clone())).await;
        self.seen.extend(got);
        r
    }

    async fn sync_pages<F: FnMut(&Event)>(&mut self, on_event: &mut F) -> Result<()> {
        self.resolve_inflight_commit().await?;
        let mut low = false;
        loop {
            let cursor = self.local.cursor().await?;
            let inbox: InboxResponse = self
                .call::<(), _>(
                    Method::GET,
                    &format!("/v1/inbox?after={cursor}&limit={INBOX_PAGE}"),
                    None,
                )
                .await?;
            low |= inbox.key_packages_low;
            self.announcements_to = self.announcements_to.max(inbox.announcements_to);
            let n = inbox.envelopes.len();
            if n == 0 {
                break;
            }
            let mut events = Vec::new();
            let last = self.apply_envelopes(inbox.envelopes, &mut events).await?;
            for e in &events {
                on_event(e);
            }
            let _: () = self
                .call(
                    Method::POST,
                    "/v1/inbox/ack",
                    Some(&AckRequest { up_to: last }),
                )
                .await?;
            if n < INBOX_PAGE as usize {
                break;
            }
        }
        if low {
            self.replenish_key_packages(false).await?;
        }
        Ok(())
    }

    /// Processes envelopes in order and writes the outcome, with the new
    /// cursor, in one transaction. Returns the last sequence number applied.
    pub(crate) async fn apply_envelopes(
        &mut self,
        envelopes: Vec<Envelope>,
        events: &mut Vec<Event>,
    ) -> Result<u64> {
        let cursor = self.local.cursor().await?;
        let mut changes = Changes::default();
        // Members whose keys arrived in this page, for the key log.
        let mut met = Vec::new();
        let mut last = cursor;
        // Chats this device left: what was sent before its departure is
        // still read; what came after is not for it, and the first such
        // entry drops the chat's keys.
        let mut left = self.local.departures().await?;
        let mut standings = self.local.standings().await?;
        // A chat's name is told again to members added later; those who
        // know it already are not told it changed.
        let mut names: HashMap<String, Option<String>> = if envelopes
            .iter()
            .any(|e| e.kind == EnvelopeKind::Application)
        {
            self.local
                .chat_ids()
                .await?
                .into_iter()
                .map(|(c, n, _)| (c, n))
                .collect()
        } else {
            HashMap::new()
        };
        // Whether a new chat is a request depends on who started it; the
        // contacts are fetched before anything is applied, so that a failure
        // to fetch them leaves the page for the next sync.
        let contacts = if envelopes
            .iter()
            .any(|e| e.kind == EnvelopeKind::Welcome && e.sender_handle != self.identity.handle)
        {
            self.contacts().await?.handles
        } else {
            Vec::new()
        };
        for env in envelopes {
            if env.seq <= cursor {
                continue;
            }
            last = env.seq;
            if env.kind != EnvelopeKind::Welcome {
                if let Some(at) = left.get(&group_hex(&env.group_id.0)) {
                    if env.group_seq > *at {
                        if let Some(mut g) = mls::load_group(&self.provider, &env.group_id.0)? {
                            g.delete(self.provider.storage()).map_err(mls_err)?;
                        }
                        continue;
                    }
                }
            }
            let mut fresh = Vec::new();
            mls::apply(&self.provider, &self.identity, &env, &mut fresh, &mut met);
            for mut e in fresh {
                let chat = chat_of(&e).to_string();
                let me = &self.identity.handle;
                let mut request = None;
                match &e {
                    // A declined chat keeps nothing of what arrives.
                    Event::Message(m) if standings.get(&chat) != Some(&Standing::Declined) => {
                        changes.messages.push(m.clone())
                    }
                    Event::Undecryptable(u)
                        if standings.get(&chat) != Some(&Standing::Declined) =>
                    {
                        changes.unopened.push(u.clone())
                    }
                    Event::Joined { by, .. } => {
                        // Added again: what follows is for it.
                        left.remove(&chat);
                        changes.chats.push((chat.clone(), None));
                        let standing = if by == me
                            || contacts.contains(by)
                            || standings.get(&chat) == Some(&Standing::Accepted)
                        {
                            Standing::Accepted
                        } else {
                            request = Some(Event::Request {
                                chat: chat.clone(),
                                by: by.clone(),
                            });
                            Standing::Request { from: by.clone() }
                        };
                        standings.insert(chat.clone(), standing.clone());
                        changes.standing.push((chat.clone(), standing));
                    }
                    Event::Removed { .. } => changes.inactive.push(chat.clone()),
                    Event::Renamed { name, .. } => {
                        if names.get(&chat).and_then(|n| n.as_deref()) == Some(name.as_str()) {
                            continue;
                        }
                        names.insert(chat.clone(), Some(name.clone()));
                        changes.names.push((chat.clone(), name.clone()))
                    }
                    _ => {}
                }
                if let Some(r) = request {
                    e = r;
                }
                // What this person sends from another device answers a
                // request there: they accepted it.
                let mine = match &e {
                    Event::Message(m) => &m.sender == me,
                    Event::MembersChanged { by, .. } => by == me,
                    _ => false,
                };
                if mine && matches!(standings.get(&chat), Some(Standing::Request { .. })) {
                    standings.insert(chat.clone(), Standing::Accepted);
                    changes.standing.push((chat.clone(), Standing::Accepted));
                }
                match standings.get(&chat) {
                    Some(Standing::Declined) => {}
                    Some(Standing::Request { .. }) if !matches!(e, Event::Request { .. }) => {}
                    _ => events.push(e),
                }
            }
        }
        changes.cursor = Some(last);
        // This device itself, by its id and its key both: a leaf that only
        // borrows its id is checked like anyone.
        let my_key = hex::encode(self.signer.public());
        met.retain(|m| !(m.device_id == self.identity.device_id && m.key == my_key));
        if !met.is_empty() {
            // Stored with what brought them: a crash cannot lose a check.
            let mut unchecked = self.unchecked_members().await?;
            unchecked.extend(met);
            changes.meta.push((
                crate::key_log::UNCHECKED_MEMBERS,
                serde_json::to_vec(&unchecked).map_err(|e| ClientError::Protocol(e.to_string()))?,
            ));
        }
        self.save(changes).await?;
        Ok(last)
    }

    /// The entries queued for this device, without processing or
    /// acknowledging them.
    pub async fn peek_inbox(&mut self) -> Result<Vec<Envelope>> {
        let cursor = self.local.cursor().await?;
        let inbox: InboxResponse = self
            .call::<(), _>(
                Method::GET,
                &format!("/v1/inbox?after={cursor}&limit={INBOX_PAGE}"),
                None,
            )
            .await?;
        Ok(inbox.envelopes)
    }

    /// Tries to open an MLS application message of a chat with this device's
    /// state. Used to show that a removed member cannot read later messages,
    /// and by the load generator to prove arrivals are real.
    pub async fn open_ciphertext(&mut self, chat: &str, ciphertext: &[u8]) -> Result<String> {
        let _g = self.begin().await?;
        let mut group = self.load_group(chat)?;
        let text = mls::open_application(&self.provider, &mut group, ciphertext)?;
        self.save(Changes::default()).await?;
        Ok(text)
    }
}
