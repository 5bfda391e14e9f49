"""Limits a node keeps for itself: CONFIG SET ranges as Redis's, maxclients within the
open-files limit, idle clients closed after ``timeout``, TCP keepalive."""

from __future__ import annotations

import ctypes
import re
import resource
import socket
import subprocess

import pytest
import redis

from rcache.oslimits import RESERVED_FDS
from rcache.resp import encode_command

from .conftest import Node, wait_for

# (option, value) pairs Redis refuses; rcache must refuse them with the same text.
INVALID = [("maxclients", "0"), ("maxclients", "-1"), ("maxclients", "abc"),
           ("maxclients", "99999999999"), ("maxclients", "1.5"), ("maxclients", "010"),
           ("maxclients", "+5"), ("proto-max-bulk-len", "0"), ("proto-max-bulk-len", "1000"),
           ("proto-max-bulk-len", "10x"), ("proto-max-bulk-len", "-5"), ("hz", "-1"),
           ("timeout", "-1"), ("timeout", "99999999999"), ("timeout", "1kb"),
           ("tcp-keepalive", "-1"), ("appendfsync", "sometimes"), ("loglevel", "loud"),
           ("protected-mode", "maybe"), ("client-output-buffer-limit", "normal 0 0"),
           ("client-output-buffer-limit", "master 1 1 1"),
           ("client-output-buffer-limit", "pubsub 1 2 -1"), ("databases", "5"),
           ("no-such-option", "1")]
# Accepted by both, and read back the same (hz is clamped into 1-500).
VALID = [("hz", "1000"), ("hz", "0"), ("timeout", "0"), ("tcp-keepalive", "60"),
         ("proto-max-bulk-len", "1mb"), ("maxclients", "2000")]


def _error(client: redis.Redis, name: str, value: str) -> str:
    with pytest.raises(redis.ResponseError) as caught:
        client.config_set(name, value)
    return str(caught.value)


@pytest.mark.parametrize(("name", "value"), INVALID)
def test_invalid_config_set_refused_like_redis(shared_node: Node, redis_server: int,
                                               name: str, value: str) -> None:
    ours = shared_node.client()
    theirs = redis.Redis(port=redis_server, socket_timeout=10)
    assert _error(ours, name, value) == _error(theirs, name, value)
    assert ours.ping()


@pytest.mark.parametrize(("name", "value"), VALID)
def test_valid_config_set_like_redis(shared_node: Node, redis_server: int, name: str,
                                     value: str) -> None:
    ours = shared_node.client(decode_responses=True)
    theirs = redis.Redis(port=redis_server, socket_timeout=10, decode_responses=True)
    before = {client: client.config_get(name)[name] for client in (ours, theirs)}
    try:
        for client in (ours, theirs):
            client.config_set(name, value)
        assert ours.config_get(name) == theirs.config_get(name)
    finally:
        for client, old in before.items():
            client.config_set(name, old)


def test_maxclients_zero_does_not_lock_out(shared_node: Node) -> None:
    client = shared_node.client()
    with pytest.raises(redis.ResponseError):
        client.config_set("maxclients", "0")
    with pytest.raises(redis.ResponseError):
        client.config_set("proto-max-bulk-len", "0")
    assert shared_node.client().ping()  # a new connection is accepted and parsed


# -- open files --------------------------------------------------------------------------
FD_LIMIT = 400
_PR_CAPBSET_DROP, _CAP_SYS_RESOURCE = 24, 24


