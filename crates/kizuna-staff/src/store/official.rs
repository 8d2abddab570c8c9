//! Official accounts' applications as stored: each as a whole body beside
//! the columns it is looked up by, replaced only from the state it was read
//! in, so two people deciding at once cannot both win.

use kizuna_wire::staff::OfficialReview;
use kizuna_wire::ApplicationState;

use super::{json, parse, StaffStore};
use crate::StaffError;

impl StaffStore {
    /// Keeps a new application; answers false, keeping nothing, when
    /// another of the same account is waiting.
    pub async fn insert_application(&self, r: &OfficialReview) -> Result<bool, StaffError> {
        let a = &r.application;
        let kept = sqlx::query(
            "INSERT INTO official_applications (application_id, handle, account_id, state, body) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&a.application_id)
        .bind(&a.claim.handle)
        .bind(&a.claim.account_id)
        .bind(a.state.name())
        .bind(json(r)?)
        .execute(&self.pool)
        .await;
        match kept {
            Ok(_) => Ok(true),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn application(&self, id: &str) -> Result<Option<OfficialReview>, StaffError> {
        let body: Option<String> =
            sqlx::query_scalar("SELECT body FROM official_applications WHERE application_id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        body.as_deref().map(parse).transpose()
    }

    /// The newest applications (at most 1,000), of one account or all.
    pub async fn applications(
        &self,
        account_id: Option<&str>,
    ) -> Result<Vec<OfficialReview>, StaffError> {
        let rows: Vec<String> = match account_id {
            Some(a) => {
                sqlx::query_scalar(
                    "SELECT body FROM official_applications WHERE account_id = $1 \
                 ORDER BY rowid DESC LIMIT 1000",
                )
                .bind(a)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query_scalar(
                    "SELECT body FROM official_applications ORDER BY rowid DESC LIMIT 1000",
                )
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(|b| parse(b)).collect()
    }

    /// Replaces an application only if it is still in state `from`;
    /// answers whether it was.
    pub async fn update_application(
        &self,
        r: &OfficialReview,
        from: ApplicationState,
    ) -> Result<bool, StaffError> {
        let n = sqlx::query(
            "UPDATE official_applications SET state = $1, body = $2 \
             WHERE application_id = $3 AND state = $4",
        )
        .bind(r.application.state.name())
        .bind(json(r)?)
        .bind(&r.application.application_id)
        .bind(from.name())
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }
}

#[cfg(test)]
mod tests {
    use kizuna_wire::staff::OfficialReview;
    use kizuna_wire::*;

    use super::super::{StaffStore, StaffStoreAt};

    fn review(id: &str) -> OfficialReview {
        OfficialReview {
            application: OfficialApplication {
                application_id: id.into(),
                claim: OfficialClaim {
                    handle: "city.shibuya".into(),
                    account_id: "acct-city".into(),
                    organisation: "Shibuya City".into(),
                    kind: OfficialKind::Municipality,
                    country: "JP".into(),
                    area: None,
                    keeps_data: "Tokyo".into(),
                    keeps_data_country: "JP".into(),
                    contact: "privacy@city.example.jp".into(),
                    at: 1,
                },
                state: ApplicationState::Submitted,
                submitted_at: 1,
                decided_at: None,
                reason: None,
                key_entry: None,
            },
            claim_bytes: Bytes(b"{}".to_vec()),
            signature: Bytes(vec![1; 64]),
            device_id: "city-device".into(),
            proposed_by: None,
            proposed_at: None,
            evidence: None,
            ticket: None,
            proposal_entry: None,
            decided_by: None,
        }
    }

    /// A second waiting application is not kept; a store kept before that
    /// rule, holding two, opens with the earliest waiting and the other
    /// withdrawn.
    #[tokio::test]
    async fn one_application_of_an_account_waits_also_in_a_store_kept_before() {
        let dir = tempfile::tempdir().unwrap();
        let at = StaffStoreAt::File(dir.path().join("staff.sqlite"));
        let store = StaffStore::open(&at).await.unwrap();
        assert!(store.insert_application(&review("oa-1")).await.unwrap());
        assert!(!store.insert_application(&review("oa-2")).await.unwrap());
        // As an older store could hold them: two waiting.
        sqlx::query("DROP INDEX official_one_waiting")
            .execute(&store.pool)
            .await
            .unwrap();
        assert!(store.insert_application(&review("oa-2")).await.unwrap());
        drop(store);
        let store = StaffStore::open(&at).await.unwrap();
        let states: Vec<(String, ApplicationState, Option<String>)> = store
            .applications(Some("acct-city"))
            .await
            .unwrap()
            .into_iter()
            .map(|r| {
                (
                    r.application.application_id,
                    r.application.state,
                    r.application.reason,
                )
            })
            .collect();
        assert_eq!(states.len(), 2);
        assert!(states.contains(&("oa-1".into(), ApplicationState::Submitted, None)));
        let (_, state, reason) = states.iter().find(|s| s.0 == "oa-2").unwrap();
        assert_eq!(*state, ApplicationState::Withdrawn);
        assert!(reason.as_deref().unwrap().contains("already waiting"));
        assert!(!store.insert_application(&review("oa-3")).await.unwrap());
    }
}
