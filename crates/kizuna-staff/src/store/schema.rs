//! The staff store's schema: the embedded file's, which `open` brings older
//! files to, and the shared store's versions, which `kizuna admin migrate`
//! applies in order.

/// The embedded store's schema; older files are brought to it by `open`.
pub(super) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS orgs (
    org_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    country TEXT NOT NULL,
    networks TEXT NOT NULL,
    scope TEXT NOT NULL,
    suspended_at BIGINT
);
CREATE TABLE IF NOT EXISTS staff (
    staff_id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    roles TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    totp_secret TEXT NOT NULL,
    suspended_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    staff_id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    source TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ended_at BIGINT
);
CREATE INDEX IF NOT EXISTS sessions_by_org ON sessions (org_id);
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    staff_id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS reviews (
    grant_id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    completed SMALLINT NOT NULL
);
CREATE TABLE IF NOT EXISTS grants (
    grant_id TEXT PRIMARY KEY,
    staff_id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    state TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS grants_by_staff ON grants (staff_id);
CREATE INDEX IF NOT EXISTS grants_by_org ON grants (org_id);
-- Append-only: every step of the staff realm, in the form the transparency
-- ledger will hash.
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    staff_id TEXT,
    org_id TEXT,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_staff ON events (staff_id, at);
CREATE INDEX IF NOT EXISTS events_by_staff_kind ON events (staff_id, kind, at);
-- When each staff id's checked guesses failed lately: what locks the id,
-- the same for every node that shares the store.
CREATE TABLE IF NOT EXISTS login_failures (staff_id TEXT NOT NULL, at BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS login_failures_by_staff ON login_failures (staff_id, at);
-- Official accounts' applications, each a whole body beside the columns it
-- is looked up by, as grants are.
CREATE TABLE IF NOT EXISTS official_applications (
    application_id TEXT PRIMARY KEY,
    handle TEXT NOT NULL,
    account_id TEXT NOT NULL,
    state TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS official_by_account ON official_applications (account_id);
-- One application of an account waits at a time, also when two arrive at
-- once on two nodes. A store kept before this rule may hold two: the
-- earliest waits on and the others are withdrawn, so the rule never stops
-- a node from starting.
UPDATE official_applications
   SET state = 'withdrawn',
       body = json_set(body, '$.application.state', 'withdrawn',
                       '$.application.reason', 'another application of this account was already waiting')
 WHERE state IN ('submitted', 'proposed')
   AND rowid NOT IN (SELECT MIN(rowid) FROM official_applications
                      WHERE state IN ('submitted', 'proposed') GROUP BY account_id);
CREATE UNIQUE INDEX IF NOT EXISTS official_one_waiting ON official_applications (account_id)
    WHERE state IN ('submitted', 'proposed');
"#;

/// Events became ledger entries: each keeps the exact bytes hashed into the
/// ledger, its leaf, and its index once appended.
pub(super) const LEDGER_COLUMNS: [(&str, &str); 4] = [
    ("entry", "BLOB"),
    ("leaf", "BLOB"),
    ("idx", "BIGINT"),
    ("after", "BIGINT NOT NULL DEFAULT 0"),
];

/// Append-only, except that an event being appended to the ledger gets its
/// index once, and one the ledger refused is taken back.
pub(super) const EVENT_TRIGGERS: &str = r#"
DROP TRIGGER IF EXISTS events_append_only_update;
DROP TRIGGER IF EXISTS events_append_only_delete;
CREATE UNIQUE INDEX IF NOT EXISTS events_by_leaf ON events (leaf);
CREATE INDEX IF NOT EXISTS events_by_idx ON events (idx);
CREATE TRIGGER IF NOT EXISTS events_only_indexed BEFORE UPDATE ON events
WHEN OLD.idx IS NOT NULL OR NEW.idx IS NULL
  OR NEW.at IS NOT OLD.at OR NEW.kind IS NOT OLD.kind
  OR NEW.staff_id IS NOT OLD.staff_id OR NEW.org_id IS NOT OLD.org_id
  OR NEW.detail IS NOT OLD.detail OR NEW.entry IS NOT OLD.entry
  OR NEW.leaf IS NOT OLD.leaf OR NEW.after IS NOT OLD.after
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_only_unlogged_deleted BEFORE DELETE ON events
WHEN OLD.idx IS NOT NULL OR OLD.leaf IS NULL
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
"#;

/// The shared store's versions, applied in order by `kizuna admin migrate`
/// (`StaffStore::migrate`), each in its own transaction. The tables are the
/// embedded store's; `rowid` stands for the order rows were written in,
/// which SQLite gives every table without being asked.
pub(super) const PG_VERSIONS: [&str; 3] = [
    r#"
CREATE TABLE orgs (
    org_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    country TEXT NOT NULL,
    networks TEXT NOT NULL,
    scope TEXT NOT NULL,
    suspended_at BIGINT
);
CREATE TABLE staff (
    staff_id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    roles TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    totp_secret TEXT NOT NULL,
    suspended_at BIGINT,
    created_at BIGINT NOT NULL,
    last_totp_step BIGINT
);
CREATE TABLE sessions (
    session_id TEXT PRIMARY KEY,
    staff_id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    source TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ended_at BIGINT
);
CREATE INDEX sessions_by_org ON sessions (org_id);
CREATE INDEX sessions_by_staff ON sessions (staff_id);
CREATE TABLE alerts (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    staff_id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE reviews (
    rowid BIGINT GENERATED ALWAYS AS IDENTITY,
    grant_id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    completed SMALLINT NOT NULL
);
CREATE TABLE grants (
    rowid BIGINT GENERATED ALWAYS AS IDENTITY,
    grant_id TEXT PRIMARY KEY,
    staff_id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    state TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX grants_by_staff ON grants (staff_id);
CREATE INDEX grants_by_org ON grants (org_id);
CREATE TABLE events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    staff_id TEXT,
    org_id TEXT,
    detail TEXT NOT NULL,
    entry BYTEA,
    leaf BYTEA,
    idx BIGINT,
    after BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX events_by_staff ON events (staff_id, at);
CREATE INDEX events_by_staff_kind ON events (staff_id, kind, at);
CREATE UNIQUE INDEX events_by_leaf ON events (leaf);
CREATE INDEX events_by_idx ON events (idx);
-- Append-only, except that an event being appended to the ledger gets its
-- index once, and one the ledger refused is taken back.
CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.idx IS NOT NULL OR OLD.leaf IS NULL THEN
            RAISE EXCEPTION 'events are append-only';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.idx IS NOT NULL OR NEW.idx IS NULL
       OR NEW.id IS DISTINCT FROM OLD.id
       OR NEW.at IS DISTINCT FROM OLD.at OR NEW.kind IS DISTINCT FROM OLD.kind
       OR NEW.staff_id IS DISTINCT FROM OLD.staff_id OR NEW.org_id IS DISTINCT FROM OLD.org_id
       OR NEW.detail IS DISTINCT FROM OLD.detail OR NEW.entry IS DISTINCT FROM OLD.entry
       OR NEW.leaf IS DISTINCT FROM OLD.leaf OR NEW.after IS DISTINCT FROM OLD.after THEN
        RAISE EXCEPTION 'events are append-only';
    END IF;
    RETURN NEW;
END
$fn$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();
CREATE TABLE recent_reads (
    staff_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    last_at BIGINT NOT NULL,
    PRIMARY KEY (staff_id, subject)
);
CREATE INDEX recent_reads_by_time ON recent_reads (staff_id, last_at);
CREATE TABLE login_failures (staff_id TEXT NOT NULL, at BIGINT NOT NULL);
CREATE INDEX login_failures_by_staff ON login_failures (staff_id, at);
"#,
    r#"
CREATE TABLE official_applications (
    rowid BIGINT GENERATED ALWAYS AS IDENTITY,
    application_id TEXT PRIMARY KEY,
    handle TEXT NOT NULL,
    account_id TEXT NOT NULL,
    state TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX official_by_account ON official_applications (account_id);
"#,
    r#"
UPDATE official_applications
   SET state = 'withdrawn',
       body = jsonb_set(jsonb_set(body::jsonb, '{application,state}', '"withdrawn"'),
                        '{application,reason}',
                        '"another application of this account was already waiting"')::text
 WHERE state IN ('submitted', 'proposed')
   AND rowid NOT IN (SELECT MIN(rowid) FROM official_applications
                      WHERE state IN ('submitted', 'proposed') GROUP BY account_id);
CREATE UNIQUE INDEX official_one_waiting ON official_applications (account_id)
    WHERE state IN ('submitted', 'proposed');
"#,
];
