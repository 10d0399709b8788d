"""The machine and the threading each engine ran with: CPU model, the
environment a peer's child process gets, and what threadpoolctl says its
BLAS and OpenMP pools actually did.

Why this exists: a wheel's OpenBLAS picks its kernel by CPU detection, and
an OpenBLAS older than the CPU falls back to an old generic kernel without a
word (faiss-cpu 1.15's bundled OpenBLAS 0.3.15 calls a Zen 5 EPYC
"Barcelona"). A table that does not record the kernel cannot tell a slow
library from a misconfigured one.
"""

import os

# The machine sets these on some processors (an OpenBLAS core-type override
# that slows current numpy). Peers run without them, and the run records
# that they were gone and what OpenBLAS then picked.
OPENBLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def cores():
    """The cores this process may run on (what "threads = cores" means)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def cpu_model():
    """The CPU as /proc/cpuinfo names it, with family/model (a VM often hides
    the marketing name, and family 26 says Zen 5 where the name says only
    "AMD EPYC") and the SIMD extensions that matter to these kernels."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break  # the first processor is enough
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        return "unknown CPU"
    name = fields.get("model name", "unknown CPU")
    flags = set(fields.get("flags", "").split())
    isa = [f for f in ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni") if f in flags]
    family = fields.get("cpu family")
    model = fields.get("model")
    ident = f" (family {family}, model {model})" if family and model else ""
    return f"{name}{ident}, {'+'.join(isa) or 'no AVX2'}"


def peer_env(threads, coretype=None):
    """The environment for one peer's child: BLAS/OpenMP threads set to
    `threads`, the machine's OpenBLAS overrides removed, and, only when
    `coretype` is given, an explicit OPENBLAS_CORETYPE (a labelled variant)."""
    env = dict(os.environ)
    for var in OPENBLAS_OVERRIDES:
        env.pop(var, None)
    for var in THREAD_VARS:
        env[var] = str(threads)
    if coretype:
        env["OPENBLAS_CORETYPE"] = coretype
    return env


def pools():
    """threadpoolctl's view of the loaded BLAS and OpenMP libraries: one small
    dict per library (library, version, threading layer, core type, threads)."""
    from threadpoolctl import threadpool_info

    out = []
    for info in threadpool_info():
        out.append({
            "api": info.get("user_api"),
            "library": info.get("internal_api"),
            "file": os.path.basename(info.get("filepath") or ""),
            "dir": os.path.basename(os.path.dirname(info.get("filepath") or "")),
            "version": info.get("version"),
            "threading": info.get("threading_layer"),
            "core": info.get("architecture"),
            "threads": info.get("num_threads"),
        })
    return out


def own_pools(pool_list, owner):
    """The pools loaded from the engine's own wheel (`owner` is a substring of
    the library's directory, e.g. "faiss" for faiss_cpu.libs): a faiss child
    also loads numpy's OpenBLAS, which faiss never calls."""
    if owner is None:
        return []
    return [p for p in pool_list if owner in p["dir"]]


def blas_summary(pool_list):
    """One string for the `blas` field: each BLAS library with its version,
    threading layer and the core type (kernel) it runs; None if none."""
    parts = []
    for p in pool_list:
        if p["api"] != "blas":
            continue
        layer = f", {p['threading']}" if p.get("threading") else ""
        parts.append(f"{p['library']} {p['version']} ({p['file'].split('-')[0]}{layer}) core {p['core']}")
    return "; ".join(parts) or None


def pool_threads(pool_list):
    """The thread count the engine's pools report (the largest, if they differ)."""
    counts = [p["threads"] for p in pool_list if p.get("threads")]
    return max(counts) if counts else None


def child_environment_check():
    """What a child saw of the override variables (None each when unset)."""
    return {var: os.environ.get(var) for var in OPENBLAS_OVERRIDES}
