//! What an operator's monitoring reads from a node: counters and one
//! histogram, kept in atomics on the paths they count, and written out in
//! Prometheus's text format on the operations listener.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds (milliseconds) of the delivery latency buckets: from the
/// moment a message was stored to the moment its frame went to a device.
const LATENCY_BOUNDS_MS: [u64; 12] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000, 30000];

#[derive(Default)]
pub struct Metrics {
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
        let text = m.render(&Gauges {
            connections: 3,
            ledger_entries: 7,
        });
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
