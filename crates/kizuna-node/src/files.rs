//! Files people send. A device seals a file before it leaves (the node has
//! no key that opens it), uploads it part by part into its chat, and names
//! it in the message that carries it; from then on the devices that were in
//! the chat as that message went out may fetch it, part by part. The parts
//! live in the sender's home region's file store, as the configuration and
//! the data map say; an upload never finished, and a file past its
//! retention, are deleted.

use std::collections::HashMap;
use std::sync::Arc;

use kizuna_config::{DataDir, FileLimits, FilesLocation, Regions};
use kizuna_files::{DirStore, FileId, FileStore, S3Settings, S3Store};
use kizuna_store::{FileAttach, StoredFile};
use kizuna_wire::{
    content_digest, part_count, part_len, ErrorCode, FileProgress, FileUpload, FILE_PARTS_AHEAD,
    FILE_PART_BYTES,
};

use crate::{DeviceIdentity, Kind, Node, NodeError};

/// Most files one message may carry.
pub const MAX_FILES_PER_MESSAGE: usize = 10;

/// Files deleted per sweep, so one sweep never holds the store for long.
const SWEEP_BATCH: u32 = 500;

/// The file store of every region this node may reach, and the limits.
pub struct FileStores {
    stores: HashMap<String, Arc<dyn FileStore>>,
    pub limits: FileLimits,
}

#[derive(Debug, thiserror::Error)]
#[error("region {region}'s file store ({location}) cannot be opened: {reason}")]
pub struct FileStoreError {
    pub region: String,
    pub location: String,
    pub reason: String,
}

impl FileStores {
    /// Opens the file store of each region this node may reach: its own,
    /// and those whose rules let this node's country reach them. Of any
    /// other region nothing is opened, so nothing can be written there.
    pub fn open(dir: &DataDir, regions: &Regions) -> Result<FileStores, FileStoreError> {
        let node = regions.node_region();
        let mut stores: HashMap<String, Arc<dyn FileStore>> = HashMap::new();
        for r in regions.regions() {
            if r.id != node.id && r.access_from(&node.country).is_none() {
                continue;
            }
            let failed = |reason: String| FileStoreError {
                region: r.id.clone(),
                location: r.files.to_string(),
                reason,
            };
            let store: Arc<dyn FileStore> = match &r.files {
                FilesLocation::Dir(p) => {
                    Arc::new(DirStore::open(&dir.resolve(p)).map_err(|e| failed(e.to_string()))?)
                }
                FilesLocation::S3(b) => {
                    let (access_key_id, secret_access_key) = b.keys().map_err(failed)?;
                    Arc::new(
                        S3Store::new(&S3Settings {
                            endpoint: b.endpoint.clone(),
                            bucket: b.bucket.clone(),
                            region: b.region.clone(),
                            prefix: b.prefix.clone(),
                            access_key_id,
                            secret_access_key,
                        })
                        .map_err(|e| failed(e.to_string()))?,
                    )
                }
            };
            stores.insert(r.id.clone(), store);
        }
        Ok(FileStores {
            stores,
            limits: regions.file_limits.clone(),
        })
    }

    /// Every store this node may reach, by region.
    pub fn all(&self) -> impl Iterator<Item = (&str, &Arc<dyn FileStore>)> {
        self.stores.iter().map(|(r, s)| (r.as_str(), s))
    }

    /// The store of `region`, which this node may reach.
    pub fn of(&self, region: &str) -> Result<&Arc<dyn FileStore>, NodeError> {
        self.stores.get(region).ok_or_else(|| {
            NodeError::forbidden(
                ErrorCode::RegionAccessDenied,
                format!("this node may not keep files in region {region}"),
            )
        })
    }
}

fn unknown_file() -> NodeError {
    NodeError::not_found(
        ErrorCode::UnknownFile,
        "no such file, or not one this device may fetch",
    )
}

fn bad_part(message: impl Into<String>) -> NodeError {
    NodeError::invalid(ErrorCode::BadPart, message)
}

fn unavailable(e: kizuna_files::FilesError) -> NodeError {
    NodeError {
        cause: Some(e.to_string()),
        ..NodeError::new(
            Kind::Unavailable,
            ErrorCode::Unavailable,
            "the file store cannot be reached now; nothing was lost, try again",
        )
    }
}

fn progress(f: &StoredFile) -> FileProgress {
    FileProgress {
        file_id: f.file_id.clone(),
        size: f.size,
        part_bytes: FILE_PART_BYTES,
        parts: f.parts,
        received: f.received,
        sent: f.sent_at.is_some(),
    }
}

