"""Sorted set commands: ZADD ZREM ZSCORE ZRANGE (and its BYSCORE/BYLEX forms) ZRANK ZPOP*
ZREMRANGEBY* ZUNIONSTORE ZINTERSTORE ZSCAN ...

Two records per member (see collections_store): member -> score, and a score index whose
byte order is Redis's order (score, then member), so ranges are RocksDB range scans. Ranks
are counted by walking the index (RocksDB keeps no counts): ZRANK and rank ranges cost
O(rank), where Redis's skiplist needs O(log N).

Numbers are read as Redis reads them: scores and weights with its strict string2d (strtod
over the whole argument, no NaN, no overflow), range bounds with the laxer strtod prefix
parse of zslParseRange.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import chain, islice
from typing import Any, NamedTuple

from .. import collections_store as cs
from .. import errors
from ..errors import CommandError
from ..notify import GENERIC
from ..notify import ZSET as ZSET_EVENTS
from ..resp import LLONG_MAX, NULL_ARRAY, Pairs, format_double
from ..storage import SET, ZSET, Keyspace
from .args import (
    float_arg,
    int_arg,
    leading_flags,
    limit_args,
    optional_count,
    positive_arg,
    strtod,
    timeout_arg,
)
from .scanning import random_fields, scan_collection
from .sets import (
    NEGATIVE_LIMIT,
    MpopArgs,
    numkeys_keys,
    numkeys_keys_after_timeout,
    parse_blocking_mpop,
    parse_mpop,
)
from .sets import members as set_members
from .table import Context, command

_G = "sorted_set"
XX_AND_NX = "ERR XX and NX options at the same time are not compatible"
GT_LT_NX = "ERR GT, LT, and/or NX options at the same time are not compatible"
INCR_SINGLE_PAIR = "ERR INCR option supports a single increment-element pair"
NAN_SCORE = "ERR resulting score is not a number (NaN)"
MIN_MAX_NOT_FLOAT = "ERR min or max is not a float"
MIN_MAX_NOT_STRING = "ERR min or max not valid string range item"
WEIGHT_NOT_FLOAT = "ERR weight value is not a float"
LIMIT_NEEDS_BY = ("ERR syntax error, LIMIT is only supported in combination with either "
                  "BYSCORE or BYLEX")
WITHSCORES_BYLEX = "ERR syntax error, WITHSCORES not supported in combination with BYLEX"

Bound = tuple[float, bool]  # (score, exclusive)


def _score_bound(raw: bytes) -> Bound | None:
    """One end of zslParseRange: "(" for exclusive, then strtod up to the end (or a NUL)."""
    exclusive = raw[:1] == b"("
    body = raw[1:] if exclusive else raw
    value, end, _ = strtod(body)
    if (end < len(body) and body[end] != 0) or value != value:
        return None
    return value, exclusive


def _score_range(low: bytes, high: bytes) -> tuple[Bound, Bound]:
    lo, hi = _score_bound(low), _score_bound(high)
    if lo is None or hi is None:
        raise CommandError(MIN_MAX_NOT_FLOAT)
    return lo, hi


# A lex bound: (-1 for "-", 1 for "+", 0 for a value), value, exclusive.
LexBound = tuple[int, bytes, bool]


def _lex_bound(raw: bytes) -> LexBound | None:
    """zslParseLexRangeItem: "-" and "+" (the C string must end there), "(x" and "[x"."""
    head, rest = raw[:1], raw[1:]
    if head in (b"-", b"+"):
        return (-1 if head == b"-" else 1, b"", True) if rest[:1] in (b"", b"\0") else None
    if head in (b"(", b"["):
        return 0, rest, head == b"("
    return None


def _lex_range(low: bytes, high: bytes) -> tuple[LexBound, LexBound]:
    lo, hi = _lex_bound(low), _lex_bound(high)
    if lo is None or hi is None:
        raise CommandError(MIN_MAX_NOT_STRING)
    return lo, hi


def _lex_cmp(a: LexBound, b: LexBound) -> int:
    """sdscmplex: "-" below and "+" above every string."""
    if a[0] == b[0] and a[0]:
        return 0
    if a[0] == -1 or b[0] == 1:
        return -1
    if a[0] == 1 or b[0] == -1:
        return 1
    return (a[1] > b[1]) - (a[1] < b[1])


def _gte_min(member: bytes, low: LexBound) -> bool:
    if low[0]:
        return low[0] < 0
    return member > low[1] if low[2] else member >= low[1]


def _lte_max(member: bytes, high: LexBound) -> bool:
    if high[0]:
        return high[0] > 0
    return member < high[1] if high[2] else member <= high[1]


# -- reading --------------------------------------------------------------------------------------
def _read(ks: Keyspace, key: bytes) -> cs.Meta | None:
    return cs.lookup(ks, key, ZSET)


def _by_rank(ks: Keyspace, meta: cs.Meta, start: int, end: int, reverse: bool
             ) -> list[tuple[bytes, float]]:
    """Redis's rank sanitizing: negative from the end, clamped, empty when start > end."""
    size = meta.count
    if start < 0:
        start += size
    if end < 0:
        end += size
    start = max(start, 0)
    if start > end or start >= size:
        return []
    end = min(end, size - 1)
    return list(islice(cs.iter_zset(ks, meta, reverse), start, end + 1))


