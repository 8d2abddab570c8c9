//! The staff realm's events: the kinds there are, the rows that hold them
//! with their ledger entries, and the counts the anomaly rules ask for.

use sqlx::Row;

use super::{json, parse, StaffStore};
use crate::StaffError;

/// What happened in the staff realm. Each kind is spelt once, here; the
/// anomaly rules ask [`EventKind::is_refusal`], whose match names every
/// kind, so a new kind of refusal cannot escape them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Bootstrap,
    Login,
    /// A session ended by its member before it expired.
    Logout,
    /// One window's failed logins, counted: how many, why, which staff ids
    /// were tried and from where.
    LoginFailures,
    /// A failed login, one event each, as recorded before failures were
    /// counted per window; kept so older events keep their name.
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
    /// A file a reported message carries, opened with the key the
    /// reporter revealed.
    ReportFileOpened,
    ReportOpenDenied,
    ReportQueueDenied,
    ReportResolved,
    ReviewCompleted,
    Alert,
    Anomaly,
    /// An organisation applied for an official account (no staff member).
    OfficialApplied,
    /// The first person checked an application's evidence.
    OfficialProposed,
    /// The second person approved it: the badge follows in the key log.
    OfficialVerified,
    OfficialRejected,
    OfficialRevoked,
    /// The realm's rules refused a step on an official account.
    OfficialRefused,
}

impl EventKind {
    pub const ALL: [EventKind; 39] = [
        EventKind::Bootstrap,
        EventKind::Login,
        EventKind::Logout,
        EventKind::LoginFailures,
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
        EventKind::ReportFileOpened,
        EventKind::ReportOpenDenied,
        EventKind::ReportQueueDenied,
        EventKind::ReportResolved,
        EventKind::ReviewCompleted,
        EventKind::Alert,
        EventKind::Anomaly,
        EventKind::OfficialApplied,
        EventKind::OfficialProposed,
        EventKind::OfficialVerified,
        EventKind::OfficialRejected,
        EventKind::OfficialRevoked,
        EventKind::OfficialRefused,
    ];

    /// The name stored and hashed into the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Bootstrap => "bootstrap",
            EventKind::Login => "login",
            EventKind::Logout => "logout",
            EventKind::LoginFailures => "login_failures",
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
            EventKind::ReportFileOpened => "report_file_opened",
            EventKind::ReportOpenDenied => "report_open_denied",
            EventKind::ReportQueueDenied => "report_queue_denied",
            EventKind::ReportResolved => "report_resolved",
            EventKind::ReviewCompleted => "review_completed",
            EventKind::Alert => "alert",
            EventKind::Anomaly => "anomaly",
            EventKind::OfficialApplied => "official_applied",
            EventKind::OfficialProposed => "official_proposed",
            EventKind::OfficialVerified => "official_verified",
            EventKind::OfficialRejected => "official_rejected",
            EventKind::OfficialRevoked => "official_revoked",
            EventKind::OfficialRefused => "official_refused",
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
            | EventKind::ReportQueueDenied
            | EventKind::OfficialRefused => true,
            EventKind::Bootstrap
            | EventKind::Login
            | EventKind::Logout
            | EventKind::LoginFailures
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
            | EventKind::ReportFileOpened
            | EventKind::ReportResolved
            | EventKind::ReviewCompleted
            | EventKind::Alert
            | EventKind::Anomaly
            | EventKind::OfficialApplied
            | EventKind::OfficialProposed
            | EventKind::OfficialVerified
            | EventKind::OfficialRejected
            | EventKind::OfficialRevoked => false,
        }
    }
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