impl Node {
    /// Starts an upload of a sealed file of `req.size` bytes to a chat of
    /// this device's, refused before anything is kept when it is larger
    /// than the node takes or would pass the account's quota.
    pub async fn begin_upload(
        &self,
        me: &DeviceIdentity,
        group_id: Vec<u8>,
        req: FileUpload,
    ) -> Result<FileProgress, NodeError> {
        self.sanctions.check_send(&me.account_id)?;
        self.group(me, &group_id).await?;
        let limits = &self.files.limits;
        let plain = kizuna_media::plain_size(req.size).ok_or_else(|| {
            NodeError::invalid(
                ErrorCode::BadRequest,
                format!("{} bytes is not the size of a sealed file", req.size),
            )
        })?;
        if plain > limits.max_size {
            return Err(NodeError::new(
                Kind::TooLarge,
                ErrorCode::FileTooLarge,
                format!(
                    "a file may be at most {} MiB; this one is {:.1} MiB",
                    limits.max_size / kizuna_config::MIB,
                    plain as f64 / kizuna_config::MIB as f64
                ),
            ));
        }
        let account = self.account_of(me).await?;
        // Kept in the sender's home region, wherever this node runs.
        self.files.of(&account.region)?;
        let file = StoredFile {
            file_id: FileId::generate().to_string(),
            group_id,
            account_id: me.account_id.clone(),
            device_id: me.device_id.clone(),
            region: account.region,
            size: req.size,
            parts: part_count(req.size),
            received: 0,
            ahead: 0,
            created_at: kizuna_wire::now_ms(),
            sent_at: None,
        };
        if let Err(used) = self.store.begin_file(file.clone(), limits.quota).await? {
            return Err(NodeError::new(
                Kind::TooLarge,
                ErrorCode::QuotaExceeded,
                format!(
                    "your files on this service take {:.1} of your {} MiB; delete chats' files or wait until older ones expire",
                    used as f64 / kizuna_config::MIB as f64,
                    limits.quota / kizuna_config::MIB
                ),
            ));
        }
        Ok(progress(&file))
    }

    /// The upload this device started, or the file it may fetch.
    pub async fn file_progress(
        &self,
        me: &DeviceIdentity,
        file_id: &str,
    ) -> Result<FileProgress, NodeError> {
        let f = self.store.file(file_id).await?.ok_or_else(unknown_file)?;
        if f.device_id != me.device_id && !self.store.may_read_file(file_id, &me.device_id).await? {
            return Err(unknown_file());
        }
        Ok(progress(&f))
    }

    /// Keeps part `n` of an upload of this device's: the first one the
    /// node lacks or one of the few after it, of its exact length,
    /// matching its digest. A part sent again after it was kept is
    /// answered as kept.
    pub async fn put_part(
        &self,
        me: &DeviceIdentity,
        file_id: &str,
        n: u32,
        digest: Option<&str>,
        bytes: bytes::Bytes,
    ) -> Result<FileProgress, NodeError> {
        let mut f = self.store.file(file_id).await?.ok_or_else(unknown_file)?;
        if f.device_id != me.device_id {
            return Err(unknown_file());
        }
        if f.has_part(n) {
            return Ok(progress(&f));
        }
        if f.sent_at.is_some() || n >= f.parts {
            return Err(bad_part(format!(
                "the file has {} parts, all of them kept",
                f.parts
            )));
        }
        if n > f.received + FILE_PARTS_AHEAD {
            return Err(bad_part(format!(
                "part {n} is more than {FILE_PARTS_AHEAD} parts past part {}, which has not arrived",
                f.received
            )));
        }
        let expected = part_len(f.size, n);
        if bytes.len() as u64 != expected {
            return Err(bad_part(format!(
                "part {n} is {expected} bytes, not {}",
                bytes.len()
            )));
        }
        match digest {
            None => {
                return Err(bad_part(format!(
                    "a part carries its SHA-256 in the {} header",
                    kizuna_wire::CONTENT_DIGEST
                )))
            }
            Some(d) if d.trim() != content_digest(&bytes) => {
                return Err(bad_part(format!(
                    "part {n} is not what its digest says: it was damaged on the way; send it again"
                )))
            }
            Some(_) => {}
        }
        self.files
            .of(&f.region)?
            .put_part(
                &FileId::parse(file_id).map_err(|_| unknown_file())?,
                n,
                bytes,
            )
            .await
            .map_err(unavailable)?;
        f.received = self.store.file_part_stored(file_id, n).await?;
        Ok(progress(&f))
    }

