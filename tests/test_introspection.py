"""OBJECT, MEMORY, SLOWLOG, LATENCY and Redis's encoding options in CONFIG, compared with a
real redis-server (RESP2 and RESP3), and the encoding options' trip through the Raft entry."""

from __future__ import annotations

import marshal
import random
import re
import threading
from pathlib import Path

import pytest
import redis

from rcache.commands import introspection, table
from rcache.encodings import DEFAULT_LIMITS, EncodingLimits
from rcache.statemachine import COMMAND, StateMachine, encode_entry
from rcache.storage import Store

from .conftest import LocalCluster, Node, wait_for
from .test_differential import RawConnection, assert_same

# What the tests change, and Redis 7.0's defaults to put back (the servers are shared).
DEFAULTS = {"hash-max-listpack-entries": "512", "hash-max-listpack-value": "64",
            "set-max-intset-entries": "512", "zset-max-listpack-entries": "128",
            "zset-max-listpack-value": "64", "list-max-listpack-size": "-2",
            "list-compress-depth": "0", "hll-sparse-max-bytes": "3000",
            "stream-node-max-entries": "100", "stream-node-max-bytes": "4096", "save": "",
            "busy-reply-threshold": "5000", "latency-monitor-threshold": "0",
            "slowlog-log-slower-than": "10000", "slowlog-max-len": "128",
            "lazyfree-lazy-user-del": "no", "activedefrag": "no", "repl-ping-replica-period": "10",
            "latency-tracking": "yes", "latency-tracking-info-percentiles": "50 99 99.9"}


@pytest.fixture
def pair(shared_node: Node, redis_server: int):
    ours, theirs = RawConnection(shared_node.port), RawConnection(redis_server)
    for conn in (ours, theirs):
        conn.call("FLUSHALL")
        conn.call("CONFIG", "SET", *[part for item in DEFAULTS.items() for part in item])
    yield ours, theirs
    for conn in (ours, theirs):
        conn.call("CONFIG", "SET", *[part for item in DEFAULTS.items() for part in item])
        conn.call("FLUSHALL")
        conn.close()


