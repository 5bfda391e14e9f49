"""List commands: LPUSH RPUSH LPOP RPOP LRANGE LINDEX LSET LINSERT LREM LTRIM LPOS LMOVE ...

Element i lives at index head + i (see collections_store): pushes and pops at both ends,
LINDEX and LSET are O(1) point operations, LRANGE seeks to its start, LTRIM drops whole
ranges. LINSERT and LREM renumber the elements after the change (O(N)), as Kvrocks does.
"""

from __future__ import annotations

from collections.abc import Callable

from .. import collections_store as cs
from .. import errors
from ..errors import CommandError
from ..notify import GENERIC
from ..notify import LIST as LIST_EVENTS
from ..resp import LLONG_MIN, NULL_ARRAY, OK, SimpleString
from ..storage import LIST, Keyspace
from .args import int_arg, optional_count, positive_arg, timeout_arg
from .sets import (
    MpopArgs,
    numkeys_keys,
    numkeys_keys_after_timeout,
    parse_blocking_mpop,
    parse_mpop,
)
from .table import Context, command

_G = "list"
INDEX_RANGE = "ERR index out of range"
RANK_ZERO = ("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second "
             "... or use negative to start from the end of the list")
COUNT_NEGATIVE = "ERR COUNT can't be negative"
MAXLEN_NEGATIVE = "ERR MAXLEN can't be negative"


def _read(ks: Keyspace, key: bytes) -> cs.Meta | None:
    return cs.lookup(ks, key, LIST)


def _at(meta: cs.Meta, i: int) -> bytes:
    return meta.prefix + cs.list_index(meta.head + i)


def _push(ks: Keyspace, meta: cs.Meta, values: list[bytes], left: bool) -> None:
    for value in values:
        if left:
            meta.head -= 1
            ks.txn.insert(_at(meta, 0), value)  # outside the list: no record there
            meta.count += 1
        else:
            ks.txn.insert(_at(meta, meta.count), value)
            meta.count += 1


def _pop(ks: Keyspace, meta: cs.Meta, left: bool) -> bytes:
    full = _at(meta, 0 if left else meta.count - 1)
    value = cs.get(ks, full)
    ks.txn.delete(full, value)
    meta.count -= 1
    if left:
        meta.head += 1
    return value


def _range(ks: Keyspace, meta: cs.Meta, start: int, stop: int) -> list[bytes]:
    """Elements start..stop (inclusive, already clamped to the list)."""
    if start > stop:
        return []
    lo, hi = meta.prefix + cs.list_index(meta.head + start), _at(meta, stop + 1)
    return [value for _, value in cs.iter_range(ks, lo, hi)]


def _clamp(meta: cs.Meta, start: int, stop: int) -> tuple[int, int]:
    """Redis's negative indexes and out-of-range rules for LRANGE and LTRIM."""
    size = meta.count
    if start < 0:
        start = max(start + size, 0)
    if stop < 0:
        stop += size
    return start, min(stop, size - 1)


def _push_command(ctx: Context, argv: list[bytes], left: bool, only_existing: bool) -> int:
    ks = ctx.ks
    meta = _read(ks, argv[1])
    if meta is None:
        if only_existing:
            return 0
        meta = cs.create(ks, argv[1], LIST)
    _push(ks, meta, argv[2:], left)
    cs.save_notifying(ks, argv[1], meta, LIST_EVENTS, b"lpush" if left else b"rpush")
    return meta.count


@command("lpush", -3, "write denyoom fast", 1, 1, 1, group=_G,
         summary="Prepend one or multiple elements to a list",
         complexity="O(1) for each element added, so O(N) to add N elements when the command "
                    "is called with multiple arguments.")
def lpush(ctx: Context, argv: list[bytes]) -> int:
    return _push_command(ctx, argv, left=True, only_existing=False)


@command("rpush", -3, "write denyoom fast", 1, 1, 1, group=_G,
         summary="Append one or multiple elements to a list",
         complexity="O(1) for each element added, so O(N) to add N elements when the command "
                    "is called with multiple arguments.")
def rpush(ctx: Context, argv: list[bytes]) -> int:
    return _push_command(ctx, argv, left=False, only_existing=False)


