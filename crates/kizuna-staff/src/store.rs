//! The staff realm's own store: organisations, staff members, sessions and
//! the staff-only events. Nothing here is shared with the user realm.

use std::path::Path;
use std::str::FromStr;

use kizuna_wire::staff::{Grant, GrantState, Org, OrgKind, OrgScope, Review, Role, StaffMember};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use crate::StaffError;

/// What happened in the staff realm. Each kind is spelt once, here; the
/// anomaly rules ask [`EventKind::is_refusal`], whose match names every
/// kind, so a new kind of refusal cannot escape them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Bootstrap,
    Login,
    LoginFailed,
    LoginOutsideNetwork,
    LoginThrottled,
    OrgAdded,
    OrgSuspended,
    StaffAdded,
    StaffSuspended,
    PolicyLoaded,
    GrantRequested,
    BreakGlass,
    GrantApproved,
    GrantDenied,
    GrantRefused,
    ApprovalRefused,
    GrantRevoked,
    ConsentGiven,
    ConsentDeclined,
    /// A governed read of a person's data.
    Read,
    ReadDenied,
    BreachScoped,
    ReportsListed,
    ReportOpened,
    ReportOpenDenied,
    ReportQueueDenied,
    ReportResolved,
    ReviewCompleted,
    Alert,
    Anomaly,
}

impl EventKind {
    pub const ALL: [EventKind; 30] = [
        EventKind::Bootstrap,
        EventKind::Login,
        EventKind::LoginFailed,
        EventKind::LoginOutsideNetwork,
        EventKind::LoginThrottled,
        EventKind::OrgAdded,
        EventKind::OrgSuspended,
        EventKind::StaffAdded,
        EventKind::StaffSuspended,
        EventKind::PolicyLoaded,
        EventKind::GrantRequested,
        EventKind::BreakGlass,
        EventKind::GrantApproved,
        EventKind::GrantDenied,
        EventKind::GrantRefused,
        EventKind::ApprovalRefused,
        EventKind::GrantRevoked,
        EventKind::ConsentGiven,
        EventKind::ConsentDeclined,
        EventKind::Read,
        EventKind::ReadDenied,
        EventKind::BreachScoped,
        EventKind::ReportsListed,
        EventKind::ReportOpened,
        EventKind::ReportOpenDenied,
        EventKind::ReportQueueDenied,
        EventKind::ReportResolved,
        EventKind::ReviewCompleted,
        EventKind::Alert,
        EventKind::Anomaly,
    ];

    /// The name stored and hashed into the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Bootstrap => "bootstrap",
            EventKind::Login => "login",
            EventKind::LoginFailed => "login_failed",
            EventKind::LoginOutsideNetwork => "login_outside_network",
            EventKind::LoginThrottled => "login_throttled",
            EventKind::OrgAdded => "org_added",
            EventKind::OrgSuspended => "org_suspended",
            EventKind::StaffAdded => "staff_added",
            EventKind::StaffSuspended => "staff_suspended",
            EventKind::PolicyLoaded => "policy_loaded",
            EventKind::GrantRequested => "grant_requested",
            EventKind::BreakGlass => "break_glass",
            EventKind::GrantApproved => "grant_approved",
            EventKind::GrantDenied => "grant_denied",
            EventKind::GrantRefused => "grant_refused",
            EventKind::ApprovalRefused => "approval_refused",
            EventKind::GrantRevoked => "grant_revoked",
            EventKind::ConsentGiven => "consent_given",
            EventKind::ConsentDeclined => "consent_declined",
            EventKind::Read => "read",
            EventKind::ReadDenied => "read_denied",
            EventKind::BreachScoped => "breach_scoped",
            EventKind::ReportsListed => "reports_listed",
            EventKind::ReportOpened => "report_opened",
            EventKind::ReportOpenDenied => "report_open_denied",
            EventKind::ReportQueueDenied => "report_queue_denied",
            EventKind::ReportResolved => "report_resolved",
            EventKind::ReviewCompleted => "review_completed",
            EventKind::Alert => "alert",
            EventKind::Anomaly => "anomaly",
        }
    }

    /// Whether the policy refused the staff member something: five of
    /// these in an hour suspend them.
    pub fn is_refusal(self) -> bool {
        match self {
            EventKind::GrantRefused
            | EventKind::ApprovalRefused
            | EventKind::ReadDenied
            | EventKind::ReportOpenDenied
            | EventKind::ReportQueueDenied => true,
            EventKind::Bootstrap
            | EventKind::Login
            | EventKind::LoginFailed
            | EventKind::LoginOutsideNetwork
            | EventKind::LoginThrottled
            | EventKind::OrgAdded
            | EventKind::OrgSuspended
            | EventKind::StaffAdded
            | EventKind::StaffSuspended
            | EventKind::PolicyLoaded
            | EventKind::GrantRequested
            | EventKind::BreakGlass
            | EventKind::GrantApproved
            | EventKind::GrantDenied
            | EventKind::GrantRevoked
            | EventKind::ConsentGiven
            | EventKind::ConsentDeclined
            | EventKind::Read
            | EventKind::BreachScoped
            | EventKind::ReportsListed
            | EventKind::ReportOpened
            | EventKind::ReportResolved
            | EventKind::ReviewCompleted
            | EventKind::Alert
            | EventKind::Anomaly => false,
        }
    }
}

