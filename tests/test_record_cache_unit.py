"""The store's RecordCache (rcache.storage): what applied entries wrote, read without RocksDB.

Its contract: it never answers with a record RocksDB no longer holds (every write, delete,
flush and snapshot reaches it), it stays within its byte bound, and a read that misses it
reads RocksDB without filling it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rcache import storage
from rcache.storage import RECORD_PREFIXES, Store

from .test_commands_unit import NOW, DirectNode


@pytest.fixture
def kv(tmp_path: Path) -> Iterator[DirectNode]:
    node = DirectNode(tmp_path / "db")
    yield node
    node.store.close()


def cached(kv: DirectNode, key: bytes, db: int = 0) -> bytes | None:
    return kv.store.records.get(RECORD_PREFIXES[kv.store.dbmap[db]] + key)


def test_reads_follow_every_kind_of_write(kv: DirectNode) -> None:
    assert kv.call("SET", "k", "v1") == "OK"
    assert cached(kv, b"k") is not None and kv.call("GET", "k") == b"v1"
    kv.call("APPEND", "k", "+")
    assert kv.call("GET", "k") == b"v1+"
    kv.call("DEL", "k")
    assert cached(kv, b"k") is None and kv.call("GET", "k") is None
    kv.call("SET", "k", "v2")
    kv.call("SET", "other", "x", db=1)
    kv.call("SWAPDB", "0", "1")
    assert (kv.call("GET", "k"), kv.call("GET", "other")) == (None, b"x")
    assert kv.call("GET", "k", db=1) == b"v2"
    kv.call("FLUSHALL")
    assert len(kv.store.records) == 0 and kv.store.records.size == 0
    assert kv.call("GET", "k", db=1) is None
    kv.call("SET", "t", "v", "PX", "100")
    assert cached(kv, b"t") is not None
    assert kv.call("GET", "t", now=NOW + 1_000) is None  # its expiry still counts


def test_while_rocksdb_takes_an_entry_its_keys_are_read_from_rocksdb(
        kv: DirectNode, monkeypatch: pytest.MonkeyPatch) -> None:
    """The loop may read while the applying thread writes: a key of the entry served from the
    cache then could be older than what a read of RocksDB (KEYS, SCAN) already returned."""
    kv.call("SET", "a", "v1")
    kv.call("SET", "b", "v1")
    seen = []
    write = Store.write

    def spying(store: Store, batch) -> None:
        seen.append((cached(kv, b"a"), cached(kv, b"b")))
        write(store, batch)

    monkeypatch.setattr(Store, "write", spying)
    kv.call("SET", "a", "v2")
    kv.call("DEL", "a")
    kv.call("FLUSHALL")
    assert seen == [(None, b"\x01v1"), (None, b"\x01v1"), (None, None)]


def test_a_miss_reads_rocksdb_and_does_not_fill_it(kv: DirectNode) -> None:
    kv.call("SET", "k", "v")
    kv.store.records.forget_all()  # as after a restart: RocksDB holds it, the cache not
    assert kv.call("GET", "k") == b"v"
    assert cached(kv, b"k") is None


def test_it_stays_within_its_bound_and_keeps_the_latest(
        kv: DirectNode, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage, "RECORD_CACHE_BYTES", 20_000)
    for n in range(1000):
        kv.call("SET", f"key:{n}", "x" * 10)
    records = kv.store.records
    assert 0 < records.size <= 20_000
    assert cached(kv, b"key:999") is not None and cached(kv, b"key:0") is None
    assert records.size == sum(len(k) + len(v) + storage._CACHED_OVERHEAD
                               for k, v in records.items())
    assert [kv.call("GET", f"key:{n}") for n in (0, 999)] == [b"x" * 10] * 2
    kv.call("SET", "big", "y" * (storage.RECORD_CACHE_MAX_VALUE + 1))
    assert cached(kv, b"big") is None and kv.call("GET", "big") == b"y" * 4097


def test_a_full_cache_sheds_many_records_per_walk(
        kv: DirectNode, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each walk from the dict's start passes every dead slot its deleted keys left: one
    walk per written record, once full, cost more than the rest of a SET."""
    monkeypatch.setattr(storage, "RECORD_CACHE_BYTES", 20_000)  # ~140 of these records
    walks = []
    evict = storage.RecordCache._evict
    monkeypatch.setattr(storage.RecordCache, "_evict",
                        lambda cache, size: walks.append(size) or evict(cache, size))
    for n in range(1000):
        kv.call("SET", f"key:{n}", "x" * 10)
    shed = 20_000 // storage.RECORD_CACHE_SHED
    assert 0 < len(walks) <= 1000 // 8  # ~9 records per walk (one per SET: ~860 walks)
    assert 20_000 - shed - 200 <= kv.store.records.size <= 20_000


def test_a_new_database_comes_with_an_empty_cache(kv: DirectNode, tmp_path: Path) -> None:
    kv.call("SET", "k", "old")
    Store(str(tmp_path / "snapshot")).close()  # an empty database, as a snapshot installs
    kv.store.replace_with(str(tmp_path / "snapshot"))
    assert len(kv.store.records) == 0
    assert kv.call("GET", "k") is None
