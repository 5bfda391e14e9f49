"""DUMP and RESTORE against a real redis-server: values cross both ways, for every type and
encoding, and the error cases answer byte for byte as Redis does (RESP2 and RESP3)."""

from __future__ import annotations

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from rcache import rdb

from .conftest import Node, free_port, wait_for
from .test_differential import assert_same, pair  # noqa: F401  (pair is a fixture)


# -- the codec alone ---------------------------------------------------------------------------
def test_crc64_is_redis_jones_crc() -> None:
    assert rdb.crc64(b"123456789") == 0xE9C6D914C4B8D9CA  # crc64.c's own test vector


def test_lzf_back_references_overlap() -> None:
    # literal "ab", then a 6-byte copy starting 2 back (overlapping what it writes)
    assert rdb.lzf_decompress(b"\x01ab\x80\x01", 8) == b"abababab"
    with pytest.raises(rdb.FormatError):
        rdb.lzf_decompress(b"\x80\x05", 8)  # refers before the start


def _payload(body: bytes, version: int = rdb.RDB_VERSION) -> bytes:
    body += version.to_bytes(2, "little")
    return body + rdb.crc64(body).to_bytes(8, "little")


def _ziplist(entries: list[bytes]) -> bytes:
    """A ziplist of short strings, as Redis 6 wrote them (for the types 7.0 still loads)."""
    body, prev = b"", 0
    for entry in entries:
        item = bytes((prev,)) + bytes((len(entry),)) + entry
        body += item
        prev = len(item)
    blob = body + b"\xff"
    total = 10 + len(blob)
    return (total.to_bytes(4, "little") + (total - 1 - prev).to_bytes(4, "little")
            + len(entries).to_bytes(2, "little") + blob)


def test_loads_redis_6_ziplist_encodings() -> None:
    ziplist = _ziplist([b"a", b"1.5", b"b", b"2"])
    blob = rdb._length(len(ziplist)) + ziplist
    assert rdb.load(_payload(bytes((rdb.TYPE_ZSET_ZIPLIST,)) + blob)) == (
        "zset", [(b"a", 1.5), (b"b", 2.0)])
    assert rdb.load(_payload(bytes((rdb.TYPE_HASH_ZIPLIST,)) + blob)) == (
        "hash", [(b"a", b"1.5"), (b"b", b"2")])
    quicklist = bytes((rdb.TYPE_LIST_QUICKLIST,)) + b"\x02" + blob + blob
    assert rdb.load(_payload(quicklist))[1] == [b"a", b"1.5", b"b", b"2"] * 2


def test_refuses_what_redis_refuses() -> None:
    with pytest.raises(rdb.ChecksumError):
        rdb.verify(_payload(b"\x00\x01x", version=rdb.RDB_VERSION + 1))
    with pytest.raises(rdb.ChecksumError):
        rdb.verify(_payload(b"\x00\x01x")[:-1] + b"\x00")
    for body in (b"\x01\x00", b"\x02\x02\x01a\x01a", b"\x00\xc5", b"\x0f\x00", b"\x00\x05ab"):
        with pytest.raises(rdb.FormatError):
            rdb.load(_payload(body))


# -- between redis-server and rcache -------------------------------------------------------------
def _fill(client: redis.Redis) -> list[bytes]:
    """One key per type and encoding; long, repetitive strings so Redis LZF-compresses them."""
    client.set("s:embstr", "hello")
    client.set("s:int", "12345")
    client.set("s:int64", "-1234567890123456")
    client.set("s:int8", "-7")
    client.set("s:lzf", "abc" * 500)
    client.set("s:raw", bytes(range(256)) * 3)
    client.rpush("l:small", "a", "1", "-5000", "x" * 100, "70000", "")
    client.rpush("l:big", *[str(i) * 30 for i in range(2000)])
    client.rpush("l:plain", b"y" * 10000, b"z")  # over 8 KB: a plain quicklist node
    client.sadd("set:intset", 1, 2, 3, -100000, 2**40)
    client.sadd("set:strings", "a", "b", "ccc")
    client.sadd("set:big", *range(1000))
    client.zadd("z:small", {"a": 1.5, "b": -2, "c": 1e300, "d": float("inf"), "e": 3})
    client.zadd("z:big", {str(i): i / 3 for i in range(300)})
    client.hset("h:small", mapping={"f": "v", "n": "123", "neg": "-1"})
    client.hset("h:big", mapping={str(i): "v" * 100 for i in range(10)})
    client.hset("h:many", mapping={f"f{i}": i for i in range(1000)})
    return sorted(client.keys())


