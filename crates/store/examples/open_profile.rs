//! Builds (once) and opens a store of N x 384, timing the open: for profiling.
use nidus_store::{Durability, Options, Record, Store};
use std::time::Instant;
fn main() -> anyhow::Result<()> {
    let rows: usize = std::env::args()
        .nth(1)
        .map_or(1_000_000, |s| s.parse().unwrap());
    let attrs = std::env::args().nth(2).is_none_or(|s| s != "noattrs");
    let dir = std::path::PathBuf::from(format!("/tmp/nidus-open-{rows}-{attrs}"));
    if !dir.exists() {
        let mut s = Store::open(&dir, Options::new(384).durability(Durability::Deferred))?;
        let mut x = 1u64;
        for b in 0..rows.div_ceil(10_000) {
            let recs: Vec<Record> = (0..10_000.min(rows - b * 10_000))
                .map(|i| {
                    let n = b * 10_000 + i;
                    let v: Vec<f32> = (0..384)
                        .map(|_| {
                            x ^= x << 13;
                            x ^= x >> 7;
                            x ^= x << 17;
                            (x >> 40) as f32 - 8e6
                        })
                        .collect();
                    let r = Record::new(format!("doc-{n}"), v);
                    if attrs {
                        r.attr("path", format!("src/{}/{n}.rs", n % 10))
                            .attr("n", n as i64)
                    } else {
                        r
                    }
                })
                .collect();
            s.upsert("docs", &recs)?;
        }
    }
    for _ in 0..3 {
        let t = Instant::now();
        let s = Store::open(&dir, Options::new(384).read_only())?;
        let e = t.elapsed();
        let bytes = s.stats().file_bytes as f64;
        println!(
            "open {} rows: {:?} = {:.2} GB/s",
            s.len(),
            e,
            bytes / e.as_secs_f64() / 1e9
        );
    }
    Ok(())
}
