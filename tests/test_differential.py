"""Differential tests: the same commands to a real redis-server and to rcache, replies
compared byte for byte (RESP2 and RESP3), hand-written cases and hypothesis-generated ones.
"""

from __future__ import annotations

import socket

import hiredis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rcache.resp import encode_command

from .conftest import Node


class RawConnection:
    """Sends one command, returns the exact bytes of its reply."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.pending = b""

    def call(self, *args: bytes | str | int) -> bytes:
        argv = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        self.sock.sendall(encode_command(argv))
        reader = hiredis.Reader()
        raw = b""
        while True:
            data = self.pending or self.sock.recv(65536)
            self.pending = b""
            if not data:
                raise ConnectionError("server closed the connection")
            reader.feed(data)
            raw += data
            if reader.gets() is not False:
                return raw

    def close(self) -> None:
        self.sock.close()


# Replies that are legitimately different between two servers (times, ids, versions).
_TIME_DEPENDENT = {b"ttl", b"pttl", b"expiretime", b"pexpiretime"}


def _normalize(argv: tuple, reply: bytes) -> bytes:
    name = (argv[0] if isinstance(argv[0], bytes) else str(argv[0]).encode()).lower()
    if name == b"keys":  # Redis returns keys in hash-table order, rcache in byte order
        head, _, body = reply.partition(b"\r\n")
        items = [item + b"\r\n" for item in body.split(b"\r\n")[:-1]]
        pairs = sorted(zip(items[::2], items[1::2], strict=True), key=lambda pair: pair[1])
        return head + b"\r\n" + b"".join(a + b for a, b in pairs)
    if name in _TIME_DEPENDENT and reply.startswith(b":") and int(reply[1:-2]) > 0:
        # The two servers see the same TTL a few ms apart, on either side of a rounding
        # boundary at times: compare "has a TTL" here; exact values are unit-tested.
        return b":<positive>\r\n"
    return reply


@pytest.fixture
def pair(shared_node: Node, redis_server: int):
    """Connections to both servers, databases flushed, for one test."""
    ours, theirs = RawConnection(shared_node.port), RawConnection(redis_server)
    for conn in (ours, theirs):
        conn.call("FLUSHALL")
    yield ours, theirs
    ours.close()
    theirs.close()


def assert_same(pair, *argv) -> bytes:
    ours, theirs = pair
    expected = _normalize(argv, theirs.call(*argv))
    got = _normalize(argv, ours.call(*argv))
    assert got == expected, f"{argv!r}: redis {expected!r} rcache {got!r}"
    return got


HAND_WRITTEN = [
    # strings and SET options
    [("SET", "k", "v"), ("GET", "k"), ("SET", "k", "v2", "NX"), ("SET", "k", "v3", "XX", "GET"),
     ("GET", "k"), ("SET", "n", "1", "XX"), ("SET", "k", "v", "NX", "XX"),
     ("SET", "k", "v", "EX", "10", "PX", "100"), ("SET", "k", "v", "EX", "0"),
     ("SET", "k", "v", "EX", "-5"), ("SET", "k", "v", "EX", "abc"), ("SET", "k", "v", "KEEPTTL", "EX", "5"),
     ("SET", "k", "v", "GET", "GET"), ("SET", "k", "v", "FOO"), ("SET", "k"), ("SET", "k", "v", "EX"),
     ("SET", "k", "v", "EX", "9223372036854775807"), ("SET", "k", "v", "PXAT", "1"), ("GET", "k"),
     ("SET", "k", "v", "EX", "100"), ("SET", "k", "w", "KEEPTTL"), ("TTL", "k"), ("GETSET", "k", "z"),
     ("TTL", "k")],
    [("INCR", "i"), ("INCRBY", "i", "10"), ("DECR", "i"), ("DECRBY", "i", "-5"), ("INCRBY", "i", "x"),
     ("SET", "i", "9223372036854775807"), ("INCR", "i"), ("SET", "s", "abc"), ("INCR", "s"),
     ("DECRBY", "i", "-9223372036854775808"), ("SET", "i", " 1"), ("INCR", "i"), ("SET", "i", "01"),
     ("INCR", "i"), ("INCRBYFLOAT", "f", "10.5"), ("INCRBYFLOAT", "f", "0.1"), ("INCRBYFLOAT", "f", "5.0e3"),
     ("INCRBYFLOAT", "f", "abc"), ("INCRBYFLOAT", "f", "inf"), ("GET", "f")],
    [("APPEND", "a", "hello"), ("APPEND", "a", " world"), ("STRLEN", "a"), ("GETRANGE", "a", "0", "4"),
     ("GETRANGE", "a", "-5", "-1"), ("GETRANGE", "a", "5", "1"), ("GETRANGE", "a", "0", "x"),
     ("SETRANGE", "a", "6", "WORLD"), ("GET", "a"), ("SETRANGE", "b", "3", "x"), ("GET", "b"),
     ("SETRANGE", "c", "-1", "x"), ("SETRANGE", "c", "0", ""), ("EXISTS", "c"), ("STRLEN", "nope"),
     ("SUBSTR", "a", "0", "2")],
    [("MSET", "a", "1", "b", "2"), ("MGET", "a", "b", "c"), ("MSET", "a"), ("MSETNX", "c", "3", "a", "9"),
     ("MSETNX", "c", "3", "d", "4"), ("MGET", "a", "b", "c", "d"), ("SETNX", "a", "x"), ("SETNX", "e", "x"),
     ("SETEX", "f", "100", "v"), ("SETEX", "f", "0", "v"), ("PSETEX", "g", "100000", "v"), ("GETDEL", "g"),
     ("GETDEL", "g"), ("GETEX", "f", "PERSIST"), ("TTL", "f"), ("GETEX", "f", "EX", "50"), ("TTL", "f"),
     ("GETEX", "f", "EX", "50", "PERSIST"), ("GETEX", "nope")],
    # keyspace
    [("SET", "a", "1"), ("SET", "b", "2"), ("DEL", "a", "b", "c"), ("EXISTS", "a", "a", "b"),
     ("SET", "x", "1"), ("TYPE", "x"), ("TYPE", "nope"), ("RENAME", "x", "y"), ("GET", "y"),
     ("RENAME", "nope", "z"), ("SET", "z", "zz"), ("RENAMENX", "y", "z"), ("RENAMENX", "y", "w"),
     ("COPY", "w", "v"), ("COPY", "w", "v"), ("COPY", "w", "v", "REPLACE"), ("COPY", "w", "w"),
     ("COPY", "w", "v", "DB", "1"), ("COPY", "w", "v", "DB", "99"), ("MOVE", "w", "2"), ("MOVE", "w", "2"),
     ("MOVE", "v", "0"), ("DBSIZE",), ("TOUCH", "v", "z", "nope"), ("UNLINK", "v", "z"), ("DBSIZE",),
     ("SWAPDB", "0", "2"), ("DBSIZE",), ("SWAPDB", "0", "x"), ("SWAPDB", "0", "99"), ("SELECT", "2"),
     ("DBSIZE",), ("FLUSHDB", "BAD"), ("FLUSHDB",), ("DBSIZE",), ("RANDOMKEY",)],
    [("MSET", "user:1", "a", "user:2", "b", "user:10", "c", "item:1", "d", "h*llo", "e"),
     ("KEYS", "user:?"), ("KEYS", "user:[0-1]*"), ("KEYS", "h\\*llo"), ("KEYS", "*:1"), ("KEYS", "[^u]*")],
    # expiry
    [("SET", "k", "v"), ("EXPIRE", "k", "100"), ("TTL", "k"), ("EXPIRE", "k", "200", "NX"),
     ("EXPIRE", "k", "200", "XX"), ("EXPIRE", "k", "50", "GT"), ("EXPIRE", "k", "50", "LT"),
     ("EXPIRE", "k", "50", "NX", "XX"), ("EXPIRE", "k", "50", "GT", "LT"), ("EXPIRE", "k", "50", "FOO"),
     ("PERSIST", "k"), ("PERSIST", "k"), ("TTL", "k"), ("EXPIRE", "k", "10", "GT"), ("EXPIRE", "k", "10", "LT"),
     ("PEXPIRE", "k", "100000"), ("PTTL", "k"), ("EXPIREAT", "k", "1"), ("EXISTS", "k"), ("TTL", "k"),
     ("SET", "k", "v"), ("PEXPIREAT", "k", "99999999999999"), ("EXPIRETIME", "k"), ("PEXPIRETIME", "k"),
     ("EXPIRE", "nope", "10"), ("EXPIRE", "k", "9223372036854775807"), ("EXPIRE", "k", "x"),
     ("EXPIRETIME", "nope"), ("SET", "p", "1"), ("EXPIRETIME", "p"), ("EXPIRE", "p", "-1"), ("EXISTS", "p")],
    # transactions
    [("MULTI",), ("SET", "t", "1"), ("INCR", "t"), ("GET", "t"), ("EXEC",), ("EXEC",), ("DISCARD",),
     ("MULTI",), ("MULTI",), ("SET", "t", "2"), ("DISCARD",), ("GET", "t"), ("MULTI",), ("SET", "t"),
     ("INCR", "t"), ("EXEC",), ("GET", "t"), ("MULTI",), ("SET", "s", "x"), ("INCR", "s"), ("GET", "s"),
     ("EXEC",), ("MULTI",), ("PING",), ("ECHO", "hi"), ("EXEC",), ("MULTI",), ("EXEC",)],
    # connection
    [("PING",), ("PING", "hello"), ("PING", "a", "b"), ("ECHO", "x"), ("ECHO",), ("SELECT", "x"),
     ("SELECT", "16"), ("SELECT", "-1"), ("NOSUCHCOMMAND", "a", "b"), ("GET",), ("GET", "a", "b"),
     ("CLIENT", "NOSUCH"), ("CLIENT", "SETNAME", "my name"), ("CLIENT", "SETNAME", "me"),
     ("CLIENT", "GETNAME"), ("HELLO", "4"), ("HELLO", "x"), ("AUTH", "x"), ("CONFIG", "GET", "databases"),
     ("CONFIG", "SET", "nosuch", "1"), ("COMMAND", "GETKEYS", "GET", "a"), ("COMMAND", "GETKEYS", "PING"),
     ("COMMAND", "GETKEYS", "NOPE", "a"), ("COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"),
     ("COMMAND", "INFO", "nosuch")],
]


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
@pytest.mark.parametrize("sequence", HAND_WRITTEN, ids=lambda s: s[0][0].lower() + str(len(s)))
def test_hand_written(pair, sequence, resp3) -> None:
    if resp3:
        for conn in pair:
            conn.call("HELLO", "3")
    for argv in sequence:
        assert_same(pair, *argv)


def _parse(raw: bytes):
    reader = hiredis.Reader()
    reader.feed(raw)
    return reader.gets()


def test_command_table_matches_redis(pair) -> None:
    """Arity and key positions of every command we declare, as Redis 7.0 reports them."""
    ours, theirs = pair
    checked = 0
    for name in _parse(ours.call("COMMAND", "LIST")):
        redis_info = _parse(theirs.call("COMMAND", "INFO", name))[0]
        if redis_info is None:  # an rcache-only command (RAFT.*) or newer than Redis 7.0
            continue
        our_info = _parse(ours.call("COMMAND", "INFO", name))[0]
        assert our_info[1] == redis_info[1], (name, "arity")
        assert our_info[3:6] == redis_info[3:6], (name, "key positions")
        checked += 1
    assert checked > 50


KEYS = st.sampled_from(["a", "b", "c"])
VALUES = st.sampled_from(["0", "1", "-7", "10.5", "x", "", "9223372036854775807", "hello world"])
INTS = st.sampled_from(["0", "1", "-1", "3", "100", "x", "9223372036854775807", "-9223372036854775808"])
TTL_OPTIONS = st.sampled_from([(), ("EX", "100"), ("PX", "100000"), ("EXAT", "1"), ("PXAT", "1"),
                               ("KEEPTTL",), ("EX", "0"), ("EX", "x")])
SET_FLAGS = st.lists(st.sampled_from(["NX", "XX", "GET"]), max_size=2)
COMMANDS = st.one_of(
    st.tuples(st.just("GET"), KEYS),
    st.builds(lambda k, v, f, t: ("SET", k, v, *f, *t), KEYS, VALUES, SET_FLAGS, TTL_OPTIONS),
    st.tuples(st.sampled_from(["INCR", "DECR", "STRLEN", "TTL", "PERSIST", "TYPE", "EXISTS", "DEL",
                               "GETDEL"]), KEYS),
    st.tuples(st.sampled_from(["INCRBY", "DECRBY", "APPEND", "SETNX", "GETSET"]), KEYS, INTS | VALUES),
    st.tuples(st.just("INCRBYFLOAT"), KEYS, st.sampled_from(["1", "0.5", "-2.25", "x", "1e3"])),
    st.tuples(st.sampled_from(["GETRANGE", "SETRANGE"]), KEYS, INTS, VALUES),
    st.builds(lambda c, k, n, o: (c, k, n, *o), st.sampled_from(["EXPIRE", "PEXPIRE", "EXPIREAT"]),
              KEYS, st.sampled_from(["100", "-1", "0", "200000", "x"]),
              st.lists(st.sampled_from(["NX", "XX", "GT", "LT"]), max_size=2)),
    st.tuples(st.sampled_from(["RENAME", "RENAMENX", "COPY"]), KEYS, KEYS),
    st.tuples(st.just("MSET"), KEYS, VALUES, KEYS, VALUES),
    st.tuples(st.just("MGET"), KEYS, KEYS, KEYS),
    # No DBSIZE here: Redis deletes an expired key when a command touches it, rcache only by
    # active expiry (a replicated delete), so the two counts differ for up to 1/hz seconds.
    st.tuples(st.sampled_from(["MULTI", "EXEC", "DISCARD"])),
    st.tuples(st.just("GETEX"), KEYS, st.sampled_from(["PERSIST", "EX"]), st.sampled_from(["5", "x"])),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=st.lists(COMMANDS, min_size=1, max_size=12))
def test_generated_sequences(pair, sequence) -> None:
    try:
        for argv in sequence:
            assert_same(pair, *argv)
    finally:
        for conn in pair:
            conn.call("DISCARD")
            conn.call("FLUSHALL")
