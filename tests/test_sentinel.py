"""Every rcache node answers Redis Sentinel's discovery commands for its own cluster, so that
Sentinel clients given rcache nodes as their "sentinels" find the leader and follow it through
a failover, with no Sentinel process: redis-py's ``Sentinel`` and Celery with ``sentinel://``
URLs, across a SIGKILL of the leader. The replies are compared in shape with a real
redis-sentinel monitoring a real redis-server master and its replica."""

from __future__ import annotations

import hashlib
import shutil
import threading
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest
import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.retry import Retry
from redis.sentinel import MasterNotFoundError, Sentinel

from rcache import launch
from rcache.launch import ServerProcess, free_port

from .conftest import LocalCluster, Node, wait_for
from .test_frameworks import RESULT_TIMEOUT_S, _celery_worker_argv, _worker_process

MASTER = "mymaster"  # rcache's default sentinel-master-name
FAILOVER_TIMEOUT_S = 30  # a new leader found and writing again, under load
CELERY_DB = 2


def _sentinel(nodes: list[Node]) -> Sentinel:
    """Each node asked once per discovery: redis-py's default retries, with backoff, would
    spend seconds on a killed one every time."""
    return Sentinel([("127.0.0.1", node.port) for node in nodes], sentinel_kwargs={
        "socket_timeout": 5, "socket_connect_timeout": 2, "retry": Retry(NoBackoff(), 0)})


def _master_client(sentinel: Sentinel, **kwargs) -> redis.Redis:
    """What an application keeps: a client that asks the sentinels for the master whenever its
    connection breaks (a few quick retries; the test retries beyond them)."""
    return sentinel.master_for(MASTER, socket_timeout=5, socket_connect_timeout=2,
                               retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 5), **kwargs)


@pytest.fixture(scope="module")
def sentinel_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with LocalCluster(tmp_path_factory.mktemp("sentinel-cluster"), 3) as cluster:
        yield cluster


def _kill_leader(cluster: LocalCluster) -> Node:
    """SIGKILL the leader, wait for the others to agree on a new one; -> the killed node."""
    old = cluster.leader()
    old.kill()
    cluster.leader(timeout=FAILOVER_TIMEOUT_S)
    return old


def _restart(cluster: LocalCluster, node: Node) -> None:
    node.start()
    cluster.wait_converged()


# What a write may meet while the leader is replaced (the sentinels know no master yet, or
# name one a node still believed to lead); with cluster-enabled no, never MOVED nor CLUSTERDOWN.
_FAILOVER_ERRORS = (redis.ConnectionError, redis.exceptions.MovedError,
                    redis.exceptions.TryAgainError, redis.exceptions.ClusterDownError)
_STANDALONE_FAILOVER_ERRORS = (redis.ConnectionError, redis.exceptions.TryAgainError)


def _write_until_acknowledged(client: redis.Redis, key: str, value: str,
                              transient: tuple[type[Exception], ...] = _FAILOVER_ERRORS) -> None:
    """SET until one is acknowledged, through the errors a failover may cause."""
    def attempt() -> bool:
        try:
            return client.set(key, value)
        except transient:
            return False

    wait_for(attempt, FAILOVER_TIMEOUT_S, f"SET {key} acknowledged")


def test_redis_py_sentinel_finds_the_leader_and_follows_it_after_a_kill(
        sentinel_cluster: LocalCluster) -> None:
    """master_for writes to the leader; once it is SIGKILLed, to the new one, every
    acknowledged write still there."""
    cluster = sentinel_cluster
    leader = cluster.leader()
    sentinel = _sentinel(cluster.nodes)
    client = _master_client(sentinel, decode_responses=True)
    try:
        assert sentinel.discover_master(MASTER) == ("127.0.0.1", leader.port)
        assert {port for _, port in sentinel.discover_slaves(MASTER)} == {
            node.port for node in cluster.nodes if node is not leader}
        with pytest.raises(MasterNotFoundError):
            sentinel.discover_master("othermaster")
        assert client.role()[0] == "master"
        acknowledged = {}

        def write(first: int, last: int) -> None:
            for i in range(first, last):
                _write_until_acknowledged(client, f"sentinel:{i}", str(i))
                acknowledged[f"sentinel:{i}"] = str(i)

        write(0, 20)
        assert client.get("sentinel:19") == "19"
        old = _kill_leader(cluster)
        try:
            write(20, 40)
            assert client.connection_pool.master_address != ("127.0.0.1", old.port)
            wait_for(lambda: sentinel.discover_master(MASTER) == (
                "127.0.0.1", cluster.leader().port), FAILOVER_TIMEOUT_S,
                "the sentinels to name the leader the nodes agree on")
            assert client.role()[0] == "master"
            assert dict(zip(acknowledged, client.mget(list(acknowledged)), strict=True)) == (
                acknowledged)
        finally:
            _restart(cluster, old)
    finally:
        client.close()
        sentinel.close()


def test_a_deposed_leader_closes_its_clients_so_they_ask_the_sentinels_again(
        sentinel_cluster: LocalCluster) -> None:
    """As Sentinel has a demoted master close its clients (CLIENT KILL TYPE normal, pubsub):
    a client connected to the leader when it hands leadership over finds the new one."""
    cluster = sentinel_cluster
    old = cluster.leader()
    sentinel = _sentinel(cluster.nodes)
    client = _master_client(sentinel)
    watcher = old.client()  # a plain client of the old leader, idle meanwhile
    try:
        client.set("handover", "before")
        assert watcher.ping()
        watcher_id = watcher.client_id()
        target = next(node for node in cluster.nodes if node is not old)

        def handed_over() -> bool:  # a transfer may be refused while the target catches up
            leader = cluster.leader()
            if leader is target:
                return True
            leader.client().execute_command("RAFT.TRANSFER-LEADER", target.name)
            return False

        wait_for(handed_over, FAILOVER_TIMEOUT_S, f"leadership handed to {target.name}",
                 interval=0.5)
        _write_until_acknowledged(client, "handover", "after")
        assert client.connection_pool.master_address == ("127.0.0.1", target.port)
        assert target.client().get("handover") == b"after"
        assert watcher.client_id() != watcher_id  # its connection was closed: a new one
    finally:
        client.close()
        sentinel.close()
        watcher.close()


