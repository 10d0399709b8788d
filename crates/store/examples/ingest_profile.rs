//! Ingests 100k x 384 in batches of 10,000 a few times, timing each phase
//! of the run: for profiling the write path.
use std::time::Instant;

use nidus_store::{Durability, Options, Record, Store};

fn main() -> anyhow::Result<()> {
    let sync = std::env::args().nth(1).is_some_and(|s| s == "sync");
    let mut x = 1u64;
    let recs: Vec<Record> = (0..100_000)
        .map(|n| {
            let v: Vec<f32> = (0..384)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x >> 40) as f32 - 8e6
                })
                .collect();
            Record::new(format!("doc-{n}"), v)
                .attr("path", format!("src/{}/{n}.rs", n % 10))
                .attr("n", n as i64)
        })
        .collect();
    for _ in 0..5 {
        let dir = tempfile::tempdir()?;
        let d = if sync {
            Durability::Sync
        } else {
            Durability::Deferred
        };
        let mut s = Store::open(dir.path(), Options::new(384).durability(d))?;
        let t = Instant::now();
        for chunk in recs.chunks(10_000) {
            s.upsert("docs", chunk)?;
        }
        s.flush()?;
        let e = t.elapsed();
        println!(
            "{} rows: {:?} = {:.0} rows/s",
            s.len(),
            e,
            s.len() as f64 / e.as_secs_f64()
        );
    }
    Ok(())
}
