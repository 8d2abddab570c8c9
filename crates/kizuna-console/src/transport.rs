//! HTTP to the staff listener: JSON in and out, the staff session's token
//! as the bearer, and the listener's refusals as typed errors.

use kizuna_wire::ErrorBody;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{ConsoleError, Result};

#[derive(Clone)]
pub(crate) struct Transport {
    pub(crate) base: String,
    http: reqwest::Client,
}

/// Accepts `host:port`, `http://host:port` or with a trailing slash.
fn normalise_server(s: &str) -> String {
    let s = s.trim().trim_end_matches('/');
    if s.starts_with("http://") || s.starts_with("https://") {
        s.to_string()
    } else {
        format!("http://{s}")
    }
}

impl Transport {
    pub(crate) fn new(server: &str) -> Self {
        Transport {
            base: normalise_server(server),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(60))
                .build()
                .unwrap_or_default(),
        }
    }

    pub(crate) async fn call<B: Serialize, R: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&B>,
    ) -> Result<R> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| ConsoleError::Unreachable {
            server: self.base.clone(),
            reason: e.to_string(),
        })?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| ConsoleError::Unreachable {
            server: self.base.clone(),
            reason: e.to_string(),
        })?;
        if !status.is_success() {
            return Err(match serde_json::from_slice::<ErrorBody>(&bytes) {
                Ok(e) => ConsoleError::Api {
                    code: e.code,
                    message: e.message,
                },
                Err(_) => ConsoleError::Protocol(format!("{path}: HTTP {status}")),
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| ConsoleError::Protocol(format!("{path}: {e}")))
    }
}
