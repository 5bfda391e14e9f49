"""The glob matcher: Redis's stringmatchlen semantics, checked against a real redis-server,
and a cost bounded by pattern x subject (CVE-2022-36021), checked on a live node."""

from __future__ import annotations

import socket

import hiredis
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rcache.glob import literal_prefix, matcher
from rcache.resp import encode_command

from .conftest import Node

# Bytes that exercise every branch of Redis's loop, high bytes (signed char) and case.
_PATTERN_BYTES = b"ab]A^-\\*?[\x80\xfe\x00"
_KEY_BYTES = b"ab]A^-\x80\xfe\x00"
_KEYS = sorted({bytes(_KEY_BYTES[(i * 7 + j * 3) % len(_KEY_BYTES)] for j in range(i % 6))
                for i in range(40)} | {b"", b"a", b"b", b"ab", b"]", b"^a", b"a-b", b"\x80a",
                                      b"aaa", b"A]b", b"-", b"\xfe\x00", b"ba"})


@pytest.fixture(scope="module")
def reference(redis_server: int):
    """redis-server's database 5 holding _KEYS."""
    client = redis.Redis(port=redis_server, db=5, socket_timeout=10)
    client.flushdb()
    client.mset({key: 1 for key in _KEYS})
    yield client
    client.flushdb()
    client.close()


def _ours(pattern: bytes) -> set[bytes]:
    match = matcher(pattern)
    # KEYS * lists every key, the empty one too: Redis skips matching for that pattern
    return {key for key in _KEYS if pattern == b"*" or match(key)}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=8).map(lambda raw: bytes(_PATTERN_BYTES[b % len(_PATTERN_BYTES)]
                                                   for b in raw)))
def test_keys_like_redis(reference, pattern: bytes) -> None:
    assert _ours(pattern) == set(reference.keys(pattern)), pattern


@pytest.mark.parametrize("pattern", [b"", b"*", b"**", b"?*", b"[", b"[^", b"[a-]", b"[\\]",
                                     b"[]a]", b"[^]]", b"[b-a]", b"[\xfe-a]", b"\\", b"a\\",
                                     b"[a-\\]", b"*[", b"[[]", b"[a", b"\\*", b"*\\"])
def test_quirks_like_redis(reference, pattern: bytes) -> None:
    assert _ours(pattern) == set(reference.keys(pattern))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet="aZeE*?[]^-\\ltM", min_size=1, max_size=6))
def test_nocase_like_config_get(redis_server: int, pattern: str) -> None:
    """CONFIG GET matches without case: compare over redis-server's own option names."""
    client = redis.Redis(port=redis_server, socket_timeout=10, decode_responses=True)
    names = list(client.config_get("*"))
    if not any(c in pattern for c in "*?[\\"):
        return  # a plain name is looked up, not matched
    ours = {name for name in names if matcher(pattern.encode(), nocase=True)(name.encode())}
    assert ours == set(client.config_get(pattern)), pattern
    client.close()


@pytest.mark.parametrize("stars", [999, 1000, 1001, 1002])
def test_nesting_limit_like_redis(reference, stars: int) -> None:
    """Redis gives up past 1000 nested stars; a key long enough to need them all."""
    key = b"a" * 1100
    reference.set(key, 1)
    try:
        for pattern in (b"a*" * stars, b"a*" * stars + b"a", b"*a" * stars, b"*a" * stars + b"*"):
            assert matcher(pattern)(key) == bool(reference.keys(pattern)), (stars, pattern[:8])
    finally:
        reference.delete(key)


def test_literal_prefix() -> None:
    assert literal_prefix(b"user:*:x") == b"user:"
    assert literal_prefix(b"a\\*b") == b"a"
    assert literal_prefix(b"plain") == b"plain"
    assert literal_prefix(b"[ab]c") == b""


# -- a live node: pathological patterns answer at once, and the node keeps serving ----------
_SUBJECT = b"a" * 60
_EVIL = b"*a*a*a*a*a*a*a*b"
_MANY_STARS = b"a*" * 50 + b"b"


def _command(sock: socket.socket, argv: list[bytes]) -> object:
    sock.sendall(encode_command(argv))
    reader = hiredis.Reader()
    while (reply := reader.gets()) is False:
        data = sock.recv(65536)
        assert data, "the node closed the connection"
        reader.feed(data)
    return reply


@pytest.mark.parametrize("argv", [
    [b"KEYS", _EVIL], [b"KEYS", _MANY_STARS], [b"SCAN", b"0", b"MATCH", _EVIL, b"COUNT", b"100"],
    [b"HSCAN", b"glob:h", b"0", b"MATCH", _EVIL], [b"SSCAN", b"glob:s", b"0", b"MATCH", _EVIL],
    [b"ZSCAN", b"glob:z", b"0", b"MATCH", _EVIL], [b"PUBSUB", b"CHANNELS", _EVIL],
    [b"CONFIG", b"GET", b"***********x"], [b"CONFIG", b"GET", b"*" + b"a*" * 40 + b"x"],
])
def test_pathological_patterns_answer_at_once(shared_node: Node, argv: list[bytes]) -> None:
    """Each took 8-13 s or never returned with a backtracking matcher. While the command
    runs, another connection's PING is answered; both within a second."""
    setup = shared_node.client()
    setup.set(_SUBJECT, 1)
    setup.hset("glob:h", _SUBJECT, 1)
    setup.sadd("glob:s", _SUBJECT)
    setup.zadd("glob:z", {_SUBJECT: 1})
    listener = setup.pubsub()
    listener.subscribe(_SUBJECT)
    try:
        with socket.create_connection(("127.0.0.1", shared_node.port), timeout=1) as slow, \
                socket.create_connection(("127.0.0.1", shared_node.port), timeout=1) as pinger:
            slow.sendall(encode_command(argv))
            assert _command(pinger, [b"PING"]) == b"PONG"
            reader = hiredis.Reader()
            while (reply := reader.gets()) is False:
                reader.feed(slow.recv(65536))  # times out (fails) after a second
        assert not isinstance(reply, hiredis.ReplyError), reply
        flat = reply[1] if argv[0].endswith(b"SCAN") else reply
        assert not [item for item in flat if item == _SUBJECT], "matched though no 'b'"
    finally:
        listener.close()
        setup.delete(_SUBJECT, "glob:h", "glob:s", "glob:z")
        setup.close()


def test_pathological_psubscribe(shared_node: Node) -> None:
    """Matching a PUBLISH against a pattern subscription happens on every node's apply."""
    client = shared_node.client(socket_timeout=1)
    listener = client.pubsub()
    listener.psubscribe(_EVIL, b"*a")
    try:
        assert listener.get_message(timeout=1)["type"] == "psubscribe"
        assert listener.get_message(timeout=1)["type"] == "psubscribe"
        assert client.publish(_SUBJECT, b"x") == 1  # '*a' only
        message = listener.get_message(timeout=1)
        assert message["pattern"] == b"*a" and message["channel"] == _SUBJECT
        assert client.pubsub_numpat() == 2
        assert client.ping()
    finally:
        listener.close()
        client.close()
