"""Redis 7.0's configuration parameters: CONFIG GET shows every one redis-server has, CONFIG
SET accepts and refuses what redis-server does (cases generated from the option rows), and
the parameters rcache gives a real effect have it (unix socket, pidfile, logfile, syslog,
tcp-backlog, client-query-buffer-limit, oom-score-adj)."""

from __future__ import annotations

import errno
import os
import shutil
import socket
import stat
import subprocess
import sys
from pathlib import Path

import hiredis
import pytest
import redis

from rcache.config import REDIS_OPTIONS

from .conftest import ROOT, LocalCluster, Node, wait_for
from .test_differential import RawConnection, assert_same

# Values tried on every added parameter: each is good for some types and bad for others
# (yes/no, integers in and out of bounds, memory units, enums, paths, multi-word values).
PROBES = ("yes", "no", "maybe", "YES", "7", "-1", "0", "abc", "", "1kb", "2mb", "10%", "700",
          "save now", "save nosave", "1 2 3", "1 2", "99999999999999999999", "x/y",
          "{title} x", "{title", "allchannels", "hostname", "local3", "a b", "on-empty-db",
          "IGNORE")
# Probes that would cut the test's own connections (a 7-byte client memory limit) are
# replaced by their own.
OWN_PROBES = {"maxmemory-clients": ("abc", "10%", "101%", "-1", "0", "x%", "%")}
# Parameters Redis takes any text for (no bad value to try).
ANY_TEXT = {"bind-source-addr", "ignore-warnings", "masterauth", "masteruser",
            "replica-announce-ip", "slave-announce-ip", "tls-dh-params-file"}
NAMES = sorted({name for opt in REDIS_OPTIONS for name in (opt.name, opt.alias) if name})


@pytest.fixture(scope="module")
def servers(shared_node: Node, redis_server: int):
    pair = RawConnection(shared_node.port), RawConnection(redis_server)
    yield pair
    for conn in pair:
        conn.close()


def _config(conn: RawConnection, pattern: str) -> dict[str, str]:
    reader = hiredis.Reader(encoding="utf-8")
    reader.feed(conn.call("CONFIG", "GET", pattern))
    flat = reader.gets()
    return dict(zip(flat[::2], flat[1::2], strict=True))


def test_config_get_has_every_parameter_redis_has(servers) -> None:
    """CONFIG GET * of rcache holds every name of redis-server's, and the added ones show
    Redis's defaults."""
    ours, theirs = (_config(conn, "*") for conn in servers)
    missing = sorted(set(theirs) - set(ours))
    assert not missing, missing
    assert len(theirs) >= 190
    differing = {name: (theirs[name], ours[name]) for name in NAMES if theirs[name] != ours[name]}
    assert not differing, differing


@pytest.mark.parametrize("name", NAMES)
def test_config_set_like_redis(servers, name: str) -> None:
    """Each probe: the same CONFIG SET reply (OK or Redis's error text) and the same value
    after it; the value each server had is put back."""
    before = [_config(conn, name)[name] for conn in servers]
    try:
        replies = set()
        for value in OWN_PROBES.get(name, PROBES):
            replies.add(assert_same(servers, "CONFIG", "SET", name, value))
            assert_same(servers, "CONFIG", "GET", name)
        refused = {reply for reply in replies if reply.startswith(b"-ERR")}
        if not all(b"can't set" in reply for reply in replies):  # not immutable or protected
            assert b"+OK\r\n" in replies, "no good value among the probes"
            assert refused or name in ANY_TEXT, "no bad value among the probes"
        assert_same(servers, "CONFIG", "SET", name.upper(), "1", name, "2")  # names first
    finally:
        for conn, value in zip(servers, before, strict=True):
            conn.call("CONFIG", "SET", name, value)


@pytest.mark.parametrize("argv", [
    ("daemonize", "no", "maxclients", "x"), ("maxclients", "x", "daemonize", "no"),
    ("nosuch", "1", "daemonize", "no"), ("Daemonize", "no", "nosuch", "1"),
    ("DBFILENAME", "x.rdb"), ("dir", "/tmp"), ("replicaof", "127.0.0.1 1"),
    ("SLAVE-READ-ONLY", "maybe"), ("slave-read-only", "no", "replica-read-only", "yes"),
    ("replica-priority", "1", "REPLICA-PRIORITY", "2"), ("NoSuch", "1")])
