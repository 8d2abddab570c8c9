//! People's wrapped data keys: read one or many, walk them all in id order,
//! count them by region-key version, and rewrap them under a new region key.

use sqlx::postgres::PgRow;
use sqlx::Row;

use super::PgRegionStore;
use crate::region::WrappedKey;
use crate::Result;

const KEY_COLUMNS: &str =
    "subject_id, data_key_version, region_key_version, wrapped_key, created_at";

impl PgRegionStore {
    pub(crate) async fn wrapped_key(&self, subject_id: &str) -> Result<Option<WrappedKey>> {
        sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM subjects WHERE subject_id = $1"
        ))
        .bind(subject_id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(key_from_row)
        .transpose()
    }

    pub(crate) async fn wrapped_keys(&self, subject_ids: &[String]) -> Result<Vec<WrappedKey>> {
        // One array parameter, however many people.
        sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM subjects WHERE subject_id = ANY($1)"
        ))
        .bind(subject_ids)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(key_from_row)
        .collect()
    }

    pub(crate) async fn subjects_after(&self, after: &str, limit: u32) -> Result<Vec<WrappedKey>> {
        sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM subjects WHERE subject_id > $1 \
             ORDER BY subject_id LIMIT $2"
        ))
        .bind(after)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(key_from_row)
        .collect()
    }

    pub(crate) async fn key_versions(&self) -> Result<Vec<(u32, u64)>> {
        sqlx::query(
            "SELECT region_key_version, COUNT(*) AS n FROM subjects \
             GROUP BY region_key_version ORDER BY region_key_version",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get::<i64, _>("region_key_version")? as u32,
                r.try_get::<i64, _>("n")? as u64,
            ))
        })
        .collect()
    }

    pub(crate) async fn rewrap(&self, keys: &[(WrappedKey, Vec<u8>)]) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        let mut changed = 0;
        for (k, old) in keys {
            // Compared by content: a key replaced meanwhile (a move retried,
            // say) is never overwritten by one made from its predecessor.
            // A node rewrapping at the same time waits for this row's lock
            // and then finds the key no longer the one it started from.
            changed += sqlx::query(
                "UPDATE subjects SET wrapped_key = $1, region_key_version = $2 \
                 WHERE subject_id = $3 AND wrapped_key = $4",
            )
            .bind(&k.wrapped)
            .bind(k.region_key_version as i64)
            .bind(&k.subject_id)
            .bind(old)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(changed)
    }
}

pub(super) fn key_from_row(r: &PgRow) -> Result<WrappedKey> {
    Ok(WrappedKey {
        subject_id: r.try_get("subject_id")?,
        data_key_version: r.try_get::<i64, _>("data_key_version")? as u32,
        region_key_version: r.try_get::<i64, _>("region_key_version")? as u32,
        wrapped: r.try_get("wrapped_key")?,
        created_at: r.try_get::<i64, _>("created_at")? as u64,
    })
}
