//! The fixed 32-byte file header (SPEC.md §3): magic, version, dimension,
//! element type, checksum. Offsets below are running sums of field sizes.

use std::fmt;

use crate::checksum::checksum;
use crate::error::{FormatError, FormatErrorKind};

/// The first eight bytes of every nidus data file (SPEC.md §3): a non-ASCII
/// byte (catches 7-bit transfers), the name, then CR LF (catches newline
/// translation in either direction).
pub const MAGIC: [u8; 8] = *b"\x89NIDUS\r\n";

/// Length of the file header in bytes; the first frame starts here.
pub const HEADER_LEN: usize = 32;

/// The largest dimension a file may declare (SPEC.md §3). It bounds one
/// row to 256 KiB, far beyond any embedding model in use.
pub const MAX_DIMENSION: u32 = 1 << 16;

const MAGIC_AT: usize = 0;
const MAJOR_AT: usize = MAGIC_AT + MAGIC.len(); // 8
const MINOR_AT: usize = MAJOR_AT + 2; // 10
const DIMENSION_AT: usize = MINOR_AT + 2; // 12
const ELEMENT_AT: usize = DIMENSION_AT + 4; // 16
const RESERVED_AT: usize = ELEMENT_AT + 1; // 17
const CHECKSUM_AT: usize = RESERVED_AT + 7; // 24
const _: () = assert!(CHECKSUM_AT + 8 == HEADER_LEN);

/// A format version (SPEC.md §8). A reader refuses a newer major version
/// and reads every older minor of its own major.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// Incompatible changes bump this; readers refuse a newer major.
    pub major: u16,
    /// Compatible additions bump this; readers read older minors.
    pub minor: u16,
}

impl Version {
    /// The version this library writes, and the newest it reads.
    pub const CURRENT: Version = Version { major: 1, minor: 0 };

    /// True if a reader of this library can read a file of version `self`
    /// (same major, any minor; a newer minor is read until it meets a
    /// construct this library does not know, SPEC.md §8).
    pub fn is_readable(self) -> bool {
        self.major == Version::CURRENT.major
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The type of one vector element on disk (SPEC.md §3). Only f32 exists in
/// format 1.0; codes 2 (f16) and 3 (i8) are reserved for later minors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ElementType {
    /// IEEE 754 binary32, little-endian (code 1).
    F32,
}

impl ElementType {
    /// The code stored in the header.
    pub fn code(self) -> u8 {
        match self {
            ElementType::F32 => 1,
        }
    }

    /// The size of one element in bytes.
    pub fn size(self) -> usize {
        match self {
            ElementType::F32 => 4,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(ElementType::F32),
            _ => None,
        }
    }
}

/// The decoded file header: what every frame of the file is read against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Header {
    /// The format version the file was written with.
    pub version: Version,
    /// The number of elements in every vector of the file (1..=[`MAX_DIMENSION`]).
    pub dimension: u32,
    /// The type of every vector element.
    pub element_type: ElementType,
}

impl Header {
    /// A header of the current version for f32 vectors of `dimension`
    /// elements; fails with [`FormatErrorKind::InvalidInput`] unless
    /// `1 <= dimension <= MAX_DIMENSION`.
    pub fn new(dimension: u32) -> Result<Header, FormatError> {
        check_dimension(dimension).map_err(FormatError::invalid_input)?;
        Ok(Header {
            version: Version::CURRENT,
            dimension,
            element_type: ElementType::F32,
        })
    }

    /// The bytes one vector occupies on disk.
    pub fn row_bytes(&self) -> usize {
        // dimension <= 2^16 and size <= 4: no overflow on any target.
        self.dimension as usize * self.element_type.size()
    }

