//! Official accounts' applications as the realm keeps them: kept, changed
//! only from the state they were read in.

use kizuna_wire::staff::OfficialReview;
use kizuna_wire::ApplicationState;

use crate::{StaffError, StaffRealm};

impl StaffRealm {
    /// Keeps a new application; answers false, keeping nothing, when
    /// another of the same account is waiting.
    pub async fn insert_application(&self, r: &OfficialReview) -> Result<bool, StaffError> {
        self.store.insert_application(r).await
    }

    pub async fn application(&self, id: &str) -> Result<OfficialReview, StaffError> {
        self.store
            .application(id)
            .await?
            .ok_or_else(|| StaffError::NotFound(format!("application {id}")))
    }

    /// The newest applications, of one account or of all.
    pub async fn applications(
        &self,
        account_id: Option<&str>,
    ) -> Result<Vec<OfficialReview>, StaffError> {
        self.store.applications(account_id).await
    }

    /// Changes an application if it is still in state `from`; otherwise
    /// says it changed meanwhile.
    pub async fn update_application(
        &self,
        r: &OfficialReview,
        from: ApplicationState,
    ) -> Result<(), StaffError> {
        if self.store.update_application(r, from).await? {
            Ok(())
        } else {
            Err(StaffError::Invalid(format!(
                "application {} changed meanwhile; look at it again",
                r.application.application_id
            )))
        }
    }
}
