"""Random and mutated requests against a live node: it never crashes, keeps answering other
clients, sends only well-formed replies, and its memory stays bounded. Then commands with
random counts, offsets and patterns: each answers within a time bound. (The reader alone is
fuzzed in test_resp.py.)"""

from __future__ import annotations

import os
import random
import socket
import time

import hiredis

from rcache.resp import encode_command

from .conftest import Node

_COMMANDS = [[b"SET", b"fz", b"v"], [b"GET", b"fz"], [b"INCR", b"fzn"],
             [b"HSET", b"fzh", b"f", b"v"], [b"LPUSH", b"fzl", b"a"], [b"ZADD", b"fzz", b"1", b"m"],
             [b"MULTI"], [b"EXEC"], [b"CLIENT", b"SETNAME", b"x"], [b"HELLO", b"3"],
             [b"SELECT", b"1"], [b"PING"]]
_NOISE = [b"\r\n", b"*", b"$", b"-1", b"99999999999", b"\x00", b"\xff", b" ", b'"', b"'", b"\\x"]
ROUNDS = int(os.environ.get("RCACHE_FUZZ_ROUNDS", "40"))
SEED = int(os.environ.get("RCACHE_FUZZ_SEED", "1"))
# Bound for one command, generous for a loaded machine: the bugs this catches took minutes
# (a backtracking glob, a reply of 2^62 random picks) or never ended.
COMMAND_TIME_BOUND = 10.0


def _mutated(rng: random.Random) -> bytes:
    data = bytearray(b"".join(encode_command(rng.choice(_COMMANDS))
                              for _ in range(rng.randint(1, 4))))
    for _ in range(rng.randint(0, 6)):
        i = rng.randrange(len(data) + 1)
        choice = rng.random()
        if choice < 0.4 and i < len(data):
            data[i] = rng.randrange(256)
        elif choice < 0.7:
            data[i:i] = rng.choice(_NOISE)
        elif i < len(data):
            del data[i:i + rng.randint(1, 8)]
    return bytes(data)


