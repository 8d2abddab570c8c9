//! Chat requests: chats someone not in my contacts put me into, accepted or
//! declined here.

use crate::local::Changes;
use crate::{ChatRequest, Client, ClientError, Result, Standing};

impl Client {
    /// The chats someone not in my contacts put me into, waiting for me to
    /// accept or decline them.
    pub async fn chat_requests(&self) -> Result<Vec<ChatRequest>> {
        self.local.requests().await
    }

    /// The chat request `s` names.
    async fn resolve_request(&self, s: &str) -> Result<(String, String)> {
        let chat = self.resolve_chat(s).await?;
        match self.local.standings().await?.remove(&chat) {
            Some(Standing::Request { from }) => Ok((chat, from)),
            _ => Err(ClientError::Unchanged(format!(
                "chat {chat} is not a chat request"
            ))),
        }
    }

    /// Accepts a chat request: from now on it is a normal chat, with what
    /// was sent in it while it waited.
    pub async fn accept_chat(&mut self, chat: &str) -> Result<ChatRequest> {
        let _g = self.begin().await?;
        let (chat, _) = self.resolve_request(chat).await?;
        let request = self.request_view(&chat).await?;
        self.save(Changes {
            standing: vec![(chat, Standing::Accepted)],
            ..Default::default()
        })
        .await?;
        Ok(request)
    }

    /// Declines a chat request: this device leaves the chat and forgets
    /// what was sent in it; with `block`, the person who started it is
    /// blocked too.
    pub async fn decline_chat(&mut self, chat: &str, block: bool) -> Result<ChatRequest> {
        let _g = self.begin().await?;
        let (chat, from) = self.resolve_request(chat).await?;
        let request = self.request_view(&chat).await?;
        if block {
            self.block(&from).await?;
        }
        // Removed meanwhile by the others: there is nothing left to leave.
        match self.leave_locked(chat.clone()).await {
            Ok(_) | Err(ClientError::NotInChat(_)) => {}
            Err(e) => return Err(e),
        }
        self.save(Changes {
            standing: vec![(chat, Standing::Declined)],
            ..Default::default()
        })
        .await?;
        Ok(request)
    }

    async fn request_view(&self, chat: &str) -> Result<ChatRequest> {
        self.local
            .requests()
            .await?
            .into_iter()
            .find(|r| r.chat == chat)
            .ok_or_else(|| ClientError::UnknownChat(chat.to_string()))
    }
}
