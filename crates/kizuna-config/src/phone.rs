//! `[phone_gateway]`: the SMS gateway that sends the one-time codes a
//! registration needs. Every phone number being registered goes to it, so
//! it is declared here, where each region's rules and disclosures are: its
//! operator and country are what people are told, and a region that does
//! not allow its country cannot have its people's numbers sent there.

use std::path::PathBuf;

use serde::Deserialize;

use crate::{lexical, valid_country, DataDir, Region};

/// An SMS gateway over HTTP, and who runs it where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhoneGateway {
    /// Where each code is `POST`ed as `{"to", "text"}`.
    pub url: String,
    /// The file holding its bearer token, relative to the data directory
    /// unless absolute; the token itself is never in this file.
    pub token_file: PathBuf,
    /// ISO 3166-1 alpha-2 code of the country the gateway runs in.
    pub country: String,
    /// Who runs it, as people are told.
    pub operator: String,
}

impl PhoneGateway {
    /// The gateway's host, as people are told where their number goes.
    pub fn host(&self) -> &str {
        let rest = self.url.split_once("://").map_or(&*self.url, |(_, r)| r);
        rest.split(['/', '?', '#']).next().unwrap_or(rest)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PhoneGatewayFile {
    url: String,
    token_file: PathBuf,
    country: String,
    operator: String,
}

impl PhoneGatewayFile {
    /// The gateway, checked against the regions whose people's numbers it
    /// would receive; or where and what is wrong.
    pub(crate) fn checked(self, regions: &[Region]) -> Result<PhoneGateway, (String, String)> {
        let place = |what: &str| format!("phone_gateway.{what}");
        let url = self.url.trim().to_string();
        let host_ok = url
            .split_once("://")
            .is_some_and(|(scheme, rest)| matches!(scheme, "http" | "https") && !rest.is_empty());
        if !host_ok {
            return Err((
                place("url"),
                format!("\"{url}\" is not a URL like \"https://sms.example/send\""),
            ));
        }
        let authority = url.split_once("://").map_or("", |(_, rest)| {
            rest.split(['/', '?', '#']).next().unwrap_or("")
        });
        if authority.contains('@') {
            return Err((
                place("url"),
                "the URL holds credentials, which people would be shown with the gateway's host; put the token in token_file".into(),
            ));
        }
        // Numbers, codes and the token cross the network in the clear over
        // plain HTTP: only to a gateway on this machine.
        let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
        if url.starts_with("http://") && !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
            return Err((
                place("url"),
                format!("\"{url}\" is plain HTTP: phone numbers, codes and the token would cross the network readable; use https://"),
            ));
        }
        if !valid_country(&self.country) {
            return Err((
                place("country"),
                format!(
                    "country \"{}\" is not an ISO 3166-1 alpha-2 code like \"JP\"",
                    self.country
                ),
            ));
        }
        if self.operator.trim().is_empty() {
            return Err((
                place("operator"),
                "say who runs the gateway: people are told where their number goes".into(),
            ));
        }
        let token_file = lexical(&self.token_file);
        if token_file.as_os_str().is_empty() || DataDir::is_node_file(&token_file) {
            return Err((
                place("token_file"),
                format!(
                    "{} is not a file of the gateway's own; name one like \"keys/sms-gateway.token\"",
                    token_file.display()
                ),
            ));
        }
        // Every region's people register through it: each must allow the
        // gateway's country, and so disclose it.
        for r in regions {
            if r.access_from(&self.country).is_none() {
                return Err((
                    place("country"),
                    format!(
                        "region {}'s people's phone numbers would go to the gateway in {}, which the region's rules do not allow: add [regions.{}.access_from.{}] with its disclosure, or use a gateway in a country every region allows",
                        r.id, self.country, r.id, self.country
                    ),
                ));
            }
        }
        Ok(PhoneGateway {
            url,
            token_file,
            country: self.country,
            operator: self.operator.trim().to_string(),
        })
    }
}
