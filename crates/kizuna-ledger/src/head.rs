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
        self.sign_with_keys(size, root, None, timestamp_ms)
    }

    /// Signs a head that also commits to the key directory's root at its
    /// size ([`crate::keymap`]).
    pub fn sign_with_keys(
        &self,
        size: u64,
        root: Hash,
        keys: Option<Hash>,
        timestamp_ms: u64,
    ) -> SignedTreeHead {
        let mut h = SignedTreeHead {
            origin: self.origin.clone(),
            size,
            root,
            timestamp_ms,
            keys,
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
    /// The key directory's root over the first `size` entries; heads
    /// signed before the directory existed have none.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "hex_opt")]
    pub keys: Option<Hash>,
    #[serde(with = "hex_bytes")]
    pub signature: [u8; 64],
}

impl SignedTreeHead {
    /// The checkpoint body that is signed: origin, size, root in base64,
    /// and as extension lines the signing time and the key directory's
    /// root.
    pub fn body(&self) -> String {
        let keys = self
            .keys
            .map(|k| format!("keys {}\n", B64.encode(k)))
            .unwrap_or_default();
        format!(
            "{}\n{}\n{}\ntime {}\n{keys}",
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

/// An optional hash as hex in JSON.
mod hex_opt {
    use crate::merkle::Hash;

    pub fn serialize<S: serde::Serializer>(v: &Option<Hash>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(h) => s.serialize_str(&hex::encode(h)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Hash>, D::Error> {
        let t: Option<String> = serde::Deserialize::deserialize(d)?;
        t.map(|t| {
            hex::decode(&t)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| serde::de::Error::custom("expected 64 hex digits"))
        })
        .transpose()
    }
}
