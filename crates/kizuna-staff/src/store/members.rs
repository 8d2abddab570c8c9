//! Organisations and staff members as stored, with the members' secrets, and
//! suspending either together with the sessions and grants that end with it.

use std::str::FromStr;

use kizuna_wire::staff::{Grant, GrantState, Org, OrgKind, OrgScope, Role, StaffMember};
use sqlx::Row;

use super::{json, parse, Dialect, StaffStore};
use crate::StaffError;

/// A staff member as stored, with their secrets.
pub struct StoredMember {
    pub member: StaffMember,
    pub password_hash: String,
    pub totp_secret: String,
}

fn org_from_row(r: &sqlx::any::AnyRow) -> Result<Org, StaffError> {
    let kind: String = r.try_get("kind")?;
    Ok(Org {
        org_id: r.try_get("org_id")?,
        kind: OrgKind::from_str(&kind).map_err(StaffError::Storage)?,
        country: r.try_get("country")?,
        networks: parse(&r.try_get::<String, _>("networks")?)?,
        scope: parse::<OrgScope>(&r.try_get::<String, _>("scope")?)?,
        suspended_at: r
            .try_get::<Option<i64>, _>("suspended_at")?
            .map(|v| v as u64),
    })
}

fn member_from_row(r: &sqlx::any::AnyRow) -> Result<StoredMember, StaffError> {
    Ok(StoredMember {
        member: StaffMember {
            staff_id: r.try_get("staff_id")?,
            org_id: r.try_get("org_id")?,
            roles: parse::<Vec<Role>>(&r.try_get::<String, _>("roles")?)?,
            suspended_at: r
                .try_get::<Option<i64>, _>("suspended_at")?
                .map(|v| v as u64),
            created_at: r.try_get::<i64, _>("created_at")? as u64,
        },
        password_hash: r.try_get("password_hash")?,
        totp_secret: r.try_get("totp_secret")?,
    })
}

/// The advisory lock a bootstrap holds on a shared store.
const BOOTSTRAP_LOCK: i64 = 0x004b_5a42_4f4f_5453;

impl StaffStore {
    /// Held while the first admin is made: on a shared store two operators
    /// bootstrapping at once would each find no staff and each make an
    /// admin. (An embedded store is its data directory's, which one
    /// process holds at a time.) Released when the guard is dropped.
    pub async fn bootstrap_lock(
        &self,
    ) -> Result<Option<sqlx::Transaction<'static, sqlx::Any>>, StaffError> {
        if self.dialect != Dialect::Postgres {
            return Ok(None);
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(BOOTSTRAP_LOCK)
            .execute(&mut *tx)
            .await?;
        Ok(Some(tx))
    }

