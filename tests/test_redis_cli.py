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
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis

from rcache.resp import encode_command
from tests.conftest import LocalCluster, Node, wait_for

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


LDB_SCRIPT = """local a = 1
local t = {1, 2, "x\\n", k = {true}}
redis.call('set', KEYS[1], ARGV[1])
redis.debug(a, t, "hi")
local function f(x)
  local y = x * 2
  return y
end
redis.breakpoint()
local r = f(a) + #redis.call('get', KEYS[1])
redis.call('rpush', 'ldb-list', string.rep('z', 300), 'b')
return {r, redis.call('get', KEYS[1])}
"""


def test_ldb_session_equals_redis_and_rolls_back(both, tmp_path: Path) -> None:
    """`redis-cli --ldb` driven through its stdin: the same transcript as redis-server's
    (steps, locals, breakpoints, redis.debug/breakpoint, trace, eval, redis, maxlen, the
    final reply), and the script's writes are rolled back on both."""
    script = tmp_path / "debugged.lua"
    script.write_text(LDB_SCRIPT)
    commands = ["help", "s", "p", "p t", "p KEYS", "b 6", "b", "c", "p", "t", "b -6", "b 0",
                "e a + 1", "e redis.call('get', KEYS[1])", "r get ldb-key", "r incr ldb-key",
                "l 11 1", "w", "m 70", "b 12", "s", "s", "s", "s", "r lrange ldb-list 0 -1",
                "c"]
    outputs = {}
    for name, port in both.items():
        done = subprocess.run(
            ["redis-cli", "-p", str(port), "-n", DB, "--ldb", "--eval", str(script), "ldb-key",
             ",", "v"], input="\n".join(commands) + "\n", capture_output=True, text=True,
            timeout=CLI_TIMEOUT_S, env={**os.environ, "TERM": "dumb"})
        outputs[name] = re.sub(r"function@0x[0-9a-f]+", "function@ADDRESS", done.stdout)
        assert redis.Redis(port=port, db=int(DB)).exists("ldb-key", "ldb-list") == 0, name
    assert outputs["rcache"] == outputs["redis"]
    shown = outputs["rcache"]
    assert "* Stopped at 12, stop reason = break point\n->#12  return" in shown
    assert '<debug> line 4: 1, {[1]=1; [2]=2; [3]="x\\n"; ["k"]={true}}, "hi"' in shown
    assert '<reply> ["' + "z" * 60 + " ...\n" in shown  # cut at maxlen 70
    assert shown.endswith('1) (integer) 3\n2) "v"\n\n'
                          "(Lua debugging session ended -- dataset changes rolled back)\n\n")


