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
use kizuna_store::{Account, Device, NewAccount, PendingLink, Store, StoreError, Submission};
use kizuna_vault::{Profile, Requester, Vault};
use kizuna_wire::*;
use rand::RngCore;
use serde::Deserialize;

use crate::auth::{verify_signature, AuthError, DeviceIdentity, UserAuth};
use crate::delivery::{envelope_kind, Hub, Sequencer};
use crate::error::ApiError;
use crate::framing;
use crate::limits::{Limits, RateLimiter};

/// How long a device-link request may wait for approval.
const LINK_TTL_MS: u64 = 10 * 60 * 1000;
/// Most one-time key packages in one upload or link request.
const MAX_UPLOAD: usize = 100;

pub struct AppState {
    pub store: Arc<dyn Store>,
    pub vault: Arc<Vault>,
    /// Staff requests that wait for a person's agreement are answered by
    /// the person here; `None` when the node runs without a staff realm.
    pub governance: Option<Arc<crate::governance::Governance>>,
    pub auth: UserAuth,
    pub limits: Limits,
    pub rate: RateLimiter,
    pub phone_rate: RateLimiter,
    /// New accounts and device links, per network address.
    pub signup_rate: RateLimiter,
    /// Reports refused as unverifiable, per device: each is recorded, so a
    /// device may not make the ledger grow without bound by sending them.
    pub refused_reports: RateLimiter,
    pub sequencer: Sequencer,
    pub hub: Arc<Hub>,
    pub handles: std::sync::RwLock<std::collections::HashMap<String, String>>,
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// Binds each accepted message's franking commitment to its sender,
    /// chat and time (`keys/franking.key`).
    pub franking_key: [u8; 32],
    pub sanctions: Arc<crate::sanctions::Sanctions>,
    /// Signs the node's own proposals as every group's external sender.
    pub delivery_key: crate::departures::DeliveryKey,
    /// The blocks the node enforces, by keyed hashes (`keys/blocks.key`).
    pub blocks: crate::blocks::Blocks,
    /// Devices revoked or erased: their tokens end at once.
    pub ended: crate::departures::Ended,
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

fn random_id() -> String {
    let mut b = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
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
    if !valid_handle(&req.handle) {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidHandle,
            "a handle is 3-32 characters: lowercase letters, digits, '_' or '.', starting with a letter",
        ));
    }
    if s.vault.config().region(&req.region).is_none() {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidRegion,
            format!(
                "unknown region '{}'; this service has: {}",
                req.region,
                s.vault.config().ids().join(", ")
            ),
        ));
    }
    let key = &req.device.signature_key.0;
    verify_signature(
        key,
        &register_signing_input(&req.handle, key),
        &req.device.signature.0,
    )
    .map_err(|_| {
        ApiError::bad_request(
            ErrorCode::InvalidSignature,
            "the registration is not signed by the device key",
        )
    })?;
    if s.store.account_by_handle(&req.handle).await?.is_some() {
        return Err(ApiError::conflict(
            ErrorCode::HandleTaken,
            "this handle is taken; choose another",
        ));
    }
    let account_id = random_id();
    let device_id = device_id_for_key(key);
    let now = now_ms();
    let region = req.region.clone();
    // Personal data goes to the home region first; the account that points
    // at it is created after, and the region's copy is undone if that fails.
    let profile = Profile {
        name: req.name,
        phone: req.phone,
        email: req.email,
    };
    let requester = Requester::Subject {
        device_id: device_id.clone(),
    };
    match s
        .vault
        .register(&account_id, &region, &profile, &requester)
        .await
    {
        Err(kizuna_vault::VaultError::PhoneTaken) if abandoned(&s, &profile.phone).await? => {
            s.vault
                .register(&account_id, &region, &profile, &requester)
                .await?
        }
        r => r?,
    }
    let new = NewAccount {
        account: Account {
            account_id: account_id.clone(),
            handle: req.handle.clone(),
            region: req.region,
            created_at: now,
        },
        device: Device {
            device_id: device_id.clone(),
            account_id: account_id.clone(),
            handle: req.handle,
            signature_key: key.clone(),
            label: req.device.label,
        },
    };
    let created = s.store.create_account(new).await;
    if created.is_err() {
        if let Err(e) = s.vault.forget_unregistered(&account_id, &region).await {
            tracing::error!(error = %e, "a refused registration left sealed data in its region");
        }
    }
    match created {
        Ok(()) => {}
        Err(StoreError::Conflict("handle")) => {
            return Err(ApiError::conflict(
                ErrorCode::HandleTaken,
                "this handle is taken; choose another",
            ))
        }
        Err(StoreError::Conflict(what)) => {
            return Err(ApiError::conflict(
                ErrorCode::BadRequest,
                format!("an account with this {what} already exists"),
            ))
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(%device_id, "account registered");
    Ok((
        StatusCode::CREATED,
        ApiJson(RegisterResponse {
            account_id,
            device_id,
        }),
    ))
}

/// Far longer than a registration can take between sealing the profile and
/// creating the account (its HTTP request would have timed out long
/// before); sealed data older than this without an account was left by one
/// that never finished.
const REGISTRATION_WINDOW_MS: u64 = 10 * 60_000;

/// Whether the phone number is held only by the sealed data of a
/// registration that never finished; if so, that data is removed so the
/// number can be registered again.
async fn abandoned(s: &AppState, phone: &str) -> Result<bool, ApiError> {
    let Some((region, subject, created)) = s.vault.phone_owner(phone).await? else {
        return Ok(false);
    };
    if s.store.account_by_id(&subject).await?.is_some()
        || now_ms().saturating_sub(created) < REGISTRATION_WINDOW_MS
    {
        return Ok(false);
    }
    s.vault.forget_unregistered(&subject, &region).await?;
    tracing::info!(%region, "removed the sealed data of a registration that never finished");
    Ok(true)
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
    let device = s
        .store
        .device(&req.device_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized(ErrorCode::UnknownDevice, "no such device"))?;
    let identity = DeviceIdentity {
        device_id: device.device_id,
        account_id: device.account_id,
    };
    let (token, expires_at) = s
        .auth
        .answer(
            &identity,
            &device.signature_key,
            &req.challenge,
            &req.signature.0,
        )
        .map_err(|e| ApiError::unauthorized(ErrorCode::Unauthorized, e.to_string()))?;
    s.store.touch_device(&identity.device_id, now_ms()).await?;
    Ok(ApiJson(TokenResponse { token, expires_at }))
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
    let list = s.store.device_activity(&me.account_id).await?;
    Ok(ApiJson(
        list.into_iter()
            .map(|(d, linked_at, last_seen)| DeviceView {
                this_device: d.device_id == me.device_id,
                device_id: d.device_id,
                label: d.label,
                linked_at,
                last_seen,
            })
            .collect(),
    ))
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
    let mine = s
        .store
        .device(&device)
        .await?
        .filter(|d| d.account_id == me.account_id)
        .ok_or_else(|| {
            ApiError::not_found(
                ErrorCode::UnknownDevice,
                format!("no device {device} on this account; `kizuna device list` shows them"),
            )
        })?;
    crate::departures::end_devices(
        &s,
        &mine.handle,
        &[mine.device_id],
        crate::departures::Why::Revoked,
    )
    .await?;
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
    let account = s
        .store
        .account_by_id(&me.account_id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(ErrorCode::UnknownAccount, "this account no longer exists")
        })?;
    let profile = s
        .vault
        .profile(&account.account_id, &account.region, &me.requester())
        .await?;
    let devices = s.store.devices_of(&me.account_id).await?;
    Ok(ApiJson(MeView {
        account_id: account.account_id,
        handle: account.handle,
        region: account.region,
        name: profile.name,
        phone: profile.phone,
        email: profile.email,
        devices: devices.into_iter().map(|d| d.device_id).collect(),
    }))
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
    let account = s.store.account_by_handle(&handle).await?.ok_or_else(|| {
        ApiError::not_found(
            ErrorCode::UnknownAccount,
            format!("nobody has the handle '{handle}'"),
        )
    })?;
    let devices = s.store.devices_of(&account.account_id).await?;
    Ok(ApiJson(AccountView {
        handle: account.handle,
        devices: devices.into_iter().map(|d| d.device_id).collect(),
    }))
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
    if !s.phone_rate.allow(&me.device_id) {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RateLimited,
            format!(
                "at most {} phone lookups per minute per device",
                s.limits.phone_lookups_per_minute
            ),
        ));
    }
    let account = match s.vault.lookup_phone(&req.phone).await? {
        Some(subject) => s.store.account_by_id(&subject).await?,
        None => None,
    };
    Ok(ApiJson(PhoneLookupResponse {
        handle: account.map(|a| a.handle),
    }))
}

