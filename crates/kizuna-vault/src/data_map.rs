//! What a person is shown of their data: the accesses to it, and the data map
//! of where each category is kept and from where it may be reached.

use kizuna_wire::{
    AccessCountry, DataCategory, DataMap, DisclosureText, ForeignDisclosure, KeptAbroad,
    TransferRecord,
};

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

    /// Where the files a person sends and receives are kept: those they
    /// send in their home region's file store, those others sent them in
    /// each sender's home region (`received_from`), each with who may
    /// reach it from where, as the configuration says.
    pub fn file_categories(
        &self,
        home: &str,
        received_from: &[String],
    ) -> Result<Vec<DataCategory>, VaultError> {
        let retention = period_words(self.config.file_limits.retention);
        let protection = format!(
            "sealed on the sending device with a key of the file's own, which only the chat's devices receive (inside the end-to-end encrypted message); the service has no key that opens it; deleted {retention} after it was sent"
        );
        let category = |name: &str,
                        fields: &[&str],
                        region: &str|
         -> Result<DataCategory, VaultError> {
            let r = self
                .config
                .region(region)
                .ok_or_else(|| VaultError::UnknownRegion(region.to_string()))?;
            let mut accessible_from: Vec<AccessCountry> =
                r.access_from.iter().map(access_country).collect();
            if r.id != home {
                // The region's own reason speaks to its own people ("your
                // home region"); to this person it is the sender's.
                for a in accessible_from
                    .iter_mut()
                    .filter(|a| a.country == r.country)
                {
                    a.why = "The sender's home region: the service that keeps their files is operated here.".into();
                    a.why_translations = [
                        ("ja", "送り主のホームリージョンです。送り主のファイルを保管するサービスはこの国で運営されています。"),
                        ("ko", "보낸 사람의 홈 리전입니다. 보낸 사람의 파일을 보관하는 서비스가 이 나라에서 운영됩니다."),
                    ]
                    .into_iter()
                    .map(|(l, t)| (l.to_string(), t.to_string()))
                    .collect();
                }
            }
            Ok(DataCategory {
                category: name.into(),
                fields: fields.iter().map(|f| f.to_string()).collect(),
                region: r.id.clone(),
                region_name: r.name.clone(),
                country: r.country.clone(),
                protection: protection.clone(),
                accessible_from,
            })
        };
        let mut out = vec![category(
            "files_sent",
            &[
                "the photos and files you send, sealed",
                "their size and which chat they were sent to",
            ],
            home,
        )?];
        for region in received_from {
            out.push(category(
                "files_received",
                &["photos and files others sent you, sealed, kept in their sender's home region"],
                region,
            )?);
        }
        Ok(out)
    }

    /// Records, for the person who sent it, that a file is about to be
    /// deleted: its retention period ended (`sent`), or its upload was
    /// never finished or never sent. Recorded before the deletion, as
    /// every erasure is; a person no longer here has nobody to tell.
    pub async fn record_file_deletion(
        &self,
        sender: &str,
        region: &str,
        file_id: &str,
        sent: bool,
    ) -> Result<(), VaultError> {
        let rv = self.maintained(region)?;
        let basis = if sent {
            format!(
                "the retention period of files ({}) ended",
                period_words(self.config.file_limits.retention)
            )
        } else {
            format!(
                "the upload was not finished and sent within {}",
                period_words(self.config.file_limits.unfinished)
            )
        };
        let record = TransferRecord {
            at: kizuna_wire::now_ms(),
            action: "erase".into(),
            categories: vec![format!("file {file_id}")],
            region: region.to_string(),
            to_country: self.config.node_region().country.clone(),
            basis: Some(basis),
            requester: Requester::FileRetention.describe(),
            allowed: true,
            refusal: None,
        };
        match self
            .record(rv, sender, &record, &Requester::FileRetention)
            .await
        {
            Err(VaultError::NotFound(_)) => Ok(()),
            r => r,
        }
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
            r.access_from.iter().map(access_country).collect()
        };
        // What the node keeps is in the node's region. For a person of
        // another region it is kept away from home: they are told so, why,
        // and what their own region's rule for the node's country discloses
        // — never that it is their home.
        let away = (node.id != home.id).then(|| home.access_from(&node.country));
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
        let at_node = |category: &str, fields: &[&str], protection: &str, purpose: &str| {
            let accessible_from = match away {
                None => from(node),
                Some(rule) => vec![AccessCountry {
                    country: node.country.clone(),
                    why: format!(
                        "kept by the node that serves you, which runs in {} ({}), not in your home region: {purpose}",
                        node.name, node.country
                    ),
                    disclosure: rule.and_then(|a| Some(foreign_disclosure(a.disclosure.as_ref()?, a))),
                    why_translations: Default::default(),
                }],
            };
            DataCategory {
                category: category.into(),
                fields: fields.iter().map(|f| f.to_string()).collect(),
                region: node.id.clone(),
                region_name: node.name.clone(),
                country: node.country.clone(),
                protection: protection.into(),
                accessible_from,
            }
        };
        let kept_abroad = away
            .filter(|_| node.country != home.country)
            .map(|rule| KeptAbroad {
            region: node.id.clone(),
            region_name: node.name.clone(),
            country: node.country.clone(),
            categories: vec![
                "account".into(),
                "block_hashes".into(),
                "messages_in_transit".into(),
            ],
            why: format!(
                "The node that serves you runs in {} ({}), outside your home region {} ({}). \
                 To route your messages it keeps your account (handle, device keys), the keyed hashes \
                 that enforce your blocks and the ciphertext waiting for your devices in {}. \
                 Your personal data stays sealed in region {}; the node reaches it from {} only \
                 to answer you, and each time is recorded below.",
                node.name, node.country, home.name, home.country, node.name, home.id, node.country
            ),
            disclosure: rule.and_then(|a| Some(foreign_disclosure(a.disclosure.as_ref()?, a))),
        });
        Ok(DataMap {
            home_region: home.id.clone(),
            home_region_name: home.name.clone(),
            home_country: home.country.clone(),
            node_region: node.id.clone(),
            node_country: node.country.clone(),
            kept_abroad,
            categories: vec![
                at_home("profile", &["name", "phone", "email"], &sealed),
                at_home("contacts", &["handles"], &sealed),
                at_home("blocks", &["the people you blocked, and since when"], &sealed),
                at_node(
                    "block_hashes",
                    &["a keyed hash of each pair (you, someone you blocked)"],
                    "keyed hashes (HMAC-SHA-256) with the node's secret, so the node can refuse what a blocked person sends you; no handle or account is stored with them",
                    "to refuse what someone you blocked sends you",
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
                at_home(
                    "consent",
                    &["your agreements to the foreign countries that may reach your data, and withdrawals"],
                    &sealed,
                ),
                at_node(
                    "account",
                    &["handle", "device ids", "device public keys", "MLS key packages"],
                    "not encrypted at rest: needed to route messages; holds no name, phone or e-mail",
                    "to route messages to your devices",
                ),
                at_node(
                    "follows",
                    &["the official accounts you follow", "the chat you follow each through"],
                    "not encrypted at rest: which accounts you follow is routing, like your chats; what you tell them is end-to-end encrypted to the organisation's own devices",
                    "to bring you the announcements of the accounts you follow",
                ),
                at_node(
                    "messages_in_transit",
                    &["MLS ciphertext waiting for your devices"],
                    "end-to-end encrypted: the service has no key that opens it; deleted once every recipient device has it",
                    "to hold it until your devices fetch it",
                ),
            ],
            follows: Vec::new(),
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
            // The node adds the agreement: whether it stands is the node's.
            consent: None,
        })
    }
}

