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

from rcache.commands.lcs import MAX_TOTAL_LENGTH as LCS_MAX_TOTAL_LENGTH

from .test_differential import assert_same, pair  # noqa: F401 (pair: the fixture)

_SETTINGS = settings(max_examples=40, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])


def _sparse_max_bytes(conns, value: str) -> None:
    for conn in conns:
        conn.call("CONFIG", "SET", "hll-sparse-max-bytes", value)


@pytest.fixture
def both(pair):  # noqa: F811
    """The pair at Redis's default hll-sparse-max-bytes, before and after the test (both
    servers serve the whole session, and a test here changes it)."""
    _sparse_max_bytes(pair, "3000")
    yield pair
    _sparse_max_bytes(pair, "3000")


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
     ("PFCOUNT", "c3"), ("GET", "c3"),
     # every register 63: Redis's estimate divides by zero (its count is then 2**63)
     ("SET", "full", b"HYLL\x00\x00\x00\x00" + bytes(7) + b"\x80" + b"\xff" * 12288),
     ("PFCOUNT", "full"), ("GET", "full"), ("PFCOUNT", "full", "h")],
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


@pytest.mark.parametrize("max_bytes", ["0", "100", "4000"])
def test_hll_sparse_max_bytes(both, max_bytes) -> None:
    """CONFIG SET hll-sparse-max-bytes decides where PFADD and PFMERGE turn a sparse value
    dense, and so the value's bytes."""
    _sparse_max_bytes(both, max_bytes)
    elements = _elements(7, 2400)
    for start in range(0, len(elements), 100):
        assert_same(both, "PFADD", "h", *elements[start:start + 100])
        assert_same(both, "GET", "h")
    assert_same(both, "PFADD", "a", *elements[:30])
    assert_same(both, "PFDEBUG", "ENCODING", "a")
    assert_same(both, "PFADD", "b", *elements[30:90])
    assert_same(both, "PFMERGE", "a", "b")
    assert_same(both, "GET", "a")
    assert_same(both, "PFDEBUG", "ENCODING", "a")
    assert_same(both, "CONFIG", "GET", "hll-sparse-max-bytes")


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


# -- geo ------------------------------------------------------------------------------------------
_SICILY = ("GEOADD", "Sicily", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669",
           "Catania")
