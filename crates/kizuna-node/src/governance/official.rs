//! Official accounts: an organisation applies from its own account's
//! device with a claim that device signs; one of the operator's people
//! checks the evidence and records it, a second approves; the approval is
//! a staff event and then a `verified` entry of the key log, which every
//! device checks the badge against. Each step is recorded before it takes
//! effect, and a refusal is recorded like any other.

use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use kizuna_policy::RealmAction;
use kizuna_staff::{EventKind, Session, StaffError};
use kizuna_store::{Account, Device};
use kizuna_wire::staff::{OfficialReview, VerificationDecision, VerificationProposal};
use kizuna_wire::{
    official_claim_signing_input, ApplicationState, Checked, ErrorCode, KeyChange,
    OfficialApplication, OfficialApplicationRequest, OfficialClaim, Verification,
};
use rand::RngCore;
use sha2::Digest;

use super::{storage, Governance};
use crate::error::NodeError;
use crate::key_log::{append_key_change, LoggedDevice, OfficialMark};

/// The purpose every step of a verification is recorded under.
const PURPOSE: &str = "OFFICIAL_VERIFICATION";

/// A claim the node will not file: why, as the organisation reads it.
fn bad_claim(why: impl Into<String>) -> NodeError {
    NodeError::invalid(ErrorCode::BadRequest, why)
}

/// A staff-realm failure on a person's request, answered as the node's.
fn staff_failure(e: StaffError) -> NodeError {
    match e {
        StaffError::LedgerUnavailable(m) => {
            NodeError::new(crate::Kind::Unavailable, ErrorCode::LedgerUnavailable, m)
        }
        other => other.into(),
    }
}

/// A key-log append that failed, as the staff realm answers it.
fn key_log_failure(e: NodeError) -> StaffError {
    if e.code == ErrorCode::LedgerUnavailable {
        StaffError::LedgerUnavailable(e.message)
    } else {
        storage(e)
    }
}

fn signed_by(key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let (Ok(key), Ok(sig)) = (<[u8; 32]>::try_from(key), Signature::from_slice(signature)) else {
        return false;
    };
    VerifyingKey::from_bytes(&key).is_ok_and(|k| k.verify(message, &sig).is_ok())
}

fn hash_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

impl Governance {
    /// An organisation's application, from a device of the account it is
    /// for: the claim must name that account and be signed by that device.
    /// Recorded before it is kept; one application waits at a time.
    pub async fn apply_official(
        &self,
        account: &Account,
        device: &Device,
        req: OfficialApplicationRequest,
    ) -> Result<OfficialApplication, NodeError> {
        let claim: OfficialClaim = serde_json::from_slice(&req.claim.0).map_err(|e| {
            bad_claim(format!(
                "claim is not the JSON of an official account's claim: {e}"
            ))
        })?;
        claim
            .check()
            .map_err(|e| NodeError::invalid(e.code, e.to_string()))?;
        if claim.handle != account.handle || claim.account_id != account.account_id {
            return Err(bad_claim(format!(
                "the claim names {} ({}), but this is {} ({}): an account applies for itself",
                claim.handle, claim.account_id, account.handle, account.account_id
            )));
        }
        if claim.at > kizuna_wire::now_ms() + 300_000 {
            return Err(bad_claim("the claim is dated in the future"));
        }
        let message = official_claim_signing_input(&req.claim.0);
        if !signed_by(&device.signature_key, &message, &req.signature.0) {
            return Err(NodeError::invalid(
                ErrorCode::InvalidSignature,
                "the signature is not this device's over the claim",
            ));
        }
        if let Some(w) = self.waiting_application(&account.account_id).await? {
            return Err(already_waiting(&w));
        }
        let mut id = [0u8; 8];
        rand::thread_rng().fill_bytes(&mut id);
        let review = OfficialReview {
            application: OfficialApplication {
                application_id: format!("oa-{}", hex::encode(id)),
                claim,
                state: ApplicationState::Submitted,
                submitted_at: kizuna_wire::now_ms(),
                decided_at: None,
                reason: None,
                key_entry: None,
            },
            claim_bytes: req.claim,
            signature: req.signature,
            device_id: device.device_id.clone(),
            proposed_by: None,
            proposed_at: None,
            evidence: None,
            ticket: None,
            proposal_entry: None,
            decided_by: None,
        };
        self.realm
            .record(
                EventKind::OfficialApplied,
                None,
                None,
                serde_json::json!({
                    "application": review.application.application_id,
                    "handle": account.handle,
                    "account_id": account.account_id,
                    "claim_sha256": hash_hex(&review.claim_bytes.0),
                }),
            )
            .await
            .map_err(staff_failure)?;
        let kept = self
            .realm
            .insert_application(&review)
            .await
            .map_err(staff_failure)?;
        if !kept {
            // Another arrived at once and waits: the ledger says this one
            // ended, so no application stands there that was never kept.
            self.realm
                .record(
                    EventKind::OfficialRejected,
                    None,
                    None,
                    serde_json::json!({
                        "application": review.application.application_id,
                        "purpose": PURPOSE,
                        "reason": "another application of this account was already waiting",
                    }),
                )
                .await
                .map_err(staff_failure)?;
            let w = self.waiting_application(&account.account_id).await?;
            return Err(already_waiting(w.as_deref().unwrap_or("of this account")));
        }
        Ok(review.application)
    }

