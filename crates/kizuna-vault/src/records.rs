//! A person's own records (profile, contacts, blocks), read and written
//! through the border of their home region.

use kizuna_wire::{BlockList, Contacts};

use crate::{Access, Action, Category, Profile, Requester, Vault, VaultError, MAX_BLOCKS};

impl Vault {
    /// Reaches a person's region for `category` and opens that record, if
    /// there is one.
    pub(crate) async fn read_record<T: serde::de::DeserializeOwned>(
        &self,
        subject: &str,
        region: &str,
        category: Category,
        requester: &Requester,
    ) -> Result<Option<T>, VaultError> {
        let rv = self
            .reach(&Access {
                subject,
                region,
                action: Action::Read,
                categories: &[category],
                requester,
            })
            .await?;
        rv.open_record(subject, category).await
    }

    pub async fn profile(
        &self,
        subject: &str,
        region: &str,
        requester: &Requester,
    ) -> Result<Profile, VaultError> {
        self.read_record(subject, region, Category::Profile, requester)
            .await?
            .ok_or_else(|| VaultError::NotFound(region.to_string()))
    }

    pub async fn contacts(
        &self,
        subject: &str,
        region: &str,
        requester: &Requester,
    ) -> Result<Contacts, VaultError> {
        Ok(self
            .read_record(subject, region, Category::Contacts, requester)
            .await?
            .unwrap_or_default())
    }

    pub async fn set_contacts(
        &self,
        subject: &str,
        region: &str,
        contacts: &Contacts,
        requester: &Requester,
    ) -> Result<(), VaultError> {
        if contacts.handles.len() > 5000
            || !contacts
                .handles
                .iter()
                .all(|h| kizuna_wire::valid_handle(h))
        {
            return Err(VaultError::InvalidContacts);
        }
        let rv = self
            .reach(&Access {
                subject,
                region,
                action: Action::Write,
                categories: &[Category::Contacts],
                requester,
            })
            .await?;
        rv.put_sealed(subject, Category::Contacts, contacts).await
    }

    pub async fn blocks(
        &self,
        subject: &str,
        region: &str,
        requester: &Requester,
    ) -> Result<BlockList, VaultError> {
        Ok(self
            .read_record(subject, region, Category::Blocks, requester)
            .await?
            .unwrap_or_default())
    }

    pub async fn set_blocks(
        &self,
        subject: &str,
        region: &str,
        blocks: &BlockList,
        requester: &Requester,
    ) -> Result<(), VaultError> {
        if blocks.blocked.len() > MAX_BLOCKS {
            return Err(VaultError::TooManyBlocks);
        }
        let rv = self
            .reach(&Access {
                subject,
                region,
                action: Action::Write,
                categories: &[Category::Blocks],
                requester,
            })
            .await?;
        rv.put_sealed(subject, Category::Blocks, blocks).await
    }
}
