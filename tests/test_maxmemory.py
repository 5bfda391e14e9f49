"""maxmemory: the dataset's logical size, eviction proposed by the leader, OOM replies.

The size accounting is checked in-process against a walk over every stored record; the rest
runs real nodes (and a real redis-server for the differential checks).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from rcache.commands import table
from rcache.storage import RECORD_OVERHEAD, elements_total_key

from .test_commands_unit import DirectNode

table.ensure_loaded()


@pytest.fixture
def kv(tmp_path: Path) -> Iterator[DirectNode]:
    node = DirectNode(tmp_path / "db")
    yield node
    node.store.close()


def walked_size(kv: DirectNode) -> tuple[int, dict[bytes, int]]:
    """The logical size summed over RocksDB itself, and per collection."""
    total, per_collection = 0, {}
    for key, value in kv.store.db.items():
        if key[:1] in (b"k", b"s"):
            size = len(key) + len(value) + RECORD_OVERHEAD
            total += size
            if key[:1] == b"s":
                owner = elements_total_key(key)
                per_collection[owner] = per_collection.get(owner, 0) + size
    return total, per_collection


def stored_totals(kv: DirectNode) -> dict[bytes, int]:
    return {key: int.from_bytes(value, "big", signed=True)
            for key, value in kv.store.db.items(from_key=b"z") if key[:1] == b"z"}


def random_command(rng: random.Random) -> list:
    key = f"k{rng.randrange(12)}"
    member = f"m{rng.randrange(300)}"
    value = "v" * rng.choice((1, 10, 100))
    return rng.choice([
        ["set", key, value], ["append", key, value], ["del", key], ["incr", key],
        ["hset", key, member, value], ["hdel", key, member],
        ["rpush", key, *[value] * rng.randrange(1, 80)], ["lpop", key, "3"],
        ["ltrim", key, "2", "-3"], ["sadd", key, member, member + "x"], ["srem", key, member],
        ["spop", key, "5"],
        ["zadd", key, str(rng.random()), member], ["zrem", key, member],
        ["zremrangebyrank", key, "0", "150"], ["expire", key, "100"], ["persist", key],
        ["setrange", key, str(rng.choice((10, 70_000, 200_000))), value],
        ["rename", key, f"k{rng.randrange(12)}"], ["copy", key, f"k{rng.randrange(12)}"],
        ["move", key, "1"], ["flushdb"], ["swapdb", "0", "1"],
    ] + [["zadd", key, *[x for i in range(200) for x in (str(i), f"{member}{i}")]]] * 2)


def test_logical_size_matches_the_records_after_random_writes(kv: DirectNode) -> None:
    rng = random.Random(19)
    for _ in range(3000):
        kv.call(*random_command(rng), db=rng.choice((0, 0, 0, 1)))
    total, per_collection = walked_size(kv)
    assert total > 0
    assert kv.store.used_bytes == total
    assert stored_totals(kv) == per_collection
    kv.call("flushall")
    assert kv.store.used_bytes == 0 and stored_totals(kv) == {}
