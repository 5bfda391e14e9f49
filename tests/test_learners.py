"""Learners (non-voting members), with real processes and real signals: a joining node
receives the log and serves stale reads but counts in no majority until the leader promotes
it; one joined with --join-learner yes stays a learner until RAFT.NODE PROMOTE."""

from __future__ import annotations

import json
import threading
import urllib.request

import pytest
import redis

from tests.conftest import LocalCluster, Node, wait_for


def _roles(node: Node) -> dict[str, str]:
    """RAFT.CLUSTER INFO as node lists it: member id -> voter or learner."""
    return {row[0].decode(): row[3].decode()
            for row in node.client().execute_command("RAFT.CLUSTER", "INFO")}


def _stale_get(node: Node, key: str) -> bytes | None:
    with node.client(single_connection_client=True) as client:
        client.execute_command("READONLY")
        return client.get(key)


class _Writer(threading.Thread):
    """SETs w<i> on whichever node leads, one after another; ``acked`` holds the i whose SET
    was acknowledged. A failed SET (leader lost, MOVED) is not counted and not retried."""

    def __init__(self, cluster: LocalCluster) -> None:
        super().__init__(daemon=True)
        self.cluster = cluster
        self.acked: list[int] = []
        self.halt = threading.Event()

    def run(self) -> None:
        client, i = None, 0
        while not self.halt.is_set():
            try:
                if client is None:
                    client = self.cluster.leader(timeout=10).client(socket_timeout=5)
                client.set(f"w{i}", i)
                self.acked.append(i)
            except (redis.RedisError, OSError, AssertionError):
                client = None  # find the leader again
                self.halt.wait(0.05)
            i += 1

    def stop(self) -> None:
        self.halt.set()
        self.join(30)
        assert not self.is_alive()


def test_a_joining_node_is_promoted_once_caught_up_while_writes_flow(
        cluster: LocalCluster) -> None:
    writer = _Writer(cluster)
    writer.start()
    try:
        wait_for(lambda: len(writer.acked) > 50, 30, "writes before the join")
        fresh = cluster.add_node()  # --join: a learner until the leader promotes it
        wait_for(lambda: _roles(cluster.leader()).get("n4") == "voter", 60, "n4 promoted")
        promoted_at = len(writer.acked)
        wait_for(lambda: len(writer.acked) > promoted_at + 50, 30, "writes after promotion")
    finally:
        writer.stop()
    # It went through the learner stage: the leader that promoted it says so in its log.
    assert any("promoted learner n4 to voter" in node.log() for node in cluster.nodes[:3])
    wait_for(lambda: all(cluster.info(n)["raft_voters"] == 4
                         and cluster.info(n)["raft_learners"] == 0 for n in cluster.nodes),
             30, "every node to count 4 voters")
    last = writer.acked[-1]
    wait_for(lambda: _stale_get(fresh, f"w{last}") == str(last).encode(), 30,
             "the last acknowledged write on the new voter")
    assert all(_stale_get(fresh, f"w{i}") == str(i).encode() for i in writer.acked[::25])


