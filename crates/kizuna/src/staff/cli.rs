//! The `kizuna staff …` command line as clap reads it, with the parsers of
//! its times and durations.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use kizuna_wire::staff::{OrgKind, Purpose, Role};

#[derive(Args)]
pub struct StaffArgs {
    /// Where the staff session is kept.
    #[arg(long, env = "KIZUNA_STAFF_HOME", default_value_os_t = default_staff_home(), global = true)]
    pub staff_home: PathBuf,
    /// Print JSON for scripts.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: StaffCommand,
}

fn default_staff_home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".kizuna-staff")
}

#[derive(Subcommand)]
pub enum StaffCommand {
    /// Create the operator organisation and its first admin. Prints the
    /// password and the authenticator secret once. A node on its own must be
    /// stopped (this opens its data directory); a cluster's nodes keep
    /// serving: give a data directory of your own holding the cluster's keys.
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
        #[command(flatten)]
        trust: crate::cli::Trust,
        #[arg(long)]
        staff_id: String,
        /// The authenticator's current 6-digit code.
        #[arg(long)]
        totp: String,
    },
    /// The staff console in a browser: a page on this machine's loopback
    /// address, served by this process, which holds the staff session.
    /// Prints the address to open (with a one-time secret); the page asks
    /// for the staff id, password and authenticator code.
    Console {
        /// The staff API of the node; defaults to the kept session's, else
        /// the local node's.
        #[arg(long, env = "KIZUNA_STAFF_SERVER")]
        server: Option<String>,
        #[command(flatten)]
        trust: crate::cli::Trust,
        /// Open the address in the system's browser too.
        #[arg(long)]
        open: bool,
        /// Listen on this loopback port instead of a free one.
        #[arg(long)]
        port: Option<u16>,
    },
    /// End the session now, on the node and on this machine: the token is
    /// refused from then on, wherever a copy of it is.
    Logout,
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
    /// Official accounts: check an organisation's evidence, approve what
    /// someone else checked (two people), reject, revoke.
    #[command(subcommand)]
    Official(OfficialCommand),
}

#[derive(Subcommand)]
pub enum OfficialCommand {
    /// Applications, newest first, with who took each step.
    List,
    /// Record the evidence you checked (the first of two people): recorded
    /// in the ledger with the ticket before the application waits for a
    /// second person.
    Propose {
        application: String,
        /// What you checked: a registry extract, a call to the number the
        /// organisation publishes, a letter on its letterhead.
        #[arg(long)]
        evidence: String,
        #[arg(long)]
        ticket: String,
    },
    /// Approve an application someone else checked: the badge enters the
    /// key log, where every device checks it.
    Approve { application: String },
    /// Turn a waiting application down; the organisation is told why.
    Reject {
        application: String,
        #[arg(long)]
        reason: String,
    },
    /// End an official account's badge; the reason is public in the key log.
    Revoke {
        handle: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand)]
pub enum ReportsCommand {
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
    /// Save the file a reported message carries, opened with the key the
    /// reporter revealed and checked against the hash its sender committed
    /// to. Recorded like opening the report.
    File {
        report: String,
        /// The message's number, as `kizuna staff reports show` lists it.
        seq: u64,
        /// Where to write it (default: its name, in the current directory).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
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
pub enum ModerationArg {
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

#[derive(Subcommand)]
pub enum BreachCommand {
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

/// `90s`, `30m`, `2h` or a number of seconds.
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

#[derive(Subcommand)]
pub enum OrgCommand {
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
