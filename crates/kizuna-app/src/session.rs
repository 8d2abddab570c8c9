//! Who may use the app: only the browser that opened the one-time address
//! the app printed, at the app's own loopback address.
//!
//! The secret in the printed address is spent on first use and traded for
//! a session cookie the page cannot read (HttpOnly) and no other site can
//! send (SameSite=Strict). A request whose Host is not the app's own
//! address is refused, so a web page that points a name of its own at
//! 127.0.0.1 (DNS rebinding) reaches nothing.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use crate::AppError;

const COOKIE: &str = "kizuna_app";

/// Everything the page runs comes from this process; nothing inline,
/// nothing from another origin, and no framing.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

pub(crate) struct Sessions {
    addr: SocketAddr,
    /// The printed secret, until it is used.
    secret: Mutex<Option<String>>,
    session: String,
}

fn random_hex() -> String {
    let mut b = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut b);
    hex::encode(b)
}

/// Compares secrets in time that does not depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Sessions {
    pub fn new(addr: SocketAddr) -> Self {
        Sessions {
            addr,
            secret: Mutex::new(Some(random_hex())),
            session: random_hex(),
        }
    }

    pub fn open_url(&self) -> String {
        let secret = self
            .secret
            .lock()
            .map(|s| s.clone().unwrap_or_default())
            .unwrap_or_default();
        format!("http://{}/open?secret={secret}", self.addr)
    }

    /// Spends the printed secret: true once, for the right one.
    fn spend(&self, offered: &str) -> bool {
        let Ok(mut secret) = self.secret.lock() else {
            return false;
        };
        match secret.as_deref() {
            Some(s) if same(s, offered) => {
                *secret = None;
                true
            }
            _ => false,
        }
    }

    fn host_is_ours(&self, headers: &HeaderMap) -> bool {
        let ours = [
            format!("{}", self.addr),
            format!("localhost:{}", self.addr.port()),
        ];
        let host_ok = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|h| ours.iter().any(|o| o == h));
        // A browser names the page that sent a request; only our own page
        // may send one.
        let origin_ok = headers
            .get(header::ORIGIN)
            .and_then(|h| h.to_str().ok())
            .is_none_or(|o| ours.iter().any(|h| o == format!("http://{h}")));
        host_ok && origin_ok
    }

    fn has_session(&self, headers: &HeaderMap) -> bool {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .any(|(k, v)| k == COOKIE && same(v, &self.session))
    }
}

/// `GET /open?secret=…`: the printed address. Sets the session cookie and
/// sends the browser on to the page, without the secret in its address.
fn open(sessions: &Sessions, query: Option<&str>) -> Result<Response, AppError> {
    // The secret is hex: nothing in it is percent-encoded.
    let offered = query
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix("secret="))
        .unwrap_or("");
    if !sessions.spend(offered) {
        return Err(AppError::NoSession);
    }
    let cookie = format!(
        "{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/",
        sessions.session
    );
    let mut r = Redirect::to("/").into_response();
    let value = HeaderValue::from_str(&cookie).map_err(|e| AppError::Invalid(e.to_string()))?;
    r.headers_mut().insert(header::SET_COOKIE, value);
    Ok(r)
}

/// Every request: our own address, a session (but for the printed
/// address itself), and the headers that confine the page.
pub(crate) async fn guard(
    State(sessions): State<Arc<Sessions>>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    let mut response = if !sessions.host_is_ours(headers) {
        AppError::WrongHost.into_response()
    } else if request.uri().path() == "/open" && request.method() == Method::GET {
        open(&sessions, request.uri().query()).unwrap_or_else(IntoResponse::into_response)
    } else if !sessions.has_session(headers) {
        AppError::NoSession.into_response()
    } else {
        next.run(request).await
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
