//! HTTP to the user API, with the device's short-lived token obtained by
//! signing a challenge with its identity key.

use kizuna_wire::*;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{ClientError, Result};

#[derive(Clone)]
pub struct Transport {
    pub base: String,
    http: reqwest::Client,
}

/// Accepts `host:port`, `http://host:port` or with a trailing slash.
pub fn normalise_server(s: &str) -> String {
    let s = s.trim().trim_end_matches('/');
    if s.starts_with("http://") || s.starts_with("https://") {
        s.to_string()
    } else {
        format!("http://{s}")
    }
}

impl Transport {
    pub fn new(server: &str) -> Self {
        Transport {
            base: normalise_server(server),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(60))
                .build()
                .unwrap_or_default(),
        }
    }

    pub fn ws_url(&self, path: &str) -> String {
        let rest = self
            .base
            .strip_prefix("http://")
            .map(|r| format!("ws://{r}"))
            .or_else(|| {
                self.base
                    .strip_prefix("https://")
                    .map(|r| format!("wss://{r}"))
            })
            .unwrap_or_else(|| self.base.clone());
        format!("{rest}{path}")
    }

    pub async fn call<B: Serialize, R: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&B>,
    ) -> Result<R> {
        let bytes = self.call_raw(method, path, token, body).await?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Protocol(format!("{path}: {e}")))
    }

    pub async fn call_raw<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&B>,
    ) -> Result<Vec<u8>> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| ClientError::Unreachable {
            server: self.base.clone(),
            reason: e.to_string(),
        })?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| ClientError::Unreachable {
            server: self.base.clone(),
            reason: e.to_string(),
        })?;
        if status.is_success() {
            return Ok(bytes.to_vec());
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(e) => Err(ClientError::Api {
                code: e.code,
                message: e.message,
            }),
            Err(_) => Err(ClientError::Protocol(format!("{path}: HTTP {status}"))),
        }
    }
}
