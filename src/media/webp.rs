//! Removes everything from a WebP that is not needed to display it.
//!
//! WebP keeps metadata in `EXIF` (GPS, camera serials, timestamps), `XMP ` and `ICCP` chunks (profile
//! descriptions can name the device), and the RIFF container lets writers add unknown chunks, also inside
//! animation frames, and bytes after the declared RIFF size. This keeps an allow-list of the chunks that
//! describe pixels or animation and copies them without re-encoding.

use super::exif::{orientation_of, orientation_tiff, EXIF_HEADER};
use super::Unreadable;

/// A WebP without metadata, and the EXIF orientation found in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stripped {
    pub bytes: Vec<u8>,
    /// The EXIF Orientation (2..=8) of the upload. It is written back into `bytes` only when the file has a
    /// `VP8X` header (see [`strip`]); `None` when the photo needs no rotation.
    pub orientation: Option<u16>,
}

const VP8X_ICC: u8 = 0x20;
const VP8X_EXIF: u8 = 0x08;
const VP8X_XMP: u8 = 0x04;
/// Canvas size and feature flags; libwebp refuses any other size.
const VP8X_LEN: usize = 10;
/// Frame position, size, duration and flags, before the frame's sub-chunks.
const ANMF_HEADER_LEN: usize = 16;

const TRUNCATED_CHUNK: Unreadable = Unreadable("WebP chunk is truncated");
const TOO_LARGE: Unreadable = Unreadable("WebP file is too large");

/// Copies the allow-listed chunks of a WebP (`VP8X`, `VP8 `, `VP8L`, `ALPH`, `ANIM`, `ANMF`) in order, and
/// writes the EXIF orientation back as a minimal `EXIF` chunk so that sideways phone photos still display
/// upright. Bytes after the declared RIFF size are dropped.
///
/// Limitation: a simple-format file (no `VP8X`) cannot declare an `EXIF` chunk, so its orientation is not
/// written back. Adding a `VP8X` would mean parsing the canvas size out of the VP8/VP8L bitstream; such
/// files are rare because writers that keep EXIF use the extended format. The orientation is still returned
/// so that callers can tell.
pub fn strip(input: &[u8]) -> Result<Stripped, Unreadable> {
    let riff_size = match input.get(..12) {
        Some(&[b'R', b'I', b'F', b'F', s0, s1, s2, s3, b'W', b'E', b'B', b'P']) => {
            u32::from_le_bytes([s0, s1, s2, s3])
        }
        _ => return Err(Unreadable("not a WebP: bad RIFF header")),
    };
    // The RIFF size counts from "WEBP" on; decoders refuse files shorter than it, so we do too.
    let riff_end = usize::try_from(riff_size)
        .ok()
        .and_then(|size| size.checked_add(8))
        .ok_or(TOO_LARGE)?;
    if riff_end > input.len() {
        return Err(Unreadable("WebP file is truncated"));
    }
    let mut rest = input
        .get(12..riff_end)
        .ok_or(Unreadable("WebP RIFF size is too small"))?;

    // The RIFF size is filled in once the output is complete.
    let mut out = b"RIFF\0\0\0\0WEBP".to_vec();
    let mut flags_at = None;
    let mut first = true;
    let mut has_image = false;
    let mut exif_seen = false;
    let mut orientation = None;
    while !rest.is_empty() {
        let (chunk, after) = next_chunk(rest)?;
        rest = after;
        match &chunk.fourcc {
            b"VP8X" if first => {
                if chunk.data.len() != VP8X_LEN {
                    return Err(Unreadable("WebP VP8X chunk has the wrong size"));
                }
                flags_at = Some(out.len() + 8);
                push_chunk(&mut out, chunk.fourcc, chunk.data)?;
            }
            b"VP8X" => return Err(Unreadable("WebP VP8X chunk is not the first chunk")),
            b"VP8 " | b"VP8L" => {
                has_image = true;
                push_chunk(&mut out, chunk.fourcc, chunk.data)?;
            }
            b"ALPH" | b"ANIM" => push_chunk(&mut out, chunk.fourcc, chunk.data)?,
            b"ANMF" => {
                push_frame(&mut out, chunk.data)?;
                has_image = true;
            }
            // Only one EXIF chunk is allowed; a later one would be a writer's mistake or a decoy.
            b"EXIF" if !exif_seen => {
                exif_seen = true;
                // The WebP spec says the payload is bare TIFF, but some writers copy the JPEG APP1 prefix.
                let tiff = chunk.data.strip_prefix(EXIF_HEADER).unwrap_or(chunk.data);
                orientation = orientation_of(tiff);
            }
            // XMP, ICC profiles, further EXIF chunks and anything unknown.
            _ => {}
        }
        first = false;
    }
    if !has_image {
        return Err(Unreadable("WebP has no image data"));
    }
    if let Some(at) = flags_at {
        if let Some(o) = orientation {
            push_chunk(&mut out, *b"EXIF", &orientation_tiff(o))?;
        }
        if let Some(flags) = out.get_mut(at) {
            *flags &= !(VP8X_ICC | VP8X_EXIF | VP8X_XMP);
            if orientation.is_some() {
                *flags |= VP8X_EXIF;
            }
        }
    }
    let riff_size = u32::try_from(out.len() - 8).map_err(|_| TOO_LARGE)?;
    set_u32_le(&mut out, 4, riff_size);
    Ok(Stripped {
        bytes: out,
        orientation,
    })
}

