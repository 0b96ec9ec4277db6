//! Removes everything from a JPEG that is not needed to decode the primary image.
//!
//! Phones hide location and identity in many places: EXIF and XMP in APP1, ICC profiles naming the device in
//! APP2, MPF and gain-map directories, IPTC in APP13, vendor blobs in other `APPn` segments, comments, segments
//! placed between scans, and whole secondary images (depth maps, previews, gain maps, each with its own EXIF)
//! appended after the primary image's end-of-image marker. Deny-lists miss some of these, so this keeps an
//! allow-list of the segments a decoder needs and copies them without re-encoding.

use super::exif::{orientation_of, orientation_tiff, EXIF_HEADER};
use super::Unreadable;

/// A JPEG without metadata, and the EXIF orientation that was kept in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stripped {
    pub bytes: Vec<u8>,
    /// The EXIF Orientation (2..=8) written back into `bytes`; `None` when the photo needs no rotation.
    pub orientation: Option<u16>,
}

const SOI: u8 = 0xD8;
const EOI: u8 = 0xD9;
const SOS: u8 = 0xDA;
const APP1: u8 = 0xE1;
const APP14: u8 = 0xEE;

const NO_EOI: Unreadable = Unreadable("JPEG ends before its end-of-image marker");
const TRUNCATED_SEGMENT: Unreadable = Unreadable("JPEG segment is truncated");

/// Copies the primary image of a JPEG, keeping only the segments needed to decode it, plus a minimal EXIF
/// block with the orientation so that sideways phone photos still display upright.
///
/// Everything after the primary image's end-of-image marker is dropped. Runs in one linear pass.
pub fn strip(input: &[u8]) -> Result<Stripped, Unreadable> {
    if !input.starts_with(&[0xFF, SOI]) {
        return Err(Unreadable("not a JPEG: no start-of-image marker"));
    }
    let mut out = vec![0xFF, SOI];
    let mut pos = 2;
    let mut exif_seen = false;
    let mut orientation = None;
    let mut seen_frame = false;
    let mut seen_scan = false;
    loop {
        let marker = next_marker(input, &mut pos)?;
        match marker {
            EOI => {
                if !(seen_frame && seen_scan) {
                    return Err(Unreadable("JPEG ends before any image data"));
                }
                out.extend_from_slice(&[0xFF, EOI]);
                break;
            }
            SOI => return Err(Unreadable("JPEG starts a second image inside the first")),
            // Standalone markers without payload; decoders ignore them outside a scan, and so can we.
            0x01 | 0xD0..=0xD7 => {}
            0xE0..=0xEF | 0xFE => {
                let (raw, payload) = segment(input, pos)?;
                pos += raw.len();
                if marker == APP1 && !exif_seen {
                    if let Some(tiff) = payload.strip_prefix(EXIF_HEADER) {
                        // Later Exif segments are duplicates or belong to thumbnails; the first is the photo's.
                        exif_seen = true;
                        orientation = orientation_of(tiff);
                    }
                } else if marker == APP14 && is_adobe_transform(payload) {
                    // Without it, decoders guess whether a 3- or 4-component image is YCbCr or RGB/CMYK.
                    push_segment(&mut out, marker, raw);
                }
            }
            SOS => {
                if !seen_frame {
                    return Err(Unreadable("JPEG scan comes before its frame header"));
                }
                let (raw, _) = segment(input, pos)?;
                pos += raw.len();
                push_segment(&mut out, marker, raw);
                let end = entropy_end(input, pos)?;
                out.extend_from_slice(input.get(pos..end).ok_or(NO_EOI)?);
                pos = end;
                seen_scan = true;
            }
            // SOFn; 0xC4 (DHT), 0xC8 (reserved) and 0xCC (DAC) are not frame headers.
            0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                let (raw, _) = segment(input, pos)?;
                pos += raw.len();
                push_segment(&mut out, marker, raw);
                seen_frame = true;
            }
            // DHT, DAC, DQT, DNL, DRI, DHP, EXP: coding tables and parameters, nothing about the reporter.
            0xC4 | 0xCC | 0xDB..=0xDF => {
                let (raw, _) = segment(input, pos)?;
                pos += raw.len();
                push_segment(&mut out, marker, raw);
            }
            // Reserved and extension markers have no agreed layout, so they cannot be copied safely.
            _ => return Err(Unreadable("JPEG contains an unsupported marker")),
        }
    }
    if let Some(orientation) = orientation {
        let mut app1 = Vec::with_capacity(36);
        app1.extend_from_slice(&[0xFF, APP1, 0, 34]);
        app1.extend_from_slice(EXIF_HEADER);
        app1.extend_from_slice(&orientation_tiff(orientation));
        out.splice(2..2, app1);
    }
    Ok(Stripped {
        bytes: out,
        orientation,
    })
}