def _content(client: redis.Redis, key: bytes):
    kind = client.type(key)
    if kind == b"string":
        return kind, client.get(key)
    if kind == b"list":
        return kind, client.lrange(key, 0, -1)
    if kind == b"set":
        return kind, client.smembers(key)
    if kind == b"zset":
        return kind, client.zrange(key, 0, -1, withscores=True)
    return kind, client.hgetall(key)


@pytest.fixture
def clients(shared_node: Node, redis_server: int):
    ours, theirs = shared_node.client(), redis.Redis(port=redis_server)
    for client in (ours, theirs):
        client.flushall()
    theirs.config_set("list-compress-depth", 1)  # quicklist nodes dumped LZF-compressed
    yield ours, theirs
    theirs.config_set("list-compress-depth", 0)
    for client in (ours, theirs):
        client.flushall()
        client.close()


def test_redis_dumps_restore_here_and_back(clients) -> None:
    ours, theirs = clients
    keys = _fill(theirs)
    dumped_types = set()
    for key in keys:
        payload = theirs.dump(key)
        dumped_types.add(payload[0])
        assert ours.restore(key, 0, payload)
        assert _content(ours, key) == _content(theirs, key), key
        assert ours.object("encoding", key) == theirs.object("encoding", key), key
        back = key + b":back"
        assert theirs.restore(back, 0, ours.dump(key))
        assert _content(theirs, back) == _content(theirs, key), key
    # every encoding Redis 7.0 dumps: string, set, zset2, hash, intset, zset and hash
    # listpacks, quicklist 2
    assert dumped_types == {0, 2, 4, 5, 11, 16, 17, 18}
    assert b"\xc3" in theirs.dump("s:lzf")[:2]  # Redis compressed it


def test_rcache_dumps_restore_on_redis(clients) -> None:
    ours, theirs = clients
    for key in _fill(ours):
        assert theirs.restore(key, 0, ours.dump(key))
        assert _content(theirs, key) == _content(ours, key), key


def test_restore_ttl_replace_and_absttl(clients) -> None:
    ours, theirs = clients
    theirs.set("k", "v")
    payload = theirs.dump("k")
    assert ours.restore("k", 100_000, payload)
    assert 0 < ours.pttl("k") <= 100_000
    with pytest.raises(redis.ResponseError, match="^BUSYKEY Target key name already exists"):
        ours.restore("k", 0, payload)
    assert ours.restore("k", 0, theirs.dump("k"), replace=True) and ours.ttl("k") == -1
    at = int(ours.time()[0]) * 1000 + 3_600_000
    assert ours.restore("a", at, payload, absttl=True)
    assert ours.pexpiretime("a") == at
    assert ours.restore("k", 1, payload, replace=True, absttl=True)  # long past: deletes k
    assert ours.exists("k") == 0


RESTORE_ERRORS = [
    ("RESTORE", "k", "0", "not a payload"),
    ("RESTORE", "k", "-1", "{payload}"),
    ("RESTORE", "k", "x", "{payload}"),
    ("RESTORE", "k", "0", "{payload}", "IDLETIME", "-1"),
    ("RESTORE", "k", "0", "{payload}", "IDLETIME", "x"),
    ("RESTORE", "k", "0", "{payload}", "FREQ", "256"),
    ("RESTORE", "k", "0", "{payload}", "FREQ", "-1"),
    ("RESTORE", "k", "0", "{payload}", "IDLETIME", "1", "FREQ", "1"),
    ("RESTORE", "k", "0", "{payload}", "FREQ"),
    ("RESTORE", "k", "0", "{payload}", "NOPE"),
    ("RESTORE", "k", "0", "{newer}"),
    ("RESTORE", "k", "0", "{empty_list}"),
    ("RESTORE", "k", "0", "{bad_string}"),
    ("RESTORE", "k", "0", "{payload}", "FREQ", "5", "IDLETIME", "3"),
    ("RESTORE", "k", "0", "{payload}", "IDLETIME", "10", "ABSTTL"),
    ("GET", "k"),
    ("RESTORE", "k", "0", "{payload}"),
    ("RESTORE", "k", "-1", "garbage"),
    ("RESTORE", "k", "0", "{payload}", "REPLACE", "FREQ", "3"),
    ("RESTORE", "k", "1", "{payload}", "REPLACE", "ABSTTL"),
    ("EXISTS", "k"),
    ("RESTORE", "k"),
    ("DUMP", "nope"),
    ("DUMP",),
    ("SET", "n", "123"),
    ("DUMP", "n"),
    ("SET", "n", "-1234567890"),
    ("DUMP", "n"),
    ("SET", "n", "short"),
    ("DUMP", "n"),
]


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_errors_match_redis(pair, resp3: bool) -> None:  # noqa: F811
    values = {"payload": _payload(b"\x00\x03abc"), "newer": _payload(b"\x00\x01x", version=11),
              "empty_list": _payload(b"\x01\x00"), "bad_string": _payload(b"\x00\xc5")}
    if resp3:
        for conn in pair:
            conn.call("HELLO", "3")
    for argv in RESTORE_ERRORS:
        filled = [values[arg[1:-1]] if arg.startswith("{") else arg for arg in argv]
        assert_same(pair, *filled)


