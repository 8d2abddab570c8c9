//! How connections reach the routers: TLS when the node terminates it, the
//! real client address behind a trusted proxy, and the bounds that keep slow
//! or idle peers from taking the node away from everyone else — a limit on
//! connections with a clear refusal beyond it, and timeouts on headers,
//! bodies and silence.

mod io;
mod proxy;
mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use ipnet::IpNet;
use kizuna_wire::{ErrorBody, ErrorCode};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tower_service::Service;

pub use proxy::client_address;
pub use tls::TlsError;

/// The certificate chain and private key a node serves TLS with (PEM).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// What the node accepts at its listeners, the same for both.
#[derive(Debug, Clone)]
pub struct Edge {
    /// Serve HTTPS and WSS with this certificate; `None` serves plain HTTP
    /// (behind a proxy that terminates TLS, or on loopback).
    pub tls: Option<TlsFiles>,
    /// Peers whose `X-Forwarded-For` names the client. From anyone else the
    /// header is ignored: a client cannot choose the address its limits and
    /// the staff network check see.
    pub trusted_proxies: Vec<IpNet>,
    /// Open connections one listener holds at most; beyond it a new one is
    /// answered `503 too_many_connections` and closed. The node also keeps
    /// it below its open-file limit.
    pub max_connections: usize,
    /// The request line and headers (and a TLS handshake) must arrive
    /// within this; it is also how long an idle keep-alive connection
    /// stays open between requests.
    pub header_timeout: Duration,
    /// A request body must arrive whole within this of its headers.
    pub body_timeout: Duration,
    /// A connection on which the peer sends nothing for this long is closed
    /// (WebSockets included: the node pings them more often than this).
    pub idle_timeout: Duration,
}

impl Default for Edge {
    fn default() -> Self {
        Edge {
            tls: None,
            trusted_proxies: Vec::new(),
            max_connections: 50_000,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(90),
        }
    }
}

/// File descriptors kept back for the stores, the ledger, logs and the
/// refusals themselves when the connection limit is derived from the
/// open-file limit.
const RESERVED_FILES: u64 = 512;

/// Refusals answered at once: past these, a connection over the limit is
/// closed without a word rather than costing the node more.
const CONCURRENT_REFUSALS: usize = 64;

/// One listener's runtime: the acceptor, the limit and the timeouts.
pub(crate) struct Gate {
    tls: Option<tokio_rustls::TlsAcceptor>,
    trusted: Arc<[IpNet]>,
    permits: Arc<Semaphore>,
    limit: usize,
    refusals: Arc<Semaphore>,
    header_timeout: Duration,
    body_timeout: Duration,
    idle_timeout: Duration,
    scheme: &'static str,
}

impl Gate {
    /// Builds a listener's gate; `open_files` is the process's open-file
    /// limit, which caps the connection limit.
    pub(crate) fn new(edge: &Edge, open_files: Option<u64>) -> Result<Gate, TlsError> {
        let tls = edge.tls.as_ref().map(tls::acceptor).transpose()?;
        let by_files = open_files
            .map(|n| n.saturating_sub(RESERVED_FILES).max(1))
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(usize::MAX);
        let limit = edge.max_connections.min(by_files).max(1);
        Ok(Gate {
            scheme: if tls.is_some() { "https" } else { "http" },
            tls,
            trusted: edge.trusted_proxies.clone().into(),
            permits: Arc::new(Semaphore::new(limit)),
            limit,
            refusals: Arc::new(Semaphore::new(CONCURRENT_REFUSALS)),
            header_timeout: edge.header_timeout,
            body_timeout: edge.body_timeout,
            idle_timeout: edge.idle_timeout,
        })
    }

    pub(crate) fn scheme(&self) -> &'static str {
        self.scheme
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit
    }
}

