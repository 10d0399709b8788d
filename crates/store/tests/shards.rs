//! Search over several stores (SPEC.md §9): records routed by `shard_of`
//! into N stores, searched together, give exactly what one store holding
//! every record gives — ids, collections and scores bit for bit — with
//! filters, scopes, `min_score` and batches; and the refusals.

use nidus_store::{
    ErrorKind, Filter, Hit, Options, Record, Search, ShardHit, Store, search_shards,
    search_shards_batch, shard_of,
};
use nidus_testkit::Rng;

/// A vector of `dim` components in [-1, 1) from the shared seeded RNG.
fn random_vector(rng: &mut Rng, dim: usize) -> Vec<f32> {
    (0..dim).map(|_| rng.unit_f32()).collect()
}

const DIM: usize = 13;

/// (collection, id, score) — what must agree bit for bit.
fn key(h: &Hit) -> (String, String, u32) {
    (h.collection.clone(), h.id.clone(), h.score.to_bits())
}

fn keys(hits: &[ShardHit]) -> Vec<(String, String, u32)> {
    hits.iter().map(|h| key(&h.hit)).collect()
}

/// `got` and `want` are the same ranking up to the order of equal scores
/// (a tie breaks by store order here, by insertion order in one store):
/// the scores agree bit for bit, position by position, and so does the
/// set of records with each score — except the last run of equal scores
/// when a list is full, which `k` may cut in a different place.
fn assert_same_ranking(
    mut got: Vec<(String, String, u32)>,
    mut want: Vec<(String, String, u32)>,
    k: usize,
    what: &str,
) {
    let scores = |l: &[(String, String, u32)]| l.iter().map(|h| h.2).collect::<Vec<_>>();
    assert_eq!(scores(&got), scores(&want), "{what}");
    if got.len() == k
        && let Some(last) = got.last().map(|h| h.2)
    {
        got.retain(|h| h.2 != last);
        want.retain(|h| h.2 != last);
    }
    // Scores descending are the same; sorting by (score, ids) within the
    // same descending order makes tie groups comparable.
    let canon = |l: &mut Vec<(String, String, u32)>| {
        l.sort_by(|a, b| {
            f32::from_bits(b.2)
                .total_cmp(&f32::from_bits(a.2))
                .then(a.cmp(b))
        })
    };
    canon(&mut got);
    canon(&mut want);
    assert_eq!(got, want, "{what}");
}

/// One store with every record, and `n` stores with the records routed by
/// `shard_of`. Rows go in in the same order everywhere.
fn build(n: usize, rows: usize) -> anyhow::Result<(Vec<tempfile::TempDir>, Store, Vec<Store>)> {
    let mut rng = Rng::new(0x5eed_1234_abcd_0001);
    let mut dirs = Vec::new();
    let whole_dir = tempfile::tempdir()?;
    let mut whole = Store::open(whole_dir.path(), Options::new(DIM))?;
    dirs.push(whole_dir);
    let mut shards = Vec::new();
    for _ in 0..n {
        let d = tempfile::tempdir()?;
        shards.push(Store::open(d.path(), Options::new(DIM))?);
        dirs.push(d);
    }
    for chunk in 0..rows / 100 {
        for collection in ["docs", "code"] {
            let batch: Vec<Record> = (0..100)
                .map(|i| {
                    let n = chunk * 100 + i;
                    Record::new(format!("{collection}-{n}"), random_vector(&mut rng, DIM))
                        .attr("n", n as i64)
                        .attr("tag", ["red", "green", "blue"][n % 3])
                })
                .collect();
            whole.upsert(collection, &batch)?;
            for (s, store) in shards.iter_mut().enumerate() {
                let mine: Vec<Record> = batch
                    .iter()
                    .filter(|r| shard_of(collection, &r.id, n) == s)
                    .cloned()
                    .collect();
                store.upsert(collection, &mine)?;
            }
        }
    }
    Ok((dirs, whole, shards))
}

#[test]
fn shards_searched_together_equal_one_store_bit_for_bit() -> anyhow::Result<()> {
    let (_dirs, whole, shards) = build(4, 1500)?;
    let counts: Vec<usize> = shards.iter().map(Store::len).collect();
    assert_eq!(counts.iter().sum::<usize>(), whole.len(), "{counts:?}");
    assert!(
        counts.iter().all(|&c| c > 500),
        "uneven routing: {counts:?}"
    );
    let refs: Vec<&Store> = shards.iter().collect();
    let mut rng = Rng::new(99);
    let queries: Vec<Vec<f32>> = (0..20).map(|_| random_vector(&mut rng, DIM)).collect();
    let searches = [
        Search::top(10),
        Search::top(1),
        Search::top(37).collection("docs"),
        Search::top(25).filter(Filter::eq("tag", "red")),
        Search::top(50)
            .filter(Filter::lt("n", 300))
            .collection("code"),
        Search::top(100).min_score(0.4),
        Search::top(5000),
    ];
    for search in &searches {
        let want = whole.search_batch(&queries, search)?;
        let got = search_shards_batch(&refs, &queries, search)?;
        assert_eq!(got.len(), queries.len());
        for (q, (w, g)) in want.iter().zip(&got).enumerate() {
            let w: Vec<_> = w.iter().map(key).collect();
            assert_same_ranking(keys(g), w, search.k(), &format!("query {q}, {search:?}"));
            // Each hit names the store that holds it.
            for h in g {
                assert_eq!(shard_of(&h.hit.collection, &h.hit.id, 4), h.shard);
            }
        }
        // One query alone: the same as its row of the batch.
        let single = search_shards(&refs, &queries[3], search)?;
        assert_eq!(single, got[3]);
    }
    Ok(())
}

