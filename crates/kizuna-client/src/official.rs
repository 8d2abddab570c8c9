//! Official accounts from a device: an organisation applying for its
//! badge, and anyone checking one. A badge is read only from the key log,
//! proven here like any key, so the node cannot show one the log does not
//! hold, hide a revocation, or give a badge its organisation never signed.

use std::collections::BTreeMap;

use kizuna_wire::{
    announce_signing_input, official_claim_signing_input, Announcement, AnnouncementAccepted,
    AnnouncementPage, AnnouncementRequest, Bytes, FieldKind, FollowRequest, FollowedAccount,
    FollowerRequest, OfficialApplication, OfficialApplicationRequest, OfficialClaim, OfficialKind,
    Severity, SignedAnnouncement, Structured,
};
use reqwest::Method;

use crate::key_log::{OfficialBadge, RevokedBadge};
use crate::{mls, Client, ClientError, Event, Result, StoredMessage};

/// What an organisation says of itself when it applies; the handle,
/// account and time are this device's own.
#[derive(Clone, Debug)]
pub struct OfficialDetails {
    pub organisation: String,
    pub kind: OfficialKind,
    pub country: String,
    pub area: Option<String>,
    pub keeps_data: String,
    pub keeps_data_country: String,
    pub contact: String,
}

/// An announcement this device checked: signed by a device the key log
/// binds to an official account that holds its badge.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReceivedAnnouncement {
    pub pos: u64,
    pub handle: String,
    /// The organisation, as its badge names it.
    pub organisation: String,
    pub id: String,
    /// When the account made it (ms).
    pub at: u64,
    pub severity: Severity,
    pub text: String,
}

/// Announcement pages asked for at a time.
const ANNOUNCEMENT_PAGE: u32 = 500;

/// An announcement older than this when it reaches the device is not
/// shown: a node cannot pass last year's warning off as today's.
const MAX_ANNOUNCEMENT_AGE_MS: u64 = 7 * 24 * 3600 * 1000;

/// Whether an account is an official one, as this device checked it in
/// the key log.
#[derive(Clone, Debug, serde::Serialize)]
pub struct OfficialStanding {
    pub handle: String,
    /// The badge in force; none for an account nobody verified.
    pub official: Option<OfficialBadge>,
    /// The last badge, revoked, when none is in force.
    pub revoked: Option<RevokedBadge>,
}

impl Client {
    /// Applies for an official account: the claim, signed by this device,
    /// waits for two of the operator's people.
    pub async fn apply_official(&mut self, d: OfficialDetails) -> Result<OfficialApplication> {
        let claim = OfficialClaim {
            handle: self.identity.handle.clone(),
            account_id: self.identity.account_id.clone(),
            organisation: d.organisation,
            kind: d.kind,
            country: d.country.to_ascii_uppercase(),
            area: d.area,
            keeps_data: d.keeps_data,
            keeps_data_country: d.keeps_data_country.to_ascii_uppercase(),
            contact: d.contact,
            at: kizuna_wire::now_ms(),
        };
        kizuna_wire::Checked::check(&claim).map_err(|e| ClientError::Invalid(e.to_string()))?;
        let bytes = serde_json::to_vec(&claim).map_err(|e| ClientError::Protocol(e.to_string()))?;
        let signature = mls::sign(&self.signer, &official_claim_signing_input(&bytes))?;
        self.call(
            Method::POST,
            "/v1/official/applications",
            Some(&OfficialApplicationRequest {
                claim: Bytes(bytes),
                signature: Bytes(signature),
            }),
        )
        .await
    }

    /// This account's applications, newest first.
    pub async fn official_applications(&mut self) -> Result<Vec<OfficialApplication>> {
        self.call::<(), _>(Method::GET, "/v1/official/applications", None)
            .await
    }

    /// Whether `handle` is an official account now, checked in the key log.
    pub async fn official(&mut self, handle: &str) -> Result<OfficialStanding> {
        let logged = self.logged_keys(handle).await?;
        Ok(OfficialStanding {
            handle: handle.to_string(),
            official: logged.official,
            revoked: logged.revoked,
        })
    }

