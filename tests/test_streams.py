"""Streams against a real redis-server: the same commands to both, replies compared byte for
byte in RESP2 and RESP3 (fields that hold times compared by shape only); blocking XREAD and
XREADGROUP woken by another client's XADD and timed out; a stream and its consumer group
replicated on three nodes; rq, which writes job results with XADD, run end to end."""

from __future__ import annotations

import os
import random
import re
import signal
import struct
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.exceptions import MovedError

from rcache import rdb

from .conftest import LocalCluster, Node, wait_for
from .test_differential import RawConnection, pair  # noqa: F401 (pair: the fixture)
from .test_pubsub import Connection

ROOT = Path(__file__).resolve().parent.parent

# Times in replies: a ms timestamp (delivery and seen times), XINFO CONSUMERS's idle, and
# XPENDING's idle (the third field of each entry of its extended form).
_TIMESTAMP = re.compile(rb":\d{13,}\r\n")
_IDLE = re.compile(rb"(\$4\r\nidle\r\n):\d+\r\n")
_PENDING_IDLE = re.compile(rb"(\*4\r\n\$\d+\r\n\d+-\d+\r\n\$\d+\r\n[^\r\n]*\r\n):\d+\r\n")


def _masked(reply: bytes) -> bytes:
    reply = _TIMESTAMP.sub(b":<time>\r\n", reply)
    reply = _IDLE.sub(rb"\1:<idle>\r\n", reply)
    return _PENDING_IDLE.sub(rb"\1:<idle>\r\n", reply)


def assert_same(conns, *argv) -> bytes:
    ours, theirs = conns
    expected = _masked(theirs.call(*argv))
    got = _masked(ours.call(*argv))
    assert got == expected, f"{argv!r}: redis {expected!r} rcache {got!r}"
    return got


def _resp3(conns, resp3: bool) -> None:
    if resp3:
        for conn in conns:
            conn.call("HELLO", "3")


def _lines(text: str) -> list[tuple[str, ...]]:
    """One command per line, arguments split on spaces."""
    return [tuple(line.split()) for line in text.strip().splitlines()]


