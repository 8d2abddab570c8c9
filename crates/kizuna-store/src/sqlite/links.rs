//! Linking a new device to an account: the pending request, found by its id
//! or its code, and its approval, which makes it a device with key packages.

use sqlx::Row;

use super::SqliteStore;
use crate::{Device, PendingLink, Result, StoreError};

impl SqliteStore {
    pub(crate) async fn create_link(&self, link: PendingLink, code_hash: Vec<u8>) -> Result<()> {
        let _w = self.writer.lock().await;
        sqlx::query(
            "INSERT INTO link_requests (link_id, code_hash, account_id, signature_key, label, key_packages, \
             last_resort, approved_device, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?)",
        )
        .bind(&link.link_id)
        .bind(&code_hash)
        .bind(&link.account_id)
        .bind(&link.signature_key)
        .bind(&link.label)
        .bind(encode_blobs(&link.key_packages))
        .bind(&link.last_resort)
        .bind(link.created_at as i64)
        .execute(&self.pool)
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict("link code"),
            e => e.into(),
        })?;
        Ok(())
    }

    pub(crate) async fn link(&self, link_id: &str) -> Result<Option<PendingLink>> {
        let row = sqlx::query("SELECT * FROM link_requests WHERE link_id = ?")
            .bind(link_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(Self::link_from_row).transpose()
    }

    pub(crate) async fn link_by_code(&self, code_hash: &[u8]) -> Result<Option<PendingLink>> {
        let row = sqlx::query("SELECT * FROM link_requests WHERE code_hash = ?")
            .bind(code_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(Self::link_from_row).transpose()
    }

    pub(crate) async fn approve_link(&self, link_id: &str, device: Device) -> Result<()> {
        let _w = self.writer.lock().await;
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "SELECT * FROM link_requests WHERE link_id = ? AND approved_device IS NULL",
        )
        .bind(link_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Err(StoreError::NotFound("pending link request"));
        };
        let link = Self::link_from_row(&row)?;
        let key: Option<String> =
            sqlx::query_scalar("SELECT device_id FROM devices WHERE signature_key = ?")
                .bind(&link.signature_key)
                .fetch_optional(&mut *tx)
                .await?;
        if key.is_some() {
            return Err(StoreError::Conflict("device key"));
        }
        sqlx::query("INSERT INTO devices (device_id, account_id, signature_key, label, created_at) VALUES (?, ?, ?, ?, ?)")
            .bind(&device.device_id)
            .bind(&link.account_id)
            .bind(&link.signature_key)
            .bind(&link.label)
            .bind(link.created_at as i64)
            .execute(&mut *tx)
            .await?;
        Self::insert_key_packages(
            &mut tx,
            &device.device_id,
            &link.key_packages,
            Some(&link.last_resort),
        )
        .await?;
        sqlx::query("UPDATE link_requests SET approved_device = ? WHERE link_id = ?")
            .bind(&device.device_id)
            .bind(link_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    fn link_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<PendingLink> {
        let kps: Vec<u8> = row.try_get("key_packages")?;
        Ok(PendingLink {
            link_id: row.try_get("link_id")?,
            account_id: row.try_get("account_id")?,
            signature_key: row.try_get("signature_key")?,
            label: row.try_get("label")?,
            key_packages: decode_blobs(&kps)
                .ok_or(StoreError::Backend("corrupt link request".into()))?,
            last_resort: row.try_get("last_resort")?,
            approved_device: row.try_get("approved_device")?,
            created_at: row.try_get::<i64, _>("created_at")? as u64,
        })
    }
}

/// Length-prefixed concatenation, for the few lists stored in one column.
pub(crate) fn encode_blobs(items: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for i in items {
        out.extend_from_slice(&(i.len() as u32).to_be_bytes());
        out.extend_from_slice(i);
    }
    out
}

pub(crate) fn decode_blobs(mut b: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    while !b.is_empty() {
        if b.len() < 4 {
            return None;
        }
        let n = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
        b = &b[4..];
        if b.len() < n {
            return None;
        }
        out.push(b[..n].to_vec());
        b = &b[n..];
    }
    Some(out)
}
