use super::*;

fn file(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

fn sealed(key: &FileKey, plain: &[u8]) -> (Vec<u8>, Sealed) {
    let mut out = Vec::new();
    let s = seal_stream(key, &mut &plain[..], &mut out).unwrap();
    (out, s)
}

fn opened(key: &FileKey, s: Sealed, sealed: &[u8]) -> Result<Vec<u8>, MediaError> {
    let mut out = Vec::new();
    open_stream(key, s, &mut &sealed[..], &mut out).map(|_| out)
}

#[test]
fn files_of_every_size_round_trip_and_have_the_size_announced() {
    for n in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 17] {
        let key = FileKey::generate();
        let plain = file(n);
        let (c, s) = sealed(&key, &plain);
        assert_eq!(c.len() as u64, sealed_size(n as u64), "{n}");
        assert_eq!(s.size, n as u64);
        assert_eq!(plain_size(c.len() as u64), Some(n as u64));
        assert_eq!(s.sha256, <[u8; 32]>::from(Sha256::digest(&plain)));
        assert_eq!(opened(&key, s, &c).unwrap(), plain, "{n}");
    }
}

#[test]
fn the_plaintext_appears_nowhere_in_the_sealed_file() {
    let key = FileKey::generate();
    let plain = b"a secret line that must not be readable ".repeat(5000);
    let (c, _) = sealed(&key, &plain);
    assert!(!c
        .windows(16)
        .any(|w| plain.windows(16).take(64).any(|p| p == w)));
}

#[test]
fn altered_reordered_cut_or_extended_files_do_not_open() {
    let key = FileKey::generate();
    let plain = file(3 * CHUNK + 5);
    let (c, s) = sealed(&key, &plain);
    let chunks: Vec<&[u8]> = c.chunks(SEALED_CHUNK).collect();

    let mut flipped = c.clone();
    flipped[SEALED_CHUNK + 10] ^= 1;
    assert_eq!(
        opened(&key, s, &flipped),
        Err(MediaError::BadChunk { index: 1 })
    );

    let swapped = [chunks[1], chunks[0], chunks[2], chunks[3]].concat();
    assert_eq!(
        opened(&key, s, &swapped),
        Err(MediaError::BadChunk { index: 0 })
    );

    // Cut at a chunk boundary: the last whole chunk was not sealed as last.
    let cut = chunks[..3].concat();
    let short = Sealed {
        size: 3 * CHUNK as u64,
        ..s
    };
    assert_eq!(
        opened(&key, short, &cut),
        Err(MediaError::BadChunk { index: 2 })
    );
    assert!(matches!(
        opened(&key, s, &cut),
        Err(MediaError::Truncated { .. })
    ));

    // Anything after the last chunk: refused, whether it runs into the
    // last chunk's read or follows a whole one.
    let longer = [c.as_slice(), chunks[3]].concat();
    assert_eq!(
        opened(&key, s, &longer),
        Err(MediaError::BadChunk { index: 3 })
    );
    let whole = file(2 * CHUNK);
    let (w, ws) = sealed(&key, &whole);
    let longer = [w.as_slice(), &w[..SEALED_CHUNK]].concat();
    assert!(matches!(
        opened(&key, ws, &longer),
        Err(MediaError::TooLong { .. })
    ));

    // Another file's key, or the right chunks under another hash.
    assert_eq!(
        opened(&FileKey::generate(), s, &c),
        Err(MediaError::BadChunk { index: 0 })
    );
    let lied = Sealed {
        sha256: [0; 32],
        ..s
    };
    assert_eq!(opened(&key, lied, &c), Err(MediaError::HashMismatch));
}

#[test]
fn a_chunk_from_another_file_does_not_open_in_this_one() {
    let key = FileKey::generate();
    let (a, s) = sealed(&key, &file(2 * CHUNK));
    // Same key, as a key is never reused this cannot happen; with another
    // key each chunk is refused.
    let (b, _) = sealed(&FileKey::generate(), &file(2 * CHUNK));
    let mixed = [&a[..SEALED_CHUNK], &b[SEALED_CHUNK..]].concat();
    assert_eq!(
        opened(&key, s, &mixed),
        Err(MediaError::BadChunk { index: 1 })
    );
}

#[test]
fn keys_are_32_bytes() {
    assert_eq!(
        FileKey::from_bytes(&[1; 31]).unwrap_err(),
        MediaError::BadKey(31)
    );
    let k = FileKey::generate();
    assert_eq!(FileKey::from_bytes(k.as_bytes()).unwrap(), k);
    assert_eq!(format!("{k:?}"), "FileKey(…)");
}

fn segment(marker: u8, body: &[u8]) -> Vec<u8> {
    let mut s = vec![0xFF, marker];
    s.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
    s.extend_from_slice(body);
    s
}

