//! Hostile files (SPEC.md §6.2 "Hostile input", §7.6): a seeded mutation
//! fuzzer over real store files made through the store API. Mutations: bit
//! flips, byte runs, truncations, zero tails, garbage tails, duplicated,
//! reordered, deleted and spliced frames (from a store of another
//! dimension), impossible and huge length fields, payload damage with the
//! checksum recomputed (so the decoder itself meets huge counts and bad
//! tags), crafted batches (NaN, infinite, zero and huge vectors, empty and
//! duplicate names, ops on missing collections), and header fields (magic,
//! versions, dimension, element type, reserved bytes, checksum).
//!
//! Each mutated file is opened read-only, read-only with the valid prefix,
//! writable, and writable with the valid prefix (each on its own copy), and
//! refreshed into from an intact prefix. Every time:
//!
//! - no panic (caught and reported with the case number), no hang (the
//!   parent kills a child silent for a minute and names the case), no
//!   over-allocation (the child's peak virtual memory may not jump);
//! - an error is `Corrupt` with an offset at or after the last intact frame
//!   boundary, naming the file; a failed writable open leaves the file's
//!   bytes untouched;
//! - a success reads at least every intact frame, and when it stops at an
//!   original frame boundary its state is exactly the model of the batches
//!   before it; the file ends clean or torn (corrupt only with the valid
//!   prefix option, whose writable open keeps the damaged bytes in a side
//!   file and cuts there); the store then searches, writes and reopens.
//!
//! The fuzzing runs in child processes (two at a time) so that a hang can
//! be killed and memory measured without the other suites' noise.
//!
//! A second fuzzer ([`content_child`]) damages what frames *contain* and
//! re-seals their checksums, so that only the content rules (SPEC.md §5.6)
//! and the payload grammar (§5.5) can catch it: a NaN or infinite
//! component, a scaled or zeroed row, attributes out of order, a
//! `row_count` that is not the number of upserts. Every case must be
//! refused as `Corrupt` at exactly the damaged frame's offset, by the
//! reader the store opens with (and, for every 25th case, by a read-only
//! open, an `open_valid_prefix` open that stops right before the frame, and
//! a refresh), with no panic and no over-allocation.

