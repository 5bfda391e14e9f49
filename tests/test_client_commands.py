"""MONITOR, CLIENT REPLY/PAUSE/UNPAUSE/NO-EVICT/UNBLOCK against real processes: the same
conversations with redis-server and rcache, byte for byte (where times, ports and ids are
masked); redis-cli's monitor; a write held by CLIENT PAUSE WRITE while reads go on; a BLPOP
ended by CLIENT UNBLOCK."""

from __future__ import annotations

import hashlib
import re
import socket
import subprocess
import threading

import pytest
import redis

from rcache.resp import encode_command

from .conftest import LocalCluster, Node, wait_for
from .test_pubsub import Connection

END = ("ECHO", "end-of-conversation")
END_REPLY = b"$19\r\nend-of-conversation\r\n"

# Replies to these are compared; CLIENT REPLY OFF/SKIP leave some out, so each conversation is
# read up to its END marker.
REPLY_MODES = [
    ("CLIENT", "REPLY", "OFF"), ("SET", "a", "1"), ("GET", "a"), ("NOSUCH",),
    ("CLIENT", "REPLY", "SKIP"), ("CLIENT", "REPLY", "FOO"), ("CLIENT", "REPLY", "ON"),
    ("GET", "a"), ("CLIENT", "REPLY", "SKIP"), ("SET", "b", "2"), ("GET", "b"),
    ("CLIENT", "REPLY", "SKIP"), ("CLIENT", "REPLY", "SKIP"), ("GET", "a"), ("GET", "b"),
    ("CLIENT", "REPLY", "SKIP"), ("CLIENT", "REPLY", "ON"), ("CLIENT", "REPLY"),
    ("CLIENT", "REPLY", "SKIP"), ("INCR", "a"), ("GET", "a"), ("CLIENT", "REPLY", "OFF"),
    ("INCR", "a"), ("CLIENT", "REPLY", "ON"), ("GET", "a"),
    ("CLIENT", "NO-EVICT", "ON"), ("CLIENT", "NO-EVICT", "x"), ("CLIENT", "NO-EVICT"),
    ("CLIENT", "NO-EVICT", "OFF"), ("CLIENT", "UNBLOCK", "99999"), ("CLIENT", "UNBLOCK", "x"),
    ("CLIENT", "UNBLOCK", "1", "x"), ("CLIENT", "UNBLOCK", "1", "TIMEOUT", "x"),
    ("CLIENT", "UNBLOCK", "99999", "ERROR"), ("CLIENT", "PAUSE", "x"),
    ("CLIENT", "PAUSE", "-1"), ("CLIENT", "PAUSE", "1", "nope"),
    ("CLIENT", "PAUSE", "1", "WRITE", "x"), ("CLIENT", "PAUSE"), ("CLIENT", "PAUSE", "0", "write"),
    ("CLIENT", "UNPAUSE"), ("CLIENT", "UNPAUSE", "x"), ("MONITOR", "x"), ("MULTI",), ("MONITOR",),
    ("EXEC",), ("DEL", "a", "b"),
]


def _replies(port: int, commands: list[tuple[str, ...]], resp3: bool) -> list[bytes]:
    conn = Connection(port)
    try:
        if resp3:
            conn.send("HELLO", "3")
            conn.read(1)
        conn.send("DEL", "a", "b")
        conn.read(1)
        for argv in commands:
            conn.send(*argv)
        conn.send(*END)
        seen = []
        while (reply := conn.read(1)) != END_REPLY:
            seen.append(reply)
        return seen
    finally:
        conn.close()


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_reply_modes_and_errors_match_redis(shared_node: Node, redis_server: int,
                                            resp3: bool) -> None:
    ours = _replies(shared_node.port, REPLY_MODES, resp3)
    theirs = _replies(redis_server, REPLY_MODES, resp3)
    assert ours == theirs
    assert len(theirs) > 20  # the conversation did run


