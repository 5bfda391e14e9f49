"""Streams on RocksDB: one record per entry, per consumer group, per pending entry and per
consumer, under the key's version like the other collections (see collections_store).

The keyspace record holds the usual collection metadata (version, count = XLEN, flags) and the
element records, after the version, are:
    b"\\x00"                                   -> last id, max deleted id, first id (16 each),
                                                 entries added (8), nodes (8), radix-tree
                                                 nodes (8), the last node's master id (16)
    b"e" + id(16)                             -> its node's master id (16), its fields and
                                                 values
    b"n" + master id(16)                      -> a node (from that id on, up to the next
                                                 node's): last id (16), live and deleted
                                                 entries, listpack bytes (8 each), the
                                                 master entry's fields
    b"g" + group                              -> last delivered id(16), entries read(8, -1:
                                                 unknown), pending(8), consumers(8)
    b"p" + len(group)(4) + group + id(16)      -> delivery time(8), deliveries(8), consumer
    b"c" + len(group)(4) + group + consumer    -> seen time(8), pending(8)
    b"q" + len(group)(4) + group + len(consumer)(4) + consumer + id(16) -> b""
Ids are (ms, seq) pairs packed big-endian, so byte order is id order, as in Redis's radix
trees; groups and consumers sort by name as in Redis's. An empty stream stays a key.

Nodes are Redis's radix-tree nodes, each a listpack of entries: XADD opens a new one where
Redis's streamAppendItem does (the tail holds ``stream-node-max-entries`` entries, live or
deleted, or its listpack plus the new entry's fields and values reaches
``stream-node-max-bytes``), so each node tracks its listpack's size as Redis encodes it.
Deleted entries stay counted in their node, as Redis only flags them; XDEL of a node's last
live entry drops the node. Approximate trimming removes only whole nodes, as Redis's does.
The nodes' master ids are the keys of Redis's radix tree, whose shape depends on them only
(it stays compressed): a few seeks to the neighbouring keys tell how many tree nodes a key
adds or takes away (XINFO STREAM's radix-tree-nodes).
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

from . import collections_store as cs
from .encodings import EncodingLimits
from .notify import STREAM as STREAM_EVENTS
from .rdb import id_delta, listpack_entry_size
from .storage import (
    ELEMENT_DROPPERS,
    STREAM,
    UPGRADES,
    Keyspace,
    Store,
    Transaction,
    end_of_prefix,
)

StreamId = tuple[int, int]
MAX_ID: StreamId = (2**64 - 1, 2**64 - 1)
ZERO_ID: StreamId = (0, 0)
UNKNOWN_READS = -1  # SCG_INVALID_ENTRIES_READ

_ID = struct.Struct(">QQ")
_STATE = struct.Struct(">QQQQQQQQQQQ")
_NODE = struct.Struct(">QQQQQ")
_GROUP = struct.Struct(">QQqQQ")
_PENDING = struct.Struct(">QQ")
_CONSUMER = struct.Struct(">QQ")
_LEN = struct.Struct(">I")
_STATE_SUFFIX, ENTRY, GROUP, PEL, CONSUMER, CONSUMER_PEL = b"\x00", b"e", b"g", b"p", b"c", b"q"
NODE = b"n"
_SAME_FIELDS = 2  # STREAM_ITEM_FLAG_SAMEFIELDS
_LISTPACK_MAX_SIZE = 1 << 30  # STREAM_LISTPACK_MAX_SIZE
_EMPTY_LISTPACK = 7  # header and end byte
_KEY_BYTES = 16  # a radix-tree key: a packed id


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


def _int_size_change(old: int, new: int) -> int:
    """How a listpack grows when an integer in it is replaced (lpReplaceInteger)."""
    return listpack_entry_size(new) - listpack_entry_size(old)


@dataclass(slots=True)
class Node:
    """One of Redis's radix-tree nodes: a listpack of the entries from ``master_id`` on."""

    master_id: StreamId
    last_id: StreamId
    live: int
    deleted: int
    size: int  # lpBytes
    master_fields: list[bytes]

    @classmethod
    def opened_by(cls, stream_id: StreamId, fields: list[bytes]) -> Node:
        """A node whose master entry takes the fields of its first entry."""
        names = fields[::2]
        node = cls(stream_id, stream_id, 1, 0, _EMPTY_LISTPACK, names)
        node.size += (listpack_entry_size(1) + listpack_entry_size(0)
                      + listpack_entry_size(len(names))
                      + sum(listpack_entry_size(name) for name in names)
                      + listpack_entry_size(0))
        node.size += node._entry_size(stream_id, fields)
        return node

    def has_room(self, fields: list[bytes], limits: EncodingLimits) -> bool:
        """streamAppendItem's test of the tail before it appends there."""
        max_bytes = limits.stream_node_max_bytes
        if not max_bytes or max_bytes > _LISTPACK_MAX_SIZE:
            max_bytes = _LISTPACK_MAX_SIZE
        if self.size + sum(map(len, fields)) >= max_bytes:
            return False
        max_entries = limits.stream_node_max_entries
        return not max_entries or self.live + self.deleted < max_entries

    def add(self, stream_id: StreamId, fields: list[bytes]) -> None:
        self.size += _int_size_change(self.live, self.live + 1) + self._entry_size(
            stream_id, fields)
        self.live += 1
        self.last_id = stream_id

    def flag_deleted(self, count: int) -> None:
        """``count`` live entries flagged deleted (XDEL, exact trimming within the node)."""
        self.size += (_int_size_change(self.live, self.live - count)
                      + _int_size_change(self.deleted, self.deleted + count))
        self.live -= count
        self.deleted += count

    def _entry_size(self, stream_id: StreamId, fields: list[bytes]) -> int:
        """flags, id deltas, [field count, fields,] values, lp-count."""
        names, values = fields[::2], fields[1::2]
        size = (listpack_entry_size(_SAME_FIELDS)  # or 0: one byte either way
                + listpack_entry_size(id_delta(stream_id[0] - self.master_id[0]))
                + listpack_entry_size(id_delta(stream_id[1] - self.master_id[1]))
                + sum(listpack_entry_size(value) for value in values))
        if names == self.master_fields:
            return size + listpack_entry_size(3 + len(names))
        return (size + listpack_entry_size(len(names))
                + sum(listpack_entry_size(name) for name in names)
                + listpack_entry_size(4 + len(fields)))

    def payload(self) -> bytes:
        return _NODE.pack(*self.last_id, self.live, self.deleted, self.size) + encode_fields(
            self.master_fields)


