//! Saving a file from a chat: its parts fetched (each tried again while
//! the node restarts), opened chunk by chunk and checked whole against the
//! message before the file is moved into place; a save that stopped goes
//! on from what it wrote.

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use kizuna_media::{FileKey, Sealed};
use kizuna_wire::{part_len, ChatContent, FileProgress, FILE_PART_BYTES};
use reqwest::Method;

use super::upload::PARTS_IN_FLIGHT;
use super::{io, refused_token, transient, PartSender, MAX_BACKOFF, PART_ATTEMPTS};
use crate::{Client, ClientError, Result};

/// A file saved from a chat, checked against its message.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SavedFile {
    pub path: PathBuf,
    pub file_name: String,
    pub media_type: String,
    pub size: u64,
    /// Hex.
    pub sha256: String,
    /// Bytes taken, opened and checked, from a save of it that stopped.
    pub resumed: u64,
}

/// Feeds `opener` the whole chunks a save that stopped already wrote to
/// `tmp` (all but the last, which is always fetched again), answering how
/// many. Whatever it wrote is checked with the rest: a changed byte fails
/// the file's hash at the end.
fn opened_before(tmp: &Path, opener: &mut kizuna_media::PieceOpener) -> Result<u64> {
    let mut f = match std::fs::File::open(tmp) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io(tmp, e)),
    };
    let written = f.metadata().map_err(|e| io(tmp, e))?.len();
    let mut done = 0;
    let mut chunk = vec![0u8; kizuna_media::CHUNK];
    for _ in 0..written / kizuna_media::CHUNK as u64 {
        f.read_exact(&mut chunk).map_err(|e| io(tmp, e))?;
        if opener.opened_before(&chunk).is_err() {
            break;
        }
        done += 1;
    }
    Ok(done)
}

impl Client {
    /// Fetches the file of message `seq` in `chat`, opens it and checks it
    /// against the message, then moves it to `out` (by default its name in
    /// the current directory). Nothing is left at `out` if any check fails.
    pub async fn save_file(
        &mut self,
        chat: &str,
        seq: u64,
        out: Option<&Path>,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<SavedFile> {
        let save = self.begin_file_save(chat, seq, out).await?;
        let mut renewed = false;
        loop {
            let via = self.part_sender().await?;
            match save.fetch(&via, progress).await {
                Err(e) if refused_token(&e) && !renewed => {
                    renewed = true;
                    self.token = None;
                }
                other => return other,
            }
        }
    }

    /// The first step of [`Client::save_file`], for a caller that does
    /// other work with this device while the parts come: the message's
    /// file found and checked, where it goes decided, and what the node
    /// keeps of it asked.
    pub async fn begin_file_save(
        &mut self,
        chat: &str,
        seq: u64,
        out: Option<&Path>,
    ) -> Result<FileSave> {
        let chat = self.resolve_chat(chat).await?;
        let m = self
            .local
            .history(&chat)
            .await?
            .into_iter()
            .find(|m| m.seq == seq)
            .ok_or_else(|| {
                ClientError::Invalid(format!(
                    "chat {chat} has no message {seq} on this device; `kizuna history {chat}` lists them"
                ))
            })?;
        let file = m
            .proof
            .as_ref()
            .and_then(|p| match serde_json::from_str::<ChatContent>(&p.body) {
                Ok(ChatContent::File { file, .. }) => Some(file),
                _ => None,
            })
            .ok_or_else(|| ClientError::Invalid(format!("message {seq} carries no file")))?;
        // The id comes from the sender: it goes into addresses only if it
        // is one a node makes.
        if !kizuna_wire::is_file_id(&file.file_id) {
            return Err(ClientError::Invalid(format!(
                "message {seq} names a file id no node makes; it cannot be fetched"
            )));
        }
        let key =
            FileKey::from_bytes(&file.key.0).map_err(|e| ClientError::Protocol(e.to_string()))?;
        let sha256: [u8; 32] =
            file.sha256.0.as_slice().try_into().map_err(|_| {
                ClientError::Protocol("the message's file hash is not 32 bytes".into())
            })?;
        let safe_name = kizuna_wire::safe_file_name(&file.file_name)
            .unwrap_or_else(|| format!("file-{}", &file.file_id[..8.min(file.file_id.len())]));
        let out = out
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(&safe_name));
        let out = if out.is_dir() {
            out.join(&safe_name)
        } else {
            out
        };
        let dir = out
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        // Named for the file, so a save that stopped (the process killed,
        // the node gone too long) goes on from what it wrote.
        let tmp = dir.join(format!(".{safe_name}.{}.part", &file.file_id[..12]));

        let info: FileProgress = self
            .call::<(), _>(Method::GET, &format!("/v1/files/{}", file.file_id), None)
            .await?;
        let sealed = Sealed {
            size: file.size,
            sha256,
        };
        Ok(FileSave {
            file_id: file.file_id,
            info,
            tmp,
            out,
            key,
            sealed,
            file_name: file.file_name,
            media_type: file.media_type,
        })
    }
}

/// A file this device is saving ([`Client::begin_file_save`]).
pub struct FileSave {
    file_id: String,
    info: FileProgress,
    /// What was opened so far, beside `out`.
    tmp: PathBuf,
    out: PathBuf,
    key: FileKey,
    sealed: Sealed,
    file_name: String,
    media_type: String,
}

