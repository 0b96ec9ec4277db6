//! Photo intake: the type is decided by content (JPEG, PNG, WebP only), metadata that can locate or identify
//! the reporter (EXIF with GPS, XMP, IPTC, comments, text chunks) is removed without re-encoding, and the file
//! is on stable storage before the database row that points at it commits.

use crate::domain::Problem;
use bytes::Bytes;
use img_parts::ImageEXIF;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhotoKind {
    Jpeg,
    Png,
    Webp,
}

impl PhotoKind {
    pub fn sniff(b: &[u8]) -> Option<Self> {
        if b.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Self::Jpeg)
        } else if b.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Self::Png)
        } else if b.len() >= 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WEBP" {
            Some(Self::Webp)
        } else {
            None
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Png => "png",
            Self::Webp => "webp",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Webp => "image/webp",
        }
    }

    pub fn from_file_name(name: &str) -> Option<Self> {
        match name.rsplit_once('.')?.1 {
            "jpg" => Some(Self::Jpeg),
            "png" => Some(Self::Png),
            "webp" => Some(Self::Webp),
            _ => None,
        }
    }
}

/// A photo that passed the checks, with its metadata removed.
#[derive(Debug)]
pub struct CleanPhoto {
    pub kind: PhotoKind,
    pub bytes: Bytes,
}

const JPEG_METADATA_MARKERS: [u8; 4] = [
    0xE1, // APP1: EXIF (GPS, camera serial, timestamps) and XMP
    0xEC, // APP12: Ducky/picture info
    0xED, // APP13: IPTC / Photoshop
    0xFE, // COM
];
const PNG_METADATA_CHUNKS: [&[u8; 4]; 5] = [b"eXIf", b"tEXt", b"zTXt", b"iTXt", b"tIME"];

/// Checks that `bytes` is a JPEG, PNG or WebP image and removes its metadata. `index` names the part in errors.
pub fn clean(bytes: Vec<u8>, index: usize) -> Result<CleanPhoto, Problem> {
    let field = "media";
    let kind = PhotoKind::sniff(&bytes).ok_or_else(|| {
        Problem::new(
            field,
            format!("photo {index} is not a JPEG, PNG or WebP image"),
        )
    })?;
    let broken = |_| {
        Problem::new(
            field,
            format!("photo {index} is not a readable {} file", kind.extension()),
        )
    };
    let input = Bytes::from(bytes);
    let out = match kind {
        PhotoKind::Jpeg => {
            let mut jpeg = img_parts::jpeg::Jpeg::from_bytes(input).map_err(broken)?;
            if jpeg.dimensions().is_none() {
                return Err(Problem::new(
                    field,
                    format!("photo {index} is a JPEG without image data"),
                ));
            }
            let orientation = jpeg.exif().and_then(|tiff| exif_orientation(&tiff));
            for marker in JPEG_METADATA_MARKERS {
                jpeg.remove_segments_by_marker(marker);
            }
            // Phones store sideways photos unrotated with an orientation tag; keep that one tag alone.
            jpeg.set_exif(orientation.map(orientation_only_exif));
            jpeg.encoder().bytes()
        }
        PhotoKind::Png => {
            let mut png = img_parts::png::Png::from_bytes(input).map_err(broken)?;
            for chunk in PNG_METADATA_CHUNKS {
                png.remove_chunks_by_type(*chunk);
            }
            png.encoder().bytes()
        }
        PhotoKind::Webp => {
            let mut webp = img_parts::webp::WebP::from_bytes(input).map_err(broken)?;
            let orientation = webp.exif().and_then(|tiff| exif_orientation(&tiff));
            webp.set_exif(orientation.map(orientation_only_exif));
            webp.remove_chunks_by_id(*b"XMP ");
            webp.encoder().bytes()
        }
    };
    Ok(CleanPhoto { kind, bytes: out })
}