GEO_SEQUENCES = [
    [_SICILY, ("ZRANGE", "Sicily", "0", "-1", "WITHSCORES"), ("GEODIST", "Sicily", "Palermo",
     "Catania"), ("GEODIST", "Sicily", "Palermo", "Catania", "km"),
     ("GEODIST", "Sicily", "Palermo", "Catania", "MI"), ("GEODIST", "Sicily", "Palermo", "Catania",
     "ft"), ("GEODIST", "Sicily", "Palermo", "Catania", "parsec"),
     ("GEODIST", "Sicily", "Palermo", "nope"), ("GEODIST", "nokey", "a", "b"),
     ("GEODIST", "Sicily", "Palermo", "Palermo"), ("GEODIST", "Sicily", "a", "b", "km", "x"),
     ("GEOPOS", "Sicily", "Palermo", "Catania", "nope"), ("GEOPOS", "nokey", "a"),
     ("GEOPOS", "Sicily"),
     ("GEOHASH", "Sicily", "Palermo", "Catania", "nope"), ("GEOHASH", "nokey", "a"),
     ("GEOHASH", "Sicily")],
    [_SICILY, ("GEOADD", "Sicily", "NX", "XX", "1", "2", "x"), ("GEOADD", "Sicily", "1", "2"),
     ("GEOADD", "Sicily", "CH", "XX", "13.361389", "38.115557", "Palermo", "1", "1", "new"),
     ("GEOADD", "Sicily", "NX", "CH", "13.4", "38.1", "Palermo", "1", "1", "new"),
     ("GEOADD", "Sicily", "GT", "1", "1", "x"), ("GEOADD", "Sicily", "181", "2", "x"),
     ("GEOADD", "Sicily", "NX", "CH", "CH"), ("GEOADD", "Sicily", "CH", "CH", "CH", "CH"),
     ("GEOADD", "Sicily", "1", "86", "x"), ("GEOADD", "Sicily", "-180", "-85.05112878", "corner"),
     ("GEOADD", "Sicily", "180", "85.05112878", "corner2"),
     ("GEOPOS", "Sicily", "corner", "corner2"),
     ("GEOHASH", "Sicily", "corner", "corner2"), ("GEOADD", "Sicily", "a", "1", "x"),
     ("GEOADD", "Sicily", "1", "nan", "x"), ("GEOADD", "Sicily", "0", "0", "zero"),
     ("GEOPOS", "Sicily", "zero"), ("ZADD", "Sicily", "-5", "neg", "1e300", "huge"),
     ("GEOPOS", "Sicily", "neg", "huge"), ("GEOHASH", "Sicily", "neg"), ("SET", "str", "x"),
     ("GEOADD", "str", "1", "2", "x"), ("GEOPOS", "str", "x"), ("GEODIST", "str", "a", "b"),
     ("GEOHASH", "str", "x"), ("GEOSEARCH", "str", "FROMLONLAT", "1", "2", "BYRADIUS", "1", "m")],
    [_SICILY,
     ("GEORADIUS", "Sicily", "15", "37", "200", "km", "WITHDIST", "WITHCOORD", "WITHHASH"),
     ("GEORADIUS", "Sicily", "15", "37", "200", "km", "WITHDIST", "DESC"),
     ("GEORADIUS", "Sicily", "15", "37", "100", "km", "ASC", "COUNT", "1"),
     ("GEORADIUS", "Sicily", "15", "37", "200", "km", "COUNT", "1", "ANY"),
     ("GEORADIUS", "Sicily", "15", "37", "200", "km", "ANY"),
     ("GEORADIUS", "Sicily", "15", "37", "200", "km", "COUNT", "0"),
     ("GEORADIUS", "Sicily", "15", "37", "200", "km", "COUNT", "x"),
     ("GEORADIUS", "Sicily", "15", "37", "-1", "km"),
     ("GEORADIUS", "Sicily", "15", "37", "x", "km"),
     ("GEORADIUS", "Sicily", "15", "37", "1", "yd"),
     ("GEORADIUS", "Sicily", "15", "37", "1", "km", "FOO"),
     ("GEORADIUS", "Sicily", "15", "37", "200", "km", "STORE", "st"),
     ("ZRANGE", "st", "0", "-1", "WITHSCORES"),
     ("GEORADIUS", "Sicily", "15", "37", "200", "km", "STOREDIST", "st"),
     ("ZRANGE", "st", "0", "-1", "WITHSCORES"),
     ("GEORADIUS", "Sicily", "15", "37", "200", "km", "STORE", "st", "WITHDIST"),
     ("GEORADIUS", "Sicily", "15", "37", "1", "m", "STORE", "st"), ("EXISTS", "st"),
     ("GEORADIUS", "nokey", "15", "37", "1", "m"),
     ("GEORADIUS_RO", "Sicily", "15", "37", "200", "km", "STORE", "st"),
     ("GEORADIUS_RO", "Sicily", "15", "37", "200", "km", "WITHDIST"),
     ("GEORADIUSBYMEMBER", "Sicily", "Palermo", "200", "km", "WITHDIST", "WITHCOORD"),
     ("GEORADIUSBYMEMBER", "Sicily", "nope", "200", "km"),
     ("GEORADIUSBYMEMBER", "nokey", "nope", "x", "km", "STORE", "st"), ("EXISTS", "st"),
     ("GEORADIUSBYMEMBER_RO", "Sicily", "Catania", "100", "km"),
     ("GEORADIUSBYMEMBER_RO", "Sicily", "Catania", "100", "km", "STOREDIST", "x"),
     ("COMMAND", "GETKEYS", "GEORADIUS", "k", "1", "2", "3", "m", "STORE", "a", "STOREDIST", "b"),
     ("COMMAND", "GETKEYS", "GEORADIUSBYMEMBER", "k", "m", "3", "m", "STOREDIST", "b")],
    [_SICILY,
     ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYBOX", "400", "400", "km", "ASC",
      "WITHCOORD", "WITHDIST", "WITHHASH"),
     ("GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "BYRADIUS", "100", "km"),
     ("GEOSEARCH", "Sicily", "FROMMEMBER", "nope", "BYRADIUS", "100", "km"),
     ("GEOSEARCH", "nokey", "FROMMEMBER", "nope", "BYRADIUS", "100", "km"),
     ("GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "FROMLONLAT", "1", "2", "BYRADIUS", "1", "m"),
     ("GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "BYRADIUS", "100", "km", "BYBOX", "1", "1",
      "km"),
     ("GEOSEARCH", "Sicily", "BYRADIUS", "100", "km", "ASC"),
     ("geosearch", "Sicily", "FROMLONLAT", "15", "37", "ASC", "DESC"),
     ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "-1", "km"),
     ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYBOX", "x", "1", "km"),
     ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYBOX", "1", "x", "km"),
     ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYBOX", "1", "-1", "km"),
     ("GEOSEARCH", "Sicily", "FROMLONLAT", "200", "37", "BYBOX", "1", "1", "km"),
     ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "300", "km", "STORE", "x"),
     ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "300", "km", "COUNT", "1",
      "ANY", "DESC"),
     ("GEOSEARCHSTORE", "dst", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "300", "km",
      "STOREDIST"), ("ZRANGE", "dst", "0", "-1", "WITHSCORES"),
     ("GEOSEARCHSTORE", "dst", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "300", "km",
      "WITHDIST"),
     ("GEOSEARCHSTORE", "dst", "Sicily", "FROMLONLAT", "15", "37", "BYBOX", "300", "300", "km",
      "COUNT", "1"), ("ZRANGE", "dst", "0", "-1", "WITHSCORES"),
     ("GEOSEARCHSTORE", "dst", "nokey", "FROMMEMBER", "x", "BYBOX", "3", "3", "km"),
     ("EXISTS", "dst")],
    # huge numbers
    [_SICILY,
     ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "1e300", "km", "COUNT",
      "9223372036854775807", "WITHDIST"),
     ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "inf", "m", "COUNT",
      "9223372036854775808"),
     ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYBOX", "1e308", "1e308", "mi", "COUNT",
      "1", "ANY", "WITHCOORD"),
     ("GEORADIUS", "Sicily", "0", "0", "40000", "km", "COUNT", "9223372036854775807", "ANY"),
     ("GEORADIUS", "Sicily", "0", "0", "40000", "km", "COUNT", "-9223372036854775808"),
     ("GEODIST", "Sicily", "Palermo", "Catania", "M")],
]


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
@pytest.mark.parametrize("sequence", GEO_SEQUENCES, ids=lambda s: f"geo{len(s)}")
def test_geo_hand_written(both, sequence, resp3) -> None:
    _resp3(both, resp3)
    for argv in sequence:
        assert_same(both, *argv)