def _low_open_files_limit() -> None:
    """In the node's process before exec: 400 descriptors, and (as root) no privilege to
    raise the hard limit, as for an ordinary user with 'ulimit -n 400'."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_CAPBSET_DROP, _CAP_SYS_RESOURCE, 0, 0, 0)
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


def _soft_open_files(pid: int) -> int:
    with open(f"/proc/{pid}/limits") as limits:
        line = next(line for line in limits if line.startswith("Max open files"))
    return int(line.split()[3])


def test_maxclients_fitted_to_open_files_limit(make_node) -> None:
    """With 'ulimit -n 400' the node lowers maxclients (logged), refuses clients past it,
    and the clients it holds leave RocksDB and the Raft log enough descriptors."""
    node = make_node(preexec_fn=_low_open_files_limit)
    client = node.client()
    maxclients = int(client.config_get("maxclients")["maxclients"])
    limit = _soft_open_files(node.proc.pid)
    if limit >= 10000 + RESERVED_FDS:
        pytest.skip("this sandbox let the node raise its open-files limit anyway")
    assert maxclients == limit - RESERVED_FDS
    assert re.search(f"maxclients has been reduced to {maxclients}", node.log())
    with pytest.raises(redis.ResponseError, match="The operating system is not able to "
                                                  f"handle the specified number of clients, "
                                                  f"try with {maxclients}"):
        client.config_set("maxclients", str(maxclients + 100))
    held = [socket.create_connection(("127.0.0.1", node.port), timeout=10)
            for _ in range(maxclients + 5)]  # the test's own client is one of them already
    try:
        held[-1].sendall(b"PING\r\n")
        assert held[-1].recv(100) == b"-ERR max number of clients reached\r\n"
        held[0].sendall(encode_command([b"SET", b"k", b"v"]) + encode_command([b"SAVE"]))
        assert _replies(held[0], 2) == b"+OK\r\n+OK\r\n"
    finally:
        for sock in held:
            sock.close()
    assert node.client().get("k") == b"v"


def _replies(sock: socket.socket, count: int) -> bytes:
    data = b""
    while data.count(b"\r\n") < count:
        chunk = sock.recv(1024)
        assert chunk, "connection closed"
        data += chunk
    return data


# -- idle clients, keepalive -------------------------------------------------------------
def test_idle_clients_closed_after_timeout(make_node) -> None:
    node = make_node("--timeout", "1")
    subscriber = socket.create_connection(("127.0.0.1", node.port), timeout=10)
    subscriber.sendall(encode_command([b"SUBSCRIBE", b"news"]))
    assert b"subscribe" in _replies(subscriber, 6)
    monitor = socket.create_connection(("127.0.0.1", node.port), timeout=10)
    monitor.sendall(b"MONITOR\r\n")
    assert monitor.recv(100) == b"+OK\r\n"
    idle = socket.create_connection(("127.0.0.1", node.port), timeout=10)
    idle.sendall(b"PING\r\n")
    assert idle.recv(100) == b"+PONG\r\n"
    assert idle.recv(100) == b"", "the idle client was not closed"  # within 10 s
    subscriber.sendall(encode_command([b"PING"]))  # idle longer, but a subscriber
    assert b"pong" in _replies(subscriber, 3)
    subscriber.close()
    monitor.sendall(b"PING\r\n")  # idle longer too, but a monitor (as Redis's, a replica)
    assert b"PONG" in _replies(monitor, 4)
    monitor.close()


def _closed_when_idle(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as idle:
        idle.sendall(b"PING\r\n")
        assert idle.recv(100) == b"+PONG\r\n"
        assert idle.recv(100) == b"", "the idle client was not closed"  # within 10 s


def test_loglevel_set_at_run_time(make_node) -> None:
    """CONFIG SET loglevel takes effect at once: closing an idle client is logged at
    verbose, not at the default notice."""
    node = make_node("--timeout", "1")
    _closed_when_idle(node.port)
    assert "Closing idle client" not in node.log()
    node.client().config_set("loglevel", "verbose")
    _closed_when_idle(node.port)
    wait_for(lambda: "Closing idle client" in node.log(), 10, "the close in the log")
    node.client().config_set("loglevel", "warning")
    before = node.log().count("Closing idle client")
    _closed_when_idle(node.port)
    assert node.log().count("Closing idle client") == before


def _keepalive_timers(port: int) -> list[str]:
    out = subprocess.run(["ss", "-tnoH", "state", "established", f"( sport = :{port} )"],
                         capture_output=True, text=True, timeout=10, check=True).stdout
    return [line for line in out.splitlines() if line.strip()]


@pytest.mark.parametrize(("interval", "expected"), [("300", True), ("0", False)])
def test_tcp_keepalive(make_node, interval: str, expected: bool) -> None:
    node = make_node("--tcp-keepalive", interval)
    with socket.create_connection(("127.0.0.1", node.port), timeout=10) as sock:
        sock.sendall(b"PING\r\n")
        assert sock.recv(100) == b"+PONG\r\n"
        lines = wait_for(lambda: _keepalive_timers(node.port), 10, "the server's socket")
        assert any("timer:(keepalive" in line for line in lines) == expected, lines


# -- count arguments ---------------------------------------------------------------------
@pytest.mark.parametrize("argv", [
    ["HRANDFIELD", "bl:h", "-4611686018427387904", "WITHVALUES"],
    ["HRANDFIELD", "bl:h", "-9223372036854775808"],
    ["ZRANDMEMBER", "bl:z", "-4611686018427387904", "WITHSCORES"],
    ["ZRANDMEMBER", "bl:z", "-9223372036854775808"],
    ["SRANDMEMBER", "bl:s", "-9223372036854775808"],
    ["SPOP", "bl:s", "-1"],
    ["HRANDFIELD", "bl:missing", "-4611686018427387904", "WITHVALUES"],
])
def test_random_counts_out_of_range_like_redis(shared_node: Node, redis_server: int,
                                               argv: list[str]) -> None:
    """These counts are refused at once, with Redis's text (HRANDFIELD used to block the
    node for minutes, then fail with MemoryError)."""
    errors = []
    for client in (shared_node.client(), redis.Redis(port=redis_server, socket_timeout=10)):
        client.hset("bl:h", "f", "v")
        client.zadd("bl:z", {"m": 1})
        client.sadd("bl:s", "m")
        try:
            with pytest.raises(redis.ResponseError) as caught:
                client.execute_command(*argv)
            errors.append(str(caught.value))
        finally:
            client.delete("bl:h", "bl:z", "bl:s")
    assert errors[0] == errors[1]


def test_huge_repeated_picks_refused(shared_node: Node) -> None:
    """A count Redis accepts but cannot answer (it builds the reply until memory runs out):
    rcache refuses it and keeps serving."""
    client = shared_node.client()
    client.hset("bl:h", "f", "v")
    try:
        with pytest.raises(redis.ResponseError, match="count is out of range"):
            client.hrandfield("bl:h", -4611686018427387903, withvalues=True)
        assert client.hrandfield("bl:h", -3) == [b"f"] * 3
        assert client.ping()
    finally:
        client.delete("bl:h")


# -- a full disk -------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    """A 64 MB tmpfs (needs root, as the CI runs): a disk that can be filled and freed."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)],
                          capture_output=True, timeout=30)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], timeout=30, check=True)


def _fill(path) -> None:
    with open(path, "wb") as filler:
        try:
            while True:
                filler.write(b"\0" * (1 << 20))
                filler.flush()
        except OSError:
            pass  # full


def test_full_disk_refuses_writes_then_recovers(small_disk, make_node) -> None:
    node = make_node("--dir", str(small_disk / "data"))
    try:
        client = node.client(socket_timeout=30)
        assert client.set("before", "v")
        _fill(small_disk / "filler")
        with pytest.raises(redis.ResponseError, match="No space left on device"):
            client.set("during", "x" * 100_000)  # in flight when the disk fills up

        def refused() -> bool:
            try:
                client.set("during", "y")
            except redis.ResponseError as err:
                return str(err).startswith("MISCONF Errors writing to disk: ") and \
                    "No space left on device" in str(err)
            return False
        assert wait_for(refused, 20, "writes refused with the disk's error")
        assert client.get("before") == b"v" and client.ping()  # reads go on
        assert node.log().count("Traceback") <= 4, "a traceback per tick"
        (small_disk / "filler").unlink()
        wait_for(lambda: client.set("after", "v"), 30, "writes to work again")
        assert "raft tick recovered" in node.log()
        assert client.get("after") == b"v"
    finally:
        node.stop()
