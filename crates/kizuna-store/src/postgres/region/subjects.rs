//! People: everything a region holds of one person written at once (or many
//! people, for an import), their sealed records, the phone index, and erasure.
//!
//! A person's row in `subjects` is the lock for everything of theirs:
//! replacing them writes it first, erasing them deletes it first, and adding
//! a record or a report holds it shared. So on a region many nodes share,
//! writes for one person happen one after the other, as on SQLite's single
//! writer.

use sqlx::Row;

use super::access::{insert_accesses, ledger_row};
use super::keys::key_from_row;
use super::reports::{insert_report, report_from_row, REPORT_COLUMNS};
use super::{PgRegionStore, ROWS_PER_STATEMENT};
use crate::region::{phone_claim, PhoneClaim, SealedAccess, SealedSubject, WrappedKey, ERASED};
use crate::{Result, StoreError};

impl PgRegionStore {
    pub(crate) async fn put_subjects(&self, subjects: Vec<SealedSubject>) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        // Every person's row is written (and so locked) first, in id order:
        // two imports that share people wait for each other instead of
        // interleaving, and take their locks in one order, so neither
        // waits on the other forever.
        let mut keys: Vec<&WrappedKey> = subjects.iter().map(|s| &s.key).collect();
        keys.sort_by(|a, b| a.subject_id.cmp(&b.subject_id));
        for chunk in keys.chunks(ROWS_PER_STATEMENT) {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO subjects (subject_id, data_key_version, region_key_version, wrapped_key, created_at) ",
            );
            q.push_values(chunk, |mut b, k| {
                b.push_bind(&k.subject_id)
                    .push_bind(k.data_key_version as i64)
                    .push_bind(k.region_key_version as i64)
                    .push_bind(&k.wrapped)
                    .push_bind(k.created_at as i64);
            });
            q.push(
                " ON CONFLICT (subject_id) DO UPDATE SET \
                 data_key_version = excluded.data_key_version, \
                 region_key_version = excluded.region_key_version, \
                 wrapped_key = excluded.wrapped_key, created_at = excluded.created_at",
            );
            q.build().execute(&mut *tx).await?;
        }
        // A chunk of people per statement: an import of a hundred thousand
        // people is then a few thousand statements.
        for chunk in subjects.chunks(ROWS_PER_STATEMENT / 4) {
            let ids: Vec<&str> = chunk.iter().map(|s| s.key.subject_id.as_str()).collect();
            let phones: Vec<(&Vec<u8>, &String, bool)> = chunk
                .iter()
                .filter_map(|s| {
                    s.phone_hash
                        .as_ref()
                        .map(|h| (h, &s.key.subject_id, s.phone_proven))
                })
                .collect();
            if !phones.is_empty() {
                let hashes: Vec<&[u8]> = phones.iter().map(|(h, _, _)| h.as_slice()).collect();
                let held = sqlx::query(
                    "SELECT phone_hash, subject_id, proven FROM phone_index WHERE phone_hash = ANY($1) \
                     ORDER BY phone_hash FOR UPDATE",
                )
                .bind(&hashes)
                .fetch_all(&mut *tx)
                .await?;
                for row in held {
                    let (h, owner, held_proven): (Vec<u8>, String, bool) =
                        (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
                    match phone_claim(&phones, &h, &owner, held_proven) {
                        PhoneClaim::Same => {}
                        PhoneClaim::Refused => return Err(StoreError::Conflict("phone")),
                        PhoneClaim::TakenOver => {
                            sqlx::query("DELETE FROM phone_index WHERE phone_hash = $1")
                                .bind(&h)
                                .execute(&mut *tx)
                                .await?;
                        }
                    }
                }
            }
            for table in ["records", "phone_index", "access_records", "reports"] {
                sqlx::query(&format!("DELETE FROM {table} WHERE subject_id = ANY($1)"))
                    .bind(&ids)
                    .execute(&mut *tx)
                    .await?;
            }
            let records: Vec<(&String, &String, &Vec<u8>)> = chunk
                .iter()
                .flat_map(|s| {
                    s.records
                        .iter()
                        .map(move |(c, r)| (&s.key.subject_id, c, r))
                })
                .collect();
            for part in records.chunks(ROWS_PER_STATEMENT) {
                let mut q =
                    sqlx::QueryBuilder::new("INSERT INTO records (subject_id, category, sealed) ");
                q.push_values(part, |mut b, (id, c, r)| {
                    b.push_bind(*id).push_bind(*c).push_bind(*r);
                });
                q.build().execute(&mut *tx).await?;
            }
            if !phones.is_empty() {
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO phone_index (phone_hash, subject_id, proven) ",
                );
                q.push_values(&phones, |mut b, (h, id, proven)| {
                    b.push_bind(*h).push_bind(*id).push_bind(*proven);
                });
                // Another node may have given the phone to someone else
                // after the check above; the index's key refuses it then.
                q.build().execute(&mut *tx).await.map_err(|e| match &e {
                    sqlx::Error::Database(d) if d.is_unique_violation() => {
                        StoreError::Conflict("phone")
                    }
                    _ => StoreError::from(e),
                })?;
            }
            let rows: Vec<(&String, &SealedAccess)> = chunk
                .iter()
                .flat_map(|s| s.access.iter().map(move |a| (&s.key.subject_id, a)))
                .collect();
            insert_accesses(&mut tx, &rows).await?;
            for r in chunk.iter().flat_map(|s| &s.reports) {
                insert_report(&mut tx, r).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn subject(&self, subject_id: &str) -> Result<Option<SealedSubject>> {
        // One snapshot for all of it: a copy made while another node
        // writes the person is either before or after that write.
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let Some(key) = sqlx::query(
            "SELECT subject_id, data_key_version, region_key_version, wrapped_key, created_at \
             FROM subjects WHERE subject_id = $1",
        )
        .bind(subject_id)
        .fetch_optional(&mut *tx)
        .await?
        .as_ref()
        .map(key_from_row)
        .transpose()?
        else {
            return Ok(None);
        };
        let records = sqlx::query(
            "SELECT category, sealed FROM records WHERE subject_id = $1 ORDER BY category",
        )
        .bind(subject_id)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("category")?, r.try_get("sealed")?)))
        .collect::<Result<Vec<_>>>()?;
        let phone: Option<(Vec<u8>, bool)> =
            sqlx::query_as("SELECT phone_hash, proven FROM phone_index WHERE subject_id = $1")
                .bind(subject_id)
                .fetch_optional(&mut *tx)
                .await?;
        let (phone_hash, phone_proven) = phone.map_or((None, false), |(h, p)| (Some(h), p));
        let access = sqlx::query(
            "SELECT subject_id, at, sealed, leaf, idx, after, org_id, staff_id \
             FROM access_records WHERE subject_id = $1 ORDER BY id",
        )
        .bind(subject_id)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| Ok(ledger_row(r)?.access))
        .collect::<Result<Vec<_>>>()?;
        let reports = sqlx::query(&format!(
            "SELECT {REPORT_COLUMNS} FROM reports WHERE subject_id = $1 ORDER BY created_at"
        ))
        .bind(subject_id)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(report_from_row)
        .collect::<Result<Vec<_>>>()?;
        tx.commit().await?;
        Ok(Some(SealedSubject {
            key,
            records,
            phone_hash,
            phone_proven,
            access,
            reports,
        }))
    }

    pub(crate) async fn record(&self, subject_id: &str, category: &str) -> Result<Option<Vec<u8>>> {
        Ok(
            sqlx::query_scalar(
                "SELECT sealed FROM records WHERE subject_id = $1 AND category = $2",
            )
            .bind(subject_id)
            .bind(category)
            .fetch_optional(&self.pool)
            .await?,
        )
    }

    pub(crate) async fn put_record(
        &self,
        subject_id: &str,
        category: &str,
        sealed: &[u8],
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        // Held until the record is written: an erasure on another node
        // waits, then removes this record with the rest; one that came
        // first leaves no key to find.
        let has_key =
            sqlx::query("SELECT subject_id FROM subjects WHERE subject_id = $1 FOR SHARE")
                .bind(subject_id)
                .fetch_optional(&mut *tx)
                .await?;
        if has_key.is_none() {
            return Err(StoreError::NotFound("person in this region"));
        }
        sqlx::query(
            "INSERT INTO records (subject_id, category, sealed) VALUES ($1, $2, $3) \
             ON CONFLICT (subject_id, category) DO UPDATE SET sealed = excluded.sealed",
        )
        .bind(subject_id)
        .bind(category)
        .bind(sealed)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn subject_by_phone_hash(&self, phone_hash: &[u8]) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT subject_id FROM phone_index WHERE phone_hash = $1 AND proven",
        )
        .bind(phone_hash)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub(crate) async fn erase_subject(&self, subject_id: &str, keep_ledger: bool) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let mut any = false;
        let (empty_access, delete_access) = if keep_ledger {
            (
                "UPDATE access_records SET sealed = ''::bytea WHERE subject_id = $1 AND leaf IS NULL",
                "DELETE FROM access_records WHERE subject_id = $1 AND leaf IS NULL",
            )
        } else {
            (
                "UPDATE access_records SET sealed = ''::bytea WHERE subject_id = $1",
                "DELETE FROM access_records WHERE subject_id = $1",
            )
        };
        // The key first (its row lock also makes any writer for this person
        // on another node wait); each sealed column emptied before its row
        // is deleted, so no current row version holds it (see the module's
        // comment on what PostgreSQL keeps of dead rows).
        for (empty, delete) in [
            (
                Some("UPDATE subjects SET wrapped_key = ''::bytea WHERE subject_id = $1"),
                "DELETE FROM subjects WHERE subject_id = $1",
            ),
            (
                Some("UPDATE records SET sealed = ''::bytea WHERE subject_id = $1"),
                "DELETE FROM records WHERE subject_id = $1",
            ),
            (None, "DELETE FROM phone_index WHERE subject_id = $1"),
            (
                Some("UPDATE reports SET sealed = ''::bytea WHERE subject_id = $1"),
                "DELETE FROM reports WHERE subject_id = $1",
            ),
            (Some(empty_access), delete_access),
        ] {
            if let Some(empty) = empty {
                sqlx::query(empty)
                    .bind(subject_id)
                    .execute(&mut *tx)
                    .await?;
            }
            any |= sqlx::query(delete)
                .bind(subject_id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                > 0;
        }
        if keep_ledger {
            any |= sqlx::query(
                "UPDATE access_records SET sealed = ''::bytea, subject_id = $1 \
                 WHERE subject_id = $2",
            )
            .bind(ERASED)
            .bind(subject_id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                > 0;
        }
        tx.commit().await?;
        if any {
            // Reclaims the dead versions of the key's row now rather than
            // whenever autovacuum next comes to this table. A database role
            // that does not own the table gets a warning from PostgreSQL
            // and nothing is vacuumed; autovacuum still will.
            if let Err(e) = sqlx::raw_sql("VACUUM subjects").execute(&self.pool).await {
                tracing::warn!(
                    "an erased person's key awaits autovacuum in the region database: {e}"
                );
            }
        }
        Ok(any)
    }
}
