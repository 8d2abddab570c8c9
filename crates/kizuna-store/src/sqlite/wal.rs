//! How much each commit writes to the WAL, as SQLite itself counts it: its
//! WAL hook, called after every commit, reads how many frames that commit
//! wrote (the connection's page-write count, reset at each read).

use std::ffi::{c_char, c_int, c_void};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use libsqlite3_sys::sqlite3;
use sqlx::SqliteConnection;

/// The frames the last commit on any connection of the store wrote to the
/// WAL. Every write takes the writer's lock, so it is that writer's.
#[derive(Default)]
pub(crate) struct WalFrames(AtomicU64);

impl WalFrames {
    /// Forgets the last count, before a commit: one that writes nothing
    /// is not told of, and must not be counted as the one before it.
    pub(crate) fn clear(&self) {
        self.0.store(0, Ordering::Relaxed);
    }

    /// What the last commit wrote.
    pub(crate) fn last(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Has SQLite tell `frames` of every commit on `conn`. The connection
    /// keeps a pointer to it, so the count is kept alive as long as the
    /// process (one small allocation per store opened).
    pub(crate) async fn watch(
        frames: &Arc<WalFrames>,
        conn: &mut SqliteConnection,
    ) -> Result<(), sqlx::Error> {
        let mut handle = conn.lock_handle().await?;
        let ctx = Arc::into_raw(frames.clone()) as *mut c_void;
        // SAFETY: the handle is this connection's open database, locked for
        // the call; `ctx` points to a `WalFrames` never freed (its `Arc` is
        // leaked above), and `told` only stores an integer through it. The
        // WAL hook replaces SQLite's automatic checkpoint, which this store
        // turns off anyway (`wal_autocheckpoint=0`, set before this runs).
        unsafe {
            libsqlite3_sys::sqlite3_wal_hook(handle.as_raw_handle().as_ptr(), Some(told), ctx);
        }
        Ok(())
    }
}

/// SQLite's call after a commit on `db`: the frames it wrote are the pages
/// the connection wrote since the last reset, which this read makes.
unsafe extern "C" fn told(
    ctx: *mut c_void,
    db: *mut sqlite3,
    _name: *const c_char,
    _n: c_int,
) -> c_int {
    let (mut written, mut highest) = (0, 0);
    // SAFETY: `db` is the connection SQLite calls this for, and `ctx` the
    // leaked `WalFrames` `watch` passed.
    let frames = unsafe {
        libsqlite3_sys::sqlite3_db_status(
            db,
            libsqlite3_sys::SQLITE_DBSTATUS_CACHE_WRITE,
            &mut written,
            &mut highest,
            1,
        );
        &*(ctx as *const WalFrames)
    };
    frames.0.store(written.max(0) as u64, Ordering::Relaxed);
    0
}