def _window(items: Iterator[tuple[bytes, float]], offset: int, limit: int
            ) -> list[tuple[bytes, float]]:
    """LIMIT offset count as Redis applies it: a negative offset skips everything, a negative
    count takes everything left."""
    if offset < 0:
        return []
    stop = None if limit < 0 else min(offset + limit, LLONG_MAX)  # C counts the limit down
    return list(islice(items, offset, stop))


def _by_score(ks: Keyspace, meta: cs.Meta, low: Bound, high: Bound, reverse: bool,
              offset: int = 0, limit: int = -1) -> list[tuple[bytes, float]]:
    return _window(cs.iter_zset(ks, meta, reverse, low, high), offset, limit)


def _by_lex(ks: Keyspace, meta: cs.Meta, low: LexBound, high: LexBound, reverse: bool,
            offset: int = 0, limit: int = -1) -> list[tuple[bytes, float]]:
    """A walk in score order, as Redis's listpack does it (meaningful when all scores are
    equal): from the first member inside the near bound while members stay inside the far
    one; the offset skips members without checking them."""
    cmp = _lex_cmp(low, high)
    if cmp > 0 or (cmp == 0 and (low[2] or high[2])):
        return []
    first = next(cs.iter_zset(ks, meta), None)
    last = next(cs.iter_zset(ks, meta, reverse=True), None)
    if first is None or not _gte_min(last[0], low) or not _lte_max(first[0], high):
        return []
    near, far = (_lte_max, _gte_min) if reverse else (_gte_min, _lte_max)
    near_bound, far_bound = (high, low) if reverse else (low, high)
    items = cs.iter_zset(ks, meta, reverse)
    start = next((item for item in items if near(item[0], near_bound)), None)
    if start is None or not far(start[0], far_bound) or offset < 0:
        return []
    found: list[tuple[bytes, float]] = []
    for member, score in islice(chain((start,), items), offset, None):
        if limit == 0 or not far(member, far_bound):
            break
        found.append((member, score))
        limit -= 1
    return found


def _reply(items: list[tuple[bytes, float]], withscores: bool) -> object:
    return Pairs(items) if withscores else [member for member, _ in items]


# -- writing --------------------------------------------------------------------------------------
def _insert(ks: Keyspace, meta: cs.Meta, member: bytes, score: float) -> None:
    """Add a new member, after the skiplist conversion Redis would make to fit it."""
    meta.count += 1
    limits = ks.limits
    if (meta.count > limits.zset_max_listpack_entries
            or len(member) > limits.zset_max_listpack_value):
        meta.mark_big()
    cs.zset_put(ks, meta, member, score, None)


def _remove_all(ks: Keyspace, key: bytes, meta: cs.Meta, items: list[tuple[bytes, float]],
                event: bytes) -> int:
    """Remove items; the event (and ``del`` if the key is emptied) only if there were some."""
    for member, score in items:
        cs.zset_delete(ks, meta, member, score)
    if items:
        meta.count -= len(items)
        cs.save_notifying(ks, key, meta, ZSET_EVENTS, event)
    return len(items)


_ZADD_FLAGS = frozenset((b"nx", b"xx", b"ch", b"incr", b"gt", b"lt"))


class ZaddArgs(NamedTuple):
    key: bytes
    options: frozenset[bytes]  # nx xx ch gt lt (lower case)
    incr: bool
    scores: list[float]
    members: list[bytes]


def parse_zadd(argv: list[bytes], incr: bool = False) -> ZaddArgs:
    """zaddGenericCommand's checks before the key: ZINCRBY is ZADD with INCR (and takes
    ZADD's options too)."""
    options, i = leading_flags(argv, 2, _ZADD_FLAGS)
    incr = incr or b"incr" in options
    nx, xx, gt, lt = (opt in options for opt in (b"nx", b"xx", b"gt", b"lt"))
    pairs = len(argv) - i
    if pairs % 2 or not pairs:
        raise CommandError(errors.SYNTAX)
    if nx and xx:
        raise CommandError(XX_AND_NX)
    if (gt and nx) or (lt and nx) or (gt and lt):
        raise CommandError(GT_LT_NX)
    if incr and pairs > 2:
        raise CommandError(INCR_SINGLE_PAIR)
    scores = [float_arg(argv[j]) for j in range(i, len(argv), 2)]
    return ZaddArgs(argv[1], frozenset(options), incr, scores, argv[i + 1::2])


