//! The moderation queue over HTTP; the node decides and records each
//! opening (`kizuna_node::governance`).

use std::sync::Arc;

use axum::extract::State;

use crate::user::{ApiPath, ApiQuery};
use axum::routing::{get, post};
use axum::{Json, Router};
use kizuna_node::governance::Governance;
use kizuna_wire::reports::*;
use kizuna_wire::ErrorBody;
use serde::Deserialize;

use super::{Body, Staff, StaffApiError};

type Shared = Arc<Governance>;

pub fn routes() -> Router<Arc<Governance>> {
    Router::new()
        .route("/staff/v1/reports", get(list))
        .route("/staff/v1/reports/{report}", get(show))
        .route("/staff/v1/reports/{report}/resolve", post(resolve))
}

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    /// `open` (with appealed ones, the default), `appealed`, `resolved` or
    /// `all`.
    #[serde(default)]
    state: Option<String>,
}

impl kizuna_wire::Checked for ListQuery {
    fn check(&self) -> Result<(), kizuna_wire::FieldError> {
        kizuna_wire::fields::SCOPE_NAME
            .named("state")
            .check_some(&self.state)
    }
}

#[utoipa::path(
    get,
    path = "/staff/v1/reports",
    operation_id = "list_reports",
    tag = "staff",
    summary = "The moderation queue: reports of the regions my live grants over reports open",
    params(("state" = Option<String>, Query, description = "open (with appealed ones, the default), appealed, resolved or all")),
    responses((status = 200, description = "the reports, without their messages", body = Vec<QueuedReport>), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn list(
    State(g): State<Shared>,
    Staff(s): Staff,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Vec<kizuna_wire::reports::QueuedReport>>, StaffApiError> {
    Ok(Json(g.report_queue(&s, q.state.as_deref()).await?))
}

#[utoipa::path(
    get,
    path = "/staff/v1/reports/{report}",
    tag = "staff",
    summary = "Open a report, with its messages, under a live grant over its region",
    description = "The opening is recorded before the report is read.",
    params(("report" = String, Path, description = "the report id")),
    responses((status = 200, description = "the report", body = OpenedReport), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn show(
    State(g): State<Shared>,
    Staff(s): Staff,
    ApiPath(report_id): ApiPath<String>,
) -> Result<Json<OpenedReport>, StaffApiError> {
    Ok(Json(g.open_report(&s, report_id).await?))
}

#[utoipa::path(
    post,
    path = "/staff/v1/reports/{report}/resolve",
    tag = "staff",
    summary = "Decide a report; the reported person is told and may appeal",
    params(("report" = String, Path, description = "the report id")),
    request_body = ResolveRequest,
    responses((status = 200, description = "the resolved report", body = OpenedReport), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn resolve(
    State(g): State<Shared>,
    Staff(s): Staff,
    ApiPath(report_id): ApiPath<String>,
    Body(req): Body<ResolveRequest>,
) -> Result<Json<OpenedReport>, StaffApiError> {
    Ok(Json(g.resolve_report(&s, report_id, req).await?))
}
