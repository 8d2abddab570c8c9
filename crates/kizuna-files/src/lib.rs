//! A region's sealed files, part by part: in a directory (under the data
//! directory by default) or in an S3-compatible object store, for nodes
//! that outgrow one machine's disk.
//!
//! What is stored is ciphertext the node cannot open (devices seal files
//! before upload); this crate only keeps parts durably and hands them back.
//! A file is a numbered sequence of parts, each written whole, so an
//! upload resumes from the parts already kept, after a dropped connection
//! or a restart, and no part is ever held in memory beyond its own size.

mod dir;
mod s3;

use async_trait::async_trait;
use bytes::Bytes;

pub use dir::DirStore;
pub use s3::{S3Settings, S3Store};

#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("{0} is not a file id (32 lowercase hex digits)")]
    BadId(String),
    /// The store could not be reached or refused the operation; nothing
    /// the caller was told is stored was lost.
    #[error("the file store {store} failed: {reason}")]
    Backend { store: String, reason: String },
}

pub type Result<T, E = FilesError> = std::result::Result<T, E>;

/// A file's id: 128 random bits, in hex. Not guessable, and safe as a
/// path or object name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileId(String);

impl FileId {
    pub fn generate() -> FileId {
        use rand::RngCore;
        let mut b = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut b);
        FileId(b.iter().map(|x| format!("{x:02x}")).collect())
    }

    pub fn parse(s: &str) -> Result<FileId> {
        if s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(FileId(s.to_string()))
        } else {
            Err(FilesError::BadId(s.chars().take(40).collect()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for FileId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a region's files are kept. Both kinds behave alike (one suite of
/// tests runs on each).
#[async_trait]
pub trait FileStore: Send + Sync {
    /// Keeps part `n` of file `id` durably before returning: once this
    /// answers, the part survives a crash. Writing a part again replaces
    /// it whole; a reader never sees half of one.
    async fn put_part(&self, id: &FileId, n: u32, bytes: Bytes) -> Result<()>;
    /// Part `n` of file `id`, if kept.
    async fn get_part(&self, id: &FileId, n: u32) -> Result<Option<Bytes>>;
    /// The numbers of the parts kept for `id`, in order.
    async fn parts(&self, id: &FileId) -> Result<Vec<u32>>;
    /// Removes every part of `id`; removing what is not there is no error.
    async fn delete(&self, id: &FileId) -> Result<()>;
    /// Every file with at least one part kept, to find what was left by an
    /// upload never finished.
    async fn files(&self) -> Result<Vec<FileId>>;
    /// Where this is, for people and logs ("directory /srv/files/jp").
    fn describe(&self) -> String;
}

#[cfg(test)]
mod conformance;
