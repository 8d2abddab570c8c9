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

async fn list(State(g): State<Shared>, Staff(s): Staff) -> Result<Json<Vec<Grant>>, StaffApiError> {
    Ok(Json(g.realm.grants(&s).await?))
}

async fn request(
    State(g): State<Shared>,
    Staff(s): Staff,
    Body(req): Body<GrantRequest>,
) -> Result<(StatusCode, Json<Grant>), StaffApiError> {
    Ok((StatusCode::CREATED, Json(g.request_grant(&s, req).await?)))
}

async fn approve(
    State(g): State<Shared>,
    Staff(s): Staff,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Grant>, StaffApiError> {
    Ok(Json(g.approve_grant(&s, &id).await?))
}

async fn deny(
    State(g): State<Shared>,
    Staff(s): Staff,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Grant>, StaffApiError> {
    Ok(Json(g.deny_grant(&s, &id).await?))
}

async fn revoke(
    State(g): State<Shared>,
    Staff(s): Staff,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Grant>, StaffApiError> {
    Ok(Json(g.revoke_grant(&s, id).await?))
}

async fn governed_read(
    State(g): State<Shared>,
    Staff(s): Staff,
    ApiPath(handle): ApiPath<String>,
) -> Result<Json<GovernedRead>, StaffApiError> {
    Ok(Json(g.governed_read(&s, handle).await?))
}