impl FileSave {
    /// Fetches the parts not yet opened, a few at once and opened in
    /// order, checks the whole and moves it into place. What was written
    /// stays for the next try while the node is what failed (a refused
    /// token ([`refused_token`]) included: call again with a new
    /// [`PartSender`]); a file that does not open or check is removed.
    pub async fn fetch(
        &self,
        via: &PartSender,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<SavedFile> {
        let tmp = &self.tmp;
        let open = || {
            std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(tmp)
                .map_err(|e| io(tmp, e))
        };
        // One save of a file into one place at a time: two writing the
        // same partial file would each spoil the other. Held until the
        // partial file is moved into place or removed.
        let lock = open()?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(ClientError::Invalid(format!(
                    "{} is being saved by another process; try again once it ends",
                    self.out.display()
                )))
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(tmp, e)),
        }
        let mut again = false;
        let result = loop {
            match fetch_into(via, self, open()?, progress).await {
                // What a save that stopped wrote did not check with the
                // rest (torn by a crash, or changed since): once more, from
                // the start.
                Err(ClientError::Invalid(_)) if !again && self.resumable() => {
                    again = true;
                    lock.set_len(0).map_err(|e| io(tmp, e))?;
                }
                other => break other,
            }
        };
        if matches!(&result, Err(e) if !transient(e) && !refused_token(e)) {
            let _ = std::fs::remove_file(tmp);
        }
        drop(lock);
        let resumed = result?;
        Ok(SavedFile {
            path: self.out.clone(),
            file_name: self.file_name.clone(),
            media_type: self.media_type.clone(),
            size: self.sealed.size,
            sha256: hex::encode(self.sealed.sha256),
            resumed,
        })
    }

    /// Whether a save that stopped left at least a chunk to go on from.
    fn resumable(&self) -> bool {
        std::fs::metadata(&self.tmp).is_ok_and(|m| m.len() >= kizuna_media::CHUNK as u64)
    }
}

/// See [`FileSave::fetch`]; `f` is the partial file, locked. Answers how
/// many bytes came from a save that stopped.
async fn fetch_into(
    via: &PartSender,
    t: &FileSave,
    mut f: std::fs::File,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<u64> {
    use futures_util::stream::{self, StreamExt, TryStreamExt};
    let (file_id, info) = (t.file_id.as_str(), &t.info);
    let (tmp, size) = (t.tmp.as_path(), info.size);
    let mut opener = kizuna_media::PieceOpener::new(&t.key, t.sealed);
    let done = opened_before(tmp, &mut opener)?;
    f.set_len(done * kizuna_media::CHUNK as u64)
        .and_then(|_| f.seek(std::io::SeekFrom::End(0)))
        .map_err(|e| io(tmp, e))?;
    let mut w = std::io::BufWriter::new(f);
    let from = done * kizuna_media::SEALED_CHUNK as u64;
    let first = (from / FILE_PART_BYTES) as u32;
    let mut skip = (from - first as u64 * FILE_PART_BYTES) as usize;
    let mut parts = stream::iter(first..info.parts)
        .map(|n| async move { fetch_part(via, file_id, n).await.map(|b| (n, b)) })
        .buffered(PARTS_IN_FLIGHT);
    while let Some((n, (bytes, headers))) = parts.try_next().await? {
        let damaged =
            || ClientError::Protocol(format!("part {n} of the file arrived damaged; try again"));
        if bytes.len() as u64 != part_len(size, n) {
            return Err(damaged());
        }
        // Each chunk is authenticated as it opens, so the part's digest is
        // looked at only when one does not: to tell a part damaged on the
        // way from a file that is not what its message says.
        let plain = opener.push(&bytes[skip.min(bytes.len())..]).map_err(|e| {
            let said = headers
                .get(kizuna_wire::CONTENT_DIGEST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if said != kizuna_wire::content_digest(&bytes) {
                damaged()
            } else {
                ClientError::Invalid(e.to_string())
            }
        })?;
        skip = 0;
        w.write_all(&plain).map_err(|e| io(tmp, e))?;
        progress(((n as u64 + 1) * FILE_PART_BYTES).min(size), size);
    }
    let last = opener
        .finish()
        .map_err(|e| ClientError::Invalid(e.to_string()))?;
    w.write_all(&last).map_err(|e| io(tmp, e))?;
    let f = w.into_inner().map_err(|e| io(tmp, e))?;
    f.sync_all().map_err(|e| io(tmp, e))?;
    std::fs::rename(tmp, &t.out).map_err(|e| io(&t.out, e))?;
    Ok(done * kizuna_media::CHUNK as u64)
}

/// Part `n` of a file, tried again while the node restarts or the
/// connection drops.
async fn fetch_part(
    via: &PartSender,
    file_id: &str,
    n: u32,
) -> Result<(Vec<u8>, reqwest::header::HeaderMap)> {
    let path = format!("/v1/files/{file_id}/parts/{n}");
    let mut wait = Duration::from_millis(100);
    let mut attempt = 0;
    loop {
        match via.get(&path).await {
            Err(e) if transient(&e) && attempt + 1 < PART_ATTEMPTS => {
                attempt += 1;
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(MAX_BACKOFF);
            }
            other => return other,
        }
    }
}