async fn status_of(s: &AppState, device_id: &str) -> Result<KeyPackageStatus, ApiError> {
    let c = s.store.key_package_count(device_id).await?;
    Ok(KeyPackageStatus {
        remaining: c.one_time,
        has_last_resort: c.last_resort,
        low: c.one_time < s.limits.low_key_packages,
    })
}

/// Checks every key package of an upload against the device it is for.
fn check_key_packages(
    handle: &str,
    device_id: &str,
    device_key: &[u8],
    one_time: &[Bytes],
    last_resort: Option<&Bytes>,
) -> Result<(), ApiError> {
    let identity = credential_identity(handle, device_id);
    let check = |b: &Bytes, want_last_resort: bool| -> Result<(), ApiError> {
        let facts = framing::key_package(&b.0)
            .map_err(|e| ApiError::bad_request(ErrorCode::InvalidMessage, e.to_string()))?;
        if facts.identity != identity.as_bytes() || facts.signature_key != device_key {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidMessage,
                format!("key packages must carry this device's key and the identity '{identity}'"),
            ));
        }
        if facts.last_resort != want_last_resort {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidMessage,
                "only the last-resort key package may carry the last-resort extension",
            ));
        }
        Ok(())
    };
    for kp in one_time {
        check(kp, false)?;
    }
    if let Some(lr) = last_resort {
        check(lr, true)?;
    }
    Ok(())
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
    if req.key_packages.len() > MAX_UPLOAD {
        return Err(ApiError::bad_request(
            ErrorCode::TooManyKeyPackages,
            format!("at most {MAX_UPLOAD} key packages per upload"),
        ));
    }
    let device = s.store.device(&me.device_id).await?.ok_or_else(|| {
        ApiError::unauthorized(ErrorCode::UnknownDevice, "this device no longer exists")
    })?;
    check_key_packages(
        &device.handle,
        &device.device_id,
        &device.signature_key,
        &req.key_packages,
        req.last_resort.as_ref(),
    )?;
    let outcome = s
        .store
        .add_key_packages(
            &me.device_id,
            req.key_packages.into_iter().map(|b| b.0).collect(),
            req.last_resort.map(|b| b.0),
            s.limits.max_key_packages,
        )
        .await?;
    if let Err(have) = outcome {
        return Err(ApiError::bad_request(
            ErrorCode::TooManyKeyPackages,
            format!(
                "a device may keep at most {} key packages on the server; it has {have}",
                s.limits.max_key_packages
            ),
        ));
    }
    Ok(ApiJson(status_of(&s, &me.device_id).await?))
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
    Ok(ApiJson(status_of(&s, &me.device_id).await?))
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
    if req.handles.len() + req.devices.len() > s.limits.max_group_devices {
        return Err(ApiError::bad_request(
            ErrorCode::GroupTooLarge,
            "too many accounts or devices in one claim",
        ));
    }
    // Resolve everything first so an unknown name claims nothing.
    let mut targets: Vec<Device> = Vec::new();
    for h in &req.handles {
        let a = s.store.account_by_handle(h).await?.ok_or_else(|| {
            ApiError::not_found(
                ErrorCode::UnknownAccount,
                format!("nobody has the handle '{h}'"),
            )
        })?;
        targets.extend(s.store.devices_of(&a.account_id).await?);
    }
    for d in &req.devices {
        let dev = s.store.device(d).await?.ok_or_else(|| {
            ApiError::not_found(ErrorCode::UnknownDevice, format!("no device '{d}'"))
        })?;
        if !targets.iter().any(|t| t.device_id == dev.device_id) {
            targets.push(dev);
        }
    }
    // Nobody who blocked the claimer is drawn into a chat with them, nor
    // has their key packages used up by them.
    let accounts: Vec<String> = targets.iter().map(|t| t.account_id.clone()).collect();
    crate::blocks::check_reach(&s, &me.account_id, &accounts).await?;
    let mut out = Vec::with_capacity(targets.len());
    for t in targets {
        let kp = s
            .store
            .claim_key_package(&t.device_id)
            .await?
            .ok_or_else(|| {
                ApiError::not_found(
                    ErrorCode::NoKeyPackage,
                    format!(
                        "device {} of '{}' has no key package left; it must come online",
                        t.device_id, t.handle
                    ),
                )
            })?;
        out.push(ClaimedKeyPackage {
            handle: t.handle,
            device_id: t.device_id,
            key_package: Bytes(kp),
        });
    }
    Ok(ApiJson(ClaimResponse { key_packages: out }))
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
    // A restricted account starts no chats and changes no memberships.
    s.sanctions.check_send(&me.account_id)?;
    let gid = req.group_id.0;
    if gid.is_empty() || gid.len() > 64 {
        return Err(ApiError::bad_request(
            ErrorCode::BadRequest,
            "the group id must be 1 to 64 bytes",
        ));
    }
    let handle = sender_handle(&s, &me).await?;
    let state = crate::commits::start(
        &*s.store,
        &gid,
        &me,
        &handle,
        &req.group_info.0,
        &s.delivery_key.external_sender(),
    )
    .await?;
    match s
        .store
        .create_group(&gid, &me.device_id, now_ms(), state)
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::conflict(
                ErrorCode::GroupExists,
                "a group with this id exists; pick a fresh random id",
            ))
        }
        Err(e) => return Err(e.into()),
    }
    Ok((
        StatusCode::CREATED,
        ApiJson(GroupView {
            group_id: Bytes(gid),
            epoch: 0,
            members: vec![me.device_id],
        }),
    ))
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
    let gid = decode_group(&group)?;
    let g = s.store.group(&gid).await?.ok_or_else(|| {
        ApiError::not_found(ErrorCode::UnknownGroup, "no such group on this server")
    })?;
    if !g.members.contains(&me.device_id) {
        return Err(ApiError::forbidden(
            ErrorCode::NotMember,
            "this device is not a member of the group",
        ));
    }
    Ok(ApiJson(GroupView {
        group_id: Bytes(g.group_id),
        epoch: g.epoch,
        members: g.members,
    }))
}

