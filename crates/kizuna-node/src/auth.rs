//! User-realm authentication: devices prove possession of their identity key
//! (Ed25519) by signing a challenge, and receive short-lived bearer tokens.
//!
//! Everything lives in a [`UserAuth`] value owned by the server instance;
//! there is no global state, so another realm can run its own instance with
//! its own keys beside this one.

use std::collections::HashMap;
use std::sync::Mutex;

use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// How long a challenge may be answered.
const CHALLENGE_TTL_SECS: u64 = 120;
const TOKEN_PREFIX: &str = kizuna_wire::staff::USER_TOKEN_PREFIX;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("the token is malformed or was not issued by this server")]
    InvalidToken,
    #[error("the token has expired; ask for a new one")]
    Expired,
    #[error("the challenge is malformed, expired or for another device")]
    InvalidChallenge,
    #[error("the signature does not match the device key")]
    InvalidSignature,
    #[error("this challenge was already answered; ask for a new one and sign it")]
    ChallengeUsed,
}

/// The verified identity behind a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceIdentity {
    pub device_id: String,
    pub account_id: String,
}

impl DeviceIdentity {
    /// The person themselves, as their access records name them.
    pub fn requester(&self) -> kizuna_vault::Requester {
        kizuna_vault::Requester::Subject {
            device_id: self.device_id.clone(),
        }
    }
}

pub struct UserAuth {
    key: [u8; 32],
    token_ttl_secs: u64,
    /// The nonces of challenges already exchanged for a token, with when
    /// each was issued, so a captured answer cannot be replayed. Only an
    /// answer with a valid MAC and the device's own signature gets here, and
    /// each is forgotten once its challenge has expired, so the set holds
    /// at most the sign-ins of the last [`CHALLENGE_TTL_SECS`], which the
    /// edge's request limits bound; a flood of forged answers adds nothing.
    /// It is this node's: nodes that share the token key must share it too.
    redeemed: Mutex<HashMap<[u8; 16], u64>>,
}

fn now_secs() -> u64 {
    kizuna_wire::now_ms() / 1000
}

impl UserAuth {
    pub fn new(key: [u8; 32], token_ttl_secs: u64) -> Self {
        UserAuth {
            key,
            token_ttl_secs,
            redeemed: Mutex::new(HashMap::new()),
        }
    }

    fn mac(&self, label: &[u8], parts: &[&[u8]]) -> [u8; 32] {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        m.update(label);
        for p in parts {
            m.update(&(p.len() as u32).to_be_bytes());
            m.update(p);
        }
        m.finalize().into_bytes().into()
    }

    /// A stateless challenge: time, randomness and a MAC binding both to the
    /// device, so any node holding the key can check the answer.
    pub fn challenge(&self, device_id: &str) -> String {
        let mut nonce = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut nonce);
        let ts = now_secs().to_be_bytes();
        let mac = self.mac(b"challenge", &[&ts, &nonce, device_id.as_bytes()]);
        format!(
            "{}{}{}",
            hex::encode(ts),
            hex::encode(nonce),
            hex::encode(&mac[..16])
        )
    }

    /// Checks the challenge's MAC, device and age, and answers its nonce
    /// and when it was issued.
    fn check_challenge(
        &self,
        device_id: &str,
        challenge: &str,
    ) -> Result<([u8; 16], u64), AuthError> {
        let raw = hex::decode(challenge).map_err(|_| AuthError::InvalidChallenge)?;
        if raw.len() != 8 + 16 + 16 {
            return Err(AuthError::InvalidChallenge);
        }
        let (ts, rest) = raw.split_at(8);
        let (nonce, tag) = rest.split_at(16);
        let expect = self.mac(b"challenge", &[ts, nonce, device_id.as_bytes()]);
        if !constant_time_eq(&expect[..16], tag) {
            return Err(AuthError::InvalidChallenge);
        }
        let ts = u64::from_be_bytes(ts.try_into().map_err(|_| AuthError::InvalidChallenge)?);
        if now_secs().saturating_sub(ts) > CHALLENGE_TTL_SECS {
            return Err(AuthError::InvalidChallenge);
        }
        let nonce = nonce.try_into().map_err(|_| AuthError::InvalidChallenge)?;
        Ok((nonce, ts))
    }

    /// Marks a challenge as answered; refuses one answered before. Expired
    /// ones are dropped first: past their age they are refused anyway.
    fn redeem(&self, nonce: [u8; 16], issued: u64) -> Result<(), AuthError> {
        let mut redeemed = match self.redeemed.lock() {
            Ok(r) => r,
            Err(p) => p.into_inner(),
        };
        let now = now_secs();
        redeemed.retain(|_, at| now.saturating_sub(*at) <= CHALLENGE_TTL_SECS);
        if redeemed.insert(nonce, issued).is_some() {
            return Err(AuthError::ChallengeUsed);
        }
        Ok(())
    }

    /// Checks the device's signature over the challenge and issues a token.
    pub fn answer(
        &self,
        identity: &DeviceIdentity,
        device_key: &[u8],
        challenge: &str,
        signature: &[u8],
    ) -> Result<(String, u64), AuthError> {
        let (nonce, issued) = self.check_challenge(&identity.device_id, challenge)?;
        verify_signature(
            device_key,
            &kizuna_wire::auth_signing_input(&identity.device_id, challenge),
            signature,
        )?;
        // Only after the signature holds: whoever merely saw a challenge
        // cannot spend it before its device does.
        self.redeem(nonce, issued)?;
        Ok(self.issue(identity))
    }

    pub fn issue(&self, identity: &DeviceIdentity) -> (String, u64) {
        let exp = now_secs() + self.token_ttl_secs;
        let exp_s = exp.to_string();
        let mac = self.mac(
            b"token",
            &[
                identity.device_id.as_bytes(),
                identity.account_id.as_bytes(),
                exp_s.as_bytes(),
            ],
        );
        (
            format!(
                "{TOKEN_PREFIX}.{}.{}.{}.{}",
                identity.device_id,
                identity.account_id,
                exp_s,
                hex::encode(mac)
            ),
            exp,
        )
    }

    pub fn verify(&self, token: &str) -> Result<DeviceIdentity, AuthError> {
        let mut parts = token.split('.');
        let (Some(TOKEN_PREFIX), Some(device), Some(account), Some(exp), Some(tag), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(AuthError::InvalidToken);
        };
        let tag = hex::decode(tag).map_err(|_| AuthError::InvalidToken)?;
        let expect = self.mac(
            b"token",
            &[device.as_bytes(), account.as_bytes(), exp.as_bytes()],
        );
        if !constant_time_eq(&expect, &tag) {
            return Err(AuthError::InvalidToken);
        }
        let exp: u64 = exp.parse().map_err(|_| AuthError::InvalidToken)?;
        if now_secs() >= exp {
            return Err(AuthError::Expired);
        }
        Ok(DeviceIdentity {
            device_id: device.to_string(),
            account_id: account.to_string(),
        })
    }
}

