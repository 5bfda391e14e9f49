"""Collections on RocksDB, driven without a server (see test_commands_unit.DirectNode).

The big-collection tests check the storage contract: DEL, expiry and overwrite of a collection
cost a bounded number of RocksDB operations whatever its size, and leave no element of the old
version readable.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from rcache import collections_store as cs
from rcache import errors
from rcache.commands import table
from rcache.errors import CommandError
from rcache.statemachine import COMMAND, EXPIRE, TRANSACTION, encode_entry
from rcache.storage import HASH, ZSET, Transaction

from .test_commands_unit import NOW, DirectNode

BIG = 1_000_000
CHUNK = 100_000


@pytest.fixture
def kv(tmp_path: Path) -> Iterator[DirectNode]:
    node = DirectNode(tmp_path / "db")
    yield node
    node.store.close()


def apply(kv: DirectNode, *items: tuple, now: int = NOW) -> list:
    kv.index += 1
    return kv.machine.apply(kv.index, encode_entry(now, kv.index, list(items)))


def command(*args: str | bytes, db: int = 0) -> tuple:
    return (COMMAND, db, [a if isinstance(a, bytes) else a.encode() for a in args])


def records_under(kv: DirectNode, prefix: bytes) -> int:
    """Element records RocksDB still returns under prefix (deleted ranges excluded)."""
    found = 0
    for key, _ in kv.store.db.items(from_key=prefix):
        if not key.startswith(prefix):
            break
        found += 1
    return found


class BatchSpy:
    """Counts the writes each committed entry hands to RocksDB."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sizes: list[tuple[int, int]] = []
        original = Transaction.commit

        def commit(txn: Transaction, index: int) -> None:
            self.sizes.append((len(txn.pending), len(txn.ranges)))
            original(txn, index)

        monkeypatch.setattr(Transaction, "commit", commit)


# -- REDIS 7.0 declarations --------------------------------------------------------------------
# name: (arity, flags without movablekeys, first key, last key, step), from COMMAND INFO.
REDIS_TABLE = {
    "hset": (-4, "write denyoom fast", 1, 1, 1), "hsetnx": (4, "write denyoom fast", 1, 1, 1),
    "hget": (3, "readonly fast", 1, 1, 1), "hmget": (-3, "readonly fast", 1, 1, 1),
    "hmset": (-4, "write denyoom fast", 1, 1, 1), "hdel": (-3, "write fast", 1, 1, 1),
    "hlen": (2, "readonly fast", 1, 1, 1), "hstrlen": (3, "readonly fast", 1, 1, 1),
    "hexists": (3, "readonly fast", 1, 1, 1), "hkeys": (2, "readonly", 1, 1, 1),
    "hvals": (2, "readonly", 1, 1, 1), "hgetall": (2, "readonly", 1, 1, 1),
    "hincrby": (4, "write denyoom fast", 1, 1, 1),
    "hincrbyfloat": (4, "write denyoom fast", 1, 1, 1),
    "hrandfield": (-2, "readonly", 1, 1, 1), "hscan": (-3, "readonly", 1, 1, 1),
    "zadd": (-4, "write denyoom fast", 1, 1, 1), "zincrby": (4, "write denyoom fast", 1, 1, 1),
    "zrem": (-3, "write fast", 1, 1, 1), "zscore": (3, "readonly fast", 1, 1, 1),
    "zmscore": (-3, "readonly fast", 1, 1, 1), "zcard": (2, "readonly fast", 1, 1, 1),
    "zcount": (4, "readonly fast", 1, 1, 1), "zlexcount": (4, "readonly fast", 1, 1, 1),
    "zrange": (-4, "readonly", 1, 1, 1), "zrevrange": (-4, "readonly", 1, 1, 1),
    "zrangebyscore": (-4, "readonly", 1, 1, 1), "zrevrangebyscore": (-4, "readonly", 1, 1, 1),
    "zrangebylex": (-4, "readonly", 1, 1, 1), "zrevrangebylex": (-4, "readonly", 1, 1, 1),
    "zrank": (3, "readonly fast", 1, 1, 1), "zrevrank": (3, "readonly fast", 1, 1, 1),
    "zpopmin": (-2, "write fast", 1, 1, 1), "zpopmax": (-2, "write fast", 1, 1, 1),
    "zremrangebyrank": (4, "write", 1, 1, 1), "zremrangebyscore": (4, "write", 1, 1, 1),
    "zremrangebylex": (4, "write", 1, 1, 1), "zunionstore": (-4, "write denyoom", 1, 1, 1),
    "zinterstore": (-4, "write denyoom", 1, 1, 1), "zscan": (-3, "readonly", 1, 1, 1),
}


