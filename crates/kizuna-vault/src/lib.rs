//! The one place where a person's personal fields (name, phone, e-mail) enter
//! and leave storage.
//!
//! Every read and write of personal data goes through [`Vault`], so that
//! where and how those fields are kept can change here alone, without
//! touching the API. Phone numbers are never stored for lookup: discovery uses
//! a keyed hash ([`Vault::phone_hash`]) with a secret kept outside the database.

use hmac::{Hmac, Mac};
use kizuna_store::SealedProfile;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// A person's personal fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub name: String,
    pub phone: String,
    pub email: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("the phone number must be in international form, like +819012345678")]
    InvalidPhone,
    #[error("the e-mail address is not valid")]
    InvalidEmail,
    #[error("the name must be 1 to 100 characters")]
    InvalidName,
    #[error("a stored profile could not be read: {0}")]
    Corrupt(String),
}

/// Seals and opens profiles, and derives lookup keys from phone numbers.
pub struct Vault {
    phone_key: [u8; 32],
}

impl Vault {
    /// `phone_key` is the secret behind phone lookup hashes; it lives in a key
    /// file, not in any database.
    pub fn new(phone_key: [u8; 32]) -> Self {
        Vault { phone_key }
    }

    /// Checks the fields and turns them into what the store keeps.
    pub fn seal(&self, profile: &Profile) -> Result<SealedProfile, VaultError> {
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
        let clean = Profile {
            name: name.to_string(),
            phone: phone.clone(),
            email: profile.email.clone(),
        };
        let blob = serde_json::to_vec(&clean).map_err(|e| VaultError::Corrupt(e.to_string()))?;
        Ok(SealedProfile {
            blob,
            phone_hash: self.phone_hash_normalised(&phone),
        })
    }

    /// Opens a stored profile.
    pub fn open(&self, blob: &[u8]) -> Result<Profile, VaultError> {
        serde_json::from_slice(blob).map_err(|e| VaultError::Corrupt(e.to_string()))
    }

    /// The lookup key for a phone number.
    pub fn phone_hash(&self, phone: &str) -> Result<Vec<u8>, VaultError> {
        Ok(self.phone_hash_normalised(&normalise_phone(phone)?))
    }

    fn phone_hash_normalised(&self, phone: &str) -> Vec<u8> {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.phone_key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(b"kizuna-phone-v1\0");
        mac.update(phone.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

/// E.164: a `+`, then 8 to 15 digits; spaces and dashes are dropped.
fn normalise_phone(p: &str) -> Result<String, VaultError> {
    let compact: String = p.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    let digits = compact.strip_prefix('+').ok_or(VaultError::InvalidPhone)?;
    if !(8..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VaultError::InvalidPhone);
    }
    Ok(compact)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_hash_is_keyed_and_normalised() {
        let a = Vault::new([1; 32]);
        let b = Vault::new([2; 32]);
        assert_eq!(
            a.phone_hash("+81 90-1234-5678").unwrap(),
            a.phone_hash("+819012345678").unwrap()
        );
        assert_ne!(
            a.phone_hash("+819012345678").unwrap(),
            b.phone_hash("+819012345678").unwrap()
        );
        assert!(a.phone_hash("09012345678").is_err());
    }

    #[test]
    fn seal_rejects_bad_fields() {
        let v = Vault::new([0; 32]);
        let ok = Profile {
            name: "Alice".into(),
            phone: "+819012345678".into(),
            email: Some("a@example.jp".into()),
        };
        let sealed = v.seal(&ok).unwrap();
        assert_eq!(v.open(&sealed.blob).unwrap(), ok);
        assert!(v
            .seal(&Profile {
                email: Some("nope".into()),
                ..ok.clone()
            })
            .is_err());
        assert!(v
            .seal(&Profile {
                name: " ".into(),
                ..ok
            })
            .is_err());
    }
}
