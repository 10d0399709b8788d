#![allow(missing_docs)]
use nidus_format::{Attributes, Batch, Header, Op, Reader, Value, encode_frame};
const RECORDS: usize = 10_000;
const DIM: u32 = 384;

/// xorshift64*: a seeded, dependency-free source of test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// 10,000 upserts with realistic ids and two attributes, and 384 floats each.
fn batch() -> Batch {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
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
        .map(|_| (rng.next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5)
        .collect();
    Batch { ops, vectors }
}

fn main() {
    let header = Header::new(DIM).unwrap();
    let batch = batch();
    let mut image = header.encode().to_vec();
    encode_frame(&batch, &header, &mut image).unwrap();
    let mode = std::env::args().nth(1).unwrap_or_default();
    let frames = if mode == "stream" || mode == "sref" {
        8
    } else {
        1
    };
    let mut arena: Vec<f32> = Vec::new();
    let mut ids = 0usize;
    for _ in 1..frames {
        encode_frame(&batch, &header, &mut image).unwrap();
    }
    let mut read = Batch::default();
    let mut out = Vec::new();
    let mut best = f64::MAX;
    for _ in 0..30 {
        let t = std::time::Instant::now();
        if mode == "ref" || mode == "sref" {
            arena.clear();
            let mut reader = Reader::new(image.as_slice()).unwrap();
            while let Some(v) = reader.next_ref().unwrap() {
                v.append_vectors_to(&mut arena);
                for op in v.ops() {
                    if let nidus_format::OpRef::Upsert { id, .. } = op {
                        ids += id.len();
                    }
                }
            }
        } else if mode == "enc" {
            out.clear();
            encode_frame(&batch, &header, &mut out).unwrap();
        } else {
            let mut reader = Reader::new(image.as_slice()).unwrap();
            while reader.next_into(&mut read).unwrap() {}
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    std::hint::black_box(ids);
    println!(
        "{mode} {:.2} ms {:.2} GB/s",
        best * 1e3,
        image.len() as f64 / best / 1e9
    );
}