#[test]
fn ties_break_by_store_order_then_insertion_order() -> anyhow::Result<()> {
    let dirs: Vec<_> = (0..3)
        .map(|_| tempfile::tempdir())
        .collect::<Result<_, _>>()?;
    let mut stores: Vec<Store> = dirs
        .iter()
        .map(|d| Store::open(d.path(), Options::new(2)))
        .collect::<Result<_, _>>()?;
    // Every record scores exactly 1.0 against [1, 0].
    stores[0].upsert(
        "c",
        &[Record::new("a1", [1.0, 0.0]), Record::new("a2", [2.0, 0.0])],
    )?;
    stores[1].upsert("c", &[Record::new("b1", [3.0, 0.0])])?;
    stores[2].upsert(
        "c",
        &[Record::new("c1", [0.5, 0.0]), Record::new("c0", [1.0, 0.0])],
    )?;
    let order = |refs: &[&Store]| -> anyhow::Result<Vec<String>> {
        Ok(search_shards(refs, &[1.0, 0.0], Search::top(10))?
            .into_iter()
            .map(|h| h.hit.id)
            .collect())
    };
    assert_eq!(
        order(&[&stores[0], &stores[1], &stores[2]])?,
        ["a1", "a2", "b1", "c1", "c0"]
    );
    assert_eq!(
        order(&[&stores[2], &stores[0], &stores[1]])?,
        ["c1", "c0", "a1", "a2", "b1"]
    );
    let top2 = search_shards(&[&stores[1], &stores[0]], &[1.0, 0.0], Search::top(2))?;
    let got: Vec<(usize, &str)> = top2.iter().map(|h| (h.shard, h.hit.id.as_str())).collect();
    assert_eq!(got, [(0, "b1"), (1, "a1")]);
    Ok(())
}

#[test]
fn collections_missing_from_some_stores_contribute_nothing() -> anyhow::Result<()> {
    let (a, b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let mut left = Store::open(a.path(), Options::new(2))?;
    let mut right = Store::open(b.path(), Options::new(2))?;
    left.upsert("only-left", &[Record::new("l", [1.0, 0.0])])?;
    right.upsert("both", &[Record::new("r", [1.0, 0.1])])?;
    left.upsert("both", &[Record::new("l2", [0.0, 1.0])])?;
    let refs = [&left, &right];
    let hits = search_shards(&refs, &[1.0, 0.0], Search::top(5).collection("only-left"))?;
    assert_eq!(hits.len(), 1);
    assert_eq!((hits[0].shard, hits[0].hit.id.as_str()), (0, "l"));
    let hits = search_shards(
        &refs,
        &[1.0, 0.0],
        Search::top(5).collection("both").collection("only-left"),
    )?;
    let ids: Vec<&str> = hits.iter().map(|h| h.hit.id.as_str()).collect();
    assert_eq!(ids, ["l", "r", "l2"]);
    let err = search_shards(&refs, &[1.0, 0.0], Search::top(5).collection("nowhere")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains("'nowhere'"), "{err}");
    Ok(())
}

#[test]
fn refuses_no_stores_duplicates_and_mixed_dimensions() -> anyhow::Result<()> {
    let (a, b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let two = Store::open(a.path(), Options::new(2))?;
    let three = Store::open(b.path(), Options::new(3))?;

    let err = search_shards(&[], &[1.0, 0.0], Search::top(1)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);

    let err = search_shards(&[&two, &two], &[1.0, 0.0], Search::top(1)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("given twice"), "{err}");
    // The same directory opened twice (read-only) is the same store.
    let again = Store::open(a.path(), Options::existing().read_only())?;
    let err = search_shards(&[&two, &again], &[1.0, 0.0], Search::top(1)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);

    let err = search_shards(&[&two, &three], &[1.0, 0.0], Search::top(1)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DimensionMismatch);
    assert_eq!(err.dimensions(), Some((2, 3)));
    let text = err.to_string();
    assert!(
        text.contains(&a.path().display().to_string())
            && text.contains(&b.path().display().to_string()),
        "{text}"
    );
    Ok(())
}