@command("lpushx", -3, "write denyoom fast", 1, 1, 1, group=_G, since="2.2.0",
         summary="Prepend an element to a list, only if the list exists",
         complexity="O(1) for each element added, so O(N) to add N elements when the command "
                    "is called with multiple arguments.")
def lpushx(ctx: Context, argv: list[bytes]) -> int:
    return _push_command(ctx, argv, left=True, only_existing=True)


@command("rpushx", -3, "write denyoom fast", 1, 1, 1, group=_G, since="2.2.0",
         summary="Append an element to a list, only if the list exists",
         complexity="O(1) for each element added, so O(N) to add N elements when the command "
                    "is called with multiple arguments.")
def rpushx(ctx: Context, argv: list[bytes]) -> int:
    return _push_command(ctx, argv, left=False, only_existing=True)


def _pop_parser(name: str) -> Callable[[list[bytes]], tuple[bytes, int | None]]:
    """LPOP/RPOP key [count]."""
    def parse(argv: list[bytes]) -> tuple[bytes, int | None]:
        if len(argv) > 3:
            raise CommandError(errors.wrong_arity(name))
        return argv[1], optional_count(argv, 2)
    return parse


def _pop_command(ctx: Context, args: tuple[bytes, int | None], left: bool) -> object:
    key, count = args
    ks = ctx.ks
    meta = _read(ks, key)
    if meta is None:
        return None if count is None else NULL_ARRAY
    if count == 0:
        return []
    popped = [_pop(ks, meta, left) for _ in range(min(count or 1, meta.count))]
    cs.save_notifying(ks, key, meta, LIST_EVENTS, b"lpop" if left else b"rpop")
    return popped[0] if count is None else popped


@command("lpop", -2, "write fast", 1, 1, 1, group=_G,
         summary="Remove and get the first elements in a list",
         complexity="O(N) where N is the number of elements returned", parser=_pop_parser("lpop"))
def lpop(ctx: Context, args: tuple[bytes, int | None]) -> object:
    return _pop_command(ctx, args, left=True)


@command("rpop", -2, "write fast", 1, 1, 1, group=_G,
         summary="Remove and get the last elements in a list",
         complexity="O(N) where N is the number of elements returned", parser=_pop_parser("rpop"))
def rpop(ctx: Context, args: tuple[bytes, int | None]) -> object:
    return _pop_command(ctx, args, left=False)


@command("llen", 2, "readonly fast", 1, 1, 1, group=_G, summary="Get the length of a list")
def llen(ctx: Context, argv: list[bytes]) -> int:
    meta = _read(ctx.ks, argv[1])
    return 0 if meta is None else meta.count


@command("lrange", 4, "readonly", 1, 1, 1, group=_G,
         summary="Get a range of elements from a list",
         complexity="O(S+N) where S is the distance of start offset from HEAD for small lists, "
                    "from nearest end (HEAD or TAIL) for large lists; and N is the number of "
                    "elements in the specified range.")
def lrange(ctx: Context, argv: list[bytes]) -> list[bytes]:
    start, stop = int_arg(argv[2]), int_arg(argv[3])
    meta = _read(ctx.ks, argv[1])
    if meta is None:
        return []
    return _range(ctx.ks, meta, *_clamp(meta, start, stop))


@command("lindex", 3, "readonly", 1, 1, 1, group=_G,
         summary="Get an element from a list by its index",
         complexity="O(N) where N is the number of elements to traverse to get to the element "
                    "at index. This makes asking for the first or the last element of the list "
                    "O(1).")
def lindex(ctx: Context, argv: list[bytes]) -> bytes | None:
    meta = _read(ctx.ks, argv[1])  # Redis looks the key up before it parses the index
    if meta is None:
        return None
    index = int_arg(argv[2])
    if index < 0:
        index += meta.count
    if not 0 <= index < meta.count:
        return None
    return cs.get(ctx.ks, _at(meta, index))


@command("lset", 4, "write denyoom", 1, 1, 1, group=_G,
         summary="Set the value of an element in a list by its index",
         complexity="O(N) where N is the length of the list. Setting either the first or the "
                    "last element of the list is O(1).")
