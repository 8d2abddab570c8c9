//! A person's agreement to the foreign countries that may reach their data.
//!
//! Before an account exists its person is shown every foreign country their
//! home region's configuration lets reach their data, each with its full
//! disclosure, and must agree to exactly that text (its version). The
//! agreement is sealed with their other data in the home region; the node
//! store keeps only which region's disclosures, in which version, it
//! stands on. It stops standing when the person withdraws it, when the
//! operator moves them to another region, or when the text changes: then
//! no country outside the home region's own may reach their data. A node
//! in such a country serves the person only to show, export or erase their
//! data and to take their agreement again, and no staff member abroad can
//! read it under any grant.

use std::collections::HashMap;
use std::sync::RwLock;

use kizuna_store::{Account, StandingAgreement, Store};
use kizuna_vault::{Requester, Vault};
use kizuna_wire::{
    now_ms, utc, Consent, ConsentEvent, ConsentStep, Disclosures, ErrorCode, Standing,
};

use crate::auth::DeviceIdentity;
use crate::error::NodeError;
use crate::node::Node;

/// What a request asks of the node, as far as an agreement cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsentReach {
    /// A person's rights over their own data, which no missing agreement
    /// takes away: to see it, take it with them or erase it, and to agree.
    Rights,
    /// Everything else the service does.
    Service,
}

/// Whether each account may be served beyond its rights, by account id:
/// filled from the store on first use, changed with every agreement and
/// withdrawal (a region move happens only on a stopped node).
#[derive(Default)]
pub struct Agreements {
    served: RwLock<HashMap<String, bool>>,
}

impl Agreements {
    fn get(&self, account_id: &str) -> Option<bool> {
        let m = match self.served.read() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        m.get(account_id).copied()
    }

    /// Forgets every answer: another node may have changed agreements.
    pub(crate) fn clear(&self) {
        match self.served.write() {
            Ok(mut m) => m.clear(),
            Err(p) => p.into_inner().clear(),
        }
    }

    pub(crate) fn set(&self, account_id: &str, served: Option<bool>) {
        let mut m = match self.served.write() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        match served {
            Some(s) => m.insert(account_id.to_string(), s),
            None => m.remove(account_id),
        };
    }
}

/// Whether the agreement the account's foreign reach needs stands: there
/// is nothing to agree to, or the stored agreement is to its home region's
/// disclosures in their current version.
pub(crate) async fn stands(
    store: &dyn Store,
    vault: &Vault,
    account: &Account,
) -> Result<bool, NodeError> {
    let d = vault.disclosures(&account.region)?;
    if d.foreign.is_empty() {
        return Ok(true);
    }
    Ok(store.agreement(&account.account_id).await?
        == Some(StandingAgreement {
            region: d.region,
            version: d.version,
        }))
}

/// The countries from which an account's data may be reached now: all its
/// region declares while the agreement stands, else only the region's own
/// country — and none at all when this node is in another country, for
/// then every reach of it would cross a border.
pub(crate) async fn reachable_from(
    store: &dyn Store,
    vault: &Vault,
    account: &Account,
) -> Result<Vec<String>, NodeError> {
    let config = vault.config();
    let Some(home) = config.region(&account.region) else {
        return Ok(Vec::new());
    };
    if stands(store, vault, account).await? {
        return Ok(home.access_from.iter().map(|a| a.country.clone()).collect());
    }
    if config.node_region().country == home.country {
        Ok(vec![home.country.clone()])
    } else {
        Ok(Vec::new())
    }
}

/// Whether the node may serve the account beyond its rights: it is at
/// home in the node's country, or its agreement stands.
async fn served(store: &dyn Store, vault: &Vault, account: &Account) -> Result<bool, NodeError> {
    let config = vault.config();
    let at_home = config
        .region(&account.region)
        .is_some_and(|r| r.country == config.node_region().country);
    Ok(at_home || stands(store, vault, account).await?)
}

/// Refuses an agreement to anything but the disclosures as they are now.
fn check_version(d: &Disclosures, agreed: Option<&str>) -> Result<(), NodeError> {
    if d.foreign.is_empty() {
        return Ok(());
    }
    let countries = countries(d);
    match agreed {
        Some(v) if v == d.version => Ok(()),
        Some(v) => Err(NodeError::invalid(
            ErrorCode::AgreementRequired,
            format!(
                "you agreed to version {v} of region {}'s disclosures, but they changed: read the current ones \
                 (version {}, for {countries}) and agree to them; nothing was changed",
                d.region, d.version
            ),
        )),
        None => Err(NodeError::invalid(
            ErrorCode::AgreementRequired,
            format!(
                "your data in region {} may be reached from {countries}: read the disclosures \
                 (GET /v1/regions/{}/disclosures, version {}) and agree to them; nothing was created",
                d.region, d.region, d.version
            ),
        )),
    }
}

