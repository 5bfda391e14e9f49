"""Hashes, lists, sets and sorted sets on RocksDB: one record per element, as Apache Kvrocks
lays them out.

Per key, the keyspace record (``storage.encode_record``) holds the metadata:
    version(8) count(8) flags(1)              hash, set, sorted set
    version(8) count(8) flags(1) head(8)      list (tail = head + count)
and each element is a record of its own under the key's current version:
    b"s" + dbid + len(key)(4) + key + version(8) + field   -> value       hash
    ... + version(8) + member                              -> b""         set
    ... + version(8) + index(8)                            -> element     list
    ... + version(8) + b"m" + member                       -> score(8)    sorted set
    ... + version(8) + b"i" + score(8) + member            -> b"" (b"-")  score index

List indexes are offsets from 2**63 (big-endian), so byte order is list order and both ends
grow in O(1). Scores are IEEE 754 doubles with the sign bit flipped (all bits for negatives),
so byte order is score order, -inf and +inf included; then ties sort by member, as in Redis.
The index folds -0.0 into 0.0 (Redis orders them as equals, by member); an index record whose
score is -0.0 has the value b"-", so a walk over the index still returns the exact score.
Only a skiplist-encoded sorted set keeps a -0.0: Redis's listpack stores scores as text, "0".

Versions come from a counter stored in RocksDB (``VERSION_KEY``), advanced inside the entry's
transaction: every node assigns the same version, and a key deleted and recreated in one entry
still gets a new one. Deleting or replacing a collection (DEL, expiry, SET over it, RENAME
onto it, FLUSHDB) only has to make its old version unreachable:

    Small collections (at most ``POINT_DROP_LIMIT`` records) have their records deleted one
    by one in the same WriteBatch. Bigger ones get one RocksDB ``delete_range`` over the old
    version's prefix, in the same WriteBatch as the metadata change: O(1) to issue whatever
    the size, atomic with the delete (no window in which a reader, a snapshot or a replica
    sees half a collection), and replicated like any write since every node applies the same
    entry. The space is reclaimed by RocksDB's compactions in the background, without a
    cleanup command to propose, track and retry. Range tombstones are not free for reads,
    which is why small collections (the common case) use plain point deletes instead.

Writes happen only in the state machine, through ``ks.txn``; reads use the keyspace without a
transaction. Iterators merge RocksDB with the transaction's pending writes, as
``Keyspace._iter_records`` does, so commands later in a MULTI see earlier ones.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
import operator
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from rocksdict import Rdict

from . import errors
from .errors import CommandError
from .notify import GENERIC
from .resp import parse_int
from .storage import (
    ELEMENT_DROPPERS,
    HASH,
    LIST,
    SET,
    STREAM,
    ZSET,
    Keyspace,
    end_of_prefix,
    read_below,
    record_size,
)

VERSION_KEY = b"\x00version"
POINT_DROP_LIMIT = 128
LIST_ORIGIN = 2**63

_BIG = 1  # flags: Redis would have converted it to its big encoding (never converted back)
_HEAD = struct.Struct(">QQB")
_LIST_HEAD = struct.Struct(">QQBQ")
_DOUBLE = struct.Struct(">d")
_U64 = struct.Struct(">Q")
_SMALL_ENCODING = {HASH: b"listpack", SET: b"intset", ZSET: b"listpack", LIST: b"quicklist",
                   STREAM: b"stream"}
_BIG_ENCODING = {HASH: b"hashtable", SET: b"hashtable", ZSET: b"skiplist", LIST: b"quicklist",
                 STREAM: b"stream"}
ZMEMBER, ZINDEX = b"m", b"i"


@dataclass(slots=True)
class Meta:
    """A collection's metadata, as read (or freshly created) by a command."""

    kind: int
    version: int
    count: int = 0
    flags: int = 0
    head: int = LIST_ORIGIN
    expire_at: int = 0
    new: bool = False  # not stored yet: saving creates the key
    prefix: bytes = b""  # where its elements live

    @property
    def tail(self) -> int:
        return self.head + self.count

    def payload(self) -> bytes:
        if self.kind == LIST:
            return _LIST_HEAD.pack(self.version, self.count, self.flags, self.head)
        return _HEAD.pack(self.version, self.count, self.flags)

    @property
    def encoding(self) -> bytes:
        return (_BIG_ENCODING if self.flags & _BIG else _SMALL_ENCODING)[self.kind]

    def mark_big(self) -> None:
        self.flags |= _BIG


def element_prefix(ks: Keyspace, key: bytes, version: int) -> bytes:
    return b"s" + bytes((ks.dbid,)) + len(key).to_bytes(4, "big") + key + _U64.pack(version)