def test_no_evict_shows_in_client_info(shared_node: Node) -> None:
    client = shared_node.client()
    assert client.execute_command("CLIENT", "NO-EVICT", "ON") == b"OK"
    assert " flags=e " in client.execute_command("CLIENT", "INFO").decode()
    client.execute_command("CLIENT", "NO-EVICT", "OFF")
    assert " flags=N " in client.execute_command("CLIENT", "INFO").decode()


# What a monitor sees of another client's commands, times and addresses masked: secrets
# redacted, admin and refused commands hidden, a transaction's commands before EXEC.
MONITORED = [
    ("SET", "a", "1"), ("SET", "a", "1", "FOO"), ("GET", 'a\x01"b\\ c\n\t\xff'),
    ("AUTH", "nobody", "secret"),
    ("AUTH", "secret"), ("HELLO", "3", "AUTH", "default", "secret"), ("HELLO", "2"),
    ("CONFIG", "GET", "maxmemory"), ("NOSUCH", "a"), ("GET",), ("LPUSH", "l", "x"),
    ("MULTI",), ("SET", "k", "v"), ("GET", "k"), ("CLIENT", "ID"), ("EXEC",),
    ("CLIENT", "PAUSE", "0"), ("PING",), ("PUBLISH", "c", "m"), ("SELECT", "0"),
    ("DEL", "a", "l", "k"), END,
]
_MASK = re.compile(rb"^\+\d+\.\d{6} \[(\d+) ([0-9.]+:\d+|lua)\] ")


def _masked(line: re.Match) -> bytes:
    """A line's time (and client address) masked; a script's commands keep their "lua"."""
    addr = b"lua" if line[2] == b"lua" else b"ADDR"
    return b"+T [%s %s] " % (line[1], addr)


def _monitored(port: int, commands: list[tuple[str, ...]] = MONITORED,
               resp3: bool = False) -> list[bytes]:
    monitor, client = Connection(port), Connection(port)
    try:
        if resp3:
            monitor.send("HELLO", "3")
            monitor.read(1)
        monitor.send("MONITOR")
        assert monitor.read(1) == b"+OK\r\n"
        for argv in commands:
            client.sock.sendall(encode_command([a.encode("latin-1") for a in argv]))
            client.read(1)
        lines = []
        while not (line := monitor.read(1)).endswith(b'"end-of-conversation"\r\n'):
            assert _MASK.match(line), line
            lines.append(_MASK.sub(_masked, line))
        return lines
    finally:
        monitor.close()
        client.close()


def test_monitor_lines_match_redis(shared_node: Node, redis_server: int) -> None:
    ours, theirs = _monitored(shared_node.port), _monitored(redis_server)
    assert ours == theirs
    assert b'+T [0 ADDR] "AUTH" "(redacted)" "(redacted)"\r\n' in theirs


