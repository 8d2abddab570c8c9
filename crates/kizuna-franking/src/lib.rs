//! Message franking: a device commits to each message's plaintext with a
//! fresh key it sends inside the encrypted message, and the node binds that
//! commitment to sender, chat and time when it accepts the message, so a
//! recipient can later reveal one message to the service and prove it is
//! exactly what that sender sent in that chat, while the node never sees a
//! message nobody reported.
//!
//! The construction (HMAC-SHA256 throughout):
//!
//! - sender: `kf` = 32 random bytes; `commitment = HMAC(kf, "kizuna-frank-v1"
//!   ‖ chat ‖ sender ‖ plaintext)` (each part length-prefixed); `kf` travels
//!   inside the MLS ciphertext, `commitment` beside it in the clear;
//! - node, on accepting: `binding = HMAC(node key, "kizuna-bind-v1" ‖
//!   commitment ‖ sender ‖ chat ‖ time)`, delivered with the message;
//! - report: the recipient reveals plaintext, `kf`, commitment, binding,
//!   sender, chat and time; the node recomputes both and compares in
//!   constant time.
//!
//! A report with altered text fails the commitment; one naming another
//! sender, chat or time, or carrying the binding of another message, fails
//! the binding.

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// The key a sender commits with, one per message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrankingKey(pub [u8; 32]);

/// What the sender sends in the clear beside the ciphertext.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Commitment(pub [u8; 32]);

/// What the node attaches when it accepts the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Binding(pub [u8; 32]);

/// Where a message was sent, by whom and when, as the node recorded it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Envelope<'a> {
    pub chat: &'a [u8],
    pub sender: &'a str,
    /// The node's acceptance time, in milliseconds since the epoch.
    pub time_ms: u64,
}

/// One reported message, as the reporter reveals it.
#[derive(Clone, Copy, Debug)]
pub struct Revealed<'a> {
    pub plaintext: &'a [u8],
    pub key: FrankingKey,
    pub commitment: Commitment,
    pub binding: Binding,
    pub envelope: Envelope<'a>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrankingError {
    #[error("the reported text is not what the sender committed to: it was altered")]
    Altered,
    #[error(
        "the message was not accepted by this service from that sender, in that chat, at that time"
    )]
    NotBound,
}

fn mac(key: &[u8], parts: &[&[u8]]) -> Hmac<Sha256> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    for p in parts {
        m.update(&(p.len() as u64).to_be_bytes());
        m.update(p);
    }
    m
}

/// A fresh key and the commitment to `plaintext` in `chat` by `sender`.
pub fn commit(plaintext: &[u8], chat: &[u8], sender: &str) -> (FrankingKey, Commitment) {
    let mut kf = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut kf);
    let key = FrankingKey(kf);
    (key, commitment(&key, plaintext, chat, sender))
}

/// Whether `commitment` is the sender's commitment to `plaintext` in `chat`
/// under `key`: a recipient checks it on arrival, so that a message it
/// could not report is refused rather than kept.
pub fn opens(
    key: &FrankingKey,
    commitment: &Commitment,
    plaintext: &[u8],
    chat: &[u8],
    sender: &str,
) -> bool {
    mac(
        &key.0,
        &[b"kizuna-frank-v1", chat, sender.as_bytes(), plaintext],
    )
    .verify_slice(&commitment.0)
    .is_ok()
}

fn commitment(key: &FrankingKey, plaintext: &[u8], chat: &[u8], sender: &str) -> Commitment {
    Commitment(
        mac(
            &key.0,
            &[b"kizuna-frank-v1", chat, sender.as_bytes(), plaintext],
        )
        .finalize()
        .into_bytes()
        .into(),
    )
}

fn binding_mac(node_key: &[u8; 32], c: &Commitment, e: &Envelope<'_>) -> Hmac<Sha256> {
    mac(
        node_key,
        &[
            b"kizuna-bind-v1",
            &c.0,
            e.sender.as_bytes(),
            e.chat,
            &e.time_ms.to_be_bytes(),
        ],
    )
}