def _decode(ks: Keyspace, key: bytes, kind: int, expire_at: int, payload: bytes) -> Meta:
    if kind == LIST:
        version, count, flags, head = _LIST_HEAD.unpack(payload)
    else:
        (version, count, flags), head = _HEAD.unpack(payload), LIST_ORIGIN
    return Meta(kind, version, count, flags, head, expire_at, False,
                element_prefix(ks, key, version))


def lookup(ks: Keyspace, key: bytes, kind: int, woken: bool = False) -> Meta | None:
    """The live collection at key, None if missing; WRONGTYPE if it holds another type, but
    None for a parked blocking pop's wake-up try (``woken``): Redis serves a parked client
    only from a key of the type it waits for, and leaves it parked otherwise."""
    record = ks.lookup(key)
    if record is None:
        return None
    if record[0] != kind:
        if woken:
            return None
        raise CommandError(errors.WRONGTYPE)
    return _decode(ks, key, kind, record[1], record[2])


def from_record(ks: Keyspace, key: bytes, record: tuple[int, int, bytes]) -> Meta:
    """The collection in a record ``ks.lookup`` returned (its type checked by the caller)."""
    return _decode(ks, key, *record)


def lookup_any(ks: Keyspace, key: bytes) -> Meta | None:
    """The live collection at key whatever its type (None for strings and missing keys)."""
    record = ks.lookup(key)
    if record is None or record[0] not in _SMALL_ENCODING:
        return None
    return _decode(ks, key, record[0], record[1], record[2])


def next_version(ks: Keyspace) -> int:
    """A version no key has used, the same on every node (fragmented strings use them too)."""
    txn = ks.txn
    raw = txn.get(VERSION_KEY)
    version = (int.from_bytes(raw, "big") if raw else 0) + 1
    txn.put(VERSION_KEY, _U64.pack(version))
    return version


def create(ks: Keyspace, key: bytes, kind: int) -> Meta:
    """A new, empty collection with a fresh version; stored by ``save`` once it has elements."""
    version = next_version(ks)
    return Meta(kind, version, new=True, prefix=element_prefix(ks, key, version))


def lookup_or_create(ks: Keyspace, key: bytes, kind: int) -> Meta:
    return lookup(ks, key, kind) or create(ks, key, kind)


def save(ks: Keyspace, key: bytes, meta: Meta) -> None:
    """Store changed metadata; an emptied collection is deleted, as Redis never keeps one
    (but a stream, which keeps its last id and groups when empty)."""
    if meta.count <= 0 and meta.kind != STREAM:
        if not meta.new:
            ks.delete(key)
    elif meta.new:
        ks.put(key, meta.kind, meta.payload(), meta.expire_at)  # drops an expired old value
        meta.new = False
    else:
        ks.rewrite(key, meta.kind, meta.payload(), meta.expire_at)


def save_notifying(ks: Keyspace, key: bytes, meta: Meta, kind: int, event: bytes) -> None:
    """``save``, then Redis's events: the command's, and ``del`` if it emptied the key."""
    save(ks, key, meta)
    ks.notify(kind, event, key)
    if meta.count <= 0:
        ks.notify(GENERIC, b"del", key)


def _drop(ks: Keyspace, key: bytes, payload: bytes, records_per_element: int) -> None:
    """ELEMENT_DROPPERS hook: make a deleted or replaced collection's elements disappear."""
    version, count = _HEAD.unpack_from(payload)[:2]
    prefix = element_prefix(ks, key, version)
    if count * records_per_element <= POINT_DROP_LIMIT:
        ks.txn.drop_elements(prefix, [full for full, _ in iter_range(ks, prefix,
                                                                    end_of_prefix(prefix))])
    else:
        ks.txn.drop_elements(prefix, None)


def _dropper(records_per_element: int):
    return lambda ks, key, payload: _drop(ks, key, payload, records_per_element)


for _kind in (HASH, LIST, SET):
    ELEMENT_DROPPERS[_kind] = _dropper(1)
ELEMENT_DROPPERS[ZSET] = _dropper(2)  # member record + score index record


# -- reading elements ---------------------------------------------------------------------------
def get(ks: Keyspace, full: bytes) -> bytes | None:
    return ks.txn.get(full) if ks.txn is not None else ks.store.db.get(full)


def iter_range(ks: Keyspace, lo: bytes, hi: bytes, reverse: bool = False
               ) -> Iterator[tuple[bytes, bytes]]:
    """Records with lo <= key < hi, in byte order (or reversed), RocksDB merged with the
    transaction's pending writes (the approach of ``Keyspace._iter_records``)."""
    return RangeReader(ks, lo, hi).records(reverse=reverse)


