//! The id -> row index of one collection.
//!
//! Ids live once, in the row table's id arena; the index maps a keyed 64-bit
//! hash of the id to its row (16 bytes a slot instead of a second copy of
//! every id). Two ids with the same hash are correct, just slower: the second
//! one goes to a small exact `HashMap<Box<str>, u32>`. The invariant: an id is
//! in at most one of the two maps, and if it is in `by_hash`, its hash key
//! points at its row.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

/// A hasher for keys that already are good 64-bit hashes.
#[derive(Default)]
pub(crate) struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed; keep a correct fallback anyway.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A fast keyed hash for ids (the index hashes every id on open).
///
/// Eight bytes at a time, multiply and fold, then the murmur3 finalizer;
/// the per-store random seed keeps the hash values unpredictable from
/// outside. Not a cryptographic hash: a deliberate flood of equal hashes
/// only slows the index (ids stay correct, see [`IdMap`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct IdHasher {
    seed: u64,
}

impl IdHasher {
    /// A hasher with a random seed.
    pub(crate) fn new() -> IdHasher {
        IdHasher {
            seed: std::collections::hash_map::RandomState::new().hash_one(0x006e_6964_7573_u64) | 1,
        }
    }
}

/// The hasher state of [`IdHasher`].
pub(crate) struct IdHasherState(u64);

const MUL: u64 = 0x9E37_79B9_7F4A_7C15;

impl Hasher for IdHasherState {
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
    fn write(&mut self, bytes: &[u8]) {
        let (words, rest) = bytes.as_chunks::<8>();
        let mut h = self.0;
        for w in words {
            h = (h ^ u64::from_le_bytes(*w))
                .wrapping_mul(MUL)
                .rotate_left(29);
        }
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        h = (h ^ u64::from_le_bytes(last))
            .wrapping_mul(MUL)
            .rotate_left(29);
        self.0 = h ^ bytes.len() as u64;
    }
}

impl BuildHasher for IdHasher {
    type Hasher = IdHasherState;
    fn build_hasher(&self) -> IdHasherState {
        IdHasherState(self.seed)
    }
}

#[derive(Debug, Default)]
pub(crate) struct IdMap {
    by_hash: HashMap<u64, u32, BuildHasherDefault<PassThrough>>,
    collisions: HashMap<Box<str>, u32>,
}

