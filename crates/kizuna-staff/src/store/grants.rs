//! Grants as stored: each as a whole body beside the columns it is looked up
//! by, and replaced only from the state it was read in.

use kizuna_wire::staff::{Grant, GrantState};

use super::{json, parse, Dialect, StaffStore};
use crate::StaffError;

impl StaffStore {
    pub async fn insert_grant(&self, g: &Grant) -> Result<(), StaffError> {
        sqlx::query(
            "INSERT INTO grants (grant_id, staff_id, org_id, state, body) VALUES ($1, $2, $3, $4, $5)",
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
        let body: Option<String> =
            sqlx::query_scalar("SELECT body FROM grants WHERE grant_id = $1")
                .bind(grant_id)
                .fetch_optional(&self.pool)
                .await?;
        body.as_deref().map(parse).transpose()
    }

    /// Grants of one staff member, or all when `staff_id` is `None`.
    pub async fn grants(&self, staff_id: Option<&str>) -> Result<Vec<Grant>, StaffError> {
        let rows: Vec<String> =
            match staff_id {
                Some(s) => sqlx::query_scalar(
                    "SELECT body FROM grants WHERE staff_id = $1 ORDER BY rowid DESC LIMIT 1000",
                )
                .bind(s)
                .fetch_all(&self.pool)
                .await?,
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
        let names_subject = match self.dialect {
            Dialect::Sqlite => {
                "EXISTS (SELECT 1 FROM json_each(json_extract(body, '$.subjects')) WHERE value = $1)"
            }
            Dialect::Postgres => "(body::jsonb -> 'subjects') @> jsonb_build_array($1::text)",
        };
        let rows: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT body FROM grants WHERE state IN ('\"pending\"', '\"approved\"') \
             AND {names_subject} ORDER BY rowid DESC LIMIT 200"
        ))
        .bind(handle)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|b| parse(b)).collect()
    }

    /// Replaces a grant only if it is still in state `from`: two approvers
    /// racing, or a revocation racing an approval, cannot both win.
    pub async fn update_grant(&self, g: &Grant, from: GrantState) -> Result<bool, StaffError> {
        let n = sqlx::query(
            "UPDATE grants SET state = $1, body = $2 WHERE grant_id = $3 AND state = $4",
        )
        .bind(json(&g.state)?)
        .bind(json(g)?)
        .bind(&g.grant_id)
        .bind(json(&from)?)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }
}