def _unpack_node(full: bytes, raw: bytes) -> Node:
    values = _NODE.unpack_from(raw)
    return Node(unpack_id(full[-16:]), values[0:2], *values[2:],
                decode_fields(raw[_NODE.size:]))


def _common_prefix(one: bytes, other: bytes) -> int:
    return next((i for i, (a, b) in enumerate(zip(one, other, strict=True)) if a != b),
                len(one))


def rax_nodes(ids: list[StreamId]) -> int:
    """The nodes of Redis's radix tree (rax.c, kept compressed) keyed by these ids, sorted
    and distinct (16-byte keys): only the head when empty; else a node where keys branch
    off, one at each key's end, and one compressed node per run of single-child nodes above
    those (what ``Stream._tree_growth`` counts one key at a time). A prefix of ``depth``
    bytes is (depth, the key's value shifted down to it)."""
    if not ids:
        return 1
    keys = [ms << 64 | seq for ms, seq in ids]
    branching = set()
    for before, key in itertools.pairwise(keys):
        depth = (128 - (before ^ key).bit_length()) // 8
        branching.add((depth, key >> 8 * (_KEY_BYTES - depth)))
    chains = sum(1 for depth, prefix in branching
                 if depth and (depth - 1, prefix >> 8) not in branching)
    chains += sum(1 for key in keys if (_KEY_BYTES - 1, key >> 8) not in branching)
    return len(keys) + len(branching) + chains


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
    nodes: int = 0  # XINFO STREAM's radix-tree-keys
    tree_nodes: int = 1  # its radix-tree-nodes (an empty tree has its head)
    tail_id: StreamId = ZERO_ID  # the last node's master id (when there are nodes)
    # consumers this command read, by (group, name): every change goes through one object
    seen: dict[tuple[bytes, bytes], Consumer] = field(default_factory=dict)

    @property
    def length(self) -> int:
        return self.meta.count

    def save(self) -> None:
        """Store the metadata and the state (write commands, state machine only)."""
        cs.save(self.ks, self.key, self.meta)
        cs.put(self.ks, self.meta, _STATE_SUFFIX, _STATE.pack(
            *self.last_id, *self.max_deleted_id, *self.first_id, self.entries_added,
            self.nodes, self.tree_nodes, *self.tail_id))

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
            yield found, decode_fields(value[16:])

    def entry(self, stream_id: StreamId) -> list[bytes] | None:
        raw = cs.get(self.ks, self.meta.prefix + ENTRY + pack_id(stream_id))
        return None if raw is None else decode_fields(raw[16:])

    # -- nodes ---------------------------------------------------------------------------------
    def head_nodes(self, reverse: bool = False) -> Iterator[Node]:
        """The nodes, oldest first (or newest first), lazily."""
        base = self.meta.prefix + NODE
        for full, raw in cs.iter_range(self.ks, base, end_of_prefix(base), reverse):
            yield _unpack_node(full, raw)

    def _node(self, key: bytes) -> Node:
        full = self.meta.prefix + NODE + key
        return _unpack_node(full, cs.get(self.ks, full))

    def save_node(self, node: Node) -> None:
        cs.put(self.ks, self.meta, NODE + pack_id(node.master_id), node.payload())

    def _open_node(self, node: Node) -> None:
        self.tree_nodes += self._tree_growth(pack_id(node.master_id))
        self.nodes += 1
        self.tail_id = node.master_id
        self.save_node(node)

    def _drop_node(self, node: Node) -> None:
        key = pack_id(node.master_id)
        self.tree_nodes -= self._tree_growth(key)
        cs.delete(self.ks, self.meta, NODE + key)
        self.nodes -= 1
        if node.master_id == self.tail_id:
            tail = next(self.head_nodes(reverse=True), None)
            self.tail_id = tail.master_id if tail else ZERO_ID

    def _node_key(self, lo: bytes, hi: bytes, reverse: bool = False,
                  skip: bytes = b"") -> bytes | None:
        """The first (or last) node key in [lo, hi) (record keys) but ``skip``."""
        for full, _ in cs.iter_range(self.ks, lo, hi, reverse):
            if full[-16:] != skip:
                return full[-16:]
        return None

    def _tree_growth(self, key: bytes) -> int:
        """How many nodes Redis's radix tree gains when ``key`` joins the other nodes' keys
        (or loses when it leaves them): a leaf, and a compressed node above it unless it is
        the tree's last byte, where it branches off; plus the node that branching needs
        where a compressed node passed, and the rest of that compressed node below."""
        base = self.meta.prefix + NODE
        before = self._node_key(base, base + key, reverse=True)
        after = self._node_key(base + key + b"\x00", end_of_prefix(base))
        if before is None and after is None:
            return 1  # the head becomes a compressed node above the leaf
        depth = max(_common_prefix(key, other) for other in (before, after) if other)
        added = 2 if depth < _KEY_BYTES - 1 else 1
        first, last = self._keys_under(key[:depth], key)
        if first[depth] != last[depth]:
            return added  # a branch more where the tree already branched
        if depth < _KEY_BYTES - 1 and first[depth + 1] == last[depth + 1]:
            added += 1  # what a compressed node held below the new branching point
        if depth:
            first, last = self._keys_under(key[:depth - 1], key)
            if first[depth - 1] == last[depth - 1]:
                added += 1  # a branching point inside a compressed node splits it
        return added

    def _keys_under(self, prefix: bytes, skip: bytes) -> tuple[bytes, bytes]:
        """The first and last node keys that start with ``prefix``, but ``skip``."""
        lo = self.meta.prefix + NODE + prefix
        hi = end_of_prefix(lo)
        return (self._node_key(lo, hi, skip=skip),
                self._node_key(lo, hi, reverse=True, skip=skip))

    def _place(self, stream_id: StreamId, fields: list[bytes]) -> StreamId:
        """Count a new entry in the last node, or in a new one (streamAppendItem): that
        node's master id."""
        tail = self._node(pack_id(self.tail_id)) if self.nodes else None
        if tail is not None and tail.has_room(fields, self.ks.limits):
            tail.add(stream_id, fields)
            self.save_node(tail)
        else:
            tail = Node.opened_by(stream_id, fields)
            self._open_node(tail)
        return tail.master_id

    def first_entry_id(self) -> StreamId:
        return next((found for found, _ in self.entries()), ZERO_ID)

    def last_entry_id(self) -> StreamId:
        """streamLastValidID: the id of the last entry (0-0 when empty)."""
        return next((found for found, _ in self.entries(reverse=True)), ZERO_ID)

    def append(self, stream_id: StreamId, fields: list[bytes]) -> None:
        self.entries_added += 1
        node = self._place(stream_id, fields)
        cs.put(self.ks, self.meta, ENTRY + pack_id(stream_id),
               pack_id(node) + encode_fields(fields))
        self.meta.count += 1
        self.last_id = stream_id
        if self.meta.count == 1:
            self.first_id = stream_id

    def load(self, nodes: list[Node], entries: list[tuple[StreamId, list[bytes]]]) -> None:
        """RESTORE: the payload's nodes as they are (Redis keeps its listpacks), and their
        live entries."""
        start = 0
        for node in nodes:
            self._open_node(node)
            for stream_id, fields in entries[start:start + node.live]:
                cs.put(self.ks, self.meta, ENTRY + pack_id(stream_id),
                       pack_id(node.master_id) + encode_fields(fields))
            start += node.live
        self.meta.count += start

    def delete(self, stream_id: StreamId) -> bool:
        """XDEL of one id: True if it was there."""
        suffix = ENTRY + pack_id(stream_id)
        raw = cs.get(self.ks, self.meta.prefix + suffix)
        if raw is None:
            return False
        cs.delete(self.ks, self.meta, suffix)
        node = self._node(raw[:16])
        if node.live == 1:  # streamIteratorRemoveEntry drops a node left with no live entry
            self._drop_node(node)
        else:
            node.flag_deleted(1)
            self.save_node(node)
        self.meta.count -= 1
        self.max_deleted_id = max(self.max_deleted_id, stream_id)
        if stream_id == self.first_id:
            self.first_id = self.first_entry_id()
        return True

    def trim(self, whole: list[Node], partly: Node | None, last: StreamId, count: int) -> None:
        """Delete the ``count`` oldest entries, ``last`` the newest of them (XTRIM): those of
        the ``whole`` nodes, which go, and the first live ones of ``partly``, flagged deleted
        there."""
        cs.delete_between(self.ks, self.meta, ENTRY, ENTRY + pack_id(last) + b"\x00", count)
        for node in whole:
            self._drop_node(node)
        if partly is not None:
            partly.flag_deleted(count - sum(node.live for node in whole))
            self.save_node(partly)
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


