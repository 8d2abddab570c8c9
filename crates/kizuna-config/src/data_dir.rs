//! A node's data directory: every file a node keeps there, named in this
//! one place. The regions' own files are wherever the region configuration
//! puts them, relative to the same directory; none may be one of these.

use std::path::{Path, PathBuf};

/// A 32-byte secret of the node's, each in its own file under `keys/`
/// (owner-only), never in a database: a copied database reveals nothing
/// without them, and no key's holder can do another key's work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKey {
    /// Signs the user realm's tokens.
    UserToken,
    /// Signs the staff realm's sessions.
    StaffToken,
    /// Signs the transparency ledger's tree heads.
    LedgerSigning,
    /// Binds each accepted message's franking commitment.
    Franking,
    /// Signs the node's own proposals as every group's external sender.
    Delivery,
    /// Hashes the blocks the node enforces.
    Blocks,
}

impl NodeKey {
    pub const ALL: [NodeKey; 6] = [
        NodeKey::UserToken,
        NodeKey::StaffToken,
        NodeKey::LedgerSigning,
        NodeKey::Franking,
        NodeKey::Delivery,
        NodeKey::Blocks,
    ];

    fn file(self) -> &'static str {
        match self {
            NodeKey::UserToken => "keys/user-token.key",
            NodeKey::StaffToken => "keys/staff-token.key",
            NodeKey::LedgerSigning => "keys/ledger-signing.key",
            NodeKey::Franking => "keys/franking.key",
            NodeKey::Delivery => "keys/delivery.key",
            NodeKey::Blocks => "keys/blocks.key",
        }
    }
}

const NODE_STORE: &str = "node.sqlite";
const STAFF_STORE: &str = "staff/staff.sqlite";
const LEDGER: &str = "ledger";
const LOCK: &str = "kizuna.lock";
const PHONE_OUTBOX: &str = "phone-outbox";

#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error("cannot use the data directory {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read or create the key file {path}: {source}")]
    KeyFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the key file {0} is damaged (expected 32 bytes)")]
    BadKeyFile(PathBuf),
    #[error(
        "another kizuna process (a running node or an admin command) is using {0}; stop it first"
    )]
    InUse(PathBuf),
}

