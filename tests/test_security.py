"""Who may talk to rcache: requirepass/AUTH as Redis, the protected-mode warning, and a Raft
channel that a process without the cluster secret can neither join, vote in nor append to."""

from __future__ import annotations

import ipaddress
import shutil
import socket
import subprocess
import time

import pytest
import redis
from pysyncobj import SyncObj, SyncObjConf

from rcache import launch
from rcache.transport import encode_frame

from .conftest import LocalCluster, free_port, wait_for
from .test_differential import RawConnection


def test_requirepass_as_redis(make_node) -> None:
    node = make_node("--requirepass", "s3cret")
    raw = RawConnection(node.port)
    assert raw.call("GET", "k") == b"-NOAUTH Authentication required.\r\n"
    assert raw.call("CONFIG", "SET", "requirepass", "x") == b"-NOAUTH Authentication required.\r\n"
    assert raw.call("RAFT.NODE", "REMOVE", "x") == b"-NOAUTH Authentication required.\r\n"
    assert raw.call("SLOWLOG", "RESET") == b"-NOAUTH Authentication required.\r\n"  # no_auth
    assert raw.call("AUTH", "wrong") == \
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    assert raw.call("AUTH", "nobody", "s3cret").startswith(b"-WRONGPASS")
    assert raw.call("PING") == b"-NOAUTH Authentication required.\r\n"  # still not in
    assert raw.call("AUTH", "default", "s3cret") == b"+OK\r\n"
    assert raw.call("SET", "k", "v") == b"+OK\r\n"
    raw.close()
    hello = RawConnection(node.port)
    assert hello.call("HELLO", "3").startswith(b"-NOAUTH HELLO must be called with the client")
    assert hello.call("HELLO", "3", "AUTH", "default", "s3cret").startswith(b"%7\r\n")
    assert hello.call("GET", "k") == b"$1\r\nv\r\n"
    hello.close()
    assert node.client(password="s3cret").get("k") == b"v"
    with pytest.raises(redis.AuthenticationError):
        node.client(password="nope").ping()


def test_failed_auth_does_not_slow_other_clients(make_node) -> None:
    node = make_node("--requirepass", "s3cret")
    attacker = RawConnection(node.port)
    good = node.client(password="s3cret")
    started = time.monotonic()
    for i in range(500):
        attacker.call("AUTH", f"guess{i}")
        good.incr("n")
    assert good.get("n") == b"500"
    assert time.monotonic() - started < 60
    attacker.close()


def test_protected_mode_warning(make_node) -> None:
    node = make_node("--bind", "127.0.0.2", start=False)  # loopback, but not 127.0.0.1
    node.start(wait=False)
    wait_for(lambda: "listening on 127.0.0.2" in node.log(), 30, "the node to listen")
    assert "without requirepass" in node.log()
    quiet = make_node()
    assert "without requirepass" not in quiet.log()


def test_process_without_the_secret_cannot_join_vote_or_append(tmp_path) -> None:
    with LocalCluster(tmp_path, 3, "--cluster-secret", "the-secret") as cluster:
        leader = cluster.leader()
        r = leader.client()
        for i in range(50):
            r.set(f"k{i}", i)
        cluster.wait_converged()
        before = {n.name: cluster.info(n) for n in cluster.nodes}
        members = sorted(f"127.0.0.1:{n.port + 10000}" for n in cluster.nodes)
        # A rogue node claiming a member's identity, with the wrong secret, for a few
        # election timeouts: it would win votes with ever higher terms if it were heard.
        impostor = members[-1]
        conf = SyncObjConf(password="not-the-secret", bindAddress=f"127.0.0.1:{free_port()}",
                           raftMinTimeout=0.1, raftMaxTimeout=0.2, appendEntriesPeriod=0.02,
                           connectionRetryTime=0.1,
                           dynamicMembershipChange=True)
        rogue = SyncObj(impostor, [m for m in members if m != impostor], conf)
        try:
            time.sleep(3)
        finally:
            rogue.destroy()
        after = {n.name: cluster.info(n) for n in cluster.nodes}
        assert {a["raft_term"] for a in after.values()} == {b["raft_term"] for b in before.values()}
        assert all(a["raft_voters"] == 3 for a in after.values())
        assert cluster.leader() is leader
        assert r.mget([f"k{i}" for i in range(50)]) == [str(i).encode() for i in range(50)]
        r.set("still", "writable")


def test_raft_port_refuses_read_only_and_utility_connections(tmp_path) -> None:
    """Even without a secret, nobody can stream the log through PySyncObj's read-only door
    (nor add members through its utility commands, refused by the same check)."""
    with LocalCluster(tmp_path, 1, "--cluster-secret-generate", "no") as cluster:
        node = cluster.nodes[0]
        raft_port = node.port + 10000
        voters = cluster.info(node)["raft_voters"]
        for offer, refusal in (("readonly", "offered read-only mode"),
                               (["add", "127.0.0.1:1"], "offered a utility command")):
            with socket.create_connection(("127.0.0.1", raft_port), timeout=5) as sock:
                sock.sendall(encode_frame(offer))
                wait_for(lambda refusal=refusal: refusal in node.log(), 10,
                         f"the connection that {refusal} to be refused")
        assert cluster.info(node)["raft_voters"] == voters
        assert node.client().set("ok", 1)


def _outward_address() -> str | None:
    """An IPv4 address of this host beyond loopback, if it has one."""
    out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=10).stdout
    found = [a for a in out.split() if "." in a and not ipaddress.ip_address(a).is_loopback]
    return found[0] if found else None


def _refusal(host: str, port: int) -> bytes:
    """All a new connection receives, unprompted, until the server closes it."""
    with socket.create_connection((host, port), timeout=10) as sock:
        data = b""
        while chunk := sock.recv(65536):  # a server that never closes fails by the timeout
            data += chunk
        return data


def _first_reply(host: str, port: int) -> bytes:
    """The reply line to a PING sent on a new connection."""
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(b"PING\r\n")
        data = b""
        while b"\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"closed after {data!r}"
            data += chunk
        return data


def test_protected_mode_refuses_other_hosts_as_redis(make_node, tmp_path) -> None:
    outward = _outward_address()
    if outward is None:
        pytest.skip("this host has no address beyond loopback")
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    reference = launch.redis_server(free_port(), tmp_path, "--bind", "0.0.0.0",
                                    "--protected-mode", "yes")  # the later --bind wins
    try:
        reference.start(timeout=10)
        expected = _refusal(outward, reference.port)
    finally:
        reference.stop()
    assert expected.startswith(b"-DENIED Redis is running in protected mode")
    node = make_node("--bind", "0.0.0.0")
    assert _refusal(outward, node.port) == expected
    assert _first_reply("127.0.0.1", node.port) == b"+PONG\r\n"  # loopback stays welcome
    local = node.client()
    local.config_set("protected-mode", "no")  # takes effect for the next connection
    assert _first_reply(outward, node.port) == b"+PONG\r\n"
    local.config_set("protected-mode", "yes")
    assert _refusal(outward, node.port) == expected
    local.config_set("requirepass", "s3cret")  # a password lifts it: AUTH decides now
    assert _first_reply(outward, node.port) == b"-NOAUTH Authentication required.\r\n"
