//! The user realm's HTTP API: its state, extractors and router. Each
//! handler parses a request, calls the node and maps the outcome to an
//! error code; the handlers live in one module per area.

pub(crate) mod accounts;
pub(crate) mod disclosures;
pub(crate) mod files;
pub(crate) mod groups;
pub(crate) mod official;
pub(crate) mod privacy;
pub(crate) mod reports;
pub(crate) mod transparency;
pub(crate) mod ws;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use kizuna_node::Node;
use kizuna_wire::*;

use crate::auth::{AuthError, DeviceIdentity};
use crate::error::ApiError;
use crate::limits::RateLimiter;

/// The user realm's state: the node, and what only the edge needs.
pub struct AppState {
    pub node: Arc<Node>,
    /// Staff requests that wait for a person's agreement are answered by
    /// the person here; `None` when the node runs without a staff realm.
    pub governance: Option<Arc<crate::staff::Governance>>,
    /// Requests per device.
    pub rate: RateLimiter,
    /// New accounts and device links, per network address.
    pub signup_rate: RateLimiter,
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

impl std::ops::Deref for AppState {
    type Target = Node;

    fn deref(&self) -> &Node {
        &self.node
    }
}

pub type Shared = Arc<AppState>;

pub fn router(state: Shared) -> Router {
    // Bodies carry base64 (4/3 larger) inside JSON; leave room for that.
    let body_limit = state.limits.max_handshake_bytes * 4 / 3 + 64 * 1024;
    Router::new()
        .route("/health", get(health))
        .route("/openapi.json", get(crate::openapi::document))
        .route("/v1/accounts", post(accounts::register))
        .route("/v1/phone/codes", post(accounts::phone_code))
        .route("/v1/accounts/{handle}", get(accounts::account))
        .route("/v1/delivery-service", get(accounts::delivery_service))
        .route("/v1/devices", get(accounts::devices))
        .route(
            "/v1/devices/{device}",
            axum::routing::delete(accounts::revoke_device),
        )
        .route("/v1/auth/challenge", post(accounts::challenge))
        .route("/v1/auth/token", post(accounts::token))
        .route("/v1/me", get(accounts::me).delete(privacy::erase))
        .route("/v1/me/data-map", get(privacy::data_map))
        .route(
            "/v1/me/consent",
            get(disclosures::consent)
                .post(disclosures::agree)
                .delete(disclosures::withdraw),
        )
        .route(
            "/v1/regions/{region}/disclosures",
            get(disclosures::disclosures),
        )
        .route("/v1/me/blocks", get(privacy::blocked))
        .route(
            "/v1/me/blocks/{handle}",
            axum::routing::put(privacy::block).delete(privacy::unblock),
        )
        .route("/v1/me/requests", get(privacy::requests))
        .route(
            "/v1/me/requests/{grant}/{answer}",
            post(privacy::answer_request),
        )
        .route("/v1/me/export", get(privacy::export))
        .route("/v1/me/accesses", get(transparency::my_accesses))
        .route("/v1/keys/{handle}", get(transparency::key_history))
        .route(
            "/v1/official/applications",
            get(official::applications).post(official::apply),
        )
        .route(
            "/v1/official/{handle}/follow",
            put(official::follow).delete(official::unfollow),
        )
        .route("/v1/me/follows", get(official::follows))
        .route("/v1/official/announcements", post(official::announce))
        .route("/v1/announcements", get(official::announcements))
        .route("/v1/reports", post(reports::file_report))
        .route("/v1/me/reports", get(reports::my_reports))
        .route("/v1/me/moderation", get(reports::moderation_notices))
        .route("/v1/me/moderation/{report}/appeal", post(reports::appeal))
        .route("/v1/ledger/key", get(transparency::ledger_key))
        .route("/v1/ledger/head", get(transparency::tree_head))
        .route("/v1/ledger/heads", get(transparency::tree_heads))
        .route(
            "/v1/ledger/consistency",
            get(transparency::consistency_proof),
        )
        .route("/v1/ledger/leaves", get(transparency::ledger_leaves))
        .route(
            "/v1/me/contacts",
            get(privacy::contacts).put(privacy::set_contacts),
        )
        .route("/v1/lookup/phone", post(accounts::lookup_phone))
        .route(
            "/v1/devices/me/key-packages",
            post(groups::upload_key_packages).get(groups::key_package_status),
        )
        .route("/v1/key-packages/claim", post(groups::claim_key_packages))
        .route("/v1/groups", post(groups::create_group))
        .route("/v1/groups/{group}", get(groups::group))
        .route("/v1/groups/{group}/commits", post(groups::commit))
        .route("/v1/groups/{group}/proposals", post(groups::propose))
        .route("/v1/groups/{group}/messages", post(groups::send))
        .route("/v1/groups/{group}/files", post(files::begin_upload))
        .route("/v1/files/{file}", get(files::file_progress))
        .route(
            "/v1/files/{file}/parts/{part}",
            put(files::put_part)
                .get(files::get_part)
                // A part is larger than any other request.
                .layer(axum::extract::DefaultBodyLimit::max(
                    kizuna_wire::FILE_PART_BYTES as usize + 1024,
                )),
        )
        .route("/v1/inbox", get(groups::inbox))
        .route("/v1/inbox/ack", post(groups::ack))
        .route("/v1/ws", get(ws::upgrade))
        .route("/v1/links", post(accounts::create_link))
        .route("/v1/links/inspect", post(accounts::inspect_link))
        .route("/v1/links/approve", post(accounts::approve_link))
        .route("/v1/links/{link}", get(accounts::link_status))
        .fallback(|| async {
            ApiError::not_found(ErrorCode::NotFound, "no such endpoint; see /openapi.json")
        })
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

/// The answer to a known path asked with a method it does not take; axum
/// adds the `Allow` header naming those it does.
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::MethodNotAllowed,
        "this endpoint does not take this method; the Allow header names those it takes, and /openapi.json describes them",
    )
}

