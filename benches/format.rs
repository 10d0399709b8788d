//! Criterion benches of the format layer: the checksum against a safe-Rust
//! CRC32C (slice-by-8) and a plain copy, then encode and decode of one
//! batch of 10,000 records of 384 dimensions (owned `next_into` and
//! borrowed `next_ref`), and streaming a page-cached file through
//! `Reader::open` both ways.
//!
//! Run: `cargo bench --bench format`.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use nidus_format::{Appender, Attributes, Batch, Header, Op, OpRef, Reader, Value, encode_frame};
use nidus_testkit::Rng;

const RECORDS: usize = 10_000;
const DIM: u32 = 384;

/// 10,000 upserts with realistic ids and two attributes, and 384 floats each.
fn batch() -> Batch {
    let mut rng = Rng::new(1);
    let mut ops = Vec::with_capacity(RECORDS);
    for i in 0..RECORDS {
        let mut attrs = Attributes::new();
        attrs.insert(
            "path".into(),
            Value::Str(format!("docs/chapter-{}.md", i / 40)),
        );
        attrs.insert("chunk".into(), Value::Int((i % 40) as i64));
        ops.push(Op::Upsert {
            collection: "docs".into(),
            id: format!("doc-{i:08}"),
            attrs,
        });
    }
    let vectors = (0..RECORDS * DIM as usize)
        .map(|_| (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 - 0.5)
        .collect();
    Batch { ops, vectors }
}

/// CRC32C (Castagnoli), slice-by-8, safe Rust: the baseline the checksum
/// choice is measured against (SPEC.md §1.3).
struct Crc32c([[u32; 256]; 8]);

impl Crc32c {
    fn new() -> Self {
        let mut t = [[0u32; 256]; 8];
        for (i, slot) in t[0].iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    (c >> 1) ^ 0x82F6_3B78
                } else {
                    c >> 1
                };
            }
            *slot = c;
        }
        for k in 1..8 {
            for i in 0..256 {
                let prev = t[k - 1][i];
                t[k][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            }
        }
        Crc32c(t)
    }

    fn checksum(&self, bytes: &[u8]) -> u32 {
        let t = &self.0;
        let mut crc = !0u32;
        let (words, tail) = bytes.as_chunks::<8>();
        for w in words {
            let lo = u32::from_le_bytes([w[0], w[1], w[2], w[3]]) ^ crc;
            let hi = u32::from_le_bytes([w[4], w[5], w[6], w[7]]);
            crc = t[7][(lo & 0xff) as usize]
                ^ t[6][((lo >> 8) & 0xff) as usize]
                ^ t[5][((lo >> 16) & 0xff) as usize]
                ^ t[4][(lo >> 24) as usize]
                ^ t[3][(hi & 0xff) as usize]
                ^ t[2][((hi >> 8) & 0xff) as usize]
                ^ t[1][((hi >> 16) & 0xff) as usize]
                ^ t[0][(hi >> 24) as usize];
        }
        for &b in tail {
            crc = (crc >> 8) ^ t[0][((crc ^ u32::from(b)) & 0xff) as usize];
        }
        !crc
    }
}

fn checksum(c: &mut Criterion) {
    let crc = Crc32c::new();
    assert_eq!(
        crc.checksum(b"123456789"),
        0xE306_9283,
        "CRC32C check value"
    );
    let mut rng = Rng::new(0);
    let data: Vec<u8> = (0..16 << 20).map(|_| rng.next_u64() as u8).collect();
    let mut copy = vec![0u8; data.len()];
    let mut g = c.benchmark_group("format/checksum");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(30);
    g.bench_function(BenchmarkId::new("xxh64", "16MiB"), |b| {
        b.iter(|| nidus_format::checksum(black_box(&data)))
    });
    g.bench_function(BenchmarkId::new("crc32c_slice8_baseline", "16MiB"), |b| {
        b.iter(|| crc.checksum(black_box(&data)))
    });
    g.bench_function(BenchmarkId::new("memcpy_baseline", "16MiB"), |b| {
        b.iter(|| copy.copy_from_slice(black_box(&data)))
    });
    g.finish();
}

fn encode_decode(c: &mut Criterion) {
    let header = Header::new(DIM).unwrap();
    let batch = batch();
    let mut image = header.encode().to_vec();
    encode_frame(&batch, &header, &mut image).unwrap();
    let frame_len = (image.len() - nidus_format::HEADER_LEN) as u64;

    let mut g = c.benchmark_group("format/10k_x_384");
    g.throughput(Throughput::Bytes(frame_len));
    g.sample_size(30);
    let mut out = Vec::new();
    g.bench_function("encode", |b| {
        b.iter(|| {
            out.clear();
            encode_frame(black_box(&batch), &header, &mut out).unwrap();
        })
    });
    let mut read = Batch::default();
    g.bench_function("decode", |b| {
        b.iter(|| {
            let mut reader = Reader::new(black_box(image.as_slice())).unwrap();
            assert!(reader.next_into(&mut read).unwrap());
        })
    });
    let mut arena: Vec<f32> = Vec::new();
    g.bench_function("decode_borrowed", |b| {
        b.iter(|| {
            let mut reader = Reader::new(black_box(image.as_slice())).unwrap();
            let view = reader.next_ref().unwrap().unwrap();
            arena.clear();
            view.append_vectors_to(&mut arena);
            view.ops()
                .map(|op| match op {
                    OpRef::Upsert { id, .. } => id.len(),
                    _ => 0,
                })
                .sum::<usize>()
        })
    });
    let mut copy = vec![0u8; image.len()];
    g.bench_function("memcpy_baseline", |b| {
        b.iter(|| copy.copy_from_slice(black_box(&image)))
    });
    g.finish();
}

fn read_file(c: &mut Criterion) {
    // 8 frames of 10k x 384 (~125 MB) in a page-cached file: what the store's
    // open does, reusing one Batch.
    const FRAMES: usize = 8;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(nidus_format::DATA_FILE);
    let header = Header::new(DIM).unwrap();
    let batch = batch();
    let mut app = Appender::create(&path, header).unwrap();
    for _ in 0..FRAMES {
        app.append(&batch).unwrap();
    }
    let len = app.end();
    drop(app);

    let mut g = c.benchmark_group("format/read_file");
    g.throughput(Throughput::Bytes(len));
    g.sample_size(10);
    let mut read = Batch::default();
    g.bench_function("open_and_stream_8x10k_x_384", |b| {
        b.iter(|| {
            let mut reader = Reader::open(&path).unwrap();
            let mut n = 0;
            while reader.next_into(&mut read).unwrap() {
                n += 1;
            }
            assert_eq!(n, FRAMES);
        })
    });
    let mut arena: Vec<f32> = Vec::new();
    g.bench_function("open_and_stream_borrowed_8x10k_x_384", |b| {
        b.iter(|| {
            let mut reader = Reader::open(&path).unwrap();
            arena.clear();
            let mut ids = 0;
            while let Some(view) = reader.next_ref().unwrap() {
                view.append_vectors_to(&mut arena);
                ids += view.ops().count();
            }
            assert_eq!(ids, FRAMES * RECORDS);
        })
    });
    g.finish();
}

criterion_group!(benches, checksum, encode_decode, read_file);
criterion_main!(benches);