/// Handles never change, so each account's is looked up once.
async fn sender_handle(s: &AppState, me: &DeviceIdentity) -> Result<String, ApiError> {
    if let Some(h) = s
        .handles
        .read()
        .ok()
        .and_then(|m| m.get(&me.account_id).cloned())
    {
        return Ok(h);
    }
    let h = s
        .store
        .account_by_id(&me.account_id)
        .await?
        .map(|a| a.handle)
        .unwrap_or_default();
    if let Ok(mut m) = s.handles.write() {
        if m.len() > 1_000_000 {
            m.clear();
        }
        m.insert(me.account_id.clone(), h.clone());
    }
    Ok(h)
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
    s.sanctions.check_send(&me.account_id)?;
    let gid = decode_group(&group)?;
    let size = req.commit.0.len() + req.welcome.as_ref().map_or(0, |w| w.0.len());
    if size > s.limits.max_handshake_bytes {
        return Err(ApiError::too_large(format!(
            "commit and Welcome together may be at most {} bytes",
            s.limits.max_handshake_bytes
        )));
    }
    framing::commit(&req.commit.0, &gid)
        .map_err(|e| ApiError::bad_request(ErrorCode::InvalidMessage, e.to_string()))?;
    let handle = sender_handle(&s, &me).await?;
    let derived = crate::commits::derive(
        &*s.store,
        &gid,
        &me,
        &handle,
        &req.commit.0,
        &req.added_devices,
        &req.removed_devices,
    )
    .await?;
    crate::blocks::check_invitation(&s, &me.account_id, &derived.joining).await?;
    if !derived.added.is_empty() {
        // Adding a third person to a one-to-one chat whose other person
        // blocked the committer would let them speak there again.
        crate::blocks::check_message(&s, &gid, &me.account_id).await?;
    }
    match (&req.welcome, derived.added.is_empty()) {
        (Some(w), false) => framing::welcome(&w.0)
            .map_err(|e| ApiError::bad_request(ErrorCode::InvalidMessage, e.to_string()))?,
        (None, true) => {}
        (Some(_), true) => {
            return Err(ApiError::from(crate::commits::invalid(
                "a Welcome came with a commit that adds nobody",
            )))
        }
        (None, false) => {
            return Err(ApiError::from(crate::commits::invalid(
                "the commit adds devices but no Welcome came for them",
            )))
        }
    }
    let now = now_ms();
    let accepted = s
        .sequencer
        .submit(
            Submission::Commit {
                group_id: gid,
                sender_device: me.device_id,
                epoch: derived.epoch,
                commit: req.commit.0,
                welcome: req.welcome.map(|w| w.0),
                added: derived.added,
                removed: derived.removed,
                server_time: now,
                max_members: s.limits.max_group_devices,
                state: derived.state,
            },
            handle,
        )
        .await??;
    Ok(ApiJson(CommitAccepted {
        epoch: accepted.epoch,
        group_seq: accepted.group_seq,
        server_time: now,
    }))
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
    let gid = decode_group(&group)?;
    if req.proposal.0.len() > s.limits.max_handshake_bytes {
        return Err(ApiError::too_large(format!(
            "a proposal may be at most {} bytes",
            s.limits.max_handshake_bytes
        )));
    }
    let handle = sender_handle(&s, &me).await?;
    let (epoch, state) =
        crate::commits::departure(&*s.store, &gid, &me, &handle, &req.proposal.0).await?;
    let now = now_ms();
    let accepted = s
        .sequencer
        .submit(
            Submission::Proposal {
                group_id: gid,
                sender_device: me.device_id,
                epoch,
                proposal: req.proposal.0,
                server_time: now,
                state,
                by_node: None,
            },
            handle,
        )
        .await??;
    Ok(ApiJson(CommitAccepted {
        epoch: accepted.epoch,
        group_seq: accepted.group_seq,
        server_time: now,
    }))
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
    let gid = decode_group(&group)?;
    if req.message.0.len() > s.limits.max_message_bytes {
        return Err(ApiError::too_large(format!(
            "a message may be at most {} bytes of ciphertext",
            s.limits.max_message_bytes
        )));
    }
    let framing = framing::application(&req.message.0, &gid)
        .map_err(|e| ApiError::bad_request(ErrorCode::InvalidMessage, e.to_string()))?;
    let commitment = req
        .commitment
        .as_ref()
        .and_then(|c| <[u8; 32]>::try_from(c.0.as_slice()).ok())
        .map(kizuna_franking::Commitment)
        .ok_or_else(|| {
            ApiError::bad_request(
                ErrorCode::InvalidMessage,
                "an application message must carry its 32-byte franking commitment",
            )
        })?;
    if let Some(id) = &req.client_id {
        if !CLIENT_ID_BYTES.contains(&id.0.len()) {
            return Err(ApiError::bad_request(
                ErrorCode::BadRequest,
                format!(
                    "client_id must be {} to {} bytes",
                    CLIENT_ID_BYTES.start(),
                    CLIENT_ID_BYTES.end()
                ),
            ));
        }
    }
    s.sanctions.check_send(&me.account_id)?;
    crate::blocks::check_message(&s, &gid, &me.account_id).await?;
    let now = now_ms();
    let handle = sender_handle(&s, &me).await?;
    let binding = kizuna_franking::bind(
        &s.franking_key,
        &commitment,
        &kizuna_franking::Envelope {
            chat: &gid,
            sender: &handle,
            time_ms: now,
        },
    );
    let mut franking = [0u8; 64];
    franking[..32].copy_from_slice(&commitment.0);
    franking[32..].copy_from_slice(&binding.0);
    let accepted = s
        .sequencer
        .submit(
            Submission::Application {
                group_id: gid,
                sender_device: me.device_id,
                epoch: framing.epoch,
                payload: req.message.0,
                server_time: now,
                franking: Some(franking),
                client_id: req.client_id.map(|b| b.0),
            },
            handle,
        )
        .await??;
    // A retry carries the first attempt's time and binding.
    Ok(ApiJson(SendAccepted {
        group_seq: accepted.group_seq,
        server_time: accepted.server_time,
        binding: Some(Bytes(accepted.franking.unwrap_or(franking)[32..].to_vec())),
    }))
}

