//! The transparency ledger over HTTP: a person's own entries with their
//! proofs, and the public heads, proofs and leaves
//! (`kizuna_node::transparency`).

use axum::extract::State;
use kizuna_ledger::SignedTreeHead;
use kizuna_wire::*;

use super::{ApiJson, ApiPath, ApiQuery, AuthedDevice, Shared};
use crate::error::ApiError;

/// Query parameters that are tree sizes or leaf indices: at most
/// [`kizuna_wire::fields::MAX_STORED`], like every position the node keeps.
macro_rules! stored_numbers {
    ($t:ty: $($f:ident),+) => {
        impl Checked for $t {
            fn check(&self) -> Result<(), FieldError> {
                $(kizuna_wire::fields::check_stored(stringify!($f), self.$f as u64)?;)+
                Ok(())
            }
        }
    };
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Since {
    /// The size of the last tree head this device saw; the answer proves
    /// the new head extends it.
    #[serde(default)]
    #[param(maximum = 9223372036854775807u64)]
    since: u64,
}
stored_numbers!(Since: since);

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
    ApiQuery(q): ApiQuery<Since>,
) -> Result<ApiJson<MyAccesses>, ApiError> {
    Ok(ApiJson(s.my_accesses(&me, q.since).await?))
}

#[utoipa::path(
    get,
    path = "/v1/keys/{handle}",
    tag = "user",
    summary = "Every key-log entry for a handle, across every account that held it, each with its inclusion proof against a signed tree head",
    description = "The key log records, before each takes effect, every binding of a handle to an account and of an account to a device key: registered, device added, device removed, erased. A device checks the keys it is handed for a person against these entries, and its own account's entries at each sync.",
    params(
        ("handle" = String, Path, description = "the handle", min_length = 3, max_length = 32, pattern = r"^[a-z][a-z0-9_.]*$"),
        Since,
    ),
    responses((status = 200, description = "the handle's key-log entries and their proofs", body = KeyHistory), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn key_history(
    State(s): State<Shared>,
    AuthedDevice(_): AuthedDevice,
    ApiPath(handle): ApiPath<String>,
    ApiQuery(q): ApiQuery<Since>,
) -> Result<ApiJson<KeyHistory>, ApiError> {
    fields::HANDLE.check(&handle)?;
    Ok(ApiJson(s.key_history(&handle, q.since).await?))
}

#[utoipa::path(
    get,
    path = "/v1/ledger/key",
    tag = "ledger",
    summary = "The ledger's name and the Ed25519 key that signs its tree heads",
    responses((status = 200, description = "the ledger's key", body = LedgerKey), (status = "default", description = "an error with a stable code", body = ErrorBody))
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
    Ok(ApiJson(s.tree_head().await?))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HeadsPage {
    /// Skip this many heads, oldest first.
    #[serde(default)]
    #[param(maximum = 9223372036854775807u64)]
    skip: u64,
}
stored_numbers!(HeadsPage: skip);

#[utoipa::path(
    get,
    path = "/v1/ledger/heads",
    tag = "ledger",
    summary = "The tree heads the ledger signed, oldest first, 10,000 at a time",
    params(HeadsPage),
    responses((status = 200, description = "signed tree heads; fewer than 10,000 means the last page", body = Vec<Object>), (status = "default", description = "an error with a stable code", body = ErrorBody))
)]
pub async fn tree_heads(
    State(s): State<Shared>,
    ApiQuery(q): ApiQuery<HeadsPage>,
) -> Result<ApiJson<Vec<SignedTreeHead>>, ApiError> {
    // Past the last head on any machine: an empty page, as for any skip
    // beyond the end.
    let skip = usize::try_from(q.skip).unwrap_or(usize::MAX);
    Ok(ApiJson(s.tree_heads(skip)?))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Sizes {
    /// The older tree size, the one the caller holds a head of.
    #[param(maximum = 9223372036854775807u64)]
    from: u64,
    /// The newer tree size, at most the latest head's.
    #[param(maximum = 9223372036854775807u64)]
    to: u64,
}
stored_numbers!(Sizes: from, to);

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
    ApiQuery(q): ApiQuery<Sizes>,
) -> Result<ApiJson<Vec<String>>, ApiError> {
    Ok(ApiJson(s.consistency_proof(q.from, q.to)?))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Range {
    /// The first leaf's index.
    #[param(maximum = 9223372036854775807u64)]
    start: u64,
    /// One past the last leaf's index.
    #[param(maximum = 9223372036854775807u64)]
    end: u64,
}
stored_numbers!(Range: start, end);

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
    ApiQuery(q): ApiQuery<Range>,
) -> Result<ApiJson<Vec<String>>, ApiError> {
    Ok(ApiJson(s.ledger_leaves(q.start, q.end)?))
}
