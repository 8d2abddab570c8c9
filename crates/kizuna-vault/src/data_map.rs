//! What a person is shown of their data: the accesses to it, and the data map
//! of where each category is kept and from where it may be reached.

use kizuna_wire::{AccessCountry, DataCategory, DataMap, ForeignDisclosure, TransferRecord};

use crate::{Access, Action, Category, LoggedAccess, Requester, Vault, VaultError};

impl Vault {
    /// A person's access records, opened, with their places in the ledger.
    pub async fn accesses(
        &self,
        subject: &str,
        region: &str,
        requester: &Requester,
    ) -> Result<Vec<LoggedAccess>, VaultError> {
        let rv = self
            .reach(&Access {
                subject,
                region,
                action: Action::Read,
                categories: &[Category::AccessRecords],
                requester,
            })
            .await?;
        let (key, dkv) = rv.data_key(subject).await?;
        rv.store
            .access_records(subject)
            .await?
            .iter()
            .map(|a| {
                rv.open_access(&key, subject, dkv, a).map(|o| LoggedAccess {
                    record: o.record,
                    index: o.idx,
                    entry: o.entry,
                })
            })
            .collect()
    }

    /// Each category of a person's data, where it is stored and from where
    /// it may be reached, from the configuration, with the transfers that
    /// happened.
    pub async fn data_map(
        &self,
        subject: &str,
        region: &str,
        requester: &Requester,
    ) -> Result<DataMap, VaultError> {
        let transfers: Vec<TransferRecord> = self
            .accesses(subject, region, requester)
            .await?
            .into_iter()
            .map(|a| a.record)
            .collect();
        let home = self
            .config
            .region(region)
            .ok_or_else(|| VaultError::UnknownRegion(region.to_string()))?;
        let node = self.config.node_region();
        let from = |r: &kizuna_config::Region| -> Vec<AccessCountry> {
            r.access_from
                .iter()
                .map(|a| AccessCountry {
                    country: a.country.clone(),
                    why: a.why.clone(),
                    disclosure: a.disclosure.as_ref().map(|d| ForeignDisclosure {
                        country_name: d.country_name.clone(),
                        protection_system: d.protection_system.clone(),
                        recipient_measures: d.recipient_measures.clone(),
                        transfer_basis: d.transfer_basis.clone(),
                    }),
                })
                .collect()
        };
        let sealed = format!(
            "encrypted with your own data key, which region {}'s key wraps; that key is kept outside every database",
            home.id
        );
        let at_home = |category: &str, fields: &[&str], protection: &str| DataCategory {
            category: category.into(),
            fields: fields.iter().map(|f| f.to_string()).collect(),
            region: home.id.clone(),
            region_name: home.name.clone(),
            country: home.country.clone(),
            protection: protection.into(),
            accessible_from: from(home),
        };
        let at_node = |category: &str, fields: &[&str], protection: &str| DataCategory {
            category: category.into(),
            fields: fields.iter().map(|f| f.to_string()).collect(),
            region: node.id.clone(),
            region_name: node.name.clone(),
            country: node.country.clone(),
            protection: protection.into(),
            accessible_from: from(node),
        };
        Ok(DataMap {
            home_region: home.id.clone(),
            home_region_name: home.name.clone(),
            home_country: home.country.clone(),
            node_region: node.id.clone(),
            node_country: node.country.clone(),
            categories: vec![
                at_home("profile", &["name", "phone", "email"], &sealed),
                at_home("contacts", &["handles"], &sealed),
                at_home("blocks", &["the people you blocked, and since when"], &sealed),
                at_node(
                    "block_hashes",
                    &["a keyed hash of each pair (you, someone you blocked)"],
                    "keyed hashes (HMAC-SHA-256) with the node's secret, so the node can refuse what a blocked person sends you; no handle or account is stored with them",
                ),
                at_home(
                    "phone_index",
                    &["keyed hash of your phone number"],
                    "a keyed hash (HMAC-SHA-256) with the region's secret; the number itself is not stored",
                ),
                at_home("access_records", &["transfers of your data"], &sealed),
                at_home(
                    "reports",
                    &["abuse reports you filed: the messages you revealed, reason, note, outcome"],
                    &sealed,
                ),
                at_home(
                    "moderation",
                    &["decisions about your reported messages, and your appeals"],
                    &sealed,
                ),
                at_node(
                    "account",
                    &["handle", "device ids", "device public keys", "MLS key packages"],
                    "not encrypted at rest: needed to route messages; holds no name, phone or e-mail",
                ),
                at_node(
                    "messages_in_transit",
                    &["MLS ciphertext waiting for your devices"],
                    "end-to-end encrypted: the service has no key that opens it; deleted once every recipient device has it",
                ),
            ],
            transfers,
            reports: self
                .region_vault(region)?
                .store
                .reports_of(subject)
                .await?
                .into_iter()
                .map(|r| kizuna_wire::reports::HeldReport {
                    report_id: r.report_id,
                    created_at: r.created_at,
                    region: region.to_string(),
                    state: r.state,
                    resolved_at: r.resolved_at,
                })
                .collect(),
        })
    }
}
