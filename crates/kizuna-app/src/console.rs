//! The staff console: the staff member's page, served on loopback by their
//! own process, which holds the staff session and talks to the node's
//! staff listener. Every governed action is the node's to allow, refuse
//! and record; the page only asks.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, Uri};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use kizuna_console::breach::{regulator_report, Awareness};
use kizuna_console::staff::StaffClient;
use kizuna_wire::reports::{OpenedReport, QueuedReport, ResolveRequest};
use kizuna_wire::staff::{
    BreachQuery, BreachScope, GovernedRead, Grant, GrantRequest, Review, ReviewCompletion,
};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::RwLock;

use crate::session::{self, Sessions};
use crate::{assets, AppError};

pub(crate) struct ConsoleState {
    /// Where the staff session is kept, as `kizuna staff login` keeps it.
    pub home: PathBuf,
    /// The node's staff listener, if named; else the kept session's.
    pub server: Option<String>,
    pub ca_cert: Option<String>,
    pub client: RwLock<Option<StaffClient>>,
    /// The last breach scope, which the drafts are written from.
    pub scope: Mutex<Option<BreachScope>>,
    pub sessions: Arc<Sessions>,
}

type Shared = State<Arc<ConsoleState>>;

pub(crate) fn router(state: Arc<ConsoleState>) -> Router {
    Router::new()
        .route("/api/session", get(session_view))
        .route("/api/login", post(login))
        .route("/api/logout", post(logout))
        .route("/api/grants", get(grants).post(request_grant))
        .route("/api/grants/{grant}/{verb}", post(decide))
        .route("/api/people/{handle}", get(read))
        .route("/api/alerts", get(alerts))
        .route("/api/reviews", get(reviews))
        .route("/api/reviews/{grant}/complete", post(complete_review))
        .route("/api/reports", get(reports))
        .route("/api/reports/{id}", get(report))
        .route("/api/reports/{id}/resolve", post(resolve))
        .route("/api/breach/scope", post(breach_scope))
        .route("/api/breach/scope.json", get(scope_json))
        .route("/api/breach/drafts/{region}", get(draft))
        .fallback(|uri: Uri| async move { assets::staff(uri.path()) })
        .layer(middleware::from_fn_with_state(
            state.sessions.clone(),
            session::guard,
        ))
        .with_state(state)
}

/// The logged-in staff client, or the refusal that sends the page to its
/// login form.
async fn client(state: &ConsoleState) -> Result<StaffClient, AppError> {
    state
        .client
        .read()
        .await
        .clone()
        .ok_or(AppError::NotLoggedIn)
}

/// A node answer that says the staff session ended logs the page out.
async fn checked<T>(state: &ConsoleState, r: kizuna_console::Result<T>) -> Result<T, AppError> {
    if let Err(e) = &r {
        if e.api_code() == Some(kizuna_wire::ErrorCode::Unauthorized) {
            *state.client.write().await = None;
            return Err(AppError::NotLoggedIn);
        }
    }
    Ok(r?)
}

fn session_json(c: Option<&StaffClient>) -> Value {
    match c {
        None => json!({ "logged_in": false }),
        Some(c) => {
            let s = c.session();
            json!({
                "logged_in": true,
                "staff_id": s.staff_id,
                "org_id": s.org_id,
                "expires_at": s.expires_at,
            })
        }
    }
}

async fn session_view(State(state): Shared) -> Json<Value> {
    let c = state.client.read().await.clone();
    // A kept session the node no longer honours is no session.
    let live = match c {
        Some(c) if c.me().await.is_ok() => Some(c),
        _ => None,
    };
    let view = session_json(live.as_ref());
    *state.client.write().await = live;
    Json(view)
}

#[derive(Deserialize)]
struct Login {
    staff_id: String,
    password: String,
    totp: String,
}

async fn login(State(state): Shared, Json(l): Json<Login>) -> Result<Json<Value>, AppError> {
    let kept = state
        .client
        .read()
        .await
        .as_ref()
        .map(|c| c.server().to_string());
    let Some(server) = state.server.clone().or(kept) else {
        return Err(AppError::Invalid(
            "no staff listener named: start the console with --server".into(),
        ));
    };
    if l.staff_id.trim().is_empty() || l.password.is_empty() || l.totp.trim().is_empty() {
        return Err(AppError::Invalid(
            "give your staff id, password and authenticator code".into(),
        ));
    }
    let c = StaffClient::login(
        &state.home,
        &server,
        state.ca_cert.as_deref(),
        l.staff_id.trim(),
        &l.password,
        l.totp.trim(),
    )
    .await?;
    let view = session_json(Some(&c));
    *state.client.write().await = Some(c);
    Ok(Json(view))
}

async fn logout(State(state): Shared) -> Json<Value> {
    let c = state.client.write().await.take();
    // The session ends on the node, so a copy of its token is worth
    // nothing; the kept token goes either way. If the node cannot be told,
    // the page says so: the session then lasts there until it expires.
    let ended_on_node = match c {
        Some(c) => match c.logout(&state.home).await {
            Ok(_) => true,
            // Ended already (a suspension, another logout): nothing left.
            Err(e) => e.api_code() == Some(kizuna_wire::ErrorCode::Unauthorized),
        },
        None => kizuna_console::staff::forget(&state.home).is_ok(),
    };
    let mut view = session_json(None);
    view["ended_on_node"] = json!(ended_on_node);
    Json(view)
}

