"""Parse once: a write with malformed arguments gets its error before the Raft log, so a
batch of them leaves the commit index where it was, on a single node and on a 3-node
leader (their error texts are compared with redis-server in test_differential.py)."""

from __future__ import annotations

import redis

from .conftest import LocalCluster, Node, wait_for
from .test_differential import MALFORMED_WRITES

# rcache's own writes (no redis-server to compare with): refused before the log too.
_MALFORMED_LEASES = [("LEASE", "GRANT", "0"), ("LEASE", "GRANT", "x"),
                     ("LEASE", "GRANT", "10", "ID"), ("LEASE", "GRANT", "10", "ID", "-1"),
                     ("LEASE", "ATTACH", "x", "k"), ("LEASE", "DETACH", "0", "k"),
                     ("LEASE", "KEEPALIVE", "x"), ("LEASE", "REVOKE", "-5")]


def _commit_index(client: redis.Redis) -> int:
    return int(client.info("raft")["raft_commit_index"])


def _assert_refused_before_the_log(client: redis.Redis) -> None:
    client.set("k", "v")  # settles the node's own entries (a leader's first no-op...)
    before = _commit_index(client)
    malformed = MALFORMED_WRITES + _MALFORMED_LEASES
    with client.pipeline(transaction=False) as pipe:
        for argv in malformed:
            pipe.execute_command(*argv)
        replies = pipe.execute(raise_on_error=False)
    accepted = [(argv, reply) for argv, reply in zip(malformed, replies, strict=True)
                if not isinstance(reply, redis.ResponseError)]
    assert accepted == []
    assert _commit_index(client) == before
    assert client.get("k") == b"v"
    client.set("k", "w")  # a well-formed write does move the index
    assert _commit_index(client) > before


def test_malformed_writes_skip_the_log_on_one_node(node: Node) -> None:
    _assert_refused_before_the_log(node.client())


def test_malformed_writes_skip_the_log_on_a_leader(cluster: LocalCluster) -> None:
    leader = cluster.leader()
    _assert_refused_before_the_log(leader.client())
    settled = _commit_index(leader.client())
    for follower in cluster.followers():  # the followers saw the same log
        wait_for(lambda f=follower: _commit_index(f.client()) == settled, 20,
                 "a follower to learn the commit index")
