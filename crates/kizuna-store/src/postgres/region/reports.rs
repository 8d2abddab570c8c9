//! Abuse reports filed by people of this region: filing, the moderation
//! queue's reads and updates, and deleting resolved ones once they expire.

use sqlx::postgres::PgRow;
use sqlx::Row;

use super::PgRegionStore;
use crate::region::ReportRow;
use crate::{Result, StoreError};

pub(super) const REPORT_COLUMNS: &str =
    "report_id, subject_id, message_key, created_at, reason, state, resolved_at, sealed";

impl PgRegionStore {
    pub(crate) async fn put_report(&self, r: ReportRow) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        // The reporter's row is held while the report is written, so a
        // concurrent erasure or replacement of them comes wholly before or
        // wholly after it (a reporter not held here is filed for as before).
        sqlx::query("SELECT subject_id FROM subjects WHERE subject_id = $1 FOR SHARE")
            .bind(&r.subject_id)
            .fetch_optional(&mut *tx)
            .await?;
        insert_report(&mut tx, &r).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn report(&self, report_id: &str) -> Result<Option<ReportRow>> {
        sqlx::query(&format!(
            "SELECT {REPORT_COLUMNS} FROM reports WHERE report_id = $1"
        ))
        .bind(report_id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(report_from_row)
        .transpose()
    }

    pub(crate) async fn reports_in(&self, states: &[&str], limit: u32) -> Result<Vec<ReportRow>> {
        sqlx::query(&format!(
            "SELECT {REPORT_COLUMNS} FROM reports WHERE state = ANY($1) \
             ORDER BY created_at LIMIT $2"
        ))
        .bind(states)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(report_from_row)
        .collect()
    }

    pub(crate) async fn reports_of(&self, subject_id: &str) -> Result<Vec<ReportRow>> {
        sqlx::query(&format!(
            "SELECT {REPORT_COLUMNS} FROM reports WHERE subject_id = $1 ORDER BY created_at"
        ))
        .bind(subject_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(report_from_row)
        .collect()
    }

    pub(crate) async fn update_report(&self, r: &ReportRow, from: &str) -> Result<bool> {
        // One statement: a node updating the same report at once waits for
        // this row's lock, then finds the state no longer `from`.
        Ok(sqlx::query(
            "UPDATE reports SET state = $1, resolved_at = $2, sealed = $3 \
             WHERE report_id = $4 AND state = $5",
        )
        .bind(&r.state)
        .bind(r.resolved_at.map(|t| t as i64))
        .bind(&r.sealed)
        .bind(&r.report_id)
        .bind(from)
        .execute(&self.pool)
        .await?
        .rows_affected()
            > 0)
    }

    pub(crate) async fn reports_resolved_before(
        &self,
        before: u64,
        limit: u32,
    ) -> Result<Vec<ReportRow>> {
        sqlx::query(&format!(
            "SELECT {REPORT_COLUMNS} FROM reports WHERE state = 'resolved' AND resolved_at <= $1 \
             ORDER BY resolved_at LIMIT $2"
        ))
        .bind(before as i64)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(report_from_row)
        .collect()
    }

    pub(crate) async fn delete_resolved_report(
        &self,
        report_id: &str,
        before: u64,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        // Emptied before it is deleted, under the same condition, so an
        // appeal that changed the state meanwhile keeps the report whole.
        // The old row versions are dead tuples until PostgreSQL reclaims
        // them (see the module's comment on erasure).
        let emptied = sqlx::query(
            "UPDATE reports SET sealed = ''::bytea, message_key = ''::bytea \
             WHERE report_id = $1 AND state = 'resolved' AND resolved_at <= $2",
        )
        .bind(report_id)
        .bind(before as i64)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if emptied == 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM reports WHERE report_id = $1")
            .bind(report_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }
}

pub(super) fn report_from_row(r: &PgRow) -> Result<ReportRow> {
    Ok(ReportRow {
        report_id: r.try_get("report_id")?,
        subject_id: r.try_get("subject_id")?,
        message_key: r.try_get("message_key")?,
        created_at: r.try_get::<i64, _>("created_at")? as u64,
        reason: r.try_get("reason")?,
        state: r.try_get("state")?,
        resolved_at: r
            .try_get::<Option<i64>, _>("resolved_at")?
            .map(|t| t as u64),
        sealed: r.try_get("sealed")?,
    })
}

pub(super) async fn insert_report(tx: &mut sqlx::PgConnection, r: &ReportRow) -> Result<()> {
    let done = sqlx::query(&format!(
        "INSERT INTO reports ({REPORT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT DO NOTHING"
    ))
    .bind(&r.report_id)
    .bind(&r.subject_id)
    .bind(&r.message_key)
    .bind(r.created_at as i64)
    .bind(&r.reason)
    .bind(&r.state)
    .bind(r.resolved_at.map(|t| t as i64))
    .bind(&r.sealed)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if done == 0 {
        return Err(StoreError::Conflict("report"));
    }
    Ok(())
}
