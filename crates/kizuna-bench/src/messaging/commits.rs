//! Where the node's sequencer spent its time during a run, read from its
//! metrics: each group commit's wait for the writer's lock, its statements,
//! its commit beside the bytes it wrote to the WAL, the answering of its
//! senders, and how long housekeeping held the writer.

use std::collections::BTreeMap;

/// One histogram of the node's metrics: cumulative counts by upper bound.
#[derive(Debug, Default)]
struct Buckets {
    /// (upper bound, cumulative count); `f64::INFINITY` last.
    le: Vec<(f64, u64)>,
    sum: f64,
    count: u64,
}

impl Buckets {
    /// The upper bound of the bucket the `q` quantile falls in.
    fn quantile(&self, q: f64) -> f64 {
        let want = (q * self.count as f64).ceil() as u64;
        self.le
            .iter()
            .find(|(_, c)| *c >= want.max(1))
            .map_or(0.0, |(b, _)| *b)
    }

    fn mean(&self) -> f64 {
        self.sum / (self.count.max(1) as f64)
    }
}

/// The histograms named in Prometheus's text format, by name and labels
/// other than `le`.
fn parse(text: &str) -> BTreeMap<(String, String), Buckets> {
    let mut out: BTreeMap<(String, String), Buckets> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => (n, l.trim_end_matches('}')),
            None => (series, ""),
        };
        let mut le = None;
        let mut rest = Vec::new();
        for l in labels.split(',').filter(|l| !l.is_empty()) {
            match l.strip_prefix("le=") {
                Some(v) => le = Some(v.trim_matches('"').to_string()),
                None => rest.push(l),
            }
        }
        let rest = rest.join(",");
        if let Some(base) = name.strip_suffix("_bucket") {
            let bound = match le.as_deref() {
                Some("+Inf") => f64::INFINITY,
                Some(v) => v.parse().unwrap_or(f64::INFINITY),
                None => continue,
            };
            let b = out.entry((base.to_string(), rest)).or_default();
            b.le.push((bound, value as u64));
        } else if let Some(base) = name.strip_suffix("_sum") {
            out.entry((base.to_string(), rest)).or_default().sum = value;
        } else if let Some(base) = name.strip_suffix("_count") {
            out.entry((base.to_string(), rest)).or_default().count = value as u64;
        }
    }
    out
}

/// Commits of up to some bytes, and how long they took.
#[derive(Debug, serde::Serialize)]
pub struct BySize {
    /// Upper bound of the bytes written (none: more than the last).
    pub up_to_bytes: Option<u64>,
    pub commits: u64,
    pub mean_ms: f64,
    /// The upper bound of the bucket the 99th percentile falls in.
    pub p99_ms_at_most: f64,
}

/// What the sequencer waited for, from the node's own counts; times are
/// the upper bounds of the buckets the quantiles fall in.
#[derive(Debug, serde::Serialize)]
pub struct CommitBreakdown {
    pub group_commits: u64,
    pub submissions_p50: f64,
    pub submissions_p99: f64,
    pub lock_wait_p99_ms: f64,
    pub statements_p99_ms: f64,
    pub commit_p50_ms: f64,
    pub commit_p99_ms: f64,
    pub commit_p999_ms: f64,
    pub answer_p99_ms: f64,
    pub wal_bytes_p50: f64,
    pub wal_bytes_p99: f64,
    pub wal_bytes_mean: f64,
    pub by_size: Vec<BySize>,
    pub housekeeping_holds: u64,
    pub housekeeping_p99_ms: f64,
    pub housekeeping_p999_ms: f64,
}

