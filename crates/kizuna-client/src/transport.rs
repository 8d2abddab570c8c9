//! HTTP to the user API, with the device's short-lived token obtained by
//! signing a challenge with its identity key.

use kizuna_wire::*;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;

use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::error::{ClientError, Result};

/// A node as a device reaches it: its URL and, for a node whose certificate
/// comes from a private authority, that authority (PEM) to trust besides
/// the system's roots.
#[derive(Clone, Debug, Default)]
pub struct ServerAddress {
    pub url: String,
    pub ca_cert: Option<Vec<u8>>,
}

impl ServerAddress {
    pub fn new(url: &str) -> Self {
        ServerAddress {
            url: url.to_string(),
            ca_cert: None,
        }
    }

    /// Trusts `pem` (one or more certificates) for this server too.
    pub fn with_ca_cert(mut self, pem: Option<Vec<u8>>) -> Self {
        self.ca_cert = pem;
        self
    }
}

impl std::fmt::Display for ServerAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url)
    }
}

impl From<&str> for ServerAddress {
    fn from(url: &str) -> Self {
        ServerAddress::new(url)
    }
}

impl From<&ServerAddress> for ServerAddress {
    fn from(server: &ServerAddress) -> Self {
        server.clone()
    }
}

impl From<&String> for ServerAddress {
    fn from(url: &String) -> Self {
        ServerAddress::new(url)
    }
}

#[derive(Clone)]
pub struct Transport {
    /// The nodes this device may use, in the order given; one name behind a
    /// load balancer is a list of one.
    bases: Arc<Vec<String>>,
    /// The one in use: requests stay with it until it cannot be reached.
    current: Arc<std::sync::atomic::AtomicUsize>,
    http: reqwest::Client,
    tls: Arc<rustls::ClientConfig>,
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

/// The system's trusted roots, read once per process: every connection
/// trusts the same ones, and reading them costs a directory walk.
fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| rustls_native_certs::load_native_certs().certs)
}

/// TLS as the device speaks it: the system's roots plus the server's own
/// authority if it has one, TLS 1.2 or 1.3, HTTP/1.1 (which WebSockets need).
fn tls_config(ca_cert: Option<&[u8]>) -> Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    // A system certificate rustls cannot use is skipped, as browsers do.
    let _ = roots.add_parsable_certificates(system_roots().iter().cloned());
    if let Some(pem) = ca_cert {
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| ClientError::Tls(format!("cannot read the CA certificate: {e}")))?;
        if certs.is_empty() {
            return Err(ClientError::Tls(
                "the CA certificate file holds no PEM certificate".into(),
            ));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| ClientError::Tls(format!("cannot trust the CA certificate: {e}")))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// What went wrong reaching the server, with every cause (a certificate
/// problem is several layers down in reqwest's error).
pub(crate) fn unreachable(server: &str, e: &dyn std::error::Error) -> ClientError {
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
    ClientError::Unreachable {
        server: server.to_string(),
        reason,
    }
}

impl Transport {
    pub fn new(server: &ServerAddress) -> Result<Self> {
        let tls = tls_config(server.ca_cert.as_deref())?;
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .use_preconfigured_tls(tls.clone())
            .build()
            .map_err(|e| ClientError::Tls(e.to_string()))?;
        let bases: Vec<String> = server
            .url
            .split(',')
            .filter(|u| !u.trim().is_empty())
            .map(normalise_server)
            .collect();
        if bases.is_empty() {
            return Err(ClientError::Unreachable {
                server: server.url.clone(),
                reason: "no server address was given".into(),
            });
        }
        Ok(Transport {
            bases: Arc::new(bases),
            current: Arc::default(),
            http,
            tls: Arc::new(tls),
        })
    }

    /// Every node this device may use, as it is remembered: comma-separated.
    pub fn servers(&self) -> String {
        self.bases.join(",")
    }

    /// The node in use now.
    pub fn base(&self) -> &str {
        let i = self.current.load(std::sync::atomic::Ordering::Relaxed);
        &self.bases[i % self.bases.len()]
    }

    /// Moves on to the next node after `failed` could not be reached (unless
    /// another request already moved on).
    fn fail_over(&self, failed: usize) {
        let next = (failed + 1) % self.bases.len();
        let _ = self.current.compare_exchange(
            failed,
            next,
            std::sync::atomic::Ordering::Relaxed,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// How a WebSocket to this server is secured (for `wss://`).
    pub fn ws_connector(&self) -> tokio_tungstenite::Connector {
        tokio_tungstenite::Connector::Rustls(self.tls.clone())
    }

    pub fn ws_url(&self, path: &str) -> String {
        let base = self.base();
        let rest = base
            .strip_prefix("http://")
            .map(|r| format!("ws://{r}"))
            .or_else(|| base.strip_prefix("https://").map(|r| format!("wss://{r}")))
            .unwrap_or_else(|| base.to_string());
        format!("{rest}{path}")
    }

    /// Notes that the WebSocket to the node in use could not be opened, so
    /// the next attempt goes to the next node.
    pub fn ws_failed(&self) {
        self.fail_over(self.current.load(std::sync::atomic::Ordering::Relaxed) % self.bases.len());
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
        let payload = match body {
            None => Payload::Empty,
            Some(b) => Payload::Json(
                serde_json::to_vec(b).map_err(|e| ClientError::Protocol(e.to_string()))?,
            ),
        };
        Ok(self.exchange(method, path, token, &payload).await?.0)
    }

    /// Sends a request and answers the body and headers of a success, or
    /// the node's typed error.
    pub(crate) async fn exchange(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        payload: &Payload,
    ) -> Result<(Vec<u8>, reqwest::header::HeaderMap)> {
        // A node that cannot be connected to never saw the request: it is
        // safe to send it to the next one. Any later failure is reported
        // (the request may have been carried out), and the caller's retry
        // goes to the same node.
        let mut tried = 0;
        let (base, resp) = loop {
            let i = self.current.load(std::sync::atomic::Ordering::Relaxed) % self.bases.len();
            let base = &self.bases[i];
            let mut req = self.http.request(method.clone(), format!("{base}{path}"));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            req = match payload {
                Payload::Empty => req,
                Payload::Json(b) => req
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(b.clone()),
                Payload::Part { bytes, digest } => req
                    .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .header(kizuna_wire::CONTENT_DIGEST, digest.as_str())
                    .body(bytes.clone()),
            };
            match req.send().await {
                Ok(resp) => break (base, resp),
                Err(e) if e.is_connect() && tried + 1 < self.bases.len() => {
                    tried += 1;
                    self.fail_over(i);
                }
                Err(e) => {
                    if e.is_connect() {
                        self.fail_over(i);
                    }
                    return Err(unreachable(base, &e));
                }
            }
        };
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.map_err(|e| unreachable(base, &e))?;
        if status.is_success() {
            return Ok((bytes.to_vec(), headers));
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

/// What a request carries.
pub(crate) enum Payload {
    Empty,
    Json(Vec<u8>),
    /// A file's part, raw, with its SHA-256 as `Content-Digest`.
    Part {
        bytes: Vec<u8>,
        digest: String,
    },
}
