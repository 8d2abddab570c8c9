//! The transparency ledger over HTTP: a person's own entries with their
//! proofs, and the public heads, proofs and leaves
//! (`kizuna_node::transparency`).

use axum::extract::{Query, State};
use kizuna_ledger::SignedTreeHead;
use kizuna_wire::*;

use super::{ApiJson, AuthedDevice, Shared};
use crate::error::ApiError;

#[derive(serde::Deserialize, utoipa::IntoParams)]
pub struct Since {
    /// The size of the last tree head this device saw; the answer proves
    /// the new head extends it.
    #[serde(default)]
    since: u64,
}

#[utoipa::path(
    get,
    path = "/v1/me/accesses",
    tag = "user",
    summary = "Every access to my data in the transparency ledger, each with its inclusion proof against a signed tree head",
    params(Since),
    responses((status = 200, description = "my accesses and their proofs", body = MyAccesses), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn my_accesses(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    Query(q): Query<Since>,
) -> Result<ApiJson<MyAccesses>, ApiError> {
    Ok(ApiJson(s.my_accesses(&me, q.since).await?))
}

#[utoipa::path(
    get,
    path = "/v1/ledger/key",
    tag = "ledger",
    summary = "The ledger's name and the Ed25519 key that signs its tree heads",
    responses((status = 200, description = "the ledger's key", body = LedgerKey))
)]
pub async fn ledger_key(State(s): State<Shared>) -> Result<ApiJson<LedgerKey>, ApiError> {
    Ok(ApiJson(s.ledger_key()?))
}

#[utoipa::path(
    get,
    path = "/v1/ledger/head",
    tag = "ledger",
    summary = "The latest signed tree head",
    responses((status = 200, description = "a signed tree head", body = Object), (status = "default", description = "an error with a stable code", body = ErrorBody))
)]
pub async fn tree_head(State(s): State<Shared>) -> Result<ApiJson<SignedTreeHead>, ApiError> {
    Ok(ApiJson(s.tree_head()?))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
pub struct HeadsPage {
    /// Skip this many heads, oldest first.
    #[serde(default)]
    skip: usize,
}

#[utoipa::path(
    get,
    path = "/v1/ledger/heads",
    tag = "ledger",
    summary = "The tree heads the ledger signed, oldest first, 10,000 at a time",
    params(HeadsPage),
    responses((status = 200, description = "signed tree heads; fewer than 10,000 means the last page", body = Vec<Object>))
)]
pub async fn tree_heads(
    State(s): State<Shared>,
    Query(q): Query<HeadsPage>,
) -> Result<ApiJson<Vec<SignedTreeHead>>, ApiError> {
    Ok(ApiJson(s.tree_heads(q.skip)?))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
pub struct Sizes {
    from: u64,
    to: u64,
}

#[utoipa::path(
    get,
    path = "/v1/ledger/consistency",
    tag = "ledger",
    summary = "The consistency proof between two tree sizes (hex hashes)",
    params(Sizes),
    responses((status = 200, description = "the proof", body = Vec<String>), (status = "default", description = "an error with a stable code", body = ErrorBody))
)]
pub async fn consistency_proof(
    State(s): State<Shared>,
    Query(q): Query<Sizes>,
) -> Result<ApiJson<Vec<String>>, ApiError> {
    Ok(ApiJson(s.consistency_proof(q.from, q.to)?))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
pub struct Range {
    start: u64,
    end: u64,
}

#[utoipa::path(
    get,
    path = "/v1/ledger/leaves",
    tag = "ledger",
    summary = "Leaf hashes [start, end), at most 65,536 at a time (hex)",
    params(Range),
    responses((status = 200, description = "leaf hashes", body = Vec<String>), (status = "default", description = "an error with a stable code", body = ErrorBody))
)]
pub async fn ledger_leaves(
    State(s): State<Shared>,
    Query(q): Query<Range>,
) -> Result<ApiJson<Vec<String>>, ApiError> {
    Ok(ApiJson(s.ledger_leaves(q.start, q.end)?))
}
