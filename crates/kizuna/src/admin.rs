//! `kizuna admin …` and `kizuna config …`: the operator's commands on a
//! node's data directory and region configuration.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use kizuna_config::Regions;
use kizuna_server::admin::Admin;

#[derive(Args)]
pub struct NodeDir {
    /// The node's data directory.
    #[arg(long, default_value = "./kizuna-data")]
    data_dir: PathBuf,
    /// The region configuration the node runs with (default: the embedded one).
    #[arg(long, env = "KIZUNA_CONFIG")]
    config: Option<PathBuf>,
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Bring the node store and every region's store to the schema this
    /// Kizuna knows. Shared PostgreSQL databases are migrated under a lock,
    /// while nodes serve; safe to run again, from any node.
    Migrate {
        #[command(flatten)]
        node: NodeDir,
    },
    /// Make every key that is missing: the node's own, and each region's
    /// that holds nobody yet. The nodes of a cluster run it once and are
    /// each given a copy of the data directory's keys/.
    InitKeys {
        #[command(flatten)]
        node: NodeDir,
    },
    /// Move people's personal data to another region: re-sealed there,
    /// verified, then removed from the old one. Safe to run again after a
    /// crash midway.
    MoveRegion {
        #[command(flatten)]
        node: NodeDir,
        /// The person to move, by handle.
        #[arg(
            long,
            conflicts_with = "all_from",
            required_unless_present = "all_from"
        )]
        subject: Option<String>,
        /// Move everyone whose data is in this region.
        #[arg(long)]
        all_from: Option<String>,
        /// The region to move to.
        #[arg(long)]
        to: String,
    },
    /// Re-wrap every data key of a region under a new region key, then retire
    /// the old key. Resumable. In a cluster, the first run only stages the
    /// new key version in the key file, to be given to every node; the
    /// next run re-wraps.
    RotateKey {
        #[command(flatten)]
        node: NodeDir,
        #[arg(long)]
        region: String,
    },
}

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Check a configuration as `kizuna serve` would — the regions, the
    /// staff access policy beside it (or --policy), and, with --data-dir,
    /// that every region people live in is still defined — and summarise
    /// what it allows.
    Check {
        /// The file (default: the embedded configuration).
        #[arg(long, env = "KIZUNA_CONFIG")]
        config: Option<PathBuf>,
        /// The staff access policy `serve` would load (default: `policy.cedar`
        /// beside --config if there is one, else the shipped policy).
        #[arg(long, env = "KIZUNA_POLICY")]
        policy: Option<PathBuf>,
        /// A node's data directory to check the configuration against.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Print the embedded default configuration, to start a kizuna.toml from.
    Default {
        /// Print it inside JSON (`{"toml": "…"}`) for scripts.
        #[arg(long)]
        json: bool,
    },
}

/// The configuration at `path`, or the embedded default.
pub fn regions(path: Option<&Path>) -> anyhow::Result<Regions> {
    Ok(match path {
        Some(p) => Regions::load(p)?,
        None => Regions::embedded(),
    })
}

/// The staff access policy a node started with `--policy` and `--config`
/// loads: the one named, else `policy.cedar` beside the configuration, else
/// the shipped one (`None`).
pub fn policy_path(policy: Option<&Path>, config: Option<&Path>) -> Option<PathBuf> {
    policy.map(Path::to_path_buf).or_else(|| {
        // Beside the region configuration, as an operator keeps both in one
        // configuration directory.
        let beside = config?.parent()?.join(POLICY_FILE);
        beside.is_file().then_some(beside)
    })
}

/// The staff access policy's file name in a configuration directory.
const POLICY_FILE: &str = "policy.cedar";

