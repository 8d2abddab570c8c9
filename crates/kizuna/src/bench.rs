//! `kizuna bench`: the load generator and the other benchmarks, with their
//! progress on a terminal.

use crate::cli::BenchArgs;

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