SEQUENCES = [
    # OBJECT: shared integers, missing keys, the LFU-only FREQ, HELP, bad subcommands
    [("SET", "a", "5"), ("SET", "big", "12345"), ("SET", "b", "hello"), ("OBJECT", "REFCOUNT", "a"),
     ("OBJECT", "REFCOUNT", "big"), ("OBJECT", "REFCOUNT", "b"), ("OBJECT", "REFCOUNT", "nope"),
     ("OBJECT", "IDLETIME", "nope"), ("OBJECT", "FREQ", "b"), ("OBJECT", "FREQ", "nope"),
     ("OBJECT", "HELP"), ("OBJECT", "NOSUCH", "a"), ("OBJECT", "ENCODING"), ("OBJECT", "HELP", "x"),
     ("OBJECT",)],
    # MEMORY: strings are sized as Redis's allocator would; options and errors
    [("SET", "a", "5"), ("SET", "b", "hello"), ("SET", "c", "x" * 100), ("SET", "d", "y" * 300),
     ("SET", "a-much-longer-key-name-than-thirty-two-bytes", "v"), ("HSET", "h", "f", "1"),
     ("SADD", "s", "a", "b", "c"), ("MEMORY", "USAGE", "a"), ("MEMORY", "USAGE", "b"),
     ("MEMORY", "USAGE", "c"), ("MEMORY", "USAGE", "d"),
     ("MEMORY", "USAGE", "a-much-longer-key-name-than-thirty-two-bytes"),
     ("MEMORY", "USAGE", "h"), ("MEMORY", "USAGE", "s"), ("MEMORY", "USAGE", "s", "SAMPLES", "0"),
     ("SADD", "i", "1", "2", "3"), ("SADD", "j", "1", "100000"), ("MEMORY", "USAGE", "i"),
     ("MEMORY", "USAGE", "j"), ("HSET", "big", *[part for n in range(600) for part in (f"f{n}", f"v{n}")]),
     ("MEMORY", "USAGE", "big", "SAMPLES", "0"),
     # lists: a quicklist of 8 KB listpack nodes, integers in their smallest encoding
     ("RPUSH", "l", "a", "b c", "1", "100000", "-5000", "9000000000"), ("MEMORY", "USAGE", "l"),
     ("RPUSH", "lbig", *["v" * 50] * 2000), ("MEMORY", "USAGE", "lbig"),
     ("RPUSH", "lbig", "z" * 10000, "a"), ("MEMORY", "USAGE", "lbig", "SAMPLES", "0"),
     ("MEMORY", "USAGE", "nope"), ("MEMORY", "USAGE", "a", "SAMPLES", "-1"),
     ("MEMORY", "USAGE", "a", "SAMPLES", "x"), ("MEMORY", "USAGE", "a", "FOO"),
     ("MEMORY", "USAGE", "a", "SAMPLES"), ("MEMORY", "HELP"), ("MEMORY", "NOSUCH"),
     ("MEMORY", "PURGE"), ("MEMORY", "STATS", "x"), ("MEMORY",)],
    # encodings follow the options, as Redis converts at write time and never back
    [("CONFIG", "SET", "zset-max-ziplist-entries", "2"), ("ZADD", "z", "1", "a", "2", "b"),
     ("OBJECT", "ENCODING", "z"), ("ZADD", "z", "3", "c"), ("OBJECT", "ENCODING", "z"),
     ("CONFIG", "SET", "zset-max-listpack-entries", "128", "zset-max-listpack-value", "3"),
     ("ZADD", "y", "1", "abc"), ("OBJECT", "ENCODING", "y"), ("ZADD", "y", "1", "abcd"),
     ("OBJECT", "ENCODING", "y"), ("CONFIG", "SET", "set-max-intset-entries", "1"),
     ("SADD", "s", "1"), ("OBJECT", "ENCODING", "s"), ("SADD", "s", "2"), ("OBJECT", "ENCODING", "s"),
     ("CONFIG", "SET", "hash-max-ziplist-entries", "1", "hash-max-ziplist-value", "4"),
     ("HSET", "h", "f", "v"), ("OBJECT", "ENCODING", "h"), ("HSET", "h", "g", "v"),
     ("OBJECT", "ENCODING", "h"), ("HSET", "i", "f", "12345"), ("OBJECT", "ENCODING", "i"),
     ("CONFIG", "SET", "zset-max-listpack-entries", "0"), ("ZADD", "x", "1", "a"),
     ("OBJECT", "ENCODING", "x")],
    # CONFIG SET validation and CONFIG GET, by name, alias and pattern
    [("CONFIG", "SET", "hash-max-listpack-entries", "abc"), ("CONFIG", "SET", "hash-max-listpack-entries", "-1"),
     ("CONFIG", "SET", "hash-max-ziplist-value", "1kb"), ("CONFIG", "GET", "hash-max-listpack-value"),
     ("CONFIG", "SET", "hash-max-listpack-value", "1.5"), ("CONFIG", "SET", "list-max-listpack-size", "0"),
     ("CONFIG", "SET", "list-max-ziplist-size", "x"), ("CONFIG", "SET", "list-compress-depth", "-1"),
     ("CONFIG", "SET", "save", "abc"), ("CONFIG", "SET", "save", "100 10 60 0"), ("CONFIG", "GET", "save"),
     ("CONFIG", "SET", "save", "0 1"), ("CONFIG", "SET", "save", "100"), ("CONFIG", "SET", "save", ""),
     ("CONFIG", "GET", "save"), ("CONFIG", "SET", "appendonly", "maybe"), ("CONFIG", "SET", "lua-time-limit", "100"),
     ("CONFIG", "GET", "busy-reply-threshold"), ("CONFIG", "GET", "lua-time-limit"),
     ("CONFIG", "SET", "activedefrag", "yes"), ("CONFIG", "SET", "activedefrag", "no"),
     ("CONFIG", "SET", "latency-monitor-threshold", "-1"), ("CONFIG", "SET", "slowlog-log-slower-than", "-2"),
     ("CONFIG", "SET", "slowlog-max-len", "-1"), ("CONFIG", "SET", "hll-sparse-max-bytes", "1gb"),
     ("CONFIG", "GET", "hll-sparse-max-bytes"), ("CONFIG", "SET", "set-max-intset-entries", "99999999999999999999"),
     ("CONFIG", "SET", "lazyfree-lazy-user-del", "yes"), ("CONFIG", "GET", "lazyfree-lazy-user-del"),
     ("CONFIG", "SET", "stream-node-max-bytes", "2mb"), ("CONFIG", "GET", "stream-node-max-*"),
     ("CONFIG", "SET", "maxclients", "10", "maxclients", "20"),
     ("CONFIG", "SET", "hash-max-ziplist-entries", "10", "hash-max-listpack-entries", "20"),
     ("CONFIG", "GET", "*max-*-entries"), ("CONFIG", "GET", "*ziplist*"), ("CONFIG", "GET", "zset-max-*"),
     ("CONFIG", "GET", "list-*"), ("CONFIG", "GET", "slowlog-*"), ("CONFIG", "GET", "latency-monitor-threshold"),
     ("CONFIG", "SET", "repl-ping-replica-period", "3600"), ("CONFIG", "GET", "repl-ping-slave-period"),
     ("CONFIG", "SET", "repl-ping-slave-period", "0"), ("CONFIG", "SET", "repl-ping-replica-period", "x"),
     ("CONFIG", "GET", "repl-ping-*")],
    # latency-tracking and the percentiles INFO latencystats prints
    [("CONFIG", "GET", "latency-tracking*"), ("CONFIG", "SET", "latency-tracking", "maybe"),
     ("CONFIG", "SET", "latency-tracking-info-percentiles", "0.0 50.0 100.0"),
     ("CONFIG", "GET", "latency-tracking-info-percentiles"),
     ("CONFIG", "SET", "latency-tracking-info-percentiles", "10.0 50.0 a"),
     ("CONFIG", "SET", "latency-tracking-info-percentiles", "10 101"),
     ("CONFIG", "SET", "latency-tracking-info-percentiles", ""),
     ("CONFIG", "GET", "latency-tracking-info-percentiles"),
     ("CONFIG", "SET", "latency-tracking-info-percentiles", "99.99 50.5 99.9"),
     ("CONFIG", "GET", "latency-tracking-info-percentiles")],
    # SLOWLOG and LATENCY (the entries themselves carry times: see test_slowlog_records)
    [("SLOWLOG", "RESET"), ("SLOWLOG", "LEN"), ("SLOWLOG", "GET"), ("SLOWLOG", "GET", "-2"),
     ("SLOWLOG", "GET", "x"), ("SLOWLOG", "GET", "1", "2"), ("SLOWLOG", "NOSUCH"), ("SLOWLOG", "HELP"),
     ("SLOWLOG", "LEN", "x"), ("LATENCY", "LATEST"), ("LATENCY", "HISTORY", "command"),
     ("LATENCY", "RESET"), ("LATENCY", "RESET", "command"), ("LATENCY", "GRAPH", "foo"),
     ("LATENCY", "DOCTOR"), ("LATENCY", "HELP"), ("LATENCY", "NOSUCH"),
     ("LATENCY", "HISTOGRAM", "nosuch"), ("LATENCY", "HISTOGRAM", "nosuch|sub")],
]


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
@pytest.mark.parametrize("sequence", SEQUENCES, ids=["object", "memory", "encodings", "config",
                                                     "latency-tracking", "slowlog-latency"])
