//! Blocks as the node enforces them, by keyed hashes of the pair and of the
//! person blocked; never the accounts themselves.

use super::PgStore;
use crate::Result;

impl PgStore {
    pub(crate) async fn put_block(&self, pair: &[u8], blocked: &[u8]) -> Result<()> {
        sqlx::query(
            "INSERT INTO blocks (pair, blocked) VALUES ($1, $2) ON CONFLICT (pair) DO NOTHING",
        )
        .bind(pair)
        .bind(blocked)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn remove_blocks(&self, pairs: &[Vec<u8>]) -> Result<()> {
        if pairs.is_empty() {
            return Ok(());
        }
        sqlx::query("DELETE FROM blocks WHERE pair = ANY($1)")
            .bind(pairs)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(crate) async fn remove_blocks_of(&self, blocked: &[u8]) -> Result<()> {
        sqlx::query("DELETE FROM blocks WHERE blocked = $1")
            .bind(blocked)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(crate) async fn has_block(&self, pair: &[u8]) -> Result<bool> {
        Ok(sqlx::query("SELECT 1 FROM blocks WHERE pair = $1")
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
