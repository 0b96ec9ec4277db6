//! Photo intake: the type is decided by content (JPEG, PNG, WebP only), metadata that can locate or identify
//! the reporter (EXIF with GPS, XMP, IPTC, comments, text chunks) is removed without re-encoding, and the file
//! is on stable storage before the database row that points at it commits.

use crate::domain::Problem;
use bytes::Bytes;
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

mod exif;
mod jpeg;
mod png;
mod webp;

/// Why an upload is not a readable image; the reason is short and safe to show to the uploader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unreadable(pub &'static str);

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Unreadable {}

/// `count` copies of `input`, each with one byte changed (xorshift64, from `seed`) to one of `likely` (the
/// bytes a format's parser looks for) or to a random byte: the cleaners' tests feed them to `strip`.
#[cfg(test)]
fn one_byte_corruptions(input: &[u8], mut seed: u64, likely: &[u8], count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let r = seed.to_le_bytes();
            let mut v = input.to_vec();
            let at = usize::from(u16::from_le_bytes([r[0], r[1]])) % v.len();
            let pick = usize::from(r[3]) % (likely.len() + 1);
            v[at] = likely.get(pick).copied().unwrap_or(r[2]);
            v
        })
        .collect()
}

/// A photo that passed the checks, with its metadata removed.
#[derive(Debug)]
pub struct CleanPhoto {
    pub kind: PhotoKind,
    pub bytes: Bytes,
}

/// Checks that `bytes` is a JPEG, PNG or WebP image and removes its metadata by allow-list: only the
/// segments and chunks that draw the picture stay (and a JPEG's or WebP's orientation, rewritten alone),
/// wherever the rest sits, and nothing after the image's end. `index` names the part in errors.
pub fn clean(bytes: Vec<u8>, index: usize) -> Result<CleanPhoto, Problem> {
    let field = "media";
    let kind = PhotoKind::sniff(&bytes).ok_or_else(|| {
        Problem::new(
            field,
            format!("photo {index} is not a JPEG, PNG or WebP image"),
        )
    })?;
    let broken = |why: &str| {
        Problem::new(
            field,
            format!(
                "photo {index} is not a readable {} file: {why}",
                kind.extension()
            ),
        )
    };
    let out = match kind {
        PhotoKind::Jpeg => jpeg::strip(&bytes)
            .map(|s| s.bytes)
            .map_err(|e| broken(e.0)),
        PhotoKind::Png => png::strip(&bytes).map_err(|e| broken(e.0)),
        PhotoKind::Webp => webp::strip(&bytes)
            .map(|s| s.bytes)
            .map_err(|e| broken(e.0)),
    }?;
    Ok(CleanPhoto {
        kind,
        bytes: Bytes::from(out),
    })
}

/// Where stored photos live.
pub fn media_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("media")
}

/// Where uploads wait while their request arrives; photos are written anew from there once cleaned, so
/// nothing that was uploaded is ever served as it came. Left-overs of a killed server are removed at start.
pub fn spool_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("spool")
}

/// Removes uploads older than an hour from the spool: what a killed server left. Younger files may belong
/// to another process on the same data directory.
pub fn sweep_spool(data_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(spool_dir(data_dir)) else {
        return;
    };
    let hour = std::time::Duration::from_secs(3600);
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > hour);
        if old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
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
pub(crate) mod tests {
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

    /// The TIFF block of the APP1 Exif segment right after SOI, if there is one.
    fn leading_exif(b: &[u8]) -> Option<&[u8]> {
        if b.get(2..4)? != [0xFF, 0xE1] {
            return None;
        }
        let len = usize::from(u16::from_be_bytes([b[4], b[5]]));
        b.get(6..4 + len)?.strip_prefix(b"Exif\0\0")
    }

    #[test]
    fn orientation_survives_and_nothing_else_does() {
        let clean = clean(jpeg_rotated_with_gps(), 1).unwrap();
        let text = String::from_utf8_lossy(&clean.bytes).to_string();
        assert!(!text.contains("GPS") && !text.contains("SERIAL"), "{text}");
        let exif = leading_exif(&clean.bytes).expect("an EXIF block with the orientation");
        assert_eq!(exif::orientation_of(exif), Some(6));
        assert_eq!(exif.len(), 26);
    }

    #[test]
    fn photos_without_orientation_get_no_exif() {
        let clean = clean(jpeg_with_exif(), 1).unwrap();
        assert!(leading_exif(&clean.bytes).is_none());
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
