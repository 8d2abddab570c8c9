//! The transparency ledger under load: durable appends per second from many
//! concurrent writers (each answered only once its leaf is on disk), then
//! proof generation and reopening at the size of a national service, with
//! one entry in five filed in the key directory under a handle of its own.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use hdrhistogram::Histogram;
use kizuna_ledger::{leaf_hash, Ledger, TreeHeadKey};

use crate::{BenchError, Progress};

#[derive(Clone, Debug, serde::Serialize)]
pub struct LedgerReport {
    pub appends: u64,
    pub writers: usize,
    pub appends_per_sec: f64,
    pub append_p50_ms: f64,
    pub append_p99_ms: f64,
    pub entries: u64,
    pub open_secs: f64,
    pub proofs: u64,
    pub inclusion_p50_us: f64,
    pub inclusion_p99_us: f64,
    pub inclusion_max_us: f64,
    pub consistency_p50_us: f64,
    pub consistency_p99_us: f64,
    /// Handles in the key directory, and proving one's history.
    pub handles: u64,
    pub key_proof_p50_us: f64,
    pub key_proof_p99_us: f64,
    /// The process's resident memory once the ledger is reopened.
    pub resident_mib: f64,
}

impl std::fmt::Display for LedgerReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "durable appends    {:.0}/s ({} appends from {} writers, each answered once on disk)",
            self.appends_per_sec, self.appends, self.writers
        )?;
        writeln!(
            f,
            "append answered    p50 {:.2} ms, p99 {:.2} ms",
            self.append_p50_ms, self.append_p99_ms
        )?;
        writeln!(
            f,
            "ledger size        {} entries (reopened in {:.2} s)",
            self.entries, self.open_secs
        )?;
        writeln!(
            f,
            "inclusion proof    p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs ({} proofs)",
            self.inclusion_p50_us, self.inclusion_p99_us, self.inclusion_max_us, self.proofs
        )?;
        writeln!(
            f,
            "consistency proof  p50 {:.1} µs, p99 {:.1} µs",
            self.consistency_p50_us, self.consistency_p99_us
        )?;
        write!(
            f,
            "key directory      {} handles; a handle's proof p50 {:.1} µs, p99 {:.1} µs; {:.0} MiB resident after reopening",
            self.handles, self.key_proof_p50_us, self.key_proof_p99_us, self.resident_mib
        )
    }
}

fn hist() -> Result<Histogram<u64>, BenchError> {
    Histogram::new_with_bounds(1, 600_000_000, 3).map_err(|e| BenchError::Setup(e.to_string()))
}

fn key() -> TreeHeadKey {
    TreeHeadKey::new("bench.kizuna/ledger", [42; 32])
}

fn leaf(i: u64) -> kizuna_ledger::Hash {
    leaf_hash(&i.to_be_bytes())
}