class RangeReader:
    """The records of one key range, for several walks into it (a random pick seeks three
    times): RocksDB's own walk without the keys the entry has pending, merged with the
    records the entry put there (Transaction.element_puts_between: no scan of every pending
    write, which in an entry of 800 SPOPs cost more than the pick)."""

    __slots__ = ("db", "lo", "hi", "pending", "puts", "skip_db")

    def __init__(self, ks: Keyspace, lo: bytes, hi: bytes) -> None:
        self.db, self.lo, self.hi = ks.store.db, lo, hi
        txn = ks.txn
        self.pending = txn.pending if txn is not None else {}
        self.puts = txn.element_puts_between(lo, hi) if self.pending else []
        self.skip_db = txn is not None and ks.dbid in txn.flushed

    def records(self, start: bytes | None = None, reverse: bool = False
                ) -> Iterator[tuple[bytes, bytes]]:
        """Records in byte order from start (default lo) on, or reversed from the end."""
        lo = self.lo if start is None or reverse else start
        pending = self.pending
        stored: Iterator[tuple[bytes, bytes]] = iter(()) if self.skip_db else \
            _stored_range(self.db, lo, self.hi, reverse)
        if pending:
            stored = (record for record in stored if record[0] not in pending)
        puts = self.puts
        if puts and lo != self.lo:
            puts = puts[bisect.bisect_left(puts, lo):]
        if not puts:
            return stored
        written = ((key, pending[key]) for key in (reversed(puts) if reverse else puts)
                   if pending.get(key) is not None)
        return heapq.merge(stored, written, key=operator.itemgetter(0), reverse=reverse)


def _stored_range(db: Rdict, lo: bytes, hi: bytes, reverse: bool
                  ) -> Iterator[tuple[bytes, bytes]]:
    """RocksDB alone (every read, most writes): the iterator itself stops at hi, so the loop
    runs in rocksdict, about twice as fast as stepping it from Python. rocksdict ignores a
    lower bound: a reverse walk stops at lo here."""
    bounds = read_below(hi)  # referenced while the walk lives: the iterator points into it
    if reverse:
        yield from itertools.takewhile(lambda item: item[0] >= lo,
                                       db.items(backwards=True, read_opt=bounds))
    else:
        yield from db.items(from_key=lo, read_opt=bounds)


def element_records(meta: Meta, ks: Keyspace) -> Iterator[tuple[bytes, bytes]]:
    """(full record key, value) of all of a collection's records, in order: for a caller
    that reads them all and slices the keys itself (one generator fewer per record)."""
    return iter_range(ks, meta.prefix, end_of_prefix(meta.prefix))


def iter_elements(meta: Meta, ks: Keyspace, start: bytes = b"", reverse: bool = False
                  ) -> Iterator[tuple[bytes, bytes]]:
    """(suffix after the version, value) of a collection's records, from start on."""
    prefix = meta.prefix
    cut = len(prefix)
    if reverse:
        lo, hi = prefix, (prefix + start if start else end_of_prefix(prefix))
    else:
        lo, hi = prefix + start, end_of_prefix(prefix)
    for full, value in iter_range(ks, lo, hi, reverse):
        yield full[cut:], value


# -- writing elements (state machine only) ------------------------------------------------------
def put(ks: Keyspace, meta: Meta, suffix: bytes, value: bytes) -> None:
    ks.txn.put(meta.prefix + suffix, value)


def insert_all(ks: Keyspace, meta: Meta, records: Iterable[tuple[bytes, bytes]]) -> None:
    """``put`` of (suffix, value) records the caller knows are absent (a new collection's):
    no reads, the sizes counted once."""
    prefix = meta.prefix
    ks.txn.insert_elements([(prefix + suffix, value) for suffix, value in records])


def delete(ks: Keyspace, meta: Meta, suffix: bytes) -> None:
    ks.txn.delete(meta.prefix + suffix)


def delete_between(ks: Keyspace, meta: Meta, lo: bytes, hi: bytes, records: int) -> None:
    """Delete the records with suffix in [lo, hi), ``records`` of them (point deletes when few)."""
    found = iter_range(ks, meta.prefix + lo, meta.prefix + hi)
    if records <= POINT_DROP_LIMIT:
        for full, value in list(found):
            ks.txn.delete(full, value)
    else:  # the range's size is summed from a read of it: it is only part of the collection
        size = sum(record_size(full, value) for full, value in found)
        ks.txn.delete_range(meta.prefix + lo, meta.prefix + hi, size)


def copy_to(ks: Keyspace, meta: Meta, target: Keyspace, target_key: bytes) -> None:
    """Write a copy of the collection under target_key (replacing it), TTL included: O(N),
    since element records are named after their key (RENAME, COPY and MOVE use it)."""
    copied = create(target, target_key, meta.kind)
    copied.count, copied.flags, copied.head = meta.count, meta.flags, meta.head
    copied.expire_at = meta.expire_at
    records = list(iter_elements(meta, ks))  # read before the target may replace the source
    save(target, target_key, copied)
    for suffix, value in records:
        put(target, copied, suffix, value)