use std::fmt::Write as _;
use std::io::{Seek, SeekFrom, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::Duration;

use nidus::format::{Batch, Frame, Header, Op, Reader, checksum, encode_frame};
use nidus::{ErrorKind, FileEnd, Filter, Options, Record, Search, Store, Value};

use super::model::Reference;
use super::support::{Rng, base_seed, data_path, emit, env_u64, soak, spawn_child, tempdir};

/// A real store file and what each of its frames means.
struct Source {
    bytes: Vec<u8>,
    /// `ends[i]`: the file offset after the first `i` frames (`ends[0]` is
    /// the header's end).
    ends: Vec<usize>,
    /// `states[i]`: the model after the first `i` frames.
    states: Vec<Reference>,
}

impl Source {
    /// Start and end of frame `i` (0-based).
    fn frame(&self, i: usize) -> (usize, usize) {
        (self.ends[i], self.ends[i + 1])
    }
    fn frames(&self) -> usize {
        self.ends.len() - 1
    }
}

/// Builds a source store of `dim` through the API, logging each write
/// call that added a frame and the model after it.
fn build_source(dim: usize, seed: u64, compact: bool) -> Source {
    let tmp = tempdir();
    let mut store =
        Store::open(tmp.path(), Options::new(dim).no_auto_compact()).expect("source store");
    let mut model = Reference::default();
    let mut rng = Rng::new(seed);
    let mut ends = vec![nidus::format::HEADER_LEN];
    let mut states = vec![model.clone()];
    let vec = |rng: &mut Rng| -> Vec<f32> { (0..dim).map(|_| rng.unit_f32() + 0.001).collect() };
    for step in 0..14 {
        let c = ["docs", "notes"][step % 2];
        match step % 7 {
            0..=2 => {
                let recs: Vec<Record> = (0..rng.range(1, 12))
                    .map(|i| {
                        Record::new(format!("id{}", rng.below(20)), vec(&mut rng))
                            .attr("i", i as i64)
                            .attr("f", f64::from(rng.unit_f32()))
                            .attr("s", format!("text {step}"))
                            .attr("b", rng.chance(0.5))
                            .attr("z", Value::Null)
                            .attr("l", vec!["x".to_owned(), "yy".to_owned()])
                    })
                    .collect();
                store.upsert(c, &recs).unwrap();
                model.upsert(c, &recs);
            }
            3 if model.collections.contains_key(c) => {
                let ids: Vec<String> = (0..3).map(|_| format!("id{}", rng.below(20))).collect();
                store.delete(c, &ids).unwrap();
                model.delete(c, &ids);
            }
            4 if model.collections.contains_key(c) => {
                store.set_metadata(c, "m", &format!("v{step}")).unwrap();
                model
                    .collections
                    .get_mut(c)
                    .unwrap()
                    .metadata
                    .insert("m".into(), format!("v{step}"));
            }
            5 => {
                store.create_collection("empty").unwrap();
                model.collections.entry("empty".into()).or_default();
            }
            _ if model.collections.contains_key("notes") && step == 13 => {
                store.drop_collection("notes").unwrap();
                model.collections.remove("notes");
            }
            _ => {}
        }
        let len = std::fs::metadata(data_path(tmp.path())).unwrap().len() as usize;
        if len != *ends.last().unwrap() {
            ends.push(len);
            states.push(model.clone());
        }
    }
    if compact {
        store.compact().unwrap();
        drop(store);
        // A compacted file: re-derive the frames; the state is the model.
        let bytes = std::fs::read(data_path(tmp.path())).unwrap();
        let mut ends = vec![nidus::format::HEADER_LEN];
        while *ends.last().unwrap() < bytes.len() {
            let at = *ends.last().unwrap();
            let len = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
            ends.push(at + 12 + len);
        }
        // Only the whole file has a known state.
        let states = vec![Reference::default(); ends.len() - 1]
            .into_iter()
            .chain([model])
            .collect();
        return Source {
            bytes,
            ends,
            states,
        };
    }
    drop(store);
    let bytes = std::fs::read(data_path(tmp.path())).unwrap();
    assert_eq!(bytes.len(), *ends.last().unwrap());
    Source {
        bytes,
        ends,
        states,
    }
}

/// Recomputes the checksum of the frame at `at` in place.
fn reseal(bytes: &mut [u8], at: usize) {
    let len = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
    let end = (at + 12 + len).min(bytes.len());
    let sum = checksum(&bytes[at + 8..end]);
    bytes[at..at + 8].copy_from_slice(&sum.to_le_bytes());
}

fn reseal_header(bytes: &mut [u8]) {
    let sum = checksum(&bytes[..24]);
    bytes[24..32].copy_from_slice(&sum.to_le_bytes());
}

/// A batch no store API call would write, in a valid frame.
fn crafted_batch(rng: &mut Rng, dim: usize) -> Batch {
    let weird = [
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        0.0,
        f32::MAX,
        f32::MIN_POSITIVE,
        -0.0,
        1e-45,
    ];
    let mut vectors = Vec::new();
    let mut ops = Vec::new();
    for i in 0..rng.range(1, 4) {
        let kind = rng.below(3);
        for _ in 0..dim {
            vectors.push(match kind {
                0 => *rng.pick(&weird),
                1 => 0.0,
                _ => rng.unit_f32() * 1e30,
            });
        }
        let mut attrs = nidus::Attributes::new();
        attrs.insert(
            "f".into(),
            Value::Float(*rng.pick(&[f64::NAN, f64::INFINITY, -0.0, 1e308])),
        );
        let id = if rng.chance(0.3) {
            String::new()
        } else {
            format!("id{i}")
        };
        let coll = *rng.pick(&["", "docs", "notes", "fresh"]);
        ops.push(Op::Upsert {
            collection: coll.into(),
            id,
            attrs,
        });
    }
    for _ in 0..rng.below(3) {
        ops.push(match rng.below(4) {
            0 => Op::Delete {
                collection: "missing".into(),
                id: "x".into(),
            },
            1 => Op::SetMetadata {
                collection: "missing".into(),
                key: String::new(),
                value: Some("v".into()),
            },
            2 => Op::DropCollection {
                name: "docs".into(),
            },
            _ => Op::CreateCollection {
                name: String::new(),
            },
        });
    }
    // Ops in a random order (upserts must keep their rows in order).
    if rng.chance(0.5) {
        let by = rng.below(ops.len());
        ops.rotate_left(by);
        let mut rows = vectors
            .chunks(dim)
            .map(<[f32]>::to_vec)
            .collect::<Vec<_>>()
            .into_iter();
        let mut v = Vec::new();
        for op in &ops {
            if matches!(op, Op::Upsert { .. }) {
                v.extend(rows.next().unwrap());
            }
        }
        vectors = v;
    }
    Batch { ops, vectors }
}

/// Applies mutation number `kind` to `bytes` (a copy of `src`).
fn mutate(kind: usize, rng: &mut Rng, src: &Source, other: &Source, bytes: &mut Vec<u8>) -> String {
    let n = src.frames();
    let frame = |rng: &mut Rng| rng.below(n);
    let boundary = |rng: &mut Rng| src.ends[rng.below(n + 1)];
    let len = bytes.len();
    match kind {
        0 => {
            let mut what = String::from("bit flips at");
            for _ in 0..rng.range(1, 3) {
                let at = rng.below(len);
                bytes[at] ^= 1 << rng.below(8);
                let _ = write!(what, " {at}");
            }
            what
        }
        1 => {
            let at = rng.below(len);
            let run = rng.range(1, 8).min(len - at);
            let r = rng.below(256) as u8;
            let v = *rng.pick(&[0u8, 0xFF, r]);
            bytes[at..at + run].fill(v);
            format!("{run} bytes of {v:#x} at {at}")
        }
        2 => {
            let at = rng.below(len);
            bytes.truncate(at);
            format!("truncated to {at}")
        }
        3 => {
            let at = rng.below(len);
            let zeros = rng.range(1, len - at + 64);
            bytes.truncate(at);
            bytes.resize(at + zeros, 0);
            format!("cut at {at}, {zeros} zero bytes after")
        }
        4 => {
            let extra: Vec<u8> = (0..rng.range(1, 300))
                .map(|_| rng.below(256) as u8)
                .collect();
            let zero = rng.chance(0.3);
            bytes.extend(extra.iter().map(|&b| if zero { 0 } else { b }));
            format!(
                "{} {} bytes appended",
                extra.len(),
                if zero { "zero" } else { "random" }
            )
        }
        5 => {
            let (s, e) = src.frame(frame(rng));
            let at = boundary(rng);
            let copy = src.bytes[s..e].to_vec();
            bytes.splice(at..at, copy);
            format!("frame {s}..{e} duplicated at {at}")
        }
        6 => {
            let (i, j) = (frame(rng), frame(rng));
            let (i, j) = (i.min(j), i.max(j));
            if i == j {
                return "no-op swap".into();
            }
            let (a, b) = (src.frame(i), src.frame(j));
            let mut out = src.bytes[..a.0].to_vec();
            out.extend(&src.bytes[b.0..b.1]);
            out.extend(&src.bytes[a.1..b.0]);
            out.extend(&src.bytes[a.0..a.1]);
            out.extend(&src.bytes[b.1..]);
            *bytes = out;
            format!("frames {i} and {j} swapped")
        }
        7 => {
            let (s, e) = src.frame(frame(rng));
            bytes.drain(s..e);
            format!("frame {s}..{e} removed")
        }
        8 => {
            let k = rng.below(other.frames());
            let (s, e) = other.frame(k);
            let at = boundary(rng);
            bytes.splice(at..at, other.bytes[s..e].iter().copied());
            format!("a frame of another dimension spliced in at {at}")
        }
        9 => {
            let (s, e) = src.frame(frame(rng));
            let real = (e - s - 12) as u32;
            let v = *rng.pick(&[
                1 << 30,
                (1 << 30) + 4,
                1 << 31,
                u32::MAX,
                u32::MAX - 3,
                0,
                4,
                real + 4,
                real.saturating_sub(4),
                real + 1,
                (len - s) as u32,
            ]);
            bytes[s + 8..s + 12].copy_from_slice(&v.to_le_bytes());
            if rng.chance(0.3) {
                reseal(bytes, s);
            }
            format!("length of frame at {s} set to {v}")
        }
        10 => {
            // Payload damage under a valid checksum: the decoder's turn.
            let (s, e) = src.frame(frame(rng));
            let payload = s + 12..e;
            let what = match rng.below(3) {
                0 => {
                    let at = payload.start + 4 * rng.below((e - s - 12) / 4);
                    let r = rng.next_u64() as u32;
                    let v = *rng.pick(&[u32::MAX, 1 << 31, 1 << 30, 0x7FFF_FFFF, r, 0, 1]);
                    bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
                    format!("u32 at {at} set to {v}")
                }
                1 => {
                    let at = rng.range(payload.start, payload.end - 1);
                    bytes[at] ^= 1 << rng.below(8);
                    format!("bit flip at {at}")
                }
                _ => {
                    let at = rng.range(payload.start, payload.end - 1);
                    bytes[at] = *rng.pick(&[0, 6, 7, 8, 0xFF]);
                    format!("byte at {at} set")
                }
            };
            reseal(bytes, s);
            format!("{what}, frame at {s} resealed")
        }
        11 => {
            // A shorter length, resealed: the rest becomes a bogus frame.
            let (s, e) = src.frame(frame(rng));
            let real = e - s - 12;
            let short = 8 + 4 * rng.below((real - 8) / 4 + 1);
            bytes[s + 8..s + 12].copy_from_slice(&(short as u32).to_le_bytes());
            reseal(bytes, s);
            format!("frame at {s} resealed with length {short} of {real}")
        }
        12 => {
            let what = match rng.below(7) {
                0 => {
                    bytes[rng.below(8)] ^= 0x20;
                    "magic".to_owned()
                }
                1 => {
                    let major = *rng.pick(&[0u16, 2, u16::MAX]);
                    bytes[8..10].copy_from_slice(&major.to_le_bytes());
                    format!("major {major}")
                }
                2 => {
                    let minor = *rng.pick(&[1u16, 7, u16::MAX]);
                    bytes[10..12].copy_from_slice(&minor.to_le_bytes());
                    format!("minor {minor}")
                }
                3 => {
                    let d = u32::from_le_bytes(bytes[12..16].try_into().unwrap());
                    let nd = *rng.pick(&[0, 1, d - 1, d + 1, d * 2, 65536, 65537, u32::MAX]);
                    bytes[12..16].copy_from_slice(&nd.to_le_bytes());
                    format!("dimension {nd}")
                }
                4 => {
                    bytes[16] = *rng.pick(&[0u8, 2, 3, 255]);
                    format!("element type {}", bytes[16])
                }
                5 => {
                    bytes[17 + rng.below(7)] = 0xAB;
                    "reserved byte".to_owned()
                }
                _ => {
                    bytes[24 + rng.below(8)] ^= 1;
                    "header checksum".to_owned()
                }
            };
            if rng.chance(0.8) {
                reseal_header(bytes);
            }
            format!("header: {what}")
        }
        _ => {
            let dim = u32::from_le_bytes(src.bytes[12..16].try_into().unwrap());
            let header = Header::new(dim).unwrap();
            let batch = crafted_batch(rng, dim as usize);
            let mut frame = Vec::new();
            encode_frame(&batch, &header, &mut frame).expect("encodes");
            let at = boundary(rng);
            bytes.splice(at..at, frame);
            format!("crafted batch {batch:?} at {at}")
        }
    }
}

/// Everything a store shows, as text (NaN-safe).
fn dump(store: &Store) -> String {
    let mut out = String::new();
    for c in store.collections() {
        let _ = writeln!(out, "{} {:?}", c.name, c.metadata);
        for r in store.records(&c.name).unwrap() {
            let bits: Vec<u32> = r.vector().iter().map(|x| x.to_bits()).collect();
            let _ = writeln!(out, "  {} {bits:?} {:?}", r.id(), r.attrs());
        }
    }
    out
}

/// Uses an opened hostile store the way an application would.
fn exercise(store: &Store) {
    let dim = store.dimension();
    let q: Vec<f32> = (0..dim).map(|i| 1.0 + i as f32).collect();
    let n = store.len();
    let hits = store.search(&q, Search::top(10)).expect("search");
    assert_eq!(hits.len(), n.min(10), "search found {} of {n}", hits.len());
    for c in store.collections() {
        assert_eq!(store.count(&c.name).unwrap(), c.records);
        assert_eq!(store.records(&c.name).unwrap().count(), c.records);
        let f = Filter::gt("f", 0.0).or(Filter::exists("z"));
        store
            .search(&q, Search::top(5).collection(&c.name).filter(f))
            .expect("filtered search");
        for r in store.records(&c.name).unwrap().take(3) {
            let got = store
                .get(&c.name, r.id())
                .unwrap()
                .expect("a listed record");
            assert_eq!(got.id, r.id());
        }
    }
    store
        .search_batch(&[q.clone(), q], Search::top(3))
        .expect("search batch");
}

/// What a case found, for the tally.
#[derive(Default)]
struct Outcome {
    clean: u32,
    torn: u32,
    corrupt: u32,
    /// Per mutation kind: opened clean, torn, refused.
    by_kind: [[u32; 3]; 14],
}

fn peak_vm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmPeak:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn write_store(dir: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(data_path(dir), bytes).unwrap();
}

/// Opens one mutated file every way and checks the promises above.
fn check_case(bytes: &[u8], src: &Source, root: &Path, out: &mut Outcome) -> Result<(), String> {
    let path_str = |d: &Path| data_path(d).display().to_string();
    // The first byte that differs: every frame ending at or before it is intact.
    let p = bytes
        .iter()
        .zip(&src.bytes)
        .position(|(a, b)| a != b)
        .unwrap_or(bytes.len().min(src.bytes.len()));
    let intact = src.ends.iter().rposition(|&e| e <= p);
    let floor = intact.map_or(0, |i| src.ends[i]) as u64;
    // A state read up to an original boundary at or before `p` is the model.
    let check_state = |store: &Store, what: &str| -> Result<(), String> {
        let valid = store.open_report().valid_bytes;
        if valid < floor {
            return Err(format!(
                "{what}: read {valid} bytes, but the first {floor} are intact frames"
            ));
        }
        if valid as usize <= p
            && let Some(i) = src.ends.iter().position(|&e| e as u64 == valid)
        {
            let full = src.states.len() - 1;
            if i == full || src.states[i] != Reference::default() || i == 0 {
                src.states[i]
                    .check(store, 1000)
                    .map_err(|e| format!("{what}: prefix of {i} frames: {e}"))?;
            }
        }
        Ok(())
    };
    let check_err = |e: &nidus::Error, dir: &Path, what: &str| -> Result<(), String> {
        if e.kind() != ErrorKind::Corrupt {
            return Err(format!("{what}: error of kind {:?}: {e}", e.kind()));
        }
        let Some(off) = e.offset() else {
            return Err(format!("{what}: corruption without an offset: {e}"));
        };
        if off > bytes.len() as u64 || (off < floor && off != 0) {
            return Err(format!(
                "{what}: corruption reported at {off}, intact up to {floor}, {} bytes: {e}",
                bytes.len()
            ));
        }
        if off == 0 && floor > 0 {
            return Err(format!("{what}: the header is intact but was blamed: {e}"));
        }
        if !e.to_string().contains(&path_str(dir)) {
            return Err(format!("{what}: the error does not name the file: {e}"));
        }
        Ok(())
    };

    // A. Read-only.
    let a = root.join("a");
    write_store(&a, bytes);
    let ro = Store::open(&a, Options::existing().read_only());
    let ro_dump = match &ro {
        Ok(s) => {
            match s.open_report().end {
                FileEnd::Clean => out.clean += 1,
                FileEnd::TornTail { .. } => out.torn += 1,
                ref other => {
                    return Err(format!(
                        "read-only open ended {other:?} without open_valid_prefix"
                    ));
                }
            }
            check_state(s, "read-only open")?;
            exercise(s);
            Some((dump(s), s.open_report().valid_bytes))
        }
        Err(e) => {
            out.corrupt += 1;
            check_err(e, &a, "read-only open")?;
            None
        }
    };
    drop(ro);

    // B. Read-only, valid prefix.
    let vp = Store::open(&a, Options::existing().read_only().open_valid_prefix());
    let vp_dump = match &vp {
        Ok(s) => {
            check_state(s, "read-only valid-prefix open")?;
            exercise(s);
            let d = (dump(s), s.open_report().valid_bytes);
            if let Some(r) = &ro_dump
                && *r != d
            {
                return Err("the valid-prefix open differs from the plain one".into());
            }
            Some(d)
        }
        Err(e) => {
            check_err(e, &a, "read-only valid-prefix open")?;
            if floor > 0 {
                return Err(format!(
                    "valid-prefix open failed with an intact header: {e}"
                ));
            }
            None
        }
    };
    drop(vp);
    if std::fs::read(data_path(&a)).unwrap() != bytes {
        return Err("a read-only open changed the file".into());
    }

    // C. Writable.
    let c = root.join("c");
    write_store(&c, bytes);
    match (Store::open(&c, Options::existing()), &ro_dump) {
        (Ok(mut s), Some((d, valid))) => {
            if dump(&s) != *d {
                return Err("the writable open differs from the read-only one".into());
            }
            let now = std::fs::read(data_path(&c)).unwrap();
            if now != bytes[..*valid as usize] {
                return Err(format!(
                    "writable open left {} bytes, valid prefix {valid}",
                    now.len()
                ));
            }
            let dim = s.dimension();
            s.upsert("after", &[Record::new("x", vec![1.0; dim])])
                .map_err(|e| format!("write after open: {e}"))?;
            drop(s);
            let again = Store::open(&c, Options::existing().read_only())
                .map_err(|e| format!("reopen: {e}"))?;
            if again.open_report().end != FileEnd::Clean
                || again.get("after", "x").ok().flatten().is_none()
            {
                return Err("the write after a recovered open did not survive a reopen".into());
            }
        }
        (Ok(_), None) => {
            return Err("a writable open accepted what a read-only open refused".into());
        }
        (Err(e), Some(_)) => {
            return Err(format!(
                "a writable open refused what a read-only open accepted: {e}"
            ));
        }
        (Err(e), None) => {
            check_err(&e, &c, "writable open")?;
            if std::fs::read(data_path(&c)).unwrap() != bytes {
                return Err("a refused writable open changed the file".into());
            }
            if std::fs::read_dir(&c).unwrap().count() > 1 {
                // Only `data.nidus` (the lock file is gone with the store).
                let names: Vec<_> = std::fs::read_dir(&c)
                    .unwrap()
                    .map(|e| e.unwrap().file_name())
                    .collect();
                return Err(format!("a refused writable open left files: {names:?}"));
            }
        }
    }

    // D. Writable, valid prefix: cut at the damage, keep the bytes.
    let d = root.join("d");
    write_store(&d, bytes);
    match (
        Store::open(&d, Options::existing().open_valid_prefix()),
        &vp_dump,
    ) {
        (Ok(s), Some((dd, valid))) => {
            if dump(&s) != *dd {
                return Err("the writable valid-prefix open differs from the read-only one".into());
            }
            let valid = *valid as usize;
            let now = std::fs::read(data_path(&d)).unwrap();
            if now != bytes[..valid] {
                return Err(format!(
                    "writable valid-prefix open left {} bytes, valid {valid}",
                    now.len()
                ));
            }
            if let FileEnd::Corrupt {
                offset, saved_to, ..
            } = &s.open_report().end
            {
                let side = saved_to.as_ref().ok_or("damage not saved")?;
                if *offset as usize != valid || std::fs::read(side).unwrap() != bytes[valid..] {
                    return Err(format!(
                        "the side file {} does not hold the bytes from {offset} on",
                        side.display()
                    ));
                }
            }
            drop(s);
            let again = Store::open(&d, Options::existing())
                .map_err(|e| format!("reopen after the cut: {e}"))?;
            if again.open_report().end != FileEnd::Clean {
                return Err("not clean after a valid-prefix cut".into());
            }
        }
        (Err(e), None) => check_err(&e, &d, "writable valid-prefix open")?,
        (Ok(_), None) => {
            return Err("writable valid-prefix open accepted what read-only refused".into());
        }
        (Err(e), Some(_)) => return Err(format!("writable valid-prefix open failed: {e}")),
    }

    // E. Refresh from an intact prefix into the mutated bytes (same inode).
    if let Some(i) = intact {
        let e = root.join("e");
        write_store(&e, &bytes[..src.ends[i]]);
        let mut r = Store::open(&e, Options::existing().read_only())
            .map_err(|e| format!("intact prefix: {e}"))?;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(data_path(&e))
            .unwrap();
        f.seek(SeekFrom::Start(0)).unwrap();
        f.write_all(bytes).unwrap();
        f.set_len(bytes.len() as u64).unwrap();
        drop(f);
        match (r.refresh(), &ro_dump) {
            (Ok(_), Some((d, _))) => {
                if dump(&r) != *d {
                    return Err("refresh reached another state than an open".into());
                }
                exercise(&r);
            }
            (Err(err), None) => check_err(&err, &e, "refresh")?,
            (Ok(_), None) => return Err("refresh accepted what an open refused".into()),
            (Err(err), Some(_)) => {
                return Err(format!("refresh refused what an open accepted: {err}"));
            }
        }
    }
    Ok(())
}

/// Child role `hostile`: cases `NIDUS_HOSTILE_FROM .. +COUNT` of seed
/// `NIDUS_HOSTILE_SEED`; prints `case <i>` before each and a summary.
pub fn fuzz_child() {
    let seed = env_u64("NIDUS_HOSTILE_SEED");
    let from = env_u64("NIDUS_HOSTILE_FROM");
    let count = env_u64("NIDUS_HOSTILE_COUNT");
    let sources = [
        build_source(4, seed, false),
        build_source(3, seed ^ 1, false),
        build_source(5, seed ^ 2, true),
    ];
    let tmp = tempdir();
    let mut out = Outcome::default();
    let mut failures = 0;
    let mut baseline = 0;
    for i in from..from + count {
        let mut rng = Rng::for_pair(seed, i);
        let s = rng.below(sources.len());
        let (src, other) = (&sources[s], &sources[(s + 1) % sources.len()]);
        let mut bytes = src.bytes.clone();
        let mut what = Vec::new();
        let kind = rng.below(14);
        what.push(mutate(kind, &mut rng, src, other, &mut bytes));
        // Sometimes a second, byte-level mutation on top (the structural
        // ones need the original frame layout).
        if rng.chance(0.15) && !bytes.is_empty() {
            what.push(mutate(rng.below(5), &mut rng, src, other, &mut bytes));
        }
        emit(format_args!("case {i}"));
        let root = tmp.path().join(format!("{i}"));
        let before = [out.clean, out.torn, out.corrupt];
        let result = catch_unwind(AssertUnwindSafe(|| {
            check_case(&bytes, src, &root, &mut out)
        }));
        for (slot, (now, was)) in [out.clean, out.torn, out.corrupt]
            .iter()
            .zip(before)
            .enumerate()
        {
            out.by_kind[kind][slot] += now - was;
        }
        let _ = std::fs::remove_dir_all(&root);
        let err = match result {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e),
            Err(panic) => Some(format!(
                "PANIC: {}",
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default()
            )),
        };
        if let Some(e) = err {
            failures += 1;
            emit(format_args!(
                "fail case {i} (source {s}, {}): {e}",
                what.join("; ")
            ));
        }
        // Peak virtual memory may not jump: the files are a few KiB, so
        // any frame-sized (up to 1 GiB) reservation shows.
        let peak = peak_vm_kib();
        if i == from + 20.min(count - 1) {
            baseline = peak;
        } else if baseline > 0 && peak > baseline + 256 * 1024 {
            failures += 1;
            emit(format_args!(
                "fail case {i} (source {s}, {}): peak virtual memory {peak} KiB, baseline {baseline} KiB",
                what.join("; ")
            ));
            baseline = peak;
        }
    }
    emit(format_args!(
        "done {count} cases: {} clean, {} torn, {} refused, {failures} failures; [clean, torn, refused] by mutation kind: {:?}",
        out.clean, out.torn, out.corrupt, out.by_kind
    ));
    assert_eq!(failures, 0, "hostile cases failed");
}

