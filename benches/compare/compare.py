#!/usr/bin/env python3
"""Side-by-side exact-search comparison: nidus (through its CLI) against faiss
IndexFlatIP, numpy (matmul + argpartition), usearch (exact) and sqlite-vec
(vec0 KNN), on one dataset, in one run, on this machine.

Usage (from the repository root):

    python3 benches/compare/compare.py                  # 1M x 384, k = 10
    python3 benches/compare/compare.py --n 100000       # quicker
    python3 benches/compare/compare.py --data base.npy --queries q.npy

The script creates its own virtual environment (benches/compare/.venv) and
installs faiss-cpu, numpy, usearch and sqlite-vec from PyPI on first use; it
builds nidus with `cargo build --release`. It is not part of the build.

What it measures, for every engine on the same unit-normalized float32 data:
  recall@k      against a float64 ground truth (every engine must be exact)
  single p50    median latency of one query at a time, 1 and 2 threads
  batch q/s     queries per second for batches of 64 queries, 2 threads
  ingest v/s    vectors per second into the engine (nidus: durable, fsync'd)
  open s        time to open/load the stored data (engines that persist)
  peak MiB      peak resident memory of the engine's process

nidus runs as the `nidus` binary, as a user would run it, so its single-query
latency is the marginal cost of one more query in one `nidus search --batch 1`
process: (T(Q queries) - T(1 query)) / (Q - 1), which excludes process start
and open. Each Python engine runs in a child process of its own so that peak
memory is per engine.

Results go to benches/compare/out/: results.json, results.md (the table) and
chart.svg (the chart README.md shows).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
VENV = os.path.join(HERE, ".venv")
OUT = os.path.join(HERE, "out")
# apsw: an SQLite binding that can load extensions (many Python builds' sqlite3
# module cannot, and sqlite-vec is an extension).
PACKAGES = ["numpy", "faiss-cpu", "usearch", "sqlite-vec", "apsw"]


# --------------------------------------------------------------------------
# environment
# --------------------------------------------------------------------------

def venv_python():
    return os.path.join(VENV, "bin", "python")


def ensure_venv():
    if not os.path.exists(venv_python()):
        print("creating", VENV, file=sys.stderr)
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
        subprocess.check_call([venv_python(), "-m", "pip", "install", "-q", *PACKAGES])


def in_venv():
    return os.path.realpath(sys.prefix) == os.path.realpath(VENV)


def engine_env(threads):
    """The environment for one engine child: thread counts pinned, and the
    machine's OpenBLAS core-type override removed (it slows current numpy;
    see the workplace notes), for that child alone."""
    env = dict(os.environ)
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        env.pop(var, None)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    return env


def vm_hwm_mib(pid="self"):
    """The peak resident set of a live process, from /proc (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def run_child(args, env=None):
    """Run a child; return (stdout, seconds, peak RSS in MiB) of that child alone.

    Peak memory is sampled from /proc while the child runs: getrusage's
    ru_maxrss would not do, since Linux carries the parent's high-water mark
    into a forked child across exec, and this parent holds the whole dataset.
    """
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(args, stdout=out, env=env)
        peak = 0.0
        while proc.poll() is None:
            peak = max(peak, vm_hwm_mib(proc.pid) or 0.0)
            time.sleep(0.005)
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"{args[0]} {args[1:4]}... exited with {proc.returncode}")
        out.seek(0)
        return out.read(), seconds, peak


# --------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------

def make_dataset(args, workdir):
    import numpy as np

    if args.data:
        base = load_vectors(args.data)
        queries = load_vectors(args.queries) if args.queries else base[: args.nq].copy()
    else:
        # Clustered data: real embeddings are not uniform noise, and clusters
        # make near-ties (and so recall mistakes) likelier, not rarer.
        rng = np.random.default_rng(args.seed)
        centers = rng.standard_normal((256, args.dim), dtype=np.float32)
        labels = rng.integers(0, len(centers), size=args.n)
        base = np.empty((args.n, args.dim), dtype=np.float32)
        step = 100_000
        for lo in range(0, args.n, step):
            hi = min(args.n, lo + step)
            base[lo:hi] = centers[labels[lo:hi]] + 0.6 * rng.standard_normal(
                (hi - lo, args.dim), dtype=np.float32
            )
        queries = centers[rng.integers(0, len(centers), size=args.nq)] + 0.6 * rng.standard_normal(
            (args.nq, args.dim), dtype=np.float32
        )
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)
    base_path = os.path.join(workdir, "base.npy")
    query_path = os.path.join(workdir, "queries.npy")
    np.save(base_path, np.ascontiguousarray(base, dtype=np.float32))
    np.save(query_path, np.ascontiguousarray(queries, dtype=np.float32))
    return base_path, query_path


