//! Sending and saving files. A file is sealed on this device with a key of
//! its own ([`kizuna_media`]), a photo's location and other metadata taken
//! out first; the sealed bytes are uploaded part by part, resuming where a
//! dropped connection or a restarted node left off; the message that
//! carries the file holds its key, size, type and SHA-256. Saving fetches
//! the parts, opens them chunk by chunk and checks the whole against the
//! message before anything is kept.

use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::time::Duration;

use kizuna_media::{strip_metadata, FileKey, Sealed};
use kizuna_wire::{
    Bytes, ChatContent, ErrorCode, FileProgress, FileRef, FileUpload, FILE_PART_BYTES,
};
use reqwest::Method;

use crate::{Client, ClientError, Result, StoredMessage};

mod save;
mod upload;
pub use save::{FileSave, SavedFile};
pub use upload::{refused_token, PartSender};

/// How often one part is tried before the transfer gives up, waiting up
/// to [`MAX_BACKOFF`] between tries: long enough for a node to restart.
const PART_ATTEMPTS: u32 = 40;
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// What a file is, by its first bytes, else its name's extension.
pub fn media_type(name: &str, head: &[u8]) -> &'static str {
    let by_magic: &[(&[u8], &str)] = &[
        (b"\xFF\xD8\xFF", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"GIF87a", "image/gif"),
        (b"GIF89a", "image/gif"),
        (b"%PDF-", "application/pdf"),
    ];
    if let Some((_, t)) = by_magic.iter().find(|(m, _)| head.starts_with(m)) {
        return t;
    }
    if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        return "image/webp";
    }
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("pdf") => "application/pdf",
        Some("txt") => "text/plain",
        // Named for what they are; a recipient's app never renders either.
        Some("svg") => "image/svg+xml",
        Some("html" | "htm") => "text/html",
        Some("mp4") => "video/mp4",
        Some("mov") => "video/quicktime",
        Some("mp3") => "audio/mpeg",
        Some("m4a") => "audio/mp4",
        Some("zip") => "application/zip",
        Some("docx") => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        Some("xlsx") => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        _ => "application/octet-stream",
    }
}

