//! Governed reads under load: a staff member with a live, approved grant
//! reads people's records through the staff listener, each read decided by
//! the Cedar policy and recorded in the person's region before it is
//! answered — alone, to see how many a node serves per second, or beside
//! the messaging run, to see that it does not slow messaging down.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use kizuna_console::staff::StaffClient;
use kizuna_wire::staff::{GrantRequest, NewStaffMember, Purpose, Role, StaffCredentials};

use crate::node::{handle, register, Node};
use crate::{BenchError, Progress};

/// People a grant may name at most.
const SUBJECTS_PER_GRANT: usize = 100;

#[derive(Clone, Debug, serde::Serialize)]
pub struct GovernedReport {
    pub reads: u64,
    pub refused: u64,
    pub subjects: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub reads_per_sec: f64,
}

impl std::fmt::Display for GovernedReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "governed reads     {} of {} people ({} refused)",
            self.reads, self.subjects, self.refused
        )?;
        writeln!(
            f,
            "governed latency   p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (policy, record in the person's region, read)",
            self.p50_ms, self.p99_ms, self.max_ms
        )?;
        write!(f, "governed rate      {:.0} reads/s", self.reads_per_sec)
    }
}

/// Creates the operator's first admin in `data_dir` with the node's own
/// offline command, before the node starts.
pub fn bootstrap(kizuna_bin: &Path, data_dir: &Path) -> Result<StaffCredentials, BenchError> {
    let out = Command::new(kizuna_bin)
        .args(["staff", "bootstrap", "--json", "--staff-id", "root"])
        .arg("--data-dir")
        .arg(data_dir)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| BenchError::Setup(format!("kizuna staff bootstrap: {e}")))?;
    if !out.status.success() {
        return Err(BenchError::Setup("kizuna staff bootstrap failed".into()));
    }
    serde_json::from_slice(&out.stdout)
        .map_err(|e| BenchError::Setup(format!("kizuna staff bootstrap printed: {e}")))
}

pub(crate) async fn login(
    home: &Path,
    staff_url: &str,
    c: &StaffCredentials,
) -> Result<StaffClient, BenchError> {
    let code = kizuna_staff::totp_now(&c.totp_secret)
        .map_err(|e| BenchError::Setup(format!("authenticator code: {e}")))?;
    Ok(StaffClient::login(home, staff_url, None, &c.staff_id, &c.password, &code).await?)
}

/// A support member of the operator holding live grants over `subjects`,
/// each requested by them and approved by the admin (two people).
pub struct Reader {
    client: StaffClient,
    subjects: Vec<String>,
}

impl Reader {
    pub async fn set_up(
        work_dir: &Path,
        staff_url: &str,
        root: &StaffCredentials,
        subjects: Vec<String>,
    ) -> Result<Reader, BenchError> {
        let admin = login(&work_dir.join("staff-root"), staff_url, root).await?;
        let reader = admin
            .add_member(&NewStaffMember {
                staff_id: "reader".into(),
                org_id: "operator".into(),
                roles: vec![Role::Support],
            })
            .await?;
        let client = login(&work_dir.join("staff-reader"), staff_url, &reader).await?;
        for chunk in subjects.chunks(SUBJECTS_PER_GRANT) {
            let grant = client
                .request_grant(&GrantRequest {
                    subjects: chunk.to_vec(),
                    fields: vec!["name".into(), "phone".into()],
                    purpose: Purpose::ServiceMaintenance,
                    ticket: "BENCH-1".into(),
                    reason: "load benchmark of governed reads".into(),
                    duration_secs: 3600,
                    break_glass: false,
                    regions: Vec::new(),
                })
                .await?;
            admin.decide_grant(&grant.grant_id, "approve").await?;
        }
        Ok(Reader { client, subjects })
    }

    async fn read(&self, i: u64) -> Result<u64, BenchError> {
        let subject = &self.subjects[i as usize % self.subjects.len()];
        let t = Instant::now();
        let r = self.client.read(subject).await?;
        if r.name.as_deref() != Some(subject.as_str()) {
            return Err(BenchError::Setup(format!(
                "a governed read of {subject} returned someone else's record"
            )));
        }
        Ok(t.elapsed().as_micros() as u64)
    }

