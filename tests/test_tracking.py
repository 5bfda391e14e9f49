"""Client-side caching (CLIENT TRACKING): the same replies and invalidation messages as
redis-server, byte for byte, in RESP3 (pushes) and RESP2 (a redirect subscribed to
__redis__:invalidate); a follower's tracking client invalidated by the leader's writes; and
redis-py's own client-side cache."""

from __future__ import annotations

import re

import pytest
import redis

from .conftest import LocalCluster, Node, wait_for
from .test_maxmemory import configure, used_memory
from .test_pubsub import Connection

# A conversation: (connection, command, replies it reads, {other connection: messages it
# then reads}). Each connection's bytes are compared with redis-server's; a message one
# server sends and the other does not shifts everything after it, and every connection
# ends with a message that both send (the ``zz`` keys), so nothing extra goes unseen.
# ``{r}`` stands for the client id of connection r (client ids differ between servers).
RESP3_DEFAULT = [
    ("a", "HELLO 3", 1, {}), ("a", "CLIENT TRACKINGINFO", 1, {}),
    ("a", "CLIENT GETREDIR", 1, {}), ("a", "CLIENT CACHING yes", 1, {}),
    ("a", "CLIENT TRACKING on PREFIX x", 1, {}), ("a", "CLIENT TRACKING on OPTIN OPTOUT", 1, {}),
    ("a", "CLIENT TRACKING on REDIRECT 999999", 1, {}),
    ("a", "CLIENT TRACKING on REDIRECT x", 1, {}), ("a", "CLIENT TRACKING maybe", 1, {}),
    ("a", "CLIENT TRACKING on NOSUCH", 1, {}), ("a", "CLIENT TRACKING", 1, {}),
    ("a", "CLIENT TRACKING on", 1, {}), ("a", "CLIENT TRACKINGINFO", 1, {}),
    ("a", "CLIENT GETREDIR", 1, {}), ("a", "CLIENT CACHING yes", 1, {}),
    ("a", "CLIENT TRACKING on BCAST", 1, {}), ("a", "CLIENT INFO", 0, {}),
    ("a", "GET k", 1, {}), ("a", "SET k 1", 2, {}), ("a", "GET k", 1, {}),
    ("b", "SET k 2", 1, {"a": 1}), ("b", "SET k 3", 1, {}),
    ("a", "MGET k k2 k3", 1, {}), ("a", "STRLEN s", 1, {}),
    ("b", "MSET k 4 k2 5 other 6", 1, {"a": 2}), ("b", "APPEND s x", 1, {"a": 1}),
    ("a", "GET k", 1, {}), ("b", "FLUSHDB", 1, {"a": 1}), ("b", "SET k 7", 1, {}),
    ("a", "EXISTS zz1", 1, {}), ("a", "SET short v PX 3000", 1, {}), ("a", "GET short", 1, {}),
    ("a", "CLIENT TRACKING off", 1, {}), ("a", "CLIENT TRACKINGINFO", 1, {}),
    ("a", "CLIENT TRACKING on", 1, {}), ("a", "PING", 1, {"a": 1}),  # the expiry of short
    ("a", "EVAL return(redis.call('GET',KEYS[1])) 1 sk", 1, {}),
    ("a", "EVAL_RO return(redis.call('GET',KEYS[1])) 1 sk2", 1, {}),
    ("b", "MSET sk 1 sk2 2", 1, {"a": 2}),  # what scripts read is tracked too
    ("b", "SET zz1 done", 1, {"a": 1}),
]
RESP2_REDIRECT = [
    ("r", "CLIENT ID", 1, {}), ("r", "SUBSCRIBE __redis__:invalidate", 1, {}),
    ("a", "CLIENT TRACKING on REDIRECT {r}", 1, {}), ("a", "CLIENT GETREDIR", 1, {}),
    ("a", "CLIENT TRACKINGINFO", 1, {}),
    ("a", "CLIENT TRACKING on REDIRECT {r} REDIRECT {r}", 1, {}),
    ("a", "GET x", 1, {}), ("a", "HGET h f", 1, {}), ("b", "SET x 1", 1, {"r": 1}),
    ("b", "HSET h f v", 1, {"r": 1}), ("b", "SET x 2", 1, {}), ("a", "GET x", 1, {}),
    ("a", "SET x mine", 1, {"r": 1}), ("b", "FLUSHALL", 1, {"r": 1}),
    ("s", "CLIENT TRACKING on REDIRECT {s}", 1, {}), ("s", "GET self", 1, {}),
    ("s", "SUBSCRIBE __redis__:invalidate", 1, {}), ("b", "SET self 1", 1, {"s": 1}),
    ("a", "GET zz2", 1, {}), ("b", "SET zz2 done", 1, {"r": 1}),
]
BCAST = [
    ("a", "HELLO 3", 1, {}), ("a", "CLIENT TRACKING on PREFIX a BCAST PREFIX b", 1, {}),
    ("a", "CLIENT TRACKING on BCAST PREFIX ab", 1, {}),
    ("a", "CLIENT TRACKING on BCAST PREFIX c PREFIX cd", 1, {}),
    ("a", "CLIENT TRACKING on BCAST OPTIN", 1, {}), ("a", "CLIENT TRACKING on", 1, {}),
    ("a", "CLIENT TRACKING on BCAST PREFIX zz", 1, {}), ("a", "CLIENT TRACKINGINFO", 1, {}),
    ("b", "MSET a1 1 b1 2 c1 3 a2 4", 1, {"a": 2}), ("b", "DEL a1 a2 nosuch", 1, {"a": 1}),
    ("a", "SET b2 mine", 2, {}), ("b", "SET zz3 done", 1, {"a": 1}),
    ("c", "CLIENT TRACKING on BCAST", 1, {}), ("c", "HELLO 3", 1, {}),
    ("b", "SET anything x", 1, {"c": 1}), ("a", "CLIENT TRACKING off", 1, {}),
    ("b", "SET zz4 done", 1, {"c": 1}),
]
OPTIN_OPTOUT_NOLOOP = [
    ("a", "HELLO 3", 1, {}), ("a", "CLIENT TRACKING on OPTIN", 1, {}),
    ("a", "CLIENT CACHING no", 1, {}), ("a", "CLIENT CACHING maybe", 1, {}),
    ("a", "GET o1", 1, {}), ("a", "CLIENT CACHING yes", 1, {}),
    ("a", "CLIENT TRACKINGINFO", 1, {}), ("a", "GET o2", 1, {}), ("a", "GET o3", 1, {}),
    ("b", "MSET o1 1 o2 2 o3 3", 1, {"a": 1}), ("a", "CLIENT CACHING yes", 1, {}),
    ("a", "MULTI", 1, {}), ("a", "GET o4", 1, {}), ("a", "EXEC", 1, {}), ("a", "GET o5", 1, {}),
    ("b", "MSET o4 4 o5 5", 1, {"a": 1}),  # CACHING lasts the MULTI block, then goes
    ("a", "CLIENT TRACKING on OPTOUT", 1, {}),
    ("c", "HELLO 3", 1, {}), ("c", "CLIENT TRACKING on OPTOUT NOLOOP", 1, {}),
    ("c", "CLIENT CACHING yes", 1, {}), ("c", "CLIENT CACHING no", 1, {}),
    ("c", "GET p1", 1, {}), ("c", "GET p2", 1, {}), ("c", "CLIENT TRACKINGINFO", 1, {}),
    ("c", "SET p2 mine", 1, {}), ("c", "GET p2", 1, {}), ("b", "MSET p1 1 p2 2", 1, {"c": 1}),
    ("c", "GET zz5", 1, {}), ("a", "RESET", 1, {}), ("a", "CLIENT TRACKINGINFO", 1, {}),
    ("b", "SET zz5 done", 1, {"c": 1}),
]
_NAMING_IDS = frozenset({"CLIENT ID", "CLIENT GETREDIR", "CLIENT TRACKINGINFO"})
CONVERSATIONS = {"resp3-default": RESP3_DEFAULT, "resp2-redirect": RESP2_REDIRECT,
                 "bcast": BCAST, "optin-optout-noloop": OPTIN_OPTOUT_NOLOOP}


