//! Signed tree heads, written as signed checkpoints (the C2SP
//! `tlog-checkpoint` body inside a `signed-note`), the form outside
//! witnesses keep and compare.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::merkle::Hash;
use crate::LedgerError;

/// The ledger's own signing key (never a realm's token key) and the name
/// its heads carry.
#[derive(Clone)]
pub struct TreeHeadKey {
    origin: String,
    key: SigningKey,
}

impl TreeHeadKey {
    pub fn new(origin: &str, seed: [u8; 32]) -> TreeHeadKey {
        TreeHeadKey {
            origin: origin.to_string(),
            key: SigningKey::from_bytes(&seed),
        }
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    pub fn sign(&self, size: u64, root: Hash, timestamp_ms: u64) -> SignedTreeHead {
        let mut h = SignedTreeHead {
            origin: self.origin.clone(),
            size,
            root,
            timestamp_ms,
            signature: [0; 64],
        };
        h.signature = self.key.sign(h.body().as_bytes()).to_bytes();
        h
    }
}

/// The four bytes that name a key in a signed note: the first bytes of
/// SHA-256(name ‖ 0x0A ‖ 0x01 ‖ Ed25519 public key).
fn key_id(origin: &str, key: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(origin.as_bytes());
    h.update([0x0A, 0x01]);
    h.update(key.as_bytes());
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SignedTreeHead {
    pub origin: String,
    pub size: u64,
    #[serde(with = "hex_bytes")]
    pub root: Hash,
    pub timestamp_ms: u64,
    #[serde(with = "hex_bytes")]
    pub signature: [u8; 64],
}

impl SignedTreeHead {
    /// The checkpoint body that is signed: origin, size, root in base64,
    /// and the signing time as an extension line.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\ntime {}\n",
            self.origin,
            self.size,
            B64.encode(self.root),
            self.timestamp_ms
        )
    }

    pub fn verify(&self, key: &VerifyingKey) -> Result<(), LedgerError> {
        let sig = ed25519_dalek::Signature::from_bytes(&self.signature);
        key.verify(self.body().as_bytes(), &sig)
            .map_err(|_| LedgerError::BadSignature)
    }

    /// The signed note a witness keeps: the body, a blank line, and one
    /// signature line.
    pub fn to_note(&self, key: &VerifyingKey) -> String {
        let mut sig = key_id(&self.origin, key).to_vec();
        sig.extend_from_slice(&self.signature);
        format!(
            "{}\n\u{2014} {} {}\n",
            self.body(),
            self.origin,
            B64.encode(sig)
        )
    }

    /// Reads a signed note back and checks its signature with `key`.
    pub fn from_note(note: &str, key: &VerifyingKey) -> Result<SignedTreeHead, LedgerError> {
        let bad = |why: &str| LedgerError::NotAHead("the note", why.to_string());
        let (body, sigs) = note
            .split_once("\n\n")
            .ok_or_else(|| bad("no blank line before the signature"))?;
        let mut lines = body.lines();
        let origin = lines.next().ok_or_else(|| bad("no origin line"))?;
        let size = lines
            .next()
            .and_then(|l| l.parse::<u64>().ok())
            .ok_or_else(|| bad("the second line is not a tree size"))?;
        let root: Hash = lines
            .next()
            .and_then(|l| B64.decode(l).ok())
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad("the third line is not a base64 SHA-256 root"))?;
        let timestamp_ms = lines
            .next()
            .and_then(|l| l.strip_prefix("time "))
            .and_then(|t| t.parse::<u64>().ok())
            .ok_or_else(|| bad("no time line"))?;
        let want = key_id(origin, key);
        for line in sigs.lines() {
            let Some(rest) = line.strip_prefix("\u{2014} ") else {
                continue;
            };
            let Some((name, sig)) = rest.split_once(' ') else {
                continue;
            };
            let Ok(raw) = B64.decode(sig) else { continue };
            if name != origin || raw.len() != 68 || raw[..4] != want {
                continue;
            }
            let mut signature = [0u8; 64];
            signature.copy_from_slice(&raw[4..]);
            let head = SignedTreeHead {
                origin: origin.to_string(),
                size,
                root,
                timestamp_ms,
                signature,
            };
            head.verify(key)?;
            if head.body() != format!("{body}\n") {
                return Err(bad("the body has lines this ledger does not write"));
            }
            return Ok(head);
        }
        Err(LedgerError::BadSignature)
    }
}

/// Fixed-size byte strings (hashes, signatures) as hex in JSON.
mod hex_bytes {
    pub fn serialize<S: serde::Serializer, const N: usize>(
        v: &[u8; N],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[u8; N], D::Error> {
        let t: String = serde::Deserialize::deserialize(d)?;
        hex::decode(&t)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| serde::de::Error::custom(format!("expected {} hex digits", 2 * N)))
    }
}