    /// The application of `account_id` waiting for the operator, if any.
    async fn waiting_application(&self, account_id: &str) -> Result<Option<String>, NodeError> {
        Ok(self
            .realm
            .applications(Some(account_id))
            .await
            .map_err(staff_failure)?
            .into_iter()
            .find(|r| {
                matches!(
                    r.application.state,
                    ApplicationState::Submitted | ApplicationState::Proposed
                )
            })
            .map(|r| r.application.application_id))
    }

    /// The applications of one account, as its organisation sees them.
    pub async fn applications_of(
        &self,
        account: &Account,
    ) -> Result<Vec<OfficialApplication>, NodeError> {
        Ok(self
            .realm
            .applications(Some(&account.account_id))
            .await
            .map_err(staff_failure)?
            .into_iter()
            .map(|r| r.application)
            .collect())
    }

    /// Asks the realm's rules; a refusal is recorded (and counts towards
    /// the anomaly rules) before it is answered.
    async fn official_step_allowed(
        &self,
        s: &Session,
        action: RealmAction,
        about: &str,
        application: &str,
    ) -> Result<(), StaffError> {
        let v = self.realm.verdict(s, action, about)?;
        if v.allowed {
            return Ok(());
        }
        Err(self
            .refusal(
                s,
                EventKind::OfficialRefused,
                serde_json::json!({ "application": application }),
                None,
                &format!("this step on {application}"),
                &v,
            )
            .await)
    }

    /// Every application, newest first: for the operator's people who
    /// check, approve or revoke them.
    pub async fn official_reviews(&self, s: &Session) -> Result<Vec<OfficialReview>, StaffError> {
        let may = [
            RealmAction::ProposeOfficial,
            RealmAction::ApproveOfficial,
            RealmAction::RevokeOfficial,
        ]
        .into_iter()
        .map(|a| self.realm.verdict(s, a, ""))
        .collect::<Result<Vec<_>, _>>()?;
        if !may.iter().any(|v| v.allowed) {
            return Err(StaffError::Forbidden(
                "only the operator's support staff, approvers, security staff and admins see official accounts' applications".into(),
            ));
        }
        self.realm.applications(None).await
    }

    /// The first person's step: the evidence checked, recorded in the
    /// ledger with the ticket, before the application waits for a second.
    pub async fn propose_official(
        &self,
        s: &Session,
        id: &str,
        req: VerificationProposal,
    ) -> Result<OfficialReview, StaffError> {
        let review = self.realm.application(id).await?;
        self.official_step_allowed(s, RealmAction::ProposeOfficial, "", id)
            .await?;
        if review.application.state != ApplicationState::Submitted {
            return Err(StaffError::Invalid(format!(
                "application {id} is {}, not waiting for its evidence to be checked",
                review.application.state.name()
            )));
        }
        let evidence = req.evidence.trim().to_string();
        let ticket = req.ticket.trim().to_string();
        if evidence.is_empty() || ticket.is_empty() {
            return Err(StaffError::Invalid(
                "the evidence checked and the ticket are required, not blank".into(),
            ));
        }
        let at = self
            .realm
            .record_at(
                EventKind::OfficialProposed,
                Some(&s.member.staff_id),
                Some(&s.org.org_id),
                serde_json::json!({
                    "application": id,
                    "handle": review.application.claim.handle,
                    "account_id": review.application.claim.account_id,
                    "purpose": PURPOSE,
                    "ticket": ticket,
                    "evidence": evidence,
                }),
            )
            .await?;
        let mut proposed = review.clone();
        proposed.application.state = ApplicationState::Proposed;
        proposed.proposed_by = Some(s.member.staff_id.clone());
        proposed.proposed_at = Some(kizuna_wire::now_ms());
        proposed.evidence = Some(evidence);
        proposed.ticket = Some(ticket);
        proposed.proposal_entry = Some(at);
        self.realm
            .update_application(&proposed, ApplicationState::Submitted)
            .await?;
        Ok(proposed)
    }

