//! A device's inbox: what it has not acknowledged yet, and its
//! acknowledgements, which move its position forward.

use std::collections::BTreeMap;

use sqlx::postgres::PgRow;
use sqlx::{Postgres, Row, Transaction};

use super::PgStore;
use crate::{Ack, InboxEntry, MessageKind, Result, StoreError};

/// A device's messages after a log position: those of its groups within the
/// range it belonged to (not its own), and those addressed to it alone.
/// One statement, so one snapshot: positions become visible in order (see
/// `submit`), so what it finds after `$2` has no gap that fills in later.
const INBOX: &str = "\
    SELECT m.pos, m.kind, m.group_id, m.seq AS group_seq, m.sender_device, \
           COALESCE(a.handle, '') AS sender_handle, m.server_time, m.payload, m.frank \
    FROM (\
        SELECT l.* FROM memberships ms \
        JOIN log l ON l.group_id = ms.group_id AND l.seq >= ms.from_seq \
             AND (ms.until_seq IS NULL OR l.seq <= ms.until_seq) \
        WHERE ms.device_id = $1 AND l.routed AND l.sender_device <> $1 \
          AND l.pos > GREATEST($2, COALESCE((SELECT acked FROM cursors WHERE device_id = $1), 0)) \
        UNION ALL \
        SELECT l.* FROM deliveries dl JOIN log l ON l.pos = dl.pos \
        WHERE dl.device_id = $1 \
          AND dl.pos > GREATEST($2, COALESCE((SELECT acked FROM cursors WHERE device_id = $1), 0)) \
    ) m \
    LEFT JOIN devices d ON d.device_id = m.sender_device \
    LEFT JOIN accounts a ON a.account_id = d.account_id \
    ORDER BY m.pos LIMIT $3";

/// [`INBOX`] for many devices at once, each after its own position: one
/// statement, so one snapshot for all of them, and for each the same
/// guarantee as its own read. `$1` devices, `$2` their positions, `$3` the
/// most entries per device; rows come by device (in the order asked for),
/// then position.
const INBOXES: &str = "\
    SELECT w.i, m.pos, m.kind, m.group_id, m.seq AS group_seq, m.sender_device, \
           COALESCE(a.handle, '') AS sender_handle, m.server_time, m.payload, m.frank \
    FROM UNNEST($1::text[], $2::int8[]) WITH ORDINALITY AS w(device_id, after, i) \
    CROSS JOIN LATERAL (\
        SELECT q.* FROM (\
            SELECT l.* FROM memberships ms \
            JOIN log l ON l.group_id = ms.group_id AND l.seq >= ms.from_seq \
                 AND (ms.until_seq IS NULL OR l.seq <= ms.until_seq) \
            WHERE ms.device_id = w.device_id AND l.routed AND l.sender_device <> w.device_id \
              AND l.pos > GREATEST(w.after, COALESCE(\
                  (SELECT acked FROM cursors c WHERE c.device_id = w.device_id), 0)) \
            UNION ALL \
            SELECT l.* FROM deliveries dl JOIN log l ON l.pos = dl.pos \
            WHERE dl.device_id = w.device_id \
              AND dl.pos > GREATEST(w.after, COALESCE(\
                  (SELECT acked FROM cursors c WHERE c.device_id = w.device_id), 0)) \
        ) q ORDER BY q.pos LIMIT $3 \
    ) m \
    LEFT JOIN devices d ON d.device_id = m.sender_device \
    LEFT JOIN accounts a ON a.account_id = d.account_id \
    ORDER BY w.i, m.pos";

fn entry(r: &PgRow) -> Result<InboxEntry> {
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
}

impl PgStore {
    pub(crate) async fn inbox(
        &self,
        device_id: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<InboxEntry>> {
        // What was acknowledged is gone for this device, whatever cursor it
        // gives.
        let rows = sqlx::query(INBOX)
            .bind(device_id)
            .bind(after.min(i64::MAX as u64) as i64)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(entry).collect()
    }

    /// Many devices' inboxes in one statement: a node woken for hundreds of
    /// devices at once reads them in one round trip rather than hundreds.
    pub(crate) async fn inboxes(
        &self,
        wanted: &[(String, u64)],
        limit: u32,
    ) -> Result<Vec<Vec<InboxEntry>>> {
        let mut pages: Vec<Vec<InboxEntry>> = wanted.iter().map(|_| Vec::new()).collect();
        if wanted.is_empty() {
            return Ok(pages);
        }
        let rows = sqlx::query(INBOXES)
            .bind(wanted.iter().map(|(d, _)| d.as_str()).collect::<Vec<_>>())
            .bind(
                wanted
                    .iter()
                    .map(|(_, a)| (*a).min(i64::MAX as u64) as i64)
                    .collect::<Vec<_>>(),
            )
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?;
        for r in &rows {
            let i: i64 = r.try_get("i")?;
            let page = usize::try_from(i - 1)
                .ok()
                .and_then(|i| pages.get_mut(i))
                .ok_or(StoreError::Backend(
                    "the inboxes read answered for a device not asked for".into(),
                ))?;
            page.push(entry(r)?);
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
    /// drops its delivery rows up to there; answers the devices. The
    /// messages themselves go in the next release.
    ///
    /// No position reaches past the last one committed: a device can only
    /// have stored what was delivered, and a cursor beyond the log would
    /// hide every message still to come from it. Clamping (rather than
    /// refusing) serves the WebSocket's acknowledgements, which have no
    /// answer. The counter is read, not locked: its committed value is at
    /// least every committed position.
    pub(super) async fn ack_in(
        tx: &mut Transaction<'_, Postgres>,
        acks: &[Ack],
    ) -> Result<Vec<String>> {
        if acks.is_empty() {
            return Ok(Vec::new());
        }
        let log_pos: i64 = sqlx::query_scalar("SELECT value FROM counters WHERE name = 'log_pos'")
            .fetch_one(&mut **tx)
            .await?;
        // One row per device, however many acknowledgements it sent, in
        // device order: the order every writer locks cursors in.
        let mut latest: BTreeMap<&str, i64> = BTreeMap::new();
        for a in acks {
            let up_to = a.up_to.min(log_pos.max(0) as u64) as i64;
            let e = latest.entry(a.device_id.as_str()).or_insert(0);
            *e = (*e).max(up_to);
        }
        let devices: Vec<&str> = latest.keys().copied().collect();
        let up_to: Vec<i64> = latest.values().copied().collect();
        sqlx::query(
            "INSERT INTO cursors (device_id, acked) \
             SELECT * FROM UNNEST($1::text[], $2::int8[]) ORDER BY 1 \
             ON CONFLICT (device_id) DO UPDATE SET acked = GREATEST(cursors.acked, excluded.acked)",
        )
        .bind(&devices)
        .bind(&up_to)
        .execute(&mut **tx)
        .await?;
        sqlx::query(
            "DELETE FROM deliveries dl USING UNNEST($1::text[], $2::int8[]) AS a(device_id, up_to) \
             WHERE dl.device_id = a.device_id AND dl.pos <= a.up_to",
        )
        .bind(&devices)
        .bind(&up_to)
        .execute(&mut **tx)
        .await?;
        Ok(devices.into_iter().map(str::to_string).collect())
    }
}