SEQUENCES = [
    # XADD: ids, partial ids, errors, NOMKSTREAM, trimming options; XRANGE / XREVRANGE
    _lines("""
XADD s 1-1 a 1
XADD s 1-1 a 1
XADD s 1-* b 2
XADD s 2 c 3
XADD s 0-0 a 1
XADD n 0-0 a 1
XADD s NOMKSTREAM 3-1 x y
XADD nope NOMKSTREAM * x y
XADD s 5-1 x
XADD s 5-1 x y z
XADD s MAXLEN = 3 9-1 x y
XRANGE s - +
XREVRANGE s + -
XRANGE s (1-2 +
XRANGE s - + COUNT 1
XRANGE s - + COUNT 0
XRANGE s - + COUNT -1
XRANGE s - + COUNT 9223372036854775807
XRANGE nokey - +
XRANGE s x +
XRANGE s (- +
XRANGE s - + FOO
XRANGE s - + COUNT
XRANGE s 5 5
XRANGE s + -
XREVRANGE s (9-1 - COUNT 1
XREVRANGE s + (5-1
XRANGE s (18446744073709551615-18446744073709551615 +
XRANGE s - (0-0
XRANGE s - (0
XLEN s
XLEN nokey
XADD s MAXLEN ~ 10 10-1 a 1
XADD s MINID 5 MAXLEN 5 11-1 a 1
XADD s MAXLEN 5 LIMIT 10 11-1 a 1
XADD s LIMIT 10 11-1 a 1
XADD s MAXLEN -1 11-1 a 1
XADD s MAXLEN x 11-1 a 1
XADD s MINID x 11-1 a 1
XADD s MINID - 11-1 a 1
XADD s LIMIT -1 MAXLEN ~ 5 11-1 a 1
XADD s MINID ~ 2 LIMIT 5 11-1 a 1
XRANGE s - +
"""),
    # id edges: the last possible id, sequence overflow, what string2ull accepts
    _lines("""
XADD t 18446744073709551615-18446744073709551614 a 1
XADD t 18446744073709551615-* a 1
XADD t 18446744073709551615-* a 1
XADD t * a 1
XADD u 5-18446744073709551615 a 1
XADD u 5-* a 1
XADD u 18446744073709551616-1 a 1
""")
    + [("XADD", "u", " 6-1", "a", "1")]  # strtoull skips leading spaces
    + _lines("""
XADD u -5-1 a 1
XADD u 7-+1 a 1
XADD u 7-x a 1
XADD u 8-1-1 a 1
XADD u 9-01 a 1
""")
    + [("XADD", "u", "x" * 130, "a", "1")]  # longer than Redis reads an id
    + _lines("""
XRANGE u - +
XSETID t 1-1
XINFO STREAM t
"""),
    # XDEL XTRIM XSETID, the state XINFO STREAM reports
    _lines("""
XADD v 1-1 a 1
XADD v 2-1 a 1
XADD v 3-1 a 1
XDEL v 1-1 9-9
XDEL v bad
XDEL nokey 1-1
XDEL nokey bad
XINFO STREAM v
XSETID v 1-1
XSETID v 4-0 ENTRIESADDED 1
XSETID v 4-0 MAXDELETEDID 5-0
XSETID v 4-0 ENTRIESADDED -1
XSETID v 4-0 FOO
XSETID v -
XSETID v 3
XSETID v 4-0 ENTRIESADDED 10 MAXDELETEDID 3-5
XINFO STREAM v
XSETID v 4-0 MAXDELETEDID 1-0
XADD w 1-1 a 1
XADD w 2-1 a 1
XDEL w 2-1
XSETID w 1-5
XINFO STREAM w
XSETID nokey 1-1
XTRIM v
XTRIM v MAXLEN
XTRIM v FOO 1
XTRIM v LIMIT 5
XTRIM v MAXLEN = 1 LIMIT 10
XTRIM v MAXLEN ~ 0
XTRIM nokey MAXLEN 0
XLEN v
XADD v 5-1 a 1
XTRIM v MINID 5-1
XTRIM v MINID = 999
XLEN v
XINFO STREAM v
XINFO STREAM v FULL
EXISTS v
"""),
    # consumer groups from creation to destruction
    _lines("""
XADD s 10-1 a 1
XADD s 11-1 b 2
XADD s 12-1 c 3
XGROUP CREATE s g 0
XGROUP CREATE s g 0
XGROUP CREATE nokey g 0
XGROUP CREATE empty g $ MKSTREAM
XGROUP CREATE s g2 $ ENTRIESREAD 3
XGROUP CREATE s g3 $ ENTRIESREAD -2
XGROUP CREATE s g3 $ FOO
XGROUP CREATE s g3 bad
XGROUP CREATECONSUMER s g c1
XGROUP CREATECONSUMER s g c1
XGROUP CREATECONSUMER s nog c1
XINFO GROUPS s
XREADGROUP GROUP g c1 COUNT 2 STREAMS s >
XREADGROUP GROUP g c2 STREAMS s >
XREADGROUP GROUP g c2 STREAMS s >
XREADGROUP GROUP g c1 STREAMS s 0
XREADGROUP GROUP nog c1 STREAMS s 0
XREADGROUP GROUP g c1 STREAMS s $
XREADGROUP GROUP g c1 STREAMS s
XREADGROUP STREAMS s 0
XREADGROUP GROUP g c9 STREAMS s 0
XREADGROUP GROUP g c1 NOACK STREAMS s 0
XINFO CONSUMERS s g
XREAD STREAMS s 0
XREAD COUNT 1 STREAMS s nokey 0 0
XREAD STREAMS s $
XREAD STREAMS s >
XREAD STREAMS s 0 0
XREAD GROUP g c STREAMS s 0
XREAD NOACK STREAMS s 0
XREAD BLOCK x STREAMS s 0
XREAD BLOCK -1 STREAMS s 0
XREAD FOO STREAMS s 0
XREAD COUNT 1
XPENDING s g
XPENDING s g - + 10
XPENDING s g - + 10 c1
XPENDING s g - + 10 nobody
XPENDING s g IDLE 0 - + 10
XPENDING s g IDLE 99999999 - + 10
XPENDING s nog
XPENDING s g - +
XPENDING s g (10-1 (12-1 5
XPENDING s g IDLE 0 - +
XPENDING s g - + x
XACK s g 10-1
XACK s g 10-1 11-1
XACK s g bad
XACK s nog 1-1
XDEL s 12-1
XREADGROUP GROUP g c2 STREAMS s 0
XPENDING s g
XINFO GROUPS s
XCLAIM s g c3 0 12-1
XPENDING s g
XCLAIM s g c3 0 1-1 FORCE JUSTID
XADD s 20-1 f v
XCLAIM s g c3 0 20-1 FORCE JUSTID
XCLAIM s g c3 0 20-1 FORCE
XCLAIM s g c3 0 20-1 RETRYCOUNT 7 JUSTID
XCLAIM s g c3 3600000 20-1
XCLAIM s g c4 0 20-1 IDLE 5000
XPENDING s g IDLE 4000 - + 10
XCLAIM s g c3 0 20-1 BOGUS
XCLAIM s g c3 x 20-1
XCLAIM s g c3 0 20-1 IDLE x
XCLAIM s g c3 0 20-1 TIME x
XCLAIM s g c3 0 20-1 RETRYCOUNT x
XCLAIM s nog c3 0 20-1
XCLAIM s g c3 0 20-1 LASTID 30-0
XCLAIM s g c3 0 20-1 TIME 1 JUSTID
XINFO GROUPS s
XINFO STREAM s FULL
XAUTOCLAIM s g c4 0 0 COUNT 1 JUSTID
XAUTOCLAIM s g c4 0 0 COUNT 0
XAUTOCLAIM s g c4 x 0
XAUTOCLAIM s g c4 0 bad
XAUTOCLAIM s g c4 0 0 FOO
XAUTOCLAIM s g c4 0 0 JUSTID
XAUTOCLAIM s nog c4 0 0 JUSTID
XAUTOCLAIM s g c4 3600000 0
XAUTOCLAIM s g c5 0 (0-0 COUNT 100
XAUTOCLAIM s g c5 0 0 COUNT 576460752303423488
XPENDING s g - + 9223372036854775807
XREAD COUNT 9223372036854775807 STREAMS s 0
XREADGROUP GROUP g c5 COUNT 9223372036854775807 STREAMS s 0
XINFO STREAM s FULL COUNT 9223372036854775807
XGROUP DELCONSUMER s g c4
XGROUP DELCONSUMER s g c4
XGROUP DELCONSUMER s nog c4
XGROUP SETID s g 0 ENTRIESREAD 0
XGROUP SETID s g 0 ENTRIESREAD
XGROUP SETID s g 0 FOO 1
XGROUP SETID s g $
XGROUP SETID s nog $
XINFO GROUPS s
XINFO CONSUMERS s g
XINFO CONSUMERS s nog
XGROUP DESTROY s g
XGROUP DESTROY s g
XGROUP DESTROY nokey g
XGROUP DESTROY s
XGROUP HELP
XINFO HELP
XGROUP FOO
XINFO FOO
XGROUP
XINFO STREAM nokey
XINFO GROUPS nokey
XINFO STREAM s FULL COUNT 1
XINFO STREAM s FULL COUNT
XINFO STREAM s FULL COUNT -5
XINFO STREAM s BAR
XINFO STREAM s
"""),
    # the keyspace around a stream: types, TTL, RENAME COPY MOVE, MULTI, wrong types
    _lines("""
XADD s 1-1 a 1
XADD s 2-1 b 2
XGROUP CREATE s g 0
XREADGROUP GROUP g c STREAMS s >
TYPE s
OBJECT ENCODING s
SCAN 0 TYPE stream
EXPIRE s 100
TTL s
RENAME s s2
XRANGE s2 - +
XINFO GROUPS s2
XPENDING s2 g
TTL s2
COPY s2 s3
XINFO GROUPS s3
XPENDING s3 g - + 10
MOVE s3 1
EXISTS s3
SELECT 1
XRANGE s3 - +
XPENDING s3 g
SELECT 0
DEL s2
EXISTS s2
XGROUP CREATE e g $ MKSTREAM
XLEN e
XINFO STREAM e
COPY e e2
XINFO STREAM e2
XDEL e 1-1
EXISTS e
MULTI
XADD m 1-1 a b
XREADGROUP GROUP g c STREAMS m >
XGROUP CREATE m g 0
XREADGROUP GROUP g c STREAMS m >
XREAD BLOCK 100 STREAMS m $
XREADGROUP GROUP g c BLOCK 100 STREAMS m >
XLEN m
EXEC
UNLINK m
EXISTS m
SET str x
XADD str 1-1 a b
XRANGE str - +
XREAD STREAMS str 0
XREADGROUP GROUP g c STREAMS str 0
XLEN str
XDEL str 1-1
XTRIM str MAXLEN 0
XGROUP CREATE str g $
XINFO STREAM str
XPENDING str g
XACK str g 1-1
XCLAIM str g c 0 1-1
XAUTOCLAIM str g c 0 0
XSETID str 1-1
RPUSH s x
XADD nokey 1-1
XADD nokey
XREADGROUP GROUP g
""")
    + [("EVAL", "return redis.call('XADD', KEYS[1], '7-1', 'a', 'b')", "1", "lua"),
       ("EVAL", "return redis.call('XREAD', 'STREAMS', KEYS[1], '0')", "1", "lua"),
       ("EVAL", "return redis.call('XRANGE', KEYS[1], '-', '+')", "1", "lua")],
]


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
@pytest.mark.parametrize("sequence", SEQUENCES, ids=lambda s: f"streams{len(s)}")
def test_hand_written(pair, sequence, resp3) -> None:  # noqa: F811
    _resp3(pair, resp3)
    for argv in sequence:
        assert_same(pair, *argv)


