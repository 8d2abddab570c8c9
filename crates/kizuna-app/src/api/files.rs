//! Files in chats as the page attaches and shows them. The page hands the
//! bytes to this process, which seals and sends them as the CLI does; it
//! asks for a file back to preview or save it, and is given it inline only
//! as an image type a browser shows without running anything: everything
//! else, SVG included, comes as a download.

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue};
use axum::response::Response;
use axum::Json;
use futures_util::StreamExt;
use kizuna_client::Event;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use super::MessageView;
use crate::{AppError, AppState};

/// Image types a browser renders as pictures and nothing more.
const PREVIEWABLE: &[&str] = &["image/png", "image/jpeg", "image/gif", "image/webp"];

/// Longest file name the page may give, in characters.
const MAX_NAME: usize = 255;

/// A file in a message, as the page shows it.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct FileView {
    name: String,
    media_type: String,
    size: u64,
    /// Whether the page may show it as a picture.
    preview: bool,
    /// The sender's thumbnail of a picture, as a `data:` address of a
    /// JPEG: shown at once, before the picture itself is fetched.
    thumbnail: Option<String>,
}

impl FileView {
    pub(crate) fn of(a: &kizuna_client::Attachment) -> FileView {
        FileView {
            name: a.file_name.clone(),
            media_type: a.media_type.clone(),
            size: a.size,
            preview: PREVIEWABLE.contains(&a.media_type.as_str()),
            // Whatever the bytes are, the page's browser decodes them only
            // as a JPEG picture.
            thumbnail: a.thumbnail.as_ref().and_then(|t| {
                serde_json::to_value(t)
                    .ok()?
                    .as_str()
                    .map(|b64| format!("data:image/jpeg;base64,{b64}"))
            }),
        }
    }
}

#[derive(Deserialize)]
pub(super) struct Attach {
    name: String,
    caption: Option<String>,
}

/// A directory of its own under the device's home, removed when dropped:
/// what the page uploaded waits there while it is sealed and sent.
struct Staging(PathBuf);

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Where what the page uploads waits, in plaintext, while it is sealed and
/// sent: under the device's home, emptied as each send ends and when the
/// app starts (after a process that was killed mid-send).
pub(crate) fn outbox(home: &FsPath) -> PathBuf {
    home.join("outbox")
}

