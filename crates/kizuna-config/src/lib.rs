//! The one declarative configuration of regions: where each region's store
//! and key live, from which countries its people's data may be reached, and
//! the disclosure the law asks for each foreign country.
//!
//! Placement, access decisions and what people are shown about their data
//! are all derived from a [`Regions`] value, so they cannot disagree.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

mod data_dir;
mod files;
mod phone;
mod placement;
pub use data_dir::{create_private_dir, DataDir, DataDirError, DataDirLock, NodeKey};
pub use files::{parse_size, FileLimits, FilesLocation, S3Bucket, MIB};
pub use phone::PhoneGateway;
pub use placement::{Cluster, PostgresDatabase, StoreLocation};

/// The configuration a bare `kizuna serve` runs with: regions `jp` and `kr`.
pub const DEFAULT_TOML: &str = include_str!("default.toml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not have the expected shape; the
    /// message carries the line and column.
    #[error("{origin}: {message}")]
    Syntax { origin: String, message: String },
    /// A rule is broken at a place in the file, named by its key path.
    #[error("{origin}: [{place}] {problem}")]
    Invalid {
        origin: String,
        place: String,
        problem: String,
    },
}

/// Where a region's key comes from. It is never kept in a database.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum KeySource {
    /// A key file, relative to the data directory unless absolute. Created
    /// on first start while the region holds no data.
    File(PathBuf),
    /// An environment variable holding the key file's contents.
    Env(String),
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::File(p) => write!(f, "key file {}", p.display()),
            KeySource::Env(v) => write!(f, "environment variable {v}"),
        }
    }
}

/// What the law asks to tell people about a foreign country from which their
/// data may be reached (Japan APPI Art. 28; GDPR Art. 13(1)(f) and 44+).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Disclosure {
    pub country_name: String,
    /// The country's system for the protection of personal information.
    pub protection_system: String,
    /// The measures the recipient takes to protect the data.
    pub recipient_measures: String,
    /// The legal basis of the transfer (consent, adequacy, safeguards).
    pub transfer_basis: String,
}

/// A country from which a region's data may be reached, and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Access {
    /// ISO 3166-1 alpha-2 code.
    pub country: String,
    pub why: String,
    /// Present exactly when the country is not the region's own.
    pub disclosure: Option<Disclosure>,
    /// The same texts in other languages, by language tag ("ja", "ko"):
    /// people are owed them in a language they read.
    pub translations: BTreeMap<String, AccessText>,
}

/// Why a country may reach a region's data, and the disclosure owed for
/// it, in one language.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AccessText {
    pub why: String,
    /// Present exactly when the country is not the region's own.
    pub disclosure: Option<Disclosure>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    pub id: String,
    /// ISO 3166-1 alpha-2 code of the country the region's store is in.
    pub country: String,
    pub name: String,
    pub store: StoreLocation,
    pub key: KeySource,
    /// Where the files its people send are kept.
    pub files: FilesLocation,
    /// In the order of the file's keys (sorted by country code).
    pub access_from: Vec<Access>,
}

impl Region {
    /// The rule that lets `country` reach this region's data, if any.
    pub fn access_from(&self, country: &str) -> Option<&Access> {
        self.access_from.iter().find(|a| a.country == country)
    }

    /// The region's SQLite file, resolved against the data directory; none
    /// for a region in PostgreSQL.
    pub fn store_path(&self, data_dir: &DataDir) -> Option<PathBuf> {
        match &self.store {
            StoreLocation::Sqlite(p) => Some(data_dir.resolve(p)),
            StoreLocation::Postgres(_) => None,
        }
    }
}

