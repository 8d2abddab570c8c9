//! `kizuna bench --files`: a file sent through a node and saved by its
//! recipient, beside what the disk itself gives in the same run, with the
//! node's memory sampled throughout. Sending reads the file and the node
//! writes it (synced); saving, the node reads it and the device writes it
//! (synced): each is a copy of the file through the node, so each is set
//! beside a plain copy on the disk (a sequential read and a synced write of
//! the same size). The goal: at least half the disk's rate, and the node's
//! memory flat in the file's size.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use crate::node::{register, rss_kib, Node};
use crate::{BenchError, Progress};

pub struct FilesOptions {
    pub kizuna_bin: std::path::PathBuf,
    pub work_dir: std::path::PathBuf,
    /// The file's size, in MiB.
    pub size_mib: u64,
    pub pin: bool,
}

#[derive(Debug, serde::Serialize)]
pub struct FilesReport {
    pub size_mib: u64,
    /// A plain copy on the disk: a sequential read and a synced write of
    /// the same size.
    pub disk_copy_mib_s: f64,
    /// A sequential read alone (from the page cache when it holds the
    /// file), for reference.
    pub disk_read_mib_s: f64,
    /// Sealing on the device and uploading through the node, until the
    /// message carrying the file is accepted.
    pub send_mib_s: f64,
    /// Fetching from the node, opening and checking on the device.
    pub save_mib_s: f64,
    /// The node's resident memory before the transfers, and its peak
    /// during them (sampled every 20 ms).
    pub server_rss_before_mib: f64,
    pub server_rss_peak_mib: f64,
    pub pinned: bool,
}

impl std::fmt::Display for FilesReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let half = |rate: f64, disk: f64| {
            if rate >= disk / 2.0 {
                "meets"
            } else {
                "misses"
            }
        };
        writeln!(
            f,
            "file             {} MiB, sealed on the device, through one node{}",
            self.size_mib,
            if self.pinned {
                " (pinned to one core)"
            } else {
                ""
            }
        )?;
        writeln!(
            f,
            "disk             copy {:.0} MiB/s (a read and a synced write); a read alone {:.0} MiB/s",
            self.disk_copy_mib_s, self.disk_read_mib_s
        )?;
        for (what, rate) in [("send", self.send_mib_s), ("save", self.save_mib_s)] {
            writeln!(
                f,
                "{what}             {rate:.0} MiB/s ({:.0}% of the disk's copy: {} the goal of half)",
                100.0 * rate / self.disk_copy_mib_s,
                half(rate, self.disk_copy_mib_s)
            )?;
        }
        write!(f, "server memory    {:.0} MiB before, {:.0} MiB at most during the transfers (+{:.0} MiB for a {} MiB file)",
            self.server_rss_before_mib, self.server_rss_peak_mib,
            self.server_rss_peak_mib - self.server_rss_before_mib, self.size_mib)
    }
}

const MIB: u64 = 1024 * 1024;

fn setup(e: impl std::fmt::Display) -> BenchError {
    BenchError::Setup(e.to_string())
}

/// Writes `size` bytes nobody could compress or guess, a MiB at a time.
fn write_random(path: &std::path::Path, size: u64) -> Result<Duration, BenchError> {
    let start = Instant::now();
    let mut f = std::fs::File::create(path).map_err(setup)?;
    let mut buf = vec![0u8; MIB as usize];
    let mut left = size;
    while left > 0 {
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut buf);
        let n = left.min(MIB) as usize;
        f.write_all(&buf[..n]).map_err(setup)?;
        left -= n as u64;
    }
    f.sync_all().map_err(setup)?;
    Ok(start.elapsed())
}

fn read_all(path: &std::path::Path) -> Result<Duration, BenchError> {
    let start = Instant::now();
    let mut f = std::fs::File::open(path).map_err(setup)?;
    let mut buf = vec![0u8; MIB as usize];
    while f.read(&mut buf).map_err(setup)? > 0 {}
    Ok(start.elapsed())
}