def lset(ctx: Context, argv: list[bytes]) -> SimpleString:
    """No parser: Redis looks the key up (no such key, WRONGTYPE) before it reads the index."""
    key, value = argv[1], argv[3]
    ks = ctx.ks
    meta = _read(ks, key)
    if meta is None:
        raise CommandError(errors.NO_SUCH_KEY)
    index = int_arg(argv[2])
    if index < 0:
        index += meta.count
    if not 0 <= index < meta.count:
        raise CommandError(INDEX_RANGE)
    ks.txn.put(_at(meta, index), value)
    ctx.notify(LIST_EVENTS, b"lset", key)
    return OK


def _replace_from(ks: Keyspace, meta: cs.Meta, index: int, values: list[bytes]) -> None:
    """Make elements index.. equal to values (the list's length becomes index + len(values))."""
    old_tail = meta.count
    for i, value in enumerate(values):
        ks.txn.put(_at(meta, index + i), value)
    new_count = index + len(values)
    if new_count < old_tail:
        cs.delete_between(ks, meta, cs.list_index(meta.head + new_count),
                          cs.list_index(meta.head + old_tail), old_tail - new_count)
    meta.count = new_count


@command("linsert", 5, "write denyoom", 1, 1, 1, group=_G, since="2.2.0",
         summary="Insert an element before or after another element in a list",
         complexity="O(N) where N is the number of elements to traverse before seeing the "
                    "value pivot. This means that inserting somewhere on the left end on the "
                    "list (head) can be considered O(1) and inserting somewhere on the right "
                    "end (tail) is O(N).", parser=lambda argv: (argv, _after(argv[2])))
def linsert(ctx: Context, args: tuple[list[bytes], bool]) -> int:
    argv, after = args
    ks = ctx.ks
    meta = _read(ks, argv[1])
    if meta is None:
        return 0
    elements = _range(ks, meta, 0, meta.count - 1)
    try:
        index = elements.index(argv[3])
    except ValueError:
        return -1
    if after:
        index += 1
    _replace_from(ks, meta, index, [argv[4], *elements[index:]])
    cs.save_notifying(ks, argv[1], meta, LIST_EVENTS, b"linsert")
    return meta.count


def _after(where: bytes) -> bool:
    """LINSERT's BEFORE|AFTER: True for AFTER."""
    where = where.lower()
    if where not in (b"before", b"after"):
        raise CommandError(errors.SYNTAX)
    return where == b"after"


@command("lrem", 4, "write", 1, 1, 1, group=_G, summary="Remove elements from a list",
         complexity="O(N+M) where N is the length of the list and M is the number of elements "
                    "removed.", parser=lambda argv: (argv[1], int_arg(argv[2]), argv[3]))
def lrem(ctx: Context, args: tuple[bytes, int, bytes]) -> int:
    key, count, element = args
    ks = ctx.ks
    meta = _read(ks, key)
    if meta is None:
        return 0
    elements = _range(ks, meta, 0, meta.count - 1)
    positions = [i for i, value in enumerate(elements) if value == element]
    if count > 0:
        positions = positions[:count]
    elif count < 0:
        positions = positions[count:]
    if not positions:
        return 0
    removed = set(positions)
    first = positions[0]
    _replace_from(ks, meta, first, [v for i, v in enumerate(elements[first:], first)
                                    if i not in removed])
    cs.save_notifying(ks, key, meta, LIST_EVENTS, b"lrem")
    return len(positions)


@command("ltrim", 4, "write", 1, 1, 1, group=_G,
         summary="Trim a list to the specified range",
         complexity="O(N) where N is the number of elements to be removed by the operation.",
         parser=lambda argv: (argv[1], int_arg(argv[2]), int_arg(argv[3])))
def ltrim(ctx: Context, args: tuple[bytes, int, int]) -> SimpleString:
    key, start, stop = args
    ks = ctx.ks
    meta = _read(ks, key)
    if meta is None:
        return OK
    start, stop = _clamp(meta, start, stop)
    if start > stop or start >= meta.count:
        ks.delete(key)
        ctx.notify(LIST_EVENTS, b"ltrim", key)
        ctx.notify(GENERIC, b"del", key)
        return OK
    head, count = meta.head, meta.count
    if start:
        cs.delete_between(ks, meta, cs.list_index(head), cs.list_index(head + start), start)
    if stop + 1 < count:
        cs.delete_between(ks, meta, cs.list_index(head + stop + 1), cs.list_index(head + count),
                          count - stop - 1)
    meta.head, meta.count = head + start, stop - start + 1
    cs.save_notifying(ks, key, meta, LIST_EVENTS, b"ltrim")
    return OK


