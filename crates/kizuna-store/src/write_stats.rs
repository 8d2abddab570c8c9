//! How the embedded store's writes went, for the node's metrics: what each
//! group commit waited for (the writer's lock, its statements, then the
//! commit itself: its WAL frames written and synced) and how many bytes it
//! wrote, so that a sender's wait can be traced to the disk, to the size of
//! what was written, or to whatever else held the writer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the time buckets, in microseconds.
pub const TIME_BOUNDS_US: [u64; 13] = [
    250, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000,
    5_000_000,
];

/// Upper bounds of the size buckets, in bytes.
pub const BYTE_BOUNDS: [u64; 8] = [
    4_096, 16_384, 65_536, 262_144, 1_048_576, 4_194_304, 16_777_216, 67_108_864,
];

/// Counts of values at or under each bound (and over the last), their sum
/// and the largest, kept in atomics on the path they measure.
pub struct Histogram {
    bounds: &'static [u64],
    counts: Box<[AtomicU64]>,
    sum: AtomicU64,
    max: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: &'static [u64]) -> Self {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }
    }

    pub fn record(&self, v: u64) {
        let i = self
            .bounds
            .iter()
            .position(|b| v <= *b)
            .unwrap_or(self.bounds.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(v, Ordering::Relaxed);
        self.max.fetch_max(v, Ordering::Relaxed);
    }

    pub fn record_time(&self, d: Duration) {
        self.record(d.as_micros().min(u64::MAX as u128) as u64);
    }

    /// The bounds, the count in each bucket (not cumulative; one more than
    /// the bounds), the sum and the largest value.
    pub fn snapshot(&self) -> (&'static [u64], Vec<u64>, u64, u64) {
        (
            self.bounds,
            self.counts
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .collect(),
            self.sum.load(Ordering::Relaxed),
            self.max.load(Ordering::Relaxed),
        )
    }
}

/// What the group commits of the embedded store waited for and wrote.
pub struct WriteStats {
    /// Waiting for the writer's lock, which housekeeping also takes.
    pub lock_wait: Histogram,
    /// The batch's statements, before its commit.
    pub statements: Histogram,
    /// The commit: the WAL frames written and synced (`synchronous=FULL`).
    pub commit: Histogram,
    /// Bytes each commit appended to the WAL (frames and their headers).
    pub wal_bytes: Histogram,
    /// Commit time of the commits in each WAL-bytes bucket.
    pub commit_by_size: Box<[Histogram]>,
    /// How long housekeeping (releasing delivered messages, the WAL
    /// checkpoint) held the writer's lock each time it took it.
    pub housekeeping_hold: Histogram,
}

impl Default for WriteStats {
    fn default() -> Self {
        WriteStats {
            lock_wait: Histogram::new(&TIME_BOUNDS_US),
            statements: Histogram::new(&TIME_BOUNDS_US),
            commit: Histogram::new(&TIME_BOUNDS_US),
            wal_bytes: Histogram::new(&BYTE_BOUNDS),
            commit_by_size: (0..=BYTE_BOUNDS.len())
                .map(|_| Histogram::new(&TIME_BOUNDS_US))
                .collect(),
            housekeeping_hold: Histogram::new(&TIME_BOUNDS_US),
        }
    }
}

impl WriteStats {
    /// One group commit: how long it waited and worked, and what it wrote.
    pub fn group_commit(
        &self,
        lock_wait: Duration,
        statements: Duration,
        commit: Duration,
        wal_bytes: u64,
    ) {
        self.lock_wait.record_time(lock_wait);
        self.statements.record_time(statements);
        self.commit.record_time(commit);
        self.wal_bytes.record(wal_bytes);
        let i = BYTE_BOUNDS
            .iter()
            .position(|b| wal_bytes <= *b)
            .unwrap_or(BYTE_BOUNDS.len());
        self.commit_by_size[i].record_time(commit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_fall_in_their_buckets_and_commits_by_their_size() {
        let s = WriteStats::default();
        s.group_commit(
            Duration::from_micros(100),
            Duration::from_micros(300),
            Duration::from_millis(30),
            20_000,
        );
        s.group_commit(
            Duration::from_secs(9),
            Duration::ZERO,
            Duration::from_millis(1),
            1_000,
        );
        let (_, counts, sum, max) = s.lock_wait.snapshot();
        assert_eq!(counts[0], 1);
        assert_eq!(counts[TIME_BOUNDS_US.len()], 1, "over the last bound");
        assert_eq!(sum, 9_000_100);
        assert_eq!(max, 9_000_000);
        let (_, by_bytes, _, _) = s.wal_bytes.snapshot();
        assert_eq!(by_bytes[0], 1);
        assert_eq!(by_bytes[2], 1);
        let (_, slow, _, slowest) = s.commit_by_size[2].snapshot();
        assert_eq!(slow.iter().sum::<u64>(), 1);
        assert_eq!(slowest, 30_000);
    }
}
