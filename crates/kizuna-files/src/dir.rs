//! Files in a directory: `<root>/<id's first two digits>/<id>/<part>`,
//! each part written to a temporary name, synced, renamed into place and
//! its directory synced, so a crash leaves a whole part or none.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;

use crate::{FileId, FileStore, FilesError, Result};

pub struct DirStore {
    root: PathBuf,
    /// Upload directories whose entries this process has synced: several
    /// parts of one upload are written at once, and none may be answered
    /// as kept before the directory holding it would survive a crash.
    durable: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<PathBuf>>>,
}

/// A part's file name: its number, zero-padded so names sort as numbers.
fn part_name(n: u32) -> String {
    format!("{n:010}")
}

impl DirStore {
    /// The store under `root`, created (readable by the node's user only)
    /// if missing.
    pub fn open(root: &Path) -> Result<DirStore> {
        let s = DirStore {
            root: root.to_path_buf(),
            durable: Default::default(),
        };
        private_dirs(root).map_err(|e| s.failed(e))?;
        Ok(s)
    }

    fn dir_of(&self, id: &FileId) -> PathBuf {
        self.root.join(&id.as_str()[..2]).join(id.as_str())
    }

    fn failed(&self, e: impl std::fmt::Display) -> FilesError {
        FilesError::Backend {
            store: self.describe(),
            reason: e.to_string(),
        }
    }
}

/// Creates `dir` and any parent missing, each readable by the node's user
/// only: what is inside is ciphertext, but who sent how much to whom is
/// not for anyone else on the machine.
fn private_dirs(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Makes `dir` (an upload's directory) and syncs the entries that lead to
/// it, unless this process already did: whichever part comes first, each
/// waits for them, so no part is kept in a directory a crash could undo.
fn durable_dir(
    dir: &Path,
    durable: &std::sync::Mutex<std::collections::HashSet<PathBuf>>,
) -> std::io::Result<()> {
    let known = durable.lock().map(|d| d.contains(dir)).unwrap_or(false);
    if known {
        return Ok(());
    }
    private_dirs(dir)?;
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
        if let Some(root) = parent.parent() {
            sync_dir(root)?;
        }
    }
    if let Ok(mut d) = durable.lock() {
        d.insert(dir.to_path_buf());
    }
    Ok(())
}

fn write_part(
    dir: &Path,
    n: u32,
    bytes: &[u8],
    durable: &std::sync::Mutex<std::collections::HashSet<PathBuf>>,
) -> std::io::Result<()> {
    use std::io::Write;
    durable_dir(dir, durable)?;
    let tmp = dir.join(format!(".{}.{:016x}", part_name(n), rand::random::<u64>()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, dir.join(part_name(n)))?;
    sync_dir(dir)
}

#[async_trait]
impl FileStore for DirStore {
    async fn put_part(&self, id: &FileId, n: u32, bytes: Bytes) -> Result<()> {
        let dir = self.dir_of(id);
        let durable = self.durable.clone();
        tokio::task::spawn_blocking(move || write_part(&dir, n, &bytes, &durable))
            .await
            .map_err(|e| self.failed(e))?
            .map_err(|e| self.failed(e))
    }

    async fn get_part(&self, id: &FileId, n: u32) -> Result<Option<Bytes>> {
        match tokio::fs::read(self.dir_of(id).join(part_name(n))).await {
            Ok(b) => Ok(Some(Bytes::from(b))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.failed(e)),
        }
    }

    async fn parts(&self, id: &FileId) -> Result<Vec<u32>> {
        let mut rd = match tokio::fs::read_dir(self.dir_of(id)).await {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.failed(e)),
        };
        let mut out = Vec::new();
        while let Some(e) = rd.next_entry().await.map_err(|e| self.failed(e))? {
            // Temporary names start with a dot: a write a crash cut short.
            if let Some(n) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) {
                out.push(n);
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    async fn delete(&self, id: &FileId) -> Result<()> {
        let dir = self.dir_of(id);
        if let Ok(mut d) = self.durable.lock() {
            d.remove(&dir);
        }
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(self.failed(e)),
        }
        // An empty fan-out directory goes too; one still in use stays. A
        // deletion a crash undoes is found again by the next sweep, so it
        // is not synced.
        if let Some(parent) = dir.parent() {
            let _ = tokio::fs::remove_dir(parent).await;
        }
        Ok(())
    }

    async fn files(&self) -> Result<Vec<FileId>> {
        let mut out = Vec::new();
        let mut fans = tokio::fs::read_dir(&self.root)
            .await
            .map_err(|e| self.failed(e))?;
        while let Some(fan) = fans.next_entry().await.map_err(|e| self.failed(e))? {
            if !fan.file_type().await.map_err(|e| self.failed(e))?.is_dir() {
                continue;
            }
            let mut ids = tokio::fs::read_dir(fan.path())
                .await
                .map_err(|e| self.failed(e))?;
            while let Some(e) = ids.next_entry().await.map_err(|e| self.failed(e))? {
                if let Some(id) = e.file_name().to_str().and_then(|s| FileId::parse(s).ok()) {
                    out.push(id);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn describe(&self) -> String {
        format!("directory {}", self.root.display())
    }
}
