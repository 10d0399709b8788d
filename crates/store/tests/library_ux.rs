//! The library as a Rust user meets it (issue 18): building and reading
//! values, reads by filter alone, "more like this", and errors that point
//! the right way.

mod common;

use common::vector;
use nidus_store::{ErrorKind, Filter, Options, Record, Search, Store, Value};

const DIM: usize = 4;

fn ids(hits: &[nidus_store::Hit]) -> Vec<&str> {
    hits.iter().map(|h| h.id.as_str()).collect()
}

/// 40 records: year 2015..2024 by `i % 10`, `draft` on every third,
/// a path two or three segments deep, tags as a list.
fn corpus() -> Vec<Record> {
    (0..40usize)
        .map(|i| {
            let path = if i % 2 == 0 {
                format!("src/f{i}.rs")
            } else {
                format!("src/mod{}/f{i}.rs", i % 3)
            };
            Record::new(format!("r{i}"), vector(i as u64, DIM))
                .attr("year", 2015 + i % 10)
                .attr("draft", i % 3 == 0)
                .attr("path", path)
                .attr("tags", vec!["all", if i % 2 == 0 { "even" } else { "odd" }])
        })
        .collect()
}

fn open(dir: &std::path::Path) -> Store {
    let mut store = Store::open(dir, Options::new(DIM)).expect("open");
    store.upsert("docs", &corpus()).expect("upsert");
    store
}

#[test]
fn values_of_every_kind_go_in_and_read_back() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut store = Store::open(dir.path(), Options::new(DIM))?;
    let n: usize = 7;
    let big: u64 = 1 << 40;
    store.upsert(
        "v",
        &[Record::new("a", vector(1, DIM))
            .attr("usize", n)
            .attr("u64", big)
            .attr("u8", 3u8)
            .attr("i16", -4i16)
            .attr("tags", vec!["x", "y"])
            .attr("pair", ["p", "q"])
            .attr("none", None::<&str>)
            .attr("some", Some(2.5))
            .attr("maybe_u64", Some(9u64))],
    )?;
    let r = store.get("v", "a")?.expect("stored");
    let want = [
        ("usize", Value::Int(7)),
        ("u64", Value::Int(1 << 40)),
        ("u8", Value::Int(3)),
        ("i16", Value::Int(-4)),
        ("tags", Value::List(vec!["x".into(), "y".into()])),
        ("pair", Value::List(vec!["p".into(), "q".into()])),
        ("none", Value::Null),
        ("some", Value::Float(2.5)),
        ("maybe_u64", Value::Int(9)),
    ];
    for (name, value) in want {
        assert_eq!(r.attrs.get(name), Some(&value), "{name}");
    }
    // RecordRef::attr reads one value without the map.
    let view = store.records("v")?.next().expect("one record");
    assert_eq!(view.attr("usize").and_then(Value::as_i64), Some(7));
    assert_eq!(
        view.attr("tags")
            .and_then(Value::as_list)
            .map(<[String]>::len),
        Some(2)
    );
    assert_eq!(view.attr("none").map(Value::is_null), Some(true));
    assert_eq!(view.attr("absent"), None);
    assert_eq!(
        view.attr("some").map(ToString::to_string).as_deref(),
        Some("2.5")
    );
    Ok(())
}

