//! My account and my data as the service holds them: what it keeps and
//! where, my contacts, erasure, and staff requests that need my agreement.

use kizuna_wire::{AgreeRequest, Consent, Contacts, DataMap, Erased, Export, MeView};
use reqwest::Method;

use crate::{Client, Result};

impl Client {
    pub async fn me(&mut self) -> Result<MeView> {
        self.call::<(), _>(Method::GET, "/v1/me", None).await
    }

    /// Where each category of my data is stored, from where it may be
    /// reached, and the transfers that happened.
    pub async fn data_map(&mut self) -> Result<DataMap> {
        self.call::<(), _>(Method::GET, "/v1/me/data-map", None)
            .await
    }

    /// All my personal data as the service holds it.
    pub async fn export(&mut self) -> Result<Export> {
        self.call::<(), _>(Method::GET, "/v1/me/export", None).await
    }

    pub async fn contacts(&mut self) -> Result<Contacts> {
        self.call::<(), _>(Method::GET, "/v1/me/contacts", None)
            .await
    }

    pub async fn set_contacts(&mut self, contacts: &Contacts) -> Result<()> {
        self.call_raw(Method::PUT, "/v1/me/contacts", Some(contacts))
            .await?;
        Ok(())
    }

    /// Erases my account on the service: my data key is destroyed, then my
    /// account, devices and queues. This device's local history stays here.
    pub async fn erase_account(&mut self) -> Result<Erased> {
        self.call::<(), _>(Method::DELETE, "/v1/me", None).await
    }

    /// My agreement to my home region's disclosures, what follows from it
    /// and its history.
    pub async fn consent(&mut self) -> Result<Consent> {
        self.call::<(), _>(Method::GET, "/v1/me/consent", None)
            .await
    }

    /// Agrees to the disclosures of my home region in `version`, the one
    /// I was shown; the node refuses any other.
    pub async fn agree_to_disclosures(&mut self, version: &str) -> Result<Consent> {
        let body = AgreeRequest {
            version: version.to_string(),
        };
        self.call(Method::POST, "/v1/me/consent", Some(&body)).await
    }

    /// Withdraws my agreement; the answer says what follows.
    pub async fn withdraw_agreement(&mut self) -> Result<Consent> {
        self.call::<(), _>(Method::DELETE, "/v1/me/consent", None)
            .await
    }

    /// Staff requests for my data that ask for my agreement first.
    pub async fn access_requests(&mut self) -> Result<Vec<kizuna_wire::staff::AccessRequest>> {
        self.call::<(), _>(Method::GET, "/v1/me/requests", None)
            .await
    }

    /// Agrees to (or declines) a staff request for my data.
    pub async fn answer_access_request(&mut self, grant_id: &str, agree: bool) -> Result<()> {
        let verb = if agree { "agree" } else { "decline" };
        self.call_raw::<()>(
            Method::POST,
            &format!("/v1/me/requests/{grant_id}/{verb}"),
            None,
        )
        .await?;
        Ok(())
    }
}
