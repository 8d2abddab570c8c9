//! Erasing a person: their data key goes, with everything sealed under it,
//! in their home region and wherever a move left a copy.

use crate::{Access, Action, Category, Requester, Vault, VaultError};

impl Vault {
    /// Erases a person: their data key goes first, with everything sealed
    /// under it, so nothing of theirs can be opened again even with the
    /// region key.
    pub async fn erase(
        &self,
        subject: &str,
        region: &str,
        requester: &Requester,
    ) -> Result<bool, VaultError> {
        let decision = self.decide(&Access {
            subject,
            region,
            action: Action::Erase,
            categories: &[
                Category::Profile,
                Category::Contacts,
                Category::Blocks,
                Category::PhoneIndex,
                Category::AccessRecords,
                Category::Reports,
                Category::Moderation,
                Category::Consent,
            ],
            requester,
        })?;
        // The entries first, sealed as an erasure's, so what is left of them
        // is told from an entry someone emptied.
        self.tombstone_entries(decision.region, subject).await?;
        let mut any = decision.region.store.erase_subject(subject, true).await?;
        // A copy an interrupted move left elsewhere goes too: no key of the
        // person may survive their erasure.
        for id in self.regions.keys() {
            if id != region {
                if let Ok(rv) = self.maintained(id) {
                    any |= rv.store.erase_subject(subject, false).await?;
                }
            }
        }
        Ok(any)
    }
}
