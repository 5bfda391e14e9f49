"""Streams on RocksDB: one record per entry, per consumer group, per pending entry and per
consumer, under the key's version like the other collections (see collections_store).

The keyspace record holds the usual collection metadata (version, count = XLEN, flags) and the
element records, after the version, are:
    b"\\x00"                                   -> last id, max deleted id, first id (16 each),
                                                 entries added (8)
    b"e" + id(16)                             -> the entry's ordinal (8: entries added when
                                                 it came) then its fields and values
    b"g" + group                              -> last delivered id(16), entries read(8, -1:
                                                 unknown), pending(8), consumers(8)
    b"p" + len(group)(4) + group + id(16)      -> delivery time(8), deliveries(8), consumer
    b"c" + len(group)(4) + group + consumer    -> seen time(8), pending(8)
    b"q" + len(group)(4) + group + len(consumer)(4) + consumer + id(16) -> b""
Ids are (ms, seq) pairs packed big-endian, so byte order is id order, as in Redis's radix
trees; groups and consumers sort by name as in Redis's. An empty stream stays a key.

The ordinal places an entry in the radix-tree node Redis would have put it in (a node holds
``stream-node-max-entries``, 100, entries in arrival order): approximate trimming removes
only whole nodes, as Redis's does.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

from . import collections_store as cs
from .notify import STREAM as STREAM_EVENTS
from .storage import ELEMENT_DROPPERS, STREAM, Keyspace, end_of_prefix

StreamId = tuple[int, int]
MAX_ID: StreamId = (2**64 - 1, 2**64 - 1)
ZERO_ID: StreamId = (0, 0)
UNKNOWN_READS = -1  # SCG_INVALID_ENTRIES_READ

_ID = struct.Struct(">QQ")
_STATE = struct.Struct(">QQQQQQQ")
_GROUP = struct.Struct(">QQqQQ")
_PENDING = struct.Struct(">QQ")
_CONSUMER = struct.Struct(">QQ")
_LEN = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_STATE_SUFFIX, ENTRY, GROUP, PEL, CONSUMER, CONSUMER_PEL = b"\x00", b"e", b"g", b"p", b"c", b"q"


def pack_id(stream_id: StreamId) -> bytes:
    return _ID.pack(*stream_id)


def unpack_id(raw: bytes) -> StreamId:
    return _ID.unpack(raw)


def format_id(stream_id: StreamId) -> bytes:
    return b"%d-%d" % stream_id


def encode_fields(fields: list[bytes]) -> bytes:
    return b"".join(_LEN.pack(len(item)) + item for item in fields)


def decode_fields(raw: bytes) -> list[bytes]:
    fields, pos = [], 0
    while pos < len(raw):
        (size,) = _LEN.unpack_from(raw, pos)
        fields.append(raw[pos + 4:pos + 4 + size])
        pos += 4 + size
    return fields


def _named(name: bytes) -> bytes:
    return _LEN.pack(len(name)) + name


@dataclass(slots=True)
class Group:
    name: bytes
    last_id: StreamId
    entries_read: int
    pending: int = 0
    consumers: int = 0

    def payload(self) -> bytes:
        return _GROUP.pack(*self.last_id, self.entries_read, self.pending, self.consumers)


@dataclass(slots=True)
class Pending:
    """One entry of a group's pending entries list (Redis's streamNACK)."""

    id: StreamId
    delivery_time: int
    deliveries: int
    consumer: bytes


@dataclass(slots=True)
class Consumer:
    name: bytes
    seen_time: int
    pending: int = 0


@dataclass(slots=True)
class Stream:
    """A stream as a command sees it: metadata, state, and its keyspace."""

    ks: Keyspace
    key: bytes
    meta: cs.Meta
    last_id: StreamId = ZERO_ID
    max_deleted_id: StreamId = ZERO_ID
    first_id: StreamId = ZERO_ID
    entries_added: int = 0
    # consumers this command read, by (group, name): every change goes through one object
    seen: dict[tuple[bytes, bytes], Consumer] = field(default_factory=dict)

    @property
    def length(self) -> int:
        return self.meta.count

    def save(self) -> None:
        """Store the metadata and the state (write commands, state machine only)."""
        cs.save(self.ks, self.key, self.meta)
        cs.put(self.ks, self.meta, _STATE_SUFFIX, _STATE.pack(
            *self.last_id, *self.max_deleted_id, *self.first_id, self.entries_added))

    # -- entries -----------------------------------------------------------------------------
    def _entry_records(self, low: StreamId, high: StreamId, reverse: bool = False
                       ) -> Iterator[tuple[StreamId, bytes]]:
        if low > high:
            return
        base = self.meta.prefix + ENTRY
        hi = end_of_prefix(base) if high == MAX_ID else base + pack_id(high) + b"\x00"
        for full, value in cs.iter_range(self.ks, base + pack_id(low), hi, reverse):
            yield unpack_id(full[-16:]), value

    def entries(self, low: StreamId = ZERO_ID, high: StreamId = MAX_ID, reverse: bool = False
                ) -> Iterator[tuple[StreamId, list[bytes]]]:
        """(id, fields) with low <= id <= high, in id order (or the reverse), lazily."""
        for found, value in self._entry_records(low, high, reverse):
            yield found, decode_fields(value[8:])

    def entry(self, stream_id: StreamId) -> list[bytes] | None:
        raw = cs.get(self.ks, self.meta.prefix + ENTRY + pack_id(stream_id))
        return None if raw is None else decode_fields(raw[8:])

    def head_nodes(self, node_entries: int) -> Iterator[list[StreamId]]:
        """The ids of the oldest entries, grouped by the node Redis would keep them in."""
        node, ids = -1, []
        for found, value in self._entry_records(ZERO_ID, MAX_ID):
            this = (_U64.unpack_from(value)[0] - 1) // node_entries
            if this != node and ids:
                yield ids
                ids = []
            node = this
            ids.append(found)
        if ids:
            yield ids

    def first_entry_id(self) -> StreamId:
        return next((found for found, _ in self.entries()), ZERO_ID)

    def last_entry_id(self) -> StreamId:
        """streamLastValidID: the id of the last entry (0-0 when empty)."""
        return next((found for found, _ in self.entries(reverse=True)), ZERO_ID)

    def append(self, stream_id: StreamId, fields: list[bytes]) -> None:
        self.entries_added += 1
        cs.put(self.ks, self.meta, ENTRY + pack_id(stream_id),
               _U64.pack(self.entries_added) + encode_fields(fields))
        self.meta.count += 1
        self.last_id = stream_id
        if self.meta.count == 1:
            self.first_id = stream_id

    def delete(self, stream_id: StreamId) -> bool:
        """XDEL of one id: True if it was there."""
        suffix = ENTRY + pack_id(stream_id)
        if cs.get(self.ks, self.meta.prefix + suffix) is None:
            return False
        cs.delete(self.ks, self.meta, suffix)
        self.meta.count -= 1
        self.max_deleted_id = max(self.max_deleted_id, stream_id)
        if stream_id == self.first_id:
            self.first_id = self.first_entry_id()
        return True

    def trim_through(self, last: StreamId, count: int) -> None:
        """Delete the ``count`` oldest entries, ``last`` the newest of them (XTRIM)."""
        cs.delete_between(self.ks, self.meta, ENTRY, ENTRY + pack_id(last) + b"\x00", count)
        self.meta.count -= count
        self.first_id = self.first_entry_id()

    # -- the lag of a group (Redis 7.0's streamRangeHasTombstones and friends) ----------------
    def has_tombstones_from(self, start: StreamId) -> bool:
        if not self.length or self.max_deleted_id == ZERO_ID:
            return False
        if self.first_id > self.max_deleted_id:
            return False
        return start <= self.max_deleted_id

    def estimate_reads(self, stream_id: StreamId) -> int:
        """streamEstimateDistanceFromFirstEverEntry."""
        if not self.entries_added:
            return 0
        if not self.length and stream_id <= self.last_id:
            return self.entries_added
        if stream_id == self.last_id:
            return self.entries_added
        if stream_id > self.last_id:
            return UNKNOWN_READS
        if self.max_deleted_id == ZERO_ID or self.max_deleted_id < self.first_id:
            if stream_id < self.first_id:
                return self.entries_added - self.length
            if stream_id == self.first_id:
                return self.entries_added - self.length + 1
        return UNKNOWN_READS

    def lag(self, group: Group) -> int | None:
        """streamReplyWithCGLag: None when it cannot be known."""
        if not self.entries_added:
            return 0
        if group.entries_read != UNKNOWN_READS and not self.has_tombstones_from(group.last_id):
            return self.entries_added - group.entries_read
        reads = self.estimate_reads(group.last_id)
        return None if reads == UNKNOWN_READS else self.entries_added - reads

    # -- groups --------------------------------------------------------------------------------
    def group(self, name: bytes) -> Group | None:
        raw = cs.get(self.ks, self.meta.prefix + GROUP + name)
        if raw is None:
            return None
        last_ms, last_seq, reads, pending, consumers = _GROUP.unpack(raw)
        return Group(name, (last_ms, last_seq), reads, pending, consumers)

    def groups(self) -> Iterator[Group]:
        for suffix, raw in cs.iter_elements(self.meta, self.ks, GROUP):
            if suffix[:1] != GROUP:
                return
            last_ms, last_seq, reads, pending, consumers = _GROUP.unpack(raw)
            yield Group(suffix[1:], (last_ms, last_seq), reads, pending, consumers)

    def save_group(self, group: Group) -> None:
        cs.put(self.ks, self.meta, GROUP + group.name, group.payload())

    def destroy_group(self, group: Group) -> None:
        named = _named(group.name)
        cs.delete(self.ks, self.meta, GROUP + group.name)
        for kind, records in ((PEL, group.pending), (CONSUMER, group.consumers),
                              (CONSUMER_PEL, group.pending)):
            cs.delete_between(self.ks, self.meta, kind + named,
                              end_of_prefix(kind + named), records)

    # -- pending entries -------------------------------------------------------------------------
    def pending(self, group: Group, stream_id: StreamId) -> Pending | None:
        raw = cs.get(self.ks, self.meta.prefix + PEL + _named(group.name) + pack_id(stream_id))
        if raw is None:
            return None
        time_ms, deliveries = _PENDING.unpack_from(raw)
        return Pending(stream_id, time_ms, deliveries, raw[16:])

    def pending_entries(self, group: Group, start: StreamId = ZERO_ID, end: StreamId = MAX_ID
                        ) -> Iterator[Pending]:
        """The group's PEL from start to end (inclusive), in id order, lazily."""
        if start > end:
            return
        base = self.meta.prefix + PEL + _named(group.name)
        hi = end_of_prefix(base) if end == MAX_ID else base + pack_id(end) + b"\x00"
        for full, raw in cs.iter_range(self.ks, base + pack_id(start), hi):
            time_ms, deliveries = _PENDING.unpack_from(raw)
            yield Pending(unpack_id(full[-16:]), time_ms, deliveries, raw[16:])

    def last_pending_id(self, group: Group) -> StreamId:
        base = self.meta.prefix + PEL + _named(group.name)
        for full, _ in cs.iter_range(self.ks, base, end_of_prefix(base), reverse=True):
            return unpack_id(full[-16:])
        return ZERO_ID

    def consumer_pending_ids(self, group: Group, consumer: bytes, start: StreamId = ZERO_ID,
                             end: StreamId = MAX_ID) -> Iterator[StreamId]:
        if start > end:
            return
        base = self.meta.prefix + CONSUMER_PEL + _named(group.name) + _named(consumer)
        hi = end_of_prefix(base) if end == MAX_ID else base + pack_id(end) + b"\x00"
        for full, _ in cs.iter_range(self.ks, base + pack_id(start), hi):
            yield unpack_id(full[-16:])

    def save_pending(self, group: Group, entry: Pending) -> None:
        """Store a PEL entry; the caller keeps the counts (see assign/unassign)."""
        cs.put(self.ks, self.meta, PEL + _named(group.name) + pack_id(entry.id),
               _PENDING.pack(entry.delivery_time, entry.deliveries) + entry.consumer)

    def _consumer_pel_suffix(self, group: Group, consumer: bytes, stream_id: StreamId) -> bytes:
        return CONSUMER_PEL + _named(group.name) + _named(consumer) + pack_id(stream_id)

    def add_pending(self, group: Group, entry: Pending, owner: Consumer) -> None:
        """A new PEL entry owned by ``owner`` (group, owner saved by the caller)."""
        group.pending += 1
        owner.pending += 1
        self.save_consumer(group, owner)
        self.save_pending(group, entry)
        cs.put(self.ks, self.meta, self._consumer_pel_suffix(group, owner.name, entry.id), b"")

    def move_pending(self, group: Group, entry: Pending, owner: Consumer) -> None:
        """Hand an existing PEL entry to ``owner`` (its old owner's count drops here)."""
        if entry.consumer != owner.name:
            old = self.consumer(group, entry.consumer)
            if old is not None:
                old.pending -= 1
                self.save_consumer(group, old)
            cs.delete(self.ks, self.meta, self._consumer_pel_suffix(group, entry.consumer,
                                                                    entry.id))
            cs.put(self.ks, self.meta, self._consumer_pel_suffix(group, owner.name, entry.id),
                   b"")
            owner.pending += 1
            self.save_consumer(group, owner)
            entry.consumer = owner.name
        self.save_pending(group, entry)

    def remove_pending(self, group: Group, entry: Pending) -> None:
        """Drop a PEL entry (XACK, a claim of a deleted entry); group saved by the caller."""
        group.pending -= 1
        cs.delete(self.ks, self.meta, PEL + _named(group.name) + pack_id(entry.id))
        cs.delete(self.ks, self.meta, self._consumer_pel_suffix(group, entry.consumer, entry.id))
        owner = self.consumer(group, entry.consumer)
        if owner is not None:
            owner.pending -= 1
            self.save_consumer(group, owner)

    # -- consumers --------------------------------------------------------------------------------
    def consumer(self, group: Group, name: bytes) -> Consumer | None:
        known = self.seen.get((group.name, name))
        if known is not None:
            return known
        raw = cs.get(self.ks, self.meta.prefix + CONSUMER + _named(group.name) + name)
        if raw is None:
            return None
        consumer = self.seen[group.name, name] = Consumer(name, *_CONSUMER.unpack(raw))
        return consumer

    def consumers(self, group: Group) -> Iterator[Consumer]:
        start = CONSUMER + _named(group.name)
        for suffix, raw in cs.iter_elements(self.meta, self.ks, start):
            if not suffix.startswith(start):
                return
            yield Consumer(suffix[len(start):], *_CONSUMER.unpack(raw))

    def save_consumer(self, group: Group, consumer: Consumer) -> None:
        cs.put(self.ks, self.meta, CONSUMER + _named(group.name) + consumer.name,
               _CONSUMER.pack(consumer.seen_time, consumer.pending))

    def create_consumer(self, group: Group, name: bytes) -> Consumer:
        """A new consumer, seen now (group saved by the caller); notified as Redis's
        streamCreateConsumer does."""
        consumer = self.seen[group.name, name] = Consumer(name, self.ks.now_ms)
        group.consumers += 1
        self.save_consumer(group, consumer)
        self.ks.notify(STREAM_EVENTS, b"xgroup-createconsumer", self.key)
        return consumer

    def delete_consumer(self, group: Group, consumer: Consumer) -> None:
        """XGROUP DELCONSUMER: its pending entries leave the group's PEL too."""
        for stream_id in list(self.consumer_pending_ids(group, consumer.name)):
            cs.delete(self.ks, self.meta, PEL + _named(group.name) + pack_id(stream_id))
            cs.delete(self.ks, self.meta,
                      self._consumer_pel_suffix(group, consumer.name, stream_id))
        group.pending -= consumer.pending
        group.consumers -= 1
        cs.delete(self.ks, self.meta, CONSUMER + _named(group.name) + consumer.name)
        self.seen.pop((group.name, consumer.name), None)


