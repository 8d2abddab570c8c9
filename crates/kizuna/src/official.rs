//! `kizuna official …`: official accounts from a device — an organisation
//! applying for its badge and following the application, and anyone
//! checking whether an account is official, in the key log, here.

use clap::{Args, Subcommand};
use kizuna_client::{Client, OfficialDetails, OfficialStanding};
use kizuna_wire::{FollowedAccount, OfficialApplication, OfficialKind};

use crate::cli::Home;

#[derive(Args)]
pub struct OfficialArgs {
    #[command(flatten)]
    pub home: Home,
    /// Print JSON for scripts.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: OfficialCommand,
}

#[derive(Subcommand)]
pub enum OfficialCommand {
    /// Whether an account is official: its badge, checked on this device
    /// against the key log (the organisation's own signed claim, verified
    /// by two of the operator's people), or that it was revoked and why.
    /// Exits with 6 when the node shows a badge the log does not bear out.
    Show {
        /// The account's handle.
        handle: String,
    },
    /// Apply for this account to be an official account: the claim below,
    /// signed by this device, waits for the operator's two people.
    Apply {
        /// The organisation's name, as residents know it.
        #[arg(long)]
        organisation: String,
        /// municipality, prefecture, ministry, agency, hospital, school,
        /// utility or other.
        #[arg(long)]
        kind: OfficialKind,
        /// The country it is a public body of (ISO 3166-1 alpha-2).
        #[arg(long)]
        country: String,
        /// The area it serves, if not the whole country.
        #[arg(long)]
        area: Option<String>,
        /// Where it keeps what people send it: on whose machines, where.
        #[arg(long)]
        keeps_data: String,
        /// The country those machines are in.
        #[arg(long)]
        keeps_data_country: String,
        /// Where people ask it about their data.
        #[arg(long)]
        contact: String,
    },
    /// This account's applications and where each stands.
    Status,
    /// Follow an official account: its badge is checked on this device
    /// first, then a one-to-one chat opens with the organisation's own
    /// devices (end-to-end encrypted: the operator cannot read it), and its
    /// announcements reach you. Prints the chat.
    Follow {
        /// The account's handle.
        handle: String,
    },
    /// Stop following an official account and leave the chat with it.
    Unfollow {
        handle: String,
        /// First ask the organisation, in the chat, to erase everything you
        /// sent it.
        #[arg(long)]
        erase: bool,
    },
    /// The official accounts you follow: who runs each and where it keeps
    /// what you send it.
    Follows,
    /// Announce to every follower (this device must be a verified official
    /// account's): a public notice this device signs, which followers'
    /// devices check against the key log.
    Announce {
        text: String,
        /// info, warning or emergency.
        #[arg(long, default_value = "info")]
        severity: kizuna_wire::Severity,
    },
    /// The announcements this device received and checked, newest first
    /// (`sync` fetches new ones).
    Announcements {
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

pub async fn run(a: OfficialArgs) -> anyhow::Result<()> {
    let mut c = Client::open(&a.home.home).await?;
    match a.command {
        OfficialCommand::Show { handle } => {
            let s = c.official(&handle).await?;
            if a.json {
                out!("{}", serde_json::to_string(&s)?);
            } else {
                print_standing(&s);
            }
        }
        OfficialCommand::Apply {
            organisation,
            kind,
            country,
            area,
            keeps_data,
            keeps_data_country,
            contact,
        } => {
            let app = c
                .apply_official(OfficialDetails {
                    organisation,
                    kind,
                    country,
                    area,
                    keeps_data,
                    keeps_data_country,
                    contact,
                })
                .await?;
            if a.json {
                out!("{}", serde_json::to_string(&app)?);
            } else {
                print_application(&app);
                out!("  two of the operator's people verify it; `kizuna official status` shows where it stands");
            }
        }
        OfficialCommand::Follow { handle } => {
            let (chat, f) = c.follow(&handle).await?;
            if a.json {
                let mut v = serde_json::to_value(&f)?;
                v["chat"] = chat.into();
                out!("{v}");
            } else {
                print_follow(&f);
                out!("  chat {chat}: what you send there only {handle}'s own devices can read");
            }
        }
        OfficialCommand::Unfollow { handle, erase } => {
            let asked = c.unfollow(&handle, erase).await?;
            if a.json {
                out!(
                    "{}",
                    serde_json::json!({ "unfollowed": handle, "erasure_requested": asked.is_some() })
                );
            } else {
                out!("you no longer follow {handle}, and left the chat with it");
                if asked.is_some() {
                    out!("  you asked it, in that chat, to erase everything you sent it; your device keeps the request");
                }
            }
        }
        OfficialCommand::Follows => {
            let fs = c.follows().await?;
            if a.json {
                out!("{}", serde_json::to_string(&fs)?);
            } else if fs.is_empty() {
                out!("you follow no official account");
            } else {
                fs.iter().for_each(print_follow);
            }
        }
        OfficialCommand::Announce { text, severity } => {
            let done = c.announce(&text, severity).await?;
            if a.json {
                out!("{}", serde_json::to_string(&done)?);
            } else {
                out!(
                    "announced (#{}): every follower's devices receive it, signed by this device",
                    done.pos
                );
            }
        }
        OfficialCommand::Announcements { limit } => {
            // What arrived since the last look is fetched and checked first.
            c.sync().await?;
            let got = c.announcements(limit).await?;
            if a.json {
                out!("{}", serde_json::to_string(&got)?);
            } else if got.is_empty() {
                out!("no announcements");
            } else {
                for x in got {
                    out!(
                        "#{} {} {} ({}), {:?}: {}",
                        x.pos,
                        kizuna_wire::utc(x.at),
                        x.organisation,
                        x.handle,
                        x.severity,
                        x.text
                    );
                }
            }
        }
        OfficialCommand::Status => {
            let apps = c.official_applications().await?;
            if a.json {
                out!("{}", serde_json::to_string(&apps)?);
            } else if apps.is_empty() {
                out!("no applications; `kizuna official apply --help` says how to make one");
            } else {
                apps.iter().for_each(print_application);
            }
        }
    }
    Ok(())
}

/// `ID=VALUE`, for a form's field.
pub fn field_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("'{s}' is not ID=VALUE"))
}