pub async fn config(c: ConfigCommand) -> anyhow::Result<()> {
    match c {
        ConfigCommand::Default { json: false } => print!("{}", kizuna_config::DEFAULT_TOML),
        ConfigCommand::Default { json: true } => {
            out!(
                "{}",
                serde_json::json!({ "toml": kizuna_config::DEFAULT_TOML })
            )
        }
        ConfigCommand::Check {
            config,
            policy,
            data_dir,
            json,
        } => {
            // What `serve` refuses, in the order it refuses it.
            let r = regions(config.as_deref())?;
            let policy = policy_path(policy.as_deref(), config.as_deref());
            kizuna_server::load_policy(policy.as_deref())?;
            if let Some(dir) = &data_dir {
                kizuna_server::check_configuration(&kizuna_config::DataDir::new(dir), &r).await?;
            }
            if json {
                let regions: Vec<serde_json::Value> = r
                    .regions()
                    .iter()
                    .map(|region| {
                        serde_json::json!({
                            "id": region.id,
                            "name": region.name,
                            "country": region.country,
                            "reachable_from": region.access_from.iter().map(|a| a.country.as_str()).collect::<Vec<_>>(),
                        })
                    })
                    .collect();
                out!(
                    "{}",
                    serde_json::json!({
                        "valid": true,
                        "origin": r.origin,
                        "node_region": r.node_region().id,
                        "policy": policy.as_ref().map(|p| p.display().to_string()),
                        "data_dir": data_dir.as_ref().map(|d| d.display().to_string()),
                        "regions": regions,
                    })
                );
                return Ok(());
            }
            out!("{}: valid", r.origin);
            match &policy {
                Some(p) => out!("staff access policy {}: valid", p.display()),
                None => out!("staff access policy: the shipped one"),
            }
            if let Some(dir) = &data_dir {
                out!(
                    "data directory {}: every region people live in is defined",
                    dir.display()
                );
            }
            out!("node region: {}", r.node_region().id);
            for region in r.regions() {
                let from: Vec<&str> = region
                    .access_from
                    .iter()
                    .map(|a| a.country.as_str())
                    .collect();
                out!(
                    "region {} ({}, {}): reachable from {}",
                    region.id,
                    region.name,
                    region.country,
                    from.join(", ")
                );
            }
        }
    }
    Ok(())
}

/// A progress bar on a terminal; silent otherwise.
pub struct Bar(indicatif::ProgressBar);

impl Bar {
    pub fn new(what: &str) -> Bar {
        Bar::styled(&format!(
            "{what} [{{bar:40}}] {{pos}}/{{len}} ({{eta}} left)"
        ))
    }

    /// A bar counting bytes, with the rate.
    pub fn bytes(what: &str) -> Bar {
        Bar::styled(&format!(
            "{what} [{{bar:40}}] {{bytes}}/{{total_bytes}} ({{bytes_per_sec}}, {{eta}} left)"
        ))
    }

    fn styled(template: &str) -> Bar {
        let b = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            indicatif::ProgressBar::new(0)
        } else {
            indicatif::ProgressBar::hidden()
        };
        b.set_style(
            indicatif::ProgressStyle::with_template(template)
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Bar(b)
    }

    /// Shows `done` of `total`.
    pub fn at(&self, done: u64, total: u64) {
        self.0.set_length(total);
        self.0.set_position(done);
    }
}

