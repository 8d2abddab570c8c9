//! The device's local state: its identity, the MLS state of every chat, the
//! queue cursor, and the chat history, in one SQLite file under the home
//! directory. A processed batch (new MLS state, messages, cursor) is written in
//! one transaction before it is acknowledged to the server, so a crash at any
//! point neither loses a message nor processes one twice.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use crate::error::{ClientError, Result};

mod announcements;
mod read;
mod write;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS mls (k BLOB PRIMARY KEY, v BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS chats (
    chat_id TEXT PRIMARY KEY,
    name TEXT,
    joined_at BIGINT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS messages (
    chat_id TEXT NOT NULL,
    group_seq BIGINT NOT NULL,
    sender_handle TEXT NOT NULL,
    sender_device TEXT NOT NULL,
    text TEXT NOT NULL,
    server_time BIGINT NOT NULL,
    PRIMARY KEY (chat_id, group_seq)
);
CREATE TABLE IF NOT EXISTS unopened (
    chat_id TEXT NOT NULL,
    group_seq BIGINT NOT NULL,
    what TEXT NOT NULL,
    sender_handle TEXT NOT NULL,
    sender_device TEXT NOT NULL,
    server_time BIGINT NOT NULL,
    reason TEXT NOT NULL,
    payload BLOB NOT NULL,
    PRIMARY KEY (chat_id, group_seq, what)
);
CREATE TABLE IF NOT EXISTS announcements (
    pos BIGINT PRIMARY KEY,
    handle TEXT NOT NULL,
    id TEXT NOT NULL,
    shown TEXT NOT NULL,
    body BLOB NOT NULL,
    signature BLOB NOT NULL,
    device_id TEXT NOT NULL,
    UNIQUE (handle, id)
);
CREATE TABLE IF NOT EXISTS outbox (
    client_id BLOB PRIMARY KEY,
    chat_id TEXT NOT NULL,
    content TEXT NOT NULL,
    message BLOB NOT NULL,
    commitment BLOB NOT NULL,
    franking_key BLOB NOT NULL
);
"#;

/// Columns added to `messages` for franking: a message keeps what proves
/// it, so that its recipient can report it.
const FRANKING_COLUMNS: [&str; 4] = ["body", "franking_key", "commitment", "binding"];

/// Columns added to `chats`: where this device's departure sits in the
/// chat's order, who asked this person into it while it is a request,
/// whether they declined it, and up to which message they have read it.
const CHAT_COLUMNS: [(&str, &str); 4] = [
    ("left_at", "BIGINT"),
    ("request_from", "TEXT"),
    ("declined", "INTEGER NOT NULL DEFAULT 0"),
    ("read_up_to", "BIGINT NOT NULL DEFAULT 0"),
];

/// Where a chat stands with this person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Standing {
    /// A normal chat.
    Accepted,
    /// Started by someone not in their contacts: nothing of it is shown as
    /// a normal chat until they accept it.
    Request { from: String },
    /// They declined it: left, and its history is gone from this device.
    Declined,
}

/// A chat someone not in my contacts started with me.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ChatRequest {
    pub chat: String,
    pub name: Option<String>,
    /// Who added me.
    pub from: String,
    /// Messages waiting in it.
    pub messages: u64,
    pub last_time: Option<u64>,
}

/// A message as kept in local history.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredMessage {
    pub chat: String,
    pub sender: String,
    /// The display name the sender's message carried, if it carried one.
    #[serde(default)]
    pub sender_name: Option<String>,
    pub sender_device: String,
    pub text: String,
    pub server_time: u64,
    pub seq: u64,
    /// What proves the message in a report; none for messages from before
    /// franking.
    #[serde(skip)]
    pub proof: Option<Box<FrankProof>>,
    /// The file the message carries; its text is then the caption.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<Attachment>,
    /// The structure beside its text: a card's buttons or form, an answer
    /// to one, a follower's request to an official account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub structured: Option<Box<kizuna_wire::Structured>>,
}

