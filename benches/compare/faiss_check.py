#!/usr/bin/env python3
"""An independent faiss-with-BLAS measurement, to check compare.py's faiss
batch figure against (issue 14 wants them within 15 % in one sitting).

It shares only the dataset generator with compare.py (same seed, so the same
data), and times faiss the plainest way: IndexFlatIP, OpenMP threads = cores,
distance_compute_blas_threshold = 20 queries' worth, whole-batch calls of 64,
three passes over the queries, median pass.

    benches/compare/.venv/bin/python benches/compare/faiss_check.py --n 1000000 --nq 128
    ... --coretype SkylakeX     # OPENBLAS_CORETYPE for faiss's OpenBLAS

The machine's OpenBLAS overrides are removed as compare.py removes them for
its peers (the script re-executes itself with that environment).
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import data  # noqa: E402
import machine  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--nq", type=int, default=256)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--coretype", help="OPENBLAS_CORETYPE for faiss's OpenBLAS")
    args = parser.parse_args()
    args.data = args.queries = None
    if os.environ.get("FAISS_CHECK_CHILD") != "1":
        env = machine.peer_env(machine.cores(), args.coretype)
        env["FAISS_CHECK_CHILD"] = "1"
        os.execve(sys.executable, [sys.executable, *sys.argv], env)

    import faiss
    import numpy as np

    workdir = tempfile.mkdtemp(prefix="faiss-check-")
    try:
        base_path, query_path = data.make_dataset(args, workdir)
        base, queries = np.load(base_path), np.load(query_path)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    faiss.omp_set_num_threads(machine.cores())
    index = faiss.IndexFlatIP(base.shape[1])
    index.add(base)
    del base
    default = faiss.cvar.distance_compute_blas_threshold
    faiss.cvar.distance_compute_blas_threshold = 20 * args.dim if default > 1000 else 20
    index.search(queries[:64], 10)
    passes = []
    for _ in range(3):
        t0 = time.perf_counter()
        for lo in range(0, len(queries), 64):
            index.search(queries[lo : lo + 64], 10)
        passes.append(len(queries) / (time.perf_counter() - t0))
    t0 = time.perf_counter()
    index.search(queries, 10)
    one_call = len(queries) / (time.perf_counter() - t0)
    blas = [p for p in machine.pools() if "faiss" in p["dir"] and p["api"] == "blas"]
    print(json.dumps({
        "faiss": faiss.__version__, "threshold": faiss.cvar.distance_compute_blas_threshold,
        "batch64_qps_passes": [round(p, 1) for p in passes],
        "batch64_qps_median": round(float(np.median(passes)), 1),
        f"one_call_{len(queries)}_qps": round(one_call, 1),
        "blas": machine.blas_summary(blas), "threads": machine.cores(),
    }))


if __name__ == "__main__":
    main()
