//! Announcements this device checked and kept, and how far it has read
//! the node's: both written in one transaction, so an announcement is
//! neither lost nor shown twice.

use kizuna_wire::SignedAnnouncement;

use super::Local;
use crate::official::ReceivedAnnouncement;
use crate::Result;

const CURSOR: &str = "announcements_after";

impl Local {
    /// The position after which the node's announcements are unread here.
    pub async fn announcements_after(&self) -> Result<u64> {
        Ok(self
            .meta(CURSOR)
            .await?
            .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
            .map_or(0, u64::from_be_bytes))
    }

    /// Keeps the announcements checked (`kept`, with what they show) and
    /// moves the cursor to `up_to`, past any refused.
    pub async fn keep_announcements(
        &self,
        kept: &[(SignedAnnouncement, ReceivedAnnouncement)],
        up_to: u64,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
        for (signed, shown) in kept {
            sqlx::query(
                "INSERT INTO announcements (pos, handle, id, shown, body, signature, device_id) \
                 VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            )
            .bind(signed.pos as i64)
            .bind(&signed.handle)
            .bind(&shown.id)
            .bind(serde_json::to_string(shown).map_err(|e| self.err(e))?)
            .bind(&signed.announcement.0)
            .bind(&signed.signature.0)
            .bind(&signed.device_id)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        }
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES (?, ?) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(CURSOR)
        .bind(up_to.to_be_bytes().to_vec())
        .execute(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        tx.commit().await.map_err(|e| self.err(e))
    }

    /// Whether this device kept `handle`'s announcement `id` already.
    pub async fn has_announcement(&self, handle: &str, id: &str) -> Result<bool> {
        Ok(
            sqlx::query("SELECT 1 FROM announcements WHERE handle = ? AND id = ?")
                .bind(handle)
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| self.err(e))?
                .is_some(),
        )
    }

    /// The announcements kept here, newest first, at most `limit`.
    pub async fn announcements(&self, limit: u32) -> Result<Vec<ReceivedAnnouncement>> {
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT shown FROM announcements ORDER BY pos DESC LIMIT ?")
                .bind(limit as i64)
                .fetch_all(&self.pool)
                .await
                .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| serde_json::from_str(r).map_err(|e| self.err(e)))
            .collect()
    }
}