    /// The 32 header bytes (SPEC.md §3), reserved bytes zero, checksum set.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[MAGIC_AT..MAJOR_AT].copy_from_slice(&MAGIC);
        b[MAJOR_AT..MINOR_AT].copy_from_slice(&self.version.major.to_le_bytes());
        b[MINOR_AT..DIMENSION_AT].copy_from_slice(&self.version.minor.to_le_bytes());
        b[DIMENSION_AT..ELEMENT_AT].copy_from_slice(&self.dimension.to_le_bytes());
        b[ELEMENT_AT] = self.element_type.code();
        let sum = checksum(&b[..CHECKSUM_AT]);
        b[CHECKSUM_AT..].copy_from_slice(&sum.to_le_bytes());
        b
    }

    /// Decodes and validates 32 header bytes. Errors (all at offset 0):
    /// [`FormatErrorKind::NotNidus`] for a wrong magic;
    /// [`FormatErrorKind::UnsupportedVersion`] for a newer major (named with
    /// ours); [`FormatErrorKind::Corrupt`] for a checksum mismatch or a dimension
    /// out of range; [`FormatErrorKind::UnsupportedElementType`] for an unknown
    /// element type code.
    pub fn decode(b: &[u8; HEADER_LEN]) -> Result<Header, FormatError> {
        if b[MAGIC_AT..MAJOR_AT] != MAGIC {
            return Err(FormatError::new(FormatErrorKind::NotNidus, Some(0)));
        }
        let version = Version {
            major: u16::from_le_bytes([b[MAJOR_AT], b[MAJOR_AT + 1]]),
            minor: u16::from_le_bytes([b[MINOR_AT], b[MINOR_AT + 1]]),
        };
        // The version is checked before the checksum: a newer major may lay
        // out (and checksum) the rest of its header differently, and the
        // useful message then is "too new", not "corrupt".
        if !version.is_readable() {
            return Err(FormatError::new(
                FormatErrorKind::UnsupportedVersion {
                    file: version,
                    supported: Version::CURRENT,
                },
                Some(0),
            ));
        }
        let stored = u64::from_le_bytes(read8(b, CHECKSUM_AT));
        let actual = checksum(&b[..CHECKSUM_AT]);
        if stored != actual {
            return Err(FormatError::corrupt(
                0,
                format!(
                    "header checksum mismatch (stored {stored:#018x}, computed {actual:#018x})"
                ),
            ));
        }
        let code = b[ELEMENT_AT];
        let element_type = ElementType::from_code(code).ok_or(FormatError::new(
            FormatErrorKind::UnsupportedElementType { code },
            Some(0),
        ))?;
        let dimension = u32::from_le_bytes(read4(b, DIMENSION_AT));
        check_dimension(dimension).map_err(|reason| FormatError::corrupt(0, reason))?;
        Ok(Header {
            version,
            dimension,
            element_type,
        })
    }
}

fn check_dimension(dimension: u32) -> Result<(), String> {
    if dimension == 0 || dimension > MAX_DIMENSION {
        Err(format!(
            "dimension {dimension} is outside 1..={MAX_DIMENSION}"
        ))
    } else {
        Ok(())
    }
}

fn read4(b: &[u8], at: usize) -> [u8; 4] {
    [b[at], b[at + 1], b[at + 2], b[at + 3]]
}

fn read8(b: &[u8], at: usize) -> [u8; 8] {
    let mut out = [0u8; 8];
    out.copy_from_slice(&b[at..at + 8]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_exact_bytes() {
        let h = Header::new(384).unwrap();
        let b = h.encode();
        assert_eq!(&b[..8], b"\x89NIDUS\r\n");
        assert_eq!(&b[8..12], &[1, 0, 0, 0]);
        assert_eq!(&b[12..16], &384u32.to_le_bytes());
        assert_eq!(b[16], 1);
        assert_eq!(&b[17..24], &[0; 7]);
        assert_eq!(Header::decode(&b).unwrap(), h);
    }

    #[test]
    fn rejects_bad_dimensions_on_both_sides() {
        assert!(Header::new(0).is_err());
        assert!(Header::new(MAX_DIMENSION + 1).is_err());
        assert!(Header::new(MAX_DIMENSION).is_ok());
        let mut b = Header::new(1).unwrap().encode();
        b[12..16].copy_from_slice(&0u32.to_le_bytes());
        let sum = checksum(&b[..24]);
        b[24..].copy_from_slice(&sum.to_le_bytes());
        assert!(matches!(
            Header::decode(&b).unwrap_err().kind(),
            FormatErrorKind::Corrupt { .. }
        ));
    }

    #[test]
    fn newer_major_is_refused_naming_both_versions() {
        let mut b = Header::new(8).unwrap().encode();
        b[8..10].copy_from_slice(&2u16.to_le_bytes());
        let err = Header::decode(&b).unwrap_err();
        assert_eq!(
            err.kind(),
            &FormatErrorKind::UnsupportedVersion {
                file: Version { major: 2, minor: 0 },
                supported: Version::CURRENT
            }
        );
        let msg = err.to_string();
        assert!(msg.contains("2.0") && msg.contains("1.0"), "{msg}");
    }

    #[test]
    fn newer_minor_of_same_major_is_read() {
        let mut h = Header::new(8).unwrap();
        h.version.minor = 7;
        assert_eq!(Header::decode(&h.encode()).unwrap().version.minor, 7);
    }

    #[test]
    fn every_bit_flip_is_rejected() {
        let b = Header::new(3).unwrap().encode();
        for i in 0..HEADER_LEN * 8 {
            let mut m = b;
            m[i / 8] ^= 1 << (i % 8);
            assert!(Header::decode(&m).is_err(), "bit {i}");
        }
    }

    #[test]
    fn reserved_element_types_are_unsupported() {
        let mut b = Header::new(3).unwrap().encode();
        b[16] = 2;
        let sum = checksum(&b[..24]);
        b[24..].copy_from_slice(&sum.to_le_bytes());
        assert_eq!(
            Header::decode(&b).unwrap_err().kind(),
            &FormatErrorKind::UnsupportedElementType { code: 2 }
        );
    }
}
