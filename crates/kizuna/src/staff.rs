//! `kizuna staff …`: the staff realm's commands, on its own listener and
//! with its own session, apart from any user identity.

use std::io::BufRead;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use kizuna_console::staff::StaffClient;
use kizuna_wire::staff::*;

#[derive(Args)]
pub struct StaffArgs {
    /// Where the staff session is kept.
    #[arg(long, env = "KIZUNA_STAFF_HOME", default_value_os_t = default_staff_home(), global = true)]
    staff_home: PathBuf,
    /// Print JSON for scripts.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: StaffCommand,
}

fn default_staff_home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".kizuna-staff")
}

#[derive(Subcommand)]
enum StaffCommand {
    /// Create the operator organisation and its first admin (offline, on the
    /// node's machine, with the node stopped). Prints the password and the
    /// authenticator secret once.
    Bootstrap {
        #[arg(long, default_value = "./kizuna-data")]
        data_dir: PathBuf,
        #[arg(long, env = "KIZUNA_CONFIG")]
        config: Option<PathBuf>,
        #[arg(long)]
        staff_id: String,
        /// Networks (CIDR) the operator's staff connect from; repeatable.
        #[arg(long = "network", default_values_t = ["127.0.0.0/8".to_string(), "::1/128".to_string()])]
        networks: Vec<String>,
    },
    /// Log in with password (from KIZUNA_STAFF_PASSWORD or standard input)
    /// and the authenticator's current code.
    Login {
        /// The staff API of the node.
        #[arg(
            long,
            env = "KIZUNA_STAFF_SERVER",
            default_value = "http://127.0.0.1:7481"
        )]
        server: String,
        #[arg(long)]
        staff_id: String,
        /// The authenticator's current 6-digit code.
        #[arg(long)]
        totp: String,
    },
    /// Who I am logged in as, from where.
    Whoami,
    /// Organisations: add, suspend, list.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Add a staff member to an organisation; prints their credentials once.
    Add {
        #[arg(long)]
        staff_id: String,
        #[arg(long)]
        org: String,
        /// support, moderator, approver, security, admin (comma-separated).
        #[arg(long, value_delimiter = ',', required = true)]
        roles: Vec<Role>,
    },
    /// Suspend a staff member: every session of theirs ends at once.
    Suspend { staff_id: String },
    /// List staff members.
    List,
    /// The staff realm's recent events, newest first.
    Events,
    /// Alerts raised by anomaly detection and break-glass (security staff
    /// and admins).
    Alerts,
    /// Break-glass reviews, open ones first.
    Reviews,
    /// Complete the review of someone else's break-glass access.
    Review {
        grant: String,
        /// Whether the access was justified.
        #[arg(long)]
        justified: bool,
        /// Whether the access was not justified.
        #[arg(
            long,
            conflicts_with = "justified",
            required_unless_present = "justified"
        )]
        unjustified: bool,
        #[arg(long)]
        note: String,
    },
    /// After a breach: everyone whose data was read under an organisation's
    /// or a staff member's credentials, from the ledger (security staff).
    #[command(subcommand)]
    Breach(BreachCommand),
    /// Print the shipped Cedar policy (or, with --schema, its schema), to
    /// start a policy file for `kizuna serve --policy` from.
    Policy {
        #[arg(long)]
        schema: bool,
    },
    /// Ask for access to people's personal data, for a purpose, a ticket and
    /// a time; a second person approves it.
    Request {
        /// Handles, comma-separated or repeated.
        #[arg(
            long = "subject",
            value_delimiter = ',',
            required_unless_present = "regions"
        )]
        subjects: Vec<String>,
        /// name, phone, email, contacts (comma-separated); or `reports`,
        /// with --region and ABUSE_REPORT_REVIEW, for a region's abuse
        /// reports.
        #[arg(long, value_delimiter = ',', required = true)]
        fields: Vec<String>,
        /// For a grant over abuse reports: the regions whose reports it
        /// opens (comma-separated or repeated).
        #[arg(long = "region", value_delimiter = ',')]
        regions: Vec<String>,
        /// CUSTOMER_SUPPORT, ABUSE_REPORT_REVIEW, LEGAL_REQUEST,
        /// INCIDENT_RESPONSE or SERVICE_MAINTENANCE.
        #[arg(long)]
        purpose: Purpose,
        #[arg(long)]
        ticket: String,
        /// How long, like 30m or 2h (the policy sets the maximum).
        #[arg(long = "for", value_parser = parse_duration)]
        duration: u64,
        #[arg(long)]
        reason: String,
        /// Immediate, short access for the security role; raises an alert.
        #[arg(long)]
        break_glass: bool,
    },
    /// Approve someone else's pending grant.
    Approve { grant: String },
    /// Deny a pending grant.
    Deny { grant: String },
    /// End a grant now.
    Revoke { grant: String },
    /// My grants (all of them, for the operator's approvers).
    Grants,
    /// Read a person's data under a live grant: only granted fields.
    Read {
        #[arg(long)]
        subject: String,
    },
    /// The abuse-report queue, under a live ABUSE_REPORT_REVIEW grant over
    /// the reports' regions (moderators).
    #[command(subcommand)]
    Reports(ReportsCommand),
}