/// The whole configuration, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Regions {
    node_region: String,
    regions: Vec<Region>,
    /// How long a resolved abuse report and its content are kept.
    pub report_retention: std::time::Duration,
    /// How large a file may be, each account's quota, and how long files
    /// are kept.
    pub file_limits: FileLimits,
    /// Where it came from, for messages.
    pub origin: String,
    /// The node store in PostgreSQL, shared by the cluster's nodes; none
    /// for the embedded one in the data directory.
    pub node_store: Option<PostgresDatabase>,
    /// The cluster this node serves in; none for a node on its own.
    pub cluster: Option<Cluster>,
    /// The SMS gateway registration codes go through; none writes them to
    /// the data directory's `phone-outbox/`, reaching no phone.
    pub phone_gateway: Option<PhoneGateway>,
}

/// How long resolved abuse reports are kept unless the file says otherwise.
pub const DEFAULT_REPORT_RETENTION: std::time::Duration =
    std::time::Duration::from_secs(90 * 24 * 3600);

/// A period like `90d`, `12h`, `30m` or `45s`.
pub fn parse_period(text: &str) -> Option<std::time::Duration> {
    let text = text.trim();
    let unit = text.chars().last()?;
    let n: u64 = text[..text.len() - unit.len_utf8()].parse().ok()?;
    let secs = match unit {
        's' => n,
        'm' => n.checked_mul(60)?,
        'h' => n.checked_mul(3600)?,
        'd' => n.checked_mul(86400)?,
        _ => return None,
    };
    (secs > 0).then(|| std::time::Duration::from_secs(secs))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    node_region: String,
    /// How long resolved abuse reports are kept, like "90d".
    #[serde(default)]
    report_retention: Option<String>,
    /// `[files]`: the largest file, each account's quota, retention.
    #[serde(default)]
    files: files::FileLimitsFile,
    /// The node store, when it is not the data directory's embedded one.
    #[serde(default)]
    node_store: Option<placement::StoreFile>,
    #[serde(default)]
    cluster: Option<placement::ClusterFile>,
    /// `[phone_gateway]`: where registration codes are sent from.
    #[serde(default)]
    phone_gateway: Option<phone::PhoneGatewayFile>,
    regions: BTreeMap<String, RegionFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegionFile {
    country: String,
    name: String,
    store: placement::StoreFile,
    key: KeySource,
    /// Where the region's files are kept; `files/<region>` under the data
    /// directory when not given.
    #[serde(default)]
    files: Option<files::FilesFile>,
    access_from: BTreeMap<String, AccessFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessFile {
    why: String,
    country_name: Option<String>,
    protection_system: Option<String>,
    recipient_measures: Option<String>,
    transfer_basis: Option<String>,
    /// The same texts in other languages, by language tag.
    #[serde(default)]
    translations: BTreeMap<String, AccessTextFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessTextFile {
    why: String,
    country_name: Option<String>,
    protection_system: Option<String>,
    recipient_measures: Option<String>,
    transfer_basis: Option<String>,
}

impl AccessTextFile {
    /// The texts for access from the region's `own` country (a reason
    /// only) or from a foreign one (a reason and the full disclosure), or
    /// what is wrong with them.
    fn checked(self, own: bool) -> Result<AccessText, String> {
        if self.why.trim().is_empty() {
            return Err("why is empty: say why access is needed".into());
        }
        let given = [
            ("country_name", self.country_name),
            ("protection_system", self.protection_system),
            ("recipient_measures", self.recipient_measures),
            ("transfer_basis", self.transfer_basis),
        ];
        if own {
            if given.iter().any(|(_, v)| v.is_some()) {
                return Err("the region's own country takes no foreign-transfer disclosure".into());
            }
            return Ok(AccessText {
                why: self.why,
                disclosure: None,
            });
        }
        let missing: Vec<&str> = given
            .iter()
            .filter(|(_, v)| v.as_deref().is_none_or(|s| s.trim().is_empty()))
            .map(|(name, _)| *name)
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "access from a foreign country needs the full disclosure people are owed; missing: {}",
                missing.join(", ")
            ));
        }
        let [country_name, protection_system, recipient_measures, transfer_basis] =
            given.map(|(_, v)| v.unwrap_or_default());
        Ok(AccessText {
            why: self.why,
            disclosure: Some(Disclosure {
                country_name,
                protection_system,
                recipient_measures,
                transfer_basis,
            }),
        })
    }
}

