"""What runs on the Raft apply path cannot cost a healthy leader its place."""

from __future__ import annotations

from .conftest import LocalCluster

KEY = b"a" * 60
PATTERN = b"*a*a*a*a*a*a*a*a*a*a*a*a*b"


def test_a_pathological_scan_inside_multi_costs_no_election(cluster: LocalCluster) -> None:
    """Reads inside MULTI run only on the node a client waits on, and the glob matcher is
    bounded: neither the followers nor the leader stall, and nobody calls an election."""
    leader = cluster.leader()
    term = cluster.info(leader)["raft_term"]
    client = leader.client()
    client.set(KEY, "1")
    for _ in range(5):
        pipe = client.pipeline(transaction=True)
        pipe.scan(0, match=PATTERN, count=1000)
        pipe.keys(PATTERN)
        pipe.set("after", "scan")
        cursor_reply, keys, ok = pipe.execute()
        assert cursor_reply[1] == [] and keys == [] and ok is True
    cluster.wait_converged()
    assert cluster.leader() is leader
    assert cluster.info(leader)["raft_term"] == term
    for node in cluster.live():
        reader = node.client()
        reader.execute_command("READONLY")
        assert reader.get("after") == b"scan", node.name
