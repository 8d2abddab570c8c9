//! Files over HTTP: starting an upload to a chat, its parts up and down as
//! raw bytes with their `Content-Digest`, and how far an upload got.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use kizuna_wire::*;

use super::{decode_group, ApiJson, ApiPath, AuthedDevice, Shared};
use crate::error::ApiError;

/// A file id as the paths carry it.
fn checked_id(file: &str) -> Result<&str, ApiError> {
    if file.len() == 32 && file.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(file)
    } else {
        Err(ApiError::bad_request(
            ErrorCode::BadRequest,
            "a file id is 32 lowercase hex digits",
        ))
    }
}

#[utoipa::path(
    post,
    path = "/v1/groups/{group}/files",
    tag = "user",
    summary = "Start uploading a sealed file to a chat (refused before anything is kept if too large or over the quota)",
    params(("group" = String, Path, description = "the MLS group id: 1 to 64 bytes in lowercase hex", min_length = 2, max_length = 128, pattern = r"^([0-9a-f]{2}){1,64}$")),
    request_body = FileUpload,
    responses((status = 200, description = "the upload, with its parts to send", body = FileProgress), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn begin_upload(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    ApiPath(group): ApiPath<String>,
    ApiJson(req): ApiJson<FileUpload>,
) -> Result<ApiJson<FileProgress>, ApiError> {
    Ok(ApiJson(
        s.begin_upload(&me, decode_group(&group)?, req).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/v1/files/{file}",
    tag = "user",
    summary = "How far an upload got (for its device), or a file this device may fetch",
    params(("file" = String, Path, description = "the file id", min_length = 32, max_length = 32, pattern = r"^[0-9a-f]{32}$")),
    responses((status = 200, description = "the file's parts and how many are kept", body = FileProgress), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn file_progress(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    ApiPath(file): ApiPath<String>,
) -> Result<ApiJson<FileProgress>, ApiError> {
    Ok(ApiJson(s.file_progress(&me, checked_id(&file)?).await?))
}

#[utoipa::path(
    put,
    path = "/v1/files/{file}/parts/{part}",
    tag = "user",
    summary = "Upload a part of a file (the first the node lacks or one of the 8 after it), as raw bytes with its SHA-256 in Content-Digest",
    params(
        ("file" = String, Path, description = "the file id", min_length = 32, max_length = 32, pattern = r"^[0-9a-f]{32}$"),
        ("part" = u32, Path, description = "the part's number, from 0"),
        ("content-digest" = String, Header, description = "the part's SHA-256 as RFC 9530 writes it: sha-256=:<base64>:"),
    ),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "the part: 1 MiB, the last one shorter"),
    responses((status = 200, description = "the part is on disk", body = FileProgress), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn put_part(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    ApiPath((file, part)): ApiPath<(String, u32)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<ApiJson<FileProgress>, ApiError> {
    let file = checked_id(&file)?;
    let body = body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large("a part is at most 1 MiB")
        } else {
            ApiError::bad_request(ErrorCode::BadPart, r.body_text())
        }
    })?;
    let digest = headers.get(CONTENT_DIGEST).and_then(|v| v.to_str().ok());
    Ok(ApiJson(s.put_part(&me, file, part, digest, body).await?))
}

#[utoipa::path(
    get,
    path = "/v1/files/{file}/parts/{part}",
    tag = "user",
    summary = "Fetch one part of a file this device was in the chat for when it was sent",
    params(
        ("file" = String, Path, description = "the file id", min_length = 32, max_length = 32, pattern = r"^[0-9a-f]{32}$"),
        ("part" = u32, Path, description = "the part's number, from 0"),
    ),
    responses((status = 200, description = "the part's sealed bytes, with their SHA-256 in Content-Digest", body = Vec<u8>, content_type = "application/octet-stream"), (status = "default", description = "an error with a stable code", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn get_part(
    State(s): State<Shared>,
    AuthedDevice(me): AuthedDevice,
    ApiPath((file, part)): ApiPath<(String, u32)>,
) -> Result<Response, ApiError> {
    let (bytes, digest) = s.get_part(&me, checked_id(&file)?, part).await?;
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = HeaderValue::from_str(&digest) {
        h.insert(CONTENT_DIGEST, v);
    }
    Ok(r)
}
