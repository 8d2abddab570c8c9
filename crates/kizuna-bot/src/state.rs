//! What the daemon remembers beside the device's own store: how far each
//! chat was delivered to the webhook, and who follows through which chat
//! with which segments. Written whole, synced and renamed into place, so a
//! crash leaves the last state or the one before, never half of one: a
//! message is then delivered again rather than never.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::BotError;

const FILE: &str = "bot-state.json";

/// A follower as the daemon knows them: the chat they follow through, and
/// the segments they asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Follower {
    pub chat: String,
    pub handle: String,
    #[serde(default)]
    pub segments: Vec<String>,
    /// Whether the webhook was told of them.
    #[serde(default)]
    pub told: bool,
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct State {
    /// Per chat, the number of the last message the webhook took.
    #[serde(default)]
    pub delivered: BTreeMap<String, u64>,
    /// Per chat, how many messages it held and the time of its latest when
    /// it was last read through: a chat with nothing more is not read again.
    #[serde(default)]
    pub read_through: BTreeMap<String, (u64, u64)>,
    /// Per chat, its follower.
    #[serde(default)]
    pub followers: BTreeMap<String, Follower>,
    #[serde(skip)]
    path: PathBuf,
}

/// Writes `bytes` to `path` for its owner alone: a file beside it, synced,
/// then renamed over it, and the directory synced.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

impl State {
    pub fn load(home: &Path) -> Result<State, BotError> {
        let path = home.join(FILE);
        let fail = |reason: String| BotError::State {
            path: path.clone(),
            reason,
        };
        let mut s: State = match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| fail(e.to_string()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
            Err(e) => return Err(fail(e.to_string())),
        };
        s.path = path;
        Ok(s)
    }

    pub fn save(&self) -> Result<(), BotError> {
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| BotError::State {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        write_private(&self.path, &bytes).map_err(|e| BotError::State {
            path: self.path.clone(),
            reason: e.to_string(),
        })
    }
}
