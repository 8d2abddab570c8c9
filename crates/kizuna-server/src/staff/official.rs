//! Official accounts' applications over HTTP: checking the evidence,
//! approving (a second person), rejecting and revoking. The node decides
//! and records each step (`kizuna_node::governance`).

use std::sync::Arc;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use kizuna_node::governance::Governance;
use kizuna_wire::staff::{OfficialReview, VerificationDecision, VerificationProposal};
use kizuna_wire::ErrorBody;

use super::{Body, Staff, StaffApiError};
use crate::user::ApiPath;

type Shared = Arc<Governance>;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/staff/v1/official/applications", get(list))
        .route(
            "/staff/v1/official/applications/{application}/propose",
            post(propose),
        )
        .route(
            "/staff/v1/official/applications/{application}/approve",
            post(approve),
        )
        .route(
            "/staff/v1/official/applications/{application}/reject",
            post(reject),
        )
        .route("/staff/v1/official/accounts/{handle}/revoke", post(revoke))
}

#[utoipa::path(
    get,
    path = "/staff/v1/official/applications",
    operation_id = "list_official_applications",
    tag = "staff",
    summary = "Applications for official accounts, newest first, with who took each step and the evidence",
    responses((status = 200, description = "the applications", body = Vec<OfficialReview>), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn list(
    State(g): State<Shared>,
    Staff(s): Staff,
) -> Result<Json<Vec<OfficialReview>>, StaffApiError> {
    Ok(Json(g.official_reviews(&s).await?))
}

#[utoipa::path(
    post,
    path = "/staff/v1/official/applications/{application}/propose",
    operation_id = "propose_official",
    tag = "staff",
    summary = "Record the evidence checked for an application: the first of the two people a verification takes",
    params(("application" = String, Path, description = "the application id")),
    request_body = VerificationProposal,
    responses((status = 200, description = "the application, waiting for a second person", body = OfficialReview), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn propose(
    State(g): State<Shared>,
    Staff(s): Staff,
    ApiPath(id): ApiPath<String>,
    Body(req): Body<VerificationProposal>,
) -> Result<Json<OfficialReview>, StaffApiError> {
    Ok(Json(g.propose_official(&s, &id, req).await?))
}

#[utoipa::path(
    post,
    path = "/staff/v1/official/applications/{application}/approve",
    operation_id = "approve_official",
    tag = "staff",
    summary = "Approve an application someone else checked: the badge enters the key log",
    params(("application" = String, Path, description = "the application id")),
    responses((status = 200, description = "the verified application", body = OfficialReview), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn approve(
    State(g): State<Shared>,
    Staff(s): Staff,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<OfficialReview>, StaffApiError> {
    Ok(Json(g.approve_official(&s, &id).await?))
}

#[utoipa::path(
    post,
    path = "/staff/v1/official/applications/{application}/reject",
    operation_id = "reject_official",
    tag = "staff",
    summary = "Turn a waiting application down, with a reason the organisation is told",
    params(("application" = String, Path, description = "the application id")),
    request_body = VerificationDecision,
    responses((status = 200, description = "the rejected application", body = OfficialReview), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn reject(
    State(g): State<Shared>,
    Staff(s): Staff,
    ApiPath(id): ApiPath<String>,
    Body(req): Body<VerificationDecision>,
) -> Result<Json<OfficialReview>, StaffApiError> {
    Ok(Json(g.reject_official(&s, &id, req).await?))
}

#[utoipa::path(
    post,
    path = "/staff/v1/official/accounts/{handle}/revoke",
    operation_id = "revoke_official",
    tag = "staff",
    summary = "End an official account's badge: every device sees it gone at its next look at the handle",
    params(("handle" = String, Path, description = "the official account's handle")),
    request_body = VerificationDecision,
    responses((status = 200, description = "the revoked application", body = OfficialReview), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn revoke(
    State(g): State<Shared>,
    Staff(s): Staff,
    ApiPath(handle): ApiPath<String>,
    Body(req): Body<VerificationDecision>,
) -> Result<Json<OfficialReview>, StaffApiError> {
    Ok(Json(g.revoke_official(&s, &handle, req).await?))
}
