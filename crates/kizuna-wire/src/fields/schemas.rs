//! The rules as the API document states them, built from the same
//! [`Field`]s the checks use, so the document cannot promise less or more
//! than the server accepts.

use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};
use utoipa::openapi::{Array, Object};

use super::*;

/// A string field under `rule`.
pub fn string(rule: Field) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length((rule.min > 0).then_some(rule.min))
        .max_length(Some(rule.max))
        .pattern(Some(rule.class.pattern()))
}

fn optional(rule: Field) -> Object {
    string(rule)
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .build()
}

fn list(rule: Field) -> Array {
    ArrayBuilder::new()
        .items(string(rule))
        .max_items(Some(MAX_LIST))
        .build()
}

pub fn handle() -> Object {
    string(HANDLE).build()
}
pub fn disclosures_version() -> Object {
    string(DISCLOSURES_VERSION).build()
}
pub fn agreed_disclosures() -> Object {
    optional(DISCLOSURES_VERSION)
}
pub fn handles() -> Array {
    list(HANDLE)
}
pub fn claimed_handles() -> Array {
    let mut a = list(HANDLE);
    a.description =
        Some("Claim one key package for every device of each of these accounts.".into());
    a
}
pub fn claimed_devices() -> Array {
    let mut a = list(DEVICE_ID);
    a.description = Some("Claim one key package for each of these devices.".into());
    a
}
pub fn name() -> Object {
    string(NAME).build()
}
pub fn email() -> Object {
    optional(EMAIL)
}
pub fn phone() -> Object {
    string(PHONE).build()
}
pub fn phone_code() -> Object {
    string(PHONE_CODE).build()
}
pub fn region() -> Object {
    string(REGION).build()
}
pub fn device_label() -> Object {
    string(DEVICE_LABEL).build()
}
pub fn device_id() -> Object {
    string(DEVICE_ID).build()
}
pub fn device_ids() -> Array {
    list(DEVICE_ID)
}
pub fn challenge() -> Object {
    string(CHALLENGE).build()
}
pub fn link_code() -> Object {
    string(LINK_CODE).build()
}
pub fn report_note() -> Object {
    optional(REPORT_NOTE)
}
pub fn appeal_note() -> Object {
    string(APPEAL_NOTE).build()
}
