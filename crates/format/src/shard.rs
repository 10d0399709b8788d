//! The shard function (SPEC.md §9.1): which of `n` shards holds the record
//! `(collection, id)`.
//!
//! It lives in the format crate, beside the XXH64 it is built on, so that a
//! writer or reader tool depending on this crate alone routes exactly as
//! nidus does. It is part of the on-disk contract in the sense that
//! matters: shards written by one program are searched by another, so the
//! function must never change. SPEC.md §9.1 fixes it byte for byte and
//! lists test vectors any implementation can check itself against.

use crate::checksum::Xxh64;

/// The byte between the collection and the id in the hashed input.
pub const SHARD_SEPARATOR: u8 = 0x00;

/// The shard (0 ..= `n` - 1) that holds record `id` of `collection` when
/// records are spread over `n` shards (SPEC.md §9.1):
///
/// `XXH64(seed 0, collection bytes ++ [0x00] ++ id bytes) mod n`
///
/// Guarantees: the same value on every platform, in every version, and in
/// every implementation that follows §9.1 (the unit tests pin the SPEC's
/// test vectors); every upsert and delete of one `(collection, id)` goes
/// to the same shard, so the `n` shards are disjoint and their union is
/// the whole. Changing `n` moves most records: resharding means
/// re-importing (see docs/scale.md).
///
/// # Panics
///
/// If `n` is 0 (there is no shard to pick).
///
/// ```
/// use nidus_format::shard_of;
/// assert_eq!(shard_of("default", "0", 4), 3);
/// assert!((0..1000).all(|i| shard_of("docs", &i.to_string(), 3) < 3));
/// ```
pub fn shard_of(collection: &str, id: &str, n: usize) -> usize {
    assert!(n > 0, "shard_of: the number of shards must be at least 1");
    let hash = shard_hash(collection, id);
    // n fits in u64 on every supported platform; the remainder is < n.
    (hash % n as u64) as usize
}

/// The 64-bit hash [`shard_of`] reduces modulo the shard count:
/// XXH64 with seed 0 over `collection`, one `0x00` byte, then `id`.
pub fn shard_hash(collection: &str, id: &str) -> u64 {
    let mut h = Xxh64::new(0);
    h.update(collection.as_bytes());
    h.update(&[SHARD_SEPARATOR]);
    h.update(id.as_bytes());
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checksum::xxh64;

    /// SPEC.md §9.1's test vectors: (collection, id, hash, shard of 2, 3,
    /// 4, 7). Changing any of these breaks every sharded deployment.
    const VECTORS: &[(&str, &str, u64, [usize; 4])] = &[
        ("default", "0", 0x155d_3fee_a5fc_037f, [1, 2, 3, 5]),
        ("default", "1", 0x20aa_7c2d_4bab_a744, [0, 0, 0, 3]),
        ("default", "42", 0x0ba2_8b0a_bf60_6241, [1, 1, 1, 6]),
        ("docs", "a", 0x790f_2238_f85a_b374, [0, 1, 0, 0]),
        ("docs", "src/main.rs", 0x9d0a_1221_e18a_f02a, [0, 2, 2, 6]),
        ("notes", "é ü 中", 0x07b6_19da_bdc1_c362, [0, 0, 2, 2]),
        ("c", "", 0x2e37_2943_ae2f_6b70, [0, 1, 0, 4]),
        ("", "", 0xe934_a84a_db05_2768, [0, 0, 0, 5]),
    ];

    #[test]
    fn spec_test_vectors() {
        for &(c, id, hash, shards) in VECTORS {
            assert_eq!(shard_hash(c, id), hash, "{c:?} {id:?}");
            for (n, want) in [2, 3, 4, 7].into_iter().zip(shards) {
                assert_eq!(shard_of(c, id, n), want, "{c:?} {id:?} of {n}");
            }
        }
    }

    #[test]
    fn hash_is_xxh64_of_the_joined_bytes() {
        for (c, id) in [("default", "0"), ("docs", "a/b.md"), ("é", "")] {
            let mut bytes = c.as_bytes().to_vec();
            bytes.push(0);
            bytes.extend_from_slice(id.as_bytes());
            assert_eq!(shard_hash(c, id), xxh64(&bytes, 0));
        }
    }

    #[test]
    fn one_shard_holds_everything_and_the_separator_matters() {
        assert!((0..100).all(|i| shard_of("c", &i.to_string(), 1) == 0));
        // Without the separator these two would hash the same bytes.
        assert_ne!(shard_hash("ab", "c"), shard_hash("a", "bc"));
    }

    #[test]
    fn spreads_ids_evenly() {
        let n = 4;
        let mut counts = [0usize; 4];
        for i in 0..40_000 {
            counts[shard_of("default", &i.to_string(), n)] += 1;
        }
        // Each shard within 5% of 10,000 (a binomial sd is about 87).
        assert!(
            counts.iter().all(|&c| (9_500..=10_500).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    #[should_panic(expected = "at least 1")]
    fn zero_shards_panics() {
        shard_of("c", "a", 0);
    }
}
