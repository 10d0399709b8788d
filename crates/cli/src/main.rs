//! The `nidus` command-line tool (placeholder, filled in by its issue).
#![forbid(unsafe_code)]

fn main() {
    println!("nidus {}", env!("CARGO_PKG_VERSION"));
}
