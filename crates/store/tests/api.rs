//! The store's API end to end on temporary directories.

mod common;

use common::vector;
use nidus_store::{
    AttrSelection, ErrorKind, FileEnd, Filter, Options, Record, Search, Store, Value,
};
use nidus_testkit::records;

fn ids(hits: &[nidus_store::Hit]) -> Vec<&str> {
    hits.iter().map(|h| h.id.as_str()).collect()
}

#[test]
fn upsert_get_search_and_reopen_equal() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let dim = 8;
    let mut store = Store::open(dir.path(), Options::new(dim))?;
    store.upsert("docs", &records(0..50, dim))?;
    store.upsert("code", &records(100..120, dim))?;
    store.set_metadata("docs", "model", "mini-lm")?;
    assert_eq!(store.count("docs")?, 50);
    assert_eq!(store.len(), 70);

    let got = store.get("docs", "r7")?.expect("r7 stored");
    assert_eq!(got.attrs.get("i"), Some(&Value::Int(7)));
    let norm: f32 = got.vector.iter().map(|x| x * x).sum();
    assert!((norm - 1.0).abs() < 1e-5, "stored unit vector, norm {norm}");

    // The record's own vector is its best match, score ~1.
    let hits = store.search(&vector(7, dim), Search::top(3).collection("docs"))?;
    assert_eq!(hits.len(), 3);
    assert_eq!(hits[0].id, "r7");
    assert_eq!(hits[0].collection, "docs");
    assert!((hits[0].score - 1.0).abs() < 1e-5);
    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));

    // All collections merge into one ranking.
    let hits = store.search(&vector(105, dim), Search::top(2))?;
    assert_eq!(
        (hits[0].collection.as_str(), hits[0].id.as_str()),
        ("code", "r105")
    );

    let queries: Vec<Vec<f32>> = (0..5).map(|i| vector(1000 + i, dim)).collect();
    let search = Search::top(10)
        .filter(Filter::eq("parity", "odd"))
        .with_vectors();
    let before: Vec<_> = store.search_batch(&queries, &search)?;
    let before_records: Vec<Record> = store.records("docs")?.map(|r| r.to_record()).collect();
    drop(store);

    let store = Store::open(dir.path(), Options::new(dim).read_only())?;
    assert_eq!(store.search_batch(&queries, &search)?, before);
    let after: Vec<Record> = store.records("docs")?.map(|r| r.to_record()).collect();
    assert_eq!(after.len(), before_records.len());
    for (a, b) in after.iter().zip(&before_records) {
        assert_eq!(a.id, b.id);
        assert_eq!(a.attrs, b.attrs);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a.vector), bits(&b.vector), "bit-exact vectors");
    }
    assert_eq!(
        store.metadata("docs")?.get("model").map(String::as_str),
        Some("mini-lm")
    );
    assert_eq!(store.open_report().end, FileEnd::Clean);
    Ok(())
}

#[test]
fn batch_search_equals_single_searches() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let dim = 16;
    let mut store = Store::open(dir.path(), Options::new(dim))?;
    store.upsert("a", &records(0..300, dim))?;
    let queries: Vec<Vec<f32>> = (0..7).map(|i| vector(5000 + i, dim)).collect();
    for search in [
        Search::top(5),
        Search::top(5).filter(Filter::lt("i", 100)),
        Search::top(1000).min_score(0.1),
    ] {
        let batch = store.search_batch(&queries, &search)?;
        for (q, hits) in queries.iter().zip(&batch) {
            assert_eq!(&store.search(q, &search)?, hits);
        }
    }
    Ok(())
}

#[test]
fn overwrite_delete_compact_keep_the_logical_state() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let dim = 4;
    let opts = Options::new(dim).no_auto_compact();
    let mut store = Store::open(dir.path(), opts.clone())?;
    store.upsert("c", &records(0..100, dim))?;
    // Overwrite r3 with r200's vector and a new attribute.
    store.upsert(
        "c",
        &[Record::new("r3", vector(200, dim)).attr("new", true)],
    )?;
    assert_eq!(store.count("c")?, 100);
    assert_eq!(store.stats().dead_rows, 1);
    assert_eq!(
        store.get("c", "r3")?.unwrap().attrs.get("new"),
        Some(&Value::Bool(true))
    );
    assert_eq!(store.delete("c", &["r1", "r2", "r2", "nope"])?, 2);
    assert_eq!(store.delete_where("c", Filter::ge("i", 90))?, 10);
    assert_eq!(store.count("c")?, 88);
    assert!(store.get("c", "r1")?.is_none());
    assert!(store.get("c", "r95")?.is_none());
    store.create_collection("empty")?;
    store.set_metadata("empty", "k", "v")?;
    store.create_collection("gone")?;
    store.upsert("gone", &records(0..5, dim))?;
    store.drop_collection("gone")?;
    assert_eq!(store.stats().dead_rows, 1 + 2 + 10 + 5);

    let q = vector(200, dim);
    let before = store.search(&q, Search::top(20))?;
    let bytes_before = store.stats().file_bytes;
    store.compact()?;
    assert_eq!(store.stats().dead_rows, 0);
    assert!(store.stats().file_bytes < bytes_before);
    assert_eq!(store.search(&q, Search::top(20))?, before);
    assert_eq!(before[0].id, "r3");
    store.upsert("c", &records(500..510, dim))?;
    let after_write = store.search(&q, Search::top(30))?;
    drop(store);

    let store = Store::open(dir.path(), opts)?;
    assert_eq!(store.search(&q, Search::top(30))?, after_write);
    let names: Vec<_> = store
        .collections()
        .into_iter()
        .map(|c| (c.name, c.records))
        .collect();
    assert_eq!(names, vec![("c".to_owned(), 98), ("empty".to_owned(), 0)]);
    assert_eq!(
        store.metadata("empty")?.get("k").map(String::as_str),
        Some("v")
    );
    assert!(!store.has_collection("gone"));
    Ok(())
}

