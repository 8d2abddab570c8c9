//! Database files that are their owner's alone: the node store, each
//! region's store and the staff realm's store are made so before SQLite
//! opens them, and left whole on their own when it closes them.

use std::path::Path;

/// Prepares the database file at `path` to be the owner's alone before
/// SQLite opens it: its directory made if missing (0700), the file created
/// empty (0600) if missing, and an existing file, with its `-wal` and
/// `-shm`, tightened if an earlier version left it readable by others.
/// SQLite gives the `-wal` and `-shm` files it creates the database file's
/// mode, so they follow.
pub(crate) fn prepare_private_database(path: &Path) -> std::io::Result<()> {
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

/// Folds the write-ahead log into the database file and closes the pool,
/// so a stopped node leaves each SQLite file whole on its own: a copy of
/// it taken for a backup, or put back from one, holds everything the node
/// was told to keep, with no `-wal` beside it that belongs to another copy.
pub(crate) async fn checkpoint_and_close(pool: &sqlx::SqlitePool, what: &str) {
    if let Err(e) = crate::truncate_wal(pool).await {
        tracing::warn!(error = %e, store = what, "folding the write-ahead log in on close failed; it is replayed at the next start");
    }
    pool.close().await;
}