def _exchange(port: int, payload: bytes, cut: bool = False) -> bytes:
    """Send payload, then end our side (or drop the connection, when ``cut``); everything
    the node answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=COMMAND_TIME_BOUND) as sock:
        sock.sendall(payload)
        if cut:
            return b""
        sock.shutdown(socket.SHUT_WR)
        received = []
        try:
            while data := sock.recv(65536):
                received.append(data)
        except ConnectionResetError:
            pass  # the node closed a connection it found unusable, replies unread
        return b"".join(received)


def _assert_well_formed(raw: bytes, what: object) -> int:
    """raw is a sequence of whole RESP replies; returns how many."""
    reader = hiredis.Reader()
    reader.feed(raw)
    count = 0
    try:
        while reader.gets() is not False:
            count += 1
    except hiredis.ProtocolError as err:
        raise AssertionError(f"malformed reply to {what!r}: {raw[:200]!r}") from err
    assert not reader.has_data(), f"a reply cut short for {what!r}: {raw[-200:]!r}"
    return count


def _call(port: int, argv: list[bytes]) -> object:
    """One command on a new connection: its reply (a ReplyError for an error), read within
    COMMAND_TIME_BOUND."""
    with socket.create_connection(("127.0.0.1", port), timeout=COMMAND_TIME_BOUND) as sock:
        sock.sendall(encode_command(argv))
        reader = hiredis.Reader()
        while (reply := reader.gets()) is False:
            data = sock.recv(65536)
            assert data, f"the node closed the connection on {argv!r}"
            reader.feed(data)
        assert not reader.has_data(), f"more than one reply to {argv!r}"
        return reply


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        return int(next(s for s in status if s.startswith("VmRSS:")).split()[1]) / 1024


def test_random_and_mutated_requests(node: Node) -> None:
    """RCACHE_FUZZ_SEED and RCACHE_FUZZ_ROUNDS (25 inputs each) make longer runs."""
    rng = random.Random(SEED)
    watcher = node.client(socket_timeout=5)
    baseline = _rss_mb(node.proc.pid)
    replies = 0
    for round_ in range(ROUNDS):
        for _ in range(25):
            kind = rng.random()
            if kind < 0.6:
                payload = _mutated(rng)
            elif kind < 0.9:
                payload = rng.randbytes(rng.randint(1, 2000))
            else:  # a frame cut short, then the connection dropped
                _exchange(node.port, _mutated(rng)[: rng.randint(1, 30)], cut=True)
                continue
            replies += _assert_well_formed(_exchange(node.port, payload), payload)
        assert watcher.ping(), f"no answer after round {round_}"
    assert node.proc.poll() is None, "the server crashed"
    assert replies > ROUNDS, "the node answered almost nothing"
    assert _rss_mb(node.proc.pid) < baseline + 100


# -- arguments: counts, offsets, patterns --------------------------------------------------
_NUMBERS = [b"0", b"1", b"-1", b"2", b"-2", b"7", b"-7", b"100", b"-100", b"2147483647",
            b"2147483648", b"-2147483648", b"-2147483649", b"4294967296", b"4611686018427387903",
            b"-4611686018427387903", b"-4611686018427387904", b"9223372036854775807",
            b"-9223372036854775807", b"-9223372036854775808", b"9223372036854775808",
            b"99999999999999999999999", b"1.5", b"", b"abc", b"+1", b"01", b" 1", b"-0",
            b"inf", b"-inf", b"nan", b"1e400"]
_PATTERNS = [b"*", b"a*", b"*a*a*a*a*a*a*a*b", b"a*" * 60 + b"b", b"[", b"[^", b"[a-]",
             b"\\", b"*[a-z]*?*\\*", b"?" * 70, b"*" * 200 + b"x", b"[" * 50, b"fz*"]
_TEMPLATES = [
    b"KEYS P", b"SCAN N MATCH P COUNT N", b"SCAN N COUNT N TYPE string", b"HSCAN fzh N MATCH P",
    b"SSCAN fzs N MATCH P COUNT N", b"ZSCAN fzz N MATCH P COUNT N", b"PUBSUB CHANNELS P",
    b"CONFIG GET P", b"PUBSUB NUMPAT", b"HRANDFIELD fzh N", b"HRANDFIELD fzh N WITHVALUES",
    b"SRANDMEMBER fzs N", b"ZRANDMEMBER fzz N", b"ZRANDMEMBER fzz N WITHSCORES",
    b"SPOP fzs2 N", b"LPOP fzl2 N", b"RPOP fzl2 N", b"LRANGE fzl N N", b"LINDEX fzl N",
    b"LPOS fzl a RANK N COUNT N MAXLEN N", b"LTRIM fzl2 N N", b"ZRANGE fzz N N",
    b"ZRANGE fzz N N REV", b"ZRANGEBYSCORE fzz -inf +inf LIMIT N N",
    b"ZRANGE fzz (N N BYSCORE LIMIT N N", b"ZREVRANGEBYLEX fzz + - LIMIT N N",
    b"ZREMRANGEBYRANK fzz2 N N", b"GETRANGE fz N N", b"GETBIT fz N", b"BITCOUNT fz N N",
    b"BITPOS fz 1 N N", b"BITCOUNT fz N N BIT", b"EXPIRE fzx N", b"PEXPIRE fzx N",
    b"INCRBY fzn N", b"DECRBY fzn N", b"INCRBYFLOAT fzf N", b"HINCRBY fzh n N",
    b"ZINCRBY fzz N m", b"SELECT N", b"SINTERCARD N fzs fzs", b"ZUNION N fzz fzz",
    b"ZINTERCARD N fzz", b"LMPOP N fzl2 LEFT COUNT N", b"ZMPOP N fzz2 MIN COUNT N",
    b"ZRANGESTORE fzd fzz N N", b"OBJECT FREQ fz", b"CLIENT NO-EVICT on", b"SETEX fzx N v",
    b"GETEX fz EX N", b"SET fzx v PX N", b"COPY fz fzc DB N", b"MOVE fzc N", b"SWAPDB N N",
    b"LSET fzl N v", b"LINSERT fzl BEFORE N v", b"LREM fzl2 N a", b"RPUSH fzl2 a b c",
    b"SADD fzs2 a b c", b"ZADD fzz2 1 a 2 b", b"HELLO N", b"CLIENT KILL ID N",
    b"BLPOP fzb 0.01", b"WAIT 0 N", b"TIME", b"ECHO P",
]


def _arguments(rng: random.Random, template: bytes) -> list[bytes]:
    argv = []
    for word in template.split():
        if word in (b"N", b"(N"):
            number = rng.choice(_NUMBERS)
            argv.append(number if word == b"N" else b"(" + number)
        elif word == b"P":
            argv.append(rng.choice(_PATTERNS))
        else:
            argv.append(word)
    return argv


def test_random_arguments_answer_in_bounded_time(node: Node) -> None:
    rng = random.Random(SEED)
    setup = node.client()
    setup.set("fz", "a" * 60)
    setup.hset("fzh", mapping={f"a{i}": i for i in range(20)})
    setup.sadd("fzs", *(f"a{i}" for i in range(20)))
    setup.zadd("fzz", {f"a{i}": i for i in range(20)})
    setup.rpush("fzl", *(["a", "b"] * 10))
    baseline = _rss_mb(node.proc.pid)
    watcher = node.client(socket_timeout=COMMAND_TIME_BOUND)
    for round_ in range(ROUNDS):
        for _ in range(10):
            argv = _arguments(rng, rng.choice(_TEMPLATES))
            started = time.monotonic()
            reply = _call(node.port, argv)  # hiredis raises on a malformed reply
            assert time.monotonic() - started < COMMAND_TIME_BOUND, argv
            assert "internal error" not in str(reply), (argv, reply)
        assert watcher.ping(), f"no answer after round {round_}"
    assert node.proc.poll() is None, "the server crashed"
    assert _rss_mb(node.proc.pid) < baseline + 200
    assert "Traceback" not in node.log()


# The same arguments against redis-server: replies and errors must be Redis's (C integer
# semantics: ranges, truncation, overflow), for commands whose reply is deterministic.
_DETERMINISTIC = [
    b"LRANGE fzl N N", b"LINDEX fzl N", b"LPOS fzl a RANK N COUNT N MAXLEN N", b"LPOS fzl a RANK N",
    b"ZRANGE fzz N N", b"ZRANGE fzz N N REV", b"ZRANGEBYSCORE fzz -inf +inf LIMIT N N",
    b"ZRANGE fzz (N N BYSCORE LIMIT N N", b"ZREVRANGEBYLEX fzz + - LIMIT N N",
    b"ZRANGEBYLEX fzz - + LIMIT N N", b"GETRANGE fz N N", b"GETBIT fz N", b"BITCOUNT fz N N",
    b"BITPOS fz 1 N N", b"BITCOUNT fz N N BIT", b"BITPOS fz 0 N N BYTE", b"SINTERCARD N fzs fzs",
    b"SINTERCARD 2 fzs fzs LIMIT N", b"ZINTERCARD N fzz", b"ZINTERCARD 1 fzz LIMIT N",
    b"SELECT N", b"HRANDFIELD nokey N", b"HRANDFIELD nokey N WITHVALUES", b"SRANDMEMBER nokey N",
    b"ZRANDMEMBER nokey N WITHSCORES", b"ZRANGE fzz N N BYSCORE", b"LMPOP N nokey LEFT COUNT N",
    b"ZMPOP N nokey MIN COUNT N", b"EXPIRE nokey N", b"PEXPIRE nokey N", b"SETEX nokey2 N v",
    b"GETEX nokey EX N", b"SET nokey3 v PX N", b"INCRBY fzn N", b"INCRBYFLOAT fzf N",
    b"HINCRBY fzh n N", b"ZINCRBY fzz2 N m", b"LSET fzl N v", b"LTRIM nokey N N",
    b"ZREMRANGEBYRANK nokey N N", b"WAIT 0 N", b"CLIENT KILL ID N", b"ZUNION N fzz fzz",
    b"SPOP nokey N", b"LPOP nokey N", b"RPOP fzl2 N", b"RPUSH fzl2 a b c", b"LPOS fzl2 c COUNT N",
    b"ZRANGESTORE fzd fzz N N", b"LREM fzl2 N a", b"SUBSTR fz N N", b"ZCOUNT fzz N N",
    b"ZREMRANGEBYSCORE nokey N N", b"EXPIREAT nokey N", b"PEXPIREAT nokey N",
    b"BITFIELD_RO fz GET u8 N", b"BITFIELD_RO fz GET i5 N", b"BITFIELD fz GET u8 N",
    b"HINCRBYFLOAT fzh f N", b"ZADD fzz2 N m", b"ZADD fzz2 INCR N m", b"DECRBY fzn N",
    b"ZREMRANGEBYRANK fzz2 N N", b"LINDEX fzl2 N", b"ZRANGE fzz2 N N WITHSCORES",
    b"GET fzn", b"LLEN fzl2", b"ZSCORE fzz2 m",
]
_DIFF_DB = b"9"


def _call_in_db(port: int, argv: list[bytes]) -> object:
    with socket.create_connection(("127.0.0.1", port), timeout=COMMAND_TIME_BOUND) as sock:
        sock.sendall(encode_command([b"SELECT", _DIFF_DB]) + encode_command(argv))
        reader, replies = hiredis.Reader(), []
        while len(replies) < 2:
            data = sock.recv(65536)
            assert data, f"connection closed on {argv!r}"
            reader.feed(data)
            while (reply := reader.gets()) is not False:
                replies.append(reply)
        return replies[1]


def _comparable(reply: object) -> object:
    return ("error", str(reply)) if isinstance(reply, hiredis.ReplyError) else reply


def test_random_arguments_like_redis(node: Node, redis_server: int) -> None:
    rng = random.Random(SEED)
    for port in (node.port, redis_server):
        for argv in ([b"FLUSHDB"], [b"SET", b"fz", b"a" * 60], [b"SET", b"fzn", b"0"],
                     [b"SET", b"fzf", b"0"], [b"SADD", b"fzs", *(b"a%d" % i for i in range(20))],
                     [b"HSET", b"fzh", b"n", b"1"], [b"RPUSH", b"fzl", *([b"a", b"b"] * 10)],
                     [b"ZADD", b"fzz", *(x for i in range(20) for x in (b"%d" % i, b"a%d" % i))]):
            _call_in_db(port, argv)
    try:
        for _ in range(ROUNDS * 10):
            argv = _arguments(rng, rng.choice(_DETERMINISTIC))
            ours, theirs = _call_in_db(node.port, argv), _call_in_db(redis_server, argv)
            assert _comparable(ours) == _comparable(theirs), argv
    finally:
        _call_in_db(redis_server, [b"FLUSHDB"])