/// Reads the marker at `*pos` and moves past it, skipping the 0xFF fill bytes allowed before any marker.
fn next_marker(input: &[u8], pos: &mut usize) -> Result<u8, Unreadable> {
    match input.get(*pos) {
        Some(0xFF) => {}
        Some(_) => return Err(Unreadable("JPEG has data where a marker should be")),
        None => return Err(NO_EOI),
    }
    while input.get(*pos) == Some(&0xFF) {
        *pos += 1;
    }
    match input.get(*pos) {
        None => Err(NO_EOI),
        // A stuffed zero only means something inside entropy-coded data.
        Some(0x00) => Err(Unreadable("JPEG has data where a marker should be")),
        Some(&marker) => {
            *pos += 1;
            Ok(marker)
        }
    }
}

/// The segment whose length field starts at `pos`: the raw bytes (length field and payload) and the payload.
fn segment(input: &[u8], pos: usize) -> Result<(&[u8], &[u8]), Unreadable> {
    let len = match input.get(pos..pos + 2) {
        Some(&[hi, lo]) => usize::from(u16::from_be_bytes([hi, lo])),
        _ => return Err(TRUNCATED_SEGMENT),
    };
    // The length counts its own two bytes, so anything smaller cannot be a segment.
    if len < 2 {
        return Err(Unreadable("JPEG segment length is too small"));
    }
    let raw = input.get(pos..pos + len).ok_or(TRUNCATED_SEGMENT)?;
    let payload = raw.get(2..).ok_or(TRUNCATED_SEGMENT)?;
    Ok((raw, payload))
}

fn push_segment(out: &mut Vec<u8>, marker: u8, raw: &[u8]) {
    out.extend_from_slice(&[0xFF, marker]);
    out.extend_from_slice(raw);
}

/// Where the entropy-coded data starting at `pos` ends: at the first 0xFF that begins a real marker.
///
/// Inside the data an 0xFF is followed by a stuffed 0x00 or by a restart marker (RST0–7); both belong to
/// the scan. Extra 0xFF fill bytes are tolerated before either, as decoders do. The end is the first 0xFF of
/// a run, so fill bytes before the next marker are left for `next_marker` to skip rather than copied.
fn entropy_end(input: &[u8], mut pos: usize) -> Result<usize, Unreadable> {
    loop {
        let rest = input.get(pos..).ok_or(NO_EOI)?;
        let ff = pos + rest.iter().position(|&b| b == 0xFF).ok_or(NO_EOI)?;
        let mut next = ff + 1;
        while input.get(next) == Some(&0xFF) {
            next += 1;
        }
        match input.get(next) {
            None => return Err(NO_EOI),
            Some(0x00 | 0xD0..=0xD7) => pos = next + 1,
            Some(_) => return Ok(ff),
        }
    }
}

