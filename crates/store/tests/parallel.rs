//! Big batches take the two-thread paths: validation and normalization in
//! two halves, the vector copy beside the frame write, and the vector copy
//! beside the ops on open. These tests hold them to the one-thread result,
//! bit for bit and byte for byte, and to all-or-nothing refusal.

mod common;

use common::vector;
use nidus_store::{ErrorKind, Options, Record, Search, Store};

const DIM: usize = 64;
/// Rows in a batch big enough for the two-thread paths (over 2^18 floats).
const BIG: u64 = 4_200;

fn records(range: std::ops::Range<u64>) -> Vec<Record> {
    nidus_testkit::records(range, DIM)
}

fn all_vector_bits(store: &Store) -> anyhow::Result<Vec<(String, Vec<u32>)>> {
    Ok(store
        .records("docs")?
        .map(|r| {
            let bits = r.vector().iter().map(|x| x.to_bits()).collect();
            (r.id().to_owned(), bits)
        })
        .collect())
}

#[test]
fn one_thread_and_two_store_and_load_the_same_bits() -> anyhow::Result<()> {
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    for threads in [1, 2] {
        let dir = tempfile::tempdir()?;
        let mut store = Store::open(dir.path(), Options::new(DIM).threads(threads))?;
        store.upsert("docs", &records(0..BIG))?;
        store.upsert("docs", &records(BIG..BIG + 10))?;
        // Overwrites half of the first batch: dead rows in the buffer.
        store.upsert("docs", &records(BIG / 2..BIG / 2 + BIG))?;
        drop(store);
        files.push(std::fs::read(dir.path().join(nidus_format::DATA_FILE))?);
        dirs.push(dir);
    }
    assert!(files[0] == files[1], "the data files differ");
    let query = vector(999, DIM);
    let mut loaded = Vec::new();
    for threads in [1, 2] {
        let store = Store::open(dirs[0].path(), Options::new(DIM).threads(threads))?;
        assert_eq!(store.len(), (BIG / 2 + BIG) as usize);
        let hits = store.search(&query, Search::top(20))?;
        loaded.push((all_vector_bits(&store)?, hits));
    }
    assert_eq!(loaded[0].0, loaded[1].0);
    assert_eq!(loaded[0].1, loaded[1].1);
    // And what was loaded is what was written, normalized.
    let store = Store::open(dirs[1].path(), Options::new(DIM).read_only())?;
    let r = store.get("docs", "r7")?.expect("r7 is stored");
    let mut want = vector(7, DIM);
    let norm = want
        .iter()
        .map(|x| f64::from(*x).powi(2))
        .sum::<f64>()
        .sqrt();
    want.iter_mut()
        .for_each(|x| *x = (f64::from(*x) / norm) as f32);
    for (got, want) in r.vector.iter().zip(&want) {
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }
    Ok(())
}

#[test]
fn a_bad_record_in_either_half_of_a_big_batch_refuses_all_of_it() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut store = Store::open(dir.path(), Options::new(DIM).threads(2))?;
    store.upsert("docs", &records(0..10))?;
    let path = dir.path().join(nidus_format::DATA_FILE);
    let len_before = std::fs::metadata(&path)?.len();
    let cases: [(&str, Vec<usize>, &str); 4] = [
        ("NaN in the first half", vec![5], "\"b5\""),
        (
            "zero vector in the second half",
            vec![BIG as usize - 1],
            "b4199",
        ),
        (
            "both halves: the first half's error",
            vec![3_000, 7],
            "\"b7\"",
        ),
        ("empty id in the second half", vec![], ""),
    ];
    for (what, bad_rows, named) in cases {
        let mut batch: Vec<Record> = (0..BIG)
            .map(|i| Record::new(format!("b{i}"), vector(i + 50, DIM)))
            .collect();
        for &row in &bad_rows {
            batch[row].vector = if row == BIG as usize - 1 {
                vec![0.0; DIM]
            } else {
                let mut v = vector(1, DIM);
                v[3] = f32::NAN;
                v
            };
        }
        if bad_rows.is_empty() {
            batch[BIG as usize - 2].id = String::new();
        }
        let e = store.upsert("docs", &batch).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{what}: {e}");
        assert!(e.to_string().contains(named), "{what}: {e}");
        assert_eq!(store.len(), 10, "{what}");
        assert_eq!(std::fs::metadata(&path)?.len(), len_before, "{what}");
        assert!(store.get("docs", "b8")?.is_none(), "{what}");
    }
    // A wrong dimension in the second half: its own error kind.
    let mut batch = records(200..200 + BIG);
    batch[BIG as usize - 3].vector.pop();
    let e = store.upsert("docs", &batch).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::DimensionMismatch, "{e}");
    assert_eq!(std::fs::metadata(&path)?.len(), len_before);
    // Nothing of the refused batches lingers: a good one lands whole.
    store.upsert("docs", &records(100..100 + BIG))?;
    assert_eq!(store.len(), 10 + BIG as usize);
    let top = store.search(&vector(150, DIM), Search::top(1))?;
    assert_eq!(top[0].id, "r150");
    drop(store);
    assert_eq!(
        Store::open(dir.path(), Options::new(DIM))?.len(),
        10 + BIG as usize
    );
    Ok(())
}