const SCHEMA: &str = r#"
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
"#;

/// Events became ledger entries: each keeps the exact bytes hashed into the
/// ledger, its leaf, and its index once appended.
const LEDGER_COLUMNS: [(&str, &str); 4] = [
    ("entry", "BLOB"),
    ("leaf", "BLOB"),
    ("idx", "BIGINT"),
    ("after", "BIGINT NOT NULL DEFAULT 0"),
];

/// Append-only, except that an event being appended to the ledger gets its
/// index once, and one the ledger refused is taken back.
const EVENT_TRIGGERS: &str = r#"
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

/// A staff member as stored, with their secrets.
pub struct StoredMember {
    pub member: StaffMember,
    pub password_hash: String,
    pub totp_secret: String,
}

pub struct StoredSession {
    pub session_id: String,
    pub staff_id: String,
    pub org_id: String,
    pub expires_at: u64,
    pub ended_at: Option<u64>,
}

/// One staff-realm event.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Event {
    pub at: u64,
    pub kind: EventKind,
    pub staff_id: Option<String>,
    pub org_id: Option<String>,
    pub detail: serde_json::Value,
}

/// An event as the ledger holds it: its bytes, leaf and place.
#[derive(Clone, Debug)]
pub struct LoggedEvent {
    pub at: u64,
    pub kind: String,
    pub staff_id: Option<String>,
    pub org_id: Option<String>,
    pub detail: serde_json::Value,
    pub entry: Vec<u8>,
    pub leaf: Vec<u8>,
    pub idx: Option<u64>,
    pub after: u64,
}

pub struct StaffStore {
    pool: SqlitePool,
}

fn json<T: serde::Serialize>(v: &T) -> Result<String, StaffError> {
    serde_json::to_string(v).map_err(|e| StaffError::Storage(e.to_string()))
}

fn parse<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, StaffError> {
    serde_json::from_str(s).map_err(|e| StaffError::Storage(format!("corrupt row: {e}")))
}

impl From<sqlx::Error> for StaffError {
    fn from(e: sqlx::Error) -> Self {
        StaffError::Storage(e.to_string())
    }
}

fn org_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<Org, StaffError> {
    let kind: String = r.try_get("kind")?;
    Ok(Org {
        org_id: r.try_get("org_id")?,
        kind: OrgKind::from_str(&kind).map_err(StaffError::Storage)?,
        country: r.try_get("country")?,
        networks: parse(&r.try_get::<String, _>("networks")?)?,
        scope: parse::<OrgScope>(&r.try_get::<String, _>("scope")?)?,
        suspended_at: r
            .try_get::<Option<i64>, _>("suspended_at")?
            .map(|v| v as u64),
    })
}

fn logged_event(r: &sqlx::sqlite::SqliteRow) -> Result<LoggedEvent, StaffError> {
    Ok(LoggedEvent {
        at: r.try_get::<i64, _>("at")? as u64,
        kind: r.try_get("kind")?,
        staff_id: r.try_get("staff_id")?,
        org_id: r.try_get("org_id")?,
        detail: parse(&r.try_get::<String, _>("detail")?)?,
        entry: r
            .try_get::<Option<Vec<u8>>, _>("entry")?
            .unwrap_or_default(),
        leaf: r.try_get::<Option<Vec<u8>>, _>("leaf")?.unwrap_or_default(),
        idx: r.try_get::<Option<i64>, _>("idx")?.map(|i| i as u64),
        after: r.try_get::<i64, _>("after")? as u64,
    })
}