# -- cluster-enabled no: a Redis master and its replicas, as Sentinel clients expect --------
@pytest.fixture(scope="module")
def standalone_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with LocalCluster(tmp_path_factory.mktemp("standalone-cluster"), 3,
                      "--cluster-enabled", "no") as cluster:
        yield cluster


class _LaggingSentinel(Sentinel):
    """Sentinels that name a given address as the master at their next discovery, as a
    sentinel that has not heard of an election yet does: what lands a master_for client's
    write on a node that no longer leads."""

    stale_master: tuple[str, int] | None = None

    def discover_master(self, service_name: str) -> tuple[str, int]:
        if self.stale_master is not None:
            address, self.stale_master = self.stale_master, None
            return address
        return super().discover_master(service_name)


def _readonly_errors(node: Node) -> int:
    stat = node.client().info("errorstats").get("errorstat_READONLY")
    return stat["count"] if stat else 0


def test_redis_py_sentinel_with_cluster_disabled_gets_readonly_and_follows_the_leader(
        standalone_cluster: LocalCluster) -> None:
    """cluster-enabled no: master_for writes through a SIGKILL of the leader without ever
    meeting MOVED; a write sent to the killed leader once it is back as a follower gets
    READONLY, on which redis-py asks the sentinels again and writes to the new leader; no
    acknowledged write is lost, and replica connections read from the followers."""
    cluster = standalone_cluster
    sentinel = _LaggingSentinel([("127.0.0.1", node.port) for node in cluster.nodes],
                                sentinel_kwargs={"socket_timeout": 5,
                                                 "socket_connect_timeout": 2,
                                                 "retry": Retry(NoBackoff(), 0)})
    client = _master_client(sentinel, decode_responses=True)
    acknowledged: dict[str, str] = {}

    def write(first: int, last: int) -> None:
        for i in range(first, last):
            _write_until_acknowledged(client, f"standalone:{i}", str(i),
                                      _STANDALONE_FAILOVER_ERRORS)
            acknowledged[f"standalone:{i}"] = str(i)

    try:
        write(0, 20)
        old = _kill_leader(cluster)
        try:
            write(20, 40)
        finally:
            _restart(cluster, old)
        leader = cluster.leader()
        assert old is not leader and old.client().role()[0] == b"slave"
        assert sentinel.discover_master(MASTER) == ("127.0.0.1", leader.port)
        refused_before = _readonly_errors(old)
        client.connection_pool.disconnect()  # its next connection asks the sentinels
        sentinel.stale_master = ("127.0.0.1", old.port)
        # READONLY makes redis-py close the connection, so the write's next try asks the
        # sentinels again (redis-py 8.1 raises it to the caller first: its own retries
        # reconnect to the same address)
        _write_until_acknowledged(client, "standalone:stale", "retried",
                                  _STANDALONE_FAILOVER_ERRORS)
        acknowledged["standalone:stale"] = "retried"
        assert sentinel.stale_master is None  # the lagging answer was used...
        assert _readonly_errors(old) > refused_before  # ...refused by the follower...
        assert client.connection_pool.master_address == ("127.0.0.1", leader.port)
        write(40, 50)  # ...and the client went on with the leader
        keys = list(acknowledged)
        assert dict(zip(keys, client.mget(keys), strict=True)) == acknowledged
        cluster.wait_converged()
        for node in cluster.nodes:
            assert node.client(decode_responses=True).mget(keys) == list(acknowledged.values())
        replica = sentinel.slave_for(MASTER, socket_timeout=5, decode_responses=True)
        try:
            assert replica.get("standalone:stale") == "retried"
            assert replica.connection_pool.get_master_address() == ("127.0.0.1", leader.port)
        finally:
            replica.close()
    finally:
        client.close()
        sentinel.close()


def _master_and_replica(workdir: Path) -> tuple[ServerProcess, ServerProcess]:
    """A redis-server master and its replica (not started) in workdir/master, workdir/replica."""
    for name in ("master", "replica"):
        (workdir / name).mkdir()
    master = launch.redis_server(free_port(), workdir / "master")
    replica = launch.redis_server(free_port(), workdir / "replica", "--replicaof", "127.0.0.1",
                                  str(master.port))
    return master, replica


