//! A file's parts on their way to the node: several in flight at once,
//! through a connection and token of their own so the device is free
//! meanwhile, going on from what the node keeps after a drop or restart.

use std::time::Duration;

use kizuna_wire::{ErrorCode, FileProgress, FILE_PART_BYTES};
use reqwest::Method;

use super::{transient, FileSend, SealedSource, MAX_BACKOFF, PART_ATTEMPTS};
use crate::transport::{Payload, Transport};
use crate::{ClientError, Result};

/// This device's connection to its node and a token, to send a file's
/// parts while the device goes on with other things.
pub struct PartSender {
    pub(super) transport: Transport,
    pub(super) token: String,
}

impl PartSender {
    /// A GET with this sender's token: its body and headers.
    pub(super) async fn get(&self, path: &str) -> Result<(Vec<u8>, reqwest::header::HeaderMap)> {
        self.transport
            .exchange(Method::GET, path, Some(&self.token), &Payload::Empty)
            .await
    }
}

/// Whether the node refused the device's token (it expired, or the node
/// restarted with other keys): get a new [`PartSender`] and go on.
pub fn refused_token(e: &ClientError) -> bool {
    matches!(
        e,
        ClientError::Api {
            code: ErrorCode::TokenExpired | ErrorCode::Unauthorized,
            ..
        }
    )
}

impl FileSend {
    /// The chat it goes to.
    pub fn chat(&self) -> &str {
        &self.chat
    }

    /// Uploads the parts the node does not keep yet, several at once (so
    /// the node writes one while the next arrives and this device seals
    /// the one after), going on from what the node says it keeps whenever
    /// a connection drops or the node restarts. `progress` is told the
    /// bytes kept of the total. A refused token ([`refused_token`]) ends
    /// it: call again with a new [`PartSender`].
    pub async fn upload(
        &mut self,
        via: &PartSender,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<()> {
        let size = self.source.sealed_size();
        let mut wait = Duration::from_millis(100);
        let mut failures = 0;
        progress((self.kept as u64 * FILE_PART_BYTES).min(size), size);
        while self.kept < self.parts {
            let before = self.kept;
            let round = send_parts(
                via,
                &self.file_id,
                &mut self.source,
                (&mut self.kept, self.parts),
                progress,
            )
            .await;
            if self.kept > before {
                failures = 0;
                wait = Duration::from_millis(100);
            }
            let failed = match round {
                Ok(()) if self.kept > before => continue,
                // Every part was answered and none counted: the node no
                // longer keeps what it said, so sending again would loop.
                Ok(()) => {
                    return Err(ClientError::Protocol(format!(
                        "the node counts {} of {} parts and takes no more",
                        self.kept, self.parts
                    )))
                }
                Err(e) if transient(&e) => e,
                Err(e) => return Err(e),
            };
            // A restarted node may keep less than it answered (nothing it
            // said was kept is lost, but parts ahead may be): go on from
            // what it says now, once it answers.
            let mut failed = Some(failed);
            while let Some(e) = failed.take() {
                failures += 1;
                if failures >= PART_ATTEMPTS {
                    return Err(e);
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(MAX_BACKOFF);
                let path = format!("/v1/files/{}", self.file_id);
                match via
                    .transport
                    .exchange(Method::GET, &path, Some(&via.token), &Payload::Empty)
                    .await
                {
                    Ok((body, _)) => {
                        let p: FileProgress = serde_json::from_slice(&body)
                            .map_err(|e| ClientError::Protocol(e.to_string()))?;
                        self.kept = p.received;
                    }
                    Err(e) if transient(&e) => failed = Some(e),
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }
}

/// Parts sent at once: enough that sealing, the network and the node's
/// writes overlap, within what the node takes ahead of its count.
pub(super) const PARTS_IN_FLIGHT: usize = 8;

/// One round of an upload: sends every part from `kept` on, a few at a
/// time, and moves `kept` to what the node says it keeps. Stops at the
/// first failure, once the parts in flight are answered.
async fn send_parts(
    via: &PartSender,
    file_id: &str,
    source: &mut SealedSource,
    (kept, parts): (&mut u32, u32),
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<()> {
    use futures_util::stream::{FuturesUnordered, StreamExt};
    let size = source.sealed_size();
    // Chunks are hashed in order as they are sealed: whatever the node
    // kept ahead of what this device sealed is hashed first.
    source.hash_before_part(*kept)?;
    let mut next = *kept;
    let mut in_flight = FuturesUnordered::new();
    let mut failed = None;
    loop {
        while failed.is_none()
            && next < parts
            && in_flight.len() < PARTS_IN_FLIGHT
            && next <= *kept + kizuna_wire::FILE_PARTS_AHEAD
        {
            let part = source.part(next)?;
            let payload = Payload::Part {
                digest: kizuna_wire::content_digest(&part),
                bytes: part,
            };
            let path = format!("/v1/files/{file_id}/parts/{next}");
            in_flight.push(async move {
                via.transport
                    .exchange(Method::PUT, &path, Some(&via.token), &payload)
                    .await
            });
            next += 1;
        }
        let Some(answer) = in_flight.next().await else {
            break;
        };
        match answer.and_then(|(body, _)| {
            serde_json::from_slice::<FileProgress>(&body)
                .map_err(|e| ClientError::Protocol(e.to_string()))
        }) {
            Ok(p) => {
                *kept = (*kept).max(p.received);
                progress((*kept as u64 * FILE_PART_BYTES).min(size), size);
            }
            Err(e) => {
                failed.get_or_insert(e);
            }
        }
    }
    failed.map_or(Ok(()), Err)
}