_LIBRARY = """#!lua name=mon_lua
redis.register_function('mon_lua_f', function(keys, args)
  redis.call('set', keys[1], args[1])
  return redis.call('get', keys[1])
end)
redis.register_function{function_name='mon_lua_g', flags={'no-writes'},
  callback=function(keys) return redis.call('get', keys[1]) end}
"""
_GET_K = "return redis.call('get', 'mon-lua-k')"
# Scripts whose commands a monitor sees as "[<db> lua]" lines after the script's own line:
# those that fail on their data too (a syntax error, an INCR of a string, a bad SELECT), not
# those a script may not run; the db after a SELECT inside; a transaction's before its EXEC,
# each script's right after its own line.
SCRIPTS = [
    ("SET", "mon-lua-str", "abc"),
    ("EVAL", "redis.call('set', KEYS[1], ARGV[1]); return redis.call('get', KEYS[1])", "1",
     "mon-lua-k", 'v\n\x01"\xff\\'),
    ("EVAL", "return redis.pcall('incr', KEYS[1])", "1", "mon-lua-str"),
    ("EVAL", "redis.call('set', 'mon-lua-a', 1); return redis.call('incr', 'mon-lua-str')", "0"),
    ("EVAL", "return redis.pcall('nosuch', 'a')", "0"),
    ("EVAL", "return redis.pcall('get')", "0"),
    ("EVAL", "return {redis.pcall('config', 'get', 'maxmemory'), redis.pcall('auth', 's')}",
     "0"),
    ("EVAL", "return redis.pcall('set', 'mon-lua-a', 1, 2)", "0"),
    ("EVAL", "redis.call('select', 3); redis.call('set', 'mon-lua-x', 1); redis.call('ping'); "
     "redis.call('echo', 'e'); redis.call('del', 'mon-lua-x'); "
     "return redis.pcall('select', 100)", "0"),
    ("EVAL", "return redis.call('publish', 'mon-lua-ch', 'm')", "0"),
    ("EVAL_RO", "return redis.call('get', KEYS[1])", "1", "mon-lua-k"),
    ("EVAL_RO", "return redis.pcall('set', 'mon-lua-a', 'x')", "0"),
    ("EVAL", "#!lua flags=no-writes\n" + _GET_K, "0"),
    ("SCRIPT", "LOAD", _GET_K), ("EVALSHA", hashlib.sha1(_GET_K.encode()).hexdigest(), "0"),
    ("EVALSHA_RO", hashlib.sha1(_GET_K.encode()).hexdigest(), "0"),
    ("FUNCTION", "LOAD", "REPLACE", _LIBRARY),
    ("FCALL", "mon_lua_f", "1", "mon-lua-f", "fv"), ("FCALL_RO", "mon_lua_g", "1", "mon-lua-f"),
    ("MULTI",), ("SET", "mon-lua-m", "1"), ("EVAL", "return redis.call('get', 'mon-lua-m')", "0"),
    ("INCR", "mon-lua-n"), ("EXEC",), ("MULTI",),
    ("EVAL_RO", "return redis.call('strlen', 'mon-lua-m')", "0"), ("EXEC",),
    ("SELECT", "5"), ("EVAL", "return redis.call('set', 'mon-lua-y', 1)", "0"),
    ("DEL", "mon-lua-y"), ("SELECT", "0"), ("FUNCTION", "DELETE", "mon_lua"),
    ("DEL", "mon-lua-str", "mon-lua-k", "mon-lua-a", "mon-lua-f", "mon-lua-m", "mon-lua-n"),
    END,
]


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_monitor_shows_the_commands_scripts_run_as_redis(shared_node: Node, redis_server: int,
                                                         resp3: bool) -> None:
    ours = _monitored(shared_node.port, SCRIPTS, resp3)
    theirs = _monitored(redis_server, SCRIPTS, resp3)
    assert ours == theirs
    assert b'+T [3 lua] "select" "100"\r\n' in theirs
    assert theirs.count(b'+T [0 lua] "get" "mon-lua-k"\r\n') == 5


_INCR_N = "return redis.call('incr', KEYS[1])"
# Pipelines: commands sent behind a script (a write, a read) and a transaction whose scripts
# are followed by writes and connection commands (PING, SELECT, ECHO) inside it. Each script's
# lines come right after its own line, as Redis runs them, though rcache runs the script when
# its Raft entry is applied.
PIPELINES = [
    [("EVAL", "redis.call('set', KEYS[1], 'p'); return redis.call('get', KEYS[1])", "1",
      "mon-pipe-a"), ("SET", "mon-pipe-b", "1"), ("GET", "mon-pipe-b"),
     ("EVAL", _INCR_N, "1", "mon-pipe-n"), ("INCR", "mon-pipe-n"), ("PING",)],
    [("MULTI",), ("SET", "mon-pipe-m", "1"), ("EVAL", _INCR_N, "1", "mon-pipe-n"), ("PING",),
     ("INCR", "mon-pipe-n"), ("SELECT", "2"), ("EVAL", "return redis.call('set', 'mon-pipe-s', 1)",
                                               "0"),
     ("ECHO", "e"), ("SELECT", "0"), ("GET", "mon-pipe-m"), ("EXEC",)],
    [("MULTI",), ("PING",), ("EXEC",), ("DEL", "mon-pipe-a", "mon-pipe-b", "mon-pipe-n",
                                        "mon-pipe-m"), ("SELECT", "2"), ("DEL", "mon-pipe-s"),
     ("SELECT", "0"), END],
]