/// A country that may reach a region's data, as people are shown it.
pub(crate) fn access_country(a: &kizuna_config::Access) -> AccessCountry {
    AccessCountry {
        country: a.country.clone(),
        why: a.why.clone(),
        disclosure: a.disclosure.as_ref().map(|d| foreign_disclosure(d, a)),
        why_translations: a
            .translations
            .iter()
            .map(|(lang, t)| (lang.clone(), t.why.clone()))
            .collect(),
    }
}

/// `d`, the disclosure of rule `a`, with its translations.
fn foreign_disclosure(
    d: &kizuna_config::Disclosure,
    a: &kizuna_config::Access,
) -> ForeignDisclosure {
    ForeignDisclosure {
        country_name: d.country_name.clone(),
        protection_system: d.protection_system.clone(),
        recipient_measures: d.recipient_measures.clone(),
        transfer_basis: d.transfer_basis.clone(),
        translations: a
            .translations
            .iter()
            .filter_map(|(lang, t)| {
                let t = t.disclosure.as_ref()?;
                Some((
                    lang.clone(),
                    DisclosureText {
                        country_name: t.country_name.clone(),
                        protection_system: t.protection_system.clone(),
                        recipient_measures: t.recipient_measures.clone(),
                        transfer_basis: t.transfer_basis.clone(),
                    },
                ))
            })
            .collect(),
    }
}

/// A period as a person reads it: "365 days", "12 hours", "30 seconds".
fn period_words(d: std::time::Duration) -> String {
    let s = d.as_secs();
    let (n, unit) = if s.is_multiple_of(86_400) {
        (s / 86_400, "day")
    } else if s.is_multiple_of(3600) {
        (s / 3600, "hour")
    } else if s.is_multiple_of(60) {
        (s / 60, "minute")
    } else {
        (s, "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}
