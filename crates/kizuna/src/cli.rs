//! The command line as clap reads it: the top-level commands and the
//! arguments of those handled outside an area module of their own.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::exit::EXIT_HELP;
use crate::{admin, audit, chat, me, staff};

#[derive(Parser)]
#[command(name = "kizuna", version, about = "An end-to-end encrypted messenger whose operator cannot quietly read its users", after_help = EXIT_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Clone)]
pub struct Home {
    /// Where this device keeps its identity, keys and history.
    #[arg(long, env = "KIZUNA_HOME", default_value_os_t = default_home(), global = true)]
    pub home: PathBuf,
}

/// How a command that names a server trusts its certificate.
#[derive(Args, Clone)]
pub struct Trust {
    /// A certificate authority (PEM file) to trust for the server besides
    /// the system's roots, for a node whose certificate is private. A device
    /// or staff session remembers it for the commands that follow.
    #[arg(long, env = "KIZUNA_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
}

impl Trust {
    /// The authority's PEM text, read now so a wrong path fails before
    /// anything is sent.
    pub fn read(&self) -> anyhow::Result<Option<Vec<u8>>> {
        let Some(path) = &self.ca_cert else {
            return Ok(None);
        };
        std::fs::read(path).map(Some).map_err(|e| {
            crate::exit::Usage(format!(
                "cannot read the CA certificate {}: {e}",
                path.display()
            ))
            .into()
        })
    }
}