def _converse(port: int, steps: list) -> dict[str, list[bytes]]:
    """Run the steps; what each connection read, with client ids written as their names."""
    names = sorted({step[0] for step in steps} | {n for step in steps for n in step[3]})
    connections = {name: Connection(port) for name in names}
    for connection in connections.values():
        connection.sock.settimeout(20)  # a message may follow active expiry, under load
    ids: dict[str, int] = {}
    for name, connection in connections.items():
        connection.send("CLIENT", "ID")
        ids[name] = int(connection.read(1)[1:-2])
    connections["b"].send("FLUSHALL")
    connections["b"].read(1)
    received: dict[str, list[bytes]] = {name: [] for name in names}
    try:
        for who, line, replies, others in steps:
            connection = connections[who]
            if line == "HELLO 3":  # its reply is the server's own (version, mode)
                connection.send("HELLO", "3")
                connection.read(1)
                continue
            if line == "CLIENT INFO":  # only its flags compare: the rest is the server's
                connection.send("CLIENT", "INFO")
                fields = re.search(rb" flags=(\S+) .* redir=(\S+) ", connection.read(1))
                received[who].append(b"%s %s" % fields.groups())
                continue
            connection.send(*line.format(**ids).split())
            raw = connection.read(replies)
            if line in _NAMING_IDS:
                for other, found in ids.items():
                    raw = raw.replace(b":%d\r\n" % found, b":<%s>\r\n" % other.encode())
            received[who].append(raw)
            for other, messages in others.items():
                received[other].append(connections[other].read(messages))
        return received
    finally:
        for connection in connections.values():
            connection.close()


