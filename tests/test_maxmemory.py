"""maxmemory: the dataset's logical size, eviction proposed by the leader, OOM replies.

The size accounting is checked in-process against a walk over every stored record; the rest
runs real nodes (and a real redis-server for the differential checks).
"""

from __future__ import annotations

import math
import random
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from rcache.statemachine import StateMachine
from rcache.storage import RECORD_OVERHEAD, Store, elements_total_key
from rcache.verify.nodes import free_port

from .conftest import wait_for
from .test_commands_unit import DirectNode
from .test_differential import RawConnection


@pytest.fixture
def kv(tmp_path: Path) -> Iterator[DirectNode]:
    node = DirectNode(tmp_path / "db")
    yield node
    node.store.close()


def walked_size(kv: DirectNode) -> tuple[int, dict[bytes, int]]:
    """The logical size summed over RocksDB itself, and per collection."""
    total, per_collection = 0, {}
    for key, value in kv.store.db.items():
        if key[:1] in (b"k", b"s"):
            size = len(key) + len(value) + RECORD_OVERHEAD
            total += size
            if key[:1] == b"s":
                owner = elements_total_key(key)
                per_collection[owner] = per_collection.get(owner, 0) + size
    return total, per_collection


def stored_totals(kv: DirectNode) -> dict[bytes, int]:
    return {key: int.from_bytes(value, "big", signed=True)
            for key, value in kv.store.db.items(from_key=b"z") if key[:1] == b"z"}


def random_command(rng: random.Random) -> list:
    key = f"k{rng.randrange(12)}"
    member = f"m{rng.randrange(300)}"
    value = "v" * rng.choice((1, 10, 100))
    return rng.choice([
        ["set", key, value], ["append", key, value], ["del", key], ["incr", key],
        ["hset", key, member, value], ["hdel", key, member],
        ["rpush", key, *[value] * rng.randrange(1, 80)], ["lpop", key, "3"],
        ["ltrim", key, "2", "-3"], ["sadd", key, member, member + "x"], ["srem", key, member],
        ["spop", key, "5"],
        ["zadd", key, str(rng.random()), member], ["zrem", key, member],
        ["zremrangebyrank", key, "0", "150"], ["expire", key, "100"], ["persist", key],
        ["setrange", key, str(rng.choice((10, 70_000, 200_000))), value],
        ["rename", key, f"k{rng.randrange(12)}"], ["copy", key, f"k{rng.randrange(12)}"],
        ["move", key, "1"], ["flushdb"], ["swapdb", "0", "1"],
    ] + [["zadd", key, *[x for i in range(200) for x in (str(i), f"{member}{i}")]]] * 2)


def test_logical_size_matches_the_records_after_random_writes(kv: DirectNode) -> None:
    rng = random.Random(19)
    for _ in range(3000):
        kv.call(*random_command(rng), db=rng.choice((0, 0, 0, 1)))
    total, per_collection = walked_size(kv)
    assert total > 0
    assert kv.store.used_bytes == total
    assert stored_totals(kv) == per_collection
    kv.call("flushall")
    assert kv.store.used_bytes == 0 and stored_totals(kv) == {}


# -- real nodes ---------------------------------------------------------------------------------
MAXMEMORY = 2 * 1024 * 1024
VALUE = b"v" * 1000
PIPELINE = 100  # writes per round trip: what one batch can add past the limit
BATCH_BYTES = PIPELINE * (len(VALUE) + 64)


def configure(nodes, **options: str) -> None:
    """Every node, so that whichever leads evicts alike."""
    for n in nodes:
        client = n.client()
        for name, value in options.items():
            client.config_set(name.replace("_", "-"), value)


def used_memory(client) -> int:
    return client.info("memory")["used_memory_dataset"]


def all_keys(node) -> set[bytes]:
    """Every key a node holds, read from that node itself (READONLY, stale reads)."""
    client = node.client()
    client.execute_command("READONLY")
    return set(client.scan_iter(count=1000))


