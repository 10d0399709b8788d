//! The checksum of headers and frames (SPEC.md §1.3): XXH64, seed 0.
//!
//! Why XXH64 and not CRC32C: the only fast CRC32C is the SSE4.2 `crc32`
//! instruction, which needs `unsafe` intrinsics that this crate forbids;
//! table-driven CRC32C in safe Rust (slice-by-8/16) tops out at a few GB/s.
//! XXH64 keeps four independent 64-bit lanes busy with one multiply each per
//! 8 bytes, so plain safe Rust verifies at memory-like speed, and it is a
//! published algorithm (`xxhsum -H1`) that a reader in any language can check.
//! The bench `cargo bench --bench format -- checksum` measures both.

const PRIME64_1: u64 = 0x9E37_79B1_85EB_CA87;
const PRIME64_2: u64 = 0xC2B2_AE3D_27D4_EB4F;
const PRIME64_3: u64 = 0x1656_67B1_9E37_79F9;
const PRIME64_4: u64 = 0x85EB_CA77_C2B2_AE63;
const PRIME64_5: u64 = 0x27D4_EB2F_1656_67C5;

/// The checksum nidus stores in headers and frames: [`xxh64`] with seed 0.
///
/// Guarantee: equal to the reference XXH64 (`xxhsum -H1`) of `bytes`.
#[inline]
pub fn checksum(bytes: &[u8]) -> u64 {
    xxh64(bytes, 0)
}

/// XXH64 of `bytes` with `seed`, exactly as specified by the xxHash project
/// (<https://github.com/Cyan4973/xxHash/blob/dev/doc/xxhash_spec.md>).
pub fn xxh64(bytes: &[u8], seed: u64) -> u64 {
    let mut h = Xxh64::new(seed);
    h.update(bytes);
    h.finish()
}

/// XXH64 over bytes that arrive in pieces: the same value as [`xxh64`] of
/// the pieces concatenated, so a frame can be checksummed while its parts
/// live in different buffers.
#[derive(Debug, Clone)]
pub struct Xxh64 {
    seed: u64,
    /// The four lanes, once a whole 32-byte stripe has been seen.
    lanes: [u64; 4],
    /// Bytes seen so far.
    total: u64,
    /// The bytes of a stripe not yet complete.
    pending: [u8; 32],
    pending_len: usize,
}

impl Xxh64 {
    /// A hasher with `seed` (the format uses 0, see [`checksum`]).
    pub fn new(seed: u64) -> Xxh64 {
        Xxh64 {
            seed,
            lanes: [
                seed.wrapping_add(PRIME64_1).wrapping_add(PRIME64_2),
                seed.wrapping_add(PRIME64_2),
                seed,
                seed.wrapping_sub(PRIME64_1),
            ],
            total: 0,
            pending: [0; 32],
            pending_len: 0,
        }
    }

    /// Hashes `bytes` after everything given before.
    pub fn update(&mut self, mut bytes: &[u8]) {
        self.total += bytes.len() as u64;
        if self.pending_len > 0 {
            let take = (32 - self.pending_len).min(bytes.len());
            self.pending[self.pending_len..self.pending_len + take].copy_from_slice(&bytes[..take]);
            self.pending_len += take;
            bytes = &bytes[take..];
            if self.pending_len < 32 {
                return;
            }
            let stripe = self.pending;
            self.stripes(std::slice::from_ref(&stripe));
            self.pending_len = 0;
        }
        let (stripes, rest) = bytes.as_chunks::<32>();
        self.stripes(stripes);
        self.pending[..rest.len()].copy_from_slice(rest);
        self.pending_len = rest.len();
    }

    fn stripes(&mut self, stripes: &[[u8; 32]]) {
        // Four independent lanes: the CPU overlaps their multiplies.
        let mut v = self.lanes;
        for stripe in stripes {
            let (lanes, _) = stripe.as_chunks::<8>();
            for (acc, lane) in v.iter_mut().zip(lanes) {
                *acc = round(*acc, u64::from_le_bytes(*lane));
            }
        }
        self.lanes = v;
    }

    /// The XXH64 of all the bytes given so far.
    pub fn finish(&self) -> u64 {
        let mut hash = if self.total < 32 {
            self.seed.wrapping_add(PRIME64_5)
        } else {
            let v = self.lanes;
            let mut h = v[0]
                .rotate_left(1)
                .wrapping_add(v[1].rotate_left(7))
                .wrapping_add(v[2].rotate_left(12))
                .wrapping_add(v[3].rotate_left(18));
            for acc in v {
                h = merge_round(h, acc);
            }
            h
        };
        hash = hash.wrapping_add(self.total);

        let tail = &self.pending[..self.pending_len];
        let (words, rest) = tail.as_chunks::<8>();
        for word in words {
            hash ^= round(0, u64::from_le_bytes(*word));
            hash = hash
                .rotate_left(27)
                .wrapping_mul(PRIME64_1)
                .wrapping_add(PRIME64_4);
        }
        let (halves, bytes_left) = rest.as_chunks::<4>();
        for half in halves {
            hash ^= u64::from(u32::from_le_bytes(*half)).wrapping_mul(PRIME64_1);
            hash = hash
                .rotate_left(23)
                .wrapping_mul(PRIME64_2)
                .wrapping_add(PRIME64_3);
        }
        for &byte in bytes_left {
            hash ^= u64::from(byte).wrapping_mul(PRIME64_5);
            hash = hash.rotate_left(11).wrapping_mul(PRIME64_1);
        }
        avalanche(hash)
    }
}

