//! The staff listener's HTTP API: the realm's own routes (login,
//! organisations, staff, events, alerts, reviews) and governed access
//! (grants, reads, abuse reports, breach scoping). Every request but login
//! carries a staff session token and comes from a network of the staff
//! member's organisation.

mod breach;
mod governance;
mod moderation;
mod official;
pub(crate) mod openapi;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use kizuna_staff::{Session, StaffError};
use kizuna_wire::staff::*;
use kizuna_wire::{ErrorBody, ErrorCode};

use crate::user::ApiPath;

pub(crate) use kizuna_node::governance::Governance;

type Shared = Arc<Governance>;

/// The staff realm's error as the staff listener answers it.
#[derive(Debug)]
pub struct StaffApiError(pub StaffError);

impl From<StaffError> for StaffApiError {
    fn from(e: StaffError) -> Self {
        StaffApiError(e)
    }
}

impl IntoResponse for StaffApiError {
    fn into_response(self) -> Response {
        let e = self.0;
        let (status, code) = match &e {
            StaffError::InvalidCredentials => {
                (StatusCode::UNAUTHORIZED, ErrorCode::InvalidCredentials)
            }
            StaffError::InvalidSession(_) => (StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized),
            StaffError::SessionExpired => (StatusCode::UNAUTHORIZED, ErrorCode::TokenExpired),
            StaffError::WrongRealm => (StatusCode::UNAUTHORIZED, ErrorCode::WrongRealm),
            StaffError::Suspended(_) => (StatusCode::FORBIDDEN, ErrorCode::Suspended),
            StaffError::NetworkNotAllowed { .. } => {
                (StatusCode::FORBIDDEN, ErrorCode::NetworkNotAllowed)
            }
            StaffError::Forbidden(_) => (StatusCode::FORBIDDEN, ErrorCode::Forbidden),
            StaffError::Invalid(_) => (StatusCode::BAD_REQUEST, ErrorCode::BadRequest),
            StaffError::Exists(_) => (StatusCode::CONFLICT, ErrorCode::AlreadyExists),
            StaffError::NotFound(_) => (StatusCode::NOT_FOUND, ErrorCode::NotFound),
            StaffError::TooManyFailedLogins { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, ErrorCode::RateLimited)
            }
            StaffError::LedgerUnavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::LedgerUnavailable,
            ),
            StaffError::Tampered(_) => (StatusCode::CONFLICT, ErrorCode::LedgerEntryUnreadable),
            StaffError::FileAltered(_) => (StatusCode::CONFLICT, ErrorCode::FileAltered),
            StaffError::Storage(_) | StaffError::Schema(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal)
            }
        };
        let message = match code {
            ErrorCode::Internal => {
                // The one place a staff-realm failure is logged: when it is
                // answered, with what the caller is not told.
                tracing::error!(error = %e, "a staff request failed");
                "the staff realm failed; nothing was changed, try again".into()
            }
            _ => e.to_string(),
        };
        (status, Json(ErrorBody { code, message })).into_response()
    }
}

/// A JSON body whose rejection is a typed `malformed_json` error.
pub(crate) struct Body<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for Body<T>
where
    T: serde::de::DeserializeOwned + kizuna_wire::Checked,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let v: T = crate::user::json_object(req, state)
            .await
            .map_err(|e| crate::error::ApiError::from(e).into_response())?;
        // A field that breaks its rule is refused before the realm reads
        // the request.
        match v.check() {
            Ok(()) => Ok(Body(v)),
            Err(e) => Err(crate::error::ApiError::from(e).into_response()),
        }
    }
}

/// A request by an authenticated staff member, from one of their
/// organisation's networks.
pub(crate) struct Staff(pub Session);

impl FromRequestParts<Shared> for Staff {
    type Rejection = StaffApiError;

    async fn from_request_parts(parts: &mut Parts, g: &Shared) -> Result<Self, StaffApiError> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(StaffError::InvalidSession(
                "missing Authorization: Bearer <staff session token>",
            ))?;
        Ok(Staff(g.realm.authenticate(token, peer(parts)?).await?))
    }
}

