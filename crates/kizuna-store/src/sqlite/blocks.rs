//! Blocks as the node enforces them, by keyed hashes of the pair and of the
//! person blocked; never the accounts themselves.

use super::SqliteStore;
use crate::Result;

impl SqliteStore {
    pub(crate) async fn put_block(&self, pair: &[u8], blocked: &[u8]) -> Result<()> {
        let _w = self.writer.lock().await;
        sqlx::query(
            "INSERT INTO blocks (pair, blocked) VALUES (?, ?) ON CONFLICT (pair) DO NOTHING",
        )
        .bind(pair)
        .bind(blocked)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn remove_blocks(&self, pairs: &[Vec<u8>]) -> Result<()> {
        let _w = self.writer.lock().await;
        let mut tx = self.pool.begin().await?;
        for pair in pairs {
            sqlx::query("DELETE FROM blocks WHERE pair = ?")
                .bind(pair)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn remove_blocks_of(&self, blocked: &[u8]) -> Result<()> {
        let _w = self.writer.lock().await;
        sqlx::query("DELETE FROM blocks WHERE blocked = ?")
            .bind(blocked)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(crate) async fn has_block(&self, pair: &[u8]) -> Result<bool> {
        Ok(sqlx::query("SELECT 1 FROM blocks WHERE pair = ?")
            .bind(pair)
            .fetch_optional(&self.pool)
            .await?
            .is_some())
    }

    pub(crate) async fn blocked_accounts(&self) -> Result<Vec<Vec<u8>>> {
        Ok(sqlx::query_scalar("SELECT DISTINCT blocked FROM blocks")
            .fetch_all(&self.pool)
            .await?)
    }
}
