//! Blocking over HTTP: the list, block and unblock; the node keeps and
//! enforces them (`kizuna_node::blocks`).

use axum::extract::{Path, State};
use kizuna_wire::{BlockList, ErrorBody};

use crate::api::{ApiJson, AuthedDevice, Shared};
use crate::error::ApiError;

#[utoipa::path(
    get,
    path = "/v1/me/blocks",
    tag = "user",
    summary = "The people I blocked, kept sealed in my home region",
    responses((status = 200, description = "whom I blocked", body = BlockList), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn list(
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
    params(("handle" = String, Path, description = "whom to block", pattern = r"^[a-z][a-z0-9_.]{2,31}$")),
    responses((status = 200, description = "whom I block now", body = BlockList), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn block(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    Path(handle): Path<String>,
) -> Result<ApiJson<BlockList>, ApiError> {
    Ok(ApiJson(s.block(&me, &handle).await?))
}

#[utoipa::path(
    delete,
    path = "/v1/me/blocks/{handle}",
    tag = "user",
    summary = "Unblock someone",
    description = "Idempotent: unblocking someone not blocked changes nothing.",
    params(("handle" = String, Path, description = "whom to unblock", pattern = r"^[a-z][a-z0-9_.]{2,31}$")),
    responses((status = 200, description = "whom I block now", body = BlockList), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn unblock(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    Path(handle): Path<String>,
) -> Result<ApiJson<BlockList>, ApiError> {
    Ok(ApiJson(s.unblock(&me, &handle).await?))
}
