//! The seam between the store and the operating system's files.
//!
//! Every byte the store writes, every sync, truncation and rename goes through
//! [`FileSystem`] and [`StoreFile`], so tests (and a later reliability suite)
//! can inject failures (ENOSPC, EIO, short writes) at any point and check
//! that the store keeps its promises (SPEC.md §7.3). [`StdFileSystem`] is the
//! real thing and the default.

use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::Path;

/// Identifies a file independently of its name, to notice that a path now
/// names another file (a compaction replaced it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    /// Device number (0 where the platform has none).
    pub device: u64,
    /// Inode or file index (0 where the platform has none).
    pub inode: u64,
}

/// How to open a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Reading only; the file must exist.
    Read,
    /// Reading and writing; the file must exist.
    ReadWrite,
    /// Reading and writing a new file; fails if it exists.
    CreateNew,
}

/// An open data file.
pub trait StoreFile: Read + Write + Seek + Send + Sync + Debug {
    /// Makes written data durable (`fdatasync`).
    fn sync_data(&mut self) -> io::Result<()>;
    /// Truncates or extends the file to `len` bytes.
    fn set_len(&mut self, len: u64) -> io::Result<()>;
    /// The file's current length.
    fn len(&self) -> io::Result<u64>;
    /// Whether the file is empty.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
    /// The file's identity (see [`FileId`]).
    fn id(&self) -> io::Result<FileId>;
    /// Fills `buf` with the bytes at `offset` without moving the cursor
    /// (`pread`), so that searches sharing the store (`&self`) can read
    /// from one handle in parallel: how [`Scan::Int8`](crate::Scan::Int8)
    /// rescoring reads rows. Fails with `UnexpectedEof` if the file ends
    /// first.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
}

/// The directory and file operations the store uses.
pub trait FileSystem: Send + Sync + Debug {
    /// Opens `path` in `mode`.
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn StoreFile>>;
    /// Atomically replaces `to` with `from` (POSIX `rename`).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Makes the directory's entries (creations, renames) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Removes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Creates a directory and its parents.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// The identity of the file `path` names now.
    fn id_of(&self, path: &Path) -> io::Result<FileId>;
}

/// The operating system's file system (the default).
#[derive(Debug, Default, Clone, Copy)]
pub struct StdFileSystem;

fn file_id(meta: &std::fs::Metadata) -> FileId {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        FileId {
            device: meta.dev(),
            inode: meta.ino(),
        }
    }
    #[cfg(not(unix))]
    {
        // No stable inode in std here: creation time stands in for it.
        let nanos = meta
            .created()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as u64);
        FileId {
            device: 0,
            inode: nanos,
        }
    }
}

impl StoreFile for File {
    fn sync_data(&mut self) -> io::Result<()> {
        File::sync_data(self)
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        File::set_len(self, len)
    }
    fn len(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }
    fn id(&self) -> io::Result<FileId> {
        Ok(file_id(&self.metadata()?))
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        #[cfg(unix)]
        {
            std::os::unix::fs::FileExt::read_exact_at(self, buf, offset)
        }
        #[cfg(windows)]
        {
            let mut done = 0;
            while done < buf.len() {
                match std::os::windows::fs::FileExt::seek_read(
                    self,
                    &mut buf[done..],
                    offset + done as u64,
                ) {
                    Ok(0) => {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the data file ended before the row",
                        ));
                    }
                    Ok(n) => done += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        }
    }
}

impl FileSystem for StdFileSystem {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn StoreFile>> {
        let mut o = OpenOptions::new();
        match mode {
            OpenMode::Read => o.read(true),
            OpenMode::ReadWrite => o.read(true).write(true),
            OpenMode::CreateNew => o.read(true).write(true).create_new(true),
        };
        Ok(Box::new(o.open(path)?))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        #[cfg(unix)]
        {
            File::open(dir)?.sync_all()
        }
        #[cfg(not(unix))]
        {
            // Directories cannot be opened for syncing here; renames are
            // made durable by the file system itself (NTFS journals them).
            let _ = dir;
            Ok(())
        }
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }
    fn id_of(&self, path: &Path) -> io::Result<FileId> {
        Ok(file_id(&std::fs::metadata(path)?))
    }
}
