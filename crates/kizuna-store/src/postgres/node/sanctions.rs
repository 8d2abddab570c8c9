//! Sanctions: the restrictions and suspensions moderators' decisions put on
//! accounts, one per decided report.

use sqlx::Row;

use super::PgStore;
use crate::{Result, Sanction};

impl PgStore {
    pub(crate) async fn set_sanction(
        &self,
        account_id: &str,
        report_id: &str,
        sanction: Option<Sanction>,
    ) -> Result<()> {
        match sanction {
            None => {
                sqlx::query("DELETE FROM sanctions WHERE account_id = $1 AND report_id = $2")
                    .bind(account_id)
                    .bind(report_id)
                    .execute(&self.pool)
                    .await?;
            }
            Some(x) => {
                sqlx::query(
                    "INSERT INTO sanctions (account_id, report_id, sending_only, until) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (account_id, report_id) DO UPDATE \
                     SET sending_only = excluded.sending_only, until = excluded.until",
                )
                .bind(account_id)
                .bind(report_id)
                .bind(x.sending_only)
                .bind(x.until.map(|u| u as i64))
                .execute(&self.pool)
                .await?;
            }
        }
        Ok(())
    }

    pub(crate) async fn sanctions(&self) -> Result<Vec<(String, String, Sanction)>> {
        sqlx::query("SELECT account_id, report_id, sending_only, until FROM sanctions")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok((
                    r.try_get("account_id")?,
                    r.try_get("report_id")?,
                    Sanction {
                        sending_only: r.try_get("sending_only")?,
                        until: r.try_get::<Option<i64>, _>("until")?.map(|u| u as u64),
                    },
                ))
            })
            .collect()
    }

    pub(crate) async fn lift_sanctions_of_reports(&self, report_ids: &[String]) -> Result<()> {
        if report_ids.is_empty() {
            return Ok(());
        }
        sqlx::query("DELETE FROM sanctions WHERE report_id = ANY($1)")
            .bind(report_ids)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
