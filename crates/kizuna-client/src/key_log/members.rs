//! The members a device meets in its chats (those a Welcome brings, those
//! other members add), checked against the key log once stored, and what
//! it was told of the ones the log does not bind to their person.

use crate::mls::MemberKey;
use crate::{Client, ClientError, Event, Result};

/// The meta key of the members met in chats whose keys the key log has
/// not been asked about yet.
pub(crate) const UNCHECKED_MEMBERS: &str = "members_unchecked";

/// The meta key of the members the key log did not bind to their person:
/// kept, so a warning outlives the sync or the app that first told it,
/// until its person compares the safety number.
const MEMBERS_NOT_LOGGED: &str = "members_not_logged";

/// A member the key log did not bind to the person it claims to be.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct NotLogged {
    member: MemberKey,
    why: String,
}

impl Client {
    /// The chat members the key log did not bind to the person they claim
    /// to be, as [`Event::KeyNotLogged`], until that person's safety number
    /// is confirmed.
    pub async fn members_not_logged(&self) -> Result<Vec<Event>> {
        Ok(self
            .not_logged_kept()
            .await?
            .into_iter()
            .map(|n| key_not_logged(&n.member, n.why))
            .collect())
    }

    async fn not_logged_kept(&self) -> Result<Vec<NotLogged>> {
        match self.local.meta(MEMBERS_NOT_LOGGED).await? {
            Some(b) => serde_json::from_slice(&b).map_err(|e| ClientError::Local {
                path: self.home.clone(),
                reason: format!("the warnings about chat members are damaged: {e}"),
            }),
            None => Ok(Vec::new()),
        }
    }

    /// The members met in chats and not yet checked against the key log.
    pub(crate) async fn unchecked_members(&self) -> Result<Vec<MemberKey>> {
        match self.local.meta(UNCHECKED_MEMBERS).await? {
            Some(b) => serde_json::from_slice(&b).map_err(|e| ClientError::Local {
                path: self.home.clone(),
                reason: format!("the members waiting for a key-log check are damaged: {e}"),
            }),
            None => Ok(Vec::new()),
        }
    }

    /// Checks the members met in chats (a Welcome's, and those other
    /// members added) against the key log: each must be a device the log
    /// binds to the account that holds their handle. One that is not is
    /// told once as [`Event::KeyNotLogged`]; a handle the log cannot be
    /// asked about now waits for the next sync. A log that does not hold
    /// up against what this device verified before stops it.
    pub(crate) async fn check_member_keys(&mut self) -> Result<Vec<Event>> {
        let unchecked = self.unchecked_members().await?;
        if unchecked.is_empty() {
            return Ok(Vec::new());
        }
        let mut handles: Vec<String> = unchecked.iter().map(|m| m.handle.clone()).collect();
        handles.sort_unstable();
        handles.dedup();
        let mut found = Vec::new();
        let mut waiting = Vec::new();
        let not_logged = |m: &MemberKey, why: String| NotLogged {
            member: m.clone(),
            why,
        };
        for handle in handles {
            let members = unchecked.iter().filter(|m| m.handle == handle);
            // A credential that names no Kizuna person is no one the log
            // could vouch for.
            if !kizuna_wire::valid_handle(&handle) {
                found.extend(
                    members.map(|m| {
                        not_logged(m, "its credential does not name a Kizuna person".into())
                    }),
                );
                continue;
            }
            let why = match self.logged_keys_held(&handle).await {
                Ok(logged) => {
                    for m in members {
                        // Bound when the chat took it in, if not now: a
                        // device revoked since is not an impostor.
                        let bound = (m.device_id.clone(), m.key.clone());
                        if !logged.ever_bound.contains(&bound) {
                            found.push(not_logged(
                                m,
                                format!(
                                    "the key log does not show device {} as {handle}'s",
                                    m.device_id
                                ),
                            ));
                        }
                    }
                    continue;
                }
                Err(ClientError::KeysNotLogged(why)) => why,
                Err(e @ ClientError::LedgerTampered(_)) => return Err(e),
                Err(_) => {
                    waiting.extend(members.cloned());
                    continue;
                }
            };
            found.extend(members.map(|m| not_logged(m, why.clone())));
        }
        waiting.dedup();
        // What is found is kept in the write that takes it off the queue:
        // a crash loses neither.
        let mut kept = self.not_logged_kept().await?;
        for n in &found {
            if !kept.contains(n) {
                kept.push(n.clone());
            }
        }
        let bytes =
            |v: serde_json::Result<Vec<u8>>| v.map_err(|e| ClientError::Protocol(e.to_string()));
        self.save(crate::local::Changes {
            meta: vec![
                (UNCHECKED_MEMBERS, bytes(serde_json::to_vec(&waiting))?),
                (MEMBERS_NOT_LOGGED, bytes(serde_json::to_vec(&kept))?),
            ],
            ..Default::default()
        })
        .await?;
        Ok(found
            .into_iter()
            .map(|n| key_not_logged(&n.member, n.why))
            .collect())
    }

    /// Forgets the warnings about `handle`'s devices, once its person
    /// confirmed the safety number.
    pub(crate) async fn forget_member_warnings(&self, handle: &str) -> Result<()> {
        let mut warnings = self.not_logged_kept().await?;
        warnings.retain(|n| n.member.handle != handle);
        let bytes =
            serde_json::to_vec(&warnings).map_err(|e| ClientError::Protocol(e.to_string()))?;
        self.local.set_meta(MEMBERS_NOT_LOGGED, &bytes).await
    }
}

fn key_not_logged(m: &MemberKey, why: String) -> Event {
    Event::KeyNotLogged {
        chat: m.chat.clone(),
        handle: m.handle.clone(),
        device_id: m.device_id.clone(),
        why,
    }
}