def _zadd(ctx: Context, args: ZaddArgs) -> object:
    key, options, incr, scores, members = args
    nx, xx, gt, lt = (opt in options for opt in (b"nx", b"xx", b"gt", b"lt"))
    ks = ctx.ks
    meta = _read(ks, key)
    if meta is None:
        if xx:
            return None if incr else 0
        meta = cs.create(ks, key, ZSET)
    added = updated = processed = 0
    result = 0.0
    for score, member in zip(scores, members, strict=True):
        old = cs.zset_score(ks, meta, member)
        if old is not None:
            if nx:
                continue
            if incr:
                score += old
                if score != score:
                    raise CommandError(NAN_SCORE)
            if (lt and score >= old) or (gt and score <= old):
                continue
            if score != old:
                cs.zset_put(ks, meta, member, score, old)
                updated += 1
        elif xx:
            continue
        else:
            _insert(ks, meta, member, score)
            added += 1
        processed += 1
        result = score
    if added:
        cs.save(ks, key, meta)
    if added or updated:
        ctx.notify(ZSET_EVENTS, b"zincr" if incr else b"zadd", key)
    if incr:
        return result if processed else None
    return added + updated if b"ch" in options else added


@command("zadd", -4, "write denyoom fast", 1, 1, 1, group=_G, since="1.2.0",
         summary="Add one or more members to a sorted set, or update its score if it already "
                 "exists",
         complexity="O(log(N)) for each item added, where N is the number of elements in the "
                    "sorted set.", parser=parse_zadd)
def zadd(ctx: Context, args: ZaddArgs) -> object:
    return _zadd(ctx, args)


@command("zincrby", 4, "write denyoom fast", 1, 1, 1, group=_G, since="1.2.0",
         summary="Increment the score of a member in a sorted set",
         complexity="O(log(N)) where N is the number of elements in the sorted set.",
         parser=lambda argv: parse_zadd(argv, incr=True))
def zincrby(ctx: Context, args: ZaddArgs) -> object:
    return _zadd(ctx, args)


@command("zrem", -3, "write fast", 1, 1, 1, group=_G, since="1.2.0",
         summary="Remove one or more members from a sorted set",
         complexity="O(M*log(N)) with N being the number of elements in the sorted set and M "
                    "the number of elements to be removed.")
def zrem(ctx: Context, argv: list[bytes]) -> int:
    ks = ctx.ks
    meta = _read(ks, argv[1])
    if meta is None:
        return 0
    found = []
    for member in dict.fromkeys(argv[2:]):
        score = cs.zset_score(ks, meta, member)
        if score is not None:
            found.append((member, score))
    return _remove_all(ks, argv[1], meta, found, b"zrem")


@command("zscore", 3, "readonly fast", 1, 1, 1, group=_G, since="1.2.0",
         summary="Get the score associated with the given member in a sorted set")
def zscore(ctx: Context, argv: list[bytes]) -> float | None:
    meta = _read(ctx.ks, argv[1])
    return None if meta is None else cs.zset_score(ctx.ks, meta, argv[2])


@command("zmscore", -3, "readonly fast", 1, 1, 1, group=_G, since="6.2.0",
         summary="Get the score associated with the given members in a sorted set",
         complexity="O(N) where N is the number of members being requested.")
def zmscore(ctx: Context, argv: list[bytes]) -> list[float | None]:
    meta = _read(ctx.ks, argv[1])
    if meta is None:
        return [None] * (len(argv) - 2)
    return [cs.zset_score(ctx.ks, meta, member) for member in argv[2:]]


@command("zcard", 2, "readonly fast", 1, 1, 1, group=_G, since="1.2.0",
         summary="Get the number of members in a sorted set")
def zcard(ctx: Context, argv: list[bytes]) -> int:
    meta = _read(ctx.ks, argv[1])
    return 0 if meta is None else meta.count


@command("zcount", 4, "readonly fast", 1, 1, 1, group=_G, since="2.0.0",
         summary="Count the members in a sorted set with scores within the given values",
         complexity="O(log(N)) with N being the number of elements in the sorted set.")
def zcount(ctx: Context, argv: list[bytes]) -> int:
    low, high = _score_range(argv[2], argv[3])
    meta = _read(ctx.ks, argv[1])
    return 0 if meta is None else sum(1 for _ in cs.iter_zset(ctx.ks, meta, False, low, high))


@command("zlexcount", 4, "readonly fast", 1, 1, 1, group=_G, since="2.8.9",
         summary="Count the number of members in a sorted set between a given lexicographical "
                 "range",
         complexity="O(log(N)) with N being the number of elements in the sorted set.")
def zlexcount(ctx: Context, argv: list[bytes]) -> int:
    low, high = _lex_range(argv[2], argv[3])
    meta = _read(ctx.ks, argv[1])
    return 0 if meta is None else len(_by_lex(ctx.ks, meta, low, high, False))


# -- ranges ---------------------------------------------------------------------------------------
RANK, SCORE, LEX = "rank", "score", "lex"


class ZrangeArgs(NamedTuple):
    destination: bytes | None  # ZRANGESTORE's
    source: bytes
    by: str
    reverse: bool
    withscores: bool
    offset: int
    limit: int
    low: Any  # the range's ends: ranks, score Bounds or lex bounds, by ``by``
    high: Any


