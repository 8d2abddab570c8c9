//! Abuse reports from the reporter's side (revealing a message with what
//! proves it) and moderation decisions from the reported person's side.

use kizuna_wire::Bytes;
use reqwest::Method;

use crate::{Client, ClientError, Result, StoredMessage};

impl Client {
    /// Reports message `seq` of a chat to the service, revealing it (and, if
    /// asked, up to `preceding` earlier messages of the chat as context)
    /// with what proves each: the node checks every one against its own
    /// binding before it keeps the report.
    pub async fn report(
        &mut self,
        chat: &str,
        seq: u64,
        reason: kizuna_wire::reports::ReportReason,
        note: Option<&str>,
        preceding: usize,
    ) -> Result<kizuna_wire::reports::ReportFiled> {
        use kizuna_wire::reports::{ReportRequest, RevealedMessage, MAX_CONTEXT};
        if preceding > MAX_CONTEXT {
            return Err(ClientError::Invalid(format!(
                "a report carries at most {MAX_CONTEXT} preceding messages"
            )));
        }
        let chat = self.resolve_chat(chat).await?;
        let history = self.local.history(&chat).await?;
        let Some(at) = history.iter().position(|m| m.seq == seq) else {
            return Err(ClientError::Invalid(format!(
                "chat {chat} has no message {seq} on this device; `kizuna history {chat}` lists them"
            )));
        };
        let reported = &history[at];
        if reported.sender == self.identity.handle {
            return Err(ClientError::Invalid(
                "you cannot report your own message".into(),
            ));
        }
        if reported.proof.is_none() {
            return Err(ClientError::Invalid(format!(
                "message {seq} came without franking (sent before this service franked messages) and cannot be proven; it cannot be reported"
            )));
        }
        // Context: the closest earlier messages that can be proven.
        let mut chosen: Vec<&StoredMessage> = history[..at]
            .iter()
            .rev()
            .filter(|m| m.proof.is_some())
            .take(preceding)
            .collect();
        chosen.reverse();
        chosen.push(reported);
        let messages = chosen
            .into_iter()
            .filter_map(|m| {
                let p = m.proof.as_ref()?;
                Some(RevealedMessage {
                    group_seq: m.seq,
                    sender_handle: m.sender.clone(),
                    server_time: m.server_time,
                    body: p.body.clone(),
                    franking_key: Bytes(p.key.to_vec()),
                    commitment: Bytes(p.commitment.to_vec()),
                    binding: Bytes(p.binding.to_vec()),
                })
            })
            .collect();
        let group_id = hex::decode(&chat).map_err(|_| ClientError::UnknownChat(chat.clone()))?;
        self.send_report(&ReportRequest {
            group_id: Bytes(group_id),
            reason,
            note: note.map(str::to_string),
            messages,
        })
        .await
    }

    /// Sends a report as given. `report` builds one from local history;
    /// this is for callers that build their own.
    pub async fn send_report(
        &mut self,
        req: &kizuna_wire::reports::ReportRequest,
    ) -> Result<kizuna_wire::reports::ReportFiled> {
        self.call(Method::POST, "/v1/reports", Some(req)).await
    }

    /// The reports I filed and what became of them.
    pub async fn my_reports(&mut self) -> Result<Vec<kizuna_wire::reports::FiledReport>> {
        self.call::<(), _>(Method::GET, "/v1/me/reports", None)
            .await
    }

    /// What moderators decided about my messages.
    pub async fn moderation(&mut self) -> Result<Vec<kizuna_wire::reports::ModerationNotice>> {
        self.call::<(), _>(Method::GET, "/v1/me/moderation", None)
            .await
    }

    /// Appeals a moderator's decision about one of my messages.
    pub async fn appeal(
        &mut self,
        report_id: &str,
        note: &str,
    ) -> Result<kizuna_wire::reports::ModerationNotice> {
        self.call(
            Method::POST,
            &format!("/v1/me/moderation/{report_id}/appeal"),
            Some(&kizuna_wire::reports::AppealRequest {
                note: note.to_string(),
            }),
        )
        .await
    }
}
