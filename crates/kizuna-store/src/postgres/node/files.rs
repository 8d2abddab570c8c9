//! Files people send, as the node routes them: who uploaded what to which
//! chat, how much has arrived, and which devices may fetch it. The bytes
//! themselves are sealed on the device and kept in a region's file store.

use sqlx::Row;

use super::PgStore;
use crate::{FileAttach, Result, StoredFile};

const COLUMNS: &str =
    "file_id, group_id, account_id, device_id, region, size, parts, received, ahead, created_at, sent_at";

fn row(r: &sqlx::postgres::PgRow) -> Result<StoredFile> {
    Ok(StoredFile {
        file_id: r.try_get("file_id")?,
        group_id: r.try_get("group_id")?,
        account_id: r.try_get("account_id")?,
        device_id: r.try_get("device_id")?,
        region: r.try_get("region")?,
        size: r.try_get::<i64, _>("size")? as u64,
        parts: r.try_get::<i64, _>("parts")? as u32,
        received: r.try_get::<i64, _>("received")? as u32,
        ahead: r.try_get::<i64, _>("ahead")? as u64,
        created_at: r.try_get::<i64, _>("created_at")? as u64,
        sent_at: r.try_get::<Option<i64>, _>("sent_at")?.map(|v| v as u64),
    })
}

impl PgStore {
    pub(crate) async fn begin_file(&self, f: StoredFile, quota: u64) -> Result<Result<(), u64>> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT 1 FROM accounts WHERE account_id = $1 FOR UPDATE")
            .bind(&f.account_id)
            .execute(&mut *tx)
            .await?;
        let used: i64 = sqlx::query_scalar(
            "SELECT COALESCE(SUM(size), 0)::BIGINT FROM files WHERE account_id = $1",
        )
        .bind(&f.account_id)
        .fetch_one(&mut *tx)
        .await?;
        let used = used as u64;
        if used.saturating_add(f.size) > quota {
            return Ok(Err(used));
        }
        sqlx::query(&format!(
            "INSERT INTO files ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, 0, $8, NULL)"
        ))
        .bind(&f.file_id)
        .bind(&f.group_id)
        .bind(&f.account_id)
        .bind(&f.device_id)
        .bind(&f.region)
        .bind(f.size as i64)
        .bind(f.parts as i64)
        .bind(f.created_at as i64)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    pub(crate) async fn file(&self, file_id: &str) -> Result<Option<StoredFile>> {
        sqlx::query(&format!("SELECT {COLUMNS} FROM files WHERE file_id = $1"))
            .bind(file_id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(row)
            .transpose()
    }

    pub(crate) async fn file_part_stored(&self, file_id: &str, n: u32) -> Result<u32> {
        let mut tx = self.pool.begin().await?;
        let Some(mut f) = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM files WHERE file_id = $1 FOR UPDATE"
        ))
        .bind(file_id)
        .fetch_optional(&mut *tx)
        .await?
        .as_ref()
        .map(row)
        .transpose()?
        else {
            return Ok(0);
        };
        let before = (f.received, f.ahead);
        f.part_kept(n);
        if (f.received, f.ahead) != before {
            sqlx::query("UPDATE files SET received = $1, ahead = $2 WHERE file_id = $3")
                .bind(f.received as i64)
                .bind(f.ahead as i64)
                .bind(file_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(f.received)
    }

    pub(crate) async fn attach_files(
        &self,
        file_ids: &[String],
        device_id: &str,
        group_id: &[u8],
        now: u64,
    ) -> Result<FileAttach> {
        let mut tx = self.pool.begin().await?;
        for id in file_ids {
            let f = sqlx::query(&format!(
                "SELECT {COLUMNS} FROM files WHERE file_id = $1 FOR UPDATE"
            ))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .as_ref()
            .map(row)
            .transpose()?;
            let refusal = match &f {
                None => Some(FileAttach::Unknown(id.clone())),
                Some(f) if f.device_id != device_id || f.group_id != group_id => {
                    Some(FileAttach::NotYours(id.clone()))
                }
                Some(f) if f.received < f.parts => Some(FileAttach::Incomplete(id.clone())),
                Some(_) => None,
            };
            if let Some(r) = refusal {
                return Ok(r);
            }
            sqlx::query("UPDATE files SET sent_at = $1 WHERE file_id = $2")
                .bind(now as i64)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            // Who may fetch it: the group's member devices as the message
            // carrying it goes out, kept with the file, since memberships
            // that ended are forgotten once their messages are delivered.
            sqlx::query("DELETE FROM file_readers WHERE file_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO file_readers (file_id, device_id) \
                 SELECT DISTINCT $1, device_id FROM memberships \
                 WHERE group_id = $2 AND until_seq IS NULL",
            )
            .bind(id)
            .bind(group_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(FileAttach::Attached)
    }

    pub(crate) async fn may_read_file(&self, file_id: &str, device_id: &str) -> Result<bool> {
        Ok(
            sqlx::query("SELECT 1 FROM file_readers WHERE file_id = $1 AND device_id = $2")
                .bind(file_id)
                .bind(device_id)
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }

    pub(crate) async fn hold_files(&self, report_id: &str, file_ids: &[String]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for f in file_ids {
            sqlx::query("INSERT INTO file_holds (file_id, report_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(f)
                .bind(report_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn release_holds(&self, report_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM file_holds WHERE report_id = $1")
            .bind(report_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(crate) async fn holds_past(
        &self,
        sent_before: u64,
        limit: u32,
    ) -> Result<Vec<(String, String)>> {
        Ok(sqlx::query_as(
            "SELECT h.file_id, h.report_id FROM file_holds h \
             JOIN files f ON f.file_id = h.file_id \
             WHERE f.sent_at < $1 ORDER BY f.created_at LIMIT $2",
        )
        .bind(sent_before.min(i64::MAX as u64) as i64)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?)
    }

    pub(crate) async fn expired_files(
        &self,
        unsent_before: u64,
        sent_before: u64,
        limit: u32,
    ) -> Result<Vec<StoredFile>> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM files \
             WHERE (sent_at IS NULL AND created_at < $1) \
                OR (sent_at < $2 AND NOT EXISTS \
                    (SELECT 1 FROM file_holds h WHERE h.file_id = files.file_id)) \
             ORDER BY created_at LIMIT $3"
        ))
        .bind(unsent_before.min(i64::MAX as u64) as i64)
        .bind(sent_before.min(i64::MAX as u64) as i64)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(row)
        .collect()
    }

    pub(crate) async fn forget_file(&self, file_id: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for sql in [
            "DELETE FROM files WHERE file_id = $1",
            "DELETE FROM file_readers WHERE file_id = $1",
            "DELETE FROM file_holds WHERE file_id = $1",
        ] {
            sqlx::query(sql).bind(file_id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn files_sent_by(&self, account_id: &str) -> Result<Vec<StoredFile>> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM files WHERE account_id = $1 ORDER BY created_at"
        ))
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(row)
        .collect()
    }

    pub(crate) async fn file_regions_readable_by(&self, account_id: &str) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT f.region FROM files f \
             JOIN file_readers r ON r.file_id = f.file_id \
             JOIN devices d ON d.device_id = r.device_id \
             WHERE d.account_id = $1 AND f.account_id != $1 ORDER BY f.region",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?)
    }

    pub(crate) async fn set_file_region(&self, file_id: &str, region: &str) -> Result<()> {
        sqlx::query("UPDATE files SET region = $1 WHERE file_id = $2")
            .bind(region)
            .bind(file_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
