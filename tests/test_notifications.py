"""Keyspace notifications: the same messages, in the same order, as redis-server for a scripted
sequence of commands (RESP2 and RESP3, byte for byte); and on a follower of a 3-node
cluster, the ``expired`` and ``lease_expired`` events the leader's deletions produce."""

from __future__ import annotations

import hiredis
import pytest

from rcache.resp import encode_command

from .conftest import LocalCluster, Node, wait_for
from .test_pubsub import Connection

DB = 9
END = "__keyspace@9__:zz-end"
# One command per line, run in database 9 with notify-keyspace-events set on both servers.
SCRIPT = """
SET s 1
SET s 2 EX 100
SETNX s 3
SETNX s2 3
SETEX s3 100 v
PSETEX s4 100000 v
MSET m1 a m2 b
MSETNX m1 x m3 y
MSETNX m4 x m5 y
GETSET s 9
GETDEL s2
GETDEL nosuch
GETEX s3 EX 200
GETEX s3 PERSIST
GETEX s4 PXAT 1
APPEND s 0
APPEND fresh abc
SETRANGE s 1 zz
SETRANGE s 1 ""
INCR n
DECR n
INCRBY n 5
DECRBY n 2
INCRBYFLOAT f 1.5
INCR s
EXPIRE s 100
PEXPIRE s 100000
EXPIRE s 100 NX
PERSIST s
PERSIST s
EXPIREAT m1 1
EXPIRE nosuch 10
RENAME m2 r1
RENAMENX r1 m3
RENAMENX r1 r2
COPY r2 c1
COPY r2 c1
COPY r2 c1 REPLACE
MOVE c1 10
DEL r2 nosuch m3 fresh
UNLINK n f
RPUSH l a b c d e
LPUSH l z
LPUSHX l y
RPUSHX l w
LPUSHX nolist y
LPOP l
RPOP l 2
LINSERT l BEFORE b q
LINSERT l BEFORE nothere q
LSET l 0 first
LREM l 1 q
LREM l 1 nothere
LTRIM l 0 1
LTRIM l 0 -1
RPOPLPUSH l l2
LMOVE l2 l RIGHT LEFT
LMPOP 1 l LEFT COUNT 5
RPUSH l3 x
LPOP l3
HSET h a 1 b 2
HSETNX h a 3
HSETNX h c 3
HMSET h d 4
HINCRBY h a 5
HINCRBYFLOAT h a 0.5
HDEL h a nope
HDEL h b c d
SADD st a b c
SADD st a
SREM st a
SREM st zz
SMOVE st st2 b
SMOVE st st2 c
SADD o1 x y z
SADD o2 y z w
SINTERSTORE si o1 o2
SUNIONSTORE su o1 o2
SDIFFSTORE sd o1 o2
SDIFFSTORE sd o1 o1
SINTERSTORE si o1 nothing
ZADD z 1 a 2 b 3 c 4 d 5 e 6 f
ZADD z XX CH 10 a
ZADD z INCR 1 a
ZINCRBY z 1 b
ZREM z a zz
ZREMRANGEBYSCORE z 2 3
ZREMRANGEBYRANK z 0 0
ZREMRANGEBYLEX z - +
ZADD z 1 a 2 b 3 c
ZPOPMIN z
ZPOPMAX z
ZADD z2 1 a 2 b
ZUNIONSTORE zu 2 z z2
ZINTERSTORE zi 2 z z2
ZDIFFSTORE zd 2 z2 z
ZRANGESTORE zr z2 0 -1
ZMPOP 1 z MIN
DEL l l2 h st2 o1 o2 su sd z2 zu zi zd zr
SETBIT b 7 1
SETBIT b 7 1
SETBIT b 30 0
SETBIT b 30 0
SETBIT b0 3 0
BITFIELD b SET u8 0 255 GET u4 0
BITFIELD b OVERFLOW FAIL INCRBY u8 0 10
BITFIELD b GET u8 0
BITFIELD b SET u8 0 255
BITFIELD b INCRBY u8 0 0 SET u4 0 15
BITFIELD b SET u8 0 1 SET u8 0 255
BITFIELD b0 SET i5 90 0
BITOP NOT bn b
BITOP OR bn nothing
RPUSH tosort 3 1 2
SORT tosort STORE sorted
SORT nothing STORE sorted
PFADD hll a b c
PFADD hll a
PFMERGE hll2 hll
GEOADD g 13.361389 38.115556 Palermo 15.087269 37.502669 Catania
GEOSEARCHSTORE gs g FROMLONLAT 15 37 BYRADIUS 200 km
GEORADIUS g 15 37 200 km STORE gr
MULTI
SET tx 1
INCR tx
LPUSH txl a
PUBLISH __keyspace@9__:published in-order
DEL tx
EXEC
SET ttl-kept v EX 100
SET ttl-kept w KEEPTTL
SET ttl-kept v GET
SET ren1 a
SET ren2 b
RENAME ren1 ren2
SADD sren a
RENAME ren2 sren
SET ex1 v PXAT 1
SET ex1 v2
DEL b b0 bn tosort sorted hll hll2 g gs gr txl ttl-kept sren ex1
"""


def _dump_and_restore(client: Connection) -> None:
    """RESTORE (and RESTORE REPLACE) of a value DUMP serialized on the same server."""
    client.send("SET", "dumped", "value")
    client.read(1)
    client.send("DUMP", "dumped")
    reader = hiredis.Reader()
    reader.feed(client.read(1))
    payload = reader.gets()
    for argv in ([b"RESTORE", b"restored", b"0", payload],
                 [b"RESTORE", b"restored", b"0", payload, b"REPLACE"],
                 [b"DEL", b"dumped", b"restored"]):
        client.sock.sendall(encode_command(argv))
        client.read(1)


