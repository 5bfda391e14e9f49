"""String values on RocksDB: short ones inline in the key's record, long ones in fragments.

Every read or write of a string value goes through this module, whatever the command.

A string of at most ``FRAGMENT_SIZE`` bytes is the payload of its keyspace record (type
``STRING``): GET and SET of ordinary values cost one record, as before. A longer one (type
``BIG_STRING``) keeps ``version(8) length(8)`` in its record and its bytes in fragment records
under that version, the way collections keep their elements (see collections_store):

    b"s" + dbid + len(key)(4) + key + version(8) + index(4)  -> bytes of fragment ``index``

Fragment i holds bytes [i * FRAGMENT_SIZE, (i + 1) * FRAGMENT_SIZE) of the value. A fragment
record may be shorter than that, or missing: the bytes it lacks (up to the value's length) are
zeros. So SETBIT or SETRANGE far out writes one fragment, not the gap before it, and a command
reads and rewrites only the fragments it touches (Apache Kvrocks keeps bitmaps in fragments
for the same reason). Deleting, expiring or replacing a long string drops its version as a
collection's is dropped: point deletes up to ``POINT_DROP_LIMIT`` fragments (8 MiB), beyond
that one range delete, whatever the size; no fragment is read. GET of a long string assembles
it, as Redis must send all of it anyway. RENAME, COPY and MOVE copy the fragment records, as
they copy a collection's elements.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from . import collections_store as cs
from . import errors
from .errors import CommandError
from .storage import BIG_STRING, ELEMENT_DROPPERS, STRING, STRING_KINDS, Keyspace

FRAGMENT_SIZE = 64 * 1024  # also the longest value kept inline
_META = struct.Struct(">QQ")  # version, length
_INDEX = struct.Struct(">I")

# (offset, size, bytes) of a run of a value; bytes None for zeros that no record holds.
Segment = tuple[int, int, "memoryview | None"]


class StoredString:
    """A live string as read at one instant; reads fetch only the fragments they cover."""

    __slots__ = ("ks", "expire_at", "length", "inline", "version", "prefix")

    def __init__(self, ks: Keyspace, key: bytes, kind: int, expire_at: int,
                 payload: bytes) -> None:
        self.ks = ks
        self.expire_at = expire_at
        if kind == STRING:
            self.inline: bytes | None = payload
            self.length, self.version, self.prefix = len(payload), 0, b""
        else:
            self.inline = None
            self.version, self.length = _META.unpack(payload)
            self.prefix = cs.element_prefix(ks, key, self.version)

    def read(self, start: int = 0, end: int | None = None) -> bytes:
        """Bytes [start, end) of the value (end cut at its length)."""
        end = self.length if end is None else min(end, self.length)
        if self.inline is not None:
            return self.inline[start:end]
        return b"".join(bytes(size) if data is None else data
                        for _, size, data in self.segments(start, end))

    def segments(self, start: int, end: int) -> Iterator[Segment]:
        """Runs covering [start, end) in order (end within the value): stored bytes, and
        zeros as (offset, size, None) so that nothing has to materialize a sparse gap."""
        if start >= end:
            return
        if self.inline is not None:
            yield start, end - start, memoryview(self.inline)[start:end]
            return
        pos = start
        for index, data in self._records(start // FRAGMENT_SIZE, (end - 1) // FRAGMENT_SIZE):
            base = index * FRAGMENT_SIZE
            lo, hi = max(start, base), min(end, base + len(data))
            if lo >= hi:
                continue
            if lo > pos:
                yield pos, lo - pos, None
            yield lo, hi - lo, memoryview(data)[lo - base:hi - base]
            pos = hi
        if pos < end:
            yield pos, end - pos, None

    def fragment(self, index: int) -> bytes:
        """The stored bytes of one fragment (b"" when no record holds it)."""
        return cs.get(self.ks, self.prefix + _INDEX.pack(index)) or b""

    def _records(self, first: int, last: int) -> Iterator[tuple[int, bytes]]:
        """(index, stored bytes) of the fragment records from first to last (inclusive)."""
        if first == last:  # a point read: most edits and small reads touch one fragment
            data = self.fragment(first)
            if data:
                yield first, data
            return
        cut = len(self.prefix)
        for full, data in cs.iter_range(self.ks, self.prefix + _INDEX.pack(first),
                                        self.prefix + _INDEX.pack(last + 1)):
            yield _INDEX.unpack_from(full, cut)[0], data

    def all_records(self) -> list[tuple[int, bytes]]:
        """(index, stored bytes) of every fragment record (what a copy has to write)."""
        return list(self._records(0, max(self.length - 1, 0) // FRAGMENT_SIZE))


def from_record(ks: Keyspace, key: bytes, record: tuple[int, int, bytes]) -> StoredString:
    """The string in a record ``ks.lookup`` returned; WRONGTYPE for other types."""
    if record[0] not in STRING_KINDS:
        raise CommandError(errors.WRONGTYPE)
    return StoredString(ks, key, *record)


def lookup(ks: Keyspace, key: bytes) -> StoredString | None:
    """The live string at key, None if missing; WRONGTYPE for other types."""
    record = ks.lookup(key)
    return None if record is None else from_record(ks, key, record)


def value_of(ks: Keyspace, key: bytes, record: tuple[int, int, bytes]) -> bytes:
    """The whole value in a looked-up record (assembled if fragmented); WRONGTYPE for other
    types. An inline value, the common case, is returned as stored."""
    if record[0] == STRING:
        return record[2]
    return from_record(ks, key, record).read()


def get_value(ks: Keyspace, key: bytes) -> bytes | None:
    """The whole value of the string at key, None if missing."""
    record = ks.lookup(key)
    if record is None:
        return None
    return record[2] if record[0] == STRING else value_of(ks, key, record)


# -- writing (state machine only) -------------------------------------------------------------
def store(ks: Keyspace, key: bytes, value: bytes, expire_at: int = 0) -> None:
    """Create or replace key with a whole value (SET and the commands like it)."""
    if len(value) <= FRAGMENT_SIZE:
        ks.put(key, STRING, value, expire_at)
        return
    version = cs.next_version(ks)
    ks.put(key, BIG_STRING, _META.pack(version, len(value)), expire_at)
    prefix = cs.element_prefix(ks, key, version)
    view = memoryview(value)
    for index, at in enumerate(range(0, len(value), FRAGMENT_SIZE)):
        stored = bytes(view[at:at + FRAGMENT_SIZE]).rstrip(b"\0")
        if stored:
            ks.txn.put_unseen(prefix + _INDEX.pack(index), stored)


def copy_to(source: StoredString, target: Keyspace, key: bytes) -> None:
    """Write a copy of source (TTL included) under key in target, replacing what is there
    (RENAME, COPY, MOVE): O(fragments), since fragment records are named after their key."""
    if source.inline is not None:
        target.put(key, STRING, source.inline, source.expire_at)
        return
    records = source.all_records()  # read before the target may replace the source
    version = cs.next_version(target)
    target.put(key, BIG_STRING, _META.pack(version, source.length), source.expire_at)
    prefix = cs.element_prefix(target, key, version)
    for index, data in records:
        target.txn.put_unseen(prefix + _INDEX.pack(index), data)


class StringEditor:
    """In-place edits of one string key (SETRANGE, APPEND, SETBIT, BITFIELD, BITOP's target):
    only the fragments touched are read and rewritten, at ``save``. A value that grows past
    FRAGMENT_SIZE turns into fragments; zeros past the old end are never written."""

    def __init__(self, ks: Keyspace, key: bytes, current: StoredString | None) -> None:
        """current None: a new value (created, or replacing what is stored, at save)."""
        self.ks, self.key = ks, key
        self.source = current  # fragments not edited yet are read from it
        self.replace = current is None
        self.expire_at = 0 if current is None else current.expire_at
        self.length = 0 if current is None else current.length
        self.inline: bytearray | None = None  # the value while it is short enough
        self.version, self.prefix = 0, b""  # its fragments' otherwise
        if current is None or current.inline is not None:
            self.inline = bytearray(current.inline if current is not None else b"")
        else:
            self.version, self.prefix = current.version, current.prefix
        self.dirty: dict[int, bytearray] = {}  # fragment index -> edited bytes
        if self.length > FRAGMENT_SIZE and self.inline is not None:
            self._fragment_inline()  # stored whole before fragments existed: split it now

    def read(self, start: int, end: int) -> bytes:
        """Bytes [start, end) as edited so far (end cut at the length)."""
        end = min(end, self.length)
        if self.inline is not None:
            return bytes(self.inline[start:end])
        out = bytearray()
        for index in range(start // FRAGMENT_SIZE, (end - 1) // FRAGMENT_SIZE + 1):
            base = index * FRAGMENT_SIZE
            lo, hi = max(start, base) - base, min(end, base + FRAGMENT_SIZE) - base
            out += self._fragment(index)[lo:hi].ljust(hi - lo, b"\0")
        return bytes(out)

    def write(self, offset: int, data: bytes) -> None:
        """Overwrite bytes from offset with data, growing the value as needed."""
        end = offset + len(data)
        self.grow(end)
        if self.inline is not None:
            self.inline[offset:end] = data
            return
        view = memoryview(data)
        pos = offset
        while pos < end:
            index, at = divmod(pos, FRAGMENT_SIZE)
            take = min(FRAGMENT_SIZE - at, end - pos)
            fragment = self.dirty.get(index)
            if fragment is None:
                fragment = self.dirty[index] = bytearray(self._fragment(index))
            if len(fragment) < at:
                fragment.extend(bytes(at - len(fragment)))
            fragment[at:at + take] = view[pos - offset:pos - offset + take]
            pos += take

    def grow(self, length: int) -> None:
        """Zero-extend the value to length (never shrinks it)."""
        if length <= self.length:
            return
        if self.inline is not None and length > FRAGMENT_SIZE:
            self._fragment_inline()
        if self.inline is not None:
            self.inline.extend(bytes(length - self.length))
        self.length = length

    def save(self) -> None:
        ks = self.ks
        if self.inline is not None:
            ks.put(self.key, STRING, bytes(self.inline), self.expire_at)
            return
        meta = _META.pack(self.version, self.length)
        if self.replace:
            ks.put(self.key, BIG_STRING, meta, self.expire_at)
        else:
            ks.rewrite(self.key, BIG_STRING, meta, self.expire_at)
        for index, fragment in self.dirty.items():
            full = self.prefix + _INDEX.pack(index)
            stored = bytes(fragment.rstrip(b"\0"))  # missing bytes read as zeros
            if stored:
                ks.txn.put(full, stored)
            else:
                ks.txn.delete(full)
        self.dirty.clear()

    def _fragment(self, index: int) -> bytes | bytearray:
        if index in self.dirty:
            return self.dirty[index]
        return self.source.fragment(index) if self.source is not None else b""

    def _fragment_inline(self) -> None:
        """Move an inline value into fragments of a new version (saved as a new record)."""
        self.version = cs.next_version(self.ks)
        self.prefix = cs.element_prefix(self.ks, self.key, self.version)
        for index, at in enumerate(range(0, len(self.inline), FRAGMENT_SIZE)):
            self.dirty[index] = self.inline[at:at + FRAGMENT_SIZE]
        self.inline, self.source, self.replace = None, None, True


def edit(ks: Keyspace, key: bytes) -> StringEditor:
    """An editor on the string at key (an empty new one if missing); WRONGTYPE otherwise."""
    return StringEditor(ks, key, lookup(ks, key))


def _drop(ks: Keyspace, key: bytes, payload: bytes) -> None:
    """ELEMENT_DROPPERS hook: make a deleted or replaced long string's fragments disappear."""
    version, length = _META.unpack(payload)
    prefix = cs.element_prefix(ks, key, version)
    fragments = -(-length // FRAGMENT_SIZE)
    if fragments <= cs.POINT_DROP_LIMIT:
        ks.txn.drop_elements(prefix, [prefix + _INDEX.pack(index) for index in range(fragments)])
    else:
        ks.txn.drop_elements(prefix, None)


ELEMENT_DROPPERS[BIG_STRING] = _drop
