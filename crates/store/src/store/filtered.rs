//! Reads that select records by their attributes instead of by a query
//! vector: counts, ids and records matching a [`Filter`], evaluated with the
//! same compiled form a filtered search uses.

use std::borrow::Borrow;

use super::{RecordRef, Store};
use crate::error::Result;
use crate::filter::{Compiled, Filter};

impl Store {
    /// How many live records of `collection` match `filter`, without
    /// building any record: "how many drafts".
    ///
    /// Takes a [`Filter`] or a `&Filter`. A missing collection is
    /// [`ErrorKind::NotFound`]; an invalid filter (bad glob, non-numeric
    /// bound) is [`ErrorKind::InvalidInput`].
    ///
    /// ```
    /// use nidus_store::{Filter, Options, Record, Store};
    /// # let tmp = tempfile::tempdir().expect("temp dir");
    /// let mut store = Store::open(tmp.path(), Options::new(2))?;
    /// store.upsert("posts", &[
    ///     Record::new("a", [1.0, 0.0]).attr("draft", true).attr("year", 2021),
    ///     Record::new("b", [0.0, 1.0]).attr("draft", false).attr("year", 2021),
    ///     Record::new("c", [1.0, 1.0]).attr("draft", true).attr("year", 2024),
    /// ])?;
    /// let drafts = Filter::eq("draft", true);
    /// assert_eq!(store.count_where("posts", &drafts)?, 2);
    /// assert_eq!(store.ids_where("posts", &drafts)?, ["a", "c"]);
    /// let from_2021: Vec<_> = store
    ///     .records_where("posts", Filter::eq("year", 2021))?
    ///     .map(|r| r.id())
    ///     .collect();
    /// assert_eq!(from_2021, ["a", "b"]);
    /// # Ok::<(), nidus_store::Error>(())
    /// ```
    ///
    /// [`ErrorKind::NotFound`]: crate::ErrorKind::NotFound
    /// [`ErrorKind::InvalidInput`]: crate::ErrorKind::InvalidInput
    pub fn count_where(&self, collection: &str, filter: impl Borrow<Filter>) -> Result<usize> {
        Ok(self.records_where(collection, filter)?.count())
    }

    /// The ids of the live records of `collection` matching `filter`, in
    /// insertion order (as [`Store::records`]). Owned, so they can be handed
    /// straight to a write such as [`Store::delete`]. Errors as
    /// [`Store::count_where`].
    pub fn ids_where(&self, collection: &str, filter: impl Borrow<Filter>) -> Result<Vec<String>> {
        Ok(self
            .records_where(collection, filter)?
            .map(|r| r.id().to_owned())
            .collect())
    }

    /// The live records of `collection` matching `filter`, in insertion
    /// order, borrowed as [`Store::records`] lends them: "every record
    /// from 2021". The filter is checked (and compiled) before this
    /// returns, so errors come here, as in [`Store::count_where`]; the
    /// records are then matched as the iterator advances.
    pub fn records_where(
        &self,
        collection: &str,
        filter: impl Borrow<Filter>,
    ) -> Result<impl Iterator<Item = RecordRef<'_>> + '_> {
        let c = self.collection_exists(collection)?;
        let compiled = Compiled::new(filter.borrow(), &self.model.keys)?;
        let model = &self.model;
        Ok(c.live
            .iter()
            .filter(move |&row| compiled.matches(model.row_attrs(row)))
            .map(move |row| RecordRef { model, row }))
    }
}