fn io(path: &Path, e: impl std::fmt::Display) -> ClientError {
    ClientError::Local {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Whether a failure may pass if the same request is sent again: the node
/// could not be reached, or was busy.
fn transient(e: &ClientError) -> bool {
    matches!(
        e,
        ClientError::Unreachable { .. }
            | ClientError::Api {
                code: ErrorCode::Unavailable
                    | ErrorCode::RateLimited
                    | ErrorCode::TooManyConnections
                    | ErrorCode::RequestTimeout
                    | ErrorCode::Internal,
                ..
            }
    )
}

/// An upload begun and not yet sent, kept in the device's store so that
/// sending the same file to the same chat again goes on where it stopped,
/// even after the process that began it died.
#[derive(serde::Serialize, serde::Deserialize)]
struct Unfinished {
    file_id: String,
    key: Bytes,
    /// The file as it was when the upload began: if it changed since,
    /// the upload starts again.
    size: u64,
    modified_ns: u64,
}

/// Which file, sent how: the place its unfinished upload is kept under,
/// and the file's size and modification time now.
struct Origin {
    path: PathBuf,
    keep_metadata: bool,
    size: u64,
    modified_ns: u64,
}

impl Origin {
    fn of(path: &Path, keep_metadata: bool) -> Result<Origin> {
        let meta = std::fs::metadata(path).map_err(|e| io(path, e))?;
        let modified_ns = meta
            .modified()
            .ok()
            .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as u64);
        Ok(Origin {
            path: std::fs::canonicalize(path).map_err(|e| io(path, e))?,
            keep_metadata,
            size: meta.len(),
            modified_ns,
        })
    }

    fn key(&self, chat: &str) -> String {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(chat.as_bytes());
        h.update([0, self.keep_metadata as u8]);
        h.update(self.path.as_os_str().as_encoded_bytes());
        format!("upload:{}", hex::encode(h.finalize()))
    }
}

/// What the message says of a file besides its key and hash.
struct Described {
    file_name: String,
    media_type: String,
    thumbnail: Option<Vec<u8>>,
}

/// The plaintext of a file being sent.
enum Plain {
    /// A photo without its metadata.
    Memory(Vec<u8>),
    File {
        file: std::fs::File,
        path: PathBuf,
        size: u64,
    },
}

/// A file's sealed bytes, made on demand: sealing is the same every time
/// for a key and a chunk's place, so any part is sealed again from the
/// plaintext when it is (re)sent, and nothing sealed is ever written to
/// this device's disk. The plaintext is hashed once, in order, as its
/// chunks are first sealed.
struct SealedSource {
    key: FileKey,
    plain: Plain,
    size: u64,
    chunks: u64,
    hashed: u64,
    hash: sha2::Sha256,
}

impl SealedSource {
    fn new(key: FileKey, plain: Plain) -> SealedSource {
        let size = match &plain {
            Plain::Memory(b) => b.len() as u64,
            Plain::File { size, .. } => *size,
        };
        SealedSource {
            key,
            plain,
            size,
            chunks: kizuna_media::chunk_count(size),
            hashed: 0,
            hash: sha2::Digest::new(),
        }
    }

    fn sealed_size(&self) -> u64 {
        kizuna_media::sealed_size(self.size)
    }

    fn chunk(&mut self, i: u64) -> Result<Vec<u8>> {
        let chunk = kizuna_media::CHUNK as u64;
        let start = i * chunk;
        let len = (self.size - start).min(chunk) as usize;
        let plain = match &mut self.plain {
            Plain::Memory(b) => b[start as usize..start as usize + len].to_vec(),
            Plain::File { file, path, .. } => {
                let mut buf = vec![0u8; len];
                file.seek(std::io::SeekFrom::Start(start))
                    .and_then(|_| file.read_exact(&mut buf))
                    .map_err(|e| io(path, e))?;
                buf
            }
        };
        if i == self.hashed {
            sha2::Digest::update(&mut self.hash, &plain);
            self.hashed += 1;
        }
        Ok(kizuna_media::seal_chunk(
            &self.key,
            i,
            i + 1 == self.chunks,
            &plain,
        ))
    }

    /// Hashes the plaintext before part `n`, which the node already
    /// keeps: an upload that goes on from there still hashes the whole.
    fn hash_before_part(&mut self, n: u32) -> Result<()> {
        let upto = if n as u64 * FILE_PART_BYTES >= self.sealed_size() {
            self.chunks
        } else {
            (n as u64 * FILE_PART_BYTES / kizuna_media::SEALED_CHUNK as u64).min(self.chunks)
        };
        while self.hashed < upto {
            self.chunk(self.hashed)?;
        }
        Ok(())
    }

    /// Part `n` of the sealed file, as the node takes it.
    fn part(&mut self, n: u32) -> Result<Vec<u8>> {
        let sealed_chunk = kizuna_media::SEALED_CHUNK as u64;
        let total = self.sealed_size();
        let start = n as u64 * FILE_PART_BYTES;
        let end = (start + FILE_PART_BYTES).min(total);
        let (first, last) = (start / sealed_chunk, (end - 1) / sealed_chunk);
        let mut out = Vec::with_capacity(((last - first + 1) * sealed_chunk) as usize);
        for i in first..=last {
            out.extend_from_slice(&self.chunk(i)?);
        }
        let skip = (start - first * sealed_chunk) as usize;
        Ok(out[skip..skip + (end - start) as usize].to_vec())
    }

    /// The plaintext's size and hash, once every chunk was sealed.
    fn finish(self) -> Result<Sealed> {
        if self.hashed != self.chunks {
            return Err(ClientError::Protocol(
                "the upload ended before every part was sent".into(),
            ));
        }
        Ok(Sealed {
            size: self.size,
            sha256: sha2::Digest::finalize(self.hash).into(),
        })
    }
}

/// A file this device began sending ([`Client::begin_file_send`]): its
/// parts are sealed as they go out, and its message is sent once the node
/// keeps them all ([`Client::finish_file_send`]).
pub struct FileSend {
    chat: String,
    source: SealedSource,
    /// Where the device keeps the upload's key until the message is sent.
    kept_as: String,
    described: Described,
    file_id: String,
    parts: u32,
    /// Parts the node keeps, from the first on.
    kept: u32,
}

impl Client {
    /// Seals the file at `path`, uploads it to `chat` and sends the message
    /// that carries it. `progress` is told the bytes uploaded of the total.
    /// A JPEG or PNG loses its metadata unless `keep_metadata`.
    pub async fn send_file(
        &mut self,
        chat: &str,
        path: &Path,
        caption: Option<&str>,
        keep_metadata: bool,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<StoredMessage> {
        let mut send = self.begin_file_send(chat, path, keep_metadata).await?;
        let mut renewed = false;
        loop {
            let via = self.part_sender().await?;
            match send.upload(&via, progress).await {
                Ok(()) => break,
                Err(e) if refused_token(&e) && !renewed => {
                    renewed = true;
                    self.token = None;
                }
                Err(e) => return Err(e),
            }
        }
        self.finish_file_send(send, caption).await
    }

    /// The first step of [`Client::send_file`], for a caller that does
    /// other work with this device while the parts go: the file read (a
    /// photo's metadata removed), its thumbnail made, and its upload begun
    /// on the node, or the one this device began before taken up again.
    pub async fn begin_file_send(
        &mut self,
        chat: &str,
        path: &Path,
        keep_metadata: bool,
    ) -> Result<FileSend> {
        let file_name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| ClientError::Invalid(format!("{} names no file", path.display())))?
            .to_string();
        let origin = Origin::of(path, keep_metadata)?;
        let mut plain = std::fs::File::open(path).map_err(|e| io(path, e))?;
        let mut head = [0u8; 16];
        let n = plain.read(&mut head).map_err(|e| io(path, e))?;
        let media_type = media_type(&file_name, &head[..n]).to_string();
        plain.rewind().map_err(|e| io(path, e))?;

        let mut thumbnail = None;
        let plain =
            if !keep_metadata && media_type.starts_with("image/") && media_type != "image/gif" {
                // Images are read whole to take their metadata out; they are
                // within the size limit, unlike a video may not be.
                let mut bytes = Vec::new();
                plain.read_to_end(&mut bytes).map_err(|e| io(path, e))?;
                let clean =
                    strip_metadata(&bytes).map_err(|e| ClientError::Invalid(e.to_string()))?;
                // Made from what is sent, so it shows nothing the file
                // does not.
                thumbnail = kizuna_media::thumbnail(&clean.bytes);
                Plain::Memory(clean.bytes)
            } else {
                let size = plain.metadata().map_err(|e| io(path, e))?.len();
                Plain::File {
                    file: plain,
                    path: path.to_path_buf(),
                    size,
                }
            };
        let mut source = SealedSource::new(FileKey::generate(), plain);
        let described = Described {
            file_name,
            media_type,
            thumbnail,
        };
        let chat = {
            let _g = self.begin().await?;
            self.resolve_accepted_chat(chat).await?
        };
        let size = source.sealed_size();
        let kept_as = origin.key(&chat);
        let started = match self.unfinished(&kept_as, &origin, size).await? {
            Some((key, p)) => {
                source.key = key;
                source.hash_before_part(p.received)?;
                p
            }
            None => {
                let p: FileProgress = self
                    .call(
                        Method::POST,
                        &format!("/v1/groups/{chat}/files"),
                        Some(&FileUpload { size }),
                    )
                    .await?;
                // Kept before any part goes, so a process that dies from
                // here on leaves an upload the next send goes on with.
                let unfinished = Unfinished {
                    file_id: p.file_id.clone(),
                    key: Bytes(source.key.as_bytes().to_vec()),
                    size: origin.size,
                    modified_ns: origin.modified_ns,
                };
                let bytes = serde_json::to_vec(&unfinished)
                    .map_err(|e| ClientError::Protocol(e.to_string()))?;
                self.local.set_meta(&kept_as, &bytes).await?;
                p
            }
        };
        Ok(FileSend {
            chat,
            source,
            kept_as,
            described,
            file_id: started.file_id,
            parts: started.parts,
            kept: started.received,
        })
    }

    /// What a file's parts go out through ([`FileSend::upload`]), good
    /// until the node refuses its token.
    pub async fn part_sender(&mut self) -> Result<PartSender> {
        Ok(PartSender {
            transport: self.transport.clone(),
            token: self.token().await?,
        })
    }

    /// A new [`PartSender`] with a new token, after the node refused the
    /// last one.
    pub async fn renewed_part_sender(&mut self) -> Result<PartSender> {
        self.token = None;
        self.part_sender().await
    }

    /// Gives up a file send begun on this device: what it kept to go on
    /// with it is forgotten, and the node deletes the unsent upload in time.
    /// For a caller whose copy of the file does not outlive the send.
    pub async fn abandon_file_send(&mut self, send: FileSend) -> Result<()> {
        self.local.forget_meta(&send.kept_as).await
    }

    /// The last step of [`Client::send_file`]: once every part is kept,
    /// the message that names the file, with its key, goes to the chat.
    pub async fn finish_file_send(
        &mut self,
        send: FileSend,
        caption: Option<&str>,
    ) -> Result<StoredMessage> {
        let FileSend {
            chat,
            source,
            kept_as,
            described,
            file_id,
            ..
        } = send;
        let key = source.key.clone();
        let sealed = source.finish()?;
        let content = ChatContent::File {
            file: FileRef {
                file_id,
                file_name: described.file_name,
                media_type: described.media_type,
                size: sealed.size,
                sha256: Bytes(sealed.sha256.to_vec()),
                key: Bytes(key.as_bytes().to_vec()),
                thumbnail: described.thumbnail.map(Bytes),
            },
            caption: caption.map(str::to_string).filter(|c| !c.is_empty()),
            name: self.display_name().await,
        };
        let _g = self.begin().await?;
        self.resolve_inflight_commit().await?;
        self.flush_outbox().await?;
        let mut id = vec![0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut id);
        let sent = self
            .send_content(&chat, &content, id)
            .await?
            .ok_or_else(|| {
                ClientError::Protocol("a file message was stored as another kind".into())
            })?;
        self.local.forget_meta(&kept_as).await?;
        Ok(sent)
    }

    /// The upload of this file to this chat that this device began and did
    /// not send, if the node still keeps it and the file is unchanged: its
    /// key and what the node holds of it. Any other is forgotten (the node
    /// removes what it kept of it in time).
    async fn unfinished(
        &mut self,
        kept_as: &str,
        origin: &Origin,
        sealed_size: u64,
    ) -> Result<Option<(FileKey, FileProgress)>> {
        let Some(bytes) = self.local.meta(kept_as).await? else {
            return Ok(None);
        };
        let found = match serde_json::from_slice::<Unfinished>(&bytes) {
            Ok(u) if u.size == origin.size && u.modified_ns == origin.modified_ns => {
                let path = format!("/v1/files/{}", u.file_id);
                match self
                    .call::<(), FileProgress>(Method::GET, &path, None)
                    .await
                {
                    Ok(p) if !p.sent && p.size == sealed_size => {
                        FileKey::from_bytes(&u.key.0).ok().map(|k| (k, p))
                    }
                    Ok(_) | Err(ClientError::Api { .. }) => None,
                    Err(e) => return Err(e),
                }
            }
            _ => None,
        };
        if found.is_none() {
            self.local.forget_meta(kept_as).await?;
        }
        Ok(found)
    }
}
