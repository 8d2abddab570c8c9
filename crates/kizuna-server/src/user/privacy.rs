//! A person's own data over HTTP: data map, export, contacts, erasure,
//! blocks (the node's `privacy` and `blocks`), and the staff requests that
//! wait for their agreement.

use axum::extract::State;
use axum::http::StatusCode;
use kizuna_store::Account;
use kizuna_wire::*;

use super::{ApiJson, ApiPath, AuthedDevice, Shared};
use crate::auth::DeviceIdentity;
use crate::error::ApiError;
use kizuna_node::NodeError;

pub(crate) async fn account(s: &Shared, me: &DeviceIdentity) -> Result<Account, ApiError> {
    Ok(s.account_of(me).await?)
}

#[utoipa::path(
    get,
    path = "/v1/me/data-map",
    tag = "user",
    summary = "Each category of my data: where it is stored, from which countries it may be reached and why, and the transfers that happened",
    responses((status = 200, description = "my data map", body = DataMap), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn data_map(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
) -> Result<ApiJson<DataMap>, ApiError> {
    Ok(ApiJson(s.data_map(&me).await?))
}

#[utoipa::path(
    get,
    path = "/v1/me/export",
    tag = "user",
    summary = "All my personal data, where it is stored and its transfers (GDPR Art. 15 and 20)",
    responses((status = 200, description = "my data", body = Export), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn export(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
) -> Result<ApiJson<Export>, ApiError> {
    Ok(ApiJson(s.export(&me).await?))
}

#[utoipa::path(
    get,
    path = "/v1/me/contacts",
    tag = "user",
    summary = "My contact list, kept sealed in my home region",
    responses((status = 200, description = "my contacts", body = Contacts), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn contacts(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
) -> Result<ApiJson<Contacts>, ApiError> {
    Ok(ApiJson(s.contacts(&me).await?))
}

#[utoipa::path(
    put,
    path = "/v1/me/contacts",
    tag = "user",
    summary = "Replace my contact list",
    request_body = Contacts,
    responses((status = 204, description = "stored, sealed, in my home region"), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn set_contacts(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    ApiJson(req): ApiJson<Contacts>,
) -> Result<StatusCode, ApiError> {
    s.set_contacts(&me, &req).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    delete,
    path = "/v1/me",
    tag = "user",
    summary = "Erase my account: my data key is destroyed, then my account, devices and queues are removed",
    responses((status = 200, description = "erased", body = Erased), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn erase(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
) -> Result<ApiJson<Erased>, ApiError> {
    Ok(ApiJson(s.erase(&me).await?))
}

fn governance(s: &Shared) -> Result<&crate::staff::Governance, ApiError> {
    s.governance.as_deref().ok_or_else(|| {
        ApiError::not_found(
            ErrorCode::NotFound,
            "this node runs without a staff realm, so nobody can ask for your data here",
        )
    })
}

#[utoipa::path(
    get,
    path = "/v1/me/requests",
    tag = "user",
    summary = "Staff requests for my data that ask for my agreement first",
    responses((status = 200, description = "the requests", body = Vec<kizuna_wire::staff::AccessRequest>), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn requests(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
) -> Result<ApiJson<Vec<kizuna_wire::staff::AccessRequest>>, ApiError> {
    let a = account(&s, &me).await?;
    Ok(ApiJson(
        governance(&s)?
            .requests_for(&a.handle)
            .await
            .map_err(NodeError::from)?,
    ))
}

#[utoipa::path(
    post,
    path = "/v1/me/requests/{grant}/{answer}",
    tag = "user",
    summary = "Agree to or decline a staff request for my data",
    params(
        ("grant" = String, Path, description = "the grant id", min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9_.-]+$"),
        ("answer" = String, Path, description = "agree or decline", pattern = r"^(agree|decline)$")
    ),
    responses((status = 204, description = "answered"), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn answer_request(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    ApiPath((grant, answer)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    fields::ID.named("grant").check(&grant)?;
    let agree = match answer.as_str() {
        "agree" => true,
        "decline" => false,
        _ => {
            return Err(ApiError::bad_request(
                ErrorCode::BadRequest,
                "answer with agree or decline",
            ))
        }
    };
    let a = account(&s, &me).await?;
    governance(&s)?
        .answer(&a.handle, &grant, agree)
        .await
        .map_err(NodeError::from)?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/v1/me/blocks",
    tag = "user",
    summary = "The people I blocked, kept sealed in my home region",
    responses((status = 200, description = "whom I blocked", body = BlockList), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn blocked(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
) -> Result<ApiJson<BlockList>, ApiError> {
    Ok(ApiJson(s.blocks_of(&me).await?))
}

#[utoipa::path(
    put,
    path = "/v1/me/blocks/{handle}",
    tag = "user",
    summary = "Block someone: the node refuses their invitations and their messages in our one-to-one chats",
    description = "Idempotent. The person is told nothing; what they try next is refused with `refused`.",
    params(("handle" = String, Path, description = "whom to block", min_length = 3, max_length = 32, pattern = r"^[a-z][a-z0-9_.]*$")),
    responses((status = 200, description = "whom I block now", body = BlockList), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn block(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    ApiPath(handle): ApiPath<String>,
) -> Result<ApiJson<BlockList>, ApiError> {
    Ok(ApiJson(s.block(&me, &handle).await?))
}

#[utoipa::path(
    delete,
    path = "/v1/me/blocks/{handle}",
    tag = "user",
    summary = "Unblock someone",
    description = "Idempotent: unblocking someone not blocked changes nothing.",
    params(("handle" = String, Path, description = "whom to unblock", min_length = 3, max_length = 32, pattern = r"^[a-z][a-z0-9_.]*$")),
    responses((status = 200, description = "whom I block now", body = BlockList), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn unblock(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    ApiPath(handle): ApiPath<String>,
) -> Result<ApiJson<BlockList>, ApiError> {
    Ok(ApiJson(s.unblock(&me, &handle).await?))
}
