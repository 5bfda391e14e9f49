"""HyperLogLog: PFADD PFCOUNT PFMERGE PFDEBUG, byte for byte Redis's (hyperloglog.c).

The value is a plain string, as in Redis, so GET returns Redis's bytes, a value read from
Redis and SET here counts the same, and counts agree with Redis's for the same input:

    "HYLL" encoding(1) unused(3) cached-cardinality(8, little endian; MSB set = stale)
    dense:  16384 6-bit registers, little-endian bit order, 12288 bytes
    sparse: opcodes ZERO 00xxxxxx (1-64 zero registers), XZERO 01xxxxxx xxxxxxxx (1-16384),
            VAL 1vvvvvxx (1-4 registers of value 1-32)

A register is hashed with MurmurHash64A (seed 0xadc83b19); its index is the low 14 bits, its
value the position of the first 1 bit in the rest. A sparse value turns dense once it would
grow past ``hll-sparse-max-bytes`` (the entry's, see rcache.encodings) or hold a register
above 32, exactly where Redis's does.
The estimate is Ertl's improved estimator, Redis 5's ``hllCount``.

PFCOUNT of one key stores the cardinality it computed in the header, as Redis does (so a GET
after it returns Redis's bytes): in rcache that makes it a replicated command.
"""

from __future__ import annotations

import math
import struct
from bisect import bisect_right

from .. import errors
from ..errors import CommandError
from ..notify import STRING as STRING_EVENTS
from ..resp import SimpleString
from ..storage import BIG_STRING, STRING, Keyspace
from .table import Context, always, command

_G = "hyperloglog"
NOT_HLL = "WRONGTYPE Key is not a valid HyperLogLog string value."
CORRUPTED = "INVALIDOBJ Corrupted HLL object detected"
NO_SUCH_KEY = "ERR The specified key does not exist"
NOT_SPARSE = "ERR HLL encoding is not sparse"

HLL_P = 14
HLL_Q = 64 - HLL_P
REGISTERS = 1 << HLL_P
REGISTER_MAX = 63
HEADER = 16
DENSE_SIZE = HEADER + REGISTERS * 6 // 8
DENSE, SPARSE = 0, 1
_SPARSE_VAL_MAX_VALUE = 32
_SPARSE_VAL_MAX_LEN = 4
_SPARSE_ZERO_MAX_LEN = 64
_ALPHA_INF = 0.721347520444481703680  # 0.5 / ln(2)
_STALE = 0x80  # in the cardinality's last byte
_INDEFINITE = 1 << 63  # what llroundl(inf) gives on x86
_M64 = 0xFFFFFFFFFFFFFFFF
_MURMUR_M = 0xC6A4A7935BD1E995
_SEED = 0xADC83B19


# -- hashing --------------------------------------------------------------------------------------
def murmurhash64a(data: bytes, seed: int = _SEED) -> int:
    """Redis's MurmurHash64A (little-endian words)."""
    m = _MURMUR_M
    length = len(data)
    h = (seed ^ (length * m)) & _M64
    whole = length - (length & 7)
    for (k,) in struct.iter_unpack("<Q", data[:whole]):
        k = (k * m) & _M64
        k ^= k >> 47
        k = (k * m) & _M64
        h = ((h ^ k) * m) & _M64
    tail = data[whole:]
    if tail:
        h = ((h ^ int.from_bytes(tail, "little")) * m) & _M64
    h ^= h >> 47
    h = (h * m) & _M64
    return h ^ (h >> 47)


def pattern(element: bytes) -> tuple[int, int]:
    """hllPatLen: (register index, run length of zeros + 1) of an element."""
    hashed = murmurhash64a(element)
    rest = (hashed >> HLL_P) | (1 << HLL_Q)
    return hashed & (REGISTERS - 1), (rest & -rest).bit_length()


# -- dense registers ------------------------------------------------------------------------------
def _dense_get(hll: bytes | bytearray, index: int) -> int:
    """HLL_DENSE_GET_REGISTER on a dense value. A register whose bits end in its first byte
    never reads the next (Redis reads its string's terminator past the last one)."""
    bit = index * 6
    byte, shift = HEADER + (bit >> 3), bit & 7
    value = hll[byte] >> shift
    if shift > 2:
        value |= hll[byte + 1] << (8 - shift)
    return value & REGISTER_MAX