def test_config_set_errors_name_the_argument_as_redis(servers, argv) -> None:
    """Names are checked (unknown, immutable, protected, repeated) before values; errors
    quote the name as given, value errors the name as known."""
    before = {name: [_config(conn, name)[name] for conn in servers]
              for name in argv[::2] if name.lower() in NAMES}
    try:
        assert_same(servers, "CONFIG", "SET", *argv)
    finally:
        for name, values in before.items():
            for conn, value in zip(servers, values, strict=True):
                conn.call("CONFIG", "SET", name, value)


# -- what rcache makes real -------------------------------------------------------------------
def test_unix_socket_serves_redis_py_and_redis_cli(make_node, tmp_path: Path) -> None:
    path = tmp_path / "rcache.sock"
    node = make_node("--unixsocket", str(path), "--unixsocketperm", "700")
    assert stat.S_IMODE(path.stat().st_mode) == 0o700
    client = redis.Redis(unix_socket_path=str(path), socket_timeout=10)
    assert client.set("over-unix", "yes") and client.get("over-unix") == b"yes"
    line = client.execute_command("CLIENT", "INFO").decode()
    assert f"addr={path}:0 laddr={path}:0 " in line and " flags=U " in line, line
    assert node.client().get("over-unix") == b"yes"  # the same node as the TCP port's
    if shutil.which("redis-cli"):
        got = subprocess.run(["redis-cli", "-s", str(path), "GET", "over-unix"], timeout=30,
                             capture_output=True, text=True, check=True)
        assert got.stdout.strip() == "yes"
    assert node.client().config_get("unixsocket*") == {"unixsocket": str(path),
                                                       "unixsocketperm": "700"}
    client.close()
    node.stop()
    assert not path.exists()  # removed at shutdown, as Redis does


def test_pidfile_present_while_running_and_gone_after_shutdown(make_node,
                                                               tmp_path: Path) -> None:
    pidfile = tmp_path / "rcache.pid"
    node = make_node("--pidfile", str(pidfile))
    assert pidfile.read_text() == f"{node.proc.pid}\n"
    node.client().shutdown()  # (redis-py takes the closed connection for the answer)
    node.proc.wait(30)
    assert node.proc.returncode == 0
    assert not pidfile.exists()


def test_logfile_receives_the_log(make_node, tmp_path: Path) -> None:
    logfile = tmp_path / "rcache.log"
    node = make_node("--logfile", str(logfile))
    wait_for(lambda: "NOTICE rcache: rcache " in logfile.read_text(), 30, "the start-up line")
    assert f"listening on 127.0.0.1:{node.port}" in logfile.read_text()
    assert "listening on" not in node.log()  # not on standard output or error any more
    assert node.client().config_get("logfile") == {"logfile": str(logfile)}