    /// Follows the official account `handle`: its badge checked here in
    /// the key log first, then a one-to-one chat with its devices (the one
    /// already followed through, if this device still has it), which the
    /// node is told of so that the account's announcements reach this
    /// account. Answers the chat and what the data map will say.
    pub async fn follow(&mut self, handle: &str) -> Result<(String, FollowedAccount)> {
        let standing = self.official(handle).await?;
        let badge = standing.official.ok_or_else(|| {
            ClientError::Invalid(match standing.revoked {
                Some(r) => format!(
                    "{handle} is not an official account: its badge was revoked ({})",
                    r.reason
                ),
                None => format!("{handle} is not an official account"),
            })
        })?;
        let mut chat = None;
        if let Some(f) = self
            .follows()
            .await?
            .into_iter()
            .find(|f| f.handle == handle)
        {
            let known = hex::encode(&f.group_id.0);
            if self.only_with(&known, handle).await {
                chat = Some(known);
            }
        }
        let chat = match chat {
            Some(c) => c,
            None => {
                self.create_chat(&[handle.to_string()], Some(&badge.claim.organisation))
                    .await?
            }
        };
        let followed: FollowedAccount = self
            .call(
                Method::PUT,
                &format!("/v1/official/{handle}/follow"),
                Some(&FollowRequest {
                    group_id: Bytes(hex::decode(&chat).unwrap_or_default()),
                }),
            )
            .await?;
        // The cursor covers every account followed: read again from the
        // start, so the new account's announcements still kept (a warning
        // in force) are shown; those kept here already are not shown twice.
        self.local.keep_announcements(&[], 0).await?;
        Ok((chat, followed))
    }

    /// Whether this device is in `chat`, `handle` is in it, and every
    /// member of it (as its MLS tree says) is this person or `handle`.
    pub async fn only_with(&mut self, chat: &str, handle: &str) -> bool {
        let me = self.identity.handle.clone();
        match self.members(chat).await {
            Ok(members) => {
                members.iter().any(|(h, _)| h == handle)
                    && members.iter().all(|(h, _)| *h == me || h == handle)
            }
            Err(_) => false,
        }
    }

    /// The official accounts this account follows, as the node keeps them.
    pub async fn follows(&mut self) -> Result<Vec<FollowedAccount>> {
        self.call::<(), _>(Method::GET, "/v1/me/follows", None)
            .await
    }

