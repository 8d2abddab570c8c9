//! Devices: finding an account's devices, when each signed in, and removing
//! one with everything that routes to it.

use sqlx::{Row, Sqlite, Transaction};

use super::SqliteStore;
use crate::{Device, Result};

const DEVICE_COLUMNS: &str = "d.device_id, d.account_id, a.handle, d.signature_key, d.label";

impl SqliteStore {
    pub(crate) async fn device(&self, device_id: &str) -> Result<Option<Device>> {
        let row = sqlx::query(&format!(
            "SELECT {DEVICE_COLUMNS} FROM devices d JOIN accounts a ON a.account_id = d.account_id WHERE d.device_id = ?"
        ))
        .bind(device_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Self::device_from_row).transpose()
    }

    pub(crate) async fn devices_without_key_entries(&self) -> Result<Vec<Device>> {
        let rows = sqlx::query(&format!(
            "SELECT {DEVICE_COLUMNS} FROM devices d JOIN accounts a ON a.account_id = d.account_id \
             WHERE NOT EXISTS (SELECT 1 FROM key_log k WHERE k.account_id = d.account_id) \
             ORDER BY d.account_id, d.created_at, d.device_id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::device_from_row).collect()
    }

    pub(crate) async fn devices_of(&self, account_id: &str) -> Result<Vec<Device>> {
        let rows = sqlx::query(&format!(
            "SELECT {DEVICE_COLUMNS} FROM devices d JOIN accounts a ON a.account_id = d.account_id \
             WHERE d.account_id = ? ORDER BY d.created_at, d.device_id"
        ))
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::device_from_row).collect()
    }

    pub(crate) async fn device_activity(
        &self,
        account_id: &str,
    ) -> Result<Vec<(Device, u64, Option<u64>)>> {
        let rows = sqlx::query(
            "SELECT d.device_id, d.account_id, a.handle, d.signature_key, d.label, d.created_at, \
             d.last_seen FROM devices d JOIN accounts a ON a.account_id = d.account_id \
             WHERE d.account_id = ? ORDER BY d.created_at, d.device_id",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    Device {
                        device_id: r.try_get(0)?,
                        account_id: r.try_get(1)?,
                        handle: r.try_get(2)?,
                        signature_key: r.try_get(3)?,
                        label: r.try_get(4)?,
                    },
                    r.try_get::<i64, _>(5)? as u64,
                    r.try_get::<Option<i64>, _>(6)?.map(|t| t as u64),
                ))
            })
            .collect()
    }

    pub(crate) async fn touch_device(&self, device_id: &str, now: u64) -> Result<()> {
        // Writes take turns on the writer's lock, as everywhere.
        let _w = self.writer.lock().await;
        sqlx::query("UPDATE devices SET last_seen = ? WHERE device_id = ?")
            .bind(now as i64)
            .bind(device_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(crate) async fn delete_device(&self, device_id: &str) -> Result<bool> {
        let mut w = self.writer.lock().await;
        let mut tx = self.pool.begin().await?;
        let gone = sqlx::query("SELECT 1 FROM devices WHERE device_id = ?")
            .bind(device_id)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        Self::delete_devices_in(&mut tx, &[device_id.to_string()]).await?;
        tx.commit().await?;
        w.groups.clear();
        w.release_all = true;
        Ok(gone)
    }

    /// Removes devices with their key packages, routing, deliveries and
    /// cursors.
    pub(super) async fn delete_devices_in(
        tx: &mut Transaction<'_, Sqlite>,
        devices: &[String],
    ) -> Result<()> {
        for d in devices {
            for sql in [
                "DELETE FROM devices WHERE device_id = ?",
                "DELETE FROM key_packages WHERE device_id = ?",
                "DELETE FROM memberships WHERE device_id = ?",
                "DELETE FROM deliveries WHERE device_id = ?",
                "DELETE FROM cursors WHERE device_id = ?",
                "DELETE FROM last_sends WHERE device_id = ?",
                // A revoked device fetches no file, not even one sent to it.
                "DELETE FROM file_readers WHERE device_id = ?",
            ] {
                sqlx::query(sql).bind(d).execute(&mut **tx).await?;
            }
        }
        Ok(())
    }

    fn device_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Device> {
        Ok(Device {
            device_id: row.try_get("device_id")?,
            account_id: row.try_get("account_id")?,
            handle: row.try_get("handle")?,
            signature_key: row.try_get("signature_key")?,
            label: row.try_get("label")?,
        })
    }
}