def test_approximate_trimming_removes_whole_nodes(pair) -> None:  # noqa: F811
    """~ trims whole nodes of 100 entries, LIMIT bounds the work; MINID too."""
    for start in range(1, 251, 50):
        for conn in pair:
            conn.call("MULTI")
            for i in range(start, start + 50):
                conn.call("XADD", "big", f"{i}-1", "f", str(i))
            conn.call("EXEC")
    for argv in [("XTRIM", "big", "MAXLEN", "~", "120"), ("XLEN", "big"),
                 ("XTRIM", "big", "MAXLEN", "~", "30", "LIMIT", "50"),
                 ("XTRIM", "big", "MAXLEN", "~", "30", "LIMIT", "100"), ("XLEN", "big"),
                 ("XDEL", "big", "210-1"), ("XTRIM", "big", "MINID", "~", "230"),
                 ("XTRIM", "big", "MINID", "230"), ("XINFO", "STREAM", "big"),
                 ("XADD", "big", "MAXLEN", "~", "5", "300-1", "a", "b"), ("XLEN", "big"),
                 ("XRANGE", "big", "-", "+", "COUNT", "3"), ("XTRIM", "big", "MAXLEN", "0"),
                 ("XINFO", "STREAM", "big")]:
        assert_same(pair, *argv)


def _node_test_fields(rnd: random.Random, n: int) -> list[str]:
    """Fields and values of the sizes and kinds that change a listpack's size differently:
    short and long strings (1, 2 and 5 length bytes), integers of every width, names shared
    with the node's first entry or not."""
    fields = []
    for i in range(rnd.choice([1, 1, 2, 3, 6])):
        fields.append(rnd.choice(["f", "g", f"field{i}", "n" * rnd.randint(0, 70),
                                  str(rnd.randint(-10**6, 10**6))]))
        fields.append(rnd.choice(["v", str(rnd.randint(-5000, 5000)), str(rnd.randint(0, 2**40)),
                                  "-0", "007", "w" * rnd.choice([0, 10, 63, 64, 300, 4095, 4096]),
                                  str(-2**63), str(2**63)]))
    return fields


def _trim_args(rnd: random.Random, top_ms: int, limit: bool) -> list[str]:
    strategy, exact = rnd.choice(["MAXLEN", "MINID"]), rnd.random() < 0.25
    threshold = str(rnd.randint(0, 60)) if strategy == "MAXLEN" else str(rnd.randint(0, top_ms))
    args = [strategy, "=" if exact else "~", threshold]
    if limit and not exact and rnd.random() < 0.5:
        args += ["LIMIT", str(rnd.randint(0, 50))]
    return args