def test_same_as_redis(pair, sequence, resp3: bool) -> None:
    if resp3:
        for conn in pair:
            conn.call("HELLO", "3")
    for argv in sequence:
        assert_same(pair, *argv)


def test_slowlog_records(shared_node: Node) -> None:
    client = shared_node.client()
    client.config_set("slowlog-log-slower-than", 0)
    try:
        client.slowlog_reset()
        client.set("key", "x" * 200)  # a write: logged where it is applied
        client.get("key")  # a read: logged with its client
        client.exists(*["a"] * 40)
        with pytest.raises(redis.ResponseError, match="syntax error"):
            client.execute_command("SET", "key", "v", "NX", "XX")  # refused before the log
        entries = client.slowlog_get(10)
        commands = [entry["command"] for entry in entries]
        assert b"GET key" in commands and b"SET key v NX XX" in commands
        assert any(c.startswith(b"SET key " + b"x" * 128 + b"... (72 more bytes)")
                   for c in commands)
        exists = next(c for c in commands if c.startswith(b"EXISTS"))
        assert exists.split(b" ", 31)[-1] == b"... (10 more arguments)"
        ids = [entry["id"] for entry in entries]
        assert ids == sorted(ids, reverse=True)
        client.config_set("slowlog-max-len", 2)
        client.get("key")
        assert client.slowlog_len() == 2
    finally:
        client.config_set("slowlog-log-slower-than", 10000)
        client.config_set("slowlog-max-len", 128)
        client.delete("key")
        client.close()


def test_encoding_options_travel_in_the_entry(tmp_path: Path) -> None:
    """Two nodes apply the same entry whatever their own configuration: the leader's
    options are in it."""
    limits = EncodingLimits(set_max_intset_entries=1)
    entry = encode_entry(1_000, 7, [(COMMAND, 0, [b"sadd", b"s", b"1", b"2"]),
                                    (COMMAND, 0, [b"sadd", b"t", b"1"])], limits)
    encodings = []
    for name in ("a", "b"):
        store = Store(str(tmp_path / name))
        StateMachine(store).apply(1, entry)
        ctx = table.Context(store.keyspace(0, 1_000), random.Random(1))
        encodings.append([table.lookup([b"object", b"encoding", key]).handler(
            ctx, [b"object", b"encoding", key]) for key in (b"s", b"t")])
        store.close()
    assert encodings == [[b"hashtable", b"intset"]] * 2


def test_entry_carries_the_options_up_to_the_last_changed() -> None:
    """Options at Redis's defaults after the last changed one stay out of the entry: a node
    older than hll-sparse-max-bytes reads every entry that leaves it at its default."""
    def carried(limits: EncodingLimits) -> tuple:
        return marshal.loads(encode_entry(1_000, 7, [], limits))[3:]

    assert carried(DEFAULT_LIMITS) == ()
    assert carried(EncodingLimits(set_max_intset_entries=1)) == ((512, 64, 1),)
    hll = EncodingLimits(hll_sparse_max_bytes=0)
    assert carried(hll) == (tuple(hll),)


def _section_names(raw: bytes) -> list[str]:
    return [line[2:] for line in raw.decode().splitlines() if line.startswith("# ")]


def test_info_sections_as_redis(shared_node: Node, redis_server: int) -> None:
    """Every section Redis 7.0 has, in its order, for INFO, INFO all and INFO everything;
    redis-py parses each, and the fields tools read are there."""

    raw_ours, raw_theirs = RawConnection(shared_node.port), RawConnection(redis_server)
    for argv in (("INFO",), ("INFO", "all"), ("INFO", "everything"), ("INFO", "cpu", "keyspace")):
        redis_sections = _section_names(raw_theirs.call(*argv))
        our_sections = [name for name in _section_names(raw_ours.call(*argv))
                        if name != "Raft"]  # rcache's own, in all/everything
        assert our_sections == redis_sections, argv
    raw_ours.close()
    raw_theirs.close()
    ours, theirs = shared_node.client(), redis.Redis(port=redis_server)
    ours.config_resetstat()
    ours.set("info:k", "v")
    ours.get("info:k")
    with pytest.raises(redis.ResponseError):
        ours.incr("info:k")
    with ours.pipeline(transaction=True) as multi:  # errors inside EXEC count too, as Redis
        multi.hset("info:k", "f", "v")
        multi.execute(raise_on_error=False)
    info = ours.info("all")
    for field in ("redis_version", "process_id", "tcp_port", "uptime_in_seconds",
                  "connected_clients", "maxclients", "blocked_clients", "used_memory",
                  "used_memory_human", "used_memory_peak", "maxmemory_policy", "loading",
                  "rdb_last_save_time", "aof_enabled", "total_connections_received",
                  "total_commands_processed", "expired_keys", "total_error_replies",
                  "migrate_cached_sockets", "role",
                  "master_repl_offset", "cluster_enabled", "raft_role"):
        assert field in info, field
    assert isinstance(info["used_cpu_sys"], float) and isinstance(info["used_cpu_user"], float)
    assert info["used_cpu_user"] > 0
    get = info["cmdstat_get"]
    assert get["calls"] >= 1 and set(get) == {"calls", "usec", "usec_per_call",
                                              "rejected_calls", "failed_calls"}
    assert info["cmdstat_incrby"]["failed_calls"] == 1  # INCR is INCRBY in redis-py
    assert info["errorstat_ERR"]["count"] == 1  # INCR on a non-integer
    assert info["errorstat_WRONGTYPE"]["count"] == 1  # HSET inside EXEC
    assert info["total_error_replies"] == 2
    assert set(info["latency_percentiles_usec_get"]) == {"p50", "p99", "p99.9"}
    assert info["db0"]["keys"] >= 1
    ours.config_resetstat()
    assert "cmdstat_get" not in ours.info("commandstats")
    for _ in range(3):
        ours.get("info:k")
    ours.config_get("hz")
    histograms = ours.execute_command("LATENCY", "HISTOGRAM", "get", "config")
    assert set(histograms) >= {b"get", b"config|get"}
    get = histograms[b"get"]
    assert get[b"calls"] == 3 and max(get[b"histogram_usec"].values()) == 3
    ours.delete("info:k")
    ours.close()
    theirs.close()


