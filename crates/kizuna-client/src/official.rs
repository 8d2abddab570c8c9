//! Official accounts from a device: an organisation applying for its
//! badge, and anyone checking one. A badge is read only from the key log,
//! proven here like any key, so the node cannot show one the log does not
//! hold, hide a revocation, or give a badge its organisation never signed.

use kizuna_wire::{
    official_claim_signing_input, Bytes, OfficialApplication, OfficialApplicationRequest,
    OfficialClaim, OfficialKind,
};
use reqwest::Method;

use crate::key_log::{OfficialBadge, RevokedBadge};
use crate::{mls, Client, ClientError, Result};

/// What an organisation says of itself when it applies; the handle,
/// account and time are this device's own.
#[derive(Clone, Debug)]
pub struct OfficialDetails {
    pub organisation: String,
    pub kind: OfficialKind,
    pub country: String,
    pub area: Option<String>,
    pub keeps_data: String,
    pub keeps_data_country: String,
    pub contact: String,
}

/// Whether an account is an official one, as this device checked it in
/// the key log.
#[derive(Clone, Debug, serde::Serialize)]
pub struct OfficialStanding {
    pub handle: String,
    /// The badge in force; none for an account nobody verified.
    pub official: Option<OfficialBadge>,
    /// The last badge, revoked, when none is in force.
    pub revoked: Option<RevokedBadge>,
}

impl Client {
    /// Applies for an official account: the claim, signed by this device,
    /// waits for two of the operator's people.
    pub async fn apply_official(&mut self, d: OfficialDetails) -> Result<OfficialApplication> {
        let claim = OfficialClaim {
            handle: self.identity.handle.clone(),
            account_id: self.identity.account_id.clone(),
            organisation: d.organisation,
            kind: d.kind,
            country: d.country.to_ascii_uppercase(),
            area: d.area,
            keeps_data: d.keeps_data,
            keeps_data_country: d.keeps_data_country.to_ascii_uppercase(),
            contact: d.contact,
            at: kizuna_wire::now_ms(),
        };
        kizuna_wire::Checked::check(&claim).map_err(|e| ClientError::Invalid(e.to_string()))?;
        let bytes = serde_json::to_vec(&claim).map_err(|e| ClientError::Protocol(e.to_string()))?;
        let signature = mls::sign(&self.signer, &official_claim_signing_input(&bytes))?;
        self.call(
            Method::POST,
            "/v1/official/applications",
            Some(&OfficialApplicationRequest {
                claim: Bytes(bytes),
                signature: Bytes(signature),
            }),
        )
        .await
    }

    /// This account's applications, newest first.
    pub async fn official_applications(&mut self) -> Result<Vec<OfficialApplication>> {
        self.call::<(), _>(Method::GET, "/v1/official/applications", None)
            .await
    }

    /// Whether `handle` is an official account now, checked in the key log.
    pub async fn official(&mut self, handle: &str) -> Result<OfficialStanding> {
        let logged = self.logged_keys(handle).await?;
        Ok(OfficialStanding {
            handle: handle.to_string(),
            official: logged.official,
            revoked: logged.revoked,
        })
    }
}
