//! What a person is told about the foreign countries that may reach their
//! data, before registering and after, and their agreement to it over
//! HTTP (the node's `disclosures`).

use axum::extract::{Path, State};
use kizuna_wire::*;

use super::{ApiJson, AuthedDevice, Shared};
use crate::error::ApiError;

#[utoipa::path(
    get,
    path = "/v1/regions/{region}/disclosures",
    tag = "user",
    summary = "What a person whose home is this region must read and agree to before registering",
    description = "Every foreign country that may reach their data, why, and its full disclosure, under a version that changes with the text. Registration carries the version agreed to.",
    params(("region" = String, Path, description = "the home region")),
    responses((status = 200, description = "the disclosures", body = Disclosures), (status = "default", description = "an error with a stable code", body = ErrorBody))
)]
pub(crate) async fn disclosures(
    State(s): State<Shared>,
    Path(region): Path<String>,
) -> Result<ApiJson<Disclosures>, ApiError> {
    Ok(ApiJson(s.disclosures(&region)?))
}

#[utoipa::path(
    get,
    path = "/v1/me/consent",
    tag = "user",
    summary = "My agreement to my home region's disclosures: whether it stands, what follows, and its history",
    responses((status = 200, description = "my agreement", body = Consent), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn consent(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
) -> Result<ApiJson<Consent>, ApiError> {
    Ok(ApiJson(s.consent(&me).await?))
}

#[utoipa::path(
    post,
    path = "/v1/me/consent",
    tag = "user",
    summary = "Agree to the current disclosures of my home region (after a move, a change of their text, or a withdrawal)",
    request_body = AgreeRequest,
    responses((status = 200, description = "agreed; sealed in my home region", body = Consent), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn agree(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    ApiJson(req): ApiJson<AgreeRequest>,
) -> Result<ApiJson<Consent>, ApiError> {
    Ok(ApiJson(s.agree(&me, &req.version).await?))
}

#[utoipa::path(
    delete,
    path = "/v1/me/consent",
    tag = "user",
    summary = "Withdraw my agreement: no country abroad reaches my data any more",
    description = "Recorded in my home region. The answer states what follows: a node abroad serves only my rights over my own data (to see, export or erase it, and to agree again).",
    responses((status = 200, description = "withdrawn", body = Consent), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn withdraw(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
) -> Result<ApiJson<Consent>, ApiError> {
    Ok(ApiJson(s.withdraw(&me).await?))
}
