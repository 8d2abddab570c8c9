//! Accounts: creating them (one or many at once), finding them, their home
//! region, deleting them, and the profiles an earlier version kept here.

use sqlx::{Row, Sqlite, Transaction};

use super::SqliteStore;
use crate::{Account, LegacyProfile, NewAccount, Result, StoreError};

impl SqliteStore {
    pub(crate) async fn create_accounts(&self, accounts: Vec<NewAccount>) -> Result<()> {
        let _w = self.writer.lock().await;
        let mut tx = self.pool.begin().await?;
        for new in &accounts {
            if exists(
                &mut tx,
                "SELECT 1 FROM accounts WHERE handle = ?",
                &new.account.handle,
            )
            .await?
            {
                return Err(StoreError::Conflict("handle"));
            }
            if exists(
                &mut tx,
                "SELECT 1 FROM devices WHERE signature_key = ?",
                &new.device.signature_key,
            )
            .await?
            {
                return Err(StoreError::Conflict("device key"));
            }
            sqlx::query(
                "INSERT INTO accounts (account_id, handle, region, created_at) VALUES (?, ?, ?, ?)",
            )
            .bind(&new.account.account_id)
            .bind(&new.account.handle)
            .bind(&new.account.region)
            .bind(new.account.created_at as i64)
            .execute(&mut *tx)
            .await?;
            sqlx::query("INSERT INTO devices (device_id, account_id, signature_key, label, created_at) VALUES (?, ?, ?, ?, ?)")
                .bind(&new.device.device_id)
                .bind(&new.account.account_id)
                .bind(&new.device.signature_key)
                .bind(&new.device.label)
                .bind(new.account.created_at as i64)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn account_by_handle(&self, handle: &str) -> Result<Option<Account>> {
        let row = sqlx::query(
            "SELECT account_id, handle, region, created_at FROM accounts WHERE handle = ?",
        )
        .bind(handle)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Self::account_from_row).transpose()
    }

    pub(crate) async fn account_by_id(&self, account_id: &str) -> Result<Option<Account>> {
        let row = sqlx::query(
            "SELECT account_id, handle, region, created_at FROM accounts WHERE account_id = ?",
        )
        .bind(account_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Self::account_from_row).transpose()
    }

    pub(crate) async fn accounts_by_ids(&self, account_ids: &[String]) -> Result<Vec<Account>> {
        let mut out = Vec::with_capacity(account_ids.len());
        for chunk in account_ids.chunks(500) {
            let mut q = sqlx::QueryBuilder::new(
                "SELECT account_id, handle, region, created_at FROM accounts WHERE account_id IN (",
            );
            let mut list = q.separated(", ");
            for id in chunk {
                list.push_bind(id);
            }
            q.push(")");
            for row in q.build().fetch_all(&self.pool).await? {
                out.push(Self::account_from_row(&row)?);
            }
        }
        Ok(out)
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
        let _w = self.writer.lock().await;
        let n = sqlx::query("UPDATE accounts SET region = ? WHERE account_id = ?")
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
        let mut w = self.writer.lock().await;
        let mut tx = self.pool.begin().await?;
        let devices: Vec<String> =
            sqlx::query_scalar("SELECT device_id FROM devices WHERE account_id = ?")
                .bind(account_id)
                .fetch_all(&mut *tx)
                .await?;
        let gone = sqlx::query("DELETE FROM accounts WHERE account_id = ?")
            .bind(account_id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            > 0;
        sqlx::query("DELETE FROM sanctions WHERE account_id = ?")
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM agreements WHERE account_id = ?")
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM follows WHERE follower_id = ? OR official_id = ?")
            .bind(account_id)
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM announcements WHERE official_id = ?")
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
        Self::delete_devices_in(&mut tx, &devices).await?;
        sqlx::query("DELETE FROM link_requests WHERE account_id = ?")
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
        // A profile an earlier version kept here is plaintext: overwritten
        // with zeros, not just unlinked, and its copy in the WAL emptied.
        let legacy: Option<i64> = sqlx::query_scalar("SELECT 1 FROM profiles WHERE account_id = ?")
            .bind(account_id)
            .fetch_optional(&mut *tx)
            .await?;
        if legacy.is_some() {
            sqlx::query("PRAGMA secure_delete = ON")
                .execute(&mut *tx)
                .await?;
        }
        for sql in [
            "DELETE FROM profiles WHERE account_id = ?",
            "DELETE FROM phone_index WHERE account_id = ?",
        ] {
            sqlx::query(sql).bind(account_id).execute(&mut *tx).await?;
        }
        if legacy.is_some() {
            sqlx::query("PRAGMA secure_delete = OFF")
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        if legacy.is_some() {
            crate::truncate_wal(&self.pool).await?;
        }
        // The writer's view of group members is rebuilt from disk, and the
        // next release looks at every group: what waited only for these
        // devices can go.
        w.groups.clear();
        w.release_all = true;
        Ok(gone || !devices.is_empty())
    }

    pub(crate) async fn legacy_profiles(&self, limit: u32) -> Result<Vec<LegacyProfile>> {
        sqlx::query(
            "SELECT p.account_id, a.region, p.sealed FROM profiles p \
             JOIN accounts a ON a.account_id = p.account_id ORDER BY p.account_id LIMIT ?",
        )
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(LegacyProfile {
                account_id: r.try_get("account_id")?,
                region: r.try_get("region")?,
                blob: r.try_get("sealed")?,
            })
        })
        .collect()
    }

    pub(crate) async fn drop_legacy_profile(&self, account_id: &str) -> Result<()> {
        let _w = self.writer.lock().await;
        let mut tx = self.pool.begin().await?;
        // The old row was plaintext: overwrite it with zeros, not just unlink it.
        sqlx::query("PRAGMA secure_delete = ON")
            .execute(&mut *tx)
            .await?;
        for sql in [
            "DELETE FROM profiles WHERE account_id = ?",
            "DELETE FROM phone_index WHERE account_id = ?",
        ] {
            sqlx::query(sql).bind(account_id).execute(&mut *tx).await?;
        }
        sqlx::query("PRAGMA secure_delete = OFF")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        // The old row's page is zeroed in the file; its earlier copy must
        // not stay in the WAL either.
        crate::truncate_wal(&self.pool).await
    }

    fn account_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Account> {
        Ok(Account {
            account_id: row.try_get("account_id")?,
            handle: row.try_get("handle")?,
            region: row.try_get("region")?,
            created_at: row.try_get::<i64, _>("created_at")? as u64,
        })
    }
}

/// Whether `sql` (a `SELECT 1 ... WHERE column = ?`) finds a row for `value`.
async fn exists<T>(tx: &mut Transaction<'_, Sqlite>, sql: &'static str, value: &T) -> Result<bool>
where
    T: for<'q> sqlx::Encode<'q, Sqlite> + sqlx::Type<Sqlite> + Sync,
{
    let row: Option<i64> = sqlx::query_scalar(sql)
        .bind(value)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.is_some())
}
