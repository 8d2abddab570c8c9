//! Staff sessions as stored: when each expires and whether it was ended.

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
}
