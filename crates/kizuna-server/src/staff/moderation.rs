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
        .route("/staff/v1/reports/{report}/files/{seq}", get(file))
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

#[utoipa::path(
    get,
    path = "/staff/v1/reports/{report}/files/{seq}",
    operation_id = "open_report_file",
    tag = "staff",
    summary = "Open the file a reported message carries, under the grant that opens the report",
    description = "Opened with the key the reporter revealed and checked against the hash the sender committed to: the body is the file's bytes, and a transfer that breaks off was not the file described. Recorded like opening the report, before anything is read. Always served as an attachment, never shown inline.",
    params(
        ("report" = String, Path, description = "the report id"),
        ("seq" = u64, Path, description = "the message's place in its chat (group_seq)", maximum = 9223372036854775807u64),
    ),
    responses((status = 200, description = "the file's bytes; Content-Digest is their SHA-256 as the sender committed to it", body = Vec<u8>, content_type = "application/octet-stream"), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn file(
    State(g): State<Shared>,
    Staff(s): Staff,
    ApiPath((report_id, seq)): ApiPath<(String, u64)>,
) -> Result<axum::response::Response, StaffApiError> {
    use axum::http::{header, HeaderValue};
    let opened = g.open_report_file(&s, &report_id, seq).await?;
    let f = &opened.file;
    let mut r = axum::response::Response::new(axum::body::Body::from_stream(opened.bytes));
    let h = r.headers_mut();
    // Whatever the sender said it is, a browser saves it and never runs
    // or renders it.
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(f.size));
    let name: String = f
        .file_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&kizuna_wire::sha256_digest_header(&f.sha256.0)) {
        h.insert(kizuna_wire::CONTENT_DIGEST, v);
    }
    Ok(r)
}
