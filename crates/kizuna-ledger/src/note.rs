//! Signed tree heads as signed notes (a C2SP `signed-note` around the
//! checkpoint body), the form outside witnesses keep and compare: writing
//! one, reading one back with its signature checked, and reading a file of
//! them.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha256};

use crate::head::SignedTreeHead;
use crate::merkle::Hash;
use crate::LedgerError;

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

impl SignedTreeHead {
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
        let keys = match lines.next() {
            None => None,
            Some(l) => Some(
                l.strip_prefix("keys ")
                    .and_then(|k| B64.decode(k).ok())
                    .and_then(|b| <Hash>::try_from(b).ok())
                    .ok_or_else(|| bad("the line after the time is not a key directory root"))?,
            ),
        };
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
                keys,
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

/// Splits a file of signed notes into its notes: each ends with its
/// signature lines (starting with an em dash), and blank lines between
/// notes are skipped.
pub fn notes(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if cur.is_empty() && line.trim().is_empty() {
            continue;
        }
        cur.push_str(line);
        cur.push('\n');
        let signature = line.starts_with('\u{2014}');
        let next_signature = lines.get(i + 1).is_some_and(|l| l.starts_with('\u{2014}'));
        if signature && !next_signature {
            out.push(std::mem::take(&mut cur));
        }
    }
    out
}

/// Every head in a file of signed notes, each checked with `key`; the first
/// that does not read or verify is the error.
pub fn read_notes(text: &str, key: &VerifyingKey) -> Result<Vec<SignedTreeHead>, LedgerError> {
    notes(text)
        .iter()
        .map(|n| SignedTreeHead::from_note(n, key))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TreeHeadKey;

    fn key() -> TreeHeadKey {
        TreeHeadKey::new("test.kizuna/ledger", [7; 32])
    }

    #[test]
    fn heads_travel_as_signed_notes() {
        let k = key();
        let head = k.sign(8, [3; 32], 1_700_000_000_000);
        let note = head.to_note(&k.verifying_key());
        assert!(note.starts_with("test.kizuna/ledger\n8\n"), "{note}");
        assert_eq!(
            SignedTreeHead::from_note(&note, &k.verifying_key()).unwrap(),
            head
        );
        let forged = note.replace("\n8\n", "\n9\n");
        assert!(SignedTreeHead::from_note(&forged, &k.verifying_key()).is_err());
        let other = TreeHeadKey::new("test.kizuna/ledger", [9; 32]);
        assert!(SignedTreeHead::from_note(&note, &other.verifying_key()).is_err());
    }

    #[test]
    fn a_file_of_notes_reads_back_as_its_heads() {
        let k = key();
        let heads: Vec<SignedTreeHead> = (1..=3u64)
            .map(|n| k.sign(n, [n as u8; 32], 1_700_000_000_000 + n))
            .collect();
        let vk = k.verifying_key();
        // As `kizuna audit heads --all` prints them (a blank line after
        // each), with stray blank lines and Windows line ends.
        let file = format!(
            "\n\n{}\n{}\n\n\n{}",
            heads[0].to_note(&vk),
            heads[1].to_note(&vk),
            heads[2].to_note(&vk).replace('\n', "\r\n")
        );
        assert_eq!(notes(&file).len(), 3);
        assert_eq!(read_notes(&file, &vk).unwrap(), heads);
        assert!(read_notes("", &vk).unwrap().is_empty());
    }

    #[test]
    fn a_witness_cosignature_stays_with_its_note() {
        let k = key();
        let vk = k.verifying_key();
        let head = k.sign(5, [5; 32], 1);
        // A witness adds its own signature line under the ledger's.
        let cosigned = format!("{}\u{2014} witness.example AAAA\n", head.to_note(&vk));
        let file = format!("{cosigned}\n{}", k.sign(6, [6; 32], 2).to_note(&vk));
        let split = notes(&file);
        assert_eq!(split.len(), 2);
        assert_eq!(split[0], cosigned);
        assert_eq!(SignedTreeHead::from_note(&split[0], &vk).unwrap(), head);
    }

    #[test]
    fn one_bad_note_fails_the_file() {
        let k = key();
        let vk = k.verifying_key();
        let good = k.sign(1, [1; 32], 1).to_note(&vk);
        let stranger = TreeHeadKey::new("test.kizuna/ledger", [8; 32]);
        let forged = stranger
            .sign(2, [2; 32], 2)
            .to_note(&stranger.verifying_key());
        let e = read_notes(&format!("{good}\n{forged}"), &vk).unwrap_err();
        assert!(matches!(e, LedgerError::BadSignature), "{e}");
        let damaged = good.replace("\ntime ", "\nwhen ");
        assert!(matches!(
            read_notes(&damaged, &vk).unwrap_err(),
            LedgerError::NotAHead(..)
        ));
    }
}