async fn grants(State(state): Shared) -> Result<Json<Vec<Grant>>, AppError> {
    let c = client(&state).await?;
    Ok(Json(checked(&state, c.grants().await).await?))
}

async fn request_grant(
    State(state): Shared,
    Json(req): Json<GrantRequest>,
) -> Result<Json<Grant>, AppError> {
    let c = client(&state).await?;
    Ok(Json(checked(&state, c.request_grant(&req).await).await?))
}

async fn decide(
    State(state): Shared,
    Path((grant, verb)): Path<(String, String)>,
) -> Result<Json<Grant>, AppError> {
    if !matches!(verb.as_str(), "approve" | "deny" | "revoke") {
        return Err(AppError::NotFound);
    }
    let c = client(&state).await?;
    Ok(Json(
        checked(&state, c.decide_grant(&grant, &verb).await).await?,
    ))
}

async fn read(
    State(state): Shared,
    Path(handle): Path<String>,
) -> Result<Json<GovernedRead>, AppError> {
    let c = client(&state).await?;
    let who = handle.trim().trim_start_matches('@');
    Ok(Json(checked(&state, c.read(who).await).await?))
}

async fn alerts(State(state): Shared) -> Result<Json<Vec<Value>>, AppError> {
    let c = client(&state).await?;
    Ok(Json(checked(&state, c.alerts().await).await?))
}

async fn reviews(State(state): Shared) -> Result<Json<Vec<Review>>, AppError> {
    let c = client(&state).await?;
    Ok(Json(checked(&state, c.reviews().await).await?))
}

async fn complete_review(
    State(state): Shared,
    Path(grant): Path<String>,
    Json(done): Json<ReviewCompletion>,
) -> Result<Json<Review>, AppError> {
    let c = client(&state).await?;
    Ok(Json(
        checked(&state, c.complete_review(&grant, &done).await).await?,
    ))
}

#[derive(Deserialize)]
struct ReportsQuery {
    state: Option<String>,
}

async fn reports(
    State(state): Shared,
    Query(q): Query<ReportsQuery>,
) -> Result<Json<Vec<QueuedReport>>, AppError> {
    if let Some(s) = &q.state {
        if !matches!(s.as_str(), "open" | "appealed" | "resolved" | "all") {
            return Err(AppError::Invalid(
                "state is open, appealed, resolved or all".into(),
            ));
        }
    }
    let c = client(&state).await?;
    Ok(Json(
        checked(&state, c.reports(q.state.as_deref()).await).await?,
    ))
}

async fn report(
    State(state): Shared,
    Path(id): Path<String>,
) -> Result<Json<OpenedReport>, AppError> {
    let c = client(&state).await?;
    Ok(Json(checked(&state, c.report(&id).await).await?))
}

async fn resolve(
    State(state): Shared,
    Path(id): Path<String>,
    Json(req): Json<ResolveRequest>,
) -> Result<Json<OpenedReport>, AppError> {
    let c = client(&state).await?;
    Ok(Json(
        checked(&state, c.resolve_report(&id, &req).await).await?,
    ))
}

async fn breach_scope(
    State(state): Shared,
    Json(q): Json<BreachQuery>,
) -> Result<Json<BreachScope>, AppError> {
    if q.org_id.is_none() && q.staff_id.is_none() {
        return Err(AppError::Invalid(
            "name the organisation or the staff member whose credentials were misused".into(),
        ));
    }
    let c = client(&state).await?;
    let scope = checked(&state, c.breach_scope(&q).await).await?;
    if let Ok(mut last) = state.scope.lock() {
        *last = Some(scope.clone());
    }
    Ok(Json(scope))
}

fn last_scope(state: &ConsoleState) -> Result<BreachScope, AppError> {
    state
        .scope
        .lock()
        .ok()
        .and_then(|s| s.clone())
        .ok_or_else(|| AppError::Invalid("scope a breach first".into()))
}

fn download(body: String, kind: &'static str, name: &str) -> Result<Response, AppError> {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    let disposition = format!("attachment; filename=\"{name}\"");
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&disposition).map_err(|e| AppError::Invalid(e.to_string()))?,
    );
    Ok(r)
}

/// The last scope as JSON, to keep with the incident's file.
async fn scope_json(State(state): Shared) -> Result<Response, AppError> {
    let scope = last_scope(&state)?;
    let body =
        serde_json::to_string_pretty(&scope).map_err(|e| AppError::Invalid(e.to_string()))?;
    download(body, "application/json", "breach-scope.json")
}

#[derive(Deserialize)]
struct DraftQuery {
    #[serde(default)]
    malicious: bool,
}

/// The regulator's report for one region of the last scope, as a draft.
async fn draft(
    State(state): Shared,
    Path(region): Path<String>,
    Query(q): Query<DraftQuery>,
) -> Result<Response, AppError> {
    let scope = last_scope(&state)?;
    let Some(r) = scope.regions.iter().find(|r| r.id == region) else {
        return Err(AppError::NotFound);
    };
    let text = regulator_report(
        &scope,
        r,
        Awareness {
            at: scope.scoped_at,
            malicious: q.malicious,
        },
    );
    let id: String =
        r.id.chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
    download(
        text,
        "text/plain; charset=utf-8",
        &format!("breach-report-{id}.txt"),
    )
}
