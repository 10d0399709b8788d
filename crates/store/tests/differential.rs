//! Random writes across interleaved collections, then every search checked
//! against a brute-force answer computed from `records()` and
//! `Filter::matches`: scopes of one, several and all collections, with and
//! without filters, before and after compaction and reopen.

use nidus_store::{Filter, Hit, Options, Record, Search, Store};
use nidus_testkit::Rng;

const DIM: usize = 6;
const COLLECTIONS: [&str; 3] = ["a", "b", "c"];

/// Brute force: every live record of `scope` passing `filter`, scored by
/// the dot product of unit vectors, best first.
fn expected(
    store: &Store,
    q: &[f32],
    scope: &[&str],
    filter: Option<&Filter>,
) -> Vec<(String, String, f32)> {
    let norm: f32 = q.iter().map(|x| x * x).sum::<f32>().sqrt();
    let mut all = Vec::new();
    let scope: std::collections::BTreeSet<&str> = scope.iter().copied().collect();
    for c in scope {
        for r in store.records(c).unwrap() {
            if let Some(f) = filter
                && !f.matches(&r.attrs()).unwrap()
            {
                continue;
            }
            let s: f32 = r.vector().iter().zip(q).map(|(a, b)| a * b / norm).sum();
            all.push((c.to_string(), r.id().to_owned(), s));
        }
    }
    all.sort_by(|x, y| y.2.total_cmp(&x.2));
    all
}

fn check(store: &Store, rng: &mut Rng) {
    let filters = [
        None,
        Some(Filter::lt("n", 50)),
        Some(Filter::eq("tag", "t1").or(Filter::missing("tag"))),
        Some(Filter::glob("name", "x[0-4]*")),
    ];
    let scopes: [&[&str]; 4] = [&["a"], &["a", "c"], &["b", "c", "b"], &COLLECTIONS];
    for _ in 0..4 {
        let q: Vec<f32> = (0..DIM).map(|_| rng.unit_f32()).collect();
        for scope in scopes {
            for f in &filters {
                let k = 1 + rng.below(30);
                let mut search = Search::top(k);
                if scope != COLLECTIONS {
                    search = search.collections(scope.iter().copied());
                }
                if let Some(f) = f {
                    search = search.filter(f.clone());
                }
                let hits: Vec<Hit> = store.search(&q, &search).unwrap();
                let want = expected(store, &q, scope, f.as_ref());
                assert_eq!(
                    hits.len(),
                    k.min(want.len()),
                    "k={k} scope={scope:?} filter={f:?}"
                );
                for (i, h) in hits.iter().enumerate() {
                    // Scores agree to rounding; the hit must be a match with
                    // the score at that rank.
                    assert!(
                        (h.score - want[i].2).abs() < 1e-4,
                        "rank {i}: {h:?} vs {:?}, scope {scope:?} filter {f:?}",
                        want[i]
                    );
                    assert!(
                        want.iter().any(|w| w.0 == h.collection && w.1 == h.id),
                        "{h:?} is not a match"
                    );
                }
            }
        }
    }
}

#[test]
fn random_writes_then_searches_match_brute_force() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut rng = Rng::new(0x1234_5678_9ABC_DEF1);
    let opts = Options::new(DIM).no_auto_compact();
    let mut store = Store::open(dir.path(), opts.clone())?;
    for round in 0..40 {
        let c = COLLECTIONS[rng.below(3)];
        match rng.below(6) {
            0 => {
                let ids: Vec<String> = (0..5).map(|_| format!("x{}", rng.below(120))).collect();
                store.delete(c, &ids).ok();
            }
            1 if round % 7 == 0 => {
                store.delete_where(c, Filter::gt("n", 90)).ok();
            }
            _ => {
                let recs: Vec<Record> = (0..1 + rng.below(12))
                    .map(|_| {
                        let id = rng.below(120);
                        let mut r = Record::new(
                            format!("x{id}"),
                            (0..DIM).map(|_| rng.unit_f32()).collect::<Vec<_>>(),
                        )
                        .attr("n", rng.below(100) as i64)
                        .attr("name", format!("x{id}"));
                        if rng.below(3) > 0 {
                            r = r.attr("tag", format!("t{}", rng.below(3)));
                        }
                        r
                    })
                    .collect();
                store.upsert(c, &recs)?;
            }
        }
    }
    for c in COLLECTIONS {
        store.create_collection(c)?;
    }
    assert!(store.stats().dead_rows > 0, "the test exercises holes");
    check(&store, &mut rng);
    let before: Vec<Vec<Hit>> = (0..3)
        .map(|i| {
            store
                .search(&[1.0, i as f32, 0.5, -1.0, 0.2, 0.0], Search::top(25))
                .unwrap()
        })
        .collect();
    store.compact()?;
    check(&store, &mut rng);
    drop(store);
    let store = Store::open(dir.path(), opts)?;
    check(&store, &mut rng);
    let after: Vec<Vec<Hit>> = (0..3)
        .map(|i| {
            store
                .search(&[1.0, i as f32, 0.5, -1.0, 0.2, 0.0], Search::top(25))
                .unwrap()
        })
        .collect();
    assert_eq!(
        before, after,
        "compaction and reopen keep results, ties included"
    );
    Ok(())
}
