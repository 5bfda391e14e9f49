"""LEASE: grant, attach, keep alive, revoke, expiry; on one node and across leader kills."""

from __future__ import annotations

import signal
import threading
import time

import pytest
import redis

from .conftest import LocalCluster, Node, wait_for


def _ttl(client: redis.Redis, lease_id: int, *extra: str) -> dict:
    reply = client.execute_command("LEASE", "TTL", lease_id, *extra)
    if isinstance(reply, dict):  # RESP3: a map
        return reply
    return dict(zip(reply[::2], reply[1::2], strict=True))


def test_lease_life_cycle(node: Node) -> None:
    client = node.client()
    lease = client.execute_command("LEASE", "GRANT", 30)
    assert isinstance(lease, int) and lease > 0
    client.set("svc/a", "10.0.0.1:80")
    client.set("svc/b", "10.0.0.2:80")
    client.set("other", "stays")
    assert client.execute_command("LEASE", "ATTACH", lease, "svc/a", "svc/b") == 2
    assert client.execute_command("LEASE", "ATTACH", lease, "svc/a") == 0  # already there
    info = _ttl(client, lease, "KEYS")
    assert info[b"id"] == lease and info[b"granted-ttl"] == 30
    assert 28 <= info[b"ttl"] <= 30
    assert info[b"keys"] == [b"svc/a", b"svc/b"]
    assert client.execute_command("LEASE", "KEEPALIVE", lease) == 30
    assert client.execute_command("LEASE", "LIST") == [lease]
    assert client.execute_command("LEASE", "DETACH", lease, "svc/b", "nope") == 1
    assert client.execute_command("LEASE", "REVOKE", lease) == 1
    assert client.mget("svc/a", "svc/b", "other") == [None, b"10.0.0.2:80", b"stays"]
    assert _ttl(client, lease) == {b"id": lease, b"granted-ttl": -1, b"ttl": -1}
    assert client.execute_command("LEASE", "LIST") == []


def test_lease_help_has_redis_help_shape(shared_node: Node, redis_server: int) -> None:
    """As Redis's addReplyHelp: a header naming the command, a line per subcommand (its
    description indented below it), HELP's two lines last (compared with OBJECT HELP's)."""
    ours = shared_node.client(decode_responses=True).execute_command("LEASE", "HELP")
    theirs = redis.Redis(port=redis_server, decode_responses=True).execute_command(
        "OBJECT", "HELP")
    assert ours[0] == theirs[0].replace("OBJECT", "LEASE") and ours[-2:] == theirs[-2:]
    names = [line.split()[0] for line in ours[1:-2] if not line.startswith(" ")]
    assert names == ["GRANT", "ATTACH", "DETACH", "KEEPALIVE", "REVOKE", "TTL", "LIST"]
    infos = shared_node.client().execute_command("COMMAND", "INFO",
                                                 *(f"lease|{name.lower()}" for name in names))
    assert len(infos) == len(names) and None not in infos  # every one is a real subcommand


def test_lease_errors(node: Node) -> None:
    client = node.client()
    assert client.execute_command("LEASE", "GRANT", 5, "ID", 42) == 42
    cases = [
        (("GRANT", 5, "ID", 42), "lease already exists"),
        (("GRANT", 0), "lease TTL must be between 1 and"),
        (("GRANT", "x"), "value is not an integer or out of range"),
        (("GRANT", 5, "FOO", 1), "syntax error"),
        (("KEEPALIVE", 7), "no such lease"),
        (("REVOKE", 7), "no such lease"),
        (("ATTACH", 7, "k"), "no such lease"),
        (("ATTACH", -1, "k"), "lease id must be a positive integer"),
        (("TTL", 42, "FOO"), "syntax error"),
    ]
    for args, message in cases:
        with pytest.raises(redis.ResponseError, match=message):
            client.execute_command("LEASE", *args)
    # A key belongs to one lease: attaching it to another moves it.
    other = client.execute_command("LEASE", "GRANT", 5)
    client.set("k", "v")
    client.execute_command("LEASE", "ATTACH", 42, "k")
    assert client.execute_command("LEASE", "ATTACH", other, "k") == 1
    assert _ttl(client, 42, "KEYS")[b"keys"] == []
    assert _ttl(client, other, "KEYS")[b"keys"] == [b"k"]


