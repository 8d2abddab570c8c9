//! Safety numbers: what two people compare in person, or over another
//! channel, to know that the keys their chats use are each other's and not
//! keys the node slipped in. The number is made from the device keys each
//! person's devices use in the chats the two share (as MLS carries them,
//! not as the node describes them), so it changes whenever a device is
//! added or replaced. Confirming a number keeps the other person's half on
//! this device; a change from then on is a warning until confirmed again.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha512};

use crate::error::{ClientError, Result};
use crate::{mls, Client};

/// Rounds of SHA-512 per half, so a key made to match a number costs far
/// more than comparing one.
const ROUNDS: usize = 5200;
const VERSION: &[u8] = b"kizuna safety number v1";

/// A safety number with one contact.
#[derive(Clone, Debug, Serialize)]
pub struct SafetyNumber {
    pub handle: String,
    /// Sixty digits in twelve groups of five: the same on both sides.
    pub digits: String,
    /// The same, as text a QR code carries.
    pub text: String,
    pub standing: KeyStanding,
}

/// Where a contact's keys stand against what this person confirmed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum KeyStanding {
    Unverified,
    Verified {
        at: u64,
    },
    /// Confirmed at `verified_at`; their keys differ since.
    Changed {
        verified_at: u64,
    },
}

/// What this device keeps of a confirmed number: the contact's half.
#[derive(Serialize, Deserialize)]
struct Confirmed {
    half: String,
    at: u64,
}

fn meta_key(handle: &str) -> String {
    format!("verified:{handle}")
}

/// The number last shown for `handle`: what a confirmation confirms.
fn shown_key(handle: &str) -> String {
    format!("safety-shown:{handle}")
}

/// One person's half: their handle and the sorted keys of their devices,
/// hashed over and over.
fn half(handle: &str, keys: &BTreeSet<Vec<u8>>) -> [u8; 30] {
    let mut all = Vec::new();
    for k in keys {
        all.extend_from_slice(&(k.len() as u32).to_be_bytes());
        all.extend_from_slice(k);
    }
    let mut h = Sha512::new();
    h.update(VERSION);
    h.update((handle.len() as u32).to_be_bytes());
    h.update(handle.as_bytes());
    h.update(&all);
    let mut d = h.finalize();
    for _ in 0..ROUNDS {
        let mut h = Sha512::new();
        h.update(d);
        h.update(&all);
        d = h.finalize();
    }
    let mut out = [0u8; 30];
    out.copy_from_slice(&d[..30]);
    out
}

/// Thirty digits: five for each five bytes.
fn digits_of(half: &[u8; 30]) -> Vec<String> {
    half.chunks(5)
        .map(|c| {
            let n = c.iter().fold(0u64, |n, b| (n << 8) | *b as u64);
            format!("{:05}", n % 100_000)
        })
        .collect()
}

impl Client {
    /// Each handle's device keys as the chats shared with `handle` use
    /// them: `handle`'s and this account's.
    fn keys_shared_with(
        &self,
        chats: &[String],
        handle: &str,
    ) -> BTreeMap<String, BTreeSet<Vec<u8>>> {
        let me = &self.identity().handle;
        let mut keys: BTreeMap<String, BTreeSet<Vec<u8>>> = BTreeMap::new();
        for chat in chats {
            let Ok(group) = self.load_group(chat) else {
                continue;
            };
            let members = mls::member_keys(&group);
            if !members.iter().any(|(h, _)| h == handle) {
                continue;
            }
            for (h, key) in members {
                if &h == me || h == handle {
                    keys.entry(h).or_default().insert(key);
                }
            }
        }
        keys
    }

    /// The safety number with `handle`, from the keys of the chats shared
    /// with them, and whether this person confirmed it. Kept as the
    /// number last shown, which [`Client::confirm_safety_number`] confirms.
    pub async fn safety_number(&mut self, handle: &str) -> Result<SafetyNumber> {
        let (n, _) = self.number_with(handle).await?.ok_or_else(|| {
            ClientError::Invalid(format!(
                "you share no chat with {handle}: a safety number comes from the keys a chat uses; start one with `kizuna chat create {handle}`"
            ))
        })?;
        self.local
            .set_meta(&shown_key(handle), n.digits.as_bytes())
            .await?;
        Ok(n)
    }