def test_a_learner_counts_in_no_majority_and_never_leads(cluster: LocalCluster) -> None:
    learner = cluster.add_node("--join-learner", "yes")
    leader = cluster.leader()
    wait_for(lambda: _roles(leader).get("n4") == "learner"
             and cluster.info(learner)["raft_is_learner"] == 1, 30, "n4 recorded as a learner")
    info = cluster.info(leader)
    assert (info["raft_voters"], info["raft_learners"]) == (3, 1)
    assert (info["raft_node3"]["id"], info["raft_node3"]["role"]) == ("n4", "learner")

    # It is shown as a replica that never takes over.
    admin = leader.client()
    line = next(line for line in admin.execute_command("CLUSTER", "NODES").decode().splitlines()
                if f":{learner.port}@" in line)
    assert "slave,nofailover" in line
    shard_roles = {node[b"port"]: node[b"role"]
                   for node in admin.execute_command("CLUSTER", "SHARDS")[0][b"nodes"]}
    assert shard_roles[learner.port] == b"replica"
    assert len(admin.execute_command("ROLE")[2]) == 3  # n4 among the leader's replicas
    replicas = {r["port"]: r for r in admin.sentinel_slaves("mymaster")}
    assert replicas[learner.port]["slave-priority"] == 0
    assert admin.sentinel_master("mymaster")["quorum"] == 2  # a majority of the 3 voters
    assert cluster.info(learner)["raft_role"] == "follower"

    # It receives the log and serves stale reads; writes go to the leader.
    cluster.on_leader("SET", "before", "1")
    wait_for(lambda: _stale_get(learner, "before") == b"1", 30, "the write on the learner")
    with pytest.raises(redis.exceptions.MovedError):
        learner.client().set("x", "1")
    with pytest.raises(redis.exceptions.ResponseError, match="is a learner"):
        admin.execute_command("RAFT.TRANSFER-LEADER", "n4")

    # SIGKILL the leader: 2 of the 3 voters are a majority, elect one of themselves and
    # commit writes; the learner takes part in none of it.
    leader.kill()
    survivors = [n for n in cluster.nodes[:3] if n is not leader]
    learner_roles = []

    def new_leader() -> Node | None:
        learner_roles.append(cluster.info(learner)["raft_role"])
        found = cluster.leader(timeout=1)
        return found if found is not leader else None

    elected = wait_for(new_leader, 30, "a new leader")
    assert elected in survivors
    assert "leader" not in learner_roles
    assert cluster.on_leader("SET", "after", "2") is True
    wait_for(lambda: _stale_get(learner, "after") == b"2", 30, "the new leader's write")
    assert _roles(elected)["n4"] == "learner"
    assert cluster.info(learner)["raft_role"] != "leader"

    # Removed, a learner shuts itself down (its link ends where the removal is applied: it
    # finds out from the members once no leader has reached it for a while).
    assert elected.client().execute_command("RAFT.NODE", "REMOVE", "n4") == b"OK"
    wait_for(lambda: learner.proc.poll() is not None, 30, "the removed learner to exit")
    assert set(_roles(elected)) == {"n1", "n2", "n3"}
    assert cluster.on_leader("SET", "after-removal", "3") is True


def test_a_lone_node_keeps_writing_while_its_learner_is_down(tmp_path) -> None:
    """A 1-node cluster with a learner that is down still commits alone; the learner comes
    back a learner, catches up (from a snapshot: the log is compacted meanwhile), and
    RAFT.NODE PROMOTE makes it a voter."""
    with LocalCluster(tmp_path, 1, "--raft-log-max-entries", "10", http=True) as cluster:
        first = cluster.nodes[0]
        learner = Node(tmp_path / "n2", None, "--id", "n2").start()  # a cluster of its own
        cluster.nodes.append(learner)  # stopped with the cluster
        assert learner.client().execute_command(
            "RAFT.CLUSTER", "JOIN", f"127.0.0.1:{first.port}", "LEARNER") == b"OK"
        wait_for(lambda: _roles(first).get("n2") == "learner", 30, "n2 added as a learner")
        admin = first.client()
        admin.set("seen", "1")
        wait_for(lambda: _stale_get(learner, "seen") == b"1", 30, "the learner to catch up")
        view = json.load(urllib.request.urlopen(
            f"http://127.0.0.1:{first.http_port}/v1/cluster", timeout=10))
        assert {m["id"]: m["learner"] for m in view["members"]} == {"n1": False, "n2": True}

        learner.kill()
        held = cluster.info(first)["raft_commit_index"]  # at most what the learner holds
        for i in range(30):  # each would time out (10 s) if the learner's vote were needed
            assert admin.set(f"k{i}", i)
        # a snapshot past the learner's log: the leader's log no longer holds what it lacks
        wait_for(lambda: admin.info("persistence")["raft_snapshot_index"] > held + 2, 30,
                 "a snapshot past what the learner holds")
        assert cluster.info(first)["raft_voters"] == 1

        learner.start()  # restarted: still a learner, and it catches up
        wait_for(lambda: _stale_get(learner, "k29") == b"29", 30, "the restarted learner")
        wait_for(lambda: "installed snapshot" in learner.log(), 10, "the snapshot's log line")
        assert cluster.info(learner)["raft_is_learner"] == 1
        assert _roles(first)["n2"] == "learner" and cluster.info(first)["raft_voters"] == 1
        admin.set("while-learner", "1")

        with pytest.raises(redis.exceptions.ResponseError, match="already a voter"):
            admin.execute_command("RAFT.NODE", "PROMOTE", "n1")
        with pytest.raises(redis.exceptions.ResponseError, match="the last voter"):
            admin.execute_command("RAFT.NODE", "DEMOTE", "n1")
        with pytest.raises(redis.exceptions.ResponseError, match="not a member"):
            admin.execute_command("RAFT.NODE", "PROMOTE", "n9")
        with pytest.raises(redis.exceptions.MovedError):
            learner.client().execute_command("RAFT.NODE", "PROMOTE", "n2")
        wait_for(lambda: admin.execute_command("RAFT.NODE", "PROMOTE", "n2") == b"OK", 30,
                 "RAFT.NODE PROMOTE n2")
        assert _roles(first)["n2"] == "voter"
        wait_for(lambda: cluster.info(learner)["raft_voters"] == 2
                 and cluster.info(learner)["raft_is_learner"] == 0, 30, "n2 to vote")
        assert cluster.info(first)["raft_voters"] == 2
        assert admin.set("after-promotion", "1")
        wait_for(lambda: _stale_get(learner, "after-promotion") == b"1", 30, "n2 replicating")

        # Demoted, it counts in no majority again: n1 alone commits while n2 is down.
        assert admin.execute_command("RAFT.NODE", "DEMOTE", "n2") == b"OK"
        assert _roles(first)["n2"] == "learner" and cluster.info(first)["raft_voters"] == 1
        learner.kill()
        assert admin.set("after-demotion", "1")