fn local(path: &FsPath, e: impl std::fmt::Display) -> AppError {
    AppError::Client(kizuna_client::ClientError::Local {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Sends the request's body as a file in the chat: written to the device's
/// own disk as it arrives (memory stays flat whatever its size), then
/// sealed, uploaded and sent, its metadata removed.
pub(super) async fn send(
    State(state): State<Arc<AppState>>,
    Path(chat): Path<String>,
    Query(a): Query<Attach>,
    body: Body,
) -> Result<Json<MessageView>, AppError> {
    let name = kizuna_wire::safe_file_name(&a.name)
        .filter(|n| n.chars().count() <= MAX_NAME)
        .ok_or_else(|| {
            AppError::Invalid(format!("a file needs a name of 1 to {MAX_NAME} characters"))
        })?;
    let caption = a
        .caption
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    if caption.is_some_and(|c| c.chars().count() > super::chats::MAX_TEXT) {
        return Err(AppError::Invalid(format!(
            "a caption holds at most {} characters",
            super::chats::MAX_TEXT
        )));
    }
    // An unknown chat is refused before any of the file is taken.
    let (home, chat) = {
        let client = state.client.lock().await;
        (
            client.home().to_path_buf(),
            client.resolve_chat(&chat).await?,
        )
    };
    let staging = Staging(outbox(&home).join(hex::encode(rand::random::<[u8; 8]>())));
    tokio::fs::create_dir_all(&staging.0)
        .await
        .map_err(|e| local(&staging.0, e))?;
    let path = staging.0.join(&name);
    let mut file = tokio::fs::File::create(&path)
        .await
        .map_err(|e| local(&path, e))?;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| AppError::Invalid(format!("the file did not arrive whole: {e}")))?;
        file.write_all(&chunk).await.map_err(|e| local(&path, e))?;
    }
    file.flush().await.map_err(|e| local(&path, e))?;
    drop(file);

    // The device is held only to begin and to finish: while the parts go,
    // the page goes on reading and sending.
    let (mut send, via) = {
        let mut client = state.client.lock().await;
        let send = client.begin_file_send(&chat, &path, false).await?;
        (send, client.part_sender().await?)
    };
    let uploaded = match send.upload(&via, &mut |_, _| {}).await {
        Err(e) if kizuna_client::refused_token(&e) => {
            let via = state.client.lock().await.renewed_part_sender().await;
            match via {
                Ok(via) => send.upload(&via, &mut |_, _| {}).await,
                Err(e) => Err(e),
            }
        }
        other => other,
    };
    let mut client = state.client.lock().await;
    // The staged copy goes with this request: an upload that failed is
    // given up rather than kept to go on with.
    let sent = match uploaded {
        Ok(()) => client.finish_file_send(send, caption).await,
        Err(e) => {
            client.abandon_file_send(send).await?;
            Err(e)
        }
    };
    let sent = sent?;
    super::shown_as_sent(&state, &mut client, &chat, &sent).await
}

#[derive(Deserialize)]
pub(super) struct Fetch {
    #[serde(default)]
    download: bool,
}

/// A message's file: fetched from the node and opened once, then kept on
/// this device; served as a picture only if it is a type that is only a
/// picture, and otherwise as a download under its own (safe) name.
pub(super) async fn fetch(
    State(state): State<Arc<AppState>>,
    Path((chat, seq)): Path<(String, u64)>,
    Query(f): Query<Fetch>,
) -> Result<Response, AppError> {
    let (path, attachment, save) = {
        let mut client = state.client.lock().await;
        let attachment = client
            .timeline(&chat)
            .await?
            .into_iter()
            .find_map(|e| match e {
                Event::Message(m) if m.seq == seq => m.file,
                _ => None,
            })
            .ok_or_else(|| AppError::Invalid(format!("message {seq} carries no file")))?;
        // The id comes from the sender: a path is made of it only if it is
        // one a node makes.
        if !kizuna_wire::is_file_id(&attachment.file_id) {
            return Err(AppError::Invalid(format!(
                "message {seq} names a file id no node makes; it cannot be fetched"
            )));
        }
        let dir = client.home().join("media");
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| local(&dir, e))?;
        let path = dir.join(&attachment.file_id);
        // Kept only once opened and checked whole: a file here is the one
        // its message describes.
        let save = if tokio::fs::metadata(&path).await.is_err() {
            let save = client.begin_file_save(&chat, seq, Some(&path)).await?;
            Some((save, client.part_sender().await?))
        } else {
            None
        };
        (path, attachment, save)
    };
    // The device is not held while the parts come; saves of one file wait
    // for each other, so a picture asked for twice is fetched once.
    if let Some((save, via)) = save {
        let id = attachment.file_id.clone();
        let one = state
            .saving
            .lock()
            .await
            .entry(id.clone())
            .or_default()
            .clone();
        let held = one.lock().await;
        let fetched = fetch_once(&path, save, via, &state).await;
        drop(held);
        {
            let mut saving = state.saving.lock().await;
            // The map's and this one: nobody else waits for it.
            if Arc::strong_count(&one) <= 2 {
                saving.remove(&id);
            }
        }
        fetched?;
    }
    serve(&path, &attachment, f.download).await
}

/// Fetches a file into `path` unless another ask already did.
async fn fetch_once(
    path: &FsPath,
    save: kizuna_client::FileSave,
    via: kizuna_client::PartSender,
    state: &AppState,
) -> Result<(), AppError> {
    if tokio::fs::metadata(path).await.is_ok() {
        return Ok(());
    }
    match save.fetch(&via, &mut |_, _| {}).await {
        Err(e) if kizuna_client::refused_token(&e) => {
            let via = state.client.lock().await.renewed_part_sender().await?;
            save.fetch(&via, &mut |_, _| {}).await?;
        }
        other => {
            other?;
        }
    }
    Ok(())
}

/// A file opened and checked on this device, to the page: inline only as
/// a picture type, otherwise as a download.
async fn serve(
    path: &FsPath,
    attachment: &kizuna_client::Attachment,
    download: bool,
) -> Result<Response, AppError> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| local(path, e))?;
    let inline = !download && PREVIEWABLE.contains(&attachment.media_type.as_str());
    let mut r = Response::new(Body::from_stream(pieces_of(file)));
    let h = r.headers_mut();
    let kind = if inline {
        attachment.media_type.as_str()
    } else {
        "application/octet-stream"
    };
    if let Ok(v) = HeaderValue::from_str(kind) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(attachment.size));
    let name = kizuna_wire::safe_file_name(&attachment.file_name).unwrap_or_else(|| "file".into());
    let disposition = format!(
        "{}; filename*=UTF-8''{}",
        if inline { "inline" } else { "attachment" },
        percent_encoded(&name)
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}

/// A file read in pieces of 64 KiB.
fn pieces_of(file: tokio::fs::File) -> impl futures_util::Stream<Item = std::io::Result<Vec<u8>>> {
    futures_util::stream::try_unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 64 * 1024];
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.truncate(n);
        Ok(Some((buf, file)))
    })
}

/// RFC 8187's encoding of a file name for `filename*`.
fn percent_encoded(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
