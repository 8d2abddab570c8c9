//! Official accounts' applications as stored: each as a whole body beside
//! the columns it is looked up by, replaced only from the state it was read
//! in, so two people deciding at once cannot both win.

use kizuna_wire::staff::OfficialReview;
use kizuna_wire::ApplicationState;

use super::{json, parse, StaffStore};
use crate::StaffError;

impl StaffStore {
    /// Keeps a new application; answers false, keeping nothing, when
    /// another of the same account is waiting.
    pub async fn insert_application(&self, r: &OfficialReview) -> Result<bool, StaffError> {
        let a = &r.application;
        let kept = sqlx::query(
            "INSERT INTO official_applications (application_id, handle, account_id, state, body) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&a.application_id)
        .bind(&a.claim.handle)
        .bind(&a.claim.account_id)
        .bind(a.state.name())
        .bind(json(r)?)
        .execute(&self.pool)
        .await;
        match kept {
            Ok(_) => Ok(true),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn application(&self, id: &str) -> Result<Option<OfficialReview>, StaffError> {
        let body: Option<String> =
            sqlx::query_scalar("SELECT body FROM official_applications WHERE application_id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        body.as_deref().map(parse).transpose()
    }

    /// The newest applications (at most 1,000), of one account or all.
    pub async fn applications(
        &self,
        account_id: Option<&str>,
    ) -> Result<Vec<OfficialReview>, StaffError> {
        let rows: Vec<String> = match account_id {
            Some(a) => {
                sqlx::query_scalar(
                    "SELECT body FROM official_applications WHERE account_id = $1 \
                 ORDER BY rowid DESC LIMIT 1000",
                )
                .bind(a)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query_scalar(
                    "SELECT body FROM official_applications ORDER BY rowid DESC LIMIT 1000",
                )
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(|b| parse(b)).collect()
    }

    /// Replaces an application only if it is still in state `from`;
    /// answers whether it was.
    pub async fn update_application(
        &self,
        r: &OfficialReview,
        from: ApplicationState,
    ) -> Result<bool, StaffError> {
        let n = sqlx::query(
            "UPDATE official_applications SET state = $1, body = $2 \
             WHERE application_id = $3 AND state = $4",
        )
        .bind(r.application.state.name())
        .bind(json(r)?)
        .bind(&r.application.application_id)
        .bind(from.name())
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }
}