    /// Stops following `handle` and leaves the chat with it. With `erase`,
    /// first asks the organisation, in that chat, to erase what this
    /// person sent it: the request is end-to-end encrypted to its devices,
    /// and this device keeps it in the chat's history. The node names the
    /// chat, so it is left only when its MLS tree holds this person and
    /// `handle` alone: a node cannot make unfollowing leave anyone's group.
    pub async fn unfollow(&mut self, handle: &str, erase: bool) -> Result<Option<StoredMessage>> {
        let f = self
            .follows()
            .await?
            .into_iter()
            .find(|f| f.handle == handle)
            .ok_or_else(|| ClientError::Unchanged(format!("you do not follow {handle}")))?;
        let chat = hex::encode(&f.group_id.0);
        // What is said there, and leaving it, must concern only the
        // organisation's devices and this person's.
        let theirs = self.only_with(&chat, handle).await;
        if erase && !theirs {
            return Err(ClientError::Invalid(format!(
                "the chat the node says you follow {handle} through holds others too; nothing was sent there. Ask {handle} to erase your data through its contact instead"
            )));
        }
        let asked = if erase {
            Some(
                self.send_structured(
                    &chat,
                    "Please erase everything I sent you, and tell me when it is done.",
                    Structured::Request(FollowerRequest::Erasure),
                )
                .await?,
            )
        } else {
            None
        };
        self.call::<(), ()>(
            Method::DELETE,
            &format!("/v1/official/{handle}/follow"),
            None,
        )
        .await?;
        if theirs {
            match self.leave(&chat).await {
                Ok(_) | Err(ClientError::NotInChat(_) | ClientError::UnknownChat(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(asked)
    }

    /// Answers the card numbered `to` in `chat`: one of its buttons, or
    /// its form's fields (every one, each as its kind takes). The answer
    /// carries the choice for the organisation's daemon and the words the
    /// person sees.
    pub async fn answer(
        &mut self,
        chat: &str,
        to: u64,
        choice: Option<&str>,
        values: BTreeMap<String, String>,
    ) -> Result<StoredMessage> {
        let chat = self.resolve_chat(chat).await?;
        let card = self
            .history(&chat)
            .await?
            .into_iter()
            .find(|m| m.seq == to && m.sender != self.identity.handle)
            .ok_or_else(|| {
                ClientError::Invalid(format!("no message #{to} from someone else in this chat"))
            })?;
        let Some(Structured::Card { buttons, fields }) = card.structured.map(|s| *s) else {
            return Err(ClientError::Invalid(format!(
                "message #{to} offers no buttons or form to answer"
            )));
        };
        let text = match choice {
            Some(c) => {
                if !values.is_empty() {
                    return Err(ClientError::Invalid(
                        "answer with a button or with the form's fields, not both".into(),
                    ));
                }
                buttons
                    .iter()
                    .find(|b| b.id == c)
                    .map(|b| b.label.clone())
                    .ok_or_else(|| {
                        ClientError::Invalid(format!(
                            "message #{to} has no button '{c}'; its buttons are {}",
                            buttons
                                .iter()
                                .map(|b| format!("{} ({})", b.id, b.label))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                    })?
            }
            None => {
                if fields.is_empty() {
                    return Err(ClientError::Invalid(format!(
                        "message #{to} asks for a button: name one"
                    )));
                }
                if let Some(k) = values.keys().find(|k| !fields.iter().any(|f| &f.id == *k)) {
                    return Err(ClientError::Invalid(format!(
                        "message #{to}'s form has no field '{k}'"
                    )));
                }
                let mut said = Vec::new();
                for f in &fields {
                    let v = values.get(&f.id).ok_or_else(|| {
                        ClientError::Invalid(format!("the form asks for '{}' ({})", f.id, f.label))
                    })?;
                    let shown = match f.kind {
                        FieldKind::Choice => f
                            .options
                            .iter()
                            .find(|o| &o.id == v)
                            .map(|o| o.label.clone())
                            .ok_or_else(|| {
                                ClientError::Invalid(format!(
                                    "'{v}' is not one of the options of '{}'",
                                    f.id
                                ))
                            })?,
                        FieldKind::Date => {
                            if kizuna_wire::parse_utc(v).is_none() || v.len() != 10 {
                                return Err(ClientError::Invalid(format!(
                                    "'{}' takes a date like 2026-12-24",
                                    f.id
                                )));
                            }
                            v.clone()
                        }
                        FieldKind::Text => v.clone(),
                    };
                    said.push(format!("{}: {shown}", f.label));
                }
                said.join("; ")
            }
        };
        self.send_structured(
            &chat,
            &text,
            Structured::Answer {
                to,
                choice: choice.map(str::to_string),
                values,
            },
        )
        .await
    }

    /// Announces to every follower of this official account: a public
    /// notice this device signs, which followers' devices check against
    /// the key log.
    pub async fn announce(
        &mut self,
        text: &str,
        severity: Severity,
    ) -> Result<AnnouncementAccepted> {
        let mut id = [0u8; 8];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut id);
        let a = Announcement {
            handle: self.identity.handle.clone(),
            account_id: self.identity.account_id.clone(),
            id: hex::encode(id),
            at: kizuna_wire::now_ms(),
            severity,
            text: text.to_string(),
        };
        let bytes = serde_json::to_vec(&a).map_err(|e| ClientError::Protocol(e.to_string()))?;
        let signature = mls::sign(&self.signer, &announce_signing_input(&bytes))?;
        self.call(
            Method::POST,
            "/v1/official/announcements",
            Some(&AnnouncementRequest {
                announcement: Bytes(bytes),
                signature: Bytes(signature),
            }),
        )
        .await
    }

    /// The announcements this device kept, newest first.
    pub async fn announcements(&self, limit: u32) -> Result<Vec<ReceivedAnnouncement>> {
        self.local.announcements(limit).await
    }

    /// Reads the announcements of the accounts this account follows that
    /// this device has not, checks each against the key log, keeps what
    /// holds up and answers the events: an announcement, or one refused
    /// because the node altered it, made it up, or its account is no
    /// longer official. A check that cannot be made now (the ledger
    /// unreachable) leaves the rest for the next read.
    pub(crate) async fn read_announcements(&mut self) -> Result<Vec<Event>> {
        let mut events = Vec::new();
        let mut logged = std::collections::HashMap::new();
        loop {
            let after = self.local.announcements_after().await?;
            let page: AnnouncementPage = self
                .call::<(), _>(
                    Method::GET,
                    &format!("/v1/announcements?after={after}&limit={ANNOUNCEMENT_PAGE}"),
                    None,
                )
                .await?;
            let n = page.announcements.len();
            let Some(last) = page.announcements.last().map(|a| a.pos) else {
                // Nothing kept past the cursor (those between went past
                // their time): it moves to the newest the node named, so
                // the next sync does not ask again.
                if self.announcements_to > after {
                    self.local
                        .keep_announcements(&[], self.announcements_to)
                        .await?;
                }
                break;
            };
            let mut kept = Vec::new();
            for signed in page.announcements {
                if !logged.contains_key(&signed.handle) {
                    let keys = self.logged_keys_held(&signed.handle).await?;
                    logged.insert(signed.handle.clone(), keys);
                }
                match checked(&signed, &logged[&signed.handle]) {
                    Ok(Some(shown)) => {
                        // Made long ago, or kept already: a node showing
                        // it again as new is not believed, and nothing is
                        // shown twice.
                        let stale = shown.at + MAX_ANNOUNCEMENT_AGE_MS < kizuna_wire::now_ms();
                        let repeat = kept.iter().any(|(_, k): &(_, ReceivedAnnouncement)| {
                            k.handle == shown.handle && k.id == shown.id
                        }) || self
                            .local
                            .has_announcement(&shown.handle, &shown.id)
                            .await?;
                        if !stale && !repeat {
                            events.push(Event::Announcement(shown.clone()));
                            kept.push((signed, shown));
                        }
                    }
                    // No longer official: not shown, and no alarm.
                    Ok(None) => {}
                    Err(why) => events.push(Event::AnnouncementRefused {
                        handle: signed.handle.clone(),
                        pos: signed.pos,
                        why,
                    }),
                }
            }
            self.local.keep_announcements(&kept, last).await?;
            if n < ANNOUNCEMENT_PAGE as usize {
                break;
            }
        }
        Ok(events)
    }
}

/// What an announcement shows, if it holds up: its bytes signed by a
/// device the key log binds (or bound) to the account, naming that
/// account; none, quietly, when the account holds no badge now (revoked
/// since); an error when the node altered or made it up.
fn checked(
    signed: &SignedAnnouncement,
    keys: &crate::LoggedKeys,
) -> std::result::Result<Option<ReceivedAnnouncement>, String> {
    let a: Announcement = serde_json::from_slice(&signed.announcement.0)
        .map_err(|e| format!("it is not an announcement ({e})"))?;
    let Some(badge) = keys.official.as_ref() else {
        return Ok(None);
    };
    if a.handle != signed.handle || Some(&a.account_id) != keys.account_id.as_ref() {
        return Err(format!(
            "it names {} ({}), not the account that holds {}",
            a.handle, a.account_id, signed.handle
        ));
    }
    // A device the account had then, replaced since, signed it as well as
    // one it has now.
    let key = keys
        .key_of(&signed.device_id)
        .or_else(|| {
            keys.ever_bound
                .iter()
                .find(|(d, _)| *d == signed.device_id)
                .map(|(_, k)| k.as_str())
        })
        .ok_or_else(|| {
            format!(
                "it is signed by device {}, which the key log never bound to {}",
                signed.device_id, signed.handle
            )
        })?;
    if !crate::key_log::signed_by(
        key,
        &announce_signing_input(&signed.announcement.0),
        Some(&hex::encode(&signed.signature.0)),
    ) {
        return Err(format!(
            "its signature is not {}'s device's over what the node delivered: it was altered or made up",
            signed.handle
        ));
    }
    Ok(Some(ReceivedAnnouncement {
        pos: signed.pos,
        handle: signed.handle.clone(),
        organisation: badge.claim.organisation.clone(),
        id: a.id,
        at: a.at,
        severity: a.severity,
        text: a.text,
    }))
}