def test_syslog_lines_carry_ident_pid_and_facility(tmp_path: Path) -> None:
    """A process logging as a node does (rcache.cli.configure_logging), to a datagram socket
    standing in for /dev/log: Redis's '<ident>[<pid>]: ' and the facility's priority."""
    address = str(tmp_path / "log.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(address)
    listener.settimeout(30)
    script = ("import logging, os, sys\n"
              "from rcache.cli import configure_logging\n"
              "from rcache.config import Config\n"
              "config = Config()\n"
              "for name, value in (('syslog-enabled', 'yes'), ('syslog-ident', 'rc-test'),\n"
              "                    ('syslog-facility', 'local3')):\n"
              "    config.set(name, value)\n"
              "configure_logging(config, sys.argv[1])\n"
              "logging.getLogger('rcache').warning('disk is on fire')\n"
              "print(os.getpid())\n")
    proc = subprocess.run([sys.executable, "-c", script, address], timeout=60,
                          capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    assert "disk is on fire" in proc.stderr  # the standard error log as before
    line = listener.recv(4096).decode()
    listener.close()
    local3, warning = 19, 4
    assert line == f"<{local3 * 8 + warning}>rc-test[{proc.stdout.strip()}]: disk is on fire\x00"


def test_tcp_backlog_is_the_listen_backlog(make_node) -> None:
    if shutil.which("ss") is None:
        pytest.skip("ss (iproute2) is not installed")
    node = make_node("--tcp-backlog", "37")
    shown = subprocess.run(["ss", "-Hltn", f"sport = :{node.port}"], timeout=30,
                           capture_output=True, text=True, check=True).stdout.split()
    assert shown[:3] == ["LISTEN", "0", "37"], shown


def _send_until_closed(port: int, limit_bytes: int) -> bool:
    """A request whose one argument never ends, sent in pieces: -> the server closed the
    connection before 3 times the limit was sent."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"*3\r\n$3\r\nSET\r\n$4\r\nqbuf\r\n$%d\r\n" % (100 * limit_bytes))
        try:
            for _ in range(3 * limit_bytes // 65536):
                sock.sendall(b"x" * 65536)
            sock.shutdown(socket.SHUT_WR)
            return sock.recv(100) == b""
        except (ConnectionResetError, BrokenPipeError):
            return True
        except OSError as err:  # shutdown after the server's reset already tore it down
            if err.errno == errno.ENOTCONN:
                return True
            raise


def test_client_query_buffer_limit_closes_only_that_client(shared_node: Node,
                                                           redis_server: int) -> None:
    limit = 1024 * 1024
    for port in (shared_node.port, redis_server):
        other = redis.Redis(port=port, socket_timeout=10)
        other.config_set("client-query-buffer-limit", "1mb")
        try:
            assert _send_until_closed(port, limit), port
            assert other.ping() and other.set("after", "1")  # the node serves the others
        finally:
            other.config_set("client-query-buffer-limit", "1gb")
            other.close()
    wait_for(lambda: "Closing client that reached max query buffer length: id=" in
             shared_node.log(), 30, "the log line")
    assert '(qbuf initial bytes: "$104857600\\r\\nxxx' in shared_node.log()


def test_oom_score_adj_follows_the_values(make_node) -> None:
    node = make_node("--oom-score-adj", "absolute", "--oom-score-adj-values", "150 300 800")
    client = node.client()
    wait_for(lambda: client.execute_command("ROLE")[0] == b"master", 30, "leadership")
    score = Path(f"/proc/{node.proc.pid}/oom_score_adj")
    wait_for(lambda: score.read_text() == "150\n", 30, "the leader's score")
    base = int(Path("/proc/self/oom_score_adj").read_text())  # what the node started with
    client.config_set("oom-score-adj-values", "160 300 800")
    assert score.read_text() == "160\n"
    client.config_set("oom-score-adj", "relative")
    assert score.read_text() == f"{min(1000, base + 160)}\n"
    client.config_set("oom-score-adj", "no")
    assert score.read_text() == f"{base}\n"


def test_protected_configs_follow_enable_protected_configs(make_node) -> None:
    client = make_node("--enable-protected-configs", "local").client()
    assert client.config_set("dbfilename", "other.rdb")  # over loopback: a local client
    assert client.config_get("dbfilename") == {"dbfilename": "other.rdb"}
    with pytest.raises(redis.ResponseError, match="can't set immutable config"):
        client.config_set("dir", "/tmp")  # rcache's data directory stays where it is


def _oom_score(node: Node) -> int:
    return int(Path(f"/proc/{node.proc.pid}/oom_score_adj").read_text())


def test_oom_score_adj_follows_the_role(tmp_path: Path) -> None:
    """A leader takes the master's value, a follower the replica's, and a follower elected
    leader changes to the master's."""
    with LocalCluster(tmp_path, 3, "--oom-score-adj", "absolute",
                      "--oom-score-adj-values", "100 300 800") as cluster:
        leader = cluster.leader()
        wait_for(lambda: [_oom_score(n) for n in cluster.nodes] == [
            100 if n is leader else 300 for n in cluster.nodes], 30, "scores by role")
        leader.stop()
        successor = cluster.leader(timeout=60)
        wait_for(lambda: _oom_score(successor) == 100, 30, "the new leader's score")