/// A store of three big batches, `r0..` in 0..3*BIG; returns the file's
/// path and the offsets where the second and third frames start.
fn three_big_frames(dir: &std::path::Path) -> anyhow::Result<(std::path::PathBuf, u64, u64)> {
    let mut store = Store::open(dir, Options::new(DIM))?;
    let path = dir.join(nidus_format::DATA_FILE);
    let mut starts = Vec::new();
    for b in 0..3 {
        starts.push(std::fs::metadata(&path)?.len());
        store.upsert("docs", &records(b * BIG..(b + 1) * BIG))?;
    }
    Ok((path, starts[1], starts[2]))
}

#[test]
fn damage_read_ahead_while_a_big_batch_is_applied_is_reported_as_in_order() -> anyhow::Result<()> {
    // Damage in the middle frame: found by the read-ahead thread while
    // the first batch is applied.
    let dir = tempfile::tempdir()?;
    let (path, second, _) = three_big_frames(dir.path())?;
    let mut bytes = std::fs::read(&path)?;
    bytes[second as usize + 100] ^= 0x40;
    std::fs::write(&path, &bytes)?;
    for threads in [1, 2] {
        let e = Store::open(dir.path(), Options::new(DIM).threads(threads)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
        assert_eq!(e.offset(), Some(second), "{e}");
        let store = Store::open(
            dir.path(),
            Options::new(DIM)
                .threads(threads)
                .read_only()
                .open_valid_prefix(),
        )?;
        assert_eq!(store.len(), BIG as usize, "only the first batch");
        assert!(matches!(
            store.open_report().end,
            nidus_store::FileEnd::Corrupt { offset, .. } if offset == second
        ));
    }
    // A torn last frame behind two big ones: cut by a writable open.
    let dir = tempfile::tempdir()?;
    let (path, _, third) = three_big_frames(dir.path())?;
    let len = std::fs::metadata(&path)?.len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)?
        .set_len(third + (len - third) / 2)?;
    let store = Store::open(dir.path(), Options::new(DIM).threads(2))?;
    assert_eq!(store.len(), 2 * BIG as usize);
    assert!(matches!(
        store.open_report().end,
        nidus_store::FileEnd::Torn { offset, .. } if offset == third
    ));
    drop(store);
    assert_eq!(std::fs::metadata(&path)?.len(), third);
    Ok(())
}

#[test]
fn a_bad_batch_gets_the_same_error_on_one_thread_or_two() -> anyhow::Result<()> {
    // A wrong-length vector early and an empty id late: checking in order
    // (ids and attributes of the whole batch, then vectors) finds the id.
    let mut batch = records(0..BIG);
    batch[5].vector.pop();
    batch[BIG as usize - 2].id = String::new();
    let mut errors = Vec::new();
    for threads in [1, 2] {
        let dir = tempfile::tempdir()?;
        let mut store = Store::open(dir.path(), Options::new(DIM).threads(threads))?;
        let e = store.upsert("docs", &batch).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "threads {threads}: {e}");
        errors.push(e.to_string());
    }
    assert_eq!(errors[0], errors[1]);
    Ok(())
}