_SAMPLES = [
    rdb.dump("string", b"x" * 50),
    rdb.dump("list", [b"a", b"12", b"y" * 70]),
    rdb.dump("hash", [(b"f", b"1"), (b"g", b"v")]),
    rdb.dump("zset", [(b"m", 1.5), (b"n", -3.0)]),
    _payload(b"\x10" + rdb._length(17)  # a hash listpack: a=1, b=2
             + b"\x11\x00\x00\x00\x04\x00\x81a\x02\x01\x01\x81b\x02\x02\x01\xff"),
    _payload(b"\x0b" + rdb._length(12)  # an intset: 1, 2
             + b"\x02\x00\x00\x00\x02\x00\x00\x00\x01\x00\x02\x00"),
]


@settings(max_examples=300, deadline=None)
@given(sample=st.sampled_from(_SAMPLES), cuts=st.lists(st.tuples(st.integers(0, 200),
                                                              st.integers(0, 255)), max_size=4))
def test_corrupt_payloads_fail_as_bad_data_format(sample: bytes, cuts) -> None:
    """Whatever the bytes, loading yields a value or FormatError (Redis's 'Bad data format'),
    never another exception: a RESTORE is applied on every node."""
    body = bytearray(sample[:-10])
    for position, value in cuts:
        if body:
            body[position % len(body)] = value
    try:
        kind, data = rdb.load(_payload(bytes(body)))
    except rdb.FormatError:
        return
    assert kind in ("string", "list", "set", "zset", "hash") and data is not None


def test_restore_and_encodings_agree_on_every_node(cluster, redis_server: int) -> None:
    """RESTORE is applied by every node from the entry alone: the followers hold the value
    Redis dumped, TTL included, and report the encodings the leader's options decided
    (set on the leader only)."""
    theirs = redis.Redis(port=redis_server)
    theirs.delete("cluster:z")
    theirs.zadd("cluster:z", {"a": 1, "b": 2, "c": 3})
    payload = theirs.dump("cluster:z")
    theirs.delete("cluster:z")
    leader = cluster.leader().client()
    leader.config_set("zset-max-listpack-entries", 2)
    leader.config_set("set-max-intset-entries", 1)
    assert leader.restore("z", 3_600_000, payload)
    leader.sadd("s", 1, 2)
    leader.sadd("t", 1)
    expected = [leader.dump("z"), leader.pexpiretime("z"), leader.object("encoding", "z"),
                leader.object("encoding", "s"), leader.object("encoding", "t")]
    assert expected[2:] == [b"skiplist", b"hashtable", b"intset"]
    for node in cluster.followers():
        follower = node.client()
        assert follower.config_get("zset-max-listpack-entries") == {
            "zset-max-listpack-entries": "128"}
        follower.execute_command("READONLY")
        wait_for(lambda f=follower: f.exists("t"), 10, f"replication to {node.name}")
        assert [follower.dump("z"), follower.pexpiretime("z"), follower.object("encoding", "z"),
                follower.object("encoding", "s"), follower.object("encoding", "t")] == expected
    theirs.close()


def test_migrate_both_ways(clients, redis_server: int) -> None:
    ours, theirs = clients
    keys = _fill(ours)
    ours.pexpire("s:int", 100_000)
    expected = {key: _content(ours, key) for key in keys}
    assert ours.migrate("127.0.0.1", redis_server, keys[:3], 0, 5000) == b"OK"
    assert ours.execute_command("MIGRATE", "127.0.0.1", redis_server, "", 0, 5000, "COPY",
                                "KEYS", *keys[3:], "missing") == b"OK"
    assert ours.exists(*keys[:3]) == 0 and ours.exists(*keys[3:]) == len(keys) - 3
    for key in keys:
        assert _content(theirs, key) == expected[key], key
    assert 0 < theirs.pttl("s:int") <= 100_000
    ours.flushall()
    assert theirs.migrate("127.0.0.1", ours.connection_pool.connection_kwargs["port"],
                          keys, 0, 5000) == b"OK"  # Redis sends SELECT and RESTORE
    for key in keys:
        assert _content(ours, key) == expected[key], key
    with ours.pipeline(transaction=True) as multi:  # no waiting on another server in EXEC
        multi.migrate("127.0.0.1", redis_server, keys[0], 0, 5000)
        multi.exists(keys[0])
        refused, still_here = multi.execute(raise_on_error=False)
    assert isinstance(refused, redis.ResponseError) and still_here == 1


