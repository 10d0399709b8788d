//! Reading rows' `f32` vectors back from the data file
//! ([`Scan::Int8`](crate::Scan::Int8)): rescoring, `get`, `records`, hit
//! vectors and compaction.
//!
//! Reads are positioned (`pread`, [`StoreFile::read_exact_at`]) through the
//! store's I/O seam, so searches sharing the store read in parallel and
//! fault injection sees them. Rows asked for together are read in offset
//! order, neighbours coalesced into one read. Where a call keeps asking for
//! rows of the same 16 KiB of the file (a search whose bound cannot prune,
//! such as near-duplicates), that chunk is read whole, once, and kept for
//! the rest of the call: each byte of those rows is then read about once,
//! in a few reads per chunk, as a sequential read of them would, while
//! scattered rows (the usual case) are read alone and nothing else is.

use std::collections::HashMap;
use std::io;
use std::path::Path;

use crate::error::{Error, Result};
use crate::io::StoreFile;

/// Rows whose gap is at most this many bytes are read together.
const MAX_GAP: u64 = 4 << 10;
/// One coalesced read spans at most this many bytes.
const MAX_SPAN: u64 = 4 << 20;
/// The chunk size. A chunk costs about what two or three single-row reads
/// cost (one system call, 16 KiB copied from the page cache).
const CHUNK: u64 = 16 << 10;
/// Rows read alone in one chunk before the chunk is read whole: the
/// ski-rental rule, so that neither scattered rows (which never reach it)
/// nor a dense stretch (read whole after three rows) costs much more than
/// the better of the two ways would have.
const DENSE_ROWS: u32 = 3;
/// Chunks kept at most (64 MiB); past it the cache starts over.
const MAX_CHUNKS: usize = 4096;

/// What one call knows of a chunk.
enum Chunk {
    /// Rows asked for in it so far (read alone).
    Asked(u32),
    /// Its bytes (up to the end of the frames read).
    Read(Vec<u8>),
}

/// Reads rows of one data file, for the length of one call.
pub(crate) struct FileRows<'a> {
    file: &'a dyn StoreFile,
    path: &'a Path,
    dim: usize,
    offsets: &'a [u64],
    /// The end of the frames the store has read or written: chunk reads
    /// stop there.
    end: u64,
    /// Read every chunk whole on first use (a pass over many rows).
    eager: bool,
    chunks: HashMap<u64, Chunk>,
    loaded: usize,
    span: Vec<u8>,
    row: Vec<u8>,
    order: Vec<usize>,
    direct: Vec<usize>,
}

