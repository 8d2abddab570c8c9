//! Key packages, groups and delivery over HTTP: claiming key packages,
//! starting groups, commits, proposals, messages, and each device's inbox.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use kizuna_wire::*;
use serde::Deserialize;

use super::{decode_group, ApiJson, ApiPath, ApiQuery, AuthedDevice, Shared};
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
    params(("group" = String, Path, description = "the MLS group id: 1 to 64 bytes in lowercase hex", min_length = 2, max_length = 128, pattern = r"^([0-9a-f]{2}){1,64}$")),
    responses((status = 200, description = "the group", body = GroupView), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn group(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    ApiPath(group): ApiPath<String>,
) -> Result<ApiJson<GroupView>, ApiError> {
    Ok(ApiJson(s.group(&me, &decode_group(&group)?).await?))
}

#[utoipa::path(
    post,
    path = "/v1/groups/{group}/commits",
    tag = "user",
    summary = "Submit the one commit of the current epoch",
    params(("group" = String, Path, description = "the MLS group id: 1 to 64 bytes in lowercase hex", min_length = 2, max_length = 128, pattern = r"^([0-9a-f]{2}){1,64}$")),
    request_body = CommitRequest,
    responses((status = 200, description = "the commit is on disk and routed", body = CommitAccepted), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn commit(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    ApiPath(group): ApiPath<String>,
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
    params(("group" = String, Path, description = "the MLS group id: 1 to 64 bytes in lowercase hex", min_length = 2, max_length = 128, pattern = r"^([0-9a-f]{2}){1,64}$")),
    request_body = ProposalRequest,
    responses((status = 200, description = "the proposal is on disk and routed", body = CommitAccepted), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn propose(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    ApiPath(group): ApiPath<String>,
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
    params(("group" = String, Path, description = "the MLS group id: 1 to 64 bytes in lowercase hex", min_length = 2, max_length = 128, pattern = r"^([0-9a-f]{2}){1,64}$")),
    request_body = SendRequest,
    responses((status = 200, description = "the message is on disk and routed", body = SendAccepted), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn send(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    ApiPath(group): ApiPath<String>,
    ApiJson(req): ApiJson<SendRequest>,
) -> Result<ApiJson<SendAccepted>, ApiError> {
    Ok(ApiJson(s.send(&me, decode_group(&group)?, req).await?))
}

/// The most entries one page of the inbox holds, and how many a device
/// gets when it does not say.
const INBOX_PAGE: std::ops::RangeInclusive<u32> = 1..=1000;
pub(crate) const INBOX_DEFAULT: u32 = 500;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct InboxQuery {
    /// Return entries after this position.
    #[serde(default)]
    #[param(maximum = 9223372036854775807u64)]
    pub(crate) after: u64,
    /// At most this many entries (1 to 1000, default 500).
    #[serde(default)]
    #[param(minimum = 1, maximum = 1000)]
    pub(crate) limit: Option<u32>,
}

impl Checked for InboxQuery {
    fn check(&self) -> Result<(), FieldError> {
        kizuna_wire::fields::check_stored("after", self.after)?;
        match self.limit {
            Some(l) if !INBOX_PAGE.contains(&l) => Err(FieldError {
                field: "limit".into(),
                problem: kizuna_wire::fields::Problem::Shape("from 1 to 1000"),
                code: ErrorCode::BadRequest,
            }),
            _ => Ok(()),
        }
    }
}

#[utoipa::path(
    get,
    path = "/v1/inbox",
    tag = "user",
    summary = "This device's queue after a cursor",
    params(InboxQuery),
    responses((status = 200, description = "the waiting envelopes, oldest first", body = InboxResponse), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn inbox(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    ApiQuery(q): ApiQuery<InboxQuery>,
) -> Result<ApiJson<InboxResponse>, ApiError> {
    let limit = q.limit.unwrap_or(INBOX_DEFAULT);
    let envelopes = s.inbox(&me.device_id, q.after, limit).await?;
    let low = s.key_package_status(&me.device_id).await?.low;
    let announcements_to = s
        .node
        .store
        .latest_announcement_for(&me.account_id)
        .await
        .map_err(kizuna_node::NodeError::from)?;
    Ok(ApiJson(InboxResponse {
        envelopes,
        key_packages_low: low,
        announcements_to,
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