fn member_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<StoredMember, StaffError> {
    Ok(StoredMember {
        member: StaffMember {
            staff_id: r.try_get("staff_id")?,
            org_id: r.try_get("org_id")?,
            roles: parse::<Vec<Role>>(&r.try_get::<String, _>("roles")?)?,
            suspended_at: r
                .try_get::<Option<i64>, _>("suspended_at")?
                .map(|v| v as u64),
            created_at: r.try_get::<i64, _>("created_at")? as u64,
        },
        password_hash: r.try_get("password_hash")?,
        totp_secret: r.try_get("totp_secret")?,
    })
}

impl StaffStore {
    pub async fn open(path: &Path) -> Result<StaffStore, StaffError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                StaffError::Storage(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let opts = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(std::time::Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts)
            .await?;
        sqlx::raw_sql(SCHEMA).execute(&pool).await?;
        let have: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info('events')")
            .fetch_all(&pool)
            .await?;
        for (column, kind) in LEDGER_COLUMNS {
            if !have.iter().any(|c| c == column) {
                sqlx::raw_sql(&format!("ALTER TABLE events ADD COLUMN {column} {kind}"))
                    .execute(&pool)
                    .await?;
            }
        }
        sqlx::raw_sql(EVENT_TRIGGERS).execute(&pool).await?;
        // Who read whom last, kept beside the events so the anomaly check
        // costs the same on the ten-thousandth read of an hour as on the
        // first; filled from the events when a store first gains it.
        let fresh: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) = 0 FROM sqlite_master WHERE name = 'recent_reads'",
        )
        .fetch_one(&pool)
        .await?;
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS recent_reads (staff_id TEXT NOT NULL, subject TEXT NOT NULL, \
             last_at BIGINT NOT NULL, PRIMARY KEY (staff_id, subject)) WITHOUT ROWID; \
             CREATE INDEX IF NOT EXISTS recent_reads_by_time ON recent_reads (staff_id, last_at);",
        )
        .execute(&pool)
        .await?;
        if fresh == 1 {
            sqlx::query(
                "INSERT OR REPLACE INTO recent_reads (staff_id, subject, last_at) \
                 SELECT staff_id, json_extract(detail, '$.subject'), MAX(at) FROM events \
                 WHERE kind = 'read' AND staff_id IS NOT NULL \
                 AND json_extract(detail, '$.subject') IS NOT NULL GROUP BY 1, 2",
            )
            .execute(&pool)
            .await?;
        }
        Ok(StaffStore { pool })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Writes an event with its ledger entry, not yet indexed.
    pub async fn append(
        &self,
        e: &Event,
        entry: &[u8],
        leaf: &[u8],
        after: u64,
    ) -> Result<(), StaffError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO events (at, kind, staff_id, org_id, detail, entry, leaf, after) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(e.at as i64)
        .bind(e.kind.as_str())
        .bind(&e.staff_id)
        .bind(&e.org_id)
        .bind(json(&e.detail)?)
        .bind(entry)
        .bind(leaf)
        .bind(after as i64)
        .execute(&mut *tx)
        .await?;
        if let (EventKind::Read, Some(staff_id), Some(subject)) = (
            e.kind,
            &e.staff_id,
            e.detail.get("subject").and_then(|v| v.as_str()),
        ) {
            sqlx::query(
                "INSERT OR REPLACE INTO recent_reads (staff_id, subject, last_at) VALUES (?, ?, ?)",
            )
            .bind(staff_id)
            .bind(subject)
            .bind(e.at as i64)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn set_event_index(&self, leaf: &[u8], idx: u64) -> Result<(), StaffError> {
        sqlx::query("UPDATE events SET idx = ? WHERE leaf = ? AND idx IS NULL")
            .bind(idx as i64)
            .bind(leaf)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn drop_pending_event(&self, leaf: &[u8]) -> Result<(), StaffError> {
        sqlx::query("DELETE FROM events WHERE leaf = ? AND idx IS NULL")
            .bind(leaf)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Events written but not yet given their ledger index.
    pub async fn pending_events(&self) -> Result<Vec<LoggedEvent>, StaffError> {
        sqlx::query("SELECT * FROM events WHERE leaf IS NOT NULL AND idx IS NULL ORDER BY id")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(logged_event)
            .collect()
    }

    /// Ledger entries held here with index at least `from`, by index.
    pub async fn ledger_events(
        &self,
        from: u64,
        limit: u32,
    ) -> Result<Vec<LoggedEvent>, StaffError> {
        sqlx::query("SELECT * FROM events WHERE idx >= ? ORDER BY idx LIMIT ?")
            .bind(from as i64)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(logged_event)
            .collect()
    }

    pub async fn events(&self, limit: u32) -> Result<Vec<serde_json::Value>, StaffError> {
        sqlx::query(
            "SELECT at, kind, staff_id, org_id, detail FROM events ORDER BY id DESC LIMIT ?",
        )
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(serde_json::json!({
                "at": r.try_get::<i64, _>("at")?,
                "kind": r.try_get::<String, _>("kind")?,
                "staff_id": r.try_get::<Option<String>, _>("staff_id")?,
                "org_id": r.try_get::<Option<String>, _>("org_id")?,
                "detail": parse::<serde_json::Value>(&r.try_get::<String, _>("detail")?)?,
            }))
        })
        .collect()
    }

    /// How many events of these kinds a staff member caused since `since`.
    pub async fn count_events(
        &self,
        staff_id: &str,
        kinds: &[EventKind],
        since: u64,
    ) -> Result<u64, StaffError> {
        let list = json(&kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>())?;
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM events WHERE staff_id = ? AND at >= ? \
             AND kind IN (SELECT value FROM json_each(?))",
        )
        .bind(staff_id)
        .bind(since as i64)
        .bind(list)
        .fetch_one(&self.pool)
        .await?;
        Ok(n as u64)
    }

    /// How many different people a staff member read since `since`.
    pub async fn people_read(&self, staff_id: &str, since: u64) -> Result<u64, StaffError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM recent_reads WHERE staff_id = ? AND last_at >= ?",
        )
        .bind(staff_id)
        .bind(since as i64)
        .fetch_one(&self.pool)
        .await?;
        Ok(n as u64)
    }

    pub async fn has_read(
        &self,
        staff_id: &str,
        subject: &str,
        since: u64,
    ) -> Result<bool, StaffError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM recent_reads WHERE staff_id = ? AND subject = ? AND last_at >= ?",
        )
        .bind(staff_id)
        .bind(subject)
        .bind(since as i64)
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    pub async fn insert_alert(&self, e: &Event) -> Result<(), StaffError> {
        sqlx::query(
            "INSERT INTO alerts (at, kind, staff_id, org_id, detail) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(e.at as i64)
        .bind(e.kind.as_str())
        .bind(e.staff_id.as_deref().unwrap_or(""))
        .bind(e.org_id.as_deref().unwrap_or(""))
        .bind(json(&e.detail)?)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn alerts(&self) -> Result<Vec<serde_json::Value>, StaffError> {
        sqlx::query(
            "SELECT at, kind, staff_id, org_id, detail FROM alerts ORDER BY id DESC LIMIT 500",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(serde_json::json!({
                "at": r.try_get::<i64, _>("at")?,
                "kind": r.try_get::<String, _>("kind")?,
                "staff_id": r.try_get::<String, _>("staff_id")?,
                "org_id": r.try_get::<String, _>("org_id")?,
                "detail": parse::<serde_json::Value>(&r.try_get::<String, _>("detail")?)?,
            }))
        })
        .collect()
    }

    pub async fn insert_review(&self, r: &Review) -> Result<(), StaffError> {
        sqlx::query("INSERT INTO reviews (grant_id, body, completed) VALUES (?, ?, 0)")
            .bind(&r.grant_id)
            .bind(json(r)?)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn review(&self, grant_id: &str) -> Result<Option<Review>, StaffError> {
        let body: Option<String> =
            sqlx::query_scalar("SELECT body FROM reviews WHERE grant_id = ?")
                .bind(grant_id)
                .fetch_optional(&self.pool)
                .await?;
        body.as_deref().map(parse).transpose()
    }

    pub async fn reviews(&self) -> Result<Vec<Review>, StaffError> {
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT body FROM reviews ORDER BY completed, rowid DESC LIMIT 500")
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(|b| parse(b)).collect()
    }

    /// Completes a review once; a second completion changes nothing.
    pub async fn complete_review(&self, r: &Review) -> Result<bool, StaffError> {
        let n = sqlx::query(
            "UPDATE reviews SET body = ?, completed = 1 WHERE grant_id = ? AND completed = 0",
        )
        .bind(json(r)?)
        .bind(&r.grant_id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    pub async fn has_staff(&self) -> Result<bool, StaffError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM staff")
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    pub async fn insert_org(&self, org: &Org) -> Result<(), StaffError> {
        let r = sqlx::query(
            "INSERT INTO orgs (org_id, kind, country, networks, scope, suspended_at) VALUES (?, ?, ?, ?, ?, NULL)",
        )
        .bind(&org.org_id)
        .bind(json(&org.kind)?.trim_matches('"').to_string())
        .bind(&org.country)
        .bind(json(&org.networks)?)
        .bind(json(&org.scope)?)
        .execute(&self.pool)
        .await;
        match r {
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                Err(StaffError::Exists(format!("organisation {}", org.org_id)))
            }
            r => r.map(|_| ()).map_err(Into::into),
        }
    }

    pub async fn org(&self, org_id: &str) -> Result<Option<Org>, StaffError> {
        sqlx::query("SELECT * FROM orgs WHERE org_id = ?")
            .bind(org_id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(org_from_row)
            .transpose()
    }

    pub async fn orgs(&self) -> Result<Vec<Org>, StaffError> {
        sqlx::query("SELECT * FROM orgs ORDER BY org_id")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(org_from_row)
            .collect()
    }

    pub async fn insert_member(&self, m: &StoredMember) -> Result<(), StaffError> {
        let r = sqlx::query(
            "INSERT INTO staff (staff_id, org_id, roles, password_hash, totp_secret, suspended_at, created_at) \
             VALUES (?, ?, ?, ?, ?, NULL, ?)",
        )
        .bind(&m.member.staff_id)
        .bind(&m.member.org_id)
        .bind(json(&m.member.roles)?)
        .bind(&m.password_hash)
        .bind(&m.totp_secret)
        .bind(m.member.created_at as i64)
        .execute(&self.pool)
        .await;
        match r {
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => Err(StaffError::Exists(
                format!("staff member {}", m.member.staff_id),
            )),
            r => r.map(|_| ()).map_err(Into::into),
        }
    }

    /// Every member's stored TOTP secret, as kept (sealed or not).
    pub async fn totp_secrets(&self) -> Result<Vec<(String, String)>, StaffError> {
        Ok(sqlx::query_as("SELECT staff_id, totp_secret FROM staff")
            .fetch_all(&self.pool)
            .await?)
    }

    pub async fn set_totp_secret(&self, staff_id: &str, stored: &str) -> Result<(), StaffError> {
        sqlx::query("UPDATE staff SET totp_secret = ? WHERE staff_id = ?")
            .bind(stored)
            .bind(staff_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn member(&self, staff_id: &str) -> Result<Option<StoredMember>, StaffError> {
        sqlx::query("SELECT * FROM staff WHERE staff_id = ?")
            .bind(staff_id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(member_from_row)
            .transpose()
    }

    pub async fn members(&self) -> Result<Vec<StaffMember>, StaffError> {
        sqlx::query("SELECT * FROM staff ORDER BY staff_id")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok(member_from_row(r)?.member))
            .collect()
    }

    pub async fn insert_session(
        &self,
        session_id: &str,
        staff_id: &str,
        org_id: &str,
        source: &str,
        now: u64,
        expires_at: u64,
    ) -> Result<(), StaffError> {
        sqlx::query(
            "INSERT INTO sessions (session_id, staff_id, org_id, source, created_at, expires_at, ended_at) \
             VALUES (?, ?, ?, ?, ?, ?, NULL)",
        )
        .bind(session_id)
        .bind(staff_id)
        .bind(org_id)
        .bind(source)
        .bind(now as i64)
        .bind(expires_at as i64)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn session(&self, session_id: &str) -> Result<Option<StoredSession>, StaffError> {
        let Some(r) = sqlx::query("SELECT * FROM sessions WHERE session_id = ?")
            .bind(session_id)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(StoredSession {
            session_id: r.try_get("session_id")?,
            staff_id: r.try_get("staff_id")?,
            org_id: r.try_get("org_id")?,
            expires_at: r.try_get::<i64, _>("expires_at")? as u64,
            ended_at: r.try_get::<Option<i64>, _>("ended_at")?.map(|v| v as u64),
        }))
    }

    pub async fn insert_grant(&self, g: &Grant) -> Result<(), StaffError> {
        sqlx::query(
            "INSERT INTO grants (grant_id, staff_id, org_id, state, body) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&g.grant_id)
        .bind(&g.staff_id)
        .bind(&g.org_id)
        .bind(json(&g.state)?)
        .bind(json(g)?)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn grant(&self, grant_id: &str) -> Result<Option<Grant>, StaffError> {
        let body: Option<String> = sqlx::query_scalar("SELECT body FROM grants WHERE grant_id = ?")
            .bind(grant_id)
            .fetch_optional(&self.pool)
            .await?;
        body.as_deref().map(parse).transpose()
    }

    /// Grants of one staff member, or all when `staff_id` is `None`.
    pub async fn grants(&self, staff_id: Option<&str>) -> Result<Vec<Grant>, StaffError> {
        let rows: Vec<String> = match staff_id {
            Some(s) => {
                sqlx::query_scalar(
                    "SELECT body FROM grants WHERE staff_id = ? ORDER BY rowid DESC LIMIT 1000",
                )
                .bind(s)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query_scalar("SELECT body FROM grants ORDER BY rowid DESC LIMIT 1000")
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter().map(|b| parse(b)).collect()
    }

    /// Open grants (pending or approved) that name a person.
    pub async fn grants_naming(&self, handle: &str) -> Result<Vec<Grant>, StaffError> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT body FROM grants WHERE state IN ('\"pending\"', '\"approved\"') \
             AND EXISTS (SELECT 1 FROM json_each(json_extract(body, '$.subjects')) WHERE value = ?) \
             ORDER BY rowid DESC LIMIT 200",
        )
        .bind(handle)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|b| parse(b)).collect()
    }

    /// Replaces a grant only if it is still in state `from`: two approvers
    /// racing, or a revocation racing an approval, cannot both win.
    pub async fn update_grant(&self, g: &Grant, from: GrantState) -> Result<bool, StaffError> {
        let n =
            sqlx::query("UPDATE grants SET state = ?, body = ? WHERE grant_id = ? AND state = ?")
                .bind(json(&g.state)?)
                .bind(json(g)?)
                .bind(&g.grant_id)
                .bind(json(&from)?)
                .execute(&self.pool)
                .await?
                .rows_affected();
        Ok(n == 1)
    }

    /// Suspends an organisation and ends all its sessions in one transaction.
    pub async fn suspend_org(&self, org_id: &str, now: u64) -> Result<u64, StaffError> {
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query(
            "UPDATE orgs SET suspended_at = ? WHERE org_id = ? AND suspended_at IS NULL",
        )
        .bind(now as i64)
        .bind(org_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM orgs WHERE org_id = ?")
                .bind(org_id)
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_none() {
                return Err(StaffError::NotFound(format!("organisation {org_id}")));
            }
        }
        let ended =
            sqlx::query("UPDATE sessions SET ended_at = ? WHERE org_id = ? AND ended_at IS NULL")
                .bind(now as i64)
                .bind(org_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        // Every grant of the organisation ends with it.
        let open: Vec<String> = sqlx::query_scalar(
            "SELECT body FROM grants WHERE org_id = ? AND state IN ('\"pending\"', '\"approved\"')",
        )
        .bind(org_id)
        .fetch_all(&mut *tx)
        .await?;
        for body in open {
            let mut g: Grant = parse(&body)?;
            g.state = GrantState::Revoked;
            g.decided_at = Some(now);
            g.decided_by = Some(format!("suspension of {org_id}"));
            sqlx::query("UPDATE grants SET state = ?, body = ? WHERE grant_id = ?")
                .bind(json(&g.state)?)
                .bind(json(&g)?)
                .bind(&g.grant_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(ended)
    }

    /// Suspends a staff member and ends all their sessions in one transaction.
    pub async fn suspend_member(&self, staff_id: &str, now: u64) -> Result<u64, StaffError> {
        let mut tx = self.pool.begin().await?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM staff WHERE staff_id = ?")
            .bind(staff_id)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StaffError::NotFound(format!("staff member {staff_id}")));
        }
        sqlx::query(
            "UPDATE staff SET suspended_at = ? WHERE staff_id = ? AND suspended_at IS NULL",
        )
        .bind(now as i64)
        .bind(staff_id)
        .execute(&mut *tx)
        .await?;
        let ended =
            sqlx::query("UPDATE sessions SET ended_at = ? WHERE staff_id = ? AND ended_at IS NULL")
                .bind(now as i64)
                .bind(staff_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        tx.commit().await?;
        Ok(ended)
    }
}
