//! Every request type, user and staff, checked against its fields' rules.

use super::*;

use crate::reports::{AppealRequest, ReportRequest, ResolveRequest};
use crate::staff::{
    BreachQuery, GrantRequest, NewStaffMember, Org, OrgScope, ReviewCompletion, StaffLogin,
    VerificationDecision, VerificationProposal,
};
use crate::{
    AckRequest, ChallengeRequest, ClaimRequest, CommitRequest, Contacts, CreateGroupRequest,
    FileUpload, KeyPackageUpload, LinkApprove, LinkCode, LinkRequest, NewDevice, PhoneCodeRequest,
    PhoneLookupRequest, ProposalRequest, RegisterRequest, SendRequest, TokenRequest,
};

/// Requests with no text or number a rule applies to: their binary fields
/// are checked by the node, which reads them.
macro_rules! nothing_to_check {
    ($($t:ty),*) => {$(
        impl Checked for $t {
            fn check(&self) -> Result<(), FieldError> {
                Ok(())
            }
        }
    )*};
}

nothing_to_check!(
    CreateGroupRequest,
    ProposalRequest,
    SendRequest,
    KeyPackageUpload,
    FileUpload,
    crate::OfficialApplicationRequest,
    crate::FollowRequest,
    crate::AnnouncementRequest
);

impl Checked for crate::OfficialClaim {
    fn check(&self) -> Result<(), FieldError> {
        HANDLE.check(&self.handle)?;
        ID.named("account_id").check(&self.account_id)?;
        ORGANISATION.check(&self.organisation)?;
        COUNTRY.check(&self.country)?;
        AREA.check_some(&self.area)?;
        KEEPS_DATA.check(&self.keeps_data)?;
        COUNTRY
            .named("keeps_data_country")
            .check(&self.keeps_data_country)?;
        CONTACT.check(&self.contact)?;
        check_stored("at", self.at).map(drop)
    }
}

impl Checked for VerificationProposal {
    fn check(&self) -> Result<(), FieldError> {
        EVIDENCE.check(&self.evidence)?;
        TICKET.check(&self.ticket)
    }
}

impl Checked for VerificationDecision {
    fn check(&self) -> Result<(), FieldError> {
        DECISION_REASON.check(&self.reason)
    }
}

impl Checked for NewDevice {
    fn check(&self) -> Result<(), FieldError> {
        DEVICE_LABEL.check_at("device.label", &self.label)
    }
}

impl Checked for PhoneCodeRequest {
    fn check(&self) -> Result<(), FieldError> {
        PHONE.check(&self.phone)?;
        REGION.check(&self.region)?;
        DISCLOSURES_VERSION
            .named("agreed_disclosures")
            .check_some(&self.agreed_disclosures)
    }
}

impl Checked for RegisterRequest {
    fn check(&self) -> Result<(), FieldError> {
        HANDLE.check(&self.handle)?;
        NAME.check(&self.name)?;
        PHONE.check(&self.phone)?;
        PHONE_CODE.check(&self.phone_code)?;
        EMAIL.check_some(&self.email)?;
        REGION.check(&self.region)?;
        DISCLOSURES_VERSION
            .named("agreed_disclosures")
            .check_some(&self.agreed_disclosures)?;
        self.device.check()
    }
}

impl Checked for crate::consent::AgreeRequest {
    fn check(&self) -> Result<(), FieldError> {
        DISCLOSURES_VERSION.check(&self.version)
    }
}

impl Checked for ChallengeRequest {
    fn check(&self) -> Result<(), FieldError> {
        DEVICE_ID.check(&self.device_id)
    }
}

impl Checked for TokenRequest {
    fn check(&self) -> Result<(), FieldError> {
        DEVICE_ID.check(&self.device_id)?;
        CHALLENGE.check(&self.challenge)
    }
}

impl Checked for PhoneLookupRequest {
    fn check(&self) -> Result<(), FieldError> {
        PHONE.check(&self.phone)
    }
}

impl Checked for LinkRequest {
    fn check(&self) -> Result<(), FieldError> {
        HANDLE.check(&self.handle)?;
        self.device.check()
    }
}

impl Checked for LinkApprove {
    fn check(&self) -> Result<(), FieldError> {
        LINK_CODE.check(&self.code)
    }
}

impl Checked for LinkCode {
    fn check(&self) -> Result<(), FieldError> {
        LINK_CODE.check(&self.code)
    }
}