    /// Reads as fast as `concurrency` staff requests in flight allow.
    pub async fn closed_loop(
        self,
        reads: u64,
        concurrency: usize,
        progress: impl Fn(u64),
    ) -> Result<GovernedReport, BenchError> {
        use futures_util::StreamExt;
        let started = Instant::now();
        let mut hist = histogram()?;
        let mut refused = 0;
        let mut results = futures_util::stream::iter(0..reads)
            .map(|i| self.read(i))
            .buffer_unordered(concurrency.max(1));
        while let Some(r) = results.next().await {
            match r {
                Ok(us) => {
                    let _ = hist.record(us.max(1));
                }
                Err(_) => refused += 1,
            }
            progress(1);
        }
        Ok(self.report(&hist, refused, started.elapsed()))
    }

    /// Reads at `rate` per second on a fixed schedule until `stop` turns
    /// true, the way staff work beside the people messaging.
    pub async fn open_loop(
        self,
        rate: f64,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> Result<GovernedReport, BenchError> {
        let me = Arc::new(self);
        let interval = Duration::from_secs_f64(1.0 / rate.max(0.001));
        let started = Instant::now();
        let refused = Arc::new(AtomicU64::new(0));
        let mut running = Vec::new();
        let mut i = 0u64;
        loop {
            let at = started + interval * i as u32;
            tokio::select! {
                _ = tokio::time::sleep_until(at.into()) => {}
                _ = stop.changed() => break,
            }
            let me = me.clone();
            let refused = refused.clone();
            running.push(tokio::spawn(async move {
                match me.read(i).await {
                    Ok(us) => Some(us),
                    Err(_) => {
                        refused.fetch_add(1, Ordering::Relaxed);
                        None
                    }
                }
            }));
            i += 1;
        }
        let mut hist = histogram()?;
        for r in running {
            if let Ok(Some(us)) = r.await {
                let _ = hist.record(us.max(1));
            }
        }
        let elapsed = started.elapsed();
        Ok(me.report(&hist, refused.load(Ordering::Relaxed), elapsed))
    }

    fn report(&self, hist: &Histogram<u64>, refused: u64, elapsed: Duration) -> GovernedReport {
        GovernedReport {
            reads: hist.len(),
            refused,
            subjects: self.subjects.len(),
            p50_ms: hist.value_at_quantile(0.5) as f64 / 1000.0,
            p99_ms: hist.value_at_quantile(0.99) as f64 / 1000.0,
            max_ms: hist.max() as f64 / 1000.0,
            reads_per_sec: hist.len() as f64 / elapsed.as_secs_f64().max(1e-9),
        }
    }
}

fn histogram() -> Result<Histogram<u64>, BenchError> {
    Histogram::new_with_bounds(1, 120_000_000, 3).map_err(|e| BenchError::Setup(e.to_string()))
}

/// Options of the governed-reads benchmark on its own.
#[derive(Clone, Debug)]
pub struct GovernedOptions {
    pub kizuna_bin: PathBuf,
    pub work_dir: PathBuf,
    /// People registered, each named in a grant.
    pub subjects: usize,
    pub reads: u64,
    /// Staff requests in flight at once.
    pub concurrency: usize,
    pub pin: bool,
}

/// Governed reads on their own: how many a node answers per second, each
/// decided by policy and recorded before it is answered.
pub async fn run_governed(
    opts: GovernedOptions,
    progress: impl Fn(Progress<'_>),
) -> Result<GovernedReport, BenchError> {
    let node = Node::start(&opts.kizuna_bin, &opts.work_dir, opts.pin, true).await?;
    progress(Progress::Stage {
        name: "registering people",
        steps: Some(opts.subjects as u64),
    });
    register(
        &opts.work_dir,
        std::slice::from_ref(&node),
        opts.subjects,
        &progress,
    )
    .await?;
    progress(Progress::Stage {
        name: "requesting and approving grants",
        steps: None,
    });
    let reader = node
        .reader(&opts.work_dir, (0..opts.subjects).map(handle).collect())
        .await?;
    progress(Progress::Stage {
        name: "governed reads",
        steps: Some(opts.reads),
    });
    let report = reader
        .closed_loop(opts.reads, opts.concurrency, |n| {
            progress(Progress::Done(n))
        })
        .await?;
    drop(node);
    Ok(report)
}