def _zrange_parser(by: str | None, reverse: bool | None, store: bool = False
                   ) -> Callable[[list[bytes]], ZrangeArgs]:
    """zrangeGenericCommand's checks, all before the key (so syntax errors win over
    WRONGTYPE): options, then the range. ``store``: ZRANGESTORE dst src ..."""
    return lambda argv: _parse_zrange(argv, by, reverse, store)


def _parse_zrange(argv: list[bytes], by: str | None, reverse: bool | None,
                  store: bool) -> ZrangeArgs:
    src = 2 if store else 1
    withscores = False
    offset, limit = 0, -1
    j = src + 3
    while j < len(argv):
        option = argv[j].lower()
        if option == b"withscores" and not store:
            withscores = True
        elif option == b"limit" and len(argv) - j - 1 >= 2:
            offset, limit = limit_args(argv, j)
            j += 2
        elif reverse is None and option == b"rev":
            reverse = True
        elif by is None and option in (b"bylex", b"byscore"):
            by = LEX if option == b"bylex" else SCORE
        else:
            raise CommandError(errors.SYNTAX)
        j += 1
    reverse = bool(reverse)
    by = by or RANK
    if limit != -1 and by == RANK:
        raise CommandError(LIMIT_NEEDS_BY)
    if withscores and by == LEX:
        raise CommandError(WITHSCORES_BYLEX)
    low_arg, high_arg = argv[src + 1], argv[src + 2]
    first, second = (high_arg, low_arg) if reverse and by != RANK else (low_arg, high_arg)
    if by == RANK:
        low, high = int_arg(first), int_arg(second)
    elif by == SCORE:
        low, high = _score_range(first, second)
    else:
        low, high = _lex_range(first, second)
    return ZrangeArgs(argv[1] if store else None, argv[src], by, reverse, withscores, offset,
                      limit, low, high)


def _zrange(ctx: Context, args: ZrangeArgs) -> object:
    """The range of the source; ZRANGESTORE's replaces its destination."""
    ks = ctx.ks
    by, low, high, reverse = args.by, args.low, args.high, args.reverse
    with ks.reads_counted():  # ZRANGESTORE's source too, as Redis counts reads
        meta = _read(ks, args.source)
    if meta is None:
        items = []
    elif by == RANK:
        items = _by_rank(ks, meta, low, high, reverse)
    elif by == SCORE:
        items = _by_score(ks, meta, low, high, reverse, args.offset, args.limit)
    else:
        items = _by_lex(ks, meta, low, high, reverse, args.offset, args.limit)
    if args.destination is not None:
        return store_sorted_set(ks, args.destination, dict(items), b"zrangestore")
    return _reply(items, args.withscores) if items else []


_RANGE_COMPLEXITY = ("O(log(N)+M) with N being the number of elements in the sorted set and M "
                     "the number of elements returned.")
_BY_COMPLEXITY = ("O(log(N)+M) with N being the number of elements in the sorted set and M the "
                  "number of elements being returned. If M is constant (e.g. always asking for "
                  "the first 10 elements with LIMIT), you can consider it O(log(N)).")


@command("zrange", -4, "readonly", 1, 1, 1, group=_G, since="1.2.0",
         summary="Return a range of members in a sorted set", complexity=_RANGE_COMPLEXITY,
         parser=_zrange_parser(None, None))
def zrange(ctx: Context, args: ZrangeArgs) -> object:
    return _zrange(ctx, args)


@command("zrevrange", -4, "readonly", 1, 1, 1, group=_G, since="1.2.0",
         summary="Return a range of members in a sorted set, by index, with scores ordered "
                 "from high to low", complexity=_RANGE_COMPLEXITY,
         parser=_zrange_parser(RANK, True))
def zrevrange(ctx: Context, args: ZrangeArgs) -> object:
    return _zrange(ctx, args)


@command("zrangebyscore", -4, "readonly", 1, 1, 1, group=_G, since="1.0.5",
         summary="Return a range of members in a sorted set, by score", complexity=_BY_COMPLEXITY,
         parser=_zrange_parser(SCORE, False))
def zrangebyscore(ctx: Context, args: ZrangeArgs) -> object:
    return _zrange(ctx, args)


@command("zrevrangebyscore", -4, "readonly", 1, 1, 1, group=_G, since="2.2.0",
         summary="Return a range of members in a sorted set, by score, with scores ordered "
                 "from high to low", complexity=_BY_COMPLEXITY,
         parser=_zrange_parser(SCORE, True))
def zrevrangebyscore(ctx: Context, args: ZrangeArgs) -> object:
    return _zrange(ctx, args)


@command("zrangebylex", -4, "readonly", 1, 1, 1, group=_G, since="2.8.9",
         summary="Return a range of members in a sorted set, by lexicographical range",
         complexity=_BY_COMPLEXITY,
         parser=_zrange_parser(LEX, False))