@command("lpos", -3, "readonly", 1, 1, 1, group=_G, since="6.0.6",
         summary="Return the index of matching elements on a list",
         complexity="O(N) where N is the number of elements in the list, for the average "
                    "case. When searching for elements near the head or the tail of the list, "
                    "or when the MAXLEN option is provided, the command may run in constant "
                    "time.")
def lpos(ctx: Context, argv: list[bytes]) -> object:
    rank, count, maxlen = 1, None, 0
    i = 3
    while i < len(argv):
        option = argv[i].lower()
        if i + 1 >= len(argv):
            raise CommandError(errors.SYNTAX)
        if option == b"rank":
            rank = int_arg(argv[i + 1])
            if rank == 0:
                raise CommandError(RANK_ZERO)
        elif option == b"count":
            count = positive_arg(argv[i + 1], COUNT_NEGATIVE)
        elif option == b"maxlen":
            maxlen = positive_arg(argv[i + 1], MAXLEN_NEGATIVE)
        else:
            raise CommandError(errors.SYNTAX)
        i += 2
    ks = ctx.ks
    meta = _read(ks, argv[1])
    if meta is None:
        return None if count is None else []
    elements = _range(ks, meta, 0, meta.count - 1)
    order = range(len(elements)) if rank > 0 else range(len(elements) - 1, -1, -1)
    if maxlen:
        order = order[:maxlen]
    # C negates a negative rank: -LONG_MIN stays LONG_MIN, so every match is past the rank
    # and COUNT (compared through an overflowing sum) is never reached.
    wrapped = rank == LLONG_MIN
    skip, found = 0 if wrapped else abs(rank) - 1, []
    for index in order:
        if elements[index] == argv[2]:
            if skip:
                skip -= 1
                continue
            found.append(index)
            if count is None or (count and not wrapped and len(found) == count):
                break
    if count is None:
        return found[0] if found else None
    return found


def _move(ctx: Context, source_key: bytes, target_key: bytes, from_left: bool,
          to_left: bool) -> bytes | None:
    ks = ctx.ks
    source = cs.lookup(ks, source_key, LIST, ctx.woken)
    if source is None:
        return None
    target = _read(ks, target_key)  # WRONGTYPE before anything is popped (woken too)
    value = _pop(ks, source, from_left)
    cs.save(ks, source_key, source)
    if source_key == target_key:
        target = _read(ks, target_key) or cs.create(ks, target_key, LIST)
    target = target or cs.create(ks, target_key, LIST)
    _push(ks, target, [value], to_left)
    cs.save(ks, target_key, target)
    # Redis's order: the push, then the pop (and the source's deletion)
    ctx.notify(LIST_EVENTS, b"lpush" if to_left else b"rpush", target_key)
    ctx.notify(LIST_EVENTS, b"lpop" if from_left else b"rpop", source_key)
    if source.count <= 0 and source_key != target_key:
        ctx.notify(GENERIC, b"del", source_key)
    return value


MoveArgs = tuple[bytes, bytes, bool, bool]  # source, destination, from left, to left


def _side(raw: bytes) -> bool:
    side = raw.lower()
    if side not in (b"left", b"right"):
        raise CommandError(errors.SYNTAX)
    return side == b"left"


@command("lmove", 5, "write denyoom", 1, 2, 1, group=_G, since="6.2.0",
         summary="Pop an element from a list, push it to another list and return it",
         parser=lambda argv: (argv[1], argv[2], _side(argv[3]), _side(argv[4])))
def lmove(ctx: Context, args: MoveArgs) -> bytes | None:
    return _move(ctx, *args)


@command("rpoplpush", 3, "write denyoom", 1, 2, 1, group=_G, since="1.2.0",
         summary="Remove the last element in a list, prepend it to another list and return it")
def rpoplpush(ctx: Context, argv: list[bytes]) -> bytes | None:
    return _move(ctx, argv[1], argv[2], from_left=False, to_left=True)