#[derive(Deserialize)]
struct InboxQuery {
    #[serde(default)]
    after: u64,
    #[serde(default)]
    limit: Option<u32>,
}

pub async fn read_inbox(
    s: &AppState,
    device_id: &str,
    after: u64,
    limit: u32,
) -> Result<Vec<Envelope>, ApiError> {
    let entries = s.store.inbox(device_id, after, limit).await?;
    Ok(entries
        .into_iter()
        .map(|e| Envelope {
            seq: e.seq,
            kind: envelope_kind(e.kind),
            group_id: Bytes(e.group_id),
            group_seq: e.group_seq,
            sender_handle: e.sender_handle,
            sender_device: e.sender_device,
            server_time: e.server_time,
            payload: Bytes(e.payload),
            franking: e.franking.as_ref().map(Franking::from_stored),
        })
        .collect())
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
    let envelopes = read_inbox(&s, &me.device_id, q.after, limit).await?;
    let low = status_of(&s, &me.device_id).await?.low;
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
    s.sequencer.ack(me.device_id, req.up_to).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn code_hash(code: &str) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(code.trim().to_ascii_uppercase().as_bytes()).to_vec()
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
    let account = s
        .store
        .account_by_handle(&req.handle)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                ErrorCode::UnknownAccount,
                format!("nobody has the handle '{}'", req.handle),
            )
        })?;
    let key = &req.device.signature_key.0;
    verify_signature(
        key,
        &link_signing_input(&req.handle, key),
        &req.device.signature.0,
    )
    .map_err(|_| {
        ApiError::bad_request(
            ErrorCode::InvalidSignature,
            "the link request is not signed by the device key",
        )
    })?;
    if req.key_packages.is_empty() || req.key_packages.len() > MAX_UPLOAD {
        return Err(ApiError::bad_request(
            ErrorCode::BadRequest,
            format!("a link request carries 1 to {MAX_UPLOAD} key packages"),
        ));
    }
    let device_id = device_id_for_key(key);
    check_key_packages(
        &account.handle,
        &device_id,
        key,
        &req.key_packages,
        Some(&req.last_resort),
    )?;
    if s.store.device(&device_id).await?.is_some() {
        return Err(ApiError::conflict(
            ErrorCode::BadRequest,
            "this device key is already registered",
        ));
    }
    let link_id = format!("{}{}", random_id(), random_id());
    let mut code_bytes = [0u8; 5];
    rand::thread_rng().fill_bytes(&mut code_bytes);
    let code = base32(&code_bytes);
    s.store
        .create_link(
            PendingLink {
                link_id: link_id.clone(),
                account_id: account.account_id,
                signature_key: key.clone(),
                label: req.device.label,
                key_packages: req.key_packages.into_iter().map(|b| b.0).collect(),
                last_resort: req.last_resort.0,
                approved_device: None,
                created_at: now_ms(),
            },
            code_hash(&code),
        )
        .await?;
    Ok((StatusCode::CREATED, ApiJson(LinkPending { link_id, code })))
}