pub async fn run_files(
    o: FilesOptions,
    progress: impl Fn(Progress<'_>),
) -> Result<FilesReport, BenchError> {
    let size = o.size_mib * MIB;
    let _ = std::fs::remove_dir_all(&o.work_dir);
    std::fs::create_dir_all(&o.work_dir).map_err(setup)?;
    let rate = |d: Duration| o.size_mib as f64 / d.as_secs_f64();

    progress(Progress::Stage {
        name: "the disk alone: a sequential write and read",
        steps: None,
    });
    let plain = o.work_dir.join("file.bin");
    // The random bytes cost time of their own: the disk is timed copying
    // bytes already made.
    write_random(&plain, size)?;
    let copy = o.work_dir.join("disk-write.bin");
    let start = Instant::now();
    {
        let mut from = std::fs::File::open(&plain).map_err(setup)?;
        let mut to = std::fs::File::create(&copy).map_err(setup)?;
        let mut buf = vec![0u8; MIB as usize];
        loop {
            let n = from.read(&mut buf).map_err(setup)?;
            if n == 0 {
                break;
            }
            to.write_all(&buf[..n]).map_err(setup)?;
        }
        to.sync_all().map_err(setup)?;
    }
    let disk_copy = start.elapsed();
    let disk_read = read_all(&copy)?;
    let _ = std::fs::remove_file(&copy);

    progress(Progress::Stage {
        name: "starting a node for files this large",
        steps: None,
    });
    let config = o.work_dir.join("files.toml");
    let toml = kizuna_config::DEFAULT_TOML
        .replace(
            "max_size = \"100MiB\"",
            &format!("max_size = \"{}MiB\"", o.size_mib.max(1)),
        )
        .replace(
            "quota = \"2GiB\"",
            &format!("quota = \"{}MiB\"", 2 * o.size_mib.max(1)),
        );
    std::fs::write(&config, toml).map_err(setup)?;
    let node = Node::spawn(
        &o.kizuna_bin,
        &o.work_dir.join("server"),
        Some((&config, &[])),
        o.pin,
        false,
    )
    .await?;
    let mut people = register(&o.work_dir, std::slice::from_ref(&node), 2, &progress).await?;
    let mut bob = people.pop().ok_or_else(|| setup("no recipient"))?;
    let mut alice = people.pop().ok_or_else(|| setup("no sender"))?;
    let chat = alice
        .create_chat(&[bob.identity().handle.clone()], None)
        .await?;
    bob.sync().await?;

    let before = rss_kib(node.pid, "VmRSS:");
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(before));
    let sampling = tokio::spawn({
        let peak = peak.clone();
        let pid = node.pid;
        async move {
            loop {
                peak.fetch_max(rss_kib(pid, "VmRSS:"), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });

    progress(Progress::Stage {
        name: "sending the file",
        steps: None,
    });
    let start = Instant::now();
    let sent = alice
        .send_file(&chat, &plain, None, true, &mut |_, _| {})
        .await?;
    let send = start.elapsed();
    bob.sync().await?;

    progress(Progress::Stage {
        name: "saving the file",
        steps: None,
    });
    let out = o.work_dir.join("saved.bin");
    let start = Instant::now();
    bob.save_file(&chat, sent.seq, Some(&out), &mut |_, _| {})
        .await?;
    let save = start.elapsed();
    sampling.abort();

    let report = FilesReport {
        size_mib: o.size_mib,
        disk_copy_mib_s: rate(disk_copy),
        disk_read_mib_s: rate(disk_read),
        send_mib_s: rate(send),
        save_mib_s: rate(save),
        server_rss_before_mib: before as f64 / 1024.0,
        server_rss_peak_mib: peak.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1024.0,
        pinned: node.pinned,
    };
    drop(node);
    let _ = std::fs::remove_dir_all(&o.work_dir);
    Ok(report)
}
