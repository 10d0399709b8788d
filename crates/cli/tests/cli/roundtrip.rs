//! Issue 15 end to end, through the built `nidus` binary: export then
//! import reproduces every vector bit for bit (so a second export is
//! byte-identical to the first) in JSONL, npy and fvecs; and a frame whose
//! content breaks the rules of SPEC.md §5.6 under a re-sealed checksum is
//! named by `nidus verify` and refused by every command that opens it.

use std::path::PathBuf;

use nidus_cli::formats::Format;
use nidus_format::{FRAME_HEADER_LEN, HEADER_LEN, checksum};
use nidus_testkit::Rng;

use crate::common::{exit_stderr, ok, s, write_file};

/// Roughly normal (sum of four uniforms in -0.5..0.5), so directions are
/// spread.
fn component(rng: &mut Rng) -> f32 {
    (0..4).map(|_| rng.unit_f32() / 2.0).sum()
}

/// Normalization as nidus 0.3 to 0.4 did it, with no fixed point: scale
/// by the f64 inverse norm, round once to f32.
fn scaled_once(v: &[f32]) -> Vec<f32> {
    let sum: f64 = v.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
    let inv = 1.0 / sum.sqrt();
    v.iter().map(|&x| (f64::from(x) * inv) as f32).collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

const DIM: usize = 96;

/// Rows of three kinds: random directions at random scales; unit vectors
/// with a few components moved by 1 to 3 ulps (norms of 1 plus or minus a
/// few ulps); and unit vectors that scaling once more would change (where
/// a normalization without a fixed point broke export then import).
fn data() -> (Vec<Vec<f32>>, usize) {
    let mut rng = Rng::new(0x15_15_15_15);
    let mut rows = Vec::new();
    for i in 0..600 {
        let scale = [1.0f32, 1e-3, 40.0, 1e20][i % 4];
        rows.push((0..DIM).map(|_| component(&mut rng) * scale).collect());
    }
    for _ in 0..300 {
        let v: Vec<f32> = (0..DIM).map(|_| component(&mut rng)).collect();
        let mut u = scaled_once(&v);
        for _ in 0..1 + rng.below(4) {
            let i = rng.below(DIM);
            let step = 1 + rng.below(3) as u32;
            u[i] = if rng.below(2) == 0 {
                f32::from_bits(u[i].to_bits() + step)
            } else {
                f32::from_bits(u[i].to_bits().saturating_sub(step))
            };
        }
        rows.push(u);
    }
    // Scaling a unit vector again moves it only if its squared norm is off
    // by more than about 2^-24, which takes a direction carried by a few
    // large components (as real embeddings often have).
    let mut unstable = 0;
    for _ in 0..20_000 {
        let mut v: Vec<f32> = (0..DIM).map(|_| component(&mut rng) * 0.02).collect();
        for _ in 0..2 {
            let i = rng.below(DIM);
            v[i] = component(&mut rng) * 2.0;
        }
        let u = scaled_once(&v);
        if bits(&scaled_once(&u)) != bits(&u) {
            rows.push(u);
            unstable += 1;
            if unstable == 100 {
                break;
            }
        }
    }
    (rows, unstable)
}

#[test]
fn export_import_export_is_byte_identical_in_every_format() {
    let (rows, unstable) = data();
    assert!(
        unstable >= 20,
        "only {unstable} rows that a second scaling would change: the test lost its teeth"
    );
    let dir = tempfile::tempdir().unwrap();
    for (ext, format, name) in [
        ("jsonl", Format::Jsonl, "jsonl"),
        ("npy", Format::Npy, "npy"),
        ("fvecs", Format::Fvecs, "fvecs"),
    ] {
        let input = dir.path().join(format!("in.{ext}"));
        write_file(&input, format, &rows);
        let a = dir.path().join(format!("a-{ext}"));
        ok(&["import", s(&a), s(&input), "--format", name]);
        let first = dir.path().join(format!("first.{ext}"));
        ok(&["export", s(&a), s(&first), "--collection", "default"]);
        let b = dir.path().join(format!("b-{ext}"));
        ok(&["import", s(&b), s(&first), "--format", name]);
        let second = dir.path().join(format!("second.{ext}"));
        ok(&["export", s(&b), s(&second), "--collection", "default"]);
        let (x, y) = (
            std::fs::read(&first).unwrap(),
            std::fs::read(&second).unwrap(),
        );
        assert!(!x.is_empty());
        if x != y {
            let at = x.iter().zip(&y).position(|(p, q)| p != q);
            panic!(
                "{ext}: the second export differs from the first (first difference at byte {at:?})"
            );
        }
        // The stores are identical too, frame for frame.
        let data = |d: &PathBuf| std::fs::read(d.join(nidus_format::DATA_FILE)).unwrap();
        assert!(data(&a) == data(&b), "{ext}: the re-imported store differs");
        ok(&["verify", s(&b)]);
    }
}

/// The frames of a data file: `(offset, row_count)`.
fn frames(bytes: &[u8]) -> Vec<(usize, usize)> {
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let mut at = HEADER_LEN;
    let mut out = Vec::new();
    while at < bytes.len() {
        out.push((at, word(at + FRAME_HEADER_LEN + 4)));
        at += FRAME_HEADER_LEN + word(at + 8);
    }
    out
}

#[test]
fn verify_names_a_resealed_bad_row_and_nothing_opens_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.npy");
    let (rows, _) = data();
    write_file(&input, Format::Npy, &rows[..40]);
    let pristine = dir.path().join("pristine");
    ok(&["import", s(&pristine), s(&input), "--batch", "16"]);
    let file = pristine.join(nidus_format::DATA_FILE);
    let bytes = std::fs::read(&file).unwrap();
    let (at, row_count) = *frames(&bytes)
        .iter()
        .filter(|(_, rows)| *rows > 0)
        .nth(1)
        .expect("a second upsert frame");
    assert!(row_count > 3);

    for (case, damage) in [
        (
            "a NaN",
            &(|row: &mut [f32]| row[5] = f32::NAN) as &dyn Fn(&mut [f32]),
        ),
        ("scaled by 1e20", &|row: &mut [f32]| {
            row.iter_mut().for_each(|x| *x *= 1e20)
        }),
        ("zeroed", &|row: &mut [f32]| row.fill(0.0)),
    ] {
        let store = dir
            .path()
            .join(format!("damaged-{}", case.replace(' ', "-")));
        std::fs::create_dir_all(&store).unwrap();
        let mut bad = bytes.clone();
        let row_at = at + FRAME_HEADER_LEN + 8 + 3 * DIM * 4;
        let mut row: Vec<f32> = bad[row_at..row_at + DIM * 4]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        damage(&mut row);
        for (cell, x) in bad[row_at..row_at + DIM * 4].chunks_exact_mut(4).zip(&row) {
            cell.copy_from_slice(&x.to_le_bytes());
        }
        // Re-seal: the checksum now vouches for the damage.
        let len = u32::from_le_bytes(bad[at + 8..at + 12].try_into().unwrap()) as usize;
        let sum = checksum(&bad[at + 8..at + FRAME_HEADER_LEN + len]);
        bad[at..at + 8].copy_from_slice(&sum.to_le_bytes());
        std::fs::write(store.join(nidus_format::DATA_FILE), &bad).unwrap();

        let err = exit_stderr(&["verify", s(&store)], 1);
        assert!(
            err.contains(&format!("corruption at byte offset {at}"))
                && err.contains("vector row 3 (upsert 3 of the batch)")
                && err.contains(&format!("the {at} bytes before it are intact")),
            "{case}: {err}"
        );
        let err = exit_stderr(
            &[
                "search",
                s(&store),
                "--vector",
                &format!("{:?}", vec![1.0; DIM]),
            ],
            1,
        );
        assert!(err.contains("vector row 3"), "{case}: search: {err}");
        let err = exit_stderr(&["stats", s(&store)], 1);
        assert!(err.contains(&format!("{at}")), "{case}: stats: {err}");
    }
}
