//! The OpenAPI document of the staff API, served at `/openapi.json` on the
//! staff listener. Like the user API's, it is generated from the handlers'
//! annotations and the wire types, so it cannot drift from what the staff
//! listener accepts and answers.

use axum::Json;
use kizuna_wire::{ErrorBody, ErrorCode};
use utoipa::OpenApi;

use crate::openapi::BearerToken;

/// What a client of the staff listener needs before its first request.
const ABOUT: &str = include_str!("openapi.md");

#[derive(OpenApi)]
#[openapi(
    info(title = "Kizuna staff API"),
    paths(
        super::login,
        super::logout,
        super::me,
        super::orgs,
        super::add_org,
        super::suspend_org,
        super::members,
        super::add_member,
        super::suspend_member,
        super::events,
        super::alerts,
        super::reviews,
        super::complete_review,
        super::governance::list,
        super::governance::request,
        super::governance::approve,
        super::governance::deny,
        super::governance::revoke,
        super::governance::governed_read,
        super::moderation::list,
        super::moderation::show,
        super::moderation::resolve,
        super::moderation::file,
        super::breach::scope,
        super::official::list,
        super::official::propose,
        super::official::approve,
        super::official::reject,
        super::official::revoke,
    ),
    // Every code the staff listener answers with is listed, though only
    // some appear in a body the document names.
    components(schemas(ErrorCode, ErrorBody)),
    modifiers(&BearerToken)
)]
struct StaffApi;

pub fn spec() -> utoipa::openapi::OpenApi {
    let mut doc = StaffApi::openapi();
    doc.info.description = Some(ABOUT.to_string());
    doc
}

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(spec())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `(path, method)` the staff router serves, read from the
    /// router's own source, so a route added without its annotation fails
    /// here rather than going unseen by a client's author.
    fn routes_in_source() -> Vec<(String, String)> {
        let sources = [
            include_str!("mod.rs"),
            include_str!("governance.rs"),
            include_str!("moderation.rs"),
            include_str!("breach.rs"),
            include_str!("official.rs"),
        ];
        let mut routes = Vec::new();
        for source in sources {
            // `.route("PATH", handlers)`, on one line or, as rustfmt writes
            // a long one, over several.
            for call in source.split(".route(").skip(1) {
                let Some(call) = call.trim_start().strip_prefix('"') else {
                    continue;
                };
                let Some((path, rest)) = call.split_once('"') else {
                    continue;
                };
                // The router's chain ends at the first blank line.
                let handlers = rest.split("\n\n").next().unwrap_or(rest);
                for method in ["get", "post", "put", "delete", "patch"] {
                    let named = handlers
                        .match_indices(&format!("{method}("))
                        .any(|(at, _)| {
                            !handlers[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_')
                        });
                    if named {
                        routes.push((path.to_string(), method.to_string()));
                    }
                }
            }
        }
        routes
    }

    #[test]
    fn every_staff_route_is_documented() {
        let doc = serde_json::to_value(spec()).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        let routes = routes_in_source();
        assert!(routes.len() >= 22, "{routes:?}");
        let mut served = 0;
        for (path, method) in &routes {
            if path == "/openapi.json" {
                continue;
            }
            served += 1;
            assert!(
                paths
                    .get(path)
                    .is_some_and(|p| p.get(method).is_some_and(|m| m.is_object())),
                "{method} {path} is served by the staff listener but not in its document"
            );
        }
        // Nor does the document name a route the listener does not serve.
        let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
        assert_eq!(documented, served, "{routes:?}");
    }

    #[test]
    fn every_staff_answer_and_error_code_is_described() {
        let doc = serde_json::to_value(spec()).unwrap();
        assert!(doc["info"]["description"]
            .as_str()
            .unwrap()
            .contains("TOTP"));
        let codes = doc["components"]["schemas"]["ErrorCode"]["enum"]
            .as_array()
            .unwrap();
        for code in [ErrorCode::NetworkNotAllowed, ErrorCode::WrongRealm] {
            assert!(codes.contains(&code.to_string().into()), "{code}");
        }
        let mut operation_ids = std::collections::HashSet::new();
        for (path, operation) in doc["paths"].as_object().unwrap() {
            for (method, op) in operation.as_object().unwrap() {
                assert_eq!(op["tags"][0], "staff", "{method} {path}");
                // Client generators name their functions by these.
                assert!(
                    operation_ids.insert(op["operationId"].as_str().unwrap().to_string()),
                    "{method} {path} repeats the operation id {}",
                    op["operationId"]
                );
                let answers = op["responses"].as_object().unwrap();
                assert!(answers.contains_key("default"), "{method} {path}");
                if path != "/staff/v1/login" {
                    assert!(op["security"].is_array(), "{method} {path} needs a token");
                }
            }
        }
        // The figures the descriptions give are the realm's own.
        let words = |v: &serde_json::Value| {
            v.as_str()
                .unwrap()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        };
        let about = words(&doc["info"]["description"]);
        let hours = kizuna_staff::SESSION_TTL_SECS / 3600;
        assert!(about.contains(&format!("A session lasts {hours} hours")));
        let login = words(&doc["paths"]["/staff/v1/login"]["post"]["description"]);
        let failures = kizuna_staff::MAX_FAILED_LOGINS;
        let minutes = kizuna_staff::LOGIN_WINDOW_MS / 60_000;
        assert!(
            login.contains(&format!(
                "{failures} failed logins of one staff id within {minutes} minutes"
            )),
            "{login}"
        );
        for typed in ["StaffIdentity", "StaffEvent", "BreachScope", "OpenedReport"] {
            assert!(
                doc["components"]["schemas"][typed].is_object(),
                "{typed} is not described"
            );
        }
    }
}
