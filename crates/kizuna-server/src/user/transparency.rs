//! The transparency ledger on the user API: a person's own entries with
//! their inclusion proofs, and the public tree heads, consistency proofs and
//! leaf hashes that let anyone check the log without seeing what it records.

use axum::extract::{Query, State};
use kizuna_ledger::{Hash, SignedTreeHead};
use kizuna_wire::*;

use super::{ApiJson, AuthedDevice, Shared};
use crate::error::ApiError;

/// Leaf hashes answered per request at most.
const MAX_LEAVES: u64 = 65_536;

fn hexes(hashes: Vec<Hash>) -> Vec<String> {
    hashes.into_iter().map(hex::encode).collect()
}

/// A range of the ledger asked for: `a <= b <= size`, at most `max` apart.
fn within(a: u64, b: u64, size: u64, max: u64, first: &str, last: &str) -> Result<(), ApiError> {
    if a > b || b > size || b - a > max {
        let most = if max == u64::MAX {
            String::new()
        } else {
            format!(", at most {max} apart")
        };
        return Err(ApiError::bad_request(
            ErrorCode::BadRequest,
            format!("need {first} <= {last} <= {size} (the ledger's size){most}"),
        ));
    }
    Ok(())
}

fn ledger_failure(e: kizuna_ledger::LedgerError) -> ApiError {
    kizuna_vault::VaultError::Ledger(e).into()
}

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
    let a = super::privacy::account(&s, &me).await?;
    let accesses = s
        .vault
        .accesses(&a.account_id, &a.region, &me.requester())
        .await
        .map_err(|e| match e {
            // The person is told, rather than given a server error: an
            // entry about them that no longer opens may have been edited.
            kizuna_vault::VaultError::Unsealable { region, problem } => {
                tracing::error!(%region, %problem, "an access record does not open");
                ApiError::conflict(
                    ErrorCode::LedgerEntryUnreadable,
                    format!(
                        "one of your access records in region {region} no longer opens ({problem}): it was altered, or this node's region keys are wrong"
                    ),
                )
            }
            other => other.into(),
        })?;
    let ledger = s.vault.ledger()?;
    // A head that covers every entry gathered (and the one the device saw):
    // the latest if it does, else one signed now.
    let need = accesses
        .iter()
        .filter_map(|a| a.index.map(|i| i + 1))
        .max()
        .unwrap_or(0)
        .max(q.since);
    let head = ledger.head_covering(need).map_err(ledger_failure)?;
    if q.since > head.size {
        return Err(ApiError::conflict(
            ErrorCode::LedgerRolledBack,
            format!(
                "this node's ledger holds {} entries, fewer than the {} of a head you saw before: it was rolled back or replaced",
                head.size, q.since
            ),
        ));
    }
    let consistency = hexes(
        ledger
            .consistency_proof(q.since, head.size)
            .map_err(ledger_failure)?,
    );
    let mut proven = Vec::new();
    let mut unproven = Vec::new();
    for access in accesses {
        match (access.index, access.entry) {
            (Some(index), Some(entry)) if index < head.size => proven.push(ProvenAccess {
                index,
                entry: Bytes(entry),
                proof: hexes(
                    ledger
                        .inclusion_proof(index, head.size)
                        .map_err(ledger_failure)?,
                ),
            }),
            _ => unproven.push(access.record),
        }
    }
    Ok(ApiJson(MyAccesses {
        head,
        consistency,
        accesses: proven,
        unproven,
    }))
}

#[utoipa::path(
    get,
    path = "/v1/ledger/key",
    tag = "ledger",
    summary = "The ledger's name and the Ed25519 key that signs its tree heads",
    responses((status = 200, description = "the ledger's key", body = LedgerKey))
)]
pub async fn ledger_key(State(s): State<Shared>) -> Result<ApiJson<LedgerKey>, ApiError> {
    let l = s.vault.ledger()?;
    Ok(ApiJson(LedgerKey {
        origin: l.origin().to_string(),
        public_key: hex::encode(l.verifying_key().as_bytes()),
    }))
}

#[utoipa::path(
    get,
    path = "/v1/ledger/head",
    tag = "ledger",
    summary = "The latest signed tree head",
    responses((status = 200, description = "a signed tree head", body = Object), (status = "default", description = "an error with a stable code", body = ErrorBody))
)]
pub async fn tree_head(State(s): State<Shared>) -> Result<ApiJson<SignedTreeHead>, ApiError> {
    // Anyone may ask, as often as they like; a head is signed (and fsynced)
    // at most once a second for them.
    Ok(ApiJson(
        s.vault
            .ledger()?
            .recent_head(1000)
            .map_err(ledger_failure)?,
    ))
}

/// Most heads in one answer of `/v1/ledger/heads`.
pub const HEADS_PAGE: usize = 10_000;

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
    Ok(ApiJson(s.vault.ledger()?.heads_page(q.skip, HEADS_PAGE)))
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
    let l = s.vault.ledger()?;
    within(q.from, q.to, l.size(), u64::MAX, "from", "to")?;
    Ok(ApiJson(hexes(
        l.consistency_proof(q.from, q.to).map_err(ledger_failure)?,
    )))
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
    let l = s.vault.ledger()?;
    within(q.start, q.end, l.size(), MAX_LEAVES, "start", "end")?;
    Ok(ApiJson(hexes(
        l.leaves(q.start, q.end).map_err(ledger_failure)?,
    )))
}
