//! Alerts and break-glass reviews as stored, for the operator's security
//! staff.

use kizuna_wire::staff::Review;
use sqlx::Row;

use super::{json, parse, Event, StaffStore};
use crate::StaffError;

impl StaffStore {
    pub async fn insert_alert(&self, e: &Event) -> Result<(), StaffError> {
        sqlx::query(
            "INSERT INTO alerts (at, kind, staff_id, org_id, detail) VALUES ($1, $2, $3, $4, $5)",
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
        sqlx::query("INSERT INTO reviews (grant_id, body, completed) VALUES ($1, $2, 0)")
            .bind(&r.grant_id)
            .bind(json(r)?)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn review(&self, grant_id: &str) -> Result<Option<Review>, StaffError> {
        let body: Option<String> =
            sqlx::query_scalar("SELECT body FROM reviews WHERE grant_id = $1")
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
            "UPDATE reviews SET body = $1, completed = 1 WHERE grant_id = $2 AND completed = 0",
        )
        .bind(json(r)?)
        .bind(&r.grant_id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }
}