#[inline(always)]
fn round(acc: u64, input: u64) -> u64 {
    acc.wrapping_add(input.wrapping_mul(PRIME64_2))
        .rotate_left(31)
        .wrapping_mul(PRIME64_1)
}

#[inline(always)]
fn merge_round(acc: u64, val: u64) -> u64 {
    (acc ^ round(0, val))
        .wrapping_mul(PRIME64_1)
        .wrapping_add(PRIME64_4)
}

#[inline(always)]
fn avalanche(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(PRIME64_2);
    h ^= h >> 29;
    h = h.wrapping_mul(PRIME64_3);
    h ^ (h >> 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The input the reference vectors were computed over:
    /// byte i = ((i * 131 + 7) >> 1) & 0xff.
    fn pattern(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (((i * 131 + 7) >> 1) & 0xff) as u8)
            .collect()
    }

    /// (length, seed, XXH64) computed with the reference C library
    /// (libxxhash 0.8.1, `XXH64(buf, len, seed)`); the lengths cover every
    /// tail path (0-31 bytes after the stripes) with and without stripes.
    const REFERENCE: &[(usize, u64, u64)] = &[
        (0, 0, 0xef46db3751d8e999),
        (1, 0, 0x1f25c8d0bc1f4bb6),
        (2, 0, 0x8dd4c2402dfce53a),
        (3, 0, 0xfae6158de2e681c8),
        (4, 0, 0x62917774d28ea099),
        (5, 0, 0xdb2dfd681d5cd389),
        (7, 0, 0x2e36725b00842ee2),
        (8, 0, 0xd8a37a7456ca36fd),
        (9, 0, 0x9207e4b23a4c7398),
        (11, 0, 0x81ea949319e79439),
        (12, 0, 0xb2ecb4dd7808c6d5),
        (15, 0, 0x19f3eb0524ec3be8),
        (16, 0, 0xe807f8d5991d53d6),
        (17, 0, 0x0ac40132b5c33209),
        (31, 0, 0xcec8c2be9bd26a69),
        (32, 0, 0xb69064153d4851a5),
        (33, 0, 0x732da22315773994),
        (35, 0, 0x9cec704ebe9f72c6),
        (39, 0, 0x4f5a5012a3ef5e1e),
        (40, 0, 0xa6c07a14a7136c9e),
        (47, 0, 0x96f7c048a60e08b8),
        (48, 0, 0xaa1a39781354761e),
        (63, 0, 0x4a1b11c93a45e7ee),
        (64, 0, 0x7f35aafc3388c0b8),
        (65, 0, 0xc5d65a67e0d689fa),
        (100, 0, 0x1c0c2332e8ff479a),
        (127, 0, 0x0ff0138dd8d9bf4c),
        (128, 0, 0x2a25b0465ea78d7b),
        (255, 0, 0xb578d27917875831),
        (256, 0, 0x6ae2aaefde13107b),
        (1000, 0, 0xc7227a16ad9064c5),
        (1999, 0, 0xee525df4e2dedc75),
        (0, 0x9e3779b97f4a7c15, 0xc4349fc93c010000),
        (5, 0x9e3779b97f4a7c15, 0xc22c66356a18fbfa),
        (32, 0x9e3779b97f4a7c15, 0x684b9996a26edc2b),
        (100, 0x9e3779b97f4a7c15, 0x9a7497e2965e97f6),
    ];

    #[test]
    fn matches_the_reference_implementation() {
        let buf = pattern(2000);
        for &(len, seed, want) in REFERENCE {
            assert_eq!(xxh64(&buf[..len], seed), want, "len {len} seed {seed:#x}");
        }
    }

    #[test]
    fn pieces_hash_like_the_whole_at_every_split() {
        for &(len, seed, want) in REFERENCE {
            let bytes = pattern(len);
            for a in 0..=len {
                for b in a..=len.min(a + 40) {
                    let mut h = Xxh64::new(seed);
                    h.update(&bytes[..a]);
                    h.update(&bytes[a..b]);
                    h.update(&[]);
                    h.update(&bytes[b..]);
                    assert_eq!(h.finish(), want, "len {len}, splits at {a} and {b}");
                }
            }
        }
        // Byte by byte.
        let bytes = pattern(100);
        let mut h = Xxh64::new(0);
        bytes.iter().for_each(|b| h.update(std::slice::from_ref(b)));
        assert_eq!(h.finish(), xxh64(&bytes, 0));
    }

    #[test]
    fn known_strings() {
        // Published values: xxhsum -H1 of "" and "abc".
        assert_eq!(checksum(b""), 0xef46db3751d8e999);
        assert_eq!(checksum(b"abc"), 0x44bc2cf5ad770999);
    }

    #[test]
    fn every_single_bit_flip_changes_the_checksum() {
        let mut buf = pattern(77);
        let base = checksum(&buf);
        for byte in 0..buf.len() {
            for bit in 0..8 {
                buf[byte] ^= 1 << bit;
                assert_ne!(checksum(&buf), base, "flip at {byte}.{bit}");
                buf[byte] ^= 1 << bit;
            }
        }
    }
}