    pub async fn has_staff(&self) -> Result<bool, StaffError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM staff")
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    pub async fn insert_org(&self, org: &Org) -> Result<(), StaffError> {
        let r = sqlx::query(
            "INSERT INTO orgs (org_id, kind, country, networks, scope, suspended_at) VALUES ($1, $2, $3, $4, $5, NULL)",
        )
        .bind(&org.org_id)
        .bind(json(&org.kind)?.trim_matches('"').to_string())
        .bind(&org.country)
        .bind(json(&org.networks)?)
        .bind(json(&org.scope)?)
        .execute(&self.pool)
        .await;
        match r {
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                Err(StaffError::Exists(format!("organisation {}", org.org_id)))
            }
            r => r.map(|_| ()).map_err(Into::into),
        }
    }

    pub async fn org(&self, org_id: &str) -> Result<Option<Org>, StaffError> {
        sqlx::query("SELECT * FROM orgs WHERE org_id = $1")
            .bind(org_id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(org_from_row)
            .transpose()
    }

    pub async fn orgs(&self) -> Result<Vec<Org>, StaffError> {
        sqlx::query("SELECT * FROM orgs ORDER BY org_id")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(org_from_row)
            .collect()
    }

    pub async fn insert_member(&self, m: &StoredMember) -> Result<(), StaffError> {
        let r = sqlx::query(
            "INSERT INTO staff (staff_id, org_id, roles, password_hash, totp_secret, suspended_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, NULL, $6)",
        )
        .bind(&m.member.staff_id)
        .bind(&m.member.org_id)
        .bind(json(&m.member.roles)?)
        .bind(&m.password_hash)
        .bind(&m.totp_secret)
        .bind(m.member.created_at as i64)
        .execute(&self.pool)
        .await;
        match r {
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => Err(StaffError::Exists(
                format!("staff member {}", m.member.staff_id),
            )),
            r => r.map(|_| ()).map_err(Into::into),
        }
    }

    /// Every member's stored TOTP secret, as kept (sealed or not).
    pub async fn totp_secrets(&self) -> Result<Vec<(String, String)>, StaffError> {
        Ok(sqlx::query_as("SELECT staff_id, totp_secret FROM staff")
            .fetch_all(&self.pool)
            .await?)
    }

    pub async fn set_totp_secret(&self, staff_id: &str, stored: &str) -> Result<(), StaffError> {
        sqlx::query("UPDATE staff SET totp_secret = $1 WHERE staff_id = $2")
            .bind(stored)
            .bind(staff_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Marks the TOTP time step `step` as used by the member, if it is later
    /// than any used before; false if it is not, and the code is refused.
    pub async fn spend_totp_step(&self, staff_id: &str, step: u64) -> Result<bool, StaffError> {
        let spent = sqlx::query(
            "UPDATE staff SET last_totp_step = $1 WHERE staff_id = $2 \
             AND (last_totp_step IS NULL OR last_totp_step < $3)",
        )
        .bind(step as i64)
        .bind(staff_id)
        .bind(step as i64)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(spent == 1)
    }

    pub async fn member(&self, staff_id: &str) -> Result<Option<StoredMember>, StaffError> {
        sqlx::query("SELECT * FROM staff WHERE staff_id = $1")
            .bind(staff_id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(member_from_row)
            .transpose()
    }

    pub async fn members(&self) -> Result<Vec<StaffMember>, StaffError> {
        sqlx::query("SELECT * FROM staff ORDER BY staff_id")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok(member_from_row(r)?.member))
            .collect()
    }

    /// Suspends an organisation and ends all its sessions in one transaction.
    pub async fn suspend_org(&self, org_id: &str, now: u64) -> Result<u64, StaffError> {
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query(
            "UPDATE orgs SET suspended_at = $1 WHERE org_id = $2 AND suspended_at IS NULL",
        )
        .bind(now as i64)
        .bind(org_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM orgs WHERE org_id = $1")
                .bind(org_id)
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_none() {
                return Err(StaffError::NotFound(format!("organisation {org_id}")));
            }
        }
        let ended =
            sqlx::query("UPDATE sessions SET ended_at = $1 WHERE org_id = $2 AND ended_at IS NULL")
                .bind(now as i64)
                .bind(org_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        // Every grant of the organisation ends with it.
        let open: Vec<String> = sqlx::query_scalar(
            "SELECT body FROM grants WHERE org_id = $1 AND state IN ('\"pending\"', '\"approved\"')",
        )
        .bind(org_id)
        .fetch_all(&mut *tx)
        .await?;
        for body in open {
            let mut g: Grant = parse(&body)?;
            g.state = GrantState::Revoked;
            g.decided_at = Some(now);
            g.decided_by = Some(format!("suspension of {org_id}"));
            sqlx::query("UPDATE grants SET state = $1, body = $2 WHERE grant_id = $3")
                .bind(json(&g.state)?)
                .bind(json(&g)?)
                .bind(&g.grant_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(ended)
    }

    /// Suspends a staff member and ends all their sessions in one transaction.
    pub async fn suspend_member(&self, staff_id: &str, now: u64) -> Result<u64, StaffError> {
        let mut tx = self.pool.begin().await?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM staff WHERE staff_id = $1")
            .bind(staff_id)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StaffError::NotFound(format!("staff member {staff_id}")));
        }
        sqlx::query(
            "UPDATE staff SET suspended_at = $1 WHERE staff_id = $2 AND suspended_at IS NULL",
        )
        .bind(now as i64)
        .bind(staff_id)
        .execute(&mut *tx)
        .await?;
        let ended = sqlx::query(
            "UPDATE sessions SET ended_at = $1 WHERE staff_id = $2 AND ended_at IS NULL",
        )
        .bind(now as i64)
        .bind(staff_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(ended)
    }
}
