//! The daemon's local HTTP API, for the organisation's own systems: send a
//! reply or a card into a follower's chat, a notice to every follower of a
//! segment, and list the followers. Every request carries the daemon's
//! secret (`Authorization: Bearer`); anything else is refused before it is
//! read, with the same `{code, message}` the node answers.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use kizuna_client::ClientError;
use kizuna_wire::fields::{Field, ID};
use kizuna_wire::{Choice, ErrorBody, ErrorCode, FieldKind, FormField, Structured, MAX_CHOICES};
use tokio::sync::watch;

use crate::state::Follower;
use crate::Shared;

/// Longest text a message or notice carries, in characters.
const MAX_TEXT: usize = 4000;

/// A reply, a card or a form for one follower's chat.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct MessageRequest {
    /// The chat, as the webhook named it.
    pub chat: String,
    pub text: String,
    #[serde(default)]
    pub buttons: Vec<Choice>,
    #[serde(default)]
    pub fields: Vec<FormField>,
}

/// A public announcement to every follower, signed by the daemon's device.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct AnnounceRequest {
    pub text: String,
    #[serde(default = "info")]
    pub severity: kizuna_wire::Severity,
}

fn info() -> kizuna_wire::Severity {
    kizuna_wire::Severity::Info
}

/// A notice for every follower who asked for `segment` (every follower,
/// when none is named), end-to-end encrypted to each in their own chat.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct NoticeRequest {
    #[serde(default)]
    pub segment: Option<String>,
    pub text: String,
    #[serde(default)]
    pub buttons: Vec<Choice>,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SentMessage {
    pub chat: String,
    pub seq: u64,
    pub at: u64,
}

#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct NoticeSent {
    /// The chats it went to.
    pub sent: Vec<String>,
    /// The chats it could not go to, and why.
    pub failed: Vec<(String, String)>,
}

/// A refusal of the local API.
pub(crate) struct ApiError(StatusCode, ErrorCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.0,
            Json(ErrorBody {
                code: self.1,
                message: self.2,
            }),
        )
            .into_response()
    }
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError(
        StatusCode::BAD_REQUEST,
        ErrorCode::BadRequest,
        message.into(),
    )
}

impl From<ClientError> for ApiError {
    fn from(e: ClientError) -> Self {
        match &e {
            ClientError::UnknownChat(_) | ClientError::AmbiguousChat(_) => ApiError(
                StatusCode::NOT_FOUND,
                ErrorCode::UnknownGroup,
                e.to_string(),
            ),
            ClientError::Invalid(_)
            | ClientError::NotInChat(_)
            | ClientError::ChatRequest { .. } => bad(e.to_string()),
            ClientError::Unreachable { .. } => ApiError(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
                e.to_string(),
            ),
            ClientError::Api { code, .. } => {
                // The node's refusal, passed on with the status it means.
                let status = match code {
                    ErrorCode::Forbidden
                    | ErrorCode::Refused
                    | ErrorCode::NotMember
                    | ErrorCode::Suspended
                    | ErrorCode::SendingRestricted => StatusCode::FORBIDDEN,
                    ErrorCode::NotFound | ErrorCode::UnknownGroup | ErrorCode::UnknownAccount => {
                        StatusCode::NOT_FOUND
                    }
                    ErrorCode::BadRequest | ErrorCode::MalformedJson => StatusCode::BAD_REQUEST,
                    ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
                    ErrorCode::MessageTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
                    _ => StatusCode::BAD_GATEWAY,
                };
                ApiError(status, *code, e.to_string())
            }
            _ => ApiError(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::Internal,
                e.to_string(),
            ),
        }
    }
}

/// The request carries the daemon's secret; compared in constant time.
pub(crate) struct Authorized;

impl FromRequestParts<Arc<Shared>> for Authorized {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, s: &Arc<Shared>) -> Result<Self, ApiError> {
        let given = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        let want = s.config.secret.as_bytes();
        let same = given.len() == want.len()
            && given
                .bytes()
                .zip(want)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if same {
            Ok(Authorized)
        } else {
            Err(ApiError(
                StatusCode::UNAUTHORIZED,
                ErrorCode::Unauthorized,
                "this daemon's API takes requests carrying its secret (Authorization: Bearer …) only".into(),
            ))
        }
    }
}

/// A JSON body, refused as `malformed_json` when it is not the shape asked.
pub(crate) struct Body<T>(T);

impl<T: serde::de::DeserializeOwned> FromRequest<Arc<Shared>> for Body<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, s: &Arc<Shared>) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, s)
            .await
            .map_err(|e| bad(e.to_string()))?;
        kizuna_wire::from_json_object(&bytes)
            .map(Body)
            .map_err(|e| ApiError(StatusCode::BAD_REQUEST, ErrorCode::MalformedJson, e))
    }
}

fn check(rule: Field, path: &str, v: &str) -> Result<(), ApiError> {
    rule.check_at(path, v).map_err(|e| bad(e.to_string()))
}

