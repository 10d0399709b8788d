#!/usr/bin/env python3
"""End-to-end check of fanout.py: sharded search on Dask equals one store.

    python3 examples/distributed/check.py [--rows 20000] [--dim 64] [--queries 64]
                                          [--k 10] [--nidus PATH] [--keep DIR]

It builds nidus (`cargo build --release -p nidus-cli`) unless --nidus is given,
generates seeded random data in two collections (with repeated vectors,
so that ties occur), imports it whole into one
store and split into 4 shards with `nidus import ... --shard I/4`, and then,
without and with a --filter:

1. runs fanout.py on a LocalCluster over the 4 shards;
2. asserts that its output equals `nidus search WHOLE` over the one store with
   every row: the same queries, and per query the same ids (collection and
   id) and the same scores, bit for bit (the f32 texts are equal). Equal
   scores may legitimately be ordered differently (by shard order in a
   merge, by insertion order in one store, SPEC.md §9.2), so within a run of
   equal scores the ids are compared as a set, and a run cut by k is
   compared by its scores only; the check reports how many ties it met;
3. asserts that every hit's "store" is the shard that shard_of.py (the
   plain-Python shard function, checked against SPEC.md §9.1's vectors)
   assigns to its (collection, id), and that the shard imports are
   disjoint and cover the data;
4. asserts that fanout.py's output is byte for byte what
   `nidus search S0 S1 S2 S3` prints on this machine.

Exit 0 and a summary on success; a failed assertion exits non-zero. It is not
part of `cargo test` (it needs Python, a Dask install and a release build).
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import shard_of  # noqa: E402  (the plain-Python shard function beside this file)


def run(cmd, **kw):
    done = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if done.returncode != 0:
        sys.exit(f"check: {' '.join(cmd)} failed ({done.returncode}):\n{done.stderr}")
    return done


def generate(path, rows, dim, seed):
    """Seeded rows; every 25th row repeats the vector of the row before it
    (under another id, usually in another shard and collection), so equal
    scores do occur and the tie rule is exercised."""
    rng = random.Random(seed)
    vector = None
    with open(path, "w") as f:
        for i in range(rows):
            if vector is None or i % 25 != 1:
                vector = [round(rng.gauss(0, 1), 6) for _ in range(dim)]
            collection = "notes" if i % 5 == 0 else "docs"
            f.write(json.dumps({"collection": collection, "id": f"doc-{i}", "vector": vector,
                                "attrs": {"n": i, "lang": ["en", "de", "fr"][i % 3]}}) + "\n")


def queries(path, n, dim, seed):
    rng = random.Random(seed)
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"q{i}", "vector": [rng.gauss(0, 1) for _ in range(dim)]})
                    + "\n")


def hits_of(line):
    """(label, [(collection, id, score text, store)]) with the score as the
    exact text nidus printed (the shortest text that round-trips the f32)."""
    sys.path.insert(0, HERE)
    from fanout import parse_line
    label, hits = parse_line(line)
    out = []
    for _, m in hits:
        d = dict(m)
        out.append((json.loads(d['"collection"']), json.loads(d['"id"']), d['"score"'],
                    json.loads(d['"store"']) if '"store"' in d else None))
    return label, out


def same_ranking(got, want, k):
    """Scores equal position by position (as text: bit for bit); ids equal as
    a set within each run of equal scores, except a run cut by k. Returns
    the number of tied runs met."""
    assert [h[2] for h in got] == [h[2] for h in want], (got, want)
    runs = {}
    for h in want:
        runs.setdefault(h[2], set()).add((h[0], h[1]))
    got_runs = {}
    for h in got:
        got_runs.setdefault(h[2], set()).add((h[0], h[1]))
    last = want[-1][2] if len(want) == k and want else None
    for score, ids in runs.items():
        if score != last:
            assert got_runs[score] == ids, (score, got_runs[score], ids)
    return sum(1 for ids in runs.values() if len(ids) > 1)


def main():
    p = argparse.ArgumentParser(description="fanout.py against one store, bit for bit")
    p.add_argument("--rows", type=int, default=20000)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--queries", type=int, default=64)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--nidus", help="the nidus binary (default: build target/release/nidus)")
    p.add_argument("--keep", metavar="DIR", help="work in DIR and keep it")
    args = p.parse_args()

    shard_of.check()
    nidus = args.nidus
    if not nidus:
        subprocess.check_call(["cargo", "build", "--release", "-q", "-p", "nidus-cli"], cwd=ROOT)
        nidus = os.path.join(ROOT, "target", "release", "nidus")
    nidus = os.path.abspath(nidus)

    tmp = None
    if args.keep:
        work = os.path.abspath(args.keep)
        os.makedirs(work, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="nidus-fanout-check-")
        work = tmp.name
    data = os.path.join(work, "data.jsonl")
    qfile = os.path.join(work, "queries.jsonl")
    generate(data, args.rows, args.dim, seed=17)
    queries(qfile, args.queries, args.dim, seed=23)

    whole = os.path.join(work, "whole")
    shards = [os.path.join(work, f"shard{i}") for i in range(4)]
    for store in [whole, *shards]:
        if os.path.exists(store):
            sys.exit(f"check: {store} exists; use an empty --keep directory")
    run([nidus, "import", whole, data])
    for i, shard in enumerate(shards):
        run([nidus, "import", shard, data, "--shard", f"{i}/4"])

    # The shards are disjoint and cover the data, and hold what shard_of says.
    seen = set()
    for i, shard in enumerate(shards):
        exported = os.path.join(work, f"export{i}.jsonl")
        run([nidus, "export", shard, exported])
        with open(exported) as f:
            for line in f:
                r = json.loads(line)
                key = (r["collection"], r["id"])
                assert key not in seen, key
                assert shard_of.shard_of(*key, 4) == i, (key, i)
                seen.add(key)
        os.remove(exported)
    assert len(seen) == args.rows, (len(seen), args.rows)

    ties = 0
    for extra in ([], ["--filter", '{"lang": {"$in": ["en", "fr"]}, "n": {"$gte": 100}}']):
        common = ["--queries", qfile, "--k", str(args.k), *extra]
        fan = run([sys.executable, os.path.join(HERE, "fanout.py"), "--shards", *shards,
                   "--nidus", nidus, *common])
        print(fan.stderr.strip().splitlines()[-1], file=sys.stderr)
        one = run([nidus, "search", whole, *common]).stdout.splitlines()
        many = run([nidus, "search", *shards, *common]).stdout
        got = fan.stdout.splitlines()
        assert len(got) == len(one) == args.queries, (len(got), len(one))
        for g, w in zip(got, one):
            g_label, g_hits = hits_of(g)
            w_label, w_hits = hits_of(w)
            assert g_label == w_label, (g_label, w_label)
            assert len(g_hits) == args.k, g
            ties += same_ranking(g_hits, w_hits, args.k)
            for c, i, _, store in g_hits:
                assert store == shards[shard_of.shard_of(c, i, 4)], (c, i, store)
        assert fan.stdout == many, "fanout.py differs from `nidus search S0 S1 S2 S3`"

    print(f"check: OK: {args.rows} rows (dim {args.dim}) in 4 shards, {args.queries} queries, "
          f"k {args.k}, with and without --filter: fanout.py on a LocalCluster equals one store "
          f"(ids and scores bit for bit; {ties} runs of tied scores) and, byte for byte, "
          f"`nidus search` over the 4 shards")
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