/// Accepts connections until `stop`, then lets in-flight requests finish
/// (a WebSocket is told the node is going away by its own session).
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    gate: Gate,
    name: &'static str,
    mut stop: watch::Receiver<bool>,
) {
    let gate = Arc::new(gate);
    let mut exhausted_logged = false;
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stopped(&mut stop) => break,
        };
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors, or the peer gave up before we
                // took it: keep serving the connections we have and try
                // again shortly, rather than spinning.
                if !exhausted_logged {
                    tracing::warn!(listener = name, error = %e, "cannot accept a connection");
                    exhausted_logged = true;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        exhausted_logged = false;
        let _ = tcp.set_nodelay(true);
        match gate.permits.clone().try_acquire_owned() {
            Ok(permit) => {
                let (gate, app, stop) = (gate.clone(), app.clone(), stop.clone());
                tokio::spawn(async move {
                    let tcp = io::Guarded::new(tcp, gate.idle_timeout, permit);
                    match &gate.tls {
                        None => connection(tcp, peer, app, &gate, stop).await,
                        Some(acceptor) => {
                            let handshake = acceptor.accept(tcp);
                            match tokio::time::timeout(gate.header_timeout, handshake).await {
                                Ok(Ok(tls)) => connection(tls, peer, app, &gate, stop).await,
                                Ok(Err(e)) => {
                                    tracing::debug!(%peer, error = %e, "TLS handshake failed")
                                }
                                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                            }
                        }
                    }
                });
            }
            Err(_) => {
                let Ok(slot) = gate.refusals.clone().try_acquire_owned() else {
                    continue;
                };
                let gate = gate.clone();
                tokio::spawn(async move {
                    let _slot = slot;
                    refuse(tcp, &gate).await;
                });
            }
        }
    }
    // Every connection holds a permit until it closes: once all are back,
    // nothing is in flight. Bounded, so a stuck peer cannot hold shutdown.
    let all = u32::try_from(gate.limit).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(Duration::from_secs(30), gate.permits.acquire_many(all)).await;
}

/// Serves one connection's HTTP/1.1 requests (and its upgrade to a
/// WebSocket, which keeps the connection's permit and idle timer).
async fn connection<I>(
    io: I,
    peer: SocketAddr,
    app: Router,
    gate: &Gate,
    mut stop: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let trusted = gate.trusted.clone();
    let body_timeout = gate.body_timeout;
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let client = client_address(peer, req.headers(), &trusted);
        let mut req = req.map(|b| axum::body::Body::new(io::TimedBody::new(b, body_timeout)));
        req.extensions_mut().insert(ConnectInfo(client));
        app.clone().call(req)
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(gate.header_timeout)
        .keep_alive(true);
    let conn = http
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(%peer, error = %e, "connection ended");
            }
        }
        _ = stopped(&mut stop) => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// Whether a failure to read a request came from its body arriving too
/// slowly (an error anywhere in its chain of causes).
pub(crate) fn body_timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if c.is::<io::BodyTimedOut>() {
            return true;
        }
        cause = c.source();
    }
    false
}

/// Resolves once the node is told to stop (holding nothing across awaits).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|v| *v).await;
}

/// Answers a connection over the limit with a `503` it can read, then
/// closes it.
async fn refuse(tcp: tokio::net::TcpStream, gate: &Gate) {
    let body = serde_json::to_string(&ErrorBody {
        code: ErrorCode::TooManyConnections,
        message: format!(
            "the node holds as many connections as it may ({}); try again in a few seconds",
            gate.limit
        ),
    })
    .unwrap_or_default();
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: 5\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let write = async {
        match &gate.tls {
            None => {
                let mut tcp = tcp;
                tcp.write_all(response.as_bytes()).await?;
                tcp.shutdown().await
            }
            Some(acceptor) => {
                let mut tls = acceptor.accept(tcp).await?;
                tls.write_all(response.as_bytes()).await?;
                tls.shutdown().await
            }
        }
    };
    let _ = tokio::time::timeout(gate.header_timeout, write).await;
}

/// Raises this process's open-file limit to its hard limit, so the node is
/// bounded by its connection limit rather than by a default of 1,024
/// descriptors. Returns the limit now in force, if the system tells it.
pub fn raise_open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit only writes the struct it is given, which we own.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
            return None;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            // SAFETY: setrlimit only reads the struct it is given.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
                lim = raised;
            } else {
                tracing::warn!(
                    soft = lim.rlim_cur,
                    hard = lim.rlim_max,
                    "cannot raise the open-file limit; connections are bounded by the lower one"
                );
            }
        }
        Some(lim.rlim_cur)
    }
    #[cfg(not(unix))]
    {
        None
    }
}
