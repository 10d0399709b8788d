"""nidus through its CLI, as a user runs it: `nidus import`, `nidus stats`,
`nidus search --queries`, and `nidus bench --json` for the kernel tier.

Single-query latency is the marginal cost of one more query in one
`nidus search --batch 1` process: (T(Q queries) - T(1 query)) / (Q - 1),
which leaves out process start and open.

The int8 scan (`--scan f32|int8`) is newer than some builds: whether the
binary has it is read from `nidus search --help`, and a build without it
gives an int8 row of nulls, reported as not available, not a crash.
"""

import json
import os
import shutil
import subprocess

from processes import run

SCANS = ("f32", "int8")


def build(root):
    """Builds the release binary of this checkout and returns its path."""
    subprocess.check_call(["cargo", "build", "--release", "-q", "-p", "nidus-cli"], cwd=root)
    return os.path.join(root, "target", "release", "nidus")


def scans_supported(nidus):
    """The scans this binary's `search` accepts: ("f32", "int8") when its help
    lists `--scan` with int8, else () (the f32-only build, no flag at all)."""
    proc = subprocess.run([nidus, "search", "--help"], capture_output=True, text=True)
    text = proc.stdout + proc.stderr
    if proc.returncode == 0 and "--scan" in text and "int8" in text:
        return SCANS
    return ()


def tier(nidus):
    """The kernel's SIMD tier, from the `tier` key of a tiny `nidus bench --json`."""
    out = subprocess.run([nidus, "bench", "--n", "2000", "--queries", "1", "--json"],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])["tier"]


def search(nidus, store, query_path, k, threads, batch, scan):
    args = [nidus, "search", store, "--queries", query_path, "--k", str(k),
            "--threads", str(threads), "--batch", str(batch)]
    if scan:
        args += ["--scan", scan]
    out, seconds, rss = run(args)
    ids = []
    for line in out.decode().splitlines():
        obj = json.loads(line)
        ids.append([int(h["id"]) for h in obj["hits"]])
    return ids, seconds, rss


def marginal_ms(t_all, t_one, extra_queries):
    """Milliseconds per query beyond the first; None when the difference is
    lost in the noise of process start and open (tiny stores, few queries)."""
    if extra_queries < 1 or t_all <= t_one:
        return None
    return (t_all - t_one) / extra_queries * 1e3


def unavailable(row, why):
    row.update(p50_ms_1t=None, p50_ms_2t=None, batch_qps=None, batch256_qps=None, peak_mib=None, ids=None,
               ingest_per_s=None, open_s=None, threads=None, note=why)
    return row


def timings(nidus, store, k, multi, flag, one_query, query_path, many, many_count):
    """Single-query p50 on 1 and `multi` threads, batch q/s, answers, and the
    peak resident memory of the search processes (a serving process opens
    the store and searches; it does not import)."""
    nq = len(nidus_queries(query_path))
    out, peak = {}, 0.0
    for threads in (1, multi):
        _, t_one, _ = search(nidus, store, one_query, k, threads, 1, flag)
        ids, t_all, rss = search(nidus, store, query_path, k, threads, 1, flag)
        peak = max(peak, rss)
        out["p50_ms_1t" if threads == 1 else "p50_ms_2t"] = marginal_ms(t_all, t_one, nq - 1)
        if threads == multi:
            out["ids"] = ids
    _, t_one, _ = search(nidus, store, one_query, k, multi, 64, flag)
    _, t_all, rss = search(nidus, store, many, k, multi, 64, flag)
    per_query = marginal_ms(t_all, t_one, many_count - 1)
    out["batch_qps"] = 1e3 / per_query if per_query else None
    # Calls of 256 queries, as the peers' batch256 figure (same marginal rule).
    _, t_one, _ = search(nidus, store, one_query, k, multi, 256, flag)
    _, t_all, rss = search(nidus, store, many, k, multi, 256, flag)
    peak = max(peak, rss)
    per_query = marginal_ms(t_all, t_one, many_count - 1)
    out["batch256_qps"] = 1e3 / per_query if per_query else None
    out["peak_mib"] = max(peak, rss)
    return out


def nidus_queries(path):
    import numpy as np

    return np.load(path, mmap_mode="r")


def measure(nidus, base_path, query_path, k, workdir, multi):
    """The f32 row and the int8 row (nulls when the build has no int8 scan)."""
    import numpy as np

    store = os.path.join(workdir, "nidus-store")
    shutil.rmtree(store, ignore_errors=True)
    queries = np.load(query_path)
    n, nq = np.load(base_path, mmap_mode="r").shape[0], len(queries)
    _, seconds, import_rss = run([nidus, "import", store, base_path, "--batch", "10000"])
    ingest = n / seconds
    # Open time: `nidus stats` opens the store read-only and prints counts.
    _, open_s, _ = run([nidus, "stats", store, "--json"])
    one_query = os.path.join(workdir, "one-query.npy")
    np.save(one_query, queries[:1])
    # A batch pass is short next to a process's open, so the batch run repeats
    # the queries until it holds at least 2,048 of them (32 calls of 64, 8 of
    # 256): the noise of the open then weighs little in the difference. With
    # 512 (2026-12-02, 200k x 1536) the opens of the two processes differed by
    # more than the batch work, and nidus's 64-a-call rate came out above the
    # machine's FMA peak.
    repeats = max(1, -(-2048 // nq))
    many = os.path.join(workdir, "many-queries.npy")
    np.save(many, np.tile(queries, (repeats, 1)))

    supported = scans_supported(nidus)
    # A build without --scan scans f32 only, and takes no flag for it.
    available = supported or ("f32",)
    rows = []
    for scan in SCANS:
        row = {"engine": "nidus", "mode": scan, "ingest_per_s": ingest, "open_s": open_s,
               "threads": multi, "blas": None}
        if scan not in available:
            rows.append(unavailable(row, "not available in this build (its search has no --scan int8)"))
            continue
        flag = scan if supported else None
        try:
            row.update(timings(nidus, store, k, multi, flag, one_query, query_path, many, nq * repeats))
        except RuntimeError as e:
            # A build that lists the flag but cannot run it on this store is
            # a finding for the table, not a reason to lose the other rows.
            rows.append(unavailable(row, f"not available: {e}"))
            continue
        row["note"] = (f"nidus search --scan {scan}" if flag else "nidus search (f32 scan; no --scan flag in this build)") \
            + f"; peak MiB of the search processes (the import's was {import_rss:,.0f})"
        rows.append(row)
    return rows
