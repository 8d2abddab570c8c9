//! Accounts and devices over HTTP: registering, signing in, finding
//! people, listing and revoking devices, and linking a new one.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use kizuna_wire::*;

use super::{ApiJson, ApiPath, AuthedDevice, PeerAddress, Shared, SignupAllowed};
use crate::error::ApiError;

#[utoipa::path(
    post,
    path = "/v1/accounts",
    tag = "user",
    summary = "Register an account and its first device",
    request_body = RegisterRequest,
    responses((status = 201, description = "the account was created", body = RegisterResponse), (status = "default", description = "an error with a stable code", body = ErrorBody))
)]
pub(crate) async fn register(
    State(s): State<Shared>,
    _: SignupAllowed,
    PeerAddress(from): PeerAddress,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let created = s.register_from(req, &from).await?;
    Ok((StatusCode::CREATED, ApiJson(created)))
}

#[utoipa::path(
    post,
    path = "/v1/phone/codes",
    tag = "user",
    summary = "Send a one-time code to a phone number, to register with it",
    description = "The code is what `POST /v1/accounts` takes as `phone_code`. It works for 10 minutes and allows 5 guesses; a number may be sent 5 codes an hour. The answer is the same whether or not the number is registered.",
    request_body = PhoneCodeRequest,
    responses((status = 202, description = "the code is on its way", body = PhoneCodeSent), (status = "default", description = "an error with a stable code", body = ErrorBody))
)]
pub(crate) async fn phone_code(
    State(s): State<Shared>,
    _: SignupAllowed,
    ApiJson(req): ApiJson<PhoneCodeRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let sent = s.send_phone_code(req).await?;
    Ok((StatusCode::ACCEPTED, ApiJson(sent)))
}

#[utoipa::path(
    post,
    path = "/v1/auth/challenge",
    tag = "user",
    summary = "Get a challenge to sign with the device key",
    request_body = ChallengeRequest,
    responses((status = 200, description = "a challenge bound to the device", body = ChallengeResponse), (status = "default", description = "an error with a stable code", body = ErrorBody))
)]
pub(crate) async fn challenge(
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
pub(crate) async fn token(
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
pub(crate) async fn delivery_service(State(s): State<Shared>) -> ApiJson<DeliveryService> {
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
pub(crate) async fn devices(
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
    params(("device" = String, Path, description = "the device id", min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9_.-]+$")),
    responses((status = 204, description = "revoked"), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn revoke_device(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    ApiPath(device): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    fields::DEVICE_ID.check(&device)?;
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
pub(crate) async fn me(
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
    params(("handle" = String, Path, description = "the account's handle", min_length = 3, max_length = 32, pattern = r"^[a-z][a-z0-9_.]*$")),
    responses((status = 200, description = "the account", body = AccountView), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn account(
    State(s): State<Shared>,
    AuthedDevice(_): AuthedDevice,
    ApiPath(handle): ApiPath<String>,
) -> Result<ApiJson<AccountView>, ApiError> {
    fields::HANDLE.check(&handle)?;
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
pub(crate) async fn lookup_phone(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    PeerAddress(from): PeerAddress,
    ApiJson(req): ApiJson<PhoneLookupRequest>,
) -> Result<ApiJson<PhoneLookupResponse>, ApiError> {
    Ok(ApiJson(PhoneLookupResponse {
        handle: s.lookup_phone(&me, &req.phone, &from).await?,
    }))
}

#[utoipa::path(
    post,
    path = "/v1/links",
    tag = "user",
    summary = "A new device asks to join an account",
    request_body = LinkRequest,
    responses((status = 201, description = "the request waits for approval", body = LinkPending), (status = "default", description = "an error with a stable code", body = ErrorBody))
)]
pub(crate) async fn create_link(
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
    params(("link" = String, Path, description = "the link request id", min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9_.-]+$")),
    responses((status = 200, description = "the request", body = LinkStatus), (status = "default", description = "an error with a stable code", body = ErrorBody))
)]
pub(crate) async fn link_status(
    State(s): State<Shared>,
    ApiPath(link): ApiPath<String>,
) -> Result<ApiJson<LinkStatus>, ApiError> {
    fields::ID.named("link").check(&link)?;
    Ok(ApiJson(s.link_status(&link).await?))
}

#[utoipa::path(
    post,
    path = "/v1/links/inspect",
    tag = "user",
    summary = "An existing device sees which device a link code is for, to vouch for its key",
    request_body = LinkCode,
    responses((status = 200, description = "the device asking to join", body = PendingDevice), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn inspect_link(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    ApiJson(req): ApiJson<LinkCode>,
) -> Result<ApiJson<PendingDevice>, ApiError> {
    Ok(ApiJson(s.inspect_link(&me, &req.code).await?))
}

#[utoipa::path(
    post,
    path = "/v1/links/approve",
    tag = "user",
    summary = "An existing device approves a link code, vouching for the new device's key",
    description = "The endorsement goes into the key log with the new device's key, before the device exists: every device of the account, and everyone it talks to, can tell it from a device the node added.",
    request_body = LinkApprove,
    responses((status = 200, description = "the new device belongs to the account", body = LinkApproved), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn approve_link(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    ApiJson(req): ApiJson<LinkApprove>,
) -> Result<ApiJson<LinkApproved>, ApiError> {
    Ok(ApiJson(s.approve_link(&me, &req).await?))
}