LONGITUDES = st.floats(min_value=-180, max_value=180).map(lambda x: f"{x:.6f}")
LATITUDES = st.floats(min_value=-85.05112878, max_value=85.05112878).map(lambda x: f"{x:.6f}")
UNITS = st.sampled_from(["m", "km", "mi", "ft"])
SIZES = st.sampled_from(["0", "1", "50", "500", "3000", "10000"])


@_SETTINGS
@given(points=st.lists(st.tuples(LONGITUDES, LATITUDES), min_size=1, max_size=200),
       searches=st.lists(st.tuples(LONGITUDES, LATITUDES, SIZES, SIZES, UNITS,
                                   st.sampled_from(["", "ASC", "DESC"])), min_size=1, max_size=6),
       resp3=st.booleans())
def test_geo_generated(both, points, searches, resp3) -> None:
    """Random points, random searches around random centres: same members, same order, same
    distances and coordinates. Equal distances keep their order (glibc's qsort is a stable
    merge sort); COUNT below the number found would use Redis's unstable partial quicksort,
    hence COUNT with ANY here."""
    try:
        _resp3(both, resp3)
        assert_same(both, "GEOADD", "g", *[x for i, (lon, lat) in enumerate(points)
                                           for x in (lon, lat, f"p{i}")])
        assert_same(both, "GEOPOS", "g", *[f"p{i}" for i in range(len(points))])
        assert_same(both, "GEOHASH", "g", "p0", f"p{len(points) - 1}")
        assert_same(both, "GEODIST", "g", "p0", f"p{len(points) - 1}", "km")
        for lon, lat, width, height, unit, order in searches:
            sort = (order,) if order else ()
            assert_same(both, "GEOSEARCH", "g", "FROMLONLAT", lon, lat, "BYRADIUS", width, unit,
                        *sort, "WITHDIST", "WITHCOORD", "WITHHASH")
            assert_same(both, "GEOSEARCH", "g", "FROMLONLAT", lon, lat, "BYBOX", width, height,
                        unit, *sort, "WITHDIST")
            assert_same(both, "GEORADIUSBYMEMBER", "g", "p0", width, unit, *sort, "COUNT", "5",
                        "ANY")
            assert_same(both, "GEOSEARCHSTORE", "d", "g", "FROMLONLAT", lon, lat, "BYBOX", width,
                        height, unit, "STOREDIST")
            assert_same(both, "ZRANGE", "d", "0", "-1", "WITHSCORES")
    finally:
        for conn in both:
            conn.call("HELLO", "2")
            conn.call("FLUSHALL")