#[test]
fn filtered_search_returns_k_whenever_k_match() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let dim = 8;
    let mut store = Store::open(dir.path(), Options::new(dim))?;
    store.upsert("c", &records(0..1000, dim))?;
    // Exactly 3 records match; each must come back even if it ranks last.
    let f = Filter::is_in("i", [17, 503, 999]);
    let hits = store.search(&vector(1, dim), Search::top(10).filter(f))?;
    let mut got = ids(&hits);
    got.sort_unstable();
    assert_eq!(got, vec!["r17", "r503", "r999"]);
    let hits = store.search(
        &vector(1, dim),
        Search::top(100).filter(Filter::eq("parity", "odd")),
    )?;
    assert_eq!(hits.len(), 100);
    assert!(
        hits.iter()
            .all(|h| h.attrs.get("parity") == Some(&Value::from("odd")))
    );
    let hits = store.search(
        &vector(1, dim),
        Search::top(5).attrs(AttrSelection::Only(vec!["i".into(), "zzz".into()])),
    )?;
    assert!(
        hits.iter()
            .all(|h| h.attrs.len() == 1 && h.vector.is_none())
    );
    Ok(())
}

#[test]
fn bad_inputs_are_rejected_before_anything_is_written() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut store = Store::open(dir.path(), Options::new(3))?;
    store.upsert("c", &[Record::new("ok", [1.0, 2.0, 3.0])])?;
    let bytes = store.stats().file_bytes;
    let bad: Vec<(Vec<Record>, ErrorKind)> = vec![
        (
            vec![Record::new("x", [1.0, 2.0])],
            ErrorKind::DimensionMismatch,
        ),
        (
            vec![Record::new("x", [1.0, f32::NAN, 0.0])],
            ErrorKind::InvalidInput,
        ),
        (
            vec![Record::new("x", [f32::INFINITY, 0.0, 0.0])],
            ErrorKind::InvalidInput,
        ),
        (
            vec![Record::new("x", [0.0, 0.0, 0.0])],
            ErrorKind::InvalidInput,
        ),
        (
            vec![Record::new("", [1.0, 0.0, 0.0])],
            ErrorKind::InvalidInput,
        ),
        (
            vec![Record::new("x".repeat(5000), [1.0, 0.0, 0.0])],
            ErrorKind::InvalidInput,
        ),
        // One bad record spoils the whole batch.
        (
            vec![
                Record::new("good", [1.0, 0.0, 0.0]),
                Record::new("bad", [0.0; 3]),
            ],
            ErrorKind::InvalidInput,
        ),
    ];
    for (recs, kind) in bad {
        let e = store.upsert("c", &recs).unwrap_err();
        assert_eq!(e.kind(), kind, "{e}");
    }
    assert_eq!(
        store.upsert("", &records(0..1, 3)).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(store.stats().file_bytes, bytes, "nothing written");
    assert_eq!(store.len(), 1);
    assert!(store.get("c", "good")?.is_none());

    let q = [1.0, 0.0, 0.0];
    let e = store.search(&[1.0, 0.0], Search::top(1)).unwrap_err();
    assert_eq!(e.dimensions(), Some((3, 2)));
    assert_eq!(
        store.search(&[0.0; 3], Search::top(1)).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    let e = store
        .search(&q, Search::top(1).collection("nope"))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    let e = store
        .search(&q, Search::top(1).filter(Filter::glob("p", "[x")))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(
        store
            .search(&q, Search::top(1).min_score(f32::NAN))
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(store.search(&q, Search::top(0))?.len(), 0);
    assert_eq!(store.search(&q, Search::top(usize::MAX))?.len(), 1);
    assert_eq!(store.count("nope").unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(
        store.get("nope", "x").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        store.drop_collection("nope").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        store.delete("nope", &["x"]).unwrap_err().kind(),
        ErrorKind::NotFound
    );

    for d in [0, 70_000] {
        let e = Store::open(dir.path().join("other"), Options::new(d)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "dimension {d}: {e}");
    }
    Ok(())
}

#[test]
fn open_refuses_other_dimension_lock_holders_and_missing_stores() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path(), Options::new(3))?;
    let e = Store::open(dir.path(), Options::new(4)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Locked, "{e}");
    // Readers take no lock.
    let reader = Store::open(dir.path(), Options::new(3).read_only())?;
    let e = Store::open(dir.path(), Options::new(4).read_only()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::DimensionMismatch);
    assert!(
        e.to_string().contains('3') && e.to_string().contains('4'),
        "{e}"
    );
    drop(store);
    let e = Store::open(dir.path(), Options::new(384)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::DimensionMismatch);
    // (store, given), the order of every DimensionMismatch (issue 18).
    assert_eq!(e.dimensions(), Some((3, 384)));
    assert!(
        e.to_string().contains("384") && e.to_string().contains('3'),
        "{e}"
    );
    // Existing-store options take the dimension from the file.
    assert_eq!(Store::open(dir.path(), Options::existing())?.dimension(), 3);
    drop(reader);

    let missing = dir.path().join("missing");
    for opts in [
        Options::new(3).read_only(),
        Options::existing(),
        Options::new(3).create_if_missing(false),
    ] {
        assert_eq!(
            Store::open(&missing, opts).unwrap_err().kind(),
            ErrorKind::NotFound
        );
    }
    assert!(!missing.exists(), "a refused open creates nothing");
    Ok(())
}

#[test]
fn read_only_store_refuses_writes() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    Store::open(dir.path(), Options::new(2))?.upsert("c", &[Record::new("a", [1.0, 0.0])])?;
    let mut ro = Store::open(dir.path(), Options::new(2).read_only())?;
    let kinds = [
        ro.upsert("c", &[Record::new("b", [1.0, 0.0])])
            .unwrap_err()
            .kind(),
        ro.delete("c", &["a"]).unwrap_err().kind(),
        ro.delete_where("c", Filter::exists("x"))
            .unwrap_err()
            .kind(),
        ro.create_collection("d").unwrap_err().kind(),
        ro.drop_collection("c").unwrap_err().kind(),
        ro.set_metadata("c", "k", "v").unwrap_err().kind(),
        ro.compact().unwrap_err().kind(),
    ];
    assert!(kinds.iter().all(|&k| k == ErrorKind::ReadOnly), "{kinds:?}");
    assert_eq!(ro.len(), 1);
    Ok(())
}

