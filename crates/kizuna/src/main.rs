//! `kizuna`: one binary that wires the crates together — the server
//! (`serve`), the client (`register`, `chat`, `send`, `sync`, ...) and the
//! demo. It holds no logic of its own beyond argument parsing and printing.

/// Prints a line to standard output. A reader that went away (`| head`)
/// ends the command quietly: what was printed had already been stored.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            $crate::stdout_failed(e)
        }
    }};
}

mod admin;
mod audit;
mod chat;
mod demo;
mod me;
mod staff;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use kizuna_client::{Client, ClientError, Event, RegisterOptions, StoredMessage};

const EXIT_HELP: &str =
    "Exit codes: 0 success, 1 failure, 2 usage error, 3 no identity or unknown chat here, \
4 the server refused the request, 5 the server could not be reached, 6 the transparency \
ledger failed verification, 7 some messages could not be opened (they are kept and shown), \
8 nothing changed (already a member, not a member).";

/// Standard output could not be written. A closed pipe is how a reader
/// such as `head` says it has read enough: end quietly.
pub fn stdout_failed(e: std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("error: cannot write to standard output: {e}");
    std::process::exit(1);
}

/// Some entries could not be opened: they were kept and shown; exits with 7.
#[derive(Debug)]
struct Unopened(usize);

impl std::fmt::Display for Unopened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} entr{} could not be opened on this device; they are kept and shown in the chat's history",
            self.0,
            if self.0 == 1 { "y" } else { "ies" }
        )
    }
}

impl std::error::Error for Unopened {}

#[derive(Parser)]
#[command(name = "kizuna", version, about = "An end-to-end encrypted messenger whose operator cannot quietly read its users", after_help = EXIT_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
pub struct Home {
    /// Where this device keeps its identity, keys and history.
    #[arg(long, env = "KIZUNA_HOME", default_value_os_t = default_home(), global = true)]
    pub home: PathBuf,
}

fn default_home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".kizuna")
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ReasonArg {
    Spam,
    Harassment,
    Illegal,
    Other,
}