# -- SORT -----------------------------------------------------------------------------------------
SORT_SEQUENCES = [
    [("RPUSH", "l", "3", "1", "2", "10", "-1.5", "1e3", "0x10", " 5", "", "inf", "-inf"),
     ("SORT", "l"), ("SORT", "l", "DESC"), ("SORT", "l", "ALPHA"), ("SORT", "l", "asc", "alpha"),
     ("SORT", "l", "ALPHA", "DESC", "LIMIT", "1", "3"), ("SORT", "l", "LIMIT", "-5", "2"),
     ("SORT", "l", "LIMIT", "100", "2"), ("SORT", "l", "LIMIT", "2", "-1"),
     ("SORT", "l", "LIMIT", "2", "0"), ("SORT", "l", "LIMIT", "0", "9223372036854775807"),
     ("SORT", "l", "LIMIT", "x", "1"), ("SORT", "l", "LIMIT", "1"), ("SORT", "l", "FOO"),
     ("SORT", "l", "BY"), ("SORT", "l", "GET"), ("SORT", "l", "STORE"),
     ("RPUSH", "bad", "1", "abc", "2"), ("SORT", "bad"), ("SORT", "bad", "ALPHA"),
     ("SORT", "bad", "BY", "nosort"), ("SORT", "bad", "BY", "nosort", "DESC", "LIMIT", "1", "1"),
     ("SORT", "bad", "STORE", "dst"), ("EXISTS", "dst"), ("SORT", "nokey"),
     ("SORT", "nokey", "BY", "x", "DESC"), ("SET", "str", "x"), ("SORT", "str"),
     ("SORT", "str", "FOO"), ("HSET", "h", "a", "1"), ("SORT_RO", "h"),
     ("RPUSH", "nul", "a\0b", "a\0a", "a", "b"), ("SORT", "nul", "ALPHA"),
     ("SORT", "nul", "ALPHA", "STORE", "d2"), ("LRANGE", "d2", "0", "-1"),
     ("RPUSH", "n2", "1\0x", "2"), ("SORT", "n2"),
     ("SORT", "l", "LIMIT", "9223372036854775807", "9223372036854775807"),
     ("SORT", "l", "LIMIT", "-9223372036854775808", "9223372036854775807"),
     ("SORT", "l", "LIMIT", "1", "9223372036854775808")],
    [("RPUSH", "l", "3", "1", "2", "10"), ("MSET", "w_3", "30", "w_1", "10", "w_2", "20",
     "w_10", "-5", "o_1", "one", "o_2", "two", "o_10", "ten"),
     ("HSET", "h_1", "f", "100", "g", "x"), ("HSET", "h_2", "f", "50"), ("HSET", "h_3", "f", "x"),
     ("SORT", "l", "BY", "w_*"), ("SORT", "l", "BY", "w_*", "DESC", "GET", "#", "GET", "o_*",
     "GET", "h_*->f", "GET", "nostar", "GET", "h_*->"),
     ("SORT", "l", "BY", "h_*->f"), ("SORT", "l", "BY", "h_*->g"), ("SORT", "l", "BY", "h_*->"),
     ("SORT", "l", "BY", "w_*", "ALPHA"), ("SORT", "l", "BY", "o_*", "ALPHA", "DESC"),
     ("SORT", "l", "BY", "o_*", "ALPHA", "DESC", "LIMIT", "0", "2"),
     ("SORT", "l", "BY", "o_*", "ALPHA", "STORE", "dst"), ("LRANGE", "dst", "0", "-1"),
     ("SORT", "l", "GET", "o_*", "STORE", "dst"), ("LRANGE", "dst", "0", "-1"),
     ("SORT", "l", "BY", "w_*", "GET", "#", "GET", "w_*", "LIMIT", "1", "2", "STORE", "dst"),
     ("LRANGE", "dst", "0", "-1"), ("SORT", "l", "BY", "o_*->x"), ("SORT", "l", "BY", "o_*"),
     ("SORT", "l", "BY", "o_*", "LIMIT", "1", "1"), ("SORT", "l", "GET", "#", "GET", "#"),
     ("SORT", "l", "BY", "nosort", "DESC", "LIMIT", "1", "2", "GET", "o_*"),
     ("EXPIRE", "dst", "100"), ("SORT", "l", "STORE", "dst"), ("TTL", "dst"),
     ("SORT", "nokey", "STORE", "dst"), ("EXISTS", "dst"), ("SORT", "l", "STORE", "l"),
     ("LRANGE", "l", "0", "-1"), ("SORT_RO", "l", "STORE", "x"),
     ("SORT_RO", "l", "BY", "w_*", "GET", "#", "GET", "o_*")],
    [("SADD", "s", "5", "3", "9", "1", "-2"), ("SORT", "s"),
     ("SORT", "s", "DESC", "LIMIT", "0", "2"), ("SORT", "s", "ALPHA"),
     ("SORT", "s", "BY", "nosort", "STORE", "dst"),
     ("LRANGE", "dst", "0", "-1"), ("SADD", "t", "b", "a", "c"), ("SORT", "t", "ALPHA", "DESC"),
     ("SORT", "t"), ("ZADD", "z", "1", "c", "2", "b", "3", "a", "3", "d"),
     ("SORT", "z", "BY", "nosort"), ("SORT", "z", "BY", "nosort", "DESC"),
     ("SORT", "z", "BY", "nosort", "DESC", "LIMIT", "1", "5"),
     ("SORT", "z", "BY", "nosort", "LIMIT", "1", "2", "GET", "#"), ("SORT", "z", "ALPHA"),
     ("SORT", "z"), ("SORT", "z", "BY", "nosort", "STORE", "dst"), ("LRANGE", "dst", "0", "-1"),
     ("COMMAND", "GETKEYS", "SORT", "k", "STORE", "a", "LIMIT", "0", "1", "STORE", "b"),
     ("COMMAND", "GETKEYS", "SORT", "k", "GET", "STORE", "BY", "x", "STORE"),
     ("COMMAND", "GETKEYS", "SORT", "k", "STORE", "LIMIT", "x", "y", "STORE"),
     ("COMMAND", "GETKEYS", "SORT_RO", "k", "STORE", "a"),
     # last: Redis checks a stale errno, so after this ERANGE every numeric SORT on the
     # connection's server fails until errno changes (a new connection's accept resets it)
     ("RPUSH", "inf", "1", "1e400"), ("SORT", "inf")],
]


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
@pytest.mark.parametrize("sequence", SORT_SEQUENCES, ids=lambda s: f"sort{len(s)}")
def test_sort_hand_written(both, sequence, resp3) -> None:
    _resp3(both, resp3)
    for argv in sequence:
        assert_same(both, *argv)