def _parsed(conn: RawConnection, *argv):
    import hiredis
    reader = hiredis.Reader()
    reader.feed(conn.call(*argv))
    return reader.gets()


def _flat_docs(docs: dict) -> dict:
    flat = {}
    for name, doc in docs.items():
        flat[name] = doc
        flat.update(doc.get(b"subcommands") or {})
    return flat


def test_command_docs_cover_every_command(pair) -> None:
    """COMMAND COUNT, COMMAND LIST and COMMAND DOCS describe the same commands, each with
    Redis 7.0's group and version where Redis has it."""
    ours, theirs = pair
    for conn in pair:
        conn.call("HELLO", "3")
    our_docs = _flat_docs(_parsed(ours, "COMMAND", "DOCS"))
    redis_docs = _flat_docs(_parsed(theirs, "COMMAND", "DOCS"))
    assert set(our_docs) == set(_parsed(ours, "COMMAND", "LIST"))
    assert _parsed(ours, "COMMAND", "COUNT") == len(_parsed(ours, "COMMAND"))
    shared = set(our_docs) & set(redis_docs)
    assert len(shared) > 200
    for name in shared:
        for field in (b"group", b"since"):
            assert our_docs[name][field] == redis_docs[name][field], (name, field)
    assert all(doc[b"summary"] for doc in our_docs.values())


@pytest.mark.parametrize("category", ["geo", "hash", "bitmap", "stream", "pubsub"])
def test_command_list_by_category_as_redis(pair, category: str) -> None:
    """Categories whose commands rcache all has list the same names (in another order)."""
    ours, theirs = (set(_parsed(conn, "COMMAND", "LIST", "FILTERBY", "ACLCAT", category))
                    for conn in pair)
    assert ours == theirs
    assert len(ours) > 3


SCRIPT_CALLS = ("redis.pcall('incr', KEYS[1]); redis.pcall('get'); redis.pcall('nosuch'); "
                "redis.pcall('client', 'id'); redis.pcall('object', 'encoding'); "
                "redis.pcall('ping'); return redis.pcall('set', KEYS[1], 'x', 'EX', 'bad')")


def _script_commandstats(conn: RawConnection) -> list[bytes]:
    conn.call("CONFIG", "RESETSTAT")
    conn.call("SET", "s", "abc")
    conn.call("EVAL", SCRIPT_CALLS, "1", "s")
    conn.call("EVAL_RO", "return redis.pcall('set', 'a', 'b')", "0")
    lines = conn.call("INFO", "commandstats").split(b"\r\n")
    return sorted(re.sub(rb"usec=\d+,usec_per_call=[\d.]+,", b"", line) for line in lines
                  if line.startswith(b"cmdstat_"))


def test_commands_a_script_calls_count_as_redis_counts_them(pair) -> None:
    """Calls, failed calls (an error on the data) and rejected calls (wrong arity, not
    allowed in a script, a write in a read-only script) of the commands scripts call."""
    ours, theirs = (_script_commandstats(conn) for conn in pair)
    assert ours == theirs
    assert b"cmdstat_set:calls=2,rejected_calls=1,failed_calls=1" in ours


ERRORING_SCRIPTS = ["return redis.call('incr', 'str')", "return redis.pcall('incr', 'str')",
                    "return {err='MYERR x'}", "return redis.error_reply('E2 y')", "error('boom')",
                    "return redis.pcall('nosuch')", "redis.pcall('get'); return 1",
                    "return redis.call('get')", "return redis.pcall('client', 'id')"]


def _errorstats_after(conn: RawConnection) -> list[bytes]:
    """INFO errorstats and total_error_replies after each script (or a command of the wrong
    arity): an error a called command raised counts once, whether the script returns it."""
    conn.call("SET", "str", "abc")
    seen = []
    for argv in [("EVAL", script, "0") for script in ERRORING_SCRIPTS] + [("SET", "k"),
                                                                         ("EVAL", "a")]:
        conn.call("CONFIG", "RESETSTAT")
        conn.call(*argv)
        lines = (conn.call("INFO", "errorstats") + conn.call("INFO", "stats")).split(b"\r\n")
        seen.append([line for line in lines if line.startswith((b"errorstat_", b"total_err"))])
        seen.append([re.sub(rb"usec=\d+,usec_per_call=[\d.]+,", b"", line)
                     for line in conn.call("INFO", "commandstats").split(b"\r\n")
                     if line.startswith((b"cmdstat_set:", b"cmdstat_eval:"))])
    return seen


def test_errors_of_scripts_and_arity_count_as_redis(pair) -> None:
    ours, theirs = (_errorstats_after(conn) for conn in pair)
    assert ours == theirs
    assert [b"errorstat_ERR:count=1", b"total_error_replies:1"] in ours


def _latencystats_of_set(conn: RawConnection) -> list[bytes]:
    """INFO latencystats' SET line (times masked) as latency-tracking and its percentiles
    change: no line for calls made while it is off."""
    lines = []
    conn.call("CONFIG", "RESETSTAT")
    for step in (("latency-tracking", "no"), ("latency-tracking", "yes"),
                 ("latency-tracking-info-percentiles", "0 50.5 100")):
        conn.call("CONFIG", "SET", *step)
        conn.call("SET", "a", "b")
        info = conn.call("INFO", "latencystats")
        found = re.search(rb"latency_percentiles_usec_set:\S*", info)
        lines.append(re.sub(rb"=[\d.]+", b"=", found.group()) if found else b"")
    return lines