fn check_text(text: &str) -> Result<(), ApiError> {
    let n = text.chars().count();
    if n == 0 || n > MAX_TEXT {
        return Err(bad(format!(
            "text must be 1 to {MAX_TEXT} characters; it is {n}"
        )));
    }
    Ok(())
}

fn check_choices(path: &str, choices: &[Choice]) -> Result<(), ApiError> {
    if choices.len() > MAX_CHOICES {
        return Err(bad(format!("{path}: at most {MAX_CHOICES}")));
    }
    for (i, c) in choices.iter().enumerate() {
        check(ID, &format!("{path}[{i}].id"), &c.id)?;
        check(
            kizuna_wire::fields::NAME,
            &format!("{path}[{i}].label"),
            &c.label,
        )?;
    }
    Ok(())
}

/// The structure a card of these buttons and fields has, checked.
fn card(buttons: &[Choice], fields: &[FormField]) -> Result<Option<Structured>, ApiError> {
    check_choices("buttons", buttons)?;
    if fields.len() > MAX_CHOICES {
        return Err(bad(format!("fields: at most {MAX_CHOICES}")));
    }
    for (i, f) in fields.iter().enumerate() {
        check(ID, &format!("fields[{i}].id"), &f.id)?;
        check(
            kizuna_wire::fields::NAME,
            &format!("fields[{i}].label"),
            &f.label,
        )?;
        check_choices(&format!("fields[{i}].options"), &f.options)?;
        if f.kind == FieldKind::Choice && f.options.is_empty() {
            return Err(bad(format!("fields[{i}] is a choice without options")));
        }
    }
    if !buttons.is_empty() && !fields.is_empty() {
        return Err(bad("a card has buttons or a form, not both"));
    }
    Ok(
        (!buttons.is_empty() || !fields.is_empty()).then(|| Structured::Card {
            buttons: buttons.to_vec(),
            fields: fields.to_vec(),
        }),
    )
}

async fn send_to(
    s: &Shared,
    chat: &str,
    text: &str,
    structured: Option<Structured>,
) -> Result<SentMessage, ClientError> {
    let mut c = s.client.lock().await;
    let m = match structured {
        Some(st) => c.send_structured(chat, text, st).await?,
        None => c.send(chat, text).await?,
    };
    Ok(SentMessage {
        chat: m.chat,
        seq: m.seq,
        at: m.server_time,
    })
}

async fn message(
    State(s): State<Arc<Shared>>,
    _: Authorized,
    Body(req): Body<MessageRequest>,
) -> Result<Json<SentMessage>, ApiError> {
    check_text(&req.text)?;
    let structured = card(&req.buttons, &req.fields)?;
    if !s.state.lock().await.followers.contains_key(&req.chat) {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            ErrorCode::UnknownGroup,
            format!(
                "no follower's chat {}; GET /v1/followers lists them",
                req.chat
            ),
        ));
    }
    Ok(Json(send_to(&s, &req.chat, &req.text, structured).await?))
}

async fn notice(
    State(s): State<Arc<Shared>>,
    _: Authorized,
    Body(req): Body<NoticeRequest>,
) -> Result<Json<NoticeSent>, ApiError> {
    check_text(&req.text)?;
    if let Some(seg) = &req.segment {
        check(ID, "segment", seg)?;
    }
    let structured = card(&req.buttons, &[])?;
    let chats: Vec<String> = s
        .state
        .lock()
        .await
        .followers
        .values()
        .filter(|f| {
            req.segment
                .as_ref()
                .is_none_or(|seg| f.segments.contains(seg))
        })
        .map(|f| f.chat.clone())
        .collect();
    let mut out = NoticeSent::default();
    for chat in chats {
        match send_to(&s, &chat, &req.text, structured.clone()).await {
            Ok(_) => out.sent.push(chat),
            Err(e) => out.failed.push((chat, e.to_string())),
        }
    }
    Ok(Json(out))
}

async fn announce(
    State(s): State<Arc<Shared>>,
    _: Authorized,
    Body(req): Body<AnnounceRequest>,
) -> Result<Json<kizuna_wire::AnnouncementAccepted>, ApiError> {
    check_text(&req.text)?;
    Ok(Json(
        s.client
            .lock()
            .await
            .announce(&req.text, req.severity)
            .await?,
    ))
}

async fn followers(State(s): State<Arc<Shared>>, _: Authorized) -> Json<Vec<Follower>> {
    Json(s.state.lock().await.followers.values().cloned().collect())
}

pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let app = Router::new()
        .route("/v1/messages", post(message))
        .route("/v1/notices", post(notice))
        .route("/v1/announcements", post(announce))
        .route("/v1/followers", get(followers))
        .fallback(|| async {
            ApiError(
                StatusCode::NOT_FOUND,
                ErrorCode::NotFound,
                "no such endpoint".into(),
            )
        })
        .method_not_allowed_fallback(|| async {
            ApiError(
                StatusCode::METHOD_NOT_ALLOWED,
                ErrorCode::MethodNotAllowed,
                "not with this method".into(),
            )
        })
        .with_state(shared);
    let _ = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|v| *v).await;
        })
        .await;
}
