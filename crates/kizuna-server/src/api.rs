//! The user realm's HTTP API: handlers are thin; they check input, ask the
//! store, vault or sequencer, and map outcomes to typed errors.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use kizuna_node::Node;
use kizuna_wire::*;
use serde::Deserialize;

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
        .route("/v1/accounts", post(register))
        .route("/v1/accounts/{handle}", get(account))
        .route("/v1/delivery-service", get(delivery_service))
        .route("/v1/devices", get(devices))
        .route("/v1/devices/{device}", axum::routing::delete(revoke_device))
        .route("/v1/auth/challenge", post(challenge))
        .route("/v1/auth/token", post(token))
        .route("/v1/me", get(me).delete(crate::me::erase))
        .route("/v1/me/data-map", get(crate::me::data_map))
        .route("/v1/me/blocks", get(crate::blocks::list))
        .route(
            "/v1/me/blocks/{handle}",
            axum::routing::put(crate::blocks::block).delete(crate::blocks::unblock),
        )
        .route("/v1/me/requests", get(crate::me::requests))
        .route(
            "/v1/me/requests/{grant}/{answer}",
            post(crate::me::answer_request),
        )
        .route("/v1/me/export", get(crate::me::export))
        .route("/v1/me/accesses", get(crate::ledger::my_accesses))
        .route("/v1/reports", post(crate::reports::file))
        .route("/v1/me/reports", get(crate::reports::mine))
        .route("/v1/me/moderation", get(crate::reports::notices))
        .route(
            "/v1/me/moderation/{report}/appeal",
            post(crate::reports::appeal),
        )
        .route("/v1/ledger/key", get(crate::ledger::key))
        .route("/v1/ledger/head", get(crate::ledger::head))
        .route("/v1/ledger/heads", get(crate::ledger::heads))
        .route("/v1/ledger/consistency", get(crate::ledger::consistency))
        .route("/v1/ledger/leaves", get(crate::ledger::leaves))
        .route(
            "/v1/me/contacts",
            get(crate::me::contacts).put(crate::me::set_contacts),
        )
        .route("/v1/lookup/phone", post(lookup_phone))
        .route(
            "/v1/devices/me/key-packages",
            post(upload_key_packages).get(key_package_status),
        )
        .route("/v1/key-packages/claim", post(claim_key_packages))
        .route("/v1/groups", post(create_group))
        .route("/v1/groups/{group}", get(group))
        .route("/v1/groups/{group}/commits", post(commit))
        .route("/v1/groups/{group}/proposals", post(propose))
        .route("/v1/groups/{group}/messages", post(send))
        .route("/v1/inbox", get(inbox))
        .route("/v1/inbox/ack", post(ack))
        .route("/v1/ws", get(crate::ws::upgrade))
        .route("/v1/links", post(create_link))
        .route("/v1/links/approve", post(approve_link))
        .route("/v1/links/{link}", get(link_status))
        .fallback(|| async {
            ApiError::not_found(ErrorCode::NotFound, "no such endpoint; see /openapi.json")
        })
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

/// JSON body extractor whose failures are typed API errors.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::too_large(
                "the request body is larger than this server accepts",
            )),
            Err(r) => Err(ApiError::bad_request(
                ErrorCode::MalformedJson,
                r.body_text(),
            )),
        }
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
        if !state.rate.allow(&identity.device_id) {
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
        Ok(AuthedDevice(identity))
    }
}

/// Where a request without a device comes from, for the limits on new
/// accounts and device links. Unknown only when the router is served
/// without connection info; then everyone shares one bucket.
pub struct SignupAllowed;