/// JSON body extractor whose failures are typed API errors: a body that is
/// not the request's JSON, or one whose fields break their rules
/// ([`kizuna_wire::fields`]), is refused before the handler reads it.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned + Checked,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let v: T = json_object(req, state).await?;
        v.check()?;
        Ok(ApiJson(v))
    }
}

/// Why a JSON request body was refused before any handler read it.
#[derive(Debug)]
pub(crate) enum BodyRefused {
    TooLarge,
    TimedOut(String),
    Malformed(String),
}

impl From<BodyRefused> for ApiError {
    fn from(e: BodyRefused) -> Self {
        match e {
            BodyRefused::TooLarge => {
                ApiError::too_large("the request body is larger than this server accepts")
            }
            BodyRefused::TimedOut(m) => {
                ApiError::new(StatusCode::REQUEST_TIMEOUT, ErrorCode::RequestTimeout, m)
            }
            BodyRefused::Malformed(m) => ApiError::bad_request(ErrorCode::MalformedJson, m),
        }
    }
}

/// Reads a request body that says it is JSON and is one JSON object (both
/// realms' requests are objects; see [`kizuna_wire::from_json_object`]).
pub(crate) async fn json_object<T, S>(req: Request, state: &S) -> Result<T, BodyRefused>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    if !says_json(req.headers()) {
        return Err(BodyRefused::Malformed(
            "the request must say `Content-Type: application/json`".into(),
        ));
    }
    let body = Bytes::from_request(req, state).await.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            BodyRefused::TooLarge
        } else if crate::edge::body_timed_out(&r) {
            BodyRefused::TimedOut(r.body_text())
        } else {
            BodyRefused::Malformed(r.body_text())
        }
    })?;
    kizuna_wire::from_json_object(&body).map_err(BodyRefused::Malformed)
}

/// `application/json`, or a `+json` type, with any parameters.
fn says_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(v) = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = v
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Query-string extractor whose failures are typed API errors: a missing,
/// negative or non-numeric parameter, or one past its rule, is answered
/// `bad_request` with what is wrong.
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned + Checked,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Query(v) = axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map_err(|r: QueryRejection| {
                ApiError::bad_request(ErrorCode::BadRequest, r.body_text())
            })?;
        v.check()?;
        Ok(ApiQuery(v))
    }
}

/// Path-segment extractor whose failures are typed API errors (a segment
/// that is not UTF-8 once percent-decoded, say).
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(v) = axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map_err(|r: PathRejection| {
                ApiError::bad_request(ErrorCode::BadRequest, r.body_text())
            })?;
        Ok(ApiPath(v))
    }
}

