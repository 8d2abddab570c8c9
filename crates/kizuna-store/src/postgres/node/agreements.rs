//! The agreement each account's foreign reach stands on, as the node
//! enforces it.

use sqlx::Row;

use super::PgStore;
use crate::{Result, StandingAgreement};

impl PgStore {
    pub(crate) async fn agreement(&self, account_id: &str) -> Result<Option<StandingAgreement>> {
        let row = sqlx::query("SELECT region, version FROM agreements WHERE account_id = $1")
            .bind(account_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(StandingAgreement {
                region: r.try_get("region")?,
                version: r.try_get("version")?,
            })
        })
        .transpose()
    }

    pub(crate) async fn set_agreement(
        &self,
        account_id: &str,
        agreement: Option<StandingAgreement>,
    ) -> Result<()> {
        match agreement {
            None => {
                sqlx::query("DELETE FROM agreements WHERE account_id = $1")
                    .bind(account_id)
                    .execute(&self.pool)
                    .await?;
            }
            Some(a) => {
                sqlx::query(
                    "INSERT INTO agreements (account_id, region, version) VALUES ($1, $2, $3) \
                     ON CONFLICT (account_id) DO UPDATE \
                     SET region = excluded.region, version = excluded.version",
                )
                .bind(account_id)
                .bind(&a.region)
                .bind(&a.version)
                .execute(&self.pool)
                .await?;
            }
        }
        Ok(())
    }
}