def _monitored_pipelines(port: int) -> list[bytes]:
    monitor, client = Connection(port), Connection(port)
    try:
        monitor.send("MONITOR")
        assert monitor.read(1) == b"+OK\r\n"
        for pipeline in PIPELINES:
            client.sock.sendall(b"".join(encode_command([a.encode() for a in argv])
                                         for argv in pipeline))
            client.read(len(pipeline))
        return _lines_until(monitor, b'"end-of-conversation"')
    finally:
        monitor.close()
        client.close()


def test_monitor_shows_pipelined_scripts_lines_in_redis_order(
        shared_node: Node, redis_server: int) -> None:
    ours, theirs = _monitored_pipelines(shared_node.port), _monitored_pipelines(redis_server)
    assert ours == theirs
    assert theirs[1:4] == [b'+T [0 lua] "set" "mon-pipe-a" "p"\r\n',
                           b'+T [0 lua] "get" "mon-pipe-a"\r\n',
                           b'+T [0 ADDR] "SET" "mon-pipe-b" "1"\r\n']


def test_another_clients_write_does_not_come_between_a_script_and_its_commands(
        steady_cluster: LocalCluster) -> None:
    """A client's write sent while a script's entry is on its way through the log (on the
    leader of three, a slow script) shows before the script's line or after its commands'."""
    leader = steady_cluster.leader()
    monitor, scripted, other = (Connection(leader.port) for _ in range(3))
    slow = ("for i = 1, 2000000 do end; redis.call('set', KEYS[1], 'x'); "
            "return redis.call('get', KEYS[1])")
    try:
        monitor.send("MONITOR")
        assert monitor.read(1) == b"+OK\r\n"
        for round_ in range(3):
            scripted.send("EVAL", slow, "1", f"mon-slow-{round_}")
            other.send("SET", f"mon-other-{round_}", "1")
            assert scripted.read(1) == b"$1\r\nx\r\n" and other.read(1) == b"+OK\r\n"
        scripted.send(*END)
        scripted.read(1)
        lines = _lines_until(monitor, b'"end-of-conversation"')
        for round_ in range(3):
            script = next(i for i, line in enumerate(lines) if b"mon-slow-%d" % round_ in line)
            assert lines[script + 1:script + 3] == [
                b'+T [0 lua] "set" "mon-slow-%d" "x"\r\n' % round_,
                b'+T [0 lua] "get" "mon-slow-%d"\r\n' % round_], lines
    finally:
        for conn in (monitor, scripted, other):
            conn.close()


def _lines_until(monitor: Connection, last: bytes) -> list[bytes]:
    """A monitor's lines, times and addresses masked, up to the one ending with ``last``."""
    lines = []
    while not lines or not lines[-1].endswith(last + b"\r\n"):
        line = monitor.read(1)
        assert _MASK.match(line), line
        lines.append(_MASK.sub(_masked, line))
    return lines


