//! Accounts: creating them (one or many at once), finding them, their home
//! region, deleting them.

use sqlx::postgres::PgRow;
use sqlx::{Postgres, Row, Transaction};

use super::PgStore;
use crate::{Account, NewAccount, Result, StoreError};

/// Names a uniqueness conflict as the SQLite store does, whichever node's
/// insert won the race; any other failure stays a backend one.
pub(super) fn conflict_of(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(d) = &e {
        match d.constraint() {
            Some("accounts_handle_unique") => return StoreError::Conflict("handle"),
            Some("devices_signature_key_unique") => return StoreError::Conflict("device key"),
            _ => {}
        }
    }
    e.into()
}

impl PgStore {
    pub(crate) async fn create_accounts(&self, accounts: Vec<NewAccount>) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for new in &accounts {
            // Checked first so that the conflict named is the one the
            // SQLite store names; an insert racing with another node's is
            // caught by the unique constraints and named the same way.
            let handle: Option<i32> =
                sqlx::query_scalar("SELECT 1 FROM accounts WHERE handle = $1")
                    .bind(&new.account.handle)
                    .fetch_optional(&mut *tx)
                    .await?;
            if handle.is_some() {
                return Err(StoreError::Conflict("handle"));
            }
            let key: Option<i32> =
                sqlx::query_scalar("SELECT 1 FROM devices WHERE signature_key = $1")
                    .bind(&new.device.signature_key)
                    .fetch_optional(&mut *tx)
                    .await?;
            if key.is_some() {
                return Err(StoreError::Conflict("device key"));
            }
            sqlx::query(
                "INSERT INTO accounts (account_id, handle, region, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(&new.account.account_id)
            .bind(&new.account.handle)
            .bind(&new.account.region)
            .bind(new.account.created_at as i64)
            .execute(&mut *tx)
            .await
            .map_err(conflict_of)?;
            sqlx::query(
                "INSERT INTO devices (device_id, account_id, signature_key, label, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&new.device.device_id)
            .bind(&new.account.account_id)
            .bind(&new.device.signature_key)
            .bind(&new.device.label)
            .bind(new.account.created_at as i64)
            .execute(&mut *tx)
            .await
            .map_err(conflict_of)?;
        }
        tx.commit().await.map_err(conflict_of)?;
        Ok(())
    }

    pub(crate) async fn account_by_handle(&self, handle: &str) -> Result<Option<Account>> {
        let row = sqlx::query(
            "SELECT account_id, handle, region, created_at FROM accounts WHERE handle = $1",
        )
        .bind(handle)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    pub(crate) async fn account_by_id(&self, account_id: &str) -> Result<Option<Account>> {
        let row = sqlx::query(
            "SELECT account_id, handle, region, created_at FROM accounts WHERE account_id = $1",
        )
        .bind(account_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    pub(crate) async fn accounts_by_ids(&self, account_ids: &[String]) -> Result<Vec<Account>> {
        sqlx::query(
            "SELECT account_id, handle, region, created_at FROM accounts WHERE account_id = ANY($1)",
        )
        .bind(account_ids)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(account_from_row)
        .collect()
    }

    pub(crate) async fn account_regions(&self) -> Result<Vec<(String, u64)>> {
        sqlx::query("SELECT region, COUNT(*) AS n FROM accounts GROUP BY region ORDER BY region")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("region")?, r.try_get::<i64, _>("n")? as u64)))
            .collect()
    }

    pub(crate) async fn set_region(&self, account_id: &str, region: &str) -> Result<()> {
        let n = sqlx::query("UPDATE accounts SET region = $1 WHERE account_id = $2")
            .bind(region)
            .bind(account_id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound("account"));
        }
        Ok(())
    }

    pub(crate) async fn delete_account(&self, account_id: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let devices: Vec<String> =
            sqlx::query_scalar("SELECT device_id FROM devices WHERE account_id = $1")
                .bind(account_id)
                .fetch_all(&mut *tx)
                .await?;
        // The devices' groups are locked before anything of theirs changes:
        // the lock order every writer follows.
        Self::lock_groups_of(&mut tx, &devices).await?;
        let gone = sqlx::query("DELETE FROM accounts WHERE account_id = $1")
            .bind(account_id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            > 0;
        for sql in [
            "DELETE FROM sanctions WHERE account_id = $1",
            "DELETE FROM agreements WHERE account_id = $1",
            "DELETE FROM link_requests WHERE account_id = $1",
            "DELETE FROM follows WHERE follower_id = $1 OR official_id = $1",
            "DELETE FROM announcements WHERE official_id = $1",
        ] {
            sqlx::query(sql).bind(account_id).execute(&mut *tx).await?;
        }
        Self::delete_devices_in(&mut tx, &devices).await?;
        tx.commit().await?;
        // What waited only for these devices can go.
        self.releasable.release_everything();
        Ok(gone || !devices.is_empty())
    }

    /// Locks the rows of the groups whose routing holds any of `devices`,
    /// in group id order.
    pub(super) async fn lock_groups_of(
        tx: &mut Transaction<'_, Postgres>,
        devices: &[String],
    ) -> Result<()> {
        if devices.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "SELECT group_id FROM groups WHERE group_id IN \
             (SELECT group_id FROM memberships WHERE device_id = ANY($1)) \
             ORDER BY group_id FOR UPDATE",
        )
        .bind(devices)
        .fetch_all(&mut **tx)
        .await?;
        Ok(())
    }
}

fn account_from_row(row: &PgRow) -> Result<Account> {
    Ok(Account {
        account_id: row.try_get("account_id")?,
        handle: row.try_get("handle")?,
        region: row.try_get("region")?,
        created_at: row.try_get::<i64, _>("created_at")? as u64,
    })
}
