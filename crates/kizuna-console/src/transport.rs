//! HTTP to the staff listener: JSON in and out, the staff session's token
//! as the bearer, and the listener's refusals as typed errors.

use kizuna_wire::ErrorBody;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;

use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

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

/// The system's trusted roots, read once per process.
fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| rustls_native_certs::load_native_certs().certs)
}

/// TLS to the staff listener: the system's roots plus the node's own
/// authority (PEM) if it has one.
fn tls_config(ca_cert: Option<&str>) -> Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    let _ = roots.add_parsable_certificates(system_roots().iter().cloned());
    if let Some(pem) = ca_cert {
        let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| ConsoleError::Tls(format!("cannot read the CA certificate: {e}")))?;
        if certs.is_empty() {
            return Err(ConsoleError::Tls(
                "the CA certificate file holds no PEM certificate".into(),
            ));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| ConsoleError::Tls(format!("cannot trust the CA certificate: {e}")))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConsoleError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// What went wrong reaching the listener, with every cause.
fn unreachable(server: &str, e: &dyn std::error::Error) -> ConsoleError {
    let mut reason = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        reason.push_str(": ");
        reason.push_str(&s.to_string());
        source = s.source();
    }
    if reason.contains("certificate") {
        reason.push_str(
            "; if the node's certificate comes from a private authority, give it with --ca-cert FILE",
        );
    }
    ConsoleError::Unreachable {
        server: server.to_string(),
        reason,
    }
}

impl Transport {
    pub(crate) fn new(server: &str, ca_cert: Option<&str>) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .use_preconfigured_tls(tls_config(ca_cert)?)
            .build()
            .map_err(|e| ConsoleError::Tls(e.to_string()))?;
        Ok(Transport {
            base: normalise_server(server),
            http,
        })
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
        let resp = req.send().await.map_err(|e| unreachable(&self.base, &e))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| unreachable(&self.base, &e))?;
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

    /// A GET whose answer is bytes, not JSON: the response, to be read as
    /// it arrives, or the listener's refusal.
    pub(crate) async fn download(&self, path: &str, token: &str) -> Result<reqwest::Response> {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| unreachable(&self.base, &e))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| unreachable(&self.base, &e))?;
        Err(match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(e) => ConsoleError::Api {
                code: e.code,
                message: e.message,
            },
            Err(_) => ConsoleError::Protocol(format!("{path}: HTTP {status}")),
        })
    }
}