def _messages(port: int, protocol: int, flags: str) -> list[bytes]:
    """What a PSUBSCRIBE connection receives while the script runs, raw."""
    sub, client = Connection(port), Connection(port)
    try:
        client.send("CONFIG", "SET", "notify-keyspace-events", flags)
        client.read(1)
        client.send("SELECT", str(DB))
        client.send("FLUSHDB")
        client.read(2)
        if protocol == 3:
            sub.send("HELLO", "3")
            sub.read(1)
        sub.send("PSUBSCRIBE", "__key*__:*")
        sub.read(1)
        for line in SCRIPT.strip().splitlines():
            client.send(*[word.strip('"') for word in line.split()])
            client.read(1)
        _dump_and_restore(client)
        client.send("PUBLISH", END, "done")
        client.read(1)
        received = []
        while not received or END.encode() not in received[-1]:
            received.append(sub.read(1))
        return received
    finally:
        client.send("CONFIG", "SET", "notify-keyspace-events", "")
        client.read(1)
        sub.close()
        client.close()


@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("flags", ["KEA", "KEAn", "Kgn", "E$lshzx"])
def test_same_messages_as_redis(shared_node: Node, redis_server: int, protocol: int,
                                flags: str) -> None:
    theirs = _messages(redis_server, protocol, flags)
    ours = _messages(shared_node.port, protocol, flags)
    assert len(theirs) > 1
    for position, (got, expected) in enumerate(zip(ours, theirs, strict=False)):
        assert got == expected, (position, got, expected)
    assert len(ours) == len(theirs)


def _expiry_messages(port: int) -> list[bytes]:
    """A key with a TTL, left to expire: its events, up to ``expired`` (sent by active
    expiry; the socket timeout bounds the wait)."""
    sub, client = Connection(port), Connection(port)
    try:
        client.send("CONFIG", "SET", "notify-keyspace-events", "KEA")
        client.send("SELECT", str(DB))
        client.read(2)
        sub.send("PSUBSCRIBE", "__key*@9__:*")
        sub.read(1)
        client.send("SET", "short-lived", "v", "PX", "100")
        client.read(1)
        received = [sub.read(1)]
        while b"__keyevent@9__:expired" not in received[-1]:
            received.append(sub.read(1))
        return received
    finally:
        client.send("CONFIG", "SET", "notify-keyspace-events", "")
        client.read(1)
        sub.close()
        client.close()


def test_expiry_notifies_as_redis(shared_node: Node, redis_server: int) -> None:
    theirs = _expiry_messages(redis_server)
    assert len(theirs) == 6  # set, expire, expired: keyspace and keyevent each
    assert _expiry_messages(shared_node.port) == theirs


def _config_replies(port: int) -> list[bytes]:
    client = Connection(port)
    replies = []
    try:
        for flags in ("KEA", "Ag$", "gn$KEmx", "AKEmn", "g$lshzxetdn", "lshzxetd", "E", "m",
                      "KEg$lshzxetd", "", "bogus", "A B", "KEA"):
            client.send("CONFIG", "SET", "notify-keyspace-events", flags)
            client.send("CONFIG", "GET", "notify-keyspace-events")
            replies.append(client.read(2))
        client.send("CONFIG", "SET", "notify-keyspace-events", "")
        client.read(1)
        return replies
    finally:
        client.close()


def test_option_reads_and_prints_as_redis(shared_node: Node, redis_server: int) -> None:
    assert _config_replies(shared_node.port) == _config_replies(redis_server)


def _collect(pubsub, wanted: set[tuple[bytes, bytes]], timeout: float) -> list[tuple[bytes, bytes]]:
    """(channel, data) of every message until all wanted ones arrived (bounded)."""
    seen: list[tuple[bytes, bytes]] = []

    def all_arrived() -> bool:
        message = pubsub.get_message(timeout=0.2)
        if message is not None and message["type"] == "pmessage":
            seen.append((message["channel"], message["data"]))
        return wanted <= set(seen)

    wait_for(all_arrived, timeout, f"{wanted - set(seen)} on the follower")
    return seen


def test_a_follower_publishes_expiries_of_the_leader(cluster: LocalCluster) -> None:
    leader = cluster.leader()
    follower = cluster.followers()[0]
    listener = follower.client()
    listener.config_set("notify-keyspace-events", "Egx")  # this node's option only
    pubsub = listener.pubsub()
    pubsub.psubscribe("__keyevent@0__:*")
    wait_for(lambda: pubsub.get_message(timeout=0.2) is not None, 10, "psubscribe's reply")
    writer = leader.client()
    lease = writer.execute_command("LEASE", "GRANT", 1)
    writer.mset({"svc/a": "1", "svc/b": "2"})
    writer.execute_command("LEASE", "ATTACH", lease, "svc/a", "svc/b")
    writer.set("temp", "x", px=200)
    writer.set("kept", "x")
    writer.delete("kept")
    seen = _collect(pubsub, {(b"__keyevent@0__:expired", b"temp"),
                             (b"__keyevent@0__:lease_expired", b"svc/a"),
                             (b"__keyevent@0__:lease_expired", b"svc/b"),
                             (b"__keyevent@0__:del", b"kept")}, 30)
    assert len(seen) == len(set(seen)), seen  # each once: no event of class $ (SET, MSET)
    assert seen.index((b"__keyevent@0__:lease_expired", b"svc/a")) + 1 == seen.index(
        (b"__keyevent@0__:lease_expired", b"svc/b"))  # one entry, in key order
    assert writer.exists("temp", "svc/a", "svc/b") == 0
    pubsub.close()