def _from_meta(ks: Keyspace, key: bytes, meta: cs.Meta) -> Stream:
    raw = cs.get(ks, meta.prefix + _STATE_SUFFIX)
    values = _STATE.unpack(raw)
    return Stream(ks, key, meta, values[0:2], values[2:4], values[4:6], *values[6:9],
                  values[9:11])


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

# Before nodes were kept (an rcache older than stream-node-max-*): a 56-byte state without
# the node fields, and each entry led by its ordinal (8 bytes) instead of its node's id.
_OLD_STATE = struct.Struct(">QQQQQQQ")
_NODES_KEPT = 1  # the layout version that upgrade_old_streams brings a store to


def upgrade_old_streams(store: Store) -> None:
    """Rebuild the streams stored before nodes were kept: their entries placed into nodes
    as XADD places them now (under the default node limits), their ids, groups and counters
    as they were. One transaction per stream, committed at the store's applied index."""
    for dbnum in range(len(store.dbmap)):
        ks = Keyspace(store, None, dbnum, 0)  # now 0: every key counts, expired or not
        streams = [key for key in ks.iter_keys() if (ks.lookup(key) or (None,))[0] == STREAM]
        for key in streams:
            txn = Transaction(store)
            ks = Keyspace(store, txn, dbnum, 0)
            meta = cs.lookup(ks, key, STREAM)
            raw = cs.get(ks, meta.prefix + _STATE_SUFFIX)
            if raw is None or len(raw) != _OLD_STATE.size:
                continue
            values = _OLD_STATE.unpack(raw)
            stream = Stream(ks, key, meta, values[0:2], values[2:4], values[4:6], values[6])
            for stream_id, value in list(stream._entry_records(ZERO_ID, MAX_ID)):
                fields = decode_fields(value[8:])
                node = stream._place(stream_id, fields)
                cs.put(ks, meta, ENTRY + pack_id(stream_id), pack_id(node) + encode_fields(fields))
            stream.save()
            txn.commit(store.applied_index)


UPGRADES.append((_NODES_KEPT, upgrade_old_streams))

