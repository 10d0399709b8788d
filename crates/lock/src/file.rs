//! Small file-system helpers shared by both protocols.

use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::time::SystemTime;

use crate::holder::MAX_RECORD_LEN;

/// Which file a path or handle refers to: (device, inode). While a handle to a
/// file is open its inode cannot be reused, so comparing the `FileId` of a path
/// with that of a handle we hold tells exactly whether the path still names
/// our file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    pub(crate) fn of(meta: &Metadata) -> FileId {
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// Reads a lock record: at most `MAX_RECORD_LEN + 1` bytes from offset 0, so a
/// huge foreign file costs a bounded allocation and is still classified.
pub(crate) fn read_record(file: &File) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; MAX_RECORD_LEN + 1];
    let mut filled = 0;
    while filled < buf.len() {
        match file.read_at(&mut buf[filled..], filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled);
    Ok(buf)
}

/// Replaces a file's content with `bytes` (the handle may be shared, so the
/// write is positional rather than through the cursor).
pub(crate) fn overwrite(file: &File, bytes: &[u8]) -> io::Result<()> {
    file.set_len(0)?;
    file.write_all_at(bytes, 0)
}

/// The file's modification time, if the file system reports one.
pub(crate) fn mtime(meta: &Metadata) -> Option<SystemTime> {
    meta.modified().ok()
}

/// FNV-1a, 64 bit: a stable fingerprint that every process (and every build
/// of this crate) computes the same way, unlike std's randomly keyed hashers.
pub(crate) fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &byte in *part {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

impl FileId {
    /// Bytes for fingerprinting.
    pub(crate) fn to_le_bytes(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.dev.to_le_bytes());
        out[8..].copy_from_slice(&self.ino.to_le_bytes());
        out
    }
}

/// Did a lock attempt fail because the file system does not do locks?
/// `EOPNOTSUPP`/`ENOSYS` map to `Unsupported`; an NFS mount without a lock
/// daemon answers `ENOLCK` (37 on Linux), which std leaves uncategorized.
pub(crate) fn is_unsupported(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Unsupported
        || (cfg!(target_os = "linux") && e.raw_os_error() == Some(37))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_reference_vectors() {
        assert_eq!(fnv1a(&[b""]), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(&[b"a"]), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(&[b"foo", b"bar"]), fnv1a(&[b"foobar"]));
    }

    #[test]
    fn read_record_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        std::fs::write(&path, vec![b'x'; 1 << 20]).unwrap();
        let got = read_record(&File::open(&path).unwrap()).unwrap();
        assert_eq!(got.len(), MAX_RECORD_LEN + 1);
    }

    #[test]
    fn enolck_counts_as_unsupported_on_linux() {
        assert!(is_unsupported(&io::Error::from(io::ErrorKind::Unsupported)));
        assert_eq!(
            is_unsupported(&io::Error::from_raw_os_error(37)),
            cfg!(target_os = "linux")
        );
        assert!(!is_unsupported(&io::Error::from(
            io::ErrorKind::PermissionDenied
        )));
    }
}