    /// The second person's approval: recorded, then the badge entered into
    /// the key log under the account's handle. The device that signed the
    /// claim must still be the account's, and the account still hold the
    /// handle, so the badge goes to exactly the organisation that applied.
    pub async fn approve_official(
        &self,
        s: &Session,
        id: &str,
    ) -> Result<OfficialReview, StaffError> {
        let review = self.realm.application(id).await?;
        let proposer = review.proposed_by.clone().unwrap_or_default();
        self.official_step_allowed(s, RealmAction::ApproveOfficial, &proposer, id)
            .await?;
        let (Some(proposal), ApplicationState::Proposed) =
            (review.proposal_entry, review.application.state)
        else {
            return Err(StaffError::Invalid(format!(
                "application {id} is {}; it is approved once someone has checked its evidence",
                review.application.state.name()
            )));
        };
        let claim = &review.application.claim;
        // The key log, as devices read it, must bind the handle to the
        // account that applied: a badge for an account that no longer
        // holds it would break every device's replay of the handle.
        let standing = crate::official::standing_in(self.store.as_ref(), &claim.handle)
            .await
            .map_err(|e| storage(e.message))?;
        let account = self
            .store
            .account_by_handle(&claim.handle)
            .await
            .map_err(storage)?
            .filter(|a| {
                a.account_id == claim.account_id
                    && standing.holder.as_deref() == Some(a.account_id.as_str())
            })
            .ok_or_else(|| {
                StaffError::Invalid(format!(
                    "{} no longer belongs to the account that applied; the application cannot be approved",
                    claim.handle
                ))
            })?;
        let device = self
            .store
            .device(&review.device_id)
            .await
            .map_err(storage)?
            .filter(|d| d.account_id == account.account_id)
            .ok_or_else(|| {
                StaffError::Invalid(format!(
                    "the device that signed application {id} is no longer {}'s; the organisation applies again",
                    claim.handle
                ))
            })?;
        let approved = self
            .realm
            .record_at(
                EventKind::OfficialVerified,
                Some(&s.member.staff_id),
                Some(&s.org.org_id),
                serde_json::json!({
                    "application": id,
                    "handle": claim.handle,
                    "account_id": claim.account_id,
                    "purpose": PURPOSE,
                    "proposed_by": proposer,
                    "proposal": proposal,
                }),
            )
            .await?;
        let verification = Verification {
            claim: String::from_utf8_lossy(&review.claim_bytes.0).into_owned(),
            application_id: id.to_string(),
            evidence: hash_hex(review.evidence.as_deref().unwrap_or_default().as_bytes()),
            proposed: proposal,
            approved,
        };
        if verification.claim.as_bytes() != review.claim_bytes.0.as_slice() {
            return Err(StaffError::Invalid(format!(
                "application {id}'s claim is not UTF-8 text"
            )));
        }
        // Taken from Proposed before the badge is logged: a second approval
        // or a rejection at the same time finds it moved on, so one badge
        // at most follows from one approval.
        let mut verified = review.clone();
        verified.application.state = ApplicationState::Verified;
        verified.application.decided_at = Some(kizuna_wire::now_ms());
        verified.decided_by = Some(s.member.staff_id.clone());
        self.realm
            .update_application(&verified, ApplicationState::Proposed)
            .await?;
        let logged = append_key_change(
            self.store.as_ref(),
            self.vault.ledger().map_err(super::vault_failure)?,
            KeyChange::Verified,
            &claim.handle,
            &claim.account_id,
            Some(LoggedDevice {
                id: &device.device_id,
                key: &device.signature_key,
                endorsed_by: None,
                signature: Some(&review.signature.0),
            }),
            OfficialMark {
                verification: Some(verification),
                reason: None,
            },
        )
        .await;
        let entry = match logged {
            Ok(entry) => entry,
            Err(e) => {
                // Not logged: the application waits for its approval again.
                if let Err(undo) = self
                    .realm
                    .update_application(&review, ApplicationState::Verified)
                    .await
                {
                    tracing::warn!(error = %undo, "an application whose badge was not logged stays marked verified");
                }
                return Err(key_log_failure(e));
            }
        };
        verified.application.key_entry = Some(entry);
        self.realm
            .update_application(&verified, ApplicationState::Verified)
            .await?;
        // An earlier badge of the same account is replaced by this one.
        for earlier in self
            .realm
            .applications(Some(&claim.account_id))
            .await?
            .into_iter()
            .filter(|r| {
                r.application.state == ApplicationState::Verified
                    && r.application.application_id != id
            })
        {
            let mut withdrawn = earlier.clone();
            withdrawn.application.state = ApplicationState::Withdrawn;
            withdrawn.application.reason = Some(format!("replaced by application {id}"));
            self.realm
                .update_application(&withdrawn, ApplicationState::Verified)
                .await?;
        }
        Ok(verified)
    }

