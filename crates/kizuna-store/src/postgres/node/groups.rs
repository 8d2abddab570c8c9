//! Groups: registering one, its epoch and member devices, the node's public
//! view of it, and the range of its messages each member device receives.

use std::collections::HashMap;

use sqlx::{Postgres, Row, Transaction};

use super::PgStore;
use crate::sqlite::groups::GroupState;
use crate::{Group, Result, StoreError};

impl PgStore {
    pub(crate) async fn create_group(
        &self,
        group_id: &[u8],
        creator: &str,
        now: u64,
        state: Vec<u8>,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        // As a commit that adds a device: a deletion of the creator waits
        // for the group, then removes its membership.
        sqlx::query("SELECT 1 FROM devices WHERE device_id = $1 FOR SHARE")
            .bind(creator)
            .fetch_optional(&mut *tx)
            .await?;
        // Of two nodes registering one group id at once, one inserts and
        // the other, waiting on it, finds the row taken.
        let created = sqlx::query(
            "INSERT INTO groups (group_id, epoch, next_seq, created_at) VALUES ($1, 0, 1, $2) \
             ON CONFLICT (group_id) DO NOTHING",
        )
        .bind(group_id)
        .bind(now as i64)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if created == 0 {
            return Err(StoreError::Conflict("group"));
        }
        sqlx::query(
            "INSERT INTO memberships (group_id, device_id, from_seq, until_seq) \
             VALUES ($1, $2, 1, NULL)",
        )
        .bind(group_id)
        .bind(creator)
        .execute(&mut *tx)
        .await?;
        Self::write_state(&mut tx, group_id, state).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn group(&self, group_id: &[u8]) -> Result<Option<Group>> {
        // One statement, so that epoch and members are of the same moment.
        let row = sqlx::query(
            "SELECT g.epoch, ARRAY(SELECT device_id FROM memberships \
                WHERE group_id = g.group_id AND until_seq IS NULL ORDER BY device_id) \
             FROM groups g WHERE g.group_id = $1",
        )
        .bind(group_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(Group {
            group_id: group_id.to_vec(),
            epoch: row.try_get::<i64, _>(0)? as u64,
            members: row.try_get(1)?,
        }))
    }

    pub(crate) async fn group_state(&self, group_id: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(
            sqlx::query_scalar("SELECT state FROM group_states WHERE group_id = $1")
                .bind(group_id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub(crate) async fn groups_of(&self, device_id: &str) -> Result<Vec<Vec<u8>>> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT group_id FROM memberships WHERE device_id = $1 AND until_seq IS NULL",
        )
        .bind(device_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Locks the groups' rows, in group id order (the one order every
    /// writer takes them in, so two never wait for each other), and reads
    /// them as they are once locked. Unknown groups are absent.
    pub(super) async fn lock_groups(
        tx: &mut Transaction<'_, Postgres>,
        group_ids: &[Vec<u8>],
    ) -> Result<HashMap<Vec<u8>, GroupState>> {
        let mut out = HashMap::new();
        if group_ids.is_empty() {
            return Ok(out);
        }
        let rows = sqlx::query(
            "SELECT group_id, epoch, next_seq FROM groups WHERE group_id = ANY($1) \
             ORDER BY group_id FOR UPDATE",
        )
        .bind(group_ids)
        .fetch_all(&mut **tx)
        .await?;
        for r in rows {
            out.insert(
                r.try_get::<Vec<u8>, _>(0)?,
                GroupState {
                    epoch: r.try_get::<i64, _>(1)? as u64,
                    next_seq: r.try_get::<i64, _>(2)? as u64,
                    members: Vec::new(),
                },
            );
        }
        // Read after the locks were granted: every change to a group's
        // members is made under its lock, so this is the current list.
        let members = sqlx::query(
            "SELECT group_id, device_id FROM memberships \
             WHERE group_id = ANY($1) AND until_seq IS NULL ORDER BY group_id, device_id",
        )
        .bind(group_ids)
        .fetch_all(&mut **tx)
        .await?;
        for r in members {
            let gid: Vec<u8> = r.try_get(0)?;
            if let Some(g) = out.get_mut(&gid) {
                g.members.push(r.try_get(1)?);
            }
        }
        Ok(out)
    }

    pub(super) async fn write_state(
        tx: &mut Transaction<'_, Postgres>,
        group_id: &[u8],
        state: Vec<u8>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO group_states (group_id, state) VALUES ($1, $2) \
             ON CONFLICT (group_id) DO UPDATE SET state = excluded.state",
        )
        .bind(group_id)
        .bind(state)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Ends a device's stay in a group at `seq` (inclusive).
    pub(super) async fn end_membership(
        tx: &mut Transaction<'_, Postgres>,
        group_id: &[u8],
        device: &str,
        seq: u64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE memberships SET until_seq = $1 \
             WHERE group_id = $2 AND device_id = $3 AND until_seq IS NULL",
        )
        .bind(seq as i64)
        .bind(group_id)
        .bind(device)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}
