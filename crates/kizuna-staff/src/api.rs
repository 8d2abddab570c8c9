//! The staff realm's HTTP API, served on its own listener. Every request but
//! login carries a staff session token and comes from a network of the
//! staff member's organisation.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use kizuna_wire::staff::*;
use kizuna_wire::{ErrorBody, ErrorCode};

use crate::{Session, StaffError, StaffRealm};

type Shared = Arc<StaffRealm>;

impl IntoResponse for StaffError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
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
            StaffError::Exists(_) => (StatusCode::CONFLICT, ErrorCode::BadRequest),
            StaffError::NotFound(_) => (StatusCode::NOT_FOUND, ErrorCode::NotFound),
            StaffError::TooManyFailedLogins { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, ErrorCode::RateLimited)
            }
            StaffError::LedgerUnavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::LedgerUnavailable,
            ),
            StaffError::Storage(e) => {
                tracing::error!(error = %e, "staff store failure");
                (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal)
            }
        };
        let message = match code {
            ErrorCode::Internal => "the staff realm failed; nothing was changed, try again".into(),
            _ => self.to_string(),
        };
        (status, Json(ErrorBody { code, message })).into_response()
    }
}

/// A JSON body whose rejection is a typed `malformed_json` error; also used
/// by the routes the node adds to the staff listener.
pub struct Body<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S> for Body<T> {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(e) => {
                let e: JsonRejection = e;
                Err((
                    StatusCode::BAD_REQUEST,
                    Json(ErrorBody {
                        code: ErrorCode::MalformedJson,
                        message: e.body_text(),
                    }),
                )
                    .into_response())
            }
        }
    }
}

/// A request by an authenticated staff member.
struct Staff(Session);

impl FromRequestParts<Shared> for Staff {
    type Rejection = StaffError;

    async fn from_request_parts(parts: &mut Parts, realm: &Shared) -> Result<Self, StaffError> {
        Ok(Staff(session_of(realm, parts).await?))
    }
}

pub(crate) async fn session_of(realm: &StaffRealm, parts: &Parts) -> Result<Session, StaffError> {
    let token = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(StaffError::InvalidSession(
            "missing Authorization: Bearer <staff session token>",
        ))?;
    realm.authenticate(token, peer(parts)?).await
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

pub fn router(realm: Arc<StaffRealm>) -> Router {
    Router::new()
        .route("/staff/v1/login", post(login))
        .route("/staff/v1/me", get(me))
        .route("/staff/v1/orgs", get(orgs).post(add_org))
        .route("/staff/v1/orgs/{org}/suspend", post(suspend_org))
        .route("/staff/v1/members", get(members).post(add_member))
        .route("/staff/v1/members/{staff}/suspend", post(suspend_member))
        .route("/staff/v1/events", get(events))
        .route("/staff/v1/alerts", get(alerts))
        .route("/staff/v1/reviews", get(reviews))
        .route("/staff/v1/reviews/{grant}/complete", post(complete_review))
        .fallback(|| async { StaffError::NotFound("staff endpoint".into()) })
        .with_state(realm)
}

async fn login(
    State(realm): State<Shared>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Body(req): Body<StaffLogin>,
) -> Result<Json<StaffSession>, StaffError> {
    Ok(Json(realm.login(&req, addr.ip()).await?))
}

async fn me(Staff(s): Staff) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "member": s.member, "org": s.org, "source": s.source.to_string() }))
}

async fn orgs(State(realm): State<Shared>, Staff(s): Staff) -> Result<Json<Vec<Org>>, StaffError> {
    Ok(Json(realm.orgs(&s).await?))
}

async fn add_org(
    State(realm): State<Shared>,
    Staff(s): Staff,
    Body(org): Body<Org>,
) -> Result<(StatusCode, Json<Org>), StaffError> {
    Ok((StatusCode::CREATED, Json(realm.add_org(&s, org).await?)))
}

async fn suspend_org(
    State(realm): State<Shared>,
    Staff(s): Staff,
    Path(org): Path<String>,
) -> Result<Json<Suspended>, StaffError> {
    Ok(Json(realm.suspend_org(&s, &org).await?))
}

async fn members(
    State(realm): State<Shared>,
    Staff(s): Staff,
) -> Result<Json<Vec<StaffMember>>, StaffError> {
    Ok(Json(realm.members(&s).await?))
}

async fn add_member(
    State(realm): State<Shared>,
    Staff(s): Staff,
    Body(new): Body<NewStaffMember>,
) -> Result<(StatusCode, Json<StaffCredentials>), StaffError> {
    Ok((StatusCode::CREATED, Json(realm.add_member(&s, &new).await?)))
}

async fn suspend_member(
    State(realm): State<Shared>,
    Staff(s): Staff,
    Path(staff): Path<String>,
) -> Result<Json<Suspended>, StaffError> {
    Ok(Json(realm.suspend_member(&s, &staff).await?))
}

async fn events(
    State(realm): State<Shared>,
    Staff(s): Staff,
) -> Result<Json<Vec<serde_json::Value>>, StaffError> {
    Ok(Json(realm.events(&s, 500).await?))
}

async fn alerts(
    State(realm): State<Shared>,
    Staff(s): Staff,
) -> Result<Json<Vec<serde_json::Value>>, StaffError> {
    Ok(Json(realm.alerts(&s).await?))
}

async fn reviews(
    State(realm): State<Shared>,
    Staff(s): Staff,
) -> Result<Json<Vec<Review>>, StaffError> {
    Ok(Json(realm.reviews(&s).await?))
}

async fn complete_review(
    State(realm): State<Shared>,
    Staff(s): Staff,
    Path(grant): Path<String>,
    Body(c): Body<ReviewCompletion>,
) -> Result<Json<Review>, StaffError> {
    Ok(Json(realm.complete_review(&s, &grant, &c).await?))
}