@pytest.mark.parametrize("name", REDIS_TABLE)
def test_declarations_match_redis(name: str) -> None:
    cmd = table.COMMANDS[name.encode()]
    arity, flags, first, last, step = REDIS_TABLE[name]
    assert (cmd.arity, cmd.flags, cmd.first_key, cmd.last_key, cmd.step) == (
        arity, frozenset(flags.split()), first, last, step)


# -- storage layout ------------------------------------------------------------------------------
@pytest.mark.parametrize("score", [float("-inf"), -1e300, -2.5, -1e-300, 0.0, 1e-300, 1.0, 2.5,
                                   1e300, float("inf")])
def test_score_encoding_round_trips(score: float) -> None:
    assert cs.decode_score(cs.encode_score(score)) == score


def test_score_encoding_sorts_like_numbers() -> None:
    scores = [float("-inf"), -1e300, -2.5, -1.0, -1e-300, 0.0, 1e-300, 1.0, 2.5, 1e300,
              float("inf")]
    assert sorted(scores, key=cs.encode_score) == scores
    assert cs.encode_score(-0.0) == cs.encode_score(0.0)


def test_list_indexes_sort_like_positions() -> None:
    positions = [cs.LIST_ORIGIN - 5, cs.LIST_ORIGIN - 1, cs.LIST_ORIGIN, cs.LIST_ORIGIN + 7]
    assert sorted(positions, key=cs.list_index) == positions


def test_versions_are_deterministic_and_fresh(kv: DirectNode, tmp_path: Path) -> None:
    """Two nodes applying the same entries give every collection the same version, and a
    key deleted and recreated in one entry gets a new one."""
    other = DirectNode(tmp_path / "other")
    for node in (kv, other):
        apply(node, command("hset", "h", "a", "1"), command("del", "h"),
              command("hset", "h", "b", "2"), command("hset", "g", "c", "3"))
    versions = [cs.lookup(node.store.keyspace(0, NOW), b"h", HASH).version for node in (kv, other)]
    assert versions[0] == versions[1] == 2
    assert kv.call("hgetall", "h") == {b"b": b"2"}
    other.store.close()


def test_multi_sees_its_own_writes(kv: DirectNode) -> None:
    replies = apply(kv, (TRANSACTION, [
        (0, [b"hset", b"h", b"a", b"1", b"b", b"2"]), (0, [b"hgetall", b"h"]),
        (0, [b"hdel", b"h", b"a"]), (0, [b"hkeys", b"h"]), (0, [b"del", b"h"]),
        (0, [b"hset", b"h", b"c", b"3"]), (0, [b"hgetall", b"h"]),
    ]))[0]
    assert replies == [2, {b"a": b"1", b"b": b"2"}, 1, [b"b"], 1, 1, {b"c": b"3"}]
    assert kv.call("hgetall", "h") == {b"c": b"3"}


