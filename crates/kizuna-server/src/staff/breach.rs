//! Breach scoping over HTTP (`kizuna_node::governance`).

use std::sync::Arc;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use kizuna_node::governance::Governance;
use kizuna_wire::staff::*;
use kizuna_wire::ErrorBody;

use super::{Body, Staff, StaffApiError};

pub fn routes() -> Router<Arc<Governance>> {
    Router::new().route("/staff/v1/breach/scope", post(scope))
}

#[utoipa::path(
    post,
    path = "/staff/v1/breach/scope",
    tag = "staff",
    summary = "Scope a breach: everyone whose data was read under a set of credentials in a window (security staff and admins)",
    request_body = BreachQuery,
    responses((status = 200, description = "the breach's scope, from the ledger", body = BreachScope), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn scope(
    State(g): State<Arc<Governance>>,
    Staff(s): Staff,
    Body(q): Body<BreachQuery>,
) -> Result<Json<BreachScope>, StaffApiError> {
    Ok(Json(g.breach_scope(&s, q).await?))
}
