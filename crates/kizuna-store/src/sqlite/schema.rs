//! The schema, as the list of its versions, and the migration that brings an
//! older database up to date when the store opens.

use super::SqliteStore;
use crate::{Result, StoreError};

/// Schema versions, applied in order and recorded in `schema_version`.
pub(super) const MIGRATIONS: &[&str] = &[
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
    r#"
-- The agreement under which the foreign countries of each account's home
-- region may reach its data: the region and version of the disclosures
-- agreed to. The agreement itself is sealed in the home region.
CREATE TABLE agreements (
    account_id TEXT PRIMARY KEY,
    region TEXT NOT NULL,
    version TEXT NOT NULL
);
"#,
    r#"
-- An acknowledgement past the end of the log once moved a device's cursor
-- there, and every later message sat below it, never shown; one of
-- u64::MAX was written as -1. Both come back within the log.
UPDATE cursors SET acked = (SELECT value FROM counters WHERE name = 'log_pos')
WHERE acked > (SELECT value FROM counters WHERE name = 'log_pos');
UPDATE cursors SET acked = 0 WHERE acked < 0;
"#,
    r#"
-- Files people send: sealed on their devices, kept part by part in the
-- sender's home region's file store; which devices may fetch each.
CREATE TABLE files (
    file_id TEXT PRIMARY KEY,
    group_id BLOB NOT NULL,
    account_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    region TEXT NOT NULL,
    size BIGINT NOT NULL,
    parts BIGINT NOT NULL,
    received BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX files_by_account ON files (account_id);
CREATE INDEX files_by_age ON files (created_at);
CREATE TABLE file_readers (
    file_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    PRIMARY KEY (file_id, device_id)
);
CREATE INDEX file_readers_by_device ON file_readers (device_id);
"#,
    r#"
-- Files a report names: kept past their retention while the report is,
-- so a moderator can still open what was reported.
CREATE TABLE file_holds (
    file_id TEXT NOT NULL,
    report_id TEXT NOT NULL,
    PRIMARY KEY (file_id, report_id)
);
CREATE INDEX file_holds_by_report ON file_holds (report_id);
"#,
    r#"
-- Parts kept past the first one an upload lacks (a bit each), so a device
-- may send several parts at once.
ALTER TABLE files ADD COLUMN ahead BIGINT NOT NULL DEFAULT 0;
"#,
    r#"
-- The key log: each binding of a handle to an account and of an account to
-- a device key, public, beside its leaf and ledger index (none while its
-- append is under way).
CREATE TABLE key_log (
    leaf BLOB PRIMARY KEY,
    idx BIGINT UNIQUE,
    after BIGINT NOT NULL,
    at BIGINT NOT NULL,
    handle TEXT NOT NULL,
    account_id TEXT NOT NULL,
    entry BLOB NOT NULL
);
CREATE INDEX key_log_by_handle ON key_log (handle, idx);
CREATE INDEX key_log_by_account ON key_log (account_id);
"#,
    r#"
-- Who follows which official account, through which one-to-one chat:
-- routing for the account's announcements.
CREATE TABLE follows (
    official_id TEXT NOT NULL,
    follower_id TEXT NOT NULL,
    group_id BLOB NOT NULL,
    since BIGINT NOT NULL,
    PRIMARY KEY (official_id, follower_id)
);
CREATE INDEX follows_by_follower ON follows (follower_id);
-- Official accounts' announcements, signed by their devices, each once
-- however many follow: followers' devices read them after a position.
CREATE TABLE announcements (
    pos INTEGER PRIMARY KEY AUTOINCREMENT,
    official_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    body BLOB NOT NULL,
    signature BLOB NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX announcements_by_official ON announcements (official_id, pos);
"#,
];

impl SqliteStore {
    /// Applies the versions the database lacks, answering which.
    pub(super) async fn migrate(&self) -> Result<Vec<u64>> {
        sqlx::query("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
            .execute(&self.pool)
            .await?;
        let current: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_version")
            .fetch_one(&self.pool)
            .await?;
        let current = current.unwrap_or(0).max(0) as usize;
        if current > MIGRATIONS.len() {
            return Err(StoreError::SchemaTooNew {
                found: current as u64,
                known: MIGRATIONS.len() as u64,
            });
        }
        let mut applied = Vec::new();
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
            let mut tx = self.pool.begin().await?;
            sqlx::raw_sql(sql).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO schema_version (version) VALUES (?)")
                .bind((i + 1) as i64)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            applied.push(i as u64 + 1);
        }
        Ok(applied)
    }
}
