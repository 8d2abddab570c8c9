//! A device's inbox: what it has not acknowledged yet, and its
//! acknowledgements, which move its position forward.

use sqlx::{QueryBuilder, Row, Sqlite, Transaction};

use super::{prepared_chunks, SqliteStore};
use crate::{Ack, InboxEntry, MessageKind, Result, StoreError};

/// A device's messages after a log position: those of its groups within the
/// range it belonged to (not its own), and those addressed to it alone.
const INBOX: &str = "\
    SELECT m.pos, m.kind, m.group_id, m.seq AS group_seq, m.sender_device, \
           COALESCE(a.handle, '') AS sender_handle, m.server_time, m.payload, m.frank \
    FROM (\
        SELECT l.* FROM memberships ms \
        JOIN log l ON l.group_id = ms.group_id AND l.seq >= ms.from_seq \
             AND (ms.until_seq IS NULL OR l.seq <= ms.until_seq) \
        WHERE ms.device_id = ?1 AND l.routed = 1 AND l.sender_device <> ?1 AND l.pos > ?2 \
        UNION ALL \
        SELECT l.* FROM deliveries dl JOIN log l ON l.pos = dl.pos \
        WHERE dl.device_id = ?1 AND dl.pos > ?2 \
    ) m \
    LEFT JOIN devices d ON d.device_id = m.sender_device \
    LEFT JOIN accounts a ON a.account_id = d.account_id \
    ORDER BY m.pos LIMIT ?3";

impl SqliteStore {
    pub(crate) async fn inbox(
        &self,
        device_id: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<InboxEntry>> {
        let acked: Option<i64> =
            sqlx::query_scalar("SELECT acked FROM cursors WHERE device_id = ?")
                .bind(device_id)
                .fetch_optional(&self.pool)
                .await?;
        // What was acknowledged is gone for this device, whatever cursor it
        // gives.
        let after = after.max(acked.unwrap_or(0) as u64);
        let rows = sqlx::query(INBOX)
            .bind(device_id)
            .bind(after as i64)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let kind: i64 = r.try_get("kind")?;
                Ok(InboxEntry {
                    seq: r.try_get::<i64, _>("pos")? as u64,
                    kind: MessageKind::from_i64(kind)
                        .ok_or(StoreError::Backend("unknown message kind".into()))?,
                    group_id: r.try_get("group_id")?,
                    group_seq: r.try_get::<i64, _>("group_seq")? as u64,
                    sender_device: r.try_get("sender_device")?,
                    sender_handle: r.try_get("sender_handle")?,
                    server_time: r.try_get::<i64, _>("server_time")? as u64,
                    payload: r.try_get("payload")?,
                    franking: r
                        .try_get::<Option<Vec<u8>>, _>("frank")?
                        .and_then(|f| f.try_into().ok()),
                })
            })
            .collect()
    }

    /// Each device's inbox in turn: a SQLite node store serves one node,
    /// which pushes entries from memory rather than reading many queues.
    pub(crate) async fn inboxes(
        &self,
        wanted: &[(String, u64)],
        limit: u32,
    ) -> Result<Vec<Vec<InboxEntry>>> {
        let mut pages = Vec::with_capacity(wanted.len());
        for (device_id, after) in wanted {
            pages.push(self.inbox(device_id, *after, limit).await?);
        }
        Ok(pages)
    }

    pub(crate) async fn ack(&self, device_id: &str, up_to: u64) -> Result<()> {
        self.submit(
            vec![],
            vec![Ack {
                device_id: device_id.to_string(),
                up_to,
            }],
        )
        .await?;
        Ok(())
    }

    /// Moves each device's acknowledged position forward (never back) and
    /// drops its delivery rows up to there. The messages themselves go in the
    /// next release, which checks each one once rather than on every
    /// acknowledgement of every member.
    pub(super) async fn ack_in(
        tx: &mut Transaction<'_, Sqlite>,
        acks: &[(&str, u64)],
    ) -> Result<()> {
        if acks.is_empty() {
            return Ok(());
        }
        for chunk in prepared_chunks(acks) {
            let mut qb: QueryBuilder<Sqlite> =
                QueryBuilder::new("INSERT INTO cursors (device_id, acked) ");
            qb.push_values(chunk, |mut b, (device, up_to)| {
                b.push_bind(*device).push_bind(*up_to as i64);
            });
            qb.push(
                " ON CONFLICT (device_id) DO UPDATE SET acked = \
                 CASE WHEN excluded.acked > cursors.acked THEN excluded.acked ELSE cursors.acked END",
            );
            qb.build().execute(&mut **tx).await?;
        }
        for chunk in prepared_chunks(acks) {
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new("DELETE FROM deliveries WHERE ");
            for (i, (device, up_to)) in chunk.iter().enumerate() {
                if i > 0 {
                    qb.push(" OR ");
                }
                qb.push("(device_id = ")
                    .push_bind(*device)
                    .push(" AND pos <= ")
                    .push_bind(*up_to as i64)
                    .push(")");
            }
            qb.build().execute(&mut **tx).await?;
        }
        Ok(())
    }
}
