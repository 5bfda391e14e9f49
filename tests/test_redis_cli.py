"""redis-cli 7.0's modes beyond one-shot commands, the real binary against a real rcache node
and, where the output does not depend on the server's internals, a real redis-server with the
same data: --stat, --bigkeys, --memkeys, --hotkeys, --scan, --latency, --pipe, --eval, -r/-i,
--raw/--no-raw/--csv (RESP2 and RESP3), ACL users, --ldb, and the replication modes (--rdb,
--functions-rdb, --replica) that rcache leaves out: they must fail at once, not hang.

Each test uses database 9 (`-n 9`), flushed first, so the key-scanning modes see only its keys.
"""

from __future__ import annotations

import os
import pty
import re
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import redis

from tests.conftest import LocalCluster, Node

pytestmark = pytest.mark.skipif(shutil.which("redis-cli") is None,
                                reason="redis-cli not installed")

DB = "9"
CLI_TIMEOUT_S = 30  # a bound on every redis-cli run, never a speed assertion


def cli(port: int, *args: str, stdin: str | bytes | None = None) -> subprocess.CompletedProcess:
    """redis-cli against 127.0.0.1:port, database 9; output as text."""
    data = stdin.encode() if isinstance(stdin, str) else stdin
    done = subprocess.run(["redis-cli", "-p", str(port), "-n", DB, *args], input=data,
                          capture_output=True, timeout=CLI_TIMEOUT_S)
    done.stdout, done.stderr = done.stdout.decode(), done.stderr.decode()
    return done


def fill(port: int) -> redis.Redis:
    """The same small dataset of every type on either server."""
    client = redis.Redis(port=port, db=int(DB))
    client.flushdb()
    for i in range(1, 21):
        client.set(f"s{i}", "x" * i)
    client.rpush("list", "a", "b c", 1)
    client.sadd("set", "a")  # one member: SMEMBERS order is unspecified
    client.hset("hash", mapping={"f": "v", "g": "w"})
    client.zadd("zset", {"a": 1, "b": 2.5})
    client.xadd("stream", {"f": "v"}, id="1-1")
    return client


def summary(output: str) -> list[str]:
    """A --bigkeys/--memkeys report's summary: what does not depend on SCAN's order."""
    return output.split("-------- summary -------", 1)[1].strip().splitlines()


@pytest.fixture
def both(shared_node: Node, redis_server: int) -> dict[str, int]:
    ports = {"rcache": shared_node.port, "redis": redis_server}
    for port in ports.values():
        fill(port)
    yield ports
    for port in ports.values():
        redis.Redis(port=port, db=int(DB)).flushdb()


def test_bigkeys_summary_equals_redis(both) -> None:
    reports = {name: summary(cli(port, "--bigkeys").stdout) for name, port in both.items()}
    assert reports["rcache"] == reports["redis"]
    assert "Biggest string found '\"s20\"' has 20 bytes" in reports["rcache"]
    assert "1 streams with 1 entries (04.00% of keys, avg size 1.00)" in reports["rcache"]


def test_memkeys_sizes_every_type(both) -> None:
    """MEMORY USAGE is Redis's estimate (README): the same sizes as Redis's, streams too."""
    reports = {name: summary(cli(port, "--memkeys").stdout) for name, port in both.items()}
    found = [line for line in reports["rcache"] if line.startswith("Biggest")]
    assert len(found) == 6 and all(" 0 bytes" not in line for line in found), found

    def sizes(report: list[str]) -> list[str]:  # which of equal-sized keys is named: SCAN's order
        return [re.sub(r"'\"[^']*\"' ", "", line) for line in report]

    assert sizes(reports["rcache"]) == sizes(reports["redis"])


def test_scan_pattern_and_eval(both, tmp_path: Path) -> None:
    for name, port in both.items():
        keys = cli(port, "--scan", "--pattern", "s1*").stdout.split()
        assert sorted(keys) == ["s1"] + [f"s{i}" for i in range(10, 20)], name
    script = tmp_path / "set_and_get.lua"
    script.write_text("redis.call('set', KEYS[1], ARGV[1])\n"
                      "return {KEYS[1], ARGV[2], redis.call('get', KEYS[1]), 3, false}\n")
    outputs = {name: cli(port, "--eval", str(script), "ek", ",", "a1", "a2").stdout
               for name, port in both.items()}
    assert outputs["rcache"] == outputs["redis"] == "ek\na2\na1\n3\n\n"