def test_a_lease_left_alone_expires_with_its_keys(node: Node) -> None:
    client = node.client()
    lease = client.execute_command("LEASE", "GRANT", 1)
    client.set("ephemeral", "1")
    client.execute_command("LEASE", "ATTACH", lease, "ephemeral")
    granted = time.monotonic()
    wait_for(lambda: client.exists("ephemeral") == 0, 15, "the lease's key to expire")
    assert time.monotonic() - granted >= 0.9  # not before its TTL
    assert client.execute_command("LEASE", "LIST") == []


def test_a_kept_lease_outlives_leader_kills_then_expires_everywhere(
        cluster: LocalCluster) -> None:
    leader = cluster.leader()
    client = leader.client()
    lease = client.execute_command("LEASE", "GRANT", 2)
    client.set("svc/x", "up")
    client.execute_command("LEASE", "ATTACH", lease, "svc/x")
    stop = threading.Event()
    renewals: list[object] = []

    def renew_once() -> bool:
        """Renew through any live node, following its MOVED to the leader."""
        for node in cluster.live():
            port = node.port
            for _ in range(2):
                try:
                    renewals.append(redis.Redis(port=port, socket_timeout=2).execute_command(
                        "LEASE", "KEEPALIVE", lease))
                    return True
                except redis.exceptions.MovedError as moved:
                    renewals.append(moved)
                    port = moved.port
                except (redis.RedisError, OSError) as err:  # a dead node, no leader yet...
                    renewals.append(err)
                    break
        return False

    def keep_alive() -> None:
        """A service's heartbeat: renew every 0.5 s, and retry at once after a failure."""
        while not stop.wait(0.5 if renew_once() else 0.05):
            pass

    renewer = threading.Thread(target=keep_alive, daemon=True)
    renewer.start()
    try:
        for _ in range(2):
            victim = cluster.leader()
            victim.kill()
            cluster.leader(timeout=15)
            victim.start()
            cluster.wait_converged()
            assert cluster.leader().client().get("svc/x") == b"up", renewals[-5:]
    finally:
        stop.set()
        renewer.join(timeout=10)
    assert 2 in renewals

    # Left alone, it expires, and the key is gone from every node.
    wait_for(lambda: cluster.leader().client().exists("svc/x") == 0, 20, "the lease to expire")
    cluster.wait_converged()
    for node in cluster.live():
        reader = node.client()
        reader.execute_command("READONLY")
        assert reader.get("svc/x") is None, node.name
        assert reader.execute_command("LEASE", "LIST") == [], node.name


def test_a_lease_outlives_an_outage_longer_than_its_ttl(cluster: LocalCluster) -> None:
    """No leader for longer than the TTL, so nobody could renew: the lease's time stood
    still meanwhile, and the next leader gives it back instead of expiring it."""
    leader = cluster.leader()
    client = leader.client()
    lease = client.execute_command("LEASE", "GRANT", 3)
    client.set("svc/y", "up")
    client.execute_command("LEASE", "ATTACH", lease, "svc/y")
    cluster.wait_converged()
    followers = cluster.followers()
    assert client.execute_command("LEASE", "KEEPALIVE", lease) == 3
    leader.kill()
    for node in followers:  # frozen: no election until the lease has lapsed
        node.signal(signal.SIGSTOP)
    time.sleep(3.5)
    for node in followers:
        node.signal(signal.SIGCONT)
    successor = cluster.leader(timeout=15, among=followers)

    def renewed() -> bool:  # until the successor's promotion commits, the lease looks gone
        try:
            return successor.client().execute_command("LEASE", "KEEPALIVE", lease) == 3
        except redis.exceptions.ResponseError:
            return False

    wait_for(renewed, 10, "a keepalive through the new leader")
    assert successor.client().get("svc/y") == b"up"
    leader.start()
