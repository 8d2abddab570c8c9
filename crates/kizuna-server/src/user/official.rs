//! Official accounts over HTTP, as their organisations use them: applying
//! for the badge and following the application. Anyone reads a badge from
//! the key log (`/v1/keys/{handle}`), never from here.

use axum::extract::State;
use axum::http::StatusCode;
use kizuna_node::NodeError;
use kizuna_wire::*;

use super::{ApiJson, AuthedDevice, Shared};
use crate::error::ApiError;

fn governance(s: &Shared) -> Result<&crate::staff::Governance, ApiError> {
    s.governance.as_deref().ok_or_else(|| {
        ApiError::from(NodeError::new(
            kizuna_node::Kind::Unavailable,
            ErrorCode::Unavailable,
            "this node runs without a staff realm, so nobody here can verify an official account; apply through a node that has one",
        ))
    })
}

#[utoipa::path(
    post,
    path = "/v1/official/applications",
    operation_id = "apply_official",
    tag = "user",
    summary = "Apply for an official account: a claim this device signs, verified by two of the operator's people",
    description = "The claim (the JSON of an OfficialClaim, exactly as signed) must name this account, and the signature be this device's over `kizuna-official-claim-v1 ‖ 0x00 ‖ claim`. One application waits at a time.",
    request_body = OfficialApplicationRequest,
    responses((status = 201, description = "the application, waiting for the operator", body = OfficialApplication), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn apply(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    ApiJson(req): ApiJson<OfficialApplicationRequest>,
) -> Result<(StatusCode, ApiJson<OfficialApplication>), ApiError> {
    let g = governance(&s)?;
    let account = s.account_of(&me).await?;
    let device = s
        .node
        .store
        .device(&me.device_id)
        .await
        .map_err(NodeError::from)?
        .ok_or_else(|| {
            NodeError::not_found(ErrorCode::UnknownDevice, "this device no longer exists")
        })?;
    Ok((
        StatusCode::CREATED,
        ApiJson(g.apply_official(&account, &device, req).await?),
    ))
}

#[utoipa::path(
    get,
    path = "/v1/official/applications",
    operation_id = "my_official_applications",
    tag = "user",
    summary = "My account's applications for an official account, newest first",
    responses((status = 200, description = "the applications", body = Vec<OfficialApplication>), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn applications(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
) -> Result<ApiJson<Vec<OfficialApplication>>, ApiError> {
    let g = governance(&s)?;
    let account = s.account_of(&me).await?;
    Ok(ApiJson(g.applications_of(&account).await?))
}

#[utoipa::path(
    put,
    path = "/v1/official/{handle}/follow",
    operation_id = "follow_official",
    tag = "user",
    summary = "Follow an official account through a one-to-one chat this device shares with one of its devices",
    description = "What brings the account's announcements. What I tell it goes through the chat, end-to-end encrypted to the organisation's own devices; the node keeps only that I follow it, through which chat.",
    params(("handle" = String, Path, description = "the official account's handle")),
    request_body = FollowRequest,
    responses((status = 200, description = "the account followed, with who runs it and where it keeps what I send", body = FollowedAccount), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn follow(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    super::ApiPath(handle): super::ApiPath<String>,
    ApiJson(req): ApiJson<FollowRequest>,
) -> Result<ApiJson<FollowedAccount>, ApiError> {
    Ok(ApiJson(s.node.follow(&me, &handle, req).await?))
}

#[utoipa::path(
    delete,
    path = "/v1/official/{handle}/follow",
    operation_id = "unfollow_official",
    tag = "user",
    summary = "Stop following an official account: its announcements stop reaching my devices",
    params(("handle" = String, Path, description = "the official account's handle")),
    responses((status = 204, description = "not followed (any more)"), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn unfollow(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    super::ApiPath(handle): super::ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    s.node.unfollow(&me, &handle).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/v1/me/follows",
    operation_id = "my_follows",
    tag = "user",
    summary = "The official accounts I follow: who runs each, and where it keeps what I send it",
    responses((status = 200, description = "the accounts I follow", body = Vec<FollowedAccount>), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn follows(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
) -> Result<ApiJson<Vec<FollowedAccount>>, ApiError> {
    Ok(ApiJson(s.node.follows(&me).await?))
}

#[utoipa::path(
    post,
    path = "/v1/official/announcements",
    operation_id = "post_announcement",
    tag = "user",
    summary = "Announce to every follower: a public notice this device of a verified official account signs",
    description = "The announcement (the JSON of an Announcement, exactly as signed) must name this account, be made now, and be signed by this device over `kizuna-announce-v1 ‖ 0x00 ‖ announcement`. It is kept once; each follower's devices read it after their last position and check the signature against the key log.",
    request_body = AnnouncementRequest,
    responses((status = 201, description = "kept, at this position", body = AnnouncementAccepted), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn announce(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    ApiJson(req): ApiJson<AnnouncementRequest>,
) -> Result<(StatusCode, ApiJson<AnnouncementAccepted>), ApiError> {
    Ok((
        StatusCode::CREATED,
        ApiJson(s.node.post_announcement(&me, req).await?),
    ))
}

#[utoipa::path(
    get,
    path = "/v1/announcements",
    operation_id = "announcements",
    tag = "user",
    summary = "Announcements of the accounts I follow, after a position, oldest first",
    params(super::groups::InboxQuery),
    responses((status = 200, description = "each as its official account's device signed it", body = AnnouncementPage), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn announcements(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    super::ApiQuery(q): super::ApiQuery<super::groups::InboxQuery>,
) -> Result<ApiJson<AnnouncementPage>, ApiError> {
    let limit = q.limit.unwrap_or(super::groups::INBOX_DEFAULT);
    Ok(ApiJson(s.node.announcements(&me, q.after, limit).await?))
}
