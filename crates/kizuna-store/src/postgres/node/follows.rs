//! Who follows which official account, through which chat.

use sqlx::Row;

use super::PgStore;
use crate::{Follow, Result, StoredAnnouncement};

fn follow_of(r: &sqlx::postgres::PgRow) -> Result<Follow> {
    Ok(Follow {
        official_id: r.try_get("official_id")?,
        follower_id: r.try_get("follower_id")?,
        group_id: r.try_get("group_id")?,
        since: r.try_get::<i64, _>("since")? as u64,
    })
}

impl PgStore {
    pub(crate) async fn follow(&self, f: &Follow) -> Result<bool> {
        // `xmax = 0` only for a row this statement inserted.
        let inserted: bool = sqlx::query_scalar(
            "INSERT INTO follows (official_id, follower_id, group_id, since) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (official_id, follower_id) DO UPDATE SET group_id = EXCLUDED.group_id \
             RETURNING (xmax = 0)",
        )
        .bind(&f.official_id)
        .bind(&f.follower_id)
        .bind(&f.group_id)
        .bind(f.since as i64)
        .fetch_one(&self.pool)
        .await?;
        Ok(inserted)
    }

    pub(crate) async fn follow_many(&self, follows: &[Follow]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for f in follows {
            sqlx::query(
                "INSERT INTO follows (official_id, follower_id, group_id, since) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (official_id, follower_id) DO NOTHING",
            )
            .bind(&f.official_id)
            .bind(&f.follower_id)
            .bind(&f.group_id)
            .bind(f.since as i64)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn unfollow(&self, official_id: &str, follower_id: &str) -> Result<bool> {
        Ok(
            sqlx::query("DELETE FROM follows WHERE official_id = $1 AND follower_id = $2")
                .bind(official_id)
                .bind(follower_id)
                .execute(&self.pool)
                .await?
                .rows_affected()
                > 0,
        )
    }

    pub(crate) async fn follows_of(&self, follower_id: &str) -> Result<Vec<Follow>> {
        sqlx::query("SELECT * FROM follows WHERE follower_id = $1 ORDER BY since, official_id")
            .bind(follower_id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(follow_of)
            .collect()
    }

    pub(crate) async fn followers_of(
        &self,
        official_id: &str,
        after: &str,
        limit: u32,
    ) -> Result<Vec<Follow>> {
        sqlx::query(
            "SELECT * FROM follows WHERE official_id = $1 AND follower_id > $2 \
             ORDER BY follower_id LIMIT $3",
        )
        .bind(official_id)
        .bind(after)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(follow_of)
        .collect()
    }
}

fn announcement_of(r: &sqlx::postgres::PgRow) -> Result<StoredAnnouncement> {
    Ok(StoredAnnouncement {
        pos: r.try_get::<i64, _>("pos")? as u64,
        official_id: r.try_get("official_id")?,
        device_id: r.try_get("device_id")?,
        body: r.try_get("body")?,
        signature: r.try_get("signature")?,
        at: r.try_get::<i64, _>("at")? as u64,
    })
}

impl PgStore {
    pub(crate) async fn followers_among(
        &self,
        official_id: &str,
        devices: &[String],
    ) -> Result<Vec<String>> {
        let mut found = Vec::new();
        for chunk in devices.chunks(500) {
            found.extend(
                sqlx::query_scalar(
                    "SELECT d.device_id FROM devices d WHERE d.device_id = ANY($2) \
                     AND EXISTS (SELECT 1 FROM follows f \
                                 WHERE f.official_id = $1 AND f.follower_id = d.account_id)",
                )
                .bind(official_id)
                .bind(chunk)
                .fetch_all(&self.pool)
                .await?,
            );
        }
        Ok(found)
    }

    pub(crate) async fn add_announcement(&self, a: &StoredAnnouncement) -> Result<u64> {
        // The table's lock makes positions follow commit order across
        // nodes: a device reading after a position never skips one that
        // commits later. Announcements are rare; messages never wait on it.
        let mut tx = self.pool.begin().await?;
        sqlx::query("LOCK TABLE announcements IN EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await?;
        let pos: i64 = sqlx::query_scalar(
            "INSERT INTO announcements (pos, official_id, device_id, body, signature, at) \
             VALUES (nextval('announcements_pos'), $1, $2, $3, $4, $5) RETURNING pos",
        )
        .bind(&a.official_id)
        .bind(&a.device_id)
        .bind(&a.body)
        .bind(&a.signature)
        .bind(a.at as i64)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(pos as u64)
    }

    pub(crate) async fn latest_announcement_for(&self, follower_id: &str) -> Result<u64> {
        let top: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(a.pos) FROM follows f JOIN announcements a ON a.official_id = f.official_id \
             WHERE f.follower_id = $1",
        )
        .bind(follower_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(top.unwrap_or(0).max(0) as u64)
    }

    pub(crate) async fn announcements_for(
        &self,
        follower_id: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<StoredAnnouncement>> {
        sqlx::query(
            "SELECT a.* FROM follows f JOIN announcements a ON a.official_id = f.official_id \
             WHERE f.follower_id = $1 AND a.pos > $2 ORDER BY a.pos LIMIT $3",
        )
        .bind(follower_id)
        .bind(after.min(i64::MAX as u64) as i64)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(announcement_of)
        .collect()
    }

    pub(crate) async fn forget_announcements_before(&self, at: u64) -> Result<u64> {
        let gone = sqlx::query("DELETE FROM announcements WHERE at < $1")
            .bind(at.min(i64::MAX as u64) as i64)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(gone)
    }
}
