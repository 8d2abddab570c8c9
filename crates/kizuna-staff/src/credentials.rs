//! What a staff member logs in with: a generated password and TOTP secret,
//! the secret sealed at rest under the realm's key, and the keyed MAC that
//! also tags session tokens.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::Argon2;
use hmac::{Hmac, Mac};
use kizuna_wire::staff::StaffCredentials;
use rand::{Rng, RngCore};
use sha2::Sha256;

use crate::{StaffError, StaffRealm};

fn random_text(n: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    (0..n)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// How a TOTP secret is kept in the staff store: sealed under a key derived
/// from the staff realm's own key and bound to the staff id, so a copy of the
/// store (a backup, a stray file) is not enough to mint login codes, and a
/// sealed secret moved to another member's row does not open.
pub(crate) const SEALED_TOTP: &str = "x1:";

pub(crate) fn totp(secret_b32: &str) -> Result<totp_rs::TOTP, StaffError> {
    let bytes = totp_rs::Secret::Encoded(secret_b32.to_string())
        .to_bytes()
        .map_err(|_| StaffError::Storage("a stored TOTP secret is damaged".into()))?;
    totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 1, 30, bytes)
        .map_err(|e| StaffError::Storage(format!("a stored TOTP secret is unusable: {e}")))
}

impl StaffRealm {
    pub(crate) fn credentials(staff_id: &str) -> Result<(String, String, String), StaffError> {
        let password = random_text(20);
        let hash = Argon2::default()
            .hash_password(password.as_bytes(), &SaltString::generate(&mut OsRng))
            .map_err(|e| StaffError::Storage(format!("cannot hash a password: {e}")))?
            .to_string();
        let mut secret = [0u8; 20];
        rand::thread_rng().fill_bytes(&mut secret);
        let b32 = totp_rs::Secret::Raw(secret.to_vec())
            .to_encoded()
            .to_string();
        let _ = staff_id;
        Ok((password, hash, b32))
    }

    pub(crate) fn shown(staff_id: &str, password: String, b32: String) -> StaffCredentials {
        StaffCredentials {
            staff_id: staff_id.to_string(),
            totp_uri: format!(
                "otpauth://totp/Kizuna%20staff:{staff_id}?secret={b32}&issuer=Kizuna%20staff&digits=6&period=30"
            ),
            password,
            totp_secret: b32,
        }
    }

    fn totp_cipher(&self) -> chacha20poly1305::XChaCha20Poly1305 {
        use chacha20poly1305::KeyInit;
        let key = self.mac(&[b"totp-seal"]);
        chacha20poly1305::XChaCha20Poly1305::new(&key.into())
    }

    pub(crate) fn seal_totp(&self, staff_id: &str, b32: &str) -> Result<String, StaffError> {
        use chacha20poly1305::aead::{Aead, Payload};
        let mut nonce = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut nonce);
        let sealed = self
            .totp_cipher()
            .encrypt(
                &nonce.into(),
                Payload {
                    msg: b32.as_bytes(),
                    aad: staff_id.as_bytes(),
                },
            )
            .map_err(|_| StaffError::Storage("cannot seal a TOTP secret".into()))?;
        Ok(format!(
            "{SEALED_TOTP}{}{}",
            hex::encode(nonce),
            hex::encode(sealed)
        ))
    }

    pub(crate) fn open_totp(&self, staff_id: &str, stored: &str) -> Result<String, StaffError> {
        use chacha20poly1305::aead::{Aead, Payload};
        let damaged = || {
            StaffError::Storage(format!(
                "the TOTP secret of {staff_id} does not open with this node's staff key"
            ))
        };
        let raw = stored
            .strip_prefix(SEALED_TOTP)
            .and_then(|h| hex::decode(h).ok())
            .filter(|b| b.len() > 24)
            .ok_or_else(damaged)?;
        let (nonce, sealed) = raw.split_at(24);
        let plain = self
            .totp_cipher()
            .decrypt(
                nonce.into(),
                Payload {
                    msg: sealed,
                    aad: staff_id.as_bytes(),
                },
            )
            .map_err(|_| damaged())?;
        String::from_utf8(plain).map_err(|_| damaged())
    }

    /// Seals TOTP secrets a store written before they were sealed still
    /// holds in the clear; a no-op once done.
    pub(crate) async fn seal_stored_totps(&self) -> Result<(), StaffError> {
        for (staff_id, stored) in self.store.totp_secrets().await? {
            if !stored.starts_with(SEALED_TOTP) {
                let sealed = self.seal_totp(&staff_id, &stored)?;
                self.store.set_totp_secret(&staff_id, &sealed).await?;
            }
        }
        Ok(())
    }

    /// The realm key's MAC over length-prefixed parts: it tags session
    /// tokens and derives the key TOTP secrets are sealed under. Its label
    /// stays the session one for both, since changing it would leave every
    /// token and sealed secret unopenable.
    pub(crate) fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        m.update(b"kizuna-staff-session-v1");
        for p in parts {
            m.update(&(p.len() as u32).to_be_bytes());
            m.update(p);
        }
        m.finalize().into_bytes().into()
    }
}

/// The current code of a TOTP secret, for tests and scripted logins.
pub fn totp_now(secret_b32: &str) -> Result<String, StaffError> {
    totp(secret_b32)?
        .generate_current()
        .map_err(|e| StaffError::Storage(format!("the clock is before 1970: {e}")))
}

/// The code of a TOTP secret at `unix_secs`: a scripted login that needs a
/// code not yet used takes the next step's, which the realm also accepts.
pub fn totp_at(secret_b32: &str, unix_secs: u64) -> Result<String, StaffError> {
    Ok(totp(secret_b32)?.generate(unix_secs))
}
