//! Sealing: XChaCha20-Poly1305 with the person, region and key versions bound
//! as associated data, so a sealed record moved to another person, region or
//! key version fails to open instead of opening as someone else's.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

const NONCE: usize = 24;

/// A person's data key. Never stored unwrapped.
#[derive(Clone)]
pub struct DataKey(pub(crate) [u8; 32]);

impl DataKey {
    pub fn generate() -> DataKey {
        let mut k = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut k);
        DataKey(k)
    }
}

/// Encryption failed (only possible for inputs near 256 GiB).
#[derive(Debug)]
pub struct SealFailed;

fn seal(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, SealFailed> {
    let mut nonce = [0u8; NONCE];
    rand::thread_rng().fill_bytes(&mut nonce);
    let cipher = XChaCha20Poly1305::new(key.into());
    let ct = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| SealFailed)?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&ct);
    Ok(out)
}

fn open(key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < NONCE {
        return None;
    }
    let (nonce, ct) = sealed.split_at(NONCE);
    XChaCha20Poly1305::new(key.into())
        .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad })
        .ok()
}

fn context(parts: &[&[u8]]) -> Vec<u8> {
    let mut v = Vec::new();
    for p in parts {
        v.extend_from_slice(&(p.len() as u32).to_be_bytes());
        v.extend_from_slice(p);
    }
    v
}

/// What a wrapped data key is bound to.
pub struct KeyBinding<'a> {
    pub subject: &'a str,
    pub region: &'a str,
    pub region_key_version: u32,
    pub data_key_version: u32,
}

impl KeyBinding<'_> {
    fn aad(&self) -> Vec<u8> {
        context(&[
            b"kizuna-wrap-v1",
            self.subject.as_bytes(),
            self.region.as_bytes(),
            &self.region_key_version.to_be_bytes(),
            &self.data_key_version.to_be_bytes(),
        ])
    }
}

pub fn wrap(
    region_key: &[u8; 32],
    b: &KeyBinding<'_>,
    key: &DataKey,
) -> Result<Vec<u8>, SealFailed> {
    seal(region_key, &b.aad(), &key.0)
}

pub fn unwrap(region_key: &[u8; 32], b: &KeyBinding<'_>, wrapped: &[u8]) -> Option<DataKey> {
    let k = open(region_key, &b.aad(), wrapped)?;
    Some(DataKey(k.try_into().ok()?))
}

/// What a sealed record is bound to.
pub struct RecordBinding<'a> {
    pub subject: &'a str,
    pub region: &'a str,
    pub data_key_version: u32,
    pub category: &'a str,
}

impl RecordBinding<'_> {
    fn aad(&self) -> Vec<u8> {
        context(&[
            b"kizuna-seal-v1",
            self.subject.as_bytes(),
            self.region.as_bytes(),
            &self.data_key_version.to_be_bytes(),
            self.category.as_bytes(),
        ])
    }
}

pub fn seal_record(
    key: &DataKey,
    b: &RecordBinding<'_>,
    plaintext: &[u8],
) -> Result<Vec<u8>, SealFailed> {
    seal(&key.0, &b.aad(), plaintext)
}

pub fn open_record(key: &DataKey, b: &RecordBinding<'_>, sealed: &[u8]) -> Option<Vec<u8>> {
    open(&key.0, &b.aad(), sealed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_opens_only_where_it_was_sealed() {
        let k = DataKey::generate();
        let b = RecordBinding {
            subject: "alice",
            region: "jp",
            data_key_version: 1,
            category: "profile",
        };
        let sealed = seal_record(&k, &b, b"Alice Sato").unwrap();
        assert_eq!(open_record(&k, &b, &sealed).unwrap(), b"Alice Sato");
        for other in [
            RecordBinding {
                subject: "bob",
                ..b
            },
            RecordBinding { region: "kr", ..b },
            RecordBinding {
                data_key_version: 2,
                ..b
            },
            RecordBinding {
                category: "contacts",
                ..b
            },
        ] {
            assert!(open_record(&k, &other, &sealed).is_none());
        }
        assert!(open_record(&DataKey::generate(), &b, &sealed).is_none());
    }

    #[test]
    fn a_wrapped_key_needs_its_region_key_and_binding() {
        let rk = [7u8; 32];
        let dk = DataKey::generate();
        let b = KeyBinding {
            subject: "alice",
            region: "jp",
            region_key_version: 1,
            data_key_version: 1,
        };
        let w = wrap(&rk, &b, &dk).unwrap();
        assert_eq!(unwrap(&rk, &b, &w).unwrap().0, dk.0);
        assert!(unwrap(&[8u8; 32], &b, &w).is_none());
        assert!(unwrap(&rk, &KeyBinding { region: "kr", ..b }, &w).is_none());
    }
}
