//! `kizuna official …`: official accounts from a device — an organisation
//! applying for its badge and following the application, and anyone
//! checking whether an account is official, in the key log, here.

use clap::{Args, Subcommand};
use kizuna_client::{Client, OfficialDetails, OfficialStanding};
use kizuna_wire::{OfficialApplication, OfficialKind};

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
