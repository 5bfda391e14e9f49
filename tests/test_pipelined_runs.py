"""Pipelines sent in one write, so that one read event holds many commands (the run of plain
commands a node serves with its checks made once, ``Client._run_plain``): the replies and
what INFO, CLIENT LIST and SLOWLOG say about them match redis-server's byte for byte."""

from __future__ import annotations

import re
import socket

import hiredis
import pytest

from rcache.resp import encode_command, reply_end

from .conftest import Node


class PipelineConnection:
    """Sends a whole pipeline in one write; returns the exact bytes of its replies."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)

    def send(self, commands: list[tuple]) -> None:
        self.sock.sendall(b"".join(
            encode_command([a if isinstance(a, bytes) else str(a).encode() for a in argv])
            for argv in commands))

    def receive(self, count: int) -> list[bytes]:
        """The next ``count`` replies, each as its raw bytes."""
        replies: list[bytes] = []
        buffered = b""
        while len(replies) < count:
            data = self.sock.recv(1 << 20)
            if not data:
                raise ConnectionError("server closed the connection")
            buffered += data
            while len(replies) < count and (end := reply_end(buffered)) > 0:
                replies.append(buffered[:end])
                buffered = buffered[end:]
        assert buffered == b"", "more replies than commands"
        return replies

    def pipeline(self, commands: list[tuple], replies: int | None = None) -> list[bytes]:
        self.send(commands)
        return self.receive(len(commands) if replies is None else replies)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def both(shared_node: Node, redis_server: int):
    """A pipeline connection to each server, their data and statistics reset."""
    ours, theirs = PipelineConnection(shared_node.port), PipelineConnection(redis_server)
    for conn in (ours, theirs):
        conn.pipeline([("FLUSHALL",), ("CONFIG", "RESETSTAT"), ("SLOWLOG", "RESET")])
    yield ours, theirs
    for conn in (ours, theirs):
        conn.pipeline([("CONFIG", "SET", "slowlog-log-slower-than", "10000"),
                       ("CONFIG", "SET", "slowlog-max-len", "128")])
        conn.close()


def assert_same_replies(both, commands: list[tuple], replies: int | None = None) -> list[bytes]:
    """``replies``: how many come (CLIENT REPLY OFF silences some), by default one each."""
    ours, theirs = both
    expected = theirs.pipeline(commands, replies)
    got = ours.pipeline(commands, replies)
    assert got == expected, f"{commands!r}: redis {expected!r} rcache {got!r}"
    return got


def _mixed(n: int) -> list[tuple]:
    """Reads, writes, reads of those writes, errors, missing keys, unknown commands and
    wrong arities, interleaved."""
    commands: list[tuple] = []
    for i in range(n):
        key = f"k{i % 7}"
        commands += [("SET", key, i), ("GET", key), ("GET", f"missing{i}"), ("INCR", key),
                     ("get", key), ("STRLEN", key), ("EXISTS", key, "nokey")]
        if i % 5 == 0:
            commands += [("SET", key, "v", "NX", "XX"), ("LPUSH", "list", i),
                         ("GET", "list"), ("MGET", key, "list"), ("DEL", key), ("GET", key),
                         ("GET",), ("NOSUCHCOMMAND", key), ("GET", key, key)]
    return commands


@pytest.mark.parametrize("resp3", [False, True])
def test_mixed_pipeline_replies_match_redis(both, resp3: bool) -> None:
    if resp3:
        for conn in both:
            conn.pipeline([("HELLO", "3")])
    assert_same_replies(both, [("SET", f"r{i}", "x" * i) for i in range(50)]
                        + [("GET", f"r{i}") for i in range(50)])
    assert_same_replies(both, _mixed(40))


def test_reads_behind_writes_see_them(both) -> None:
    """A read pipelined after a write of the same connection waits for it."""
    commands = [c for i in range(200) for c in (("SET", "counter", i), ("GET", "counter"))]
    got = assert_same_replies(both, commands)
    assert got[-1] == b"$3\r\n199\r\n"


def test_replies_past_the_flush_size(both) -> None:
    """GETs whose replies add up to several times what is handed to the socket at once."""
    value = "v" * 100_000
    assert_same_replies(both, [("SET", "big", value)])
    got = assert_same_replies(both, [("GET", "big")] * 20 + [("SET", "after", 1), ("GET", "after")])
    assert got[0] == b"$100000\r\n" + value.encode() + b"\r\n"


def test_transactions_and_reply_modes_inside_a_pipeline(both) -> None:
    assert_same_replies(both, [
        ("SET", "a", 1), ("GET", "a"), ("MULTI",), ("GET", "a"), ("INCR", "a"), ("EXEC",),
        ("GET", "a"), ("CLIENT", "REPLY", "OFF"), ("GET", "a"), ("SET", "a", 5),
        ("CLIENT", "REPLY", "ON"), ("GET", "a"), ("GET", "a")], replies=10)


def test_transactions_and_scripts_counted_as_redis_counts_them(both) -> None:
    """total_commands_processed counts a queued command when EXEC runs it (Redis's call()),
    not when MULTI queues it: a discarded or aborted transaction's commands never ran; and
    it counts the commands a script runs (not those refused to it)."""
    before = {conn: int(_info_fields(conn, "stats")["total_commands_processed"])
              for conn in both}
    assert_same_replies(both, [
        ("MULTI",), ("SET", "t", 1), ("GET", "t"), ("DISCARD",),
        ("MULTI",), ("SET", "t", 2), ("INCR", "t"), ("GET", "t"), ("EXEC",),
        ("MULTI",), ("SET", "t", 3), ("NOSUCH",), ("EXEC",), ("GET", "t"),
        ("EVAL", "redis.call('set', 's', 1) return redis.call('get', 's')", 0),
        ("EVAL", "return redis.pcall('incr', 't')", 0),
        ("EVAL", "return redis.pcall('nosuch')", 0),
        ("EVAL_RO", "return redis.call('get', 's')", 0)])
    processed = {conn: int(_info_fields(conn, "stats")["total_commands_processed"]) - before[conn]
                 for conn in both}
    ours, theirs = both
    assert processed[ours] == processed[theirs]


def _info_fields(conn: PipelineConnection, section: str) -> dict[str, str]:
    raw = conn.pipeline([("INFO", section)])[0]
    text = raw[raw.index(b"\r\n") + 2:].decode()
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def test_counted_as_redis_counts_them(both) -> None:
    """INFO commandstats calls, errorstats and total_commands_processed (which leaves out
    the commands refused before they run: unknown ones, wrong arities) and SLOWLOG entries
    of a pipelined run."""
    ours, theirs = both
    assert_same_replies(both, [("SET", f"k{i}", i) for i in range(7)])
    reads_first = [(name, f"k{i % 9}") for i in range(60) for name in ("GET", "STRLEN")]
    commands = reads_first + [("ECHO", "x")] + reads_first + _mixed(20)
    before = {conn: int(_info_fields(conn, "stats")["total_commands_processed"])
              for conn in both}
    for conn in both:
        conn.pipeline([("CONFIG", "SET", "slowlog-log-slower-than", "0"),
                       ("CONFIG", "SET", "slowlog-max-len", "1000"), ("SLOWLOG", "RESET")])
    assert_same_replies(both, commands)
    for conn in both:
        conn.pipeline([("CONFIG", "SET", "slowlog-log-slower-than", "10000")])
    logged = {conn: conn.pipeline([("SLOWLOG", "GET", "-1")])[0] for conn in both}
    stats = {conn: _info_fields(conn, "commandstats") for conn in both}
    errors = {conn: _info_fields(conn, "errorstats") for conn in both}
    processed = {conn: int(_info_fields(conn, "stats")["total_commands_processed"]) - before[conn]
                 for conn in both}
    assert processed[ours] == processed[theirs]

    def calls(fields: dict[str, str]) -> dict[str, str]:
        return {name: re.sub(r"usec=\d+,usec_per_call=[\d.]+,", "", value)
                for name, value in fields.items() if not name.startswith(("cmdstat_config",
                                                                          "cmdstat_slowlog",
                                                                          "cmdstat_info"))}
    assert calls(stats[ours]) == calls(stats[theirs])
    assert errors[ours] == errors[theirs]
    # The reads' entries, newest first (rcache logs a write where it is applied, and a
    # syntax error found before the log not at all)
    reads = {conn: [entry[3] for entry in _parse(logged[conn]) if entry[3][0] in _READS]
             for conn in both}
    assert reads[ours] == reads[theirs]
    assert len(reads[ours]) > 100


def test_last_command_and_lease_reads(shared_node: Node) -> None:
    conn = PipelineConnection(shared_node.port)
    watcher = shared_node.client()
    try:
        own_id = conn.pipeline([("CLIENT", "ID")])[0][1:-2].decode()
        conn.pipeline([("SET", "x", 1)])
        before = int(watcher.info("raft")["raft_reads_by_lease"])
        conn.pipeline([("GET", "x")] * 30 + [("STRLEN", "x")])
        assert int(watcher.info("raft")["raft_reads_by_lease"]) - before == 31
        # (the shared node may still hold other tests' idle connections)
        assert [c["cmd"] for c in watcher.client_list() if c["id"] == own_id] == ["strlen"]
    finally:
        conn.close()
        watcher.close()


def test_monitor_sees_every_pipelined_command(shared_node: Node) -> None:
    monitor = PipelineConnection(shared_node.port)
    conn = PipelineConnection(shared_node.port)
    try:
        assert monitor.pipeline([("MONITOR",)]) == [b"+OK\r\n"]
        commands = [("SET", "m", 1), ("GET", "m"), ("GET", "m"), ("INCR", "m"), ("GET", "m")]
        assert conn.pipeline(commands) == [b"+OK\r\n", b"$1\r\n1\r\n", b"$1\r\n1\r\n",
                                           b":2\r\n", b"$1\r\n2\r\n"]
        lines = monitor.receive(len(commands))
        shown = [re.sub(rb"^\+\S+ \[0 \S+\] ", b"", line).rstrip() for line in lines]
        assert shown == [b'"SET" "m" "1"', b'"GET" "m"', b'"GET" "m"', b'"INCR" "m"',
                         b'"GET" "m"']
    finally:
        monitor.close()
        conn.close()


_READS = (b"GET", b"get", b"STRLEN", b"EXISTS", b"MGET")


def _parse(raw: bytes):
    reader = hiredis.Reader()
    reader.feed(raw)
    return reader.gets()


def test_pipelined_writes_touch_watches_and_wake_blocked_clients(
        shared_node: Node, redis_server: int) -> None:
    """A run of pipelined writes dirties another connection's WATCH and serves a client
    blocked on one of its keys at that write, as in Redis."""
    outcomes = []
    for port in (redis_server, shared_node.port):
        watcher, blocked, writer = (PipelineConnection(port) for _ in range(3))
        try:
            writer.pipeline([("DEL", "w", "q", "x")])
            watcher.pipeline([("WATCH", "w")])
            blocked.send([("BLPOP", "q", "10")])
            writer.pipeline([("CLIENT", "LIST")])  # once BLPOP is parked (it ran before)
            # (one push: a client served behind a run of pushes to its key pops after all
            # of them here, after the first in Redis: main had that difference already)
            written = writer.pipeline([("SET", "x", 1), ("SET", "w", 2), ("LPUSH", "q", "a"),
                                       ("SET", "x", 3), ("LRANGE", "q", 0, -1), ("GET", "w")])
            popped = blocked.receive(1)
            aborted = watcher.pipeline([("MULTI",), ("GET", "w"), ("EXEC",)])
            outcomes.append((written, popped, aborted))
        finally:
            for conn in (watcher, blocked, writer):
                conn.close()
    assert outcomes[1] == outcomes[0]
    assert outcomes[0][2][-1] == b"*-1\r\n"