def test_latency_tracking_as_redis(pair) -> None:
    ours, theirs = (_latencystats_of_set(conn) for conn in pair)
    assert ours == theirs == [b"", b"latency_percentiles_usec_set:p50=,p99=,p99.9=",
                              b"latency_percentiles_usec_set:p0=,p50.5=,p100="]


def test_commandstats_of_a_command_only_ever_refused(make_node) -> None:
    """A command whose every call was refused (NOAUTH, -MOVED...) has 0 calls: its line must
    still print (Redis prints usec_per_call=0.00)."""
    node = make_node("--requirepass", "pw")
    conn = RawConnection(node.port)
    assert conn.call("GET", "k").startswith(b"-NOAUTH")
    assert conn.call("AUTH", "pw") == b"+OK\r\n"
    stats = conn.call("INFO", "commandstats")
    conn.close()
    assert b"cmdstat_get:calls=0,usec=0,usec_per_call=0.00,rejected_calls=1,failed_calls=0" \
        in stats, stats


# Keyspace hits and misses, command by command: what one command adds to each on a node and
# on redis-server, from the same data (None in a case: a DUMP of "s", for RESTORE).
_HITS_SETUP = [
    ("SET", "s", "hello"), ("SET", "n", "10"), ("HSET", "h", "f", "v", "g", "w"),
    ("RPUSH", "l", "a", "b", "c"), ("SADD", "a", "1", "2"), ("SADD", "b", "2", "3"),
    ("ZADD", "z", "1", "m", "2", "o"), ("XADD", "x", "1-1", "f", "v"), ("PFADD", "p", "a", "b"),
    ("SET", "w_1", "3"), ("SET", "ttl", "v", "PX", "100000"),
]
_HITS_CASES = [
    ("GET", "s"), ("GET", "nope"), ("MGET", "s", "nope", "n", "h"), ("EXISTS", "s", "nope", "s"),
    ("TYPE", "s"), ("TYPE", "nope"), ("TOUCH", "s", "nope"), ("TTL", "ttl"), ("PTTL", "nope"),
    ("EXPIRETIME", "s"), ("STRLEN", "s"), ("GETRANGE", "s", "0", "1"), ("SUBSTR", "s", "0", "1"),
    ("GETEX", "s"), ("GETEX", "s", "PERSIST"), ("GETEX", "nope", "EX", "10"), ("GETDEL", "s"),
    ("GETDEL", "nope"), ("GETSET", "s", "x"), ("GETSET", "nope", "x"), ("SET", "s", "x", "GET"),
    ("SET", "nope", "x", "GET"), ("SET", "s", "x"), ("SET", "s", "x", "NX"),
    ("SET", "s", "x", "XX"), ("SETNX", "s", "x"), ("INCR", "n"), ("APPEND", "s", "x"),
    ("SETRANGE", "s", "1", "x"), ("DEL", "s", "nope"), ("UNLINK", "s"), ("EXPIRE", "s", "100"),
    ("PERSIST", "ttl"), ("RENAME", "s", "s2"), ("COPY", "s", "s3"), ("MOVE", "s", "1"),
    ("DUMP", "s"), ("DUMP", "nope"), ("OBJECT", "ENCODING", "s"), ("OBJECT", "FREQ", "s"),
    ("MEMORY", "USAGE", "s"), ("HGET", "h", "f"), ("HGET", "nope", "f"), ("HGETALL", "h"),
    ("HMGET", "h", "f", "x"), ("HEXISTS", "h", "f"), ("HLEN", "h"), ("HSET", "h", "f", "z"),
    ("HDEL", "h", "f"), ("HINCRBY", "h", "c", "1"), ("HRANDFIELD", "h"), ("HSTRLEN", "h", "f"),
    ("HKEYS", "h"), ("LRANGE", "l", "0", "-1"), ("LLEN", "l"), ("LINDEX", "l", "0"),
    ("LPOS", "l", "a"), ("LPUSH", "l", "x"), ("LPOP", "l"), ("RPOPLPUSH", "l", "l2"),
    ("LMOVE", "l", "l2", "LEFT", "RIGHT"), ("LMPOP", "2", "nope", "l", "LEFT"),
    ("BLPOP", "l", "1"), ("SMEMBERS", "a"), ("SISMEMBER", "a", "1"),
    ("SMISMEMBER", "a", "1", "5"), ("SCARD", "a"), ("SINTER", "a", "b"), ("SINTER", "nope", "b"),
    ("SUNION", "a", "b", "nope"), ("SDIFF", "a", "b"), ("SINTERSTORE", "d", "a", "b"),
    ("SUNIONSTORE", "d", "a", "nope"), ("SDIFFSTORE", "d", "a", "b"),
    ("SINTERCARD", "2", "a", "b"), ("SMOVE", "a", "b", "1"), ("SRANDMEMBER", "a"), ("SPOP", "a"),
    ("SADD", "a", "9"), ("SREM", "a", "1"), ("ZSCORE", "z", "m"), ("ZRANGE", "z", "0", "-1"),
    ("ZCARD", "z"), ("ZRANK", "z", "m"), ("ZMSCORE", "z", "m", "q"),
    ("ZUNIONSTORE", "d", "2", "z", "nope"), ("ZINTERSTORE", "d", "1", "z"),
    ("ZUNION", "2", "z", "nope"), ("ZRANGESTORE", "d", "z", "0", "-1"),
    ("ZINCRBY", "z", "1", "m"), ("ZADD", "z", "5", "k"), ("ZPOPMIN", "z"), ("ZRANDMEMBER", "z"),
    ("ZDIFFSTORE", "d", "2", "z", "nope"), ("XRANGE", "x", "-", "+"), ("XLEN", "x"),
    ("XREAD", "STREAMS", "x", "nope", "0", "0"), ("XADD", "x", "*", "f", "v"),
    ("XINFO", "STREAM", "x"), ("XGROUP", "CREATE", "x", "g", "0"), ("XTRIM", "x", "MAXLEN", "0"),
    ("XDEL", "x", "1-1"), ("PFCOUNT", "p"), ("PFCOUNT", "p", "nope"), ("PFADD", "p", "c"),
    ("PFMERGE", "d", "p", "nope"), ("BITCOUNT", "s"), ("BITPOS", "s", "1"), ("GETBIT", "s", "1"),
    ("SETBIT", "s", "1", "1"), ("BITOP", "AND", "d", "s", "nope"),
    ("BITFIELD", "s", "GET", "u8", "0"), ("BITFIELD_RO", "s", "GET", "u8", "0"),
    ("SORT", "l", "ALPHA"), ("SORT", "l", "ALPHA", "STORE", "d"), ("SORT", "n", "BY", "w_*"),
    ("SORT_RO", "l", "ALPHA"), ("SORT", "a", "BY", "nosort", "GET", "w_*", "GET", "#"),
    ("LCS", "s", "n"), ("GEOADD", "g", "1", "1", "m"), ("INCRBYFLOAT", "n", "1.5"), ("DECR", "n"),
    ("MSET", "s", "1", "k", "2"), ("MSETNX", "s", "1", "k2", "2"), ("RENAMENX", "s", "n"),
    ("KEYS", "*"), ("SCAN", "0"), ("RANDOMKEY",), ("DBSIZE",), ("HSCAN", "h", "0"),
    ("SSCAN", "a", "0"), ("ZSCAN", "z", "0"),
    ("EVAL", "return redis.call('GET', KEYS[1])", "1", "s"),
    ("EVAL", "return redis.call('GET', KEYS[1])", "1", "nope"),
    ("EVAL", "redis.call('INCR', KEYS[1]) return redis.call('EXISTS', KEYS[1])", "1", "n"),
    ("EVAL_RO", "return redis.call('MGET', KEYS[1], KEYS[2])", "2", "s", "nope"),
    ("RESTORE", "nope", "0", None), ("EXPIRE", "nope", "10"),
    ("PEXPIREAT", "s", "99999999999999"), ("HSETNX", "h", "f", "1"), ("LSET", "l", "0", "q"),
    ("LINSERT", "l", "BEFORE", "a", "q"), ("LTRIM", "l", "0", "1"), ("LREM", "l", "0", "a"),
    ("RPUSHX", "l", "q"), ("LPUSHX", "nope", "q"), ("ZREM", "z", "m"), ("ZCOUNT", "z", "0", "10"),
    ("ZLEXCOUNT", "z", "-", "+"), ("GEOPOS", "g", "m"), ("GEODIST", "g", "m", "m"),
    ("GEOSEARCH", "g", "FROMLONLAT", "1", "1", "BYRADIUS", "10", "km"),
    ("GEOSEARCHSTORE", "d", "g", "FROMLONLAT", "1", "1", "BYRADIUS", "10", "km"),
    ("XREAD", "BLOCK", "10", "STREAMS", "x", "0"), ("XREAD", "BLOCK", "10", "STREAMS", "x", "$"),
    ("XREAD", "BLOCK", "10", "STREAMS", "nope", "$"), ("BLPOP", "nope", "0.01"),
    ("BZPOPMIN", "nope", "0.01"), ("BLMOVE", "l", "l2", "LEFT", "LEFT", "0.01"),
    ("XREADGROUP", "GROUP", "g0", "c", "STREAMS", "x", ">"),
    ("XREADGROUP", "GROUP", "g0", "c", "BLOCK", "10", "STREAMS", "x", "0"),
    ("XAUTOCLAIM", "x", "g0", "c", "0", "0"), ("XCLAIM", "x", "g0", "c", "0", "1-1"),
    ("OBJECT", "IDLETIME", "s"), ("EXPIRE", "s", "10", "NX"), ("TYPE", "ttl"),
    ("LCS", "s", "nope"), ("FCALL", "nosuch", "0"), ("SPUBLISH", "c", "m"),
    ("HINCRBYFLOAT", "h", "f", "1"), ("ZREMRANGEBYRANK", "z", "0", "0"),
    ("ZREVRANGE", "z", "0", "-1"), ("ZRANGEBYSCORE", "z", "0", "1"), ("SMISMEMBER", "nope", "1"),
    ("SRANDMEMBER", "a", "-3"), ("HVALS", "h"), ("GEOHASH", "g", "m"),
    ("GEORADIUS", "g", "1", "1", "10", "km", "STORE", "d"),
    ("GEORADIUS_RO", "g", "1", "1", "10", "km"), ("XREVRANGE", "x", "+", "-"),
    ("XPENDING", "x", "g"), ("WATCH", "s"),
]

