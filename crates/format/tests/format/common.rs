//! Shared helpers: random format data from the shared seeded RNG, sample
//! batches, file images, and a read-everything helper.

use nidus_format::{
    Attributes, Batch, End, Error, FRAME_HEADER_LEN, HEADER_LEN, Header, Op, Reader, Value,
    encode_frame,
};

/// The seeded generator every suite shares (xorshift64*, in nidus-testkit).
pub use nidus_testkit::Rng;

/// Random format values from the shared generator: strings over an
/// awkward alphabet, values of every kind, batches of every op kind.
pub trait RandomBatches {
    fn string(&mut self, max: usize) -> String;
    fn value(&mut self) -> Value;
    fn batch(&mut self, dimension: u32, max_ops: usize) -> Batch;
}

impl RandomBatches for Rng {
    fn string(&mut self, max: usize) -> String {
        const ALPHABET: &[&str] = &["a", "b", "z", "0", "_", "-", " ", "é", "語", "🦀"];
        let n = self.below(max + 1);
        (0..n)
            .map(|_| ALPHABET[self.below(ALPHABET.len())])
            .collect()
    }

    fn value(&mut self) -> Value {
        match self.below(7) {
            0 => Value::Null,
            1 => Value::Bool(self.one_in(2)),
            2 => Value::Int(self.next_u64() as i64),
            3 => Value::Float(f64::from_bits(self.next_u64())),
            4 => Value::Str(self.string(12)),
            5 => Value::List((0..self.below(4)).map(|_| self.string(6)).collect()),
            _ => Value::Float(self.below(1000) as f64 / 7.0),
        }
    }

    /// A random batch of every op kind, with its vectors.
    fn batch(&mut self, dimension: u32, max_ops: usize) -> Batch {
        let mut batch = Batch::default();
        for _ in 0..self.below(max_ops + 1) {
            let op = match self.below(6) {
                0 => Op::CreateCollection {
                    name: self.string(8),
                },
                1 => Op::DropCollection {
                    name: self.string(8),
                },
                2 => Op::SetMetadata {
                    collection: self.string(8),
                    key: self.string(8),
                    value: self.one_in(2).then(|| self.string(8)),
                },
                3 => Op::Delete {
                    collection: self.string(8),
                    id: self.string(8),
                },
                _ => {
                    let mut attrs = Attributes::new();
                    for _ in 0..self.below(4) {
                        attrs.insert(self.string(6), self.value());
                    }
                    for _ in 0..dimension {
                        batch.vectors.push(f32::from_bits(self.next_u64() as u32));
                    }
                    Op::Upsert {
                        collection: self.string(8),
                        id: self.string(8),
                        attrs,
                    }
                }
            };
            batch.ops.push(op);
        }
        batch
    }
}

/// Every op kind and every value kind, with empty and extreme values.
pub fn every_kind(dimension: u32) -> Vec<Batch> {
    let mut all = Attributes::new();
    all.insert("null".into(), Value::Null);
    all.insert("false".into(), Value::Bool(false));
    all.insert("true".into(), Value::Bool(true));
    all.insert("i_min".into(), Value::Int(i64::MIN));
    all.insert("i_max".into(), Value::Int(i64::MAX));
    all.insert("i_zero".into(), Value::Int(0));
    all.insert(
        "f_nan".into(),
        Value::Float(f64::from_bits(0x7ff8_dead_beef_0001)),
    );
    all.insert("f_neg_zero".into(), Value::Float(-0.0));
    all.insert("f_inf".into(), Value::Float(f64::NEG_INFINITY));
    all.insert("f_max".into(), Value::Float(f64::MAX));
    all.insert("f_tiny".into(), Value::Float(f64::from_bits(1)));
    all.insert("s_empty".into(), Value::Str(String::new()));
    all.insert("s_unicode".into(), Value::Str("naïve 語 🦀\0\n".into()));
    all.insert("l_empty".into(), Value::List(vec![]));
    all.insert("l_one_empty".into(), Value::List(vec![String::new()]));
    all.insert(
        "l_many".into(),
        Value::List((0..100).map(|i| format!("tag{i}")).collect()),
    );
    all.insert(String::new(), Value::Str("empty name".into()));
    let d = dimension as usize;
    let row = |seed: f32| (0..d).map(|i| seed + i as f32).collect::<Vec<f32>>();
    let mut specials = vec![f32::NAN, -0.0, f32::INFINITY, f32::MIN_POSITIVE, f32::MAX];
    specials.resize(d, 1.0);
    specials.truncate(d);
    vec![
        Batch {
            ops: vec![Op::CreateCollection {
                name: "docs".into(),
            }],
            vectors: vec![],
        },
        Batch {
            ops: vec![
                Op::Upsert {
                    collection: "docs".into(),
                    id: "all-values".into(),
                    attrs: all,
                },
                Op::Upsert {
                    collection: "docs".into(),
                    id: String::new(),
                    attrs: Attributes::new(),
                },
                Op::Upsert {
                    collection: "docs".into(),
                    id: "long".repeat(50),
                    attrs: Attributes::new(),
                },
            ],
            vectors: [row(0.5), specials, row(-3.0)].concat(),
        },
        Batch {
            ops: vec![
                Op::SetMetadata {
                    collection: "docs".into(),
                    key: "model".into(),
                    value: Some("e5-small".into()),
                },
                Op::SetMetadata {
                    collection: "docs".into(),
                    key: "old".into(),
                    value: None,
                },
                Op::SetMetadata {
                    collection: "docs".into(),
                    key: "empty".into(),
                    value: Some(String::new()),
                },
                Op::Delete {
                    collection: "docs".into(),
                    id: "nope".into(),
                },
            ],
            vectors: vec![],
        },
        // An empty batch is legal: no ops, no rows.
        Batch::default(),
        Batch {
            ops: vec![Op::DropCollection {
                name: "docs".into(),
            }],
            vectors: vec![],
        },
    ]
}

/// A file image: header then one frame per batch; also the frame offsets.
pub fn image(header: &Header, batches: &[Batch]) -> (Vec<u8>, Vec<u64>) {
    let mut bytes = header.encode().to_vec();
    let mut offsets = Vec::new();
    for b in batches {
        offsets.push(bytes.len() as u64);
        encode_frame(b, header, &mut bytes).expect("encodable batch");
    }
    (bytes, offsets)
}

/// Reads everything: the batches, then the end report or the error that
/// stopped the reader. `known_len` passes the input length to the reader.
pub fn read_all(bytes: &[u8], known_len: bool) -> (Vec<Batch>, Result<End, Error>) {
    let len = known_len.then_some(bytes.len() as u64);
    let mut reader = match Reader::with_source(bytes, None, len) {
        Ok(r) => r,
        Err(e) => return (vec![], Err(e)),
    };
    let mut out = Vec::new();
    let mut batch = Batch::default();
    loop {
        match reader.next_into(&mut batch) {
            Ok(true) => out.push(batch.clone()),
            Ok(false) => {
                let end = reader.end().cloned().expect("end is set after Ok(false)");
                assert_eq!(end.valid_end(), reader.valid_end());
                return (out, Ok(end));
            }
            Err(e) => return (out, Err(e)),
        }
    }
}

/// Batches compare bit for bit (NaN payloads included), unlike
/// `PartialEq`: the encoding is canonical, so equal bytes mean equal batches.
pub fn same(header: &Header, a: &[Batch], b: &[Batch]) -> bool {
    a.len() == b.len() && image(header, a).0 == image(header, b).0
}

pub const FRAME_START: u64 = HEADER_LEN as u64;
pub const FRAME_HEAD: usize = FRAME_HEADER_LEN;
