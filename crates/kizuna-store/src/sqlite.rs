//! The embedded store: one SQLite file in WAL mode with `synchronous=FULL`, so
//! a transaction that returned is on disk. Write transactions take turns on
//! one lock; reads run beside them on other connections of the pool.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool, Transaction};

use crate::*;

/// Schema versions, applied in order and recorded in `schema_version`.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE accounts (
    account_id TEXT PRIMARY KEY,
    handle TEXT NOT NULL UNIQUE,
    region TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE profiles (
    account_id TEXT PRIMARY KEY,
    sealed BLOB NOT NULL
);
CREATE TABLE phone_index (
    phone_hash BLOB PRIMARY KEY,
    account_id TEXT NOT NULL
);
CREATE TABLE devices (
    device_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    signature_key BLOB NOT NULL UNIQUE,
    label TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX devices_by_account ON devices (account_id);
CREATE TABLE key_packages (
    device_id TEXT NOT NULL,
    kp_seq BIGINT NOT NULL,
    last_resort SMALLINT NOT NULL,
    body BLOB NOT NULL,
    PRIMARY KEY (device_id, kp_seq)
);
CREATE TABLE groups (
    group_id BLOB PRIMARY KEY,
    epoch BIGINT NOT NULL,
    next_seq BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE group_members (
    group_id BLOB NOT NULL,
    device_id TEXT NOT NULL,
    PRIMARY KEY (group_id, device_id)
);
CREATE TABLE messages (
    group_id BLOB NOT NULL,
    seq BIGINT NOT NULL,
    kind SMALLINT NOT NULL,
    sender_device TEXT NOT NULL,
    server_time BIGINT NOT NULL,
    payload BLOB NOT NULL,
    PRIMARY KEY (group_id, seq)
);
CREATE TABLE inbox (
    device_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    group_id BLOB NOT NULL,
    group_seq BIGINT NOT NULL,
    PRIMARY KEY (device_id, seq)
);
CREATE INDEX inbox_by_message ON inbox (group_id, group_seq);
CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('inbox_seq', 0);
INSERT INTO counters (name, value) VALUES ('kp_seq', 0);
CREATE TABLE link_requests (
    link_id TEXT PRIMARY KEY,
    code_hash BLOB NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    signature_key BLOB NOT NULL,
    label TEXT NOT NULL,
    key_packages BLOB NOT NULL,
    last_resort BLOB NOT NULL,
    approved_device TEXT,
    created_at BIGINT NOT NULL
);
"#,
    r#"
-- A message leaves the server with the last queue entry that refers to it:
-- no history is kept once every recipient has it.
CREATE TRIGGER inbox_release AFTER DELETE ON inbox
WHEN NOT EXISTS (SELECT 1 FROM inbox WHERE group_id = OLD.group_id AND group_seq = OLD.group_seq)
BEGIN
    DELETE FROM messages WHERE group_id = OLD.group_id AND seq = OLD.group_seq;
END;
"#,
    r#"
-- Fan-out on read: a message is written once, at the next position of the
-- node's log, and each device keeps one acknowledged position instead of a
-- queue row per message. Group members receive the messages of the group
-- sequence range they belonged to (`routed` messages); a message for chosen
-- devices only (a Welcome) has a `deliveries` row per recipient instead.
CREATE TABLE log (
    pos INTEGER PRIMARY KEY,
    group_id BLOB NOT NULL,
    seq BIGINT NOT NULL,
    kind SMALLINT NOT NULL,
    routed SMALLINT NOT NULL,
    sender_device TEXT NOT NULL,
    server_time BIGINT NOT NULL,
    payload BLOB NOT NULL
);
CREATE UNIQUE INDEX log_by_group ON log (group_id, seq);
CREATE TABLE deliveries (
    device_id TEXT NOT NULL,
    pos BIGINT NOT NULL,
    PRIMARY KEY (device_id, pos)
);
CREATE INDEX deliveries_by_pos ON deliveries (pos);
CREATE TABLE cursors (
    device_id TEXT PRIMARY KEY,
    acked BIGINT NOT NULL
);
CREATE TABLE memberships (
    group_id BLOB NOT NULL,
    device_id TEXT NOT NULL,
    from_seq BIGINT NOT NULL,
    until_seq BIGINT,
    PRIMARY KEY (group_id, device_id, from_seq)
);
CREATE INDEX memberships_by_device ON memberships (device_id);
-- Queue entries of the earlier layout become deliveries, at positions after
-- every queue sequence number a client may already hold, in the order each
-- device would have read them.
INSERT INTO log (pos, group_id, seq, kind, routed, sender_device, server_time, payload)
SELECT (SELECT value FROM counters WHERE name = 'inbox_seq') + ROW_NUMBER() OVER (ORDER BY q.first),
       m.group_id, m.seq, m.kind, 0, m.sender_device, m.server_time, m.payload
FROM messages m
JOIN (SELECT group_id, group_seq, MIN(seq) AS first FROM inbox GROUP BY group_id, group_seq) q
  ON q.group_id = m.group_id AND q.group_seq = m.seq;
INSERT INTO deliveries (device_id, pos)
SELECT i.device_id, l.pos FROM inbox i JOIN log l ON l.group_id = i.group_id AND l.seq = i.group_seq;
INSERT INTO counters (name, value)
SELECT 'log_pos', MAX((SELECT value FROM counters WHERE name = 'inbox_seq'), COALESCE((SELECT MAX(pos) FROM log), 0));
-- Current members receive through the group route from the next message on.
INSERT INTO memberships (group_id, device_id, from_seq, until_seq)
SELECT gm.group_id, gm.device_id, g.next_seq, NULL FROM group_members gm JOIN groups g ON g.group_id = gm.group_id;
DROP TRIGGER inbox_release;
DROP TABLE inbox;
DROP TABLE messages;
DROP TABLE group_members;
DELETE FROM counters WHERE name = 'inbox_seq';
"#,
    r#"
-- Franking: each application message keeps its commitment and the node's
-- binding (64 bytes), delivered with it so a recipient can report it.
ALTER TABLE log ADD COLUMN frank BLOB;
"#,
    r#"
-- Moderators' restrictions and suspensions of accounts, one per decided
-- report, so that lifting one on appeal leaves the others.
CREATE TABLE sanctions (
    account_id TEXT NOT NULL,
    report_id TEXT NOT NULL,
    sending_only SMALLINT NOT NULL,
    until BIGINT,
    PRIMARY KEY (account_id, report_id)
);
"#,
    r#"
-- Each device's last accepted message, by the id the device chose for it.
-- A device sends one message at a time and retries the last one until it
-- is answered, so one row per device is enough to answer a retry (after a
-- timeout, or after this node crashed) without delivering it twice.
CREATE TABLE last_sends (
    device_id TEXT PRIMARY KEY,
    client_id BLOB NOT NULL,
    group_seq BIGINT NOT NULL,
    server_time BIGINT NOT NULL,
    frank BLOB
);
"#,
    r#"
-- The node's public view of each group (ratchet tree and group context, no
-- secret), written with each commit it checked, at the group's epoch.
CREATE TABLE group_states (
    group_id BLOB PRIMARY KEY,
    state BLOB NOT NULL
);
"#,
    r#"
-- When each device last signed in, for the person's list of devices.
ALTER TABLE devices ADD COLUMN last_seen BIGINT;
"#,
    r#"
-- Blocks as the node enforces them: a keyed hash of (who blocks, whom) and
-- a keyed hash of whom, never the accounts themselves. The readable list
-- is the blocker's personal data, sealed in their home region.
CREATE TABLE blocks (
    pair BLOB PRIMARY KEY,
    blocked BLOB NOT NULL
);
CREATE INDEX blocks_by_blocked ON blocks (blocked);
"#,
];

