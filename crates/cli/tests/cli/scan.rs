//! `--scan int8` prints exactly what `--scan f32` prints: every query,
//! k of 1, 10 and 100, plain and filtered, on random, clustered,
//! near-duplicate and tiny-norm-difference data; and `stats --json`
//! reports the resident bytes.

use std::path::Path;

use nidus_testkit::Rng;

use crate::common::{expect_code, line, nidus, ok, s, stats, stderr};

/// A component in -0.5..0.5 from the shared seeded generator.
fn unit(rng: &mut Rng) -> f32 {
    rng.unit_f32() / 2.0
}

fn random_vector(rng: &mut Rng, dim: usize) -> Vec<f32> {
    (0..dim).map(|_| unit(rng)).collect()
}

const DIM: usize = 24;

fn data(kind: &str, rng: &mut Rng, i: usize) -> Vec<f32> {
    match kind {
        "random" => random_vector(rng, DIM),
        "clustered" => {
            let centre = random_vector(&mut Rng::new(1 + (i % 5) as u64 * 7919), DIM);
            centre.iter().map(|c| c + 0.03 * unit(rng)).collect()
        }
        "near-duplicate" => {
            let mut v = random_vector(&mut Rng::new(42), DIM);
            v[i % DIM] += 1e-4 * unit(rng);
            v
        }
        "tiny-norm-difference" => {
            let scale = 1.0 + (i % 32) as f32 * f32::EPSILON;
            random_vector(&mut Rng::new(43), DIM)
                .iter()
                .map(|x| x * scale)
                .collect()
        }
        other => unreachable!("{other}"),
    }
}

/// A store of `n` rows of `kind` (attribute `g` in 0..10), and a query file.
fn build(dir: &Path, kind: &str, n: usize) -> (String, String) {
    let mut rng = Rng::new(0x5EED ^ kind.len() as u64);
    let rows: String = (0..n)
        .map(|i| {
            line(
                &format!("r{i}"),
                &data(kind, &mut rng, i),
                &format!("{{\"g\": {}}}", i % 10),
            )
        })
        .collect();
    let input = dir.join(format!("{kind}.jsonl"));
    std::fs::write(&input, rows).unwrap();
    let store = dir.join(kind);
    ok(&["import", s(&store), s(&input)]);
    let queries: String = (0..12)
        .map(|i| {
            let v = if i % 3 == 0 {
                random_vector(&mut rng, DIM)
            } else {
                data(kind, &mut rng, i)
            };
            line(&format!("q{i}"), &v, "{}")
        })
        .collect();
    let qfile = dir.join(format!("{kind}-queries.jsonl"));
    std::fs::write(&qfile, queries).unwrap();
    (s(&store).to_owned(), s(&qfile).to_owned())
}

#[test]
fn int8_output_is_byte_identical_to_f32() {
    let dir = tempfile::tempdir().unwrap();
    for kind in [
        "random",
        "clustered",
        "near-duplicate",
        "tiny-norm-difference",
    ] {
        let (store, queries) = build(dir.path(), kind, 400);
        for k in ["1", "10", "100"] {
            for filter in [None, Some(r#"{"g": {"$lt": 3}}"#)] {
                let mut args = vec!["search", &store, "--queries", &queries, "--k", k];
                if let Some(f) = filter {
                    args.extend(["--filter", f]);
                }
                if k == "10" {
                    args.push("--attrs");
                }
                let run = |scan: &str| {
                    let mut a = args.clone();
                    a.extend(["--scan", scan]);
                    ok(&a)
                };
                let (f32_out, int8_out) = (run("f32"), run("int8"));
                assert_eq!(f32_out.lines().count(), 12, "{f32_out}");
                assert_eq!(f32_out, int8_out, "{kind} k={k} filter={filter:?}");
                // And the default is one of the two.
                assert_eq!(ok(&args), f32_out, "{kind} k={k} default");
            }
        }
        // One query at a time, too (the single-query path).
        let args = [
            "search",
            &store,
            "--queries",
            &queries,
            "--k",
            "10",
            "--batch",
            "1",
        ];
        let one = |scan: &str| {
            let mut a = args.to_vec();
            a.extend(["--scan", scan]);
            ok(&a)
        };
        assert_eq!(one("f32"), one("int8"), "{kind} --batch 1");
    }
}

#[test]
fn scan_flag_is_checked_and_stats_reports_resident_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = build(dir.path(), "random", 50);
    let o = nidus(&["search", &store, "--vector", "[1]", "--scan", "f16"]);
    expect_code(&o, 2);
    assert!(
        stderr(&o).contains("--scan must be f32 or int8"),
        "{}",
        stderr(&o)
    );
    let st = stats(Path::new(&store));
    let resident = crate::common::int(st.get("resident_bytes"));
    // At least the 50 f32 vectors.
    assert!(resident >= 50 * DIM as i64 * 4, "{st:?}");
}
