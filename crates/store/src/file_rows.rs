//! Reading rows' `f32` vectors back from the data file
//! ([`Scan::Int8`](crate::Scan::Int8)): rescoring, `get`, `records`, hit
//! vectors and compaction.
//!
//! Reads are positioned (`pread`, [`StoreFile::read_exact_at`]) through the
//! store's I/O seam, so searches sharing the store read in parallel and
//! fault injection sees them. Rows asked for together are read in offset
//! order, neighbours coalesced into one read. Once a call has asked for
//! many rows (a search whose bound cannot prune, such as near-duplicates,
//! or a compaction), reads switch to aligned chunks kept for the rest of
//! the call, so each byte of those rows is read about once, as one
//! sequential read of them would.

use std::collections::HashMap;
use std::io;
use std::path::Path;

use crate::error::{Error, Result};
use crate::io::StoreFile;

/// Rows whose gap is at most this many bytes are read together.
const MAX_GAP: u64 = 4 << 10;
/// One coalesced read spans at most this many bytes.
const MAX_SPAN: u64 = 4 << 20;
/// After this many rows fetched in one call, reads go by whole chunks.
const READ_AHEAD_AFTER: usize = 128;
/// The chunk size of read-ahead mode.
const CHUNK: u64 = 256 << 10;
/// Chunks kept at most (64 MiB); past it the cache starts over.
const MAX_CHUNKS: usize = 256;

/// Reads rows of one data file, for the length of one call.
pub(crate) struct FileRows<'a> {
    file: &'a dyn StoreFile,
    path: &'a Path,
    dim: usize,
    offsets: &'a [u64],
    /// The end of the frames the store has read or written: chunk reads
    /// stop there.
    end: u64,
    fetched: usize,
    chunks: HashMap<u64, Vec<u8>>,
    span: Vec<u8>,
    order: Vec<usize>,
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
            fetched: 0,
            chunks: HashMap::new(),
            span: Vec::new(),
            order: Vec::new(),
        }
    }

    /// A reader for a pass over many rows in file order (compaction):
    /// chunked from the start.
    pub(crate) fn sequential(mut self) -> FileRows<'a> {
        self.fetched = READ_AHEAD_AFTER;
        self
    }

    fn row_bytes(&self) -> u64 {
        (self.dim * 4) as u64
    }

    /// Writes the vectors of `rows` into `out` (`rows.len() · dim` floats,
    /// in the order of `rows`).
    pub(crate) fn fetch(&mut self, rows: &[usize], out: &mut [f32]) -> Result<()> {
        debug_assert_eq!(out.len(), rows.len() * self.dim);
        let chunked = self.fetched >= READ_AHEAD_AFTER;
        self.fetched += rows.len();
        let mut order = std::mem::take(&mut self.order);
        order.clear();
        order.extend(0..rows.len());
        order.sort_unstable_by_key(|&i| self.offsets[rows[i]]);
        let result = if chunked {
            self.fetch_chunked(rows, &order, out)
        } else {
            self.fetch_direct(rows, &order, out)
        };
        self.order = order;
        result
    }

    /// One read per run of neighbouring rows.
    fn fetch_direct(&mut self, rows: &[usize], order: &[usize], out: &mut [f32]) -> Result<()> {
        let rb = self.row_bytes();
        let dim = self.dim;
        let mut i = 0;
        while i < order.len() {
            let start = self.offsets[rows[order[i]]];
            let mut end = start + rb;
            let mut j = i + 1;
            while j < order.len() {
                let next = self.offsets[rows[order[j]]];
                if next > end + MAX_GAP || next + rb - start > MAX_SPAN {
                    break;
                }
                end = end.max(next + rb);
                j += 1;
            }
            self.span.clear();
            self.span.resize((end - start) as usize, 0);
            self.read_at(start, end - start)?;
            for &o in &order[i..j] {
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

    /// Reads `len` bytes at `at` into `self.span` (already sized).
    fn read_at(&mut self, at: u64, len: u64) -> Result<()> {
        self.file
            .read_exact_at(&mut self.span[..len as usize], at)
            .map_err(|e| read_error(e, self.path, at))
    }

    /// Rows served from aligned chunks, each read once per call.
    fn fetch_chunked(&mut self, rows: &[usize], order: &[usize], out: &mut [f32]) -> Result<()> {
        let rb = self.row_bytes();
        let dim = self.dim;
        let mut row = vec![0u8; rb as usize];
        for &o in order {
            let off = self.offsets[rows[o]];
            let mut done = 0u64;
            while done < rb {
                let at = off + done;
                let c = at / CHUNK;
                let chunk = self.chunk(c, at)?;
                let inner = (at - c * CHUNK) as usize;
                let take = ((rb - done) as usize).min(chunk.len().saturating_sub(inner));
                if take == 0 {
                    return Err(read_error(
                        io::Error::new(io::ErrorKind::UnexpectedEof, "past the frames read"),
                        self.path,
                        at,
                    ));
                }
                row[done as usize..done as usize + take]
                    .copy_from_slice(&chunk[inner..inner + take]);
                done += take as u64;
            }
            decode(&row, &mut out[o * dim..(o + 1) * dim]);
        }
        Ok(())
    }

    /// Chunk `c` (read now if it is not kept yet); `at` names the byte
    /// wanted, for errors.
    fn chunk(&mut self, c: u64, at: u64) -> Result<&[u8]> {
        if !self.chunks.contains_key(&c) {
            if self.chunks.len() >= MAX_CHUNKS {
                self.chunks.clear();
            }
            let start = c * CHUNK;
            let end = (start + CHUNK).min(self.end.max(at + self.row_bytes()));
            let mut buf = vec![0u8; end.saturating_sub(start) as usize];
            self.file
                .read_exact_at(&mut buf, start)
                .map_err(|e| read_error(e, self.path, at))?;
            self.chunks.insert(c, buf);
        }
        Ok(&self.chunks[&c])
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
