//! The rows a batch of submissions writes. Messages are numbered within the
//! batch while it is checked; their log positions are taken once, last, by
//! the statement that writes the rows, just before the transaction commits.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::{Postgres, Transaction};

use super::submit::ChangedGroups;
use super::PgStore;
use crate::sqlite::submit::LastSend;
use crate::{Franking, MessageKind, QueuedEntry, Result};

struct MessageRow {
    /// 1 for the batch's first message, and so on.
    offset: u64,
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

#[derive(Default)]
pub(super) struct BatchRows {
    messages: Vec<MessageRow>,
    /// (device, offset) for messages that are not routed.
    deliveries: Vec<(String, u64)>,
    /// Each sending device's last message in this batch, by its id.
    pub(super) sends: HashMap<String, LastSend>,
}

impl BatchRows {
    /// How many log positions the batch needs.
    pub(super) fn positions(&self) -> u64 {
        self.messages.len() as u64
    }

    /// Takes the batch's log positions and writes its messages at them,
    /// with their deliveries and the groups it changed, in one statement;
    /// answers the position before the first. The counter's row stays
    /// locked until the commit, so a batch that takes later positions
    /// commits later; taking it in the statement that writes the rows holds
    /// it for one round trip less. The groups' rows are locked already.
    pub(super) async fn write_at_next_positions(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        groups: &ChangedGroups,
    ) -> Result<u64> {
        let m = &self.messages;
        let base: i64 = sqlx::query_scalar(
            "WITH gr AS (UPDATE groups g SET epoch = u.epoch, next_seq = u.next_seq \
                         FROM UNNEST($13::bytea[], $14::int8[], $15::int8[]) \
                              AS u(group_id, epoch, next_seq) \
                         WHERE g.group_id = u.group_id), \
             c AS (UPDATE counters SET value = value + $1 WHERE name = 'log_pos' \
                        RETURNING value - $1 AS base), \
             l AS (INSERT INTO log (pos, group_id, seq, kind, routed, sender_device, \
                        server_time, payload, frank) \
                   SELECT c.base + o, g, s, k, r, d, t, p, f FROM c, UNNEST($2::int8[], \
                        $3::bytea[], $4::int8[], $5::int8[], $6::bool[], $7::text[], \
                        $8::int8[], $9::bytea[], $10::bytea[]) AS u(o, g, s, k, r, d, t, p, f)), \
             dl AS (INSERT INTO deliveries (device_id, pos) \
                    SELECT d, c.base + o FROM c, UNNEST($11::text[], $12::int8[]) AS u(d, o)) \
             SELECT base FROM c",
        )
        .bind(self.positions() as i64)
        .bind(m.iter().map(|r| r.offset as i64).collect::<Vec<_>>())
        .bind(m.iter().map(|r| r.group_id.as_slice()).collect::<Vec<_>>())
        .bind(m.iter().map(|r| r.seq as i64).collect::<Vec<_>>())
        .bind(m.iter().map(|r| r.kind as i64).collect::<Vec<_>>())
        .bind(m.iter().map(|r| r.routed).collect::<Vec<_>>())
        .bind(m.iter().map(|r| r.sender.as_str()).collect::<Vec<_>>())
        .bind(m.iter().map(|r| r.server_time as i64).collect::<Vec<_>>())
        .bind(m.iter().map(|r| r.payload.as_slice()).collect::<Vec<_>>())
        .bind(
            m.iter()
                .map(|r| r.franking.as_ref().map(|f| f.as_slice()))
                .collect::<Vec<_>>(),
        )
        .bind(
            self.deliveries
                .iter()
                .map(|(d, _)| d.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            self.deliveries
                .iter()
                .map(|(_, o)| *o as i64)
                .collect::<Vec<_>>(),
        )
        .bind(&groups.ids)
        .bind(&groups.epochs)
        .bind(&groups.next_seqs)
        .fetch_one(&mut **tx)
        .await?;
        Ok(base as u64)
    }

    /// Records each sender's last message by its id. Written before the log
    /// position is taken: the rows were locked when the batch began.
    pub(super) async fn write_sends(&self, tx: &mut Transaction<'_, Postgres>) -> Result<()> {
        if self.sends.is_empty() {
            return Ok(());
        }
        let mut sends: Vec<(&String, &LastSend)> = self.sends.iter().collect();
        sends.sort_by(|a, b| a.0.cmp(b.0));
        sqlx::query(
            "INSERT INTO last_sends (device_id, client_id, group_seq, server_time, frank) \
             SELECT * FROM UNNEST($1::text[], $2::bytea[], $3::int8[], $4::int8[], $5::bytea[]) \
             ON CONFLICT (device_id) DO UPDATE SET client_id = excluded.client_id, \
             group_seq = excluded.group_seq, server_time = excluded.server_time, \
             frank = excluded.frank",
        )
        .bind(sends.iter().map(|(d, _)| d.as_str()).collect::<Vec<_>>())
        .bind(
            sends
                .iter()
                .map(|(_, l)| l.client_id.as_slice())
                .collect::<Vec<_>>(),
        )
        .bind(
            sends
                .iter()
                .map(|(_, l)| l.group_seq as i64)
                .collect::<Vec<_>>(),
        )
        .bind(
            sends
                .iter()
                .map(|(_, l)| l.server_time as i64)
                .collect::<Vec<_>>(),
        )
        .bind(
            sends
                .iter()
                .map(|(_, l)| l.franking.as_ref().map(|f| f.as_slice()))
                .collect::<Vec<_>>(),
        )
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

impl PgStore {
    /// Puts one message into the group's order at the batch's next offset;
    /// `to` is who receives it. A routed message reaches `to` because they
    /// are the group's members; any other gets a delivery row per device.
    /// Each queued entry's `seq` is the offset until the position is known.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn enqueue(
        rows: &mut BatchRows,
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
        let offset = rows.messages.len() as u64 + 1;
        for d in to {
            queued.push(QueuedEntry {
                device_id: d.clone(),
                seq: offset,
                kind,
                group_id: group_id.to_vec(),
                group_seq,
                sender_device: sender.to_string(),
                server_time,
                payload: payload.clone(),
                franking,
            });
            if !routed {
                rows.deliveries.push((d.clone(), offset));
            }
        }
        rows.messages.push(MessageRow {
            offset,
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
