//! Abuse reports over HTTP: filing, my reports, decisions about my
//! messages and appeals (`kizuna_node::reports`).

use axum::extract::State;
use axum::http::StatusCode;
use kizuna_wire::reports::*;
use kizuna_wire::*;

use super::{ApiJson, ApiPath, AuthedDevice, Shared};
use crate::error::ApiError;

#[utoipa::path(
    post,
    path = "/v1/reports",
    tag = "user",
    summary = "Report franked messages of a chat: each is verified against the node's binding before anything is kept",
    request_body = ReportRequest,
    responses((status = 201, description = "the report, kept sealed in my home region", body = ReportFiled), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn file_report(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    ApiJson(req): ApiJson<ReportRequest>,
) -> Result<(StatusCode, ApiJson<ReportFiled>), ApiError> {
    Ok((StatusCode::CREATED, ApiJson(s.file_report(&me, req).await?)))
}

/// The reports I filed, with what became of them.
#[utoipa::path(
    get,
    path = "/v1/me/reports",
    tag = "user",
    summary = "The abuse reports I filed and what became of them",
    responses((status = 200, description = "my reports", body = Vec<FiledReport>), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn my_reports(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
) -> Result<ApiJson<Vec<FiledReport>>, ApiError> {
    Ok(ApiJson(s.my_reports(&me).await?))
}

/// What moderators decided about my messages.
#[utoipa::path(
    get,
    path = "/v1/me/moderation",
    tag = "user",
    summary = "What moderators decided about my messages, and my appeals",
    responses((status = 200, description = "the decisions", body = Vec<ModerationNotice>), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn moderation_notices(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
) -> Result<ApiJson<Vec<ModerationNotice>>, ApiError> {
    Ok(ApiJson(s.moderation_notices(&me).await?))
}

/// Appeals a decision about one of my messages: the report goes back to
/// the moderators' queue with my words beside it.
#[utoipa::path(
    post,
    path = "/v1/me/moderation/{report}/appeal",
    tag = "user",
    summary = "Appeal a moderator's decision about one of my messages",
    params(("report" = String, Path, description = "the report id", min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9_.-]+$")),
    request_body = AppealRequest,
    responses((status = 200, description = "the decision, with my appeal", body = ModerationNotice), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn appeal(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    ApiPath(report_id): ApiPath<String>,
    ApiJson(req): ApiJson<AppealRequest>,
) -> Result<ApiJson<ModerationNotice>, ApiError> {
    kizuna_wire::fields::ID.named("report").check(&report_id)?;
    Ok(ApiJson(s.appeal(&me, report_id, req).await?))
}
