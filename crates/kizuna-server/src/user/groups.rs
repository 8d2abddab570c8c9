//! Key packages, groups and delivery over HTTP: claiming key packages,
//! starting groups, commits, proposals, messages, and each device's inbox.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use kizuna_wire::*;
use serde::Deserialize;

use super::{decode_group, ApiJson, AuthedDevice, Shared};
use crate::error::ApiError;

#[utoipa::path(
    post,
    path = "/v1/devices/me/key-packages",
    tag = "user",
    summary = "Upload key packages (and a last-resort one)",
    request_body = KeyPackageUpload,
    responses((status = 200, description = "what the device holds now", body = KeyPackageStatus), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn upload_key_packages(
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
pub(crate) async fn key_package_status(
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
pub(crate) async fn claim_key_packages(
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
pub(crate) async fn create_group(
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
pub(crate) async fn group(
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
pub(crate) async fn commit(
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
pub(crate) async fn propose(
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
pub(crate) async fn send(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    Path(group): Path<String>,
    ApiJson(req): ApiJson<SendRequest>,
) -> Result<ApiJson<SendAccepted>, ApiError> {
    Ok(ApiJson(s.send(&me, decode_group(&group)?, req).await?))
}

#[derive(Deserialize)]
pub(crate) struct InboxQuery {
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
pub(crate) async fn inbox(
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
pub(crate) async fn ack(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    ApiJson(req): ApiJson<AckRequest>,
) -> Result<StatusCode, ApiError> {
    s.ack(&me, req.up_to).await?;
    Ok(StatusCode::NO_CONTENT)
}
