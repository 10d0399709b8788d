//! `nidus stats STORE [--json]`.

use std::path::Path;

use anyhow::Result;

use super::write_stdout;
use crate::args::Matches;
use crate::db::{Db, Stats};
use crate::json;
use crate::progress::group_digits;

/// Runs `stats`.
pub fn run(m: &Matches) -> Result<()> {
    let db = Db::open_read_only(Path::new(&m.positionals[0]))?;
    let stats = db.stats()?;
    if m.switch("json") {
        outln!("{}", to_json(&stats));
    } else {
        write_stdout(&to_table(&stats))?;
    }
    Ok(())
}

/// `{"dimension": D, "records": N, "collections": {...}, "dead": N, "file_bytes": N,
/// "resident_bytes": N}`.
pub fn to_json(s: &Stats) -> String {
    let mut out = format!(
        "{{\"dimension\":{},\"records\":{},\"collections\":{{",
        s.dimension, s.records
    );
    for (i, (name, count)) in s.collections.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json::write_str(&mut out, name);
        out.push_str(&format!(":{count}"));
    }
    out.push_str(&format!(
        "}},\"dead\":{},\"file_bytes\":{},\"resident_bytes\":{}}}",
        s.dead, s.file_bytes, s.resident_bytes
    ));
    out
}

/// A readable table.
pub fn to_table(s: &Stats) -> String {
    let mut out = String::new();
    let row = |out: &mut String, k: &str, v: String| out.push_str(&format!("{k:<12} {v:>15}\n"));
    row(&mut out, "dimension", s.dimension.to_string());
    row(&mut out, "records", group_digits(s.records));
    row(&mut out, "dead rows", group_digits(s.dead));
    row(&mut out, "file bytes", group_digits(s.file_bytes));
    row(&mut out, "memory bytes", group_digits(s.resident_bytes));
    out.push_str(&format!("\n{:<24} {:>15}\n", "collection", "records"));
    for (name, count) in &s.collections {
        out.push_str(&format!("{name:<24} {:>15}\n", group_digits(*count)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_table() {
        let s = Stats {
            dimension: 4,
            records: 1234,
            collections: vec![("a\"b".into(), 1000), ("default".into(), 234)],
            dead: 5,
            file_bytes: 99,
            resident_bytes: 4096,
        };
        let j = to_json(&s);
        assert_eq!(
            j,
            "{\"dimension\":4,\"records\":1234,\"collections\":{\"a\\\"b\":1000,\"default\":234},\"dead\":5,\"file_bytes\":99,\"resident_bytes\":4096}"
        );
        assert!(json::parse(&j).is_ok());
        let t = to_table(&s);
        assert!(t.contains("records") && t.contains("1,234") && t.contains("default"));
    }
}
