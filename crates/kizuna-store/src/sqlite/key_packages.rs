//! Key packages: a device's one-time packages and its last-resort one, added,
//! counted, and claimed by whoever adds the device to a group.

use sqlx::{QueryBuilder, Row, Sqlite, Transaction};

use super::SqliteStore;
use crate::{KeyPackageCount, Result};

impl SqliteStore {
    pub(crate) async fn add_key_packages(
        &self,
        device_id: &str,
        one_time: Vec<Vec<u8>>,
        last_resort: Option<Vec<u8>>,
        max: u32,
    ) -> Result<Result<KeyPackageCount, u32>> {
        let _w = self.writer.lock().await;
        let mut tx = self.pool.begin().await?;
        let have: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM key_packages WHERE device_id = ? AND last_resort = 0",
        )
        .bind(device_id)
        .fetch_one(&mut *tx)
        .await?;
        let total = have as u64 + one_time.len() as u64;
        if total > max as u64 {
            return Ok(Err(have as u32));
        }
        Self::insert_key_packages(&mut tx, device_id, &one_time, last_resort.as_deref()).await?;
        tx.commit().await?;
        Ok(Ok(self.key_package_count(device_id).await?))
    }

    pub(crate) async fn claim_key_package(&self, device_id: &str) -> Result<Option<Vec<u8>>> {
        let _w = self.writer.lock().await;
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "SELECT kp_seq, last_resort, body FROM key_packages WHERE device_id = ? \
             ORDER BY last_resort, kp_seq LIMIT 1",
        )
        .bind(device_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let seq: i64 = row.try_get(0)?;
        let last_resort: i64 = row.try_get(1)?;
        let body: Vec<u8> = row.try_get(2)?;
        if last_resort == 0 {
            sqlx::query("DELETE FROM key_packages WHERE device_id = ? AND kp_seq = ?")
                .bind(device_id)
                .bind(seq)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Some(body))
    }

    pub(crate) async fn key_package_count(&self, device_id: &str) -> Result<KeyPackageCount> {
        let row = sqlx::query(
            "SELECT COALESCE(SUM(CASE WHEN last_resort = 0 THEN 1 ELSE 0 END), 0), \
                    COALESCE(SUM(last_resort), 0) FROM key_packages WHERE device_id = ?",
        )
        .bind(device_id)
        .fetch_one(&self.pool)
        .await?;
        let one: i64 = row.try_get(0)?;
        let lr: i64 = row.try_get(1)?;
        Ok(KeyPackageCount {
            one_time: one as u32,
            last_resort: lr > 0,
        })
    }

    pub(super) async fn insert_key_packages(
        tx: &mut Transaction<'_, Sqlite>,
        device_id: &str,
        one_time: &[Vec<u8>],
        last_resort: Option<&[u8]>,
    ) -> Result<()> {
        if let Some(lr) = last_resort {
            sqlx::query("DELETE FROM key_packages WHERE device_id = ? AND last_resort = 1")
                .bind(device_id)
                .execute(&mut **tx)
                .await?;
            let seq = Self::next_counter(tx, "kp_seq", 1).await?;
            sqlx::query("INSERT INTO key_packages (device_id, kp_seq, last_resort, body) VALUES (?, ?, 1, ?)")
                .bind(device_id)
                .bind(seq as i64)
                .bind(lr)
                .execute(&mut **tx)
                .await?;
        }
        if !one_time.is_empty() {
            let first = Self::next_counter(tx, "kp_seq", one_time.len() as u64).await?;
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO key_packages (device_id, kp_seq, last_resort, body) ",
            );
            qb.push_values(one_time.iter().enumerate(), |mut b, (i, kp)| {
                b.push_bind(device_id)
                    .push_bind((first + i as u64) as i64)
                    .push_bind(0i64)
                    .push_bind(kp.as_slice());
            });
            qb.build().execute(&mut **tx).await?;
        }
        Ok(())
    }

    async fn next_counter(tx: &mut Transaction<'_, Sqlite>, name: &str, n: u64) -> Result<u64> {
        let row =
            sqlx::query("UPDATE counters SET value = value + ? WHERE name = ? RETURNING value")
                .bind(n as i64)
                .bind(name)
                .fetch_one(&mut **tx)
                .await?;
        let end: i64 = row.try_get(0)?;
        Ok(end as u64 - n + 1)
    }
}