def test_walks_merge_the_entrys_puts_in_order(kv: DirectNode, tmp_path: Path) -> None:
    """Members put out of order, put again and removed in one entry, with walks between the
    puts: each walk sees what one entry per command would have shown."""
    argvs = [[b"zadd", b"z", b"3", b"c", b"1", b"a", b"2", b"b"], [b"zrange", b"z", b"0", b"-1"],
             [b"zadd", b"z", b"0", b"c", b"5", b"a", b"4", b"d"], [b"zscan", b"z", b"0"],
             [b"zrange", b"z", b"0", b"-1", b"withscores"], [b"zrem", b"z", b"b"],
             [b"hset", b"h", b"y", b"1", b"x", b"2"], [b"hset", b"h", b"w", b"3", b"y", b"4"],
             [b"hkeys", b"h"], [b"zadd", b"z", b"1", b"b"], [b"zrangebyscore", b"z", b"1", b"4"],
             [b"zrange", b"z", b"0", b"-1", b"withscores"]]
    one_entry = apply(kv, (TRANSACTION, [(0, argv) for argv in argvs]))[0]
    separate = DirectNode(tmp_path / "separate")
    assert one_entry == [apply(separate, (COMMAND, 0, argv))[0] for argv in argvs]
    assert list(one_entry[-1]) == [(b"c", 0.0), (b"b", 1.0), (b"d", 4.0), (b"a", 5.0)]
    separate.store.close()


def test_wrong_type_everywhere(kv: DirectNode) -> None:
    kv.call("set", "s", "x")
    kv.call("hset", "h", "f", "v")
    wrong = CommandError(errors.WRONGTYPE)
    for argv in (("hget", "s", "f"), ("hset", "s", "f", "v"), ("hgetall", "s"), ("hlen", "s"),
                 ("get", "h"), ("append", "h", "x"), ("incr", "h"), ("strlen", "h"),
                 ("getrange", "h", "0", "1"), ("setrange", "h", "0", "x"), ("getset", "h", "x"),
                 ("hrandfield", "s"), ("hscan", "s", "0"), ("hincrby", "s", "f", "1")):
        assert kv.call(*argv) == wrong, argv
    assert kv.call("mget", "h", "s") == [None, b"x"]
    assert kv.call("type", "h") == "hash"
    assert kv.call("set", "h", "now a string") == "OK"
    assert kv.call("get", "h") == b"now a string"