pub async fn run(
    work_dir: &Path,
    appends: u64,
    writers: usize,
    entries: u64,
    progress: impl Fn(Progress<'_>),
) -> Result<LedgerReport, BenchError> {
    let _ = std::fs::remove_dir_all(work_dir);
    let dir = work_dir.join("ledger");
    let fail = |e: kizuna_ledger::LedgerError| BenchError::Setup(e.to_string());
    let ledger = Arc::new(Ledger::open(&dir, key()).map_err(fail)?);

    // Durable appends: many writers, one leaf each at a time, as the
    // node's request handlers append.
    progress(Progress::Stage {
        name: "durable appends",
        steps: Some(appends),
    });
    let writers = writers.max(1);
    let per_writer = appends / writers as u64;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(writers);
    for w in 0..writers as u64 {
        let ledger = ledger.clone();
        tasks.push(tokio::spawn(async move {
            let mut h = hist()?;
            for i in 0..per_writer {
                let t = Instant::now();
                ledger
                    .append(vec![leaf(w * per_writer + i)])
                    .await
                    .map_err(|e| BenchError::Setup(e.to_string()))?;
                let _ = h.record((t.elapsed().as_micros() as u64).max(1));
            }
            Ok::<_, BenchError>(h)
        }));
    }
    let mut answered = hist()?;
    for t in tasks {
        let h = t.await.map_err(|e| BenchError::Setup(e.to_string()))??;
        let _ = answered.add(&h);
        progress(Progress::Done(per_writer));
    }
    let secs = started.elapsed().as_secs_f64();
    let appended = per_writer * writers as u64;

    // Fill to the size asked for, in large batches.
    let target = entries.max(appended);
    progress(Progress::Stage {
        name: "filling the ledger",
        steps: Some(target - appended),
    });
    let mut at = appended;
    while at < target {
        let n = (target - at).min(1 << 16);
        let (keyed, plain): (Vec<u64>, Vec<u64>) = (at..at + n).partition(|i| i % 5 == 0);
        // Appended in two groups: the order of leaves within a batch does
        // not matter here, only that every fifth is filed under a handle.
        ledger
            .append_keyed(keyed.iter().map(|&i| (leaf(i), handle_key(i))).collect())
            .await
            .map_err(fail)?;
        ledger
            .append(plain.into_iter().map(leaf).collect())
            .await
            .map_err(fail)?;
        at += n;
        progress(Progress::Done(n));
    }
    ledger.sign_head().map_err(fail)?;
    drop(ledger);

    progress(Progress::Stage {
        name: "reopening",
        steps: None,
    });
    let t = Instant::now();
    let ledger = Ledger::open(&dir, key()).map_err(fail)?;
    let open_secs = t.elapsed().as_secs_f64();

    let proofs = 10_000u64;
    progress(Progress::Stage {
        name: "inclusion and consistency proofs",
        steps: Some(proofs),
    });
    let size = ledger.size();
    let root = ledger.root_at(size).map_err(fail)?;
    let (mut inclusion, mut consistency) = (hist()?, hist()?);
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..proofs {
        // A cheap, fixed sequence of positions across the whole log.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let index = x % size;
        let t = Instant::now();
        let proof = ledger.inclusion_proof(index, size).map_err(fail)?;
        let _ = inclusion.record((t.elapsed().as_nanos() as u64 / 1000).max(1));
        // Writers interleave, so the leaf at a position is read back, not
        // assumed.
        let at = ledger.leaves(index, index + 1).map_err(fail)?;
        kizuna_ledger::merkle::verify_inclusion(&at[0], index, size, &proof, &root)
            .map_err(fail)?;
        let old = 1 + index;
        let t = Instant::now();
        ledger.consistency_proof(old, size).map_err(fail)?;
        let _ = consistency.record((t.elapsed().as_nanos() as u64 / 1000).max(1));
        progress(Progress::Done(1));
    }
    let resident_mib = resident_mib();
    let keyed = ledger.keyed_leaves();
    let handles = keyed.len() as u64;
    let keys_root = ledger.keys_root_at(size);
    let mut key_proofs = hist()?;
    for n in 0..proofs.min(handles) {
        let (index, key) = keyed[((n * 7919) % handles) as usize];
        let t = Instant::now();
        let (value, proof) = ledger.key_proof(&key, size).map_err(fail)?;
        let _ = key_proofs.record((t.elapsed().as_nanos() as u64 / 1000).max(1));
        let at = ledger.leaves(index, index + 1).map_err(fail)?;
        if value != kizuna_ledger::keymap::chain_all(&at) {
            return Err(BenchError::Setup(format!(
                "the key directory holds another history for entry {index}"
            )));
        }
        kizuna_ledger::keymap::verify_key(&keys_root, &key, value.as_ref(), &proof)
            .map_err(fail)?;
    }
    drop(ledger);
    let _ = std::fs::remove_dir_all(work_dir);
    Ok(LedgerReport {
        appends: appended,
        writers,
        appends_per_sec: appended as f64 / secs,
        append_p50_ms: answered.value_at_quantile(0.5) as f64 / 1000.0,
        append_p99_ms: answered.value_at_quantile(0.99) as f64 / 1000.0,
        entries: size,
        open_secs,
        proofs,
        inclusion_p50_us: inclusion.value_at_quantile(0.5) as f64,
        inclusion_p99_us: inclusion.value_at_quantile(0.99) as f64,
        inclusion_max_us: inclusion.max() as f64,
        consistency_p50_us: consistency.value_at_quantile(0.5) as f64,
        consistency_p99_us: consistency.value_at_quantile(0.99) as f64,
        handles,
        key_proof_p50_us: key_proofs.value_at_quantile(0.5) as f64,
        key_proof_p99_us: key_proofs.value_at_quantile(0.99) as f64,
        resident_mib,
    })
}

/// A handle of its own for every fifth entry, as the key log files them.
fn handle_key(i: u64) -> kizuna_ledger::Hash {
    kizuna_ledger::directory_key(&format!("person{i}"))
}

/// The process's resident memory in MiB (0 where `/proc` is not there).
fn resident_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}