@pytest.fixture(scope="module")
def real_replica_set(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    """A redis-server master and its replica (no cluster mode); -> their ports."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (.ci/run installs it)")
    master, replica = _master_and_replica(tmp_path_factory.mktemp("real-replica-set"))
    try:
        master.start(timeout=10)
        replica.start(timeout=10)
        yield master.port, replica.port
    finally:
        replica.stop()
        master.stop()


# Commands whose replies a master and a replica without cluster mode give, byte for byte
_CLUSTER_DISABLED_CASES = [
    ("CLUSTER", "INFO"), ("CLUSTER", "SLOTS"), ("CLUSTER", "SHARDS"), ("CLUSTER", "NODES"),
    ("CLUSTER", "MYID"), ("CLUSTER", "KEYSLOT", "k"), ("CLUSTER", "HELP"),
    ("CLUSTER", "REPLICAS", "x"), ("CLUSTER", "SLAVES", "x"),
    ("CLUSTER", "NOSUCH"), ("CLUSTER", "FAILOVER"), ("READONLY",), ("READWRITE",),
    ("ASKING",), ("INFO", "cluster"),
    ("CONFIG", "GET", "cluster-enabled"), ("CONFIG", "SET", "cluster-enabled", "yes"),
    ("CONFIG", "SET", "cluster-enabled", "no"), ("GET", "standalone:missing"),
]
_REPLICA_WRITE_CASES = [
    ("SET", "standalone:k", "v"), ("FLUSHALL",), ("INCR", "standalone:n"),
    ("MULTI",), ("SET", "standalone:k", "v"), ("GET", "standalone:k"), ("EXEC",),
]


@pytest.mark.parametrize("protocol", [2, 3], ids=["resp2", "resp3"])
def test_cluster_disabled_replies_as_a_redis_master_and_replica(
        standalone_cluster: LocalCluster, real_replica_set: tuple[int, int],
        protocol: int) -> None:
    """The leader answers as a redis-server master without cluster mode, a follower as its
    replica (READONLY to writes, at MULTI's queueing too), byte for byte."""
    from .test_differential import RawConnection

    leader = standalone_cluster.leader()
    follower = next(node for node in standalone_cluster.nodes if node is not leader)
    master_port, replica_port = real_replica_set
    pairs = [(RawConnection(leader.port), RawConnection(master_port)),
             (RawConnection(follower.port), RawConnection(replica_port))]
    try:
        for ours, theirs in pairs:
            hellos = [conn.call("HELLO", protocol) for conn in (ours, theirs)]
            assert all(b"standalone" in hello for hello in hellos)
            for argv in _CLUSTER_DISABLED_CASES:
                assert ours.call(*argv) == theirs.call(*argv), argv
        ours, theirs = pairs[1]
        for argv in _REPLICA_WRITE_CASES:
            assert ours.call(*argv) == theirs.call(*argv), argv
    finally:
        for pair in pairs:
            for conn in pair:
                conn.close()


_LIBRARY = ("#!lua name=replicalib\n"
            "redis.register_function('replica_w', function(k) "
            "return redis.call('set', k[1], 'f') end)\n"
            "redis.register_function{function_name='replica_r', callback=function(k) "
            "return redis.call('get', k[1]) end, flags={'no-writes'}}")
_NO_WRITES = "#!lua flags=no-writes\nreturn redis.call('get', KEYS[1])"
_WRITE_FLAG = "#!lua\nreturn redis.call('get', KEYS[1])"
# What a Redis replica runs itself (reads, read-only transactions and scripts, PUBLISH, WATCH)
# or refuses (writes, scripts flagged as writing, a write inside a script without flags)
_REPLICA_RUNS_CASES = [
    ("WATCH", "replica:k"), ("MULTI",), ("GET", "replica:k"), ("EXEC",),
    ("PUBLISH", "replica:nobody", "hi"), ("SPUBLISH", "replica:nobody", "hi"),
    ("EVAL", _NO_WRITES, 1, "replica:k"), ("EVAL", _WRITE_FLAG, 1, "replica:k"),
    ("EVAL", "return redis.call('get', KEYS[1])", 1, "replica:k"),
    ("EVAL", "return redis.call('set', KEYS[1], 1)", 1, "replica:k"),
    ("EVAL", "return redis.pcall('set', KEYS[1], 1)", 1, "replica:k"),
    ("EVAL", "return redis.call('publish', 'replica:nobody', 'x')", 0),
    ("EVAL", "#!bad\nreturn 1", 0),
    ("EVAL_RO", "return redis.call('get', KEYS[1])", 1, "replica:k"),
    ("EVAL_RO", "return redis.call('set', KEYS[1], 1)", 1, "replica:k"),
    ("EVAL_RO", _WRITE_FLAG, 1, "replica:k"),
    ("EVAL", "#!lua flags=no-writes\nreturn redis.call('set', KEYS[1], 1)", 1, "replica:k"),
    ("EVALSHA", "0" * 40, 0),
    ("FCALL", "replica_w", 1, "replica:k"), ("FCALL", "replica_r", 1, "replica:k"),
    ("FCALL", "replica_nosuch", 0), ("FCALL_RO", "replica_w", 1, "replica:k"),
    ("FCALL_RO", "replica_r", 1, "replica:k"), ("PFCOUNT", "replica:hll"),
    ("MULTI",), ("GET", "replica:k"), ("EVAL", _NO_WRITES, 1, "replica:k"),
    ("PUBLISH", "replica:nobody", "in multi"), ("FCALL", "replica_r", 1, "replica:k"),
    ("EVAL", "return redis.call('get', KEYS[1])", 1, "replica:k"), ("PFCOUNT", "replica:hll"),
    ("EVAL_RO", "return 1", 0), ("EXEC",),
    ("MULTI",), ("GET", "replica:k"), ("EVAL", _WRITE_FLAG, 1, "replica:k"), ("EXEC",),
    ("MULTI",), ("FCALL", "replica_w", 1, "replica:k"), ("EXEC",),
    ("WATCH", "replica:k"), ("MULTI",), ("SET", "replica:k", "x"), ("EXEC",),
    ("MULTI",), ("EXEC",),
]


def _replica_pairs(cluster: LocalCluster, real: tuple[int, int]) -> tuple[Node, Node, int, int]:
    """The leader and a follower, the master's and the replica's ports, all holding the same
    string, HyperLogLog and function library (applied on the follower and the replica)."""
    leader = cluster.leader()
    follower = next(node for node in cluster.nodes if node is not leader)
    master_port, replica_port = real
    master = redis.Redis(port=master_port)
    try:
        for primary in (leader.client(), master):
            primary.set("replica:k", "v")
            primary.pfadd("replica:hll", "a", "b", "c")
            primary.function_load(_LIBRARY, replace=True)
        master.execute_command("WAIT", 1, 10_000)
    finally:
        master.close()
    cluster.wait_converged()
    return leader, follower, master_port, replica_port


@pytest.mark.parametrize("protocol", [2, 3], ids=["resp2", "resp3"])
def test_cluster_disabled_follower_runs_what_a_redis_replica_runs(
        standalone_cluster: LocalCluster, real_replica_set: tuple[int, int],
        protocol: int) -> None:
    """A follower with cluster-enabled no answers WATCH, transactions of reads, PUBLISH and
    scripts as a redis-server replica does, byte for byte: runs them from its own data, or
    refuses the writes with READONLY (from a script: naming it)."""
    from .test_differential import RawConnection

    _, follower, _, replica_port = _replica_pairs(standalone_cluster, real_replica_set)
    ours, theirs = RawConnection(follower.port), RawConnection(replica_port)
    try:
        assert all(b"replica" in conn.call("HELLO", protocol) for conn in (ours, theirs))
        for argv in _REPLICA_RUNS_CASES:
            assert ours.call(*argv) == theirs.call(*argv), argv
    finally:
        ours.close()
        theirs.close()


def test_cluster_disabled_replicaof_holds_only_where_raft_agrees(
        standalone_cluster: LocalCluster) -> None:
    """REPLICAOF NO ONE on the master answers OK, as on a Redis master; a replica is not
    promoted by it nor made to follow another server, nor does FAILOVER run: the Raft
    leader is elected (RAFT.TRANSFER-LEADER chooses it)."""
    leader = standalone_cluster.leader()
    follower = next(node for node in standalone_cluster.nodes if node is not leader)
    assert leader.client().execute_command("REPLICAOF", "NO", "ONE") == b"OK"
    for node, argv in ((follower, ("REPLICAOF", "no", "one")),
                       (follower, ("SLAVEOF", "127.0.0.1", str(leader.port))),
                       (leader, ("REPLICAOF", "127.0.0.1", str(follower.port))),
                       (leader, ("FAILOVER",))):
        with pytest.raises(redis.ResponseError, match="^replicas follow the Raft leader"):
            node.client().execute_command(*argv)
    assert standalone_cluster.leader() is leader


def _next_message(pubsub: redis.client.PubSub) -> dict:
    return wait_for(lambda: pubsub.get_message(ignore_subscribe_messages=True, timeout=1),
                    FAILOVER_TIMEOUT_S, "a published message")


def test_cluster_disabled_follower_publishes_to_its_own_subscribers(
        standalone_cluster: LocalCluster, real_replica_set: tuple[int, int]) -> None:
    """PUBLISH (also from a script, or inside MULTI) on a follower reaches that node's
    subscribers only, as on a Redis replica: the leader's subscribers see the next message
    published through the log first."""
    leader, follower, master_port, replica_port = _replica_pairs(standalone_cluster,
                                                                 real_replica_set)
    seen = {}
    for name, primary, replica in (("rcache", leader.port, follower.port),
                                   ("redis", master_port, replica_port)):
        publisher, primary_client = redis.Redis(port=replica), redis.Redis(port=primary)
        here, there = redis.Redis(port=replica).pubsub(), redis.Redis(port=primary).pubsub()
        try:
            for pubsub in (here, there):
                pubsub.subscribe("replica:news")
                pubsub.psubscribe("replica:*")
                for _ in range(2):  # confirmed: its subscriptions are in place
                    wait_for(lambda p=pubsub: p.get_message(timeout=1), FAILOVER_TIMEOUT_S,
                             "a subscription's confirmation")
            replies = [publisher.publish("replica:news", "one"),
                       publisher.eval("return redis.call('publish', 'replica:news', 'two')", 0)]
            transaction = publisher.pipeline()
            transaction.get("replica:k").publish("replica:news", "three")
            replies.append(transaction.execute())
            received = [_next_message(here) for _ in range(6)]
            primary_client.publish("replica:news", "through the master")
            seen[name] = (replies, received, _next_message(there))
        finally:
            for client in (here, there, publisher, primary_client):
                client.close()
    assert seen["rcache"] == seen["redis"]
    replies, received, elsewhere = seen["rcache"]
    assert replies == [2, 2, [b"v", 2]]
    assert [m["data"] for m in received] == [b"one", b"one", b"two", b"two", b"three", b"three"]
    assert elsewhere["data"] == b"through the master"


def test_cluster_disabled_follower_watch_sees_the_writes_it_applies(
        standalone_cluster: LocalCluster, real_replica_set: tuple[int, int]) -> None:
    """WATCH on a follower, as on a Redis replica: EXEC (of reads) fails once a write to a
    watched key was applied there, and runs after writes to other keys."""
    leader, follower, master_port, replica_port = _replica_pairs(standalone_cluster,
                                                                 real_replica_set)
    outcomes = {}
    for name, primary, replica in (("rcache", leader.port, follower.port),
                                   ("redis", master_port, replica_port)):
        writer, reader = redis.Redis(port=primary), redis.Redis(port=replica)
        watching = redis.Redis(port=replica).pipeline()
        results = []
        try:
            for key, value in (("replica:other", "1"), ("replica:k", "changed"),
                               ("replica:k", "v")):
                watching.watch("replica:k")
                writer.set(key, value)
                wait_for(lambda k=key, v=value, r=reader: r.get(k) == v.encode(),
                         FAILOVER_TIMEOUT_S, "the replica to apply the write")
                watching.multi()
                watching.get("replica:k")
                try:
                    results.append(watching.execute())
                except redis.exceptions.WatchError:
                    results.append("aborted")
            outcomes[name] = results
        finally:
            for client in (writer, reader, watching):
                client.reset() if client is watching else client.close()
    assert outcomes["rcache"] == outcomes["redis"] == [[b"v"], "aborted", "aborted"]


def _sha(body: str) -> str:
    return hashlib.sha1(body.encode()).hexdigest()


_OWN_SCRIPT = "return 'own cache 1'"
_OWN_EVAL = "return 'own cache 2'"
_OWN_EVAL_RO = "return 'own cache 3'"
_OWN_NO_WRITES = "#!lua flags=no-writes\nreturn 'own cache 4'"
_OWN_WRITER = "return redis.call('set', KEYS[1], 'own cache')"
_OWN_FLAGGED_WRITER = "#!lua\nreturn redis.call('set', KEYS[1], 'own cache')"
_OWN_IN_MULTI = "return 'own cache in multi'"
_OWN_REFUSED = "#!lua\nreturn 'refused unrun'"  # flagged as writing: a replica refuses it
_ALL_OWN = [_sha(body) for body in (_OWN_SCRIPT, _OWN_EVAL, _OWN_EVAL_RO, _OWN_NO_WRITES,
                                    _OWN_WRITER, _OWN_FLAGGED_WRITER, _OWN_IN_MULTI)]
# A replica's own script cache: what SCRIPT LOAD, EVAL, EVAL_RO cache there and EVALSHA runs
_REPLICA_CACHE_CASES = [
    ("SCRIPT", "FLUSH"), ("SCRIPT", "EXISTS", *_ALL_OWN),
    ("SCRIPT", "LOAD", _OWN_SCRIPT), ("EVALSHA", _sha(_OWN_SCRIPT), 0),
    ("EVALSHA_RO", _sha(_OWN_SCRIPT).upper(), 0), ("SCRIPT", "EXISTS", *_ALL_OWN),
    ("EVAL", _OWN_EVAL, 0), ("EVALSHA", _sha(_OWN_EVAL), 0),
    ("EVAL_RO", _OWN_EVAL_RO, 0), ("EVALSHA_RO", _sha(_OWN_EVAL_RO), 0),
    ("EVAL", _OWN_NO_WRITES, 0), ("EVALSHA", _sha(_OWN_NO_WRITES), 0),
    ("SCRIPT", "LOAD", _OWN_WRITER), ("EVALSHA", _sha(_OWN_WRITER), 1, "replica:k"),
    ("EVALSHA_RO", _sha(_OWN_WRITER), 1, "replica:k"),
    ("SCRIPT", "LOAD", _OWN_FLAGGED_WRITER), ("EVALSHA", _sha(_OWN_FLAGGED_WRITER), 1, "replica:k"),
    ("SCRIPT", "LOAD", "return ("), ("EVAL", "return (", 0),
    ("EVAL", _OWN_REFUSED, 0), ("EVAL_RO", _OWN_REFUSED, 0),
    ("SCRIPT", "EXISTS", _sha(_OWN_REFUSED), _sha("return (")),
    ("MULTI",), ("SCRIPT", "LOAD", _OWN_IN_MULTI), ("EVALSHA", _sha(_OWN_IN_MULTI), 0),
    ("SCRIPT", "EXISTS", _sha(_OWN_IN_MULTI)), ("EXEC",),
    ("SCRIPT", "EXISTS", *_ALL_OWN),
]
# after the master's SCRIPT FLUSH: the replica's cache stays; then its own empties it
_REPLICA_CACHE_AFTER_MASTER_FLUSH = [
    ("SCRIPT", "EXISTS", *_ALL_OWN), ("EVALSHA", _sha(_OWN_SCRIPT), 0),
    ("SCRIPT", "FLUSH", "SYNC"), ("SCRIPT", "EXISTS", *_ALL_OWN),
    ("EVALSHA", _sha(_OWN_SCRIPT), 0), ("EVALSHA_RO", _sha(_OWN_EVAL_RO), 0),
    ("SCRIPT", "FLUSH", "NOW"),
]


@pytest.mark.parametrize("protocol", [2, 3], ids=["resp2", "resp3"])
def test_cluster_disabled_follower_keeps_its_own_script_cache(
        standalone_cluster: LocalCluster, real_replica_set: tuple[int, int],
        protocol: int) -> None:
    """SCRIPT LOAD, EVAL and EVAL_RO on a follower cache the script there, for its EVALSHA
    and SCRIPT EXISTS, as on a redis-server replica (byte for byte); the leader's SCRIPT
    FLUSH leaves that cache, the follower's own empties it."""
    from .test_differential import RawConnection

    leader, follower, master_port, replica_port = _replica_pairs(standalone_cluster,
                                                                 real_replica_set)
    ours, theirs = RawConnection(follower.port), RawConnection(replica_port)
    try:
        assert all(b"replica" in conn.call("HELLO", protocol) for conn in (ours, theirs))
        for argv in _REPLICA_CACHE_CASES:
            assert ours.call(*argv) == theirs.call(*argv), argv
        assert ours.call("SCRIPT", "EXISTS", *_ALL_OWN) == b"*7\r\n" + b":1\r\n" * 7
        for primary in (leader.client(), redis.Redis(port=master_port)):
            with primary:
                assert primary.script_flush() is True
        standalone_cluster.wait_converged()
        for argv in _REPLICA_CACHE_AFTER_MASTER_FLUSH:
            assert ours.call(*argv) == theirs.call(*argv), argv
    finally:
        ours.close()
        theirs.close()


def test_cluster_disabled_follower_runs_scripts_the_leader_cached(
        standalone_cluster: LocalCluster) -> None:
    """rcache's replicated script cache stays visible to a follower beside its own (a Redis
    replica would answer NOSCRIPT): what the leader loaded, a follower runs by its SHA."""
    leader = standalone_cluster.leader()
    follower = next(node for node in standalone_cluster.nodes if node is not leader)
    body = "return 'loaded on the leader'"
    with leader.client() as primary, follower.client() as replica:
        assert primary.script_load(body) == _sha(body)
        standalone_cluster.wait_converged()
        assert replica.script_exists(_sha(body)) == [True]
        assert replica.evalsha(_sha(body), 0) == b"loaded on the leader"


# Reads a key, spins (within the instruction budget), reads it again.
_READ_TWICE = ("local first = redis.call('get', KEYS[1])\n"
               "for i = 1, tonumber(ARGV[1]) do end\n"
               "return {first, redis.call('get', KEYS[1])}")
_SPIN = 300_000  # ~1M Lua instructions: a few ms, a fifth of the default budget
_ATOMIC_RUNS = 60  # runs that saw the key change since the run before
_ATOMIC_TIMEOUT_S = 60


def _hammer(cluster: LocalCluster, key: str, stop: threading.Event) -> None:
    """INCR key on the leader, pipelined, until stop is set."""
    client = cluster.leader().client()
    try:
        while not stop.is_set():
            pipe = client.pipeline(transaction=False)
            for _ in range(50):
                pipe.incr(key)
            pipe.execute(raise_on_error=False)
    except redis.ConnectionError:
        pass  # leadership moved: the test has seen what it needed, or times out
    finally:
        client.close()


def test_cluster_disabled_follower_script_sees_one_state(
        standalone_cluster: LocalCluster) -> None:
    """A script (EVAL as a Redis replica runs it, EVAL_RO, one inside EXEC) on a follower
    sees one state: no entry the follower applies meanwhile becomes visible between two
    reads of a key the leader keeps incrementing."""
    leader = standalone_cluster.leader()
    follower = next(node for node in standalone_cluster.nodes if node is not leader)
    key = "replica:atomic"
    leader.client().set(key, 0)
    stop = threading.Event()
    writer = threading.Thread(target=_hammer, args=(standalone_cluster, key, stop))
    writer.start()
    runs: list[list[bytes]] = []  # each run's reads of the key, in order
    client = follower.client()

    def changed_enough() -> bool:
        """One more run; enough once entries applied between _ATOMIC_RUNS pairs of runs
        (so, as often, while one ran)."""
        if len(runs) % 3 == 2:  # EXEC: GET, the script's two reads, GET
            pipe = client.pipeline()
            pipe.get(key).eval(_READ_TWICE, 1, key, _SPIN).get(key)
            first, inner, last = pipe.execute()
            runs.append([first, *inner, last])
        else:
            command = ("EVAL", "EVAL_RO")[len(runs) % 3]
            runs.append(client.execute_command(command, _READ_TWICE, 1, key, _SPIN))
        changes = sum(before[-1] != after[0] for before, after in pairwise(runs))
        return changes >= _ATOMIC_RUNS

    try:
        wait_for(changed_enough, _ATOMIC_TIMEOUT_S, "the key to change between runs",
                 interval=0)
    finally:
        stop.set()
        writer.join()
        client.close()
    assert [reads for reads in runs if len(set(reads)) != 1] == []


_OVER_BUDGET = "while true do end"


def test_cluster_disabled_follower_applies_while_scripts_run_to_their_budget(
        standalone_cluster: LocalCluster) -> None:
    """Scripts cut by the instruction budget, back to back from two connections, delay a
    follower's apply by one of them at most: it keeps applying the leader's writes."""
    leader = standalone_cluster.leader()
    follower = next(node for node in standalone_cluster.nodes if node is not leader)
    stop = threading.Event()
    errors: list[str] = []

    def spin() -> None:
        with follower.client() as client:
            while not stop.is_set():  # pipelined: the next one waits in the node's buffer
                pipe = client.pipeline(transaction=False)
                for _ in range(3):
                    pipe.execute_command("EVAL_RO", _OVER_BUDGET, 0)
                errors.extend(str(err) for err in pipe.execute(raise_on_error=False))

    spinners = [threading.Thread(target=spin) for _ in range(2)]
    for spinner in spinners:
        spinner.start()
    try:
        with follower.client() as replica:
            for i in range(5):
                standalone_cluster.on_leader("SET", "replica:applied", i)
                wait_for(lambda i=i: replica.get("replica:applied") == str(i).encode(),
                         FAILOVER_TIMEOUT_S, "the follower to apply the write")
        wait_for(lambda: len(errors) >= 4, FAILOVER_TIMEOUT_S, "scripts cut by the budget")
    finally:
        stop.set()
        for spinner in spinners:
            spinner.join()
    assert all(err.startswith("Script exceeded the instruction budget") for err in errors)


def test_cluster_disabled_followers_read_locally_or_forward_with_follower_proxy(
        standalone_cluster: LocalCluster) -> None:
    """A follower serves reads from its own data, as a Redis replica, but not linearizable
    ones; with follower-proxy yes it sends writes and reads to the leader instead of
    answering READONLY."""
    leader = standalone_cluster.leader()
    follower_node = next(node for node in standalone_cluster.nodes if node is not leader)
    follower = follower_node.client()
    linearizable = follower_node.client(single_connection_client=True)
    try:
        standalone_cluster.on_leader("SET", "standalone:read", "here")
        wait_for(lambda: follower.get("standalone:read") == b"here", FAILOVER_TIMEOUT_S,
                 "the follower to apply the write and serve the read")
        linearizable.execute_command("RAFT.READ-CONSISTENCY", "linearizable")
        with pytest.raises(redis.exceptions.ReadOnlyError):
            linearizable.get("standalone:read")
        with pytest.raises(redis.exceptions.ReadOnlyError):
            follower.set("standalone:proxied", "1")
        follower.config_set("follower-proxy", "yes")
        assert linearizable.get("standalone:read") == b"here"
        assert follower.set("standalone:proxied", "2") is True
        assert follower.get("standalone:proxied") == b"2"
        assert leader.client().get("standalone:proxied") == b"2"
    finally:
        follower.config_set("follower-proxy", "no")
        follower.close()
        linearizable.close()


def test_cluster_enabled_is_reported_as_redis_cluster_reports_it(
        node: Node, tmp_path: Path) -> None:
    """The default, cluster-enabled yes, as a redis-server in cluster mode shows it."""
    from .test_differential import RawConnection

    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (.ci/run installs it)")
    real = launch.redis_server(free_port(), tmp_path, "--cluster-enabled", "yes")
    real.start(timeout=10)
    ours, theirs = RawConnection(node.port), RawConnection(real.port)
    try:
        for argv in (("INFO", "cluster"), ("CONFIG", "GET", "cluster-enabled"),
                     ("CONFIG", "SET", "cluster-enabled", "no"), ("READONLY",)):
            assert ours.call(*argv) == theirs.call(*argv), argv
        assert ours.call("CLUSTER", "KEYSLOT", "k") == theirs.call("CLUSTER", "KEYSLOT", "k")
        for conn in (ours, theirs):
            assert b"redis_mode:cluster" in conn.call("INFO", "server")
            assert b"$4\r\nmode\r\n$7\r\ncluster\r\n" in conn.call("HELLO", "3")
    finally:
        ours.close()
        theirs.close()
        real.stop()


# -- the replies, in shape, against a real redis-sentinel ------------------------------------
@pytest.fixture(scope="module")
def real_sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """redis-sentinel monitoring a redis-server master with one replica, and a second
    redis-sentinel it sees; -> the first one's port."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (.ci/run installs it)")
    workdir = tmp_path_factory.mktemp("real-sentinel")
    master, replica = _master_and_replica(workdir)
    sentinels = []
    for name in ("sentinel-1", "sentinel-2"):
        port = free_port()
        config = workdir / f"{name}.conf"
        config.write_text(f"port {port}\nbind 127.0.0.1\ndir {workdir}\n"
                          f"sentinel monitor {MASTER} 127.0.0.1 {master.port} 2\n")
        sentinels.append(ServerProcess(["redis-server", str(config), "--sentinel"],
                                       workdir / f"{name}.log", port, name=name))
    processes = [master, replica, *sentinels]
    try:
        for process in processes:
            process.start(timeout=10)
        first = redis.Redis(port=sentinels[0].port, socket_timeout=5)

        def sees_all() -> bool:
            replicas = _raw(first, "REPLICAS", MASTER)
            return (len(_raw(first, "SENTINELS", MASTER)) == 1 and len(replicas) == 1
                    and _fields(replicas[0])[b"flags"] == b"slave")

        wait_for(sees_all, 30, "redis-sentinel to see the replica and the other sentinel")
        first.close()
        yield sentinels[0].port
    finally:
        for process in processes:
            process.stop()


def _raw(client: redis.Redis, *argv: str) -> object:
    """SENTINEL's reply as the server sent it (redis-py's callbacks reshape some)."""
    connection = client.connection_pool.get_connection()
    try:
        connection.send_command("SENTINEL", *argv)
        return connection.read_response()
    finally:
        client.connection_pool.release(connection)


def _field_names(reply: object) -> list[bytes]:
    """An instance's field names, from a RESP3 map or a RESP2 flat array."""
    return list(reply) if isinstance(reply, dict) else list(reply[::2])


def _fields(reply: object) -> dict[bytes, bytes]:
    return reply if isinstance(reply, dict) else dict(zip(reply[::2], reply[1::2], strict=True))


@pytest.mark.parametrize("protocol", [2, 3], ids=["resp2", "resp3"])
def test_sentinel_replies_have_redis_sentinels_shape(
        sentinel_cluster: LocalCluster, real_sentinel: int, protocol: int) -> None:
    cluster = sentinel_cluster
    leader = cluster.leader()
    follower = next(node for node in cluster.nodes if node is not leader)
    ours = follower.client(protocol=protocol)
    theirs = redis.Redis(port=real_sentinel, socket_timeout=5, protocol=protocol)

    def both(*argv: str) -> tuple[object, object]:
        return _raw(ours, *argv), _raw(theirs, *argv)

    try:
        ours_masters, their_masters = both("MASTERS")
        assert [_field_names(m) for m in ours_masters] == [_field_names(m) for m in their_masters]
        master = _fields(ours_masters[0])
        assert (master[b"name"], master[b"ip"], master[b"port"], master[b"flags"]) == (
            MASTER.encode(), b"127.0.0.1", str(leader.port).encode(), b"master")
        assert (master[b"num-slaves"], master[b"num-other-sentinels"], master[b"quorum"]) == (
            b"2", b"2", b"2")
        ours_master, their_master = both("MASTER", MASTER)
        assert _field_names(ours_master) == _field_names(their_master)

        ours_replicas, their_replicas = both("REPLICAS", MASTER)
        assert {_fields(r)[b"port"] for r in ours_replicas} == {
            str(node.port).encode() for node in cluster.nodes if node is not leader}
        assert all(_field_names(r) == _field_names(their_replicas[0]) for r in ours_replicas)
        assert [_fields(r)[b"flags"] for r in ours_replicas] == [b"slave", b"slave"]
        assert [_fields(r)[b"port"] for r in both("SLAVES", MASTER)[0]] == [
            _fields(r)[b"port"] for r in ours_replicas]

        ours_sentinels, their_sentinels = both("SENTINELS", MASTER)
        assert {_fields(s)[b"port"] for s in ours_sentinels} == {
            str(node.port).encode() for node in cluster.nodes if node is not follower}
        assert all(_field_names(s) == _field_names(their_sentinels[0]) for s in ours_sentinels)

        address, their_address = both("GET-MASTER-ADDR-BY-NAME", MASTER)
        assert address == [b"127.0.0.1", str(leader.port).encode()]
        assert [type(part) for part in address] == [type(part) for part in their_address]
        assert both("GET-MASTER-ADDR-BY-NAME", "nosuchmaster") == (None, None)
        my_id, their_id = both("MYID")
        assert len(my_id) == len(their_id) == 40
        assert my_id == follower.client().cluster("MYID")
        assert _raw(ours, "CKQUORUM", MASTER) == (
            b"OK 3 usable Sentinels. Quorum and failover authorization can be reached")

        for argv in (("MASTER", "nosuchmaster"), ("REPLICAS", "nosuchmaster"),
                     ("SENTINELS", "nosuchmaster"), ("CKQUORUM", "nosuchmaster"),
                     ("MASTERS", "extra"), ("MYID", "extra"), ("GET-MASTER-ADDR-BY-NAME",),
                     ("NOSUCHSUBCOMMAND",)):
            errors = []
            for client in (ours, theirs):
                with pytest.raises(redis.ResponseError) as raised:
                    client.execute_command("SENTINEL", *argv)
                errors.append(str(raised.value))
            assert errors[0] == errors[1], argv
    finally:
        ours.close()
        theirs.close()


def test_sentinel_with_no_leader_reports_the_master_down(tmp_path: Path) -> None:
    """A lone survivor of three knows no leader: the last one stays the master, down
    (s_down,o_down as Sentinel flags a master that fails), which clients skip."""
    with LocalCluster(tmp_path, 3) as cluster:
        leader = cluster.leader()
        survivor = next(node for node in cluster.nodes if node is not leader)
        for node in cluster.nodes:
            if node is not survivor:
                node.kill()
        client = survivor.client()

        def master_down() -> dict | None:
            master = _fields(_raw(client, "MASTER", MASTER))
            return master if master[b"flags"] == b"s_down,o_down,master,disconnected" else None

        master = wait_for(master_down, FAILOVER_TIMEOUT_S, "the master reported down")
        assert master[b"port"] == str(leader.port).encode()
        assert b"s-down-time" in master and b"o-down-time" in master
        assert client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER) == [
            b"127.0.0.1", str(leader.port).encode()]
        with pytest.raises(redis.ResponseError, match="^NOQUORUM 1 usable Sentinels"):
            client.execute_command("SENTINEL", "CKQUORUM", MASTER)
        sentinel = _sentinel([survivor])
        try:
            with pytest.raises(MasterNotFoundError):
                sentinel.discover_master(MASTER)
        finally:
            sentinel.close()