struct Chunk<'a> {
    fourcc: [u8; 4],
    /// The payload, without the pad byte.
    data: &'a [u8],
}

/// Splits the chunk at the start of `rest` from what follows it.
fn next_chunk(rest: &[u8]) -> Result<(Chunk<'_>, &[u8]), Unreadable> {
    let (fourcc, size) = match rest.get(..8) {
        Some(&[f0, f1, f2, f3, s0, s1, s2, s3]) => {
            ([f0, f1, f2, f3], u32::from_le_bytes([s0, s1, s2, s3]))
        }
        _ => return Err(TRUNCATED_CHUNK),
    };
    let size = usize::try_from(size).map_err(|_| TRUNCATED_CHUNK)?;
    let end = size.checked_add(8).ok_or(TRUNCATED_CHUNK)?;
    let data = rest.get(8..end).ok_or(TRUNCATED_CHUNK)?;
    // Odd sizes are followed by a pad byte. Some writers omit it after the last chunk; nothing follows that
    // could be misread, so a missing final pad is tolerated (and written in the output).
    let after = rest.get(end + size % 2..).unwrap_or_default();
    Ok((Chunk { fourcc, data }, after))
}

fn push_chunk(out: &mut Vec<u8>, fourcc: [u8; 4], data: &[u8]) -> Result<(), Unreadable> {
    let size = u32::try_from(data.len()).map_err(|_| TOO_LARGE)?;
    out.extend_from_slice(&fourcc);
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(data);
    if data.len() % 2 == 1 {
        out.push(0);
    }
    Ok(())
}

/// Copies an `ANMF` frame, keeping only its image sub-chunks: the format lets unknown chunks ride along
/// inside frames, so they need the same allow-list as the top level.
fn push_frame(out: &mut Vec<u8>, payload: &[u8]) -> Result<(), Unreadable> {
    let (header, mut rest) = payload
        .split_at_checked(ANMF_HEADER_LEN)
        .ok_or(Unreadable("WebP animation frame is truncated"))?;
    let start = out.len();
    // The frame size is filled in once its kept sub-chunks are known.
    out.extend_from_slice(b"ANMF\0\0\0\0");
    out.extend_from_slice(header);
    let mut has_bitstream = false;
    while !rest.is_empty() {
        let (chunk, after) = next_chunk(rest)?;
        rest = after;
        match &chunk.fourcc {
            b"VP8 " | b"VP8L" => {
                has_bitstream = true;
                push_chunk(out, chunk.fourcc, chunk.data)?;
            }
            b"ALPH" => push_chunk(out, chunk.fourcc, chunk.data)?,
            _ => {}
        }
    }
    if !has_bitstream {
        return Err(Unreadable("WebP animation frame has no image data"));
    }
    // Header and sub-chunks all have even lengths, so the frame needs no pad byte.
    let size = u32::try_from(out.len() - start - 8).map_err(|_| TOO_LARGE)?;
    set_u32_le(out, start + 4, size);
    Ok(())
}

