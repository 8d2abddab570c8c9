//! Grants and governed reads over HTTP; the node decides and records them
//! (`kizuna_node::governance`).

use std::sync::Arc;

use axum::extract::State;

use crate::user::ApiPath;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use kizuna_node::governance::Governance;
use kizuna_wire::staff::*;
use kizuna_wire::ErrorBody;

use super::{Body, Staff, StaffApiError};

type Shared = Arc<Governance>;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/staff/v1/grants", get(list).post(request))
        .route("/staff/v1/grants/{grant}/approve", post(approve))
        .route("/staff/v1/grants/{grant}/deny", post(deny))
        .route("/staff/v1/grants/{grant}/revoke", post(revoke))
        .route("/staff/v1/people/{handle}", get(governed_read))
}

#[utoipa::path(
    get,
    path = "/staff/v1/grants",
    operation_id = "list_grants",
    tag = "staff",
    summary = "Grants: all of them for the operator's approvers, security staff and admins, else my own",
    responses((status = 200, description = "the grants", body = Vec<Grant>), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn list(
    State(g): State<Shared>,
    Staff(s): Staff,
) -> Result<Json<Vec<Grant>>, StaffApiError> {
    Ok(Json(g.realm.grants(&s).await?))
}

#[utoipa::path(
    post,
    path = "/staff/v1/grants",
    tag = "staff",
    summary = "Request access to people's data for a purpose, ticket and time",
    description = "The policy decides the request; a refusal is recorded as an event and in each named person's access records.",
    request_body = GrantRequest,
    responses((status = 201, description = "the grant: pending, or approved at once for break-glass", body = Grant), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn request(
    State(g): State<Shared>,
    Staff(s): Staff,
    Body(req): Body<GrantRequest>,
) -> Result<(StatusCode, Json<Grant>), StaffApiError> {
    Ok((StatusCode::CREATED, Json(g.request_grant(&s, req).await?)))
}

#[utoipa::path(
    post,
    path = "/staff/v1/grants/{grant}/approve",
    tag = "staff",
    summary = "Approve someone else's grant (two-person rule)",
    params(("grant" = String, Path, description = "the grant id")),
    responses((status = 200, description = "the approved grant", body = Grant), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn approve(
    State(g): State<Shared>,
    Staff(s): Staff,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Grant>, StaffApiError> {
    Ok(Json(g.approve_grant(&s, &id).await?))
}

#[utoipa::path(
    post,
    path = "/staff/v1/grants/{grant}/deny",
    tag = "staff",
    summary = "Deny a pending grant",
    params(("grant" = String, Path, description = "the grant id")),
    responses((status = 200, description = "the denied grant", body = Grant), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn deny(
    State(g): State<Shared>,
    Staff(s): Staff,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Grant>, StaffApiError> {
    Ok(Json(g.deny_grant(&s, &id).await?))
}

#[utoipa::path(
    post,
    path = "/staff/v1/grants/{grant}/revoke",
    tag = "staff",
    summary = "End a grant early",
    params(("grant" = String, Path, description = "the grant id")),
    responses((status = 200, description = "the revoked grant", body = Grant), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn revoke(
    State(g): State<Shared>,
    Staff(s): Staff,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Grant>, StaffApiError> {
    Ok(Json(g.revoke_grant(&s, id).await?))
}

#[utoipa::path(
    get,
    path = "/staff/v1/people/{handle}",
    tag = "staff",
    summary = "Read a person's data under a live grant",
    description = "The read is recorded in the ledger and in the person's own access records before anything is opened.",
    params(("handle" = String, Path, description = "the person's handle")),
    responses((status = 200, description = "only the granted fields; the phone masked to its last two digits otherwise", body = GovernedRead), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn governed_read(
    State(g): State<Shared>,
    Staff(s): Staff,
    ApiPath(handle): ApiPath<String>,
) -> Result<Json<GovernedRead>, StaffApiError> {
    Ok(Json(g.governed_read(&s, handle).await?))
}
