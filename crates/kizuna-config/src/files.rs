//! Where each region keeps the files people send (sealed on their devices
//! before upload), and the limits on them: a directory under the data
//! directory by default, or an S3-compatible bucket.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// Where a region's files are kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FilesLocation {
    /// A directory, relative to the data directory unless absolute.
    Dir(PathBuf),
    S3(S3Bucket),
}

/// A bucket of an S3-compatible object store. Its keys are never in the
/// file: only the names of the environment variables holding them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Bucket {
    pub endpoint: String,
    pub bucket: String,
    /// The object store's own region name (`ap-northeast-1`).
    pub region: String,
    pub prefix: String,
    pub access_key_env: String,
    pub secret_key_env: String,
}

impl S3Bucket {
    /// The access key id and secret from the environment, or a message
    /// naming the variable that is not set.
    pub fn keys(&self) -> Result<(String, String), String> {
        let get = |var: &str| {
            std::env::var(var).map_err(|_| {
                format!(
                    "the keys of s3://{}/{} are to come from the environment variable {var}, which is not set",
                    self.bucket, self.prefix
                )
            })
        };
        Ok((get(&self.access_key_env)?, get(&self.secret_key_env)?))
    }
}

impl std::fmt::Display for FilesLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FilesLocation::Dir(p) => write!(f, "directory {}", p.display()),
            FilesLocation::S3(b) => write!(f, "s3://{}/{} at {}", b.bucket, b.prefix, b.endpoint),
        }
    }
}

impl FilesLocation {
    /// What makes two locations the same place.
    pub(crate) fn identity(&self) -> String {
        match self {
            FilesLocation::Dir(p) => format!("dir:{}", p.display()),
            FilesLocation::S3(b) => format!(
                "s3:{}/{}/{}",
                b.endpoint.trim_end_matches('/').to_ascii_lowercase(),
                b.bucket,
                b.prefix
            ),
        }
    }
}

/// `files = { dir = "…" }` or `files = { s3 = { … } }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FilesFile {
    dir: Option<PathBuf>,
    s3: Option<S3File>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct S3File {
    endpoint: String,
    bucket: String,
    region: String,
    #[serde(default)]
    prefix: String,
    access_key_env: String,
    secret_key_env: String,
}

fn env_name(var: &str) -> bool {
    !var.is_empty()
        && !var.as_bytes()[0].is_ascii_digit()
        && var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl FilesFile {
    pub(crate) fn location(self) -> Result<FilesLocation, String> {
        match (self.dir, self.s3) {
            (Some(p), None) => Ok(FilesLocation::Dir(crate::lexical(&p))),
            (None, Some(s)) => {
                let endpoint = s.endpoint.trim().trim_end_matches('/').to_string();
                if !(endpoint.starts_with("https://") || endpoint.starts_with("http://")) {
                    return Err(format!(
                        "endpoint \"{endpoint}\" is not a URL like \"https://s3.ap-northeast-1.amazonaws.com\""
                    ));
                }
                if s.bucket.trim().is_empty() || s.region.trim().is_empty() {
                    return Err("an S3 store needs its bucket and region".into());
                }
                for var in [&s.access_key_env, &s.secret_key_env] {
                    if !env_name(var) {
                        return Err(format!(
                            "\"{var}\" is not an environment variable's name; the keys are never written in the file"
                        ));
                    }
                }
                Ok(FilesLocation::S3(S3Bucket {
                    endpoint,
                    bucket: s.bucket,
                    region: s.region,
                    prefix: s.prefix.trim_matches('/').to_string(),
                    access_key_env: s.access_key_env,
                    secret_key_env: s.secret_key_env,
                }))
            }
            (None, None) => Err("say where: { dir = \"…\" } or { s3 = { … } }".into()),
            (Some(_), Some(_)) => Err("files are kept in a directory or in S3, not both".into()),
        }
    }
}

/// How large a file may be, how much one account may keep, and how long.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileLimits {
    /// The largest file, before sealing.
    pub max_size: u64,
    /// All the files one account has sent and the node still keeps.
    pub quota: u64,
    /// How long a sent file is kept before the node deletes it.
    pub retention: Duration,
    /// How long an upload may stay unfinished (or unsent) before it is
    /// removed.
    pub unfinished: Duration,
}

pub const MIB: u64 = 1024 * 1024;

impl Default for FileLimits {
    fn default() -> Self {
        FileLimits {
            max_size: 100 * MIB,
            quota: 2 * 1024 * MIB,
            retention: Duration::from_secs(365 * 24 * 3600),
            unfinished: Duration::from_secs(24 * 3600),
        }
    }
}

/// `[files]`: every key optional, defaults as [`FileLimits::default`].
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileLimitsFile {
    max_size: Option<String>,
    quota: Option<String>,
    retention: Option<String>,
    unfinished: Option<String>,
}

/// A size like `100MiB`, `2GiB`, `512KiB` or `1000` (bytes).
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let (n, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&t[..i], t[i..].trim()),
        None => (t, ""),
    };
    let n: u64 = n.parse().ok()?;
    let m = match unit {
        "" | "B" => 1,
        "KiB" => 1024,
        "MiB" => MIB,
        "GiB" => 1024 * MIB,
        "TiB" => 1024 * 1024 * MIB,
        _ => return None,
    };
    n.checked_mul(m).filter(|v| *v > 0)
}

impl FileLimitsFile {
    /// The limits, or the key and what is wrong with it.
    pub(crate) fn limits(self) -> Result<FileLimits, (String, String)> {
        let d = FileLimits::default();
        let size = |key: &str, v: Option<String>, default: u64| match v {
            None => Ok(default),
            Some(v) => parse_size(&v).ok_or_else(|| {
                (
                    format!("files.{key}"),
                    format!("\"{v}\" is not a size like \"100MiB\" or \"2GiB\""),
                )
            }),
        };
        let period = |key: &str, v: Option<String>, default: Duration| match v {
            None => Ok(default),
            Some(v) => crate::parse_period(&v).ok_or_else(|| {
                (
                    format!("files.{key}"),
                    format!("\"{v}\" is not a period like \"365d\", \"12h\" or \"30m\""),
                )
            }),
        };
        let limits = FileLimits {
            max_size: size("max_size", self.max_size, d.max_size)?,
            quota: size("quota", self.quota, d.quota)?,
            retention: period("retention", self.retention, d.retention)?,
            unfinished: period("unfinished", self.unfinished, d.unfinished)?,
        };
        if limits.quota < limits.max_size {
            return Err((
                "files.quota".into(),
                "the quota is smaller than the largest file: nobody could send one".into(),
            ));
        }
        Ok(limits)
    }
}