#[test]
fn hostile_files_never_panic_hang_or_overallocate() {
    let seed = base_seed() ^ 0x0405_7113;
    let per_child = 1000 * soak() as u64;
    let children: Vec<_> = (0..2u64)
        .map(|c| {
            spawn_child(
                "hostile",
                &[
                    ("NIDUS_HOSTILE_SEED", seed.to_string()),
                    ("NIDUS_HOSTILE_FROM", (c * per_child).to_string()),
                    ("NIDUS_HOSTILE_COUNT", per_child.to_string()),
                ],
            )
        })
        .collect();
    let mut failures = Vec::new();
    let mut summaries = Vec::new();
    for child in children {
        let mut last = String::from("(none)");
        loop {
            match child.line(
                Duration::from_secs(90),
                &format!("hostile case after {last} (a hang?)"),
            ) {
                Some(l) if l.starts_with("case ") => last = l,
                Some(l) if l.starts_with("fail ") => failures.push(l),
                Some(l) if l.starts_with("done ") => summaries.push(l),
                Some(_) => {}
                None => break,
            }
        }
        let (ok, rest) = child.finish(Duration::from_secs(30));
        failures.extend(rest.into_iter().filter(|l| l.starts_with("fail ")));
        assert!(
            ok || !failures.is_empty(),
            "a hostile child died after {last}"
        );
    }
    eprintln!("hostile: {summaries:?}");
    assert!(
        failures.is_empty(),
        "{} hostile cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(summaries.len(), 2);
}

/// The upsert frames of `src` (those with at least one vector row), as
/// `(start, rows)`.
fn upsert_frames(src: &Source) -> Vec<(usize, usize)> {
    (0..src.frames())
        .map(|i| src.frame(i).0)
        .map(|s| {
            let rows = u32::from_le_bytes(src.bytes[s + 16..s + 20].try_into().unwrap());
            (s, rows as usize)
        })
        .filter(|&(_, rows)| rows > 0)
        .collect()
}

/// The byte ranges of the first upsert op's first two attributes (name and
/// value each) in the frame at `s` of a file of dimension `dim`.
fn first_two_attrs(bytes: &[u8], s: usize, dim: usize) -> Option<(usize, usize, usize)> {
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let rows = u32_at(s + 16);
    let mut at = s + 20 + rows * dim * 4;
    let end = s + 12 + u32_at(s + 8);
    // Skip ops up to the first upsert (tag 4).
    loop {
        if at >= end {
            return None;
        }
        let tag = bytes[at];
        at += 1;
        let skip_str = |at: &mut usize| *at += 4 + u32_at(*at);
        match tag {
            1 | 2 => skip_str(&mut at),
            3 => {
                skip_str(&mut at);
                skip_str(&mut at);
                let present = bytes[at];
                at += 1;
                if present == 1 {
                    skip_str(&mut at);
                }
            }
            4 => {
                skip_str(&mut at);
                skip_str(&mut at);
                break;
            }
            5 => {
                skip_str(&mut at);
                skip_str(&mut at);
            }
            _ => return None,
        }
    }
    if u32_at(at) < 2 {
        return None;
    }
    at += 4;
    let attr_end = |mut at: usize| {
        at += 4 + u32_at(at);
        let tag = bytes[at];
        at += 1;
        match tag {
            4 | 5 => at + 8,
            6 => at + 4 + u32_at(at),
            7 => {
                let n = u32_at(at);
                at += 4;
                for _ in 0..n {
                    at += 4 + u32_at(at);
                }
                at
            }
            _ => at,
        }
    };
    let second = attr_end(at);
    Some((at, second, attr_end(second)))
}

/// Damages the content of one upsert frame of `bytes` (a copy of `src`)
/// and re-seals its checksum. Returns the frame's offset, what was done,
/// and what the refusal must mention.
fn damage_content(
    rng: &mut Rng,
    src: &Source,
    dim: usize,
    bytes: &mut [u8],
) -> (usize, String, String) {
    let frames = upsert_frames(src);
    let &(s, rows) = rng.pick(&frames);
    let row = rng.below(rows);
    let row_at = s + 20 + row * dim * 4;
    let put = |bytes: &mut [u8], i: usize, v: f32| {
        bytes[row_at + 4 * i..row_at + 4 * i + 4].copy_from_slice(&v.to_le_bytes());
    };
    let get = |bytes: &[u8], i: usize| {
        f32::from_le_bytes(
            bytes[row_at + 4 * i..row_at + 4 * i + 4]
                .try_into()
                .unwrap(),
        )
    };
    let named_row = format!("vector row {row} (upsert {row} of the batch)");
    let (what, mention) = match rng.below(7) {
        k @ 0..=2 => {
            let i = rng.below(dim);
            let v = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY][k];
            put(bytes, i, v);
            (
                format!("component {i} of row {row} set to {v}"),
                format!("{named_row} breaks the content rules: component {i} is not finite"),
            )
        }
        3 => {
            let by = *rng.pick(&[2.0f32, 0.5, 1e20, 1e-20, 1.001, 0.999, -3.0, 1e-3]);
            for i in 0..dim {
                put(bytes, i, get(bytes, i) * by);
            }
            (format!("row {row} scaled by {by}"), named_row)
        }
        4 => {
            for i in 0..dim {
                put(bytes, i, if rng.chance(0.5) { 0.0 } else { -0.0 });
            }
            (
                format!("row {row} zeroed"),
                format!("{named_row} breaks the content rules: it is a zero vector"),
            )
        }
        5 => {
            let (a, b, e) = first_two_attrs(bytes, s, dim).expect("an upsert with attributes");
            let mut swapped = bytes[b..e].to_vec();
            swapped.extend_from_slice(&bytes[a..b]);
            bytes[a..e].copy_from_slice(&swapped);
            (
                "the first two attributes of the first upsert swapped".into(),
                "not in strictly ascending order".into(),
            )
        }
        _ => {
            let declared = if rng.chance(0.5) { rows + 1 } else { rows - 1 };
            bytes[s + 16..s + 20].copy_from_slice(&(declared as u32).to_le_bytes());
            (
                format!("row_count {rows} declared as {declared}"),
                String::new(),
            )
        }
    };
    reseal(bytes, s);
    (s, format!("frame at {s}: {what}, resealed"), mention)
}

