"""A leader cut off from the majority, through the Raft proxies of rcache.verify: the majority
elects a new leader and serves writes; the old leader acknowledges no write and answers no
linearizable read while it is isolated; after healing it follows the new leader and holds the
majority's state, never its own unacknowledged write.

Isolated two ways: a cut (links closed, new ones refused: the peers know at once) and a
blackhole (every frame dropped both ways: the peers only notice the silence)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from rcache.verify.nodes import NodeCluster, NodeProcess, wait_until

KEY = "partition:k"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NodeCluster]:
    nodes = NodeCluster(tmp_path / "nodes", 3)
    try:
        yield nodes.start()
    finally:
        nodes.stop()


def _linearizable(node: NodeProcess, timeout: float) -> redis.Redis:
    client = node.client(timeout)
    assert client.execute_command("RAFT.READ-CONSISTENCY", "linearizable") == b"OK"
    return client


def _attempt(call, *args: str) -> object:
    """The reply, or the exception: whatever the node did with the command."""
    try:
        return call(*args)
    except (redis.RedisError, OSError) as err:
        return err


def _majority_leader(majority: list[NodeProcess]) -> NodeProcess | None:
    infos = {n.name: n.info() for n in majority}
    leaders = [n for n in majority if infos[n.name]["raft_role"] == "leader"]
    if len(leaders) != 1 or any(i["raft_leader_id"] != leaders[0].name for i in infos.values()):
        return None
    return leaders[0]


@pytest.mark.parametrize("how", ["cut", "blackhole"])
def test_isolated_leader(cluster: NodeCluster, how: str) -> None:
    old = cluster.leader()
    majority = [n for n in cluster.members if n is not old]
    with _linearizable(old, 5) as client:
        assert client.set(KEY, "before")
        assert client.get(KEY) == b"before"
    cluster.wait_converged()
    old_writer, old_reader = _linearizable(old, 8), _linearizable(old, 8)
    others = [n.name for n in majority]
    try:
        if how == "cut":
            cluster.network.cut([old.name], others)
        else:
            cluster.network.drop([old.name], others)
            cluster.network.drop(others, [old.name])
        # At once, while the old leader still believes it leads: a write it cannot commit.
        replies: dict[str, object] = {}
        writer = threading.Thread(target=lambda: replies.update(
            isolated=_attempt(old_writer.set, KEY, "isolated")))
        writer.start()

        new = wait_until(lambda: _majority_leader(majority), 15, "the majority's new leader")
        with _linearizable(new, 5) as client:
            assert client.set(KEY, "after")
            assert client.get(KEY) == b"after"
        # The majority has moved on: any value the old leader served now would be stale.
        read = _attempt(old_reader.get, KEY)
        writer.join(timeout=15)
        assert not writer.is_alive()
        assert isinstance(replies["isolated"], (redis.RedisError, OSError)), \
            f"the isolated leader acknowledged a write: {replies['isolated']!r}"
        assert isinstance(read, (redis.RedisError, OSError)), \
            f"the isolated leader served a linearizable read: {read!r}"
        wait_until(lambda: old.info()["raft_role"] != "leader", 10,
                   "the isolated leader to step down")
        late = _attempt(_linearizable(old, 3).get, KEY)
        assert isinstance(late, (redis.RedisError, OSError)), \
            f"the isolated old leader served a linearizable read: {late!r}"
        counts = cluster.network.counts()
        cut = counts.refused if how == "cut" else counts.dropped
        assert any(old.name in pair for pair in cut), f"the proxies never cut anything: {counts}"
    finally:
        old_writer.close()
        old_reader.close()
        cluster.network.heal()

    def follows() -> bool:
        info = old.info()
        return info["raft_role"] == "follower" and info["raft_leader_id"] in others
    wait_until(follows, 15, f"{old.name} to follow the majority's leader")
    cluster.wait_converged()
    with old.client() as client:
        assert client.execute_command("RAFT.READ-CONSISTENCY", "stale") == b"OK"
        assert client.get(KEY) == b"after"
    with _linearizable(cluster.leader(), 5) as client:
        assert client.get(KEY) == b"after"


def test_no_stale_read_from_acks_of_a_replaced_connection(cluster: NodeCluster) -> None:
    """A follower's acknowledgements still in flight on a connection it has replaced (it
    crashed and reconnected; its old frames arrive late, as a slow path or a retransmission
    would deliver them) must not prove the leader's leadership on the new connection.

    rcache's ReadIndex counts AppendEntries sent and acknowledged per follower, resets both
    counts when the follower (re)connects, and counts every ``next_node_idx`` received from
    it on any connection. Late acks from the old connection then make the new connection's
    count exceed what was sent on it, and that surplus later 'confirms' rounds the follower
    never answered. Here: the old leader L keeps serving linearizable reads after a majority
    (F, G) elected a new leader and committed a newer value."""
    by_raft_address = sorted(cluster.members, key=lambda n: f"127.0.0.1:{n.announce_raft_port}")
    leader = by_raft_address[0]  # the others open the connections to it, through its proxy
    current = cluster.leader()
    if current is not leader:
        with current.client(10) as client:
            client.execute_command("RAFT.TRANSFER-LEADER", leader.name)
        wait_until(lambda: cluster.leader(5) is leader, 15, f"{leader.name} to lead")
    follower, other = by_raft_address[1:]
    with _linearizable(leader, 5) as client:
        assert client.set(KEY, "old")
    cluster.wait_converged()

    # The follower's frames to the leader arrive 0.45 s late (less than the 0.6 s after which
    # a silent connection is dropped); a burst of writes fills that pipe with its acks.
    cluster.network.delay({(follower.name, leader.name): 0.45})
    with leader.client(5) as client:
        for i in range(400):
            client.set("partition:load", i)
    follower.kill()
    cluster.network.heal()  # the new connection is not delayed; the old one's acks still are
    follower.start()
    follower.wait_ready()
    cluster.network.cut([leader.name], [other.name])
    # The follower no longer hears the leader (so, pre-vote allowing, it can elect `other`),
    # while its frames to the leader, the late ones included, still arrive.
    cluster.network.drop([leader.name], [follower.name])

    new = wait_until(lambda: _majority_leader([follower, other]), 15, "a new leader")
    with _linearizable(new, 5) as client:
        assert client.set(KEY, "new")
    served = []
    reader = _linearizable(leader, 1)
    try:
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            reply = _attempt(reader.get, KEY)
            if not isinstance(reply, (redis.RedisError, OSError)):
                served.append(reply)
    finally:
        reader.close()
    assert not served, (f"{leader.name}, deposed by {new.name} (which acknowledged SET {KEY} "
                        f"new), served {len(served)} linearizable reads: {served[:3]}")
