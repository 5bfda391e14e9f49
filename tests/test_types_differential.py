"""Differential tests of HyperLogLog, geo, SORT and LCS: the same commands to a real
redis-server and to rcache, replies compared byte for byte, RESP2 and RESP3.

HyperLogLog values are strings, so comparing GET after each write checks the exact bytes of
the sparse and dense encodings, not only the counts.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .test_differential import assert_same, pair  # noqa: F401 (pair: the fixture)

_SETTINGS = settings(max_examples=40, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def both(pair):  # noqa: F811
    """The pair, with the reference server at Redis's default hll-sparse-max-bytes (another
    test of the session may have changed it)."""
    pair[1].call("CONFIG", "SET", "hll-sparse-max-bytes", "3000")
    return pair


def _resp3(conns, resp3: bool) -> None:
    if resp3:
        for conn in conns:
            conn.call("HELLO", "3")


def _elements(seed: int, count: int) -> list[bytes]:
    rnd = random.Random(seed)
    return [rnd.randbytes(rnd.randrange(0, 20)) for _ in range(count)]


# -- HyperLogLog ----------------------------------------------------------------------------------
HLL_SEQUENCES = [
    [("PFADD", "h"), ("GET", "h"), ("PFCOUNT", "h"), ("PFADD", "h"), ("PFADD", "h", "a", "b", "c"),
     ("GET", "h"), ("PFADD", "h", "a"), ("PFCOUNT", "h"), ("GET", "h"), ("PFCOUNT", "h", "nokey"),
     ("PFCOUNT", "nokey"), ("TYPE", "h"), ("STRLEN", "h"), ("PFDEBUG", "ENCODING", "h"),
     ("PFDEBUG", "DECODE", "h"), ("PFDEBUG", "GETREG", "nokey"), ("PFDEBUG", "BAD", "h"),
     ("PFDEBUG", "TODENSE", "h"), ("GET", "h"), ("PFDEBUG", "TODENSE", "h"),
     ("PFDEBUG", "DECODE", "h"), ("PFDEBUG", "ENCODING", "h"), ("PFADD", "h", "d"),
     ("PFCOUNT", "h"), ("GET", "h"), ("PFDEBUG", "GETREG", "h")],
    [("SET", "s", "hello"), ("PFADD", "s", "a"), ("PFCOUNT", "s"), ("PFCOUNT", "nokey", "s"),
     ("PFMERGE", "d", "s"), ("PFMERGE", "s"), ("RPUSH", "l", "a"), ("PFADD", "l", "a"),
     ("PFCOUNT", "l"), ("PFMERGE", "l"), ("PFMERGE", "d", "l"), ("PFDEBUG", "ENCODING", "l"),
     ("SET", "short", "HYLL"), ("PFADD", "short", "a"),
     ("SET", "baddense", b"HYLL\x00\x00\x00\x00" + bytes(8) + b"xx"), ("PFCOUNT", "baddense"),
     ("SET", "badenc", b"HYLL\x02\x00\x00\x00" + bytes(8) + b"\x7f\xff"), ("PFADD", "badenc", "a"),
     # a sparse value whose opcodes cover too few registers, and one truncated mid-XZERO
     # (not decoded: Redis reads the byte past its end there, whatever it holds)
     ("SET", "c1", b"HYLL\x01\x00\x00\x00" + bytes(8) + b"\x7f\xff\x80"), ("PFCOUNT", "c1"),
     ("PFADD", "c1", "a", "b"), ("GET", "c1"), ("PFCOUNT", "c1", "h"), ("PFMERGE", "m", "c1"),
     ("PFDEBUG", "TODENSE", "c1"), ("SET", "c2", b"HYLL\x01\x00\x00\x00" + bytes(8) + b"\x7f"),
     ("PFADD", "c2", "a"), ("GET", "c2"), ("PFCOUNT", "c2"),
     ("PFADD", "c3"), ("SETRANGE", "c3", "15", "\x00"), ("PFCOUNT", "c3"), ("PFADD", "c3", "x"),
     ("PFCOUNT", "c3"), ("GET", "c3")],
    [("PFADD", "t", "a"), ("EXPIRE", "t", "100"), ("PFADD", "t", "b"), ("TTL", "t"),
     ("PFCOUNT", "t"), ("TTL", "t"), ("PFMERGE", "t", "t"), ("TTL", "t"), ("PFMERGE", "new", "t"),
     ("TTL", "new"), ("GET", "new"), ("PFMERGE", "empty"), ("GET", "empty"),
     ("PFMERGE", "empty2", "nokey"), ("EXISTS", "empty2"), ("MULTI",), ("PFADD", "x", "1"),
     ("PFCOUNT", "x"), ("GET", "x"), ("EXEC",)],
]


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
@pytest.mark.parametrize("sequence", HLL_SEQUENCES, ids=lambda s: f"hll{len(s)}")
def test_hll_hand_written(both, sequence, resp3) -> None:
    _resp3(both, resp3)
    for argv in sequence:
        assert_same(both, *argv)


@pytest.mark.parametrize("count", [200, 1500, 3000, 20000])
def test_hll_sparse_to_dense_and_merge(both, count) -> None:
    """Big enough sets to cross hll-sparse-max-bytes (at ~1500-3000 elements) and to put
    registers past 32 (which forces dense whatever the size); merges of sparse and dense."""
    elements = _elements(count, count)
    for start in range(0, count, 400):
        assert_same(both, "PFADD", "big", *elements[start:start + 400])
        assert_same(both, "GET", "big")
    assert_same(both, "PFDEBUG", "ENCODING", "big")
    assert_same(both, "PFCOUNT", "big")
    assert_same(both, "GET", "big")
    assert_same(both, "PFADD", "small", *elements[:50])
    assert_same(both, "PFADD", "other", *_elements(count + 1, 300))
    assert_same(both, "PFMERGE", "small", "other")
    assert_same(both, "GET", "small")
    assert_same(both, "PFMERGE", "merged", "small", "big")
    assert_same(both, "GET", "merged")
    assert_same(both, "PFCOUNT", "small", "big", "other")
    assert_same(both, "PFCOUNT", "merged")


@_SETTINGS
@given(batches=st.lists(st.lists(st.binary(max_size=12), min_size=0, max_size=60), min_size=1,
                        max_size=5),
       keys=st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=5))
def test_hll_generated(both, batches, keys) -> None:
    """Random element sets added to random keys: every GET, PFCOUNT and PFMERGE equal."""
    try:
        for batch, key in zip(batches, keys * len(batches), strict=False):
            assert_same(both, "PFADD", key, *batch)
            assert_same(both, "GET", key)
            assert_same(both, "PFCOUNT", key)
        assert_same(both, "PFCOUNT", "a", "b", "c")
        assert_same(both, "PFMERGE", "c", "a", "b")
        assert_same(both, "GET", "c")
    finally:
        for conn in both:
            conn.call("FLUSHALL")