fn base32(b: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = String::new();
    for &x in b {
        bits = (bits << 8) | x as u32;
        n += 8;
        while n >= 5 {
            n -= 5;
            out.push(ALPHABET[((bits >> n) & 31) as usize] as char);
        }
    }
    out
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
    let l = s
        .store
        .link(&link)
        .await?
        .ok_or_else(|| ApiError::not_found(ErrorCode::NotFound, "no such link request"))?;
    Ok(ApiJson(LinkStatus {
        approved: l.approved_device.is_some(),
        account_id: l.approved_device.as_ref().map(|_| l.account_id.clone()),
        device_id: l.approved_device,
    }))
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
    let link = s
        .store
        .link_by_code(&code_hash(&req.code))
        .await?
        .filter(|l| l.account_id == me.account_id && l.approved_device.is_none())
        .ok_or_else(|| {
            ApiError::not_found(
                ErrorCode::NotFound,
                "no pending link request with this code for your account",
            )
        })?;
    if now_ms().saturating_sub(link.created_at) > LINK_TTL_MS {
        return Err(ApiError::not_found(
            ErrorCode::NotFound,
            "this link code has expired; start again on the new device",
        ));
    }
    let account = s
        .store
        .account_by_id(&me.account_id)
        .await?
        .ok_or_else(ApiError::internal)?;
    let device_id = device_id_for_key(&link.signature_key);
    s.store
        .approve_link(
            &link.link_id,
            Device {
                device_id: device_id.clone(),
                account_id: me.account_id,
                handle: account.handle,
                signature_key: link.signature_key,
                label: link.label,
            },
        )
        .await?;
    Ok(ApiJson(LinkApproved { device_id }))
}
