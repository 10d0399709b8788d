#!/usr/bin/env python3
"""Scaling measurement for docs/scale.md: fanout.py with 1 and 2 Dask workers
over the same rows split into 2 and 4 shards, queries/s, in one run.

    python3 examples/distributed/scale.py [--rows 1000000] [--dim 384] [--queries 256]
        [--k 10] [--shards 2 4] [--workers 1 2] [--repeat 3] [--work DIR] [--nidus PATH]

It generates seeded unit-normal float32 rows and queries (npy, with numpy,
installed into examples/distributed/.venv on first use), imports the rows
with `nidus import --shard I/N` for each N (kept in --work for later runs),
then times, for every (shards, workers) pair, `fanout.py --workers W` on a
LocalCluster (each task runs `nidus search SHARD --threads 1`, so W workers
use W cores). As a same-run baseline it times `nidus search S0 .. SN-1`
(one process, no Dask) with --threads 1 and with --threads W. Every time is
the median of --repeat runs and covers what a caller waits for: process
start, opening every shard (reading its file), the scans and the merge; the
fanout times exclude starting the LocalCluster. The 1-minute load average
before and after is reported, since the machine may be shared.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import fanout  # noqa: E402


def need_numpy():
    try:
        import numpy  # noqa: F401
    except ImportError:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "numpy"])


def write_data(work, rows, dim, queries):
    import numpy as np
    base, qs = os.path.join(work, f"base-{rows}x{dim}.npy"), os.path.join(work, f"q-{queries}x{dim}.npy")
    if not os.path.exists(base):
        rng = np.random.default_rng(7)
        np.save(base, rng.standard_normal((rows, dim), dtype=np.float32))
    if not os.path.exists(qs):
        rng = np.random.default_rng(8)
        np.save(qs, rng.standard_normal((queries, dim), dtype=np.float32))
    return base, qs


def timed(cmd, repeat):
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True)
        seconds.append(time.perf_counter() - start)
        if done.returncode != 0:
            sys.exit(f"scale: {' '.join(cmd)} failed:\n{done.stderr.decode()}")
    return statistics.median(seconds)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--queries", type=int, default=256)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--shards", type=int, nargs="+", default=[2, 4])
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--work", default=os.path.join(HERE, "out"))
    p.add_argument("--nidus")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = p.parse_args()
    fanout.ensure_venv()
    need_numpy()
    nidus = fanout.find_nidus(args.nidus)
    os.makedirs(args.work, exist_ok=True)
    base, qs = write_data(args.work, args.rows, args.dim, args.queries)

    sets = {}
    for n in args.shards:
        paths = [os.path.join(args.work, f"{args.rows}x{args.dim}-{i}of{n}") for i in range(n)]
        for i, path in enumerate(paths):
            if not os.path.exists(path):
                subprocess.check_call([nidus, "import", path, base, "--shard", f"{i}/{n}",
                                       "--batch", "100000"], stdout=subprocess.DEVNULL)
        sets[n] = paths

    load_before = os.getloadavg()[0]
    results = []
    for n, paths in sets.items():
        for w in args.workers:
            cli = timed([nidus, "search", *paths, "--queries", qs, "--k", str(args.k),
                         "--threads", str(w)], args.repeat)
            runs = []
            for _ in range(args.repeat):
                stats = os.path.join(args.work, "stats.json")
                subprocess.run([sys.executable, os.path.join(HERE, "fanout.py"), "--shards", *paths,
                                "--queries", qs, "--k", str(args.k), "--workers", str(w),
                                "--nidus", nidus, "--stats", stats],
                               check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                with open(stats) as f:
                    runs.append(json.load(f))
            seconds = statistics.median(r["seconds"] for r in runs)
            row = {
                "shards": n, "workers": w, "queries": args.queries,
                "fanout_seconds": seconds,
                "fanout_queries_per_s": args.queries / seconds,
                "merge_seconds": statistics.median(r["merge_seconds"] for r in runs),
                "shard_search_seconds": statistics.median(
                    statistics.median(r["shard_search_seconds"]) for r in runs),
                "cli_threads": w, "cli_seconds": cli, "cli_queries_per_s": args.queries / cli,
            }
            results.append(row)
            print(json.dumps(row), file=sys.stderr)
    load_after = os.getloadavg()[0]

    print(f"{args.rows} rows x {args.dim}, {args.queries} queries, k {args.k}, "
          f"median of {args.repeat}; load average (1 min) {load_before:.2f} before, "
          f"{load_after:.2f} after; {os.cpu_count()} cores\n")
    print("| shards | workers | fanout q/s | fanout s | per-shard search s | merge s "
          "| nidus search (no Dask, --threads W) q/s |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['shards']} | {r['workers']} | {r['fanout_queries_per_s']:.1f} "
              f"| {r['fanout_seconds']:.2f} | {r['shard_search_seconds']:.2f} "
              f"| {r['merge_seconds']:.3f} | {r['cli_queries_per_s']:.1f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": args.rows, "dim": args.dim, "load_before": load_before,
                       "load_after": load_after, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
