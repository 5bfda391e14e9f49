"""Redis's DUMP payload format: bytes in, values out, and back. No I/O.

A payload is one RDB object (a type byte, then the RDB-encoded value), the RDB version as
2 bytes and a CRC64 of everything before it, both little-endian (Redis's
``createDumpPayload``). Loading accepts what Redis 7.0's ``rdbLoadObject`` accepts for the
types rcache has: strings (raw, integer-encoded, LZF-compressed), lists (plain, ziplist,
quicklist of ziplists, quicklist v2 of listpacks or plain nodes), sets (plain, intset),
sorted sets (plain with text or binary scores, ziplist, listpack), hashes (plain, ziplist,
listpack), streams (Redis 7.0's listpacks of entries with their consumer groups). Not loaded
('Bad data format'): Redis 2.4's zipmap hashes, streams of Redis 5 and 6, module types.
Dumping writes the simplest encodings Redis 7.0 loads: a string as an integer or raw bytes
(uncompressed), the other types as their plain RDB forms (list 1, set 2, zset 5, hash 4), a
stream as Redis 7.0 writes it (19), 100 entries per listpack.

Values are ``(kind, data)`` with kind one of ``STRING LIST SET ZSET HASH STREAM``: bytes, a
list of elements, a list of members, a list of (member, score), a list of (field, value), a
``StreamValue``.
"""

from __future__ import annotations

import itertools
import math
import struct
from dataclasses import dataclass, field

import anycrc

RDB_VERSION = 10  # what Redis 7.0 writes and the newest it loads

TYPE_STRING, TYPE_LIST, TYPE_SET, TYPE_ZSET, TYPE_HASH, TYPE_ZSET_2 = 0, 1, 2, 3, 4, 5
TYPE_LIST_ZIPLIST, TYPE_SET_INTSET, TYPE_ZSET_ZIPLIST = 10, 11, 12
TYPE_HASH_ZIPLIST, TYPE_LIST_QUICKLIST, TYPE_STREAM_LISTPACKS = 13, 14, 15
TYPE_HASH_LISTPACK, TYPE_ZSET_LISTPACK, TYPE_LIST_QUICKLIST_2 = 16, 17, 18
TYPE_STREAM_LISTPACKS_2 = 19  # Redis 7.0's streams

STRING, LIST, SET, ZSET, HASH, STREAM = "string", "list", "set", "zset", "hash", "stream"

_ENC_INT8, _ENC_INT16, _ENC_INT32, _ENC_LZF = 0, 1, 2, 3
_QUICKLIST_PLAIN, _QUICKLIST_PACKED = 1, 2
_DOUBLE_LE = struct.Struct("<d")
_ID = struct.Struct(">QQ")
_U64 = 1 << 64
_ITEM_DELETED, _ITEM_SAME_FIELDS = 1, 2  # stream listpack entry flags
_UNKNOWN_READS = -1
# listpack: integer encodings (bytes with the tag, range) and back-length sizes (bytes, range)
_INT_WIDTHS = ((2, 1 << 12), (3, 1 << 15), (4, 1 << 23), (5, 1 << 31), (9, 1 << 63))
_BACKLEN_SIZES = ((1, 128), (2, 16383), (3, 2097151), (4, 268435455), (5, 1 << 64))


@dataclass
class StreamGroup:
    name: bytes
    last_id: tuple[int, int]
    entries_read: int | None  # None: a Redis < 7.0 payload, estimated as Redis loads it
    pending: list[tuple[tuple[int, int], int, int]]  # (id, delivery time, deliveries)
    consumers: list[tuple[bytes, int, list[tuple[int, int]]]]  # (name, seen time, ids)


@dataclass
class StreamNode:
    """A radix-tree node: its listpack's master id, last id (deleted entries included), live
    and deleted entries, bytes, and master entry's fields."""

    master_id: tuple[int, int]
    last_id: tuple[int, int]
    live: int
    deleted: int
    size: int
    master_fields: list[bytes]


@dataclass
class StreamValue:
    entries: list[tuple[tuple[int, int], list[bytes]]]  # (id, [field, value, ...])
    nodes: list[StreamNode]  # in order, their live entries making up ``entries``
    last_id: tuple[int, int] = (0, 0)
    first_id: tuple[int, int] = (0, 0)
    max_deleted_id: tuple[int, int] = (0, 0)
    entries_added: int = 0
    groups: list[StreamGroup] = field(default_factory=list)