def load_vectors(path):
    import numpy as np

    if path.endswith(".npy"):
        return np.load(path).astype(np.float32)
    raw = np.fromfile(path, dtype=np.int32)
    dim = raw[0]
    return raw.reshape(-1, dim + 1)[:, 1:].view(np.float32).copy()


def ground_truth(base_path, query_path, k):
    """Exact top-k by float64 inner product of the (already unit) vectors."""
    import numpy as np

    base = np.load(base_path, mmap_mode="r")
    queries = np.load(query_path).astype(np.float64)
    best_scores = np.full((len(queries), k), -np.inf)
    best_ids = np.zeros((len(queries), k), dtype=np.int64)
    step = 200_000
    for lo in range(0, len(base), step):
        chunk = np.asarray(base[lo : lo + step], dtype=np.float64)
        scores = queries @ chunk.T
        scores = np.concatenate([best_scores, scores], axis=1)
        ids = np.concatenate(
            [best_ids, np.broadcast_to(np.arange(lo, lo + len(chunk)), (len(queries), len(chunk)))],
            axis=1,
        )
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        best_scores = np.take_along_axis(scores, top, axis=1)
        best_ids = np.take_along_axis(ids, top, axis=1)
    return best_ids


def recall(found, truth):
    hits = sum(len(set(map(int, f)) & set(map(int, t))) for f, t in zip(found, truth))
    return hits / float(truth.shape[0] * truth.shape[1])


# --------------------------------------------------------------------------
# engines in child processes: each prints one JSON object
# --------------------------------------------------------------------------

def timed_single(search_one, queries, repeats_cap=200):
    import numpy as np

    times = []
    for q in queries[:repeats_cap]:
        t0 = time.perf_counter()
        search_one(q)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1e3


def timed_batch(search_many, queries, batch=64):
    t0 = time.perf_counter()
    done = 0
    for lo in range(0, len(queries), batch):
        search_many(queries[lo : lo + batch])
        done += len(queries[lo : lo + batch])
    return done / (time.perf_counter() - t0)


def child_engine(engine, base_path, query_path, k, threads):
    import numpy as np

    base = np.load(base_path)
    queries = np.load(query_path)
    result = {"engine": engine, "threads": threads}
    if engine == "faiss":
        import faiss

        faiss.omp_set_num_threads(threads)
        index = faiss.IndexFlatIP(base.shape[1])
        t0 = time.perf_counter()
        index.add(base)
        result["ingest_per_s"] = len(base) / (time.perf_counter() - t0)
        result["p50_ms"] = timed_single(lambda q: index.search(q[None, :], k), queries)
        result["batch_qps"] = timed_batch(lambda qs: index.search(qs, k), queries)
        _, ids = index.search(queries, k)
    elif engine == "numpy":

        def top(qs):
            scores = qs @ base.T
            part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
            order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1)
            return np.take_along_axis(part, order, axis=1)

        result["ingest_per_s"] = None
        result["p50_ms"] = timed_single(lambda q: top(q[None, :]), queries)
        result["batch_qps"] = timed_batch(top, queries)
        ids = top(queries)
    elif engine == "usearch":
        from usearch.index import MetricKind, search

        def top(qs):
            return search(base, qs, k, MetricKind.IP, exact=True, threads=threads)

        result["ingest_per_s"] = None
        result["p50_ms"] = timed_single(lambda q: top(q), queries)
        result["batch_qps"] = timed_batch(top, queries)
        ids = top(queries).keys
    elif engine == "sqlite-vec":
        import apsw
        import sqlite_vec

        db = apsw.Connection(":memory:")
        db.enable_load_extension(True)
        db.load_extension(sqlite_vec.loadable_path())
        db.execute(
            f"CREATE VIRTUAL TABLE v USING vec0(embedding float[{base.shape[1]}] distance_metric=cosine)"
        )
        t0 = time.perf_counter()
        with db:
            db.cursor().executemany(
                "INSERT INTO v(rowid, embedding) VALUES (?, ?)",
                ((i, base[i].tobytes()) for i in range(len(base))),
            )
        result["ingest_per_s"] = len(base) / (time.perf_counter() - t0)
        sql = "SELECT rowid FROM v WHERE embedding MATCH ? AND k = ? ORDER BY distance"

        def one(q):
            return [r[0] for r in db.execute(sql, (q.tobytes(), k))]

        result["p50_ms"] = timed_single(one, queries, repeats_cap=30)
        few = queries[:64]
        t0 = time.perf_counter()
        ids = [one(q) for q in few]
        result["batch_qps"] = len(few) / (time.perf_counter() - t0)
        ids = ids + [one(q) for q in queries[64:]]
    else:
        raise SystemExit(f"unknown engine {engine}")
    result["ids"] = [list(map(int, row)) for row in ids]
    result["peak_mib"] = vm_hwm_mib()
    print(json.dumps(result))


