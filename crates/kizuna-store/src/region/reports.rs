//! Abuse reports filed by people of this region: filing, the moderation
//! queue's reads and updates, and deleting resolved ones once they expire.

use sqlx::Row;

use super::{ReportRow, SqliteRegionStore};
use crate::{Result, StoreError};

const REPORT_COLUMNS: &str =
    "report_id, subject_id, message_key, created_at, reason, state, resolved_at, sealed";

impl SqliteRegionStore {
    pub(crate) async fn put_report(&self, r: ReportRow) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        insert_report(&mut tx, &r).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn report(&self, report_id: &str) -> Result<Option<ReportRow>> {
        sqlx::query(&format!(
            "SELECT {REPORT_COLUMNS} FROM reports WHERE report_id = ?"
        ))
        .bind(report_id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(report_from_row)
        .transpose()
    }

    pub(crate) async fn reports_in(&self, states: &[&str], limit: u32) -> Result<Vec<ReportRow>> {
        let mut qb: sqlx::QueryBuilder<sqlx::Sqlite> = sqlx::QueryBuilder::new(format!(
            "SELECT {REPORT_COLUMNS} FROM reports WHERE state IN ("
        ));
        let mut sep = qb.separated(", ");
        for s in states {
            sep.push_bind(*s);
        }
        qb.push(") ORDER BY created_at LIMIT ")
            .push_bind(limit as i64);
        qb.build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(report_from_row)
            .collect()
    }

    pub(crate) async fn reports_of(&self, subject_id: &str) -> Result<Vec<ReportRow>> {
        sqlx::query(&format!(
            "SELECT {REPORT_COLUMNS} FROM reports WHERE subject_id = ? ORDER BY created_at"
        ))
        .bind(subject_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(report_from_row)
        .collect()
    }

    pub(crate) async fn update_report(&self, r: &ReportRow, from: &str) -> Result<bool> {
        Ok(sqlx::query(
            "UPDATE reports SET state = ?, resolved_at = ?, sealed = ? \
             WHERE report_id = ? AND state = ?",
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
            "SELECT {REPORT_COLUMNS} FROM reports WHERE state = 'resolved' AND resolved_at <= ? \
             ORDER BY resolved_at LIMIT ?"
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
        let gone = sqlx::query(
            "DELETE FROM reports WHERE report_id = ? AND state = 'resolved' AND resolved_at <= ?",
        )
        .bind(report_id)
        .bind(before as i64)
        .execute(&self.pool)
        .await?
        .rows_affected()
            > 0;
        // What was deleted leaves no frame behind in the WAL either.
        crate::truncate_wal(&self.pool).await?;
        Ok(gone)
    }
}

fn report_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<ReportRow> {
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

pub(super) async fn insert_report(tx: &mut sqlx::SqliteConnection, r: &ReportRow) -> Result<()> {
    let done = sqlx::query(&format!(
        "INSERT INTO reports ({REPORT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
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
