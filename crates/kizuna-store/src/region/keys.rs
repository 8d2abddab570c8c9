//! People's wrapped data keys: read one or many, walk them all in id order,
//! count them by region-key version, and rewrap them under a new region key.

use sqlx::Row;

use super::{SqliteRegionStore, WrappedKey, ROWS_PER_STATEMENT};
use crate::Result;

const KEY_COLUMNS: &str =
    "subject_id, data_key_version, region_key_version, wrapped_key, created_at";

impl SqliteRegionStore {
    pub(crate) async fn wrapped_key(&self, subject_id: &str) -> Result<Option<WrappedKey>> {
        let row = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM subjects WHERE subject_id = ?"
        ))
        .bind(subject_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(key_from_row).transpose()
    }

    pub(crate) async fn wrapped_keys(&self, subject_ids: &[String]) -> Result<Vec<WrappedKey>> {
        let mut out = Vec::with_capacity(subject_ids.len());
        for chunk in subject_ids.chunks(ROWS_PER_STATEMENT) {
            let mut q = sqlx::QueryBuilder::new(format!(
                "SELECT {KEY_COLUMNS} FROM subjects WHERE subject_id IN ("
            ));
            let mut list = q.separated(", ");
            for id in chunk {
                list.push_bind(id);
            }
            q.push(")");
            for row in q.build().fetch_all(&self.pool).await? {
                out.push(key_from_row(&row)?);
            }
        }
        Ok(out)
    }

    pub(crate) async fn subjects_after(&self, after: &str, limit: u32) -> Result<Vec<WrappedKey>> {
        sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM subjects WHERE subject_id > ? ORDER BY subject_id LIMIT ?"
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
            changed += sqlx::query(
                "UPDATE subjects SET wrapped_key = ?, region_key_version = ? \
                 WHERE subject_id = ? AND wrapped_key = ?",
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

fn key_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<WrappedKey> {
    Ok(WrappedKey {
        subject_id: r.try_get("subject_id")?,
        data_key_version: r.try_get::<i64, _>("data_key_version")? as u32,
        region_key_version: r.try_get::<i64, _>("region_key_version")? as u32,
        wrapped: r.try_get("wrapped_key")?,
        created_at: r.try_get::<i64, _>("created_at")? as u64,
    })
}