impl FromRequestParts<Shared> for SignupAllowed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, ApiError> {
        let from = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip().to_string())
            .unwrap_or_default();
        if state.signup_rate.allow(&from) {
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

fn decode_group(hex_id: &str) -> Result<Vec<u8>, ApiError> {
    match hex::decode(hex_id) {
        Ok(g) if !g.is_empty() && g.len() <= 64 => Ok(g),
        _ => Err(ApiError::bad_request(
            ErrorCode::BadRequest,
            "the group id must be 1 to 64 bytes in hex",
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

#[utoipa::path(
    post,
    path = "/v1/accounts",
    tag = "user",
    summary = "Register an account and its first device",
    request_body = RegisterRequest,
    responses((status = 201, description = "the account was created", body = RegisterResponse), (status = "default", description = "an error with a stable code", body = ErrorBody))
)]
async fn register(
    State(s): State<Shared>,
    _: SignupAllowed,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let created = s.register(req).await?;
    Ok((StatusCode::CREATED, ApiJson(created)))
}

#[utoipa::path(
    post,
    path = "/v1/auth/challenge",
    tag = "user",
    summary = "Get a challenge to sign with the device key",
    request_body = ChallengeRequest,
    responses((status = 200, description = "a challenge bound to the device", body = ChallengeResponse), (status = "default", description = "an error with a stable code", body = ErrorBody))
)]
async fn challenge(
    State(s): State<Shared>,
    ApiJson(req): ApiJson<ChallengeRequest>,
) -> Result<ApiJson<ChallengeResponse>, ApiError> {
    Ok(ApiJson(ChallengeResponse {
        challenge: s.auth.challenge(&req.device_id),
    }))
}

#[utoipa::path(
    post,
    path = "/v1/auth/token",
    tag = "user",
    summary = "Exchange a signed challenge for a short-lived token",
    request_body = TokenRequest,
    responses((status = 200, description = "a token for the user realm", body = TokenResponse), (status = "default", description = "an error with a stable code", body = ErrorBody))
)]
async fn token(
    State(s): State<Shared>,
    ApiJson(req): ApiJson<TokenRequest>,
) -> Result<ApiJson<TokenResponse>, ApiError> {
    Ok(ApiJson(
        s.sign_in(&req.device_id, &req.challenge, &req.signature.0)
            .await?,
    ))
}

#[utoipa::path(
    get,
    path = "/v1/delivery-service",
    tag = "user",
    summary = "The node's identity as every group's one external sender",
    description = "A new group names it in its external_senders extension: the node proposes, signed with this key, the removal of a revoked device or an erased account's devices.",
    responses((status = 200, description = "the delivery service's key and identity", body = DeliveryService), (status = "default", description = "an error with a stable code", body = ErrorBody))
)]
async fn delivery_service(State(s): State<Shared>) -> ApiJson<DeliveryService> {
    ApiJson(s.delivery_key.view())
}

