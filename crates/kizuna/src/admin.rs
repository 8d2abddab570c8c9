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
    /// the old key. Resumable.
    RotateKey {
        #[command(flatten)]
        node: NodeDir,
        #[arg(long)]
        region: String,
    },
}

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Check a configuration file and summarise what it allows.
    Check {
        /// The file (default: the embedded configuration).
        #[arg(long, env = "KIZUNA_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Print the embedded default configuration, to start a kizuna.toml from.
    Default,
}

/// The configuration at `path`, or the embedded default.
pub fn regions(path: Option<&Path>) -> anyhow::Result<Regions> {
    Ok(match path {
        Some(p) => Regions::load(p)?,
        None => Regions::embedded(),
    })
}

pub fn config(c: ConfigCommand) -> anyhow::Result<()> {
    match c {
        ConfigCommand::Default => print!("{}", kizuna_config::DEFAULT_TOML),
        ConfigCommand::Check { config } => {
            let r = regions(config.as_deref())?;
            out!("{}: valid", r.origin);
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
        let b = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            indicatif::ProgressBar::new(0)
        } else {
            indicatif::ProgressBar::hidden()
        };
        b.set_style(
            indicatif::ProgressStyle::with_template(&format!(
                "{what} [{{bar:40}}] {{pos}}/{{len}} ({{eta}} left)"
            ))
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Bar(b)
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

pub async fn run(a: AdminCommand) -> anyhow::Result<()> {
    match a {
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
                let n = moved.len();
                out!(
                    "{n} {} in region {to}",
                    if n == 1 { "person is" } else { "people are" }
                );
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
                        "rewrapped": r.rewrapped,
                        "retired_versions": r.retired_versions,
                    })
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
