//! Abuse reports from the people who receive messages: a person reveals
//! franked messages of a chat, the node verifies every one against its own
//! binding before it keeps anything, and keeps the report sealed in the
//! reporter's home region. The reported person reads what was decided and
//! appeals; the retention rule deletes resolved reports.

use std::sync::Arc;
use std::time::Duration;

use kizuna_franking::{Binding, Commitment, Envelope, FrankingKey, Revealed};
use kizuna_vault::{ReportBody, Vault};
use kizuna_wire::reports::*;
use kizuna_wire::*;
use rand::RngCore;
use sha2::Digest;

use crate::auth::DeviceIdentity;
use crate::error::{Kind, NodeError};
use crate::node::Node;

fn invalid(message: impl Into<String>) -> NodeError {
    NodeError::invalid(ErrorCode::BadRequest, message)
}

fn key32(b: &Bytes, what: &str, seq: u64) -> Result<[u8; 32], NodeError> {
    <[u8; 32]>::try_from(b.0.as_slice())
        .map_err(|_| invalid(format!("message {seq}: the {what} must be 32 bytes")))
}

/// The text a moderator reads of a committed body.
fn shown_text(body: &str) -> String {
    match serde_json::from_str::<ChatContent>(body) {
        Ok(ChatContent::Text { text, .. }) => text,
        // The words the sender chose; a card's buttons or an answer's
        // choice are its structure, which the text states.
        Ok(ChatContent::Structured { text, .. }) => text,
        Ok(ChatContent::ChatName { name }) => format!("(named the chat \"{name}\")"),
        Ok(ChatContent::File { file, caption, .. }) => format!(
            "(sent the file \"{}\", {}, {} bytes, SHA-256 {}){}",
            file.file_name,
            file.media_type,
            file.size,
            hex::encode(&file.sha256.0),
            caption.map(|c| format!(" {c}")).unwrap_or_default()
        ),
        Err(_) => body.to_string(),
    }
}

/// The file a revealed message carries, if any.
fn file_of(body: &str) -> Option<kizuna_wire::FileRef> {
    match serde_json::from_str::<ChatContent>(body) {
        Ok(ChatContent::File { file, .. }) => Some(file),
        _ => None,
    }
}

/// Checks a report's shape; nothing is verified or kept yet.
fn checked(req: &ReportRequest, max_body: usize) -> Result<(), NodeError> {
    if req.group_id.0.is_empty() || req.group_id.0.len() > 64 {
        return Err(invalid("the chat's group id must be 1 to 64 bytes"));
    }
    if req.messages.is_empty() || req.messages.len() > MAX_CONTEXT + 1 {
        return Err(invalid(format!(
            "a report carries the reported message and at most {MAX_CONTEXT} before it"
        )));
    }
    if req
        .note
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_NOTE)
    {
        return Err(invalid(format!(
            "the note may be at most {MAX_NOTE} characters"
        )));
    }
    // The sequence numbers are the device's; the times are bound by the
    // node, so the order is checked on both.
    if req
        .messages
        .windows(2)
        .any(|w| w[0].group_seq >= w[1].group_seq || w[0].server_time > w[1].server_time)
    {
        return Err(invalid(
            "the messages must be in the chat's order, the reported one last",
        ));
    }
    if let Some(m) = req.messages.iter().find(|m| m.body.len() > max_body) {
        return Err(invalid(format!(
            "message {}: longer than any message this node accepts",
            m.group_seq
        )));
    }
    Ok(())
}

