#!/usr/bin/env python3
"""Exact search over nidus shards, fanned out on a Dask cluster.

Each shard is an ordinary nidus store (for example one of the N stores that
`nidus import STORE FILE --shard I/N` builds). One Dask task per shard runs
`nidus search SHARD --queries - --k K` on a worker that can read that shard;
the client gathers the per-shard top-k lists and merges them exactly (SPEC.md
§9.2): higher score first, equal scores in the order the shards were given,
then in each shard's own order. The output is JSONL in `nidus search`'s
format, with "store" (the shard's path as given) on every hit: byte for byte
what `nidus search S1 S2 ... --queries FILE --k K` prints on one machine.

Usage (from anywhere):

    python3 examples/distributed/fanout.py --shards s0 s1 s2 s3 \\
        --queries queries.jsonl --k 10 [--filter JSON] \\
        [--scheduler tcp://HOST:8786] [--nidus PATH] [--workers N] [--threads T]

Without --scheduler it starts a LocalCluster with one worker per core (or
--workers N). The nidus binary is --nidus, else `nidus` on PATH, else this
repository's target/release/nidus; on a cluster it must exist at that path on
every worker. Shard paths are paths on the workers: before submitting, the
client asks every worker which shards it can read and pins each shard's task
to those workers, so shards may live on a shared file system or on each
machine's own disk (docs/scale.md).

On first run the script creates its own virtual environment
(examples/distributed/.venv) and installs dask[distributed] from PyPI into it.
A summary (queries, shards, workers, seconds, queries/s, per-shard search
time) goes to stderr; --stats FILE also writes it as JSON.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
VENV = os.path.join(HERE, ".venv")
PACKAGES = ["dask[distributed]"]


# --------------------------------------------------------------------------
# environment
# --------------------------------------------------------------------------

def venv_python():
    return os.path.join(VENV, "bin", "python")


def in_venv():
    return os.path.realpath(sys.prefix) == os.path.realpath(VENV)


def ensure_venv():
    """Re-runs this script inside examples/distributed/.venv, creating it
    (with dask[distributed]) on first use."""
    if in_venv():
        return
    if not os.path.exists(venv_python()):
        print("fanout: creating", VENV, file=sys.stderr)
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
        subprocess.check_call([venv_python(), "-m", "pip", "install", "-q", *PACKAGES])
    os.execv(venv_python(), [venv_python(), os.path.abspath(sys.argv[0]), *sys.argv[1:]])


def find_nidus(flag):
    """--nidus, else `nidus` on PATH, else this repository's release build."""
    candidates = [flag] if flag else [shutil.which("nidus"),
                                      os.path.join(ROOT, "target", "release", "nidus")]
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return os.path.abspath(c)
    where = flag or "on PATH or at " + candidates[1]
    sys.exit(f"fanout: no nidus binary {where} (build it with `cargo build --release`)")


# --------------------------------------------------------------------------
# what runs on the workers
# --------------------------------------------------------------------------

def readable_shards(shards):
    """On a worker: which of `shards` this machine can read."""
    return [os.path.isfile(os.path.join(s, "data.nidus")) and os.access(s, os.R_OK)
            for s in shards]


def search_shard(nidus, shard, queries, fmt, k, filter_json, threads, batch):
    """On a worker: `nidus search SHARD` over the queries (sent on stdin).
    Returns (stdout text, seconds). A failing search raises, naming the shard."""
    cmd = [nidus, "search", shard, "--queries", "-", "--format", fmt, "--k", str(k)]
    if filter_json is not None:
        cmd += ["--filter", filter_json]
    if threads is not None:
        cmd += ["--threads", str(threads)]
    if batch is not None:
        cmd += ["--batch", str(batch)]
    start = time.perf_counter()
    done = subprocess.run(cmd, input=queries, capture_output=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"shard {shard}: nidus search exited with {done.returncode}: "
                           f"{done.stderr.decode(errors='replace').strip()}")
    return done.stdout.decode(), seconds


# --------------------------------------------------------------------------
# the exact merge, on raw JSON text
# --------------------------------------------------------------------------

def _skip_string(text, i):
    """`text[i]` is a quote: the index after the string it opens."""
    i += 1
    while text[i] != '"':
        i += 2 if text[i] == "\\" else 1
    return i + 1


def _value_end(text, i):
    """The index after the JSON value starting at `i` (compact JSON)."""
    if text[i] == '"':
        return _skip_string(text, i)
    if text[i] in "[{":
        depth = 0
        while True:
            c = text[i]
            if c == '"':
                i = _skip_string(text, i)
                continue
            if c in "[{":
                depth += 1
            elif c in "]}":
                depth -= 1
                if depth == 0:
                    return i + 1
            i += 1
    while i < len(text) and text[i] not in ",]}":
        i += 1
    return i


def members(obj):
    """The (raw key, raw value) pairs of a compact JSON object, as text, so
    that numbers and strings are printed back exactly as nidus wrote them."""
    out, i = [], 1
    while obj[i] != "}":
        key_end = _skip_string(obj, i)
        value_end = _value_end(obj, key_end + 1)
        out.append((obj[i:key_end], obj[key_end + 1:value_end]))
        i = value_end + 1 if obj[value_end] == "," else value_end
    return out


def elements(array):
    """The raw elements of a compact JSON array."""
    out, i = [], 1
    while array[i] != "]":
        end = _value_end(array, i)
        out.append(array[i:end])
        i = end + 1 if array[end] == "," else end
    return out


def parse_line(line):
    """(raw query label, [(score, hit members)]) of one output line."""
    top = dict(members(line))
    hits = []
    for hit in elements(top['"hits"']):
        m = members(hit)
        hits.append((float(dict(m)['"score"']), m))
    return top['"query"'], hits


