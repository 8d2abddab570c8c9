//! Registering people in their home region (one, or many at once for an
//! import), and undoing a registration whose account was never made.

use std::collections::BTreeMap;

use kizuna_store::StoreError;

use crate::phone::normalise_phone;
use crate::region::OpenedSubject;
use crate::{Access, Action, Category, Profile, Requester, Vault, VaultError};

impl Vault {
    /// Creates a person in their home region: a fresh data key, the sealed
    /// profile, the keyed phone hash, and (for a foreign region) the record
    /// of this first transfer, in one transaction.
    pub async fn register(
        &self,
        subject: &str,
        region: &str,
        profile: &Profile,
        requester: &Requester,
    ) -> Result<(), VaultError> {
        let profile = checked(profile)?;
        // Refused before anything is looked up, if the border refuses.
        self.decide(&first_write(subject, region, requester))?;
        match self.find_phone(&profile.phone).await? {
            // Registering the same person again (a retry) changes nothing.
            Some((r, s)) if s == subject && r == region => return Ok(()),
            Some(_) => return Err(VaultError::PhoneTaken),
            None => {}
        }
        self.register_many(region, &[(subject.to_string(), profile)], true, requester)
            .await
    }

    /// Registers many new people in `region` in one transaction: the bulk
    /// form of [`Vault::register`], for imports from a system of record
    /// whose phone numbers are already unique. A phone already held in the
    /// region refuses the whole batch. `proven`: whether each person proved
    /// their number with a code; an imported number is not, so nobody finds
    /// it by number and its proven holder may take it.
    pub async fn register_many(
        &self,
        region: &str,
        people: &[(String, Profile)],
        proven: bool,
        requester: &Requester,
    ) -> Result<(), VaultError> {
        let mut sealed = Vec::with_capacity(people.len());
        let mut rv = None;
        for (subject, profile) in people {
            let profile = checked(profile)?;
            let reached = self.decide(&first_write(subject, region, requester))?;
            let r = reached.region;
            let pt = serde_json::to_vec(&profile).map_err(|e| r.unsealable(e.to_string()))?;
            let access = reached
                .transfer
                .map(|t| self.new_access(subject, t, requester))
                .transpose()?;
            let opened = OpenedSubject {
                data_key_version: 1,
                records: BTreeMap::from([(Category::Profile.name().to_string(), pt)]),
                access: access.into_iter().collect(),
                reports: Vec::new(),
                phone_proven: Some(proven),
            };
            sealed.push(r.seal_subject(subject, &opened, Some(&profile.phone))?);
            rv = Some(r);
        }
        let Some(rv) = rv else { return Ok(()) };
        let unlogged: Vec<_> = sealed.iter().flat_map(Self::unlogged).collect();
        match rv.store.put_subjects(sealed).await {
            Err(StoreError::Conflict("phone")) => return Err(VaultError::PhoneTaken),
            r => r?,
        }
        if let Err(e) = self.log(rv, unlogged).await {
            for (subject, _) in people {
                rv.store.erase_subject(subject, false).await?;
            }
            return Err(e);
        }
        Ok(())
    }

    /// Undoes a registration whose account could not be created.
    pub async fn forget_unregistered(&self, subject: &str, region: &str) -> Result<(), VaultError> {
        let rv = self.maintained(region)?;
        self.tombstone_entries(rv, subject).await?;
        rv.store.erase_subject(subject, true).await?;
        Ok(())
    }
}

/// A person's first write: their profile and phone index, in their region.
fn first_write<'a>(subject: &'a str, region: &'a str, requester: &'a Requester) -> Access<'a> {
    Access {
        subject,
        region,
        action: Action::Write,
        categories: &[Category::Profile, Category::PhoneIndex],
        requester,
    }
}

fn checked(profile: &Profile) -> Result<Profile, VaultError> {
    let phone = normalise_phone(&profile.phone)?;
    let name = profile.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(VaultError::InvalidName);
    }
    if let Some(e) = &profile.email {
        let ok = e.len() <= 254
            && e.split_once('@')
                .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.starts_with('.'));
        if !ok {
            return Err(VaultError::InvalidEmail);
        }
    }
    Ok(Profile {
        name: name.to_string(),
        phone,
        email: profile.email.clone(),
    })
}
