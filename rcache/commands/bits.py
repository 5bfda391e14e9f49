"""Bitmap commands: SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD BITFIELD_RO.

A bitmap is a string: bit 0 is the most significant bit of byte 0, and a string is as long as
its highest byte written. Reads treat bits past the end as 0. Writes keep the key's TTL (Redis
edits the string in place), except BITOP, which stores a new value. Long strings are
fragments (strings_store): a command reads and rewrites only the fragments in its range, and
skips the zero runs of a sparse one. A range is worked on a segment at a time as Python
integers: one conversion, then shifts and bit_count().
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from .. import errors
from .. import strings_store as ss
from ..errors import CommandError
from ..notify import GENERIC, STRING
from ..resp import LLONG_MAX, parse_int
from ..storage import Keyspace
from ..strings_store import FRAGMENT_SIZE, StoredString, StringEditor
from .args import int_arg
from .strings import max_bulk_len
from .table import Context, command

_G = "bitmap"
BIT_OFFSET = "ERR bit offset is not an integer or out of range"
BIT_VALUE = "ERR bit is not an integer or out of range"
BITFIELD_TYPE = ("ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not "
                 "supported but i64 is.")
MIN_BULK_LEN = 1024 * 1024  # proto-max-bulk-len's least value: offsets below fit any


def _bit_offset(raw: bytes, field_bits: int = 0) -> int:
    """A bit offset; with field_bits, BITFIELD's "#N" form (the N-th field of that width).
    Its bound, proto-max-bulk-len, is checked by _check_offsets where the command runs."""
    by_field = field_bits and raw[:1] == b"#" and len(raw) > 1
    offset = parse_int(raw[1:] if by_field else raw)
    if offset is None:
        raise CommandError(BIT_OFFSET)
    if by_field:
        offset *= field_bits
    if offset < 0 or offset >> 3 >= LLONG_MAX:
        raise CommandError(BIT_OFFSET)
    return offset


def _check_offsets(ctx: Context, offsets: Iterable[int]) -> None:
    """Redis refuses a bit offset in or past byte proto-max-bulk-len."""
    limit = max_bulk_len(ctx)
    if any(offset >> 3 >= limit for offset in offsets):
        raise CommandError(BIT_OFFSET)


def _later_error(error: CommandError, offsets: list[int]) -> CommandError:
    """An argument error met after these offsets: raised at once, unless proto-max-bulk-len
    (known where the command runs, not to its parser) may refuse one of them, which Redis
    reports first; then returned, for the command to raise after _check_offsets."""
    if all(offset >> 3 < MIN_BULK_LEN for offset in offsets):
        raise error
    return error


def _bit_value(raw: bytes) -> int:
    on = parse_int(raw)
    if on not in (0, 1):
        raise CommandError(BIT_VALUE)
    return on


def _parse_setbit(argv: list[bytes]) -> tuple[bytes, int, int | CommandError]:
    offset = _bit_offset(argv[2])
    try:
        return argv[1], offset, _bit_value(argv[3])
    except CommandError as error:
        return argv[1], offset, _later_error(error, [offset])


def _bits(value: bytes | memoryview, first: int, last: int) -> int:
    """Bits first..last (inclusive, both inside value) as one integer, first bit highest."""
    chunk = int.from_bytes(value[first >> 3:(last >> 3) + 1], "big")
    return (chunk >> (7 - (last & 7))) & ((1 << (last - first + 1)) - 1)


def _unit_is_bit(raw: bytes) -> bool:
    unit = raw.lower()
    if unit not in (b"bit", b"byte"):
        raise CommandError(errors.SYNTAX)
    return unit == b"bit"


def _bit_range(length: int, start: int, end: int | None, unit_is_bit: bool
               ) -> tuple[int, int] | None:
    """BITCOUNT/BITPOS's start..end (in bytes or bits; end None: to the end) of a string of
    length bytes as an inclusive range of bits, negative and out-of-range indexes clamped as
    Redis does; None if empty."""
    total = length * 8 if unit_is_bit else length
    if end is None:
        end = total - 1
    if start < 0:
        start += total
    if end < 0:
        end += total
    start, end = max(start, 0), min(max(end, 0), total - 1)
    if start > end:
        return None
    return (start, end) if unit_is_bit else (start * 8, end * 8 + 7)


def _count_bits(value: StoredString, first: int, last: int) -> int:
    """Set bits from bit first to bit last (inclusive, inside the value)."""
    total = 0
    for offset, size, data in value.segments(first >> 3, (last >> 3) + 1):
        if data is None:
            continue
        lo, hi = max(first - offset * 8, 0), min(last - offset * 8, size * 8 - 1)
        if lo == 0 and hi == size * 8 - 1:  # whole bytes: no shifting nor masking
            total += int.from_bytes(data, "big").bit_count()
        else:
            total += _bits(data, lo, hi).bit_count()
    return total


def _find_bit(value: StoredString, first: int, last: int, wanted: int) -> int | None:
    """The first bit equal to wanted from bit first to bit last (inside the value)."""
    for offset, size, data in value.segments(first >> 3, (last >> 3) + 1):
        lo, hi = max(first, offset * 8), min(last, (offset + size) * 8 - 1)
        if data is None:
            if not wanted:
                return lo
            continue
        width = hi - lo + 1
        window = _bits(data, lo - offset * 8, hi - offset * 8)
        if not wanted:
            window ^= (1 << width) - 1
        if window:
            return lo + width - window.bit_length()
    return None


def _write_bits(ctx: Context, key: bytes, highest_bit: int,
                edit: Callable[[StringEditor], object]) -> tuple[object, bool]:
    """Grow the string at key (created if missing) to hold highest_bit, apply edit to it,
    save what it changed (TTL kept); -> what edit returned, and whether the string grew."""
    editor = ss.edit(ctx.ks, key)
    length = -1 if editor.replace else editor.length  # a new key grows from nothing
    editor.grow((highest_bit >> 3) + 1)
    result = edit(editor)
    editor.save()
    return result, editor.length > length


@command("setbit", 4, "write denyoom", 1, 1, 1, group=_G, since="2.2.0",
         summary="Sets or clears the bit at offset in the string value stored at key",
         parser=_parse_setbit)
def setbit(ctx: Context, args: tuple[bytes, int, int | CommandError]) -> int:
    key, offset, on = args
    _check_offsets(ctx, (offset,))
    if isinstance(on, CommandError):
        raise on
    mask = 0x80 >> (offset & 7)
    position = offset >> 3

    def flip(editor: StringEditor) -> int:
        old = editor.read(position, position + 1)[0]
        editor.write(position, bytes((old | mask if on else old & ~mask,)))
        return 1 if old & mask else 0

    old_bit, grew = _write_bits(ctx, key, offset, flip)
    if grew or old_bit != on:  # Redis notifies a change only (a created key is one)
        ctx.notify(STRING, b"setbit", key)
    return old_bit


@command("getbit", 3, "readonly fast", 1, 1, 1, group=_G, since="2.2.0",
         summary="Returns the bit value at offset in the string value stored at key")
def getbit(ctx: Context, argv: list[bytes]) -> int:
    offset = _bit_offset(argv[2])
    _check_offsets(ctx, (offset,))
    byte = _reader(ctx.ks, argv[1])(offset >> 3, (offset >> 3) + 1)
    return 1 if byte and byte[0] & (0x80 >> (offset & 7)) else 0


@command("bitcount", -2, "readonly", 1, 1, 1, group=_G, since="2.6.0",
         summary="Count set bits in a string", complexity="O(N)")
def bitcount(ctx: Context, argv: list[bytes]) -> int:
    value = ss.lookup(ctx.ks, argv[1])
    if value is None:
        return 0  # Redis looks the key up before it parses the range
    if len(argv) == 2:
        bits = _bit_range(value.length, 0, None, False)
    elif len(argv) in (4, 5):
        start, end = int_arg(argv[2]), int_arg(argv[3])
        unit_is_bit = len(argv) == 5 and _unit_is_bit(argv[4])
        if start < 0 and end < 0 and start > end:
            return 0
        bits = _bit_range(value.length, start, end, unit_is_bit)
    else:
        raise CommandError(errors.SYNTAX)
    return 0 if bits is None else _count_bits(value, *bits)


@command("bitpos", -3, "readonly", 1, 1, 1, group=_G, since="2.8.7",
         summary="Find first bit set or clear in a string", complexity="O(N)")
def bitpos(ctx: Context, argv: list[bytes]) -> int:
    wanted = int_arg(argv[2])
    if wanted not in (0, 1):
        raise CommandError("ERR The bit argument must be 1 or 0.")
    value = ss.lookup(ctx.ks, argv[1])
    if value is None:  # an endless run of 0 bits
        return -1 if wanted else 0
    if len(argv) > 6:
        raise CommandError(errors.SYNTAX)
    start = int_arg(argv[3]) if len(argv) > 3 else 0
    unit_is_bit = len(argv) == 6 and _unit_is_bit(argv[5])  # checked before end, as Redis
    end_given = len(argv) > 4
    bits = _bit_range(value.length, start, int_arg(argv[4]) if end_given else None, unit_is_bit)
    if bits is None:
        return -1
    found = _find_bit(value, *bits, wanted)
    if found is not None:
        return found
    # No such bit in range. Past the string's end the bits are 0: a search for 0 without an
    # explicit end finds the first of them.
    return -1 if wanted or end_given else bits[1] + 1


_BITOPS: dict[bytes, Callable[[int, int], int]] = {
    b"and": int.__and__, b"or": int.__or__, b"xor": int.__xor__}


def _bitop_operation(argv: list[bytes]) -> bytes:
    """BITOP's operation (lower case), with NOT's single source."""
    operation = argv[1].lower()
    if operation not in _BITOPS and operation != b"not":
        raise CommandError(errors.SYNTAX)
    if operation == b"not" and len(argv) != 4:
        raise CommandError("ERR BITOP NOT must be called with a single source key.")
    return operation


@command("bitop", -4, "write denyoom", 2, -1, 1, group=_G, since="2.6.0",
         summary="Perform bitwise operations between strings", complexity="O(N)",
         parser=lambda argv: (argv, _bitop_operation(argv)))
def bitop(ctx: Context, args: tuple[list[bytes], bytes]) -> int:
    argv, operation = args
    with ctx.ks.reads_counted():  # the sources are reads, as Redis counts them
        sources = [ss.lookup(ctx.ks, key) for key in argv[3:]]
    size = max(source.length if source else 0 for source in sources)
    if not size:
        if ctx.ks.delete(argv[2]):
            ctx.notify(GENERIC, b"del", argv[2])
        return 0
    target = StringEditor(ctx.ks, argv[2], None)  # replaces the target at save
    target.grow(size)
    for start in range(0, size, FRAGMENT_SIZE):  # one fragment's span at a time
        width = min(FRAGMENT_SIZE, size - start)
        # Shorter strings count as zero-padded on the right.
        numbers = [int.from_bytes(source.read(start, start + width).ljust(width, b"\0"), "big")
                   if source else 0 for source in sources]
        if operation == b"not":
            result = numbers[0] ^ ((1 << (8 * width)) - 1)
        else:
            result = numbers[0]
            for number in numbers[1:]:
                result = _BITOPS[operation](result, number)
        if result:  # zeros need no writing
            target.write(start, result.to_bytes(width, "big"))
    target.save()
    ctx.notify(STRING, b"set", argv[2])
    return size


# -- BITFIELD -----------------------------------------------------------------------------------
def _field_type(raw: bytes) -> tuple[bool, int]:
    """(signed, width) of i1..i64 or u1..u63 (case-sensitive, as in Redis)."""
    width = parse_int(raw[1:]) if raw[:1] in (b"i", b"u") else None
    signed = raw[:1] == b"i"
    if width is None or not 1 <= width <= (64 if signed else 63):
        raise CommandError(BITFIELD_TYPE)
    return signed, width


def _fit(value: int, signed: bool, width: int, overflow: bytes) -> int | None:
    """value if the field holds it; else wrapped (two's complement), saturated, or None
    (FAIL: the operation is skipped and its reply is nil)."""
    low, high = (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << width) - 1)
    if low <= value <= high:
        return value
    if overflow == b"sat":
        return high if value > high else low
    if overflow == b"fail":
        return None
    return ((value - low) & ((1 << width) - 1)) + low


def _reader(ks: Keyspace, key: bytes) -> Callable[[int, int], bytes]:
    """read(start, end) of the string at key (b"" when missing); WRONGTYPE for other types."""
    value = ss.lookup(ks, key)
    return value.read if value is not None else lambda start, end: b""


def _read_field(read: Callable[[int, int], bytes], offset: int, signed: bool, width: int) -> int:
    first, last = offset >> 3, (offset + width - 1) >> 3
    chunk = read(first, last + 1).ljust(last - first + 1, b"\0")  # 0 bits past the end
    raw = _bits(chunk, offset & 7, (offset & 7) + width - 1)
    return raw - (1 << width) if signed and raw >> (width - 1) else raw


def _write_field(editor: StringEditor, offset: int, width: int, value: int) -> None:
    first, last = offset >> 3, (offset + width - 1) >> 3
    span = (last - first + 1) * 8
    shift = span - (offset & 7) - width
    mask = ((1 << width) - 1) << shift
    chunk = int.from_bytes(editor.read(first, last + 1), "big")
    chunk = (chunk & ~mask) | ((value & ((1 << width) - 1)) << shift)
    editor.write(first, chunk.to_bytes(last - first + 1, "big"))


def _parse_bitfield(argv: list[bytes]) -> tuple[list[tuple], list[int], CommandError | None]:
    """-> (operation, signed, width, offset, argument, overflow) per GET/SET/INCRBY, in
    order; every offset read; the error that ended the parse, if _later_error returns it."""
    operations: list[tuple] = []
    offsets: list[int] = []
    overflow = b"wrap"
    i = 2
    try:
        while i < len(argv):
            sub, left = argv[i].lower(), len(argv) - i - 1
            if sub == b"overflow" and left >= 1:
                overflow = argv[i + 1].lower()
                if overflow not in (b"wrap", b"sat", b"fail"):
                    raise CommandError("ERR Invalid OVERFLOW type specified")
                i += 2
                continue
            if not ((sub == b"get" and left >= 2) or (sub in (b"set", b"incrby") and left >= 3)):
                raise CommandError(errors.SYNTAX)
            signed, width = _field_type(argv[i + 1])
            offset = _bit_offset(argv[i + 2], width)
            offsets.append(offset)
            argument = int_arg(argv[i + 3]) if sub != b"get" else 0
            operations.append((sub, signed, width, offset, argument, overflow))
            i += 3 if sub == b"get" else 4
    except CommandError as error:
        return operations, offsets, _later_error(error, offsets)
    return operations, offsets, None


def _checked_operations(ctx: Context, parsed: tuple[list[tuple], list[int], CommandError | None]
                        ) -> list[tuple]:
    """BITFIELD's operations once their offsets pass this command's proto-max-bulk-len."""
    operations, offsets, error = parsed
    _check_offsets(ctx, offsets)
    if error is not None:
        raise error
    return operations


def _run_bitfield(operations: list[tuple], read: Callable[[int, int], bytes],
                  editor: StringEditor | None = None) -> tuple[list[int | None], bool]:
    """Replies of the operations, in order, and whether a SET or INCRBY changed a field's
    value; SET and INCRBY need the editor."""
    replies: list[int | None] = []
    changed = False
    for sub, signed, width, offset, argument, overflow in operations:
        old = _read_field(read, offset, signed, width)
        if sub == b"get":
            replies.append(old)
            continue
        if sub == b"incrby":
            target = old + argument
        else:  # Redis takes an unsigned field's new value as a uint64
            target = argument if signed else argument & (2**64 - 1)
        new = _fit(target, signed, width, overflow)
        if new is None:
            replies.append(None)
            continue
        _write_field(editor, offset, width, new)
        changed = changed or new != old
        replies.append(new if sub == b"incrby" else old)
    return replies, changed


@command("bitfield", -2, "write denyoom", 1, 1, 1, group=_G, since="3.2.0",
         summary="Perform arbitrary bitfield integer operations on strings",
         complexity="O(1) for each subcommand specified",
         parser=lambda argv: (argv[1], _parse_bitfield(argv)))
def bitfield(ctx: Context, args: tuple[bytes, tuple]) -> list[int | None]:
    key, parsed = args
    operations = _checked_operations(ctx, parsed)
    writes = [op for op in operations if op[0] != b"get"]
    if not writes:  # a read, counted as Redis's lookupKeyRead of a GET-only BITFIELD
        with ctx.ks.reads_counted():
            return _run_bitfield(operations, _reader(ctx.ks, key))[0]
    highest_bit = max(offset + width - 1 for _, _, width, offset, _, _ in writes)
    (replies, changed), grew = _write_bits(
        ctx, key, highest_bit, lambda editor: _run_bitfield(operations, editor.read, editor))
    wrote = any(op[0] != b"get" and reply is not None  # not all failed (OVERFLOW FAIL)
                for op, reply in zip(operations, replies, strict=True))
    if wrote and (changed or grew):  # as SETBIT: a created or longer string is a change
        ctx.notify(STRING, b"setbit", key)
    return replies


@command("bitfield_ro", -2, "readonly fast", 1, 1, 1, group=_G, since="6.0.0",
         summary="Perform arbitrary bitfield integer operations on strings. Read-only variant "
                 "of BITFIELD", complexity="O(1) for each subcommand specified")
def bitfield_ro(ctx: Context, argv: list[bytes]) -> list[int | None]:
    operations = _checked_operations(ctx, _parse_bitfield(argv))
    if any(op[0] != b"get" for op in operations):
        raise CommandError("ERR BITFIELD_RO only supports the GET subcommand")
    return _run_bitfield(operations, _reader(ctx.ks, argv[1]))[0]