pub async fn answer(
    home: &Home,
    chat: &str,
    message: u64,
    choice: Option<String>,
    fields: Vec<(String, String)>,
    json: bool,
) -> anyhow::Result<()> {
    let mut c = Client::open(&home.home).await?;
    let m = c
        .answer(
            chat,
            message,
            choice.as_deref(),
            fields.into_iter().collect(),
        )
        .await?;
    crate::messages::print_message(&m, json, crate::messages::short(&m.chat));
    Ok(())
}

pub fn print_follow(f: &FollowedAccount) {
    match &f.claim {
        Some(c) => {
            out!(
                "{}  {} ({}), followed since {}",
                f.handle,
                c.organisation,
                c.kind.name(),
                kizuna_wire::utc(f.since)
            );
            out!(
                "  keeps what you send it: {} ({}); ask about your data: {}",
                c.keeps_data,
                c.keeps_data_country,
                c.contact
            );
        }
        None => out!(
            "{}  NO LONGER VERIFIED (its badge was revoked), followed since {}",
            f.handle,
            kizuna_wire::utc(f.since)
        ),
    }
}

fn print_application(a: &OfficialApplication) {
    out!(
        "{}  {}  {} as {}, applied {}",
        a.application_id,
        a.state.name(),
        a.claim.organisation,
        a.claim.handle,
        kizuna_wire::utc(a.submitted_at)
    );
    if let Some(at) = a.decided_at {
        out!(
            "  {} {}{}",
            a.state.name(),
            kizuna_wire::utc(at),
            a.reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        );
    }
}

fn print_standing(s: &OfficialStanding) {
    match (&s.official, &s.revoked) {
        (Some(b), _) => {
            let c = &b.claim;
            out!(
                "{} is an OFFICIAL ACCOUNT of {} ({}, {}{})",
                s.handle,
                c.organisation,
                c.kind.name(),
                c.country,
                c.area
                    .as_deref()
                    .map(|x| format!(", {x}"))
                    .unwrap_or_default()
            );
            out!(
                "  verified {} (key-log entry {}), checked on this device",
                kizuna_wire::utc(b.verified_at),
                b.index
            );
            out!(
                "  keeps what you send it: {} ({})",
                c.keeps_data,
                c.keeps_data_country
            );
            out!("  ask it about your data: {}", c.contact);
        }
        (None, Some(r)) => {
            out!(
                "{} is NOT an official account: its badge as {} was revoked {}: {}",
                s.handle,
                r.organisation,
                kizuna_wire::utc(r.revoked_at),
                r.reason
            );
        }
        (None, None) => out!("{} is not an official account", s.handle),
    }
}
