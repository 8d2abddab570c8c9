//! Sending: encrypting for the group's current epoch, the one message in
//! flight kept until the node answers, and messages encrypted ahead for the
//! load generator.

use kizuna_wire::{Bytes, ChatContent, ErrorCode, SendAccepted, SendRequest};
use reqwest::Method;

use crate::local::{self, Changes};
use crate::{
    mls, mls_err, Client, ClientError, Event, FrankProof, Result, StoredMessage, MAX_ATTEMPTS,
};

/// The files a message's content carries, which the node is told of so
/// that the chat's devices may fetch them.
fn files_of(content: &str) -> Vec<String> {
    match serde_json::from_str::<ChatContent>(content) {
        Ok(ChatContent::File { file, .. }) => vec![file.file_id],
        _ => Vec::new(),
    }
}

impl Client {
    /// Encrypts and sends a text message.
    pub async fn send(&mut self, chat: &str, text: &str) -> Result<StoredMessage> {
        self.send_as(chat, text, None).await
    }

    /// Encrypts and sends a text with a structure: a card, an answer to
    /// one, a request to an official account.
    pub async fn send_structured(
        &mut self,
        chat: &str,
        text: &str,
        structured: kizuna_wire::Structured,
    ) -> Result<StoredMessage> {
        self.send_as(chat, text, Some(structured)).await
    }

    async fn send_as(
        &mut self,
        chat: &str,
        text: &str,
        structured: Option<kizuna_wire::Structured>,
    ) -> Result<StoredMessage> {
        if text.is_empty() {
            return Err(ClientError::Invalid("the message is empty".into()));
        }
        let _g = self.begin().await?;
        let chat = self.resolve_accepted_chat(chat).await?;
        self.resolve_inflight_commit().await?;
        self.flush_outbox().await?;
        let name = self.display_name().await;
        let content = match structured {
            None => ChatContent::Text {
                text: text.to_string(),
                name,
            },
            Some(structured) => ChatContent::Structured {
                text: text.to_string(),
                structured,
                name,
            },
        };
        let mut id = vec![0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut id);
        self.send_content(&chat, &content, id)
            .await?
            .ok_or_else(|| {
                ClientError::Protocol("a text message was stored as another kind".into())
            })
    }