MIGRATE_ERRORS = [
    ("SET", "m", "v"),
    ("MIGRATE", "127.0.0.1", "{target}", "nokey", "9", "1000"),
    ("MIGRATE", "127.0.0.1", "{target}", "m", "x", "1000"),
    ("MIGRATE", "127.0.0.1", "{target}", "m", "9", "x"),
    ("MIGRATE", "127.0.0.1", "{target}", "m", "9", "1000", "KEYS", "m"),
    ("MIGRATE", "127.0.0.1", "{target}", "", "9", "1000", "KEYS", "nokey"),
    ("MIGRATE", "127.0.0.1", "{target}", "m", "9", "1000", "FOO"),
    ("MIGRATE", "127.0.0.1", "{target}", "m", "9", "1000", "AUTH"),
    ("MIGRATE", "127.0.0.1", "{target}", "m", "9", "1000", "AUTH2", "u"),
    ("MIGRATE", "127.0.0.1", "{target}", "m", "9", "1000"),  # BUSYKEY from the target
    ("MIGRATE", "127.0.0.1", "{closed}", "m", "9", "1000"),
    ("GET", "m"),
    ("MIGRATE", "127.0.0.1", "{target}"),
]


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_migrate_errors_match_redis(pair, node: Node, resp3: bool) -> None:  # noqa: F811
    """Both servers migrate to a third (an rcache node): a Redis cannot wait on itself."""
    target = node.client(db=9)
    target.set("m", "already here")
    values = {"target": str(node.port), "closed": str(free_port())}
    if resp3:
        for conn in pair:
            conn.call("HELLO", "3")
    try:
        for argv in MIGRATE_ERRORS:
            assert_same(pair, *[values[arg[1:-1]] if arg.startswith("{") else arg
                                for arg in argv])
    finally:
        target.close()


# -- the bulk encoders and decoders, around every boundary of their formats ---------------------
_INTS = [0, 1, 127, 128, -1, -128, -129, 4095, 4096, -4096, -4097, 32767, 32768, -32768, -32769,
         2**23 - 1, 2**23, -2**23, -2**23 - 1, 2**31 - 1, 2**31, -2**31, -2**31 - 1,
         2**63 - 1, -2**63]
_NOT_INTS = [b"-0", b"01", b"+1", b" 1", b"1.5", b"", b"-", b"0x10", b"12345678901234567890123",
             str(2**63).encode(), str(-2**63 - 1).encode()]
_LENGTHS = [1, 20, 21, 63, 64, 65, 127, 128, 4095, 4096, 16383, 16384]


def _boundary_values() -> list[bytes]:
    """Integers at each listpack and RDB integer width, strings that look like integers but
    are not, and strings at each length-header size (listpack, RDB length)."""
    return ([str(n).encode() for n in _INTS] + _NOT_INTS
            + [bytes([97 + size % 26]) * size for size in _LENGTHS])


def _boundary_keys(client: redis.Redis) -> dict[str, bytes]:
    """Keys on both sides of Redis's encoding thresholds (128 listpack entries, 64-byte
    listpack values, 512 intset entries), holding the boundary values; their encodings."""
    values = _boundary_values()
    short = [value for value in values if len(value) <= 64]
    client.rpush("list:edges", *values)
    client.rpush("list:long", *[values[i % len(values)] for i in range(3000)])
    client.sadd("set:intset", *_INTS, *range(512 - len(_INTS)))
    client.sadd("set:ints513", *_INTS, *range(513 - len(_INTS)))
    client.sadd("set:strings", *values)
    for size in (127, 128, 129):
        members = [short[i] if i < len(short) else b"m%d" % i for i in range(size)]
        client.zadd(f"zset:{size}", {member: i / 7 for i, member in enumerate(members)})
        client.hset(f"hash:{size}", mapping={member: values[i % len(short)]
                                             for i, member in enumerate(members)})
    client.zadd("zset:wide", {b"w" * 65: 1, b"v": float("-inf"), b"7": -0.0})
    client.hset("hash:wide", mapping={b"f" * 65: b"1", **{value: value for value in values}})
    return {key.decode(): client.object("encoding", key) for key in client.keys()}