/// Verifies an Ed25519 signature by a raw 32-byte public key.
pub fn verify_signature(
    public_key: &[u8],
    message: &[u8],
    signature: &[u8],
) -> Result<(), AuthError> {
    let pk: [u8; 32] = public_key
        .try_into()
        .map_err(|_| AuthError::InvalidSignature)?;
    let key = VerifyingKey::from_bytes(&pk).map_err(|_| AuthError::InvalidSignature)?;
    let sig = Signature::from_slice(signature).map_err(|_| AuthError::InvalidSignature)?;
    key.verify(message, &sig)
        .map_err(|_| AuthError::InvalidSignature)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> DeviceIdentity {
        DeviceIdentity {
            device_id: "d1".into(),
            account_id: "a1".into(),
        }
    }

    #[test]
    fn tokens_verify_only_with_their_key() {
        let a = UserAuth::new([7; 32], 60);
        let b = UserAuth::new([8; 32], 60);
        let (t, _) = a.issue(&id());
        assert_eq!(a.verify(&t).unwrap(), id());
        assert_eq!(b.verify(&t), Err(AuthError::InvalidToken));
        let forged = t.replacen("d1", "d2", 1);
        assert_eq!(a.verify(&forged), Err(AuthError::InvalidToken));
        assert_eq!(a.verify("garbage"), Err(AuthError::InvalidToken));
    }

    #[test]
    fn expired_tokens_are_refused() {
        let a = UserAuth::new([7; 32], 0);
        let (t, _) = a.issue(&id());
        assert_eq!(a.verify(&t), Err(AuthError::Expired));
    }

    #[test]
    fn challenges_are_bound_to_the_device() {
        let a = UserAuth::new([7; 32], 60);
        let c = a.challenge("d1");
        assert!(a.check_challenge("d1", &c).is_ok());
        assert!(a.check_challenge("d2", &c).is_err());
    }

    #[test]
    fn a_signed_challenge_is_exchanged_for_a_token_once() {
        use ed25519_dalek::Signer;
        let a = UserAuth::new([7; 32], 60);
        let device = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
        let public = device.verifying_key().to_bytes();
        let c = a.challenge("d1");
        let sig = device
            .sign(&kizuna_wire::auth_signing_input("d1", &c))
            .to_bytes();
        // A wrong signature does not spend the challenge.
        assert_eq!(
            a.answer(&id(), &public, &c, &[0; 64]),
            Err(AuthError::InvalidSignature)
        );
        assert!(a.answer(&id(), &public, &c, &sig).is_ok());
        assert_eq!(
            a.answer(&id(), &public, &c, &sig),
            Err(AuthError::ChallengeUsed)
        );
        // A fresh challenge still works.
        let c2 = a.challenge("d1");
        let sig2 = device
            .sign(&kizuna_wire::auth_signing_input("d1", &c2))
            .to_bytes();
        assert!(a.answer(&id(), &public, &c2, &sig2).is_ok());
    }
}