REPLY_TYPES = [
    ["get", "s3"], ["get", "nokey"], ["incr", "counter"], ["ping"], ["lrange", "list", "0", "-1"],
    ["hgetall", "hash"], ["smembers", "set"], ["zrange", "zset", "0", "-1", "withscores"],
    ["zscore", "zset", "b"], ["exists", "s1", "s2"], ["incr", "s3"], ["lpos", "list", "zz"],
    ["xrange", "stream", "-", "+"], ["eval", "return {1,{2,{3}},'a',{err='x y'}}", "0"],
    ["eval", "return redis.status_reply('FINE')", "0"], ["sismember", "set", "a"],
    ["smismember", "set", "a", "z"], ["object", "encoding", "list"], ["zpopmin", "zset"],
]


def test_output_modes_of_every_reply_type_equal_redis(both) -> None:
    """--no-raw, --raw and --csv over RESP2 and RESP3 (-3): the same text as redis-server
    (doubles, maps, sets, nulls, booleans, nested arrays, errors)."""
    for protocol in ([], ["-3"]):
        for mode in ([], ["--no-raw"], ["--raw"], ["--csv"]):
            for argv in REPLY_TYPES:
                seen = {}
                for name, port in both.items():
                    done = cli(port, *protocol, *mode, *argv)
                    seen[name] = (done.stdout, done.stderr, done.returncode)
                assert seen["rcache"] == seen["redis"], (protocol, mode, argv)


def test_pipe_reports_counts_and_every_key_lands(shared_node: Node) -> None:
    """--pipe mass insertion from RESP: its reply and error counts, and the data."""
    def resp(*args: str) -> bytes:
        return b"*%d\r\n" % len(args) + b"".join(
            b"$%d\r\n%s\r\n" % (len(a.encode()), a.encode()) for a in args)

    commands = [resp("SET", f"mass:{i}", f"v{i}") for i in range(3000)]
    commands += [resp("INCR", "mass:0"), *(resp("RPUSH", "mass:list", str(i)) for i in range(50))]
    done = cli(shared_node.port, "--pipe", stdin=b"".join(commands))
    assert "errors: 1, replies: 3051" in done.stdout, done
    assert done.returncode == 1  # as redis-cli exits when a reply was an error
    client = redis.Redis(port=shared_node.port, db=int(DB))
    try:
        assert len(client.keys("mass:*")) == 3001
        assert client.get("mass:2999") == b"v2999" and client.llen("mass:list") == 50
    finally:
        client.flushdb()


def test_repetition_latency_and_stdin_argument(shared_node: Node) -> None:
    client = redis.Redis(port=shared_node.port, db=int(DB))
    client.delete("rep")
    assert cli(shared_node.port, "-r", "3", "-i", "0.01", "incr", "rep").stdout.split() == \
        ["1", "2", "3"]
    assert cli(shared_node.port, "-x", "set", "fromstdin", stdin="piped").stdout == "OK\n"
    assert client.get("fromstdin") == b"piped"
    for mode in ("--raw", "--csv"):  # one line of min, max, avg and the samples taken
        fields = cli(shared_node.port, "--latency", mode, "-i", "0.2").stdout.replace(
            ",", " ").split()
        assert len(fields) == 4 and int(fields[3]) > 0, fields
    client.delete("rep", "fromstdin")


