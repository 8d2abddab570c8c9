//! The codes that prove a phone number: one live code per number, a few
//! guesses each, gone once they expire or prove it.

use super::{PhoneCode, SqliteRegionStore};
use crate::Result;

impl SqliteRegionStore {
    pub(crate) async fn put_phone_code(&self, code: PhoneCode, now: u64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM phone_codes WHERE expires_at <= ?")
            .bind(now as i64)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO phone_codes (phone_hash, code_hash, expires_at, tries) VALUES (?, ?, ?, ?)
             ON CONFLICT (phone_hash) DO UPDATE SET code_hash = excluded.code_hash,
                 expires_at = excluded.expires_at, tries = excluded.tries",
        )
        .bind(&code.phone_hash)
        .bind(&code.code_hash)
        .bind(code.expires_at as i64)
        .bind(code.tries as i64)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn spend_phone_code_try(
        &self,
        phone_hash: &[u8],
        now: u64,
    ) -> Result<Option<Vec<u8>>> {
        Ok(sqlx::query_scalar(
            "UPDATE phone_codes SET tries = tries - 1
             WHERE phone_hash = ? AND tries > 0 AND expires_at > ? RETURNING code_hash",
        )
        .bind(phone_hash)
        .bind(now as i64)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub(crate) async fn drop_phone_code(&self, phone_hash: &[u8]) -> Result<()> {
        sqlx::query("DELETE FROM phone_codes WHERE phone_hash = ?")
            .bind(phone_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(crate) async fn withdraw_phone_code(
        &self,
        phone_hash: &[u8],
        code_hash: &[u8],
    ) -> Result<()> {
        sqlx::query("DELETE FROM phone_codes WHERE phone_hash = ? AND code_hash = ?")
            .bind(phone_hash)
            .bind(code_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
