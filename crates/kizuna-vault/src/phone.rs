//! Phone numbers: their one written form, and who holds one in the regions
//! this node may reach.

use crate::{Access, Action, Category, Requester, Vault, VaultError};

impl Vault {
    /// Who holds this phone number in the regions this node may reach: the
    /// region, the person and when their data key was made. Lets the caller
    /// recognise what a registration interrupted before its account existed
    /// left behind.
    pub async fn phone_owner(
        &self,
        phone: &str,
    ) -> Result<Option<(String, String, u64)>, VaultError> {
        let phone = normalise_phone(phone)?;
        let Some((region, subject)) = self.find_phone(&phone).await? else {
            return Ok(None);
        };
        let created = self
            .maintained(&region)?
            .store
            .wrapped_key(&subject)
            .await?
            .map_or(0, |k| k.created_at);
        Ok(Some((region, subject, created)))
    }

    /// Who has this phone number, in any region this node may reach. A match
    /// in a foreign region is a transfer, recorded for the person found.
    pub async fn lookup_phone(&self, phone: &str) -> Result<Option<String>, VaultError> {
        let phone = normalise_phone(phone)?;
        let Some((region, subject)) = self.find_phone(&phone).await? else {
            return Ok(None);
        };
        self.reach(&Access {
            subject: &subject,
            region: &region,
            action: Action::Lookup,
            categories: &[Category::PhoneIndex],
            requester: &Requester::PhoneLookup,
        })
        .await?;
        Ok(Some(subject))
    }

    pub(crate) async fn find_phone(
        &self,
        phone: &str,
    ) -> Result<Option<(String, String)>, VaultError> {
        for (id, rv) in &self.regions {
            // Regions this node may not reach are not searched at all.
            if self.border_rule(id).is_err() {
                continue;
            }
            if let Some(s) = rv
                .store
                .subject_by_phone_hash(&rv.phone_hash(phone))
                .await?
            {
                return Ok(Some((id.clone(), s)));
            }
        }
        Ok(None)
    }
}

/// E.164: a `+`, then 8 to 15 digits; spaces and dashes are dropped.
pub(crate) fn normalise_phone(p: &str) -> Result<String, VaultError> {
    let compact: String = p.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    let digits = compact.strip_prefix('+').ok_or(VaultError::InvalidPhone)?;
    if !(8..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VaultError::InvalidPhone);
    }
    Ok(compact)
}
