//! Application content with its franking: sealed for sending with a fresh
//! key, and checked on arrival against the commitment the node bound, so
//! that every message kept here can be reported.

use kizuna_wire::{Bytes, ChatContent, Envelope, FrankedContent};

use crate::error::{ClientError, Result};
use crate::FrankProof;

/// The content of an application message, and what proves it in a report:
/// the franking key inside it must open the commitment the node bound, or
/// the message is refused (one that could not be reported is not kept).
/// Content from before franking carries no proof.
pub(super) fn unpack(
    plain: &[u8],
    env: &Envelope,
    sender: &str,
) -> Result<(ChatContent, Option<FrankProof>)> {
    let unframed =
        || ClientError::Protocol("a franked message arrived without its franking".into());
    // Only a message the node accepted before franking comes without it;
    // one with a commitment must open it, or its sender could send what its
    // recipient cannot report.
    let Some(f) = env.franking.as_ref() else {
        if serde_json::from_slice::<FrankedContent>(plain).is_ok() {
            return Err(unframed());
        }
        let content = serde_json::from_slice(plain)
            .map_err(|e| ClientError::Protocol(format!("unreadable content: {e}")))?;
        return Ok((content, None));
    };
    let franked: FrankedContent = serde_json::from_slice(plain).map_err(|_| {
        ClientError::Protocol(
            "the message carries no franking key for its commitment; it was refused, as it \
             could not be reported"
                .into(),
        )
    })?;
    let key32 = |b: &Bytes| <[u8; 32]>::try_from(b.0.as_slice()).map_err(|_| unframed());
    let proof = FrankProof {
        body: franked.body,
        key: key32(&franked.franking_key)?,
        commitment: key32(&f.commitment)?,
        binding: key32(&f.binding)?,
    };
    if !kizuna_franking::opens(
        &kizuna_franking::FrankingKey(proof.key),
        &kizuna_franking::Commitment(proof.commitment),
        proof.body.as_bytes(),
        &env.group_id.0,
        sender,
    ) {
        return Err(ClientError::Protocol(
            "the sender's franking commitment does not match the message; it was refused, \
             as it could not be reported"
                .into(),
        ));
    }
    let content = serde_json::from_str(&proof.body)
        .map_err(|e| ClientError::Protocol(format!("unreadable content: {e}")))?;
    Ok((content, Some(proof)))
}

/// Seals content for sending: the body the commitment covers, with a fresh
/// franking key, as the MLS plaintext; and the commitment to send beside
/// the ciphertext.
pub fn franked(content: &ChatContent, chat: &[u8], sender: &str) -> Result<(Vec<u8>, FrankProof)> {
    let body = serde_json::to_string(content).map_err(|e| ClientError::Invalid(e.to_string()))?;
    let (key, commitment) = kizuna_franking::commit(body.as_bytes(), chat, sender);
    let plain = serde_json::to_vec(&FrankedContent {
        body: body.clone(),
        franking_key: Bytes(key.0.to_vec()),
    })
    .map_err(|e| ClientError::Invalid(e.to_string()))?;
    Ok((
        plain,
        FrankProof {
            body,
            key: key.0,
            commitment: commitment.0,
            binding: [0; 32],
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kizuna_wire::{EnvelopeKind, Franking};

    fn envelope(franking: Option<Franking>) -> Envelope {
        Envelope {
            seq: 1,
            kind: EnvelopeKind::Application,
            group_id: Bytes(vec![1, 2, 3]),
            group_seq: 4,
            sender_handle: "bob".into(),
            sender_device: "d".into(),
            server_time: 5,
            payload: Bytes(Vec::new()),
            franking,
        }
    }

    fn text(t: &str) -> ChatContent {
        ChatContent::Text {
            text: t.into(),
            name: None,
        }
    }

    #[test]
    fn a_franked_message_keeps_its_proof() {
        let (plain, proof) = franked(&text("hi"), &[1, 2, 3], "bob").unwrap();
        let f = Franking {
            commitment: Bytes(proof.commitment.to_vec()),
            binding: Bytes(vec![9; 32]),
        };
        let (content, kept) = unpack(&plain, &envelope(Some(f)), "bob").unwrap();
        assert!(matches!(content, ChatContent::Text { text, .. } if text == "hi"));
        let kept = kept.unwrap();
        assert_eq!((kept.body, kept.key), (proof.body, proof.key));
        assert_eq!(kept.binding, [9; 32]);
    }

    #[test]
    fn a_message_its_recipient_could_not_report_is_refused() {
        let (plain, proof) = franked(&text("hi"), &[1, 2, 3], "bob").unwrap();
        let f = |c: [u8; 32]| Franking {
            commitment: Bytes(c.to_vec()),
            binding: Bytes(vec![9; 32]),
        };
        // A commitment the key inside does not open, or one claimed for
        // another sender.
        assert!(unpack(&plain, &envelope(Some(f([0; 32]))), "bob").is_err());
        assert!(unpack(&plain, &envelope(Some(f(proof.commitment))), "eve").is_err());
        // Content without a franking key under a commitment: unreportable.
        let bare = serde_json::to_vec(&text("hi")).unwrap();
        assert!(unpack(&bare, &envelope(Some(f(proof.commitment))), "bob").is_err());
        // Franked content whose commitment the node never saw.
        assert!(unpack(&plain, &envelope(None), "bob").is_err());
        // What the node accepted before franking reads as before.
        let (_, none) = unpack(&bare, &envelope(None), "bob").unwrap();
        assert!(none.is_none());
    }
}