def zrangebylex(ctx: Context, args: ZrangeArgs) -> object:
    return _zrange(ctx, args)


@command("zrevrangebylex", -4, "readonly", 1, 1, 1, group=_G, since="2.8.9",
         summary="Return a range of members in a sorted set, by lexicographical range, "
                 "ordered from higher to lower strings.", complexity=_BY_COMPLEXITY,
         parser=_zrange_parser(LEX, True))
def zrevrangebylex(ctx: Context, args: ZrangeArgs) -> object:
    return _zrange(ctx, args)


def _rank(ctx: Context, argv: list[bytes], reverse: bool) -> int | None:
    ks = ctx.ks
    meta = _read(ks, argv[1])
    if meta is None:
        return None
    score = cs.zset_score(ks, meta, argv[2])
    if score is None:
        return None
    rank = cs.zset_rank(ks, meta, argv[2], score)
    return meta.count - 1 - rank if reverse else rank


@command("zrank", 3, "readonly fast", 1, 1, 1, group=_G, since="2.0.0",
         summary="Determine the index of a member in a sorted set", complexity="O(log(N))")
def zrank(ctx: Context, argv: list[bytes]) -> int | None:
    return _rank(ctx, argv, reverse=False)


@command("zrevrank", 3, "readonly fast", 1, 1, 1, group=_G, since="2.0.0",
         summary="Determine the index of a member in a sorted set, with scores ordered from "
                 "high to low", complexity="O(log(N))")
def zrevrank(ctx: Context, argv: list[bytes]) -> int | None:
    return _rank(ctx, argv, reverse=True)


# -- removing ranges and popping ------------------------------------------------------------------
def _parse_zpop(argv: list[bytes]) -> tuple[bytes, int | None]:
    """ZPOPMIN/ZPOPMAX key [count]."""
    if len(argv) > 3:
        raise CommandError(errors.SYNTAX)
    return argv[1], optional_count(argv, 2)


def _zpop(ctx: Context, args: tuple[bytes, int | None], reverse: bool) -> object:
    """ZPOPMIN/ZPOPMAX: one flat [member, score] without a count; pairs (nested in RESP3)
    with one."""
    key, count = args
    ks = ctx.ks
    meta = _read(ks, key)
    if meta is None or count == 0:
        return []
    items = list(islice(cs.iter_zset(ks, meta, reverse), 1 if count is None else count))
    _remove_all(ks, key, meta, items, b"zpopmax" if reverse else b"zpopmin")
    if count is None:
        return [items[0][0], items[0][1]]
    return Pairs(items)


_POP_COMPLEXITY = ("O(log(N)*M) with N being the number of elements in the sorted set, and M "
                   "being the number of elements popped.")


@command("zpopmin", -2, "write fast", 1, 1, 1, group=_G, since="5.0.0",
         summary="Remove and return members with the lowest scores in a sorted set",
         complexity=_POP_COMPLEXITY, parser=_parse_zpop)
def zpopmin(ctx: Context, args: tuple[bytes, int | None]) -> object:
    return _zpop(ctx, args, reverse=False)


@command("zpopmax", -2, "write fast", 1, 1, 1, group=_G, since="5.0.0",
         summary="Remove and return members with the highest scores in a sorted set",
         complexity=_POP_COMPLEXITY, parser=_parse_zpop)
def zpopmax(ctx: Context, args: tuple[bytes, int | None]) -> object:
    return _zpop(ctx, args, reverse=True)


def _parse_blocking_pop(argv: list[bytes]) -> list[bytes]:
    """BZPOPMIN/BZPOPMAX key [key ...] timeout: the keys, once the timeout is valid."""
    timeout_arg(argv[-1])
    return argv[1:-1]


def _blocking_zpop(ctx: Context, keys: list[bytes], reverse: bool) -> object:
    """BZPOPMIN/BZPOPMAX as the state machine runs them: ZMPOP's pop of one member, replied
    [key, member, score], else a timeout's reply (see lists._blocking_pop)."""
    popped = _mpop(ctx, keys, b"max" if reverse else b"min", 1)
    return popped if popped is NULL_ARRAY else [popped[0], *popped[1][0]]


@command("bzpopmin", -3, "write noscript blocking fast", 1, -2, 1, group=_G, since="5.0.0",
         summary="Remove and return the member with the lowest score from one or more sorted "
                 "sets, or block until one is available",
         complexity="O(log(N)) with N being the number of elements in the sorted set.",
         parser=_parse_blocking_pop)
def bzpopmin(ctx: Context, keys: list[bytes]) -> object:
    return _blocking_zpop(ctx, keys, reverse=False)


@command("bzpopmax", -3, "write noscript blocking fast", 1, -2, 1, group=_G, since="5.0.0",
         summary="Remove and return the member with the highest score from one or more sorted "
                 "sets, or block until one is available",
         complexity="O(log(N)) with N being the number of elements in the sorted set.",
         parser=_parse_blocking_pop)