/// The fixed-size Adobe record only says how colours are transformed; other APP14 shapes are not known to be
/// harmless.
fn is_adobe_transform(payload: &[u8]) -> bool {
    payload.len() == 12 && payload.starts_with(b"Adobe")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(marker: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0xFF, marker];
        v.extend_from_slice(&u16::try_from(payload.len() + 2).unwrap().to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    /// A little-endian EXIF block the way a phone writes it: make, orientation, a GPS IFD and GPS strings.
    fn phone_tiff(orientation: Option<u16>) -> Vec<u8> {
        let mut entries: Vec<(u16, u16, u32, [u8; 4])> = vec![(0x010F, 2, 4, *b"Sam\0")];
        if let Some(o) = orientation {
            entries.push((0x0112, 3, 1, u32::from(o).to_le_bytes()));
        }
        let gps_ifd = 8 + 2 + 12 * (u32::try_from(entries.len()).unwrap() + 1) + 4;
        entries.push((0x8825, 4, 1, gps_ifd.to_le_bytes()));
        let mut t = b"II\x2a\0\x08\0\0\0".to_vec();
        t.extend_from_slice(&u16::try_from(entries.len()).unwrap().to_le_bytes());
        for (tag, kind, count, value) in entries {
            t.extend_from_slice(&tag.to_le_bytes());
            t.extend_from_slice(&kind.to_le_bytes());
            t.extend_from_slice(&count.to_le_bytes());
            t.extend_from_slice(&value);
        }
        t.extend_from_slice(&0u32.to_le_bytes());
        assert_eq!(t.len(), usize::try_from(gps_ifd).unwrap());
        // GPS IFD: GPSLatitudeRef "S".
        t.extend_from_slice(&1u16.to_le_bytes());
        t.extend_from_slice(&[1, 0, 2, 0, 2, 0, 0, 0, b'S', 0, 0, 0]);
        t.extend_from_slice(&0u32.to_le_bytes());
        t.extend_from_slice(b"GPSLatitude-6.2088");
        t
    }

    fn exif_app1(tiff: &[u8]) -> Vec<u8> {
        seg(APP1, &[EXIF_HEADER.as_slice(), tiff].concat())
    }

    fn dqt() -> Vec<u8> {
        let mut table = vec![0];
        table.extend([1u8; 64]);
        seg(0xDB, &table)
    }

    fn sof(marker: u8) -> Vec<u8> {
        seg(marker, &[8, 0, 1, 0, 1, 1, 1, 0x11, 0])
    }

    fn dht() -> Vec<u8> {
        let mut table = vec![0x00, 1];
        table.extend([0u8; 15]);
        table.push(0x00);
        seg(0xC4, &table)
    }

    fn sos() -> Vec<u8> {
        seg(SOS, &[1, 1, 0x00, 0, 0x3F, 0])
    }

    /// Entropy-coded data with byte stuffing and restart markers, which must survive untouched.
    const SCAN1: &[u8] = &[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56, 0xFF, 0x00];
    const SCAN2: &[u8] = &[0xAB, 0xFF, 0x00, 0xCD, 0xFF, 0xD1, 0xEF];

    /// The segments a decoder needs, in file order, from SOF to the last scan's data.
    fn image_core() -> Vec<u8> {
        [
            dqt(),
            sof(0xC2),
            dht(),
            sos(),
            SCAN1.to_vec(),
            dht(),
            sos(),
            SCAN2.to_vec(),
        ]
        .concat()
    }

    /// A progressive phone photo with metadata in every place phones put it, an appended depth map with its
    /// own GPS, and a vendor trailer. Returns the file and the length of its primary image.
    fn phone_jpeg() -> (Vec<u8>, usize) {
        let xmp = b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>GPS</x:xmpmeta>";
        let mut v = [
            vec![0xFF, SOI],
            seg(0xE0, b"JFIF\0\x01\x02\0\0\x01\0\x01\0\0"),
            exif_app1(&phone_tiff(Some(6))),
            seg(APP1, xmp),
            seg(0xE2, b"ICC_PROFILE\0\x01\x01Pixel 7 Pro panel"),
            seg(0xE2, b"MPF\0MM\0*\0\0\0\x08depthmap"),
            seg(0xED, b"Photoshop 3.0\08BIM\x04\x04City Jakarta"),
            seg(0xEF, b"vendor blob"),
            seg(0xFE, b"taken by siti"),
            dqt(),
            sof(0xC2),
            dht(),
            sos(),
            SCAN1.to_vec(),
            exif_app1(b"MM\0*GPS between scans"),
            dht(),
            sos(),
            SCAN2.to_vec(),
            vec![0xFF, EOI],
        ]
        .concat();
        let primary = v.len();
        v.extend(
            [
                vec![0xFF, SOI],
                exif_app1(b"MM\0*GPSLongitude106.8"),
                sof(0xC0),
                dht(),
                sos(),
                vec![0x42, 0x43],
                vec![0xFF, EOI],
                b"\0\0SEFT trailer GPS".to_vec(),
            ]
            .concat(),
        );
        (v, primary)
    }

    fn expected_with_orientation(orientation: u16) -> Vec<u8> {
        [
            vec![0xFF, SOI],
            exif_app1(&orientation_tiff(orientation)),
            image_core(),
            vec![0xFF, EOI],
        ]
        .concat()
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    fn count(haystack: &[u8], needle: &[u8]) -> usize {
        haystack
            .windows(needle.len())
            .filter(|w| *w == needle)
            .count()
    }

    #[test]
    fn phone_photo_keeps_only_image_and_orientation() {
        let (input, _) = phone_jpeg();
        let out = strip(&input).unwrap();
        assert_eq!(out.orientation, Some(6));
        let b = &out.bytes;
        for needle in [
            b"GPS".as_slice(),
            b"xmpmeta",
            b"ICC_PROFILE",
            b"MPF",
            b"Photoshop",
            b"siti",
            b"JFIF",
            b"vendor",
            b"Sam",
            b"SEFT",
        ] {
            assert!(!contains(b, needle), "{}", String::from_utf8_lossy(needle));
        }
        assert!(b.starts_with(&[0xFF, SOI, 0xFF, APP1, 0, 34]));
        assert_eq!(&b[6..12], EXIF_HEADER);
        assert_eq!(orientation_of(&b[12..38]), Some(6));
        assert!(b.ends_with(&[0xFF, EOI]));
        assert_eq!(count(b, &[0xFF, EOI]), 1);
        assert_eq!(count(b, &[0xFF, SOI]), 1);
        assert!(contains(b, SCAN1) && contains(b, SCAN2));
        assert_eq!(*b, expected_with_orientation(6));
    }

    #[test]
    fn photo_without_orientation_gets_no_app1() {
        for orientation in [None, Some(1), Some(9)] {
            let input = [
                vec![0xFF, SOI],
                exif_app1(&phone_tiff(orientation)),
                image_core(),
                vec![0xFF, EOI],
            ]
            .concat();
            let out = strip(&input).unwrap();
            assert_eq!(out.orientation, None);
            assert!(!contains(&out.bytes, &[0xFF, APP1]));
            assert_eq!(
                out.bytes,
                [vec![0xFF, SOI], image_core(), vec![0xFF, EOI]].concat()
            );
        }
    }

    #[test]
    fn only_the_first_exif_segment_counts() {
        let xmp = seg(APP1, b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta/>");
        let input = [
            vec![0xFF, SOI],
            xmp,
            exif_app1(&phone_tiff(Some(8))),
            exif_app1(&phone_tiff(Some(3))),
            image_core(),
            vec![0xFF, EOI],
        ]
        .concat();
        assert_eq!(strip(&input).unwrap().bytes, expected_with_orientation(8));
    }

    #[test]
    fn every_prefix_is_handled_without_panic() {
        let (input, primary) = phone_jpeg();
        let expected = expected_with_orientation(6);
        for n in 0..=input.len() {
            match strip(&input[..n]) {
                Ok(out) => {
                    assert!(n >= primary, "prefix {n} accepted");
                    assert_eq!(out.bytes, expected);
                }
                Err(_) => assert!(n < primary, "prefix {n} refused"),
            }
        }
    }

    #[test]
    fn corrupted_files_never_panic() {
        let (input, _) = phone_jpeg();
        for v in crate::media::one_byte_corruptions(
            &input,
            0x2545_F491_4F6C_DD1Du64,
            &[0x00, 0xFF, 0xD9, 0xDA, 0x01],
            20_000,
        ) {
            if let Ok(out) = strip(&v) {
                assert!(out.bytes.ends_with(&[0xFF, EOI]));
            }
        }
    }

    #[test]
    fn adobe_colour_transform_is_kept_and_other_app14_dropped() {
        let adobe = seg(APP14, b"Adobe\0\x64\0\0\0\0\x01");
        let odd = seg(APP14, b"Adobe\0\x64\0\0\0\0\x01 serial 1234");
        let input = [
            vec![0xFF, SOI],
            adobe.clone(),
            odd,
            image_core(),
            vec![0xFF, EOI],
        ]
        .concat();
        let out = strip(&input).unwrap();
        assert_eq!(
            out.bytes,
            [vec![0xFF, SOI], adobe, image_core(), vec![0xFF, EOI]].concat()
        );
    }

    #[test]
    fn fill_bytes_before_markers_are_skipped() {
        let input = [
            vec![0xFF, SOI, 0xFF, 0xFF],
            dqt(),
            vec![0xFF, 0xFF, 0xFF],
            sof(0xC0),
            dht(),
            sos(),
            SCAN1.to_vec(),
            vec![0xFF, 0xFF, 0xFF, EOI],
        ]
        .concat();
        let out = strip(&input).unwrap();
        let expected = [
            vec![0xFF, SOI],
            dqt(),
            sof(0xC0),
            dht(),
            sos(),
            SCAN1.to_vec(),
            vec![0xFF, EOI],
        ]
        .concat();
        assert_eq!(out.bytes, expected);
    }

    #[test]
    fn fill_bytes_inside_entropy_data_stay_in_the_scan() {
        let scan = [0x11, 0xFF, 0xFF, 0x00, 0x22, 0xFF, 0xFF, 0xD3, 0x33];
        let input = [
            vec![0xFF, SOI],
            sof(0xC0),
            sos(),
            scan.to_vec(),
            vec![0xFF, EOI],
        ]
        .concat();
        assert_eq!(strip(&input).unwrap().bytes, input);
    }

    #[test]
    fn standalone_markers_outside_scans_are_dropped() {
        let input = [
            vec![0xFF, SOI, 0xFF, 0x01, 0xFF, 0xD4],
            sof(0xC0),
            sos(),
            SCAN1.to_vec(),
            vec![0xFF, EOI],
        ]
        .concat();
        let expected = [
            vec![0xFF, SOI],
            sof(0xC0),
            sos(),
            SCAN1.to_vec(),
            vec![0xFF, EOI],
        ]
        .concat();
        assert_eq!(strip(&input).unwrap().bytes, expected);
    }

    #[test]
    fn broken_files_are_refused() {
        let tail = [sof(0xC0), sos(), SCAN1.to_vec(), vec![0xFF, EOI]].concat();
        let with = |middle: &[u8]| [&[0xFF, SOI][..], middle, &tail[..]].concat();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (Vec::new(), "not a JPEG: no start-of-image marker"),
            (b"\x89PNG".to_vec(), "not a JPEG: no start-of-image marker"),
            (vec![0xFF, SOI], "JPEG ends before its end-of-image marker"),
            (
                vec![0xFF, SOI, 0xFF, EOI],
                "JPEG ends before any image data",
            ),
            (
                [vec![0xFF, SOI], sof(0xC0), vec![0xFF, EOI]].concat(),
                "JPEG ends before any image data",
            ),
            (
                [vec![0xFF, SOI], sos(), SCAN1.to_vec(), vec![0xFF, EOI]].concat(),
                "JPEG scan comes before its frame header",
            ),
            (
                with(&[0xFF, 0xE1, 0, 1]),
                "JPEG segment length is too small",
            ),
            (
                with(&[0xFF, 0xDB, 0, 0]),
                "JPEG segment length is too small",
            ),
            (
                vec![0xFF, SOI, 0xFF, 0xDB, 0x10, 0],
                "JPEG segment is truncated",
            ),
            (vec![0xFF, SOI, 0xFF, 0xDB, 0], "JPEG segment is truncated"),
            (with(&[0x00]), "JPEG has data where a marker should be"),
            (
                with(&[0xFF, 0x00]),
                "JPEG has data where a marker should be",
            ),
            (
                with(&[0xFF, SOI]),
                "JPEG starts a second image inside the first",
            ),
            (
                with(&[0xFF, 0xC8, 0, 2]),
                "JPEG contains an unsupported marker",
            ),
            (
                with(&[0xFF, 0x02, 0, 2]),
                "JPEG contains an unsupported marker",
            ),
            (
                with(&[0xFF, 0xF7, 0, 2]),
                "JPEG contains an unsupported marker",
            ),
            (
                [vec![0xFF, SOI], sof(0xC0), sos(), SCAN1.to_vec()].concat(),
                "JPEG ends before its end-of-image marker",
            ),
            (
                [vec![0xFF, SOI], sof(0xC0), sos(), vec![1, 0xFF]].concat(),
                "JPEG ends before its end-of-image marker",
            ),
        ];
        for (input, reason) in cases {
            assert_eq!(strip(&input), Err(Unreadable(reason)), "{input:02X?}");
        }
    }

    #[test]
    fn orientation_is_read_in_both_byte_orders() {
        assert_eq!(orientation_of(&phone_tiff(Some(6))), Some(6));
        assert_eq!(orientation_of(&orientation_tiff(8)), Some(8));
        // Big-endian with the orientation as the second entry.
        let mut be = b"MM\0\x2a\0\0\0\x08\0\x02".to_vec();
        be.extend_from_slice(&[0x01, 0x0F, 0, 2, 0, 0, 0, 4, b'A', b'p', b'l', 0]);
        be.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 3, 0, 0]);
        be.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(orientation_of(&be), Some(3));
    }

    #[test]
    fn orientation_of_rejects_malformed_blocks() {
        let good = orientation_tiff(6).to_vec();
        let patched = |at: usize, bytes: &[u8]| {
            let mut t = good.clone();
            t[at..at + bytes.len()].copy_from_slice(bytes);
            t
        };
        // The value ends at byte 20; the padding and next-IFD offset are not needed to read it.
        for n in 0..=good.len() {
            let expected = if n < 20 { None } else { Some(6) };
            assert_eq!(orientation_of(&good[..n]), expected, "prefix {n}");
        }
        assert_eq!(orientation_of(&patched(0, b"MI")), None);
        assert_eq!(orientation_of(&patched(4, &[0xFF, 0xFF, 0xFF, 0xFF])), None);
        assert_eq!(orientation_of(&patched(8, &[0, 0])), None);
        // An entry count far beyond the data ends the search at the end of the data.
        let mut huge = patched(8, &[0xFF, 0xFF]);
        huge[10..12].copy_from_slice(&[0x01, 0x13]);
        assert_eq!(orientation_of(&huge), None);
        assert_eq!(orientation_of(&patched(12, &[0, 4])), None);
        assert_eq!(orientation_of(&patched(14, &[0, 0, 0, 2])), None);
        assert_eq!(orientation_of(&patched(18, &[0, 0])), None);
        assert_eq!(orientation_of(&patched(18, &[0, 9])), None);
        assert_eq!(orientation_of(&patched(10, &[0x01, 0x13])), None);
        assert_eq!(orientation_of(b""), None);
    }
}