def test_sort_set_unsorted(both) -> None:
    """BY a constant leaves a set in its own order, Redis's hash order: same members."""
    ours, theirs = both
    for conn in both:
        conn.call("SADD", "s", *[f"m{i}" for i in range(40)])
    assert (sorted(_replies(ours.call("SORT", "s", "BY", "nosort")))
            == sorted(_replies(theirs.call("SORT", "s", "BY", "nosort"))))


def _replies(raw: bytes) -> list[bytes]:
    return raw.split(b"\r\n")[2::2]


SORT_ELEMENTS = st.sampled_from(["1", "2", "10", "-3", "2.5", "x", "y", "", "1e2", "07", "b"])
WEIGHTED = ["1", "2", "10", "-3", "x", "b"]


@_SETTINGS
@given(elements=st.lists(SORT_ELEMENTS, min_size=0, max_size=12),
       weights=st.permutations(["5", "1", "-2", "30", "4.5", "7"]),
       as_set=st.booleans(),
       options=st.lists(st.sampled_from([("DESC",), ("ALPHA",), ("LIMIT", "1", "3"),
                                         ("LIMIT", "-1", "2"), ("BY", "w_*"), ("GET", "#"),
                                         ("GET", "w_*"), ("GET", "h_*->f"), ("BY", "h_*->f"),
                                         ("STORE", "dst")]), max_size=4, unique=True))
