//! Moving a person to another region: a copy sealed anew and checked, then
//! removing what the old region still holds.

use kizuna_store::StoreError;
use kizuna_wire::TransferRecord;

use crate::{Access, Action, Category, Profile, Requester, Vault, VaultError};

impl Vault {
    /// Moves a person's data to region `to`: opens it in `from`, seals it
    /// anew under a fresh data key for `to`, writes it there in one
    /// transaction and reads it back to compare. The caller records the new
    /// home, then calls [`Vault::remove_leftovers`]. Safe to repeat: a
    /// previous partial copy in `to` is replaced.
    pub async fn copy_subject(
        &self,
        subject: &str,
        from: &str,
        to: &str,
        requester: &Requester,
    ) -> Result<(), VaultError> {
        let all = [
            Category::Profile,
            Category::Contacts,
            Category::Blocks,
            Category::PhoneIndex,
            Category::AccessRecords,
            Category::Reports,
            Category::Moderation,
            Category::Consent,
        ];
        let src = self
            .reach(&Access {
                subject,
                region: from,
                action: Action::Move,
                categories: &all,
                requester,
            })
            .await?;
        let dst = self
            .decide(&Access {
                subject,
                region: to,
                action: Action::Move,
                categories: &all,
                requester,
            })?
            .region;
        // The move is recorded (and in the ledger) before anything moves.
        let moved = TransferRecord {
            at: kizuna_wire::now_ms(),
            action: "move".into(),
            categories: all.iter().map(|c| c.name().to_string()).collect(),
            region: to.to_string(),
            to_country: self
                .config
                .region(to)
                .map(|r| r.country.clone())
                .unwrap_or_default(),
            basis: Some(format!("your home region changed from {from} to {to}")),
            requester: requester.describe(),
            allowed: true,
            refusal: None,
        };
        self.record(src, subject, &moved, requester).await?;
        let mut opened = src.open_subject(subject).await?;
        opened.data_key_version += 1;
        // A number its proven holder took from the person stays theirs.
        let phone = opened
            .records
            .get(Category::Profile.name())
            .filter(|_| opened.phone_proven.is_some())
            .and_then(|pt| serde_json::from_slice::<Profile>(pt).ok())
            .map(|p| p.phone);
        let sealed = dst.seal_subject(subject, &opened, phone.as_deref())?;
        match dst.store.put_subject(sealed).await {
            Err(StoreError::Conflict("phone")) => return Err(VaultError::PhoneTaken),
            r => r?,
        }
        let copy = dst.open_subject(subject).await?;
        if copy != opened {
            return Err(VaultError::CopyMismatch(to.to_string()));
        }
        Ok(())
    }

    /// Removes what any region other than `home` still holds of a person
    /// (what a move left behind). Returns the regions cleaned.
    pub async fn remove_leftovers(
        &self,
        subject: &str,
        home: &str,
    ) -> Result<Vec<String>, VaultError> {
        let mut cleaned = Vec::new();
        for id in self.regions.keys() {
            if id == home {
                continue;
            }
            let rv = self.maintained(id)?;
            if rv.store.wrapped_key(subject).await?.is_some() {
                // Only a verified copy in `home` makes the old one redundant.
                self.maintained(home)?.open_subject(subject).await?;
                rv.store.erase_subject(subject, false).await?;
                cleaned.push(id.clone());
            }
        }
        Ok(cleaned)
    }
}