fn default_home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".kizuna")
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum ReasonArg {
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
pub enum Command {
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
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Show the safety number with someone, to compare in person or over
    /// another channel; `--confirm` once it matches.
    Verify(chat::VerifyArgs),
    /// Create chats and change who is in them.
    #[command(subcommand)]
    Chat(chat::ChatCommand),
    /// Official accounts: whether one is (checked in the key log), and an
    /// organisation's application for its own.
    Official(crate::official::OfficialArgs),
    /// Run an official account's daemon with this device: followers'
    /// messages go to the organisation's webhook, its replies, cards and
    /// notices come in through a local API.
    Bot(crate::bot::BotArgs),
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
        /// The message (with --file, give a caption with --caption).
        #[arg(required_unless_present = "file", conflicts_with = "file")]
        text: Option<String>,
        /// Send a file instead, sealed on this device with a key of its own;
        /// a photo's location and other metadata are removed first.
        #[arg(long, value_name = "PATH")]
        file: Option<std::path::PathBuf>,
        /// A line shown with the file.
        #[arg(long, requires = "file")]
        caption: Option<String>,
        /// Send a photo with its metadata (location, camera, time) as it is.
        #[arg(long, requires = "file")]
        keep_metadata: bool,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Save the file a message carries: fetched, opened on this device and
    /// checked against the message before it is written.
    Save {
        #[command(flatten)]
        home: Home,
        /// Chat id (or a unique prefix of it, or the chat's name).
        chat: String,
        /// The message's number, as `kizuna history CHAT` shows it (#N).
        message: u64,
        /// Where to write it (a file, or a directory to put it in); by
        /// default its name in the current directory.
        #[arg(long, value_name = "PATH")]
        out: Option<std::path::PathBuf>,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
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
    /// Answer a message's buttons or form (an official account's card):
    /// the choice travels back to the organisation, end-to-end encrypted.
    Answer {
        #[command(flatten)]
        home: Home,
        /// Chat id (or a unique prefix of it, or the chat's name).
        chat: String,
        /// The card's number, as `kizuna history CHAT` shows it (#N).
        message: u64,
        /// The button to press, by the id shown beside it.
        #[arg(long, required_unless_present = "fields")]
        choice: Option<String>,
        /// A field of the form as ID=VALUE; repeat for each field.
        #[arg(long = "field", conflicts_with = "choice", value_parser = crate::official::field_value)]
        fields: Vec<(String, String)>,
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
    /// Run this device's app: a page on this machine's loopback address,
    /// served by this process, which keeps the keys and talks to the node.
    /// Prints the address to open (with a one-time secret).
    App {
        #[command(flatten)]
        home: Home,
        /// Open the address in the system's browser too.
        #[arg(long)]
        open: bool,
        /// Listen on this loopback port instead of a free one.
        #[arg(long)]
        port: Option<u16>,
        /// Print the address as JSON for scripts.
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
    Demo {
        /// Tell the story as JSON, one object per line.
        #[arg(long)]
        json: bool,
    },
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
    Bench(crate::bench::BenchArgs),
}

#[derive(Args)]
pub struct ServeArgs {
    /// Where the node keeps its database and key files.
    #[arg(long, default_value = "./kizuna-data")]
    pub data_dir: PathBuf,
    /// Address of the user API.
    #[arg(long, default_value_t = SocketAddr::from(([127, 0, 0, 1], kizuna_wire::DEFAULT_USER_PORT)))]
    pub listen: SocketAddr,
    /// Sustained requests per device per second.
    #[arg(long, default_value_t = 50)]
    pub rate_limit: u32,
    /// New accounts and device-link requests per network address per
    /// minute.
    #[arg(long, default_value_t = 60)]
    pub signups_per_minute: u32,
    /// The Cedar policy for staff access (default: `policy.cedar` beside
    /// --config if there is one, else the shipped policy, printed by
    /// `kizuna staff policy`).
    #[arg(long, env = "KIZUNA_POLICY")]
    pub policy: Option<PathBuf>,
    /// Refused staff attempts within an hour that raise an alert and
    /// suspend the staff member.
    #[arg(long, default_value_t = 5)]
    pub staff_max_refusals_per_hour: u64,
    /// Different people one staff member may read within an hour before an
    /// alert is raised and they are suspended.
    #[arg(long, default_value_t = 50)]
    pub staff_max_people_per_hour: u64,
    /// Address of the staff API, a listener of its own (default: loopback,
    /// on the port after --listen's, so 7481 beside the default 7480 and
    /// never the port of another node's user API).
    #[arg(long)]
    pub staff_listen: Option<SocketAddr>,
    /// Address of the operations listener: /healthz, /readyz and /metrics
    /// (Prometheus) for monitoring (default: loopback, two ports after
    /// --listen's, so 7482 beside the default 7480).
    #[arg(long)]
    pub ops_listen: Option<SocketAddr>,
    /// How the node logs to stderr: `text` for people, `json` (one object
    /// per line) for a log pipeline.
    #[arg(long, env = "KIZUNA_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// The region configuration (kizuna.toml); without it, the embedded
    /// default with regions jp and kr (`kizuna config default` prints it).
    #[arg(long, env = "KIZUNA_CONFIG")]
    pub config: Option<PathBuf>,
    /// Serve HTTPS and WSS on both listeners with this certificate chain
    /// (PEM, the node's own certificate first); needs --tls-key.
    #[arg(long, requires = "tls_key", env = "KIZUNA_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, requires = "tls_cert", env = "KIZUNA_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// A reverse proxy's network (CIDR) whose X-Forwarded-For names the
    /// client; repeatable. From any other peer the header is ignored.
    #[arg(long = "trusted-proxy", value_name = "CIDR")]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Open connections each listener holds at most (kept below the
    /// open-file limit); beyond it a connection is refused with 503.
    #[arg(long, default_value_t = 50_000)]
    pub max_connections: usize,
    /// Seconds for a request's headers (and a TLS handshake) to arrive,
    /// and for an idle keep-alive connection to stay open.
    #[arg(long, default_value_t = 10)]
    pub header_timeout: u64,
    /// Seconds for a request's body to arrive whole.
    #[arg(long, default_value_t = 30)]
    pub body_timeout: u64,
    /// Seconds of silence from a peer (WebSockets included) before the
    /// node closes the connection.
    #[arg(long, default_value_t = 90)]
    pub idle_timeout: u64,
    /// Live WebSockets one device may hold at once.
    #[arg(long, default_value_t = 4)]
    pub websockets_per_device: usize,

    /// Say where the node listens as one JSON object, for scripts.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct RegisterArgs {
    #[command(flatten)]
    pub home: Home,
    /// The server, e.g. http://127.0.0.1:7480 or https://kizuna.example; for
    /// a cluster, one name behind its load balancer or several nodes
    /// separated by commas (the device moves on to the next when one cannot
    /// be reached).
    #[arg(long, env = "KIZUNA_SERVER")]
    pub server: String,
    #[command(flatten)]
    pub trust: Trust,
    #[arg(long)]
    pub handle: String,
    #[arg(long)]
    pub name: String,
    /// International form, e.g. +819012345678
    #[arg(long)]
    pub phone: String,
    /// The six-digit code the node sent to --phone. Without it, a code is
    /// sent and asked for when a terminal is there to type it; otherwise
    /// the command exits with 2 and is run again with the code.
    #[arg(long, value_name = "CODE")]
    pub phone_code: Option<String>,
    #[arg(long)]
    pub email: Option<String>,
    /// Home region where your personal data is kept (jp, kr).
    #[arg(long)]
    pub region: String,
    /// A name for this device.
    #[arg(long, default_value = "cli")]
    pub device_label: String,
    /// I read the disclosures printed for my region (every foreign country
    /// that may reach my data) and agree to them. Without it they are
    /// printed, nothing is created, and the command exits with 2.
    #[arg(long)]
    pub agree: bool,
    /// Print JSON for scripts: the disclosures, and the account created.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand)]
pub enum DeviceCommand {
    /// On the new device: ask to join an account; prints a code to approve.
    Link {
        #[command(flatten)]
        home: Home,
        /// The server, or several nodes separated by commas.
        #[arg(long, env = "KIZUNA_SERVER")]
        server: String,
        #[command(flatten)]
        trust: Trust,
        #[arg(long)]
        handle: String,
        #[arg(long, default_value = "cli")]
        device_label: String,
        /// Seconds to wait for approval.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
        /// Print JSON for scripts (the code to approve, then the outcome,
        /// one object per line).
        #[arg(long)]
        json: bool,
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
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// On an existing device: approve a code and add the new device to every chat.
    Approve {
        #[command(flatten)]
        home: Home,
        /// The code the new device printed.
        code: String,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{Cli, Command};
    use crate::bench::BenchArgs;

    fn bench(args: &[&str]) -> Result<BenchArgs, clap::Error> {
        let cli = Cli::try_parse_from(["kizuna", "bench"].iter().chain(args))?;
        match cli.command {
            Command::Bench(a) => Ok(a),
            _ => panic!("not the bench command"),
        }
    }

    #[test]
    fn bench_runs_one_node_unless_told_otherwise() {
        let a = bench(&[]).unwrap();
        assert_eq!(a.nodes, 1);
        assert_eq!(a.postgres, "postgres://postgres@127.0.0.1:5432/test");
        assert_eq!(a.nats, "nats://127.0.0.1:4222");
    }

    #[test]
    fn bench_nodes_takes_the_cluster_services() {
        let a = bench(&[
            "--nodes",
            "3",
            "--postgres",
            "postgres://bench@db:5433/x",
            "--nats",
            "nats://n:4222",
        ])
        .unwrap();
        assert_eq!(
            (a.nodes, a.postgres.as_str(), a.nats.as_str()),
            (3, "postgres://bench@db:5433/x", "nats://n:4222")
        );
    }

    #[test]
    fn bench_nodes_is_at_least_one_and_only_for_the_messaging_load() {
        assert!(bench(&["--nodes", "0"]).is_err());
        assert!(bench(&["--nodes", "3", "--policy"]).is_err());
        assert!(bench(&["--nodes", "3", "--ledger"]).is_err());
    }
}