/// The node's binding of a commitment to who sent it, where and when.
pub fn bind(node_key: &[u8; 32], c: &Commitment, e: &Envelope<'_>) -> Binding {
    Binding(binding_mac(node_key, c, e).finalize().into_bytes().into())
}

/// Checks a reported message: its text against the sender's commitment,
/// and the commitment against the node's binding.
pub fn verify(node_key: &[u8; 32], r: &Revealed<'_>) -> Result<(), FrankingError> {
    // The binding first: a report naming the wrong sender, chat or time is
    // told so, rather than that its text was altered.
    binding_mac(node_key, &r.commitment, &r.envelope)
        .verify_slice(&r.binding.0)
        .map_err(|_| FrankingError::NotBound)?;
    if opens(
        &r.key,
        &r.commitment,
        r.plaintext,
        r.envelope.chat,
        r.envelope.sender,
    ) {
        Ok(())
    } else {
        Err(FrankingError::Altered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODE: [u8; 32] = [9; 32];

    fn sent<'a>(text: &'a [u8], chat: &'a [u8], sender: &'a str, at: u64) -> Revealed<'a> {
        let (key, commitment) = commit(text, chat, sender);
        let envelope = Envelope {
            chat,
            sender,
            time_ms: at,
        };
        Revealed {
            plaintext: text,
            key,
            commitment,
            binding: bind(&NODE, &commitment, &envelope),
            envelope,
        }
    }

    #[test]
    fn a_genuine_report_verifies() {
        let r = sent(b"buy my pills", b"chat-1", "mallory", 1_000);
        assert_eq!(verify(&NODE, &r), Ok(()));
    }

    #[test]
    fn altered_text_is_refused() {
        let mut r = sent(b"see you at noon", b"chat-1", "bob", 1_000);
        r.plaintext = b"see you at midnight";
        assert_eq!(verify(&NODE, &r), Err(FrankingError::Altered));
    }

    #[test]
    fn another_sender_chat_or_time_is_refused() {
        let r = sent(b"hello", b"chat-1", "bob", 1_000);
        // Claimed against someone else: the commitment names its sender.
        let other = Revealed {
            envelope: Envelope {
                sender: "carol",
                ..r.envelope
            },
            ..r
        };
        assert_eq!(verify(&NODE, &other), Err(FrankingError::NotBound));
        let elsewhere = Revealed {
            envelope: Envelope {
                chat: b"chat-2",
                ..r.envelope
            },
            ..r
        };
        assert_eq!(verify(&NODE, &elsewhere), Err(FrankingError::NotBound));
        let later = Revealed {
            envelope: Envelope {
                time_ms: 2_000,
                ..r.envelope
            },
            ..r
        };
        assert_eq!(verify(&NODE, &later), Err(FrankingError::NotBound));
    }

    #[test]
    fn a_binding_replayed_from_another_message_is_refused() {
        let genuine = sent(b"first", b"chat-1", "bob", 1_000);
        let forged_text = b"something bob never said";
        let (key, commitment) = commit(forged_text, b"chat-1", "bob");
        let replayed = Revealed {
            plaintext: forged_text,
            key,
            commitment,
            binding: genuine.binding,
            envelope: genuine.envelope,
        };
        assert_eq!(verify(&NODE, &replayed), Err(FrankingError::NotBound));
    }

    #[test]
    fn a_recipient_checks_the_commitment_on_arrival() {
        let (key, c) = commit(b"hi", b"chat-1", "bob");
        assert!(opens(&key, &c, b"hi", b"chat-1", "bob"));
        assert!(!opens(&key, &c, b"hi!", b"chat-1", "bob"));
        assert!(!opens(&key, &c, b"hi", b"chat-1", "eve"));
        assert!(!opens(&FrankingKey([0; 32]), &c, b"hi", b"chat-1", "bob"));
    }

    #[test]
    fn another_nodes_key_does_not_verify() {
        let r = sent(b"hello", b"chat-1", "bob", 1_000);
        assert_eq!(verify(&[8; 32], &r), Err(FrankingError::NotBound));
    }
}