_STREAM_STRUCT, _GROUP_STRUCT, _CONSUMER_STRUCT, _NACK = 96, 56, 48, 32
_LISTPACK_BYTES = 4096  # stream-node-max-bytes: what Redis allocates for each node


def _radix_tree(elements: int) -> int:
    """Roughly what a Redis radix tree of ``elements`` 16-byte keys takes."""
    return 48 + 64 * elements


def memory_estimate(stream: Stream) -> int:
    """MEMORY USAGE's value for a stream, counted the way Redis's objectComputeSize does:
    the stream, its radix tree of listpack nodes (each allocated whole), and per group its
    PEL, its NACKs and its consumers."""
    nodes = -(-stream.length // 100)
    size = _STREAM_STRUCT + _radix_tree(nodes) + nodes * _LISTPACK_BYTES
    for group in stream.groups():
        size += _GROUP_STRUCT + _radix_tree(group.pending) + _NACK * group.pending
        for consumer in stream.consumers(group):
            size += _CONSUMER_STRUCT + len(consumer.name) + _radix_tree(consumer.pending)
    return size


def _from_meta(ks: Keyspace, key: bytes, meta: cs.Meta) -> Stream:
    raw = cs.get(ks, meta.prefix + _STATE_SUFFIX)
    values = _STATE.unpack(raw)
    return Stream(ks, key, meta, values[0:2], values[2:4], values[4:6], values[6])


def lookup(ks: Keyspace, key: bytes) -> Stream | None:
    """The stream at key, None if missing; WRONGTYPE if the key holds another type."""
    meta = cs.lookup(ks, key, STREAM)
    return None if meta is None else _from_meta(ks, key, meta)


def create(ks: Keyspace, key: bytes) -> Stream:
    """A new, empty stream; stored by ``Stream.save``."""
    return Stream(ks, key, cs.create(ks, key, STREAM))


def _drop(ks: Keyspace, key: bytes, payload: bytes) -> None:
    """ELEMENT_DROPPERS hook: point deletes for a small stream, one range delete otherwise
    (its record count is not kept, so a bounded look decides)."""
    version = int.from_bytes(payload[:8], "big")
    prefix = cs.element_prefix(ks, key, version)
    records = list(itertools.islice(cs.iter_range(ks, prefix, end_of_prefix(prefix)),
                                    cs.POINT_DROP_LIMIT + 1))
    if len(records) <= cs.POINT_DROP_LIMIT:
        ks.txn.drop_elements(prefix, [full for full, _ in records])
    else:
        ks.txn.drop_elements(prefix, None)


ELEMENT_DROPPERS[STREAM] = _drop