def _hits_and_misses(client: redis.Redis) -> tuple[int, int]:
    stats = client.info("stats")
    return stats["keyspace_hits"], stats["keyspace_misses"]


def _hits_and_misses_of(client: redis.Redis, run) -> tuple[int, int]:
    client.flushall()
    for argv in _HITS_SETUP:
        client.execute_command(*argv)
    client.execute_command("GEOADD", "g", "1", "1", "m")
    client.execute_command("XGROUP", "CREATE", "x", "g0", "0")
    dump = client.dump("s")
    before = _hits_and_misses(client)
    try:
        run(client, dump)
    except redis.ResponseError:
        pass  # WRONGTYPE and the like: what the lookups counted before it still counts
    after = _hits_and_misses(client)
    client.execute_command("UNWATCH")
    return after[0] - before[0], after[1] - before[1]


def test_keyspace_hits_and_misses_as_redis(shared_node: Node, redis_server: int) -> None:
    """Each command adds to keyspace_hits/misses what it adds on redis-server: read commands'
    lookups (each key of MGET, EXISTS, TOUCH...), reads inside writes (GETSET, GETDEL, SET
    GET, SORT/Z*STORE/SINTERSTORE sources, PFMERGE), scripts' and MULTI's reads; not the
    lookups of writes (INCR, LPUSH, RENAME...) nor MEMORY USAGE's."""
    ours, theirs = shared_node.client(), redis.Redis(port=redis_server)

    def command(argv):
        return lambda client, dump: client.execute_command(
            *[dump if part is None else part for part in argv])

    def transaction(client, dump):
        with client.pipeline(transaction=True) as multi:
            for argv in (("GET", "s"), ("GET", "nope"), ("INCR", "n"), ("EXISTS", "s")):
                multi.execute_command(*argv)
            multi.execute(raise_on_error=False)

    cases = [(argv, command(argv)) for argv in _HITS_CASES] + [("MULTI", transaction)]
    different = {}
    for name, run in cases:
        counted = _hits_and_misses_of(ours, run), _hits_and_misses_of(theirs, run)
        if counted[0] != counted[1]:
            different[name] = counted
    ours.flushall()
    theirs.flushall()
    assert not different, different  # (ours, redis's) (hits, misses) added, by command
    assert ("GET", "s") in dict(cases) and len(cases) > 180