fn peer(parts: &Parts) -> Result<std::net::IpAddr, StaffError> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .ok_or(StaffError::InvalidSession(
            "the connection's source is unknown",
        ))
}

/// Every route of the staff listener.
pub fn router(g: Arc<Governance>) -> Router {
    Router::new()
        .route("/openapi.json", get(openapi::document))
        .route("/staff/v1/login", post(login))
        .route("/staff/v1/logout", post(logout))
        .route("/staff/v1/me", get(me))
        .route("/staff/v1/orgs", get(orgs).post(add_org))
        .route("/staff/v1/orgs/{org}/suspend", post(suspend_org))
        .route("/staff/v1/members", get(members).post(add_member))
        .route("/staff/v1/members/{staff}/suspend", post(suspend_member))
        .route("/staff/v1/events", get(events))
        .route("/staff/v1/alerts", get(alerts))
        .route("/staff/v1/reviews", get(reviews))
        .route("/staff/v1/reviews/{grant}/complete", post(complete_review))
        .merge(governance::routes())
        .merge(breach::routes())
        .merge(moderation::routes())
        .merge(official::routes())
        .fallback(|| async { StaffApiError(StaffError::NotFound("staff endpoint".into())) })
        .method_not_allowed_fallback(crate::user::method_not_allowed)
        .with_state(g)
}

type Answer<T> = Result<Json<T>, StaffApiError>;

#[utoipa::path(
    post,
    path = "/staff/v1/login",
    tag = "staff",
    summary = "Log in with password and TOTP code, from one of the organisation's networks",
    description = "Refused with network_not_allowed before anything is checked when the request comes from outside the organisation's networks. After 5 failed logins of one staff id within 15 minutes it is locked until the window passes (rate_limited).",
    request_body = StaffLogin,
    responses((status = 200, description = "a session token", body = StaffSession), (status = "default", description = "an error with a stable code", body = ErrorBody))
)]
pub(crate) async fn login(
    State(g): State<Shared>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Body(req): Body<StaffLogin>,
) -> Answer<StaffSession> {
    Ok(Json(g.realm.login(&req, addr.ip()).await?))
}

