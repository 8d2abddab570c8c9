//! Region keys: where they come from, and their versions.
//!
//! A region's key material is a short text, kept in a key file (or an
//! environment variable) and never in a database:
//!
//! ```text
//! index <base64 of 32 bytes>   # the secret behind phone lookup hashes
//! v1 <base64 of 32 bytes>      # region key version 1: wraps data keys
//! v2 <base64 of 32 bytes>      # a newer version, during a rotation
//! ```
//!
//! New data keys are wrapped by the newest version; older versions stay only
//! until a rotation has re-wrapped everything they wrapped.

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine;
use kizuna_config::KeySource;
use rand::RngCore;

use crate::VaultError;

#[derive(Clone)]
pub struct RegionKeys {
    pub index: [u8; 32],
    pub versions: BTreeMap<u32, [u8; 32]>,
}

impl std::fmt::Debug for RegionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RegionKeys(versions {:?})", self.versions.keys())
    }
}

impl RegionKeys {
    pub fn generate() -> RegionKeys {
        let mut index = [0u8; 32];
        let mut v1 = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut index);
        rand::thread_rng().fill_bytes(&mut v1);
        RegionKeys {
            index,
            versions: BTreeMap::from([(1, v1)]),
        }
    }

    pub fn current(&self) -> (u32, &[u8; 32]) {
        let (v, k) = self
            .versions
            .iter()
            .next_back()
            .unwrap_or_else(|| unreachable!("parse refuses key material without a version"));
        (*v, k)
    }

    pub fn parse(text: &str) -> Result<RegionKeys, String> {
        let mut index = None;
        let mut versions = BTreeMap::new();
        for (n, line) in text.split(['\n', ';']).enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let (name, value) = line
                .split_once(char::is_whitespace)
                .ok_or_else(|| format!("line {}: expected `NAME BASE64`", n + 1))?;
            let bytes: [u8; 32] = base64::engine::general_purpose::STANDARD
                .decode(value.trim())
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| format!("line {}: {name} is not 32 bytes of base64", n + 1))?;
            if name == "index" {
                index = Some(bytes);
            } else if let Some(v) = name.strip_prefix('v').and_then(|v| v.parse::<u32>().ok()) {
                if v == 0 || versions.insert(v, bytes).is_some() {
                    return Err(format!(
                        "line {}: version {name} is repeated or zero",
                        n + 1
                    ));
                }
            } else {
                return Err(format!("line {}: unknown entry {name}", n + 1));
            }
        }
        let index = index.ok_or("no `index` entry")?;
        if versions.is_empty() {
            return Err("no key version (a `v1` entry)".into());
        }
        Ok(RegionKeys { index, versions })
    }

    pub fn render(&self, region: &str) -> String {
        let b64 = |k: &[u8; 32]| base64::engine::general_purpose::STANDARD.encode(k);
        let mut out = format!(
            "# Kizuna region key of region {region}. Keep it outside every database and\n\
             # back it up apart from them: without it the region's data cannot be read.\n\
             index {}\n",
            b64(&self.index)
        );
        for (v, k) in &self.versions {
            out.push_str(&format!("v{v} {}\n", b64(k)));
        }
        out
    }
}

/// Where a region's key is, resolved against the data directory.
#[derive(Clone, Debug)]
pub enum KeyPlace {
    File(PathBuf),
    Env(String),
}

impl KeyPlace {
    pub fn resolve(source: &KeySource, data_dir: &kizuna_config::DataDir) -> KeyPlace {
        match source {
            KeySource::File(p) => KeyPlace::File(data_dir.resolve(p)),
            KeySource::Env(v) => KeyPlace::Env(v.clone()),
        }
    }

    /// Reads the key material; `None` if the file does not exist yet.
    pub fn read(&self, region: &str) -> Result<Option<RegionKeys>, VaultError> {
        let bad = |problem: String| VaultError::Key {
            region: region.to_string(),
            problem: format!("{problem} (set by [regions.{region}.key] in the configuration)"),
        };
        let text = match self {
            KeyPlace::File(p) => match std::fs::read_to_string(p) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(bad(format!("cannot read {}: {e}", p.display()))),
            },
            KeyPlace::Env(v) => std::env::var(v)
                .map_err(|_| bad(format!("the environment variable {v} is not set")))?,
        };
        RegionKeys::parse(&text)
            .map(Some)
            .map_err(|e| bad(format!("{}: {e}", self.describe())))
    }

    /// Writes the key material atomically, readable by the owner only.
    pub fn write(&self, region: &str, keys: &RegionKeys) -> Result<(), VaultError> {
        let KeyPlace::File(path) = self else {
            return Err(VaultError::Key {
                region: region.to_string(),
                problem: format!(
                    "its key comes from {}, which this node cannot change; \
                     give it a key file to rotate, or rotate the variable's value yourself",
                    self.describe()
                ),
            });
        };
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            if let Some(dir) = path.parent() {
                kizuna_config::create_private_dir(dir)?;
            }
            let tmp = path.with_extension("tmp");
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut f = opts.open(&tmp)?;
            f.write_all(keys.render(region).as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)?;
            if let Some(dir) = path.parent() {
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok(())
        };
        write().map_err(|e| VaultError::Key {
            region: region.to_string(),
            problem: format!("cannot write {}: {e}", path.display()),
        })
    }

    pub fn describe(&self) -> String {
        match self {
            KeyPlace::File(p) => format!("key file {}", p.display()),
            KeyPlace::Env(v) => format!("environment variable {v}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_material_round_trips_and_bad_text_is_refused() {
        let k = RegionKeys::generate();
        let back = RegionKeys::parse(&k.render("jp")).unwrap();
        assert_eq!(back.index, k.index);
        assert_eq!(back.versions, k.versions);
        assert!(RegionKeys::parse("index AAAA").is_err());
        assert!(RegionKeys::parse("").is_err());
        let one_line = k.render("jp").replace('\n', ";");
        assert!(RegionKeys::parse(&one_line).is_ok());
    }
}
