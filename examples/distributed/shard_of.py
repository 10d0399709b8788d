#!/usr/bin/env python3
"""The nidus shard function (SPEC.md §9.1) in plain Python, for writers
that route upserts and deletes without the Rust crates.

    shard_of(collection, id, n) = XXH64(seed 0,
        utf8(collection) + b"\\x00" + utf8(id)) mod n

Run it to check this implementation against the SPEC's test vectors:

    python3 examples/distributed/shard_of.py
"""

M = (1 << 64) - 1
P1 = 0x9E3779B185EBCA87
P2 = 0xC2B2AE3D27D4EB4F
P3 = 0x165667B19E3779F9
P4 = 0x85EBCA77C2B2AE63
P5 = 0x27D4EB2F165667C5


def _rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & M


def _round(acc, lane):
    acc = (acc + lane * P2) & M
    return (_rotl(acc, 31) * P1) & M


def _merge(acc, val):
    acc ^= _round(0, val)
    return (acc * P1 + P4) & M


def xxh64(data: bytes, seed: int = 0) -> int:
    """XXH64 as the xxHash project specifies it."""
    n = len(data)
    i = 0
    if n >= 32:
        v = [(seed + P1 + P2) & M, (seed + P2) & M, seed, (seed - P1) & M]
        while i + 32 <= n:
            for j in range(4):
                v[j] = _round(v[j], int.from_bytes(data[i + 8 * j:i + 8 * j + 8], "little"))
            i += 32
        h = (_rotl(v[0], 1) + _rotl(v[1], 7) + _rotl(v[2], 12) + _rotl(v[3], 18)) & M
        for lane in v:
            h = _merge(h, lane)
    else:
        h = (seed + P5) & M
    h = (h + n) & M
    while i + 8 <= n:
        h ^= _round(0, int.from_bytes(data[i:i + 8], "little"))
        h = (_rotl(h, 27) * P1 + P4) & M
        i += 8
    if i + 4 <= n:
        h ^= (int.from_bytes(data[i:i + 4], "little") * P1) & M
        h = (_rotl(h, 23) * P2 + P3) & M
        i += 4
    while i < n:
        h ^= (data[i] * P5) & M
        h = (_rotl(h, 11) * P1) & M
        i += 1
    h ^= h >> 33
    h = (h * P2) & M
    h ^= h >> 29
    h = (h * P3) & M
    return h ^ (h >> 32)


def shard_hash(collection: str, id: str) -> int:
    """The 64-bit hash that shard_of reduces modulo the shard count."""
    return xxh64(collection.encode() + b"\x00" + id.encode())


def shard_of(collection: str, id: str, n: int) -> int:
    """Which of n shards holds record `id` of `collection`."""
    if n < 1:
        raise ValueError("the number of shards must be at least 1")
    return shard_hash(collection, id) % n


# SPEC.md §9.1: (collection, id, hash, shard of 2, 3, 4, 7).
TEST_VECTORS = [
    ("default", "0", 0x155D3FEEA5FC037F, [1, 2, 3, 5]),
    ("default", "1", 0x20AA7C2D4BABA744, [0, 0, 0, 3]),
    ("default", "42", 0x0BA28B0ABF606241, [1, 1, 1, 6]),
    ("docs", "a", 0x790F2238F85AB374, [0, 1, 0, 0]),
    ("docs", "src/main.rs", 0x9D0A1221E18AF02A, [0, 2, 2, 6]),
    ("notes", "é ü 中", 0x07B619DABDC1C362, [0, 0, 2, 2]),
    ("c", "", 0x2E372943AE2F6B70, [0, 1, 0, 4]),
    ("", "", 0xE934A84ADB052768, [0, 0, 0, 5]),
]


def check() -> None:
    # Published XXH64 values first: the hash itself is right.
    assert xxh64(b"") == 0xEF46DB3751D8E999
    assert xxh64(b"abc") == 0x44BC2CF5AD770999
    assert xxh64(bytes(((i * 131 + 7) >> 1) & 0xFF for i in range(100))) == 0x1C0C2332E8FF479A
    for collection, id, want_hash, want in TEST_VECTORS:
        got = shard_hash(collection, id)
        assert got == want_hash, (collection, id, hex(got))
        assert [shard_of(collection, id, n) for n in (2, 3, 4, 7)] == want, (collection, id)


if __name__ == "__main__":
    check()
    print(f"shard_of.py: {len(TEST_VECTORS)} SPEC test vectors and 3 XXH64 reference values agree")