/// A file in a message as this device shows it: what it is, never its key
/// (which stays in the message's body, read only to open the file).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Attachment {
    pub file_id: String,
    pub file_name: String,
    pub media_type: String,
    pub size: u64,
    /// A small JPEG of a picture, made on the sender's device, to show
    /// before the file itself is fetched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail: Option<kizuna_wire::Bytes>,
}

impl Attachment {
    pub fn of(f: &kizuna_wire::FileRef) -> Attachment {
        Attachment {
            file_id: f.file_id.clone(),
            file_name: f.file_name.clone(),
            media_type: f.media_type.clone(),
            size: f.size,
            thumbnail: f.thumbnail.clone(),
        }
    }

    /// The file a committed body carries, if it carries one.
    pub fn in_body(body: &str) -> Option<Attachment> {
        match serde_json::from_str::<kizuna_wire::ChatContent>(body) {
            Ok(kizuna_wire::ChatContent::File { file, .. }) => Some(Attachment::of(&file)),
            _ => None,
        }
    }
}

/// A message's franking as its recipient keeps it: the exact body the
/// sender committed to, the key from inside the ciphertext, and the
/// commitment and binding that came with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrankProof {
    pub body: String,
    pub key: [u8; 32],
    pub commitment: [u8; 32],
    pub binding: [u8; 32],
}

/// An entry of a chat this device could not open. It is kept, with its
/// ciphertext, and shown in the chat's history: a message is never dropped
/// without a trace.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Unopened {
    pub chat: String,
    pub seq: u64,
    /// `message`, `commit` or `welcome`.
    pub what: String,
    pub sender: String,
    pub sender_device: String,
    pub server_time: u64,
    pub reason: String,
    #[serde(skip)]
    pub payload: Vec<u8>,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ChatSummary {
    pub chat: String,
    pub name: Option<String>,
    pub active: bool,
    pub messages: u64,
    pub last_time: Option<u64>,
    /// Messages from others after the last one this person read.
    #[serde(default)]
    pub unread: u64,
    /// The chat's latest message.
    #[serde(default)]
    pub last: Option<LastMessage>,
}

/// A chat's latest message, as a chat list shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LastMessage {
    pub sender: String,
    #[serde(default)]
    pub sender_name: Option<String>,
    pub text: String,
    pub server_time: u64,
}

/// A message that left (or was about to leave) this device without an
/// answer yet: it is sent again, with the same id, until the node answers,
/// so that it is neither lost nor delivered twice.
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub client_id: Vec<u8>,
    pub chat: String,
    /// The content as JSON: the body the franking commitment covers.
    pub content: String,
    /// The MLS ciphertext last sent.
    pub message: Vec<u8>,
    pub commitment: [u8; 32],
    pub franking_key: [u8; 32],
}

/// Changes made by one operation, written together.
#[derive(Default)]
pub struct Changes {
    pub messages: Vec<StoredMessage>,
    pub unopened: Vec<Unopened>,
    pub chats: Vec<(String, Option<String>)>,
    pub names: Vec<(String, String)>,
    pub inactive: Vec<String>,
    /// Chats this device left, with the place of its departure in each.
    pub left: Vec<(String, u64)>,
    /// Chats whose standing changes; a declined chat's history goes.
    pub standing: Vec<(String, Standing)>,
    pub cursor: Option<u64>,
    pub meta: Vec<(&'static str, Vec<u8>)>,
    /// The one message in flight: set it, or (with `None`) clear it.
    pub outbox: Option<Option<Outgoing>>,
}

pub struct Local {
    pub path: PathBuf,
    pool: SqlitePool,
}

/// The device's home holds its identity key, its token and its history in
/// the clear: its directory is the owner's alone (0700), made so when
/// created and tightened when an earlier version left it open.
fn private_home(home: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(home)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if std::fs::metadata(home)?.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(home, std::fs::Permissions::from_mode(0o700))?;
        }
    }
    Ok(())
}