impl Node {
    /// What a new person whose home is `region` must read and agree to.
    pub fn disclosures(&self, region: &str) -> Result<Disclosures, NodeError> {
        if self.vault.config().region(region).is_none() {
            return Err(self.unknown_region(region));
        }
        Ok(self.vault.disclosures(region)?)
    }

    /// Refuses a registration that does not carry agreement to the current
    /// disclosures of its region, before anything is written.
    pub(crate) fn check_registration_agreement(
        &self,
        region: &str,
        agreed: Option<&str>,
    ) -> Result<Disclosures, NodeError> {
        let d = self.disclosures(region)?;
        check_version(&d, agreed)?;
        Ok(d)
    }

    /// Seals a new person's agreement in their region and lets it stand;
    /// the registration undoes everything if this fails.
    pub(crate) async fn record_first_agreement(
        &self,
        account_id: &str,
        d: &Disclosures,
        requester: &Requester,
        device_id: &str,
    ) -> Result<(), NodeError> {
        if d.foreign.is_empty() {
            return Ok(());
        }
        self.vault
            .record_consent(
                account_id,
                &d.region,
                event(ConsentStep::Agreed, d, device_id),
                requester,
            )
            .await?;
        Ok(())
    }

    pub(crate) async fn stand_agreement(
        &self,
        account_id: &str,
        d: &Disclosures,
    ) -> Result<(), NodeError> {
        if d.foreign.is_empty() {
            return Ok(());
        }
        self.store
            .set_agreement(
                account_id,
                Some(StandingAgreement {
                    region: d.region.clone(),
                    version: d.version.clone(),
                }),
            )
            .await?;
        self.agreements.set(account_id, Some(true));
        self.announce(crate::cluster::Notice::Agreement {
            account: account_id.to_string(),
        });
        Ok(())
    }

    /// My agreement as it stands, what follows from it, and its history.
    pub async fn consent(&self, me: &DeviceIdentity) -> Result<Consent, NodeError> {
        let a = self.account_of(me).await?;
        let history = self
            .vault
            .consent_history(&a.account_id, &a.region, &me.requester())
            .await?;
        self.consent_of(&a, history).await
    }

    pub(crate) async fn consent_of(
        &self,
        a: &Account,
        history: Vec<ConsentEvent>,
    ) -> Result<Consent, NodeError> {
        let d = self.vault.disclosures(&a.region)?;
        let standing = if d.foreign.is_empty() {
            Standing::NotNeeded
        } else if stands(self.store.as_ref(), &self.vault, a).await? {
            Standing::Agreed
        } else {
            match history.last() {
                Some(e) if e.step == ConsentStep::Withdrawn && e.region == a.region => {
                    Standing::Withdrawn
                }
                _ => Standing::Needed,
            }
        };
        Ok(Consent {
            consequence: consequence(standing, &d, history.last()),
            if_withdrawn: (standing == Standing::Agreed)
                .then(|| format!("If you withdraw your agreement: {}", withheld(&d))),
            standing,
            disclosures: d,
            history,
        })
    }

    /// Agrees to the current disclosures of my home region: `version` must
    /// be theirs, so what I agree to is what I was shown.
    pub async fn agree(&self, me: &DeviceIdentity, version: &str) -> Result<Consent, NodeError> {
        let a = self.account_of(me).await?;
        let d = self.vault.disclosures(&a.region)?;
        check_version(&d, Some(version))?;
        if d.foreign.is_empty() {
            return self.consent(me).await;
        }
        // Sealed first: an agreement is in force only once it is recorded.
        self.vault
            .record_consent(
                &a.account_id,
                &a.region,
                event(ConsentStep::Agreed, &d, &me.device_id),
                &me.requester(),
            )
            .await?;
        self.stand_agreement(&a.account_id, &d).await?;
        tracing::info!(region = %a.region, "an agreement to the disclosures was given");
        self.consent(me).await
    }