impl<T: serde::Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// An authenticated, rate-limited device of the user realm.
pub struct AuthedDevice(pub DeviceIdentity);

impl FromRequestParts<Shared> for AuthedDevice {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Shared,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                ApiError::unauthorized(
                    ErrorCode::Unauthorized,
                    "missing Authorization: Bearer token",
                )
            })?;
        let token = header.strip_prefix("Bearer ").ok_or_else(|| {
            ApiError::unauthorized(
                ErrorCode::Unauthorized,
                "the Authorization header must be 'Bearer <token>'",
            )
        })?;
        if token.starts_with(&format!("{}.", kizuna_wire::staff::STAFF_TOKEN_PREFIX)) {
            return Err(ApiError::unauthorized(
                ErrorCode::WrongRealm,
                "this is a staff session token; the user API accepts only device tokens",
            ));
        }
        let identity = state.auth.verify(token).map_err(|e| match e {
            AuthError::Expired => ApiError::unauthorized(ErrorCode::TokenExpired, e.to_string()),
            _ => ApiError::unauthorized(ErrorCode::Unauthorized, e.to_string()),
        })?;
        if !state
            .ended
            .is_live(state.store.as_ref(), &identity.device_id)
            .await?
        {
            return Err(ApiError::unauthorized(
                ErrorCode::Unauthorized,
                "this device was removed from its account (revoked, or the account was erased)",
            ));
        }
        if !state.rate.allow_local(&identity.device_id) {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::RateLimited,
                format!(
                    "this device sent more than {} requests per second; slow down",
                    state.limits.requests_per_second
                ),
            ));
        }
        // What a suspended account may still reach: its own data, and the
        // decision against it.
        let reach = if parts.uri.path().starts_with("/v1/me") {
            crate::sanctions::Reach::OwnData
        } else {
            crate::sanctions::Reach::Service
        };
        state.sanctions.check_request(&identity.account_id, reach)?;
        // What a person may do without agreeing to their region's
        // disclosures, on a node abroad: their rights over their own data.
        let rights = matches!(
            parts.uri.path(),
            "/v1/me" | "/v1/me/consent" | "/v1/me/data-map" | "/v1/me/export"
        );
        let reach = if rights {
            kizuna_node::disclosures::ConsentReach::Rights
        } else {
            kizuna_node::disclosures::ConsentReach::Service
        };
        state.check_agreement(&identity.account_id, reach).await?;
        Ok(AuthedDevice(identity))
    }
}

/// The network address a request comes from, for limits that cannot be
/// keyed by a device alone. Unknown only when the router is served without
/// connection info; then everyone shares one bucket.
pub struct PeerAddress(pub String);

fn peer_address(parts: &Parts) -> String {
    parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default()
}

impl FromRequestParts<Shared> for PeerAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &Shared) -> Result<Self, Self::Rejection> {
        Ok(PeerAddress(peer_address(parts)))
    }
}

/// Where a request without a device comes from, for the limits on new
/// accounts and device links.
pub struct SignupAllowed;

impl FromRequestParts<Shared> for SignupAllowed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, ApiError> {
        let from = peer_address(parts);
        if state.signup_rate.allow(&from).await {
            Ok(SignupAllowed)
        } else {
            Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::RateLimited,
                format!(
                    "more than {} new accounts or device links a minute came from your network address; try again in a minute",
                    state.limits.signups_per_minute
                ),
            ))
        }
    }
}

/// A group id in a path is 1 to 64 bytes in lowercase hex, the one
/// spelling the client writes, so one group has one URL (the handlers'
/// documents say `^([0-9a-f]{2}){1,64}$`).
pub(crate) fn decode_group(hex_id: &str) -> Result<Vec<u8>, ApiError> {
    let lowercase = hex_id
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    match hex::decode(hex_id) {
        Ok(g) if lowercase && !g.is_empty() && g.len() <= 64 => Ok(g),
        _ => Err(ApiError::bad_request(
            ErrorCode::BadRequest,
            "the group id must be 1 to 64 bytes in lowercase hex",
        )),
    }
}

#[utoipa::path(
    get,
    path = "/health",
    tag = "user",
    summary = "Whether the node is up",
    responses((status = 200, description = "the node is up"), (status = "default", description = "an error with a stable code", body = ErrorBody))
)]
async fn health() -> &'static str {
    "ok"
}
