//! How much each commit writes to the WAL, as SQLite itself counts it: its
//! WAL hook is told, after every commit, how many frames the WAL holds.

use std::ffi::{c_char, c_int, c_void};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use libsqlite3_sys::sqlite3;
use sqlx::SqliteConnection;

/// The WAL's frame count after the last commit on any connection of the
/// store. Every write takes the writer's lock, so the change across one
/// commit is that commit's.
#[derive(Default)]
pub(crate) struct WalFrames(AtomicU64);

impl WalFrames {
    pub(crate) fn now(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Frames a commit wrote, from the counts before and after it: the
    /// count starts over from zero when a checkpoint let the WAL restart.
    pub(crate) fn written(before: u64, after: u64) -> u64 {
        if after >= before {
            after - before
        } else {
            after
        }
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
        // turns off anyway (`wal_autocheckpoint=0`).
        unsafe {
            libsqlite3_sys::sqlite3_wal_hook(handle.as_raw_handle().as_ptr(), Some(told), ctx);
        }
        Ok(())
    }
}

/// SQLite's call after a commit: `n` frames are in the WAL now.
unsafe extern "C" fn told(
    ctx: *mut c_void,
    _db: *mut sqlite3,
    _name: *const c_char,
    n: c_int,
) -> c_int {
    // SAFETY: `ctx` is the leaked `WalFrames` `watch` passed.
    let frames = unsafe { &*(ctx as *const WalFrames) };
    frames.0.store(n.max(0) as u64, Ordering::Relaxed);
    0
}
