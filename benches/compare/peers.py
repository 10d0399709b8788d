"""The Python peers, each configured the way its own documentation sets it up
for exact (or, for the quantized rows, code-based) search. Each build runs in
a child process of its own, so that its peak memory is its own; one child
measures every mode that shares the build (faiss flat: default and BLAS;
SQ8+refine: k_factor 1, 2 and 4), switching threads in-process with
threadpoolctl so that the data are loaded and ingested once.

A child prints one JSON object: {"rows": [...], "peak_mib", "pools",
"env"}; each row has mode, p50_ms_1t, p50_ms_2t, batch_qps, ingest_per_s,
threads, blas and ids (the answers, for recall in the parent).
"""

import contextlib
import json
import time

import data
import machine

# Queries per batched call (as nidus bench and the README fix it), and the
# larger call issue 13 compares too (where BLAS has more to chew on).
BATCH = 64
BIG_BATCH = 256
# faiss's own BLAS switch-over at the time of its "nq < 20" rule: with the
# threshold at 20 queries, every batch of 20 or more goes through BLAS and a
# single query keeps the direct path. faiss >= 1.14 counts nq * d values
# instead of nq (faiss PR #5022, default 128000), hence the scaling below.
BLAS_FROM_QUERIES = 20


def vm_hwm_mib():
    """This process's peak resident set, from /proc."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return None


def timed_single(search_one, queries, count):
    """Median wall time (ms) of one-query calls over the first `count`
    queries, after one untimed warm-up call."""
    import numpy as np

    search_one(queries[0])
    times = []
    for q in queries[:count]:
        t0 = time.perf_counter()
        search_one(q)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1e3


def timed_batch(search_many, queries, batch=BATCH):
    """Queries per second over all queries in calls of `batch`: one untimed
    warm-up call (first-touch of result buffers is not the search), then
    passes over all queries until 2 s have gone by or 3 passes are done;
    the median pass counts. Returns (q/s, ids of every query)."""
    import numpy as np

    search_many(queries[:batch])
    rates, spent = [], 0.0
    while len(rates) < 3 and (spent < 2.0 or not rates):
        ids = []
        t0 = time.perf_counter()
        for lo in range(0, len(queries), batch):
            ids.extend(search_many(queries[lo : lo + batch]))
        seconds = time.perf_counter() - t0
        spent += seconds
        rates.append(len(queries) / seconds)
    return float(np.median(rates)), ids


class Threads:
    """Switches every BLAS/OpenMP pool of this process (and faiss's OpenMP
    count) between one thread and `multi`, and records what threadpoolctl
    reports inside each setting, so the row's thread count is observed,
    not assumed."""

    def __init__(self, multi, owner, faiss=None):
        self.multi = multi
        self.owner = owner
        self.faiss = faiss
        self.seen = {}

    @contextlib.contextmanager
    def limit(self, n):
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=n):
            if self.faiss is not None:
                self.faiss.omp_set_num_threads(n)
            own = machine.own_pools(machine.pools(), self.owner)
            self.seen[n] = machine.pool_threads(own)
            yield n
        if self.faiss is not None:
            self.faiss.omp_set_num_threads(self.multi)


def measure(threads, one, many, queries, singles, threads_used=None):
    """One row's timings: single p50 on 1 and `multi` threads, batch q/s on
    `multi`. `one(q, t)` and `many(qs, t)` search with t threads."""
    row = {}
    with threads.limit(1) as t:
        row["p50_ms_1t"] = timed_single(lambda q: one(q, t), queries, singles)
    with threads.limit(threads.multi) as t:
        row["p50_ms_2t"] = timed_single(lambda q: one(q, t), queries, singles)
        row["batch_qps"], row["ids"] = timed_batch(lambda qs: many(qs, t), queries)
        if len(queries) >= BIG_BATCH:
            row["batch256_qps"], _ = timed_batch(lambda qs: many(qs, t), queries, BIG_BATCH)
    # The pools' own count on the multi setting; an engine without a pool
    # (usearch, which takes a threads argument) reports what it was given.
    row["threads"] = threads.seen.get(threads.multi) or threads_used or threads.multi
    if threads.seen.get(1) not in (None, 1):
        raise SystemExit(f"{threads.owner}: one-thread setting reported {threads.seen[1]} threads")
    return row


# --------------------------------------------------------------------------
# builds
# --------------------------------------------------------------------------

def faiss_flat(spec, base_path, queries, k):
    """IndexFlatIP, as faiss's wiki sets up exact inner-product search, in the
    modes spec["modes"] lists: "flat" (faiss's default BLAS threshold) and
    "blas" (threshold lowered so batches go through BLAS)."""
    import faiss

    n, d = data.npy_shape(base_path)
    multi = spec["threads"]
    faiss.omp_set_num_threads(multi)
    index = faiss.IndexFlatIP(d)
    t0 = time.perf_counter()
    for _, chunk in data.read_chunks(base_path):
        index.add(chunk)
    ingest = n / (time.perf_counter() - t0)
    default = faiss.cvar.distance_compute_blas_threshold
    counts_values = default > 1000  # nq * d rule (faiss >= 1.14), else nq
    thresholds = {
        "flat": default,
        "blas": BLAS_FROM_QUERIES * d if counts_values else BLAS_FROM_QUERIES,
    }
    threads = Threads(multi, "faiss", faiss)
    rows = []
    for mode in spec["modes"]:
        faiss.cvar.distance_compute_blas_threshold = thresholds[mode]

        def search(qs, _t):
            return index.search(qs, k)[1].tolist()

        row = measure(threads, lambda q, t: search(q[None, :], t), search, queries, spec["singles"])
        row.update(mode=spec.get("label", {}).get(mode, mode), ingest_per_s=ingest,
                   note=f"distance_compute_blas_threshold = {thresholds[mode]}"
                        f" (faiss {faiss.__version__} default {default})")
        rows.append(row)
    return rows


def sq8_trained(faiss, index, base_path):
    """Trains an SQ8 index on the per-dimension minima and maxima of all rows.

    QT_8bit's default training (RS_minmax) keeps exactly the per-dimension
    min and max of what it is given, so two rows holding the full data's
    minima and maxima train it as the whole matrix would, without the child
    ever holding the float32 matrix (its peak stays the index's own)."""
    import numpy as np

    lo = hi = None
    for _, chunk in data.read_chunks(base_path):
        cmin, cmax = chunk.min(axis=0), chunk.max(axis=0)
        lo = cmin if lo is None else np.minimum(lo, cmin)
        hi = cmax if hi is None else np.maximum(hi, cmax)
    index.train(np.stack([lo, hi]))
    for _, chunk in data.read_chunks(base_path):
        index.add(chunk)


def faiss_sq8(spec, base_path, queries, k):
    """IndexScalarQuantizer QT_8bit, inner product: 1 byte per value, scores
    from the codes alone (approximate)."""
    import faiss

    n, d = data.npy_shape(base_path)
    multi = spec["threads"]
    faiss.omp_set_num_threads(multi)
    index = faiss.IndexScalarQuantizer(d, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
    t0 = time.perf_counter()
    sq8_trained(faiss, index, base_path)
    ingest = n / (time.perf_counter() - t0)
    threads = Threads(multi, "faiss", faiss)

    def search(qs, _t):
        return index.search(qs, k)[1].tolist()

    row = measure(threads, lambda q, t: search(q[None, :], t), search, queries, spec["singles"])
    row.update(mode="sq8", ingest_per_s=ingest,
               note="IndexScalarQuantizer QT_8bit, METRIC_INNER_PRODUCT; ingest = a min/max pass, train, add")
    return [row]


def faiss_sq8_refine(spec, base_path, queries, k):
    """SQ8 codes plus IndexRefineFlat: the codes pick k_factor * k candidates,
    exact float32 inner products re-rank them (the float32 rows stay in RAM)."""
    import faiss

    n, d = data.npy_shape(base_path)
    multi = spec["threads"]
    faiss.omp_set_num_threads(multi)
    sq = faiss.IndexScalarQuantizer(d, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
    index = faiss.IndexRefineFlat(sq)
    t0 = time.perf_counter()
    sq8_trained(faiss, index, base_path)
    ingest = n / (time.perf_counter() - t0)
    threads = Threads(multi, "faiss", faiss)
    rows = []
    for k_factor in spec["k_factors"]:
        index.k_factor = float(k_factor)

        def search(qs, _t):
            return index.search(qs, k)[1].tolist()

        row = measure(threads, lambda q, t: search(q[None, :], t), search, queries, spec["singles"])
        row.update(mode=f"sq8+refine{k_factor}", ingest_per_s=ingest,
                   note=f"IndexRefineFlat(SQ8), k_factor = {k_factor}; ingest = a min/max pass, train, add")
        rows.append(row)
    return rows


def numpy_gemm(spec, base_path, queries, k):
    """One GEMM per batch (scores = queries @ base.T) and argpartition per row,
    with the BLAS pool set to the cores."""
    import numpy as np

    base = np.load(base_path)

    def top(qs, _t):
        scores = qs @ base.T
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1)
        return np.take_along_axis(part, order, axis=1).tolist()

    threads = Threads(spec["threads"], "numpy")
    row = measure(threads, lambda q, t: top(q[None, :], t), top, queries, spec["singles"])
    row.update(mode="gemm", ingest_per_s=None, note="queries @ base.T, argpartition per row")
    return [row]


def usearch_cast_i8(x):
    """usearch's own f32 -> i8 cast for unit vectors: x * 127, truncated
    toward zero (what Index(dtype="i8") stores; checked against Index.get)."""
    import numpy as np

    return np.clip(np.trunc(x * 127.0), -127, 127).astype(np.int8)


def rowscale_i8(x):
    """Each row scaled so its largest |value| is 127, then rounded: cosine
    ignores a row's scale, so this spends all 8 bits on every row."""
    import numpy as np

    scale = 127.0 / np.maximum(np.abs(x).max(axis=1, keepdims=True), 1e-30)
    return np.clip(np.rint(x * scale), -127, 127).astype(np.int8)


I8_CODECS = {"i8": usearch_cast_i8, "i8+rowscale": rowscale_i8}


def int8_codes(base_path, codec):
    """The int8 matrix of every row, built chunk by chunk."""
    import numpy as np

    n, d = data.npy_shape(base_path)
    codes = np.empty((n, d), dtype=np.int8)
    for lo, chunk in data.read_chunks(base_path):
        codes[lo : lo + len(chunk)] = codec(chunk)
    return codes


def usearch_exact(spec, base_path, queries, k):
    """usearch's brute-force path as its README gives it: the module-level
    `search(dataset, queries, k, metric, exact=True)`, which builds no index,
    with `threads` set. "f32" searches the float32 matrix by inner product;
    the i8 modes search int8 codes by cosine (usearch's metric for i8), with
    usearch's own cast ("i8") or a per-row scale ("i8+rowscale")."""
    import numpy as np
    from usearch.index import MetricKind, search

    rows = []
    for mode in spec["modes"]:
        base = None  # free the previous mode's matrix before building the next
        if mode == "f32":
            base, qs_all, metric = np.load(base_path), queries, MetricKind.IP
        else:
            codec = I8_CODECS[mode]
            base, qs_all, metric = int8_codes(base_path, codec), codec(queries), MetricKind.Cos

        def top(qs, t):
            return search(base, qs, k, metric, exact=True, threads=t).keys.reshape(len(qs), -1).tolist()

        threads = Threads(spec["threads"], None)
        row = measure(threads, lambda q, t: top(q[None, :], t), top, qs_all, spec["singles"],
                      threads_used=spec["threads"])
        row.update(mode=mode, ingest_per_s=None,
                   note=f"usearch.index.search(exact=True, metric={metric.name}, threads=T)"
                        + ("" if mode == "f32" else f", codes by {I8_CODECS[mode].__name__}"))
        rows.append(row)
    return rows


def sqlite_vec(spec, base_path, queries, k):
    """A vec0 table and a KNN query as sqlite-vec's README writes them
    (`float[D]` column, `MATCH ? ORDER BY distance LIMIT k`; its default L2
    distance ranks unit vectors as cosine does). One thread, one query per
    statement: the batch figure is sequential queries."""
    import apsw
    import sqlite_vec as sv

    n, d = data.npy_shape(base_path)
    db = apsw.Connection(":memory:")
    db.enable_load_extension(True)
    db.load_extension(sv.loadable_path())
    db.execute(f"CREATE VIRTUAL TABLE v USING vec0(embedding float[{d}])")
    t0 = time.perf_counter()
    with db:
        for lo, chunk in data.read_chunks(base_path):
            db.cursor().executemany(
                "INSERT INTO v(rowid, embedding) VALUES (?, ?)",
                ((lo + i, chunk[i].tobytes()) for i in range(len(chunk))),
            )
    ingest = n / (time.perf_counter() - t0)
    sql = "SELECT rowid FROM v WHERE embedding MATCH ? ORDER BY distance LIMIT ?"

    def one(q):
        return [r[0] for r in db.execute(sql, (q.tobytes(), k))]

    count = min(spec["singles"], len(queries))
    one(queries[0])
    ids, times = [], []
    for q in queries[:count]:
        t0 = time.perf_counter()
        ids.append(one(q))
        times.append(time.perf_counter() - t0)
    import numpy as np

    return [{
        "mode": "vec0", "p50_ms_1t": float(np.median(times)) * 1e3, "p50_ms_2t": None,
        "batch_qps": count / sum(times), "ingest_per_s": ingest, "ids": ids, "threads": 1,
        "note": f"one thread; recall and q/s over the first {count} queries",
    }]


BUILDS = {
    "faiss-flat": (faiss_flat, "faiss"),
    "faiss-sq8": (faiss_sq8, "faiss"),
    "faiss-sq8-refine": (faiss_sq8_refine, "faiss"),
    "numpy": (numpy_gemm, "numpy"),
    "usearch": (usearch_exact, None),
    "sqlite-vec": (sqlite_vec, None),
}


def run_child(spec_json):
    """The child's whole life: build, measure, print one JSON object."""
    import numpy as np

    spec = json.loads(spec_json)
    queries = np.load(spec["queries"])
    build, owner = BUILDS[spec["build"]]
    rows = build(spec, spec["base"], queries, spec["k"])
    all_pools = machine.pools()
    blas = machine.blas_summary(machine.own_pools(all_pools, owner))
    for row in rows:
        row["blas"] = blas
    print(json.dumps({
        "rows": rows,
        "peak_mib": vm_hwm_mib(),
        "pools": all_pools,
        "env": machine.child_environment_check(),
    }))