/// The Orientation tag (0x0112) of IFD0 in a TIFF-structured EXIF block, when it says anything but "normal".
fn exif_orientation(tiff: &[u8]) -> Option<u16> {
    let big_endian = match tiff.get(..4)? {
        [b'M', b'M', 0, 42] => true,
        [b'I', b'I', 42, 0] => false,
        _ => return None,
    };
    let u16_at = |at: usize| -> Option<u16> {
        let b: [u8; 2] = tiff.get(at..at + 2)?.try_into().ok()?;
        Some(if big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    };
    let u32_at = |at: usize| -> Option<u32> {
        let b: [u8; 4] = tiff.get(at..at + 4)?.try_into().ok()?;
        Some(if big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    };
    let ifd = usize::try_from(u32_at(4)?).ok()?;
    let count = usize::from(u16_at(ifd)?);
    (0..count.min(512))
        .map(|i| ifd + 2 + i * 12)
        .find(|&entry| u16_at(entry) == Some(0x0112) && u16_at(entry + 2) == Some(3))
        .and_then(|entry| u16_at(entry + 8))
        .filter(|o| (2..=8).contains(o))
}

/// A minimal big-endian EXIF block holding only an Orientation tag.
fn orientation_only_exif(orientation: u16) -> Bytes {
    let mut b = Vec::with_capacity(26);
    b.extend_from_slice(b"MM\0\x2a");
    b.extend_from_slice(&8u32.to_be_bytes()); // IFD0 right after the header
    b.extend_from_slice(&1u16.to_be_bytes()); // one entry
    b.extend_from_slice(&0x0112u16.to_be_bytes());
    b.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    b.extend_from_slice(&1u32.to_be_bytes());
    b.extend_from_slice(&orientation.to_be_bytes());
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    Bytes::from(b)
}

/// Where stored photos live.
pub fn media_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("media")
}

/// Writes a photo durably: a temporary file, fsync, rename into place, fsync of the directory.
pub fn store(dir: &Path, file_name: &str, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{file_name}.tmp"));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(file_name))?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 1×1 JPEG carrying an EXIF segment with a fake GPS tag and a comment.
    pub fn jpeg_with_exif() -> Vec<u8> {
        let mut v = vec![0xFF, 0xD8];
        let app1 = b"Exif\0\0MM\0*GPSLatitude-6.2088";
        v.extend([0xFF, 0xE1, 0, (app1.len() + 2) as u8]);
        v.extend_from_slice(app1);
        let com = b"taken by siti";
        v.extend([0xFF, 0xFE, 0, (com.len() + 2) as u8]);
        v.extend_from_slice(com);
        // SOF0 for 1x1, one component.
        v.extend([0xFF, 0xC0, 0, 11, 8, 0, 1, 0, 1, 1, 1, 0x11, 0]);
        v.extend([
            0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 0x3F, 0, 0x12, 0x34, 0xFF, 0xD9,
        ]);
        v
    }

    #[test]
    fn jpeg_metadata_is_removed() {
        let clean = clean(jpeg_with_exif(), 1).unwrap();
        assert_eq!(clean.kind, PhotoKind::Jpeg);
        let b = clean.bytes.to_vec();
        assert!(b.starts_with(&[0xFF, 0xD8]));
        let text = String::from_utf8_lossy(&b);
        assert!(!text.contains("GPS") && !text.contains("siti"), "{text}");
    }

    /// A 1×1 JPEG whose EXIF says "rotate 90°" (orientation 6) and holds a GPS IFD pointer and a camera serial.
    fn jpeg_rotated_with_gps() -> Vec<u8> {
        let mut tiff = b"II\x2a\0\x08\0\0\0".to_vec();
        tiff.extend_from_slice(&3u16.to_le_bytes());
        for (tag, kind, value) in [
            (0x0112u16, 3u16, 6u32),
            (0x8825, 4, 0x99),
            (0xA431, 2, 0x4142),
        ] {
            tiff.extend_from_slice(&tag.to_le_bytes());
            tiff.extend_from_slice(&kind.to_le_bytes());
            tiff.extend_from_slice(&1u32.to_le_bytes());
            tiff.extend_from_slice(&value.to_le_bytes());
        }
        tiff.extend_from_slice(&0u32.to_le_bytes());
        tiff.extend_from_slice(b"GPSLatitude-6.2088 SERIAL123456");
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend_from_slice(&tiff);
        let mut v = vec![0xFF, 0xD8, 0xFF, 0xE1];
        v.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
        v.extend_from_slice(&app1);
        v.extend([0xFF, 0xC0, 0, 11, 8, 0, 1, 0, 1, 1, 1, 0x11, 0]);
        v.extend([
            0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 0x3F, 0, 0x12, 0x34, 0xFF, 0xD9,
        ]);
        v
    }

    #[test]
    fn orientation_survives_and_nothing_else_does() {
        let clean = clean(jpeg_rotated_with_gps(), 1).unwrap();
        let text = String::from_utf8_lossy(&clean.bytes).to_string();
        assert!(!text.contains("GPS") && !text.contains("SERIAL"), "{text}");
        let jpeg = img_parts::jpeg::Jpeg::from_bytes(clean.bytes).unwrap();
        let exif = jpeg.exif().expect("an EXIF block with the orientation");
        assert_eq!(exif_orientation(&exif), Some(6));
        assert_eq!(exif.len(), 26);
    }

    #[test]
    fn photos_without_orientation_get_no_exif() {
        let clean = clean(jpeg_with_exif(), 1).unwrap();
        assert!(img_parts::jpeg::Jpeg::from_bytes(clean.bytes)
            .unwrap()
            .exif()
            .is_none());
    }

    #[test]
    fn type_is_decided_by_content() {
        assert!(clean(b"GIF89a....".to_vec(), 1).is_err());
        assert!(clean(b"<svg/>".to_vec(), 2)
            .unwrap_err()
            .description
            .contains("photo 2"));
        assert!(clean(vec![0xFF, 0xD8, 0xFF, 0xE0], 1).is_err());
    }

    #[test]
    fn stored_files_land_in_place() {
        let dir = tempfile::tempdir().unwrap();
        store(dir.path(), "a.jpg", b"123").unwrap();
        assert_eq!(std::fs::read(dir.path().join("a.jpg")).unwrap(), b"123");
        assert!(!dir.path().join(".a.jpg.tmp").exists());
    }
}
