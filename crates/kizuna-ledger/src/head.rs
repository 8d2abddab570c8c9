//! Signed tree heads: the ledger's own signing key, and the checkpoint body
//! (C2SP `tlog-checkpoint`) it signs. Their signed-note form is in `note`.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};

use crate::merkle::Hash;
use crate::LedgerError;

/// The ledger's public key as a node publishes it: its 32 Ed25519 bytes
/// in hex. `None` when the text is not such a key.
pub fn key_from_hex(hex: &str) -> Option<VerifyingKey> {
    let bytes: [u8; 32] = hex::decode(hex).ok()?.try_into().ok()?;
    VerifyingKey::from_bytes(&bytes).ok()
}

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

    /// Signs a statement the ledger's key vouches for besides its heads
    /// (an erased person's entry, say). A statement starts with its own
    /// label and a NUL, which no checkpoint body (origin, newline) can, so
    /// a signature on one is never taken for the other.
    pub fn attest(&self, statement: &[u8]) -> [u8; 64] {
        self.key.sign(statement).to_bytes()
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

/// Whether `signature` is the ledger key's over `statement`
/// ([`TreeHeadKey::attest`]).
pub fn attested(key: &VerifyingKey, statement: &[u8], signature: &[u8]) -> bool {
    let Ok(sig) = ed25519_dalek::Signature::from_slice(signature) else {
        return false;
    };
    key.verify_strict(statement, &sig).is_ok()
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