    /// Encrypts content for the group's current epoch and submits it under
    /// `client_id`, then records it (a text in the history, a name on the
    /// chat). The ciphertext leaves only once the advanced ratchet and the
    /// message are on disk as the one in flight: a send with no answer is
    /// sent again, with the same id, by the next send or sync, and the node
    /// delivers it once.
    pub(crate) async fn send_content(
        &mut self,
        chat: &str,
        content: &ChatContent,
        client_id: Vec<u8>,
    ) -> Result<Option<StoredMessage>> {
        let group_id = hex::decode(chat).map_err(|_| ClientError::UnknownChat(chat.to_string()))?;
        for _ in 0..MAX_ATTEMPTS {
            let (plain, proof) = mls::franked(content, &group_id, &self.identity.handle)?;
            let mut group = self.load_group(chat)?;
            // MLS sends nothing while a proposal waits: a member's
            // departure is carried out first.
            if group.pending_proposals().next().is_some() {
                self.commit_now(chat, mls::Change::Pending).await?;
                continue;
            }
            let ct = group
                .create_message(&self.provider, &self.signer, &plain)
                .map_err(mls_err)?
                .to_bytes()
                .map_err(mls_err)?;
            let outgoing = local::Outgoing {
                client_id: client_id.clone(),
                chat: chat.to_string(),
                content: proof.body.clone(),
                message: ct,
                commitment: proof.commitment,
                franking_key: proof.key,
            };
            self.save(Changes {
                outbox: Some(Some(outgoing.clone())),
                ..Default::default()
            })
            .await?;
            match self.submit_outgoing(&outgoing).await {
                Ok(a) => return self.record_sent(&outgoing, content, a).await,
                Err(e) if e.api_code() == Some(ErrorCode::StaleEpoch) => self.catch_up().await?,
                Err(e @ ClientError::Api { .. }) => {
                    // A definite refusal: nothing of it was kept.
                    self.save(Changes {
                        outbox: Some(None),
                        ..Default::default()
                    })
                    .await?;
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(ClientError::TooManyRetries(MAX_ATTEMPTS))
    }

    async fn submit_outgoing(&mut self, o: &local::Outgoing) -> Result<SendAccepted> {
        self.call(
            Method::POST,
            &format!("/v1/groups/{}/messages", o.chat),
            Some(&SendRequest {
                message: Bytes(o.message.clone()),
                commitment: Some(Bytes(o.commitment.to_vec())),
                client_id: Some(Bytes(o.client_id.clone())),
                files: files_of(&o.content),
            }),
        )
        .await
    }

    /// Keeps what the node accepted and clears it from the outbox, in one
    /// transaction.
    async fn record_sent(
        &mut self,
        o: &local::Outgoing,
        content: &ChatContent,
        a: SendAccepted,
    ) -> Result<Option<StoredMessage>> {
        let proof = FrankProof {
            body: o.content.clone(),
            key: o.franking_key,
            commitment: o.commitment,
            binding: a
                .binding
                .as_ref()
                .and_then(|b| b.0.clone().try_into().ok())
                .unwrap_or([0; 32]),
        };
        let mut changes = Changes {
            outbox: Some(None),
            ..Default::default()
        };
        let sent = match content {
            ChatContent::Text { text, name } => {
                let m = StoredMessage {
                    chat: o.chat.clone(),
                    sender: self.identity.handle.clone(),
                    sender_name: name.clone(),
                    sender_device: self.identity.device_id.clone(),
                    text: text.clone(),
                    server_time: a.server_time,
                    seq: a.group_seq,
                    proof: Some(Box::new(proof)),
                    file: None,
                    structured: None,
                };
                changes.messages.push(m.clone());
                Some(m)
            }
            ChatContent::Structured {
                text,
                structured,
                name,
            } => {
                let m = StoredMessage {
                    chat: o.chat.clone(),
                    sender: self.identity.handle.clone(),
                    sender_name: name.clone(),
                    sender_device: self.identity.device_id.clone(),
                    text: text.clone(),
                    server_time: a.server_time,
                    seq: a.group_seq,
                    proof: Some(Box::new(proof)),
                    file: None,
                    structured: Some(Box::new(structured.clone())),
                };
                changes.messages.push(m.clone());
                Some(m)
            }
            ChatContent::ChatName { name } => {
                changes.names.push((o.chat.clone(), name.clone()));
                None
            }
            ChatContent::File {
                file,
                caption,
                name,
            } => {
                let m = StoredMessage {
                    chat: o.chat.clone(),
                    sender: self.identity.handle.clone(),
                    sender_name: name.clone(),
                    sender_device: self.identity.device_id.clone(),
                    text: caption.clone().unwrap_or_default(),
                    server_time: a.server_time,
                    seq: a.group_seq,
                    proof: Some(Box::new(proof)),
                    file: Some(crate::local::Attachment::of(file)),
                    structured: None,
                };
                changes.messages.push(m.clone());
                Some(m)
            }
        };
        self.save(changes).await?;
        Ok(sent)
    }

    /// Sends again the message that left without an answer, with its id:
    /// the node delivers it once whether or not the first attempt arrived.
    /// A message the group has moved past is encrypted again for the new
    /// epoch, keeping its id.
    pub(crate) async fn flush_outbox(&mut self) -> Result<()> {
        let Some(o) = self.local.outbox().await? else {
            return Ok(());
        };
        let content: ChatContent =
            serde_json::from_str(&o.content).map_err(|e| ClientError::Local {
                path: self.local.path.clone(),
                reason: format!("damaged outbox: {e}"),
            })?;
        let sent = match self.submit_outgoing(&o).await {
            Ok(a) => self.record_sent(&o, &content, a).await,
            Err(e) if e.api_code() == Some(ErrorCode::StaleEpoch) => {
                self.catch_up().await?;
                self.send_content(&o.chat, &content, o.client_id.clone())
                    .await
            }
            Err(e) => Err(e),
        };
        match sent {
            Ok(Some(m)) => self.seen.push(Event::Message(m)),
            Ok(None) => {}
            Err(e @ (ClientError::Unreachable { .. } | ClientError::Local { .. })) => {
                return Err(e)
            }
            Err(e) => {
                // Refused for good (no longer a member, say): it was never
                // delivered, and the person is told.
                self.save(Changes {
                    outbox: Some(None),
                    ..Default::default()
                })
                .await?;
                self.seen.push(Event::NotSent {
                    chat: o.chat.clone(),
                    content: o.content.clone(),
                    reason: e.to_string(),
                });
            }
        }
        Ok(())
    }

    /// Encrypts text messages for a chat without sending them, in order, and
    /// writes the advanced ratchet before returning. For load generators that
    /// must not spend the measured time encrypting; each request (ciphertext and franking commitment) is sent
    /// with `POST /v1/groups/{chat}/messages`.
    pub async fn prepare_messages(
        &mut self,
        chat: &str,
        texts: &[String],
    ) -> Result<Vec<SendRequest>> {
        let _g = self.begin().await?;
        let chat = self.resolve_member_chat(chat).await?;
        let group_id = hex::decode(&chat).map_err(|_| ClientError::UnknownChat(chat.clone()))?;
        let mut group = self.load_group(&chat)?;
        let mut out = Vec::with_capacity(texts.len());
        for t in texts {
            let (plain, proof) = mls::franked(
                &ChatContent::Text {
                    text: t.clone(),
                    name: None,
                },
                &group_id,
                &self.identity.handle,
            )?;
            out.push(SendRequest {
                message: Bytes(
                    group
                        .create_message(&self.provider, &self.signer, &plain)
                        .map_err(mls_err)?
                        .to_bytes()
                        .map_err(mls_err)?,
                ),
                commitment: Some(Bytes(proof.commitment.to_vec())),
                client_id: None,
                files: Vec::new(),
            });
        }
        self.save(Changes::default()).await?;
        Ok(out)
    }
}