def merge(per_shard_lines, shards, k):
    """One output line per query: the k best hits over all shards. A stable
    sort on the score over the lists concatenated in shard order keeps equal
    scores in shard order, then in each shard's order (SPEC.md §9.2). The
    scores are nidus's shortest-round-trip f32 texts: distinct f32 values
    give distinct, equally ordered floats, so comparing floats is exact."""
    out = []
    for q, lines in enumerate(zip(*per_shard_lines)):
        labels = set()
        pooled = []
        for shard, line in enumerate(lines):
            label, hits = parse_line(line)
            labels.add(label)
            pooled += [(score, shard, m) for score, m in hits]
        if len(labels) != 1:
            raise RuntimeError(f"query {q}: the shards disagree on its label: {sorted(labels)}")
        pooled.sort(key=lambda h: -h[0])
        texts = []
        for _, shard, m in pooled[:k]:
            parts = []
            for key, value in m:
                parts.append(f"{key}:{value}")
                if key == '"score"':
                    store = json.dumps(shards[shard], ensure_ascii=False)
                    parts.append(f'"store":{store}')
            texts.append("{" + ",".join(parts) + "}")
        out.append('{"query":' + labels.pop() + ',"hits":[' + ",".join(texts) + "]}\n")
    return out


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------

def query_format(path, flag):
    if flag:
        return flag
    ext = os.path.splitext(path)[1].lower()
    formats = {".jsonl": "jsonl", ".ndjson": "jsonl", ".npy": "npy", ".fvecs": "fvecs"}
    if ext not in formats:
        sys.exit(f"fanout: cannot tell the format of {path}; pass --format jsonl|npy|fvecs")
    return formats[ext]


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shards", nargs="+", required=True, metavar="SHARD",
                   help="shard stores, as paths on the workers; ties break in this order")
    p.add_argument("--queries", required=True, metavar="FILE",
                   help="query file (JSONL, npy or fvecs), read here and sent to the workers")
    p.add_argument("--format", choices=["jsonl", "npy", "fvecs"],
                   help="format of --queries (default: from its extension)")
    p.add_argument("--k", type=int, default=10, help="hits per query (default 10)")
    p.add_argument("--filter", metavar="JSON", help="nidus --filter where-clause")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="Dask scheduler (e.g. tcp://10.0.0.1:8786); default: a LocalCluster")
    p.add_argument("--nidus", metavar="PATH", help="the nidus binary (on every worker)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="LocalCluster workers (default: one per core)")
    p.add_argument("--threads", type=int, metavar="T",
                   help="nidus scan threads per task (default: 1 on a LocalCluster, "
                        "whose workers already take one core each; all cores on a cluster)")
    p.add_argument("--batch", type=int, metavar="B", help="nidus --batch (default 64)")
    p.add_argument("--stats", metavar="FILE", help="also write the timing summary as JSON")
    args = p.parse_args(argv)
    if args.k < 1:
        p.error("--k must be at least 1")
    if len(set(args.shards)) != len(args.shards):
        p.error("a shard is given twice: its hits would count twice")
    return args


def main(argv):
    args = parse_args(argv)
    ensure_venv()
    from dask.distributed import Client, LocalCluster

    nidus = find_nidus(args.nidus)
    fmt = query_format(args.queries, args.format)
    with open(args.queries, "rb") as f:
        queries = f.read()

    cluster = None
    if args.scheduler:
        client = Client(args.scheduler)
        threads = args.threads
    else:
        workers = args.workers or os.cpu_count() or 1
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
        threads = 1 if args.threads is None else args.threads
    try:
        # Which workers can read which shard: each task goes to one of them.
        readable = client.run(readable_shards, args.shards)
        placement = []
        for i, shard in enumerate(args.shards):
            holders = [w for w, ok in readable.items() if ok[i]]
            if not holders:
                sys.exit(f"fanout: no worker can read the shard {shard}")
            placement.append(holders)

        start = time.perf_counter()
        [sent] = client.scatter([queries], broadcast=True)
        futures = [
            client.submit(search_shard, nidus, shard, sent, fmt, args.k, args.filter,
                          threads, args.batch, workers=holders, allow_other_workers=False,
                          pure=False, key=f"nidus-search-{i}-{time.time_ns()}")
            for i, (shard, holders) in enumerate(zip(args.shards, placement))
        ]
        try:
            results = client.gather(futures)
        except Exception as e:  # a shard failed: the whole search fails, naming it
            sys.exit(f"fanout: error: {e}")
        gathered = time.perf_counter()
        per_shard = [text.splitlines() for text, _ in results]
        if len({len(lines) for lines in per_shard}) != 1:
            sys.exit("fanout: error: the shards answered different numbers of queries")
        lines = merge(per_shard, args.shards, args.k)
        merged = time.perf_counter()
        sys.stdout.write("".join(lines))
        sys.stdout.flush()

        n_workers = len(client.scheduler_info()["workers"])
        stats = {
            "queries": len(lines),
            "shards": len(args.shards),
            "workers": n_workers,
            "k": args.k,
            "seconds": merged - start,
            "queries_per_s": len(lines) / max(merged - start, 1e-9),
            "gather_seconds": gathered - start,
            "merge_seconds": merged - gathered,
            "shard_search_seconds": [round(s, 4) for _, s in results],
        }
        print("fanout: {queries} queries over {shards} shards on {workers} workers in "
              "{seconds:.3f} s ({queries_per_s:.1f} queries/s; merge {merge_seconds:.3f} s; "
              "per-shard nidus search s: {shard_search_seconds})".format(**stats),
              file=sys.stderr)
        if args.stats:
            with open(args.stats, "w") as f:
                json.dump(stats, f)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


if __name__ == "__main__":
    main(sys.argv[1:])