impl From<ReasonArg> for kizuna_wire::reports::ReportReason {
    fn from(r: ReasonArg) -> Self {
        use kizuna_wire::reports::ReportReason as R;
        match r {
            ReasonArg::Spam => R::Spam,
            ReasonArg::Harassment => R::Harassment,
            ReasonArg::Illegal => R::Illegal,
            ReasonArg::Other => R::Other,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run a Kizuna node (SQLite under --data-dir; nothing else needed).
    Serve(ServeArgs),
    /// Create an account and this device's MLS identity.
    Register(RegisterArgs),
    /// Show my account as the server holds it.
    Me {
        #[command(flatten)]
        home: Home,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
        #[command(subcommand)]
        what: Option<me::MeCommand>,
    },
    /// Find someone's handle by phone number (rate-limited).
    Lookup {
        #[command(flatten)]
        home: Home,
        /// International form, e.g. +819012345678
        #[arg(long)]
        phone: String,
    },
    /// Create chats and change who is in them.
    #[command(subcommand)]
    Chat(chat::ChatCommand),
    /// Block someone: the node refuses their invitations and their messages
    /// in one-to-one chats with you. They are not told.
    Block {
        #[command(flatten)]
        home: Home,
        /// Their handle.
        handle: String,
        /// Print the list of blocked people as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Unblock someone.
    Unblock {
        #[command(flatten)]
        home: Home,
        /// Their handle.
        handle: String,
        /// Print the list of blocked people as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The people you blocked.
    Blocked {
        #[command(flatten)]
        home: Home,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Encrypt and send a message.
    Send {
        #[command(flatten)]
        home: Home,
        /// Chat id (or a unique prefix of it, or the chat's name).
        chat: String,
        text: String,
    },
    /// Report a message to the service as spam, harassment, illegal or
    /// other: only it (and, if you choose, the messages before it) is
    /// revealed, each provably what its sender sent.
    Report {
        #[command(flatten)]
        home: Home,
        /// Chat id (or a unique prefix of it, or the chat's name).
        chat: String,
        /// The message's number, as `kizuna history CHAT` shows it (#N).
        message: u64,
        /// Why: spam, harassment, illegal or other.
        #[arg(long)]
        reason: ReasonArg,
        /// A note for the moderators.
        #[arg(long)]
        note: Option<String>,
        /// Also reveal up to this many messages before it, as context.
        #[arg(long, default_value_t = 0)]
        preceding: usize,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Receive, decrypt, store and print new messages.
    Sync {
        #[command(flatten)]
        home: Home,
        /// One JSON object per message and line.
        #[arg(long)]
        json: bool,
    },
    /// Like sync, then stay connected and print messages as they arrive.
    Watch {
        #[command(flatten)]
        home: Home,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// List my chats.
    Chats {
        #[command(flatten)]
        home: Home,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Show a chat's history as stored on this device.
    History {
        #[command(flatten)]
        home: Home,
        /// Chat id (or a unique prefix of it, or the chat's name).
        chat: String,
        /// One JSON object per message and line.
        #[arg(long)]
        json: bool,
    },
    /// Add another device to my account.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// The whole story in one process: a server, three people, chats, an
    /// offline catch-up and a removal.
    Demo,
    /// Operator work on a node's data directory (run on the node's machine).
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// The staff realm: bootstrap, login, organisations, staff, grants and
    /// governed reads.
    Staff(staff::StaffArgs),
    /// Check or print the region configuration.
    #[command(subcommand)]
    Config(admin::ConfigCommand),
    /// Auditors: verify the transparency ledger, print its signed heads.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Load generator: starts a node, connects devices over WebSockets, sends
    /// real MLS messages open-loop and prints throughput, latency and memory.
    Bench(BenchArgs),
}

#[derive(Args)]
struct BenchArgs {
    /// Devices, each with its own identity and WebSocket.
    #[arg(long, default_value_t = 1000)]
    devices: usize,
    /// Devices per group.
    #[arg(long, default_value_t = 10)]
    group_size: usize,
    /// Messages to send in the measured run.
    #[arg(long, default_value_t = 30_000)]
    messages: usize,
    /// Messages sent per second (each is delivered to group-size - 1 devices).
    #[arg(long, default_value_t = 2300.0)]
    rate: f64,
    /// Where the node and the devices keep their files during the run.
    #[arg(long, default_value_os_t = std::env::temp_dir().join("kizuna-bench"))]
    work_dir: PathBuf,
    /// Do not pin the server and the load generator to separate cores.
    #[arg(long)]
    no_pin: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Instead: time access decisions of the staff realm's Cedar policy.
    #[arg(long)]
    policy: bool,
    /// With --policy: how many decisions.
    #[arg(long, default_value_t = 200_000)]
    decisions: u64,
    /// While the messages are sent, a staff member also makes this many
    /// governed reads per second (under a live, approved grant).
    #[arg(long, default_value_t = 0.0)]
    governed_reads: f64,
    /// Instead: only governed staff reads, as fast as the node answers them.
    #[arg(long, conflicts_with = "policy")]
    governed: bool,
    /// With --governed: people registered and named in grants.
    #[arg(long, default_value_t = 500)]
    subjects: usize,
    /// With --governed: how many reads.
    #[arg(long, default_value_t = 20_000)]
    reads: u64,
    /// With --governed: staff requests in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Instead: the transparency ledger's durable appends per second, and
    /// proof generation at --entries.
    #[arg(long, conflicts_with_all = ["policy", "governed"])]
    ledger: bool,
    /// With --ledger: appends timed, one leaf each.
    #[arg(long, default_value_t = 1_000_000)]
    appends: u64,
    /// With --ledger: concurrent writers.
    #[arg(long, default_value_t = 1024)]
    writers: usize,
    /// With --ledger: the ledger's size when proofs are timed; with
    /// --breach: the generated ledger's size.
    #[arg(long, default_value_t = 10_000_000)]
    entries: u64,
    /// Instead: generate a ledger of --entries in which one organisation
    /// read --affected people, and time scoping that breach and its drafts.
    #[arg(long, conflicts_with_all = ["policy", "governed", "ledger"])]
    breach: bool,
    /// With --breach: the people the organisation read.
    #[arg(long, default_value_t = 500_000)]
    affected: u64,
}

#[derive(Args)]
struct ServeArgs {
    /// Where the node keeps its database and key files.
    #[arg(long, default_value = "./kizuna-data")]
    data_dir: PathBuf,
    /// Address of the user API.
    #[arg(long, default_value_t = SocketAddr::from(([127, 0, 0, 1], kizuna_wire::DEFAULT_USER_PORT)))]
    listen: SocketAddr,
    /// Sustained requests per device per second.
    #[arg(long, default_value_t = 50)]
    rate_limit: u32,
    /// New accounts and device-link requests per network address per
    /// minute.
    #[arg(long, default_value_t = 60)]
    signups_per_minute: u32,
    /// The Cedar policy for staff access (default: `policy.cedar` beside
    /// --config if there is one, else the shipped policy, printed by
    /// `kizuna staff policy`).
    #[arg(long, env = "KIZUNA_POLICY")]
    policy: Option<PathBuf>,
    /// Refused staff attempts within an hour that raise an alert and
    /// suspend the staff member.
    #[arg(long, default_value_t = 5)]
    staff_max_refusals_per_hour: u64,
    /// Different people one staff member may read within an hour before an
    /// alert is raised and they are suspended.
    #[arg(long, default_value_t = 50)]
    staff_max_people_per_hour: u64,
    /// Address of the staff API, a listener of its own (loopback by default).
    #[arg(long, default_value_t = SocketAddr::from(([127, 0, 0, 1], kizuna_wire::staff::DEFAULT_STAFF_PORT)))]
    staff_listen: SocketAddr,
    /// The region configuration (kizuna.toml); without it, the embedded
    /// default with regions jp and kr (`kizuna config default` prints it).
    #[arg(long, env = "KIZUNA_CONFIG")]
    config: Option<PathBuf>,
}

#[derive(Args)]
struct RegisterArgs {
    #[command(flatten)]
    home: Home,
    /// The server, e.g. http://127.0.0.1:7480
    #[arg(long, env = "KIZUNA_SERVER")]
    server: String,
    #[arg(long)]
    handle: String,
    #[arg(long)]
    name: String,
    /// International form, e.g. +819012345678
    #[arg(long)]
    phone: String,
    #[arg(long)]
    email: Option<String>,
    /// Home region where your personal data is kept (jp, kr).
    #[arg(long)]
    region: String,
    /// A name for this device.
    #[arg(long, default_value = "cli")]
    device_label: String,
}

#[derive(Subcommand)]
enum DeviceCommand {
    /// On the new device: ask to join an account; prints a code to approve.
    Link {
        #[command(flatten)]
        home: Home,
        #[arg(long, env = "KIZUNA_SERVER")]
        server: String,
        #[arg(long)]
        handle: String,
        #[arg(long, default_value = "cli")]
        device_label: String,
        /// Seconds to wait for approval.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
    },
    /// My devices: label, when each was linked, when it last signed in.
    List {
        #[command(flatten)]
        home: Home,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a device (a lost phone): it is taken out of every chat, the
    /// others are told, and its tokens and connections end at once.
    Revoke {
        #[command(flatten)]
        home: Home,
        /// The device id, as `kizuna device list` shows it.
        device: String,
    },
    /// On an existing device: approve a code and add the new device to every chat.
    Approve {
        #[command(flatten)]
        home: Home,
        /// The code the new device printed.
        code: String,
    },
}

/// A lookup that found nothing; exits with 3 like other "not here" cases.
#[derive(Debug)]
struct NotFound(String);

impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotFound {}

/// A command line that cannot be acted on as given; exits with 2.
#[derive(Debug)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

fn exit_code(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<NotFound>().is_some() {
        return 3;
    }
    if e.downcast_ref::<Usage>().is_some() {
        return 2;
    }
    if e.downcast_ref::<audit::AuditFailed>().is_some() {
        return 6;
    }
    if e.downcast_ref::<Unopened>().is_some() {
        return 7;
    }
    // The staff console's failures end the same way as the device
    // client's: a refusal with 4, an unreachable listener with 5.
    match e.downcast_ref::<kizuna_console::ConsoleError>() {
        Some(kizuna_console::ConsoleError::Api { .. }) => return 4,
        Some(kizuna_console::ConsoleError::Unreachable { .. }) => return 5,
        Some(_) => return 1,
        None => {}
    }
    match e.downcast_ref::<ClientError>() {
        Some(
            ClientError::NotRegistered(_)
            | ClientError::UnknownChat(_)
            | ClientError::AmbiguousChat(_),
        ) => 3,
        Some(ClientError::Api { .. }) => 4,
        Some(ClientError::Unreachable { .. }) => 5,
        Some(ClientError::LedgerTampered(_)) => 6,
        Some(ClientError::Unchanged(_)) => 8,
        Some(ClientError::ChatRequest { .. }) => 9,
        _ => 1,
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit_code(&e))
        }
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

pub fn print_message(m: &StoredMessage, json: bool, chat_label: &str) {
    if json {
        out!("{}", serde_json::to_string(m).unwrap_or_default());
    } else {
        out!(
            "[{chat_label}] {} ({}): {}",
            m.sender,
            m.sender_device,
            m.text
        );
    }
}

/// A time (milliseconds since the Unix epoch) as `YYYY-MM-DD HH:MM UTC`.
pub fn when(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    // Days to a civil date (proleptic Gregorian), after Howard Hinnant.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60
    )
}

pub fn short(chat: &str) -> &str {
    &chat[..8.min(chat.len())]
}

/// An event as a line: with --json, one object with its `type`.
fn print_event(e: &Event, json: bool) {
    if json {
        out!("{}", serde_json::to_string(e).unwrap_or_default());
        return;
    }
    match e {
        Event::Message(m) => print_message(m, false, short(&m.chat)),
        Event::Joined { chat, by } => eprintln!("* {by} added you to chat {chat}"),
        Event::Request { chat, by } => eprintln!(
            "* {by}, who is not in your contacts, added you to chat {chat}: a chat request; \
             `kizuna chat accept {}` to read it, or `kizuna chat decline {}`",
            short(chat),
            short(chat)
        ),
        Event::Removed { chat, by } => eprintln!("* {by} removed you from chat {chat}"),
        Event::MembersChanged {
            chat,
            by,
            added,
            removed,
            left,
        } => {
            let c = short(chat);
            for h in added {
                eprintln!("* [{c}] {by} added {h}");
            }
            for h in removed {
                eprintln!("* [{c}] {by} removed {h}");
            }
            for h in left {
                eprintln!("* [{c}] {h} left");
            }
            if added.is_empty() && removed.is_empty() && left.is_empty() {
                eprintln!("* [{c}] {by} renewed the chat's keys");
            }
        }
        Event::Renamed { chat, name, by } => eprintln!("* {by} named chat {chat} \"{name}\""),
        Event::DeviceRevoked { chat, handle } => {
            eprintln!(
                "* [{}] a device of {handle} was revoked and leaves the chat",
                short(chat)
            )
        }
        Event::AccountDeleted { chat, handle } => {
            eprintln!("* [{}] {handle} deleted their account", short(chat))
        }
        Event::NotSent {
            chat,
            content,
            reason,
        } => eprintln!(
            "! [{}] a message of yours was not delivered ({reason}): {content}",
            short(chat)
        ),
        Event::Undecryptable(u) => out!(
            "[{}] #{} from {} ({}) could not be opened: {}",
            short(&u.chat),
            u.seq,
            u.sender,
            u.sender_device,
            u.reason
        ),
    }
}

/// Prints what a command found waiting and processed on its way.
pub fn print_seen(c: &mut Client) -> usize {
    let seen = c.take_seen();
    for e in &seen {
        print_event(e, false);
    }
    unopened(&seen)
}

fn unopened(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Event::Undecryptable(_)))
        .count()
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(a) => serve(a).await,
        Command::Register(a) => {
            let c = Client::register(
                &a.home.home,
                &a.server,
                RegisterOptions {
                    handle: &a.handle,
                    name: &a.name,
                    phone: &a.phone,
                    email: a.email.as_deref(),
                    region: &a.region,
                    device_label: &a.device_label,
                },
            )
            .await?;
            let id = c.identity();
            out!(
                "registered {} (device {}) on {}",
                id.handle,
                id.device_id,
                id.server
            );
            Ok(())
        }
        Command::Me {
            home,
            what: Some(what),
            ..
        } => me::run(&home.home, what).await,
        Command::Admin(a) => admin::run(a).await,
        Command::Config(c) => admin::config(c),
        Command::Audit(a) => audit::run(a).await,
        Command::Staff(a) => staff::run(a).await,
        Command::Me { home, json, .. } => {
            let mut c = Client::open(&home.home).await?;
            let me = c.me().await?;
            if json {
                out!("{}", serde_json::to_string(&me)?);
            } else {
                out!(
                    "handle:  {}\nname:    {}\nphone:   {}\nemail:   {}\nregion:  {}\ndevices: {}",
                    me.handle,
                    me.name,
                    me.phone,
                    me.email.as_deref().unwrap_or("-"),
                    me.region,
                    me.devices.join(", ")
                );
            }
            Ok(())
        }
        Command::Lookup { home, phone } => {
            let mut c = Client::open(&home.home).await?;
            match c.lookup_phone(&phone).await? {
                Some(h) => out!("{h}"),
                None => {
                    return Err(NotFound(
                        "nobody with that number lets themselves be found".into(),
                    )
                    .into());
                }
            }
            Ok(())
        }
        Command::Chat(cmd) => chat::run(cmd).await,
        Command::Block { home, handle, json } => {
            chat::blocks(&home, chat::BlockAction::Block(handle), json).await
        }
        Command::Unblock { home, handle, json } => {
            chat::blocks(&home, chat::BlockAction::Unblock(handle), json).await
        }
        Command::Blocked { home, json } => chat::blocks(&home, chat::BlockAction::List, json).await,
        Command::Send { home, chat, text } => {
            let mut c = Client::open(&home.home).await?;
            let sent = c.send(&chat, &text).await;
            let n = print_seen(&mut c);
            let m = sent?;
            out!("sent to {} as #{}", m.chat, m.seq);
            match n {
                0 => Ok(()),
                n => Err(Unopened(n).into()),
            }
        }
        Command::Report {
            home,
            chat,
            message,
            reason,
            note,
            preceding,
            json,
        } => {
            let mut c = Client::open(&home.home).await?;
            let filed = c
                .report(&chat, message, reason.into(), note.as_deref(), preceding)
                .await?;
            if json {
                out!("{}", serde_json::to_string(&filed)?);
            } else {
                out!(
                    "reported as {} ({} message(s) revealed); it is kept sealed in your home region {}; `kizuna me reports` shows what becomes of it",
                    filed.report_id, filed.messages, filed.region
                );
            }
            Ok(())
        }
        Command::Sync { home, json } => {
            let mut c = Client::open(&home.home).await?;
            let (mut messages, mut unopened) = (0, 0);
            c.sync_with(|e| {
                match e {
                    Event::Message(_) => messages += 1,
                    Event::Undecryptable(_) => unopened += 1,
                    _ => {}
                }
                print_event(e, json);
            })
            .await?;
            if !json && messages == 0 && unopened == 0 {
                eprintln!("no new messages");
            }
            if unopened > 0 {
                return Err(Unopened(unopened).into());
            }
            Ok(())
        }
        Command::Watch { home, json } => {
            let mut c = Client::open(&home.home).await?;
            if !json {
                eprintln!("watching for messages; Ctrl-C to stop");
            }
            c.watch(|e| print_event(e, json), shutdown_signal()).await?;
            Ok(())
        }
        Command::Chats { home, json } => {
            let c = Client::open(&home.home).await?;
            for s in c.chats().await? {
                if json {
                    out!("{}", serde_json::to_string(&s)?);
                } else {
                    out!(
                        "{}  {:<20} {:>5} messages{}",
                        s.chat,
                        s.name.as_deref().unwrap_or("-"),
                        s.messages,
                        if s.active { "" } else { "  (you left)" }
                    );
                }
            }
            Ok(())
        }
        Command::History { home, chat, json } => {
            let c = Client::open(&home.home).await?;
            let timeline = c.timeline(&chat).await?;
            let id = c.resolve_chat(&chat).await?;
            if let Some(r) = c.chat_requests().await?.into_iter().find(|r| r.chat == id) {
                eprintln!(
                    "chat {} is a chat request from {}: `kizuna chat accept {}` or `kizuna chat decline {}`",
                    id,
                    r.from,
                    short(&id),
                    short(&id)
                );
            }
            for e in &timeline {
                match e {
                    _ if json => out!("{}", serde_json::to_string(e)?),
                    Event::Message(m) => out!(
                        "#{:<5} {} ({}): {}",
                        m.seq,
                        m.sender,
                        m.sender_device,
                        m.text
                    ),
                    Event::Undecryptable(u) => out!(
                        "#{:<5} {} ({}): [could not be opened: {}]",
                        u.seq,
                        u.sender,
                        u.sender_device,
                        u.reason
                    ),
                    _ => {}
                }
            }
            match unopened(&timeline) {
                0 => Ok(()),
                n => Err(Unopened(n).into()),
            }
        }
        Command::Device(DeviceCommand::Link {
            home,
            server,
            handle,
            device_label,
            timeout,
        }) => {
            let c = Client::link_device(
                &home.home,
                &server,
                &handle,
                &device_label,
                |code| {
                    out!("on one of your other devices run:\n\n    kizuna device approve {code}\n");
                    out!("waiting for approval...");
                },
                std::time::Duration::from_secs(timeout),
            )
            .await?;
            out!(
                "this device ({}) is now linked to {}",
                c.identity().device_id,
                c.identity().handle
            );
            Ok(())
        }
        Command::Device(DeviceCommand::List { home, json }) => {
            let mut c = Client::open(&home.home).await?;
            for d in c.devices().await? {
                if json {
                    out!("{}", serde_json::to_string(&d)?);
                } else {
                    out!(
                        "{}  {:<16} linked {}  last seen {}{}",
                        d.device_id,
                        d.label,
                        when(d.linked_at),
                        d.last_seen.map(when).unwrap_or_else(|| "never".into()),
                        if d.this_device { "  (this device)" } else { "" }
                    );
                }
            }
            Ok(())
        }
        Command::Device(DeviceCommand::Revoke { home, device }) => {
            let mut c = Client::open(&home.home).await?;
            c.revoke_device(&device).await?;
            out!("device {device} revoked: it is being taken out of every chat, and can no longer sign in");
            Ok(())
        }
        Command::Device(DeviceCommand::Approve { home, code }) => {
            let mut c = Client::open(&home.home).await?;
            let r = c.approve_device(&code).await;
            print_seen(&mut c);
            let (device, chats) = r?;
            out!(
                "device {device} approved and added to {} chat(s)",
                chats.len()
            );
            Ok(())
        }
        Command::Demo => demo::run().await,
        Command::Bench(a) if a.policy => {
            let r = kizuna_bench::policy::run(a.decisions)?;
            if a.json {
                out!("{}", serde_json::to_string(&r)?);
            } else {
                out!("policy decisions  {} ({} allowed)", r.decisions, r.allowed);
                out!(
                    "latency           p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs, max {:.1} µs",
                    r.p50_us,
                    r.p99_us,
                    r.p999_us,
                    r.max_us
                );
                out!(
                    "throughput        {:.0} decisions/s on one core",
                    r.decisions_per_sec
                );
            }
            Ok(())
        }
        Command::Bench(a) if a.ledger => {
            let display = BenchProgress::default();
            let report =
                kizuna_bench::ledger::run(&a.work_dir, a.appends, a.writers, a.entries, |p| {
                    display.show(p)
                })
                .await;
            display.finish();
            print_report(a.json, &report?)
        }
        Command::Bench(a) if a.breach => {
            let opts = kizuna_bench::BreachOptions {
                kizuna_bin: std::env::current_exe()?,
                work_dir: a.work_dir.clone(),
                spec: kizuna_bench::breach::Spec {
                    entries: a.entries,
                    affected: a.affected,
                    others: a.affected,
                },
            };
            let display = BenchProgress::default();
            let report = kizuna_bench::run_breach(opts, |p| display.show(p)).await;
            display.finish();
            let _ = std::fs::remove_dir_all(&a.work_dir);
            print_report(a.json, &report?)
        }
        Command::Bench(a) if a.governed => {
            let opts = kizuna_bench::GovernedOptions {
                kizuna_bin: std::env::current_exe()?,
                work_dir: a.work_dir.clone(),
                subjects: a.subjects,
                reads: a.reads,
                concurrency: a.concurrency,
                pin: !a.no_pin,
            };
            let display = BenchProgress::default();
            let report = kizuna_bench::run_governed(opts, |p| display.show(p)).await;
            display.finish();
            let _ = std::fs::remove_dir_all(&a.work_dir);
            print_report(a.json, &report?)
        }
        Command::Bench(a) => {
            if !(a.governed_reads >= 0.0 && a.governed_reads.is_finite()) {
                anyhow::bail!("--governed-reads is a rate per second, 0 or more");
            }
            let opts = kizuna_bench::BenchOptions {
                kizuna_bin: std::env::current_exe()?,
                work_dir: a.work_dir.clone(),
                devices: a.devices,
                group_size: a.group_size,
                messages: a.messages,
                rate: a.rate,
                pin: !a.no_pin,
                sample_groups: 10,
                governed_reads: a.governed_reads,
            };
            let display = BenchProgress::default();
            let report = kizuna_bench::run(opts, |p| display.show(p)).await;
            display.finish();
            let _ = std::fs::remove_dir_all(&a.work_dir);
            print_report(a.json, &report?)
        }
    }
}

/// A benchmark's report, as text or, with --json, for scripts.
fn print_report(
    json: bool,
    report: &(impl serde::Serialize + std::fmt::Display),
) -> anyhow::Result<()> {
    if json {
        out!("{}", serde_json::to_string(report)?);
    } else {
        out!("{report}");
    }
    Ok(())
}

/// The staff access policy's file name in a configuration directory.
const POLICY_FILE: &str = "policy.cedar";

async fn serve(a: ServeArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KIZUNA_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let mut config = kizuna_server::ServerConfig::new(&a.data_dir, a.listen);
    config.regions = admin::regions(a.config.as_deref())?;
    config.staff_listen = Some(a.staff_listen);
    config.policy = a.policy.clone().or_else(|| {
        // Beside the region configuration, as an operator keeps both in one
        // configuration directory.
        let beside = a.config.as_deref()?.parent()?.join(POLICY_FILE);
        beside.is_file().then_some(beside)
    });
    config.anomaly = kizuna_server::AnomalyLimits {
        denials_per_hour: a.staff_max_refusals_per_hour,
        people_per_hour: a.staff_max_people_per_hour,
    };
    config.limits.requests_per_second = a.rate_limit;
    config.limits.request_burst = a.rate_limit.saturating_mul(2);
    config.limits.signups_per_minute = a.signups_per_minute;
    let config_region = config.regions.node_region().id.clone();
    let config_ids = config.regions.ids().join(", ");
    let server = kizuna_server::RunningServer::start(config).await?;
    out!(
        "Kizuna user API listening on http://{} (data in {}; node region {}, regions {})",
        server.addr,
        a.data_dir.display(),
        config_region,
        config_ids
    );
    if let Some(staff) = server.staff_addr {
        out!("Kizuna staff API listening on http://{staff}");
    }
    shutdown_signal().await;
    eprintln!("shutting down: finishing in-flight requests");
    server.shutdown().await;
    eprintln!("stopped cleanly");
    Ok(())
}

/// The load generator's stages as progress bars on a terminal, or as one line
/// per stage when stderr is not one (logs, CI).
#[derive(Default)]
struct BenchProgress {
    bar: std::sync::Mutex<Option<indicatif::ProgressBar>>,
}

impl BenchProgress {
    fn show(&self, p: kizuna_bench::Progress<'_>) {
        let Ok(mut bar) = self.bar.lock() else { return };
        match p {
            kizuna_bench::Progress::Stage { name, steps } => {
                if let Some(b) = bar.take() {
                    b.finish();
                }
                let b = match steps {
                    Some(n) => indicatif::ProgressBar::new(n).with_style(
                        indicatif::ProgressStyle::with_template(
                            "{msg:40} [{bar:30}] {pos}/{len} {elapsed}",
                        )
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                        .progress_chars("=> "),
                    ),
                    None => indicatif::ProgressBar::new_spinner(),
                };
                b.set_message(name.to_string());
                if b.is_hidden() {
                    eprintln!("{name}");
                }
                *bar = Some(b);
            }
            kizuna_bench::Progress::Done(n) => {
                if let Some(b) = bar.as_ref() {
                    b.inc(n);
                }
            }
        }
    }

    fn finish(&self) {
        if let Ok(mut bar) = self.bar.lock() {
            if let Some(b) = bar.take() {
                b.finish();
            }
        }
    }
}
