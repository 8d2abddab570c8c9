//! People: everything a region holds of one person written at once (or many
//! people, for an import), their sealed records, the phone index, and erasure.

use sqlx::Row;

use super::access::insert_accesses;
use super::reports::insert_report;
use super::{
    PhoneClaim, SealedAccess, SealedSubject, SqliteRegionStore, ERASED, ROWS_PER_STATEMENT,
};
use crate::{Result, StoreError};

impl SqliteRegionStore {
    pub(crate) async fn put_subjects(&self, subjects: Vec<SealedSubject>) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        // A chunk of people per statement: an import of a hundred thousand
        // people is then a few thousand statements.
        for chunk in subjects.chunks(ROWS_PER_STATEMENT / 4) {
            let ids: Vec<&String> = chunk.iter().map(|s| &s.key.subject_id).collect();
            let phones: Vec<(&Vec<u8>, &String, bool)> = chunk
                .iter()
                .filter_map(|s| {
                    s.phone_hash
                        .as_ref()
                        .map(|h| (h, &s.key.subject_id, s.phone_proven))
                })
                .collect();
            if !phones.is_empty() {
                let mut q = sqlx::QueryBuilder::new(
                    "SELECT phone_hash, subject_id, proven FROM phone_index WHERE phone_hash IN (",
                );
                let mut list = q.separated(", ");
                for (h, _, _) in &phones {
                    list.push_bind(*h);
                }
                q.push(")");
                for row in q.build().fetch_all(&mut *tx).await? {
                    let (h, owner, held_proven): (Vec<u8>, String, bool) =
                        (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
                    match super::phone_claim(&phones, &h, &owner, held_proven) {
                        PhoneClaim::Same => {}
                        PhoneClaim::Refused => return Err(StoreError::Conflict("phone")),
                        PhoneClaim::TakenOver => {
                            sqlx::query("DELETE FROM phone_index WHERE phone_hash = ?")
                                .bind(&h)
                                .execute(&mut *tx)
                                .await?;
                        }
                    }
                }
            }
            for table in [
                "subjects",
                "records",
                "phone_index",
                "access_records",
                "reports",
            ] {
                let mut q =
                    sqlx::QueryBuilder::new(format!("DELETE FROM {table} WHERE subject_id IN ("));
                let mut list = q.separated(", ");
                for id in &ids {
                    list.push_bind(*id);
                }
                q.push(")");
                q.build().execute(&mut *tx).await?;
            }
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO subjects (subject_id, data_key_version, region_key_version, wrapped_key, created_at) ",
            );
            q.push_values(chunk, |mut b, s| {
                b.push_bind(&s.key.subject_id)
                    .push_bind(s.key.data_key_version as i64)
                    .push_bind(s.key.region_key_version as i64)
                    .push_bind(&s.key.wrapped)
                    .push_bind(s.key.created_at as i64);
            });
            q.build().execute(&mut *tx).await?;
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
                q.build().execute(&mut *tx).await?;
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
        let Some(key) = self.wrapped_key(subject_id).await? else {
            return Ok(None);
        };
        let records = sqlx::query(
            "SELECT category, sealed FROM records WHERE subject_id = ? ORDER BY category",
        )
        .bind(subject_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("category")?, r.try_get("sealed")?)))
        .collect::<Result<Vec<_>>>()?;
        let phone: Option<(Vec<u8>, bool)> =
            sqlx::query_as("SELECT phone_hash, proven FROM phone_index WHERE subject_id = ?")
                .bind(subject_id)
                .fetch_optional(&self.pool)
                .await?;
        let (phone_hash, phone_proven) = phone.map_or((None, false), |(h, p)| (Some(h), p));
        let access = self.access_records(subject_id).await?;
        let reports = self.reports_of(subject_id).await?;
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
            sqlx::query_scalar("SELECT sealed FROM records WHERE subject_id = ? AND category = ?")
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
        let has_key: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM subjects WHERE subject_id = ?")
                .bind(subject_id)
                .fetch_optional(&mut *tx)
                .await?;
        if has_key.is_none() {
            return Err(StoreError::NotFound("person in this region"));
        }
        sqlx::query(
            "INSERT INTO records (subject_id, category, sealed) VALUES (?, ?, ?) \
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
        Ok(
            sqlx::query_scalar(
                "SELECT subject_id FROM phone_index WHERE phone_hash = ? AND proven",
            )
            .bind(phone_hash)
            .fetch_optional(&self.pool)
            .await?,
        )
    }

    pub(crate) async fn erase_subject(&self, subject_id: &str, keep_ledger: bool) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let mut any = false;
        let access = if keep_ledger {
            "DELETE FROM access_records WHERE subject_id = ? AND leaf IS NULL"
        } else {
            "DELETE FROM access_records WHERE subject_id = ?"
        };
        for sql in [
            "DELETE FROM subjects WHERE subject_id = ?",
            "DELETE FROM records WHERE subject_id = ?",
            "DELETE FROM phone_index WHERE subject_id = ?",
            "DELETE FROM reports WHERE subject_id = ?",
            access,
        ] {
            any |= sqlx::query(sql)
                .bind(subject_id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                > 0;
        }
        if keep_ledger {
            any |= sqlx::query(
                "UPDATE access_records SET sealed = X'', subject_id = ? WHERE subject_id = ?",
            )
            .bind(ERASED)
            .bind(subject_id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                > 0;
        }
        tx.commit().await?;
        // Copy the zeroed pages into the file and empty the WAL now, so the
        // old key does not wait in an earlier frame of it.
        crate::truncate_wal(&self.pool).await?;
        Ok(any)
    }
}