class ChecksumError(ValueError):
    """The footer's version is too new or the CRC64 does not match."""


class FormatError(ValueError):
    """The payload passed its checksum but does not hold a value Redis would load."""


# -- CRC64 (Jones polynomial, reflected, as Redis's crc64.c: the catalogue's CRC-64/REDIS) -----
_CRC64 = anycrc.CRC(width=64, poly=0xAD93D23594C935A9, init=0, refin=True, refout=True, xorout=0)


def crc64(data: bytes) -> int:
    """In C (anycrc): a payload's checksum is computed on every node that applies it."""
    return _CRC64.calc(data)


# -- LZF ---------------------------------------------------------------------------------------
def lzf_decompress(data: bytes, out_len: int) -> bytes:
    """liblzf's lzf_decompress; FormatError where it would fail (E2BIG, EINVAL)."""
    out = bytearray()
    ip, end = 0, len(data)
    while ip < end:
        ctrl = data[ip]
        ip += 1
        if ctrl < 32:  # a literal run of ctrl + 1 bytes
            run = ctrl + 1
            if ip + run > end or len(out) + run > out_len:
                raise FormatError("bad LZF literal")
            out += data[ip:ip + run]
            ip += run
            continue
        length = ctrl >> 5  # a back reference
        if ip >= end:
            raise FormatError("truncated LZF reference")
        if length == 7:
            length += data[ip]
            ip += 1
            if ip >= end:
                raise FormatError("truncated LZF reference")
        ref = len(out) - ((ctrl & 0x1F) << 8) - 1 - data[ip]
        ip += 1
        length += 2
        if ref < 0 or len(out) + length > out_len:
            raise FormatError("bad LZF reference")
        if ref + length <= len(out):
            out += out[ref:ref + length]
        else:  # the copy overlaps what it produces: the bytes from ref on, repeated
            period = out[ref:]
            out += (period * (length // len(period) + 1))[:length]
    if len(out) != out_len:
        raise FormatError("LZF length mismatch")
    return bytes(out)


# -- reading -----------------------------------------------------------------------------------
_INT8_TEXTS = tuple(b"%d" % (byte - 256 if byte > 127 else byte) for byte in range(256))


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if n < 0 or end > len(self.data):
            raise FormatError("truncated payload")
        chunk = self.data[self.pos:end]
        self.pos = end
        return chunk

    def byte(self) -> int:
        return self.take(1)[0]

    def length(self) -> tuple[int, bool]:
        """rdbLoadLenByRef: (length, False) or (special encoding, True)."""
        first = self.byte()
        kind = first >> 6
        if kind == 3:
            return first & 0x3F, True
        if kind == 0:
            return first & 0x3F, False
        if kind == 1:
            return (first & 0x3F) << 8 | self.byte(), False
        if first == 0x80:
            return int.from_bytes(self.take(4), "big"), False
        if first == 0x81:
            return int.from_bytes(self.take(8), "big"), False
        raise FormatError("unknown length encoding")

    def count(self) -> int:
        value, special = self.length()
        if special:
            raise FormatError("encoded value where a length belongs")
        return value

    def string(self) -> bytes:
        """rdbGenericLoadStringObject: raw, integer-encoded or LZF-compressed."""
        value, special = self.length()
        if not special:
            return self.take(value)
        if value == _ENC_INT8:
            return b"%d" % int.from_bytes(self.take(1), "little", signed=True)
        if value == _ENC_INT16:
            return b"%d" % int.from_bytes(self.take(2), "little", signed=True)
        if value == _ENC_INT32:
            return b"%d" % int.from_bytes(self.take(4), "little", signed=True)
        if value == _ENC_LZF:
            compressed_len, out_len = self.count(), self.count()
            return lzf_decompress(self.take(compressed_len), out_len)
        raise FormatError("unknown string encoding")

    def strings(self, count: int) -> list[bytes]:
        """``count`` strings: those with a 6 or 14-bit length and 8-bit integers read here,
        the others by ``string``."""
        data, pos, size = self.data, self.pos, len(self.data)
        values = []
        for _ in range(count):
            first = data[pos] if pos < size else 0xFF
            if first < 0x40:
                start, end = pos + 1, pos + 1 + first
            elif first < 0x80 and pos + 1 < size:
                start, end = pos + 2, pos + 2 + ((first & 0x3F) << 8 | data[pos + 1])
            elif first == 0xC0 | _ENC_INT8 and pos + 1 < size:
                values.append(_INT8_TEXTS[data[pos + 1]])
                pos += 2
                continue
            else:
                self.pos = pos
                values.append(self.string())
                pos = self.pos
                continue
            if end > size:
                raise FormatError("truncated payload")
            values.append(data[start:end])
            pos = end
        self.pos = pos
        return values

    def text_double(self) -> float:
        """rdbLoadDoubleValue: a length byte (253 nan, 254 inf, 255 -inf) and text."""
        size = self.byte()
        if size in (253, 254, 255):
            return {253: math.nan, 254: math.inf, 255: -math.inf}[size]
        return _parse_double(self.take(size))

    def binary_double(self) -> float:
        return _DOUBLE_LE.unpack(self.take(8))[0]


def _parse_double(raw: bytes) -> float:
    try:
        text = raw.decode("ascii")
        if "_" in text or not text.strip() or text != text.strip():
            raise ValueError
        return float(text)
    except (UnicodeDecodeError, ValueError):
        raise FormatError("not a double") from None


def verify(payload: bytes) -> None:
    """verifyDumpPayload: footer version at most ours and a matching CRC64."""
    if len(payload) < 10:
        raise ChecksumError("payload too short")
    version = int.from_bytes(payload[-10:-8], "little")
    if version > RDB_VERSION:
        raise ChecksumError("RDB version too new")
    if crc64(payload[:-8]) != int.from_bytes(payload[-8:], "little"):
        raise ChecksumError("checksum mismatch")


def load(payload: bytes) -> tuple[str, object]:
    """The value of a verified payload; FormatError where Redis says 'Bad data format'."""
    reader = _Reader(payload[:-10])
    rdb_type = reader.byte()
    loader = _LOADERS.get(rdb_type)
    if loader is None:
        raise FormatError(f"unsupported RDB type {rdb_type}")
    kind, data = loader(reader)
    if kind not in (STRING, STREAM):
        if not data:
            raise FormatError("empty key")
        _check_unique(kind, data)
    return kind, data


def _check_unique(kind: str, data: list) -> None:
    """Redis refuses duplicate set members, hash fields and zset members."""
    if kind == LIST:
        return
    names = data if kind == SET else [pair[0] for pair in data]
    if len(set(names)) != len(names):
        raise FormatError("duplicate elements")


def _pairs(items: list[bytes]) -> list[tuple[bytes, bytes]]:
    if len(items) % 2:
        raise FormatError("odd number of entries in a pairs encoding")
    return list(zip(items[::2], items[1::2], strict=True))


def _zset_pairs(items: list[bytes]) -> list[tuple[bytes, float]]:
    pairs = [(member, _parse_double(score)) for member, score in _pairs(items)]
    if any(math.isnan(score) for _, score in pairs):
        raise FormatError("NaN score")
    return pairs


def _load_string(reader: _Reader) -> tuple[str, object]:
    return STRING, reader.string()


def _load_list(reader: _Reader) -> tuple[str, object]:
    return LIST, reader.strings(reader.count())


def _load_set(reader: _Reader) -> tuple[str, object]:
    return SET, reader.strings(reader.count())


def _load_zset(reader: _Reader, binary: bool) -> tuple[str, object]:
    pairs = []
    for _ in range(reader.count()):
        member = reader.string()
        score = reader.binary_double() if binary else reader.text_double()
        if math.isnan(score):
            raise FormatError("NaN score")
        pairs.append((member, score))
    return ZSET, pairs


def _load_hash(reader: _Reader) -> tuple[str, object]:
    items = reader.strings(2 * reader.count())
    return HASH, list(zip(items[::2], items[1::2], strict=True))


def _load_quicklist(reader: _Reader, version: int) -> tuple[str, object]:
    elements: list[bytes] = []
    for _ in range(reader.count()):
        container = reader.count() if version == 2 else _QUICKLIST_PACKED
        if container not in (_QUICKLIST_PLAIN, _QUICKLIST_PACKED):
            raise FormatError("bad quicklist container")
        node = reader.string()
        if not node:
            raise FormatError("empty quicklist node")
        if container == _QUICKLIST_PLAIN:
            elements.append(node)
        else:
            elements.extend(parse_listpack(node) if version == 2 else parse_ziplist(node))
    return LIST, elements


def _signed(value: bytes) -> int:
    number = _strict_int(value)
    if number is None:
        raise FormatError("not an integer in a stream listpack")
    return number


def _stream_node(master: tuple[int, int], items: list[bytes], size: int
                 ) -> tuple[StreamNode, list[tuple[tuple[int, int], list[bytes]]]]:
    """One stream listpack of ``size`` bytes and its live entries: a master entry (count,
    deleted, its fields, 0), then entries (flags, id deltas, [field count, fields and]
    values, lp-count)."""
    try:
        master_fields = items[3:3 + _signed(items[2])]
        pos = 4 + len(master_fields)
        entries, entry_id, flagged = [], master, 0
        while pos < len(items):
            flags = _signed(items[pos])
            entry_id = ((master[0] + _signed(items[pos + 1])) % _U64,
                        (master[1] + _signed(items[pos + 2])) % _U64)
            if flags & _ITEM_SAME_FIELDS:
                values = items[pos + 3:pos + 3 + len(master_fields)]
                fields = [item for pair in zip(master_fields, values, strict=True)
                          for item in pair]
                pos += 4 + len(master_fields)
            else:
                count = _signed(items[pos + 3])
                fields = items[pos + 4:pos + 4 + 2 * count]
                if len(fields) != 2 * count:
                    raise FormatError("stream entry past its listpack")
                pos += 5 + 2 * count
            if flags & _ITEM_DELETED:
                flagged += 1
            else:
                entries.append((entry_id, fields))
    except (IndexError, ValueError) as err:
        raise FormatError("bad stream listpack") from err
    return StreamNode(master, entry_id, len(entries), flagged, size, master_fields), entries


def _stream_id(reader: _Reader) -> tuple[int, int]:
    return reader.count(), reader.count()


def _load_stream(reader: _Reader, legacy: bool = False) -> tuple[str, object]:
    """rdbLoadObject's RDB_TYPE_STREAM_LISTPACKS_2, or (``legacy``) the RDB_TYPE_STREAM_LISTPACKS
    of Redis 5 to 6.2, without the first id, the max deleted id, the entries added and the
    groups' entries read: Redis 7.0 takes the first live id (the largest id when empty), 0-0,
    the length, and an estimate."""
    value = StreamValue([], [])
    for _ in range(reader.count()):
        node_key = reader.string()
        if len(node_key) != 16:
            raise FormatError("stream node key is not an id")
        blob = reader.string()
        items = parse_listpack(blob)
        if not items:
            raise FormatError("empty listpack inside a stream")
        node, entries = _stream_node(_ID.unpack(node_key), items, len(blob))
        value.nodes.append(node)
        value.entries.extend(entries)
    length = reader.count()
    if length != len(value.entries):
        raise FormatError("stream length mismatch")
    value.last_id = _stream_id(reader)
    if legacy:
        value.first_id = value.entries[0][0] if value.entries else (_U64 - 1, _U64 - 1)
        value.entries_added = length
    else:
        value.first_id, value.max_deleted_id = _stream_id(reader), _stream_id(reader)
        value.entries_added = reader.count()
    for _ in range(reader.count()):
        name, last_id = reader.string(), _stream_id(reader)
        reads = None if legacy else reader.count()
        pending = [(_ID.unpack(reader.take(16)), _millis(reader), reader.count())
                   for _ in range(reader.count())]
        consumers = [(reader.string(), _millis(reader),
                      [_ID.unpack(reader.take(16)) for _ in range(reader.count())])
                     for _ in range(reader.count())]
        owned = [stream_id for _, _, ids in consumers for stream_id in ids]
        if sorted(owned) != sorted(entry[0] for entry in pending):
            raise FormatError("a pending entry without its consumer")
        if len(set(owned)) != len(owned) or len({c[0] for c in consumers}) != len(consumers):
            raise FormatError("a duplicated pending entry or consumer")  # as Redis refuses
        value.groups.append(StreamGroup(
            name, last_id, _UNKNOWN_READS if reads == _U64 - 1 else reads, pending, consumers))
    return STREAM, value


def _millis(reader: _Reader) -> int:
    return int.from_bytes(reader.take(8), "little", signed=True)


_LOADERS = {
    TYPE_STRING: _load_string,
    TYPE_LIST: _load_list,
    TYPE_SET: _load_set,
    TYPE_ZSET: lambda r: _load_zset(r, binary=False),
    TYPE_ZSET_2: lambda r: _load_zset(r, binary=True),
    TYPE_HASH: _load_hash,
    TYPE_LIST_ZIPLIST: lambda r: (LIST, parse_ziplist(r.string())),
    TYPE_SET_INTSET: lambda r: (SET, parse_intset(r.string())),
    TYPE_ZSET_ZIPLIST: lambda r: (ZSET, _zset_pairs(parse_ziplist(r.string()))),
    TYPE_ZSET_LISTPACK: lambda r: (ZSET, _zset_pairs(parse_listpack(r.string()))),
    TYPE_HASH_ZIPLIST: lambda r: (HASH, _pairs(parse_ziplist(r.string()))),
    TYPE_HASH_LISTPACK: lambda r: (HASH, _pairs(parse_listpack(r.string()))),
    TYPE_LIST_QUICKLIST: lambda r: _load_quicklist(r, version=1),
    TYPE_LIST_QUICKLIST_2: lambda r: _load_quicklist(r, version=2),
    TYPE_STREAM_LISTPACKS: lambda r: _load_stream(r, legacy=True),
    TYPE_STREAM_LISTPACKS_2: _load_stream,
}


# -- compact encodings -------------------------------------------------------------------------
def parse_intset(blob: bytes) -> list[bytes]:
    """intset.c: encoding (2, 4 or 8 bytes per value), count, sorted little-endian values."""
    if len(blob) < 8:
        raise FormatError("intset too short")
    width, count = int.from_bytes(blob[0:4], "little"), int.from_bytes(blob[4:8], "little")
    if width not in (2, 4, 8) or len(blob) != 8 + width * count:
        raise FormatError("bad intset header")
    values = [int.from_bytes(blob[8 + i * width:8 + (i + 1) * width], "little", signed=True)
              for i in range(count)]
    if any(a >= b for a, b in itertools.pairwise(values)):
        raise FormatError("intset not sorted")
    return [b"%d" % value for value in values]


def _backlen_size(entry_len: int) -> int:
    """Bytes of a listpack entry's back-length (listpack.c's lpEncodeBacklen)."""
    for size, limit in ((1, 128), (2, 16383), (3, 2097151), (4, 268435455)):
        if entry_len < limit:
            return size
    return 5


def parse_listpack(blob: bytes) -> list[bytes]:
    """listpack.c: total bytes, count, entries (encoding, data, back-length), 0xFF."""
    if len(blob) < 7 or int.from_bytes(blob[0:4], "little") != len(blob) or blob[-1] != 0xFF:
        raise FormatError("bad listpack header")
    declared = int.from_bytes(blob[4:6], "little")
    items: list[bytes] = []
    pos, end = 6, len(blob) - 1
    while pos < end:
        first = blob[pos]
        if first < 0x80:  # 7-bit unsigned integer
            value, head, size = b"%d" % first, 1, 0
        elif first < 0xC0:  # string up to 63 bytes
            value, head, size = None, 1, first & 0x3F
        elif first < 0xE0:  # 13-bit signed integer
            number = (first & 0x1F) << 8 | _at(blob, pos + 1, end)
            value, head, size = b"%d" % (number - (1 << 13) if number >> 12 else number), 2, 0
        elif first < 0xF0:  # string up to 4095 bytes
            value, head, size = None, 2, (first & 0x0F) << 8 | _at(blob, pos + 1, end)
        elif first == 0xF0:  # string, 32-bit length
            value, head, size = None, 5, int.from_bytes(_span(blob, pos + 1, 4, end), "little")
        elif 0xF1 <= first <= 0xF4:  # 16, 24, 32, 64-bit signed integers
            width = {0xF1: 2, 0xF2: 3, 0xF3: 4, 0xF4: 8}[first]
            value = b"%d" % int.from_bytes(_span(blob, pos + 1, width, end), "little",
                                           signed=True)
            head, size = 1 + width, 0
        else:
            raise FormatError("bad listpack entry encoding")
        if value is None:
            value = _span(blob, pos + head, size, end)
        entry_len = head + size
        pos += entry_len + _backlen_size(entry_len)
        if pos > end:
            raise FormatError("listpack entry past its end")
        items.append(value)
    if declared != 65535 and declared != len(items):
        raise FormatError("listpack count mismatch")
    return items


def parse_ziplist(blob: bytes) -> list[bytes]:
    """ziplist.c: bytes, tail offset, count, entries (prevlen, encoding, data), 0xFF."""
    if len(blob) < 11 or int.from_bytes(blob[0:4], "little") != len(blob) or blob[-1] != 0xFF:
        raise FormatError("bad ziplist header")
    declared = int.from_bytes(blob[8:10], "little")
    items: list[bytes] = []
    pos, end = 10, len(blob) - 1
    while pos < end:
        pos += 5 if blob[pos] >= 254 else 1  # previous entry's length
        first = _at(blob, pos, end)
        kind = first >> 6
        if kind == 0:
            head, size = 1, first & 0x3F
        elif kind == 1:
            head, size = 2, (first & 0x3F) << 8 | _at(blob, pos + 1, end)
        elif kind == 2:
            head, size = 5, int.from_bytes(_span(blob, pos + 1, 4, end), "big")
        else:
            head, size = 1, 0
        if kind < 3:
            items.append(_span(blob, pos + head, size, end))
            pos += head + size
            continue
        width = {0xC0: 2, 0xD0: 4, 0xE0: 8, 0xF0: 3, 0xFE: 1}.get(first)
        if width is not None:
            items.append(b"%d" % int.from_bytes(_span(blob, pos + 1, width, end), "little",
                                                 signed=True))
            pos += 1 + width
        elif 0xF1 <= first <= 0xFD:  # a small integer inside the encoding byte
            items.append(b"%d" % ((first & 0x0F) - 1))
            pos += 1
        else:
            raise FormatError("bad ziplist entry encoding")
    if pos != end or (declared != 65535 and declared != len(items)):
        raise FormatError("ziplist count mismatch")
    return items


def _at(blob: bytes, pos: int, end: int) -> int:
    if pos >= end:
        raise FormatError("entry past the end")
    return blob[pos]


def _span(blob: bytes, start: int, size: int, end: int) -> bytes:
    if start + size > end:
        raise FormatError("entry past the end")
    return blob[start:start + size]


# -- writing -----------------------------------------------------------------------------------
# Encoding runs once per element of a collection, on the event loop (DUMP, MIGRATE): the
# per-element work below is table lookups and at most one int.to_bytes, no per-element calls
# for the common cases (short strings, small integers).
def _length(value: int) -> bytes:
    """rdbSaveLen."""
    if value < 1 << 6:
        return bytes((value,))
    if value < 1 << 14:
        return bytes((value >> 8 | 0x40, value & 0xFF))
    if value <= 0xFFFFFFFF:
        return b"\x80" + value.to_bytes(4, "big")
    return b"\x81" + value.to_bytes(8, "big")


class _Lengths(dict):
    """rdbSaveLen of every length below 16384, looked up; longer ones computed."""

    def __missing__(self, value: int) -> bytes:
        return _length(value)


_LENGTHS = _Lengths((size, _length(size)) for size in range(1 << 14))


def _strict_int(value: bytes) -> int | None:
    """string2ll: the integer whose decimal form is exactly value."""
    if value.isdigit():
        return int(value) if value[0] != 0x30 or len(value) == 1 else None
    if value[:1] == b"-" and value[1:].isdigit() and value[1] != 0x30:
        return int(value)
    return None


_PACK_INT16, _PACK_INT32 = struct.Struct("<Bh").pack, struct.Struct("<Bi").pack
_ENCODED_INT8 = {number: bytes((0xC0 | _ENC_INT8, number & 0xFF)) for number in range(-128, 128)}


def _string(value: bytes) -> bytes:
    """rdbSaveRawString without compression: small integers in their encoded forms."""
    if len(value) <= 11 and (value[:1] == b"-" or value.isdigit()):
        number = _strict_int(value)
        if number is not None:
            if -128 <= number < 128:
                return _ENCODED_INT8[number]
            if -32768 <= number < 32768:
                return _PACK_INT16(0xC0 | _ENC_INT16, number)
            if -(1 << 31) <= number < 1 << 31:
                return _PACK_INT32(0xC0 | _ENC_INT32, number)
    return _LENGTHS[len(value)] + value


def _strings(values) -> list[bytes]:
    """``_string`` of each value: a call only for those that may read as integers."""
    lengths = _LENGTHS
    return [_string(value) if len(value) <= 11 and (value[:1] == b"-" or value.isdigit())
            else lengths[len(value)] + value for value in values]


def _backlen(entry_len: int) -> bytes:
    """lpEncodeBacklen: 7-bit groups, the highest first, the others flagged."""
    width = next(width for width, bound in _BACKLEN_SIZES if entry_len < bound)
    groups = [entry_len >> (7 * i) & 127 for i in range(width)]
    return bytes([groups[-1], *(group | 128 for group in reversed(groups[:-1]))])


def _small_listpack_int(number: int) -> bytes:
    """lpAppendInteger's entry of a 7-bit unsigned or 13-bit signed integer."""
    if 0 <= number <= 127:
        return bytes((number, 1))
    number &= 0x1FFF
    return bytes((0xC0 | number >> 8, number & 0xFF, 2))


_LP_SMALL_INTS = tuple(_small_listpack_int(number) for number in range(-4096, 4096))
_PACK_INT64 = struct.Struct("<Bq").pack


def _listpack_int(number: int) -> bytes:
    """lpAppendInteger's entry (an int64), back-length (1 + the integer's bytes) included."""
    if -4096 <= number <= 4095:
        return _LP_SMALL_INTS[number + 4096]
    if -32768 <= number < 32768:
        return _PACK_INT16(0xF1, number) + b"\x03"
    if -(1 << 23) <= number < 1 << 23:
        return b"\xf2" + number.to_bytes(3, "little", signed=True) + b"\x04"
    if -(1 << 31) <= number < 1 << 31:
        return _PACK_INT32(0xF3, number) + b"\x05"
    return _PACK_INT64(0xF4, number) + b"\x09"


def _listpack_string_head(size: int) -> bytes:
    if size < 64:
        return bytes((0x80 | size,))
    if size < 4096:
        return bytes((0xE0 | size >> 8, size & 0xFF))
    return b"\xf0" + size.to_bytes(4, "little")


# a string entry of up to 4095 bytes: its head and its back-length, by the string's size
_LP_HEADS = tuple(_listpack_string_head(size) for size in range(4096))
_LP_TAILS = tuple(_backlen(size + len(head)) for size, head in enumerate(_LP_HEADS))
_INT64 = range(-(1 << 63), 1 << 63)


def _listpack_entry(value: bytes | int) -> bytes:
    """lpAppend's encoding of one element (integers as lpAppendInteger, strings that read
    as integers likewise), with its back-length."""
    if isinstance(value, int):
        number = value
    elif len(value) <= 20 and (value[:1] == b"-" or value.isdigit()):
        number = _strict_int(value)
    else:
        number = None
    if number is not None and number in _INT64:
        return _listpack_int(number)
    size = len(value)
    if size < 4096:
        return _LP_HEADS[size] + value + _LP_TAILS[size]
    head = _listpack_string_head(size)
    return head + value + _backlen(len(head) + size)


def listpack_entry_size(value: bytes | int) -> int:
    """The bytes one element takes in a listpack (lpAppend, lpAppendInteger): the length of
    ``_listpack_entry``'s result, without building it."""
    number = value if isinstance(value, int) else (
        _strict_int(value) if len(value) <= 20 else None)
    if number is None or not -(1 << 63) <= number < 1 << 63:
        size = len(value)
        encoded = size + (1 if size < 64 else 2 if size < 4096 else 5)
    elif 0 <= number <= 127:
        encoded = 1
    else:
        encoded = next(width for width, bound in _INT_WIDTHS if -bound <= number < bound)
    return encoded + next(size for size, bound in _BACKLEN_SIZES if encoded < bound)


def build_listpack(items: list[bytes | int]) -> bytes:
    """A listpack of the items: integers and strings that cannot read as integers take the
    direct paths (tables), the others ``_listpack_entry``."""
    heads, tails = _LP_HEADS, _LP_TAILS
    body = b"".join([
        _listpack_int(item) if item.__class__ is int
        else heads[len(item)] + item + tails[len(item)]
        if len(item) < 4096 and (len(item) > 20 or item[:1] != b"-" and not item.isdigit())
        else _listpack_entry(item) for item in items])
    count = min(len(items), 65535)
    return (len(body) + 7).to_bytes(4, "little") + count.to_bytes(2, "little") + body + b"\xff"


def id_delta(delta: int) -> int:
    """An id delta as the int64 Redis stores (uint64 arithmetic cast to signed)."""
    delta %= _U64
    return delta - _U64 if delta >= 1 << 63 else delta


def _stream_listpack(master_id: tuple[int, int], master_fields: list[bytes],
                     entries: list[tuple[tuple[int, int], list[bytes]]]) -> bytes:
    items: list[bytes | int] = [len(entries), 0, len(master_fields), *master_fields, 0]
    for entry_id, fields in entries:
        deltas = [id_delta(entry_id[0] - master_id[0]), id_delta(entry_id[1] - master_id[1])]
        if fields[::2] == master_fields:
            items += [_ITEM_SAME_FIELDS, *deltas, *fields[1::2], 3 + len(master_fields)]
        else:
            items += [0, *deltas, len(fields) // 2, *fields, 4 + len(fields)]
    return build_listpack(items)


def _dump_stream(value: StreamValue) -> bytes:
    """The stream's nodes as they are, but with their live entries only (their deleted ones
    are not kept)."""
    nodes, start = [], 0
    for node in value.nodes:
        if node.live:
            nodes.append((node, value.entries[start:start + node.live]))
            start += node.live
    parts = [bytes((TYPE_STREAM_LISTPACKS_2,)), _length(len(nodes))]
    for node, entries in nodes:
        listpack = _stream_listpack(node.master_id, node.master_fields, entries)
        parts += (_string(_ID.pack(*node.master_id)), _length_prefixed(listpack))
    parts.append(_length(len(value.entries)))
    for stream_id in (value.last_id, value.first_id, value.max_deleted_id):
        parts += (_length(stream_id[0]), _length(stream_id[1]))
    parts += (_length(value.entries_added), _length(len(value.groups)))
    for group in value.groups:
        parts += (_string(group.name), _length(group.last_id[0]), _length(group.last_id[1]),
                  _length(group.entries_read % _U64), _length(len(group.pending)))
        for stream_id, delivery_time, deliveries in group.pending:
            parts += (_ID.pack(*stream_id), delivery_time.to_bytes(8, "little", signed=True),
                      _length(deliveries))
        parts.append(_length(len(group.consumers)))
        for name, seen_time, ids in group.consumers:
            parts += (_string(name), seen_time.to_bytes(8, "little", signed=True),
                      _length(len(ids)))
            parts.extend(_ID.pack(*stream_id) for stream_id in ids)
    return b"".join(parts)


def _length_prefixed(blob: bytes) -> bytes:
    return _length(len(blob)) + blob


def dump(kind: str, data) -> bytes:
    """A DUMP payload of the value, footer included."""
    if kind == STRING:
        body = bytes((TYPE_STRING,)) + _string(data)
    elif kind in (LIST, SET):
        body = b"".join([bytes((TYPE_LIST if kind == LIST else TYPE_SET,)), _length(len(data)),
                         *_strings(data)])
    elif kind == ZSET:
        parts = [b""] * (2 * len(data))
        parts[0::2] = _strings([member for member, _ in data])
        parts[1::2] = [_DOUBLE_LE.pack(score) for _, score in data]
        body = b"".join([bytes((TYPE_ZSET_2,)), _length(len(data)), *parts])
    elif kind == HASH:
        body = b"".join([bytes((TYPE_HASH,)), _length(len(data)),
                         *_strings(itertools.chain.from_iterable(data))])
    elif kind == STREAM:
        body = _dump_stream(data)
    else:
        raise ValueError(f"no RDB encoding for {kind}")
    body += RDB_VERSION.to_bytes(2, "little")
    return body + crc64(body).to_bytes(8, "little")