def test_sentinel_master_name_is_an_option(make_node) -> None:
    node = make_node("--sentinel-master-name", "cache")
    client = node.client()
    assert client.config_get("sentinel-master-name") == {"sentinel-master-name": "cache"}
    assert client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "cache") == [
        b"127.0.0.1", str(node.port).encode()]
    assert client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER) is None
    client.config_set("sentinel-master-name", MASTER)
    assert _sentinel([node]).discover_master(MASTER) == ("127.0.0.1", node.port)


# -- Celery with sentinel:// URLs through a leader kill --------------------------------------
def test_celery_through_sentinel_urls_runs_tasks_before_and_after_the_leader_is_killed(
        sentinel_cluster: LocalCluster, tmp_path: Path) -> None:
    """A worker and a client with sentinel:// broker and result backend URLs naming the
    nodes: a task before the leader is SIGKILLed, and one after, through the new leader."""
    celery = pytest.importorskip("celery")
    from celery.result import AsyncResult
    from kombu.exceptions import OperationalError

    from .celery_tasks import SENTINEL_OPTIONS

    cluster = sentinel_cluster
    url = ";".join(f"sentinel://127.0.0.1:{node.port}/{CELERY_DB}" for node in cluster.nodes)
    sentinel = _sentinel(cluster.nodes)
    master = _master_client(sentinel, db=CELERY_DB)
    master.flushdb()
    master.close()
    sentinel.close()
    client = celery.Celery("rcache-sentinel-client", broker=url, backend=url)
    client.conf.broker_transport_options = client.conf.result_backend_transport_options = (
        SENTINEL_OPTIONS)

    def sent() -> AsyncResult | None:
        try:
            return client.send_task("tests.celery_tasks.add", (20, 22))
        except OperationalError:  # kombu's, while the sentinels know no master
            return None

    try:
        with _worker_process(tmp_path, "celery-worker", _celery_worker_argv(tmp_path),
                             url) as worker:
            assert client.send_task("tests.celery_tasks.add", (2, 40)).get(
                timeout=RESULT_TIMEOUT_S) == 42
            old = _kill_leader(cluster)
            try:
                result = wait_for(sent, FAILOVER_TIMEOUT_S, "a task sent after the kill")
                assert result.get(timeout=RESULT_TIMEOUT_S) == 42
                assert worker.alive  # it reconnected through the sentinels, to the new leader
            finally:
                _restart(cluster, old)
    finally:
        client.close()