/// Where a node keeps its stores, ledger and keys.
#[derive(Clone, Debug)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> DataDir {
        DataDir { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The node store: accounts, devices, groups and the messages in transit.
    pub fn node_store(&self) -> PathBuf {
        self.root.join(NODE_STORE)
    }

    /// The staff realm's store.
    pub fn staff_store(&self) -> PathBuf {
        self.root.join(STAFF_STORE)
    }

    /// The transparency ledger's directory.
    pub fn ledger(&self) -> PathBuf {
        self.root.join(LEDGER)
    }

    /// Where a node without an SMS gateway writes the phone codes it would
    /// have sent.
    pub fn phone_outbox(&self) -> PathBuf {
        self.root.join(PHONE_OUTBOX)
    }

    pub fn key_path(&self, key: NodeKey) -> PathBuf {
        self.root.join(key.file())
    }

    /// A file the region configuration names, relative to this directory.
    pub fn resolve(&self, relative: &Path) -> PathBuf {
        self.root.join(relative)
    }

    /// Whether `relative` (as the region configuration spells it, already
    /// normalised) is one of the node's own files, or inside its ledger.
    pub fn is_node_file(relative: &Path) -> bool {
        [NODE_STORE, STAFF_STORE, LOCK]
            .into_iter()
            .chain(NodeKey::ALL.map(NodeKey::file))
            .any(|f| Path::new(f) == relative)
            || relative.starts_with(LEDGER)
            || relative.starts_with(PHONE_OUTBOX)
    }

    fn io(&self, source: std::io::Error) -> DataDirError {
        DataDirError::Io {
            path: self.root.clone(),
            source,
        }
    }

    /// Makes the directory and everything in it the owner's alone:
    /// directories 0700, files 0600. It holds the keys, the stores of
    /// people's data and the ledger, none of which anyone else on the
    /// machine may read. Files are created so, each where it is made; this
    /// tightens what an earlier version left looser (or an operator's
    /// copy), and is called whenever a process takes the directory.
    pub fn keep_private(&self) -> Result<(), DataDirError> {
        create_private_dir(&self.root).map_err(|e| self.io(e))?;
        tighten_tree(&self.root).map_err(|e| self.io(e))
    }

    /// Reads a key, creating it (owner-only, written whole) on first use.
    pub fn key(&self, key: NodeKey) -> Result<[u8; 32], DataDirError> {
        let path = self.key_path(key);
        match std::fs::read(&path) {
            Ok(b) => b.try_into().map_err(|_| DataDirError::BadKeyFile(path)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut k = [0u8; 32];
                rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut k);
                let tmp = path.with_extension("tmp");
                let write = || -> std::io::Result<()> {
                    use std::io::Write;
                    if let Some(dir) = path.parent() {
                        create_private_dir(dir)?;
                    }
                    let mut opts = std::fs::OpenOptions::new();
                    opts.write(true).create(true).truncate(true);
                    #[cfg(unix)]
                    {
                        use std::os::unix::fs::OpenOptionsExt;
                        opts.mode(0o600);
                    }
                    let mut f = opts.open(&tmp)?;
                    f.write_all(&k)?;
                    f.sync_all()?;
                    std::fs::rename(&tmp, &path)
                };
                write().map_err(|source| DataDirError::KeyFile {
                    path: path.clone(),
                    source,
                })?;
                Ok(k)
            }
            Err(source) => Err(DataDirError::KeyFile { path, source }),
        }
    }

    /// Reads a key that must already exist: an audit creates nothing.
    pub fn existing_key(&self, key: NodeKey) -> Result<[u8; 32], DataDirError> {
        let path = self.key_path(key);
        std::fs::read(&path)
            .map_err(|source| DataDirError::KeyFile {
                path: path.clone(),
                source,
            })?
            .try_into()
            .map_err(|_| DataDirError::BadKeyFile(path))
    }

    /// Holds the directory for one process: a node and an admin command
    /// working on the same stores at once could undo each other's work (a
    /// key rotated under a running node, a move racing a write).
    pub fn lock(&self) -> Result<DataDirLock, DataDirError> {
        self.keep_private()?;
        let mut opts = std::fs::OpenOptions::new();
        opts.create(true).truncate(false).write(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let file = opts.open(self.root.join(LOCK)).map_err(|e| self.io(e))?;
        match file.try_lock() {
            Ok(()) => Ok(DataDirLock { file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(DataDirError::InUse(self.root.clone())),
            Err(std::fs::TryLockError::Error(e)) => Err(self.io(e)),
        }
    }
}

/// Creates a directory (and any missing parents) readable by its owner
/// only; one that exists is left as it is.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Takes away group's and others' access to `path` and, for a directory,
/// to everything under it. Symbolic links are not followed: what they
/// point at is not the data directory's.
fn tighten_tree(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::symlink_metadata(path)?;
        if meta.file_type().is_symlink() {
            return Ok(());
        }
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            let owner_only = if meta.is_dir() { 0o700 } else { 0o600 };
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(owner_only))?;
        }
        if meta.is_dir() {
            for entry in std::fs::read_dir(path)? {
                tighten_tree(&entry?.path())?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// The data directory held by this process until dropped.
pub struct DataDirLock {
    file: std::fs::File,
}

impl Drop for DataDirLock {
    /// Unlocked explicitly rather than by closing the file: a child process
    /// started meanwhile holds a copy of the descriptor until it execs, and
    /// the lock would outlive this holder by that long.
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_node_file_is_reserved() {
        for f in [
            "node.sqlite",
            "kizuna.lock",
            "staff/staff.sqlite",
            "ledger",
            "ledger/leaves",
        ]
        .into_iter()
        .chain(NodeKey::ALL.map(NodeKey::file))
        {
            assert!(DataDir::is_node_file(Path::new(f)), "{f}");
        }
        assert!(!DataDir::is_node_file(Path::new("regions/jp.sqlite")));
        assert!(!DataDir::is_node_file(Path::new("ledgers.sqlite")));
    }

    #[test]
    fn a_key_is_made_once_and_then_read() {
        let dir = std::env::temp_dir().join(format!("kizuna-data-dir-{}", std::process::id()));
        let d = DataDir::new(&dir);
        assert!(d.existing_key(NodeKey::Blocks).is_err());
        let k = d.key(NodeKey::Blocks).unwrap();
        assert_eq!(d.key(NodeKey::Blocks).unwrap(), k);
        assert_eq!(d.existing_key(NodeKey::Blocks).unwrap(), k);
        std::fs::write(d.key_path(NodeKey::Franking), b"short").unwrap();
        assert!(matches!(
            d.key(NodeKey::Franking),
            Err(DataDirError::BadKeyFile(_))
        ));
        let _held = d.lock().unwrap();
        assert!(matches!(d.lock(), Err(DataDirError::InUse(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn the_directory_and_its_keys_are_the_owners_alone() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = std::env::temp_dir().join(format!("kizuna-private-{}", std::process::id()));
        let d = DataDir::new(&dir);
        d.key(NodeKey::UserToken).unwrap();
        let _held = d.lock().unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("keys")), 0o700);
        assert_eq!(mode(&d.key_path(NodeKey::UserToken)), 0o600);
        drop(_held);
        // What an earlier version left open is closed when the directory
        // is taken again.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::create_dir_all(dir.join("regions")).unwrap();
        std::fs::set_permissions(dir.join("regions"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        std::fs::write(dir.join("regions/jp.sqlite"), b"").unwrap();
        std::fs::set_permissions(
            dir.join("regions/jp.sqlite"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let _held = d.lock().unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("regions")), 0o700);
        assert_eq!(mode(&dir.join("regions/jp.sqlite")), 0o600);
        assert_eq!(mode(&dir.join("kizuna.lock")), 0o600);
        drop(_held);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
