//! Breach scoping over HTTP (`kizuna_node::governance`).

use std::sync::Arc;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use kizuna_node::governance::Governance;
use kizuna_wire::staff::*;

use super::{Body, Staff, StaffApiError};

pub fn routes() -> Router<Arc<Governance>> {
    Router::new().route("/staff/v1/breach/scope", post(scope))
}

async fn scope(
    State(g): State<Arc<Governance>>,
    Staff(s): Staff,
    Body(q): Body<BreachQuery>,
) -> Result<Json<BreachScope>, StaffApiError> {
    Ok(Json(g.breach_scope(&s, q).await?))
}