impl IdMap {
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.by_hash.len() + self.collisions.len()
    }

    /// The row of `id`; `id_of` gives the id stored at a row.
    pub(crate) fn get<'a>(
        &self,
        hasher: &impl BuildHasher,
        id: &str,
        id_of: impl Fn(u32) -> &'a str,
    ) -> Option<u32> {
        let h = hasher.hash_one(id);
        match self.by_hash.get(&h) {
            Some(&row) if id_of(row) == id => Some(row),
            _ => self.collisions.get(id).copied(),
        }
    }

    /// Points `id` at `row`, returning the row it replaced.
    pub(crate) fn insert<'a>(
        &mut self,
        hasher: &impl BuildHasher,
        id: &str,
        row: u32,
        id_of: impl Fn(u32) -> &'a str,
    ) -> Option<u32> {
        let h = hasher.hash_one(id);
        // One probe of the table (on open every id is new: a second probe
        // to insert was a second cache miss).
        match self.by_hash.entry(h) {
            Entry::Occupied(mut slot) if id_of(*slot.get()) == id => {
                Some(std::mem::replace(slot.get_mut(), row))
            }
            Entry::Occupied(_) => self.collisions.insert(id.into(), row),
            Entry::Vacant(slot) => match self.collisions.get_mut(id) {
                Some(old) => Some(std::mem::replace(old, row)),
                None => {
                    slot.insert(row);
                    None
                }
            },
        }
    }

    /// Removes `id`, returning its row.
    pub(crate) fn remove<'a>(
        &mut self,
        hasher: &impl BuildHasher,
        id: &str,
        id_of: impl Fn(u32) -> &'a str,
    ) -> Option<u32> {
        let h = hasher.hash_one(id);
        match self.by_hash.get(&h) {
            Some(&row) if id_of(row) == id => self.by_hash.remove(&h),
            _ => self.collisions.remove(id),
        }
    }

    /// Reserves room for `additional` new ids.
    pub(crate) fn try_reserve(
        &mut self,
        additional: usize,
    ) -> Result<(), std::collections::TryReserveError> {
        self.by_hash.try_reserve(additional)
    }

    /// Rewrites every row number through `map` (after compaction).
    pub(crate) fn renumber(&mut self, map: impl Fn(u32) -> u32) {
        for row in self.by_hash.values_mut() {
            *row = map(*row);
        }
        for row in self.collisions.values_mut() {
            *row = map(*row);
        }
    }

    /// Heap bytes (for `footprint()`), approximated from the capacities.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.by_hash.capacity() * 17
            + self
                .collisions
                .keys()
                .map(|k| k.len() + 16 + 4 + 1)
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hasher whose every id collides, to exercise the exact fallback.
    #[derive(Clone, Default)]
    struct AllCollide;
    impl BuildHasher for AllCollide {
        type Hasher = Constant;
        fn build_hasher(&self) -> Constant {
            Constant
        }
    }
    struct Constant;
    impl Hasher for Constant {
        fn finish(&self) -> u64 {
            7
        }
        fn write(&mut self, _: &[u8]) {}
    }

    fn run(hasher: &impl BuildHasher) {
        let mut ids: Vec<String> = Vec::new();
        let mut map = IdMap::default();
        for i in 0..50u32 {
            ids.push(format!("id{i}"));
            let table = ids.clone();
            assert_eq!(
                map.insert(hasher, &ids[i as usize], i, |r| &table[r as usize]),
                None
            );
        }
        let table = ids.clone();
        let id_of = |r: u32| table[r as usize].as_str();
        assert_eq!(map.len(), 50);
        for i in 0..50u32 {
            assert_eq!(map.get(hasher, &format!("id{i}"), id_of), Some(i));
        }
        assert_eq!(map.get(hasher, "nope", id_of), None);
        // Remove the one in the primary map: the colliding ones stay reachable.
        assert_eq!(map.remove(hasher, "id0", id_of), Some(0));
        assert_eq!(map.remove(hasher, "id0", id_of), None);
        for i in 1..50u32 {
            assert_eq!(map.get(hasher, &format!("id{i}"), id_of), Some(i));
        }
        // Overwrite: same id, new row (the table has that id at row 60 now).
        let mut table2 = ids.clone();
        table2.resize(61, String::new());
        table2[60] = "id7".into();
        let id_of2 = |r: u32| table2[r as usize].as_str();
        assert_eq!(map.insert(hasher, "id7", 60, id_of2), Some(7));
        assert_eq!(map.get(hasher, "id7", id_of2), Some(60));
        assert_eq!(map.len(), 49);
    }

    #[test]
    fn index_with_a_real_hasher() {
        run(&std::collections::hash_map::RandomState::new());
        run(&IdHasher::new());
    }

    #[test]
    fn id_hash_separates_lengths_and_bytes() {
        let h = IdHasher::new();
        let ids = [
            "",
            "a",
            "a\0",
            "ab",
            "abcdefgh",
            "abcdefgh\0",
            "abcdefghi",
            "doc-1",
            "doc-2",
        ];
        let hashes: std::collections::HashSet<u64> = ids.iter().map(|i| h.hash_one(i)).collect();
        assert_eq!(hashes.len(), ids.len());
        assert_eq!(h.hash_one("doc-1"), h.hash_one(String::from("doc-1")));
    }

    #[test]
    fn index_when_every_hash_collides() {
        run(&AllCollide);
    }
}
