//! The rows a batch of submissions writes: each message at its log position,
//! collected, then written in a few multi-row statements per table.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::{QueryBuilder, Sqlite, Transaction};

use super::submit::LastSend;
use super::{prepared_chunks, SqliteStore, ROWS_PER_STATEMENT};
use crate::{Franking, MessageKind, QueuedEntry, Result};

struct MessageRow {
    pos: u64,
    group_id: Vec<u8>,
    seq: u64,
    kind: MessageKind,
    /// Delivered to the group's members rather than to chosen devices.
    routed: bool,
    sender: String,
    server_time: u64,
    payload: Arc<Vec<u8>>,
    franking: Option<Franking>,
}

/// The rows a batch of submissions writes, collected so that each table gets
/// a few multi-row statements per batch rather than several per message.
#[derive(Default)]
pub(super) struct BatchRows {
    messages: Vec<MessageRow>,
    /// (device, log position) for messages that are not routed.
    deliveries: Vec<(String, u64)>,
    /// Each sending device's last message in this batch, by its id.
    pub(super) sends: HashMap<String, LastSend>,
}

impl BatchRows {
    pub(super) async fn write(&self, tx: &mut Transaction<'_, Sqlite>) -> Result<()> {
        for chunk in prepared_chunks(&self.messages) {
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO log (pos, group_id, seq, kind, routed, sender_device, server_time, payload, frank) ",
            );
            qb.push_values(chunk, |mut b, m| {
                b.push_bind(m.pos as i64)
                    .push_bind(m.group_id.as_slice())
                    .push_bind(m.seq as i64)
                    .push_bind(m.kind as i64)
                    .push_bind(m.routed as i64)
                    .push_bind(m.sender.as_str())
                    .push_bind(m.server_time as i64)
                    .push_bind(m.payload.as_slice())
                    .push_bind(m.franking.as_ref().map(|f| f.as_slice()));
            });
            qb.build().execute(&mut **tx).await?;
        }
        for chunk in prepared_chunks(&self.deliveries) {
            let mut qb: QueryBuilder<Sqlite> =
                QueryBuilder::new("INSERT INTO deliveries (device_id, pos) ");
            qb.push_values(chunk, |mut b, (d, pos)| {
                b.push_bind(d.as_str()).push_bind(*pos as i64);
            });
            qb.build().execute(&mut **tx).await?;
        }
        let sends: Vec<(&String, &LastSend)> = self.sends.iter().collect();
        for chunk in sends.chunks(ROWS_PER_STATEMENT) {
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO last_sends (device_id, client_id, group_seq, server_time, frank) ",
            );
            qb.push_values(chunk, |mut b, (d, l)| {
                b.push_bind(d.as_str())
                    .push_bind(l.client_id.as_slice())
                    .push_bind(l.group_seq as i64)
                    .push_bind(l.server_time as i64)
                    .push_bind(l.franking.as_ref().map(|f| f.as_slice()));
            });
            qb.push(
                " ON CONFLICT (device_id) DO UPDATE SET client_id = excluded.client_id, \
                 group_seq = excluded.group_seq, server_time = excluded.server_time, \
                 frank = excluded.frank",
            );
            qb.build().execute(&mut **tx).await?;
        }
        Ok(())
    }
}

impl SqliteStore {
    /// Puts one message into the group's order at the next log position;
    /// `to` is who receives it. A routed message reaches `to` because they
    /// are the group's members; any other gets a delivery row per device.
    /// The rows are written together at the end of the batch.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn enqueue(
        rows: &mut BatchRows,
        log_pos: &mut u64,
        group_id: &[u8],
        group_seq: u64,
        kind: MessageKind,
        routed: bool,
        sender: &str,
        server_time: u64,
        payload: Arc<Vec<u8>>,
        franking: Option<Franking>,
        to: &[String],
        queued: &mut Vec<QueuedEntry>,
    ) {
        // Nobody to tell: nothing is kept.
        if to.is_empty() {
            return;
        }
        *log_pos += 1;
        let pos = *log_pos;
        for d in to {
            queued.push(QueuedEntry {
                device_id: d.clone(),
                seq: pos,
                kind,
                group_id: group_id.to_vec(),
                group_seq,
                sender_device: sender.to_string(),
                server_time,
                payload: payload.clone(),
                franking,
            });
            if !routed {
                rows.deliveries.push((d.clone(), pos));
            }
        }
        rows.messages.push(MessageRow {
            pos,
            group_id: group_id.to_vec(),
            seq: group_seq,
            kind,
            routed,
            sender: sender.to_string(),
            server_time,
            payload,
            franking,
        });
    }
}
