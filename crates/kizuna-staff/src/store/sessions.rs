//! Staff sessions as stored: when each expires and whether it was ended;
//! and the failed guesses that lock a staff id out of opening one.

use sqlx::Row;

use super::StaffStore;
use crate::StaffError;

pub struct StoredSession {
    pub session_id: String,
    pub staff_id: String,
    pub org_id: String,
    pub expires_at: u64,
    pub ended_at: Option<u64>,
}

impl StaffStore {
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
             VALUES ($1, $2, $3, $4, $5, $6, NULL)",
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
        let Some(r) = sqlx::query("SELECT * FROM sessions WHERE session_id = $1")
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

    /// Ends one session now; false when it had already ended.
    pub async fn end_session(&self, session_id: &str, now: u64) -> Result<bool, StaffError> {
        let ended = sqlx::query(
            "UPDATE sessions SET ended_at = $1 WHERE session_id = $2 AND ended_at IS NULL",
        )
        .bind(now as i64)
        .bind(session_id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(ended == 1)
    }

    /// Notes a checked guess that failed, and forgets those older than
    /// `forget_before`; answers how many failed since `since`.
    pub async fn note_login_failure(
        &self,
        staff_id: &str,
        at: u64,
        since: u64,
        forget_before: u64,
    ) -> Result<u64, StaffError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM login_failures WHERE at < $1")
            .bind(forget_before.min(i64::MAX as u64) as i64)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO login_failures (staff_id, at) VALUES ($1, $2)")
            .bind(staff_id)
            .bind(at as i64)
            .execute(&mut *tx)
            .await?;
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM login_failures WHERE staff_id = $1 AND at >= $2",
        )
        .bind(staff_id)
        .bind(since as i64)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(n as u64)
    }

    /// How many checked guesses at a staff id failed since `since`.
    pub async fn login_failures(&self, staff_id: &str, since: u64) -> Result<u64, StaffError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM login_failures WHERE staff_id = $1 AND at >= $2",
        )
        .bind(staff_id)
        .bind(since as i64)
        .fetch_one(&self.pool)
        .await?;
        Ok(n as u64)
    }
}
