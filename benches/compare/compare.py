#!/usr/bin/env python3
"""Side-by-side search comparison on one dataset, in one run, on this machine:
nidus (through its CLI, f32 and int8 scans) against its peers, each set up
as its own documentation recommends for the job.

Usage (from the repository root):

    python3 benches/compare/compare.py                      # 1M x 384, k = 10
    python3 benches/compare/compare.py --n 100000 --nq 64   # quicker
    python3 benches/compare/compare.py --n 200000 --dim 1536
    python3 benches/compare/compare.py --data base.npy --queries q.npy --out DIR

The script creates its own virtual environment (benches/compare/.venv) and
installs faiss-cpu, numpy, usearch, sqlite-vec, apsw and threadpoolctl from
PyPI on first use; it builds nidus with `cargo build --release`. It is not
part of the build, and no crate or test depends on it.

Rows (engine / mode):
  nidus f32, int8     `nidus search [--scan f32|int8]`; int8 is reported as
                      not available when the binary has no --scan flag
  faiss flat          IndexFlatIP with faiss's default BLAS threshold
  faiss blas          the same index, distance_compute_blas_threshold lowered
                      so batches of 20+ queries go through BLAS (faiss wiki,
                      "Implementation notes"); single queries keep the direct path
  faiss blas+<core>   only when faiss's bundled OpenBLAS falls back to another
                      core type than numpy's newer OpenBLAS picks on this CPU:
                      the blas mode again with OPENBLAS_CORETYPE=<that core>
  numpy gemm          one GEMM per batch, argpartition per row
  usearch f32, i8     usearch.index.search(..., exact=True) (no index built)
                      on the float32 matrix, and on int8 codes made by
                      usearch's own cast (x * 127, truncated)
  usearch i8+rowscale the same on int8 codes scaled per row (all 8 bits used)
  sqlite-vec vec0     a vec0 table and MATCH ... ORDER BY distance LIMIT k
  faiss sq8           IndexScalarQuantizer QT_8bit, inner product
  faiss sq8+refineF   IndexRefineFlat over SQ8, k_factor F in 1, 2, 4

What it measures, for every row, on the same unit-normalized float32 data:
  recall@k      against a float64 ground truth
  single p50    median latency of one query at a time, 1 and T threads
  batch q/s     queries per second in calls of 64 queries, T threads; and
                in calls of 256 (batch256_qps; with --nq 256 or more)
  ingest v/s    vectors per second into the engine (nidus: durable, fsync'd)
  open s        time to open the stored data (engines that persist)
  peak MiB      peak resident memory of the engine's process
  threads, blas what threadpoolctl reports the engine's BLAS/OpenMP pools ran
                with: library, version, core type (kernel), thread count
T is the number of cores. Peers run with the machine's OpenBLAS overrides
(OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE) removed, and the run checks that the
child saw neither and records which core type OpenBLAS then chose.

Output (default benches/compare/out/, or --out DIR): results.json (a list
of objects with the keys engine, mode, recall, p50_ms_1t, p50_ms_2t,
batch_qps, batch256_qps, ingest_per_s, open_s, peak_mib, blas, threads, cpu, tier; null
where a figure does not apply), results.md (the table and how each row was
configured), chart.svg (the chart README.md shows) and details.json (the raw
threadpoolctl reports and environment checks of every child).
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
sys.path.insert(0, HERE)

import data  # noqa: E402
import machine  # noqa: E402
import nidus_cli  # noqa: E402
import processes  # noqa: E402
import report  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
VENV = os.path.join(HERE, ".venv")
# apsw: an SQLite binding that can load extensions (many Python builds' sqlite3
# module cannot, and sqlite-vec is an extension).
PACKAGES = ["numpy", "faiss-cpu", "usearch", "sqlite-vec", "apsw", "threadpoolctl"]
ENGINES = ["nidus", "faiss", "numpy", "usearch", "sqlite-vec", "faiss-sq8", "faiss-sq8-refine",
           "usearch-i8"]
K_FACTORS = (1, 2, 4)
# usearch's own i8 cast, and the same search on per-row scaled codes (the
# cast leaves most of the 8 bits unused on unit vectors of a few hundred
# dimensions, and recall shows it).
I8_MODES = ("i8", "i8+rowscale")


# --------------------------------------------------------------------------
# environment
# --------------------------------------------------------------------------

def venv_python():
    return os.path.join(VENV, "bin", "python")


def ensure_venv():
    if not os.path.exists(venv_python()):
        print("creating", VENV, file=sys.stderr)
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
    missing = subprocess.run(
        [venv_python(), "-c", "import numpy, faiss, usearch, sqlite_vec, apsw, threadpoolctl"],
        capture_output=True,
    ).returncode
    if missing:
        subprocess.check_call([venv_python(), "-m", "pip", "install", "-q", *PACKAGES])


def in_venv():
    return os.path.realpath(sys.prefix) == os.path.realpath(VENV)


def child(args, env):
    """Runs this script in a child role; returns (its JSON object, sampled peak MiB)."""
    out, _, rss = processes.run([venv_python(), os.path.abspath(__file__), *args], env=env)
    return json.loads(out), rss


def probe(env):
    """threadpoolctl's report from a child that loads faiss and numpy and
    searches nothing: which OpenBLAS core each picks under `env`."""
    return child(["--probe"], env)[0]


def core_of(pools, owner):
    for p in machine.own_pools(pools, owner):
        if p["api"] == "blas":
            return p["core"]
    return None


# --------------------------------------------------------------------------
# the run
# --------------------------------------------------------------------------

def peer_specs(engines, base_path, query_path, k, multi, singles, faiss_core_variant):
    """(engine name, child spec, OPENBLAS_CORETYPE or None) for every peer child."""
    common = {"base": base_path, "queries": query_path, "k": k, "threads": multi,
              "singles": singles}
    specs = []
    if "faiss" in engines:
        specs.append(("faiss", {**common, "build": "faiss-flat", "modes": ["flat", "blas"]}, None))
        if faiss_core_variant:
            specs.append(("faiss", {**common, "build": "faiss-flat", "modes": ["blas"],
                                    "label": {"blas": f"blas+{faiss_core_variant}"}},
                          faiss_core_variant))
    if "numpy" in engines:
        specs.append(("numpy", {**common, "build": "numpy"}, None))
    if "usearch" in engines:
        specs.append(("usearch", {**common, "build": "usearch", "modes": ["f32"]}, None))
    if "sqlite-vec" in engines:
        specs.append(("sqlite-vec", {**common, "build": "sqlite-vec"}, None))
    if "faiss-sq8" in engines:
        specs.append(("faiss", {**common, "build": "faiss-sq8"}, None))
    if "faiss-sq8-refine" in engines:
        specs.append(("faiss", {**common, "build": "faiss-sq8-refine", "k_factors": list(K_FACTORS)}, None))
    if "usearch-i8" in engines:
        specs.append(("usearch", {**common, "build": "usearch", "modes": list(I8_MODES)}, None))
    return specs


def openblas_check(notes, details, with_faiss):
    """Probes the peers' OpenBLAS with the machine's environment and with the
    overrides removed; returns the core to force for faiss, if its OpenBLAS
    falls back to another core than numpy's does on this CPU."""
    multi = machine.cores()
    overrides = {v: os.environ.get(v) for v in machine.OPENBLAS_OVERRIDES}
    with_env = probe(dict(os.environ))
    without = probe(machine.peer_env(multi))
    details.append({"probe": "machine environment", **with_env})
    details.append({"probe": "overrides removed (what the peers run with)", **without})
    if any(without["env"].values()):
        raise SystemExit(f"the peers' environment still holds {without['env']}")
    faiss_core, numpy_core = core_of(without["pools"], "faiss"), core_of(without["pools"], "numpy")
    set_vars = ", ".join(f"{k}={v}" for k, v in overrides.items() if v)
    cores_with = (core_of(with_env["pools"], "faiss"), core_of(with_env["pools"], "numpy"))
    cores_without = (faiss_core, numpy_core)
    forced = overrides.get("OPENBLAS_CORETYPE")
    if not forced:
        verdict = "nothing to remove"
    elif cores_with != cores_without:
        verdict = "the removal took effect: the core types changed"
    elif all(c and c.lower() == forced.lower() for c in cores_without):
        # Detection may pick the same core the override named; then the
        # probe cannot prove the removal, though the child's environment did.
        verdict = "the core types are the override's either way, so the probe cannot tell"
    else:
        verdict = "the core types did not change"
    notes.append(
        f"OpenBLAS overrides: the machine sets {set_vars or 'none'}; the peers run without "
        f"them (checked: every peer child saw neither variable). threadpoolctl's core types "
        f"(faiss's OpenBLAS, numpy's): {cores_with[0]}, {cores_with[1]} with the machine's "
        f"environment; {cores_without[0]}, {cores_without[1]} without ({verdict})"
    )
    if with_faiss and faiss_core and numpy_core and faiss_core != numpy_core:
        notes.append(
            f"faiss's bundled OpenBLAS chose {faiss_core} where numpy's newer OpenBLAS chose "
            f"{numpy_core} on the same CPU, so the table also shows faiss blas+{numpy_core}: "
            f"the blas mode with OPENBLAS_CORETYPE={numpy_core} set for faiss alone"
        )
        return numpy_core
    return None


