//! Official accounts' badges in the key log: what a `verified` entry
//! gives, checked against the devices the log binds to the account.

use kizuna_wire::KeyEntry;

use super::{signed_by, LoggedKeys};

/// An official account's badge as the key log holds it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct OfficialBadge {
    /// What the organisation says of itself, signed by its own device.
    pub claim: kizuna_wire::OfficialClaim,
    pub application_id: String,
    /// When the operator verified it (ms).
    pub verified_at: u64,
    /// The key-log entry that verified it.
    pub index: u64,
}

/// A badge that ended.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RevokedBadge {
    pub organisation: String,
    pub revoked_at: u64,
    pub reason: String,
    pub index: u64,
}

/// The badge a `verified` entry gives, or why it gives none: the claim
/// must name this handle and account, and be signed by a device the
/// account has now, under the key the log bound to it.
pub(super) fn badge(
    handle: &str,
    index: u64,
    e: &KeyEntry,
    now: &LoggedKeys,
    (device_id, key): (String, String),
) -> std::result::Result<OfficialBadge, String> {
    let v = e
        .verification
        .as_ref()
        .ok_or("verifies an account without saying what its organisation claims")?;
    let claim: kizuna_wire::OfficialClaim = serde_json::from_str(&v.claim)
        .map_err(|err| format!("verifies a claim that does not read ({err})"))?;
    if claim.handle != handle || claim.account_id != e.account_id {
        return Err(format!(
            "verifies a claim made for {} ({}), not for this account",
            claim.handle, claim.account_id
        ));
    }
    if now.key_of(&device_id) != Some(key.as_str()) {
        return Err("verifies a claim signed by a device the account does not have".into());
    }
    let input = kizuna_wire::official_claim_signing_input(v.claim.as_bytes());
    if !signed_by(&key, &input, e.signature.as_deref()) {
        return Err(
            "verifies a claim its organisation's device did not sign: a badge the organisation never asked for".into(),
        );
    }
    Ok(OfficialBadge {
        claim,
        application_id: v.application_id.clone(),
        verified_at: e.at,
        index,
    })
}