/// Reads `bytes` as the store does (content rules on, two frames): every
/// frame before `at` must read, and the frame at `at` must be refused as
/// corrupt at `at` with `mention` in its reason.
fn check_content_refusal(bytes: &[u8], at: usize, mention: &str) -> Result<(), String> {
    let mut reader = Reader::with_source(bytes, None, Some(bytes.len() as u64))
        .map_err(|e| format!("header: {e}"))?
        .enforce_content_rules();
    let mut frames = [Frame::new(), Frame::new()];
    let mut k = 0;
    let err = loop {
        match reader.next_frame_into(&mut frames[k % 2]) {
            Ok(true) => k += 1,
            Ok(false) => return Err(format!("read to the end: {:?}", reader.end())),
            Err(e) => break e,
        }
    };
    let reason = match err.kind() {
        nidus::format::FormatErrorKind::Corrupt { reason } => reason,
        other => return Err(format!("refused as {other:?}, not corrupt: {err}")),
    };
    if err.offset() != Some(at as u64) || reader.valid_end() != at as u64 {
        return Err(format!(
            "refused at {:?} (valid to {}), not at the frame at {at}: {err}",
            err.offset(),
            reader.valid_end()
        ));
    }
    if !reason.contains(mention) {
        return Err(format!("the refusal does not say {mention:?}: {err}"));
    }
    // No buffer beyond what the input holds.
    let held = frames.iter().map(Frame::capacity).max().unwrap_or(0);
    if held > bytes.len() {
        return Err(format!(
            "a {held}-byte frame buffer for {} bytes",
            bytes.len()
        ));
    }
    Ok(())
}