impl<'a> FileRows<'a> {
    pub(crate) fn new(
        file: &'a dyn StoreFile,
        path: &'a Path,
        dim: usize,
        offsets: &'a [u64],
        end: u64,
    ) -> FileRows<'a> {
        FileRows {
            file,
            path,
            dim,
            offsets,
            end,
            eager: false,
            chunks: HashMap::new(),
            loaded: 0,
            span: Vec::new(),
            row: Vec::new(),
            order: Vec::new(),
            direct: Vec::new(),
        }
    }

    /// A reader for a pass over many rows in file order (compaction):
    /// whole chunks from the start.
    pub(crate) fn sequential(mut self) -> FileRows<'a> {
        self.eager = true;
        self
    }

    fn row_bytes(&self) -> u64 {
        (self.dim * 4) as u64
    }

    /// Writes the vectors of `rows` into `out` (`rows.len() · dim` floats,
    /// in the order of `rows`).
    pub(crate) fn fetch(&mut self, rows: &[usize], out: &mut [f32]) -> Result<()> {
        debug_assert_eq!(out.len(), rows.len() * self.dim);
        let mut order = std::mem::take(&mut self.order);
        let mut direct = std::mem::take(&mut self.direct);
        order.clear();
        order.extend(0..rows.len());
        order.sort_unstable_by_key(|&i| self.offsets[rows[i]]);
        direct.clear();
        let mut result = Ok(());
        for &o in &order {
            match self.serve_from_chunks(rows[o], &mut out[o * self.dim..(o + 1) * self.dim]) {
                Ok(true) => {}
                Ok(false) => direct.push(o),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        if result.is_ok() {
            result = self.fetch_direct(rows, &direct, out);
        }
        self.order = order;
        self.direct = direct;
        result
    }

    /// Serves `row` from whole chunks if its chunks are read, or dense
    /// enough now to be worth reading; `Ok(false)` leaves it to a direct
    /// read (and counts it).
    fn serve_from_chunks(&mut self, row: usize, out: &mut [f32]) -> Result<bool> {
        let rb = self.row_bytes();
        let off = self.offsets[row];
        let (first, last) = (off / CHUNK, (off + rb - 1) / CHUNK);
        let dense = (first..=last).all(|c| match self.chunks.get(&c) {
            Some(Chunk::Read(_)) => true,
            Some(Chunk::Asked(n)) => *n >= DENSE_ROWS,
            None => self.eager,
        });
        if !dense {
            for c in first..=last {
                if let Chunk::Asked(n) = self.chunks.entry(c).or_insert(Chunk::Asked(0)) {
                    *n += 1;
                }
            }
            return Ok(false);
        }
        let mut bytes = std::mem::take(&mut self.row);
        bytes.resize(rb as usize, 0);
        let mut done = 0u64;
        for c in first..=last {
            let chunk = self.chunk(c, off + done)?;
            let inner = (off + done - c * CHUNK) as usize;
            let take = ((rb - done) as usize).min(chunk.len().saturating_sub(inner));
            if take == 0 {
                return Err(read_error(
                    io::Error::new(io::ErrorKind::UnexpectedEof, "past the frames read"),
                    self.path,
                    off + done,
                ));
            }
            bytes[done as usize..done as usize + take].copy_from_slice(&chunk[inner..inner + take]);
            done += take as u64;
        }
        if done < rb {
            return Err(read_error(
                io::Error::new(io::ErrorKind::UnexpectedEof, "past the frames read"),
                self.path,
                off + done,
            ));
        }
        decode(&bytes, out);
        self.row = bytes;
        Ok(true)
    }

    /// Chunk `c`, read now if it is not yet; `at` names the byte wanted,
    /// for errors.
    fn chunk(&mut self, c: u64, at: u64) -> Result<&[u8]> {
        if !matches!(self.chunks.get(&c), Some(Chunk::Read(_))) {
            if self.loaded >= MAX_CHUNKS {
                self.chunks.clear();
                self.loaded = 0;
            }
            let start = c * CHUNK;
            let end = (start + CHUNK).min(self.end.max(at + self.row_bytes()));
            let mut buf = vec![0u8; end.saturating_sub(start) as usize];
            self.file
                .read_exact_at(&mut buf, start)
                .map_err(|e| read_error(e, self.path, at))?;
            self.chunks.insert(c, Chunk::Read(buf));
            self.loaded += 1;
        }
        match self.chunks.get(&c) {
            Some(Chunk::Read(bytes)) => Ok(bytes),
            _ => unreachable!("just read"),
        }
    }

    /// One read per run of neighbouring rows (`picked` indexes `rows`, in
    /// offset order).
    fn fetch_direct(&mut self, rows: &[usize], picked: &[usize], out: &mut [f32]) -> Result<()> {
        let rb = self.row_bytes();
        let dim = self.dim;
        let mut i = 0;
        while i < picked.len() {
            let start = self.offsets[rows[picked[i]]];
            let mut end = start + rb;
            let mut j = i + 1;
            while j < picked.len() {
                let next = self.offsets[rows[picked[j]]];
                if next > end + MAX_GAP || next + rb - start > MAX_SPAN {
                    break;
                }
                end = end.max(next + rb);
                j += 1;
            }
            let len = (end - start) as usize;
            self.span.clear();
            self.span.resize(len, 0);
            self.file
                .read_exact_at(&mut self.span, start)
                .map_err(|e| read_error(e, self.path, start))?;
            for &o in &picked[i..j] {
                let at = (self.offsets[rows[o]] - start) as usize;
                decode(
                    &self.span[at..at + rb as usize],
                    &mut out[o * dim..(o + 1) * dim],
                );
            }
            i = j;
        }
        Ok(())
    }
}

fn decode(bytes: &[u8], out: &mut [f32]) {
    let (cells, _) = bytes.as_chunks::<4>();
    for (o, b) in out.iter_mut().zip(cells) {
        *o = f32::from_le_bytes(*b);
    }
}

/// A read that hit the end of the file found it shorter than the frames
/// read from it: the file was damaged (cut) after it was read.
fn read_error(e: io::Error, path: &Path, at: u64) -> Error {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        Error::corrupt(
            format!(
                "the data file ends before the row vector at byte {at}, which it held when it \
                 was read: the file was cut since"
            ),
            path,
            at,
        )
    } else {
        Error::io("reading row vectors from the data file", path, e)
    }
}