def _dense_set(hll: bytearray, index: int, value: int) -> None:
    bit = index * 6
    byte, shift = HEADER + (bit >> 3), bit & 7
    hll[byte] = (hll[byte] & ~(REGISTER_MAX << shift) & 0xFF) | ((value << shift) & 0xFF)
    if shift > 2:
        hll[byte + 1] = (hll[byte + 1] & ~(REGISTER_MAX >> (8 - shift))) | (value >> (8 - shift))


def _dense_update(hll: bytearray, index: int, count: int) -> int:
    """hllDenseSet: 1 if the register grew."""
    if _dense_get(hll, index) >= count:
        return 0
    _dense_set(hll, index, count)
    return 1


# Whole-value conversions run at C speed: bytes.translate through these tables, slices with a
# step, and big-integer additions to OR bytes together.
def _table(mask: int, shift: int) -> bytes:
    """Each byte's bits under mask, moved left by shift (right when negative)."""
    return bytes(((b & mask) << shift if shift >= 0 else (b & mask) >> -shift) & 0xFF
                 for b in range(256))


_LOW6, _SHR2, _SHR4, _SHR6 = _table(63, 0), _table(255, -2), _table(255, -4), _table(255, -6)
_LOW2_SHL4, _LOW2_SHL6 = _table(3, 4), _table(3, 6)
_LOW4_SHL2, _LOW4_SHL4, _LOW6_SHL2 = _table(15, 2), _table(15, 4), _table(63, 2)


def _byte_or(a: bytes, b: bytes) -> bytes:
    """Bytewise OR of two equal-length strings whose set bits never overlap: one addition."""
    total = int.from_bytes(a, "little") + int.from_bytes(b, "little")
    return total.to_bytes(len(a), "little")


_LANES_0X80 = int.from_bytes(b"\x80" * REGISTERS, "little")
_LANES_0X01 = int.from_bytes(b"\x01" * REGISTERS, "little")


def _registers_max(a: bytes, b: bytes) -> bytes:
    """Bytewise max of two register strings (values below 128) in a few big-integer steps:
    each byte of (a | 0x80) - b keeps its top bit exactly where a >= b (no borrow crosses a
    byte), and that bit spread over its byte selects a or b."""
    x, y = int.from_bytes(a, "little"), int.from_bytes(b, "little")
    a_wins = ((((x | _LANES_0X80) - y) >> 7) & _LANES_0X01) * 0xFF
    return ((x & a_wins) | (y & ~a_wins)).to_bytes(REGISTERS, "little")


def unpack_dense(packed: bytes) -> bytearray:
    """12288 bytes of 6-bit registers -> 16384 bytes, one register each."""
    b0, b1, b2 = packed[0::3], packed[1::3], packed[2::3]
    out = bytearray(REGISTERS)
    out[0::4] = b0.translate(_LOW6)
    out[1::4] = _byte_or(b0.translate(_SHR6), b1.translate(_LOW4_SHL2))
    out[2::4] = _byte_or(b1.translate(_SHR4), b2.translate(_LOW2_SHL4))
    out[3::4] = b2.translate(_SHR2)
    return out


