//! `kizuna bench`: the load generator and the other benchmarks, with their
//! progress on a terminal.

use std::path::PathBuf;

use clap::Args;

/// Runs the benchmark the flags choose: --policy, --ledger, --breach or
/// --governed or --files alone, else the messaging load.
pub async fn run(a: BenchArgs) -> anyhow::Result<()> {
    if a.policy {
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
    } else if a.ledger {
        let display = BenchProgress::default();
        let report = kizuna_bench::ledger::run(&a.work_dir, a.appends, a.writers, a.entries, |p| {
            display.show(p)
        })
        .await;
        display.finish();
        print_report(a.json, &report?)
    } else if a.breach {
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
    } else if a.files {
        let opts = kizuna_bench::FilesOptions {
            kizuna_bin: std::env::current_exe()?,
            work_dir: a.work_dir.clone(),
            size_mib: a.file_mib,
            pin: !a.no_pin,
        };
        let display = BenchProgress::default();
        let report = kizuna_bench::run_files(opts, |p| display.show(p)).await;
        display.finish();
        let _ = std::fs::remove_dir_all(&a.work_dir);
        print_report(a.json, &report?)
    } else if a.announce {
        let opts = kizuna_bench::AnnounceOptions {
            kizuna_bin: std::env::current_exe()?,
            work_dir: a.work_dir.clone(),
            followers: a.followers,
            online: a.online,
            late: a.late,
            notices: a.notices,
            pin: !a.no_pin,
        };
        let display = BenchProgress::default();
        let report = kizuna_bench::run_announce(opts, |p| display.show(p)).await;
        display.finish();
        let _ = std::fs::remove_dir_all(&a.work_dir);
        print_report(a.json, &report?)
    } else if a.governed {
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
    } else {
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
            nodes: usize::from(a.nodes),
            cluster: kizuna_bench::ClusterOptions {
                postgres: a.postgres.clone(),
                nats: a.nats.clone(),
            },
        };
        let display = BenchProgress::default();
        // Ctrl-C ends the run by dropping it, which stops its nodes and
        // drops a cluster's databases rather than leaving them behind.
        let report = tokio::select! {
            r = kizuna_bench::run(opts, |p| display.show(p)) => r.map_err(anyhow::Error::from),
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted; the run's nodes were stopped")),
        };
        display.finish();
        let _ = std::fs::remove_dir_all(&a.work_dir);
        print_report(a.json, &report?)
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

#[derive(Args)]
pub struct BenchArgs {
    /// Devices, each with its own identity and WebSocket.
    #[arg(long, default_value_t = 1000)]
    pub devices: usize,
    /// Devices per group.
    #[arg(long, default_value_t = 10)]
    pub group_size: usize,
    /// Messages to send in the measured run.
    #[arg(long, default_value_t = 30_000)]
    pub messages: usize,
    /// Messages sent per second (each is delivered to group-size - 1 devices).
    #[arg(long, default_value_t = 2300.0)]
    pub rate: f64,
    /// Where the node and the devices keep their files during the run.
    #[arg(long, default_value_os_t = std::env::temp_dir().join("kizuna-bench"))]
    pub work_dir: PathBuf,
    /// Do not pin the server and the load generator to separate cores.
    #[arg(long)]
    pub no_pin: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Instead: time access decisions of the staff realm's Cedar policy.
    #[arg(long)]
    pub policy: bool,
    /// With --policy: how many decisions.
    #[arg(long, default_value_t = 200_000)]
    pub decisions: u64,
    /// While the messages are sent, a staff member also makes this many
    /// governed reads per second (under a live, approved grant).
    #[arg(long, default_value_t = 0.0)]
    pub governed_reads: f64,
    /// Instead: only governed staff reads, as fast as the node answers them.
    #[arg(long, conflicts_with = "policy")]
    pub governed: bool,
    /// With --governed: people registered and named in grants.
    #[arg(long, default_value_t = 500)]
    pub subjects: usize,
    /// With --governed: how many reads.
    #[arg(long, default_value_t = 20_000)]
    pub reads: u64,
    /// With --governed: staff requests in flight at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Instead: the transparency ledger's durable appends per second, and
    /// proof generation at --entries.
    #[arg(long, conflicts_with_all = ["policy", "governed"])]
    pub ledger: bool,
    /// With --ledger: appends timed, one leaf each.
    #[arg(long, default_value_t = 1_000_000)]
    pub appends: u64,
    /// With --ledger: concurrent writers.
    #[arg(long, default_value_t = 1024)]
    pub writers: usize,
    /// With --ledger: the ledger's size when proofs are timed; with
    /// --breach: the generated ledger's size.
    #[arg(long, default_value_t = 10_000_000)]
    pub entries: u64,
    /// Instead: generate a ledger of --entries in which one organisation
    /// read --affected people, and time scoping that breach and its drafts.
    #[arg(long, conflicts_with_all = ["policy", "governed", "ledger"])]
    pub breach: bool,
    /// Instead: a file sent through a node and saved by its recipient,
    /// beside the disk's own sequential write and read of the same size,
    /// with the node's memory during the transfers.
    #[arg(long, conflicts_with_all = ["policy", "governed", "ledger", "breach"])]
    pub files: bool,
    /// With --files: the file's size in MiB.
    #[arg(long, default_value_t = 1024)]
    pub file_mib: u64,
    /// With --breach: the people the organisation read.
    #[arg(long, default_value_t = 500_000)]
    pub affected: u64,
    /// Instead: an official account's announcement to --followers on one
    /// node (imported into its store), the time until the last of --online
    /// connected devices has it, devices signing in afterwards (--late),
    /// and --notices targeted end-to-end encrypted notices per second.
    #[arg(long, conflicts_with_all = ["policy", "governed", "ledger", "breach", "files"])]
    pub announce: bool,
    /// With --announce: followers in all.
    #[arg(long, default_value_t = 1_000_000)]
    pub followers: u64,
    /// With --announce: devices connected when it is made.
    #[arg(long, default_value_t = 2_000)]
    pub online: usize,
    /// With --announce: devices that sign in afterwards and read it.
    #[arg(long, default_value_t = 10_000)]
    pub late: usize,
    /// With --announce: followers with real chats who get a targeted notice.
    #[arg(long, default_value_t = 200)]
    pub notices: usize,
    /// Nodes to spread the devices over. 1: one node on its own data
    /// directory (pinned to a core). More: a cluster set up for the run,
    /// its stores in fresh databases on --postgres (dropped afterwards) and
    /// its wake-ups over --nats, not pinned.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64),
          conflicts_with_all = ["policy", "governed", "ledger", "breach", "files"])]
    pub nodes: u16,
    /// With --nodes above 1: a database on the PostgreSQL server the run's
    /// databases are created on.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pub postgres: String,
    /// With --nodes above 1: the NATS server the nodes wake each other
    /// through.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    pub nats: String,
}