def test_allkeys_lru_keeps_three_nodes_under_the_limit_and_identical(cluster) -> None:
    configure(cluster.nodes, maxmemory=str(MAXMEMORY), maxmemory_policy="allkeys-lru")
    leader = cluster.leader()
    client = leader.client()
    hot = [b"hot:%d" % i for i in range(10)]
    client.mset({key: b"h" for key in hot})
    written, highest = 0, 0
    while written < 5 * MAXMEMORY:
        pipe = client.pipeline(transaction=False)
        for _ in range(PIPELINE):
            pipe.set(b"key:%08d" % (written // len(VALUE)), VALUE)
            written += len(VALUE)
        pipe.execute()
        assert client.mget(hot) == [b"h"] * len(hot)  # read: recently used, kept
        highest = max(highest, used_memory(client))
    assert highest <= MAXMEMORY + BATCH_BYTES
    assert used_memory(client) <= MAXMEMORY + BATCH_BYTES
    info = client.info("stats")
    assert info["evicted_keys"] > 0
    assert client.dbsize() < written // len(VALUE)
    cluster.wait_converged()
    keys = [all_keys(n) for n in cluster.nodes]
    assert keys[0] == keys[1] == keys[2]
    assert set(hot) <= keys[0]
    sizes = {used_memory(n.client()) for n in cluster.nodes}
    assert len(sizes) == 1


def test_noeviction_answers_oom_to_writes_and_serves_reads_and_deletes(node) -> None:
    client = node.client()
    client.set("kept", "x" * 100)
    configure([node], maxmemory="1", maxmemory_policy="noeviction")
    with pytest.raises(redis.exceptions.ResponseError,
                       match=r"^command not allowed when used memory > 'maxmemory'\.$"):
        client.set("more", "y")
    assert client.get("kept") == b"x" * 100
    assert client.info("stats")["evicted_keys"] == 0
    assert client.delete("kept") == 1
    assert client.set("more", "y")  # nothing stored: under the limit again


def test_volatile_policy_without_volatile_keys_answers_oom(node) -> None:
    client = node.client()
    client.set("plain", "x" * 100)
    configure([node], maxmemory="1", maxmemory_policy="volatile-lru")
    with pytest.raises(redis.exceptions.ResponseError, match="maxmemory"):
        client.set("more", "y")
    assert client.get("plain") == b"x" * 100


def test_volatile_ttl_evicts_the_shortest_ttl_first(node) -> None:
    client = node.client()
    for i in range(20):
        client.set(f"ttl:{i:02d}", "x" * 1000, ex=1000 + i * 100)
    client.set("forever", "x" * 1000)
    limit = used_memory(client) - 4000  # room for 16 of the 21 keys, less one
    configure([node], maxmemory=str(limit), maxmemory_policy="volatile-ttl")
    client.set("trigger", "t")
    wait_for(lambda: used_memory(client) <= limit, 20, "eviction")
    left = {key.decode() for key in client.scan_iter()}
    gone = {f"ttl:{i:02d}" for i in range(20)} - left
    assert gone and gone == {f"ttl:{i:02d}" for i in range(len(gone))}
    assert {"forever", "trigger"} <= left
    assert client.info("stats")["evicted_keys"] == len(gone)


def test_lfu_and_lru_tracking_answer_object_freq_and_idletime(node) -> None:
    client = node.client()
    configure([node], maxmemory_policy="allkeys-lru")  # the access clock runs under a policy
    client.set("k", "v")
    assert 0 <= client.object("idletime", "k") < 10  # seconds since the SET just above
    with pytest.raises(redis.exceptions.ResponseError, match="LFU maxmemory policy is not"):
        client.object("freq", "k")
    configure([node], maxmemory_policy="allkeys-lfu")
    for _ in range(50):
        client.get("k")
    assert client.object("freq", "k") > 5
    with pytest.raises(redis.exceptions.ResponseError, match="LFU maxmemory policy is selected"):
        client.object("idletime", "k")


def test_object_freq_of_new_read_and_reloaded_keys_as_redis(node, redis_server: int) -> None:
    """A new key holds LFU_INIT_VAL, a read counts it up (always, from 5), and a key stored
    before the node started counts as loaded then (Redis's keys after a restart): decayed
    from the start, not from its first read here (tests/test_lfu_unit.py times the decay)."""
    ours, theirs = node.client(), redis.Redis(port=redis_server)
    theirs.flushall()
    for client in (ours, theirs):
        client.config_set("maxmemory-policy", "allkeys-lfu")
        client.config_set("lfu-decay-time", "1000")  # no minute boundary decays it here
        client.set("fresh", "v")
        client.set("read", "v")
        client.get("read")
        for name in ("TYPE", "EXISTS", "TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"):
            client.execute_command(name, "fresh")  # LOOKUP_NOTOUCH: no access counted
        client.memory_usage("fresh")
        client.object("encoding", "fresh")
    for key in ("fresh", "read"):
        assert ours.object("freq", key) == theirs.object("freq", key)
    assert ours.object("freq", "fresh") == 5
    node.restart()
    ours = node.client()
    configure([node], maxmemory_policy="allkeys-lfu", lfu_decay_time="1000")
    assert [ours.object("freq", key) for key in ("fresh", "read")] == [5, 5]
    ours.get("read")  # known to the store, not to the new clock: 5 counted up
    assert ours.object("freq", "read") == 6
    theirs.config_set("maxmemory-policy", "noeviction")
    theirs.config_set("lfu-decay-time", "1")
    theirs.flushall()


def test_restore_idletime_and_freq_set_the_access_clock(node) -> None:
    """The node RESTORE is sent to records IDLETIME (LRU policies) or FREQ (LFU ones)."""
    client = node.client()
    client.set("k", "v")
    payload = client.dump("k")
    configure([node], maxmemory_policy="allkeys-lru")
    start = time.monotonic()
    client.restore("k", 0, payload, replace=True, idletime=1000)
    idle = client.object("idletime", "k")
    assert 1000 <= idle <= 1000 + math.ceil(time.monotonic() - start)
    configure([node], maxmemory_policy="allkeys-lfu", lfu_decay_time="0")
    client.restore("k", 0, payload, replace=True, frequency=100)
    assert client.object("freq", "k") == 100
    configure([node], maxmemory_policy="noeviction", lfu_decay_time="1")


OPTIONS = ("maxmemory", "maxmemory-policy", "maxmemory-samples", "lfu-log-factor",
           "lfu-decay-time", "maxmemory-eviction-tenacity")


@pytest.mark.parametrize("commands", [
    [("CONFIG", "GET", name)] for name in OPTIONS] + [
    [("CONFIG", "SET", "maxmemory", "3mb"), ("CONFIG", "GET", "maxmemory")],
    [("CONFIG", "SET", "maxmemory-policy", "ALLKEYS-LFU"), ("CONFIG", "GET", "maxmemory-policy")],
    [("CONFIG", "SET", "maxmemory-policy", "lru")],
    [("CONFIG", "SET", "maxmemory", "-1")],
    [("CONFIG", "SET", "maxmemory-samples", "0")],
    [("CONFIG", "SET", "lfu-log-factor", "-1")],
    [("CONFIG", "SET", "lfu-decay-time", "x")],
    [("SET", "big", "x" * 2000), ("CONFIG", "SET", "maxmemory", "1"), ("SET", "a", "b"),
     ("GET", "big"), ("DEL", "big")],
    [("SET", "big", "x" * 2000), ("CONFIG", "SET", "maxmemory", "1"), ("MULTI",),
     ("SET", "a", "b"), ("GET", "big"), ("EXEC",), ("MULTI",), ("DEL", "big"), ("EXEC",)],
    [("SET", "big", "x" * 2000), ("MULTI",), ("SET", "a", "b"), ("CONFIG", "SET", "maxmemory",
                                                                  "1"), ("EXEC",)],
])
def test_replies_match_redis(commands, node, redis_server) -> None:
    """Byte for byte, run on a fresh rcache and on redis-server (restored afterwards)."""
    theirs = redis.Redis(port=redis_server)
    before = {name: theirs.config_get(name)[name] for name in OPTIONS}
    ours, reference = RawConnection(node.port), RawConnection(redis_server)
    try:
        for command in commands:
            assert ours.call(*command) == reference.call(*command), command
    finally:
        ours.close()
        reference.close()
        theirs.config_set("maxmemory", before["maxmemory"])
        theirs.config_set("maxmemory-policy", before["maxmemory-policy"])
        theirs.delete("big", "a")


def test_exec_refused_by_maxmemory_set_after_queuing_matches_redis(node, redis_server) -> None:
    """maxmemory set by another client while a transaction is queued: EXEC answers EXECABORT
    with the OOM reason when a queued command may use memory, and runs a read-only one."""
    theirs = redis.Redis(port=redis_server)
    before = theirs.config_get("maxmemory")["maxmemory"]
    transactions = {port: RawConnection(port) for port in (node.port, redis_server)}
    admins = {port: RawConnection(port) for port in (node.port, redis_server)}
    replies: dict[int, list[bytes]] = {port: [] for port in transactions}
    try:
        for port, conn in transactions.items():
            admin = admins[port]
            for queued in [[("SET", "a", "b"), ("GET", "big")], [("GET", "big"), ("PING",)]]:
                conn.call("SET", "big", "x" * 2000)
                conn.call("MULTI")
                replies[port] += [conn.call(*command) for command in queued]
                replies[port].append(admin.call("CONFIG", "SET", "maxmemory", "1"))
                replies[port].append(conn.call("EXEC"))
                replies[port].append(admin.call("CONFIG", "SET", "maxmemory", "0"))
        assert b"EXECABORT Transaction discarded because of: OOM" in replies[node.port][3]
        assert replies[node.port] == replies[redis_server]
    finally:
        for conn in (*transactions.values(), *admins.values()):
            conn.close()
        theirs.config_set("maxmemory", before)
        theirs.delete("big", "a")


_OOM_LIBRARY = """#!lua name=oomlib
redis.register_function('f', function(k, a) return redis.call('set', k[1], 1) end)
redis.register_function{function_name='g', flags={'allow-oom'},
  callback=function(k, a) return redis.call('set', k[1], 1) end}
redis.register_function{function_name='h', flags={'no-writes'},
  callback=function(k, a) return redis.call('get', k[1]) end}"""
_PAST_MAXMEMORY = [
    ("EVAL", "redis.call('set','x',1) return 1", "1", "x"),  # no flags: the first write fails
    ("EVAL", "return redis.call('get','x')", "1", "x"),
    ("EVAL", "#!lua flags=\nreturn 1", "0"),  # flags that do not allow it: refused to start
    ("EVAL", "#!lua flags=allow-oom\nredis.call('set','x',1) return 1", "1", "x"),
    ("EVAL", "#!lua flags=no-writes\nredis.call('get','x') return 1", "0"),
    ("EVAL_RO", "#!lua flags=no-writes\nredis.call('get','x') return 1", "1", "x"),
    ("EVAL", "redis.call('del','nokey') redis.call('set','x',2) return 1", "1", "x"),
    ("EVAL", "return redis.pcall('set','x',3)", "1", "x"), ("EVAL", "return (", "0"),
    ("FCALL", "f", "1", "x"), ("FCALL", "g", "1", "x"), ("FCALL", "h", "1", "x"), ("GET", "x")]


def test_scripts_past_maxmemory_match_redis(node, redis_server) -> None:
    """A script submitted past maxmemory: by its flags refused, or its first write that uses
    memory refused (the leader marks its entry; every node decides the same on apply)."""
    theirs = redis.Redis(port=redis_server)
    before = theirs.config_get("maxmemory")["maxmemory"]
    servers = [RawConnection(port) for port in (node.port, redis_server)]
    try:
        replies = []
        for conn in servers:
            conn.call("FLUSHALL")
            conn.call("FUNCTION", "FLUSH")  # functions other tests left on redis-server
            conn.call("SET", "x", "123")
            conn.call("SET", "big", "x" * 5000)
            conn.call("FUNCTION", "LOAD", "REPLACE", _OOM_LIBRARY)
            conn.call("CONFIG", "SET", "maxmemory", "1")
            replies.append([conn.call(*command) for command in _PAST_MAXMEMORY])
            conn.call("CONFIG", "SET", "maxmemory", "0")
            conn.call("FUNCTION", "DELETE", "oomlib")
        assert replies[0][0].startswith(b"-OOM command not allowed")
        assert replies[0] == replies[1]
    finally:
        for conn in servers:
            conn.close()
        theirs.config_set("maxmemory", before)
        theirs.delete("big", "x")


def test_options_come_from_flags_and_environment(make_node) -> None:
    started = make_node("--maxmemory", "3mb", "--lfu-log-factor", "20",
                        env={"RCACHE_MAXMEMORY_POLICY": "volatile-ttl",
                             "RCACHE_MAXMEMORY_SAMPLES": "7"})
    got = started.client().config_get("*")
    assert (got["maxmemory"], got["maxmemory-policy"], got["maxmemory-samples"],
            got["lfu-log-factor"], got["lfu-decay-time"]) == (
        str(3 * 1024 * 1024), "volatile-ttl", "7", "20", "1")
    assert started.client().info("memory")["maxmemory"] == 3 * 1024 * 1024


def test_a_database_from_before_sizes_were_kept_is_counted_at_open(kv: DirectNode) -> None:
    for i in range(50):
        kv.call("set", f"s{i}", "x" * i)
        kv.call("hset", f"h{i % 7}", f"f{i}", "y" * i)
    kv.call("setrange", "big", "100000", "z")
    expected = kv.store.used_bytes
    path = kv.store.path
    for counter in [key for key, _ in kv.store.db.items()
                    if key[:1] == b"z" or key.startswith((b"\x00used", b"\x00bytes"))]:
        kv.store.db.delete(counter)
    kv.store.close()
    kv.store = Store(path)
    assert kv.store.used_bytes == expected
    kv.machine = StateMachine(kv.store)
    kv.call("flushall")
    assert kv.store.used_bytes == 0


def test_http_writes_answer_insufficient_storage_under_noeviction(make_node) -> None:
    port = free_port()
    started = make_node("--http-port", str(port), "--maxmemory", "1")
    client = started.client()
    client.set("kept", "x")  # admitted: the dataset was empty, under the limit
    url = f"http://127.0.0.1:{port}/v1/keys/"
    request = urllib.request.Request(url + "more", data=b"y", method="PUT")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 507
    assert b"OOM command not allowed" in refused.value.read()
    with urllib.request.urlopen(url + "kept", timeout=10) as found:
        assert found.status == 200


@pytest.mark.parametrize("policy", ["allkeys-lfu", "allkeys-random", "volatile-lru",
                                    "volatile-lfu", "volatile-random"])
def test_every_evicting_policy_keeps_one_node_under_the_limit(make_node, policy) -> None:
    limit = 512 * 1024
    started = make_node("--maxmemory", str(limit), "--maxmemory-policy", policy)
    client = started.client()
    hot = [b"hot:%d" % i for i in range(5)]
    for key in hot:  # no TTL: volatile policies may not take them
        client.set(key, b"h")
        for _ in range(30):
            client.get(key)  # frequently used: LFU keeps them
    written = 0
    while written < 5 * limit:
        pipe = client.pipeline(transaction=False)
        for _ in range(PIPELINE):
            pipe.set(b"key:%08d" % (written // len(VALUE)), VALUE, ex=1000)
            written += len(VALUE)
        pipe.execute()
        assert used_memory(client) <= limit + BATCH_BYTES
    assert client.info("stats")["evicted_keys"] > 0
    kept = client.mget(hot)
    if policy.startswith("volatile-") or policy == "allkeys-lfu":
        assert kept == [b"h"] * len(hot)


def test_lowering_the_limit_evicts_at_once_and_notifies(node) -> None:
    """As Redis, CONFIG SET maxmemory below the dataset evicts without waiting for a write."""
    client = node.client()
    client.config_set("notify-keyspace-events", "Ee")
    client.config_set("maxmemory-policy", "allkeys-lru")
    client.set("foo", "bar")
    pubsub = client.pubsub()
    pubsub.psubscribe("*")
    assert pubsub.get_message(timeout=5)["type"] == "psubscribe"
    client.config_set("maxmemory", "1")
    message = pubsub.get_message(timeout=10)
    assert message is not None
    assert (message["channel"], message["data"]) == (b"__keyevent@0__:evicted", b"foo")
    assert client.dbsize() == 0
    assert client.info("stats")["evicted_keys"] == 1
    pubsub.close()


def test_fragmentation_ratio_is_rss_over_used_memory(node) -> None:
    """As Redis computes it: the process's RSS over used_memory (the dataset's logical size
    here), not a constant."""
    client = node.client()
    client.set("sized", "x" * 10_000)
    memory = client.info("memory")
    assert memory["mem_fragmentation_bytes"] == memory["used_memory_rss"] - memory["used_memory"]
    assert memory["mem_fragmentation_ratio"] == round(
        memory["used_memory_rss"] / memory["used_memory"], 2)
    assert memory["mem_fragmentation_ratio"] > 1