def test_a_followers_monitor_shows_nothing_of_a_script_the_leader_ran(
        steady_cluster: LocalCluster) -> None:
    """Every node runs the script as it applies the entry; only the node whose client sent
    it shows its commands, as only that node shows a write."""
    monitors = {}
    for node in steady_cluster.nodes:
        monitors[node.name] = Connection(node.port)
        monitors[node.name].send("MONITOR")
        assert monitors[node.name].read(1) == b"+OK\r\n"
    script = "redis.call('set', KEYS[1], ARGV[1]); return redis.call('get', KEYS[1])"
    ran_on: list[Node] = []

    def run_script() -> bool:
        leader = steady_cluster.leader()
        try:
            assert leader.client().eval(script, 1, "lua-key", "v") == b"v"
        except redis.exceptions.MovedError:
            return False
        ran_on.append(leader)
        return True

    wait_for(run_script, 30, "the script to run on the leader")
    leader = ran_on[0]
    assert _lines_until(monitors[leader.name], b'"get" "lua-key"')[-3:] == [
        b'+T [0 ADDR] "EVAL" "%s" "1" "lua-key" "v"\r\n' % script.encode(),
        b'+T [0 lua] "set" "lua-key" "v"\r\n', b'+T [0 lua] "get" "lua-key"\r\n']
    steady_cluster.on_leader("SET", "lua-later", "1")  # applied after the script's entry
    for follower in (node for node in steady_cluster.nodes if node is not leader):
        reader = follower.client(single_connection_client=True)
        reader.execute_command("READONLY")
        wait_for(lambda reader=reader: reader.get("lua-later") == b"1", 30,
                 "the follower to apply")
        marker = "return redis.call('strlen', KEYS[1])"
        assert reader.execute_command("EVAL_RO", marker, 1, "lua-key") == 1
        seen = _lines_until(monitors[follower.name], b'"strlen" "lua-key"')
        assert seen[-2:] == [b'+T [0 ADDR] "EVAL_RO" "%s" "1" "lua-key"\r\n' % marker.encode(),
                             b'+T [0 lua] "strlen" "lua-key"\r\n']
        assert not any(b" lua] " in line for line in seen[:-1]), seen
        assert not any(b"EVAL" in line for line in seen[:-2]), seen
    for monitor in monitors.values():
        monitor.close()


def test_redis_cli_monitor(shared_node: Node) -> None:
    """redis-cli's own monitor mode prints what the node's clients run."""
    cli = subprocess.Popen(["redis-cli", "-p", str(shared_node.port), "monitor"],
                           stdout=subprocess.PIPE, text=True)
    try:
        assert cli.stdout.readline().strip() == "OK"
        seen: list[str] = []
        reader = threading.Thread(target=lambda: seen.extend(iter(cli.stdout.readline, "")),
                                  daemon=True)
        reader.start()
        client = shared_node.client()
        client.set("watched-key", "v1")
        client.get("watched-key")
        wait_for(lambda: any('"GET" "watched-key"' in line for line in seen), 10,
                 "redis-cli to print the GET")
        assert any('"SET" "watched-key" "v1"' in line for line in seen)
        client.delete("watched-key")
    finally:
        cli.terminate()
        cli.wait(timeout=10)


def test_redis_py_monitor(shared_node: Node) -> None:
    client = shared_node.client()
    with client.monitor() as monitor:
        client.set("py-monitored", "x")
        for event in monitor.listen():
            if event["command"] == "SET py-monitored x":
                break
        assert event["db"] == 0 and event["client_type"] == "tcp"
    client.delete("py-monitored")


def test_a_monitor_that_does_not_read_is_cut_off(make_node) -> None:
    """A monitor's lines are held under the replica class's output limit, as in Redis."""
    node = make_node("--client-output-buffer-limit", "replica 1mb 0 0")
    silent = socket.create_connection(("127.0.0.1", node.port), timeout=5)
    silent.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    silent.sendall(b"MONITOR\r\n")
    client = node.client()

    def monitors() -> int:
        return sum("O" in entry["flags"] for entry in client.client_list())

    wait_for(lambda: monitors() == 1, 5, "the monitor to register")
    payload = "x" * 65536
    wait_for(lambda: client.echo(payload) and monitors() == 0, 60,
             "the monitor to be disconnected")
    assert client.ping()
    silent.close()


def test_a_script_whose_lines_pass_the_limit_cuts_the_monitors_off(make_node) -> None:
    """A script's lines past the replica class's hard limit would put every monitor over it:
    they are cut off, as Redis does, and the node holds none of those lines meanwhile."""
    node = make_node("--client-output-buffer-limit", "replica 1mb 0 0")
    reading = Connection(node.port)
    reading.send("MONITOR")
    assert reading.read(1) == b"+OK\r\n"
    client = node.client()
    script = "local v = string.rep('x', 100000) for i = 1, 100 do redis.call('set', KEYS[1], v) end"
    assert client.eval(script, 1, "big") is None  # 10 MB of arguments, the limit 1 MB
    wait_for(lambda: not any("O" in entry["flags"] for entry in client.client_list()), 10,
             "the monitor to be disconnected")
    # Closed when the script's lines were noted, not once they were formatted and sent.
    assert "closed for overcoming of output buffer limits (slave class, the commands a " \
        "script ran)" in node.log()
    assert client.ping()
    assert client.strlen("big") == 100000
    reading.sock.close()


