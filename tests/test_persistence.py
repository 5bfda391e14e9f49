"""Durability: appendfsync, log compaction into RocksDB snapshots, snapshot install on a new
node, restarts of nodes and of the whole cluster, damaged files refused at start."""

from __future__ import annotations

import random
import subprocess
import sys
import time

import pytest

from .conftest import ROOT, LocalCluster, Node, wait_for


def persistence(node: Node) -> dict:
    return node.client().info("persistence")


def test_log_is_compacted_and_restart_replays_only_the_rest(make_node) -> None:
    node = make_node("--raft-log-max-entries", "100")
    r = node.client()
    for i in range(1500):  # one entry each: 15x the limit
        r.set(f"k{i}", i)
        r.incr("counter")
    # Compaction runs in the background: wait for the log to be cut back.
    wait_for(lambda: 0 < persistence(node)["raft_log_entries"] <= 300, 20, "a compacted log")
    assert persistence(node)["raft_snapshot_index"] > 1000
    node.kill()
    node.start()
    r = node.client()
    assert r.mget([f"k{i}" for i in range(1500)]) == [str(i).encode() for i in range(1500)]
    assert r.get("counter") == b"1500"


def test_one_write_larger_than_the_log_bound_is_snapshotted_once(make_node) -> None:
    """A value larger than raft-log-max-bytes: the log keeps the entries its snapshot ends
    with, so it stays over the bound; the node must not snapshot the same state again and
    again while nothing new is applied (it did, at full CPU, for as long as it stayed idle)."""
    node = make_node("--raft-log-max-bytes", "1mb")
    r = node.client()
    r.set("big", b"x" * (2 * 1024 * 1024))
    wait_for(lambda: persistence(node)["rdb_saves"] >= 1, 20, "the snapshot the write asks for")
    wait_for(lambda: not persistence(node)["rdb_bgsave_in_progress"], 20, "the snapshot to end")
    saves = persistence(node)["rdb_saves"]
    time.sleep(1)  # idle (the fault snapshotted several times a second)
    assert persistence(node)["rdb_saves"] == saves <= 2
    r.set("small", "1")  # the next entries take the big one out of the log
    r.set("small", "2")
    wait_for(lambda: persistence(node)["raft_log_bytes"] < 1024 * 1024, 20,
             "the big entry compacted away")
    assert r.get("big") == b"x" * (2 * 1024 * 1024)


def test_save_and_bgsave_snapshot_on_demand(node) -> None:
    r = node.client()
    started = r.lastsave()
    for i in range(50):  # far below the compaction threshold
        r.set(f"k{i}", i)
    assert r.save() is True  # redis-py's True for +OK, after the snapshot is on disk
    after_save = persistence(node)
    assert after_save["raft_snapshot_index"] >= 50 and after_save["raft_log_entries"] <= 5
    assert r.lastsave() >= started
    r.set("later", "x")
    assert r.bgsave() is True
    wait_for(lambda: persistence(node)["raft_snapshot_index"] > after_save["raft_snapshot_index"],
             20, "the background snapshot")
    node.kill()
    node.start()
    assert node.client().get("later") == b"x"
    assert node.client().mget([f"k{i}" for i in range(50)]) == [str(i).encode()
                                                                for i in range(50)]


def test_appendfsync_always_syncs_before_acknowledging(make_node) -> None:
    node = make_node("--appendfsync", "always")
    r = node.client()
    before = persistence(node)["raft_log_fsyncs"]
    for i in range(20):
        r.set(f"k{i}", i)
    assert persistence(node)["raft_log_fsyncs"] >= before + 20
    assert r.config_get("appendfsync") == {"appendfsync": "always"}
    r.config_set("appendfsync", "no")
    assert persistence(node)["appendfsync"] == "no"


