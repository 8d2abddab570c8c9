//! Access records, which are the ledger's entries: appending them, their
//! ledger indexes, and finding them by person, by index or by who accessed.

use sqlx::Row;

use super::{AccessedBy, LedgerRow, SealedAccess, SqliteRegionStore, ERASED, ROWS_PER_STATEMENT};
use crate::Result;

const ACCESS_COLUMNS: &str = "subject_id, at, sealed, leaf, idx, after, org_id, staff_id";

impl SqliteRegionStore {
    pub(crate) async fn append_accesses(
        &self,
        accesses: Vec<(String, SealedAccess)>,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let rows: Vec<(&String, &SealedAccess)> = accesses.iter().map(|(s, a)| (s, a)).collect();
        insert_accesses(&mut tx, &rows).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn access_records(&self, subject_id: &str) -> Result<Vec<SealedAccess>> {
        sqlx::query(&format!(
            "SELECT {ACCESS_COLUMNS} FROM access_records WHERE subject_id = ? ORDER BY id"
        ))
        .bind(subject_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| Ok(ledger_row(r)?.access))
        .collect()
    }

    pub(crate) async fn set_access_index(&self, leaf: &[u8], idx: u64) -> Result<()> {
        sqlx::query("UPDATE access_records SET idx = ? WHERE leaf = ? AND idx IS NULL")
            .bind(idx as i64)
            .bind(leaf)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(crate) async fn number_accesses(&self, numbered: &[(String, SealedAccess)]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for chunk in numbered.chunks(ROWS_PER_STATEMENT) {
            let mut q = sqlx::QueryBuilder::new("WITH v(leaf, idx) AS (");
            q.push_values(chunk, |mut b, (_, a)| {
                b.push_bind(&a.leaf).push_bind(a.idx.map(|i| i as i64));
            });
            q.push(
                ") UPDATE access_records SET idx = v.idx FROM v \
                 WHERE access_records.leaf = v.leaf AND access_records.idx IS NULL",
            );
            q.build().execute(&mut *tx).await?;

            let mut q =
                sqlx::QueryBuilder::new("SELECT subject_id FROM subjects WHERE subject_id IN (");
            let mut ids = q.separated(", ");
            for (subject, _) in chunk {
                ids.push_bind(subject);
            }
            q.push(")");
            let living: std::collections::HashSet<String> = q
                .build()
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| r.try_get("subject_id"))
                .collect::<std::result::Result<_, _>>()?;
            let rows: Vec<(&String, &SealedAccess)> = chunk
                .iter()
                .filter(|(s, _)| living.contains(s))
                .map(|(s, a)| (s, a))
                .collect();
            insert_accesses_with(&mut tx, &rows, RENUMBER).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn drop_pending_access(&self, leaf: &[u8]) -> Result<()> {
        sqlx::query("DELETE FROM access_records WHERE leaf = ? AND idx IS NULL")
            .bind(leaf)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(crate) async fn pending_access(&self) -> Result<Vec<LedgerRow>> {
        sqlx::query(&format!(
            "SELECT {ACCESS_COLUMNS} FROM access_records \
             WHERE leaf IS NOT NULL AND idx IS NULL ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(ledger_row)
        .collect()
    }

    pub(crate) async fn last_entry(&self) -> Result<Option<LedgerRow>> {
        sqlx::query(&format!(
            "SELECT {ACCESS_COLUMNS} FROM access_records \
             WHERE idx IS NOT NULL ORDER BY idx DESC LIMIT 1"
        ))
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(ledger_row)
        .transpose()
    }

    pub(crate) async fn ledger_rows(&self, from: u64, limit: u32) -> Result<Vec<LedgerRow>> {
        sqlx::query(&format!(
            "SELECT {ACCESS_COLUMNS} FROM access_records \
             WHERE idx >= ? ORDER BY idx LIMIT ?"
        ))
        .bind(from as i64)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(ledger_row)
        .collect()
    }

    pub(crate) async fn accesses_by(
        &self,
        by: &AccessedBy,
        after: (u64, i64),
        limit: u32,
    ) -> Result<Vec<(i64, LedgerRow)>> {
        // One indexed column per query, walked in (time, row) order, so a
        // page costs its own rows however many came before.
        let (column, who, also) = match (&by.staff_id, &by.org_id) {
            (Some(s), org) => ("staff_id", s, org.clone()),
            (None, Some(o)) => ("org_id", o, None),
            (None, None) => return Ok(Vec::new()),
        };
        let time = |t: u64| t.min(i64::MAX as u64) as i64;
        sqlx::query(&format!(
            "SELECT id, {ACCESS_COLUMNS} FROM access_records \
             WHERE {column} = ? AND (at, id) > (?, ?) AND at <= ? \
             AND (? IS NULL OR org_id = ?) \
             ORDER BY at, id LIMIT ?"
        ))
        .bind(who)
        .bind(time(after.0.max(by.from)))
        .bind(if after.0 < by.from { -1 } else { after.1 })
        .bind(time(by.to))
        .bind(&also)
        .bind(&also)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| Ok((r.try_get::<i64, _>("id")?, ledger_row(r)?)))
        .collect()
    }
}

/// Writes access records, many rows per statement: an import of a million
/// records is then thousands of statements, not a million.
pub(super) async fn insert_accesses(
    tx: &mut sqlx::SqliteConnection,
    rows: &[(&String, &SealedAccess)],
) -> Result<()> {
    insert_accesses_with(tx, rows, "").await
}

/// A just-appended record is written again only where no row holds its
/// leaf: one another node took back while the append was under way.
const RENUMBER: &str = " ON CONFLICT (leaf) DO NOTHING";

async fn insert_accesses_with(
    tx: &mut sqlx::SqliteConnection,
    rows: &[(&String, &SealedAccess)],
    on_conflict: &str,
) -> Result<()> {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut q = sqlx::QueryBuilder::new(
            "INSERT INTO access_records (subject_id, at, sealed, leaf, idx, after, org_id, staff_id) ",
        );
        q.push_values(chunk, |mut b, (subject_id, a)| {
            b.push_bind(*subject_id)
                .push_bind(a.at as i64)
                .push_bind(&a.sealed)
                .push_bind(&a.leaf)
                .push_bind(a.idx.map(|i| i as i64))
                .push_bind(a.after as i64)
                .push_bind(&a.org_id)
                .push_bind(&a.staff_id);
        });
        q.push(on_conflict);
        q.build().execute(&mut *tx).await?;
    }
    Ok(())
}

fn ledger_row(r: &sqlx::sqlite::SqliteRow) -> Result<LedgerRow> {
    Ok(LedgerRow {
        subject_id: r.try_get("subject_id")?,
        access: SealedAccess {
            at: r.try_get::<i64, _>("at")? as u64,
            sealed: r.try_get("sealed")?,
            leaf: r.try_get("leaf")?,
            idx: r.try_get::<Option<i64>, _>("idx")?.map(|i| i as u64),
            after: r.try_get::<i64, _>("after")? as u64,
            org_id: r.try_get("org_id")?,
            staff_id: r.try_get("staff_id")?,
        },
    })
}

/// The marker a store carries once every tombstone in it is sealed.
const TOMBSTONES_SEALED: &str = "tombstones_sealed";

impl SqliteRegionStore {
    pub(crate) async fn tombstone_accesses(
        &self,
        subject_id: &str,
        seals: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        let mut turned = 0;
        for (leaf, seal) in seals {
            turned += sqlx::query(
                "UPDATE access_records SET sealed = ?, subject_id = ? \
                 WHERE subject_id = ? AND leaf = ?",
            )
            .bind(seal)
            .bind(ERASED)
            .bind(subject_id)
            .bind(leaf)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(turned)
    }

    pub(crate) async fn tombstones_sealed(&self) -> Result<bool> {
        Ok(sqlx::query("SELECT 1 FROM markers WHERE name = ?")
            .bind(TOMBSTONES_SEALED)
            .fetch_optional(&self.pool)
            .await?
            .is_some())
    }

    pub(crate) async fn bare_tombstones(&self) -> Result<Vec<LedgerRow>> {
        sqlx::query(&format!(
            "SELECT {ACCESS_COLUMNS} FROM access_records \
             WHERE subject_id = ? AND length(sealed) = 0 AND leaf IS NOT NULL ORDER BY id"
        ))
        .bind(ERASED)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(ledger_row)
        .collect()
    }

    pub(crate) async fn seal_bare_tombstones(&self, seals: &[(Vec<u8>, Vec<u8>)]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for (leaf, seal) in seals {
            sqlx::query(
                "UPDATE access_records SET sealed = ? \
                 WHERE subject_id = ? AND length(sealed) = 0 AND leaf = ?",
            )
            .bind(seal)
            .bind(ERASED)
            .bind(leaf)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("INSERT OR IGNORE INTO markers (name) VALUES (?)")
            .bind(TOMBSTONES_SEALED)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
