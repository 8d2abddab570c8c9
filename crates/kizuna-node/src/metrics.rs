//! What an operator's monitoring reads from a node: counters and one
//! histogram, kept in atomics on the paths they count, and written out in
//! Prometheus's text format on the operations listener.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use kizuna_store::{Histogram, WriteStats, TIME_BOUNDS_US};

/// Upper bounds (milliseconds) of the delivery latency buckets: from the
/// moment a message was stored to the moment its frame went to a device.
const LATENCY_BOUNDS_MS: [u64; 12] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000, 30000];

/// Upper bounds of the sequencer's batch sizes (submissions per batch).
const BATCH_BOUNDS: [u64; 9] = [1, 2, 4, 8, 16, 32, 64, 128, 256];

/// What the sequencer does beside the store's commit.
pub struct Sequencing {
    /// Submissions per group commit.
    pub batch: Histogram,
    /// Answering a committed batch (pushing to live connections, replying
    /// to its senders), which the next batch waits for on one node (µs).
    pub answer: Histogram,
}

impl Default for Sequencing {
    fn default() -> Self {
        Sequencing {
            batch: Histogram::new(&BATCH_BOUNDS),
            answer: Histogram::new(&TIME_BOUNDS_US),
        }
    }
}

#[derive(Default)]
pub struct Metrics {
    pub sequencing: Sequencing,
    deliveries: AtomicU64,
    /// Cumulative counts per bound, then the count above the last.
    latency: [AtomicU64; LATENCY_BOUNDS_MS.len() + 1],
    latency_sum_ms: AtomicU64,
    commits: AtomicU64,
    refusals: AtomicU64,
    governed_reads: AtomicU64,
}

/// What is read at the moment of asking rather than counted.
pub struct Gauges {
    pub connections: u64,
    pub ledger_entries: u64,
    /// The store's group commits, where it counts them.
    pub store: Option<Arc<WriteStats>>,
}

/// Writes `h` as a Prometheus histogram; dividing by `per` turns its unit
/// into the metric's (a million microseconds to a second, say).
fn histogram(out: &mut String, name: &str, help: &str, labels: &str, h: &Histogram, per: f64) {
    let (bounds, counts, sum, _) = h.snapshot();
    if !help.is_empty() {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
    }
    let sep = if labels.is_empty() { "" } else { "," };
    let mut cumulative = 0;
    for (bound, n) in bounds.iter().zip(&counts) {
        cumulative += n;
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"{}\"}} {cumulative}",
            *bound as f64 / per
        );
    }
    cumulative += counts.last().copied().unwrap_or(0);
    let _ = writeln!(
        out,
        "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {cumulative}"
    );
    let braces = |l: &str| {
        if l.is_empty() {
            String::new()
        } else {
            format!("{{{l}}}")
        }
    };
    let _ = writeln!(
        out,
        "{name}_sum{} {}\n{name}_count{} {cumulative}",
        braces(labels),
        sum as f64 / per,
        braces(labels)
    );
}

/// The store's group commits: what each waited for, and its commit time
/// beside the bytes it wrote to the WAL.
fn store_writes(out: &mut String, w: &WriteStats) {
    const US: f64 = 1e6;
    histogram(
        out,
        "kizuna_store_lock_wait_seconds",
        "A group commit's wait for the writer's lock.",
        "",
        &w.lock_wait,
        US,
    );
    histogram(
        out,
        "kizuna_store_statements_seconds",
        "A group commit's statements, before its commit.",
        "",
        &w.statements,
        US,
    );
    histogram(
        out,
        "kizuna_store_commit_seconds",
        "A group commit's commit: its WAL frames written and synced.",
        "",
        &w.commit,
        US,
    );
    histogram(
        out,
        "kizuna_store_commit_wal_bytes",
        "Bytes a group commit appended to the WAL.",
        "",
        &w.wal_bytes,
        1.0,
    );
    let name = "kizuna_store_commit_seconds_by_wal_bytes";
    let _ = writeln!(out, "# HELP {name} Commit time of the group commits that wrote up to wal_bytes to the WAL.\n# TYPE {name} histogram");
    for (i, h) in w.commit_by_size.iter().enumerate() {
        let le = kizuna_store::BYTE_BOUNDS
            .get(i)
            .map_or("+Inf".to_string(), |b| b.to_string());
        histogram(out, name, "", &format!("wal_bytes=\"{le}\""), h, US);
    }
    histogram(
        out,
        "kizuna_store_housekeeping_hold_seconds",
        "How long housekeeping held the writer's lock each time it took it.",
        "",
        &w.housekeeping_hold,
        US,
    );
}

