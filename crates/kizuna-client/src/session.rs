//! The device's session with the node: a short-lived token got by signing
//! the node's challenge with the identity key, and the authenticated calls
//! that renew it once when the node no longer takes it.

use kizuna_wire::{
    auth_signing_input, now_ms, Bytes, ChallengeRequest, ChallengeResponse, ErrorCode,
    TokenRequest, TokenResponse,
};
use reqwest::Method;

use crate::{mls, Client, ClientError, Result};

impl Client {
    pub(crate) async fn token(&mut self) -> Result<String> {
        if let Some((t, exp)) = &self.token {
            if *exp > now_ms() / 1000 + 30 {
                return Ok(t.clone());
            }
        }
        let c: ChallengeResponse = self
            .transport
            .call(
                Method::POST,
                "/v1/auth/challenge",
                None,
                Some(&ChallengeRequest {
                    device_id: self.identity.device_id.clone(),
                }),
            )
            .await?;
        let sig = mls::sign(
            &self.signer,
            &auth_signing_input(&self.identity.device_id, &c.challenge),
        )?;
        let t: TokenResponse = self
            .transport
            .call(
                Method::POST,
                "/v1/auth/token",
                None,
                Some(&TokenRequest {
                    device_id: self.identity.device_id.clone(),
                    challenge: c.challenge,
                    signature: Bytes(sig),
                }),
            )
            .await?;
        self.local.set_meta("token", t.token.as_bytes()).await?;
        self.local
            .set_meta("token_expires", t.expires_at.to_string().as_bytes())
            .await?;
        self.token = Some((t.token.clone(), t.expires_at));
        Ok(t.token)
    }

    /// An authenticated call; a token the server no longer accepts is renewed once.
    pub(crate) async fn call<B: serde::Serialize, R: serde::de::DeserializeOwned>(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<R> {
        let bytes = self.call_raw(method, path, body).await?;
        if bytes.is_empty() {
            return serde_json::from_slice(b"null")
                .map_err(|e| ClientError::Protocol(e.to_string()));
        }
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Protocol(format!("{path}: {e}")))
    }

    pub(crate) async fn call_raw<B: serde::Serialize>(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<Vec<u8>> {
        let payload = match body {
            None => crate::transport::Payload::Empty,
            Some(b) => crate::transport::Payload::Json(
                serde_json::to_vec(b).map_err(|e| ClientError::Protocol(e.to_string()))?,
            ),
        };
        Ok(self.exchange(method, path, &payload).await?.0)
    }

    /// Like [`Client::call_raw`] for any payload, answering the headers
    /// too (a part's digest).
    pub(crate) async fn exchange(
        &mut self,
        method: Method,
        path: &str,
        payload: &crate::transport::Payload,
    ) -> Result<(Vec<u8>, reqwest::header::HeaderMap)> {
        let token = self.token().await?;
        match self
            .transport
            .exchange(method.clone(), path, Some(&token), payload)
            .await
        {
            Err(ClientError::Api {
                code: ErrorCode::TokenExpired | ErrorCode::Unauthorized,
                ..
            }) => {
                self.token = None;
                let token = self.token().await?;
                self.transport
                    .exchange(method, path, Some(&token), payload)
                    .await
            }
            other => other,
        }
    }

    /// A bearer token for this device, for calling the HTTP API directly.
    pub async fn bearer_token(&mut self) -> Result<String> {
        self.token().await
    }
}
