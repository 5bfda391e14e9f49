"""Leader leases: default reads stay linearizable through a paused leader, and a node that
was only cut off cannot depose a healthy leader (pre-vote)."""

from __future__ import annotations

import signal
import socket
import threading
import time

from .conftest import LocalCluster, wait_for


def _raw_replies(sock: socket.socket, count: int, timeout: float) -> list[bytes]:
    """Read `count` RESP replies (simple lines or bulk strings) from a raw socket."""
    sock.settimeout(timeout)
    data = b""
    replies: list[bytes] = []
    while len(replies) < count:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
        while True:
            end = data.find(b"\r\n")
            if end < 0:
                break
            head = data[:end]
            if head.startswith(b"$") and head != b"$-1":
                size = int(head[1:])
                if len(data) < end + 2 + size + 2:
                    break
                replies.append(data[end + 2:end + 2 + size])
                data = data[end + 2 + size + 2:]
            else:
                replies.append(head)
                data = data[end + 2:]
    return replies


def test_a_paused_leader_never_answers_a_stale_read(cluster: LocalCluster) -> None:
    old = cluster.leader()
    old.client().set("k", "before")
    cluster.wait_converged()
    assert old.client().info("raft")["raft_lease_remaining_ms"] > 0

    old.signal(signal.SIGSTOP)
    try:
        others = [n for n in cluster.nodes if n is not old]
        new = cluster.leader(among=others, timeout=30)
        new.client().set("k", "after")
        # Reads already waiting on the paused leader's socket when it resumes.
        sock = socket.create_connection(("127.0.0.1", old.port), timeout=5)
        sock.sendall(b"GET k\r\n" * 20)
    finally:
        old.signal(signal.SIGCONT)
    replies = _raw_replies(sock, 20, timeout=15)
    sock.close()
    assert len(replies) == 20, replies
    for reply in replies:
        # The new value, or a redirect / retry error: never the overwritten one.
        assert reply == b"after" or reply.startswith((b"-MOVED", b"-TRYAGAIN", b"-CLUSTERDOWN")), \
            replies
    wait_for(lambda: cluster.info(old)["raft_role"] == "follower", 15, "old leader to follow")


def test_default_reads_use_the_lease_and_linearizable_ones_do_not(
        steady_cluster: LocalCluster) -> None:
    leader = steady_cluster.leader()
    client = leader.client()
    client.set("x", "1")
    before = client.info("raft")
    for _ in range(20):
        assert client.get("x") == b"1"
    after = client.info("raft")
    assert after["raft_reads_by_lease"] - before["raft_reads_by_lease"] >= 19
    client.execute_command("RAFT.READ-CONSISTENCY", "linearizable")
    for _ in range(5):
        assert client.get("x") == b"1"
    final = client.info("raft")
    assert final["raft_reads_by_read_index"] - after["raft_reads_by_read_index"] == 5


def test_pipelined_linearizable_reads_see_every_write_before_them(
        steady_cluster: LocalCluster) -> None:
    """Many connections each pipeline INCRs and linearizable GETs: the reads of one loop turn
    share a ReadIndex round, join the waiting one while others are in flight, and each must
    still see its own connection's writes before it, in order."""
    leader = steady_cluster.leader()
    connections, steps = 8, 60
    failures: list[str] = []
    reads_before = leader.client().info("raft")["raft_reads_by_read_index"]

    def run(number: int) -> None:
        client = leader.client(socket_timeout=30)
        client.execute_command("RAFT.READ-CONSISTENCY", "linearizable")
        key = f"lin-counter-{number}"
        pipe = client.pipeline(transaction=False)
        for _ in range(steps):
            pipe.incr(key)
            pipe.get(key)
            pipe.get(key)
        replies = pipe.execute()
        expected = [reply for step in range(1, steps + 1)
                    for reply in (step, str(step).encode(), str(step).encode())]
        if replies != expected:
            failures.append(f"{key}: {replies[:12]}...")
        reads_only = client.pipeline(transaction=False)  # reads behind reads' barriers
        for _ in range(steps):
            reads_only.get(key)
        if reads_only.execute() != [str(steps).encode()] * steps:
            failures.append(f"{key}: reads alone")

    workers = [threading.Thread(target=run, args=(n,)) for n in range(connections)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert not any(worker.is_alive() for worker in workers)
    assert not failures, failures
    reads = leader.client().info("raft")["raft_reads_by_read_index"] - reads_before
    assert reads == connections * steps * 3  # each read counted once, pipelined or not


def test_a_cut_off_follower_does_not_depose_the_leader(tmp_path) -> None:
    """The follower's election timer fires while it is paused; back, it must not force an
    election (pre-vote: the others still hear the leader, so it gets no votes). With 1-2 s
    election timeouts: at the default 300 ms, a loaded machine's CI run once kept the other
    follower from hearing the leader that long, and its yes let the paused one campaign."""
    with LocalCluster(tmp_path, 3, "--raft-election-timeout", "1000") as cluster:
        leader = cluster.leader()
        term = cluster.info(leader)["raft_term"]
        follower = next(n for n in cluster.nodes if n is not leader)
        for round_ in range(3):
            follower.signal(signal.SIGSTOP)
            try:
                client = leader.client()
                for i in range(20):
                    client.set(f"w{round_}-{i}", i)
                time.sleep(3)  # the fault itself: longer than the 1-2 s election timeout
            finally:
                follower.signal(signal.SIGCONT)
            cluster.wait_converged()
        assert cluster.leader() is leader
        assert cluster.info(leader)["raft_term"] == term


def test_linearizable_reads_go_on_while_a_follower_is_paused(
        steady_cluster: LocalCluster) -> None:
    """A ReadIndex round asks one follower (with the leader, a majority of three); if that
    one is paused, the round must ask the other instead of waiting for its timeout."""
    leader = steady_cluster.leader()
    client = leader.client(socket_timeout=10)
    client.execute_command("RAFT.READ-CONSISTENCY", "linearizable")
    rounds_before = client.info("raft")["raft_read_rounds"]
    reads = 0
    for follower in (n for n in steady_cluster.nodes if n is not leader):
        for _ in range(20):  # rounds in flight: one follower is the one asked
            client.get("paused-follower")
            reads += 1
        follower.signal(signal.SIGSTOP)
        try:
            for step in range(10):
                assert client.get("paused-follower") == (str(step).encode() if step else None)
                assert client.incr("paused-follower") == step + 1
                reads += 1
            client.delete("paused-follower")
        finally:
            follower.signal(signal.SIGCONT)
    rounds = client.info("raft")["raft_read_rounds"] - rounds_before
    assert 0 < rounds <= reads