#[test]
fn an_integer_past_i64_is_refused_at_upsert_naming_record_and_attribute() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut store = Store::open(dir.path(), Options::new(DIM))?;
    store.create_collection("v")?;
    let bytes = store.stats().file_bytes;
    let cases = [
        Record::new("u64", vector(1, DIM)).attr("n", u64::MAX),
        Record::new("usize", vector(1, DIM)).attr("n", usize::MAX),
        Record::new("u128", vector(1, DIM)).attr("n", u128::from(u64::MAX) + 1),
        Record::new("i128", vector(1, DIM)).attr("n", i128::from(i64::MIN) - 1),
        Record::new("some", vector(1, DIM)).attr("n", Some(u64::MAX)),
    ];
    for bad in cases {
        let id = bad.id.clone();
        // A good record beside it: the whole batch is refused.
        let batch = [Record::new("good", vector(2, DIM)), bad];
        let e = store.upsert("v", &batch).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        let text = e.to_string();
        assert!(
            text.contains(&format!("attribute \"n\" of record \"{id}\""))
                && text.contains("does not fit"),
            "{text}"
        );
        assert_eq!(store.stats().file_bytes, bytes, "nothing written");
        assert_eq!(store.count("v")?, 0);
    }
    // Setting the attribute again, or replacing all attributes, clears it.
    let fixed = Record::new("a", vector(1, DIM))
        .attr("n", u64::MAX)
        .attr("n", 5u64);
    let replaced = Record::new("b", vector(1, DIM))
        .attr("n", u64::MAX)
        .with_attrs([("m".to_owned(), Value::Int(1))].into());
    store.upsert("v", &[fixed, replaced])?;
    assert_eq!(store.get("v", "a")?.expect("a").attrs["n"], Value::Int(5));
    assert!(!store.get("v", "b")?.expect("b").attrs.contains_key("n"));
    Ok(())
}

#[test]
fn filtered_reads_agree_with_a_filtered_search() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = open(dir.path());
    let filters = [
        Filter::eq("draft", true),
        Filter::eq("year", 2021),
        Filter::ge("year", 2020).and(Filter::eq("tags", "odd")),
        Filter::glob("path", "src/*.rs"),
        Filter::glob("path", "src/**/*.rs"),
        Filter::ne("langauge", "go"),
        Filter::eq("langauge", "go"),
    ];
    for f in &filters {
        let mut searched: Vec<String> = store
            .search(&vector(99, DIM), Search::top(usize::MAX).filter(f))?
            .into_iter()
            .map(|h| h.id)
            .collect();
        searched.sort();
        let ids = store.ids_where("docs", f)?;
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(sorted, searched, "{f:?}");
        assert_eq!(store.count_where("docs", f)?, ids.len(), "{f:?}");
        let listed: Vec<&str> = store.records_where("docs", f)?.map(|r| r.id()).collect();
        assert_eq!(
            listed, ids,
            "{f:?}: records_where and ids_where agree, in order"
        );
        // By brute force over the attribute maps.
        let mut brute = Vec::new();
        for r in store.records("docs")? {
            if f.matches(&r.attrs())? {
                brute.push(r.id().to_owned());
            }
        }
        assert_eq!(ids, brute, "{f:?}");
    }
    assert_eq!(store.count_where("docs", Filter::eq("year", 2021))?, 4);
    assert_eq!(store.count_where("docs", Filter::eq("langauge", "go"))?, 0);
    assert_eq!(store.count_where("docs", Filter::ne("langauge", "go"))?, 40);
    // Insertion order, as records() lists.
    assert_eq!(
        store.ids_where("docs", Filter::eq("year", 2021))?,
        ["r6", "r16", "r26", "r36"]
    );

    let e = store
        .count_where("nope", Filter::exists("year"))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    let e = store
        .ids_where("docs", Filter::glob("path", "[x"))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(
        store
            .records_where("docs", Filter::lt("year", "x"))
            .is_err()
    );
    Ok(())
}

#[test]
fn glob_star_stays_in_a_segment_and_double_star_crosses() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = open(dir.path());
    let one_deep = store.ids_where("docs", Filter::glob("path", "src/*.rs"))?;
    assert_eq!(one_deep.len(), 20);
    assert!(
        one_deep
            .iter()
            .all(|id| id[1..].parse::<usize>().unwrap() % 2 == 0)
    );
    let any_depth = store.count_where("docs", Filter::glob("path", "src/**/*.rs"))?;
    assert_eq!(any_depth, 40);
    let nested = store.count_where("docs", Filter::glob("path", "src/*/*.rs"))?;
    assert_eq!(nested, 20);
    let hits = store.search(
        &vector(3, DIM),
        Search::top(100).filter(Filter::glob("path", "src/mod1/*")),
    )?;
    assert!(
        hits.iter()
            .all(|h| h.attrs["path"].as_str().unwrap().starts_with("src/mod1/"))
    );
    assert_eq!(hits.len(), 7);
    Ok(())
}

