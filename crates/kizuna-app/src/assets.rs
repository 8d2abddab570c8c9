//! The pages' files, embedded in the binary: the apps fetch nothing at run
//! time.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

use crate::AppError;

/// The device app's files.
pub(crate) fn device(path: &str) -> Result<Response, AppError> {
    match path {
        "/base.css" => Ok(file(BASE, STYLE)),
        "/" | "/index.html" => Ok(file(include_str!("../assets/index.html"), HTML)),
        "/app.js" => Ok(file(include_str!("../assets/app.js"), SCRIPT)),
        "/app.css" => Ok(file(include_str!("../assets/app.css"), STYLE)),
        _ => Err(AppError::NotFound),
    }
}

/// The staff console's files.
pub(crate) fn staff(path: &str) -> Result<Response, AppError> {
    match path {
        "/base.css" => Ok(file(BASE, STYLE)),
        "/" | "/staff.html" => Ok(file(include_str!("../assets/staff.html"), HTML)),
        "/staff.js" => Ok(file(include_str!("../assets/staff.js"), SCRIPT)),
        "/staff.css" => Ok(file(include_str!("../assets/staff.css"), STYLE)),
        _ => Err(AppError::NotFound),
    }
}

/// What both pages' styles share.
const BASE: &str = include_str!("../assets/base.css");
const HTML: &str = "text/html; charset=utf-8";
const SCRIPT: &str = "text/javascript; charset=utf-8";
const STYLE: &str = "text/css; charset=utf-8";

fn file(body: &'static str, kind: &'static str) -> Response {
    let mut r = body.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    r
}