@pytest.mark.parametrize("seed", range(6))
def test_approximate_trimming_follows_redis_node_boundaries(pair, seed) -> None:  # noqa: F811
    """Nodes close where Redis's do, at stream-node-max-entries entries (deleted ones count)
    or stream-node-max-bytes of listpack, both set by CONFIG SET: XADD and XTRIM with ~ (and
    LIMIT), XDEL (which drops a node left empty), then XLEN and XINFO STREAM as Redis's."""
    rnd = random.Random(seed)
    top_ms = 1
    try:
        for _ in range(6):
            assert_same(pair, "CONFIG", "SET", "stream-node-max-entries",
                        rnd.choice([0, 1, 2, 3, 10, 100]))
            assert_same(pair, "CONFIG", "SET", "stream-node-max-bytes",
                        rnd.choice([0, 1, 60, 200, 500, 4096, 9000]))
            for _ in range(40):
                roll = rnd.random()
                if roll < 0.75:
                    top_ms += rnd.choice([0, 1, 1, 900, 2**33])
                    stream_id = (f"{top_ms}-{rnd.randint(0, 300)}" if rnd.random() < 0.3
                                 else f"{top_ms}-*")
                    trim = _trim_args(rnd, top_ms, limit=True) if rnd.random() < 0.2 else []
                    assert_same(pair, "XADD", "s", *trim, stream_id,
                                *_node_test_fields(rnd, top_ms))
                elif roll < 0.88:
                    listed = pair[1].call("XRANGE", "s", "-", "+")
                    ids = re.findall(rb"\$\d+\r\n(\d+-\d+)\r\n", listed)
                    if ids:
                        assert_same(pair, "XDEL", "s", *rnd.sample(ids, min(len(ids), 3)))
                else:
                    assert_same(pair, "XTRIM", "s", *_trim_args(rnd, top_ms, limit=True))
                assert_same(pair, "XLEN", "s")
            assert_same(pair, "XINFO", "STREAM", "s")
    finally:
        for conn in pair:
            conn.call("CONFIG", "SET", "stream-node-max-entries", "100")
            conn.call("CONFIG", "SET", "stream-node-max-bytes", "4096")


KEYS = st.sampled_from(["s", "t"])
IDS = st.sampled_from(["1-1", "1-2", "2-1", "3", "3-*", "5-5", "0-1", "-", "+", "(2-1", "x"])
GROUPS = st.sampled_from(["g", "h"])
CONSUMERS = st.sampled_from(["c", "d"])
COUNTS = st.sampled_from(["0", "1", "2", "10"])
STREAM_COMMANDS = st.one_of(
    st.builds(lambda k, i, t: ("XADD", k, *t, i, "f", "v"), KEYS, IDS,
              st.sampled_from([(), ("MAXLEN", "2"), ("MAXLEN", "~", "1"), ("MINID", "2-1"),
                               ("NOMKSTREAM",)])),
    st.builds(lambda c, k, a, b, n: (c, k, a, b, "COUNT", n),
              st.sampled_from(["XRANGE", "XREVRANGE"]), KEYS, IDS, IDS, COUNTS),
    st.tuples(st.sampled_from(["XLEN"]), KEYS),
    st.tuples(st.just("XDEL"), KEYS, IDS, IDS),
    st.builds(lambda k, t: ("XTRIM", k, *t), KEYS,
              st.sampled_from([("MAXLEN", "1"), ("MAXLEN", "=", "0"), ("MINID", "3-0")])),
    st.builds(lambda k, g, i, m: ("XGROUP", "CREATE", k, g, i, *m), KEYS, GROUPS,
              st.sampled_from(["0", "$", "2-1"]), st.sampled_from([(), ("MKSTREAM",)])),
    st.builds(lambda k, g, c, n, i: ("XREADGROUP", "GROUP", g, c, "COUNT", n, "STREAMS", k, i),
              KEYS, GROUPS, CONSUMERS, COUNTS, st.sampled_from([">", ">", "0", "1-1"])),
    st.builds(lambda k, n: ("XREAD", "COUNT", n, "STREAMS", k, "0"), KEYS, COUNTS),
    st.tuples(st.just("XACK"), KEYS, GROUPS, IDS, IDS),
    st.tuples(st.just("XPENDING"), KEYS, GROUPS),
    st.builds(lambda k, g, c: ("XPENDING", k, g, "-", "+", "10", c), KEYS, GROUPS, CONSUMERS),
    st.builds(lambda k, g, c, i, o: ("XCLAIM", k, g, c, "0", i, *o), KEYS, GROUPS, CONSUMERS, IDS,
              st.sampled_from([(), ("JUSTID",), ("FORCE",), ("RETRYCOUNT", "3")])),
    st.builds(lambda k, g, c, n: ("XAUTOCLAIM", k, g, c, "0", "0", "COUNT", n), KEYS, GROUPS,
              CONSUMERS, st.sampled_from(["1", "2", "10"])),
    st.builds(lambda s, k, g, c: ("XGROUP", s, k, g, c), st.sampled_from(
        ["CREATECONSUMER", "DELCONSUMER"]), KEYS, GROUPS, CONSUMERS),
    st.builds(lambda k, g, i: ("XGROUP", "SETID", k, g, i), KEYS, GROUPS,
              st.sampled_from(["0", "$"])),
    st.tuples(st.just("XGROUP"), st.just("DESTROY"), KEYS, GROUPS),
    st.tuples(st.just("XINFO"), st.just("GROUPS"), KEYS),
    st.tuples(st.just("XINFO"), st.just("STREAM"), KEYS),
    st.tuples(st.just("XINFO"), st.just("CONSUMERS"), KEYS, GROUPS),
    st.tuples(st.just("XSETID"), KEYS, st.sampled_from(["5-5", "9-0"])),
    st.tuples(st.sampled_from(["DEL", "TYPE"]), KEYS),
)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=st.lists(STREAM_COMMANDS, min_size=1, max_size=20))
def test_generated_sequences(pair, sequence) -> None:  # noqa: F811
    for conn in pair:
        conn.call("FLUSHALL")
    for argv in sequence:
        assert_same(pair, *argv)