def test_small_collection_drop_uses_point_deletes(kv: DirectNode,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    kv.call("hset", "h", *[str(i) for i in range(20)])
    meta = cs.lookup(kv.store.keyspace(0, NOW), b"h", HASH)
    spy = BatchSpy(monkeypatch)
    assert kv.call("del", "h") == 1
    assert spy.sizes[-1][1] == 0  # no range tombstone
    assert records_under(kv, meta.prefix) == 0


def test_rename_copy_move_carry_elements(kv: DirectNode) -> None:
    kv.call("hset", "h", "a", "1", "b", "2")
    kv.call("pexpire", "h", "100000")
    assert kv.call("copy", "h", "c") == 1
    assert kv.call("rename", "h", "r") == "OK"
    assert kv.call("hgetall", "h") == {}
    assert kv.call("hgetall", "r") == kv.call("hgetall", "c") == {b"a": b"1", b"b": b"2"}
    assert kv.call("pttl", "r") == 100000
    assert kv.call("move", "r", "1") == 1
    assert kv.call("hgetall", "r", db=1) == {b"a": b"1", b"b": b"2"}
    kv.call("hset", "c", "a", "changed")
    assert kv.call("hget", "r", "a", db=1) == b"1"  # a copy, not shared records
    assert kv.call("flushall") == "OK"
    assert records_under(kv, b"s") == 0


def test_expired_collection_is_replaced_cleanly(kv: DirectNode) -> None:
    kv.call("hset", "h", "a", "1")
    kv.call("pexpire", "h", "10")
    assert kv.call("hset", "h", "b", "2", now=NOW + 20) == 1
    assert kv.call("hgetall", "h", now=NOW + 20) == {b"b": b"2"}
    assert kv.call("dbsize") == 1


# -- big collections -----------------------------------------------------------------------------
def _build_big_hash(kv: DirectNode, key: str) -> None:
    """BIG fields, CHUNK per entry (each entry one HSET)."""
    for base in range(0, BIG, CHUNK):
        argv = [b"hset", key.encode()]
        for i in range(base, base + CHUNK):
            field = b"field:%d" % i
            argv += (field, field)
        assert apply(kv, (COMMAND, 0, argv)) == [CHUNK]


@pytest.mark.parametrize("how", ["del", "expire", "overwrite"])
def test_dropping_a_million_fields_is_constant_work(kv: DirectNode, how: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    _build_big_hash(kv, "big")
    assert kv.call("hlen", "big") == BIG
    meta = cs.lookup(kv.store.keyspace(0, NOW), b"big", HASH)
    spy = BatchSpy(monkeypatch)
    if how == "del":
        item = command("del", "big")
    elif how == "expire":
        kv.call("pexpire", "big", "5")
        item = (EXPIRE, 0, [b"big"])
    else:
        item = command("set", "big", "small")
    tracemalloc.start()
    result = apply(kv, item, now=NOW + 10)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert result == [1] or result == ["OK"]
    pending, ranges = spy.sizes[-1]
    assert ranges == 1 and pending <= 4  # metadata, expiry index, counters: not the fields
    assert peak < 1_000_000  # bytes allocated while applying: not proportional to the hash
    assert records_under(kv, meta.prefix) == 0
    assert kv.call("hlen", "big", now=NOW + 10) == (0 if how != "overwrite" else
                                                    CommandError(errors.WRONGTYPE))
    kv.call("del", "big", now=NOW + 20)
    kv.call("hset", "big", "again", "1", now=NOW + 20)
    assert kv.call("hgetall", "big", now=NOW + 20) == {b"again": b"1"}


# -- sorted sets ----------------------------------------------------------------------------------
def test_zset_orders_negative_positive_and_infinite_scores(kv: DirectNode) -> None:
    """Byte order of the score index is Redis's order: score, then member (ties), with -inf
    and +inf at the ends, -0 equal to 0, and subnormals and huge values in between."""
    scores = {"ninf": "-inf", "big_neg": "-1e300", "neg": "-2.5", "neg_tiny": "-1e-310",
              "zero_b": "0", "zero_a": "-0", "tiny": "1e-310", "one_b": "1", "one_a": "1",
              "big": "1e300", "pinf": "+inf"}
    kv.call("zadd", "z", *[x for member, score in scores.items() for x in (score, member)])
    expected = [b"ninf", b"big_neg", b"neg", b"neg_tiny", b"zero_a", b"zero_b", b"tiny",
                b"one_a", b"one_b", b"big", b"pinf"]
    assert kv.call("zrange", "z", "0", "-1") == expected
    assert kv.call("zrange", "z", "0", "-1", "rev") == expected[::-1]
    assert kv.call("zrangebyscore", "z", "-inf", "(0") == expected[:4]
    assert kv.call("zrangebyscore", "z", "(-inf", "(+inf") == expected[1:-1]
    assert kv.call("zrevrangebyscore", "z", "+inf", "(1") == [b"pinf", b"big"]
    assert kv.call("zcount", "z", "-0", "0") == 2
    assert [kv.call("zrank", "z", member) for member in ("ninf", "zero_a", "pinf")] == [0, 4, 10]
    ranged = kv.call("zrange", "z", "0", "-1", "withscores")
    assert [score for _, score in ranged] == sorted(float(s) for s in scores.values())
    assert kv.call("zpopmax", "z") == [b"pinf", float("inf")]
    assert kv.call("zpopmin", "z") == [b"ninf", float("-inf")]


def test_dropping_a_big_zset_is_constant_work(kv: DirectNode,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    members = 200_000
    for base in range(0, members, CHUNK):
        argv = [b"zadd", b"big"]
        for i in range(base, base + CHUNK):
            argv += (b"%d" % (i % 1000 - 500), b"member:%d" % i)
        assert apply(kv, (COMMAND, 0, argv)) == [CHUNK]
    assert kv.call("zcard", "big") == members
    assert kv.call("object", "encoding", "big") == b"skiplist"
    meta = cs.lookup(kv.store.keyspace(0, NOW), b"big", ZSET)
    assert records_under(kv, meta.prefix) == 2 * members  # member records + score index
    spy = BatchSpy(monkeypatch)
    assert kv.call("del", "big") == 1
    pending, ranges = spy.sizes[-1]
    assert ranges == 1 and pending <= 4
    assert records_under(kv, meta.prefix) == 0
    assert kv.call("zcard", "big") == 0
    assert kv.call("zadd", "big", "1", "again") == 1
    assert kv.call("zrange", "big", "0", "-1", "withscores") == [(b"again", 1.0)]


def test_random_picks_on_a_big_set_spread_and_pop_each_member_once(kv: DirectNode) -> None:
    members = [b"m%04d" % i for i in range(1000)]  # past the walk threshold: picks seek
    assert kv.call("sadd", "s", *members) == len(members)
    counts: dict[bytes, int] = {}
    for _ in range(20_000):  # through entries: each one seeds its own picks
        picked = apply(kv, (COMMAND, 0, [b"srandmember", b"s"]))[0]
        counts[picked] = counts.get(picked, 0) + 1
    # 20 draws per member on average; stopping the seek's steps at the end of the set (the
    # old code) gave the last member about 150.
    assert max(counts.values()) < 60, sorted(counts.items(), key=lambda item: -item[1])[:3]
    assert len(counts) > 950
    popped = [apply(kv, (COMMAND, 0, [b"spop", b"s"]))[0] for _ in members]
    assert sorted(popped) == members
    assert kv.call("exists", "s") == 0


def test_spops_in_one_entry_see_the_entry_s_own_deletions_and_additions(kv: DirectNode) -> None:
    members = [b"m%04d" % i for i in range(400)]  # past the walk threshold: picks seek
    assert kv.call("sadd", "s", *members) == len(members)
    # 100 pops per entry: each pick skips the members popped earlier in the same entry
    popped = []
    for _ in range(3):
        popped += apply(kv, *[command("spop", "s") for _ in range(100)])
    # one more entry adds members before popping: picks merge those pending additions too
    added = [b"n%04d" % i for i in range(50)]
    replies = apply(kv, command("sadd", "s", *added), *[command("spop", "s") for _ in range(60)])
    assert replies[0] == len(added)
    popped += replies[1:]
    assert len(popped) == len(set(popped)) == 360
    left = set(kv.call("smembers", "s"))
    assert left.isdisjoint(popped)
    assert left | set(popped) == set(members) | set(added)


def test_walks_in_one_entry_merge_its_additions_and_hide_its_removals(kv: DirectNode) -> None:
    stored = {b"m%03d" % i: float(i) for i in range(0, 200, 2)}
    assert kv.call("zadd", "z", *[part for m, s in stored.items() for part in (str(s), m)]) == 100
    added = {b"m%03d" % i: float(i) for i in range(1, 40, 2)}
    removed = [b"m%03d" % i for i in range(0, 60, 4)]
    replies = apply(kv, command("zadd", "z", *[p for m, s in added.items() for p in (str(s), m)]),
                    command("zrem", "z", *removed),
                    command("zrevrange", "z", "0", "-1"), command("zrange", "z", "0", "-1"),
                    command("zscan", "z", "0", "count", "1000"))
    expected = sorted((set(stored) | set(added)) - set(removed),
                      key=lambda m: {**stored, **added}[m])
    assert replies[:2] == [len(added), len(removed)]
    assert replies[2] == expected[::-1] and replies[3] == expected
    assert sorted(replies[4][1][::2]) == sorted(expected)