def _first_lines(argv: list[str], count: int, timeout: float = CLI_TIMEOUT_S) -> list[str]:
    """The first `count` lines a looping redis-cli mode prints on a terminal (it writes
    nothing to a pipe until its buffer fills), then stop it."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(argv, stdout=follower, stderr=follower, stdin=subprocess.DEVNULL)
    os.close(follower)
    text = b""
    deadline = time.monotonic() + timeout
    try:
        while text.count(b"\n") < count and time.monotonic() < deadline:
            if select.select([leader], [], [], 0.5)[0]:
                try:
                    text += os.read(leader, 4096)
                except OSError:  # the terminal closed: redis-cli exited
                    break
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        os.close(leader)
    return text.decode().splitlines()


def test_stat_fills_every_column(shared_node: Node) -> None:
    lines = _first_lines(["redis-cli", "-p", str(shared_node.port), "--stat", "-i", "0.1"], 4)
    assert len(lines) >= 4, lines
    assert lines[1].split() == ["keys", "mem", "clients", "blocked", "requests", "connections"]
    keys, mem, clients, blocked, requests, delta, connections = lines[2].split()
    assert int(keys) >= 0 and mem[0].isdigit() and int(clients) >= 1 and int(blocked) == 0
    assert int(requests) > 0 and delta.startswith("(+") and int(connections) >= 1, lines


def test_hotkeys_finds_the_hot_key(shared_node: Node) -> None:
    client = redis.Redis(port=shared_node.port, db=int(DB))
    client.flushdb()
    client.set("cold", "v")
    refused = cli(shared_node.port, "--hotkeys")  # OBJECT FREQ needs an LFU policy, as on Redis
    assert "ERR An LFU maxmemory policy is not selected" in refused.stdout + refused.stderr
    client.config_set("maxmemory-policy", "allkeys-lfu")
    try:
        client.set("hot", "v")
        for _ in range(300):
            client.get("hot")
        report = summary(cli(shared_node.port, "--hotkeys").stdout)
        assert report[1].startswith("hot key found with counter: ") and report[1].endswith(
            'keyname: "hot"'), report
        assert int(report[1].split()[5]) > client.object("freq", "cold")
    finally:
        client.config_set("maxmemory-policy", "noeviction")
        client.flushdb()


def test_acl_user_with_pass_askpass_and_url(shared_node: Node) -> None:
    admin = redis.Redis(port=shared_node.port)
    admin.acl_setuser("cli-user", enabled=True, passwords=["+cli-secret"], keys=["*"],
                      commands=["+@all"])
    try:
        port = shared_node.port
        assert cli(port, "--user", "cli-user", "--pass", "cli-secret", "--no-auth-warning",
                   "acl", "whoami").stdout == "cli-user\n"
        assert cli(port, "--user", "cli-user", "--askpass", "acl", "whoami",
                   stdin="cli-secret\n").stdout == "cli-user\n"
        wrong = cli(port, "--user", "cli-user", "--pass", "nope", "--no-auth-warning", "ping")
        assert "AUTH failed: WRONGPASS invalid username-password pair" in wrong.stderr
        url = f"redis://cli-user:cli-secret@127.0.0.1:{port}"
        done = subprocess.run(["redis-cli", "-u", url, "--no-auth-warning", "acl", "whoami"],
                              capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
        assert done.stdout == "cli-user\n"
    finally:
        admin.acl_deluser("cli-user")


def test_ldb_runs_no_script_for_real(shared_node: Node, tmp_path: Path) -> None:
    """`redis-cli --ldb` ignores SCRIPT DEBUG's refusal and sends the EVAL: a debugging
    session on Redis (YES) rolls its writes back, so here the script must not run at all."""
    client = redis.Redis(port=shared_node.port, db=int(DB))
    client.delete("ldb-key")
    script = tmp_path / "set.lua"
    script.write_text("return redis.call('set', KEYS[1], ARGV[1])\n")
    done = cli(shared_node.port, "--ldb", "--eval", str(script), "ldb-key", ",", "v",
               stdin="quit\n")
    assert "SCRIPT DEBUG is not supported by rcache" in done.stdout, done
    assert client.exists("ldb-key") == 0
    one = redis.Redis(port=shared_node.port, single_connection_client=True)
    with pytest.raises(redis.ResponseError, match="SCRIPT DEBUG is not supported"):
        one.execute_command("SCRIPT", "DEBUG", "YES")
    with pytest.raises(redis.ResponseError, match="so its scripts do not run"):
        one.eval("return 1", 0)
    assert one.execute_command("SCRIPT", "DEBUG", "NO") == b"OK"
    assert one.eval("return 1", 0) == 1


@pytest.mark.parametrize("mode", [["--rdb", "dump.rdb"], ["--functions-rdb", "functions.rdb"],
                                  ["--replica"]])
def test_replication_modes_fail_at_once(shared_node: Node, tmp_path: Path, mode) -> None:
    """SYNC and REPLCONF are left out (README): redis-cli says so and exits; the node serves on."""
    argv = [tmp_path / arg if arg.endswith(".rdb") else arg for arg in mode]
    done = cli(shared_node.port, *map(str, argv))
    assert done.returncode == 1
    assert "ERR unknown command 'REPLCONF'" in done.stdout + done.stderr, done
    assert redis.Redis(port=shared_node.port).ping()


def test_cluster_check_info_and_moved(cluster: LocalCluster) -> None:
    follower = cluster.followers()[0]
    address = f"127.0.0.1:{follower.port}"
    check = subprocess.run(["redis-cli", "--cluster", "check", address], capture_output=True,
                           text=True, timeout=CLI_TIMEOUT_S)
    assert check.returncode == 0, check
    assert "[OK] All 16384 slots covered." in check.stdout
    assert check.stdout.count("slots: (0 slots) slave") == 2
    moved = subprocess.run(["redis-cli", "-c", "-p", str(follower.port), "set", "cli-k", "v"],
                           capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
    assert moved.stdout == "OK\n"
    info = subprocess.run(["redis-cli", "--cluster", "info", address], capture_output=True,
                          text=True, timeout=CLI_TIMEOUT_S)
    leader = cluster.leader()
    assert f"127.0.0.1:{leader.port} (" in info.stdout
    assert "-> 1 keys | 16384 slots | 2 slaves." in info.stdout, info