#[test]
fn a_photo_loses_its_location_and_keeps_its_picture_and_colours() {
    let jfif = segment(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
    let exif = segment(
        0xE1,
        b"Exif\0\0GPSLatitude 35.6812 N GPSLongitude 139.7671 E",
    );
    let icc = segment(0xE2, b"ICC_PROFILE\0\x01\x01colours");
    let xmp = segment(
        0xE1,
        b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>home</x:xmpmeta>",
    );
    let comment = segment(0xFE, b"taken at home");
    let quant = segment(0xDB, &[0u8; 65]);
    let scan = [
        segment(0xDA, &[1, 1, 0, 0, 0x3F, 0]),
        vec![0x12, 0x34, 0xFF, 0x00, 0x56, 0xFF, 0xD9],
    ]
    .concat();
    let photo = [
        vec![0xFF, 0xD8],
        jfif.clone(),
        exif,
        icc.clone(),
        xmp,
        comment,
        quant.clone(),
        scan.clone(),
    ]
    .concat();
    let s = strip_metadata(&photo).unwrap();
    assert_eq!(s.removed, vec!["EXIF", "XMP", "comment"]);
    assert_eq!(s.bytes, [vec![0xFF, 0xD8], jfif, icc, quant, scan].concat());
    let text = String::from_utf8_lossy(&s.bytes);
    assert!(!text.contains("GPS") && !text.contains("home"), "{text}");
}

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut c = (data.len() as u32).to_be_bytes().to_vec();
    c.extend_from_slice(kind);
    c.extend_from_slice(data);
    // The CRC is kept as it is, not checked.
    c.extend_from_slice(&[0, 0, 0, 0]);
    c
}

#[test]
fn a_png_loses_its_exif_and_text() {
    let ihdr = png_chunk(b"IHDR", &[0; 13]);
    let idat = png_chunk(b"IDAT", b"pixels");
    let iend = png_chunk(b"IEND", b"");
    let png = [
        PNG_SIGNATURE.to_vec(),
        ihdr.clone(),
        png_chunk(b"eXIf", b"MM\0*GPS"),
        png_chunk(b"tEXt", b"Location\0Shibuya"),
        idat.clone(),
        iend.clone(),
    ]
    .concat();
    let s = strip_metadata(&png).unwrap();
    assert_eq!(s.removed, vec!["EXIF", "text"]);
    assert_eq!(s.bytes, [PNG_SIGNATURE.to_vec(), ihdr, idat, iend].concat());
}

#[test]
fn anything_else_is_left_as_it_is_and_a_broken_image_refused() {
    for b in [b"%PDF-1.7 a document".to_vec(), Vec::new()] {
        let s = strip_metadata(&b).unwrap();
        assert_eq!(s.bytes, b);
        assert!(s.removed.is_empty());
    }
    assert_eq!(
        strip_metadata(&[0xFF, 0xD8, 0xFF, 0xE1, 0x00]),
        Err(MediaError::UnreadableImage("JPEG"))
    );
    assert_eq!(
        strip_metadata(&[PNG_SIGNATURE, &[0, 0, 0, 9, b'I']].concat()),
        Err(MediaError::UnreadableImage("PNG"))
    );
}

#[test]
fn sizes_no_file_seals_to_are_told_apart() {
    for bad in [0, 1, TAG as u64 - 1, SEALED_CHUNK as u64 + 3] {
        assert_eq!(plain_size(bad), None, "{bad}");
    }
    assert_eq!(plain_size(TAG as u64), Some(0));
}

#[test]
fn a_chunk_sealed_on_its_own_is_the_chunk_the_stream_has() {
    let key = FileKey::generate();
    let plain = file(2 * CHUNK + 9);
    let (c, _) = sealed(&key, &plain);
    let again: Vec<u8> = (0..3u64)
        .flat_map(|i| {
            let p = &plain[i as usize * CHUNK..((i as usize + 1) * CHUNK).min(plain.len())];
            seal_chunk(&key, i, i == 2, p)
        })
        .collect();
    assert_eq!(again, c);
}

#[test]
fn a_transfer_that_goes_on_is_checked_whole_and_a_changed_prefix_is_caught() {
    let key = FileKey::generate();
    let plain = file(5 * CHUNK + 99);
    let (c, s) = sealed(&key, &plain);
    let resumed = |prefix: &[u8]| {
        let mut o = PieceOpener::new(&key, s);
        for chunk in prefix.chunks(CHUNK) {
            o.opened_before(chunk)?;
        }
        let from = prefix.len() / CHUNK * SEALED_CHUNK;
        let mut out = prefix.to_vec();
        out.extend(o.push(&c[from..])?);
        out.extend(o.finish()?);
        Ok::<_, MediaError>(out)
    };
    assert_eq!(resumed(&plain[..3 * CHUNK]).unwrap(), plain);
    let mut changed = plain[..3 * CHUNK].to_vec();
    changed[CHUNK + 5] ^= 1;
    assert!(matches!(resumed(&changed), Err(MediaError::HashMismatch)));
    // The last chunk is never taken as opened: it is what proves the end.
    let mut o = PieceOpener::new(&key, s);
    for chunk in plain[..5 * CHUNK].chunks(CHUNK) {
        o.opened_before(chunk).unwrap();
    }
    assert!(o.opened_before(&plain[..CHUNK]).is_err());
    assert!(PieceOpener::new(&key, s)
        .opened_before(&plain[..10])
        .is_err());
}