#[derive(Subcommand)]
enum ReportsCommand {
    /// Reports waiting for a decision (nothing of their content).
    List {
        /// open (the default, with appealed ones), appealed, resolved or all.
        #[arg(long)]
        state: Option<String>,
    },
    /// Open a report: the reported message and its context, the reason and
    /// note, and any appeal. Recorded for the reporter and the reported
    /// sender, who see it in `kizuna me accesses`.
    Show { report: String },
    /// Decide a report; the reported person is told which message and why.
    Resolve {
        report: String,
        /// none, warn, restrict (no sending) or suspend.
        #[arg(long)]
        action: ModerationArg,
        /// Why, in words the reported person reads.
        #[arg(long)]
        reason: String,
        /// For restrict or suspend: how many days (default: until lifted).
        #[arg(long)]
        days: Option<u32>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ModerationArg {
    None,
    Warn,
    Restrict,
    Suspend,
}

impl From<ModerationArg> for kizuna_wire::reports::ModerationAction {
    fn from(a: ModerationArg) -> Self {
        use kizuna_wire::reports::ModerationAction as M;
        match a {
            ModerationArg::None => M::None,
            ModerationArg::Warn => M::Warn,
            ModerationArg::Restrict => M::Restrict,
            ModerationArg::Suspend => M::Suspend,
        }
    }
}

fn print_opened(r: &kizuna_wire::reports::OpenedReport) {
    out!(
        "{}  {} ({}), filed {} in region {}, under grant {}",
        r.report_id,
        r.reason.name(),
        r.state.name(),
        kizuna_wire::utc(r.created_at),
        r.region,
        r.grant_id
    );
    out!("  reported   {} in chat {}", r.reported_handle, r.chat);
    if let Some(n) = &r.note {
        out!("  note       \"{n}\"");
    }
    for (i, m) in r.messages.iter().enumerate() {
        let mark = if i + 1 == r.messages.len() { ">" } else { " " };
        out!(
            "  {mark} #{:<5} {}  {}: {}",
            m.group_seq,
            kizuna_wire::utc(m.server_time),
            m.sender_handle,
            m.text
        );
    }
    if let Some(o) = &r.outcome {
        out!(
            "  decided    {} ({}){}: {}",
            o.action.name(),
            kizuna_wire::utc(o.decided_at),
            o.until
                .map(|u| format!(" until {}", kizuna_wire::utc(u)))
                .unwrap_or_default(),
            o.reason
        );
    }
    if let Some(a) = &r.appeal {
        out!("  appeal     ({}) \"{}\"", kizuna_wire::utc(a.at), a.note);
    }
}

/// `90s`, `30m`, `2h` or a number of seconds.
#[derive(Subcommand)]
enum BreachCommand {
    /// Every person and field read under these credentials in the window,
    /// with counts per region and per field; optionally the notification
    /// and regulator-report drafts.
    Scope {
        /// The organisation whose credentials are in question.
        #[arg(long = "org", required_unless_present = "staff")]
        org: Option<String>,
        /// One staff member whose credentials are in question.
        #[arg(long)]
        staff: Option<String>,
        /// From this time (2026-11-01T00:00:00Z, a date, or epoch ms).
        #[arg(long, value_parser = parse_time)]
        from: Option<u64>,
        /// Until this time (default: now).
        #[arg(long, value_parser = parse_time)]
        to: Option<u64>,
        /// Write one notification per affected person and one regulator
        /// report per region into this directory.
        #[arg(long)]
        notify_drafts: Option<PathBuf>,
        /// When the operator became aware (deadlines count from it; default now).
        #[arg(long, value_parser = parse_time)]
        aware_at: Option<u64>,
        /// The access was malicious (APPI: final report within 60 days, not 30).
        #[arg(long)]
        malicious: bool,
    },
}

fn parse_time(s: &str) -> Result<u64, String> {
    kizuna_wire::parse_utc(s).ok_or_else(|| {
        format!("'{s}' is not a time like 2026-11-24T10:00:00Z, a date, or epoch milliseconds")
    })
}

fn parse_duration(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (n, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: u64 = n
        .parse()
        .map_err(|_| format!("'{s}' is not a duration like 30m or 2h"))?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(format!("'{s}': use s, m or h")),
    };
    Ok(n * mult)
}

fn print_grant(g: &Grant) {
    let state = g.state.name();
    out!(
        "{}  {:<8} {} of {} for {}: {} of {} (ticket {}){}",
        g.grant_id,
        state,
        g.staff_id,
        g.org_id,
        g.purpose.code(),
        g.fields.join(","),
        if g.regions.is_empty() {
            g.subjects.join(",")
        } else {
            format!("region {}", g.regions.join(","))
        },
        g.ticket,
        g.expires_at
            .map(|e| format!(", until {}", kizuna_wire::utc(e)))
            .unwrap_or_default()
    );
}

#[derive(Subcommand)]
enum OrgCommand {
    Add {
        #[arg(long)]
        id: String,
        /// operator, contractor or affiliate.
        #[arg(long)]
        kind: OrgKind,
        /// ISO 3166-1 alpha-2 code of the country its staff work in.
        #[arg(long)]
        country: String,
        /// Networks (CIDR) its staff may connect from; repeatable.
        #[arg(long = "network", required = true)]
        networks: Vec<String>,
        /// The widest scope it may ever be granted (comma-separated lists).
        #[arg(long, value_delimiter = ',')]
        regions: Vec<String>,
        #[arg(long, value_delimiter = ',')]
        purposes: Vec<String>,
        #[arg(long, value_delimiter = ',')]
        fields: Vec<String>,
    },
    /// Suspend an organisation: every session of its staff ends at once.
    Suspend {
        org: String,
    },
    List,
}

fn show<T: serde::Serialize>(json: bool, v: &T, text: impl FnOnce(&T)) -> anyhow::Result<()> {
    if json {
        out!("{}", serde_json::to_string(v)?);
    } else {
        text(v);
    }
    Ok(())
}

fn spinner(what: &str) -> indicatif::ProgressBar {
    let b = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        indicatif::ProgressBar::new_spinner()
    } else {
        indicatif::ProgressBar::hidden()
    };
    b.set_message(what.to_string());
    b.enable_steady_tick(std::time::Duration::from_millis(120));
    b
}

fn print_scope(s: &BreachScope) {
    out!(
        "credentials: {}; window {} to {}",
        s.orgs
            .iter()
            .map(|o| format!("organisation {} ({})", o.org_id, o.country))
            .chain(s.query.staff_id.iter().map(|m| format!("staff member {m}")))
            .collect::<Vec<_>>()
            .join(", "),
        kizuna_wire::utc(s.query.from.unwrap_or(0)),
        kizuna_wire::utc(s.query.to.unwrap_or(s.scoped_at))
    );
    out!("people affected: {}", s.people.len());
    for r in s.regions.iter().filter(|r| r.affected > 0) {
        out!("  region {} ({}): {}", r.id, r.country, r.affected);
    }
    for (f, n) in &s.per_field {
        out!("  field {f}: {n} people");
    }
    for p in s.people.iter().take(20) {
        out!(
            "  {} ({}): {} — {} read(s), {} to {}",
            p.handle,
            p.region,
            p.fields.join(", "),
            p.reads,
            kizuna_wire::utc(p.first_at),
            kizuna_wire::utc(p.last_at)
        );
    }
    if s.people.len() > 20 {
        out!(
            "  … and {} more (--json lists them all)",
            s.people.len() - 20
        );
    }
}

fn print_credentials(c: &StaffCredentials) {
    out!("staff id        {}", c.staff_id);
    out!("password        {}", c.password);
    out!("authenticator   {}", c.totp_secret);
    out!("                {}", c.totp_uri);
    out!("These are shown once. Hand them over in person; nothing else can show them again.");
}

pub async fn run(a: StaffArgs) -> anyhow::Result<()> {
    let json = a.json;
    match a.command {
        StaffCommand::Bootstrap {
            data_dir,
            config,
            staff_id,
            networks,
        } => {
            let regions = crate::admin::regions(config.as_deref())?;
            let c = kizuna_server::admin::bootstrap_staff(&data_dir, &regions, &staff_id, networks)
                .await?;
            show(json, &c, print_credentials)?;
        }
        StaffCommand::Login {
            server,
            staff_id,
            totp,
        } => {
            let password = match std::env::var("KIZUNA_STAFF_PASSWORD") {
                Ok(p) => p,
                Err(_) => {
                    eprint!("password: ");
                    let mut line = String::new();
                    std::io::stdin().lock().read_line(&mut line)?;
                    line.trim_end_matches(['\n', '\r']).to_string()
                }
            };
            let c = StaffClient::login(&a.staff_home, &server, &staff_id, &password, &totp).await?;
            let s = c.session();
            show(json, s, |s| {
                out!(
                    "logged in as {} of {}; the session ends at {}",
                    s.staff_id,
                    s.org_id,
                    kizuna_wire::utc(s.expires_at * 1000)
                )
            })?;
        }
        StaffCommand::Whoami => {
            let me = StaffClient::open(&a.staff_home)?.me().await?;
            out!("{}", serde_json::to_string_pretty(&me)?);
        }
        StaffCommand::Org(o) => {
            let c = StaffClient::open(&a.staff_home)?;
            match o {
                OrgCommand::Add {
                    id,
                    kind,
                    country,
                    networks,
                    regions,
                    purposes,
                    fields,
                } => {
                    let org = c
                        .add_org(&Org {
                            org_id: id,
                            kind,
                            country,
                            networks,
                            scope: OrgScope {
                                regions,
                                purposes,
                                fields,
                            },
                            suspended_at: None,
                        })
                        .await?;
                    show(json, &org, |o| out!("added organisation {}", o.org_id))?;
                }
                OrgCommand::Suspend { org } => {
                    let s = c.suspend_org(&org).await?;
                    show(json, &s, |s| {
                        out!(
                            "suspended organisation {}; {} session(s) ended",
                            s.id,
                            s.sessions_ended
                        )
                    })?;
                }
                OrgCommand::List => {
                    let orgs = c.orgs().await?;
                    show(json, &orgs, |orgs| {
                        for o in orgs {
                            out!(
                                "{:<16} {:<11} {}  networks {}{}",
                                o.org_id,
                                o.kind.name(),
                                o.country,
                                o.networks.join(","),
                                if o.suspended_at.is_some() {
                                    "  SUSPENDED"
                                } else {
                                    ""
                                }
                            );
                        }
                    })?;
                }
            }
        }
        StaffCommand::Add {
            staff_id,
            org,
            roles,
        } => {
            let c = StaffClient::open(&a.staff_home)?;
            let creds = c
                .add_member(&NewStaffMember {
                    staff_id,
                    org_id: org,
                    roles,
                })
                .await?;
            show(json, &creds, print_credentials)?;
        }
        StaffCommand::Suspend { staff_id } => {
            let s = StaffClient::open(&a.staff_home)?
                .suspend_member(&staff_id)
                .await?;
            show(json, &s, |s| {
                out!("suspended {}; {} session(s) ended", s.id, s.sessions_ended)
            })?;
        }
        StaffCommand::List => {
            let members = StaffClient::open(&a.staff_home)?.members().await?;
            show(json, &members, |ms| {
                for m in ms {
                    let roles: Vec<String> = m.roles.iter().map(Role::name).collect();
                    out!(
                        "{:<20} {:<16} {}{}",
                        m.staff_id,
                        m.org_id,
                        roles.join(","),
                        if m.suspended_at.is_some() {
                            "  SUSPENDED"
                        } else {
                            ""
                        }
                    );
                }
            })?;
        }
        StaffCommand::Request {
            subjects,
            fields,
            purpose,
            ticket,
            duration,
            reason,
            break_glass,
            regions,
        } => {
            let g = StaffClient::open(&a.staff_home)?
                .request_grant(&GrantRequest {
                    subjects,
                    fields,
                    purpose,
                    ticket,
                    reason,
                    duration_secs: duration,
                    break_glass,
                    regions,
                })
                .await?;
            show(json, &g, print_grant)?;
        }
        StaffCommand::Approve { grant } => {
            let g = StaffClient::open(&a.staff_home)?
                .decide_grant(&grant, "approve")
                .await?;
            show(json, &g, print_grant)?;
        }
        StaffCommand::Deny { grant } => {
            let g = StaffClient::open(&a.staff_home)?
                .decide_grant(&grant, "deny")
                .await?;
            show(json, &g, print_grant)?;
        }
        StaffCommand::Revoke { grant } => {
            let g = StaffClient::open(&a.staff_home)?
                .decide_grant(&grant, "revoke")
                .await?;
            show(json, &g, print_grant)?;
        }
        StaffCommand::Reports(ReportsCommand::List { state }) => {
            let rs = StaffClient::open(&a.staff_home)?
                .reports(state.as_deref())
                .await?;
            show(json, &rs, |rs| {
                if rs.is_empty() {
                    out!("no reports in this state");
                }
                for r in rs {
                    out!(
                        "{}  {:<8} {:<10} region {}  filed {}",
                        r.report_id,
                        r.state.name(),
                        r.reason.name(),
                        r.region,
                        kizuna_wire::utc(r.created_at)
                    );
                }
            })?;
        }
        StaffCommand::Reports(ReportsCommand::Show { report }) => {
            let r = StaffClient::open(&a.staff_home)?.report(&report).await?;
            show(json, &r, print_opened)?;
        }
        StaffCommand::Reports(ReportsCommand::Resolve {
            report,
            action,
            reason,
            days,
        }) => {
            let r = StaffClient::open(&a.staff_home)?
                .resolve_report(
                    &report,
                    &kizuna_wire::reports::ResolveRequest {
                        action: action.into(),
                        reason,
                        days,
                    },
                )
                .await?;
            show(json, &r, print_opened)?;
        }
        StaffCommand::Grants => {
            let gs = StaffClient::open(&a.staff_home)?.grants().await?;
            show(json, &gs, |gs| gs.iter().for_each(print_grant))?;
        }
        StaffCommand::Read { subject } => {
            let r = StaffClient::open(&a.staff_home)?.read(&subject).await?;
            show(json, &r, |r| {
                out!(
                    "{} (region {}), under grant {}",
                    r.subject,
                    r.region,
                    r.grant_id
                );
                out!(
                    "  name      {}",
                    r.name.as_deref().unwrap_or("(not granted)")
                );
                out!(
                    "  phone     {}",
                    r.phone.as_deref().unwrap_or("(not granted)")
                );
                out!(
                    "  email     {}",
                    r.email.as_deref().unwrap_or("(not granted)")
                );
                match &r.contacts {
                    Some(c) => out!("  contacts  {}", c.join(", ")),
                    None => out!("  contacts  (not granted)"),
                }
            })?;
        }
        StaffCommand::Policy { schema } => {
            print!(
                "{}",
                if schema {
                    kizuna_server::POLICY_SCHEMA
                } else {
                    kizuna_server::DEFAULT_POLICY
                }
            );
        }
        StaffCommand::Breach(BreachCommand::Scope {
            org,
            staff,
            from,
            to,
            notify_drafts,
            aware_at,
            malicious,
        }) => {
            let c = StaffClient::open(&a.staff_home)?;
            let waiting = spinner("scoping from the ledger");
            let scope = c
                .breach_scope(&BreachQuery {
                    org_id: org,
                    staff_id: staff,
                    from,
                    to,
                })
                .await;
            waiting.finish_and_clear();
            let scope = scope?;
            let drafted = match notify_drafts {
                Some(dir) => {
                    use kizuna_vault::Progress as _;
                    let bar = crate::admin::Bar::new("writing drafts");
                    bar.total(scope.people.len() as u64);
                    let d = kizuna_console::breach::write_drafts(
                        &scope,
                        &dir,
                        kizuna_console::breach::Awareness {
                            at: aware_at.unwrap_or_else(kizuna_wire::now_ms),
                            malicious,
                        },
                        |n| bar.advance(n),
                    );
                    bar.finish();
                    Some(d?)
                }
                None => None,
            };
            if json {
                out!(
                    "{}",
                    serde_json::to_string(
                        &serde_json::json!({ "scope": scope, "drafts": drafted })
                    )?
                );
            } else {
                print_scope(&scope);
                if let Some(d) = drafted {
                    out!(
                        "drafts: {} notifications in {}, reports: {}",
                        d.notifications,
                        d.dir.join("people").display(),
                        d.reports
                            .iter()
                            .map(|p| p.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
            }
        }
        StaffCommand::Reviews => {
            let rs = StaffClient::open(&a.staff_home)?.reviews().await?;
            show(json, &rs, |rs| {
                if rs.is_empty() {
                    out!("no break-glass reviews");
                }
                for r in rs {
                    let state = match (r.completed_by.as_deref(), r.justified) {
                        (Some(by), Some(true)) => format!("justified (by {by})"),
                        (Some(by), _) => format!("NOT justified (by {by})"),
                        (None, _) => "OPEN".into(),
                    };
                    out!(
                        "{}  {} of {} at {}: {}",
                        r.grant_id,
                        r.staff_id,
                        r.org_id,
                        kizuna_wire::utc(r.opened_at),
                        state
                    );
                }
            })?;
        }
        StaffCommand::Review {
            grant,
            justified,
            unjustified: _,
            note,
        } => {
            let r = StaffClient::open(&a.staff_home)?
                .complete_review(&grant, &ReviewCompletion { justified, note })
                .await?;
            show(json, &r, |r| out!("review of {} complete", r.grant_id))?;
        }
        StaffCommand::Alerts => {
            let alerts = StaffClient::open(&a.staff_home)?.alerts().await?;
            show(json, &alerts, |es| {
                if es.is_empty() {
                    out!("no alerts");
                }
                for e in es {
                    out!(
                        "{}  {:<10} {:<12} {:<12} {}",
                        kizuna_wire::utc(e["at"].as_u64().unwrap_or(0)),
                        e["kind"].as_str().unwrap_or(""),
                        e["staff_id"].as_str().unwrap_or("-"),
                        e["org_id"].as_str().unwrap_or("-"),
                        e["detail"]["why"].as_str().unwrap_or("")
                    );
                }
            })?;
        }
        StaffCommand::Events => {
            let events = StaffClient::open(&a.staff_home)?.events().await?;
            show(json, &events, |es| {
                for e in es {
                    out!(
                        "{}  {:<16} {:<12} {:<12} {}",
                        kizuna_wire::utc(e["at"].as_u64().unwrap_or(0)),
                        e["kind"].as_str().unwrap_or(""),
                        e["staff_id"].as_str().unwrap_or("-"),
                        e["org_id"].as_str().unwrap_or("-"),
                        e["detail"]
                    );
                }
            })?;
        }
    }
    Ok(())
}
