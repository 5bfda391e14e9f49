"""What runs on the Raft apply path cannot cost a healthy leader its place."""

from __future__ import annotations

from rcache.raft import MAX_ENTRY_ARGS

from .conftest import LocalCluster, Node

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


def test_a_pipeline_of_big_writes_becomes_bounded_entries(node: Node) -> None:
    """Applying an entry holds the tick thread, which sends and answers heartbeats: the writes
    of one loop turn are split into entries of at most MAX_ENTRY_ARGS arguments (one HSET
    of 1000 fields has 2002), so no entry takes as long as a whole pipeline to apply."""
    client = node.client()
    before = client.info("raft")["raft_commit_index"]
    hsets, fields = 10, 1000
    pipe = client.pipeline(transaction=False)
    for start in range(0, hsets * fields, fields):
        pipe.hset("big", mapping={f"f{i}": "v" for i in range(start, start + fields)})
    assert pipe.execute() == [fields] * hsets
    assert client.hlen("big") == hsets * fields
    per_entry = MAX_ENTRY_ARGS // (2 + 2 * fields)
    assert client.info("raft")["raft_commit_index"] - before >= -(-hsets // per_entry)
