//! Removing what a photo says about where and when it was taken before it
//! leaves the device: EXIF (with its GPS position), XMP, IPTC and comments
//! in JPEG; EXIF and text chunks in PNG. The picture itself, and what its
//! colours need (JFIF, ICC profile, Adobe colour transform), are kept byte
//! for byte; nothing is decoded or re-encoded.

use crate::MediaError;

/// An image without its metadata, and what was taken out.
#[derive(Debug, PartialEq, Eq)]
pub struct Stripped {
    pub bytes: Vec<u8>,
    /// The kinds of metadata removed ("EXIF", "XMP", …), in order found.
    pub removed: Vec<&'static str>,
}

/// `bytes` without the metadata of a JPEG or PNG image; anything else is
/// returned as it is with nothing removed. An image that does not parse is
/// refused rather than sent with whatever it carries.
pub fn strip_metadata(bytes: &[u8]) -> Result<Stripped, MediaError> {
    let (kind, stripped) = if bytes.starts_with(&[0xFF, 0xD8]) {
        ("JPEG", strip_jpeg(bytes))
    } else if bytes.starts_with(PNG_SIGNATURE) {
        ("PNG", strip_png(bytes))
    } else {
        return Ok(Stripped {
            bytes: bytes.to_vec(),
            removed: Vec::new(),
        });
    };
    stripped.ok_or(MediaError::UnreadableImage(kind))
}

/// JPEG: the segments before the image data, each a marker and a length;
/// from the first start-of-scan on, everything is kept as it is.
fn strip_jpeg(b: &[u8]) -> Option<Stripped> {
    let mut out = Vec::with_capacity(b.len());
    let mut removed = Vec::new();
    out.extend_from_slice(&b[..2]);
    let mut i = 2;
    loop {
        if b.get(i)? != &0xFF {
            return None;
        }
        // Fill bytes: any number of 0xFF before a marker.
        while b.get(i + 1)? == &0xFF {
            i += 1;
        }
        let marker = *b.get(i + 1)?;
        // Markers without a length.
        if marker == 0x01 || (0xD0..=0xD7).contains(&marker) {
            out.extend_from_slice(&b[i..i + 2]);
            i += 2;
            continue;
        }
        if marker == 0xD9 {
            out.extend_from_slice(&b[i..]);
            break;
        }
        let len = u16::from_be_bytes([*b.get(i + 2)?, *b.get(i + 3)?]) as usize;
        if len < 2 {
            return None;
        }
        let end = i + 2 + len;
        let segment = b.get(i..end)?;
        if marker == 0xDA {
            // Start of scan: the compressed picture and all after it.
            out.extend_from_slice(&b[i..]);
            break;
        }
        let body = &segment[4..];
        let drop = match marker {
            0xE1 if body.starts_with(b"Exif\0") => Some("EXIF"),
            0xE1 => Some("XMP"),
            0xED => Some("IPTC"),
            0xFE => Some("comment"),
            // APP3..APP12, APP15: vendors' blocks, which may hold anything.
            0xE3..=0xEC | 0xEF => Some("vendor data"),
            _ => None,
        };
        match drop {
            Some(what) => {
                if !removed.contains(&what) {
                    removed.push(what);
                }
            }
            None => out.extend_from_slice(segment),
        }
        i = end;
    }
    Some(Stripped {
        bytes: out,
        removed,
    })
}

pub(crate) const PNG_SIGNATURE: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

/// PNG: a signature, then chunks of length, type, data and CRC.
fn strip_png(b: &[u8]) -> Option<Stripped> {
    let mut out = Vec::with_capacity(b.len());
    let mut removed = Vec::new();
    out.extend_from_slice(PNG_SIGNATURE);
    let mut i = PNG_SIGNATURE.len();
    while i < b.len() {
        let len = u32::from_be_bytes(b.get(i..i + 4)?.try_into().ok()?) as usize;
        let end = i.checked_add(12)?.checked_add(len)?;
        let chunk = b.get(i..end)?;
        let kind = &chunk[4..8];
        let drop = match kind {
            b"eXIf" => Some("EXIF"),
            b"tEXt" | b"zTXt" | b"iTXt" => Some("text"),
            b"tIME" => Some("time"),
            _ => None,
        };
        match drop {
            Some(what) => {
                if !removed.contains(&what) {
                    removed.push(what);
                }
            }
            None => out.extend_from_slice(chunk),
        }
        i = end;
        if kind == b"IEND" {
            break;
        }
    }
    Some(Stripped {
        bytes: out,
        removed,
    })
}