impl Metrics {
    /// A message went to a device, `server_time` (ms) being when it was stored.
    pub fn delivered(&self, server_time: u64) {
        self.deliveries.fetch_add(1, Ordering::Relaxed);
        let ms = kizuna_wire::now_ms().saturating_sub(server_time);
        let bucket = LATENCY_BOUNDS_MS
            .iter()
            .position(|b| ms <= *b)
            .unwrap_or(LATENCY_BOUNDS_MS.len());
        self.latency[bucket].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_ms.fetch_add(ms, Ordering::Relaxed);
    }

    /// A commit took its group to a new epoch.
    pub fn committed(&self) {
        self.commits.fetch_add(1, Ordering::Relaxed);
    }

    /// A submission was refused (stale epoch, not a member, …).
    pub fn refused(&self) {
        self.refusals.fetch_add(1, Ordering::Relaxed);
    }

    /// A staff member read a person's data under a grant.
    pub fn governed_read(&self) {
        self.governed_reads.fetch_add(1, Ordering::Relaxed);
    }

    /// Everything, in Prometheus's text exposition format.
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        };
        let gauge = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        counter(
            &mut out,
            "kizuna_deliveries_total",
            "Messages sent to devices' live connections.",
            load(&self.deliveries),
        );
        let name = "kizuna_delivery_latency_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} From a message being stored to its frame going to a device.\n# TYPE {name} histogram"
        );
        let mut cumulative = 0;
        for (i, bound) in LATENCY_BOUNDS_MS.iter().enumerate() {
            cumulative += load(&self.latency[i]);
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{}\"}} {cumulative}",
                *bound as f64 / 1000.0
            );
        }
        cumulative += load(&self.latency[LATENCY_BOUNDS_MS.len()]);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
        let _ = writeln!(
            out,
            "{name}_sum {}\n{name}_count {cumulative}",
            load(&self.latency_sum_ms) as f64 / 1000.0
        );
        counter(
            &mut out,
            "kizuna_commits_total",
            "Commits that took a group to a new epoch.",
            load(&self.commits),
        );
        counter(
            &mut out,
            "kizuna_refusals_total",
            "Submissions refused (stale epoch, not a member, too large a group, ...).",
            load(&self.refusals),
        );
        counter(
            &mut out,
            "kizuna_governed_reads_total",
            "Reads of a person's data by staff under a grant.",
            load(&self.governed_reads),
        );
        gauge(
            &mut out,
            "kizuna_ledger_entries",
            "Entries in the transparency ledger (each appended before its effect).",
            gauges.ledger_entries,
        );
        gauge(
            &mut out,
            "kizuna_connections",
            "Live WebSocket connections on this node.",
            gauges.connections,
        );
        histogram(
            &mut out,
            "kizuna_sequencer_batch_submissions",
            "Submissions per group commit.",
            "",
            &self.sequencing.batch,
            1.0,
        );
        histogram(
            &mut out,
            "kizuna_sequencer_answer_seconds",
            "Answering a committed batch: pushing it to live connections and replying to its senders.",
            "",
            &self.sequencing.answer,
            1e6,
        );
        if let Some(w) = &gauges.store {
            store_writes(&mut out, w);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_format_counts_and_buckets() {
        let m = Metrics::default();
        let now = kizuna_wire::now_ms();
        m.delivered(now);
        m.delivered(now.saturating_sub(60_000));
        m.committed();
        m.refused();
        m.refused();
        m.sequencing.batch.record(3);
        let store = Arc::new(WriteStats::default());
        store.group_commit(
            std::time::Duration::from_micros(10),
            std::time::Duration::from_micros(20),
            std::time::Duration::from_millis(40),
            100_000,
        );
        let text = m.render(&Gauges {
            connections: 3,
            ledger_entries: 7,
            store: Some(store),
        });
        assert!(
            text.contains("kizuna_sequencer_batch_submissions_bucket{le=\"4\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("kizuna_store_commit_seconds_bucket{le=\"0.05\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "kizuna_store_commit_seconds_by_wal_bytes_count{wal_bytes=\"262144\"} 1\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("kizuna_store_commit_wal_bytes_sum 100000\n"),
            "{text}"
        );
        assert!(text.contains("kizuna_deliveries_total 2\n"), "{text}");
        assert!(
            text.contains("kizuna_delivery_latency_seconds_bucket{le=\"30\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("kizuna_delivery_latency_seconds_bucket{le=\"+Inf\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("kizuna_delivery_latency_seconds_count 2\n"));
        assert!(text.contains("kizuna_commits_total 1\n"));
        assert!(text.contains("kizuna_refusals_total 2\n"));
        assert!(text.contains("kizuna_connections 3\n"));
        assert!(text.contains("kizuna_ledger_entries 7\n"));
        // Every sample line is a name, optional labels and a number.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, v) = line.rsplit_once(' ').unwrap();
            assert!(v.parse::<f64>().is_ok(), "{line}");
        }
    }
}