def pack_dense(registers: bytes) -> bytes:
    """The inverse of unpack_dense (registers are at most 63)."""
    r0, r1, r2, r3 = (registers[i::4] for i in range(4))
    out = bytearray(REGISTERS * 6 // 8)
    out[0::3] = _byte_or(r0, r1.translate(_LOW2_SHL6))
    out[1::3] = _byte_or(r1.translate(_SHR2), r2.translate(_LOW4_SHL4))
    out[2::3] = _byte_or(r2.translate(_SHR4), r3.translate(_LOW6_SHL2))
    return bytes(out)


# -- sparse opcodes -------------------------------------------------------------------------------
def _opcode(raw: bytes | bytearray, p: int) -> tuple[str, int, int, int]:
    """(kind, registers covered, value, opcode length) of the opcode at p."""
    op = raw[p]
    if op & 0x80:
        return "v", (op & 3) + 1, ((op >> 2) & 31) + 1, 1
    if op & 0x40:  # a truncated XZERO reads 0 past the end, as Redis reads sds's terminator
        low = raw[p + 1] if p + 1 < len(raw) else 0
        return "Z", (((op & 0x3F) << 8) | low) + 1, 0, 2
    return "z", (op & 0x3F) + 1, 0, 1


def _iter_sparse(raw: bytes | bytearray):
    p, end = HEADER, len(raw)
    while p < end:
        kind, span, value, size = _opcode(raw, p)
        yield kind, span, value
        p += size


def _zeros(length: int) -> bytes:
    if length > _SPARSE_ZERO_MAX_LEN:
        return bytes((((length - 1) >> 8) | 0x40, (length - 1) & 0xFF))
    return bytes((length - 1,))


def _val(value: int, length: int) -> int:
    return ((value - 1) << 2 | (length - 1)) | 0x80


def sparse_registers(raw: bytes | bytearray) -> bytearray | None:
    """Every register of a sparse value (hllSparseToDense's walk), None if it is corrupt."""
    registers = bytearray(REGISTERS)
    index = 0
    for kind, span, value in _iter_sparse(raw):
        if kind == "v":
            if index + span > REGISTERS:
                return None
            registers[index:index + span] = bytes((value,)) * span
        index += span
    return registers if index == REGISTERS else None


def empty_hll() -> bytearray:
    """createHLLObject: sparse, one XZERO covering every register."""
    return bytearray(b"HYLL\x01\0\0\0" + bytes(8) + _zeros(REGISTERS))


def _to_dense(hll: bytearray) -> bool:
    """hllSparseToDense in place (the header, cached cardinality included, is kept)."""
    if hll[4] == DENSE:
        return True
    registers = sparse_registers(hll)
    if registers is None:
        return False
    hll[HEADER:] = pack_dense(registers)
    hll[4] = DENSE
    return True


Cursor = tuple[int, int]  # (offset of an opcode, index of the first register it covers)


def _sparse_set(hll: bytearray, index: int, count: int, max_bytes: int,
                trail: list[Cursor] | None = None) -> int:
    """hllSparseSet: 1 if the register grew, 0 if not, -1 for a corrupt value. May turn the
    value dense (then in place, as Redis's promotion).

    ``trail``, for sets in ascending index order (PFMERGE), keeps the opcodes walked that no
    change can have moved (those before the one preceding the change): each walk resumes
    from there, so the sets cost one walk in all, not one each."""
    if count > _SPARSE_VAL_MAX_VALUE:
        return _promote(hll, index, count)
    if trail is None:
        trail = []
    end = len(hll)
    p, first = trail.pop() if trail else (HEADER, 0)
    prev = trail.pop() if trail else None
    span, kind, size = 0, "", 1
    while p < end:
        kind, span, _, size = _opcode(hll, p)
        if index <= first + span - 1:
            break
        if prev is not None:
            trail.append(prev)
        prev = (p, first)
        p += size
        first += span
    if span == 0 or p >= end:
        return -1
    runlen = span
    if kind == "v":
        old = ((hll[p] >> 2) & 31) + 1
        if old >= count:
            return 0
        if runlen == 1:
            hll[p] = _val(count, 1)
            return _merge_adjacent(hll, prev)
    if kind == "z" and runlen == 1:
        hll[p] = _val(count, 1)
        return _merge_adjacent(hll, prev)
    last = first + span - 1
    seq = bytearray()
    if kind == "v":
        value = ((hll[p] >> 2) & 31) + 1
        if index != first:
            seq.append(_val(value, index - first))
        seq.append(_val(count, 1))
        if index != last:
            seq.append(_val(value, last - index))
    else:
        if index != first:
            seq += _zeros(index - first)
        seq.append(_val(count, 1))
        if index != last:
            seq += _zeros(last - index)
    if len(seq) > size and len(hll) + len(seq) - size > max_bytes:
        return _promote(hll, index, count)
    new_length = len(hll) + len(seq) - size  # a truncated XZERO counts as 2 bytes, as in C
    hll[p:p + size] = seq
    del hll[new_length:]
    return _merge_adjacent(hll, prev)


def _merge_adjacent(hll: bytearray, prev: Cursor | None) -> int:
    """Step 4 of hllSparseSet: merge equal adjacent VALs in the 5 opcodes from prev (from
    the first opcode when the change was there)."""
    p = HEADER if prev is None else prev[0]
    scans = 5
    while p < len(hll) and scans:
        scans -= 1
        op = hll[p]
        if not op & 0x80:
            p += 2 if op & 0x40 else 1
            continue
        if p + 1 < len(hll) and hll[p + 1] & 0x80:
            value, nxt = ((op >> 2) & 31) + 1, hll[p + 1]
            if value == ((nxt >> 2) & 31) + 1:
                length = (op & 3) + 1 + (nxt & 3) + 1
                if length <= _SPARSE_VAL_MAX_LEN:
                    hll[p + 1] = _val(value, length)
                    del hll[p]
                    continue
        p += 1
    hll[15] |= _STALE
    return 1


def _promote(hll: bytearray, index: int, count: int) -> int:
    if not _to_dense(hll):
        return -1
    return _dense_update(hll, index, count)


_DECODED_FROM = 4  # elements in one PFADD


class _SparseOpcodes:
    """A well-formed sparse value's opcodes as a list, for PFADD's many sets: hllSparseSet's
    edits made the same way, but each finds its opcode by bisection (no opcode's first
    register moves when another is split or merged), where a walk of the bytes costs a
    Python step per opcode and element."""

    __slots__ = ("firsts", "codes", "size")

    def __init__(self, firsts: list[int], codes: list[bytes], size: int) -> None:
        self.firsts = firsts  # the first register each opcode covers, ascending
        self.codes = codes  # each opcode's bytes
        self.size = size  # the value's length in bytes, header included

    @classmethod
    def decode(cls, hll: bytearray) -> _SparseOpcodes | None:
        """None unless the opcodes cover every register exactly, with no truncated XZERO:
        a corrupt value takes hllSparseSet's own walk, which finds the corruption as C does."""
        firsts, codes = [], []
        p, first, end = HEADER, 0, len(hll)
        while p < end:
            _, span, _, size = _opcode(hll, p)
            if p + size > end:
                return None
            firsts.append(first)
            codes.append(bytes(hll[p:p + size]))
            p += size
            first += span
        return cls(firsts, codes, end) if first == REGISTERS else None

    def write_into(self, hll: bytearray) -> None:
        hll[HEADER:] = b"".join(self.codes)

    def set(self, index: int, count: int, max_bytes: int) -> int | None:
        """_sparse_set's result, or None where the value must turn dense first."""
        if count > _SPARSE_VAL_MAX_VALUE:
            return None
        at = bisect_right(self.firsts, index) - 1
        first, code = self.firsts[at], self.codes[at]
        kind, span, value, size = _opcode(code, 0)
        if kind == "v" and value >= count:
            return 0
        if span == 1 and kind != "Z":  # (an XZERO of one shrinks: the general case)
            self.codes[at] = bytes((_val(count, 1),))
            self._merge_adjacent(at - 1)
            return 1
        last = first + span - 1
        firsts, codes = [], []
        if index != first:
            firsts.append(first)
            codes.append(bytes((_val(value, index - first),)) if kind == "v"
                         else _zeros(index - first))
        firsts.append(index)
        codes.append(bytes((_val(count, 1),)))
        if index != last:
            firsts.append(index + 1)
            codes.append(bytes((_val(value, last - index),)) if kind == "v"
                         else _zeros(last - index))
        grown = sum(map(len, codes)) - size
        if grown > 0 and self.size + grown > max_bytes:
            return None
        self.firsts[at:at + 1] = firsts
        self.codes[at:at + 1] = codes
        self.size += grown
        self._merge_adjacent(at - 1)
        return 1

    def _merge_adjacent(self, at: int) -> None:
        """_merge_adjacent on the list, from opcode ``at`` (the first when negative)."""
        at = max(at, 0)
        codes, firsts = self.codes, self.firsts
        scans = 5
        while at < len(codes) and scans:
            scans -= 1
            op = codes[at][0]
            if op & 0x80 and at + 1 < len(codes) and codes[at + 1][0] & 0x80:
                nxt = codes[at + 1][0]
                value = ((op >> 2) & 31) + 1
                length = (op & 3) + 1 + (nxt & 3) + 1
                if value == ((nxt >> 2) & 31) + 1 and length <= _SPARSE_VAL_MAX_LEN:
                    codes[at:at + 2] = [bytes((_val(value, length),))]
                    del firsts[at + 1]
                    self.size -= 1
                    continue
            at += 1


def _add_all(hll: bytearray, elements: list[bytes], max_bytes: int) -> tuple[bool, bool]:
    """PFADD's sets in argument order: (whether a register grew, whether a corrupt opcode
    stopped them; what changed before it is kept). A few elements take a walk each: decoding
    the opcodes costs about three walks."""
    batched = hll[4] == SPARSE and len(elements) >= _DECODED_FROM
    opcodes = _SparseOpcodes.decode(hll) if batched else None
    grew = False
    for element in elements:
        index, count = pattern(element)
        result = None if opcodes is None else opcodes.set(index, count, max_bytes)
        if result is None:
            if opcodes is not None:
                opcodes.write_into(hll)
                opcodes = None
                result = _promote(hll, index, count)
            else:
                result = _add(hll, index, count, max_bytes)
        if result < 0:
            return grew, True
        grew = grew or result == 1
    if opcodes is not None:
        opcodes.write_into(hll)
    return grew, False


# -- estimating -----------------------------------------------------------------------------------
def _sigma(x: float) -> float:
    if x == 1.0:
        return math.inf
    y, z = 1.0, x
    while True:
        x *= x
        previous = z
        z += x * y
        y += y
        if previous == z:
            return z


def _tau(x: float) -> float:
    if x in (0.0, 1.0):
        return 0.0
    y, z = 1.0, 1 - x
    while True:
        x = math.sqrt(x)
        previous = z
        y *= 0.5
        z -= (1 - x) ** 2 * y
        if previous == z:
            return z / 3


def estimate(histogram: list[int]) -> int:
    """hllCount's estimate from the register histogram (Ertl, arXiv:1702.01284)."""
    m = float(REGISTERS)
    z = m * _tau((m - histogram[HLL_Q + 1]) / m)
    for j in range(HLL_Q, 0, -1):
        z += histogram[j]
        z *= 0.5
    z += m * _sigma(histogram[0] / m)
    if z == 0:  # only registers past 51, in a value written by hand: C divides to inf
        return _INDEFINITE
    value = _ALPHA_INF * m * m / z
    whole = math.floor(value)
    return int(whole) + (value - whole >= 0.5)  # llroundl: halves away from zero


def _as_reply(card: int) -> int:
    """addReplyLongLong of the uint64 count."""
    return card - 2**64 if card >= 2**63 else card


def histogram(registers: bytes) -> list[int]:
    return [registers.count(value) for value in range(64)]


def registers_of(hll: bytes | bytearray) -> bytes | None:
    """One byte per register, None for a corrupt sparse value."""
    if hll[4] == DENSE:
        return bytes(unpack_dense(bytes(hll[HEADER:])))
    found = sparse_registers(hll)
    return None if found is None else bytes(found)


# -- reading and writing the value ----------------------------------------------------------------
def _load(ks: Keyspace, key: bytes) -> tuple[bytearray, int] | None:
    """isHLLObjectOrReply: (value, expire_at) of a valid HLL string, None when missing."""
    record = ks.lookup(key)
    if record is None:
        return None
    if record[0] == BIG_STRING:  # longer than any HLL
        raise CommandError(NOT_HLL)
    if record[0] != STRING:
        raise CommandError(errors.WRONGTYPE)
    value = record[2]
    if (len(value) < HEADER or value[:4] != b"HYLL" or value[4] > SPARSE
            or (value[4] == DENSE and len(value) != DENSE_SIZE)):
        raise CommandError(NOT_HLL)
    return bytearray(value), record[1]


def _add(hll: bytearray, index: int, count: int, max_bytes: int) -> int:
    if hll[4] == DENSE:
        return _dense_update(hll, index, count)
    return _sparse_set(hll, index, count, max_bytes)


def _max_registers(ks: Keyspace, keys: list[bytes]) -> tuple[bytearray, bool]:
    """The registers' maxima over the HLLs at keys (missing keys count as empty), and
    whether one of them is dense."""
    maxima = bytes(REGISTERS)
    any_dense = False
    for key in keys:
        loaded = _load(ks, key)
        if loaded is None:
            continue
        hll = loaded[0]
        any_dense = any_dense or hll[4] == DENSE
        registers = registers_of(hll)
        if registers is None:
            raise CommandError(CORRUPTED)
        maxima = _registers_max(maxima, registers)
    return bytearray(maxima), any_dense


@command("pfadd", -2, "write denyoom fast", 1, 1, 1, group=_G, since="2.8.9",
         summary="Adds the specified elements to the specified HyperLogLog.",
         complexity="O(1) to add every element.")
def pfadd(ctx: Context, argv: list[bytes]) -> int:
    ks = ctx.ks
    key = argv[1]
    loaded = _load(ks, key)
    hll, expire_at = loaded if loaded is not None else (empty_hll(), 0)
    grew, corrupt = _add_all(hll, argv[2:], ks.limits.hll_sparse_max_bytes)
    updated = loaded is None or grew
    if corrupt:  # Redis keeps what it changed before the corrupt opcode
        if updated:
            ks.put(key, STRING, bytes(hll), expire_at)
        raise CommandError(CORRUPTED)
    if updated:
        hll[15] |= _STALE
        ks.put(key, STRING, bytes(hll), expire_at)
        ctx.notify(STRING_EVENTS, b"pfadd", key)
    return int(updated)


@command("pfcount", -2, "readonly replicated", 1, -1, 1, group=_G, since="2.8.9",
         replica_runs_if=always,
         summary="Return the approximated cardinality of the set(s) observed by the "
                 "HyperLogLog at key(s).",
         complexity="O(1) with a very small average constant time when called with a single "
                    "key. O(N) with N being the number of keys, and much bigger constant times, "
                    "when called with multiple keys.")
def pfcount(ctx: Context, argv: list[bytes]) -> int:
    """One key: the cached cardinality, or a fresh one stored in the header (a write, as in
    Redis; not on a follower with cluster-enabled no, which runs it outside the log).
    Several keys: the cardinality of their union, nothing stored."""
    ks = ctx.ks
    with ks.reads_counted():  # reads, as Redis counts them (applied or not)
        if len(argv) > 2:
            return _as_reply(estimate(histogram(_max_registers(ks, argv[1:])[0])))
        loaded = _load(ks, argv[1])
    if loaded is None:
        return 0
    hll, expire_at = loaded
    if not hll[15] & _STALE:
        return int.from_bytes(hll[8:16], "little")
    registers = registers_of(hll)
    if registers is None:
        raise CommandError(CORRUPTED)
    card = estimate(histogram(registers))
    if ks.txn is not None:
        hll[8:16] = card.to_bytes(8, "little")
        ks.put(argv[1], STRING, bytes(hll), expire_at)
    return _as_reply(card)


@command("pfmerge", -2, "write denyoom", 1, -1, 1, group=_G, since="2.8.9",
         summary="Merge N different HyperLogLogs into a single one.",
         complexity="O(N) to merge N HyperLogLogs, but with high constant times.")
def pfmerge(ctx: Context, argv: list[bytes]) -> SimpleString:
    """The destination is one of the inputs; it turns dense if any input is dense, and the
    maxima are set register by register in index order, as Redis's sparse sets do."""
    ks = ctx.ks
    with ks.reads_counted():  # every key, the destination too, read as Redis counts reads
        maxima, any_dense = _max_registers(ks, argv[1:])
    key = argv[1]
    loaded = _load(ks, key)
    hll, expire_at = loaded if loaded is not None else (empty_hll(), 0)
    if any_dense and not _to_dense(hll):
        raise CommandError(CORRUPTED)
    if hll[4] == DENSE:
        current = unpack_dense(bytes(hll[HEADER:]))
        hll[HEADER:] = pack_dense(_registers_max(current, maxima))
    else:
        trail: list[Cursor] = []
        for index, value in enumerate(maxima):
            if value:
                if hll[4] == DENSE:
                    _dense_update(hll, index, value)
                else:
                    _sparse_set(hll, index, value, ks.limits.hll_sparse_max_bytes, trail)
    hll[15] |= _STALE
    ks.put(key, STRING, bytes(hll), expire_at)
    ctx.notify(STRING_EVENTS, b"pfadd", key)
    return SimpleString("OK")


@command("pfdebug", 3, "write denyoom admin", 2, 2, 1, group=_G, since="2.8.9",
         summary="Internal commands for debugging HyperLogLog values",
         complexity="N/A")
def pfdebug(ctx: Context, argv: list[bytes]) -> object:
    """GETREG (turns the value dense), DECODE, ENCODING, TODENSE."""
    ks = ctx.ks
    sub, key = argv[1].lower(), argv[2]
    loaded = _load(ks, key)
    if loaded is None:
        raise CommandError(NO_SUCH_KEY)
    hll, expire_at = loaded
    if sub in (b"getreg", b"todense"):
        converted = hll[4] == SPARSE
        if converted:
            if not _to_dense(hll):
                raise CommandError(CORRUPTED)
            ks.put(key, STRING, bytes(hll), expire_at)
        if sub == b"todense":
            return int(converted)
        return list(unpack_dense(bytes(hll[HEADER:])))
    if sub == b"decode":
        if hll[4] != SPARSE:
            raise CommandError(NOT_SPARSE)
        return " ".join(f"{kind}:{value},{span}" if kind == "v" else f"{kind}:{span}"
                        for kind, span, value in _iter_sparse(hll)).encode()
    if sub == b"encoding":
        return SimpleString("dense" if hll[4] == DENSE else "sparse")
    name = argv[1].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
    raise CommandError(f"ERR Unknown PFDEBUG subcommand '{name}'")