# -- blocking variants: here they never wait. Run by the state machine they pop if they can
# and otherwise reply as on a timeout, which is all they do inside MULTI; outside, the server
# (rcache.blocking) parks the client and sends the command through the log again later.
def _parse_blocking_pop(argv: list[bytes]) -> list[bytes]:
    """BLPOP/BRPOP key [key ...] timeout: the keys, once the timeout is valid."""
    timeout_arg(argv[-1])
    return argv[1:-1]


def _blocking_pop(ctx: Context, keys: list[bytes], left: bool) -> object:
    """BLPOP/BRPOP: LMPOP's pop of one element, replied [key, element]."""
    popped = _mpop(ctx, keys, b"left" if left else b"right", 1)
    return popped if popped is NULL_ARRAY else [popped[0], popped[1][0]]


def _parse_blmove(argv: list[bytes]) -> MoveArgs:
    """BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout: the sides first."""
    args = argv[1], argv[2], _side(argv[3]), _side(argv[4])
    timeout_arg(argv[5])
    return args


def _parse_brpoplpush(argv: list[bytes]) -> MoveArgs:
    """BRPOPLPUSH source destination timeout: RPOPLPUSH once the timeout is valid."""
    timeout_arg(argv[3])
    return argv[1], argv[2], False, True


_BLOCKING_POP_COMPLEXITY = "O(N) where N is the number of provided keys."


@command("blpop", -3, "write noscript blocking", 1, -2, 1, group=_G, since="2.0.0",
         summary="Remove and get the first element in a list, or block until one is available",
         complexity=_BLOCKING_POP_COMPLEXITY, parser=_parse_blocking_pop)
def blpop(ctx: Context, keys: list[bytes]) -> object:
    return _blocking_pop(ctx, keys, left=True)


@command("brpop", -3, "write noscript blocking", 1, -2, 1, group=_G, since="2.0.0",
         summary="Remove and get the last element in a list, or block until one is available",
         complexity=_BLOCKING_POP_COMPLEXITY, parser=_parse_blocking_pop)
def brpop(ctx: Context, keys: list[bytes]) -> object:
    return _blocking_pop(ctx, keys, left=False)


@command("blmove", 6, "write denyoom noscript blocking fills_second_key", 1, 2, 1,
         group=_G, since="6.2.0",
         summary="Pop an element from a list, push it to another list and return it; or block "
                 "until one is available", parser=_parse_blmove)
def blmove(ctx: Context, args: MoveArgs) -> bytes | None:
    return _move(ctx, *args)


@command("brpoplpush", 4, "write denyoom noscript blocking fills_second_key", 1, 2, 1,
         group=_G, since="2.2.0",
         summary="Pop an element from a list, push it to another list and return it; or block "
                 "until one is available",
         parser=_parse_brpoplpush)
def brpoplpush(ctx: Context, args: MoveArgs) -> bytes | None:
    return _move(ctx, *args)


def _mpop(ctx: Context, keys: list[bytes], side: bytes, count: int) -> object:
    """[key, [element, ...]] from the first list that exists (an empty list does not), or a
    null array."""
    for key in keys:
        meta = cs.lookup(ctx.ks, key, LIST, ctx.woken)
        if meta is not None:
            popped = [_pop(ctx.ks, meta, side == b"left") for _ in range(min(count, meta.count))]
            cs.save_notifying(ctx.ks, key, meta, LIST_EVENTS,
                               b"lpop" if side == b"left" else b"rpop")
            return [key, popped]
    return NULL_ARRAY


@command("lmpop", -4, "write", group=_G, since="7.0.0", key_finder=numkeys_keys,
         complexity="O(N+M) where N is the number of provided keys and M is the number of "
                    "elements returned.",
         summary="Pop elements from a list",
         parser=lambda argv: parse_mpop(argv, 1, (b"left", b"right")))
def lmpop(ctx: Context, args: MpopArgs) -> object:
    return _mpop(ctx, *args)


@command("blmpop", -5, "write blocking timeout_first", group=_G, since="7.0.0",
         key_finder=numkeys_keys_after_timeout,
         complexity="O(N+M) where N is the number of provided keys and M is the number of "
                    "elements returned.",
         summary="Pop elements from a list, or block until one is available",
         parser=lambda argv: parse_blocking_mpop(argv, (b"left", b"right")))
def blmpop(ctx: Context, args: MpopArgs) -> object:
    return _mpop(ctx, *args)
