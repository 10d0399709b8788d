//! The in-memory form of record attributes.
//!
//! A `BTreeMap` per record costs a ~600-byte node even for two attributes,
//! which alone would break the memory target (SPEC.md §7.6). Instead every
//! attribute name is interned once per store, and a record keeps a boxed
//! slice of `(name id, value)` pairs sorted by name id: 16 bytes for a record
//! without attributes, 16 + 40 per attribute otherwise.

use std::collections::HashMap;

use nidus_format::{Attributes, Value};

/// A record's attributes, sorted by interned name id.
pub(crate) type RowAttrs = Box<[(u32, Value)]>;

/// The interned attribute names of a store. Names are never removed (there are
/// few of them), so ids stay valid for the store's lifetime.
#[derive(Debug, Default)]
pub(crate) struct Keys {
    names: Vec<Box<str>>,
    ids: HashMap<Box<str>, u32>,
}

impl Keys {
    /// The id of `name`, if any record ever had it.
    pub(crate) fn get(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }

    /// The name of interned id `id`.
    pub(crate) fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }

    fn intern(&mut self, name: &str) -> u32 {
        // Stores usually have a handful of attribute names: comparing a few
        // short strings beats hashing each name of every record.
        if self.names.len() <= 16 {
            if let Some(i) = self.names.iter().position(|n| &**n == name) {
                return i as u32;
            }
        } else if let Some(&id) = self.ids.get(name) {
            return id;
        }
        // Name counts are bounded by the u32 row count of the store.
        let id = u32::try_from(self.names.len()).expect("fewer than 2^32 attribute names");
        self.names.push(name.into());
        self.ids.insert(name.into(), id);
        id
    }

    /// Converts caller attributes to the compact form, interning names.
    pub(crate) fn compact(&mut self, attrs: &Attributes) -> RowAttrs {
        let mut out: Vec<(u32, Value)> = attrs
            .iter()
            .map(|(k, v)| (self.intern(k), v.clone()))
            .collect();
        out.sort_unstable_by_key(|&(k, _)| k);
        out.into_boxed_slice()
    }

    /// [`Keys::compact`] from a borrowed view (names arrive sorted).
    pub(crate) fn compact_ref(&mut self, attrs: &nidus_format::AttrsRef<'_>) -> RowAttrs {
        if attrs.is_empty() {
            return RowAttrs::default();
        }
        let mut out: Vec<(u32, Value)> = attrs
            .iter()
            .map(|(k, v)| (self.intern(k), v.to_value()))
            .collect();
        out.sort_unstable_by_key(|&(k, _)| k);
        out.into_boxed_slice()
    }

    /// Converts compact attributes back to the caller's map.
    pub(crate) fn expand(&self, attrs: &[(u32, Value)]) -> Attributes {
        attrs
            .iter()
            .map(|(k, v)| (self.name(*k).to_owned(), v.clone()))
            .collect()
    }

    /// Bytes held by the name table (for `footprint()`).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.names.iter().map(|n| 2 * n.len() + 48).sum()
    }
}

/// The value of attribute `key` in `attrs`, if present.
pub(crate) fn lookup(attrs: &[(u32, Value)], key: u32) -> Option<&Value> {
    attrs
        .binary_search_by_key(&key, |&(k, _)| k)
        .ok()
        .map(|i| &attrs[i].1)
}

/// Heap bytes owned by one record's attributes (for `footprint()`).
pub(crate) fn heap_bytes(attrs: &[(u32, Value)]) -> usize {
    attrs
        .iter()
        .map(|(_, v)| {
            std::mem::size_of::<(u32, Value)>()
                + match v {
                    Value::Str(s) => s.capacity(),
                    Value::List(l) => {
                        l.capacity() * std::mem::size_of::<String>()
                            + l.iter().map(String::capacity).sum::<usize>()
                    }
                    _ => 0,
                }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_round_trips_and_sorts_by_id() {
        let mut keys = Keys::default();
        let mut a = Attributes::new();
        a.insert("zeta".into(), Value::Int(1));
        a.insert("alpha".into(), Value::Null);
        let first = keys.compact(&a);
        let mut b = Attributes::new();
        b.insert("alpha".into(), Value::Str("x".into()));
        b.insert("beta".into(), Value::Bool(true));
        let second = keys.compact(&b);
        assert!(second.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(keys.expand(&first), a);
        assert_eq!(keys.expand(&second), b);
        let alpha = keys.get("alpha").unwrap();
        assert_eq!(lookup(&first, alpha), Some(&Value::Null));
        assert_eq!(lookup(&second, alpha), Some(&Value::Str("x".into())));
        assert_eq!(keys.get("missing"), None);
    }
}