    /// Part `n` of a file this device may fetch, with its digest.
    pub async fn get_part(
        &self,
        me: &DeviceIdentity,
        file_id: &str,
        n: u32,
    ) -> Result<(bytes::Bytes, String), NodeError> {
        if !self.store.may_read_file(file_id, &me.device_id).await? {
            return Err(unknown_file());
        }
        let f = self.store.file(file_id).await?.ok_or_else(unknown_file)?;
        if n >= f.parts {
            return Err(NodeError::invalid(
                ErrorCode::BadRequest,
                format!("the file has {} parts, numbered from 0", f.parts),
            ));
        }
        let id = FileId::parse(file_id).map_err(|_| unknown_file())?;
        let bytes = self
            .files
            .of(&f.region)?
            .get_part(&id, n)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| {
                NodeError::internal(format!(
                    "part {n} of file {file_id} is missing from region {}'s file store",
                    f.region
                ))
            })?;
        let digest = content_digest(&bytes);
        Ok((bytes, digest))
    }

    /// Marks the files a message names as sent, before the message is
    /// accepted: if the message is then refused, the files stay unsent
    /// and are removed when they expire.
    pub(crate) async fn attach_files(
        &self,
        me: &DeviceIdentity,
        group_id: &[u8],
        files: &[String],
    ) -> Result<(), NodeError> {
        if files.is_empty() {
            return Ok(());
        }
        if files.len() > MAX_FILES_PER_MESSAGE {
            return Err(NodeError::invalid(
                ErrorCode::BadRequest,
                format!("a message may carry at most {MAX_FILES_PER_MESSAGE} files"),
            ));
        }
        match self
            .store
            .attach_files(files, &me.device_id, group_id, kizuna_wire::now_ms())
            .await?
        {
            FileAttach::Attached => Ok(()),
            FileAttach::Unknown(_) | FileAttach::NotYours(_) => Err(unknown_file()),
            FileAttach::Incomplete(id) => Err(NodeError::conflict(
                ErrorCode::FileIncomplete,
                format!("the upload of file {id} has not finished; send its remaining parts first"),
            )),
        }
    }

    /// Deletes uploads never finished or never sent, and files past their
    /// retention: the parts first, then the record, so a sweep a crash
    /// interrupts is finished by the next. Answers how many went.
    pub async fn sweep_files(&self, now: u64) -> Result<u64, NodeError> {
        let limits = &self.files.limits;
        let before = |d: std::time::Duration| now.saturating_sub(d.as_millis() as u64);
        let expired = self
            .store
            .expired_files(
                before(limits.unfinished),
                before(limits.retention),
                SWEEP_BATCH,
            )
            .await?;
        let mut gone = 0;
        for f in expired {
            let id = FileId::parse(&f.file_id).map_err(|e| NodeError::internal(e.to_string()))?;
            // A region this node may not reach: its own nodes delete it.
            let Ok(store) = self.files.of(&f.region) else {
                continue;
            };
            // The sender is told first, as of every erasure; a sweep a
            // crash interrupts records it again, which errs on telling.
            self.vault
                .record_file_deletion(&f.account_id, &f.region, &f.file_id, f.sent_at.is_some())
                .await?;
            store.delete(&id).await.map_err(unavailable)?;
            self.store.forget_file(&f.file_id).await?;
            gone += 1;
        }
        if gone > 0 {
            tracing::info!(
                files = gone,
                "deleted files past their retention or never sent"
            );
        }
        self.release_stale_holds(before(limits.retention)).await?;
        Ok(gone)
    }

    /// Ends holds whose report is no longer kept (deleted or erased while
    /// its release was missed, by a crash say), so that no file outlives
    /// its retention for a report that is gone; the next sweep deletes it.
    async fn release_stale_holds(&self, sent_before: u64) -> Result<(), NodeError> {
        let mut reports: Vec<String> = self
            .store
            .holds_past(sent_before, SWEEP_BATCH)
            .await?
            .into_iter()
            .map(|(_, r)| r)
            .collect();
        reports.sort();
        reports.dedup();
        for r in reports {
            if self.vault.report_is_gone(&r).await? {
                self.store.release_holds(&r).await?;
            }
        }
        Ok(())
    }
}

/// Sweeps files until `shutdown`, often enough that none outlives its
/// period by more than a quarter of it (at most a minute late).
pub async fn sweep(node: Arc<Node>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let limits = node.files.limits.clone();
    let every = (limits.unfinished.min(limits.retention) / 4).clamp(
        std::time::Duration::from_millis(500),
        std::time::Duration::from_secs(60),
    );
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.wait_for(|v| *v) => return,
        }
        if let Err(e) = node.sweep_files(kizuna_wire::now_ms()).await {
            tracing::error!(error = %e, cause = ?e.cause, "expired files could not be deleted; trying again");
        }
    }
}