/// The store's side of a content refusal: a read-only open fails with
/// `Corrupt` at `at` naming the file, an `open_valid_prefix` open stops
/// right before `at`, and a refresh from the intact prefix fails like the
/// open.
fn check_store_refusal(bytes: &[u8], at: usize, root: &Path) -> Result<(), String> {
    let dir = root.join("store");
    write_store(&dir, bytes);
    let file = data_path(&dir).display().to_string();
    let corrupt_at = |e: &nidus::Error, what: &str| -> Result<(), String> {
        if e.kind() != ErrorKind::Corrupt || e.offset() != Some(at as u64) {
            return Err(format!("{what}: {:?} at {:?}: {e}", e.kind(), e.offset()));
        }
        if !e.to_string().contains(&file) {
            return Err(format!("{what}: the error does not name the file: {e}"));
        }
        Ok(())
    };
    match Store::open(&dir, Options::existing().read_only()) {
        Ok(_) => return Err("a read-only open accepted the damaged frame".into()),
        Err(e) => corrupt_at(&e, "read-only open")?,
    }
    let store = Store::open(&dir, Options::existing().read_only().open_valid_prefix())
        .map_err(|e| format!("valid-prefix open: {e}"))?;
    let report = store.open_report();
    if report.valid_bytes != at as u64
        || !matches!(report.end, FileEnd::Corrupt { offset, .. } if offset == at as u64)
    {
        return Err(format!(
            "valid-prefix open: {report:?}, not stopped at {at}"
        ));
    }
    exercise(&store);
    drop(store);
    let e = root.join("refresh");
    write_store(&e, &bytes[..at]);
    let mut r = Store::open(&e, Options::existing().read_only())
        .map_err(|e| format!("intact prefix: {e}"))?;
    std::fs::write(data_path(&e), bytes).unwrap();
    match r.refresh() {
        Ok(n) => return Err(format!("refresh accepted the damaged frame ({n})")),
        Err(err) => {
            if err.kind() != ErrorKind::Corrupt || err.offset() != Some(at as u64) {
                return Err(format!(
                    "refresh: {:?} at {:?}: {err}",
                    err.kind(),
                    err.offset()
                ));
            }
        }
    }
    Ok(())
}

