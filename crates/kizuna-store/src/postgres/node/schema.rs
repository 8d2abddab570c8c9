//! The node store's schema on PostgreSQL. Version 1 is the shape the SQLite
//! node store reached through its migrations, without what only earlier
//! versions kept (profiles, phone index, per-device queues): a PostgreSQL
//! node store never held those. Version 2 adds the transparency ledger
//! every node shares (`PgLedgerLog`); version 3 the files people send;
//! version 4 the holds reports put on files; version 5 the parts of an
//! upload kept ahead of the first it lacks; version 6 the key log; version 7
//! the directory key each ledger leaf is logged under; version 8 who follows
//! which official account.

use crate::postgres::Schema;

pub(crate) const NODE: Schema = Schema {
    name: "node",
    migrations: MIGRATIONS,
};

const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE accounts (
    account_id TEXT PRIMARY KEY,
    handle TEXT NOT NULL,
    region TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    CONSTRAINT accounts_handle_unique UNIQUE (handle)
);
CREATE TABLE devices (
    device_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    signature_key BYTEA NOT NULL,
    label TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen BIGINT,
    CONSTRAINT devices_signature_key_unique UNIQUE (signature_key)
);
CREATE INDEX devices_by_account ON devices (account_id);
CREATE TABLE key_packages (
    device_id TEXT NOT NULL,
    kp_seq BIGINT NOT NULL,
    last_resort BOOLEAN NOT NULL,
    body BYTEA NOT NULL,
    PRIMARY KEY (device_id, kp_seq)
);
CREATE TABLE groups (
    group_id BYTEA PRIMARY KEY,
    epoch BIGINT NOT NULL,
    next_seq BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
-- The node's log: each message once, at its position; group members
-- receive the `routed` ones of the range they belonged to, a message for
-- chosen devices (a Welcome) has a `deliveries` row per recipient.
CREATE TABLE log (
    pos BIGINT PRIMARY KEY,
    group_id BYTEA NOT NULL,
    seq BIGINT NOT NULL,
    kind BIGINT NOT NULL,
    routed BOOLEAN NOT NULL,
    sender_device TEXT NOT NULL,
    server_time BIGINT NOT NULL,
    payload BYTEA NOT NULL,
    frank BYTEA
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
    group_id BYTEA NOT NULL,
    device_id TEXT NOT NULL,
    from_seq BIGINT NOT NULL,
    until_seq BIGINT,
    PRIMARY KEY (group_id, device_id, from_seq)
);
CREATE INDEX memberships_by_device ON memberships (device_id);
CREATE INDEX memberships_current ON memberships (group_id) WHERE until_seq IS NULL;
-- The last log position handed out, and the last key package number. The
-- log position is taken last in a writing transaction and held to its
-- commit, so positions become visible in the order they were handed out.
CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('log_pos', 0), ('kp_seq', 0);
CREATE TABLE link_requests (
    link_id TEXT PRIMARY KEY,
    code_hash BYTEA NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    signature_key BYTEA NOT NULL,
    label TEXT NOT NULL,
    key_packages BYTEA NOT NULL,
    last_resort BYTEA NOT NULL,
    approved_device TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX link_requests_by_account ON link_requests (account_id);
-- Moderators' restrictions and suspensions, one per decided report.
CREATE TABLE sanctions (
    account_id TEXT NOT NULL,
    report_id TEXT NOT NULL,
    sending_only BOOLEAN NOT NULL,
    until BIGINT,
    PRIMARY KEY (account_id, report_id)
);
CREATE INDEX sanctions_by_report ON sanctions (report_id);
-- Each device's last accepted message, by the id the device chose for it,
-- to answer a retry without delivering it twice.
CREATE TABLE last_sends (
    device_id TEXT PRIMARY KEY,
    client_id BYTEA NOT NULL,
    group_seq BIGINT NOT NULL,
    server_time BIGINT NOT NULL,
    frank BYTEA
);
-- The node's public view of each group at its epoch.
CREATE TABLE group_states (
    group_id BYTEA PRIMARY KEY,
    state BYTEA NOT NULL
);
-- Blocks by keyed hashes of (who blocks, whom) and of whom.
CREATE TABLE blocks (
    pair BYTEA PRIMARY KEY,
    blocked BYTEA NOT NULL
);
CREATE INDEX blocks_by_blocked ON blocks (blocked);
-- The agreement standing for each account's foreign reach.
CREATE TABLE agreements (
    account_id TEXT PRIMARY KEY,
    region TEXT NOT NULL,
    version TEXT NOT NULL
);
"#,
    r#"
-- The transparency ledger's leaf hashes, each at its index from 0 with no
-- gaps: an index is taken under the ledger's advisory lock, one writer at
-- a time, so indexes become visible in order.
CREATE TABLE ledger_leaves (
    idx BIGINT PRIMARY KEY,
    leaf BYTEA NOT NULL CHECK (octet_length(leaf) = 32)
);
-- The signed tree head kept for each size (the first one offered), in the
-- ledger's JSON form; sizes only grow in the order heads were kept.
CREATE TABLE ledger_heads (
    size BIGINT PRIMARY KEY,
    head TEXT NOT NULL
);
"#,
    r#"
-- Files people send: sealed on their devices, kept part by part in the
-- sender's home region's file store; which devices may fetch each.
CREATE TABLE files (
    file_id TEXT PRIMARY KEY,
    group_id BYTEA NOT NULL,
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
    leaf BYTEA PRIMARY KEY,
    idx BIGINT UNIQUE,
    after BIGINT NOT NULL,
    at BIGINT NOT NULL,
    handle TEXT NOT NULL,
    account_id TEXT NOT NULL,
    entry BYTEA NOT NULL
);
CREATE INDEX key_log_by_handle ON key_log (handle, idx);
CREATE INDEX key_log_by_account ON key_log (account_id);
"#,
    r#"
-- The key directory's key each ledger leaf is logged under (a handle's,
-- for the key log's entries), which every node's heads commit to.
ALTER TABLE ledger_leaves ADD COLUMN dir_key BYTEA
    CHECK (dir_key IS NULL OR octet_length(dir_key) = 32);
-- The key log's entries from before: filed under their handles' keys,
-- SHA-256 of 'kizuna key directory', a zero byte, and the handle.
UPDATE ledger_leaves l
SET dir_key = sha256(convert_to('kizuna key directory', 'UTF8') || '\x00'::bytea
                     || convert_to(k.handle, 'UTF8'))
FROM key_log k
WHERE k.idx = l.idx;
"#,
    r#"
-- Who follows which official account, through which one-to-one chat:
-- routing for the account's announcements.
CREATE TABLE follows (
    official_id TEXT NOT NULL,
    follower_id TEXT NOT NULL,
    group_id BYTEA NOT NULL,
    since BIGINT NOT NULL,
    PRIMARY KEY (official_id, follower_id)
);
CREATE INDEX follows_by_follower ON follows (follower_id);
-- Official accounts' announcements, signed by their devices, each once
-- however many follow: followers' devices read them after a position.
-- Positions from a sequence, never reused, even when the account with the
-- highest one is erased with its announcements.
CREATE SEQUENCE announcements_pos;
CREATE TABLE announcements (
    pos BIGINT PRIMARY KEY,
    official_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    body BYTEA NOT NULL,
    signature BYTEA NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX announcements_by_official ON announcements (official_id, pos);
"#,
];