def test_automatic_ids_come_from_the_entry_clock(shared_node: Node) -> None:
    client = shared_node.client()
    client.delete("clock")
    before = int(time.time() * 1000)
    ids = [client.xadd("clock", {"n": i}) for i in range(5)]
    after = int(time.time() * 1000)
    parsed = [tuple(int(part) for part in found.split(b"-")) for found in ids]
    assert parsed == sorted(set(parsed))  # strictly increasing
    assert all(before - 1000 <= ms <= after + 1000 for ms, _ in parsed)
    partial = client.xadd("clock", {"n": "p"}, id=f"{parsed[-1][0]}-*")
    assert partial == b"%d-%d" % (parsed[-1][0], parsed[-1][1] + 1)


def test_memory_usage_of_a_stream(shared_node: Node) -> None:
    client = shared_node.client()
    client.delete("mem")
    client.xadd("mem", {"f": "v"}, id="1-1")
    small = client.memory_usage("mem")
    for i in range(2, 300):
        client.xadd("mem", {"f": "v" * 20}, id=f"{i}-1")
    client.xgroup_create("mem", "g", id="0")
    client.xreadgroup("g", "c", {"mem": ">"}, count=50)
    assert 4096 < small < client.memory_usage("mem")


_MS = 1_700_000_000_000  # ids set by the tests, so both servers build the same radix trees


def _stream_of(client: redis.Redis, key: str, entries: int, fields: int = 1,
               same_ms: bool = False) -> list[str]:
    """XADD ``entries`` entries (pipelined) with ids a few ms apart (or one ms, counted up)."""
    ids = [f"{_MS}-{n + 1}" if same_ms else f"{_MS + 7 * n}-0" for n in range(entries)]
    pipe = client.pipeline(transaction=False)
    for n, stream_id in enumerate(ids):
        pipe.xadd(key, {f"f{field}": n * 10 + field for field in range(fields)}, id=stream_id)
    pipe.execute()
    return ids


def _stream_shapes(client: redis.Redis) -> None:
    for entries, fields in ((1, 1), (10, 2), (100, 3), (1000, 1), (1000, 3), (10_000, 2)):
        _stream_of(client, f"s{entries}x{fields}", entries, fields)
    _stream_of(client, "same-ms", 1000, same_ms=True)
    pipe = client.pipeline(transaction=False)
    for n in range(500):
        pipe.xadd("strings", {"f": "v" * (n % 70), "g": "w" * 300 if n % 50 == 0 else "x"},
                  id=f"{_MS + n}-0")
    pipe.execute()
    ids = _stream_of(client, "groups", 2000)
    client.xgroup_create("groups", "workers", id="0")
    for consumer in range(20):
        client.xreadgroup("workers", f"consumer-{consumer}", {"groups": ">"}, count=40)
    client.xack("groups", "workers", *ids[0:800:3])
    client.xclaim("groups", "workers", "consumer-0", 0, ids[40:400:4])
    client.xgroup_create("groups", "idle", id="$")
    client.xgroup_createconsumer("groups", "idle", "nobody")
    ids = _stream_of(client, "deleted", 1000)
    client.xdel("deleted", *ids[0:1000:5])
    client.xdel("deleted", *ids[900:])  # the last node goes: the one before it was shrunk
    client.xtrim("deleted", maxlen=600, approximate=False)
    ids = _stream_of(client, "emptied", 3)
    client.xdel("emptied", *ids)
    _stream_of(client, "moved", 150)
    client.execute_command("XSETID", "moved", f"{2 * _MS}-5")


def test_memory_usage_of_streams_as_redis(shared_node: Node, redis_server: int) -> None:
    """objectComputeSize's stream sizes, exactly: the radix tree, each node's listpack by its
    allocation (the last one's 4 KB preallocation), the groups' PELs, NACKs and consumers."""
    ours, theirs = shared_node.client(), redis.Redis(port=redis_server)
    for client in (ours, theirs):
        client.flushall()
        _stream_shapes(client)
    keys = sorted(theirs.keys())
    assert sorted(ours.keys()) == keys
    for key in keys:
        for samples in (None, 0):
            assert (ours.memory_usage(key, samples=samples)
                    == theirs.memory_usage(key, samples=samples)), (key, samples)
    for client in (ours, theirs):
        client.flushall()


def test_memory_usage_of_a_big_pending_list_is_sampled(shared_node: Node,
                                                      redis_server: int) -> None:
    """Past MAX_SAMPLED pending entries the PEL's radix tree is scaled from those read."""
    ours, theirs = shared_node.client(), redis.Redis(port=redis_server)
    for client in (ours, theirs):
        client.flushall()
        _stream_of(client, "big", 15_000)
        client.xgroup_create("big", "g", id="0")
        client.xreadgroup("g", "reader", {"big": ">"}, count=15_000)
    for samples in (None, 0):
        assert ours.memory_usage("big", samples=samples) == pytest.approx(
            theirs.memory_usage("big", samples=samples), rel=0.002)
    for client in (ours, theirs):
        client.flushall()


# -- blocking reads -------------------------------------------------------------------------------
def _blocked_clients(port: int) -> int:
    return redis.Redis(port=port, socket_timeout=10).info("clients")["blocked_clients"]