def test_a_demoted_voter_counts_in_no_majority_and_keeps_applying(
        cluster: LocalCluster) -> None:
    """3 voters; one follower demoted: the 2 voters left commit without it, and with the
    other follower down the leader and the learner are not a majority of them."""
    leader = cluster.leader()
    demoted, voter = cluster.followers()
    admin = leader.client()
    with pytest.raises(redis.exceptions.ResponseError, match="is the leader: hand leadership"):
        admin.execute_command("RAFT.NODE", "DEMOTE", leader.name)
    with pytest.raises(redis.exceptions.ResponseError, match="not a member"):
        admin.execute_command("RAFT.NODE", "DEMOTE", "n9")
    with pytest.raises(redis.exceptions.MovedError):
        voter.client().execute_command("RAFT.NODE", "DEMOTE", demoted.name)
    assert admin.execute_command("RAFT.NODE", "DEMOTE", demoted.name) == b"OK"
    with pytest.raises(redis.exceptions.ResponseError, match="already a learner"):
        admin.execute_command("RAFT.NODE", "DEMOTE", demoted.name)

    def switched(node: Node) -> bool:
        info = cluster.info(node)
        return (_roles(node) == {leader.name: "voter", voter.name: "voter",
                                 demoted.name: "learner"}
                and (info["raft_voters"], info["raft_learners"]) == (2, 1))
    wait_for(lambda: all(switched(node) for node in cluster.nodes), 30,
             "every node to count 2 voters and 1 learner")
    assert cluster.info(demoted)["raft_is_learner"] == 1
    assert cluster.info(leader)["raft_is_learner"] == cluster.info(voter)["raft_is_learner"] == 0

    # The learner down: the 2 voters are the majority.
    demoted.kill()
    assert admin.set("learner-down", "1") is True
    demoted.start()  # still a learner: it catches up and serves stale reads
    wait_for(lambda: _stale_get(demoted, "learner-down") == b"1", 30, "the learner to catch up")
    assert cluster.info(demoted)["raft_is_learner"] == 1

    # The other voter down: the leader and the learner alive are not a majority of 2 voters
    # (as 2 of 3 voters they would be): nothing commits.
    voter.kill()
    committed = cluster.info(leader)["raft_commit_index"]
    with pytest.raises(redis.RedisError):
        leader.client(socket_timeout=20).set("voter-down", "1")
    assert cluster.info(leader)["raft_commit_index"] == committed
    assert cluster.info(demoted)["raft_role"] != "leader"

    voter.start()
    assert cluster.on_leader("SET", "voter-back", "1") is True
    wait_for(lambda: _stale_get(demoted, "voter-back") == b"1", 30, "the learner applying")
    assert cluster.leader() is not demoted

    # PROMOTE makes it a voter again.
    wait_for(lambda: cluster.on_leader("RAFT.NODE", "PROMOTE", demoted.name) == b"OK", 30,
             "RAFT.NODE PROMOTE of the demoted node")
    wait_for(lambda: all(cluster.info(n)["raft_voters"] == 3 for n in cluster.nodes), 30,
             "3 voters again")
