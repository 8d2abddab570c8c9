//! A person's own view of their personal data: where it is, from where it
//! may be reached and their agreement to that (data map), all of it
//! (export), their contacts, and erasure. Every read goes through the vault, in the person's home region.

use kizuna_wire::{now_ms, Bytes, Contacts, DataMap, Erased, Export, ExportDevice, KeyChange};

use crate::auth::DeviceIdentity;
use crate::departures::Why;
use crate::error::NodeError;
use crate::node::Node;

impl Node {
    pub async fn data_map(&self, me: &DeviceIdentity) -> Result<DataMap, NodeError> {
        let a = self.account_of(me).await?;
        let who = me.requester();
        let mut map = self.vault.data_map(&a.account_id, &a.region, &who).await?;
        let history = self
            .vault
            .consent_history(&a.account_id, &a.region, &who)
            .await?;
        map.consent = Some(self.consent_of(&a, history).await?);
        map.follows = self.follows(me).await?;
        let received = self.store.file_regions_readable_by(&a.account_id).await?;
        map.categories
            .extend(self.vault.file_categories(&a.region, &received)?);
        Ok(map)
    }

    /// Everything the service keeps about the person, in one document.
    pub async fn export(&self, me: &DeviceIdentity) -> Result<Export, NodeError> {
        let a = self.account_of(me).await?;
        let who = me.requester();
        let v = &self.vault;
        let profile = v.profile(&a.account_id, &a.region, &who).await?;
        let contacts = v.contacts(&a.account_id, &a.region, &who).await?;
        let blocks = v.blocks(&a.account_id, &a.region, &who).await?;
        let devices = self.store.devices_of(&a.account_id).await?;
        let data_map = self.data_map(me).await?;
        let reports = v.reports_of(&a.account_id, &a.region, &who).await?;
        let moderation = v.notices(&a.account_id, &a.region, &who).await?;
        Ok(Export {
            exported_at: now_ms(),
            account_id: a.account_id,
            handle: a.handle,
            created_at: a.created_at,
            name: profile.name,
            phone: profile.phone,
            email: profile.email,
            contacts: contacts.handles,
            blocked: blocks.blocked,
            devices: devices
                .into_iter()
                .map(|d| ExportDevice {
                    device_id: d.device_id,
                    label: d.label,
                    signature_key: Bytes(d.signature_key),
                })
                .collect(),
            data_map,
            reports,
            moderation,
        })
    }

    pub async fn contacts(&self, me: &DeviceIdentity) -> Result<Contacts, NodeError> {
        let a = self.account_of(me).await?;
        Ok(self
            .vault
            .contacts(&a.account_id, &a.region, &me.requester())
            .await?)
    }

    pub async fn set_contacts(
        &self,
        me: &DeviceIdentity,
        contacts: &Contacts,
    ) -> Result<(), NodeError> {
        let a = self.account_of(me).await?;
        Ok(self
            .vault
            .set_contacts(&a.account_id, &a.region, contacts, &me.requester())
            .await?)
    }

    /// Erases the account: its key first (from then on nothing of the
    /// person can be opened), then every chat is told and its members take
    /// the devices out, then the account. Repeating it finishes the rest.
    pub async fn erase(&self, me: &DeviceIdentity) -> Result<Erased, NodeError> {
        let a = self.account_of(me).await?;
        // What the person reported goes with them; a sanction resting on
        // one of those reports could no longer be appealed, so it is
        // lifted first.
        let reports = self.vault.report_ids_of(&a.account_id, &a.region).await?;
        self.sanctions
            .lift_reports(self.store.as_ref(), &reports)
            .await?;
        // Nor do they keep anyone's files past their retention any longer.
        for r in &reports {
            self.store.release_holds(r).await?;
        }
        self.announce(crate::cluster::Notice::Sanctions);
        // Blocks made by or against the person are lifted while their
        // sealed list can still say which.
        self.forget_blocks(&a.account_id, &a.region, &me.requester())
            .await?;
        self.vault
            .erase(&a.account_id, &a.region, &me.requester())
            .await?;
        let devices: Vec<String> = self
            .store
            .devices_of(&a.account_id)
            .await?
            .into_iter()
            .map(|d| d.device_id)
            .collect();
        // Logged before the devices end: the account's keys are handed to no
        // one from now on, and the handle is free for someone else once the
        // account goes (whoever registers it next is a new account, shown as
        // a new person). Repeating an erasure that stopped logs it again.
        self.log_key_change(KeyChange::Erased, &a.handle, &a.account_id, None)
            .await?;
        self.end_devices(&a.handle, &devices, Why::Erased).await?;
        self.store.delete_account(&a.account_id).await?;
        self.agreements.set(&a.account_id, None);
        self.forget_handle(&a.account_id);
        self.announce(crate::cluster::Notice::AccountGone {
            account: a.account_id.clone(),
        });
        tracing::info!(region = %a.region, "an account was erased");
        Ok(Erased {
            account_id: a.account_id,
            region: a.region,
        })
    }
}