/// Prepares the database file at `path` to be the owner's alone before
/// SQLite opens it: its directory made if missing (0700), the file created
/// empty (0600) if missing, and an existing file, with its `-wal` and
/// `-shm`, tightened if an earlier version left it readable by others.
/// SQLite gives the `-wal` and `-shm` files it creates the database file's
/// mode, so they follow.
///
/// The node's stores do the same (`kizuna_store::private`); the device keeps
/// its own copy so that the client, which runs on people's devices, does
/// not carry the node's storage crate and its database drivers.
fn prepare_private_database(path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                builder.mode(0o700);
            }
            builder.create(dir)?;
        }
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut names = vec![path.to_path_buf()];
        for suffix in ["-wal", "-shm"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            names.push(p.into());
        }
        for p in names {
            match std::fs::metadata(&p) {
                Ok(m) if m.permissions().mode() & 0o077 != 0 => {
                    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))?
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

impl Local {
    pub async fn open(home: &Path) -> Result<Local> {
        let path = home.join("device.sqlite");
        let err = |e: &dyn std::fmt::Display| ClientError::Local {
            path: path.clone(),
            reason: e.to_string(),
        };
        private_home(home).map_err(|e| err(&e))?;
        prepare_private_database(&path).map_err(|e| err(&e))?;
        let opts = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .map_err(|e| err(&e))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(std::time::Duration::from_secs(30));
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(opts)
            .await
            .map_err(|e| err(&e))?;
        sqlx::raw_sql(SCHEMA)
            .execute(&pool)
            .await
            .map_err(|e| err(&e))?;
        let have: Vec<String> =
            sqlx::query_scalar("SELECT name FROM pragma_table_info('messages')")
                .fetch_all(&pool)
                .await
                .map_err(|e| err(&e))?;
        let chat_columns: Vec<String> =
            sqlx::query_scalar("SELECT name FROM pragma_table_info('chats')")
                .fetch_all(&pool)
                .await
                .map_err(|e| err(&e))?;
        for (column, kind) in CHAT_COLUMNS {
            if !chat_columns.iter().any(|c| c == column) {
                sqlx::raw_sql(&format!("ALTER TABLE chats ADD COLUMN {column} {kind}"))
                    .execute(&pool)
                    .await
                    .map_err(|e| err(&e))?;
            }
        }
        for column in FRANKING_COLUMNS.iter().chain(&["sender_name"]) {
            if !have.iter().any(|c| c == column) {
                let kind = if ["body", "sender_name"].contains(column) {
                    "TEXT"
                } else {
                    "BLOB"
                };
                sqlx::raw_sql(&format!("ALTER TABLE messages ADD COLUMN {column} {kind}"))
                    .execute(&pool)
                    .await
                    .map_err(|e| err(&e))?;
            }
        }
        Ok(Local { path, pool })
    }

    fn err(&self, e: impl std::fmt::Display) -> ClientError {
        ClientError::Local {
            path: self.path.clone(),
            reason: e.to_string(),
        }
    }

    pub async fn meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        sqlx::query_scalar("SELECT value FROM meta WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.err(e))
    }

    /// The keys that start with `prefix`, in order.
    pub async fn meta_keys(&self, prefix: &str) -> Result<Vec<String>> {
        sqlx::query_scalar("SELECT key FROM meta WHERE substr(key, 1, ?) = ? ORDER BY key")
            .bind(prefix.len() as i64)
            .bind(prefix)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))
    }

    pub async fn meta_string(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .meta(key)
            .await?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    pub async fn set_meta(&self, key: &str, value: &[u8]) -> Result<()> {
        sqlx::query("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
            .bind(key)
            .bind(value)
            .execute(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    pub async fn forget_meta(&self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM meta WHERE key = ?")
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    pub async fn load_mls(&self) -> Result<HashMap<Vec<u8>, Vec<u8>>> {
        let rows = sqlx::query("SELECT k, v FROM mls")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        rows.into_iter()
            .map(|r| {
                Ok((
                    r.try_get(0).map_err(|e| self.err(e))?,
                    r.try_get(1).map_err(|e| self.err(e))?,
                ))
            })
            .collect()
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}