#[utoipa::path(
    post,
    path = "/staff/v1/logout",
    tag = "staff",
    summary = "End this session now: its token is refused from then on, wherever a copy of it is",
    responses((status = 200, description = "the session ended", body = LoggedOut), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn logout(State(g): State<Shared>, Staff(s): Staff) -> Answer<LoggedOut> {
    Ok(Json(g.realm.logout(&s).await?))
}

#[utoipa::path(
    get,
    path = "/staff/v1/me",
    tag = "staff",
    summary = "Who this session is: member, organisation and source address",
    responses((status = 200, description = "the session's member", body = StaffIdentity), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn me(Staff(s): Staff) -> Json<StaffIdentity> {
    Json(StaffIdentity {
        member: s.member,
        org: s.org,
        source: s.source.to_string(),
    })
}

#[utoipa::path(
    get,
    path = "/staff/v1/orgs",
    tag = "staff",
    summary = "The organisations (the operator's admins)",
    responses((status = 200, description = "every organisation", body = Vec<Org>), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn orgs(State(g): State<Shared>, Staff(s): Staff) -> Answer<Vec<Org>> {
    Ok(Json(g.realm.orgs(&s).await?))
}

#[utoipa::path(
    post,
    path = "/staff/v1/orgs",
    tag = "staff",
    summary = "Add an organisation (the operator's admins)",
    request_body = Org,
    responses((status = 201, description = "the organisation was added", body = Org), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn add_org(
    State(g): State<Shared>,
    Staff(s): Staff,
    Body(org): Body<Org>,
) -> Result<(StatusCode, Json<Org>), StaffApiError> {
    Ok((StatusCode::CREATED, Json(g.realm.add_org(&s, org).await?)))
}

#[utoipa::path(
    post,
    path = "/staff/v1/orgs/{org}/suspend",
    tag = "staff",
    summary = "Suspend an organisation: its sessions end and its grants are revoked",
    params(("org" = String, Path, description = "the organisation id")),
    responses((status = 200, description = "suspended", body = Suspended), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn suspend_org(
    State(g): State<Shared>,
    Staff(s): Staff,
    ApiPath(org): ApiPath<String>,
) -> Answer<Suspended> {
    Ok(Json(g.realm.suspend_org(&s, &org).await?))
}

#[utoipa::path(
    get,
    path = "/staff/v1/members",
    tag = "staff",
    summary = "The staff members (the operator's admins)",
    responses((status = 200, description = "every staff member", body = Vec<StaffMember>), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn members(State(g): State<Shared>, Staff(s): Staff) -> Answer<Vec<StaffMember>> {
    Ok(Json(g.realm.members(&s).await?))
}

#[utoipa::path(
    post,
    path = "/staff/v1/members",
    tag = "staff",
    summary = "Add a staff member; their password and TOTP secret are shown once",
    request_body = NewStaffMember,
    responses((status = 201, description = "the new member's credentials", body = StaffCredentials), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn add_member(
    State(g): State<Shared>,
    Staff(s): Staff,
    Body(new): Body<NewStaffMember>,
) -> Result<(StatusCode, Json<StaffCredentials>), StaffApiError> {
    Ok((
        StatusCode::CREATED,
        Json(g.realm.add_member(&s, &new).await?),
    ))
}

#[utoipa::path(
    post,
    path = "/staff/v1/members/{staff}/suspend",
    tag = "staff",
    summary = "Suspend a staff member: their sessions end",
    params(("staff" = String, Path, description = "the staff id")),
    responses((status = 200, description = "suspended", body = Suspended), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn suspend_member(
    State(g): State<Shared>,
    Staff(s): Staff,
    ApiPath(staff): ApiPath<String>,
) -> Answer<Suspended> {
    Ok(Json(g.realm.suspend_member(&s, &staff).await?))
}

#[utoipa::path(
    get,
    path = "/staff/v1/events",
    tag = "staff",
    summary = "The realm's latest 500 events, newest first (the operator's admins)",
    responses((status = 200, description = "the events", body = Vec<StaffEvent>), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn events(State(g): State<Shared>, Staff(s): Staff) -> Answer<Vec<StaffEvent>> {
    Ok(Json(typed_events(g.realm.events(&s, 500).await?)?))
}

#[utoipa::path(
    get,
    path = "/staff/v1/alerts",
    tag = "staff",
    summary = "The latest 500 alerts, newest first (security staff and admins)",
    responses((status = 200, description = "the alerts", body = Vec<StaffEvent>), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn alerts(State(g): State<Shared>, Staff(s): Staff) -> Answer<Vec<StaffEvent>> {
    Ok(Json(typed_events(g.realm.alerts(&s).await?)?))
}

/// The realm's stored events in the wire's type, so the listener answers
/// exactly the shape its API document describes; a row that does not fit
/// it is a failure of the staff store, not something to pass on.
fn typed_events(rows: Vec<serde_json::Value>) -> Result<Vec<StaffEvent>, StaffError> {
    serde_json::from_value(serde_json::Value::Array(rows))
        .map_err(|e| StaffError::Storage(format!("a stored staff event is malformed: {e}")))
}

#[utoipa::path(
    get,
    path = "/staff/v1/reviews",
    tag = "staff",
    summary = "Reviews of break-glass access, open ones first (security staff and admins)",
    responses((status = 200, description = "the reviews", body = Vec<Review>), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn reviews(State(g): State<Shared>, Staff(s): Staff) -> Answer<Vec<Review>> {
    Ok(Json(g.realm.reviews(&s).await?))
}

#[utoipa::path(
    post,
    path = "/staff/v1/reviews/{grant}/complete",
    tag = "staff",
    summary = "Complete the review of someone else's break-glass access",
    params(("grant" = String, Path, description = "the break-glass grant's id")),
    request_body = ReviewCompletion,
    responses((status = 200, description = "the completed review", body = Review), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn complete_review(
    State(g): State<Shared>,
    Staff(s): Staff,
    ApiPath(grant): ApiPath<String>,
    Body(c): Body<ReviewCompletion>,
) -> Answer<Review> {
    Ok(Json(g.realm.complete_review(&s, &grant, &c).await?))
}