fn set_u32_le(out: &mut [u8], at: usize, value: u32) {
    if let Some(slot) = out.get_mut(at..at + 4) {
        slot.copy_from_slice(&value.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(fourcc: [u8; 4], data: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        push_chunk(&mut v, fourcc, data).unwrap();
        v
    }

    fn riff(chunks: &[Vec<u8>]) -> Vec<u8> {
        let body = chunks.concat();
        let mut v = b"RIFF".to_vec();
        v.extend_from_slice(&u32::try_from(body.len() + 4).unwrap().to_le_bytes());
        v.extend_from_slice(b"WEBP");
        v.extend_from_slice(&body);
        v
    }

    fn vp8x(flags: u8) -> Vec<u8> {
        chunk(*b"VP8X", &[flags, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    }

    /// A 1×1 lossy key frame; its odd length makes the chunk carry a pad byte.
    fn vp8() -> Vec<u8> {
        chunk(
            *b"VP8 ",
            &[0x10, 0x02, 0, 0x9D, 0x01, 0x2A, 0x01, 0, 0x01, 0, 0x02],
        )
    }

    fn vp8l() -> Vec<u8> {
        chunk(*b"VP8L", &[0x2F, 0, 0, 0, 0, 0x07, 0x10, 0x11, 0x11, 0x88])
    }

    fn alph() -> Vec<u8> {
        chunk(*b"ALPH", &[0, 0xFF, 0xFF, 0xFF])
    }

    /// A little-endian EXIF block as a phone writes it: orientation, a GPS IFD pointer and GPS text.
    fn phone_tiff(orientation: u16) -> Vec<u8> {
        let mut t = b"II\x2a\0\x08\0\0\0\x02\0".to_vec();
        t.extend_from_slice(&[0x12, 0x01, 3, 0, 1, 0, 0, 0]);
        t.extend_from_slice(&orientation.to_le_bytes());
        t.extend_from_slice(&[0, 0]);
        t.extend_from_slice(&[0x25, 0x88, 4, 0, 1, 0, 0, 0, 38, 0, 0, 0]);
        t.extend_from_slice(&[0, 0, 0, 0]);
        t.extend_from_slice(b"GPSLatitude-6.2088");
        t
    }

    const ALL_METADATA: u8 = VP8X_ICC | VP8X_EXIF | VP8X_XMP;
    const ALPHA: u8 = 0x10;
    const ANIMATION: u8 = 0x02;

    /// A phone photo with an ICC profile, EXIF with GPS, XMP, a vendor chunk and bytes after the RIFF size.
    fn phone_webp() -> (Vec<u8>, usize) {
        let mut v = riff(&[
            vp8x(ALL_METADATA | ALPHA),
            chunk(*b"ICCP", b"Pixel 7 Pro display"),
            alph(),
            vp8(),
            chunk(*b"EXIF", &phone_tiff(8)),
            chunk(*b"XMP ", b"<x:xmpmeta>GPS</x:xmpmeta>"),
            chunk(*b"SEFT", b"vendor data"),
        ]);
        let end = v.len();
        v.extend_from_slice(b"trailer GPS");
        (v, end)
    }

    fn expected() -> Vec<u8> {
        riff(&[
            vp8x(VP8X_EXIF | ALPHA),
            alph(),
            vp8(),
            chunk(*b"EXIF", &orientation_tiff(8)),
        ])
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn phone_webp_keeps_only_image_and_orientation() {
        let (input, _) = phone_webp();
        let out = strip(&input).unwrap();
        assert_eq!(out.orientation, Some(8));
        let b = &out.bytes;
        for needle in [
            b"GPS".as_slice(),
            b"xmpmeta",
            b"XMP ",
            b"ICCP",
            b"Pixel",
            b"vendor",
            b"trailer",
        ] {
            assert!(!contains(b, needle), "{}", String::from_utf8_lossy(needle));
        }
        assert_eq!(&b[12..16], b"VP8X");
        assert_eq!(b[20], VP8X_EXIF | ALPHA);
        let riff_size = u32::from_le_bytes(b[4..8].try_into().unwrap());
        assert_eq!(usize::try_from(riff_size).unwrap(), b.len() - 8);
        let exif = &b[b.len() - 34..];
        assert_eq!(&exif[..8], b"EXIF\x1a\0\0\0");
        assert_eq!(orientation_of(&exif[8..]), Some(8));
        assert!(contains(b, &vp8()));
        assert_eq!(*b, expected());
    }

    #[test]
    fn exif_with_jpeg_prefix_or_big_endian_is_read() {
        for payload in [
            [EXIF_HEADER.as_slice(), &phone_tiff(6)].concat(),
            orientation_tiff(6).to_vec(),
            [EXIF_HEADER.as_slice(), &orientation_tiff(6)].concat(),
        ] {
            let input = riff(&[vp8x(VP8X_EXIF), vp8(), chunk(*b"EXIF", &payload)]);
            let out = strip(&input).unwrap();
            assert_eq!(out.orientation, Some(6));
            assert_eq!(
                out.bytes,
                riff(&[
                    vp8x(VP8X_EXIF),
                    vp8(),
                    chunk(*b"EXIF", &orientation_tiff(6))
                ])
            );
        }
    }

    #[test]
    fn photo_without_orientation_gets_no_exif() {
        for exif in [phone_tiff(1), phone_tiff(0), b"MM\0*GPS".to_vec()] {
            let input = riff(&[
                vp8x(ALL_METADATA),
                vp8l(),
                chunk(*b"EXIF", &exif),
                chunk(*b"EXIF", &phone_tiff(6)),
            ]);
            let out = strip(&input).unwrap();
            assert_eq!(out.orientation, None);
            assert_eq!(out.bytes, riff(&[vp8x(0), vp8l()]));
        }
    }

    #[test]
    fn simple_files_keep_their_bitstream_but_cannot_carry_orientation() {
        let plain = riff(&[vp8l()]);
        assert_eq!(strip(&plain).unwrap().bytes, plain);
        let lossy = riff(&[vp8()]);
        assert_eq!(strip(&lossy).unwrap().bytes, lossy);
        let stray_exif = riff(&[vp8(), chunk(*b"EXIF", &phone_tiff(6))]);
        let out = strip(&stray_exif).unwrap();
        assert_eq!(out.orientation, Some(6));
        assert_eq!(out.bytes, lossy);
    }

    #[test]
    fn animation_frames_keep_only_image_sub_chunks() {
        let frame_header = [0u8; ANMF_HEADER_LEN];
        let frame = |sub: &[Vec<u8>]| {
            let mut data = frame_header.to_vec();
            data.extend(sub.concat());
            chunk(*b"ANMF", &data)
        };
        let anim = chunk(*b"ANIM", &[0, 0, 0, 0, 0, 0]);
        let input = riff(&[
            vp8x(ANIMATION | ALPHA | VP8X_XMP),
            anim.clone(),
            frame(&[alph(), vp8(), chunk(*b"XMP ", b"GPS in a frame")]),
            frame(&[chunk(*b"ZZZZ", b"GPS"), vp8l()]),
            chunk(*b"XMP ", b"<x:xmpmeta>GPS</x:xmpmeta>"),
        ]);
        let out = strip(&input).unwrap();
        assert_eq!(
            out.bytes,
            riff(&[
                vp8x(ANIMATION | ALPHA),
                anim,
                frame(&[alph(), vp8()]),
                frame(&[vp8l()]),
            ])
        );
    }

    #[test]
    fn every_prefix_is_handled_without_panic() {
        let (input, end) = phone_webp();
        for n in 0..=input.len() {
            match strip(&input[..n]) {
                Ok(out) => {
                    assert!(n >= end, "prefix {n} accepted");
                    assert_eq!(out.bytes, expected());
                }
                Err(_) => assert!(n < end, "prefix {n} refused"),
            }
        }
    }

    #[test]
    fn corrupted_files_never_panic() {
        let (input, _) = phone_webp();
        for v in crate::media::one_byte_corruptions(
            &input,
            0xD1B5_4A32_D192_ED03u64,
            &[0x00, 0xFF, 0x01, 0x7F],
            20_000,
        ) {
            if let Ok(out) = strip(&v) {
                let size = u32::from_le_bytes(out.bytes[4..8].try_into().unwrap());
                assert_eq!(usize::try_from(size).unwrap(), out.bytes.len() - 8);
            }
        }
    }

    #[test]
    fn missing_final_pad_byte_is_tolerated() {
        let full = riff(&[vp8()]);
        let mut input = full[..full.len() - 1].to_vec();
        let size = u32::try_from(input.len() - 8).unwrap();
        input[4..8].copy_from_slice(&size.to_le_bytes());
        assert_eq!(strip(&input).unwrap().bytes, full);
    }

    #[test]
    fn broken_files_are_refused() {
        let mut tiny = riff(&[vp8()]);
        tiny[4..8].copy_from_slice(&3u32.to_le_bytes());
        let mut long = riff(&[vp8()]);
        long[4..8].copy_from_slice(&1000u32.to_le_bytes());
        let mut cut = riff(&[vp8()]);
        cut[16..20].copy_from_slice(&100u32.to_le_bytes());
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (Vec::new(), "not a WebP: bad RIFF header"),
            (
                b"RIFF\x04\0\0\0WAVE".to_vec(),
                "not a WebP: bad RIFF header",
            ),
            (tiny, "WebP RIFF size is too small"),
            (long, "WebP file is truncated"),
            (cut, "WebP chunk is truncated"),
            (riff(&[]), "WebP has no image data"),
            (
                riff(&[vp8x(VP8X_EXIF), chunk(*b"EXIF", &phone_tiff(6))]),
                "WebP has no image data",
            ),
            (
                riff(&[vec![b'V', b'P', b'8', b' ', 1, 0]]),
                "WebP chunk is truncated",
            ),
            (
                riff(&[vp8(), vp8x(0)]),
                "WebP VP8X chunk is not the first chunk",
            ),
            (
                riff(&[chunk(*b"VP8X", &[0; 8]), vp8()]),
                "WebP VP8X chunk has the wrong size",
            ),
            (
                riff(&[vp8x(ANIMATION), chunk(*b"ANMF", &[0; 10])]),
                "WebP animation frame is truncated",
            ),
            (
                riff(&[vp8x(ANIMATION), chunk(*b"ANMF", &[0; 16])]),
                "WebP animation frame has no image data",
            ),
        ];
        for (input, reason) in cases {
            assert_eq!(strip(&input), Err(Unreadable(reason)), "{input:02X?}");
        }
    }
}