#[test]
fn debug_output_is_a_summary() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut store = Store::open(dir.path(), Options::new(4))?;
    store.upsert("c", &records(0..3, 4))?;
    let text = format!("{store:?}");
    assert!(
        text.contains("records: 3") && text.contains("dimension: 4"),
        "{text}"
    );
    assert!(text.len() < 300, "no vectors in Debug: {text}");
    let r = store.records("c")?.next().expect("a record");
    assert_eq!(
        format!("{r:?}"),
        "RecordRef { collection: \"c\", id: \"r0\", .. }"
    );
    Ok(())
}

/// An upsert stages its unit vectors in the vector buffer before the write;
/// a batch refused after some were staged (a bad vector further on, the
/// memory budget) must leave no trace: the next batch's rows, searches and
/// a reopen see exactly the accepted records.
#[test]
fn refused_upserts_leave_no_staged_vectors_behind() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let opts = Options::new(3).memory_budget(4096);
    let mut store = Store::open(dir.path(), opts.clone())?;
    store.upsert("c", &[Record::new("a", [2.0, 0.0, 0.0])])?;
    let e = store
        .upsert(
            "c",
            &[
                Record::new("b", [0.0, 0.0, 5.0]),
                Record::new("bad", [1.0, f32::NAN, 0.0]),
            ],
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    let many: Vec<Record> = (0..1000)
        .map(|i| Record::new(format!("m{i}"), [0.0, 0.0, 1.0]))
        .collect();
    let e = store.upsert("c", &many).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::OutOfMemory, "{e}");
    store.upsert("c", &[Record::new("next", [0.0, 3.0, 0.0])])?;
    let check = |store: &Store| -> anyhow::Result<()> {
        assert_eq!(store.len(), 2);
        assert_eq!(store.get("c", "next")?.unwrap().vector, vec![0.0, 1.0, 0.0]);
        assert_eq!(store.get("c", "a")?.unwrap().vector, vec![1.0, 0.0, 0.0]);
        assert!(store.get("c", "b")?.is_none());
        let hits = store.search(&[0.0, 1.0, 0.0], Search::top(2))?;
        assert_eq!(ids(&hits), ["next", "a"]);
        assert_eq!(hits[0].score, 1.0);
        // No hit scores against the refused [0, 0, 1] rows.
        let hits = store.search(&[0.0, 0.0, 1.0], Search::top(5))?;
        assert!(hits.iter().all(|h| h.score == 0.0), "{hits:?}");
        Ok(())
    };
    check(&store)?;
    drop(store);
    check(&Store::open(dir.path(), opts)?)?;
    Ok(())
}