#[utoipa::path(
    get,
    path = "/v1/devices",
    tag = "user",
    summary = "My devices: label, when each was linked, when it last signed in",
    responses((status = 200, description = "my devices", body = Vec<DeviceView>), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
async fn devices(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
) -> Result<ApiJson<Vec<DeviceView>>, ApiError> {
    Ok(ApiJson(s.devices(&me).await?))
}

#[utoipa::path(
    delete,
    path = "/v1/devices/{device}",
    tag = "user",
    summary = "Revoke one of my devices (a lost phone)",
    description = "The node proposes its removal from every group it is in (the members are told and the next one to act commits it), then deletes its key packages and queue; its tokens and open connections end at once.",
    params(("device" = String, Path, description = "the device id")),
    responses((status = 204, description = "revoked"), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
async fn revoke_device(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    Path(device): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.revoke_device(&me, &device).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/v1/me",
    tag = "user",
    summary = "My account, with my personal fields",
    responses((status = 200, description = "my account", body = MeView), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
async fn me(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
) -> Result<ApiJson<MeView>, ApiError> {
    Ok(ApiJson(s.me(&me).await?))
}

#[utoipa::path(
    get,
    path = "/v1/accounts/{handle}",
    tag = "user",
    summary = "An account's handle and device ids",
    params(("handle" = String, Path, description = "the account's handle")),
    responses((status = 200, description = "the account", body = AccountView), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
async fn account(
    State(s): State<Shared>,
    AuthedDevice(_): AuthedDevice,
    Path(handle): Path<String>,
) -> Result<ApiJson<AccountView>, ApiError> {
    Ok(ApiJson(s.account(&handle).await?))
}

#[utoipa::path(
    post,
    path = "/v1/lookup/phone",
    tag = "user",
    summary = "Find a handle by phone number (rate-limited)",
    request_body = PhoneLookupRequest,
    responses((status = 200, description = "the handle, if someone has that number", body = PhoneLookupResponse), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
async fn lookup_phone(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    ApiJson(req): ApiJson<PhoneLookupRequest>,
) -> Result<ApiJson<PhoneLookupResponse>, ApiError> {
    Ok(ApiJson(PhoneLookupResponse {
        handle: s.lookup_phone(&me, &req.phone).await?,
    }))
}

#[utoipa::path(
    post,
    path = "/v1/devices/me/key-packages",
    tag = "user",
    summary = "Upload key packages (and a last-resort one)",
    request_body = KeyPackageUpload,
    responses((status = 200, description = "what the device holds now", body = KeyPackageStatus), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
async fn upload_key_packages(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    ApiJson(req): ApiJson<KeyPackageUpload>,
) -> Result<ApiJson<KeyPackageStatus>, ApiError> {
    Ok(ApiJson(s.upload_key_packages(&me, req).await?))
}

#[utoipa::path(
    get,
    path = "/v1/devices/me/key-packages",
    tag = "user",
    summary = "How many key packages this device has left",
    responses((status = 200, description = "what the device holds", body = KeyPackageStatus), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
async fn key_package_status(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
) -> Result<ApiJson<KeyPackageStatus>, ApiError> {
    Ok(ApiJson(s.key_package_status(&me.device_id).await?))
}

#[utoipa::path(
    post,
    path = "/v1/key-packages/claim",
    tag = "user",
    summary = "Claim one key package per device of the named accounts or devices",
    request_body = ClaimRequest,
    responses((status = 200, description = "one package per device", body = ClaimResponse), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
async fn claim_key_packages(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    ApiJson(req): ApiJson<ClaimRequest>,
) -> Result<ApiJson<ClaimResponse>, ApiError> {
    Ok(ApiJson(s.claim_key_packages(&me, &req).await?))
}

#[utoipa::path(
    post,
    path = "/v1/groups",
    tag = "user",
    summary = "Register a new MLS group at epoch 0",
    request_body = CreateGroupRequest,
    responses((status = 201, description = "the group was registered", body = GroupView), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
async fn create_group(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    ApiJson(req): ApiJson<CreateGroupRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let view = s
        .create_group(&me, req.group_id.0, &req.group_info.0)
        .await?;
    Ok((StatusCode::CREATED, ApiJson(view)))
}

#[utoipa::path(
    get,
    path = "/v1/groups/{group}",
    tag = "user",
    summary = "A group's epoch and member devices",
    params(("group" = String, Path, description = "the MLS group id, base64url without padding")),
    responses((status = 200, description = "the group", body = GroupView), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
async fn group(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    Path(group): Path<String>,
) -> Result<ApiJson<GroupView>, ApiError> {
    Ok(ApiJson(s.group(&me, &decode_group(&group)?).await?))
}

#[utoipa::path(
    post,
    path = "/v1/groups/{group}/commits",
    tag = "user",
    summary = "Submit the one commit of the current epoch",
    params(("group" = String, Path, description = "the MLS group id, base64url without padding")),
    request_body = CommitRequest,
    responses((status = 200, description = "the commit is on disk and routed", body = CommitAccepted), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
async fn commit(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    Path(group): Path<String>,
    ApiJson(req): ApiJson<CommitRequest>,
) -> Result<ApiJson<CommitAccepted>, ApiError> {
    Ok(ApiJson(s.commit(&me, decode_group(&group)?, req).await?))
}

#[utoipa::path(
    post,
    path = "/v1/groups/{group}/proposals",
    tag = "user",
    summary = "Leave a group: propose this device's own removal",
    description = "The proposal (an MLS PublicMessage) is checked against the group's public state and relayed to the other members; the next commit must carry it out.",
    params(("group" = String, Path, description = "the MLS group id, base64url without padding")),
    request_body = ProposalRequest,
    responses((status = 200, description = "the proposal is on disk and routed", body = CommitAccepted), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
async fn propose(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    Path(group): Path<String>,
    ApiJson(req): ApiJson<ProposalRequest>,
) -> Result<ApiJson<CommitAccepted>, ApiError> {
    Ok(ApiJson(
        s.propose(&me, decode_group(&group)?, req.proposal.0)
            .await?,
    ))
}

#[utoipa::path(
    post,
    path = "/v1/groups/{group}/messages",
    tag = "user",
    summary = "Send an application message to every member device",
    params(("group" = String, Path, description = "the MLS group id, base64url without padding")),
    request_body = SendRequest,
    responses((status = 200, description = "the message is on disk and routed", body = SendAccepted), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
async fn send(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    Path(group): Path<String>,
    ApiJson(req): ApiJson<SendRequest>,
) -> Result<ApiJson<SendAccepted>, ApiError> {
    Ok(ApiJson(s.send(&me, decode_group(&group)?, req).await?))
}

#[derive(Deserialize)]
struct InboxQuery {
    #[serde(default)]
    after: u64,
    #[serde(default)]
    limit: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/v1/inbox",
    tag = "user",
    summary = "This device's queue after a cursor",
    params(("after" = Option<u64>, Query, description = "return entries after this position"), ("limit" = Option<u32>, Query, description = "at most this many entries (1-1000, default 500)")),
    responses((status = 200, description = "the waiting envelopes, oldest first", body = InboxResponse), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
async fn inbox(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    q: Result<Query<InboxQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<ApiJson<InboxResponse>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(ErrorCode::BadRequest, e.body_text()))?;
    let limit = q.limit.unwrap_or(500).clamp(1, 1000);
    let envelopes = s.inbox(&me.device_id, q.after, limit).await?;
    let low = s.key_package_status(&me.device_id).await?.low;
    Ok(ApiJson(InboxResponse {
        envelopes,
        key_packages_low: low,
    }))
}

#[utoipa::path(
    post,
    path = "/v1/inbox/ack",
    tag = "user",
    summary = "Acknowledge everything up to a position; delivered messages are then deleted",
    request_body = AckRequest,
    responses((status = 204, description = "acknowledged"), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
async fn ack(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    ApiJson(req): ApiJson<AckRequest>,
) -> Result<StatusCode, ApiError> {
    s.ack(&me, req.up_to).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/v1/links",
    tag = "user",
    summary = "A new device asks to join an account",
    request_body = LinkRequest,
    responses((status = 201, description = "the request waits for approval", body = LinkPending), (status = "default", description = "an error with a stable code", body = ErrorBody))
)]
async fn create_link(
    State(s): State<Shared>,
    _: SignupAllowed,
    ApiJson(req): ApiJson<LinkRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let pending = s.request_link(req).await?;
    Ok((StatusCode::CREATED, ApiJson(pending)))
}

#[utoipa::path(
    get,
    path = "/v1/links/{link}",
    tag = "user",
    summary = "Whether a link request was approved",
    params(("link" = String, Path, description = "the link request id")),
    responses((status = 200, description = "the request", body = LinkStatus), (status = "default", description = "an error with a stable code", body = ErrorBody))
)]
async fn link_status(
    State(s): State<Shared>,
    Path(link): Path<String>,
) -> Result<ApiJson<LinkStatus>, ApiError> {
    Ok(ApiJson(s.link_status(&link).await?))
}

#[utoipa::path(
    post,
    path = "/v1/links/approve",
    tag = "user",
    summary = "An existing device approves a link code",
    request_body = LinkApprove,
    responses((status = 200, description = "the new device belongs to the account", body = LinkApproved), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
async fn approve_link(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    ApiJson(req): ApiJson<LinkApprove>,
) -> Result<ApiJson<LinkApproved>, ApiError> {
    Ok(ApiJson(s.approve_link(&me, &req.code).await?))
}
