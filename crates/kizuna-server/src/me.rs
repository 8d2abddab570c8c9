//! A person's own view of their personal data: where it is and from where it
//! may be reached (data map), all of it (export), their contacts, and
//! erasure. Every read goes through the vault, in the person's home region.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use kizuna_store::Account;
use kizuna_wire::*;

use crate::api::{ApiJson, AuthedDevice, Shared};
use crate::auth::DeviceIdentity;
use crate::error::ApiError;

pub(crate) async fn account(s: &Shared, me: &DeviceIdentity) -> Result<Account, ApiError> {
    s.store.account_by_id(&me.account_id).await?.ok_or_else(|| {
        ApiError::not_found(ErrorCode::UnknownAccount, "this account no longer exists")
    })
}

#[utoipa::path(
    get,
    path = "/v1/me/data-map",
    tag = "user",
    summary = "Each category of my data: where it is stored, from which countries it may be reached and why, and the transfers that happened",
    responses((status = 200, description = "my data map", body = DataMap), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn data_map(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
) -> Result<ApiJson<DataMap>, ApiError> {
    let a = account(&s, &me).await?;
    Ok(ApiJson(
        s.vault
            .data_map(&a.account_id, &a.region, &me.requester())
            .await?,
    ))
}

#[utoipa::path(
    get,
    path = "/v1/me/export",
    tag = "user",
    summary = "All my personal data, where it is stored and its transfers (GDPR Art. 15 and 20)",
    responses((status = 200, description = "my data", body = Export), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn export(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
) -> Result<ApiJson<Export>, ApiError> {
    let a = account(&s, &me).await?;
    let who = me.requester();
    let profile = s.vault.profile(&a.account_id, &a.region, &who).await?;
    let contacts = s.vault.contacts(&a.account_id, &a.region, &who).await?;
    let blocks = s.vault.blocks(&a.account_id, &a.region, &who).await?;
    let devices = s.store.devices_of(&a.account_id).await?;
    let data_map = s.vault.data_map(&a.account_id, &a.region, &who).await?;
    let reports = s.vault.reports_of(&a.account_id, &a.region, &who).await?;
    let moderation = s.vault.notices(&a.account_id, &a.region, &who).await?;
    Ok(ApiJson(Export {
        exported_at: now_ms(),
        account_id: a.account_id,
        handle: a.handle,
        created_at: a.created_at,
        name: profile.name,
        phone: profile.phone,
        email: profile.email,
        contacts: contacts.handles,
        blocked: blocks.blocked,
        devices: devices
            .into_iter()
            .map(|d| ExportDevice {
                device_id: d.device_id,
                label: d.label,
                signature_key: Bytes(d.signature_key),
            })
            .collect(),
        data_map,
        reports,
        moderation,
    }))
}

#[utoipa::path(
    get,
    path = "/v1/me/contacts",
    tag = "user",
    summary = "My contact list, kept sealed in my home region",
    responses((status = 200, description = "my contacts", body = Contacts), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn contacts(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
) -> Result<ApiJson<Contacts>, ApiError> {
    let a = account(&s, &me).await?;
    Ok(ApiJson(
        s.vault
            .contacts(&a.account_id, &a.region, &me.requester())
            .await?,
    ))
}

#[utoipa::path(
    put,
    path = "/v1/me/contacts",
    tag = "user",
    summary = "Replace my contact list",
    request_body = Contacts,
    responses((status = 204, description = "stored, sealed, in my home region"), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn set_contacts(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    ApiJson(req): ApiJson<Contacts>,
) -> Result<StatusCode, ApiError> {
    let a = account(&s, &me).await?;
    s.vault
        .set_contacts(&a.account_id, &a.region, &req, &me.requester())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    delete,
    path = "/v1/me",
    tag = "user",
    summary = "Erase my account: my data key is destroyed, then my account, devices and queues are removed",
    responses((status = 200, description = "erased", body = Erased), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn erase(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
) -> Result<ApiJson<Erased>, ApiError> {
    let a = account(&s, &me).await?;
    // What the person reported goes with them; a sanction resting on one
    // of those reports could no longer be appealed, so it is lifted first.
    let reports = s.vault.report_ids_of(&a.account_id, &a.region).await?;
    s.sanctions.lift_reports(s.store.as_ref(), &reports).await?;
    // Blocks made by or against the person are lifted while their sealed
    // list can still say which.
    crate::blocks::forget(&s, &a.account_id, &a.region, &me.requester()).await?;
    // The key goes first: from then on nothing of the person can be opened,
    // whatever else is left. Repeating the request finishes the rest.
    s.vault
        .erase(&a.account_id, &a.region, &me.requester())
        .await?;
    // Every chat is told, and its members take the devices out.
    let devices: Vec<String> = s
        .store
        .devices_of(&a.account_id)
        .await?
        .into_iter()
        .map(|d| d.device_id)
        .collect();
    crate::departures::end_devices(&s, &a.handle, &devices, crate::departures::Why::Erased).await?;
    s.store.delete_account(&a.account_id).await?;
    s.handles.write().map(|mut h| h.remove(&a.account_id)).ok();
    tracing::info!(region = %a.region, "an account was erased");
    Ok(ApiJson(Erased {
        account_id: a.account_id,
        region: a.region,
    }))
}

fn staff_error(e: kizuna_staff::StaffError) -> ApiError {
    use kizuna_staff::StaffError as S;
    match e {
        S::NotFound(what) => ApiError::not_found(ErrorCode::NotFound, format!("no {what}")),
        S::Invalid(m) => ApiError::conflict(ErrorCode::BadRequest, m),
        other => {
            tracing::error!(error = %other, "answering a staff request failed");
            ApiError::internal()
        }
    }
}

fn governance(s: &Shared) -> Result<&crate::governance::Governance, ApiError> {
    s.governance.as_deref().ok_or_else(|| {
        ApiError::not_found(
            ErrorCode::NotFound,
            "this node runs without a staff realm, so nobody can ask for your data here",
        )
    })
}

#[utoipa::path(
    get,
    path = "/v1/me/requests",
    tag = "user",
    summary = "Staff requests for my data that ask for my agreement first",
    responses((status = 200, description = "the requests", body = Vec<kizuna_wire::staff::AccessRequest>), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn requests(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
) -> Result<ApiJson<Vec<kizuna_wire::staff::AccessRequest>>, ApiError> {
    let a = account(&s, &me).await?;
    Ok(ApiJson(
        governance(&s)?
            .requests_for(&a.handle)
            .await
            .map_err(staff_error)?,
    ))
}

#[utoipa::path(
    post,
    path = "/v1/me/requests/{grant}/{answer}",
    tag = "user",
    summary = "Agree to or decline a staff request for my data",
    params(
        ("grant" = String, Path, description = "the grant id"),
        ("answer" = String, Path, description = "agree or decline")
    ),
    responses((status = 204, description = "answered"), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn answer_request(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    Path((grant, answer)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let agree = match answer.as_str() {
        "agree" => true,
        "decline" => false,
        _ => {
            return Err(ApiError::bad_request(
                ErrorCode::BadRequest,
                "answer with agree or decline",
            ))
        }
    };
    let a = account(&s, &me).await?;
    governance(&s)?
        .answer(&a.handle, &grant, agree)
        .await
        .map_err(staff_error)?;
    Ok(StatusCode::NO_CONTENT)
}