fn logged_event(r: &sqlx::any::AnyRow) -> Result<LoggedEvent, StaffError> {
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

impl StaffStore {
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
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
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
                "INSERT INTO recent_reads (staff_id, subject, last_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (staff_id, subject) DO UPDATE SET last_at = excluded.last_at",
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
        sqlx::query("UPDATE events SET idx = $1 WHERE leaf = $2 AND idx IS NULL")
            .bind(idx as i64)
            .bind(leaf)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Notes the index of the event just appended, which this node wrote.
    /// Should another node have taken it back meanwhile (its append outlived
    /// the grace, or the clocks disagree), it is written again, numbered:
    /// its leaf is in the ledger, and what it records happens.
    pub async fn number_appended(
        &self,
        e: &Event,
        entry: &[u8],
        leaf: &[u8],
        after: u64,
        idx: u64,
    ) -> Result<(), StaffError> {
        let numbered = sqlx::query("UPDATE events SET idx = $1 WHERE leaf = $2 AND idx IS NULL")
            .bind(idx as i64)
            .bind(leaf)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if numbered == 1 {
            return Ok(());
        }
        let held: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE leaf = $1")
            .bind(leaf)
            .fetch_one(&self.pool)
            .await?;
        if held == 0 {
            tracing::warn!(
                idx,
                "a staff event was taken back while its append was under way; written again"
            );
            sqlx::query(
                "INSERT INTO events (at, kind, staff_id, org_id, detail, entry, leaf, after, idx) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(e.at as i64)
            .bind(e.kind.as_str())
            .bind(&e.staff_id)
            .bind(&e.org_id)
            .bind(json(&e.detail)?)
            .bind(entry)
            .bind(leaf)
            .bind(after as i64)
            .bind(idx as i64)
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    pub async fn drop_pending_event(&self, leaf: &[u8]) -> Result<(), StaffError> {
        sqlx::query("DELETE FROM events WHERE leaf = $1 AND idx IS NULL")
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

    /// The governed reads recorded under a staff member's or an
    /// organisation's credentials (either, or both) between two times.
    pub async fn read_events(
        &self,
        staff_id: Option<&str>,
        org_id: Option<&str>,
        from: u64,
        to: u64,
    ) -> Result<Vec<LoggedEvent>, StaffError> {
        let time = |t: u64| t.min(i64::MAX as u64) as i64;
        sqlx::query(
            "SELECT * FROM events WHERE kind = $1 AND ($2 IS NULL OR staff_id = $3) \
             AND ($4 IS NULL OR org_id = $5) AND at >= $6 AND at <= $7 ORDER BY at, id",
        )
        .bind(EventKind::Read.as_str())
        .bind(staff_id)
        .bind(staff_id)
        .bind(org_id)
        .bind(org_id)
        .bind(time(from))
        .bind(time(to))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(logged_event)
        .collect()
    }

    /// Every numbered event of these kinds, in ledger order.
    pub async fn events_of_kinds(
        &self,
        kinds: &[EventKind],
    ) -> Result<Vec<LoggedEvent>, StaffError> {
        let mut all = Vec::new();
        for kind in kinds {
            let rows = sqlx::query("SELECT * FROM events WHERE kind = $1 AND idx IS NOT NULL")
                .bind(kind.as_str())
                .fetch_all(&self.pool)
                .await?;
            for r in &rows {
                all.push(logged_event(r)?);
            }
        }
        all.sort_by_key(|e| e.idx);
        Ok(all)
    }

    /// The details of the events of one kind since `since`, oldest first.
    pub async fn details_since(
        &self,
        kind: EventKind,
        since: u64,
    ) -> Result<Vec<serde_json::Value>, StaffError> {
        sqlx::query("SELECT detail FROM events WHERE kind = $1 AND at >= $2 ORDER BY at, id")
            .bind(kind.as_str())
            .bind(since.min(i64::MAX as u64) as i64)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| parse::<serde_json::Value>(&r.try_get::<String, _>("detail")?))
            .collect()
    }

    /// The numbered event with the highest index, if any.
    pub async fn last_numbered_event(&self) -> Result<Option<LoggedEvent>, StaffError> {
        sqlx::query("SELECT * FROM events WHERE idx IS NOT NULL ORDER BY idx DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(logged_event)
            .transpose()
    }

    /// Ledger entries held here with index at least `from`, by index.
    pub async fn ledger_events(
        &self,
        from: u64,
        limit: u32,
    ) -> Result<Vec<LoggedEvent>, StaffError> {
        sqlx::query("SELECT * FROM events WHERE idx >= $1 ORDER BY idx LIMIT $2")
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
            "SELECT at, kind, staff_id, org_id, detail FROM events ORDER BY id DESC LIMIT $1",
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
        // `IN ()` is no SQL on PostgreSQL; no kind, nothing counted.
        if kinds.is_empty() {
            return Ok(0);
        }
        // One placeholder per kind: the list is short and the same SQL
        // runs on both backends.
        let kinds_in = (0..kinds.len())
            .map(|i| format!("${}", i + 3))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT COUNT(*) FROM events WHERE staff_id = $1 AND at >= $2 AND kind IN ({kinds_in})"
        );
        let mut query = sqlx::query_scalar::<_, i64>(&sql)
            .bind(staff_id)
            .bind(since as i64);
        for k in kinds {
            query = query.bind(k.as_str());
        }
        let n = query.fetch_one(&self.pool).await?;
        Ok(n as u64)
    }

    /// How many different people a staff member read since `since`.
    pub async fn people_read(&self, staff_id: &str, since: u64) -> Result<u64, StaffError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM recent_reads WHERE staff_id = $1 AND last_at >= $2",
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
            "SELECT COUNT(*) FROM recent_reads WHERE staff_id = $1 AND subject = $2 AND last_at >= $3",
        )
        .bind(staff_id)
        .bind(subject)
        .bind(since as i64)
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }
}