def test_boundary_values_cross_from_redis_and_back_unchanged(clients) -> None:
    """Redis's payload restores here as the same value and encoding; rcache's payload of it
    restores on Redis, which then dumps the bytes it dumped first (where its encoding keeps
    an order: a quicklist, an intset, a sorted listpack; else the same content)."""
    ours, theirs = clients
    encodings = _boundary_keys(theirs)
    assert {b"quicklist", b"intset", b"hashtable", b"listpack", b"skiplist"} <= set(
        encodings.values())
    for key, encoding in encodings.items():
        payload = theirs.dump(key)
        assert ours.restore(key, 0, payload)
        assert _content(ours, key) == _content(theirs, key), key
        assert ours.object("encoding", key) == encoding, key
        assert theirs.restore(f"{key}:back", 0, ours.dump(key))
        if encoding in (b"quicklist", b"intset") or key.startswith("zset:") and (
                encoding == b"listpack"):
            assert theirs.dump(f"{key}:back") == payload, key
        else:
            assert _content(theirs, f"{key}:back") == _content(theirs, key), key
        assert ours.restore(f"{key}:again", 0, ours.dump(key))
        assert ours.dump(f"{key}:again") == ours.dump(key), key


def _boundary_stream(client: redis.Redis, key: str) -> None:
    """Entries whose values and id deltas cross every listpack integer and string width,
    with the master's fields and with their own, over several nodes."""
    values = [value for value in _boundary_values() if len(value) < 4096]
    stream_id = 1
    for i, value in enumerate(values * 4):
        stream_id += (1, 130, 5000, 40000, 2**24, 2**32)[i % 6]
        fields = {"v": value, "n": i} if i % 5 else {"other": value, "v": -i, "x": b""}
        client.xadd(key, fields, id=f"{stream_id}-{(i * 37) % 300}")


def test_stream_payloads_are_redis_bytes(clients) -> None:
    """The same XADDs on both servers: rcache's DUMP is Redis's (uncompressed, as rcache
    writes), byte for byte, and Redis's payload restored here dumps the same bytes again.
    (Without XDEL: Redis dumps deleted entries' tombstones, rcache does not.)"""
    ours, theirs = clients
    for client in (ours, theirs):
        _boundary_stream(client, "stream:edges")
    theirs.config_set("rdbcompression", "no")
    try:
        payload = theirs.dump("stream:edges")
    finally:
        theirs.config_set("rdbcompression", "yes")
    assert ours.dump("stream:edges") == payload
    assert theirs.dump("stream:edges") != payload  # compressed: what Redis sends usually
    assert ours.restore("stream:lzf", 0, theirs.dump("stream:edges"))
    assert ours.dump("stream:lzf") == payload
    assert ours.restore("stream:copy", 0, payload)
    assert ours.dump("stream:copy") == payload
    assert ours.execute_command("XINFO", "STREAM", "stream:copy", "FULL", "COUNT", "0") == (
        theirs.execute_command("XINFO", "STREAM", "stream:edges", "FULL", "COUNT", "0"))


def test_duplicated_consumers_or_pending_entries_refused_as_redis_does(clients) -> None:
    """RESTORE writes a consumer's pending entries without reads, trusting them to be new:
    a payload naming a consumer twice, or a pending entry twice, is refused (as Redis's
    loader refuses it) rather than miscounted."""
    ours, theirs = clients
    theirs.xadd("s", {"f": "v"}, id="1-0")
    theirs.xadd("s", {"f": "w"}, id="2-0")
    theirs.xgroup_create("s", "g", id="0")
    theirs.xreadgroup("g", "alice", {"s": ">"}, count=1)
    theirs.xreadgroup("g", "bob", {"s": ">"}, count=1)
    kind, value = rdb.load(theirs.dump("s"))
    group = value.groups[0]
    (alice, seen, alice_ids), (_, bob_seen, bob_ids) = group.consumers
    twice_named = [(alice, seen, alice_ids), (alice, bob_seen, bob_ids)]
    twice_pending = [(alice, seen, alice_ids * 2), (b"bob", bob_seen, bob_ids)]
    for consumers, pending in ((twice_named, group.pending),
                               (twice_pending, group.pending + group.pending[:1])):
        group.consumers, group.pending = consumers, pending
        payload = rdb.dump(kind, value)
        for client in (ours, theirs):
            with pytest.raises(redis.ResponseError, match="^Bad data format$"):
                client.restore("copy", 0, payload)
            assert client.exists("copy") == 0