    /// Turns an application down, with a reason the organisation is told.
    /// One person suffices: a rejection verifies nothing.
    pub async fn reject_official(
        &self,
        s: &Session,
        id: &str,
        req: VerificationDecision,
    ) -> Result<OfficialReview, StaffError> {
        let review = self.realm.application(id).await?;
        self.official_step_allowed(s, RealmAction::ProposeOfficial, "", id)
            .await?;
        let from = review.application.state;
        if !matches!(
            from,
            ApplicationState::Submitted | ApplicationState::Proposed
        ) {
            return Err(StaffError::Invalid(format!(
                "application {id} is {}; only a waiting one is rejected",
                from.name()
            )));
        }
        let reason = req.reason.trim().to_string();
        if reason.is_empty() {
            return Err(StaffError::Invalid(
                "a reason is required, not blank".into(),
            ));
        }
        self.realm
            .record(
                EventKind::OfficialRejected,
                Some(&s.member.staff_id),
                Some(&s.org.org_id),
                serde_json::json!({ "application": id, "purpose": PURPOSE, "reason": reason }),
            )
            .await?;
        let mut rejected = review.clone();
        rejected.application.state = ApplicationState::Rejected;
        rejected.application.decided_at = Some(kizuna_wire::now_ms());
        rejected.application.reason = Some(reason);
        rejected.decided_by = Some(s.member.staff_id.clone());
        self.realm.update_application(&rejected, from).await?;
        Ok(rejected)
    }

    /// Ends the badge of the account that holds `handle`: recorded, then a
    /// `verification_revoked` entry of the key log with the reason, which
    /// every device sees at its next look at the handle.
    pub async fn revoke_official(
        &self,
        s: &Session,
        handle: &str,
        req: VerificationDecision,
    ) -> Result<OfficialReview, StaffError> {
        // The badge as the key log holds it, whatever the applications say.
        let badge = crate::official::standing_in(self.store.as_ref(), handle)
            .await
            .map_err(|e| storage(e.message))?
            .badge
            .ok_or_else(|| StaffError::NotFound(format!("verified official account '{handle}'")))?;
        let id = badge.application_id.clone();
        self.official_step_allowed(s, RealmAction::RevokeOfficial, "", &id)
            .await?;
        let reason = req.reason.trim().to_string();
        if reason.is_empty() {
            return Err(StaffError::Invalid(
                "a reason is required, not blank".into(),
            ));
        }
        // Taken from Verified first, when the application says so: a
        // second revocation at the same time finds it moved on.
        let review = self.realm.application(&id).await.ok();
        let mut revoked = review.clone();
        if let Some(r) = revoked.as_mut() {
            r.application.state = ApplicationState::Revoked;
            r.application.decided_at = Some(kizuna_wire::now_ms());
            r.application.reason = Some(reason.clone());
            r.decided_by = Some(s.member.staff_id.clone());
        }
        if let (Some(before), Some(after)) = (&review, &revoked) {
            if before.application.state == ApplicationState::Verified {
                self.realm
                    .update_application(after, ApplicationState::Verified)
                    .await?;
            }
        }
        let account = badge.account_id;
        self.realm
            .record(
                EventKind::OfficialRevoked,
                Some(&s.member.staff_id),
                Some(&s.org.org_id),
                serde_json::json!({
                    "application": id,
                    "handle": handle,
                    "account_id": account,
                    "purpose": PURPOSE,
                    "reason": reason,
                }),
            )
            .await?;
        append_key_change(
            self.store.as_ref(),
            self.vault.ledger().map_err(super::vault_failure)?,
            KeyChange::VerificationRevoked,
            handle,
            &account,
            None,
            OfficialMark {
                verification: None,
                reason: Some(reason.clone()),
            },
        )
        .await
        .map_err(key_log_failure)?;
        revoked.ok_or_else(|| {
            StaffError::NotFound(format!(
                "application {id}: the badge was revoked, but the staff realm holds no application by that id"
            ))
        })
    }
}

/// The answer to a second application while one waits.
fn already_waiting(application: &str) -> NodeError {
    NodeError::conflict(
        ErrorCode::AlreadyExists,
        format!(
            "application {application} is still waiting for the operator; a second one is taken once it is decided"
        ),
    )
}