def bzpopmax(ctx: Context, keys: list[bytes]) -> object:
    return _blocking_zpop(ctx, keys, reverse=True)


_REMRANGE_COMPLEXITY = ("O(log(N)+M) with N being the number of elements in the sorted set and "
                        "M the number of elements removed by the operation.")


@command("zremrangebyrank", 4, "write", 1, 1, 1, group=_G, since="2.0.0",
         summary="Remove all members in a sorted set within the given indexes",
         complexity=_REMRANGE_COMPLEXITY,
         parser=lambda argv: (argv[1], int_arg(argv[2]), int_arg(argv[3])))
def zremrangebyrank(ctx: Context, args: tuple[bytes, int, int]) -> int:
    key, start, end = args
    meta = _read(ctx.ks, key)
    if meta is None:
        return 0
    items = _by_rank(ctx.ks, meta, start, end, False)
    return _remove_all(ctx.ks, key, meta, items, b"zremrangebyrank")


@command("zremrangebyscore", 4, "write", 1, 1, 1, group=_G, since="1.2.0",
         summary="Remove all members in a sorted set within the given scores",
         complexity=_REMRANGE_COMPLEXITY,
         parser=lambda argv: (argv[1], *_score_range(argv[2], argv[3])))
def zremrangebyscore(ctx: Context, args: tuple[bytes, Bound, Bound]) -> int:
    key, low, high = args
    meta = _read(ctx.ks, key)
    if meta is None:
        return 0
    items = _by_score(ctx.ks, meta, low, high, False)
    return _remove_all(ctx.ks, key, meta, items, b"zremrangebyscore")


@command("zremrangebylex", 4, "write", 1, 1, 1, group=_G, since="2.8.9",
         summary="Remove all members in a sorted set between the given lexicographical range",
         complexity=_REMRANGE_COMPLEXITY,
         parser=lambda argv: (argv[1], *_lex_range(argv[2], argv[3])))
def zremrangebylex(ctx: Context, args: tuple) -> int:
    key, low, high = args
    meta = _read(ctx.ks, key)
    if meta is None:
        return 0
    items = _by_lex(ctx.ks, meta, low, high, False)
    return _remove_all(ctx.ks, key, meta, items, b"zremrangebylex")


# -- union, intersection, difference ----------------------------------------------------------
UNION, INTER, DIFF = "union", "inter", "diff"


def _store_keys(argv: list[bytes]) -> list[int]:
    """ZUNIONSTORE/ZINTERSTORE/ZDIFFSTORE destination numkeys key [key ...]: the destination
    and the keys numkeys announces (none if it is invalid)."""
    keys = numkeys_keys(argv[1:])
    return [1, *(index + 1 for index in keys)] if keys else []


def _aggregate(how: bytes, target: float, value: float) -> float:
    """zunionInterAggregate (SUM turns inf + -inf into 0, not NaN)."""
    if how == b"sum":
        total = target + value
        return 0.0 if total != total else total
    if how == b"min":
        return value if value < target else target
    return value if value > target else target


def _source(ks: Keyspace, meta: cs.Meta | None) -> dict[bytes, float]:
    """A set operation's input: a sorted set, or a set whose members score 1."""
    if meta is None:
        return {}
    if meta.kind == SET:
        return dict.fromkeys(set_members(ks, meta), 1.0)
    return dict(cs.iter_zset(ks, meta))


def _weighted(score: float, weight: float) -> float:
    value = score * weight
    return 0.0 if value != value else value


def _combine(op: str, inputs: list[tuple[dict[bytes, float], float]], how: bytes,
             limit: int = 0) -> dict[bytes, float]:
    """The members and scores of the result (at most ``limit`` members for ZINTERCARD)."""
    result: dict[bytes, float] = {}
    if op == DIFF:
        (first, _), others = inputs[0], inputs[1:]
        return {member: score for member, score in first.items()
                if not any(member in source for source, _ in others)}
    if op == UNION:
        for source, weight in inputs:
            for member, score in source.items():
                value = _weighted(score, weight)
                result[member] = (value if member not in result
                                  else _aggregate(how, result[member], value))
        return result
    (first, first_weight), others = inputs[0], inputs[1:]
    for member, score in first.items():
        total = _weighted(score, first_weight)
        for source, weight in others:
            if member not in source:
                break
            total = _aggregate(how, total, source[member] * weight)
        else:
            result[member] = total
            if len(result) == limit:
                break
    return result


def _numkeys_arg(argv: list[bytes], at: int) -> int:
    """The checks zunionInterDiffGenericCommand makes before the keys: the options are
    parsed only after the inputs' types are (so WRONGTYPE wins over a syntax error)."""
    numkeys = int_arg(argv[at])
    if numkeys < 1:
        name = argv[0].lower().decode(errors="replace")
        raise CommandError(f"ERR at least 1 input key is needed for '{name}' command")
    if numkeys > len(argv) - at - 1:
        raise CommandError(errors.SYNTAX)
    return numkeys