# -- encodings ------------------------------------------------------------------------------------
def is_intset_member(member: bytes) -> bool:
    return len(member) <= 20 and parse_int(member) is not None


def list_index(position: int) -> bytes:
    return _U64.pack(position)


def encode_score(score: float) -> bytes:
    """8 bytes whose byte order is the numeric order of doubles (-0.0 sorts as 0.0)."""
    if score == 0:
        score = 0.0
    (bits,) = _U64.unpack(_DOUBLE.pack(score))
    return _U64.pack(bits ^ 0xFFFFFFFFFFFFFFFF if bits >> 63 else bits | 1 << 63)


def decode_score(raw: bytes) -> float:
    (bits,) = _U64.unpack(raw)
    bits = bits ^ (1 << 63) if bits >> 63 else bits ^ 0xFFFFFFFFFFFFFFFF
    return _DOUBLE.unpack(_U64.pack(bits))[0]


def pack_double(score: float) -> bytes:
    """A member record's value: the exact double (keeps -0.0, which the index folds)."""
    return _DOUBLE.pack(score)


def unpack_double(raw: bytes) -> float:
    return _DOUBLE.unpack(raw)[0]


# -- sorted sets ----------------------------------------------------------------------------------
def _index_suffix(score: float, member: bytes) -> bytes:
    return ZINDEX + encode_score(score) + member


def _score_after(score: float) -> bytes:
    """The 8 bytes just above encode_score(score): where scores greater than it begin."""
    return _U64.pack(_U64.unpack(encode_score(score))[0] + 1)


def zset_score(ks: Keyspace, meta: Meta, member: bytes) -> float | None:
    raw = get(ks, meta.prefix + ZMEMBER + member)
    return None if raw is None else unpack_double(raw)


def zset_put(ks: Keyspace, meta: Meta, member: bytes, score: float, old: float | None) -> None:
    """Set member's score (old: its current score, None when it is new), both records.
    Mark the collection big first when it is, since that decides whether -0.0 is kept."""
    txn, prefix = ks.txn, meta.prefix
    old_record = None
    if old is not None:  # its records as zset_score read them: their sizes need no read
        old_record = pack_double(old)
        txn.delete(prefix + _index_suffix(old, member), b"-" if _is_negative_zero(old) else b"")
    (member_suffix, score_record), (index_suffix, index_record) = zset_records(
        meta, member, score)
    if old_record is None:  # a new member: neither of its records exists, no reads
        txn.insert(prefix + member_suffix, score_record)
        txn.insert(prefix + index_suffix, index_record)
    else:
        txn.replace(prefix + member_suffix, score_record, old_record)
        txn.put(prefix + index_suffix, index_record)


def zset_records(meta: Meta, member: bytes, score: float
                 ) -> tuple[tuple[bytes, bytes], tuple[bytes, bytes]]:
    """A member's two (suffix, value) records: its score, and its place in score order
    (-0.0 kept only in a big zset, as Redis's skiplist keeps it and its listpack does not)."""
    negative_zero = _is_negative_zero(score)
    if negative_zero and not meta.flags & _BIG:
        score, negative_zero = 0.0, False
    return ((ZMEMBER + member, pack_double(score)),
            (_index_suffix(score, member), b"-" if negative_zero else b""))


def _is_negative_zero(score: float) -> bool:
    return score == 0 and math.copysign(1.0, score) < 0


def zset_delete(ks: Keyspace, meta: Meta, member: bytes, score: float) -> None:
    delete(ks, meta, ZMEMBER + member)
    delete(ks, meta, _index_suffix(score, member))


def iter_zset(ks: Keyspace, meta: Meta, reverse: bool = False,
              low: tuple[float, bool] | None = None, high: tuple[float, bool] | None = None
              ) -> Iterator[tuple[bytes, float]]:
    """(member, score) in score order then member (or the reverse), optionally only the
    scores within low and high, each (score, exclusive)."""
    base = meta.prefix + ZINDEX
    lo, hi = base, meta.prefix + end_of_prefix(ZINDEX)
    if low is not None:
        lo = base + (_score_after(low[0]) if low[1] else encode_score(low[0]))
    if high is not None:
        hi = base + (encode_score(high[0]) if high[1] else _score_after(high[0]))
    if lo >= hi:
        return
    cut = len(base)
    for full, value in iter_range(ks, lo, hi, reverse):
        yield full[cut + 8:], -0.0 if value else decode_score(full[cut:cut + 8])


def zset_rank(ks: Keyspace, meta: Meta, member: bytes, score: float) -> int:
    """How many members sort before member (O(rank): RocksDB keeps no counts)."""
    base = meta.prefix + ZINDEX
    return sum(1 for _ in iter_range(ks, base, base + encode_score(score) + member))
