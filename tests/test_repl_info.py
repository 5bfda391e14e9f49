"""INFO's replication figures come from Raft's traffic: the bytes each node's Raft links carry,
the snapshots a leader sends, the followers' offsets; CONFIG RESETSTAT zeroes the counters."""

from __future__ import annotations

import os
import signal
import time

from tests.conftest import LocalCluster, Node, wait_for

_VALUES = 64
_VALUE_BYTES = 4096  # random: zlib cannot shrink the frames that carry them


def _stats(node: Node) -> dict:
    return node.client(socket_timeout=5).info("stats")


def test_raft_bytes_count_on_the_leader_and_its_followers(cluster: LocalCluster) -> None:
    leader = cluster.leader()
    followers = cluster.followers()
    before = {node.name: _stats(node) for node in cluster.nodes}
    client = leader.client()
    payload = 0
    for i in range(_VALUES):
        value = os.urandom(_VALUE_BYTES)
        client.set(f"v{i}", value)
        payload += len(value)
    cluster.wait_converged()
    after = {node.name: _stats(node) for node in cluster.nodes}

    def grew(node: Node, field: str) -> int:
        return after[node.name][field] - before[node.name][field]

    assert grew(leader, "total_net_repl_output_bytes") >= len(followers) * payload
    for follower in followers:
        assert grew(follower, "total_net_repl_input_bytes") >= payload
    for node in cluster.nodes:
        stats = after[node.name]
        # As in Redis 7.0, the network totals hold the replication bytes.
        assert stats["total_net_input_bytes"] >= stats["total_net_repl_input_bytes"] > 0
        assert stats["total_net_output_bytes"] >= stats["total_net_repl_output_bytes"] > 0

    replication = client.info("replication")
    index = cluster.info(leader)["raft_commit_index"]
    offsets = [replication[f"slave{i}"]["offset"] for i in range(len(followers))]
    assert replication["connected_slaves"] == 2 and all(o <= index for o in offsets)
    wait_for(lambda: all(client.info("replication")[f"slave{i}"]["offset"] >= index
                         for i in range(len(followers))), 30, "follower offsets at the commit")

    pipe = client.pipeline(transaction=False)
    pipe.execute_command("CONFIG", "RESETSTAT")
    pipe.info("stats")
    reset = pipe.execute()[1]
    # Heartbeats flow meanwhile: not zero, but far below what was counted before.
    assert reset["total_net_repl_output_bytes"] < payload < after[leader.name][
        "total_net_repl_output_bytes"]
    assert reset["total_net_repl_input_bytes"] < after[leader.name]["total_net_repl_input_bytes"]
    assert (reset["sync_full"], reset["sync_partial_ok"], reset["sync_partial_err"]) == (0, 0, 0)


def test_a_paused_followers_lag_grows_and_comes_back(tmp_path) -> None:
    """slaveN's lag: the whole seconds since that follower last answered the leader. (1 s
    election timeouts: a follower resumed after a pause past the default 300 ms may start a
    campaign, c735aea.)"""
    with LocalCluster(tmp_path, 3, "--raft-election-timeout", "1000") as cluster:
        client = cluster.leader().client()
        paused, running = cluster.followers()

        def lags() -> dict[int, int]:
            """client port -> lag, from the leader's INFO replication."""
            replication = client.info("replication")
            return {replication[f"slave{i}"]["port"]: replication[f"slave{i}"]["lag"]
                    for i in range(replication["connected_slaves"])}

        paused.signal(signal.SIGSTOP)
        try:
            time.sleep(2.5)
            lag = lags()
            assert lag[paused.port] >= 2 and lag[running.port] <= 1, lag
        finally:
            paused.signal(signal.SIGCONT)
        wait_for(lambda: lags()[paused.port] <= 1, 30, "the resumed follower to answer")


def test_a_followers_last_io_grows_while_the_leader_is_paused(tmp_path) -> None:
    """A replica's master_last_io_seconds_ago: the whole seconds since the leader last
    reached it (heartbeats keep it at 0). The leader is paused for less than the 3 s
    election timeout, so it stays the leader."""
    with LocalCluster(tmp_path, 3, "--raft-election-timeout", "3000") as cluster:
        leader = cluster.leader()
        follower = cluster.followers()[0].client()

        def last_io() -> int:
            return follower.info("replication")["master_last_io_seconds_ago"]

        assert last_io() == 0
        leader.signal(signal.SIGSTOP)
        try:
            time.sleep(2)
            assert last_io() >= 1
        finally:
            leader.signal(signal.SIGCONT)
        wait_for(lambda: last_io() == 0, 30, "the leader's heartbeats again")
        assert cluster.leader() is leader


def test_a_follower_brought_up_by_snapshot_counts_as_a_full_sync(tmp_path) -> None:
    with LocalCluster(tmp_path, 1, "--raft-log-max-entries", "200") as cluster:
        leader = cluster.nodes[0]
        client = leader.client()
        for _ in range(300):  # many small entries: the log is compacted past them
            client.incr("counter")
        wait_for(lambda: client.info("persistence")["raft_snapshot_index"] > 0, 30,
                 "a snapshot")
        assert _stats(leader)["sync_full"] == 0
        fresh = cluster.add_node()
        cluster.wait_converged()
        assert "installed snapshot" in fresh.log()
        assert _stats(leader)["sync_full"] >= 1
        client.execute_command("CONFIG", "RESETSTAT")
        assert _stats(leader)["sync_full"] == 0