impl Bar {
    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl kizuna_vault::Progress for Bar {
    fn total(&self, n: u64) {
        self.0.set_length(n);
    }
    fn advance(&self, n: u64) {
        self.0.inc(n);
    }
}

/// What a move did, counted: those moved, and those who already lived in
/// the target region (moved by an earlier run, or never elsewhere).
fn move_summary(moved: &[kizuna_server::admin::Moved], to: &str) -> String {
    let n = moved.iter().filter(|m| m.from != m.to).count();
    let already = moved.len() - n;
    let people = |n: usize| if n == 1 { "person" } else { "people" };
    let mut line = format!("moved {n} {} to region {to}", people(n));
    if already > 0 {
        line.push_str(&format!(
            "; {already} {} already lived there",
            people(already)
        ));
    }
    line
}

pub async fn run(a: AdminCommand) -> anyhow::Result<()> {
    match a {
        AdminCommand::Migrate { node } => {
            let r = regions(node.config.as_deref())?;
            let dir = kizuna_config::DataDir::new(&node.data_dir);
            // Files in a data directory are one node's: not while it runs.
            let _lock = match r.node_store {
                None => Some(dir.lock()?),
                Some(_) => None,
            };
            let migrated = kizuna_server::stores::migrate(&dir, &r).await?;
            if node.json {
                out!("{}", serde_json::to_string(&migrated)?);
            } else {
                for m in &migrated {
                    match (m.applied.first(), m.applied.last()) {
                        (Some(first), Some(last)) if first == last => {
                            out!("{} ({}): applied version {first}", m.store, m.location)
                        }
                        (Some(first), Some(last)) => {
                            out!(
                                "{} ({}): applied versions {first}-{last}",
                                m.store,
                                m.location
                            )
                        }
                        _ => out!("{} ({}): up to date", m.store, m.location),
                    }
                }
            }
        }
        AdminCommand::InitKeys { node } => {
            let r = regions(node.config.as_deref())?;
            let dir = kizuna_config::DataDir::new(&node.data_dir);
            let _lock = match r.node_store {
                None => Some(dir.lock()?),
                Some(_) => None,
            };
            let made = kizuna_server::stores::init_keys(&dir, &r).await?;
            if node.json {
                out!("{}", serde_json::json!({ "made": made }));
            } else if made.is_empty() {
                out!("every key exists already; nothing was made");
            } else {
                for m in &made {
                    out!("made {m}");
                }
                if r.cluster.is_some() {
                    out!(
                        "give every node of the cluster a copy of {}",
                        node.data_dir.join("keys").display()
                    );
                }
            }
        }
        AdminCommand::MoveRegion {
            node,
            subject,
            all_from,
            to,
        } => {
            let admin = Admin::open(&node.data_dir, regions(node.config.as_deref())?).await?;
            let result = match (subject, all_from) {
                (Some(handle), _) => admin.move_subject(&handle, &to).await.map(|m| vec![m]),
                (None, Some(from)) => {
                    let bar = Bar::new("moving");
                    let r = admin.move_all(&from, &to, &bar).await;
                    bar.0.finish_and_clear();
                    r
                }
                (None, None) => Err(anyhow::anyhow!("name --subject or --all-from"))?,
            };
            admin.close().await;
            let moved = result?;
            if node.json {
                out!("{}", serde_json::to_string(&moved)?);
            } else {
                for m in &moved {
                    if m.from == m.to {
                        out!("{} already lives in {}", m.handle, m.to);
                    } else {
                        out!("moved {} from {} to {} (verified)", m.handle, m.from, m.to);
                    }
                    if m.agreement_needed {
                        out!(
                            "  {} must agree to region {}'s disclosures (`kizuna me consent agree`) before any country abroad reaches their data again",
                            m.handle, m.to
                        );
                    }
                    if !m.cleaned.is_empty() {
                        out!(
                            "  removed the copy an earlier run left in {}",
                            m.cleaned.join(", ")
                        );
                    }
                }
                out!("{}", move_summary(&moved, &to));
            }
        }
        AdminCommand::RotateKey { node, region } => {
            let admin = Admin::open(&node.data_dir, regions(node.config.as_deref())?).await?;
            let bar = Bar::new("re-wrapping");
            let r = admin.rotate_key(&region, &bar).await;
            bar.0.finish_and_clear();
            admin.close().await;
            let r = r?;
            if node.json {
                out!(
                    "{}",
                    serde_json::json!({
                        "region": region,
                        "key_version": r.new_version,
                        "staged": r.staged,
                        "key": r.key_place,
                        "rewrapped": r.rewrapped,
                        "retired_versions": r.retired_versions,
                    })
                );
            } else if r.staged {
                out!(
                    "region {region}: key version {} staged in the {}; nothing is wrapped under it yet.\n\
                     Give that file to every node of the cluster (each takes the new version up when it \
                     first meets data under it), then run `kizuna admin rotate-key --region {region}` \
                     again to re-wrap.",
                    r.new_version,
                    r.key_place
                );
            } else {
                out!(
                    "region {region}: {} data keys now wrapped by key version {}; retired versions: {}",
                    r.rewrapped,
                    r.new_version,
                    if r.retired_versions.is_empty() {
                        "none".to_string()
                    } else {
                        r.retired_versions
                            .iter()
                            .map(|v| v.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                );
            }
        }
    }
    Ok(())
}
