//! Key packages: a device's one-time packages and its last-resort one, added,
//! counted, and claimed by whoever adds the device to a group. Nodes add
//! and claim at once: the device's row is the lock that keeps its count
//! under the limit, and a claim takes a package no other claim holds.

use sqlx::{Postgres, QueryBuilder, Row, Transaction};

use super::PgStore;
use crate::{KeyPackageCount, Result};

impl PgStore {
    pub(crate) async fn add_key_packages(
        &self,
        device_id: &str,
        one_time: Vec<Vec<u8>>,
        last_resort: Option<Vec<u8>>,
        max: u32,
    ) -> Result<Result<KeyPackageCount, u32>> {
        let mut tx = self.pool.begin().await?;
        // Two nodes adding for one device at once count one after the other.
        sqlx::query("SELECT 1 FROM devices WHERE device_id = $1 FOR UPDATE")
            .bind(device_id)
            .fetch_optional(&mut *tx)
            .await?;
        let have: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM key_packages WHERE device_id = $1 AND NOT last_resort",
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
        // One statement: the package is locked as it is chosen, and one
        // another claim holds is passed over, so no two claims get the same.
        let claimed: Option<Vec<u8>> = sqlx::query_scalar(
            "DELETE FROM key_packages WHERE (device_id, kp_seq) = ( \
                SELECT device_id, kp_seq FROM key_packages \
                WHERE device_id = $1 AND NOT last_resort \
                ORDER BY kp_seq LIMIT 1 FOR UPDATE SKIP LOCKED) \
             RETURNING body",
        )
        .bind(device_id)
        .fetch_optional(&self.pool)
        .await?;
        if claimed.is_some() {
            return Ok(claimed);
        }
        Ok(sqlx::query_scalar(
            "SELECT body FROM key_packages WHERE device_id = $1 AND last_resort \
             ORDER BY kp_seq DESC LIMIT 1",
        )
        .bind(device_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub(crate) async fn key_package_count(&self, device_id: &str) -> Result<KeyPackageCount> {
        let row = sqlx::query(
            "SELECT COUNT(*) FILTER (WHERE NOT last_resort), COUNT(*) FILTER (WHERE last_resort) \
             FROM key_packages WHERE device_id = $1",
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
        tx: &mut Transaction<'_, Postgres>,
        device_id: &str,
        one_time: &[Vec<u8>],
        last_resort: Option<&[u8]>,
    ) -> Result<()> {
        if let Some(lr) = last_resort {
            sqlx::query("DELETE FROM key_packages WHERE device_id = $1 AND last_resort")
                .bind(device_id)
                .execute(&mut **tx)
                .await?;
            let seq = next_kp_seq(tx, 1).await?;
            sqlx::query(
                "INSERT INTO key_packages (device_id, kp_seq, last_resort, body) \
                 VALUES ($1, $2, TRUE, $3)",
            )
            .bind(device_id)
            .bind(seq as i64)
            .bind(lr)
            .execute(&mut **tx)
            .await?;
        }
        if !one_time.is_empty() {
            let first = next_kp_seq(tx, one_time.len() as u64).await?;
            // Well under PostgreSQL's limit of bound values per statement.
            for (c, chunk) in one_time.chunks(1000).enumerate() {
                let mut qb: QueryBuilder<Postgres> = QueryBuilder::new(
                    "INSERT INTO key_packages (device_id, kp_seq, last_resort, body) ",
                );
                qb.push_values(chunk.iter().enumerate(), |mut b, (i, kp)| {
                    b.push_bind(device_id)
                        .push_bind((first + (c * 1000 + i) as u64) as i64)
                        .push_bind(false)
                        .push_bind(kp.as_slice());
                });
                qb.build().execute(&mut **tx).await?;
            }
        }
        Ok(())
    }
}

/// Takes `n` key package numbers; answers the first.
async fn next_kp_seq(tx: &mut Transaction<'_, Postgres>, n: u64) -> Result<u64> {
    let end: i64 = sqlx::query_scalar(
        "UPDATE counters SET value = value + $1 WHERE name = 'kp_seq' RETURNING value",
    )
    .bind(n as i64)
    .fetch_one(&mut **tx)
    .await?;
    Ok(end as u64 - n + 1)
}