/// Child role `hostile-content`: cases `0..NIDUS_HOSTILE_COUNT` of seed
/// `NIDUS_HOSTILE_SEED`; prints `case <i>` every 500 cases, each failure,
/// and a summary.
pub fn content_child() {
    let seed = env_u64("NIDUS_HOSTILE_SEED");
    let count = env_u64("NIDUS_HOSTILE_COUNT");
    let sources = [
        (build_source(4, seed, false), 4),
        (build_source(3, seed ^ 1, false), 3),
        (build_source(5, seed ^ 2, true), 5),
    ];
    let tmp = tempdir();
    let mut failures = 0;
    let mut store_checks = 0;
    let mut baseline = 0;
    for i in 0..count {
        let mut rng = Rng::for_pair(seed, i);
        let (src, dim) = rng.pick(&sources);
        let mut bytes = src.bytes.clone();
        let (at, what, mention) = damage_content(&mut rng, src, *dim, &mut bytes);
        if i % 500 == 0 {
            emit(format_args!("case {i}"));
        }
        let root = tmp.path().join(format!("{i}"));
        let result = catch_unwind(AssertUnwindSafe(|| {
            check_content_refusal(&bytes, at, &mention)?;
            // The store path costs ~15 ms a case in a debug build: every
            // 25th case takes it (200 per default run, every damage kind).
            if i % 25 == 0 {
                store_checks += 1;
                check_store_refusal(&bytes, at, &root)?;
            }
            Ok::<(), String>(())
        }));
        let _ = std::fs::remove_dir_all(&root);
        let err = match result {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e),
            Err(_) => Some("PANIC".to_owned()),
        };
        if let Some(e) = err {
            failures += 1;
            emit(format_args!("fail case {i} ({what}): {e}"));
        }
        let peak = peak_vm_kib();
        if i == 20.min(count - 1) {
            baseline = peak;
        } else if baseline > 0 && peak > baseline + 256 * 1024 {
            failures += 1;
            emit(format_args!(
                "fail case {i} ({what}): peak virtual memory {peak} KiB, baseline {baseline} KiB"
            ));
            baseline = peak;
        }
    }
    emit(format_args!(
        "done {count} cases ({store_checks} also through the store), {failures} failures"
    ));
    assert_eq!(failures, 0, "content cases failed");
}

