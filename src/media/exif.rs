//! The one EXIF tag a cleaned photo keeps: its orientation, which phones use instead of rotating pixels.

pub const EXIF_HEADER: &[u8; 6] = b"Exif\0\0";
const ORIENTATION_TAG: u16 = 0x0112;
const TIFF_SHORT: u16 = 3;

/// The Orientation tag (0x0112) of IFD0 in a TIFF-structured EXIF block, when it asks for a rotation or
/// flip (2..=8); 1 means "as stored" and needs no tag.
pub fn orientation_of(tiff: &[u8]) -> Option<u16> {
    let big_endian = match tiff.get(..4)? {
        [b'M', b'M', 0, 42] => true,
        [b'I', b'I', 42, 0] => false,
        _ => return None,
    };
    let u16_at = |at: usize| -> Option<u16> {
        let b: [u8; 2] = tiff.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(if big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    };
    let u32_at = |at: usize| -> Option<u32> {
        let b: [u8; 4] = tiff.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    };
    let ifd = usize::try_from(u32_at(4)?).ok()?;
    let count = usize::from(u16_at(ifd)?);
    let first_entry = ifd.checked_add(2)?;
    for i in 0..count {
        let entry = first_entry.checked_add(i.checked_mul(12)?)?;
        if u16_at(entry)? == ORIENTATION_TAG {
            if u16_at(entry + 2)? != TIFF_SHORT || u32_at(entry + 4)? != 1 {
                return None;
            }
            // A SHORT sits in the first two bytes of the value field whatever the byte order.
            return u16_at(entry + 8).filter(|o| (2..=8).contains(o));
        }
    }
    None
}

/// The smallest EXIF block that still rotates the photo: a big-endian TIFF header and an IFD0 holding only
/// the Orientation tag.
pub fn orientation_tiff(orientation: u16) -> [u8; 26] {
    let [hi, lo] = orientation.to_be_bytes();
    [
        b'M', b'M', 0, 42, // header
        0, 0, 0, 8, // IFD0 right after the header
        0, 1, // one entry
        0x01, 0x12, 0, 3, 0, 0, 0, 1, hi, lo, 0, 0, // Orientation, SHORT, count 1, value
        0, 0, 0, 0, // no next IFD
    ]
}