#[test]
fn delete_where_and_search_take_a_filter_or_a_reference() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut store = open(dir.path());
    let drafts = Filter::eq("draft", true);
    let before = store.count_where("docs", &drafts)?;
    assert_eq!(
        store
            .search(&vector(1, DIM), Search::top(100).filter(&drafts))?
            .len(),
        before
    );
    assert_eq!(store.delete_where("docs", &drafts)?, before);
    assert_eq!(store.delete_where("docs", drafts)?, 0);
    assert_eq!(store.delete_where("docs", Filter::eq("year", 2015))?, 2);
    assert_eq!(store.count("docs")?, 40 - before - 2);
    Ok(())
}

#[test]
fn attribute_names_lists_what_live_records_use() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut store = open(dir.path());
    assert_eq!(
        store.attribute_names("docs")?,
        ["draft", "path", "tags", "year"]
    );
    store.upsert(
        "other",
        &[Record::new("x", vector(1, DIM)).attr("only_here", 1)],
    )?;
    assert_eq!(store.attribute_names("other")?, ["only_here"]);
    store.delete("other", &["x"])?;
    assert!(store.attribute_names("other")?.is_empty());
    let e = store.attribute_names("nope").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    Ok(())
}

#[test]
fn more_like_this_leaves_the_record_itself_out() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut store = open(dir.path());
    let own = store.get("docs", "r5")?.expect("r5").vector;
    let plain = store.search(&own, Search::top(3).collection("docs"))?;
    assert_eq!(plain[0].id, "r5", "a record is its own best match");
    let like = store.search_like("docs", "r5", Search::top(3).collection("docs"))?;
    assert!(like.iter().all(|h| h.id != "r5"));
    assert_eq!(like.len(), 3);
    let wider = store.search(&own, Search::top(4).collection("docs"))?;
    assert_eq!(ids(&like), ids(&wider[1..]));

    // The same exclusion by hand, with a filter, and of several records.
    let f = Filter::eq("tags", "odd");
    let hand = store.search(
        &own,
        Search::top(2)
            .filter(&f)
            .exclude("docs", "r5")
            .exclude("docs", "nope"),
    )?;
    let filtered = store.search(&own, Search::top(3).filter(&f))?;
    assert_eq!(ids(&hand), ids(&filtered[1..]));
    // A record of the same id in another collection is not excluded.
    store.upsert("copy", &[Record::new("r5", own.clone())])?;
    let hits = store.search_like("docs", "r5", Search::top(1))?;
    assert_eq!(
        (hits[0].collection.as_str(), hits[0].id.as_str()),
        ("copy", "r5")
    );
    // Excluding every candidate leaves nothing.
    let all: Vec<String> = store.ids_where("copy", Filter::all([]))?;
    let mut s = Search::top(5).collection("copy");
    for id in &all {
        s = s.exclude("copy", id);
    }
    assert!(store.search(&own, s)?.is_empty());

    let e = store
        .search_like("docs", "missing", Search::top(1))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.to_string().contains("\"missing\""), "{e}");
    let e = store.search_like("nope", "r5", Search::top(1)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    Ok(())
}

#[test]
fn k_zero_is_an_empty_answer_after_the_usual_checks() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = open(dir.path());
    assert!(store.search(&vector(1, DIM), Search::top(0))?.is_empty());
    let batch = store.search_batch(&[vector(1, DIM), vector(2, DIM)], Search::top(0))?;
    assert_eq!(batch, vec![Vec::new(), Vec::new()]);
    let checks = [
        store.search(&[1.0], Search::top(0)).unwrap_err().kind(),
        store
            .search(&vector(1, DIM), Search::top(0).collection("nope"))
            .unwrap_err()
            .kind(),
        store
            .search(
                &vector(1, DIM),
                Search::top(0).filter(Filter::glob("p", "[")),
            )
            .unwrap_err()
            .kind(),
    ];
    assert_eq!(
        checks,
        [
            ErrorKind::DimensionMismatch,
            ErrorKind::NotFound,
            ErrorKind::InvalidInput
        ]
    );
    Ok(())
}