#[test]
fn content_damage_under_a_valid_checksum_is_refused_at_its_frame() {
    let seed = base_seed() ^ 0xC0_47E7;
    let count = 5000 * soak() as u64;
    let child = spawn_child(
        "hostile-content",
        &[
            ("NIDUS_HOSTILE_SEED", seed.to_string()),
            ("NIDUS_HOSTILE_COUNT", count.to_string()),
        ],
    );
    let mut failures = Vec::new();
    let mut summary = None;
    let mut last = String::from("(none)");
    loop {
        match child.line(
            Duration::from_secs(90),
            &format!("content case after {last} (a hang?)"),
        ) {
            Some(l) if l.starts_with("case ") => last = l,
            Some(l) if l.starts_with("fail ") => failures.push(l),
            Some(l) if l.starts_with("done ") => summary = Some(l),
            Some(_) => {}
            None => break,
        }
    }
    let (ok, rest) = child.finish(Duration::from_secs(30));
    failures.extend(rest.into_iter().filter(|l| l.starts_with("fail ")));
    eprintln!("hostile content: {summary:?}");
    assert!(
        failures.is_empty(),
        "{} content cases failed (seed {seed}):\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(ok, "the content child died after {last}");
    assert!(summary.is_some_and(|l| l.starts_with(&format!("done {count} cases"))));
}