def test_keyspace_stats_traffic_and_rates(shared_node: Node) -> None:
    """Hits and misses of GET, MGET, EXISTS (a write adds none), CONFIG RESETSTAT zeroes
    them with the traffic figures; bytes in and out and socket reads and writes grow;
    instantaneous_ops_per_sec rises under load (sampled every 100 ms by the node)."""
    client = shared_node.client()
    client.set("ks:present", "v")
    client.config_resetstat()
    stats = client.info("stats")
    assert (stats["keyspace_hits"], stats["keyspace_misses"]) == (0, 0)
    # only RESETSTAT's +OK went out since (written after it ran, as in Redis)
    assert stats["total_net_output_bytes"] == 5 and stats["total_writes_processed"] == 1
    client.get("ks:present")
    client.get("ks:missing")
    client.mget("ks:present", "ks:missing", "ks:missing2")
    client.exists("ks:present", "ks:missing")
    client.set("ks:present", "w")  # a write: its lookup is not a read
    stats = client.info("stats")
    assert (stats["keyspace_hits"], stats["keyspace_misses"]) == (3, 4)
    # RESETSTAT's reply went out, and this INFO came in: 7 commands, each one read and write
    assert stats["total_reads_processed"] >= 7 and stats["total_writes_processed"] >= 6
    assert stats["total_net_input_bytes"] > 7 * 14 and stats["total_net_output_bytes"] > 6 * 4
    load = shared_node.client()
    stop = threading.Event()

    def ping_until_stopped() -> None:
        while not stop.is_set():
            load.ping()

    pinger = threading.Thread(target=ping_until_stopped, daemon=True)
    pinger.start()
    try:
        wait_for(lambda: client.info("stats")["instantaneous_ops_per_sec"] > 0, 30,
                 "instantaneous_ops_per_sec under load")
        wait_for(lambda: float(client.info("stats")["instantaneous_input_kbps"]) > 0, 30,
                 "instantaneous_input_kbps under load")
    finally:
        stop.set()
        pinger.join(10)
    assert client.info("stats")["total_commands_processed"] > 10
    # a script served here whose last command is not a read leaves its connection counting
    hits = client.info("stats")["keyspace_hits"]
    client.execute_command("EVAL_RO", "local v = redis.call('GET', KEYS[1]) redis.call('PING') "
                           "return v", "1", "ks:present")
    client.get("ks:present")
    assert client.info("stats")["keyspace_hits"] == hits + 2
    client.config_resetstat()
    stats = client.info("stats")
    assert (stats["keyspace_hits"], stats["keyspace_misses"]) == (0, 0)
    assert stats["total_reads_processed"] == 1  # this INFO's
    client.delete("ks:present")


# The sections whose fields are fixed (the others list commands, errors, databases).
_FIXED_SECTIONS = ("Server", "Clients", "Memory", "Persistence", "Stats", "Replication", "CPU",
                   "Cluster")


def _fields(raw: bytes) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    section = None
    for line in raw.decode().splitlines():
        if line.startswith("# "):
            section = sections.setdefault(line[2:], [])
        elif ":" in line and section is not None:
            section.append(line.split(":", 1)[0])
    return sections


def test_info_has_every_field_redis_has(shared_node: Node, redis_server: int) -> None:
    """Every field redis-server 7.0 reports in a section is in rcache's, in Redis's order
    (rcache adds its own: rcache_version, raft_*...), so that parsers find them all."""
    connections = RawConnection(shared_node.port), RawConnection(redis_server)
    ours, theirs = (_fields(conn.call("INFO", "everything")) for conn in connections)
    for conn in connections:
        conn.close()
    for section in _FIXED_SECTIONS:
        missing = [name for name in theirs[section] if name not in ours[section]]
        assert not missing, (section, missing)
        shared = [name for name in ours[section] if name in theirs[section]]
        assert shared == theirs[section], section
    assert len(theirs["Stats"]) >= 50 and "keyspace_hits" in theirs["Stats"]