/// What the single writer knows of a group; authoritative because every
/// change to groups goes through the writer.
#[derive(Clone, Debug)]
struct GroupState {
    epoch: u64,
    next_seq: u64,
    members: Vec<String>,
}

impl GroupState {
    /// Who receives what `sender` sends for `epoch`: every other member,
    /// if the sender is a member and the epoch is the group's.
    fn others_at(&self, sender: &str, epoch: u64) -> Result<Vec<String>, Rejection> {
        if !self.members.iter().any(|d| d == sender) {
            return Err(Rejection::NotMember);
        }
        if epoch != self.epoch {
            return Err(Rejection::StaleEpoch {
                current: self.epoch,
                sent: epoch,
            });
        }
        Ok(self
            .members
            .iter()
            .filter(|d| *d != sender)
            .cloned()
            .collect())
    }
}

/// A device's last accepted message, as `last_sends` keeps it.
#[derive(Clone, Debug)]
struct LastSend {
    client_id: Vec<u8>,
    group_seq: u64,
    server_time: u64,
    franking: Option<Franking>,
}

#[derive(Default)]
struct WriterState {
    groups: HashMap<Vec<u8>, GroupState>,
    /// Devices' last accepted messages, loaded per device on first use.
    last_sends: HashMap<String, LastSend>,
    /// The last log position handed out; loaded on first use.
    log_pos: Option<u64>,
    /// Devices that acknowledged since the last release: only their groups
    /// can have messages nobody waits for any more.
    acked: HashSet<String>,
    /// Whether the next release looks at every group (set at start, when
    /// what was acknowledged before a crash is not known).
    release_all: bool,
}

/// Devices' last sends kept in the writer's memory before it starts over
/// from disk.
const SEND_CACHE: usize = 1_000_000;

/// Groups kept in the writer's memory before it starts over from disk.
const GROUP_CACHE: usize = 200_000;
/// Rows per multi-row statement, well under SQLite's limit on bound values.
const ROWS_PER_STATEMENT: usize = 500;

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

/// Splits rows into runs of a few fixed sizes, so each multi-row statement
/// has one of a few shapes and is prepared once and then reused from the
/// connection's statement cache, instead of parsed anew for every batch size.
fn prepared_chunks<T>(rows: &[T]) -> Vec<&[T]> {
    const SIZES: [usize; 4] = [128, 32, 8, 1];
    let mut out = Vec::new();
    let mut rest = rows;
    for size in SIZES {
        while rest.len() >= size {
            let (head, tail) = rest.split_at(size);
            out.push(head);
            rest = tail;
        }
    }
    out
}

/// The rows a batch of submissions writes, collected so that each table gets
/// a few multi-row statements per batch rather than several per message.
#[derive(Default)]
struct BatchRows {
    messages: Vec<MessageRow>,
    /// (device, log position) for messages that are not routed.
    deliveries: Vec<(String, u64)>,
    /// Each sending device's last message in this batch, by its id.
    sends: HashMap<String, LastSend>,
}

