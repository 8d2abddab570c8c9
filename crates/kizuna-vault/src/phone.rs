//! Phone numbers: their one written form, who holds one in the regions
//! this node may reach, and the one-time codes that prove a person holds
//! the number they register with.

use hmac::{Hmac, Mac};
use kizuna_store::PhoneCode;
use rand::Rng;
use sha2::Sha256;

use crate::region::RegionVault;
use crate::{Access, Action, Category, Requester, Vault, VaultError};

/// How long a code proves its number: long enough to read a text message
/// and type six digits, short enough that a code seen later is worthless.
pub const PHONE_CODE_TTL_MS: u64 = 10 * 60_000;

/// Guesses one code allows. Six digits and five guesses give a guesser
/// one chance in 200,000 per code; how many codes a number and an address
/// may ask for bounds the rest.
pub const PHONE_CODE_TRIES: u32 = 5;

/// A code to send to a number, in the number's one written form.
#[derive(Debug)]
pub struct IssuedCode {
    pub phone: String,
    pub code: String,
    pub expires_at: u64,
    region: String,
    code_hash: Vec<u8>,
}

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

    /// A fresh code for a number, kept in `region` (where the number is to
    /// be registered) as a keyed hash in place of any earlier code.
    pub async fn issue_phone_code(
        &self,
        region: &str,
        phone: &str,
    ) -> Result<IssuedCode, VaultError> {
        let phone = normalise_phone(phone)?;
        let rv = self.maintained(region)?;
        let code = format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000u32));
        let now = kizuna_wire::now_ms();
        let phone_hash = rv.phone_hash(&phone);
        let expires_at = now + PHONE_CODE_TTL_MS;
        let code_hash = code_mac(rv, &phone_hash, &code)
            .finalize()
            .into_bytes()
            .to_vec();
        rv.store
            .put_phone_code(
                PhoneCode {
                    code_hash: code_hash.clone(),
                    phone_hash,
                    expires_at,
                    tries: PHONE_CODE_TRIES,
                },
                now,
            )
            .await?;
        Ok(IssuedCode {
            phone,
            code,
            expires_at,
            region: region.to_string(),
            code_hash,
        })
    }

    /// Takes back a code that could not be sent, unless a newer one for
    /// the number replaced it meanwhile.
    pub async fn withdraw_phone_code(&self, issued: &IssuedCode) -> Result<(), VaultError> {
        let rv = self.maintained(&issued.region)?;
        rv.store
            .withdraw_phone_code(&rv.phone_hash(&issued.phone), &issued.code_hash)
            .await?;
        Ok(())
    }

    /// Whether `code` is the live code sent to the number, spending one of
    /// its guesses either way. The code stays live until
    /// [`Vault::end_phone_code`], so a registration refused for another
    /// reason (a handle taken) may be tried again with it.
    pub async fn prove_phone(
        &self,
        region: &str,
        phone: &str,
        code: &str,
    ) -> Result<(), VaultError> {
        let phone = normalise_phone(phone)?;
        let rv = self.maintained(region)?;
        // Not a code at all: refused without spending one of its guesses.
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(VaultError::PhoneCodeWrong);
        }
        let phone_hash = rv.phone_hash(&phone);
        let Some(kept) = rv
            .store
            .spend_phone_code_try(&phone_hash, kizuna_wire::now_ms())
            .await?
        else {
            return Err(VaultError::PhoneCodeNeeded);
        };
        code_mac(rv, &phone_hash, code)
            .verify_slice(&kept)
            .map_err(|_| VaultError::PhoneCodeWrong)
    }

    /// Ends the number's code once it proved the number.
    pub async fn end_phone_code(&self, region: &str, phone: &str) -> Result<(), VaultError> {
        let phone = normalise_phone(phone)?;
        let rv = self.maintained(region)?;
        rv.store.drop_phone_code(&rv.phone_hash(&phone)).await?;
        Ok(())
    }

    /// A name for the number that only this node can make, for counting
    /// the codes it asks for without holding the number itself.
    pub fn phone_tag(&self, region: &str, phone: &str) -> Result<String, VaultError> {
        let phone = normalise_phone(phone)?;
        Ok(hex::encode(self.maintained(region)?.phone_hash(&phone)))
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

/// A code's keyed hash, bound to its number: a copy of the region's store
/// tells neither the code nor the number, and one number's code does not
/// prove another.
fn code_mac(rv: &RegionVault, phone_hash: &[u8], code: &str) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&rv.keys().index)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(b"kizuna-phone-code-v1\0");
    mac.update(phone_hash);
    mac.update(b"\0");
    mac.update(code.as_bytes());
    mac
}
