//! Removes everything from a PNG that is not needed to display it.
//!
//! Text chunks (`tEXt`, `zTXt`, `iTXt`, which carry XMP), `eXIf`, `tIME`, ICC profiles (whose descriptions can
//! name the device), content credentials (`caBX`) and private chunks can all identify or locate the
//! reporter. New ones keep appearing, so this keeps an allow-list of chunks that only describe pixels and
//! copies them without re-encoding.

use super::Unreadable;

const SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

/// Chunks that describe only the pixels, their colour space, physical size or animation.
///
/// `iCCP` is left out even though it affects colour: profile descriptions and copyright strings can name the
/// phone, and without it decoders fall back to `sRGB`/`gAMA`/`cHRM` or plain sRGB.
const KEPT: [&[u8; 4]; 14] = [
    b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"sBIT", b"bKGD",
    b"pHYs", b"acTL", b"fcTL", b"fdAT",
];

/// The PNG format caps chunk lengths at 2^31 − 1 so that they never look negative to signed readers.
const MAX_CHUNK_LEN: u32 = 0x7FFF_FFFF;

const NO_IEND: Unreadable = Unreadable("PNG ends before its IEND chunk");

/// Copies the allow-listed chunks of a PNG, verbatim and in order, up to and including `IEND`; whatever
/// follows `IEND` is dropped.
///
/// CRCs are copied, not checked: a kept chunk's bytes are unchanged, so its CRC stays as right or as wrong
/// as it was, and decoders check it anyway.
pub fn strip(input: &[u8]) -> Result<Vec<u8>, Unreadable> {
    let mut rest = input
        .strip_prefix(SIGNATURE)
        .ok_or(Unreadable("not a PNG: bad signature"))?;
    let mut out = SIGNATURE.to_vec();
    let mut first = true;
    let mut has_image_data = false;
    loop {
        let (chunk, after) = next_chunk(rest)?;
        rest = after;
        if first && &chunk.kind != b"IHDR" {
            return Err(Unreadable("PNG does not start with an IHDR chunk"));
        }
        first = false;
        if KEPT.contains(&&chunk.kind) {
            out.extend_from_slice(chunk.raw);
        }
        match &chunk.kind {
            b"IDAT" => has_image_data = true,
            b"IEND" if has_image_data => return Ok(out),
            b"IEND" => return Err(Unreadable("PNG has no image data")),
            _ => {}
        }
    }
}

struct Chunk<'a> {
    kind: [u8; 4],
    /// Length, type, data and CRC, as stored.
    raw: &'a [u8],
}

