//! Files sent in a chat, sealed on the device: a fresh key per file, the
//! plaintext cut into chunks sealed one by one, so a file of any size is
//! encrypted, uploaded, downloaded and opened in bounded memory; and the
//! metadata a photo carries (where it was taken) removed before it leaves.
//!
//! Each chunk is ChaCha20-Poly1305 under the file's key with a nonce that
//! names the chunk's index and whether it is the last (the STREAM
//! construction), so chunks cannot be reordered, dropped, repeated or cut
//! off at the end without the opening failing. The key never reaches the
//! node: it travels inside the MLS message, with the plaintext's SHA-256
//! and size, which the opener checks at the end.

mod metadata;
mod thumbnail;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;
use sha2::{Digest, Sha256};

#[cfg(test)]
use metadata::PNG_SIGNATURE;
pub use metadata::{strip_metadata, Stripped};
pub use thumbnail::{thumbnail, THUMBNAIL_MAX_BYTES, THUMBNAIL_SIDE};

/// Plaintext bytes per chunk.
pub const CHUNK: usize = 64 * 1024;
/// What sealing adds to each chunk.
pub const TAG: usize = 16;
/// A sealed chunk's size, but the last, which may be shorter.
pub const SEALED_CHUNK: usize = CHUNK + TAG;

/// Bound into every chunk, so a chunk is not taken for anything else
/// sealed with ChaCha20-Poly1305.
const CONTEXT: &[u8] = b"kizuna-media-v1";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MediaError {
    /// A chunk does not open under the file's key at its place: altered,
    /// moved, from another file, or the key is wrong.
    #[error("chunk {index} of the file does not open: it was altered, moved or cut off")]
    BadChunk { index: u64 },
    #[error("the file ends early: {got} of {expected} bytes arrived")]
    Truncated { got: u64, expected: u64 },
    #[error("the file is longer than the {expected} bytes its message announced")]
    TooLong { expected: u64 },
    /// Every chunk opened, but the whole is not the file the sender
    /// described.
    #[error("the file is not the one its message describes (SHA-256 differs)")]
    HashMismatch,
    /// Its metadata (where a photo was taken) could not be found to be
    /// removed, so it is not sent as it is.
    #[error("this {0} image is damaged: its metadata cannot be removed, so it was not sent")]
    UnreadableImage(&'static str),
    #[error("a file key is 32 bytes, not {0}")]
    BadKey(usize),
    #[error("reading or writing the file failed: {0}")]
    Io(String),
}

impl From<std::io::Error> for MediaError {
    fn from(e: std::io::Error) -> Self {
        MediaError::Io(e.to_string())
    }
}

/// The key of one file. Made fresh for each file and never reused.
#[derive(Clone, PartialEq, Eq)]
pub struct FileKey([u8; 32]);

impl std::fmt::Debug for FileKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FileKey(…)")
    }
}

impl FileKey {
    pub fn generate() -> FileKey {
        let mut k = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut k);
        FileKey(k)
    }

    pub fn from_bytes(b: &[u8]) -> Result<FileKey, MediaError> {
        Ok(FileKey(
            b.try_into().map_err(|_| MediaError::BadKey(b.len()))?,
        ))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(Key::from_slice(&self.0))
    }
}

fn nonce(index: u64, last: bool) -> Nonce {
    let mut n = [0u8; 12];
    n[..8].copy_from_slice(&index.to_be_bytes());
    n[11] = last as u8;
    *Nonce::from_slice(&n)
}

/// How many chunks a file of `size` bytes is sealed into: an empty file
/// is one empty chunk, so that even it is authenticated.
pub fn chunk_count(size: u64) -> u64 {
    size.div_ceil(CHUNK as u64).max(1)
}

/// The sealed size of a file of `size` bytes.
pub fn sealed_size(size: u64) -> u64 {
    size + chunk_count(size) * TAG as u64
}

/// The plaintext size of a sealed file of `sealed` bytes, or none when no
/// file seals to that size (every chunk adds its tag, the last may be
/// short, an empty file is one tag).
pub fn plain_size(sealed: u64) -> Option<u64> {
    let whole = sealed / SEALED_CHUNK as u64;
    let rest = sealed % SEALED_CHUNK as u64;
    let plain = match rest {
        0 if whole > 0 => whole * CHUNK as u64,
        r if r >= TAG as u64 => whole * CHUNK as u64 + (r - TAG as u64),
        _ => return None,
    };
    (sealed_size(plain) == sealed).then_some(plain)
}

