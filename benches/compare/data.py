"""The dataset (generated or given), the float64 ground truth, recall, and
reading a stored matrix in row chunks.

Chunked reading is there for peak memory: an engine that copies vectors into
its own structure (faiss, sqlite-vec, the int8 codes) is fed from plain file
reads, so its child's peak is the engine's memory plus one chunk, not the
engine's memory plus the whole float32 matrix it was built from. (Pages of a
memory-mapped file would count in the child's resident set; page cache read
through read() does not.)
"""

import os

CHUNK_ROWS = 50_000


def make_dataset(args, workdir):
    """Writes base.npy and queries.npy (unit-normalized float32) into workdir."""
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


def read_header(f):
    """Reads a .npy header; returns (shape, dtype, fortran order)."""
    import numpy as np

    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    return shape, dtype, fortran


def npy_shape(path):
    """(rows, dim) of a 2-D float32 .npy file, without loading it."""
    import numpy as np

    with open(path, "rb") as f:
        shape, dtype, fortran = read_header(f)
    assert dtype == np.float32 and not fortran and len(shape) == 2, path
    return shape


def read_chunks(path, rows=CHUNK_ROWS):
    """Yields (first row, float32 chunk) of a 2-D .npy file by plain reads."""
    import numpy as np

    n, dim = npy_shape(path)
    with open(path, "rb") as f:
        read_header(f)
        for lo in range(0, n, rows):
            count = min(rows, n - lo)
            chunk = np.empty((count, dim), dtype=np.float32)
            f.readinto(memoryview(chunk).cast("B"))
            yield lo, chunk


def ground_truth(base_path, query_path, k):
    """Exact top-k by float64 inner product of the (already unit) vectors."""
    import numpy as np

    queries = np.load(query_path).astype(np.float64)
    best_scores = np.full((len(queries), k), -np.inf)
    best_ids = np.zeros((len(queries), k), dtype=np.int64)
    for lo, chunk in read_chunks(base_path, 200_000):
        scores = queries @ chunk.astype(np.float64).T
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
    """recall@k over the queries answered: `found` may cover a prefix of the
    queries (an engine too slow to answer them all), never more."""
    assert 0 < len(found) <= len(truth)
    hits = sum(len(set(map(int, f)) & set(map(int, t))) for f, t in zip(found, truth))
    return hits / float(len(found) * truth.shape[1])