def run_peer(name, spec, coretype, multi, truth, meta, details):
    env = machine.peer_env(multi, coretype)
    result, rss = child(["--child", json.dumps(spec)], env)
    expected = {"OPENBLAS_CORETYPE": coretype, "OPENBLAS_L2_SIZE": None}
    if result["env"] != expected:
        raise SystemExit(f"{name}: the child's OpenBLAS environment was {result['env']}, not {expected}")
    details.append({"engine": name, "build": spec["build"], "coretype": coretype,
                    "pools": result["pools"], "env": result["env"]})
    rows = []
    for row in result["rows"]:
        row.update(engine=name, recall=data.recall(row.pop("ids"), truth), open_s=None,
                   peak_mib=result["peak_mib"] or rss, cpu=meta["cpu"], tier=meta["tier"])
        rows.append(row)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--nq", type=int, default=256, help="number of queries")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--singles", type=int, default=64,
                        help="queries timed one at a time per row (the first ones)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--data", help="base vectors (.npy or .fvecs) instead of generated ones")
    parser.add_argument("--queries", help="query vectors (.npy or .fvecs)")
    parser.add_argument("--engines", default=",".join(ENGINES),
                        help="comma-separated subset of: " + ", ".join(ENGINES))
    parser.add_argument("--out", default=os.path.join(HERE, "out"), help="output directory")
    parser.add_argument("--nidus", help="a nidus binary to use (default: cargo build --release here)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        import peers

        peers.run_child(args.child)
        return
    if args.probe:
        import faiss  # noqa: F401  (loads faiss's OpenBLAS for the report)
        import numpy  # noqa: F401

        print(json.dumps({"pools": machine.pools(), "env": machine.child_environment_check()}))
        return
    if not in_venv():
        ensure_venv()
        os.execv(venv_python(), [venv_python(), os.path.abspath(__file__), *sys.argv[1:]])

    engines = args.engines.split(",")
    unknown = set(engines) - set(ENGINES)
    if unknown:
        parser.error(f"unknown engines: {', '.join(sorted(unknown))}")
    out_dir = os.path.abspath(args.out)
    multi = machine.cores()
    nidus = os.path.abspath(args.nidus) if args.nidus else nidus_cli.build(ROOT)
    workdir = tempfile.mkdtemp(prefix="nidus-compare-", dir=os.environ.get("TMPDIR", "/tmp"))
    try:
        base_path, query_path = data.make_dataset(args, workdir)
        n, dim = data.npy_shape(base_path)
        nq = data.npy_shape(query_path)[0]
        notes, details = [], []
        meta = {"n": int(n), "dim": int(dim), "k": args.k, "nq": int(nq),
                "singles": min(args.singles, int(nq)), "batch": 64, "threads": multi,
                "cores": multi, "cpu": machine.cpu_model(), "tier": nidus_cli.tier(nidus),
                "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "notes": notes}
        say(f"dataset {n} x {dim}, {nq} queries; ground truth (float64)")
        truth = data.ground_truth(base_path, query_path, args.k)
        peers_chosen = [e for e in engines if e != "nidus"]
        faiss_core = openblas_check(notes, details, "faiss" in engines) if peers_chosen else None
        rows = []
        if "nidus" in engines:
            say("measuring nidus")
            for row in nidus_cli.measure(nidus, base_path, query_path, args.k, workdir, multi):
                ids = row.pop("ids")
                row.update(recall=data.recall(ids, truth) if ids else None,
                           cpu=meta["cpu"], tier=meta["tier"])
                rows.append(row)
                print(json.dumps(report.results([row])[0]), file=sys.stderr)
        specs = peer_specs(engines, base_path, query_path, args.k, multi, meta["singles"], faiss_core)
        for name, spec, coretype in specs:
            say(f"measuring {name} {spec['build']} {' '.join(spec.get('modes', []))}")
            try:
                peer_rows = run_peer(name, spec, coretype, multi, truth, meta, details)
            except RuntimeError as e:
                # One peer failing (out of memory, a wheel's bug) must not
                # throw away the others' measurements from the same sitting.
                notes.append(f"{name} {spec['build']} failed and has no rows: {e}")
                say(f"  failed: {e}")
                continue
            for row in peer_rows:
                rows.append(row)
                print(json.dumps(report.results([row])[0]), file=sys.stderr)
        rows.sort(key=order)
        notes.extend(headline_notes(rows))
        table = report.write_all(rows, meta, details, out_dir)
        print(table)
        print(f"wrote {out_dir}/results.json, results.md, chart.svg, details.json", file=sys.stderr)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def headline_notes(rows):
    """Says which faiss row is faiss at its best for batches, so no one quotes
    the default where a documented setting does much better."""
    faiss_exact = [r for r in rows if r["engine"] == "faiss" and not r["mode"].startswith("sq8")
                   and r.get("batch_qps")]
    if len(faiss_exact) < 2:
        return []
    best = max(faiss_exact, key=lambda r: r["batch_qps"])
    default = next((r for r in faiss_exact if r["mode"] == "flat"), None)
    text = (f"faiss at its best for batches is the \"{best['mode']}\" row "
            f"({best['batch_qps']:,.1f} q/s)")
    if default and default is not best:
        text += f"; faiss's defaults (\"flat\") gave {default['batch_qps']:,.1f} q/s"
    return [text + ". The table and chart show every faiss row; compare nidus with the best one."]


def say(text):
    """Progress on stderr, stamped with the time (a full run takes minutes)."""
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def order(row):
    """Exact rows first (nidus, then peers), then the quantized ones."""
    quantized = row["mode"].startswith(("int8", "i8", "sq8"))
    return (quantized, row["engine"] != "nidus")


if __name__ == "__main__":
    main()