impl Checked for CommitRequest {
    fn check(&self) -> Result<(), FieldError> {
        DEVICE_ID.check_each("added_devices", &self.added_devices)?;
        DEVICE_ID.check_each("removed_devices", &self.removed_devices)
    }
}

impl Checked for AckRequest {
    fn check(&self) -> Result<(), FieldError> {
        check_stored("up_to", self.up_to).map(drop)
    }
}

impl Checked for ClaimRequest {
    fn check(&self) -> Result<(), FieldError> {
        HANDLE.check_each("handles", &self.handles)?;
        DEVICE_ID.check_each("devices", &self.devices)
    }
}

impl Checked for Contacts {
    fn check(&self) -> Result<(), FieldError> {
        HANDLE.check_each("handles", &self.handles)
    }
}

impl Checked for ReportRequest {
    fn check(&self) -> Result<(), FieldError> {
        REPORT_NOTE.check_some(&self.note)?;
        if self.messages.len() > crate::reports::MAX_CONTEXT + 1 {
            return Err(FieldError {
                field: "messages".into(),
                problem: Problem::TooMany {
                    max: crate::reports::MAX_CONTEXT + 1,
                    found: self.messages.len(),
                },
                code: ErrorCode::BadRequest,
            });
        }
        for (i, m) in self.messages.iter().enumerate() {
            HANDLE.check_at(&format!("messages[{i}].sender_handle"), &m.sender_handle)?;
            check_stored(&format!("messages[{i}].group_seq"), m.group_seq)?;
            check_stored(&format!("messages[{i}].server_time"), m.server_time)?;
        }
        Ok(())
    }
}

impl Checked for AppealRequest {
    fn check(&self) -> Result<(), FieldError> {
        APPEAL_NOTE.check(&self.note)
    }
}

impl Checked for StaffLogin {
    fn check(&self) -> Result<(), FieldError> {
        STAFF_ID.check(&self.staff_id)?;
        PASSWORD.check(&self.password)?;
        TOTP.check(&self.totp)
    }
}

impl Checked for OrgScope {
    fn check(&self) -> Result<(), FieldError> {
        REGION.check_each("scope.regions", &self.regions)?;
        SCOPE_NAME.check_each("scope.purposes", &self.purposes)?;
        SCOPE_NAME.check_each("scope.fields", &self.fields)
    }
}

impl Checked for Org {
    fn check(&self) -> Result<(), FieldError> {
        ORG_ID.check(&self.org_id)?;
        COUNTRY.check(&self.country)?;
        NETWORK.check_each("networks", &self.networks)?;
        if let Some(t) = self.suspended_at {
            check_stored("suspended_at", t)?;
        }
        self.scope.check()
    }
}

impl Checked for NewStaffMember {
    fn check(&self) -> Result<(), FieldError> {
        STAFF_ID.check(&self.staff_id)?;
        ORG_ID.check(&self.org_id)
    }
}

/// The longest grant a request may name, in seconds, so that its end in
/// milliseconds is a time the node can hold; the access policy sets the
/// real maximum (hours), and this only keeps the arithmetic whole.
pub const MAX_GRANT_SECS: u64 = MAX_STORED / 1000;

impl Checked for GrantRequest {
    fn check(&self) -> Result<(), FieldError> {
        HANDLE.check_each("subjects", &self.subjects)?;
        SCOPE_NAME.check_each("fields", &self.fields)?;
        TICKET.check(&self.ticket)?;
        JUSTIFICATION.check(&self.reason)?;
        REGION.check_each("regions", &self.regions)?;
        if self.duration_secs > MAX_GRANT_SECS {
            return Err(FieldError {
                field: "duration_secs".into(),
                problem: Problem::TooLarge {
                    max: MAX_GRANT_SECS,
                },
                code: ErrorCode::BadRequest,
            });
        }
        Ok(())
    }
}

impl Checked for ReviewCompletion {
    fn check(&self) -> Result<(), FieldError> {
        REVIEW_NOTE.check(&self.note)
    }
}

impl Checked for ResolveRequest {
    fn check(&self) -> Result<(), FieldError> {
        DECISION_REASON.check(&self.reason)
    }
}

impl Checked for BreachQuery {
    fn check(&self) -> Result<(), FieldError> {
        if let Some(o) = &self.org_id {
            ORG_ID.check(o)?;
        }
        if let Some(s) = &self.staff_id {
            STAFF_ID.check(s)?;
        }
        for (name, t) in [("from", self.from), ("to", self.to)] {
            if let Some(t) = t {
                check_stored(name, t)?;
            }
        }
        Ok(())
    }
}