class LdbConnection:
    """A raw connection that speaks the debugger's protocol: each command's answer as the
    bytes the server sent (an array of status lines; at the end the EVAL's reply too)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=CLI_TIMEOUT_S)
        self.buffer = b""

    def send(self, *args: str | bytes) -> None:
        self.sock.sendall(encode_command([a.encode() if type(a) is str else a for a in args]))

    def ask(self, *args: str | bytes, replies: int = 1) -> bytes:
        self.send(*args)
        return b"".join(self.reply() for _ in range(replies))

    def reply(self) -> bytes:
        line = self._line()
        if line[:1] == b"$" and int(line[1:-2]) >= 0:
            return line + self._exactly(int(line[1:-2]) + 2)
        if line[:1] == b"*":
            return line + b"".join(self.reply() for _ in range(max(int(line[1:-2]), 0)))
        return line

    def closed_by_server(self) -> bool:
        return self.buffer == b"" and self.sock.recv(1) == b""

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            self._receive()
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line + b"\r\n"

    def _exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self._receive()
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def _receive(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError(f"closed by the server, {self.buffer!r} unread")
        self.buffer += data

    def close(self) -> None:
        self.sock.close()


def _debug(port: int, script: str, *args: str, replies: int = 1) -> tuple[LdbConnection, bytes]:
    """A debugging session started on `script`: the connection and what EVAL answered (2
    replies: one that ends at once, with the EVAL's reply)."""
    session = LdbConnection(port)
    assert session.ask("SELECT", DB) + session.ask("SCRIPT", "DEBUG", "YES") == b"+OK\r\n" * 2
    return session, session.ask("EVAL", script, *args, replies=replies)


RAW_SESSIONS = [  # (script, EVAL's arguments, debugger commands; the last one ends it)
    (LDB_SCRIPT, ["1", "ldb-key", "v"],
     [["p", "nope"], ["l"], ["l", "100"], ["l", "0", "2"], ["b", "99"], ["b", "x", "3"],
      ["b", "3"], ["b", "-4"], ["r"], ["r", "nosuch"], ["r", "set", "ldb-key"],
      ["r", "lrange", "nolist", "0", "-1"], ["r", "hset", "ldb-hash", "f", "1"],
      ["r", "hgetall", "ldb-hash"], ["e", "{1, {2, {3}}, 1.5, 1e20, 'a\\0b\\255'}"],
      ["e", "x = 5"], ["e", "error('boom')"], ["e", ")"], ["e", "local z = 1"],
      ["m"], ["m", "10"], ["m", "0"], ["zz"], ["n"], ["c"], ["a"]]),
    ("local x = 1\nerror('oops')", ["0"], [["c"]]),
    ("local x = 1\nreturn redis.call('set', KEYS[1], 1)", ["1", "ldb-key"], [["s"], ["s"]]),
    ("local t = {}\nt[1] = t\nreturn 1", ["0"], [["s"], ["s"], ["p"], ["c"]]),
    ("local f = coroutine.wrap(function(a)\n  local inner = a + 1\n  return inner\nend)\n"
     "return f(1)", ["0"], [["s"], ["s"], ["s"], ["s"], ["p"], ["t"], ["p", "a"], ["c"]]),
    ("redis.setresp(3)\nreturn 1", ["1", "ldb-hash"],  # replies logged as RESP3 shows them
     [["s"], ["r", "hset", "ldb-hash", "f", "1.5"], ["r", "hgetall", "ldb-hash"],
      ["r", "sadd", "ldb-set", "a"], ["r", "smembers", "ldb-set"], ["r", "get", "nokey"],
      ["r", "zadd", "ldb-zset", "1.5", "m"], ["r", "zscore", "ldb-zset", "m"],
      ["r", "set", "ldb-key", "a b\x01"], ["r", "get", "ldb-key"], ["r", "echo", 'a"b\\'],
      ["r", "ping"], ["c"]]),
    ("return 1 +", ["0"], []),  # a compile error: <endsession> at once
    ("return 1", ["2", "k"], []),
]


@pytest.mark.parametrize("script,args,commands", RAW_SESSIONS)
def test_ldb_protocol_bytes_equal_redis(both, script: str, args: list[str],
                                        commands: list[list[str]]) -> None:
    """The debugger's replies byte for byte, against redis-server's, to the end of the session
    (the EVAL's reply, then the server closes the connection)."""
    transcripts = {}
    for name, port in both.items():
        session, started = _debug(port, script, *args, replies=1 if commands else 2)
        try:
            transcript = [started]
            for i, command in enumerate(commands):
                last = i == len(commands) - 1
                transcript.append(session.ask(*command, replies=2 if last else 1))
            assert session.closed_by_server(), name
        finally:
            session.close()
        transcripts[name] = transcript
        assert redis.Redis(port=port, db=int(DB)).exists(
            "ldb-key", "ldb-hash", "ldb-set", "ldb-zset") == 0
    assert transcripts["rcache"] == transcripts["redis"]
    assert transcripts["rcache"][-1].startswith(b"*")


def test_ldb_protocol_error_ends_the_script_as_redis(both) -> None:
    """What is not a RESP array (an inline command) ends the script with Redis's error."""
    for name, port in both.items():
        session, _ = _debug(port, "local x = 1\nreturn x", "0")
        try:
            session.sock.sendall(b"step\r\n")
            assert session.reply() + session.reply() == (
                b"*1\r\n+<endsession>\r\n-ERR protocol error script: "
                b"81d3cc25cd49aae96a424764ed1ee8c44c88ce76, on @user_script:1.\r\n"), name
            assert session.closed_by_server(), name
        finally:
            session.close()


def test_ldb_evalsha_and_eval_ro_as_redis(both) -> None:
    for name, port in both.items():
        one = redis.Redis(port=port, single_connection_client=True)
        assert one.execute_command("SCRIPT", "DEBUG", "YES") == b"OK"
        with pytest.raises(redis.ResponseError, match="^No matching script"):
            one.execute_command("EVALSHA", "abc", 0)
        with pytest.raises(redis.ResponseError,
                           match="^Please use EVAL instead of EVALSHA for debugging"):
            one.execute_command("EVALSHA", "a" * 40, 0)
        one.close()
        session, started = _debug(port, "local x = 1\nreturn redis.call('set', KEYS[1], 1)",
                                  "1", "ldb-key")
        session.close()
        assert started.startswith(b"*2\r\n+* Stopped at 1"), name


def test_ldb_session_serves_others_and_never_writes(shared_node: Node) -> None:
    """While a session waits for its user, other clients are served and do not see its
    writes; the session sees them; at its end the store is as it was."""
    client = redis.Redis(port=shared_node.port, db=int(DB))
    client.flushdb()
    client.set("ldb-shared", "before")
    session, started = _debug(shared_node.port, "redis.call('set', KEYS[1], 'inside')\n"
                              "redis.call('del', 'ldb-gone')\nreturn 1", "1", "ldb-shared")
    try:
        assert b"Stopped at 1" in started
        client.set("ldb-gone", "here")
        assert session.ask("s").startswith(b"*4\r\n+<redis> set ldb-shared inside\r\n")
        assert session.ask("r", "get", "ldb-shared") == \
            b'*2\r\n+<redis> get ldb-shared\r\n+<reply> "inside"\r\n'
        assert client.get("ldb-shared") == b"before"  # served while the session waits
        client.incr("ldb-counter")
        assert session.ask("s").startswith(b"*4\r\n+<redis> del ldb-gone\r\n+<reply> 1\r\n")
        assert client.get("ldb-gone") == b"here"
        assert session.ask("c", replies=2).endswith(b"+<endsession>\r\n:1\r\n")
        assert session.closed_by_server()
    finally:
        session.close()
    assert client.mget("ldb-shared", "ldb-gone", "ldb-counter") == [b"before", b"here", b"1"]
    client.flushdb()


def test_ldb_sync_mode_is_refused_and_runs_nothing(shared_node: Node, tmp_path: Path) -> None:
    """SCRIPT DEBUG SYNC would keep the writes (README): refused, and `redis-cli
    --ldb-sync-mode`, which ignores the refusal, gets its EVAL refused rather than run."""
    client = redis.Redis(port=shared_node.port, db=int(DB))
    client.delete("ldb-key")
    script = tmp_path / "set.lua"
    script.write_text("return redis.call('set', KEYS[1], ARGV[1])\n")
    done = cli(shared_node.port, "--ldb-sync-mode", "--eval", str(script), "ldb-key", ",", "v",
               stdin="quit\n")
    assert "SCRIPT DEBUG SYNC is not supported by rcache" in done.stdout, done
    assert client.exists("ldb-key") == 0
    one = redis.Redis(port=shared_node.port, single_connection_client=True)
    with pytest.raises(redis.ResponseError, match="a synchronous session keeps the script"):
        one.execute_command("SCRIPT", "DEBUG", "SYNC")
    with pytest.raises(redis.ResponseError, match="so its scripts do not run"):
        one.eval("return 1", 0)
    assert one.execute_command("SCRIPT", "DEBUG", "NO") == b"OK"
    assert one.eval("return 1", 0) == 1


def test_ldb_abandoned_sessions_end(make_node) -> None:
    """A session whose client goes away ends: one waiting at a stop runs to its end; one in
    an endless loop is cut at its timeout (the instruction budget since the last stop)."""
    node = make_node("--lua-instruction-budget", "300000")
    waiting, _ = _debug(node.port, "local x = 1\nreturn x", "0")
    waiting.close()
    wait_for(lambda: node.log().count("Lua debugging session ended") == 1, 30,
             "the abandoned session to end")
    looping, _ = _debug(node.port, "local i = 0\nwhile true do i = i + 1 end", "0")
    looping.send("c")
    looping.close()
    wait_for(lambda: node.log().count("Lua debugging session ended") == 2, 60,
             "the abandoned endless script to be cut")
    stopping, _ = _debug(node.port, "while true do redis.breakpoint() end", "0")
    stopping.send("c")  # each stop finds nobody: the timeout still comes
    stopping.close()
    wait_for(lambda: node.log().count("Lua debugging session ended") == 3, 60,
             "the abandoned script that keeps stopping to be cut")
    kept = _debug(node.port, "local i = 0\nwhile true do i = i + 1 end", "0")[0]
    try:  # while its client is there, a timeout stops the script instead
        assert kept.ask("c") == (b"*2\r\n+* Stopped at 2, stop reason = timeout reached, "
                                 b"infinite loop?\r\n+-> 2   while true do i = i + 1 end\r\n")
        assert kept.ask("e", "while true do end") == (  # an eval fragment has the budget too
            b"*1\r\n+<error> ERR Script exceeded the instruction budget of 300000 "
            b"(lua-instruction-budget)\r\n")
        assert b"-ERR script aborted for user request" in kept.ask("a", replies=2)
    finally:
        kept.close()
    assert node.client().ping()


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


def test_ldb_refuses_multi_and_pipelines(shared_node: Node) -> None:
    """A debugging session takes the connection over: SCRIPT DEBUG in a pipeline (as Redis)
    and a debugged EVAL inside MULTI or behind replies not yet sent are refused."""
    session = LdbConnection(shared_node.port)
    try:
        session.sock.sendall(encode_command([b"PING"]) +
                             encode_command([b"SCRIPT", b"DEBUG", b"YES"]))
        assert session.reply() + session.reply() == (
            b"+PONG\r\n-ERR SCRIPT DEBUG must be called outside a pipeline\r\n")
        assert session.ask("SCRIPT", "DEBUG", "YES") + session.ask("MULTI") == b"+OK\r\n" * 2
        assert session.ask("EVAL", "return 1", "0") == \
            b"-ERR a debugging session cannot run inside MULTI\r\n"
        assert session.ask("EXEC").startswith(b"-EXECABORT")
        session.sock.sendall(encode_command([b"SET", b"ldb-pipelined", b"1"]) +
                             encode_command([b"EVAL", b"return 1", b"0"]))
        assert session.reply() + session.reply() == (
            b"+OK\r\n-ERR SCRIPT DEBUG must be called outside a pipeline\r\n")
    finally:
        session.close()
    redis.Redis(port=shared_node.port).delete("ldb-pipelined")