StoreArgs = tuple[list[bytes], int]  # Z*STORE's argv, numkeys


def _parse_store(argv: list[bytes]) -> StoreArgs:
    return argv, _numkeys_arg(argv, 2)


def _setop(ctx: Context, argv: list[bytes], op: str, store: bool = False,
           cardinality: bool = False, numkeys: int | None = None) -> object:
    """zunionInterDiffGenericCommand: inputs type-checked before the options are parsed,
    then combined smallest first (the first input stays first for a difference)."""
    at = 2 if store else 1
    if numkeys is None:
        numkeys = _numkeys_arg(argv, at)
    ks = ctx.ks
    metas = []
    for key in argv[at + 1:at + 1 + numkeys]:
        with ks.reads_counted():  # Z*STORE too reads its inputs as Redis counts reads
            record = ks.lookup(key)
        if record is not None and record[0] not in (SET, ZSET):
            raise CommandError(errors.WRONGTYPE)
        metas.append(None if record is None else cs.from_record(ks, key, record))
    weights = [1.0] * numkeys
    how = b"sum"
    withscores = False
    limit = 0
    combines = op != DIFF and not cardinality
    j = at + 1 + numkeys
    while j < len(argv):
        option, remaining = argv[j].lower(), len(argv) - j
        if combines and option == b"weights" and remaining >= numkeys + 1:
            weights = [float_arg(raw, WEIGHT_NOT_FLOAT) for raw in argv[j + 1:j + 1 + numkeys]]
            j += 1 + numkeys
        elif combines and option == b"aggregate" and remaining >= 2:
            how = argv[j + 1].lower()
            if how not in (b"sum", b"min", b"max"):
                raise CommandError(errors.SYNTAX)
            j += 2
        elif option == b"withscores" and not store and not cardinality:
            withscores = True
            j += 1
        elif option == b"limit" and cardinality and remaining >= 2:
            limit = positive_arg(argv[j + 1], NEGATIVE_LIMIT)
            j += 2
        else:
            raise CommandError(errors.SYNTAX)
    inputs = list(zip((_source(ks, meta) for meta in metas), weights, strict=True))
    if op != DIFF:
        inputs.sort(key=lambda source: len(source[0]))
    result = _combine(op, inputs, how, limit)
    if cardinality:
        return len(result)
    if store:
        return store_sorted_set(ks, argv[1], result, b"z%sstore" % op.encode())
    return _reply(sorted(result.items(), key=lambda item: (item[1], item[0])), withscores)


def store_sorted_set(ks: Keyspace, destination: bytes, result: dict[bytes, float],
                     event: bytes) -> int:
    """Replace destination with the sorted set ``result`` (deleted if it is empty); notify
    the event, or ``del`` if an existing destination was deleted."""
    if not result:
        if ks.delete(destination):
            ks.notify(GENERIC, b"del", destination)
        return 0
    meta = cs.create(ks, destination, ZSET)
    meta.count = len(result)
    if (meta.count > ks.limits.zset_max_listpack_entries
            or max(map(len, result)) > ks.limits.zset_max_listpack_value):
        meta.mark_big()
    for member, score in result.items():
        cs.zset_put(ks, meta, member, score, None)
    cs.save_notifying(ks, destination, meta, ZSET_EVENTS, event)  # replaces what it held
    return meta.count


_UNION_COMPLEXITY = ("O(N)+O(M*log(M)) with N being the sum of the sizes of the input sorted "
                     "sets, and M being the number of elements in the resulting sorted set.")
_INTER_COMPLEXITY = ("O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted "
                     "set, K being the number of input sorted sets and M being the number of "
                     "elements in the resulting sorted set.")
_DIFF_COMPLEXITY = ("O(L + (N-K)log(N)) worst case where L is the total number of elements in "
                    "all the sets, N is the size of the first set, and K is the size of the "
                    "result set.")


@command("zunionstore", -4, "write denyoom", 1, 1, 1, group=_G, since="2.0.0",
         key_finder=_store_keys, complexity=_UNION_COMPLEXITY,
         summary="Add multiple sorted sets and store the resulting sorted set in a new key",
         parser=_parse_store)
def zunionstore(ctx: Context, args: StoreArgs) -> int:
    return _setop(ctx, args[0], UNION, store=True, numkeys=args[1])


@command("zinterstore", -4, "write denyoom", 1, 1, 1, group=_G, since="2.0.0",
         key_finder=_store_keys, complexity=_INTER_COMPLEXITY,
         summary="Intersect multiple sorted sets and store the resulting sorted set in a new key",
         parser=_parse_store)
def zinterstore(ctx: Context, args: StoreArgs) -> int:
    return _setop(ctx, args[0], INTER, store=True, numkeys=args[1])


@command("zdiffstore", -4, "write denyoom", 1, 1, 1, group=_G, since="6.2.0",
         key_finder=_store_keys, complexity=_DIFF_COMPLEXITY,
         summary="Subtract multiple sorted sets and store the resulting sorted set in a new key",
         parser=_parse_store)
