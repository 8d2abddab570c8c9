//! Groups: registering one, its epoch and member devices, the node's public
//! view of it, and the range of its messages each member device receives.

use sqlx::{Row, Sqlite, Transaction};

use super::SqliteStore;
use crate::{Group, Rejection, Result, StoreError};

/// What a writer knows of a group: here authoritative because every change
/// to groups goes through the single writer; on PostgreSQL read under the
/// group's row lock.
#[derive(Clone, Debug)]
pub(crate) struct GroupState {
    pub(crate) epoch: u64,
    pub(crate) next_seq: u64,
    pub(crate) members: Vec<String>,
}

impl GroupState {
    /// Who receives what `sender` sends for `epoch`: every other member,
    /// if the sender is a member and the epoch is the group's.
    pub(crate) fn others_at(&self, sender: &str, epoch: u64) -> Result<Vec<String>, Rejection> {
        if !self.members.iter().any(|d| d == sender) {
            return Err(Rejection::NotMember);
        }
        if epoch != self.epoch {
            return Err(Rejection::StaleEpoch {
                current: self.epoch,
                sent: epoch,
            });
        }
        Ok(self
            .members
            .iter()
            .filter(|d| *d != sender)
            .cloned()
            .collect())
    }
}

/// The devices in a group now.
const CURRENT_MEMBERS: &str = "SELECT device_id FROM memberships \
     WHERE group_id = ? AND until_seq IS NULL ORDER BY device_id";

impl SqliteStore {
    pub(crate) async fn create_group(
        &self,
        group_id: &[u8],
        creator: &str,
        now: u64,
        state: Vec<u8>,
    ) -> Result<()> {
        let _w = self.writer.lock().await;
        let mut tx = self.pool.begin().await?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT epoch FROM groups WHERE group_id = ?")
            .bind(group_id)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_some() {
            return Err(StoreError::Conflict("group"));
        }
        sqlx::query(
            "INSERT INTO groups (group_id, epoch, next_seq, created_at) VALUES (?, 0, 1, ?)",
        )
        .bind(group_id)
        .bind(now as i64)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO memberships (group_id, device_id, from_seq, until_seq) VALUES (?, ?, 1, NULL)",
        )
        .bind(group_id)
        .bind(creator)
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO group_states (group_id, state) VALUES (?, ?)")
            .bind(group_id)
            .bind(state)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn group(&self, group_id: &[u8]) -> Result<Option<Group>> {
        let epoch: Option<i64> = sqlx::query_scalar("SELECT epoch FROM groups WHERE group_id = ?")
            .bind(group_id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(epoch) = epoch else { return Ok(None) };
        let members: Vec<String> = sqlx::query_scalar(CURRENT_MEMBERS)
            .bind(group_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(Some(Group {
            group_id: group_id.to_vec(),
            epoch: epoch as u64,
            members,
        }))
    }

    pub(crate) async fn group_state(&self, group_id: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(
            sqlx::query_scalar("SELECT state FROM group_states WHERE group_id = ?")
                .bind(group_id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub(crate) async fn groups_of(&self, device_id: &str) -> Result<Vec<Vec<u8>>> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT group_id FROM memberships WHERE device_id = ? AND until_seq IS NULL",
        )
        .bind(device_id)
        .fetch_all(&self.pool)
        .await?)
    }

    pub(super) async fn load_group(
        tx: &mut Transaction<'_, Sqlite>,
        group_id: &[u8],
    ) -> Result<Option<GroupState>> {
        let row = sqlx::query("SELECT epoch, next_seq FROM groups WHERE group_id = ?")
            .bind(group_id)
            .fetch_optional(&mut **tx)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let members: Vec<String> = sqlx::query_scalar(CURRENT_MEMBERS)
            .bind(group_id)
            .fetch_all(&mut **tx)
            .await?;
        Ok(Some(GroupState {
            epoch: row.try_get::<i64, _>(0)? as u64,
            next_seq: row.try_get::<i64, _>(1)? as u64,
            members,
        }))
    }

    pub(super) async fn write_state(
        tx: &mut Transaction<'_, Sqlite>,
        group_id: &[u8],
        state: Vec<u8>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO group_states (group_id, state) VALUES (?, ?) \
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
        tx: &mut Transaction<'_, Sqlite>,
        group_id: &[u8],
        device: &str,
        seq: u64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE memberships SET until_seq = ? \
             WHERE group_id = ? AND device_id = ? AND until_seq IS NULL",
        )
        .bind(seq as i64)
        .bind(group_id)
        .bind(device)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}