impl BatchRows {
    async fn write(&self, tx: &mut Transaction<'_, Sqlite>) -> Result<()> {
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

pub struct SqliteStore {
    pool: SqlitePool,
    /// Serialises every write transaction: SQLite allows one writer, and a
    /// transaction that reads before it writes cannot wait for another one
    /// (it fails with SQLITE_BUSY), so writers queue here instead.
    writer: Arc<tokio::sync::Mutex<WriterState>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and brings its schema up
    /// to date.
    pub async fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Backend(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let opts = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(std::time::Duration::from_secs(10))
            // Checkpoints run in the background (see `housekeeping`), not in
            // the middle of whichever commit happened to fill the WAL.
            .pragma("wal_autocheckpoint", "0")
            // Queues are hot: keep their pages in memory rather than re-read them.
            .pragma("cache_size", "-65536")
            .pragma("mmap_size", "268435456")
            // Small pages: a commit writes whole pages to the WAL, and most
            // of what a delivery batch touches is a row or an index entry
            // here and there. Less written means fewer stalls of the fsync
            // every sender waits for. (Applies to new databases.)
            .page_size(1024)
            .foreign_keys(false);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await?;
        let store = SqliteStore {
            pool,
            writer: Arc::new(tokio::sync::Mutex::new(WriterState {
                release_all: true,
                ..WriterState::default()
            })),
        };
        store.migrate().await?;
        tokio::spawn(housekeeping(store.pool.clone(), store.writer.clone()));
        Ok(store)
    }

    async fn migrate(&self) -> Result<()> {
        sqlx::query("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
            .execute(&self.pool)
            .await?;
        let current: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_version")
            .fetch_one(&self.pool)
            .await?;
        let current = current.unwrap_or(0) as usize;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
            let mut tx = self.pool.begin().await?;
            sqlx::raw_sql(sql).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO schema_version (version) VALUES (?)")
                .bind((i + 1) as i64)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        Ok(())
    }

    async fn next_counter(tx: &mut Transaction<'_, Sqlite>, name: &str, n: u64) -> Result<u64> {
        let row =
            sqlx::query("UPDATE counters SET value = value + ? WHERE name = ? RETURNING value")
                .bind(n as i64)
                .bind(name)
                .fetch_one(&mut **tx)
                .await?;
        let end: i64 = row.try_get(0)?;
        Ok(end as u64 - n + 1)
    }

    async fn load_group(
        tx: &mut Transaction<'_, Sqlite>,
        group_id: &[u8],
    ) -> Result<Option<GroupState>> {
        let row = sqlx::query("SELECT epoch, next_seq FROM groups WHERE group_id = ?")
            .bind(group_id)
            .fetch_optional(&mut **tx)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let members: Vec<String> = sqlx::query_scalar(CURRENT_MEMBERS)
            .bind(group_id)
            .fetch_all(&mut **tx)
            .await?;
        Ok(Some(GroupState {
            epoch: row.try_get::<i64, _>(0)? as u64,
            next_seq: row.try_get::<i64, _>(1)? as u64,
            members,
        }))
    }

    /// Puts one message into the group's order at the next log position;
    /// `to` is who receives it. A routed message reaches `to` because they
    /// are the group's members; any other gets a delivery row per device.
    /// The rows are written together at the end of the batch.
    #[allow(clippy::too_many_arguments)]
    fn enqueue(
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

    async fn write_state(
        tx: &mut Transaction<'_, Sqlite>,
        group_id: &[u8],
        state: Vec<u8>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO group_states (group_id, state) VALUES (?, ?) \
             ON CONFLICT (group_id) DO UPDATE SET state = excluded.state",
        )
        .bind(group_id)
        .bind(state)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Ends a device's stay in a group at `seq` (inclusive).
    async fn end_membership(
        tx: &mut Transaction<'_, Sqlite>,
        group_id: &[u8],
        device: &str,
        seq: u64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE memberships SET until_seq = ? \
             WHERE group_id = ? AND device_id = ? AND until_seq IS NULL",
        )
        .bind(seq as i64)
        .bind(group_id)
        .bind(device)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Removes devices with their key packages, routing, deliveries and
    /// cursors.
    async fn delete_devices_in(tx: &mut Transaction<'_, Sqlite>, devices: &[String]) -> Result<()> {
        for d in devices {
            for sql in [
                "DELETE FROM devices WHERE device_id = ?",
                "DELETE FROM key_packages WHERE device_id = ?",
                "DELETE FROM memberships WHERE device_id = ?",
                "DELETE FROM deliveries WHERE device_id = ?",
                "DELETE FROM cursors WHERE device_id = ?",
                "DELETE FROM last_sends WHERE device_id = ?",
            ] {
                sqlx::query(sql).bind(d).execute(&mut **tx).await?;
            }
        }
        Ok(())
    }

    /// The last message `device` sent with an id, as of this batch.
    async fn last_send(
        tx: &mut Transaction<'_, Sqlite>,
        known: &WriterState,
        rows: &BatchRows,
        device: &str,
    ) -> Result<Option<LastSend>> {
        if let Some(l) = rows
            .sends
            .get(device)
            .or_else(|| known.last_sends.get(device))
        {
            return Ok(Some(l.clone()));
        }
        let row = sqlx::query(
            "SELECT client_id, group_seq, server_time, frank FROM last_sends WHERE device_id = ?",
        )
        .bind(device)
        .fetch_optional(&mut **tx)
        .await?;
        row.map(|r| {
            Ok(LastSend {
                client_id: r.try_get(0)?,
                group_seq: r.try_get::<i64, _>(1)? as u64,
                server_time: r.try_get::<i64, _>(2)? as u64,
                franking: r
                    .try_get::<Option<Vec<u8>>, _>(3)?
                    .and_then(|f| f.try_into().ok()),
            })
        })
        .transpose()
    }

    async fn submit_one(
        tx: &mut Transaction<'_, Sqlite>,
        writer: &WriterState,
        touched: &mut HashMap<Vec<u8>, GroupState>,
        log_pos: &mut u64,
        rows: &mut BatchRows,
        s: Submission,
    ) -> Result<Result<Accepted, Rejection>> {
        let group_id = match &s {
            Submission::Application { group_id, .. }
            | Submission::Commit { group_id, .. }
            | Submission::Proposal { group_id, .. } => group_id.clone(),
        };
        let known = &writer.groups;
        let mut g = match touched.get(&group_id).or_else(|| known.get(&group_id)) {
            Some(g) => g.clone(),
            None => match Self::load_group(tx, &group_id).await? {
                Some(g) => g,
                None => return Ok(Err(Rejection::UnknownGroup)),
            },
        };
        let current = g.epoch;
        let mut queued = Vec::new();
        let accepted = match s {
            Submission::Application {
                sender_device,
                epoch,
                payload,
                server_time,
                franking,
                client_id,
                ..
            } => {
                // A retry of the message already accepted is answered as it
                // was, whatever happened to the group since.
                if let Some(id) = &client_id {
                    if let Some(last) = Self::last_send(tx, writer, rows, &sender_device).await? {
                        if last.client_id == *id {
                            return Ok(Ok(Accepted {
                                group_seq: last.group_seq,
                                epoch: current,
                                server_time: last.server_time,
                                franking: last.franking,
                                queued: Vec::new(),
                            }));
                        }
                    }
                }
                let to = match g.others_at(&sender_device, epoch) {
                    Ok(to) => to,
                    Err(r) => return Ok(Err(r)),
                };
                let seq = g.next_seq;
                g.next_seq += 1;
                Self::enqueue(
                    rows,
                    log_pos,
                    &group_id,
                    seq,
                    MessageKind::Application,
                    true,
                    &sender_device,
                    server_time,
                    Arc::new(payload),
                    franking,
                    &to,
                    &mut queued,
                );
                if let Some(id) = client_id {
                    rows.sends.insert(
                        sender_device,
                        LastSend {
                            client_id: id,
                            group_seq: seq,
                            server_time,
                            franking,
                        },
                    );
                }
                Accepted {
                    group_seq: seq,
                    epoch: current,
                    server_time,
                    franking,
                    queued,
                }
            }
            Submission::Proposal {
                sender_device,
                epoch,
                proposal,
                server_time,
                state,
                by_node,
                ..
            } => {
                let (kind, to) = match &by_node {
                    None => match g.others_at(&sender_device, epoch) {
                        Ok(to) => (MessageKind::Proposal, to),
                        Err(r) => return Ok(Err(r)),
                    },
                    Some(n) => {
                        if epoch != current {
                            return Ok(Err(Rejection::StaleEpoch {
                                current,
                                sent: epoch,
                            }));
                        }
                        let to: Vec<String> = g
                            .members
                            .iter()
                            .filter(|d| !n.removes.contains(d))
                            .cloned()
                            .collect();
                        (n.kind, to)
                    }
                };
                let seq = g.next_seq;
                g.next_seq += 1;
                Self::enqueue(
                    rows,
                    log_pos,
                    &group_id,
                    seq,
                    kind,
                    true,
                    &sender_device,
                    server_time,
                    Arc::new(proposal),
                    None,
                    &to,
                    &mut queued,
                );
                Self::write_state(tx, &group_id, state).await?;
                // A revoked or erased device receives nothing more, from
                // the node's proposal on, whenever a member commits it.
                for d in by_node.iter().flat_map(|n| &n.removes) {
                    if g.members.contains(d) {
                        Self::end_membership(tx, &group_id, d, seq).await?;
                    }
                }
                if let Some(n) = &by_node {
                    g.members.retain(|d| !n.removes.contains(d));
                }
                Accepted {
                    group_seq: seq,
                    epoch: current,
                    server_time,
                    franking: None,
                    queued,
                }
            }
            Submission::Commit {
                sender_device,
                epoch,
                commit,
                welcome,
                added,
                removed,
                server_time,
                max_members,
                state,
                ..
            } => {
                if !g.members.contains(&sender_device) {
                    return Ok(Err(Rejection::NotMember));
                }
                // The one rule of the delivery service: one commit per epoch.
                if epoch != current {
                    return Ok(Err(Rejection::StaleEpoch {
                        current,
                        sent: epoch,
                    }));
                }
                for d in &added {
                    if g.members.contains(d) {
                        return Ok(Err(Rejection::AlreadyMember(d.clone())));
                    }
                    let known: Option<String> =
                        sqlx::query_scalar("SELECT device_id FROM devices WHERE device_id = ?")
                            .bind(d.as_str())
                            .fetch_optional(&mut **tx)
                            .await?;
                    if known.is_none() {
                        return Ok(Err(Rejection::UnknownDevice(d.clone())));
                    }
                }
                // A device the node already took out of routing (revoked,
                // erased) is removed from the tree now; routing has nothing
                // left to change for it.
                let removed: Vec<String> = removed
                    .into_iter()
                    .filter(|d| g.members.contains(d))
                    .collect();
                let size = g.members.len() + added.len() - removed.len();
                if size > max_members {
                    return Ok(Err(Rejection::GroupTooLarge(size)));
                }
                // Everyone in the old epoch but the committer learns of the
                // commit, removed devices included: MLS tells them they left.
                let to: Vec<String> = g
                    .members
                    .iter()
                    .filter(|d| **d != sender_device)
                    .cloned()
                    .collect();
                let seq = g.next_seq;
                g.next_seq += 1;
                Self::enqueue(
                    rows,
                    log_pos,
                    &group_id,
                    seq,
                    MessageKind::Commit,
                    true,
                    &sender_device,
                    server_time,
                    Arc::new(commit),
                    None,
                    &to,
                    &mut queued,
                );
                if let Some(welcome) = welcome {
                    let wseq = g.next_seq;
                    g.next_seq += 1;
                    Self::enqueue(
                        rows,
                        log_pos,
                        &group_id,
                        wseq,
                        MessageKind::Welcome,
                        false,
                        &sender_device,
                        server_time,
                        Arc::new(welcome),
                        None,
                        &added,
                        &mut queued,
                    );
                }
                // A removed device still receives the commit that removes
                // it, and nothing after; an added one everything after the
                // commit (and its Welcome), and nothing before.
                for d in &removed {
                    Self::end_membership(tx, &group_id, d, seq).await?;
                }
                for d in &added {
                    sqlx::query(
                        "INSERT INTO memberships (group_id, device_id, from_seq, until_seq) \
                         VALUES (?, ?, ?, NULL)",
                    )
                    .bind(group_id.as_slice())
                    .bind(d.as_str())
                    .bind(g.next_seq as i64)
                    .execute(&mut **tx)
                    .await?;
                }
                Self::write_state(tx, &group_id, state).await?;
                g.members.retain(|d| !removed.contains(d));
                g.members.extend(added);
                g.members.sort();
                g.epoch = current + 1;
                Accepted {
                    group_seq: seq,
                    epoch: g.epoch,
                    server_time,
                    franking: None,
                    queued,
                }
            }
        };
        touched.insert(group_id, g);
        Ok(Ok(accepted))
    }

    /// Moves each device's acknowledged position forward (never back) and
    /// drops its delivery rows up to there. The messages themselves go in the
    /// next release, which checks each one once rather than on every
    /// acknowledgement of every member.
    async fn ack_in(tx: &mut Transaction<'_, Sqlite>, acks: &[(&str, u64)]) -> Result<()> {
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

    /// Deletes every message no device waits for any more. Runs every second
    /// in the background and on close; returns how many messages went.
    pub async fn release_delivered(&self) -> Result<u64> {
        release(&self.pool, &self.writer).await
    }

    fn account_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Account> {
        Ok(Account {
            account_id: row.try_get("account_id")?,
            handle: row.try_get("handle")?,
            region: row.try_get("region")?,
            created_at: row.try_get::<i64, _>("created_at")? as u64,
        })
    }

    fn device_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Device> {
        Ok(Device {
            device_id: row.try_get("device_id")?,
            account_id: row.try_get("account_id")?,
            handle: row.try_get("handle")?,
            signature_key: row.try_get("signature_key")?,
            label: row.try_get("label")?,
        })
    }

    fn link_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<PendingLink> {
        let kps: Vec<u8> = row.try_get("key_packages")?;
        Ok(PendingLink {
            link_id: row.try_get("link_id")?,
            account_id: row.try_get("account_id")?,
            signature_key: row.try_get("signature_key")?,
            label: row.try_get("label")?,
            key_packages: decode_blobs(&kps)
                .ok_or(StoreError::Backend("corrupt link request".into()))?,
            last_resort: row.try_get("last_resort")?,
            approved_device: row.try_get("approved_device")?,
            created_at: row.try_get::<i64, _>("created_at")? as u64,
        })
    }

    async fn insert_key_packages(
        tx: &mut Transaction<'_, Sqlite>,
        device_id: &str,
        one_time: &[Vec<u8>],
        last_resort: Option<&[u8]>,
    ) -> Result<()> {
        if let Some(lr) = last_resort {
            sqlx::query("DELETE FROM key_packages WHERE device_id = ? AND last_resort = 1")
                .bind(device_id)
                .execute(&mut **tx)
                .await?;
            let seq = Self::next_counter(tx, "kp_seq", 1).await?;
            sqlx::query("INSERT INTO key_packages (device_id, kp_seq, last_resort, body) VALUES (?, ?, 1, ?)")
                .bind(device_id)
                .bind(seq as i64)
                .bind(lr)
                .execute(&mut **tx)
                .await?;
        }
        if !one_time.is_empty() {
            let first = Self::next_counter(tx, "kp_seq", one_time.len() as u64).await?;
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO key_packages (device_id, kp_seq, last_resort, body) ",
            );
            qb.push_values(one_time.iter().enumerate(), |mut b, (i, kp)| {
                b.push_bind(device_id)
                    .push_bind((first + i as u64) as i64)
                    .push_bind(0i64)
                    .push_bind(kp.as_slice());
            });
            qb.build().execute(&mut **tx).await?;
        }
        Ok(())
    }
}

/// Copies the WAL back into the database file. The bulk is copied beside
/// the writer; then the few pages written meanwhile are copied while the
/// writer waits. A checkpoint that always finishes during some write leaves
/// frames behind, so the WAL never starts over from its beginning and grows
/// without end, and every commit that extends the file costs a journal flush
/// of the filesystem.
async fn checkpoint(pool: &SqlitePool, writer: &tokio::sync::Mutex<WriterState>) -> Result<()> {
    sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
        .execute(pool)
        .await?;
    let _w = writer.lock().await;
    sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
        .execute(pool)
        .await?;
    Ok(())
}

/// Length-prefixed concatenation, for the few lists stored in one column.
fn encode_blobs(items: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for i in items {
        out.extend_from_slice(&(i.len() as u32).to_be_bytes());
        out.extend_from_slice(i);
    }
    out
}

fn decode_blobs(mut b: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    while !b.is_empty() {
        if b.len() < 4 {
            return None;
        }
        let n = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
        b = &b[4..];
        if b.len() < n {
            return None;
        }
        out.push(b[..n].to_vec());
        b = &b[n..];
    }
    Some(out)
}

/// Whether `sql` (a `SELECT 1 ... WHERE column = ?`) finds a row for `value`.
async fn exists<T>(tx: &mut Transaction<'_, Sqlite>, sql: &'static str, value: &T) -> Result<bool>
where
    T: for<'q> sqlx::Encode<'q, Sqlite> + sqlx::Type<Sqlite> + Sync,
{
    let row: Option<i64> = sqlx::query_scalar(sql)
        .bind(value)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.is_some())
}

/// The devices in a group now.
const CURRENT_MEMBERS: &str = "SELECT device_id FROM memberships \
     WHERE group_id = ? AND until_seq IS NULL ORDER BY device_id";

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

/// The condition under which a message can go: no delivery row left, and
/// every member in range other than the sender has acknowledged past it.
/// Once true it stays true (positions only grow, members join only after
/// the messages already there), so it can be read outside the writer.
macro_rules! deliverable_done {
    () => {
        "NOT EXISTS (SELECT 1 FROM deliveries dl WHERE dl.pos = log.pos) \
         AND (log.routed = 0 OR NOT EXISTS ( \
            SELECT 1 FROM memberships ms LEFT JOIN cursors c ON c.device_id = ms.device_id \
            WHERE ms.group_id = log.group_id AND ms.from_seq <= log.seq \
              AND (ms.until_seq IS NULL OR ms.until_seq >= log.seq) \
              AND ms.device_id <> log.sender_device AND COALESCE(c.acked, 0) < log.pos))"
    };
}

/// Messages of the groups of the devices in `?1` (a JSON list) that nobody
/// waits for any more.
const DELIVERED_IN_GROUPS_OF: &str = concat!(
    "SELECT pos FROM log WHERE group_id IN ( \
        SELECT group_id FROM memberships WHERE device_id IN (SELECT value FROM json_each(?1))) AND ",
    deliverable_done!(),
    " ORDER BY pos"
);

/// Every message that nobody waits for any more.
const DELIVERED: &str = concat!(
    "SELECT pos FROM log WHERE ",
    deliverable_done!(),
    " ORDER BY pos"
);

/// Forgets past memberships once no message of their range is left.
const RELEASE_MEMBERSHIPS: &str = "\
    DELETE FROM memberships WHERE until_seq IS NOT NULL \
    AND NOT EXISTS (SELECT 1 FROM log l WHERE l.group_id = memberships.group_id \
        AND l.seq BETWEEN memberships.from_seq AND memberships.until_seq)";

/// Messages deleted per write transaction by a release, so that senders
/// never wait long behind one.
const RELEASE_CHUNK: usize = 256;

/// One release pass; see [`SqliteStore::release_delivered`]. What can go is
/// found on a reading connection, then deleted in small write transactions
/// that take turns with the delivery path.
async fn release(pool: &SqlitePool, writer: &tokio::sync::Mutex<WriterState>) -> Result<u64> {
    let (all, devices) = {
        let mut w = writer.lock().await;
        let devices: Vec<String> = w.acked.drain().collect();
        (w.release_all, devices)
    };
    if !all && devices.is_empty() {
        return Ok(0);
    }
    let pass = async {
        let found: Vec<i64> = if all {
            sqlx::query_scalar(DELIVERED).fetch_all(pool).await?
        } else {
            let list =
                serde_json::to_string(&devices).map_err(|e| StoreError::Backend(e.to_string()))?;
            sqlx::query_scalar(DELIVERED_IN_GROUPS_OF)
                .bind(list)
                .fetch_all(pool)
                .await?
        };
        for chunk in found.chunks(RELEASE_CHUNK) {
            let _w = writer.lock().await;
            let mut tx = pool.begin().await?;
            for part in prepared_chunks(chunk) {
                let mut qb: QueryBuilder<Sqlite> =
                    QueryBuilder::new("DELETE FROM log WHERE pos IN (");
                let mut list = qb.separated(", ");
                for pos in part {
                    list.push_bind(*pos);
                }
                qb.push(")");
                qb.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
        }
        let mut w = writer.lock().await;
        sqlx::query(RELEASE_MEMBERSHIPS).execute(pool).await?;
        w.release_all = false;
        Ok::<_, StoreError>(found.len() as u64)
    };
    match pass.await {
        Ok(gone) => Ok(gone),
        Err(e) => {
            // Look at these devices' groups again next time.
            writer.lock().await.acked.extend(devices);
            Err(e)
        }
    }
}

/// Once a second, releases delivered messages, then checkpoints the WAL;
/// ends when the pool is closed.
async fn housekeeping(pool: SqlitePool, writer: Arc<tokio::sync::Mutex<WriterState>>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        if let Err(e) = release(&pool, &writer).await {
            if pool.is_closed() {
                return;
            }
            tracing::warn!(error = %e, "releasing delivered messages failed; will retry");
        }
        if let Err(e) = checkpoint(&pool, &writer).await {
            if pool.is_closed() {
                return;
            }
            tracing::warn!(error = %e, "WAL checkpoint failed; will retry");
        }
    }
}

const DEVICE_COLUMNS: &str = "d.device_id, d.account_id, a.handle, d.signature_key, d.label";

#[async_trait]
impl Store for SqliteStore {
    async fn create_accounts(&self, accounts: Vec<NewAccount>) -> Result<()> {
        let _w = self.writer.lock().await;
        let mut tx = self.pool.begin().await?;
        for new in &accounts {
            if exists(
                &mut tx,
                "SELECT 1 FROM accounts WHERE handle = ?",
                &new.account.handle,
            )
            .await?
            {
                return Err(StoreError::Conflict("handle"));
            }
            if exists(
                &mut tx,
                "SELECT 1 FROM devices WHERE signature_key = ?",
                &new.device.signature_key,
            )
            .await?
            {
                return Err(StoreError::Conflict("device key"));
            }
            sqlx::query(
                "INSERT INTO accounts (account_id, handle, region, created_at) VALUES (?, ?, ?, ?)",
            )
            .bind(&new.account.account_id)
            .bind(&new.account.handle)
            .bind(&new.account.region)
            .bind(new.account.created_at as i64)
            .execute(&mut *tx)
            .await?;
            sqlx::query("INSERT INTO devices (device_id, account_id, signature_key, label, created_at) VALUES (?, ?, ?, ?, ?)")
                .bind(&new.device.device_id)
                .bind(&new.account.account_id)
                .bind(&new.device.signature_key)
                .bind(&new.device.label)
                .bind(new.account.created_at as i64)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn account_by_handle(&self, handle: &str) -> Result<Option<Account>> {
        let row = sqlx::query(
            "SELECT account_id, handle, region, created_at FROM accounts WHERE handle = ?",
        )
        .bind(handle)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Self::account_from_row).transpose()
    }

    async fn account_by_id(&self, account_id: &str) -> Result<Option<Account>> {
        let row = sqlx::query(
            "SELECT account_id, handle, region, created_at FROM accounts WHERE account_id = ?",
        )
        .bind(account_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Self::account_from_row).transpose()
    }

    async fn accounts_by_ids(&self, account_ids: &[String]) -> Result<Vec<Account>> {
        let mut out = Vec::with_capacity(account_ids.len());
        for chunk in account_ids.chunks(500) {
            let mut q = sqlx::QueryBuilder::new(
                "SELECT account_id, handle, region, created_at FROM accounts WHERE account_id IN (",
            );
            let mut list = q.separated(", ");
            for id in chunk {
                list.push_bind(id);
            }
            q.push(")");
            for row in q.build().fetch_all(&self.pool).await? {
                out.push(Self::account_from_row(&row)?);
            }
        }
        Ok(out)
    }

    async fn set_sanction(
        &self,
        account_id: &str,
        report_id: &str,
        sanction: Option<Sanction>,
    ) -> Result<()> {
        let _w = self.writer.lock().await;
        match sanction {
            None => {
                sqlx::query("DELETE FROM sanctions WHERE account_id = ? AND report_id = ?")
                    .bind(account_id)
                    .bind(report_id)
                    .execute(&self.pool)
                    .await?;
            }
            Some(x) => {
                sqlx::query(
                    "INSERT INTO sanctions (account_id, report_id, sending_only, until) \
                     VALUES (?, ?, ?, ?) ON CONFLICT (account_id, report_id) DO UPDATE \
                     SET sending_only = excluded.sending_only, until = excluded.until",
                )
                .bind(account_id)
                .bind(report_id)
                .bind(x.sending_only as i64)
                .bind(x.until.map(|u| u as i64))
                .execute(&self.pool)
                .await?;
            }
        }
        Ok(())
    }

    async fn lift_sanctions_of_reports(&self, report_ids: &[String]) -> Result<()> {
        if report_ids.is_empty() {
            return Ok(());
        }
        let _w = self.writer.lock().await;
        let mut q = QueryBuilder::<Sqlite>::new("DELETE FROM sanctions WHERE report_id IN (");
        let mut list = q.separated(", ");
        for id in report_ids {
            list.push_bind(id.as_str());
        }
        q.push(")");
        q.build().execute(&self.pool).await?;
        Ok(())
    }

    async fn sanctions(&self) -> Result<Vec<(String, String, Sanction)>> {
        sqlx::query("SELECT account_id, report_id, sending_only, until FROM sanctions")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok((
                    r.try_get("account_id")?,
                    r.try_get("report_id")?,
                    Sanction {
                        sending_only: r.try_get::<i64, _>("sending_only")? != 0,
                        until: r.try_get::<Option<i64>, _>("until")?.map(|u| u as u64),
                    },
                ))
            })
            .collect()
    }

    async fn account_regions(&self) -> Result<Vec<(String, u64)>> {
        sqlx::query("SELECT region, COUNT(*) AS n FROM accounts GROUP BY region ORDER BY region")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("region")?, r.try_get::<i64, _>("n")? as u64)))
            .collect()
    }

    async fn set_region(&self, account_id: &str, region: &str) -> Result<()> {
        let _w = self.writer.lock().await;
        let n = sqlx::query("UPDATE accounts SET region = ? WHERE account_id = ?")
            .bind(region)
            .bind(account_id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound("account"));
        }
        Ok(())
    }

    async fn delete_account(&self, account_id: &str) -> Result<bool> {
        let mut w = self.writer.lock().await;
        let mut tx = self.pool.begin().await?;
        let devices: Vec<String> =
            sqlx::query_scalar("SELECT device_id FROM devices WHERE account_id = ?")
                .bind(account_id)
                .fetch_all(&mut *tx)
                .await?;
        let gone = sqlx::query("DELETE FROM accounts WHERE account_id = ?")
            .bind(account_id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            > 0;
        sqlx::query("DELETE FROM sanctions WHERE account_id = ?")
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
        Self::delete_devices_in(&mut tx, &devices).await?;
        for sql in [
            "DELETE FROM link_requests WHERE account_id = ?",
            "DELETE FROM profiles WHERE account_id = ?",
            "DELETE FROM phone_index WHERE account_id = ?",
        ] {
            sqlx::query(sql).bind(account_id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        // The writer's view of group members is rebuilt from disk, and the
        // next release looks at every group: what waited only for these
        // devices can go.
        w.groups.clear();
        w.release_all = true;
        Ok(gone || !devices.is_empty())
    }

    async fn delete_device(&self, device_id: &str) -> Result<bool> {
        let mut w = self.writer.lock().await;
        let mut tx = self.pool.begin().await?;
        let gone = sqlx::query("SELECT 1 FROM devices WHERE device_id = ?")
            .bind(device_id)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        Self::delete_devices_in(&mut tx, &[device_id.to_string()]).await?;
        tx.commit().await?;
        w.groups.clear();
        w.release_all = true;
        Ok(gone)
    }

    async fn groups_of(&self, device_id: &str) -> Result<Vec<Vec<u8>>> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT group_id FROM memberships WHERE device_id = ? AND until_seq IS NULL",
        )
        .bind(device_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn touch_device(&self, device_id: &str, now: u64) -> Result<()> {
        // Writes take turns on the writer's lock, as everywhere.
        let _w = self.writer.lock().await;
        sqlx::query("UPDATE devices SET last_seen = ? WHERE device_id = ?")
            .bind(now as i64)
            .bind(device_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn device_activity(&self, account_id: &str) -> Result<Vec<(Device, u64, Option<u64>)>> {
        let rows = sqlx::query(
            "SELECT d.device_id, d.account_id, a.handle, d.signature_key, d.label, d.created_at, \
             d.last_seen FROM devices d JOIN accounts a ON a.account_id = d.account_id \
             WHERE d.account_id = ? ORDER BY d.created_at, d.device_id",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    Device {
                        device_id: r.try_get(0)?,
                        account_id: r.try_get(1)?,
                        handle: r.try_get(2)?,
                        signature_key: r.try_get(3)?,
                        label: r.try_get(4)?,
                    },
                    r.try_get::<i64, _>(5)? as u64,
                    r.try_get::<Option<i64>, _>(6)?.map(|t| t as u64),
                ))
            })
            .collect()
    }

    async fn legacy_profiles(&self, limit: u32) -> Result<Vec<LegacyProfile>> {
        sqlx::query(
            "SELECT p.account_id, a.region, p.sealed FROM profiles p \
             JOIN accounts a ON a.account_id = p.account_id ORDER BY p.account_id LIMIT ?",
        )
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(LegacyProfile {
                account_id: r.try_get("account_id")?,
                region: r.try_get("region")?,
                blob: r.try_get("sealed")?,
            })
        })
        .collect()
    }

    async fn drop_legacy_profile(&self, account_id: &str) -> Result<()> {
        let _w = self.writer.lock().await;
        let mut tx = self.pool.begin().await?;
        // The old row was plaintext: overwrite it with zeros, not just unlink it.
        sqlx::query("PRAGMA secure_delete = ON")
            .execute(&mut *tx)
            .await?;
        for sql in [
            "DELETE FROM profiles WHERE account_id = ?",
            "DELETE FROM phone_index WHERE account_id = ?",
        ] {
            sqlx::query(sql).bind(account_id).execute(&mut *tx).await?;
        }
        sqlx::query("PRAGMA secure_delete = OFF")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        // The old row's page is zeroed in the file; its earlier copy must
        // not stay in the WAL either.
        crate::truncate_wal(&self.pool).await
    }

    async fn device(&self, device_id: &str) -> Result<Option<Device>> {
        let row = sqlx::query(&format!(
            "SELECT {DEVICE_COLUMNS} FROM devices d JOIN accounts a ON a.account_id = d.account_id WHERE d.device_id = ?"
        ))
        .bind(device_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Self::device_from_row).transpose()
    }

    async fn devices_of(&self, account_id: &str) -> Result<Vec<Device>> {
        let rows = sqlx::query(&format!(
            "SELECT {DEVICE_COLUMNS} FROM devices d JOIN accounts a ON a.account_id = d.account_id \
             WHERE d.account_id = ? ORDER BY d.created_at, d.device_id"
        ))
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::device_from_row).collect()
    }

    async fn add_key_packages(
        &self,
        device_id: &str,
        one_time: Vec<Vec<u8>>,
        last_resort: Option<Vec<u8>>,
        max: u32,
    ) -> Result<Result<KeyPackageCount, u32>> {
        let _w = self.writer.lock().await;
        let mut tx = self.pool.begin().await?;
        let have: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM key_packages WHERE device_id = ? AND last_resort = 0",
        )
        .bind(device_id)
        .fetch_one(&mut *tx)
        .await?;
        let total = have as u64 + one_time.len() as u64;
        if total > max as u64 {
            return Ok(Err(have as u32));
        }
        Self::insert_key_packages(&mut tx, device_id, &one_time, last_resort.as_deref()).await?;
        tx.commit().await?;
        Ok(Ok(self.key_package_count(device_id).await?))
    }

    async fn claim_key_package(&self, device_id: &str) -> Result<Option<Vec<u8>>> {
        let _w = self.writer.lock().await;
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "SELECT kp_seq, last_resort, body FROM key_packages WHERE device_id = ? \
             ORDER BY last_resort, kp_seq LIMIT 1",
        )
        .bind(device_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let seq: i64 = row.try_get(0)?;
        let last_resort: i64 = row.try_get(1)?;
        let body: Vec<u8> = row.try_get(2)?;
        if last_resort == 0 {
            sqlx::query("DELETE FROM key_packages WHERE device_id = ? AND kp_seq = ?")
                .bind(device_id)
                .bind(seq)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Some(body))
    }

    async fn key_package_count(&self, device_id: &str) -> Result<KeyPackageCount> {
        let row = sqlx::query(
            "SELECT COALESCE(SUM(CASE WHEN last_resort = 0 THEN 1 ELSE 0 END), 0), \
                    COALESCE(SUM(last_resort), 0) FROM key_packages WHERE device_id = ?",
        )
        .bind(device_id)
        .fetch_one(&self.pool)
        .await?;
        let one: i64 = row.try_get(0)?;
        let lr: i64 = row.try_get(1)?;
        Ok(KeyPackageCount {
            one_time: one as u32,
            last_resort: lr > 0,
        })
    }

    async fn create_group(
        &self,
        group_id: &[u8],
        creator: &str,
        now: u64,
        state: Vec<u8>,
    ) -> Result<()> {
        let _w = self.writer.lock().await;
        let mut tx = self.pool.begin().await?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT epoch FROM groups WHERE group_id = ?")
            .bind(group_id)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_some() {
            return Err(StoreError::Conflict("group"));
        }
        sqlx::query(
            "INSERT INTO groups (group_id, epoch, next_seq, created_at) VALUES (?, 0, 1, ?)",
        )
        .bind(group_id)
        .bind(now as i64)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO memberships (group_id, device_id, from_seq, until_seq) VALUES (?, ?, 1, NULL)",
        )
        .bind(group_id)
        .bind(creator)
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO group_states (group_id, state) VALUES (?, ?)")
            .bind(group_id)
            .bind(state)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn put_block(&self, pair: &[u8], blocked: &[u8]) -> Result<()> {
        let _w = self.writer.lock().await;
        sqlx::query(
            "INSERT INTO blocks (pair, blocked) VALUES (?, ?) ON CONFLICT (pair) DO NOTHING",
        )
        .bind(pair)
        .bind(blocked)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn remove_blocks(&self, pairs: &[Vec<u8>]) -> Result<()> {
        let _w = self.writer.lock().await;
        let mut tx = self.pool.begin().await?;
        for pair in pairs {
            sqlx::query("DELETE FROM blocks WHERE pair = ?")
                .bind(pair)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn remove_blocks_of(&self, blocked: &[u8]) -> Result<()> {
        let _w = self.writer.lock().await;
        sqlx::query("DELETE FROM blocks WHERE blocked = ?")
            .bind(blocked)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn has_block(&self, pair: &[u8]) -> Result<bool> {
        Ok(sqlx::query("SELECT 1 FROM blocks WHERE pair = ?")
            .bind(pair)
            .fetch_optional(&self.pool)
            .await?
            .is_some())
    }

    async fn blocked_accounts(&self) -> Result<Vec<Vec<u8>>> {
        Ok(sqlx::query_scalar("SELECT DISTINCT blocked FROM blocks")
            .fetch_all(&self.pool)
            .await?)
    }

    async fn group_state(&self, group_id: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(
            sqlx::query_scalar("SELECT state FROM group_states WHERE group_id = ?")
                .bind(group_id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn group(&self, group_id: &[u8]) -> Result<Option<Group>> {
        let epoch: Option<i64> = sqlx::query_scalar("SELECT epoch FROM groups WHERE group_id = ?")
            .bind(group_id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(epoch) = epoch else { return Ok(None) };
        let members: Vec<String> = sqlx::query_scalar(CURRENT_MEMBERS)
            .bind(group_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(Some(Group {
            group_id: group_id.to_vec(),
            epoch: epoch as u64,
            members,
        }))
    }

    async fn submit(
        &self,
        batch: Vec<Submission>,
        acks: Vec<Ack>,
    ) -> Result<Vec<Result<Accepted, Rejection>>> {
        let mut w = self.writer.lock().await;
        let mut tx = self.pool.begin().await?;
        let mut log_pos = match w.log_pos {
            Some(v) => v,
            None => {
                let v: i64 =
                    sqlx::query_scalar("SELECT value FROM counters WHERE name = 'log_pos'")
                        .fetch_one(&mut *tx)
                        .await?;
                v as u64
            }
        };
        // Changes are made to copies and kept only once the transaction
        // committed, so a failed batch leaves the writer's view as it was.
        let mut touched: HashMap<Vec<u8>, GroupState> = HashMap::new();
        let mut out = Vec::with_capacity(batch.len());
        let mut rows = BatchRows::default();
        for s in batch {
            let r = Self::submit_one(&mut tx, &w, &mut touched, &mut log_pos, &mut rows, s).await?;
            out.push(r);
        }
        rows.write(&mut tx).await?;
        // One row per device, however many acknowledgements it sent.
        let mut latest: HashMap<&str, u64> = HashMap::new();
        for a in &acks {
            let e = latest.entry(a.device_id.as_str()).or_insert(0);
            *e = (*e).max(a.up_to);
        }
        let latest: Vec<(&str, u64)> = latest.into_iter().collect();
        for chunk in latest.chunks(ROWS_PER_STATEMENT) {
            Self::ack_in(&mut tx, chunk).await?;
        }
        for chunk in touched
            .iter()
            .collect::<Vec<_>>()
            .chunks(ROWS_PER_STATEMENT)
        {
            let mut qb: QueryBuilder<Sqlite> =
                QueryBuilder::new("INSERT INTO groups (group_id, epoch, next_seq, created_at) ");
            qb.push_values(chunk, |mut b, (gid, g)| {
                b.push_bind(gid.as_slice())
                    .push_bind(g.epoch as i64)
                    .push_bind(g.next_seq as i64)
                    .push_bind(0i64);
            });
            qb.push(" ON CONFLICT (group_id) DO UPDATE SET epoch = excluded.epoch, next_seq = excluded.next_seq");
            qb.build().execute(&mut *tx).await?;
        }
        sqlx::query("UPDATE counters SET value = ? WHERE name = 'log_pos'")
            .bind(log_pos as i64)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        if w.groups.len() + touched.len() > GROUP_CACHE {
            w.groups.clear();
        }
        w.groups.extend(touched);
        if w.last_sends.len() + rows.sends.len() > SEND_CACHE {
            w.last_sends.clear();
        }
        w.last_sends.extend(rows.sends);
        w.log_pos = Some(log_pos);
        w.acked
            .extend(latest.into_iter().map(|(d, _)| d.to_string()));
        Ok(out)
    }

    async fn inbox(&self, device_id: &str, after: u64, limit: u32) -> Result<Vec<InboxEntry>> {
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

    async fn ack(&self, device_id: &str, up_to: u64) -> Result<()> {
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

    async fn create_link(&self, link: PendingLink, code_hash: Vec<u8>) -> Result<()> {
        let _w = self.writer.lock().await;
        sqlx::query(
            "INSERT INTO link_requests (link_id, code_hash, account_id, signature_key, label, key_packages, \
             last_resort, approved_device, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?)",
        )
        .bind(&link.link_id)
        .bind(&code_hash)
        .bind(&link.account_id)
        .bind(&link.signature_key)
        .bind(&link.label)
        .bind(encode_blobs(&link.key_packages))
        .bind(&link.last_resort)
        .bind(link.created_at as i64)
        .execute(&self.pool)
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict("link code"),
            e => e.into(),
        })?;
        Ok(())
    }

    async fn link(&self, link_id: &str) -> Result<Option<PendingLink>> {
        let row = sqlx::query("SELECT * FROM link_requests WHERE link_id = ?")
            .bind(link_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(Self::link_from_row).transpose()
    }

    async fn link_by_code(&self, code_hash: &[u8]) -> Result<Option<PendingLink>> {
        let row = sqlx::query("SELECT * FROM link_requests WHERE code_hash = ?")
            .bind(code_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(Self::link_from_row).transpose()
    }

    async fn approve_link(&self, link_id: &str, device: Device) -> Result<()> {
        let _w = self.writer.lock().await;
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "SELECT * FROM link_requests WHERE link_id = ? AND approved_device IS NULL",
        )
        .bind(link_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Err(StoreError::NotFound("pending link request"));
        };
        let link = Self::link_from_row(&row)?;
        let key: Option<String> =
            sqlx::query_scalar("SELECT device_id FROM devices WHERE signature_key = ?")
                .bind(&link.signature_key)
                .fetch_optional(&mut *tx)
                .await?;
        if key.is_some() {
            return Err(StoreError::Conflict("device key"));
        }
        sqlx::query("INSERT INTO devices (device_id, account_id, signature_key, label, created_at) VALUES (?, ?, ?, ?, ?)")
            .bind(&device.device_id)
            .bind(&link.account_id)
            .bind(&link.signature_key)
            .bind(&link.label)
            .bind(link.created_at as i64)
            .execute(&mut *tx)
            .await?;
        Self::insert_key_packages(
            &mut tx,
            &device.device_id,
            &link.key_packages,
            Some(&link.last_resort),
        )
        .await?;
        sqlx::query("UPDATE link_requests SET approved_device = ? WHERE link_id = ?")
            .bind(&device.device_id)
            .bind(link_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn close(&self) {
        if let Err(e) = self.release_delivered().await {
            tracing::warn!(error = %e, "releasing delivered messages on close failed");
        }
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_db(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "kizuna-store-{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("node.sqlite")
    }

    async fn count(store: &SqliteStore, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&store.pool)
            .await
            .unwrap()
    }

    async fn add_device(store: &SqliteStore, n: &str) {
        store
            .create_account(NewAccount {
                account: Account {
                    account_id: format!("acct-{n}"),
                    handle: n.into(),
                    region: "jp".into(),
                    created_at: 0,
                },
                device: Device {
                    device_id: n.into(),
                    account_id: format!("acct-{n}"),
                    handle: n.into(),
                    signature_key: n.as_bytes().to_vec(),
                    label: String::new(),
                },
            })
            .await
            .unwrap();
    }

    fn app(group: &[u8], sender: &str, epoch: u64, text: &str) -> Submission {
        Submission::Application {
            group_id: group.to_vec(),
            sender_device: sender.into(),
            epoch,
            payload: text.as_bytes().to_vec(),
            server_time: 0,
            franking: None,
            client_id: None,
        }
    }

    fn commit(group: &[u8], sender: &str, epoch: u64, add: &[&str], remove: &[&str]) -> Submission {
        Submission::Commit {
            group_id: group.to_vec(),
            sender_device: sender.into(),
            epoch,
            commit: b"commit".to_vec(),
            welcome: (!add.is_empty()).then(|| b"welcome".to_vec()),
            added: add.iter().map(|d| d.to_string()).collect(),
            removed: remove.iter().map(|d| d.to_string()).collect(),
            server_time: 0,
            max_members: 10,
            state: Vec::new(),
        }
    }

    async fn texts(store: &SqliteStore, device: &str) -> Vec<(MessageKind, String)> {
        store
            .inbox(device, 0, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.kind, String::from_utf8(e.payload).unwrap()))
            .collect()
    }

    #[tokio::test]
    async fn members_receive_their_range_and_messages_go_once_everyone_has_them() {
        let store = SqliteStore::open(&temp_db("range")).await.unwrap();
        for d in ["a", "b", "c"] {
            add_device(&store, d).await;
        }
        let g = b"group".as_slice();
        store.create_group(g, "a", 0, Vec::new()).await.unwrap();
        let batch = vec![
            commit(g, "a", 0, &["b", "c"], &[]),
            app(g, "a", 1, "hello"),
            commit(g, "a", 1, &[], &["c"]),
            app(g, "b", 2, "after"),
        ];
        let out = store.submit(batch, vec![]).await.unwrap();
        assert!(out.iter().all(|r| r.is_ok()), "{out:?}");
        use MessageKind::*;
        assert_eq!(
            texts(&store, "b").await,
            [
                (Welcome, "welcome".into()),
                (Application, "hello".into()),
                (Commit, "commit".into())
            ]
        );
        // Carol gets the commit that removes her and nothing after it.
        assert_eq!(
            texts(&store, "c").await,
            [
                (Welcome, "welcome".into()),
                (Application, "hello".into()),
                (Commit, "commit".into())
            ]
        );
        assert_eq!(texts(&store, "a").await, [(Application, "after".into())]);

        let last = |d: &'static str| {
            let store = &store;
            async move { store.inbox(d, 0, 100).await.unwrap().last().unwrap().seq }
        };
        let (a, b, c) = (last("a").await, last("b").await, last("c").await);
        store.ack("b", b).await.unwrap();
        store.release_delivered().await.unwrap();
        // Carol has not acknowledged: what she still needs stays.
        assert_eq!(count(&store, "SELECT COUNT(*) FROM log").await, 4);
        store.ack("c", c).await.unwrap();
        store.release_delivered().await.unwrap();
        assert_eq!(count(&store, "SELECT COUNT(*) FROM log").await, 1);
        assert!(texts(&store, "c").await.is_empty());
        store.ack("a", a).await.unwrap();
        store.release_delivered().await.unwrap();
        assert_eq!(count(&store, "SELECT COUNT(*) FROM log").await, 0);
        assert_eq!(count(&store, "SELECT COUNT(*) FROM deliveries").await, 0);
        assert_eq!(count(&store, "SELECT COUNT(*) FROM memberships").await, 2);
        // An acknowledgement never moves a device back.
        store.ack("b", 1).await.unwrap();
        assert_eq!(
            count(&store, "SELECT acked FROM cursors WHERE device_id = 'b'").await,
            b as i64
        );
    }

    #[tokio::test]
    async fn queues_of_the_earlier_layout_survive_the_upgrade() {
        let path = temp_db("upgrade");
        {
            let opts = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
                .unwrap()
                .create_if_missing(true);
            let pool = SqlitePool::connect_with(opts).await.unwrap();
            sqlx::raw_sql(MIGRATIONS[0]).execute(&pool).await.unwrap();
            sqlx::raw_sql(MIGRATIONS[1]).execute(&pool).await.unwrap();
            sqlx::raw_sql(
                "CREATE TABLE schema_version (version BIGINT NOT NULL);
                 INSERT INTO schema_version VALUES (1), (2);
                 INSERT INTO groups VALUES (x'67', 1, 3, 0);
                 INSERT INTO group_members VALUES (x'67', 'a'), (x'67', 'b'), (x'67', 'c');
                 INSERT INTO messages VALUES (x'67', 1, 2, 'a', 0, x'6f6e65'), (x'67', 2, 2, 'a', 0, x'74776f');
                 INSERT INTO inbox VALUES ('b', 5, x'67', 1), ('c', 6, x'67', 1), ('b', 7, x'67', 2);
                 UPDATE counters SET value = 7 WHERE name = 'inbox_seq';",
            )
            .execute(&pool)
            .await
            .unwrap();
            pool.close().await;
        }
        let store = SqliteStore::open(&path).await.unwrap();
        let b = store.inbox("b", 0, 100).await.unwrap();
        assert_eq!(
            b.iter().map(|e| e.group_seq).collect::<Vec<_>>(),
            [1, 2],
            "b keeps its queue in order"
        );
        // Positions start after every sequence number a client may hold.
        assert!(b[0].seq > 7 && b[1].seq > b[0].seq);
        assert_eq!(
            texts(&store, "c").await,
            [(MessageKind::Application, "one".into())]
        );
        // The members still receive new messages, after the old ones.
        store
            .submit(vec![app(b"g", "a", 1, "three")], vec![])
            .await
            .unwrap()
            .remove(0)
            .unwrap();
        let b = store.inbox("b", 0, 100).await.unwrap();
        assert_eq!(b.len(), 3);
        assert!(b[2].seq > b[1].seq);
        store.ack("b", b[2].seq).await.unwrap();
        let c = store.inbox("c", 0, 100).await.unwrap();
        store.ack("c", c.last().unwrap().seq).await.unwrap();
        store.release_delivered().await.unwrap();
        assert_eq!(count(&store, "SELECT COUNT(*) FROM log").await, 0);
    }

    #[test]
    fn chunks_cover_every_row_in_few_shapes() {
        let rows: Vec<u32> = (0..300).collect();
        let chunks = prepared_chunks(&rows);
        assert_eq!(chunks.concat(), rows);
        assert!(chunks.iter().all(|c| [128, 32, 8, 1].contains(&c.len())));
        assert!(super::prepared_chunks::<u8>(&[]).is_empty());
    }

    #[test]
    fn blob_lists_round_trip() {
        let items = vec![vec![1, 2, 3], vec![], vec![9; 300]];
        assert_eq!(
            super::decode_blobs(&super::encode_blobs(&items)),
            Some(items)
        );
        assert_eq!(super::decode_blobs(&[0, 0, 0, 5, 1]), None);
    }
}
