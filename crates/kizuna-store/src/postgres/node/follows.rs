//! Who follows which official account, through which chat.

use sqlx::Row;

use super::PgStore;
use crate::{Follow, Result};

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
