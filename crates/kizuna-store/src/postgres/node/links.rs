//! Linking a new device to an account: the pending request, found by its id
//! or its code, and its approval, which makes it a device with key packages.

use sqlx::postgres::PgRow;
use sqlx::Row;

use super::accounts::conflict_of;
use super::PgStore;
use crate::sqlite::links::{decode_blobs, encode_blobs};
use crate::{Device, PendingLink, Result, StoreError};

impl PgStore {
    pub(crate) async fn create_link(&self, link: PendingLink, code_hash: Vec<u8>) -> Result<()> {
        sqlx::query(
            "INSERT INTO link_requests (link_id, code_hash, account_id, signature_key, label, \
             key_packages, last_resort, approved_device, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8)",
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
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                StoreError::Conflict("link code")
            }
            e => e.into(),
        })?;
        Ok(())
    }

    pub(crate) async fn link(&self, link_id: &str) -> Result<Option<PendingLink>> {
        let row = sqlx::query("SELECT * FROM link_requests WHERE link_id = $1")
            .bind(link_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(link_from_row).transpose()
    }

    pub(crate) async fn link_by_code(&self, code_hash: &[u8]) -> Result<Option<PendingLink>> {
        let row = sqlx::query("SELECT * FROM link_requests WHERE code_hash = $1")
            .bind(code_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(link_from_row).transpose()
    }

    pub(crate) async fn approve_link(&self, link_id: &str, device: Device) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        // Locked: two nodes approving one request at once make one device;
        // the second finds it approved.
        let row = sqlx::query(
            "SELECT * FROM link_requests WHERE link_id = $1 AND approved_device IS NULL FOR UPDATE",
        )
        .bind(link_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Err(StoreError::NotFound("pending link request"));
        };
        let link = link_from_row(&row)?;
        let key: Option<String> =
            sqlx::query_scalar("SELECT device_id FROM devices WHERE signature_key = $1")
                .bind(&link.signature_key)
                .fetch_optional(&mut *tx)
                .await?;
        if key.is_some() {
            return Err(StoreError::Conflict("device key"));
        }
        sqlx::query(
            "INSERT INTO devices (device_id, account_id, signature_key, label, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&device.device_id)
        .bind(&link.account_id)
        .bind(&link.signature_key)
        .bind(&link.label)
        .bind(link.created_at as i64)
        .execute(&mut *tx)
        .await
        .map_err(conflict_of)?;
        Self::insert_key_packages(
            &mut tx,
            &device.device_id,
            &link.key_packages,
            Some(&link.last_resort),
        )
        .await?;
        sqlx::query("UPDATE link_requests SET approved_device = $1 WHERE link_id = $2")
            .bind(&device.device_id)
            .bind(link_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await.map_err(conflict_of)?;
        Ok(())
    }
}

fn link_from_row(row: &PgRow) -> Result<PendingLink> {
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
