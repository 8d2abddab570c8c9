//! The one path by which this node reaches a region's store.
//!
//! Every operation on a person's data names the region that holds it and
//! goes through [`Vault::reach`]. The node's own region is reached directly.
//! Any other region is reached only if the configuration lets this node's
//! country access it; the transfer (what, from where, to where, on what
//! basis, for whom) is recorded in the person's region before the data is
//! touched, and a refusal is recorded too.
//!
//! The operator's maintenance (re-wrapping keys, counting and listing who
//! lives in a region, removing copies a move left behind, undoing an
//! unfinished registration) opens no personal record; it reaches a region
//! through [`Vault::maintained`], which still refuses regions this node may
//! not reach. No other code in the crate holds a region's store.

use kizuna_wire::{StaffRef, TransferRecord};

use crate::{Category, RegionVault, Vault, VaultError};

/// Who an access is for, in the words shown to the person.
#[derive(Clone, Debug)]
pub enum Requester {
    /// The person themselves, from one of their devices.
    Subject { device_id: String },
    /// Someone who searched for the person's phone number.
    PhoneLookup,
    /// The operator, running an administrative command.
    Operator { command: String },
    /// A staff member under a grant, as their ledger entries name them.
    Staff(StaffRef),
    /// The retention rule that deletes resolved abuse reports.
    Retention,
    /// The rule that deletes files sent in chats once their retention
    /// period is over, and uploads never finished or never sent.
    FileRetention,
}

impl Requester {
    pub fn describe(&self) -> String {
        match self {
            Requester::Subject { device_id } => format!("you, from your device {device_id}"),
            Requester::PhoneLookup => "a person who searched for your phone number".into(),
            Requester::Operator { command } => format!("the operator, running `{command}`"),
            Requester::Retention => "the retention period of resolved abuse reports".into(),
            Requester::FileRetention => "the retention period of files sent in chats".into(),
            Requester::Staff(s) => format!(
                "staff member {} of {} ({}), grant {} for {}, ticket {}",
                s.staff_id, s.org_id, s.country, s.grant_id, s.purpose, s.ticket
            ),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Read,
    Write,
    Lookup,
    Move,
    Erase,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Write => "write",
            Action::Lookup => "lookup",
            Action::Move => "move",
            Action::Erase => "erase",
        }
    }
}

/// One intended access to a person's data.
pub struct Access<'a> {
    pub subject: &'a str,
    pub region: &'a str,
    pub action: Action,
    pub categories: &'a [Category],
    pub requester: &'a Requester,
}

/// A region reached, and the transfer record to keep if it is foreign.
pub(crate) struct Reached<'v> {
    pub region: &'v RegionVault,
    pub transfer: Option<TransferRecord>,
}

impl Vault {
    pub(crate) fn region_vault(&self, id: &str) -> Result<&RegionVault, VaultError> {
        self.regions
            .get(id)
            .ok_or_else(|| VaultError::UnknownRegion(id.to_string()))
    }

    /// A region for maintenance that opens no personal record, only if the
    /// configuration lets this node reach it.
    pub(crate) fn maintained(&self, region: &str) -> Result<&RegionVault, VaultError> {
        self.border_rule(region)?;
        self.region_vault(region)
    }

    /// Whether this node may reach `region` at all, by the configuration.
    pub(crate) fn border_rule(&self, region: &str) -> Result<Option<String>, VaultError> {
        let r = self
            .config
            .region(region)
            .ok_or_else(|| VaultError::UnknownRegion(region.to_string()))?;
        let node = self.config.node_region();
        if r.id == node.id {
            return Ok(None);
        }
        match r.access_from(&node.country) {
            Some(a) => Ok(Some(
                a.disclosure
                    .as_ref()
                    .map(|d| d.transfer_basis.clone())
                    .unwrap_or_else(|| a.why.clone()),
            )),
            None => Err(VaultError::AccessDenied {
                region: r.id.clone(),
                from: node.country.clone(),
            }),
        }
    }

    /// Decides an access without recording it: for a person who does not
    /// exist yet, whose record travels with their first write.
    pub(crate) fn decide<'v>(&'v self, a: &Access<'_>) -> Result<Reached<'v>, VaultError> {
        let basis = self.border_rule(a.region)?;
        let region = self.region_vault(a.region)?;
        let transfer = basis.map(|basis| self.transfer_record(a, Some(basis), None));
        Ok(Reached { region, transfer })
    }

    /// Reaches the region holding a person's data: directly at home; across
    /// a border only by a rule, with the transfer recorded first. A refused
    /// access is recorded in the person's region and answered with
    /// [`VaultError::AccessDenied`].
    pub(crate) async fn reach<'v>(&'v self, a: &Access<'_>) -> Result<&'v RegionVault, VaultError> {
        match self.decide(a) {
            Ok(Reached {
                region,
                transfer: None,
            }) => Ok(region),
            Ok(Reached {
                region,
                transfer: Some(t),
            }) => {
                self.record(region, a.subject, &t, a.requester).await?;
                Ok(region)
            }
            Err(VaultError::AccessDenied { region, from }) => {
                let t = self.transfer_record(
                    a,
                    None,
                    Some(format!(
                        "region {region} does not allow access from {from} in the configuration"
                    )),
                );
                if let Ok(rv) = self.region_vault(&region) {
                    // The refusal is worth keeping even if the person is not
                    // there (nothing to seal it under); it is logged anyway.
                    if let Err(e) = self.record(rv, a.subject, &t, a.requester).await {
                        tracing::debug!(error = %e, "refused access not recorded for the person");
                    }
                }
                tracing::warn!(region = %region, from = %from, action = a.action.name(), "cross-border access refused");
                Err(VaultError::AccessDenied { region, from })
            }
            Err(e) => Err(e),
        }
    }

    fn transfer_record(
        &self,
        a: &Access<'_>,
        basis: Option<String>,
        refusal: Option<String>,
    ) -> TransferRecord {
        TransferRecord {
            at: kizuna_wire::now_ms(),
            action: a.action.name().into(),
            categories: a.categories.iter().map(|c| c.name().to_string()).collect(),
            region: a.region.to_string(),
            to_country: self.config.node_region().country.clone(),
            allowed: refusal.is_none(),
            basis,
            requester: a.requester.describe(),
            refusal,
        }
    }
}