def test_pause_write_lets_reads_through_and_holds_writes(shared_node: Node) -> None:
    admin = shared_node.client()
    admin.delete("paused-key")
    assert admin.execute_command("CLIENT", "PAUSE", "60000", "WRITE") == b"OK"
    writer = Connection(shared_node.port)
    try:
        # One packet: the read before the write answers, the write and what follows it wait.
        writer.sock.sendall(encode_command([b"GET", b"paused-key"])
                            + encode_command([b"SET", b"paused-key", b"v"])
                            + encode_command([b"GET", b"paused-key"]))
        assert writer.read(1) == b"$-1\r\n"
        reader = shared_node.client()
        assert reader.get("paused-key") is None  # other clients' reads run
        assert reader.dbsize() is not None
        assert admin.execute_command("CLIENT", "UNPAUSE") == b"OK"
        assert writer.read(2) == b"+OK\r\n$1\r\nv\r\n"
        assert reader.get("paused-key") == b"v"
    finally:
        admin.execute_command("CLIENT", "UNPAUSE")
        admin.delete("paused-key")
        writer.close()


NO_WRITES = b"#!lua flags=no-writes\nreturn 'read-only'"


def test_pause_write_counts_held_clients_and_lets_read_only_scripts_run(
        shared_node: Node) -> None:
    """As Redis: a client held by CLIENT PAUSE counts in INFO's blocked_clients; no-writes
    scripts, EVAL_RO and SCRIPT LOAD are no writes and run."""
    admin = shared_node.client()
    blocked_before = _blocked(admin)
    assert admin.execute_command("CLIENT", "PAUSE", "60000", "WRITE") == b"OK"
    writer = Connection(shared_node.port)
    try:
        writer.send("SET", "held-key", "v")
        wait_for(lambda: _blocked(admin) == blocked_before + 1, 10, "the held SET to count")
        scripts = shared_node.client()
        assert scripts.eval(NO_WRITES, 0) == b"read-only"
        assert scripts.execute_command("EVAL_RO", "return redis.call('GET', KEYS[1])", 1,
                                       "held-key") is None
        sha = scripts.script_load(NO_WRITES)
        assert scripts.evalsha(sha, 0) == b"read-only"
        assert admin.execute_command("CLIENT", "UNPAUSE") == b"OK"
        assert writer.read(1) == b"+OK\r\n"
        assert _blocked(admin) == blocked_before
    finally:
        admin.execute_command("CLIENT", "UNPAUSE")
        admin.delete("held-key")
        writer.close()


def test_pause_ends_at_its_timeout(shared_node: Node) -> None:
    admin = shared_node.client()
    assert admin.execute_command("CLIENT", "PAUSE", "200", "ALL") == b"OK"
    assert shared_node.client().set("after-pause", "1")  # waits for the end, then runs
    assert admin.getdel("after-pause") == b"1"


def _blocked(client: redis.Redis) -> int:
    return client.info("clients")["blocked_clients"]


