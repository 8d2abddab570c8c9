//! `kizuna audit …`: checking the transparency ledger, offline on a stopped
//! node's data directory or online against a running node, and printing
//! its signed tree heads for witnesses.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use kizuna_ledger::audit::LogProblem;
use kizuna_ledger::SignedTreeHead;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Recompute the ledger's tree from its leaves and check every signed
    /// tree head (and any heads witnesses kept); offline, also match every
    /// entry the regions hold to its leaf and open it with the region keys.
    /// Names the first bad entry; exits with 6 if anything is wrong.
    Verify {
        #[command(flatten)]
        at: Target,
        /// Files of signed tree heads kept outside the node (as
        /// `kizuna audit heads` prints them); repeatable.
        #[arg(long)]
        witness: Vec<PathBuf>,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Print the latest signed tree head (or all of them) as signed notes,
    /// the form outside witnesses keep and compare.
    Heads {
        #[command(flatten)]
        at: Target,
        /// Every head the ledger signed, not only the latest.
        #[arg(long)]
        all: bool,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
pub struct Target {
    /// A stopped node's data directory (offline: leaves, heads and entries).
    #[arg(long, required_unless_present = "server")]
    data_dir: Option<PathBuf>,
    /// A running node's user API (online: leaf hashes and heads only, no
    /// entry is seen).
    #[arg(long, conflicts_with = "data_dir", env = "KIZUNA_SERVER")]
    server: Option<String>,
    #[command(flatten)]
    trust: crate::cli::Trust,
    /// The data directory's region configuration.
    #[arg(long, env = "KIZUNA_CONFIG")]
    config: Option<PathBuf>,
}

/// The ledger failed an audit.
#[derive(Debug)]
pub struct AuditFailed(pub String);

impl std::fmt::Display for AuditFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AuditFailed {}

/// The heads witnesses kept, from files of signed notes, each checked with
/// the ledger's key.
fn witnessed(
    files: &[PathBuf],
    key: &ed25519_dalek::VerifyingKey,
) -> anyhow::Result<Vec<SignedTreeHead>> {
    let mut heads = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", f.display()))?;
        heads.extend(kizuna_ledger::note::read_notes(&text, key).map_err(|e| {
            AuditFailed(format!(
                "a head in {} does not verify with this ledger's key: {e}",
                f.display()
            ))
        })?);
    }
    Ok(heads)
}

fn report(
    json: bool,
    value: &impl serde::Serialize,
    summary: &str,
    problems: &[LogProblem],
) -> anyhow::Result<()> {
    if json {
        out!("{}", serde_json::to_string_pretty(value)?);
    } else {
        out!("{summary}");
        for p in problems.iter().take(20) {
            match p.index {
                Some(i) => out!("  at entry {i}: {}", p.what),
                None => out!("  {}", p.what),
            }
        }
        if problems.len() > 20 {
            out!("  … and {} more", problems.len() - 20);
        }
    }
    match problems.first() {
        None => Ok(()),
        Some(p) => Err(AuditFailed(match p.index {
            Some(i) => format!(
                "the ledger failed the audit; the first bad entry is {i}: {}",
                p.what
            ),
            None => format!("the ledger failed the audit: {}", p.what),
        })
        .into()),
    }
}

pub async fn run(cmd: AuditCommand) -> anyhow::Result<()> {
    match cmd {
        AuditCommand::Verify { at, witness, json } => match (&at.data_dir, &at.server) {
            (Some(dir), _) => {
                let regions = crate::admin::regions(at.config.as_deref())?;
                let (_, key) = kizuna_server::audit::ledger_key(dir, &regions)?;
                let witnessed = witnessed(&witness, &key)?;
                let bar = crate::admin::Bar::new("checking entries");
                let r = kizuna_server::audit::verify(dir, regions, &witnessed, &bar).await;
                bar.finish();
                let r = r?;
                // Entries a stop without closing left unnumbered are told
                // apart from deleted ones: they are not tampering.
                let unfinished = match (r.pending_entries, r.unappended_entries) {
                    (0, 0) => String::new(),
                    (p, u) => format!(
                        " ({p} written but not yet numbered, which the next start numbers; {u} written but never appended, which the next start removes)"
                    ),
                };
                let unfinished = match r.entries_after_read {
                    0 => unfinished,
                    a => format!(
                        "{unfinished} ({a} appended by the serving nodes after the log was read)"
                    ),
                };
                let summary = format!(
                    "ledger {}: {} entries, {} signed heads and {} witnessed checked; {} entries opened and matched, {} of erased people{unfinished}; {}",
                    r.origin,
                    r.entries,
                    r.heads,
                    r.witnessed,
                    r.verified_entries,
                    r.erased_entries,
                    if r.is_clean() { "all consistent".to_string() } else { format!("{} problems:", r.problems.len()) }
                );
                report(json, &r, &summary, &r.problems)
            }
            (None, Some(server)) => {
                let server =
                    kizuna_client::ServerAddress::new(server).with_ca_cert(at.trust.read()?);
                let (_, key, _) = kizuna_client::audit::heads(&server).await?;
                let witnessed = witnessed(&witness, &key)?;
                let r = kizuna_client::audit::verify_server(&server, &witnessed, |_, _| {}).await?;
                let summary = format!(
                    "ledger {} at {server}: {} entries, {} signed heads and {} witnessed checked against the leaves; {}",
                    r.origin,
                    r.entries,
                    r.heads,
                    r.witnessed,
                    if r.problems.is_empty() { "all consistent".to_string() } else { format!("{} problems:", r.problems.len()) }
                );
                report(json, &r, &summary, &r.problems)
            }
            (None, None) => Err(crate::exit::Usage("give --data-dir or --server".into()).into()),
        },
        AuditCommand::Heads { at, all, json } => {
            let (key, heads) = match (&at.data_dir, &at.server) {
                (Some(dir), _) => {
                    let regions = crate::admin::regions(at.config.as_deref())?;
                    let (_, key) = kizuna_server::audit::ledger_key(dir, &regions)?;
                    (key, kizuna_server::audit::heads(dir, &regions).await?)
                }
                (None, Some(server)) => {
                    let server =
                        kizuna_client::ServerAddress::new(server).with_ca_cert(at.trust.read()?);
                    let (_, key, heads) = kizuna_client::audit::heads(&server).await?;
                    (key, heads)
                }
                (None, None) => {
                    return Err(crate::exit::Usage("give --data-dir or --server".into()).into())
                }
            };
            let shown: Vec<&SignedTreeHead> = if all {
                heads.iter().collect()
            } else {
                heads.last().into_iter().collect()
            };
            if json {
                out!("{}", serde_json::to_string_pretty(&shown)?);
            } else if shown.is_empty() {
                eprintln!("the ledger has signed no tree head yet");
            } else {
                for h in shown {
                    out!("{}", h.to_note(&key));
                }
            }
            Ok(())
        }
    }
}