/// Seals chunk `index` of a file on its own: the same bytes the [`Sealer`]
/// makes for it, so any range of a sealed file can be made again from the
/// plaintext instead of being kept.
pub fn seal_chunk(key: &FileKey, index: u64, last: bool, plain: &[u8]) -> Vec<u8> {
    key.cipher()
        .encrypt(
            &nonce(index, last),
            Payload {
                msg: plain,
                aad: CONTEXT,
            },
        )
        // Encryption fails only for a message over 256 GiB.
        .unwrap_or_default()
}

/// What the sender tells the recipients, inside the MLS message, so they
/// can open and check the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sealed {
    pub size: u64,
    pub sha256: [u8; 32],
}

/// Seals a file chunk by chunk, in order.
pub struct Sealer {
    cipher: ChaCha20Poly1305,
    index: u64,
    size: u64,
    hash: Sha256,
    finished: bool,
}

impl Sealer {
    pub fn new(key: &FileKey) -> Sealer {
        Sealer {
            cipher: key.cipher(),
            index: 0,
            size: 0,
            hash: Sha256::new(),
            finished: false,
        }
    }

    /// Seals the next chunk: `CHUNK` bytes, or fewer for the last one.
    pub fn seal(&mut self, plain: &[u8], last: bool) -> Vec<u8> {
        assert!(!self.finished, "a chunk sealed after the last");
        assert!(
            plain.len() == CHUNK || (last && plain.len() < CHUNK),
            "only the last chunk may be short"
        );
        self.hash.update(plain);
        self.size += plain.len() as u64;
        let sealed = self
            .cipher
            .encrypt(
                &nonce(self.index, last),
                Payload {
                    msg: plain,
                    aad: CONTEXT,
                },
            )
            // Encryption fails only for a message over 256 GiB.
            .unwrap_or_default();
        self.index += 1;
        self.finished = last;
        sealed
    }

    pub fn finish(self) -> Sealed {
        Sealed {
            size: self.size,
            sha256: self.hash.finalize().into(),
        }
    }
}

/// Opens a file chunk by chunk, in order, and checks the whole against
/// what its message announced.
pub struct Opener {
    cipher: ChaCha20Poly1305,
    expected: Sealed,
    chunks: u64,
    index: u64,
    size: u64,
    hash: Sha256,
}

impl Opener {
    pub fn new(key: &FileKey, expected: Sealed) -> Opener {
        Opener {
            cipher: key.cipher(),
            chunks: chunk_count(expected.size),
            expected,
            index: 0,
            size: 0,
            hash: Sha256::new(),
        }
    }

    /// The index of the chunk [`Opener::open`] expects next.
    pub fn next_index(&self) -> u64 {
        self.index
    }

    /// Opens the next sealed chunk.
    pub fn open(&mut self, sealed: &[u8]) -> Result<Vec<u8>, MediaError> {
        if self.index >= self.chunks {
            return Err(MediaError::TooLong {
                expected: self.expected.size,
            });
        }
        let last = self.index + 1 == self.chunks;
        let plain = self
            .cipher
            .decrypt(
                &nonce(self.index, last),
                Payload {
                    msg: sealed,
                    aad: CONTEXT,
                },
            )
            .map_err(|_| MediaError::BadChunk { index: self.index })?;
        if (!last && plain.len() != CHUNK) || self.size + plain.len() as u64 > self.expected.size {
            return Err(MediaError::BadChunk { index: self.index });
        }
        self.hash.update(&plain);
        self.size += plain.len() as u64;
        self.index += 1;
        Ok(plain)
    }

    /// Takes the plaintext of the next chunk as opened before, by a
    /// transfer that stopped and now goes on: hashed and counted as if
    /// opened now, so the whole is still checked against what was
    /// announced. The last chunk is always opened, never taken.
    pub fn opened_before(&mut self, plain: &[u8]) -> Result<(), MediaError> {
        if plain.len() != CHUNK || self.index + 1 >= self.chunks {
            return Err(MediaError::BadChunk { index: self.index });
        }
        self.hash.update(plain);
        self.size += plain.len() as u64;
        self.index += 1;
        Ok(())
    }