@pytest.mark.parametrize("server", ["rcache", "redis"])
def test_unblock_a_blpop(shared_node: Node, redis_server: int, server: str) -> None:
    port = shared_node.port if server == "rcache" else redis_server
    admin = redis.Redis(port=port, socket_timeout=10)
    outcome: dict[str, object] = {}

    def blpop() -> None:
        waiting = redis.Redis(port=port, socket_timeout=30)
        outcome["id"] = waiting.client_id()
        try:
            outcome["reply"] = waiting.blpop(["unblock-me"], 0)
        except redis.ResponseError as err:
            outcome["reply"] = str(err)

    admin.config_resetstat()
    for reason, expected in (("ERROR", "UNBLOCKED client unblocked via CLIENT UNBLOCK"),
                             ("TIMEOUT", None)):
        outcome.clear()
        waiter = threading.Thread(target=blpop)
        waiter.start()
        wait_for(lambda: _blocked(admin) == 1, 10, "the BLPOP to block")
        assert admin.execute_command("CLIENT", "UNBLOCK", outcome["id"], reason) == 1
        waiter.join(timeout=10)
        assert not waiter.is_alive()
        assert outcome["reply"] == expected
        assert admin.execute_command("CLIENT", "UNBLOCK", outcome["id"]) == 0
    stats = admin.info("commandstats")["cmdstat_blpop"]  # Redis counts both as failed
    assert (stats["calls"], stats["failed_calls"], stats["rejected_calls"]) == (2, 2, 0)


def _kill_conversation(port: int) -> list:
    admin = redis.Redis(port=port)
    admin.execute_command("ACL", "SETUSER", "killme", "on", ">pw", "+@all", "~*", "&*")
    victim = redis.Redis(port=port, username="killme", password="pw")
    listener = redis.Redis(port=port, username="killme", password="pw").pubsub()

    def call(*argv):
        try:
            return admin.execute_command(*argv)
        except redis.ResponseError as err:
            return f"error: {err}"

    try:
        victim.ping()
        listener.subscribe("kill-channel")
        wait_for(lambda: listener.get_message(timeout=0.1), 10, "the subscription")
        replies = [call("CLIENT", "KILL", "ID", admin.client_id()),  # SKIPME yes by default
                   call("CLIENT", "KILL", "USER", "nobody"),
                   call("CLIENT", "KILL", "TYPE", "bogus"),
                   call("CLIENT", "KILL", "TYPE", "replica"),
                   call("CLIENT", "KILL", "TYPE", "pubsub", "USER", "killme"),
                   call("CLIENT", "KILL", "USER", "killme")]
        wait_for(lambda: all(c["user"] != "killme" for c in admin.client_list()), 10,
                 "killme's connections to close")
        return replies
    finally:
        call("ACL", "DELUSER", "killme")
        listener.close()
        admin.close()


def test_client_kill_filters_match_redis(node: Node, redis_server: int) -> None:
    assert _kill_conversation(node.port) == _kill_conversation(redis_server) == [
        0, "error: No such user 'nobody'", "error: Unknown client type 'bogus'", 0, 1, 1]


def _killing_itself(port: int) -> bytes:
    """What a connection reads after killing itself, a PING pipelined behind: everything
    until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(encode_command([b"CLIENT", b"ID"]))
        own_id = sock.recv(100).strip()[1:]
        sock.sendall(encode_command([b"CLIENT", b"KILL", b"ID", own_id, b"SKIPME", b"no"])
                     + encode_command([b"PING"]))
        received = b""
        while chunk := sock.recv(100):
            received += chunk
        return received


def test_a_client_that_kills_itself_reads_the_reply_first(node: Node, redis_server: int) -> None:
    assert _killing_itself(node.port) == _killing_itself(redis_server) == b":1\r\n"


def _query_buffer(port: int) -> list[str]:
    """qbuf of CLIENT INFO and of the caller's CLIENT LIST line: the running request counts."""
    client = redis.Redis(port=port, decode_responses=True)
    try:
        own_line = [line for line in client.execute_command("CLIENT", "LIST").splitlines()
                    if f"id={client.client_id()} " in line]
        lines = [client.execute_command("CLIENT", "INFO"), own_line[0]]
        return [re.search(r" qbuf=\d+ ", line).group() for line in lines]
    finally:
        client.close()


def test_query_buffer_counts_the_running_command(shared_node: Node, redis_server: int) -> None:
    assert _query_buffer(shared_node.port) == _query_buffer(redis_server) == [" qbuf=26 "] * 2