def test_sort_generated(both, elements, weights, as_set, options) -> None:
    """Random lists and sets sorted with random options. Where Redis's order is not its own
    to decide (a set's members ALPHA BY a pattern, BY with LIMIT finding ties) the case is
    left out."""
    flat = [word for option in options for word in option]
    by = [option for option in options if option[0] == "BY"]
    if by and "ALPHA" in flat and (as_set or "LIMIT" in flat):
        return
    try:
        for conn in both:
            for element, weight in zip(WEIGHTED, weights, strict=True):
                conn.call("SET", f"w_{element}", weight)
                conn.call("HSET", f"h_{element}", "f", weight)
        if elements:
            assert_same(both, "SADD" if as_set else "RPUSH", "k", *elements)
        assert_same(both, "SORT", "k", *flat)
        assert_same(both, "SORT_RO", "k", *[w for w in flat if w not in ("STORE", "dst")])
        assert_same(both, "LRANGE", "dst", "0", "-1")
    finally:
        for conn in both:
            conn.call("FLUSHALL")


# -- LCS ------------------------------------------------------------------------------------------
LCS_SEQUENCE = [
    ("MSET", "key1", "ohmytext", "key2", "mynewtext"), ("LCS", "key1", "key2"),
    ("LCS", "key1", "key2", "LEN"), ("LCS", "key1", "key2", "IDX"),
    ("LCS", "key1", "key2", "IDX", "MINMATCHLEN", "4"),
    ("LCS", "key1", "key2", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"),
    ("LCS", "key1", "key2", "idx", "withmatchlen"), ("LCS", "key1", "key2", "LEN", "IDX"),
    ("LCS", "key1", "key2", "FOO"), ("LCS", "key1", "key2", "MINMATCHLEN"),
    ("LCS", "key1", "key2", "MINMATCHLEN", "x"),
    ("LCS", "key1", "key2", "IDX", "MINMATCHLEN", "-5"),
    ("LCS", "key1", "key2", "LEN", "MINMATCHLEN", "2", "WITHMATCHLEN"),
    ("LCS", "nokey", "key2"), ("LCS", "nokey", "nokey2", "IDX"), ("LCS", "key1", "nokey", "LEN"),
    ("LCS", "key1", "key1", "IDX", "WITHMATCHLEN"), ("LPUSH", "l", "a"), ("LCS", "l", "key1"),
    ("LCS", "key1", "l", "FOO"), ("SET", "e", ""), ("LCS", "e", "key1", "IDX"),
    ("MSET", "a", "a\0b\0c", "b", "\0b\0"), ("LCS", "a", "b", "IDX", "WITHMATCHLEN"),
    ("LCS", "a", "b"), ("COMMAND", "GETKEYS", "LCS", "x", "y", "IDX"),
    ("LCS", "key1", "key2", "IDX", "MINMATCHLEN", "9223372036854775807"),
    ("LCS", "key1", "key2", "IDX", "MINMATCHLEN", "9223372036854775808"),
    # Redis's own limit: the (len+1)^2 table of uint32 may not exceed proto-max-bulk-len
    ("SET", "big1", "x" * 20000), ("SET", "big2", "y" * 20000), ("LCS", "big1", "big2"),
    ("LCS", "big1", "big2", "LEN"),
]


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_lcs_hand_written(both, resp3) -> None:
    _resp3(both, resp3)
    for argv in LCS_SEQUENCE:
        assert_same(both, *argv)


def test_lcs_bounded_in_rcache(both) -> None:
    """Inputs Redis accepts (its table fits 512 MB) but whose rows and walk back would stall
    a Python node are refused, with an error that says why; just below the limit, answers."""
    ours, theirs = both
    for conn in both:
        conn.call("SET", "a", "ab" * 50)
        conn.call("SET", "b", "ba" * 300_000)
    for options in ((), ("LEN",), ("IDX",)):
        assert ours.call("LCS", "a", "b", *options).startswith(
            b"-ERR LCS input too long for rcache")
    assert theirs.call("LCS", "a", "b").startswith(b"$100\r\n")
    for conn in both:
        conn.call("SET", "b", "ba" * (LCS_MAX_TOTAL_LENGTH // 2 - 50))
    assert_same(both, "LCS", "a", "b", "LEN")
    assert_same(both, "LCS", "a", "b", "IDX", "MINMATCHLEN", "2")


@_SETTINGS
@given(a=st.binary(max_size=60).map(lambda raw: bytes(b % 4 + 97 for b in raw)),
       b=st.binary(max_size=60).map(lambda raw: bytes(b % 5 + 97 for b in raw)),
       min_len=st.sampled_from(["0", "1", "2", "3"]), resp3=st.booleans())
def test_lcs_generated(both, a, b, min_len, resp3) -> None:
    """Random strings over small alphabets (many ties in the table): the same subsequence and
    the same ranges as Redis's walk back."""
    try:
        _resp3(both, resp3)
        assert_same(both, "MSET", "a", a, "b", b)
        assert_same(both, "LCS", "a", "b")
        assert_same(both, "LCS", "b", "a", "LEN")
        assert_same(both, "LCS", "a", "b", "IDX", "MINMATCHLEN", min_len, "WITHMATCHLEN")
    finally:
        for conn in both:
            conn.call("HELLO", "2")
            conn.call("FLUSHALL")


def test_long_strings_kept_in_fragments(both) -> None:
    """Strings past the fragment threshold (64 KiB) read as strings by every family."""
    long_value = "x" * 70_000 + "needle" + "y" * 10_000
    for conn in both:
        conn.call("SET", "long", long_value)
        conn.call("SET", "short", "needles")
        conn.call("RPUSH", "ids", "1")
        conn.call("SET", "w_1", long_value)
    for argv in [("PFCOUNT", "long"), ("PFADD", "long", "a"), ("LCS", "long", "short", "LEN"),
                 ("LCS", "short", "long"), ("SORT", "ids", "BY", "nosort", "GET", "w_*"),
                 ("OBJECT", "ENCODING", "long"), ("STRLEN", "long")]:
        assert_same(both, *argv)
    ours, theirs = both
    payload = theirs.call("DUMP", "long")  # LZF-compressed by Redis
    raw = payload.split(b"\r\n", 1)[1][:-2]
    assert ours.call("RESTORE", "copy", "0", raw) == b"+OK\r\n"
    assert ours.call("GET", "copy") == theirs.call("GET", "long")
    mine = ours.call("DUMP", "long").split(b"\r\n", 1)[1][:-2]
    assert theirs.call("RESTORE", "copy", "0", mine) == b"+OK\r\n"
    assert theirs.call("GET", "copy") == ours.call("GET", "long")