    /// Checks that the whole file arrived and is the one announced.
    pub fn finish(self) -> Result<(), MediaError> {
        if self.index < self.chunks || self.size != self.expected.size {
            return Err(MediaError::Truncated {
                got: self.size,
                expected: self.expected.size,
            });
        }
        let got: [u8; 32] = self.hash.finalize().into();
        if got != self.expected.sha256 {
            return Err(MediaError::HashMismatch);
        }
        Ok(())
    }
}

/// Opens a sealed file that arrives in pieces of any size (the parts of a
/// transfer): each chunk as soon as all of it is in, whichever pieces it
/// straddles.
pub struct PieceOpener {
    opener: Opener,
    pending: Vec<u8>,
}

impl PieceOpener {
    pub fn new(key: &FileKey, expected: Sealed) -> PieceOpener {
        PieceOpener {
            opener: Opener::new(key, expected),
            pending: Vec::new(),
        }
    }

    /// Takes the next piece; answers the plaintext of the chunks it
    /// completed.
    pub fn push(&mut self, piece: &[u8]) -> Result<Vec<u8>, MediaError> {
        self.pending.extend_from_slice(piece);
        let mut plain = Vec::with_capacity(self.pending.len());
        let mut at = 0;
        // The opener knows which chunk is the last, full or short.
        while self.pending.len() - at >= SEALED_CHUNK {
            plain.extend(self.opener.open(&self.pending[at..at + SEALED_CHUNK])?);
            at += SEALED_CHUNK;
        }
        self.pending.drain(..at);
        Ok(plain)
    }

    /// See [`Opener::opened_before`]; only before the first piece.
    pub fn opened_before(&mut self, plain: &[u8]) -> Result<(), MediaError> {
        if !self.pending.is_empty() {
            return Err(MediaError::BadChunk {
                index: self.opener.next_index(),
            });
        }
        self.opener.opened_before(plain)
    }

    /// After the last piece: the plaintext of the short last chunk, once
    /// the whole is checked to be the file announced.
    pub fn finish(mut self) -> Result<Vec<u8>, MediaError> {
        let plain = if self.pending.is_empty() {
            Vec::new()
        } else {
            self.opener.open(&self.pending)?
        };
        self.opener.finish()?;
        Ok(plain)
    }
}

/// Reads up to `buf.len()` bytes, fewer only at the end.
fn read_full(r: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Seals everything `plain` holds into `sealed`, one chunk in memory at a
/// time.
pub fn seal_stream(
    key: &FileKey,
    plain: &mut impl std::io::Read,
    sealed: &mut impl std::io::Write,
) -> Result<Sealed, MediaError> {
    let mut s = Sealer::new(key);
    let mut buf = vec![0u8; CHUNK];
    let mut n = read_full(plain, &mut buf)?;
    loop {
        // A chunk is the last when nothing follows it: look one ahead.
        let mut next = vec![0u8; CHUNK];
        let m = if n == CHUNK {
            read_full(plain, &mut next)?
        } else {
            0
        };
        let last = m == 0;
        sealed.write_all(&s.seal(&buf[..n], last))?;
        if last {
            break;
        }
        buf = next;
        n = m;
    }
    Ok(s.finish())
}

/// Opens a sealed file from `sealed` into `plain`, one chunk in memory at
/// a time, and checks it is the file announced. What was written before a
/// failure must be thrown away by the caller.
pub fn open_stream(
    key: &FileKey,
    expected: Sealed,
    sealed: &mut impl std::io::Read,
    plain: &mut impl std::io::Write,
) -> Result<(), MediaError> {
    let mut o = Opener::new(key, expected);
    let mut buf = vec![0u8; SEALED_CHUNK];
    loop {
        let n = read_full(sealed, &mut buf)?;
        if n == 0 {
            break;
        }
        plain.write_all(&o.open(&buf[..n])?)?;
    }
    o.finish()
}

#[cfg(test)]
mod tests;
