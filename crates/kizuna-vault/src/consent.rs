//! What a person is told, and agrees to, about the foreign countries that
//! may reach their data: the disclosures of their home region, generated
//! from the same configuration that lets those countries reach it, and the
//! record of each agreement and withdrawal, sealed with their other data.

use kizuna_config::Regions;
use kizuna_wire::{ConsentEvent, Disclosures, PhoneGatewayDisclosure};
use sha2::{Digest, Sha256};

use crate::data_map::access_country;
use crate::{Access, Action, Category, Requester, Vault, VaultError};

/// The disclosures a person whose home is `region` must agree to: every
/// country outside the region's own that the configuration lets reach it,
/// with why and the full disclosure, under a version that changes whenever
/// any of that text does.
pub fn disclosures(config: &Regions, region: &str) -> Result<Disclosures, VaultError> {
    let home = config
        .region(region)
        .ok_or_else(|| VaultError::UnknownRegion(region.to_string()))?;
    let node = config.node_region();
    let foreign: Vec<_> = home
        .access_from
        .iter()
        .filter(|a| a.country != home.country)
        .map(access_country)
        .collect();
    // Every field is length-prefixed, so no two texts hash alike by
    // moving words from one field to the next.
    let mut h = Sha256::new();
    let mut field = |s: &str| {
        h.update((s.len() as u64).to_be_bytes());
        h.update(s.as_bytes());
    };
    field("kizuna-disclosures-v1");
    field(&home.id);
    // An agreement is to every language's text at once: a changed
    // translation is a changed disclosure, asked again.
    for a in &foreign {
        field(&a.country);
        field(&a.why);
        if let Some(d) = &a.disclosure {
            field(&d.country_name);
            field(&d.protection_system);
            field(&d.recipient_measures);
            field(&d.transfer_basis);
        }
        for (lang, why) in &a.why_translations {
            field(lang);
            field(why);
            if let Some(d) = a.disclosure.as_ref().and_then(|d| d.translations.get(lang)) {
                field(&d.country_name);
                field(&d.protection_system);
                field(&d.recipient_measures);
                field(&d.transfer_basis);
            }
        }
    }
    // The gateway is told beside them, outside the version: it receives a
    // number once, when its person registers, so a gateway added or
    // replaced later changes nothing for people already registered, whose
    // standing agreement the version is. Its country, if foreign, is among
    // `foreign` above, which the version does cover.
    let phone_gateway = config
        .phone_gateway
        .as_ref()
        .map(|g| PhoneGatewayDisclosure {
            operator: g.operator.clone(),
            host: g.host().to_string(),
            country: g.country.clone(),
        });
    Ok(Disclosures {
        region: home.id.clone(),
        region_name: home.name.clone(),
        country: home.country.clone(),
        node_region: node.id.clone(),
        node_country: node.country.clone(),
        version: hex::encode(&h.finalize()[..16]),
        foreign,
        phone_gateway,
    })
}

impl Vault {
    /// [`disclosures`] under this vault's configuration.
    pub fn disclosures(&self, region: &str) -> Result<Disclosures, VaultError> {
        disclosures(&self.config, region)
    }

    /// Every agreement and withdrawal a person made, oldest first.
    pub async fn consent_history(
        &self,
        subject: &str,
        region: &str,
        requester: &Requester,
    ) -> Result<Vec<ConsentEvent>, VaultError> {
        Ok(self
            .read_record(subject, region, Category::Consent, requester)
            .await?
            .unwrap_or_default())
    }

    /// Adds an agreement or a withdrawal to the person's sealed record, in
    /// their home region, before it takes effect anywhere.
    pub async fn record_consent(
        &self,
        subject: &str,
        region: &str,
        event: ConsentEvent,
        requester: &Requester,
    ) -> Result<(), VaultError> {
        let rv = self
            .reach(&Access {
                subject,
                region,
                action: Action::Write,
                categories: &[Category::Consent],
                requester,
            })
            .await?;
        let _one_writer = self.consents.lock().await;
        let mut all: Vec<ConsentEvent> = rv
            .open_record(subject, Category::Consent)
            .await?
            .unwrap_or_default();
        all.push(event);
        rv.put_sealed(subject, Category::Consent, &all).await
    }
}