# --------------------------------------------------------------------------
# nidus through its CLI
# --------------------------------------------------------------------------

def nidus_binary():
    subprocess.check_call(["cargo", "build", "--release", "-q", "-p", "nidus-cli"], cwd=ROOT)
    return os.path.join(ROOT, "target", "release", "nidus")


def nidus_search(nidus, store, query_path, k, threads, batch):
    out, seconds, rss = run_child(
        [nidus, "search", store, "--queries", query_path, "--k", str(k),
         "--threads", str(threads), "--batch", str(batch)]
    )
    ids = []
    for line in out.decode().splitlines():
        obj = json.loads(line)
        ids.append([int(h["id"]) for h in obj["hits"]])
    return ids, seconds, rss


def measure_nidus(base_path, query_path, k, workdir, nq):
    import numpy as np

    nidus = nidus_binary()
    store = os.path.join(workdir, "nidus-store")
    shutil.rmtree(store, ignore_errors=True)
    n = np.load(base_path, mmap_mode="r").shape[0]
    _, seconds, import_rss = run_child([nidus, "import", store, base_path, "--batch", "10000"])
    result = {"engine": "nidus", "ingest_per_s": n / seconds}
    # Open time: `nidus stats` opens the store read-only and prints counts.
    _, open_s, _ = run_child([nidus, "stats", store, "--json"])
    result["open_s"] = open_s
    one_query = os.path.join(workdir, "one-query.npy")
    np.save(one_query, np.load(query_path)[:1])
    peak = import_rss
    for threads in (1, 2):
        _, t_one, _ = nidus_search(nidus, store, one_query, k, threads, 1)
        ids, t_all, rss = nidus_search(nidus, store, query_path, k, threads, 1)
        peak = max(peak, rss)
        result[f"p50_ms_{threads}t"] = (t_all - t_one) / (nq - 1) * 1e3
        if threads == 2:
            result["ids"] = ids
    # A batch pass is short next to a process's open, so the batch run repeats
    # the queries until it makes at least 8 passes of 64: the noise of the
    # open then weighs little in the difference.
    repeats = max(1, -(-512 // nq))
    many = os.path.join(workdir, "many-queries.npy")
    np.save(many, np.tile(np.load(query_path), (repeats, 1)))
    _, t_one, _ = nidus_search(nidus, store, one_query, k, 2, 64)
    _, t_all, rss = nidus_search(nidus, store, many, k, 2, 64)
    result["batch_qps"] = (nq * repeats - 1) / (t_all - t_one)
    result["peak_mib"] = max(peak, rss)
    return result


# --------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------

def fmt(value, digits=1):
    if value is None:
        return "n/a"
    if isinstance(value, float) and value >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def write_table(rows, meta):
    cols = [
        ("engine", "engine"), ("recall", "recall@k"), ("p50_ms_1t", "single p50 ms (1 thread)"),
        ("p50_ms_2t", "single p50 ms (2 threads)"), ("batch_qps", "batch q/s (64, 2 threads)"),
        ("ingest_per_s", "ingest vectors/s"), ("open_s", "open s"), ("peak_mib", "peak MiB"),
    ]
    lines = [
        f"{meta['n']:,} x {meta['dim']}, k = {meta['k']}, {meta['nq']} queries; {meta['machine']}; {meta['date']}",
        "",
        "| " + " | ".join(title for _, title in cols) + " |",
        "|" + "---|" * len(cols),
    ]
    for row in rows:
        cells = []
        for key, _ in cols:
            value = row.get(key)
            cells.append(row["engine"] if key == "engine" else fmt(value, 3 if key == "recall" else 1))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_chart(rows, meta, path):
    """Two horizontal bar panels, drawn by hand so the script needs no plotting library."""
    panels = [("p50_ms_2t", "single-query p50, 2 threads (ms, lower is better)"),
              ("batch_qps", "batch throughput, 64 queries, 2 threads (q/s, higher is better)")]
    width, bar_h, gap, left = 760, 22, 8, 110
    height = 60 + len(panels) * (40 + len(rows) * (bar_h + gap))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="13">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="10" y="22" font-size="15" font-weight="bold">Exact search, {meta["n"]:,} x {meta["dim"]}, k = {meta["k"]} ({meta["machine"]})</text>']
    y = 45
    for key, title in panels:
        out.append(f'<text x="10" y="{y + 14}" font-weight="bold">{title}</text>')
        y += 26
        values = [r.get(key) or 0 for r in rows]
        top = max(values) or 1
        for row, value in zip(rows, values):
            w = (width - left - 90) * value / top
            color = "#d9480f" if row["engine"] == "nidus" else "#5c7cfa"
            out.append(f'<text x="10" y="{y + 16}">{row["engine"]}</text>')
            out.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{color}"/>')
            out.append(f'<text x="{left + w + 6:.1f}" y="{y + 16}">{fmt(value)}</text>')
            y += bar_h + gap
        y += 14
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--nq", type=int, default=256, help="number of queries")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--data", help="base vectors (.npy or .fvecs) instead of generated ones")
    parser.add_argument("--queries", help="query vectors (.npy or .fvecs)")
    parser.add_argument("--engines", default="nidus,faiss,numpy,usearch,sqlite-vec")
    parser.add_argument("--child", nargs=5, metavar=("ENGINE", "BASE", "QUERIES", "K", "THREADS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        engine, base, queries, k, threads = args.child
        child_engine(engine, base, queries, int(k), int(threads))
        return
    if not in_venv():
        ensure_venv()
        os.execv(venv_python(), [venv_python(), os.path.abspath(__file__), *sys.argv[1:]])

    import numpy as np

    os.makedirs(OUT, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="nidus-compare-", dir=os.environ.get("TMPDIR", "/tmp"))
    try:
        base_path, query_path = make_dataset(args, workdir)
        n, dim = np.load(base_path, mmap_mode="r").shape
        nq = np.load(query_path, mmap_mode="r").shape[0]
        print(f"dataset {n} x {dim}, {nq} queries; ground truth (float64)...", file=sys.stderr)
        truth = ground_truth(base_path, query_path, args.k)
        rows = []
        for engine in args.engines.split(","):
            print(f"measuring {engine}...", file=sys.stderr)
            if engine == "nidus":
                row = measure_nidus(base_path, query_path, args.k, workdir, nq)
            else:
                row = {"engine": engine}
                for threads in ((1,) if engine == "sqlite-vec" else (1, 2)):
                    out, _, rss = run_child(
                        [venv_python(), os.path.abspath(__file__), "--child", engine, base_path,
                         query_path, str(args.k), str(threads)],
                        env=engine_env(threads),
                    )
                    child = json.loads(out)
                    row[f"p50_ms_{threads}t"] = child["p50_ms"]
                    row["ingest_per_s"] = child["ingest_per_s"]
                    row["peak_mib"] = max(row.get("peak_mib", 0), child["peak_mib"] or rss)
                    row["batch_qps"] = child["batch_qps"]
                    row["ids"] = child["ids"]
            row["recall"] = recall(row.pop("ids"), truth)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
        meta = {"n": int(n), "dim": int(dim), "k": args.k, "nq": int(nq),
                "machine": f"{os.cpu_count()} cores, {platform_cpu()}",
                "date": time.strftime("%Y-%m-%d")}
        table = write_table(rows, meta)
        with open(os.path.join(OUT, "results.json"), "w") as f:
            json.dump({"meta": meta, "rows": rows}, f, indent=2)
        with open(os.path.join(OUT, "results.md"), "w") as f:
            f.write(table)
        write_chart(rows, meta, os.path.join(OUT, "chart.svg"))
        print(table)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def platform_cpu():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    main()