/// A language tag as people's devices send it: "ja", "ko", "ja-JP".
fn valid_language(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let primary = parts.next().unwrap_or_default();
    let region = parts.next();
    (2..=3).contains(&primary.len())
        && primary.bytes().all(|b| b.is_ascii_lowercase())
        && region.is_none_or(|r| r.len() == 2 && r.bytes().all(|b| b.is_ascii_uppercase()))
        && parts.next().is_none()
}

fn valid_id(id: &str) -> bool {
    (1..=16).contains(&id.len())
        && id.as_bytes()[0].is_ascii_lowercase()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `a/./b/../c` as `a/c`, so two spellings of one file compare equal.
fn lexical(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

impl KeySource {
    fn normalised(self) -> KeySource {
        match self {
            KeySource::File(p) => KeySource::File(lexical(&p)),
            env => env,
        }
    }
}

fn valid_country(c: &str) -> bool {
    c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase())
}

impl Regions {
    /// The embedded default (`jp` and `kr`, node in `jp`).
    pub fn embedded() -> Regions {
        // The embedded text is checked by a test, so this cannot fail.
        Regions::parse(DEFAULT_TOML, "the embedded default configuration")
            .unwrap_or_else(|e| unreachable!("{e}"))
    }

    pub fn load(path: &Path) -> Result<Regions, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Regions::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, origin: &str) -> Result<Regions, ConfigError> {
        let file: File = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        let invalid = |place: String, problem: String| ConfigError::Invalid {
            origin: origin.to_string(),
            place,
            problem,
        };
        let mut regions = Vec::new();
        let mut stores = BTreeMap::new();
        let mut file_places = BTreeMap::new();
        let mut keys = BTreeMap::new();
        for (id, r) in file.regions {
            let place = format!("regions.{id}");
            if !valid_id(&id) {
                return Err(invalid(
                    place,
                    "a region id is 1-16 lowercase letters, digits or '-', starting with a letter"
                        .into(),
                ));
            }
            if !valid_country(&r.country) {
                return Err(invalid(
                    place,
                    format!(
                        "country \"{}\" is not an ISO 3166-1 alpha-2 code like \"JP\"",
                        r.country
                    ),
                ));
            }
            if r.name.trim().is_empty() {
                return Err(invalid(place, "name is empty".into()));
            }
            let store = r
                .store
                .location()
                .map_err(|problem| invalid(format!("{place}.store"), problem))?;
            let key = r.key.normalised();
            let key_path = match &key {
                KeySource::File(p) => Some(p.as_path()),
                KeySource::Env(_) => None,
            };
            for (what, path) in [("store", store.file()), ("key", key_path)] {
                if let Some(p) = path.filter(|p| DataDir::is_node_file(p)) {
                    return Err(invalid(
                        format!("{place}.{what}"),
                        format!(
                            "{} belongs to the node itself; give the region its own file",
                            p.display()
                        ),
                    ));
                }
            }
            let files = match r.files {
                None => FilesLocation::Dir(PathBuf::from("files").join(&id)),
                Some(f) => f
                    .location()
                    .map_err(|problem| invalid(format!("{place}.files"), problem))?,
            };
            if let FilesLocation::Dir(d) = &files {
                // Files go in a directory of their own: not the data
                // directory itself, nor any of the node's own files.
                let nothing = d.as_os_str().is_empty() || d == Path::new("..");
                if nothing || d.starts_with("..") && d.is_relative() || DataDir::is_node_file(d) {
                    return Err(invalid(
                        format!("{place}.files"),
                        format!(
                            "{} is not a directory of the region's own; name one like \"files/{id}\"",
                            d.display()
                        ),
                    ));
                }
            }
            if let Some(other) = file_places.insert(files.identity(), id.clone()) {
                return Err(invalid(
                    format!("{place}.files"),
                    format!("region {other} already keeps its files there"),
                ));
            }
            // Two regions in one file, or under one key, would mix people of
            // different homes: placement would no longer mean anything.
            if let Some(other) = stores.insert(store.identity(), id.clone()) {
                return Err(invalid(
                    format!("{place}.store"),
                    format!("region {other} already uses this store"),
                ));
            }
            if let Some(other) = keys.insert(key.clone(), id.clone()) {
                return Err(invalid(
                    format!("{place}.key"),
                    format!("region {other} already uses this key"),
                ));
            }
            if !r.access_from.contains_key(&r.country) {
                return Err(invalid(
                    format!("{place}.access_from"),
                    format!(
                        "the region's own country {} must be listed: without it nobody could serve its people",
                        r.country
                    ),
                ));
            }
            let mut access_from = Vec::new();
            for (country, a) in r.access_from {
                let place = format!("{place}.access_from.{country}");
                if !valid_country(&country) {
                    return Err(invalid(
                        place,
                        format!("\"{country}\" is not an ISO 3166-1 alpha-2 code like \"KR\""),
                    ));
                }
                let own = country == r.country;
                let base = AccessTextFile {
                    why: a.why,
                    country_name: a.country_name,
                    protection_system: a.protection_system,
                    recipient_measures: a.recipient_measures,
                    transfer_basis: a.transfer_basis,
                }
                .checked(own)
                .map_err(|p| invalid(place.clone(), p))?;
                let mut translations = BTreeMap::new();
                for (lang, t) in a.translations {
                    let place = format!("{place}.translations.{lang}");
                    if !valid_language(&lang) {
                        return Err(invalid(
                            place,
                            format!("\"{lang}\" is not a language tag like \"ja\" or \"ko-KR\""),
                        ));
                    }
                    let t = t.checked(own).map_err(|p| invalid(place, p))?;
                    translations.insert(lang, t);
                }
                access_from.push(Access {
                    country,
                    why: base.why,
                    disclosure: base.disclosure,
                    translations,
                });
            }
            regions.push(Region {
                id,
                country: r.country,
                name: r.name,
                store,
                key,
                files,
                access_from,
            });
        }
        if regions.is_empty() {
            return Err(invalid(
                "regions".into(),
                "at least one region is needed".into(),
            ));
        }
        if !regions.iter().any(|r| r.id == file.node_region) {
            let ids: BTreeSet<&str> = regions.iter().map(|r| r.id.as_str()).collect();
            return Err(invalid(
                "node_region".into(),
                format!(
                    "unknown region \"{}\"; the file defines: {}",
                    file.node_region,
                    ids.into_iter().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        let report_retention = match &file.report_retention {
            None => DEFAULT_REPORT_RETENTION,
            Some(p) => parse_period(p).ok_or_else(|| {
                invalid(
                    "report_retention".into(),
                    format!("\"{p}\" is not a period like \"90d\", \"12h\", \"30m\" or \"45s\""),
                )
            })?,
        };
        let file_limits = file
            .files
            .limits()
            .map_err(|(place, problem)| invalid(place, problem))?;
        let (node_store, cluster) =
            placement::check_cluster(file.node_store, file.cluster, &regions)
                .map_err(|(place, problem)| invalid(place, problem))?;
        let phone_gateway = file
            .phone_gateway
            .map(|g| g.checked(&regions))
            .transpose()
            .map_err(|(place, problem)| invalid(place, problem))?;
        Ok(Regions {
            node_region: file.node_region,
            regions,
            report_retention,
            file_limits,
            origin: origin.to_string(),
            node_store,
            cluster,
            phone_gateway,
        })
    }

    pub fn region(&self, id: &str) -> Option<&Region> {
        self.regions.iter().find(|r| r.id == id)
    }

    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    pub fn ids(&self) -> Vec<&str> {
        self.regions.iter().map(|r| r.id.as_str()).collect()
    }

    /// The region this node runs in.
    pub fn node_region(&self) -> &Region {
        self.region(&self.node_region)
            .unwrap_or_else(|| unreachable!("validated at parse"))
    }
}

#[cfg(test)]
mod tests;
