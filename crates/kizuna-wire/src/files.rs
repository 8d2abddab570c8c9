//! Files sent in a chat, as the node sees them: a size, then sealed parts
//! uploaded and fetched a few at a time. What a file is (its name, type,
//! key and hash) travels only inside the MLS message that carries it
//! ([`crate::ChatContent::File`]).

use serde::{Deserialize, Serialize};

use crate::Bytes;

/// Bytes per part, but the last, which may be shorter: what one request
/// carries, and what the node holds in memory for it.
pub const FILE_PART_BYTES: u64 = 1024 * 1024;

/// How far past the first part it lacks a node takes parts of an upload,
/// so a device may keep several in flight and the node write one while
/// the next arrives.
pub const FILE_PARTS_AHEAD: u32 = 8;

/// How many parts a sealed file of `size` bytes is sent in (an empty one
/// still in one, empty, part).
pub fn part_count(size: u64) -> u32 {
    size.div_ceil(FILE_PART_BYTES).max(1) as u32
}

/// The length of part `n` of a sealed file of `size` bytes.
pub fn part_len(size: u64, n: u32) -> u64 {
    let start = n as u64 * FILE_PART_BYTES;
    size.saturating_sub(start).min(FILE_PART_BYTES)
}

/// The header carrying a part's SHA-256 (RFC 9530 `Content-Digest`, as
/// `sha-256=:<base64>:`), checked by whoever receives the part.
pub const CONTENT_DIGEST: &str = "content-digest";

/// A part's digest as the header carries it: `sha-256=:<base64>:`.
pub fn content_digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha256_digest_header(&sha2::Sha256::digest(bytes))
}

/// A SHA-256 already known, as the `Content-Digest` header carries it.
pub fn sha256_digest_header(sha256: &[u8]) -> String {
    use base64::Engine;
    format!(
        "sha-256=:{}:",
        base64::engine::general_purpose::STANDARD.encode(sha256)
    )
}

/// Whether `id` is a file id as a node makes them (32 lowercase hex
/// digits). A message names its file's id; one that is anything else
/// names no file, and is never put in a path or an address.
pub fn is_file_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The name a file's sender gave, made one harmless path component to
/// save it under: separators and control characters become `_`, leading
/// dots go; none if nothing is left. A message never chooses a path.
pub fn safe_file_name(name: &str) -> Option<String> {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    match cleaned.trim_start_matches('.').trim() {
        "" => None,
        n => Some(n.to_string()),
    }
}

/// Starting an upload to a chat.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FileUpload {
    /// The sealed file's size in bytes.
    pub size: u64,
}

/// An upload, as far as it got.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FileProgress {
    /// 32 hex digits; not guessable, and useless to anyone not in the chat.
    pub file_id: String,
    /// The sealed size in bytes.
    pub size: u64,
    /// Bytes per part (the last may be shorter).
    pub part_bytes: u64,
    pub parts: u32,
    /// Parts the node keeps, from the first on: the next to upload.
    pub received: u32,
    /// Whether a message carrying it went out (then it can be fetched).
    pub sent: bool,
}

/// A file inside a chat message: what a recipient needs to fetch, open and
/// check it. Never seen by the node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRef {
    pub file_id: String,
    /// The name it had on the sender's device.
    pub file_name: String,
    /// `image/jpeg`, `application/pdf`, …; `application/octet-stream` when
    /// unknown.
    pub media_type: String,
    /// The plaintext's size in bytes.
    pub size: u64,
    /// The plaintext's SHA-256: franking commits to it with the message,
    /// so a reported file is provably the one sent.
    pub sha256: Bytes,
    /// The file's own key (32 bytes).
    pub key: Bytes,
    /// A small preview made on the sender's device, for images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail: Option<Bytes>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_nodes_file_ids_are_file_ids() {
        assert!(is_file_id("0123456789abcdef0123456789abcdef"));
        for bad in [
            "../../device.sqlite",
            "0123456789ABCDEF0123456789ABCDEF",
            "",
            "0123",
        ] {
            assert!(!is_file_id(bad), "{bad}");
        }
    }

    #[test]
    fn a_file_name_never_leaves_its_directory() {
        assert_eq!(
            safe_file_name("../../etc/passwd").unwrap(),
            "_.._etc_passwd"
        );
        assert_eq!(safe_file_name(".bashrc").unwrap(), "bashrc");
        assert_eq!(safe_file_name("a\\b\nc.txt").unwrap(), "a_b_c.txt");
        assert_eq!(safe_file_name("写真.jpg").unwrap(), "写真.jpg");
        assert_eq!(safe_file_name("..."), None);
    }

    #[test]
    fn parts_cover_the_file_exactly() {
        for size in [
            0,
            1,
            FILE_PART_BYTES - 1,
            FILE_PART_BYTES,
            3 * FILE_PART_BYTES + 7,
        ] {
            let n = part_count(size);
            let total: u64 = (0..n).map(|i| part_len(size, i)).sum();
            assert_eq!(total, size, "{size}");
            assert!((0..n.saturating_sub(1)).all(|i| part_len(size, i) == FILE_PART_BYTES));
            assert_eq!(part_len(size, n), 0);
        }
    }
}
