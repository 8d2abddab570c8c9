//! The key log's entries: each binding of a handle to an account and of an
//! account to a device key, kept beside its leaf and ledger index.

use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::SqliteStore;
use crate::{KeyLogRow, Result};

fn key_log_row(r: &SqliteRow) -> Result<KeyLogRow> {
    Ok(KeyLogRow {
        leaf: r.try_get("leaf")?,
        idx: r.try_get::<Option<i64>, _>("idx")?.map(|i| i as u64),
        after: r.try_get::<i64, _>("after")? as u64,
        at: r.try_get::<i64, _>("at")? as u64,
        handle: r.try_get("handle")?,
        account_id: r.try_get("account_id")?,
        entry: r.try_get("entry")?,
    })
}

impl SqliteStore {
    pub(crate) async fn write_key_entry(&self, row: &KeyLogRow) -> Result<()> {
        self.write_key_entries(std::slice::from_ref(row)).await
    }

    pub(crate) async fn write_key_entries(&self, rows: &[KeyLogRow]) -> Result<()> {
        let _w = self.writer.lock().await;
        let mut tx = self.pool.begin().await?;
        for row in rows {
            sqlx::query(
                "INSERT INTO key_log (leaf, idx, after, at, handle, account_id, entry) \
                 VALUES (?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT (leaf) DO UPDATE SET idx = COALESCE(excluded.idx, key_log.idx)",
            )
            .bind(&row.leaf)
            .bind(row.idx.map(|i| i as i64))
            .bind(row.after as i64)
            .bind(row.at as i64)
            .bind(&row.handle)
            .bind(&row.account_id)
            .bind(&row.entry)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn drop_pending_key_entry(&self, leaf: &[u8]) -> Result<()> {
        let _w = self.writer.lock().await;
        sqlx::query("DELETE FROM key_log WHERE leaf = ? AND idx IS NULL")
            .bind(leaf)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(crate) async fn pending_key_entries(&self) -> Result<Vec<KeyLogRow>> {
        sqlx::query("SELECT * FROM key_log WHERE idx IS NULL ORDER BY at")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(key_log_row)
            .collect()
    }

    pub(crate) async fn key_entries(&self, handle: &str) -> Result<Vec<KeyLogRow>> {
        sqlx::query("SELECT * FROM key_log WHERE handle = ? AND idx IS NOT NULL ORDER BY idx")
            .bind(handle)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(key_log_row)
            .collect()
    }

    pub(crate) async fn key_entries_from(&self, from: u64, limit: u32) -> Result<Vec<KeyLogRow>> {
        sqlx::query("SELECT * FROM key_log WHERE idx >= ? ORDER BY idx LIMIT ?")
            .bind(from as i64)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(key_log_row)
            .collect()
    }

    pub(crate) async fn highest_key_entry(&self) -> Result<Option<KeyLogRow>> {
        sqlx::query("SELECT * FROM key_log WHERE idx IS NOT NULL ORDER BY idx DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(key_log_row)
            .transpose()
    }
}
