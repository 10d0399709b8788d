//! The reference model every suite compares the store with, and the model
//! check itself: random operations (upsert, overwrite, delete, delete_where,
//! drop and create collection, metadata, compact, reopen) and after each one
//! `get`, `count`, `records` and search top-k must equal a plain BTreeMap
//! model scored by brute force in f64.

use std::collections::BTreeMap;

use nidus::{Attributes, Filter, Options, Record, Search, Store, Value};

use super::support::{Rng, base_seed, soak, tempdir};

/// The unit vector the store keeps for `v` (SPEC.md §7.1: the norm
/// accumulated in f64, every component scaled by its inverse in f64, then
/// rounded to f32). The sum runs in the store's fixed order (eight lanes,
/// then the rest: `crates/store/src/validate.rs`), so the bits match.
pub fn unit(v: &[f32]) -> Vec<f32> {
    let mut lanes = [0f64; 8];
    let (chunks, rest) = v.as_chunks::<8>();
    for c in chunks {
        for (acc, &x) in lanes.iter_mut().zip(c) {
            *acc += f64::from(x) * f64::from(x);
        }
    }
    let mut sum: f64 = lanes.iter().sum();
    for &x in rest {
        sum += f64::from(x) * f64::from(x);
    }
    let inv = 1.0 / sum.sqrt();
    v.iter().map(|&x| (f64::from(x) * inv) as f32).collect()
}

/// One record of the model.
#[derive(Debug, Clone, PartialEq)]
pub struct RefRecord {
    /// The stored unit vector.
    pub vector: Vec<f32>,
    /// The attributes.
    pub attrs: Attributes,
    /// Write order: the store keeps insertion order, an overwrite moving
    /// the record to the end.
    pub seq: u64,
}

/// One collection of the model.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RefCollection {
    /// Records by id.
    pub records: BTreeMap<String, RefRecord>,
    /// The metadata map.
    pub metadata: BTreeMap<String, String>,
}

/// The whole store as a model.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reference {
    /// Collections by name.
    pub collections: BTreeMap<String, RefCollection>,
    seq: u64,
}