    /// The number with `handle` and their half, or none while no chat is
    /// shared with them.
    async fn number_with(&mut self, handle: &str) -> Result<Option<(SafetyNumber, String)>> {
        // What the chats hold as this device last wrote it.
        let _g = self.begin().await?;
        let me = self.identity().handle.clone();
        if handle == me {
            return Err(ClientError::Invalid(
                "a safety number is compared with someone else; `kizuna devices` lists your own devices".into(),
            ));
        }
        let chats: Vec<String> = self.chats().await?.into_iter().map(|c| c.chat).collect();
        let keys = self.keys_shared_with(&chats, handle);
        let (Some(mine), Some(theirs)) = (keys.get(&me), keys.get(handle)) else {
            return Ok(None);
        };
        let (my_half, their_half) = (half(&me, mine), half(handle, theirs));
        // Both sides order the halves by handle, so both see one number.
        let (first, second) = if me.as_str() < handle {
            ((me.as_str(), &my_half), (handle, &their_half))
        } else {
            ((handle, &their_half), (me.as_str(), &my_half))
        };
        let groups: Vec<String> = digits_of(first.1)
            .into_iter()
            .chain(digits_of(second.1))
            .collect();
        let theirs = hex::encode(their_half);
        let standing = match self.confirmed(handle).await? {
            None => KeyStanding::Unverified,
            Some(c) if c.half == theirs => KeyStanding::Verified { at: c.at },
            Some(c) => KeyStanding::Changed { verified_at: c.at },
        };
        let n = SafetyNumber {
            handle: handle.to_string(),
            digits: groups.join(" "),
            text: format!(
                "kizuna-safety:1:{}:{}:{}:{}",
                first.0,
                hex::encode(first.1),
                second.0,
                hex::encode(second.1)
            ),
            standing,
        };
        Ok(Some((n, theirs)))
    }

    /// Marks the safety number with `handle` as compared and matching:
    /// `seen` is the number the person compared (its digits), or none for
    /// the one this device last showed. Their keys are confirmed only if
    /// the number is still that one, so a device added while the person
    /// compared is never confirmed unseen.
    pub async fn confirm_safety_number(
        &mut self,
        handle: &str,
        seen: Option<&str>,
    ) -> Result<SafetyNumber> {
        let seen = match seen {
            Some(s) => Some(s.to_string()),
            None => self.local.meta_string(&shown_key(handle)).await?,
        };
        let Some(seen) = seen else {
            return Err(ClientError::Invalid(format!(
                "compare the number first: `kizuna verify {handle}` shows it"
            )));
        };
        let (n, theirs) = self.number_with(handle).await?.ok_or_else(|| {
            ClientError::Invalid(format!(
                "you share no chat with {handle} to confirm keys of"
            ))
        })?;
        let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        if words(&seen) != n.digits {
            return Err(ClientError::Invalid(format!(
                "the safety number with {handle} changed since it was shown (a device was added or replaced); compare the new one: `kizuna verify {handle}`"
            )));
        }
        let confirmed = Confirmed {
            half: theirs,
            at: kizuna_wire::now_ms(),
        };
        let bytes =
            serde_json::to_vec(&confirmed).map_err(|e| ClientError::Protocol(e.to_string()))?;
        self.local.set_meta(&meta_key(handle), &bytes).await?;
        self.accept_logged_account(handle).await?;
        self.safety_number(handle).await
    }

    async fn confirmed(&self, handle: &str) -> Result<Option<Confirmed>> {
        Ok(self
            .local
            .meta(&meta_key(handle))
            .await?
            .and_then(|b| serde_json::from_slice(&b).ok()))
    }

    /// The contacts this person confirmed whose keys changed since, each
    /// a warning until confirmed again. One no chat is shared with any
    /// more has no keys in use to warn of.
    pub async fn changed_keys(&mut self) -> Result<Vec<SafetyNumber>> {
        let mut out = Vec::new();
        for key in self.local.meta_keys("verified:").await? {
            let handle = key.trim_start_matches("verified:");
            if let Some((n, _)) = self.number_with(handle).await? {
                if matches!(n.standing, KeyStanding::Changed { .. }) {
                    out.push(n);
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_are_thirty_digits_and_change_with_any_key() {
        let keys: BTreeSet<Vec<u8>> = [vec![1u8; 32], vec![2u8; 32]].into();
        let a = half("bob", &keys);
        let d = digits_of(&a).join("");
        assert_eq!(d.len(), 30);
        assert!(d.bytes().all(|b| b.is_ascii_digit()));
        let mut more = keys.clone();
        more.insert(vec![3u8; 32]);
        assert_ne!(half("bob", &more), a, "a device added");
        assert_ne!(half("bobby", &keys), a, "another person");
        assert_eq!(half("bob", &keys), a);
    }
}
