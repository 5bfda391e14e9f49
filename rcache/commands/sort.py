"""SORT and SORT_RO, as Redis 7.0's sort.c does them.

Numeric sorting compares the elements (or the values BY names) as doubles, equal ones by
their bytes, so the result is fully determined. ALPHA compares bytes: Redis uses strcoll,
which is byte order up to the first NUL in the C and C.UTF-8 locales rcache follows; elements
ALPHA finds equal keep their input order, as glibc's stable qsort keeps them (for a list its
order; for a set or sorted set Redis's is its hash table's, rcache's byte order). BY a pattern
without '*' skips sorting: lists and sorted sets come back in their order (reversed by
DESC), sets in rcache's member order (byte order, where Redis's is its hash table's), except
with STORE, where Redis sorts them ALPHA. GET and BY read other keys inside the command, so
in rcache they see exactly the state the Raft entry applies to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .. import collections_store as cs
from .. import errors
from .. import strings_store as ss
from ..errors import CommandError
from ..notify import GENERIC
from ..notify import LIST as LIST_EVENTS
from ..storage import HASH, LIST, SET, STRING_KINDS, ZSET, Keyspace
from .args import limit_args, strtod
from .table import Context, command

_G = "generic"
NOT_DOUBLE = "ERR One or more scores can't be converted into double"
_COMPLEXITY = ("O(N+M*log(M)) where N is the number of elements in the list or set to sort, and "
               "M the number of returned elements. When the elements are not sorted, "
               "complexity is O(N).")


def _c_string(raw: bytes) -> bytes:
    """What C's string functions see of a value: up to its first NUL."""
    return raw.split(b"\0", 1)[0]


def lookup_by_pattern(ks: Keyspace, pattern: bytes, element: bytes) -> bytes | None:
    """lookupKeyByPattern: "#" is the element; otherwise the first '*' is replaced by it and
    the key read, a string, or with "->field" a hash field. None when missing, of another
    type, or when the pattern has no '*'."""
    text = _c_string(pattern)
    if text == b"#":
        return element
    star = text.find(b"*")
    if star < 0:
        return None
    arrow = text.find(b"->", star + 1)
    field = pattern[arrow + 2:] if 0 <= arrow and arrow + 2 < len(text) else None
    suffix_end = len(pattern) - (len(field) + 2 if field is not None else 0)
    key = pattern[:star] + element + pattern[star + 1:suffix_end]
    record = ks.lookup(key)
    if record is None:
        return None
    if field is None:
        return ss.value_of(ks, key, record) if record[0] in STRING_KINDS else None
    if record[0] != HASH:
        return None
    return cs.get(ks, cs.lookup(ks, key, HASH).prefix + field)


def _number(value: bytes) -> float | None:
    """strtod over the C string, as SORT reads scores: None when it cannot."""
    text = _c_string(value)
    number, end, out_of_range = strtod(text)
    if end != len(text) or out_of_range or number != number:
        return None
    return number


def _elements(ks: Keyspace, kind: int, meta: cs.Meta | None) -> list[bytes]:
    if meta is None:
        return []
    if kind == ZSET:
        return [member for member, _ in cs.iter_zset(ks, meta)]
    return [value if kind == LIST else suffix for suffix, value in cs.iter_elements(meta, ks)]


def _store_list(ks: Keyspace, key: bytes, values: list[bytes]) -> None:
    """Replace key with a list of values (deleted when there are none), notifying
    ``sortstore`` or ``del`` as Redis does."""
    if not values:
        if ks.delete(key):
            ks.notify(GENERIC, b"del", key)
        return
    meta = cs.create(ks, key, LIST)
    for value in values:
        cs.put(ks, meta, cs.list_index(meta.head + meta.count), value)
        meta.count += 1
    cs.save_notifying(ks, key, meta, LIST_EVENTS, b"sortstore")  # replaces what key held


@dataclass(slots=True)
class SortOptions:
    desc: bool = False
    alpha: bool = False
    offset: int = 0
    count: int = -1  # LIMIT's count, -1: all
    by: bytes | None = None
    dont_sort: bool = False  # BY a pattern without '*'
    store: bytes | None = None
    gets: list[bytes] = field(default_factory=list)


def _parse_sort(argv: list[bytes], readonly: bool) -> SortOptions:
    """sortCommandGeneric's options (SORT_RO has no STORE); their errors come first."""
    options = SortOptions()
    j = 2
    while j < len(argv):
        option, left = argv[j].lower(), len(argv) - j - 1
        if option in (b"asc", b"desc"):
            options.desc = option == b"desc"
        elif option == b"alpha":
            options.alpha = True
        elif option == b"limit" and left >= 2:
            options.offset, options.count = limit_args(argv, j)
            j += 2
        elif option == b"store" and left >= 1 and not readonly:
            options.store = argv[j + 1]
            j += 1
        elif option == b"by" and left >= 1:
            options.by = argv[j + 1]
            options.dont_sort = b"*" not in _c_string(options.by)
            j += 1
        elif option == b"get" and left >= 1:
            options.gets.append(argv[j + 1])
            j += 1
        else:
            raise CommandError(errors.SYNTAX)
        j += 1
    return options