/// Filters the model can evaluate as well as turn into a store [`Filter`].
#[derive(Debug, Clone)]
pub enum Pred {
    /// A numeric attribute below a bound (ints and floats, SPEC.md §7.4).
    Lt(&'static str, f64),
    /// A numeric attribute at or above a bound.
    Ge(&'static str, f64),
    /// A string attribute equal to a value (or a list containing it).
    StrEq(&'static str, String),
    /// A numeric attribute below an integer bound (exact, even past 2^53).
    LtInt(&'static str, i64),
    /// The attribute is absent.
    Missing(&'static str),
    /// Both.
    And(Box<Pred>, Box<Pred>),
    /// Not.
    Not(Box<Pred>),
}

impl Pred {
    /// The store's filter for this predicate.
    pub fn filter(&self) -> Filter {
        match self {
            Pred::Lt(f, n) => Filter::lt(*f, *n),
            Pred::Ge(f, n) => Filter::ge(*f, *n),
            Pred::LtInt(f, n) => Filter::lt(*f, *n),
            Pred::StrEq(f, s) => Filter::eq(*f, s.as_str()),
            Pred::Missing(f) => Filter::missing(*f),
            Pred::And(a, b) => a.filter().and(b.filter()),
            Pred::Not(a) => !a.filter(),
        }
    }

    /// What the filter means, evaluated on the model.
    pub fn eval(&self, attrs: &Attributes) -> bool {
        use std::cmp::Ordering;
        // Exact comparison of an attribute with a float bound (no rounding
        // of big integers, SPEC.md §7.4); None when not a number or NaN.
        let cmp = |f: &str, bound: f64| -> Option<Ordering> {
            match attrs.get(f)? {
                Value::Int(i) => int_vs_float(*i, bound),
                Value::Float(x) => x.partial_cmp(&bound),
                _ => None,
            }
        };
        match self {
            Pred::Lt(f, n) => cmp(f, *n) == Some(Ordering::Less),
            Pred::Ge(f, n) => matches!(cmp(f, *n), Some(Ordering::Greater | Ordering::Equal)),
            Pred::LtInt(f, n) => match attrs.get(*f) {
                Some(Value::Int(i)) => i < n,
                Some(Value::Float(x)) => int_vs_float(*n, *x) == Some(Ordering::Greater),
                _ => false,
            },
            Pred::StrEq(f, s) => match attrs.get(*f) {
                Some(Value::Str(v)) => v == s,
                Some(Value::List(l)) => l.contains(s),
                _ => false,
            },
            Pred::Missing(f) => !attrs.contains_key(*f),
            Pred::And(a, b) => a.eval(attrs) && b.eval(attrs),
            Pred::Not(a) => !a.eval(attrs),
        }
    }
}

/// `i` compared with `f`, exactly.
fn int_vs_float(i: i64, f: f64) -> Option<std::cmp::Ordering> {
    use std::cmp::Ordering;
    if f.is_nan() {
        return None;
    }
    if f >= 9_223_372_036_854_775_808.0 {
        return Some(Ordering::Less);
    }
    if f < -9_223_372_036_854_775_808.0 {
        return Some(Ordering::Greater);
    }
    let t = f.trunc();
    Some(i.cmp(&(t as i64)).then(if f > t {
        Ordering::Less
    } else if f < t {
        Ordering::Greater
    } else {
        Ordering::Equal
    }))
}

impl Reference {
    /// Inserts or replaces `records` in `c`, creating it.
    pub fn upsert(&mut self, c: &str, records: &[Record]) {
        if records.is_empty() {
            return;
        }
        let coll = self.collections.entry(c.to_owned()).or_default();
        for r in records {
            self.seq += 1;
            coll.records.insert(
                r.id.clone(),
                RefRecord {
                    vector: unit(&r.vector),
                    attrs: r.attrs.clone(),
                    seq: self.seq,
                },
            );
        }
    }

    /// Deletes ids; returns how many existed (each once).
    pub fn delete(&mut self, c: &str, ids: &[String]) -> usize {
        let Some(coll) = self.collections.get_mut(c) else {
            return 0;
        };
        ids.iter()
            .filter(|id| coll.records.remove(id.as_str()).is_some())
            .count()
    }

    /// Deletes the records of `c` matching `pred`; returns how many.
    pub fn delete_where(&mut self, c: &str, pred: &Pred) -> usize {
        let Some(coll) = self.collections.get_mut(c) else {
            return 0;
        };
        let before = coll.records.len();
        coll.records.retain(|_, r| !pred.eval(&r.attrs));
        before - coll.records.len()
    }

    /// Live records in all collections.
    pub fn len(&self) -> usize {
        self.collections.values().map(|c| c.records.len()).sum()
    }

    /// Compares everything observable without a query: collections, counts,
    /// metadata, every record's id, order, vector bits and attributes (via
    /// `records`), and `get` of `probes` ids per collection plus a missing
    /// one. Returns the first difference.
    pub fn check(&self, store: &Store, probes: usize) -> Result<(), String> {
        let names: Vec<String> = store.collections().into_iter().map(|c| c.name).collect();
        let want: Vec<&String> = self.collections.keys().collect();
        if names.iter().collect::<Vec<_>>() != want {
            return Err(format!("collections {names:?}, model {want:?}"));
        }
        if store.len() != self.len() {
            return Err(format!("len {}, model {}", store.len(), self.len()));
        }
        for (name, coll) in &self.collections {
            let count = store.count(name).map_err(|e| e.to_string())?;
            if count != coll.records.len() {
                return Err(format!(
                    "count({name}) {count}, model {}",
                    coll.records.len()
                ));
            }
            let meta = store.metadata(name).map_err(|e| e.to_string())?;
            if meta != coll.metadata {
                return Err(format!(
                    "metadata({name}) {meta:?}, model {:?}",
                    coll.metadata
                ));
            }
            let mut order: Vec<(&String, &RefRecord)> = coll.records.iter().collect();
            order.sort_by_key(|(_, r)| r.seq);
            let got = store.records(name).map_err(|e| e.to_string())?;
            let mut n = 0;
            for (r, (id, want)) in got.zip(&order) {
                n += 1;
                if r.id() != id.as_str() {
                    return Err(format!(
                        "records({name}) #{n}: id {:?}, model {id:?}",
                        r.id()
                    ));
                }
                if !same_bits(r.vector(), &want.vector) {
                    return Err(format!(
                        "{name}/{id}: vector {:?}, model {:?}",
                        r.vector(),
                        want.vector
                    ));
                }
                if !same_attrs(&r.attrs(), &want.attrs) {
                    return Err(format!(
                        "{name}/{id}: attrs {:?}, model {:?}",
                        r.attrs(),
                        want.attrs
                    ));
                }
            }
            if n != order.len() {
                return Err(format!(
                    "records({name}) yielded {n}, model {}",
                    order.len()
                ));
            }
            for (id, want) in order.iter().step_by((order.len() / probes.max(1)).max(1)) {
                let got = store.get(name, id).map_err(|e| e.to_string())?;
                let ok = got.as_ref().is_some_and(|g| {
                    same_bits(&g.vector, &want.vector)
                        && same_attrs(&g.attrs, &want.attrs)
                        && g.id == **id
                });
                if !ok {
                    return Err(format!("get({name}, {id}) = {got:?}, model {want:?}"));
                }
            }
            if let Some(r) = store.get(name, "no such id").map_err(|e| e.to_string())? {
                return Err(format!("get of a missing id returned {r:?}"));
            }
        }
        Ok(())
    }

    /// Brute force: every live candidate of `scope` (all collections if
    /// `None`) matching `pred`, with its f64 cosine score, best first (ties
    /// in write order).
    pub fn ranked(
        &self,
        query: &[f32],
        scope: Option<&[String]>,
        pred: Option<&Pred>,
    ) -> Vec<(String, String, f64, u64)> {
        let q = unit(query);
        let mut all = Vec::new();
        for (name, coll) in &self.collections {
            if scope.is_some_and(|s| !s.contains(name)) {
                continue;
            }
            for (id, r) in &coll.records {
                if pred.is_some_and(|p| !p.eval(&r.attrs)) {
                    continue;
                }
                let score: f64 = r
                    .vector
                    .iter()
                    .zip(&q)
                    .map(|(&a, &b)| f64::from(a) * f64::from(b))
                    .sum();
                all.push((name.clone(), id.clone(), score, r.seq));
            }
        }
        all.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.3.cmp(&b.3)));
        all
    }

    /// Runs `search` (top `k`, optional scope and filter) on the store and
    /// checks it against the brute-force ranking: the right number of hits,
    /// each a live candidate with its score (within f32 rounding), best
    /// first, equal scores in write order, and every candidate that clearly
    /// beats the k-th score present.
    pub fn check_search(
        &self,
        store: &Store,
        query: &[f32],
        k: usize,
        scope: Option<&[String]>,
        pred: Option<&Pred>,
    ) -> Result<(), String> {
        const EPS: f64 = 1e-5;
        let mut search = Search::top(k);
        if let Some(s) = scope {
            search = search.collections(s.iter().cloned());
        }
        if let Some(p) = pred {
            search = search.filter(p.filter());
        }
        let hits = store.search(query, &search).map_err(|e| e.to_string())?;
        let ranked = self.ranked(query, scope, pred);
        let want = k.min(ranked.len());
        if hits.len() != want {
            return Err(format!(
                "search k={k} returned {} hits, model {want}",
                hits.len()
            ));
        }
        if want == 0 {
            return Ok(());
        }
        let by_key: BTreeMap<(&str, &str), (f64, u64)> = ranked
            .iter()
            .map(|(c, i, s, q)| ((c.as_str(), i.as_str()), (*s, *q)))
            .collect();
        let kth = ranked[want - 1].2;
        let mut seen = std::collections::BTreeSet::new();
        for (n, h) in hits.iter().enumerate() {
            let Some(&(score, seq)) = by_key.get(&(h.collection.as_str(), h.id.as_str())) else {
                return Err(format!(
                    "hit {n} {}/{} is not a live candidate",
                    h.collection, h.id
                ));
            };
            if !seen.insert((h.collection.as_str(), h.id.as_str())) {
                return Err(format!("hit {}/{} returned twice", h.collection, h.id));
            }
            if (f64::from(h.score) - score).abs() > EPS {
                return Err(format!(
                    "hit {}/{} scored {}, model {score}",
                    h.collection, h.id, h.score
                ));
            }
            if score < kth - EPS {
                return Err(format!(
                    "hit {}/{} ({score}) is below the k-th score {kth}",
                    h.collection, h.id
                ));
            }
            let want_attrs = &self.collections[&h.collection].records[&h.id].attrs;
            if !same_attrs(&h.attrs, want_attrs) {
                return Err(format!(
                    "hit {}/{} attrs {:?}, model {want_attrs:?}",
                    h.collection, h.id, h.attrs
                ));
            }
            if n > 0 {
                let prev = &hits[n - 1];
                if prev.score < h.score {
                    return Err(format!(
                        "hits out of order at {n}: {} then {}",
                        prev.score, h.score
                    ));
                }
                let prev_seq = by_key[&(prev.collection.as_str(), prev.id.as_str())].1;
                if prev.score.to_bits() == h.score.to_bits() && prev_seq > seq {
                    return Err(format!("equal scores not in write order at hit {n}"));
                }
            }
        }
        for (c, i, s, _) in &ranked {
            if *s > kth + EPS && !seen.contains(&(c.as_str(), i.as_str())) {
                return Err(format!(
                    "{c}/{i} (score {s}) beats the k-th score {kth} but is missing"
                ));
            }
        }
        Ok(())
    }
}

/// Equality of attributes with floats compared bit for bit (NaN included).
pub fn same_attrs(a: &Attributes, b: &Attributes) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|((ka, va), (kb, vb))| {
            ka == kb
                && match (va, vb) {
                    (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits(),
                    _ => va == vb,
                }
        })
}

/// Bitwise equality of two vectors.
pub fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

// ----- the model check ------------------------------------------------------

const DIM: usize = 6;
const COLLECTIONS: [&str; 3] = ["alpha", "beta", "gamma"];

/// Vectors reused on purpose, so that searches meet exact ties.
fn shared_vector(i: usize) -> Vec<f32> {
    (0..DIM)
        .map(|d| if d == i % DIM { 1.0 } else { 0.25 * (i as f32) })
        .collect()
}

fn random_record(rng: &mut Rng, step: usize) -> Record {
    let id = format!("r{}", rng.below(120));
    let vector: Vec<f32> = if rng.chance(0.15) {
        shared_vector(rng.below(4))
    } else {
        loop {
            let v: Vec<f32> = (0..DIM).map(|_| rng.unit_f32()).collect();
            if v.iter().any(|&x| x != 0.0) {
                break v;
            }
        }
    };
    let mut r = Record::new(id, vector)
        .attr("n", rng.below(100) as i64)
        .attr("step", step as i64)
        .attr("tag", *rng.pick(&["red", "green", "blue"]));
    if rng.chance(0.5) {
        let f = if rng.chance(0.05) {
            f64::NAN
        } else {
            f64::from(rng.unit_f32()) * 10.0
        };
        r = r.attr("f", f);
    }
    // Integers past 2^53, where an f64 cannot hold them all, as ints or
    // floats.
    let big = (1i64 << 53) + rng.below(8) as i64 - 4;
    r = if rng.chance(0.7) {
        r.attr("big", big)
    } else {
        r.attr("big", big as f64 + 0.5 * rng.below(3) as f64)
    };
    if rng.chance(0.3) {
        r = r.attr("opt", Value::Null);
    }
    if rng.chance(0.2) {
        r = r.attr("list", vec!["red".to_owned(), "x".to_owned()]);
    }
    r
}

fn random_pred(rng: &mut Rng) -> Pred {
    let leaf = |rng: &mut Rng| match rng.below(7) {
        5 => Pred::LtInt("big", (1i64 << 53) + rng.below(8) as i64 - 4),
        6 => Pred::Ge("big", (1u64 << 53) as f64 + 2.0 * rng.below(3) as f64 - 2.0),
        0 => Pred::Lt("n", rng.below(100) as f64),
        1 => Pred::Ge("f", f64::from(rng.unit_f32()) * 10.0),
        2 => Pred::StrEq("tag", rng.pick(&["red", "green", "blue"]).to_string()),
        3 => Pred::StrEq("list", "red".to_owned()),
        _ => Pred::Missing("opt"),
    };
    match rng.below(4) {
        0 => Pred::And(Box::new(leaf(rng)), Box::new(leaf(rng))),
        1 => Pred::Not(Box::new(leaf(rng))),
        _ => leaf(rng),
    }
}

fn random_scope(rng: &mut Rng, model: &Reference) -> Option<Vec<String>> {
    let names: Vec<String> = model.collections.keys().cloned().collect();
    match rng.below(3) {
        0 => None,
        _ if names.is_empty() => None,
        1 => Some(vec![rng.pick(&names).clone()]),
        _ => Some(names.into_iter().filter(|_| rng.chance(0.6)).collect()),
    }
}

/// Counts of what one model-check run did.
#[derive(Debug, Default)]
struct Tally {
    ops: usize,
    searches: usize,
    reopens: usize,
    compactions: usize,
}

fn run_model_check(seed: u64, steps: usize, tally: &mut Tally) {
    let dir = tempdir();
    let opts = || {
        let o = Options::new(DIM).durability(nidus::Durability::Deferred);
        // Half the seeds compact on their own as well, at tiny thresholds.
        if seed.is_multiple_of(2) {
            o.auto_compact(0.3, 8)
        } else {
            o.no_auto_compact()
        }
    };
    let mut store = Store::open(dir.path(), opts()).expect("open");
    // A reader beside the writer follows every step through refresh():
    // appended frames incrementally, compactions by reloading.
    let mut reader = Store::open(dir.path(), Options::existing().read_only()).expect("reader");
    let mut model = Reference::default();
    let mut rng = Rng::new(seed);
    let ctx = |step: usize, what: &str| format!("seed {seed} step {step} ({what})");
    for step in 0..steps {
        let c = *rng.pick(&COLLECTIONS);
        let what;
        match rng.below(20) {
            0..=7 => {
                let n = rng.range(1, 12);
                let recs: Vec<Record> = (0..n).map(|_| random_record(&mut rng, step)).collect();
                store.upsert(c, &recs).expect("upsert");
                model.upsert(c, &recs);
                what = "upsert";
            }
            8..=9 if model.collections.contains_key(c) => {
                let ids: Vec<String> = (0..rng.range(1, 8))
                    .map(|_| format!("r{}", rng.below(130)))
                    .collect();
                let got = store.delete(c, &ids).expect("delete");
                let mut unique = ids.clone();
                unique.sort();
                unique.dedup();
                let want = model.delete(c, &unique);
                assert_eq!(got, want, "{}", ctx(step, "delete count"));
                what = "delete";
            }
            10 if model.collections.contains_key(c) => {
                let p = random_pred(&mut rng);
                let got = store.delete_where(c, p.filter()).expect("delete_where");
                assert_eq!(
                    got,
                    model.delete_where(c, &p),
                    "{}: {p:?}",
                    ctx(step, "delete_where")
                );
                what = "delete_where";
            }
            11 if model.collections.contains_key(c) && rng.chance(0.3) => {
                store.drop_collection(c).expect("drop");
                model.collections.remove(c);
                what = "drop_collection";
            }
            12 => {
                let created = store.create_collection(c).expect("create");
                assert_eq!(
                    created,
                    !model.collections.contains_key(c),
                    "{}",
                    ctx(step, "create")
                );
                model.collections.entry(c.to_owned()).or_default();
                what = "create_collection";
            }
            13 if model.collections.contains_key(c) => {
                let k = format!("k{}", rng.below(3));
                if rng.chance(0.7) {
                    let v = format!("v{step}");
                    store.set_metadata(c, &k, &v).expect("set_metadata");
                    model.collections.get_mut(c).unwrap().metadata.insert(k, v);
                } else {
                    let had = store.remove_metadata(c, &k).expect("remove_metadata");
                    let want = model
                        .collections
                        .get_mut(c)
                        .unwrap()
                        .metadata
                        .remove(&k)
                        .is_some();
                    assert_eq!(had, want, "{}", ctx(step, "remove_metadata"));
                }
                what = "metadata";
            }
            14 => {
                store.compact().expect("compact");
                assert_eq!(store.stats().dead_rows, 0, "{}", ctx(step, "compact"));
                tally.compactions += 1;
                what = "compact";
            }
            15 => {
                drop(store);
                store = Store::open(dir.path(), opts()).expect("reopen");
                tally.reopens += 1;
                what = "reopen";
            }
            16 => {
                // A read-only open beside the writer sees every flushed batch.
                store.flush().expect("flush");
                let ro = Store::open(dir.path(), Options::existing().read_only())
                    .expect("read-only open");
                if let Err(e) = model.check(&ro, 8) {
                    panic!("{}: {e}", ctx(step, "read-only open"));
                }
                what = "read-only open";
            }
            _ => {
                what = "search only";
            }
        }
        tally.ops += 1;
        if let Err(e) = model.check(&store, 16) {
            panic!("{}: {e}", ctx(step, what));
        }
        reader
            .refresh()
            .unwrap_or_else(|e| panic!("{}: refresh: {e}", ctx(step, what)));
        if let Err(e) = model.check(&reader, 4) {
            panic!("{}: the refreshed reader: {e}", ctx(step, what));
        }
        for _ in 0..2 {
            let q: Vec<f32> = if rng.chance(0.2) {
                shared_vector(rng.below(4))
            } else {
                (0..DIM).map(|_| rng.unit_f32() + 0.01).collect()
            };
            let k = rng.range(1, 25);
            let scope = random_scope(&mut rng, &model);
            let pred = rng.chance(0.5).then(|| random_pred(&mut rng));
            if let Err(e) = model.check_search(&store, &q, k, scope.as_deref(), pred.as_ref()) {
                panic!(
                    "{}: search k={k} scope={scope:?} filter={pred:?}: {e}",
                    ctx(step, what)
                );
            }
            tally.searches += 1;
        }
    }
    drop(store);
    let reopened = Store::open(dir.path(), Options::existing().read_only()).expect("final reopen");
    model
        .check(&reopened, 1000)
        .unwrap_or_else(|e| panic!("seed {seed}, final reopen: {e}"));
}

#[test]
fn store_answers_equal_the_model_through_random_operations() {
    let runs = 8 * soak();
    let mut tally = Tally::default();
    for run in 0..runs {
        run_model_check(
            base_seed() ^ (0x4D4F_4445_4C00 + run as u64),
            250,
            &mut tally,
        );
    }
    eprintln!("model check: {runs} runs, {tally:?}");
    assert!(tally.compactions > 0 && tally.reopens > 0, "{tally:?}");
}
