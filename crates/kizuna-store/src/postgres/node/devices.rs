//! Devices: finding an account's devices, when each signed in, and removing
//! one with everything that routes to it.

use sqlx::postgres::PgRow;
use sqlx::{Postgres, Row, Transaction};

use super::PgStore;
use crate::{Device, Result};

const DEVICE_COLUMNS: &str = "d.device_id, d.account_id, a.handle, d.signature_key, d.label";

impl PgStore {
    pub(crate) async fn device(&self, device_id: &str) -> Result<Option<Device>> {
        let row = sqlx::query(&format!(
            "SELECT {DEVICE_COLUMNS} FROM devices d JOIN accounts a ON a.account_id = d.account_id \
             WHERE d.device_id = $1"
        ))
        .bind(device_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(device_from_row).transpose()
    }

    pub(crate) async fn devices_without_key_entries(&self) -> Result<Vec<Device>> {
        let rows = sqlx::query(&format!(
            "SELECT {DEVICE_COLUMNS} FROM devices d JOIN accounts a ON a.account_id = d.account_id \
             WHERE NOT EXISTS (SELECT 1 FROM key_log k WHERE k.account_id = d.account_id) \
             ORDER BY d.account_id, d.created_at, d.device_id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(device_from_row).collect()
    }

    pub(crate) async fn devices_of(&self, account_id: &str) -> Result<Vec<Device>> {
        let rows = sqlx::query(&format!(
            "SELECT {DEVICE_COLUMNS} FROM devices d JOIN accounts a ON a.account_id = d.account_id \
             WHERE d.account_id = $1 ORDER BY d.created_at, d.device_id"
        ))
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(device_from_row).collect()
    }

    pub(crate) async fn device_activity(
        &self,
        account_id: &str,
    ) -> Result<Vec<(Device, u64, Option<u64>)>> {
        let rows = sqlx::query(&format!(
            "SELECT {DEVICE_COLUMNS}, d.created_at, d.last_seen \
             FROM devices d JOIN accounts a ON a.account_id = d.account_id \
             WHERE d.account_id = $1 ORDER BY d.created_at, d.device_id"
        ))
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    device_from_row(r)?,
                    r.try_get::<i64, _>("created_at")? as u64,
                    r.try_get::<Option<i64>, _>("last_seen")?.map(|t| t as u64),
                ))
            })
            .collect()
    }

    pub(crate) async fn touch_device(&self, device_id: &str, now: u64) -> Result<()> {
        sqlx::query("UPDATE devices SET last_seen = $1 WHERE device_id = $2")
            .bind(now as i64)
            .bind(device_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(crate) async fn delete_device(&self, device_id: &str) -> Result<bool> {
        let devices = [device_id.to_string()];
        let mut tx = self.pool.begin().await?;
        Self::lock_groups_of(&mut tx, &devices).await?;
        let gone = sqlx::query("SELECT 1 FROM devices WHERE device_id = $1")
            .bind(device_id)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        Self::delete_devices_in(&mut tx, &devices).await?;
        tx.commit().await?;
        self.releasable.release_everything();
        Ok(gone)
    }

    /// Removes devices with their key packages, routing, deliveries and
    /// cursors. The caller holds the locks of the devices' groups; the rest
    /// goes in the order a batch locks a device's rows (last send, cursor,
    /// deliveries), so that the two never wait for each other.
    pub(super) async fn delete_devices_in(
        tx: &mut Transaction<'_, Postgres>,
        devices: &[String],
    ) -> Result<()> {
        if devices.is_empty() {
            return Ok(());
        }
        for sql in [
            "DELETE FROM devices WHERE device_id = ANY($1)",
            "DELETE FROM key_packages WHERE device_id = ANY($1)",
            "DELETE FROM memberships WHERE device_id = ANY($1)",
            "DELETE FROM last_sends WHERE device_id = ANY($1)",
            "DELETE FROM cursors WHERE device_id = ANY($1)",
            "DELETE FROM deliveries WHERE device_id = ANY($1)",
            // A revoked device fetches no file, not even one sent to it.
            "DELETE FROM file_readers WHERE device_id = ANY($1)",
        ] {
            sqlx::query(sql).bind(devices).execute(&mut **tx).await?;
        }
        Ok(())
    }
}

fn device_from_row(row: &PgRow) -> Result<Device> {
    Ok(Device {
        device_id: row.try_get("device_id")?,
        account_id: row.try_get("account_id")?,
        handle: row.try_get("handle")?,
        signature_key: row.try_get("signature_key")?,
        label: row.try_get("label")?,
    })
}