#[test]
fn an_empty_upsert_creates_the_collection_once() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut store = Store::open(dir.path(), Options::new(DIM))?;
    store.upsert("fresh", &[])?;
    assert_eq!(store.count("fresh")?, 0);
    let bytes = store.stats().file_bytes;
    store.upsert("fresh", &[])?;
    assert_eq!(
        store.stats().file_bytes,
        bytes,
        "an existing collection: nothing written"
    );
    drop(store);
    let store = Store::open(dir.path(), Options::new(DIM).read_only())?;
    assert!(store.has_collection("fresh"), "durable, like any write");
    let e = Store::open(dir.path(), Options::new(DIM).read_only())?
        .upsert("fresh", &[])
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ReadOnly);
    let e = Store::open(dir.path(), Options::new(DIM))?
        .upsert("", &[])
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    Ok(())
}

#[test]
fn get_tells_a_missing_record_from_a_missing_collection() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = open(dir.path());
    assert!(store.get("docs", "r1")?.is_some());
    assert!(store.get("docs", "r999")?.is_none());
    let e = store.get("dcos", "r1").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.to_string().contains("\"dcos\""), "{e}");
    Ok(())
}

#[test]
fn opening_with_another_dimension_names_the_store_first() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    drop(Store::open(dir.path(), Options::new(64))?);
    for opts in [Options::new(128), Options::new(128).read_only()] {
        let e = Store::open(dir.path(), opts).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::DimensionMismatch);
        assert_eq!(e.dimensions(), Some((64, 128)), "(store, given)");
        assert!(
            e.to_string()
                .contains("the store has dimension 64; the options ask for 128"),
            "{e}"
        );
    }
    // The same order for a record and a query.
    let mut store = Store::open(dir.path(), Options::new(64))?;
    let e = store
        .upsert("d", &[Record::new("a", vec![1.0; 128])])
        .unwrap_err();
    assert_eq!(e.dimensions(), Some((64, 128)));
    let e = store.search(&[1.0; 128], Search::top(1)).unwrap_err();
    assert_eq!(e.dimensions(), Some((64, 128)));
    Ok(())
}

#[test]
fn passing_a_file_names_it_and_the_directory_to_pass() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store_dir = dir.path().join("s");
    drop(Store::open(&store_dir, Options::new(DIM))?);
    let data = store_dir.join(nidus_format::DATA_FILE);
    let other = dir.path().join("notes.txt");
    std::fs::write(&other, "hello")?;
    for opts in [
        Options::new(DIM),
        Options::new(DIM).read_only(),
        Options::existing(),
    ] {
        let e = Store::open(&data, opts.clone()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        let text = e.to_string();
        assert!(
            text.contains("is the store's data file, not a store directory")
                && text.contains(&format!("({})", store_dir.display())),
            "{text}"
        );
        let e = Store::open(&other, opts).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("is a file, not a store directory")
                && text.contains(&format!("({})", dir.path().display())),
            "{text}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(&other)?,
        "hello",
        "the file is left alone"
    );
    Ok(())
}

#[test]
fn a_second_writer_in_the_same_process_is_told_so() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let _first = Store::open(dir.path(), Options::new(DIM))?;
    let e = Store::open(dir.path(), Options::new(DIM)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Locked);
    let text = e.to_string();
    let pid = std::process::id();
    assert!(
        text.contains(&format!("held by pid {pid}, which is this process")),
        "{text}"
    );
    assert_eq!(text.matches("locked").count(), 1, "{text}");
    // Readers are not writers: no lock, no error.
    Store::open(dir.path(), Options::new(DIM).read_only())?;
    Ok(())
}