def _window(size: int, offset: int, count: int) -> tuple[int, int]:
    """LIMIT as Redis clamps it: (start, end), inclusive, empty when end < start."""
    start = min(max(offset, 0), size)
    count = min(max(count, -1), size)
    end = size - 1 if count < 0 else start + count - 1
    if start >= size:
        return size - 1, size - 2
    return start, min(end, size - 1)


SortArgs = tuple[list[bytes], SortOptions]


def _sort_parser(readonly: bool) -> Callable[[list[bytes]], SortArgs]:
    return lambda argv: (argv, _parse_sort(argv, readonly))


def _sort(ctx: Context, args: SortArgs) -> object:
    """sortCommandGeneric: options (parsed first), the key's type, the elements (sorted
    unless BY a constant), the LIMIT window, GET, then the reply or the stored list."""
    argv, options = args
    ks = ctx.ks
    with ks.reads_counted():  # the key and BY's and GET's keys, as Redis counts reads
        results = _results(ks, argv[1], options)
    if options.store is None:
        return results
    _store_list(ks, options.store, [b"" if value is None else value for value in results])
    return len(results)


def _results(ks: Keyspace, key: bytes, options: SortOptions) -> list[bytes | None]:
    """The elements of key, sorted and windowed, or what GET finds for them."""
    record = ks.lookup(key)
    kind = record[0] if record is not None else LIST
    if kind not in (LIST, SET, ZSET):
        raise CommandError(errors.WRONGTYPE)
    meta = cs.from_record(ks, key, record) if record is not None else None
    if options.dont_sort and kind == SET and options.store is not None:
        options.dont_sort, options.alpha, options.by = False, True, None
    elements = _elements(ks, kind, meta)
    start, end = _window(len(elements), options.offset, options.count)
    if options.dont_sort:
        if options.desc and kind != SET:
            elements.reverse()
    else:
        elements = _sorted(ks, elements, options.by, options.alpha, options.desc,
                           options.store is not None)
    window = elements[start:end + 1] if end >= start else []
    if not options.gets:
        return window
    return [lookup_by_pattern(ks, pattern, element)
            for element in window for pattern in options.gets]


def _sorted(ks: Keyspace, elements: list[bytes], by: bytes | None, alpha: bool, desc: bool,
            binary: bool) -> list[bytes]:
    """sortCompare over the elements. ``binary``: STORE compares bytes, not C strings."""
    weights = elements if by is None else [lookup_by_pattern(ks, by, e) for e in elements]
    if alpha:
        if by is None and binary:
            keys: list = elements
        elif by is None:
            keys = [_c_string(e) for e in elements]
        else:  # missing weights first, equal to each other
            keys = [(0, b"") if w is None else (1, w if binary else _c_string(w))
                    for w in weights]
    else:
        keys = []
        for element, weight in zip(elements, weights, strict=True):
            number = 0.0 if weight is None else _number(weight)
            if number is None:
                raise CommandError(NOT_DOUBLE)
            keys.append((number, element))
    order = sorted(range(len(elements)), key=keys.__getitem__, reverse=desc)
    return [elements[i] for i in order]


def _sort_keys(argv: list[bytes]) -> list[int]:
    """sortGetKeys: the sorted key, and the last STORE's key (LIMIT, GET and BY skip their
    arguments; Redis does not skip STORE's, nor do we)."""
    keys = [1]
    i = 2
    while i < len(argv):
        option = argv[i].lower()
        if option == b"limit":
            i += 2
        elif option in (b"get", b"by"):
            i += 1
        elif option == b"store" and i + 1 < len(argv):
            keys[1:] = [i + 1]
        i += 1
    return keys


@command("sort", -2, "write denyoom", 1, 1, 1, group=_G, key_finder=_sort_keys,
         complexity=_COMPLEXITY,
         summary="Sort the elements in a list, set or sorted set", parser=_sort_parser(False))
def sort(ctx: Context, args: SortArgs) -> object:
    return _sort(ctx, args)


@command("sort_ro", -2, "readonly", 1, 1, 1, group=_G, since="7.0.0",
         key_finder=lambda argv: [1], complexity=_COMPLEXITY,
         summary="Sort the elements in a list, set or sorted set. Read-only variant of SORT.",
         parser=_sort_parser(True))
def sort_ro(ctx: Context, args: SortArgs) -> object:
    return _sort(ctx, args)