    /// Withdraws my agreement. It stops standing before the withdrawal is
    /// sealed, so that even a failure to record it never leaves my data
    /// reachable against my will; the withdrawal is then sealed, recorded
    /// (the node's last reach of it from abroad, if it is abroad) and shown.
    pub async fn withdraw(&self, me: &DeviceIdentity) -> Result<Consent, NodeError> {
        let a = self.account_of(me).await?;
        let d = self.vault.disclosures(&a.region)?;
        if d.foreign.is_empty() {
            return self.consent(me).await;
        }
        self.store.set_agreement(&a.account_id, None).await?;
        self.agreements.set(&a.account_id, None);
        self.announce(crate::cluster::Notice::Agreement {
            account: a.account_id.clone(),
        });
        self.vault
            .record_consent(
                &a.account_id,
                &a.region,
                event(ConsentStep::Withdrawn, &d, &me.device_id),
                &me.requester(),
            )
            .await?;
        // A node abroad serves no connection of the account any more: a
        // device that reconnects is told why.
        if d.node_country != d.country {
            for device in self.store.devices_of(&a.account_id).await? {
                self.hub.drop_device(&device.device_id);
            }
        }
        tracing::info!(region = %a.region, "an agreement to the disclosures was withdrawn");
        self.consent(me).await
    }

    /// Refuses what an account may not do while its agreement does not
    /// stand and this node is abroad for its data: everything but its
    /// rights.
    pub async fn check_agreement(
        &self,
        account_id: &str,
        reach: ConsentReach,
    ) -> Result<(), NodeError> {
        if reach == ConsentReach::Rights {
            return Ok(());
        }
        let served = match self.agreements.get(account_id) {
            Some(s) => s,
            None => {
                let Some(a) = self.store.account_by_id(account_id).await? else {
                    // Nothing to serve; the request itself will say so.
                    return Ok(());
                };
                let s = served(self.store.as_ref(), &self.vault, &a).await?;
                self.agreements.set(account_id, Some(s));
                s
            }
        };
        if served {
            return Ok(());
        }
        Err(NodeError::forbidden(
            ErrorCode::AgreementRequired,
            format!(
                "this node runs in {}, abroad from your home region, and your agreement to your region's \
                 disclosures does not stand: it serves you only to show, export or erase your data and to \
                 agree. `kizuna me consent` shows them; `kizuna me consent agree` agrees",
                self.vault.config().node_region().country
            ),
        ))
    }
}

/// What a standing means for the person, in plain words.
fn consequence(standing: Standing, d: &Disclosures, last: Option<&ConsentEvent>) -> String {
    let withheld = withheld(d);
    match standing {
        Standing::NotNeeded => format!(
            "No country outside {} may reach your data in region {}: there is nothing to agree to.",
            d.country, d.region
        ),
        Standing::Agreed => format!(
            "You agreed to region {}'s disclosures (version {}): your data may be reached from {} \
             as they say, each time recorded. You may withdraw at any time with \
             `kizuna me consent withdraw`; what follows is stated there.",
            d.region,
            d.version,
            countries(d)
        ),
        Standing::Withdrawn => format!(
            "You withdrew your agreement{}. {withheld}",
            last.map(|e| format!(" at {}", utc(e.at)))
                .unwrap_or_default()
        ),
        Standing::Needed => format!(
            "You have not agreed to the current disclosures of your home region {} (version {}): \
             you never did, your home region changed, or their text did. {withheld}",
            d.region, d.version
        ),
    }
}

fn countries(d: &Disclosures) -> String {
    d.foreign
        .iter()
        .map(|a| a.country.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// What holds while the agreement does not stand.
fn withheld(d: &Disclosures) -> String {
    if d.node_country != d.country {
        format!(
            "No country outside {home} may reach your data now. This node runs in {node}, so it serves you \
             only to show, export or erase your data and to take your agreement: messaging, contacts, \
             look-ups and everything else stop, and no staff member can read your data under any grant. \
             What it already keeps in {node} to route your messages (your account, device keys and \
             ciphertext waiting for your devices) stays until you erase your account. To be served again, \
             agree with `kizuna me consent agree`; otherwise erase your account (`kizuna me delete --yes`) \
             or ask the operator to move you to a region in {node}.",
            home = d.country,
            node = d.node_country
        )
    } else {
        format!(
            "No country outside {home} may reach your data now: staff in {countries} can no longer read it \
             under any grant. This node runs in {home} and serves you as before. Agree again with \
             `kizuna me consent agree`.",
            home = d.country,
            countries = countries(d)
        )
    }
}

fn event(step: ConsentStep, d: &Disclosures, device_id: &str) -> ConsentEvent {
    ConsentEvent {
        at: now_ms(),
        step,
        region: d.region.clone(),
        version: d.version.clone(),
        countries: d.foreign.iter().map(|a| a.country.clone()).collect(),
        device_id: device_id.to_string(),
    }
}
