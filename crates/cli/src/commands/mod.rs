//! The subcommands: their interface (flags, usage and help text) and the
//! dispatch from a parsed command line to the code that runs them.

use std::io::Write;

use anyhow::Result;

use crate::args::{self, CommandSpec, FlagSpec, Invocation, Matches};

/// Writes a line to stdout. A closed stdout (`nidus stats st | head -1`)
/// comes back as an I/O error, which `main` treats as a quiet success,
/// where `println!` would panic.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::commands::write_stdout(&format!("{}\n", format_args!($($arg)*)))?
    };
}

/// Writes `text` to stdout and flushes it.
pub fn write_stdout(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

pub mod bench;
pub mod compact;
pub mod delete;
pub mod demo;
pub mod export;
pub mod get;
pub mod import;
pub mod search;
pub mod stats;
pub mod verify;

/// The overview printed by `nidus --help`.
pub const OVERVIEW: &str = "\
nidus: a small embeddable vector store (exact cosine search over one append-only file)

Usage: nidus <COMMAND> [ARGS]

Commands:
  import   Import vectors from a JSONL, npy or fvecs file (creates the store)
  search   Nearest neighbours of vectors, a query file, or a stored record
  get      Print one record, or every record matching a filter
  delete   Delete records by id or by filter
  stats    Dimension, record counts per collection, dead rows, file size
  verify   Read and check every byte of a store
  compact  Rewrite the store without deleted or overwritten records
  export   Write records to a JSONL, npy or fvecs file
  bench    Measure the kernel and the store on generated data
  demo     Build a store from generated data and show every feature

Run 'nidus <COMMAND> --help' for the flags of a command, 'nidus --version' for the version.

Exit codes: 0 success, 1 failure, 2 usage error. Errors go to stderr as 'error: ...'
followed by their causes.";

/// Every subcommand's interface.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "import",
        summary: "Import vectors from a JSONL, npy or fvecs file; creates the store if it is missing.",
        usage: "import STORE FILE [--collection NAME] [--format jsonl|npy|fvecs] [--batch N]
              [--shard I/N]",
        help: "\
The dimension of a new store comes from the data. The format comes from FILE's extension
(.jsonl or .ndjson, .npy, .fvecs) unless --format says otherwise. FILE '-' reads standard
input (with --format), e.g. from an embedding script: embed.py | nidus import st - --format jsonl

JSONL: one object per line, {\"id\": \"...\", \"vector\": [...], \"attrs\": {...}}. \"attrs\" is
optional (values: null, true/false, integers, floats, strings, lists of strings); a line's
\"collection\" key, if any, is used when --collection is not given; other keys are ignored.
npy (2-D, C order, little-endian float32, '<f4') and fvecs rows get the ids \"0\", \"1\", ...

Every N rows are one atomic, durable batch: an interrupted import leaves whole batches only.
(When a file's \"collection\" keys change within a batch, each run of one collection is its
own atomic write.)
A bad line or row stops the import with its line or row number and what is wrong; the batches
before it stay. Nothing of a file whose size does not match its npy header or fvecs rows is
imported. While stderr is a terminal, a progress line shows rows, rows/s and the time left.
The file is streamed: at most two batches are in memory (one parsed while one is written).

Flags:
  --collection NAME   collection to import into (default: the line's \"collection\", else 'default')
  --format FORMAT     jsonl, npy or fvecs (default: from the extension)
  --batch N           rows per atomic, durable write (default 10000)
  --shard I/N         import only the rows of shard I of N (0 <= I < N): those whose
                      (collection, id) the shard function of SPEC.md §9.1 maps to I. The same
                      file imported with I = 0 .. N-1 gives N disjoint stores whose union is
                      the whole; search them together with 'nidus search S0 S1 ...'

Prints a summary line on stdout: rows imported, seconds, rows/s and MB/s (with --shard, also
how many rows of the file belong to other shards).",
        flags: &[
            FlagSpec::value("collection", "NAME"),
            FlagSpec::value("format", "FORMAT"),
            FlagSpec::value("batch", "N"),
            FlagSpec::value("shard", "I/N"),
        ],
        min_positionals: 2,
        max_positionals: Some(2),
    },
    CommandSpec {
        name: "search",
        summary: "Nearest neighbours by cosine similarity, exact.",
        usage: "search STORE [STORE ...] (--vector JSON_ARRAY | --queries FILE [--format jsonl|npy|fvecs]
              | --like ID) [--k K] [--collection NAME]... [--filter JSON] [--min-score S]
              [--threads T] [--batch B] [--attrs] [--scan f32|int8] [--allow-partial]",
        help: "\
Exactly one query source:
  --vector JSON_ARRAY  one query, e.g. --vector '[0.1, 0.2, 0.3]'
  --queries FILE       many queries: JSONL lines {\"id\": ..., \"vector\": [...]} (id optional),
                       or npy / fvecs rows; --format as for import; '-' is stdin
  --like ID            the vector of a stored record (looked up in the first --collection
                       given, or in 'default'); the record itself is among the hits

Flags:
  --k K               hits per query (default 10)
  --collection NAME   search this collection; repeat for several; default: all collections
  --filter JSON       only records whose attributes match, e.g. '{\"year\": {\"$gte\": 2020}}'
                      (see below)
  --min-score S       only hits scoring at least S (cosine, -1 to 1)
  --threads T         scan threads (default: all cores)
  --batch B           queries scanned together in one pass (default 64; 1 = each alone)
  --attrs             include each hit's attributes
  --scan f32|int8     what stays in memory to search with (default f32): the f32
                      vectors, or int8 codes (a quarter of the bytes) plus exact rescoring of
                      the few rows that can still reach the top k, read back from the data
                      file. The output is the same, byte for byte
  --allow-partial     with several stores: leave out a store that cannot be opened instead
                      of failing (see below)

Output: one JSON object per query on stdout, in query order:
  {\"query\": 0, \"hits\": [{\"collection\": \"default\", \"id\": \"a\", \"score\": 0.98}, ...]}
\"query\" is the 0-based query index, or the query's \"id\" from a JSONL query file. With --attrs
each hit also has \"attrs\": {...}. Hits are best first; ties in insertion order.

Several stores (shards, e.g. from 'nidus import --shard I/N') are searched together: each
store's exact top K, merged by score, is the exact top K of their union. Every flag applies to
each store. Each hit also has \"store\": the store's path as given. Ties on score are in the
order the stores were given, then in each store's insertion order. The stores must share a
dimension; a store given twice (the same directory) is refused; a --collection must exist in
at least one store (stores without it contribute no hits); --like takes the vector from the
first store holding the record. A store that cannot be opened (missing, unreadable, corrupt)
fails the whole search, naming it. With --allow-partial it is left out instead: a warning on
stderr names it, and every output line ends with \"partial\": true, \"failed_stores\": [...].
With one store the output has no \"store\" key, exactly as before.

Filters (JSON, Chroma / MongoDB style):
  {\"source\": \"man\"}                     equality
  {\"year\": {\"$gte\": 2020, \"$lt\": 2025}}  operators: $eq $ne $gt $gte $lt $lte $in $nin
                                        $exists $glob (glob: whole string; * within a
                                        /-segment, ** across, ? [...])
  {\"$and\": [...]}, {\"$or\": [...]}, {\"$not\": {...}}
Several keys in one object must all hold. null matches a present null, never an absent
attribute; $exists: false matches absent ones; $ne and $nin also match records without the
attribute. A list attribute equals a string it contains; $glob matches any of its elements.
Numbers compare numerically (2 equals 2.0); $gt/$gte/$lt/$lte match numeric attributes only.

Search opens the stores read-only and takes no lock: it works while another process writes.",
        flags: &[
            FlagSpec::value("vector", "JSON_ARRAY"),
            FlagSpec::value("queries", "FILE"),
            FlagSpec::value("format", "FORMAT"),
            FlagSpec::value("like", "ID"),
            FlagSpec::value("k", "K"),
            FlagSpec::repeated("collection", "NAME"),
            FlagSpec::value("filter", "JSON"),
            FlagSpec::value("min-score", "S"),
            FlagSpec::value("threads", "T"),
            FlagSpec::value("batch", "B"),
            FlagSpec::switch("attrs"),
            FlagSpec::value("scan", "f32|int8"),
            FlagSpec::switch("allow-partial"),
        ],
        min_positionals: 1,
        max_positionals: None,
    },
    CommandSpec {
        name: "get",
        summary: "Print one record, or every record matching a filter, as JSON lines.",
        usage: "get STORE ID [--collection NAME]\n       nidus get STORE --filter JSON [--collection NAME]",
        help: "\
Prints {\"collection\": ..., \"id\": ..., \"vector\": [...], \"attrs\": {...}} on stdout (the
import format); the vector is as stored (unit length). With an ID: that record, exit 1 with
'not found' when it does not exist. With --filter (same syntax as for search): one line per
matching record, in store order, nothing when none match.

Flags:
  --collection NAME   the collection (default 'default' for an ID; all collections for --filter)
  --filter JSON       print every record that matches instead of one id",
        flags: &[
            FlagSpec::value("collection", "NAME"),
            FlagSpec::value("filter", "JSON"),
        ],
        min_positionals: 1,
        max_positionals: Some(2),
    },
    CommandSpec {
        name: "delete",
        summary: "Delete records by id, or every record matching a filter.",
        usage: "delete STORE [--collection NAME] (ID... | --filter JSON)",
        help: "\
Deletes the given ids, or every record whose attributes match --filter (same syntax as for
search), in one atomic, durable write (one per collection for --filter without --collection).
Ids that do not exist are ignored; a collection that does not exist is an error.

Flags:
  --collection NAME   the collection (default 'default' for ids; all collections for --filter)
  --filter JSON       delete what matches instead of listed ids

Prints the number of records deleted on stdout.",
        flags: &[
            FlagSpec::value("collection", "NAME"),
            FlagSpec::value("filter", "JSON"),
        ],
        min_positionals: 1,
        max_positionals: None,
    },
    CommandSpec {
        name: "stats",
        summary: "Show the store's dimension, records per collection, dead rows and file size.",
        usage: "stats STORE [--json]",
        help: "\
Flags:
  --json   one JSON object instead of a table:
           {\"dimension\": D, \"records\": N, \"collections\": {\"name\": count, ...},
            \"dead\": N, \"file_bytes\": N, \"resident_bytes\": N}
           resident_bytes: the heap bytes the store keeps in memory, opened in the default
           scan mode (see search --scan)",
        flags: &[FlagSpec::switch("json")],
        min_positionals: 1,
        max_positionals: Some(1),
    },
    CommandSpec {
        name: "verify",
        summary: "Read and check every byte of a store.",
        usage: "verify STORE",
        help: "\
Checks the header and every frame's checksum, read-only and without a lock. Exit 0 and a
summary on stdout when the store is intact; otherwise exit 1 with the byte offset and the kind
of damage on stderr: a torn tail (the last write was cut short, e.g. by a crash; a writable
open truncates it) or corruption (bytes that fail their checksum, with valid data after them).
While a writer is appending, a torn tail may be its batch in flight: verify again once it is
done.",
        flags: &[],
        min_positionals: 1,
        max_positionals: Some(1),
    },
    CommandSpec {
        name: "compact",
        summary: "Rewrite the store without deleted or overwritten records.",
        usage: "compact STORE",
        help: "\
Writes the live records into a new file and atomically replaces the old one; a crash at any
point leaves either the old file or the new one, whole. Prints the file size before and after.",
        flags: &[],
        min_positionals: 1,
        max_positionals: Some(1),
    },
    CommandSpec {
        name: "export",
        summary: "Write records to a JSONL, npy or fvecs file.",
        usage: "export STORE FILE [--format jsonl|npy|fvecs] [--collection NAME]",
        help: "\
Vectors are written as stored (unit length), so 'export' then 'import' reproduces the records
bit-exactly. JSONL lines carry \"collection\", \"id\", \"vector\" and \"attrs\"; npy and fvecs hold
the vectors only (in the collection's record order) and need one collection: --collection, or
a store with a single collection. FILE is written whole or not at all (a temporary file is
renamed into place). FILE '-' writes JSONL or fvecs to standard output (with --format).

Flags:
  --format FORMAT     jsonl, npy or fvecs (default: from the extension)
  --collection NAME   export only this collection (default: all)",
        flags: &[
            FlagSpec::value("format", "FORMAT"),
            FlagSpec::value("collection", "NAME"),
        ],
        min_positionals: 2,
        max_positionals: Some(2),
    },
    CommandSpec {
        name: "bench",
        summary: "Measure the kernel and the store on generated data.",
        usage: "bench [--n N] [--dim D] [--k K] [--queries Q] [--batch B] [--threads T]
              [--scan f32|int8] [--json]",
        help: "\
Generates N clustered vectors, imports them durably into a temporary store in batches of B
rows, reopens it, and times single queries and batches of 64 queries through the store, then
the bare kernel on the same vectors and queries. Also measures the machine in the same run:
read bandwidth and FMA peak.

Flags:
  --n N         vectors (default 100000)
  --dim D       dimension (default 384)
  --k K         hits per query (default 10)
  --queries Q   single queries timed (default 200)
  --batch B     rows per durable write during ingest (default 10000)
  --threads T   scan threads (default: all cores)
  --scan MODE   the scan mode (f32 or int8) the unprefixed open, query and batch keys
                measure (default f32). Both modes are measured in every run, one after the
                other on the same store and queries, and their hits must be identical
  --json        one JSON object with the keys n, dim, k, threads, tier, ingest_vectors_per_s,
                open_gb_per_s, query_p50_ms, query_p95_ms, query_gb_per_s,
                batch_queries_per_s, batch_gflops, kernel_query_p50_ms,
                kernel_batch_queries_per_s, read_bandwidth_gb_per_s, fma_peak_gflops, scan,
                int8_open_gb_per_s, int8_query_p50_ms, int8_batch_queries_per_s,
                int8_rescored_rows_per_query (mean), int8_rescored_rows_p99,
                f32_resident_bytes, int8_resident_bytes (heap bytes after open)",
        flags: &[
            FlagSpec::value("n", "N"),
            FlagSpec::value("dim", "D"),
            FlagSpec::value("k", "K"),
            FlagSpec::value("queries", "Q"),
            FlagSpec::value("batch", "B"),
            FlagSpec::value("threads", "T"),
            FlagSpec::value("scan", "f32|int8"),
            FlagSpec::switch("json"),
        ],
        min_positionals: 0,
        max_positionals: Some(0),
    },
    CommandSpec {
        name: "demo",
        summary: "Build a store from generated data and show every feature, with timings.",
        usage: "demo",
        help: "\
Generates clustered vectors with attributes, imports them with progress into a store in a
temporary directory, reopens it, runs plain, filtered, scoped and batched searches, deletes,
compacts and verifies, printing what it did with timings and throughput. The directory is
removed at the end.",
        flags: &[],
        min_positionals: 0,
        max_positionals: Some(0),
    },
];

/// Parses `args` (without the program name) and runs the command.
/// Usage mistakes come back as a [`args::UsageError`] inside the error.
pub fn run(args: &[String]) -> Result<()> {
    match args::parse(args, COMMANDS, OVERVIEW)? {
        Invocation::Help(text) => {
            outln!("{text}");
            Ok(())
        }
        Invocation::Version => {
            outln!("nidus {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Invocation::Run { command, matches } => dispatch(command.name, &matches),
    }
}

/// The `--scan` flag of `search` and `bench`: `f32` or `int8` (absent:
/// the store's default).
pub fn scan_flag(m: &Matches) -> Result<nidus_store::Scan> {
    match m.value("scan") {
        None => Ok(nidus_store::Scan::default()),
        Some("f32") => Ok(nidus_store::Scan::F32),
        Some("int8") => Ok(nidus_store::Scan::Int8),
        Some(other) => Err(m
            .usage_error(format!("--scan must be f32 or int8, not '{other}'"))
            .into()),
    }
}

fn dispatch(name: &str, m: &Matches) -> Result<()> {
    match name {
        "import" => import::run(m),
        "search" => search::run(m),
        "get" => get::run(m),
        "delete" => delete::run(m),
        "stats" => stats::run(m),
        "verify" => verify::run(m),
        "compact" => compact::run(m),
        "export" => export::run(m),
        "bench" => bench::run(m),
        "demo" => demo::run(m),
        other => Err(m
            .usage_error(format!("command '{other}' has no implementation"))
            .into()),
    }
}

/// The usage line of a command, for usage-error messages.
pub fn usage_of(name: &str) -> Option<&'static str> {
    COMMANDS.iter().find(|c| c.name == name).map(|c| c.usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_has_help_naming_each_flag() {
        for c in COMMANDS {
            let help = c.help_text();
            assert!(help.contains(&format!("Usage: nidus {}", c.name)));
            for f in c.flags {
                assert!(
                    help.contains(&format!("--{}", f.name)),
                    "{}: --{} undocumented",
                    c.name,
                    f.name
                );
            }
            assert!(OVERVIEW.contains(&format!("  {} ", c.name)), "{}", c.name);
        }
    }
}