def _woken(port: int, resp3: bool, setup: list[tuple], blocked: tuple, wake: tuple) -> bytes:
    """The raw reply of ``blocked`` on one server, sent after ``setup`` and answered once
    ``wake`` came from another connection."""
    waiting, other = RawConnection(port), RawConnection(port)
    try:
        other.call("FLUSHALL")
        for argv in setup:
            other.call(*argv)
        if resp3:
            waiting.call("HELLO", "3")
        with ThreadPoolExecutor(1) as pool:
            reply = pool.submit(waiting.call, *blocked)
            wait_for(lambda: _blocked_clients(port) == 1, 20, "the read to block")
            other.call(*wake)
            return reply.result(timeout=30)
    finally:
        waiting.close()
        other.close()


_WAKE_CASES = [
    ([], ("XREAD", "BLOCK", "0", "STREAMS", "k", "$"), ("XADD", "k", "5-1", "f", "v")),
    ([("XADD", "k", "1-1", "a", "b")],
     ("XREAD", "COUNT", "5", "BLOCK", "60000", "STREAMS", "other", "k", "$", "$"),
     ("XADD", "k", "5-1", "f", "v")),
    ([("XADD", "k", "1-1", "a", "b")], ("XREAD", "BLOCK", "0", "STREAMS", "k", "1-1"),
     ("XADD", "k", "2-1", "f", "v")),
    ([("XGROUP", "CREATE", "k", "g", "$", "MKSTREAM")],
     ("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "k", ">"),
     ("XADD", "k", "5-1", "f", "v")),
    ([("XGROUP", "CREATE", "k", "g", "$", "MKSTREAM")],
     ("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "k", ">"),
     ("XGROUP", "DESTROY", "k", "g")),
    ([("XGROUP", "CREATE", "k", "g", "$", "MKSTREAM")],
     ("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "k", ">"), ("SET", "k", "v")),
    ([("XGROUP", "CREATE", "k", "g", "$", "MKSTREAM")],
     ("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "k", ">"), ("DEL", "k")),
    ([("XADD", "k", "1-1", "a", "b")], ("XREAD", "BLOCK", "1000", "STREAMS", "k", "$"),
     ("SET", "k", "v")),  # XREAD ignores it and times out
]


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
@pytest.mark.parametrize(("setup", "blocked", "wake"), _WAKE_CASES,
                         ids=["xread", "xread-keys", "xread-id", "xreadgroup", "group-destroyed",
                              "key-replaced", "key-deleted", "xread-key-replaced"])
def test_blocked_read_woken_by_another_client(shared_node: Node, redis_server: int, resp3: bool,
                                              setup, blocked, wake) -> None:
    expected = _woken(redis_server, resp3, setup, blocked, wake)
    assert _woken(shared_node.port, resp3, setup, blocked, wake) == expected


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_blocked_reads_time_out_with_nil(pair, resp3) -> None:  # noqa: F811
    _resp3(pair, resp3)
    for argv in [("XGROUP", "CREATE", "k", "g", "$", "MKSTREAM"),
                 ("XREAD", "BLOCK", "50", "STREAMS", "k", "$"),
                 ("XREAD", "BLOCK", "50", "STREAMS", "nokey", "0"),
                 ("XREADGROUP", "GROUP", "g", "c", "BLOCK", "50", "STREAMS", "k", ">"),
                 ("XREADGROUP", "GROUP", "g", "c", "BLOCK", "50", "STREAMS", "k", "0"),
                 ("XINFO", "CONSUMERS", "k", "g")]:
        reply = assert_same(pair, *argv)
    assert reply.startswith(b"*1\r\n")  # the consumer the history read made
    assert pair[0].call("XREAD", "BLOCK", "50", "STREAMS", "k", "$") == (
        b"_\r\n" if resp3 else b"*-1\r\n")


def test_blocked_xreadgroup_hands_each_entry_to_one_consumer(shared_node: Node) -> None:
    producer = shared_node.client()
    producer.delete("jobs")
    producer.xgroup_create("jobs", "workers", id="$", mkstream=True)
    taken: list[bytes] = []
    lock = threading.Lock()

    def work(name: str) -> None:
        """Take jobs until a stop entry (each worker takes one: there is one per worker)."""
        client = shared_node.client(socket_timeout=60)  # bounds a wait that never ends
        while True:
            reply = client.xreadgroup("workers", name, {"jobs": ">"}, count=1, block=0)
            for _, entries in reply:
                for entry_id, fields in entries:
                    if fields == {b"stop": b"1"}:
                        return
                    with lock:
                        taken.append(fields[b"n"])
                    client.xack("jobs", "workers", entry_id)

    with ThreadPoolExecutor(3) as pool:
        workers = [pool.submit(work, f"w{i}") for i in range(3)]
        wait_for(lambda: _blocked_clients(shared_node.port) >= 1, 20, "a worker to block")
        for i in range(30):
            producer.xadd("jobs", {"n": i})
        wait_for(lambda: len(taken) == 30, 60, "every job taken")
        for _ in workers:
            producer.xadd("jobs", {"stop": "1"})
        for worker in workers:
            worker.result(timeout=60)
    assert sorted(int(n) for n in taken) == list(range(30))
    assert producer.xpending("jobs", "workers")["pending"] == 3  # the stop entries


# -- three nodes ----------------------------------------------------------------------------------
def _stream_state(client: redis.Redis) -> list:
    """What every node must hold byte for byte: entries, groups, PEL with delivery times."""
    return [client.execute_command("XRANGE", "orders", "-", "+"),
            client.execute_command("XINFO", "STREAM", "orders", "FULL"),
            client.execute_command("XINFO", "GROUPS", "orders")]


def test_streams_replicate_and_blocked_reads_unblock_on_leader_change(
        cluster: LocalCluster) -> None:
    for i in range(1, 6):
        cluster.on_leader("XADD", "orders", f"{i}-1", "item", f"i{i}")
    cluster.on_leader("XADD", "orders", "*", "item", "auto")
    cluster.on_leader("XGROUP", "CREATE", "orders", "billing", "0")
    cluster.on_leader("XREADGROUP", "GROUP", "billing", "alice", "COUNT", "3", "STREAMS",
               "orders", ">")
    cluster.on_leader("XREADGROUP", "GROUP", "billing", "bob", "STREAMS", "orders", ">")
    cluster.on_leader("XACK", "orders", "billing", "2-1")
    cluster.on_leader("XCLAIM", "orders", "billing", "bob", "0", "1-1")
    cluster.wait_converged()
    summary = cluster.leader().client().xpending("orders", "billing")
    assert summary["pending"] == 5 and summary["min"] == b"1-1"
    assert summary["consumers"] == [{"name": b"alice", "pending": 1},
                                    {"name": b"bob", "pending": 4}]
    expected = _stream_state(cluster.leader().client())
    for node in cluster.live():
        client = node.client()
        client.execute_command("READONLY")
        wait_for(lambda c=client: _stream_state(c) == expected, 10,
                 f"the same stream on {node.name}")

    leader = cluster.leader()
    follower = cluster.followers()[0].client()
    follower.execute_command("READONLY")
    assert follower.xread({"orders": "4-1"}, count=1) == [[b"orders", [(b"5-1", {b"item": b"i5"})]]]
    with pytest.raises(MovedError):  # a write, even without BLOCK, as in Redis
        follower.xreadgroup("billing", "carol", {"orders": ">"})
    with pytest.raises(MovedError):  # it may wait: it goes to the leader, where clients park
        follower.xread({"orders": "$"}, block=100)
    watcher = leader.client()
    with ThreadPoolExecutor(2) as pool:
        stream_read = pool.submit(leader.client(socket_timeout=60).xread, {"orders": "$"},
                                  block=0)
        pop = pool.submit(leader.client(socket_timeout=60).blpop, ["nothing"], 0)
        wait_for(lambda: watcher.info("clients")["blocked_clients"] == 2, 20, "two blocked")
        leader.signal(signal.SIGSTOP)  # frozen: the others elect a leader among themselves
        try:
            others = [node for node in cluster.live() if node is not leader]
            wait_for(lambda: cluster.leader(among=others) is not leader, 60, "a new leader")
        finally:
            leader.signal(signal.SIGCONT)  # it wakes up a follower and lets its clients go
        for waiting in (stream_read, pop):
            with pytest.raises(redis.ResponseError, match="^UNBLOCKED force unblock"):
                waiting.result(timeout=60)


def test_a_proxying_follower_forwards_group_reads_and_redirects_blocking_ones(
        tmp_path: Path) -> None:
    with LocalCluster(tmp_path, 3, "--follower-proxy", "yes") as cluster:
        client = cluster.followers()[0].client()
        assert client.xadd("q", {"job": "1"}, id="1-1") == b"1-1"  # proxied
        assert client.xgroup_create("q", "g", id="0") is True
        assert client.xreadgroup("g", "c", {"q": ">"}) == [[b"q", [(b"1-1", {b"job": b"1"})]]]
        with pytest.raises(MovedError):  # it may wait: that would stall the shared link
            client.xreadgroup("g", "c", {"q": ">"}, block=100)
        assert client.xack("q", "g", "1-1") == 1


# -- rq, which stores job results with XADD inside MULTI ------------------------------------------
def test_rq_job_result_round_trip(node: Node) -> None:
    from rq import Queue

    queue = Queue("streams", connection=node.client())
    job = queue.enqueue("tests.rq_jobs.add", 2, 40)
    worker = subprocess.run(
        [sys.executable, "-m", "rq.cli", "worker", "--burst", "--url",
         f"redis://127.0.0.1:{node.port}", "streams"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
        text=True, timeout=120)
    assert worker.returncode == 0, worker.stderr
    job.refresh()
    assert job.get_status() == "finished"
    assert job.return_value() == 42
    assert node.client().type(f"rq:results:{job.id}") == b"stream"



# -- DUMP / RESTORE: Redis 7.0's RDB stream encoding, both ways ----------------------------------
def _filled(client: redis.Redis, key: str) -> None:
    """Entries of several shapes (shared and own fields, long values, integers), a deletion,
    two groups with pending entries, consumers and an unknown entries-read."""
    client.delete(key)
    for i in range(1, 231):
        fields = {"n": i, "v": "x" * (i % 7)} if i % 3 else {"other": -i, "long": "y" * 300}
        client.xadd(key, fields, id=f"{i}-{i % 4}")
    client.xdel(key, "5-1", "200-0")
    client.xgroup_create(key, "g", id="0")
    client.xgroup_create(key, "h", id="100-0")
    client.xreadgroup("g", "alice", {key: ">"}, count=7)
    client.xreadgroup("g", "bob", {key: ">"}, count=3)
    client.xreadgroup("h", "carol", {key: ">"}, count=2)
    client.xgroup_createconsumer(key, "h", "dave")
    client.xack(key, "g", "2-2")
    client.execute_command("XGROUP", "SETID", key, "h", "150-0")  # entries-read unknown


def _described(client: redis.Redis, key: str) -> list:
    """Everything, the radix tree's shape included: DUMP and RESTORE keep the nodes."""
    return [client.execute_command("XINFO", "STREAM", key, "FULL", "COUNT", "0"),
            client.execute_command("XRANGE", key, "-", "+"),
            client.execute_command("XREVRANGE", key, "+", "-", "COUNT", "5"),
            client.pttl(key) > 0]


@pytest.mark.parametrize("source", ["rcache", "redis"])
def test_dump_restore_of_a_stream_between_rcache_and_redis(shared_node: Node, redis_server: int,
                                                           source: str) -> None:
    ours = shared_node.client()
    theirs = redis.Redis(port=redis_server, socket_timeout=10)
    origin, target = (ours, theirs) if source == "rcache" else (theirs, ours)
    _filled(origin, "dumped")
    origin.pexpire("dumped", 100_000)
    payload = origin.dump("dumped")
    target.delete("dumped")
    assert target.restore("dumped", 100_000, payload) == b"OK"
    assert _described(target, "dumped") == _described(origin, "dumped")
    assert target.xadd("dumped", {"after": "restore"}, id="999-0") == b"999-0"
    assert target.xlen("dumped") == origin.xlen("dumped") + 1
    if source == "redis":  # rcache kept Redis's nodes, their deleted entries counted
        origin.xadd("dumped", {"after": "restore"}, id="999-0")
        for n in range(1000, 1040):
            for client in (origin, target):
                client.xadd("dumped", {"n": n, "more": "z" * 40}, id=f"{n}-0", maxlen=150)
            assert _described(target, "dumped") == _described(origin, "dumped")


def _legacy_payload(value: rdb.StreamValue) -> bytes:
    """The value as Redis 5 to 6.2 dump it (RDB_TYPE_STREAM_LISTPACKS, RDB version 9): no first
    id, max deleted id, entries added, nor groups' entries read; 100 entries a node."""
    nodes = [value.entries[i:i + 100] for i in range(0, len(value.entries), 100)]
    parts = [bytes((rdb.TYPE_STREAM_LISTPACKS,)), rdb._length(len(nodes))]
    for node in nodes:
        listpack = rdb._stream_listpack(node[0][0], node[0][1][::2], node)
        parts += (rdb._string(struct.pack(">QQ", *node[0][0])), rdb._length(len(listpack)),
                  listpack)
    parts += (rdb._length(len(value.entries)), rdb._length(value.last_id[0]),
              rdb._length(value.last_id[1]), rdb._length(len(value.groups)))
    for group in value.groups:
        parts += (rdb._string(group.name), rdb._length(group.last_id[0]),
                  rdb._length(group.last_id[1]), rdb._length(len(group.pending)))
        for stream_id, delivery_time, deliveries in group.pending:
            parts += (struct.pack(">QQ", *stream_id), struct.pack("<q", delivery_time),
                      rdb._length(deliveries))
        parts.append(rdb._length(len(group.consumers)))
        for name, seen_time, ids in group.consumers:
            parts += (rdb._string(name), struct.pack("<q", seen_time), rdb._length(len(ids)))
            parts.extend(struct.pack(">QQ", *stream_id) for stream_id in ids)
    body = b"".join(parts) + (9).to_bytes(2, "little")
    return body + rdb.crc64(body).to_bytes(8, "little")


def test_restore_of_a_stream_dumped_by_redis_6(shared_node: Node, redis_server: int) -> None:
    """Redis 7.0 loads a Redis 6 stream with entries added = its length and each group's
    entries read estimated: rcache the same (XINFO STREAM FULL's counts and lags)."""
    ours = shared_node.client()
    theirs = redis.Redis(port=redis_server, socket_timeout=10)
    _filled(theirs, "v6")
    theirs.xgroup_create("v6", "at-first", id="1-1")
    theirs.xgroup_create("v6", "at-last", id="$")
    theirs.xgroup_create("v6", "before-first", id="0-1")
    payload = _legacy_payload(rdb.load(theirs.dump("v6"))[1])
    for client in (ours, theirs):
        client.delete("v6")
        assert client.restore("v6", 0, payload) == b"OK"
    assert _described(ours, "v6") == _described(theirs, "v6")


# -- keyspace notifications ------------------------------------------------------------------------
_EVENTS_SCRIPT = """
XADD ev 1-1 a 1
XADD ev MAXLEN 1 2-1 a 2
XADD ev NOMKSTREAM 3-1 a 3
XTRIM ev MAXLEN 0
XTRIM ev MAXLEN 0
XDEL ev 9-9
XADD ev 4-1 a 4
XDEL ev 4-1
XSETID ev 10-0
XGROUP CREATE ev g $
XGROUP CREATE new g $ MKSTREAM
XGROUP CREATECONSUMER ev g c1
XADD ev 11-1 a 5
XREADGROUP GROUP g c2 STREAMS ev >
XCLAIM ev g c3 0 11-1
XAUTOCLAIM ev g c4 0 0
XACK ev g 11-1
XGROUP SETID ev g 0
XGROUP DELCONSUMER ev g c1
XGROUP DESTROY ev g
DEL ev new
PUBLISH zz-end done
"""


def _stream_events(port: int) -> list[bytes]:
    sub, client = Connection(port), Connection(port)
    try:
        client.send("CONFIG", "SET", "notify-keyspace-events", "KEA")
        client.send("SELECT", "9")
        client.send("FLUSHDB")
        client.read(3)
        sub.send("PSUBSCRIBE", "__key*__:*", "zz-end")
        sub.read(2)
        for line in _EVENTS_SCRIPT.strip().splitlines():
            client.send(*line.split())
            client.read(1)
        received = [sub.read(1)]
        while b"zz-end" not in received[-1]:
            received.append(sub.read(1))
        return received
    finally:
        client.send("CONFIG", "SET", "notify-keyspace-events", "")
        client.read(1)
        sub.close()
        client.close()


def test_stream_keyspace_events_as_redis(shared_node: Node, redis_server: int) -> None:
    expected = _stream_events(redis_server)
    assert any(b"xgroup-createconsumer" in message for message in expected)
    assert _stream_events(shared_node.port) == expected