impl Node {
    /// Files a report of franked messages: every one is verified against
    /// the node's binding before anything is kept, and the report is sealed
    /// in the reporter's home region.
    pub async fn file_report(
        &self,
        me: &DeviceIdentity,
        req: ReportRequest,
    ) -> Result<ReportFiled, NodeError> {
        let s = self;
        checked(&req, s.limits.max_message_bytes)?;
        let reporter = s.account_of(me).await?;
        // Every message must be exactly what its sender sent in this chat at
        // that time, or nothing of the report is kept.
        for m in &req.messages {
            let revealed = Revealed {
                plaintext: m.body.as_bytes(),
                key: FrankingKey(key32(&m.franking_key, "franking key", m.group_seq)?),
                commitment: Commitment(key32(&m.commitment, "commitment", m.group_seq)?),
                binding: Binding(key32(&m.binding, "binding", m.group_seq)?),
                envelope: Envelope {
                    chat: &req.group_id.0,
                    sender: &m.sender_handle,
                    time_ms: m.server_time,
                },
            };
            if let Err(e) = kizuna_franking::verify(&s.franking_key, &revealed) {
                if !s.refused_reports.allow_local(&me.device_id) {
                    return Err(NodeError::new(
                        Kind::RateLimited,
                        ErrorCode::RateLimited,
                        "this device sent too many reports that did not verify; try again in an hour",
                    ));
                }
                let why = format!("message {} of the report: {e}", m.group_seq);
                tracing::warn!(reporter = %reporter.account_id, %why, "a report failed verification");
                s.vault
                    .record_refused_report(
                        &reporter.account_id,
                        &reporter.region,
                        &why,
                        &me.requester(),
                    )
                    .await?;
                return Err(NodeError::new(
                    Kind::Unverified,
                    ErrorCode::ReportNotVerified,
                    format!("{why}; the report was refused and the attempt recorded"),
                ));
            }
        }
        let Some(last) = req.messages.last() else {
            return Err(invalid("a report needs the reported message"));
        };
        if last.sender_handle == reporter.handle {
            return Err(invalid("you cannot report your own message"));
        }
        // The binding names the handle; a handle taken again after its owner
        // left belongs to someone who did not send this.
        let reported = s
            .store
            .account_by_handle(&last.sender_handle)
            .await?
            .filter(|a| a.created_at <= last.server_time)
            .ok_or_else(|| {
                NodeError::not_found(
                    ErrorCode::UnknownAccount,
                    format!(
                        "{} no longer has an account; there is nobody to report",
                        last.sender_handle
                    ),
                )
            })?;
        // The keys of the files the messages carry, as the reporter
        // revealed them: sealed with the report, never shown in it.
        let files: Vec<(u64, kizuna_wire::FileRef)> = req
            .messages
            .iter()
            .filter_map(|m| Some((m.group_seq, file_of(&m.body)?)))
            .collect();
        let mut id = [0u8; 8];
        rand::thread_rng().fill_bytes(&mut id);
        let report = FiledReport {
            report_id: format!("rep-{}", hex::encode(id)),
            created_at: now_ms(),
            reason: req.reason,
            note: req
                .note
                .as_ref()
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty()),
            chat: hex::encode(&req.group_id.0),
            reported_handle: last.sender_handle.clone(),
            messages: req
                .messages
                .iter()
                .map(|m| ShownMessage {
                    group_seq: m.group_seq,
                    // Moderators are not told who reported, not even by the
                    // reporter's own messages in the context.
                    sender_handle: if m.sender_handle == reporter.handle {
                        REPORTER.to_string()
                    } else {
                        m.sender_handle.clone()
                    },
                    server_time: m.server_time,
                    text: shown_text(&m.body),
                    file: file_of(&m.body).map(|f| ShownFile::from(&f)),
                })
                .collect(),
            state: ReportState::Open,
            outcome: None,
        };
        // One message, one report: named by its chat and commitment (a fresh
        // key per message makes it unique), both verified above.
        let mut message_key = sha2::Sha256::new();
        message_key.update((req.group_id.0.len() as u64).to_be_bytes());
        message_key.update(&req.group_id.0);
        message_key.update(&last.commitment.0);
        let filed = ReportFiled {
            report_id: report.report_id.clone(),
            region: reporter.region.clone(),
            messages: report.messages.len(),
        };
        // The files it names are kept past their retention while it is:
        // held before the report exists, so a file never outlives its
        // retention with no report to show for it but briefly.
        let held: Vec<String> = files.iter().map(|(_, f)| f.file_id.clone()).collect();
        if !held.is_empty() {
            s.store.hold_files(&filed.report_id, &held).await?;
        }
        let kept = s
            .vault
            .file_report(
                &reporter.account_id,
                &reporter.region,
                &ReportBody {
                    report,
                    reported_account: reported.account_id,
                    reported_region: reported.region,
                    files,
                },
                message_key.finalize().to_vec(),
                &me.requester(),
            )
            .await;
        if let Err(e) = kept {
            // Not filed (already reported, say): nothing is held for it.
            if !held.is_empty() {
                s.store.release_holds(&filed.report_id).await?;
            }
            return Err(e.into());
        }
        Ok(filed)
    }

    /// The reports I filed, with what became of them.
    pub async fn my_reports(&self, me: &DeviceIdentity) -> Result<Vec<FiledReport>, NodeError> {
        let s = self;
        let a = s.account_of(me).await?;
        Ok(s.vault
            .reports_of(&a.account_id, &a.region, &me.requester())
            .await?)
    }

    /// What moderators decided about my messages.
    pub async fn moderation_notices(
        &self,
        me: &DeviceIdentity,
    ) -> Result<Vec<ModerationNotice>, NodeError> {
        let s = self;
        let a = s.account_of(me).await?;
        Ok(s.vault
            .notices(&a.account_id, &a.region, &me.requester())
            .await?)
    }

    /// Appeals a decision about one of my messages: the report goes back to
    /// the moderators' queue with my words beside it.
    pub async fn appeal(
        &self,
        me: &DeviceIdentity,
        report_id: String,
        req: AppealRequest,
    ) -> Result<ModerationNotice, NodeError> {
        let s = self;
        let note = req.note.trim();
        if note.is_empty() || note.chars().count() > MAX_NOTE {
            return Err(invalid(format!(
                "say why, in 1 to {MAX_NOTE} characters (--note)"
            )));
        }
        let a = s.account_of(me).await?;
        let who = me.requester();
        let mut notice = s
            .vault
            .notices(&a.account_id, &a.region, &who)
            .await?
            .into_iter()
            .find(|n| n.report_id == report_id)
            .ok_or_else(|| {
                NodeError::not_found(
                    ErrorCode::NotFound,
                    format!("no decision about your messages has report id {report_id}; see `kizuna me moderation`"),
                )
            })?;
        if notice.appeal.is_some() {
            return Err(NodeError::conflict(
                ErrorCode::BadRequest,
                "you already appealed this decision; a moderator will decide again",
            ));
        }
        let q = s
            .vault
            .find_report(&report_id)
            .await?
            .ok_or_else(|| {
                NodeError::not_found(
                    ErrorCode::NotFound,
                    "the report behind this decision was deleted after its retention period; it can no longer be appealed",
                )
            })?;
        if q.row.state != ReportState::Resolved.name() {
            return Err(NodeError::conflict(
                ErrorCode::BadRequest,
                "this report is not resolved yet; there is nothing to appeal",
            ));
        }
        // The report goes back to the queue first, then my words are kept in
        // my own region; if they cannot be, the report goes back as it was.
        if !s.vault.set_report_state(&q, ReportState::Appealed).await? {
            return Err(NodeError::conflict(
                ErrorCode::BadRequest,
                "the report changed meanwhile; try again",
            ));
        }
        notice.appeal = Some(Appeal {
            at: now_ms(),
            note: note.to_string(),
        });
        if let Err(e) = s
            .vault
            .put_notice(&a.account_id, &a.region, notice.clone(), &who)
            .await
        {
            let appealed = kizuna_vault::QueuedReport {
                row: kizuna_store::ReportRow {
                    state: ReportState::Appealed.name().to_string(),
                    ..q.row.clone()
                },
                ..q
            };
            if let Err(back) = s
                .vault
                .set_report_state(&appealed, ReportState::Resolved)
                .await
            {
                tracing::error!(error = %back, "an appeal that failed could not be taken back");
            }
            return Err(e.into());
        }
        Ok(notice)
    }
}

/// Deletes resolved reports once their retention period is over, checking
/// as often as the period allows (at least once a minute).
pub async fn retention(
    vault: Arc<Vault>,
    store: Arc<dyn kizuna_store::Store>,
    sanctions: Arc<crate::sanctions::Sanctions>,
    period: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let every = (period / 4).clamp(Duration::from_millis(500), Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.wait_for(|v| *v) => return,
        }
        let before = now_ms().saturating_sub(period.as_millis() as u64);
        match vault
            .delete_expired_reports(before, |id| sanctions.in_force_for_report(id))
            .await
        {
            Ok(gone) if gone.is_empty() => {}
            Ok(gone) => {
                tracing::info!(
                    reports = gone.len(),
                    "resolved reports deleted after their retention period"
                );
                // Their files are kept no longer for them; a release a
                // crash skips is made by the file sweep, which checks holds.
                for report in &gone {
                    if let Err(e) = store.release_holds(report).await {
                        tracing::warn!(error = %e, "a deleted report's holds on files could not be released; the file sweep will");
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "resolved reports could not be deleted; trying again")
            }
        }
    }
}
