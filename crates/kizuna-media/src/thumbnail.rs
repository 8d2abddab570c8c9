//! Thumbnails, made on the sending device: a small JPEG of a picture that
//! travels inside the message, so the chat shows it before (or without)
//! fetching the file. Made from the picture as sent, its metadata already
//! removed; a JPEG made here carries none of its own.

use image::codecs::jpeg::JpegEncoder;
use image::{ImageFormat, ImageReader, Limits};

/// The longest side of a thumbnail, in pixels.
pub const THUMBNAIL_SIDE: u32 = 320;
/// The most a thumbnail may take: it rides inside the message, which has a
/// size limit of its own.
pub const THUMBNAIL_MAX_BYTES: usize = 24 * 1024;
/// The largest picture decoded to make one: beyond it the file is sent
/// without a thumbnail rather than with unbounded memory.
const MAX_SIDE: u32 = 12_000;
const MAX_DECODE_BYTES: u64 = 400 * 1024 * 1024;

/// A thumbnail of a JPEG or PNG picture; none for any other kind of file,
/// a picture too large to decode within bounded memory, or one that does
/// not decode.
pub fn thumbnail(picture: &[u8]) -> Option<Vec<u8>> {
    let format = image::guess_format(picture).ok()?;
    if !matches!(format, ImageFormat::Jpeg | ImageFormat::Png) {
        return None;
    }
    let mut reader = ImageReader::with_format(std::io::Cursor::new(picture), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let picture = reader.decode().ok()?;
    // Smaller pictures are kept at their size, never enlarged.
    let small = if picture.width().max(picture.height()) > THUMBNAIL_SIDE {
        picture.thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE)
    } else {
        picture
    }
    .to_rgb8();
    // Lower quality until it fits; a picture that still does not fit is
    // sent without one.
    [75, 55, 35].into_iter().find_map(|quality| {
        let mut out = Vec::new();
        JpegEncoder::new_with_quality(&mut out, quality)
            .encode_image(&small)
            .ok()?;
        (out.len() <= THUMBNAIL_MAX_BYTES).then_some(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x * y) % 256) as u8])
        });
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn a_picture_gets_a_small_jpeg_of_its_shape() {
        let t = thumbnail(&png(1600, 900)).unwrap();
        assert!(t.len() <= THUMBNAIL_MAX_BYTES, "{}", t.len());
        let back = image::load_from_memory_with_format(&t, ImageFormat::Jpeg).unwrap();
        assert_eq!((back.width(), back.height()), (320, 180));
        // A small picture is not enlarged.
        let t = thumbnail(&png(40, 30)).unwrap();
        let back = image::load_from_memory(&t).unwrap();
        assert_eq!((back.width(), back.height()), (40, 30));
    }

    #[test]
    fn anything_else_gets_none() {
        assert_eq!(thumbnail(b"%PDF-1.7 not a picture"), None);
        assert_eq!(
            thumbnail(b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>"),
            None
        );
        // A PNG cut off in its pixels.
        let mut cut = png(200, 200);
        cut.truncate(cut.len() / 2);
        assert_eq!(thumbnail(&cut), None);
        // Wider than the bound: not decoded.
        assert_eq!(thumbnail(&png(MAX_SIDE + 1, 1)), None);
        assert!(thumbnail(&png(MAX_SIDE, 1)).is_some());
    }
}