@pytest.mark.parametrize("name", sorted(CONVERSATIONS))
def test_same_replies_and_messages_as_redis(shared_node: Node, redis_server: int,
                                            name: str) -> None:
    theirs = _converse(redis_server, CONVERSATIONS[name])
    ours = _converse(shared_node.port, CONVERSATIONS[name])
    assert any(b"invalidate" in raw for raws in theirs.values() for raw in raws)
    for who in theirs:
        for position, (got, expected) in enumerate(zip(ours[who], theirs[who], strict=True)):
            assert got == expected, (who, position, got, expected)


def _broken_redirect(port: int) -> list[bytes]:
    """A RESP3 connection whose redirect client left: Redis's tracking-redir-broken push,
    the broken_redirect flag and CLIENT LIST's R."""
    tracked, redirect, writer = Connection(port), Connection(port), Connection(port)
    try:
        redirect.send("CLIENT", "ID")
        redirect_id = int(redirect.read(1)[1:-2])
        tracked.send("HELLO", "3")
        tracked.read(1)
        tracked.send("CLIENT", "TRACKING", "on", "REDIRECT", str(redirect_id))
        tracked.send("GET", "broken")
        seen = [tracked.read(2)]
        redirect.close()

        def redirect_gone() -> bool:
            writer.send("CLIENT", "LIST")
            return b"id=%d " % redirect_id not in writer.read(1)

        wait_for(redirect_gone, 20, "the server to see the redirect client leave")
        writer.send("SET", "broken", "v")
        writer.read(1)
        seen.append(tracked.read(1))
        tracked.send("CLIENT", "TRACKINGINFO")
        seen.append(tracked.read(1))
        tracked.send("CLIENT", "INFO")
        seen.append(re.search(rb" flags=\S+ ", tracked.read(1)).group(0))
        return [raw.replace(b":%d\r\n" % redirect_id, b":<r>\r\n") for raw in seen]
    finally:
        for connection in (tracked, redirect, writer):
            connection.close()


def test_broken_redirect_as_redis(shared_node: Node, redis_server: int) -> None:
    theirs = _broken_redirect(redis_server)
    assert b"tracking-redir-broken" in theirs[1]
    assert _broken_redirect(shared_node.port) == theirs


def test_table_bounded_by_max_keys(shared_node: Node) -> None:
    """Past tracking-table-max-keys the oldest keys are invalidated (and forgotten)."""
    admin = shared_node.client()
    admin.config_set("tracking-table-max-keys", 2)
    tracked = Connection(shared_node.port)
    try:
        tracked.send("HELLO", "3")
        tracked.send("CLIENT", "TRACKING", "on")
        tracked.read(2)
        for key in ("m1", "m2"):
            tracked.send("GET", key)
            assert tracked.read(1) == b"_\r\n"
        tracked.send("GET", "m3")  # the third key: m1, the oldest, goes
        replies = tracked.read(2)
        assert replies.count(b">2\r\n$10\r\ninvalidate\r\n*1\r\n$2\r\nm1\r\n") == 1
        assert replies.count(b"_\r\n") == 1
        info = admin.info()
        assert info["tracking_total_keys"] == 2 and info["tracking_total_items"] == 2
        assert info["tracking_clients"] >= 1
        admin.set("m1", "changed")  # forgotten: no second message for m1
        admin.set("m2", "changed")
        assert tracked.read(1) == b">2\r\n$10\r\ninvalidate\r\n*1\r\n$2\r\nm2\r\n"
    finally:
        admin.config_set("tracking-table-max-keys", 1_000_000)
        tracked.close()
        admin.close()


def test_lowering_max_keys_invalidates_at_once(shared_node: Node) -> None:
    """CONFIG SET tracking-table-max-keys below the table's size drops the oldest keys then,
    as Redis does, without waiting for another read."""
    admin = shared_node.client()
    tracked = Connection(shared_node.port)
    try:
        tracked.send("HELLO", "3")
        tracked.send("CLIENT", "TRACKING", "on")
        tracked.read(2)
        tracked.send("MGET", "lower1", "lower2")
        tracked.read(1)
        admin.config_set("tracking-table-max-keys", 1)
        assert tracked.read(1) == b">2\r\n$10\r\ninvalidate\r\n*1\r\n$6\r\nlower1\r\n"
        assert admin.info()["tracking_total_keys"] == 1
    finally:
        admin.config_set("tracking-table-max-keys", 1_000_000)
        tracked.close()
        admin.close()


