"""What the collection families share: HSCAN/SSCAN/ZSCAN and random picks (HRANDFIELD,
SRANDMEMBER, SPOP).

Elements come back in byte order (Redis: insertion order for a listpack, numeric for an
intset, hash-table order otherwise).
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Callable, Iterator

from .. import collections_store as cs
from .. import errors
from ..errors import CommandError
from ..resp import LLONG_MAX, Pairs
from ..storage import Keyspace, end_of_prefix
from .args import int_arg
from .keyspace import _cursor_for, _matcher, _parse_cursor, parse_scan_options
from .table import Context

EMPTY_SCAN = [b"0", []]


def scan_collection(ctx: Context, argv: list[bytes], kind: int, sub: bytes = b"",
                    reply: Callable[[bytes, bytes], list[bytes]] | None = None) -> list:
    """HSCAN/SSCAN/ZSCAN key cursor [MATCH pattern] [COUNT count], in Redis's order of checks.

    A collection Redis keeps in a small encoding is returned whole with cursor 0, as Redis
    does; a big one is walked COUNT elements at a time from a resume point.
    """
    cursor = _parse_cursor(argv[2])
    ks = ctx.ks
    meta = cs.lookup(ks, argv[1], kind)
    if meta is None:
        return EMPTY_SCAN
    count, pattern, _ = parse_scan_options(argv, 3, with_type=False)
    match = _matcher(pattern)
    cursors = ks.store.scan_cursors
    whole = not meta.flags & 1
    start = sub + (cursors.get(cursor, b"") if cursor and not whole else b"")
    found: list[bytes] = []
    for examined, (suffix, value) in enumerate(cs.iter_elements(meta, ks, start)):
        if not suffix.startswith(sub):
            break
        name = suffix[len(sub):]
        if examined == count and not whole:
            return [b"%d" % _cursor_for(cursors, name), found]
        if match is None or match(name):
            found.extend(reply(name, value) if reply else (name,))
    return [b"0", found]


def parse_random_count(raw: bytes, withvalues: bool = False) -> int:
    """getRangeLongFromObjectOrReply(-LONG_MAX, LONG_MAX), and half that with values."""
    count = int_arg(raw)
    if count < -LLONG_MAX:
        raise CommandError(errors.out_of_range(-LLONG_MAX, LLONG_MAX))
    if withvalues and not -(LLONG_MAX // 2) <= count <= LLONG_MAX // 2:  # C truncates
        raise CommandError("ERR value is out of range")
    return count


# A negative count asks for that many picks, repeats allowed: Redis builds such a reply
# whatever its size (and stalls or dies on a huge one). Here one reply holds at most this many.
MAX_REPEATED_PICKS = 1_000_000


# A single random pick seeks instead of walking: a walk costs O(N) per SPOP, which on a big
# set held the tick thread long enough to cost the leader its leadership.
SEEK_PICK_MIN_SIZE = 64
_SEEK_SKIP = 16
_U16 = struct.Struct(">H")


def random_element(ctx: Context, meta: cs.Meta, sub: bytes = b"") -> tuple[bytes, bytes]:
    """One (suffix, value) record picked with ctx.rng in O(log N).

    Small collections are walked (uniform). Big ones: a target drawn between the first and
    the last element, then a random 0-15 steps on. Like Redis's own picks in a hash table,
    not exactly uniform."""
    if meta.count < SEEK_PICK_MIN_SIZE:
        return random_elements(ctx, meta, 1, sub)[0]
    base = meta.prefix + sub
    cut = len(base)
    reader = cs.RangeReader(ctx.ks, base, end_of_prefix(base))
    first = next(reader.records())[0][cut:]
    last = next(reader.records(reverse=True))[0][cut:]
    common = 0
    while common < min(len(first), len(last)) and first[common] == last[common]:
        common += 1
    # Each byte after the common prefix drawn between the first's and the last's: digits
    # stay digits, letters letters, so the target falls among the elements, not past them.
    # Two random bytes per draw (ctx.rng.randbytes: cheap in the state machine).
    width = max(len(first), len(last)) - common
    draws = _U16.iter_unpack(ctx.rng.randbytes(2 * width + 2))
    target = bytearray(first[:common])
    for i in range(common, common + width):
        low, high = sorted((first[i] if i < len(first) else 0, last[i] if i < len(last) else 255))
        target.append(low + next(draws)[0] % (high - low + 1))
    # The steps wrap around past the end: stopping at the last element instead made it the
    # favourite pick, and the run of deleted records behind it slowed every later pick.
    steps = itertools.chain(reader.records(base + target), reader.records())
    full, value = next(itertools.islice(steps, next(draws)[0] % _SEEK_SKIP, None))
    return full[cut:], value


def random_fields(ctx: Context, argv: list[bytes],
                  read: Callable[[Keyspace, bytes], cs.Meta | None], option: bytes,
                  sub: bytes = b"", decode: Callable[[bytes], object] | None = None) -> object:
    """HRANDFIELD / ZRANDMEMBER key [count [WITHVALUES | WITHSCORES]]: picks with ctx.rng
    (seeded by the entry inside MULTI), never the random module."""
    if len(argv) > 4 or (len(argv) == 4 and argv[3].lower() != option):
        raise CommandError(errors.SYNTAX)
    with_values = len(argv) == 4
    count = parse_random_count(argv[2], with_values) if len(argv) > 2 else None
    meta = read(ctx.ks, argv[1])
    if count is None:
        return None if meta is None else random_element(ctx, meta, sub)[0]
    if meta is None or count == 0:
        return []
    picked = random_elements(ctx, meta, count, sub)
    if not with_values:
        return [name for name, _ in picked]
    return Pairs([(name, decode(raw)) for name, raw in picked] if decode else picked)


def random_elements(ctx: Context, meta: cs.Meta, count: int, sub: bytes = b""
                    ) -> list[tuple[bytes, bytes]]:
    """``count`` (suffix, value) records picked with ctx.rng: distinct when count > 0 (all of
    them when count >= size), with repetition when negative. O(N) walk, O(count) memory."""
    size = meta.count
    if count < -MAX_REPEATED_PICKS:
        raise CommandError(f"ERR count is out of range: at most {MAX_REPEATED_PICKS} "
                           "elements with repetitions")
    if count >= size:
        ranks = list(range(size))
    elif count >= 0:
        ranks = ctx.rng.sample(range(size), count)
    else:
        ranks = [ctx.rng.randrange(size) for _ in range(-count)]
    wanted = set(ranks)
    picked: dict[int, tuple[bytes, bytes]] = {}
    for rank, record in enumerate(_records(ctx.ks, meta, sub)):
        if rank in wanted:
            picked[rank] = record
            if len(picked) == len(wanted):
                break
    return [picked[rank] for rank in ranks]


def _records(ks: Keyspace, meta: cs.Meta, sub: bytes, start: bytes = b"",
             reverse: bool = False) -> Iterator[tuple[bytes, bytes]]:
    """(element, value) under sub, from start (an element) on, or backwards from the end."""
    for suffix, value in cs.iter_elements(meta, ks, b"" if reverse else sub + start, reverse):
        if not suffix.startswith(sub):
            if reverse and suffix > sub:
                continue
            return
        yield suffix[len(sub):], value
