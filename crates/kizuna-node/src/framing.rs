//! What the delivery service may read of an MLS message: its public framing
//! (group id, epoch, content type) and, for key packages, the public
//! credential. Nothing here holds or derives a key that decrypts content.

use openmls::prelude::tls_codec::Deserialize;
use openmls::prelude::{
    BasicCredential, Ciphersuite, ContentType, MlsMessageBodyIn, MlsMessageIn, ProtocolVersion,
};

pub const CIPHERSUITE: Ciphersuite = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    #[error("not a valid MLS message")]
    Garbage,
    #[error("expected {expected}, got {got}")]
    WrongKind {
        expected: &'static str,
        got: &'static str,
    },
    #[error("the message is for another group")]
    WrongGroup,
    #[error("application messages must be encrypted (PrivateMessage)")]
    NotEncrypted,
    #[error("invalid key package: {0}")]
    KeyPackage(String),
}

/// The public header of a handshake or application message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Framing {
    pub group_id: Vec<u8>,
    pub epoch: u64,
}

fn parse(bytes: &[u8]) -> Result<MlsMessageBodyIn, FramingError> {
    let msg = MlsMessageIn::tls_deserialize_exact(bytes).map_err(|_| FramingError::Garbage)?;
    Ok(msg.extract())
}

fn kind_name(b: &MlsMessageBodyIn) -> &'static str {
    match b {
        MlsMessageBodyIn::PublicMessage(_) => "a public handshake message",
        MlsMessageBodyIn::PrivateMessage(_) => "an encrypted message",
        MlsMessageBodyIn::Welcome(_) => "a Welcome",
        MlsMessageBodyIn::GroupInfo(_) => "a GroupInfo",
        MlsMessageBodyIn::KeyPackage(_) => "a key package",
        #[allow(unreachable_patterns)]
        _ => "another MLS message",
    }
}

/// An application message: must be a PrivateMessage of content type
/// application for `group_id`.
pub fn application(bytes: &[u8], group_id: &[u8]) -> Result<Framing, FramingError> {
    match parse(bytes)? {
        MlsMessageBodyIn::PrivateMessage(m) => {
            if m.content_type() != ContentType::Application {
                return Err(FramingError::WrongKind {
                    expected: "an application message",
                    got: "a handshake message",
                });
            }
            if m.group_id().as_slice() != group_id {
                return Err(FramingError::WrongGroup);
            }
            Ok(Framing {
                group_id: group_id.to_vec(),
                epoch: m.epoch().as_u64(),
            })
        }
        MlsMessageBodyIn::PublicMessage(_) => Err(FramingError::NotEncrypted),
        other => Err(FramingError::WrongKind {
            expected: "an application message",
            got: kind_name(&other),
        }),
    }
}

/// A commit, public or private, for `group_id`.
pub fn commit(bytes: &[u8], group_id: &[u8]) -> Result<Framing, FramingError> {
    let (gid, epoch, ct) = match parse(bytes)? {
        MlsMessageBodyIn::PrivateMessage(m) => (
            m.group_id().as_slice().to_vec(),
            m.epoch().as_u64(),
            m.content_type(),
        ),
        MlsMessageBodyIn::PublicMessage(m) => (
            m.group_id().as_slice().to_vec(),
            m.epoch().as_u64(),
            m.content_type(),
        ),
        other => {
            return Err(FramingError::WrongKind {
                expected: "a commit",
                got: kind_name(&other),
            })
        }
    };
    if ct != ContentType::Commit {
        return Err(FramingError::WrongKind {
            expected: "a commit",
            got: "another content type",
        });
    }
    if gid != group_id {
        return Err(FramingError::WrongGroup);
    }
    Ok(Framing {
        group_id: gid,
        epoch,
    })
}

pub fn welcome(bytes: &[u8]) -> Result<(), FramingError> {
    match parse(bytes)? {
        MlsMessageBodyIn::Welcome(_) => Ok(()),
        other => Err(FramingError::WrongKind {
            expected: "a Welcome",
            got: kind_name(&other),
        }),
    }
}

/// The facts the server checks on a key package: its signature is valid, it
/// uses Kizuna's ciphersuite, and its credential is this device's.
#[derive(Debug, Clone)]
pub struct KeyPackageFacts {
    pub identity: Vec<u8>,
    pub signature_key: Vec<u8>,
    pub last_resort: bool,
}

pub fn key_package(bytes: &[u8]) -> Result<KeyPackageFacts, FramingError> {
    let kp_in = match parse(bytes)? {
        MlsMessageBodyIn::KeyPackage(k) => k,
        other => {
            return Err(FramingError::WrongKind {
                expected: "a key package",
                got: kind_name(&other),
            })
        }
    };
    let crypto = openmls_rust_crypto::RustCrypto::default();
    let kp = kp_in
        .validate(&crypto, ProtocolVersion::Mls10)
        .map_err(|e| FramingError::KeyPackage(e.to_string()))?;
    if kp.ciphersuite() != CIPHERSUITE {
        return Err(FramingError::KeyPackage(format!(
            "ciphersuite must be {}",
            kizuna_wire::CIPHERSUITE_NAME
        )));
    }
    let leaf = kp.leaf_node();
    let cred = BasicCredential::try_from(leaf.credential().clone())
        .map_err(|_| FramingError::KeyPackage("credential must be a basic credential".into()))?;
    Ok(KeyPackageFacts {
        identity: cred.identity().to_vec(),
        signature_key: leaf.signature_key().as_slice().to_vec(),
        last_resort: kp.last_resort(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_refused() {
        assert_eq!(application(b"hello", b"g"), Err(FramingError::Garbage));
        assert_eq!(commit(&[], b"g"), Err(FramingError::Garbage));
        assert!(key_package(&[0, 1, 0, 5]).is_err());
    }
}
