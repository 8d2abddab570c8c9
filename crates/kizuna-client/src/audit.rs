//! Auditing a node's transparency ledger over its public API, as an outside
//! auditor or witness does: every leaf hash fetched, the tree recomputed at
//! the size of every head the node signed and every head a witness kept,
//! each signature checked. No entry, and so no personal data, is seen.

use kizuna_ledger::audit::{check_heads, LogProblem};
use kizuna_ledger::{hash_from_hex, key_from_hex, Hash, SignedTreeHead};
use kizuna_wire::LedgerKey;
use reqwest::Method;

use crate::transport::{ServerAddress, Transport};
use crate::{ClientError, Result};

/// Leaf hashes fetched per request.
const PAGE: u64 = 65_536;

#[derive(Clone, Debug, serde::Serialize)]
pub struct OnlineAudit {
    pub origin: String,
    pub entries: u64,
    pub heads: usize,
    pub witnessed: usize,
    pub problems: Vec<LogProblem>,
}

/// The most heads a node answers with at once (`/v1/ledger/heads`).
const HEADS_PAGE: usize = 10_000;

/// The ledger's name and key, and every head it signed.
pub async fn heads(
    server: impl Into<ServerAddress>,
) -> Result<(LedgerKey, ed25519_dalek::VerifyingKey, Vec<SignedTreeHead>)> {
    let t = Transport::new(&server.into())?;
    let key: LedgerKey = t
        .call::<(), _>(Method::GET, "/v1/ledger/key", None, None)
        .await?;
    let vk = key_from_hex(&key.public_key)
        .ok_or_else(|| ClientError::Protocol("the ledger key is not an Ed25519 key".into()))?;
    // Asking for the current head has the node sign one if it grew.
    let _: SignedTreeHead = t
        .call::<(), _>(Method::GET, "/v1/ledger/head", None, None)
        .await?;
    // A page at a time: a full page means there may be more.
    let mut heads: Vec<SignedTreeHead> = Vec::new();
    loop {
        let page: Vec<SignedTreeHead> = t
            .call::<(), _>(
                Method::GET,
                &format!("/v1/ledger/heads?skip={}", heads.len()),
                None,
                None,
            )
            .await?;
        let full = page.len() >= HEADS_PAGE;
        heads.extend(page);
        if !full {
            break;
        }
    }
    Ok((key, vk, heads))
}

pub async fn verify_server(
    server: impl Into<ServerAddress>,
    witnessed: &[SignedTreeHead],
    progress: impl Fn(u64, u64),
) -> Result<OnlineAudit> {
    let server = server.into();
    let t = Transport::new(&server)?;
    let (key, vk, heads) = heads(&server).await?;
    let size = heads.last().map_or(0, |h| h.size);
    let mut leaves: Vec<Hash> = Vec::with_capacity(size as usize);
    while (leaves.len() as u64) < size {
        let start = leaves.len() as u64;
        let end = (start + PAGE).min(size);
        let page: Vec<String> = t
            .call::<(), _>(
                Method::GET,
                &format!("/v1/ledger/leaves?start={start}&end={end}"),
                None,
                None,
            )
            .await?;
        if page.len() as u64 != end - start {
            return Err(ClientError::Protocol(format!(
                "asked for leaves {start}..{end}, got {}",
                page.len()
            )));
        }
        for h in page {
            leaves.push(
                hash_from_hex(&h)
                    .ok_or_else(|| ClientError::Protocol(format!("'{h}' is not a leaf hash")))?,
            );
        }
        progress(leaves.len() as u64, size);
    }
    let problems = check_heads(&leaves, None, &heads, witnessed, &vk, &key.origin);
    Ok(OnlineAudit {
        origin: key.origin,
        entries: size,
        heads: heads.len(),
        witnessed: witnessed.len(),
        problems,
    })
}