impl CommitBreakdown {
    /// From the text of a node's `/metrics`; none when it does not count
    /// its commits (PostgreSQL).
    pub fn from_metrics(text: &str) -> Option<CommitBreakdown> {
        let h = parse(text);
        let get = |name: &str| h.get(&(name.to_string(), String::new()));
        let commit = get("kizuna_store_commit_seconds")?;
        let ms = |b: Option<&Buckets>, q: f64| b.map_or(0.0, |b| b.quantile(q) * 1000.0);
        let batch = get("kizuna_sequencer_batch_submissions");
        let wal = get("kizuna_store_commit_wal_bytes");
        let hold = get("kizuna_store_housekeeping_hold_seconds");
        let by_size = h
            .iter()
            .filter(|((n, _), b)| n == "kizuna_store_commit_seconds_by_wal_bytes" && b.count > 0)
            .map(|((_, labels), b)| BySize {
                up_to_bytes: labels
                    .strip_prefix("wal_bytes=")
                    .and_then(|v| v.trim_matches('"').parse().ok()),
                commits: b.count,
                mean_ms: b.mean() * 1000.0,
                p99_ms_at_most: b.quantile(0.99) * 1000.0,
            })
            .collect::<Vec<_>>();
        let mut by_size = by_size;
        by_size.sort_by_key(|r| r.up_to_bytes.unwrap_or(u64::MAX));
        Some(CommitBreakdown {
            group_commits: commit.count,
            submissions_p50: batch.map_or(0.0, |b| b.quantile(0.5)),
            submissions_p99: batch.map_or(0.0, |b| b.quantile(0.99)),
            lock_wait_p99_ms: ms(get("kizuna_store_lock_wait_seconds"), 0.99),
            statements_p99_ms: ms(get("kizuna_store_statements_seconds"), 0.99),
            commit_p50_ms: ms(Some(commit), 0.5),
            commit_p99_ms: ms(Some(commit), 0.99),
            commit_p999_ms: ms(Some(commit), 0.999),
            answer_p99_ms: ms(get("kizuna_sequencer_answer_seconds"), 0.99),
            wal_bytes_p50: wal.map_or(0.0, |b| b.quantile(0.5)),
            wal_bytes_p99: wal.map_or(0.0, |b| b.quantile(0.99)),
            wal_bytes_mean: wal.map_or(0.0, Buckets::mean),
            by_size,
            housekeeping_holds: hold.map_or(0, |b| b.count),
            housekeeping_p99_ms: ms(hold, 0.99),
            housekeeping_p999_ms: ms(hold, 0.999),
        })
    }
}

fn kib(bytes: f64) -> String {
    if bytes.is_infinite() {
        "more".into()
    } else {
        format!("{:.0} KiB", bytes / 1024.0)
    }
}

impl std::fmt::Display for CommitBreakdown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "group commits      {}, {} submissions each at p50, {} at p99",
            self.group_commits, self.submissions_p50, self.submissions_p99
        )?;
        writeln!(
            f,
            "  commit (WAL write + fsync)  p50 <= {} ms, p99 <= {} ms, p99.9 <= {} ms",
            self.commit_p50_ms, self.commit_p99_ms, self.commit_p999_ms
        )?;
        writeln!(
            f,
            "  before it                   lock wait p99 <= {} ms, statements p99 <= {} ms; answering after it p99 <= {} ms",
            self.lock_wait_p99_ms, self.statements_p99_ms, self.answer_p99_ms
        )?;
        writeln!(
            f,
            "  WAL written per commit      mean {}, p50 <= {}, p99 <= {}",
            kib(self.wal_bytes_mean),
            kib(self.wal_bytes_p50),
            kib(self.wal_bytes_p99)
        )?;
        for r in &self.by_size {
            writeln!(
                f,
                "    up to {:>9}: {:>7} commits, mean {:.2} ms, p99 <= {} ms",
                r.up_to_bytes.map_or("more".to_string(), |b| kib(b as f64)),
                r.commits,
                r.mean_ms,
                r.p99_ms_at_most
            )?;
        }
        write!(
            f,
            "  housekeeping held the writer {} times, p99 <= {} ms, p99.9 <= {} ms",
            self.housekeeping_holds, self.housekeeping_p99_ms, self.housekeeping_p999_ms
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nodes_metrics_read_as_a_breakdown() {
        let text = "\
# TYPE kizuna_store_commit_seconds histogram
kizuna_store_commit_seconds_bucket{le=\"0.001\"} 90
kizuna_store_commit_seconds_bucket{le=\"0.05\"} 99
kizuna_store_commit_seconds_bucket{le=\"0.2\"} 100
kizuna_store_commit_seconds_bucket{le=\"+Inf\"} 100
kizuna_store_commit_seconds_sum 0.5
kizuna_store_commit_seconds_count 100
kizuna_store_commit_seconds_by_wal_bytes_bucket{wal_bytes=\"16384\",le=\"0.001\"} 90
kizuna_store_commit_seconds_by_wal_bytes_bucket{wal_bytes=\"16384\",le=\"+Inf\"} 90
kizuna_store_commit_seconds_by_wal_bytes_sum{wal_bytes=\"16384\"} 0.045
kizuna_store_commit_seconds_by_wal_bytes_count{wal_bytes=\"16384\"} 90
";
        let b = CommitBreakdown::from_metrics(text).unwrap();
        assert_eq!(b.group_commits, 100);
        assert_eq!(b.commit_p50_ms, 1.0);
        assert_eq!(b.commit_p99_ms, 50.0);
        assert_eq!(b.commit_p999_ms, 200.0);
        assert_eq!(b.by_size.len(), 1);
        assert_eq!(b.by_size[0].up_to_bytes, Some(16384));
        assert_eq!(b.by_size[0].commits, 90);
        assert!((b.by_size[0].mean_ms - 0.5).abs() < 1e-9);
        assert!(CommitBreakdown::from_metrics("kizuna_connections 3\n").is_none());
    }
}