def test_blocked_reads_count_once_as_redis(shared_node: Node, redis_server: int) -> None:
    """XREAD and XREADGROUP BLOCK count their lookups when they first run, and a wake-up
    counts none (Redis serves it with lookupKeyWrite); BLPOP counts none at all."""
    blocked = [(("XREAD", "BLOCK", "20000", "STREAMS", "bk:none", "$"), ("XADD", "bk:none", "*",
                                                                         "f", "v")),
               (("XREAD", "BLOCK", "20000", "STREAMS", "bk:s", "$"),
                ("XADD", "bk:s", "*", "f", "v")),
               (("XREADGROUP", "GROUP", "g", "c", "BLOCK", "20000", "STREAMS", "bk:g", ">"),
                ("XADD", "bk:g", "*", "f", "v")),
               (("BLPOP", "bk:l", "20"), ("RPUSH", "bk:l", "x"))]

    def counted(port: int) -> list[tuple[tuple[int, int], tuple[int, int]]]:
        client, waiting = redis.Redis(port=port), redis.Redis(port=port)
        client.flushall()
        client.xadd("bk:s", {"f": "v"}, id="1-1")
        client.xgroup_create("bk:g", "g", id="0", mkstream=True)
        figures = []
        for argv, wake in blocked:
            before = _hits_and_misses(client)
            waiter = threading.Thread(target=lambda argv=argv: waiting.execute_command(*argv))
            waiter.start()
            wait_for(lambda: client.info("clients")["blocked_clients"] == 1, 20, "a blocked client")
            parked = _hits_and_misses(client)
            client.execute_command(*wake)
            waiter.join(20)
            assert not waiter.is_alive()
            after = _hits_and_misses(client)
            figures.append(((parked[0] - before[0], parked[1] - before[1]),
                            (after[0] - parked[0], after[1] - parked[1])))
        client.flushall()
        return figures

    ours = counted(shared_node.port)
    assert ours == counted(redis_server)
    assert ours[0] == ((0, 2), (0, 0))  # the missing stream: both of Redis's lookups


def test_keyspace_hits_count_on_the_node_serving_the_read(cluster: LocalCluster) -> None:
    """The leader counts the reads it serves, those of scripts and of GETSET too; followers,
    which apply the same entries, count none of them (as a Redis replica applying its
    master's effects); a follower counts the stale reads it serves itself."""
    leader, followers = cluster.leader(), cluster.followers()
    for node in cluster.live():
        node.client().config_resetstat()
    client = leader.client()
    client.set("hm:k", "v")
    client.eval("return redis.call('GET', KEYS[1])", 1, "hm:k")
    client.getset("hm:k", "w")
    client.get("hm:k")
    client.get("hm:none")
    cluster.wait_converged()

    def counted(node: Node) -> tuple[int, int]:
        return _hits_and_misses(node.client())

    assert counted(leader) == (3, 1)
    assert [counted(node) for node in followers] == [(0, 0)] * len(followers)
    stale = followers[0].client()
    stale.execute_command("READONLY")
    assert stale.get("hm:k") == b"w" and stale.get("hm:none") is None
    assert counted(followers[0]) == (1, 1) and counted(leader) == (3, 1)


def _fill(client: redis.Redis, key: str, kind: str, count: int) -> None:
    """A collection of ``count`` same-sized elements, pipelined 10,000 at a time."""
    pipe = client.pipeline(transaction=False)
    for start in range(0, count, 10_000):
        elements = [b"e%07d" % n for n in range(start, min(count, start + 10_000))]
        if kind == "list":
            pipe.rpush(key, *elements)
        else:
            pipe.hset(key, mapping=dict.fromkeys(elements, b"v"))
    pipe.execute()


def test_memory_usage_of_every_element_reads_a_bounded_sample(shared_node: Node,
                                                               redis_server: int) -> None:
    """SAMPLES 0 reads at most MAX_SAMPLED elements: Redis's exact answer up to that size, an
    extrapolation past it (exact again when the elements are alike), while other clients are
    served (a PING client runs throughout; the stall before the bound is in the report)."""
    ours, theirs = shared_node.client(), redis.Redis(port=redis_server)
    for client in (ours, theirs):
        client.flushall()
        _fill(client, "small", "list", 5_000)
        _fill(client, "big", "hash", 200_000)
        _fill(client, "biglist", "list", 200_000)
    pongs: list[bool] = []
    stop = threading.Event()

    def ping() -> None:
        other = shared_node.client()
        while not stop.is_set():
            pongs.append(other.ping())

    pinger = threading.Thread(target=ping)
    pinger.start()
    try:
        for key in ("small", "big"):
            assert ours.memory_usage(key, samples=0) == theirs.memory_usage(key, samples=0), key
        # list nodes past the sample are counted from the sampled nodes' elements per node
        assert ours.memory_usage("biglist", samples=0) == pytest.approx(
            theirs.memory_usage("biglist", samples=0), rel=0.01)
    finally:
        stop.set()
        pinger.join(timeout=30)
    assert pongs and all(pongs)
    for client in (ours, theirs):
        client.flushall()


def test_list_sizing_stops_at_max_sampled_elements() -> None:
    """The walk behind MEMORY USAGE of a list takes no more than MAX_SAMPLED elements from
    the store, however long the list, and scales what it read to the whole list."""
    taken: list[bytes] = []

    def elements():
        for _ in range(1_000_000):
            taken.append(b"abcdefgh")
            yield b"abcdefgh"

    whole = introspection._quicklist_size(elements(), 1_000_000, None)
    assert len(taken) == introspection.MAX_SAMPLED
    per_node = (introspection.LIST_NODE_BYTES - 7) // 10  # 10 bytes an element, 7 a header
    full, rest = divmod(1_000_000, per_node)
    exact = 16 + 40 + sum(40 + introspection.allocation(7 + 10 * held)
                          for held in [per_node] * full + [rest])
    assert whole == pytest.approx(exact, rel=0.001)