/// Splits the chunk at the start of `rest` from what follows it.
fn next_chunk(rest: &[u8]) -> Result<(Chunk<'_>, &[u8]), Unreadable> {
    let (len, kind) = match rest.get(..8) {
        Some(&[l0, l1, l2, l3, t0, t1, t2, t3]) => {
            (u32::from_be_bytes([l0, l1, l2, l3]), [t0, t1, t2, t3])
        }
        _ => return Err(NO_IEND),
    };
    if len > MAX_CHUNK_LEN {
        return Err(Unreadable("PNG chunk length is too large"));
    }
    // Chunk types are four ASCII letters; anything else means the stream is out of step.
    if !kind.iter().all(u8::is_ascii_alphabetic) {
        return Err(Unreadable("PNG chunk type is invalid"));
    }
    let end = usize::try_from(len)
        .ok()
        .and_then(|len| len.checked_add(12))
        .ok_or(NO_IEND)?;
    let (raw, after) = rest.split_at_checked(end).ok_or(NO_IEND)?;
    Ok((Chunk { kind, raw }, after))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    fn chunk(kind: [u8; 4], data: &[u8]) -> Vec<u8> {
        let mut v = u32::try_from(data.len()).unwrap().to_be_bytes().to_vec();
        v.extend_from_slice(&kind);
        v.extend_from_slice(data);
        let crc = crc32(&v[4..]);
        v.extend_from_slice(&crc.to_be_bytes());
        v
    }

    fn ihdr() -> Vec<u8> {
        chunk(*b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0])
    }

    fn idat() -> Vec<u8> {
        chunk(
            *b"IDAT",
            &[0x78, 0x9C, 0x63, 0xF8, 0x0F, 0x00, 0x01, 0x01, 0x01, 0x00],
        )
    }

    fn phys() -> Vec<u8> {
        chunk(*b"pHYs", &[0, 0, 0x0B, 0x13, 0, 0, 0x0B, 0x13, 1])
    }

    fn iend() -> Vec<u8> {
        chunk(*b"IEND", &[])
    }

    /// A phone screenshot with metadata in every chunk phones and editors use, and data after IEND.
    fn phone_png() -> (Vec<u8>, usize) {
        let mut v = [
            SIGNATURE.to_vec(),
            ihdr(),
            chunk(*b"tEXt", b"Comment\0GPS -6.2088 106.8456"),
            chunk(
                *b"iTXt",
                b"XML:com.adobe.xmp\0\0\0\0\0<x:xmpmeta>GPS</x:xmpmeta>",
            ),
            chunk(*b"eXIf", b"MM\0*\0\0\0\x08GPSLatitude"),
            chunk(*b"tIME", &[0x07, 0xE8, 1, 2, 3, 4, 5]),
            chunk(*b"iCCP", b"Pixel 7 Pro\0\0\x78\x9C"),
            phys(),
            chunk(*b"zTXt", b"Author\0\0siti"),
            chunk(*b"caBX", b"c2pa manifest"),
            idat(),
            chunk(*b"prVt", b"private vendor data"),
            iend(),
        ]
        .concat();
        let end = v.len();
        v.extend_from_slice(b"appended GPS trailer");
        (v, end)
    }

    fn expected() -> Vec<u8> {
        [SIGNATURE.to_vec(), ihdr(), phys(), idat(), iend()].concat()
    }

    #[test]
    fn phone_png_keeps_only_pixel_chunks() {
        let (input, _) = phone_png();
        let out = strip(&input).unwrap();
        assert_eq!(out, expected());
        let text = String::from_utf8_lossy(&out);
        for needle in ["GPS", "xmp", "Pixel", "siti", "c2pa", "vendor", "tIME"] {
            assert!(!text.contains(needle), "{needle}");
        }
    }

    #[test]
    fn every_prefix_is_handled_without_panic() {
        let (input, end) = phone_png();
        for n in 0..=input.len() {
            match strip(&input[..n]) {
                Ok(out) => {
                    assert!(n >= end, "prefix {n} accepted");
                    assert_eq!(out, expected());
                }
                Err(_) => assert!(n < end, "prefix {n} refused"),
            }
        }
    }

    #[test]
    fn corrupted_files_never_panic() {
        let (input, _) = phone_png();
        for v in crate::media::one_byte_corruptions(
            &input,
            0x9E37_79B9_7F4A_7C15u64,
            &[0x00, 0xFF, 0x7F, b'I'],
            20_000,
        ) {
            if let Ok(out) = strip(&v) {
                assert!(out.starts_with(SIGNATURE));
            }
        }
    }

    #[test]
    fn animation_and_colour_chunks_are_kept() {
        let kept = [
            ihdr(),
            chunk(*b"sRGB", &[0]),
            chunk(*b"gAMA", &[0, 0, 0xB1, 0x8F]),
            chunk(*b"cHRM", &[0; 32]),
            chunk(*b"sBIT", &[8, 8, 8]),
            chunk(*b"bKGD", &[0, 0, 0, 0, 0, 0]),
            chunk(*b"tRNS", &[0, 0, 0, 0, 0, 0]),
            chunk(*b"acTL", &[0, 0, 0, 2, 0, 0, 0, 0]),
            chunk(*b"fcTL", &[0; 26]),
            idat(),
            chunk(*b"fcTL", &[0; 26]),
            chunk(*b"fdAT", &[0, 0, 0, 1, 0x78, 0x9C]),
            iend(),
        ]
        .concat();
        let input = [SIGNATURE.to_vec(), kept.clone()].concat();
        assert_eq!(strip(&input).unwrap(), input);
        let with_palette = [
            SIGNATURE.to_vec(),
            chunk(*b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 3, 0, 0, 0]),
            chunk(*b"sPLT", b"camera palette\0\x08"),
            chunk(*b"PLTE", &[1, 2, 3]),
            idat(),
            iend(),
        ]
        .concat();
        let out = strip(&with_palette).unwrap();
        assert!(out.windows(4).any(|w| w == b"PLTE"));
        assert!(!out.windows(4).any(|w| w == b"sPLT"));
    }

    #[test]
    fn broken_files_are_refused() {
        let sig = SIGNATURE.to_vec();
        let mut huge = ihdr();
        huge[..4].copy_from_slice(&0x8000_0000u32.to_be_bytes());
        let mut bad_type = ihdr();
        bad_type[5] = b'-';
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (Vec::new(), "not a PNG: bad signature"),
            (b"\x89PNG\r\n\x1a".to_vec(), "not a PNG: bad signature"),
            (vec![0xFF, 0xD8, 0xFF], "not a PNG: bad signature"),
            (sig.clone(), "PNG ends before its IEND chunk"),
            (
                [sig.clone(), idat(), ihdr(), idat(), iend()].concat(),
                "PNG does not start with an IHDR chunk",
            ),
            (
                [sig.clone(), phys(), ihdr(), idat(), iend()].concat(),
                "PNG does not start with an IHDR chunk",
            ),
            (
                [sig.clone(), ihdr(), iend()].concat(),
                "PNG has no image data",
            ),
            (
                [sig.clone(), ihdr(), idat()].concat(),
                "PNG ends before its IEND chunk",
            ),
            (
                [sig.clone(), huge, idat(), iend()].concat(),
                "PNG chunk length is too large",
            ),
            (
                [sig.clone(), bad_type, idat(), iend()].concat(),
                "PNG chunk type is invalid",
            ),
            (
                [sig, ihdr(), idat(), vec![0xFF; 8], iend()].concat(),
                "PNG chunk length is too large",
            ),
        ];
        for (input, reason) in cases {
            assert_eq!(strip(&input), Err(Unreadable(reason)), "{input:02X?}");
        }
    }
}
