//! A file a reported message carries, opened for a moderator. The reporter
//! revealed the message, and with it the file's key; the node reads the
//! sealed parts from the sender's region, opens them with that key and
//! checks the whole against the hash the sender committed to, so what the
//! moderator sees is provably what was sent. Opening it takes the same
//! governed access as opening the report, and is recorded the same way.

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use kizuna_files::{FileId, FileStore};
use kizuna_media::{FileKey, MediaError, PieceOpener, Sealed};
use kizuna_staff::{Session, StaffError};
use kizuna_wire::reports::ShownFile;
use std::sync::Arc;

use super::{storage, Governance};

/// A reported file, opened: its description and its bytes as they are
/// read, the stream ending in an error if they are not the file
/// described.
pub struct OpenedFile<S> {
    pub file: ShownFile,
    pub bytes: S,
}

impl Governance {
    /// Opens the file message `group_seq` of a report carries, under a live
    /// grant over the report's region: recorded for the reporter and the
    /// sender as an opening of the report, and as an event of its own,
    /// before any of it is read.
    pub async fn open_report_file(
        &self,
        s: &Session,
        report_id: &str,
        group_seq: u64,
    ) -> Result<OpenedFile<impl Stream<Item = std::io::Result<Bytes>> + use<>>, StaffError> {
        let (q, grant, requester) = self.open_allowed(s, report_id).await?;
        let o = self.opened(s, &q, &grant, &requester).await?;
        let Some((_, file)) = o.body.files.iter().find(|(seq, _)| *seq == group_seq) else {
            return Err(StaffError::NotFound(format!(
                "file in message {group_seq} of report {report_id}; `kizuna staff reports show {report_id}` lists the messages that carry one"
            )));
        };
        let gone = || {
            StaffError::NotFound(format!(
                "file {} any longer: it was deleted when its retention period ended or its sender erased their account; the report keeps its description",
                file.file_id
            ))
        };
        let row = self.store.file(&file.file_id).await.map_err(storage)?;
        let Some(row) = row.filter(|r| r.sent_at.is_some()) else {
            return Err(gone());
        };
        let store = self
            .files
            .of(&row.region)
            .map_err(|e| StaffError::Forbidden(e.message))?
            .clone();
        let id = FileId::parse(&file.file_id).map_err(|_| gone())?;
        let key = FileKey::from_bytes(&file.key.0).map_err(|e| {
            StaffError::Invalid(format!("the key the message gives for the file: {e}"))
        })?;
        let sha256: [u8; 32] = file.sha256.0.as_slice().try_into().map_err(|_| {
            StaffError::Invalid("the hash the message gives for the file is not a SHA-256".into())
        })?;
        self.realm
            .record(
                kizuna_staff::EventKind::ReportFileOpened,
                Some(&s.member.staff_id),
                Some(&s.org.org_id),
                serde_json::json!({
                    "report": report_id,
                    "group_seq": group_seq,
                    "file": file.file_id,
                    "region": row.region,
                    "grant": grant.grant_id,
                }),
            )
            .await?;
        let opener = PieceOpener::new(
            &key,
            Sealed {
                size: file.size,
                sha256,
            },
        );
        // The first part is opened before anything is answered, so that a
        // file altered at rest from its start is refused with a typed error
        // rather than by a connection closed before the status line.
        let mut bytes = Box::pin(opened_parts(store, id, row.parts, opener));
        let first = match bytes.next().await {
            Some(Ok(b)) => Some(b),
            Some(Err(e)) if e.kind() == std::io::ErrorKind::InvalidData => {
                return Err(StaffError::FileAltered(format!(
                    "file {} in region {} is not the one its message describes ({e}): it was altered where it is stored; nothing of it was sent",
                    file.file_id, row.region
                )))
            }
            Some(Err(e)) => return Err(StaffError::Storage(e.to_string())),
            None => None,
        };
        Ok(OpenedFile {
            file: ShownFile::from(file),
            bytes: futures_util::stream::iter(first.map(Ok)).chain(bytes),
        })
    }
}

/// The plaintext of a sealed file, one part of it in memory at a time; the
/// last item is an error if any chunk fails to open or the whole is not
/// the file described.
fn opened_parts(
    store: Arc<dyn FileStore>,
    id: FileId,
    parts: u32,
    opener: PieceOpener,
) -> impl Stream<Item = std::io::Result<Bytes>> {
    let bad = |e: MediaError| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
    futures_util::stream::try_unfold(
        (store, id, 0u32, Some(opener)),
        move |(store, id, n, opener)| async move {
            let Some(mut opener) = opener else {
                return Ok(None);
            };
            if n == parts {
                let last = opener.finish().map_err(bad)?;
                return Ok(Some((Bytes::from(last), (store, id, n, None))));
            }
            let part = store
                .get_part(&id, n)
                .await
                .map_err(std::io::Error::other)?
                .ok_or_else(|| {
                    std::io::Error::other(format!(
                        "part {n} of file {} is missing from its file store",
                        id.as_str()
                    ))
                })?;
            let plain = opener.push(&part).map_err(bad)?;
            Ok(Some((Bytes::from(plain), (store, id, n + 1, Some(opener)))))
        },
    )
}