def test_new_node_installs_snapshot_and_the_rest_of_the_log(tmp_path) -> None:
    with LocalCluster(tmp_path, 1, "--raft-log-max-entries", "200") as cluster:
        leader = cluster.nodes[0]
        r = leader.client()
        pipe = r.pipeline(transaction=False)
        for i in range(20000):
            pipe.set(f"k{i}", i)
        pipe.execute()
        for _ in range(300):  # many small entries: the log is compacted past them
            r.incr("counter")
        wait_for(lambda: persistence(leader)["raft_snapshot_index"] > 0, 10, "a snapshot")
        fresh = cluster.add_node()
        cluster.wait_converged()
        r.set("after-join", "yes")
        cluster.wait_converged()
        reader = fresh.client()
        reader.execute_command("READONLY")
        assert reader.dbsize() == r.dbsize() == 20002
        assert reader.get("counter") == b"300" and reader.get("after-join") == b"yes"
        assert reader.mget([f"k{i}" for i in range(0, 20000, 997)]) == \
            [str(i).encode() for i in range(0, 20000, 997)]
        assert "installed snapshot" in fresh.log()


def test_whole_cluster_restart_keeps_acknowledged_writes(cluster: LocalCluster) -> None:
    r = cluster.leader().client()
    for i in range(200):
        r.set(f"w{i}", i)
    for node in cluster.nodes:
        node.kill()
    for node in cluster.nodes:
        node.start(wait=False)
    for node in cluster.nodes:
        node.wait_ready()
    cluster.wait_converged()
    r = cluster.leader().client()
    assert r.mget([f"w{i}" for i in range(200)]) == [str(i).encode() for i in range(200)]


def test_incr_exact_across_kill_cycles_of_random_nodes(tmp_path) -> None:
    rng = random.Random(7)
    acknowledged = 0
    with LocalCluster(tmp_path, 3, "--raft-log-max-entries", "300") as cluster:
        for _ in range(20):
            leader = cluster.leader()
            r = leader.client()
            for _ in range(20):
                r.incr("counter")
                acknowledged += 1
            victim = rng.choice(cluster.nodes)
            victim.kill()
            victim.start()
            cluster.wait_converged()
            assert int(cluster.leader().client().get("counter")) == acknowledged


def _start_fails(node: Node) -> str:
    run = subprocess.run([sys.executable, "-m", "rcache", "--port", str(node.port), "--dir",
                          str(node.dir)], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert run.returncode != 0, run.stdout + run.stderr
    return run.stderr


def _flip_byte(path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["journal-header", "journal-record", "journal-meta",
                                    "snapshot"])
def test_damaged_files_stop_the_node_with_a_clear_message(make_node, damage) -> None:
    node = make_node("--raft-log-max-entries", "50")
    r = node.client()
    for i in range(300):
        r.set(f"k{i}", "x" * 100)
    wait_for(lambda: persistence(node)["raft_snapshot_index"] > 0, 10, "a snapshot")
    for i in range(20):
        r.set(f"after{i}", "y" * 100)
    node.stop()
    files = {"journal-header": ("raft.journal", 2), "journal-record": ("raft.journal", 90),
             "journal-meta": ("raft.journal.meta", 6), "snapshot": ("raft.snapshot", -100)}
    name, offset = files[damage]
    path = node.dir / name
    _flip_byte(path, offset if offset >= 0 else path.stat().st_size + offset)
    message = _start_fails(node)
    assert name in message and "refusing to start" in message, message


def test_data_dir_of_another_node_is_refused(make_node) -> None:
    node = make_node("--id", "first")
    node.client().set("k", "v")
    node.stop()
    run = subprocess.run([sys.executable, "-m", "rcache", "--id", "second", "--port",
                          str(node.port), "--dir", str(node.dir)], capture_output=True, text=True,
                         timeout=60, cwd=ROOT)
    assert run.returncode != 0
    assert "raft.journal" in run.stderr and "belongs to node 'first'" in run.stderr, run.stderr
