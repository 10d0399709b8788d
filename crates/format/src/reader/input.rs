//! The bytes under the reader: a byte count and an optional length limit,
//! so no read goes past the input's known end.

use std::io::{self, Read};

/// The bytes under the reader, with a byte count and an optional limit.
pub(super) struct Input<R> {
    pub(super) inner: R,
    /// Bytes read from `inner` so far.
    pub(super) consumed: u64,
    /// The input's length when known; reads never go past it.
    pub(super) limit: Option<u64>,
}

impl<R: Read> Input<R> {
    /// Fills `buf` as far as the input allows; returns how many bytes were
    /// read (less than `buf.len()` only at the end of the input).
    pub(super) fn fill(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = match self.limit {
            Some(limit) => {
                let left = limit.saturating_sub(self.consumed);
                buf.len().min(usize::try_from(left).unwrap_or(usize::MAX))
            }
            None => buf.len(),
        };
        let mut n = 0;
        while n < want {
            match self.inner.read(&mut buf[n..want]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.consumed += n as u64;
        Ok(n)
    }

    /// Appends up to `n` bytes of the input to `buf`, stopping early only
    /// at the end of the input; returns how many were appended.
    pub(super) fn read_exactly_or_to_end(
        &mut self,
        buf: &mut Vec<u8>,
        n: usize,
    ) -> io::Result<usize> {
        let got = (&mut self.inner).take(n as u64).read_to_end(buf)?;
        self.consumed += got as u64;
        Ok(got)
    }

    /// Reads to the end of the input; returns `Some(count)` if every byte
    /// read was zero, `None` at the first non-zero byte.
    pub(super) fn zeros_to_end(&mut self, scratch: &mut [u8]) -> io::Result<Option<u64>> {
        let mut count = 0u64;
        loop {
            let n = self.fill(scratch)?;
            if scratch[..n].iter().any(|&b| b != 0) {
                return Ok(None);
            }
            count += n as u64;
            if n < scratch.len() {
                return Ok(Some(count));
            }
        }
    }
}