def zdiffstore(ctx: Context, args: StoreArgs) -> int:
    return _setop(ctx, args[0], DIFF, store=True, numkeys=args[1])


@command("zunion", -3, "readonly", group=_G, since="6.2.0", key_finder=numkeys_keys,
         complexity=_UNION_COMPLEXITY, summary="Add multiple sorted sets")
def zunion(ctx: Context, argv: list[bytes]) -> object:
    return _setop(ctx, argv, UNION)


@command("zinter", -3, "readonly", group=_G, since="6.2.0", key_finder=numkeys_keys,
         complexity=_INTER_COMPLEXITY, summary="Intersect multiple sorted sets")
def zinter(ctx: Context, argv: list[bytes]) -> object:
    return _setop(ctx, argv, INTER)


@command("zdiff", -3, "readonly", group=_G, since="6.2.0", key_finder=numkeys_keys,
         complexity=_DIFF_COMPLEXITY, summary="Subtract multiple sorted sets")
def zdiff(ctx: Context, argv: list[bytes]) -> object:
    return _setop(ctx, argv, DIFF)


@command("zintercard", -3, "readonly", group=_G, since="7.0.0", key_finder=numkeys_keys,
         complexity="O(N*K) worst case with N being the smallest input sorted set, K being "
                    "the number of input sorted sets.",
         summary="Intersect multiple sorted sets and return the cardinality of the result")
def zintercard(ctx: Context, argv: list[bytes]) -> int:
    return _setop(ctx, argv, INTER, cardinality=True)


@command("zrangestore", -5, "write denyoom", 1, 2, 1, group=_G, since="6.2.0",
         complexity="O(log(N)+M) with N being the number of elements in the sorted set and M "
                    "the number of elements stored into the destination key.",
         summary="Store a range of members from sorted set into another key",
         parser=_zrange_parser(None, None, store=True))
def zrangestore(ctx: Context, args: ZrangeArgs) -> int:
    return _zrange(ctx, args)


# -- random members and ZMPOP ---------------------------------------------------------------------
@command("zrandmember", -2, "readonly", 1, 1, 1, group=_G, since="6.2.0",
         complexity="O(N) where N is the number of members returned",
         summary="Get one or multiple random elements from a sorted set")
def zrandmember(ctx: Context, argv: list[bytes]) -> object:
    return random_fields(ctx, argv, _read, b"withscores", cs.ZMEMBER, cs.unpack_double)


@command("zmpop", -4, "write", group=_G, since="7.0.0", key_finder=numkeys_keys,
         complexity="O(K) + O(M*log(N)) where K is the number of provided keys, N being the "
                    "number of elements in the sorted set, and M being the number of elements "
                    "popped.",
         summary="Remove and return members with scores in a sorted set",
         parser=lambda argv: parse_mpop(argv, 1, (b"min", b"max")))
def zmpop(ctx: Context, args: MpopArgs) -> object:
    """zmpopGenericCommand: the first of the keys that exists is popped; the reply is
    [key, [[member, score], ...]] in RESP2 too, or a null array when none exists."""
    return _mpop(ctx, *args)


def _mpop(ctx: Context, keys: list[bytes], side: bytes, count: int) -> object:
    ks = ctx.ks
    for key in keys:
        meta = cs.lookup(ks, key, ZSET, ctx.woken)
        if meta is not None:
            items = list(islice(cs.iter_zset(ks, meta, side == b"max"), count))
            _remove_all(ks, key, meta, items, b"zpopmax" if side == b"max" else b"zpopmin")
            return [key, [[member, score] for member, score in items]]
    return NULL_ARRAY


@command("bzmpop", -5, "write blocking timeout_first", group=_G, since="7.0.0",
         key_finder=numkeys_keys_after_timeout,
         complexity="O(K) + O(M*log(N)) where K is the number of provided keys, N being the "
                    "number of elements in the sorted set, and M being the number of elements "
                    "popped.",
         summary="Remove and return members with scores in a sorted set or block until one "
                 "is available", parser=lambda argv: parse_blocking_mpop(argv, (b"min", b"max")))
def bzmpop(ctx: Context, args: MpopArgs) -> object:
    """ZMPOP after a timeout (see _blocking_zpop)."""
    return _mpop(ctx, *args)


@command("zscan", -3, "readonly", 1, 1, 1, group=_G, since="2.8.0",
         summary="Incrementally iterate sorted sets elements and associated scores",
         complexity="O(1) for every call. O(N) for a complete iteration, including enough "
                    "command calls for the cursor to return back to 0. N is the number of "
                    "elements inside the collection..")
def zscan(ctx: Context, argv: list[bytes]) -> list:
    """Scores as Redis's scan sends them: strings ("%.17g"), in RESP3 too."""
    return scan_collection(ctx, argv, ZSET, sub=cs.ZMEMBER, reply=lambda member, raw: [
        member, format_double(cs.unpack_double(raw))])