def test_table_forgets_keys_once_nobody_tracks(node: Node) -> None:
    """As Redis: with tracking off everywhere, a write still drops its key from the table and
    FLUSHALL empties it (INFO's tracking_total_keys)."""
    admin = node.client()
    tracked = Connection(node.port)
    try:
        tracked.send("CLIENT", "TRACKING", "on")
        tracked.send("MGET", "gone1", "gone2", "kept")
        tracked.send("CLIENT", "TRACKING", "off")
        tracked.read(3)
        assert admin.info()["tracking_total_keys"] == 3
        admin.set("gone1", "v")
        wait_for(lambda: admin.info()["tracking_total_keys"] == 2, 10, "the write to drop gone1")
        admin.flushall()
        wait_for(lambda: admin.info()["tracking_total_keys"] == 0, 10, "FLUSHALL to empty it")
    finally:
        tracked.close()
        admin.close()


def test_evicted_key_invalidates(node: Node) -> None:
    """maxmemory eviction (an entry of the leader's, applied on every node) invalidates."""
    client = node.client()
    tracked = Connection(node.port)
    tracked.sock.settimeout(30)
    try:
        for i in range(20):
            client.set(f"ttl:{i:02d}", "x" * 1000, ex=1000 + i * 100)
        tracked.send("HELLO", "3")
        tracked.send("CLIENT", "TRACKING", "on")
        tracked.send("STRLEN", "ttl:00")  # the shortest TTL: volatile-ttl's first victim
        assert tracked.read(3).endswith(b":1000\r\n")
        configure([node], maxmemory=str(used_memory(client) - 4000),
                  maxmemory_policy="volatile-ttl")
        client.set("trigger", "t")
        assert tracked.read(1) == b">2\r\n$10\r\ninvalidate\r\n*1\r\n$6\r\nttl:00\r\n"
        assert client.info("stats")["evicted_keys"] > 0
    finally:
        tracked.close()
        client.close()


def test_follower_tracking_client_invalidated_by_leader_writes(cluster: LocalCluster) -> None:
    """A tracking client on a follower (READONLY reads served there) hears of the leader's
    writes: every node applies them, and every node's tracker sees the keys."""
    leader = cluster.leader()
    follower = cluster.followers()[0]
    writer = leader.client()
    writer.set("cached", "v1")
    cluster.wait_converged()
    tracked = Connection(follower.port)
    tracked.sock.settimeout(30)
    try:
        tracked.send("HELLO", "3")
        tracked.send("READONLY")
        tracked.send("CLIENT", "TRACKING", "on")
        tracked.read(3)
        tracked.send("GET", "cached")
        assert tracked.read(1) == b"$2\r\nv1\r\n"
        writer.set("cached", "v2")
        assert tracked.read(1) == b">2\r\n$10\r\ninvalidate\r\n*1\r\n$6\r\ncached\r\n"
        writer.flushall()
        assert tracked.read(1) == b">2\r\n$10\r\ninvalidate\r\n_\r\n"
    finally:
        tracked.close()
        writer.close()


def test_redis_py_client_side_cache(shared_node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    """redis-py's own cache (RESP3, CLIENT TRACKING underneath) serves a cached GET and
    drops it once another client's SET invalidates the key. redis-py enables its cache only
    for servers that say 7.4 or later (real Redis 7.0 is refused too): the gate is lowered
    to the version rcache reports, the cache itself is redis-py's, unchanged."""
    cache_module = pytest.importorskip("redis.cache")
    monkeypatch.setattr(redis.connection.CacheProxyConnection, "MIN_ALLOWED_VERSION", "7.0.0")
    cached = redis.Redis(host="127.0.0.1", port=shared_node.port, protocol=3,
                         cache_config=cache_module.CacheConfig(), socket_timeout=10)
    other = shared_node.client()
    try:
        other.set("py-cached", "one")
        assert cached.get("py-cached") == b"one"
        cache = cached.get_cache()
        assert cache.size == 1
        served = other.info("commandstats")["cmdstat_get"]["calls"]
        assert cached.get("py-cached") == b"one"
        assert other.info("commandstats")["cmdstat_get"]["calls"] == served  # from the cache
        other.set("py-cached", "two")
        # redis-py reads pending invalidations before it serves from its cache
        wait_for(lambda: cached.get("py-cached") == b"two", 20, "the cache to drop the key")
    finally:
        cached.close()
        other.close()
