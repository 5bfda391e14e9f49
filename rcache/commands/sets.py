"""Set commands: SADD SREM SMEMBERS SPOP SMOVE SINTER SUNION SDIFF (and *STORE) SSCAN ...

One record per member (see collections_store). Members come back in byte order, where Redis
uses numeric order (intset) or hash-table order. SPOP picks with ctx.rng, seeded by the Raft
entry, so every node pops the same members.
"""

from __future__ import annotations

from .. import collections_store as cs
from .. import errors
from ..errors import CommandError
from ..notify import GENERIC
from ..notify import SET as SET_EVENTS
from ..resp import OrderedSet, parse_int
from ..storage import SET, Keyspace
from .args import optional_count, positive_arg, timeout_arg
from .scanning import parse_random_count, random_element, random_elements, scan_collection
from .table import Context, command

_G = "set"
NUMKEYS = "ERR numkeys should be greater than 0"
TOO_MANY_NUMKEYS = "ERR Number of keys can't be greater than number of args"
NEGATIVE_LIMIT = "ERR LIMIT can't be negative"


def _read(ks: Keyspace, key: bytes) -> cs.Meta | None:
    return cs.lookup(ks, key, SET)


def _add(ks: Keyspace, meta: cs.Meta, member: bytes) -> bool:
    full = meta.prefix + member
    if cs.get(ks, full) is not None:  # also when new: SADD s x x adds x once
        return False
    meta.count += 1
    if meta.count > ks.limits.set_max_intset_entries or not cs.is_intset_member(member):
        meta.mark_big()
    ks.txn.insert(full, b"")
    return True


def _remove(ks: Keyspace, meta: cs.Meta, member: bytes) -> bool:
    full = meta.prefix + member
    old = cs.get(ks, full)
    if old is None:
        return False
    ks.txn.delete(full, old)
    meta.count -= 1
    return True


def _has(ks: Keyspace, meta: cs.Meta | None, member: bytes) -> bool:
    return meta is not None and cs.get(ks, meta.prefix + member) is not None


def members(ks: Keyspace, meta: cs.Meta | None) -> list[bytes]:
    return [] if meta is None else [member for member, _ in cs.iter_elements(meta, ks)]


def _store(ctx: Context, key: bytes, result: list[bytes], event: bytes) -> int:
    """Replace key with a set of result (deleting it when empty), encoded afresh."""
    ks = ctx.ks
    if not result:
        if ks.delete(key):
            ctx.notify(GENERIC, b"del", key)
        return 0
    meta = cs.create(ks, key, SET)
    for member in result:
        _add(ks, meta, member)
    cs.save_notifying(ks, key, meta, SET_EVENTS, event)  # replaces what key held
    return len(result)


@command("sadd", -3, "write denyoom fast", 1, 1, 1, group=_G,
         summary="Add one or more members to a set",
         complexity="O(1) for each element added, so O(N) to add N elements when the command "
                    "is called with multiple arguments.")
def sadd(ctx: Context, argv: list[bytes]) -> int:
    ks = ctx.ks
    meta = cs.lookup_or_create(ks, argv[1], SET)
    added = sum(_add(ks, meta, member) for member in argv[2:])
    if added:
        cs.save_notifying(ks, argv[1], meta, SET_EVENTS, b"sadd")
    return added


@command("srem", -3, "write fast", 1, 1, 1, group=_G,
         summary="Remove one or more members from a set",
         complexity="O(N) where N is the number of members to be removed.")
def srem(ctx: Context, argv: list[bytes]) -> int:
    ks = ctx.ks
    meta = _read(ks, argv[1])
    if meta is None:
        return 0
    removed = sum(_remove(ks, meta, member) for member in argv[2:])
    if removed:
        cs.save_notifying(ks, argv[1], meta, SET_EVENTS, b"srem")
    return removed


@command("smembers", 2, "readonly", 1, 1, 1, group=_G, summary="Get all the members in a set",
         complexity="O(N) where N is the set cardinality.")
def smembers(ctx: Context, argv: list[bytes]) -> OrderedSet:
    return OrderedSet(members(ctx.ks, _read(ctx.ks, argv[1])))


@command("sismember", 3, "readonly fast", 1, 1, 1, group=_G,
         summary="Determine if a given value is a member of a set")
def sismember(ctx: Context, argv: list[bytes]) -> int:
    return int(_has(ctx.ks, _read(ctx.ks, argv[1]), argv[2]))


@command("smismember", -3, "readonly fast", 1, 1, 1, group=_G, since="6.2.0",
         summary="Returns the membership associated with the given elements for a set",
         complexity="O(N) where N is the number of elements being checked for membership")
def smismember(ctx: Context, argv: list[bytes]) -> list[int]:
    meta = _read(ctx.ks, argv[1])
    return [int(_has(ctx.ks, meta, member)) for member in argv[2:]]


@command("scard", 2, "readonly fast", 1, 1, 1, group=_G,
         summary="Get the number of members in a set")
def scard(ctx: Context, argv: list[bytes]) -> int:
    meta = _read(ctx.ks, argv[1])
    return 0 if meta is None else meta.count


def _parse_spop(argv: list[bytes]) -> tuple[bytes, int | None]:
    """SPOP key [count]."""
    if len(argv) > 3:
        raise CommandError(errors.SYNTAX)
    return argv[1], optional_count(argv, 2)


@command("spop", -2, "write fast", 1, 1, 1, group=_G,
         summary="Remove and return one or multiple random members from a set",
         complexity="Without the count argument O(1), otherwise O(N) where N is the value of "
                    "the passed count.", parser=_parse_spop)
def spop(ctx: Context, args: tuple[bytes, int | None]) -> object:
    key, count = args
    ks = ctx.ks
    meta = _read(ks, key)
    if meta is None:
        return None if count is None else OrderedSet()
    if count == 0:
        return OrderedSet()
    picked = [random_element(ctx, meta)[0]] if count is None else \
        [member for member, _ in random_elements(ctx, meta, count)]
    if count is not None and count >= meta.count:
        ks.delete(key)
        ctx.notify(SET_EVENTS, b"spop", key)
        ctx.notify(GENERIC, b"del", key)
        return OrderedSet(picked)
    for member in picked:
        _remove(ks, meta, member)
    cs.save_notifying(ks, key, meta, SET_EVENTS, b"spop")
    return picked[0] if count is None else OrderedSet(picked)


@command("srandmember", -2, "readonly", 1, 1, 1, group=_G,
         summary="Get one or multiple random members from a set",
         complexity="Without the count argument O(1), otherwise O(N) where N is the absolute "
                    "value of the passed count.")
def srandmember(ctx: Context, argv: list[bytes]) -> object:
    if len(argv) > 3:
        raise CommandError(errors.SYNTAX)
    count = parse_random_count(argv[2]) if len(argv) == 3 else None
    meta = _read(ctx.ks, argv[1])
    if count is None:
        return None if meta is None else random_element(ctx, meta)[0]
    if meta is None or count == 0:
        return []
    return [member for member, _ in random_elements(ctx, meta, count)]


@command("smove", 4, "write fast", 1, 2, 1, group=_G,
         summary="Move a member from one set to another")
def smove(ctx: Context, argv: list[bytes]) -> int:
    ks = ctx.ks
    source_key, target_key, member = argv[1], argv[2], argv[3]
    source = _read(ks, source_key)
    if source is None:
        return 0
    target = _read(ks, target_key)  # a wrong type is an error only once the source exists
    if source_key == target_key:
        return int(_has(ks, source, member))
    if not _remove(ks, source, member):
        return 0
    cs.save_notifying(ks, source_key, source, SET_EVENTS, b"srem")
    target = target or cs.create(ks, target_key, SET)
    if _add(ks, target, member):
        cs.save_notifying(ks, target_key, target, SET_EVENTS, b"sadd")
    return 1


# -- algebra --------------------------------------------------------------------------------------
def _inter(ks: Keyspace, keys: list[bytes], limit: int = 0) -> list[bytes]:
    """Members of every set, smallest set first (every key is type-checked first)."""
    sets = [_read(ks, key) for key in keys]
    if None in sets:
        return []
    sets.sort(key=lambda meta: meta.count)
    found = []
    for member in members(ks, sets[0]):
        if all(_has(ks, other, member) for other in sets[1:]):
            found.append(member)
            if len(found) == limit:
                break
    return found


def _union_or_diff(ks: Keyspace, keys: list[bytes], diff: bool) -> list[bytes]:
    sets = [_read(ks, key) for key in keys]  # every key is type-checked first
    if diff:
        first, others = sets[0], [meta for meta in sets[1:] if meta is not None]
        return [m for m in members(ks, first) if not any(_has(ks, o, m) for o in others)]
    union: set[bytes] = set()
    for meta in sets:
        union.update(members(ks, meta))
    return sorted(union)


@command("sinter", -2, "readonly", 1, -1, 1, group=_G, summary="Intersect multiple sets",
         complexity="O(N*M) worst case where N is the cardinality of the smallest set and M "
                    "is the number of sets.")
def sinter(ctx: Context, argv: list[bytes]) -> OrderedSet:
    return OrderedSet(_inter(ctx.ks, argv[1:]))


@command("sunion", -2, "readonly", 1, -1, 1, group=_G, summary="Add multiple sets",
         complexity="O(N) where N is the total number of elements in all given sets.")
def sunion(ctx: Context, argv: list[bytes]) -> OrderedSet:
    return OrderedSet(_union_or_diff(ctx.ks, argv[1:], diff=False))


@command("sdiff", -2, "readonly", 1, -1, 1, group=_G, summary="Subtract multiple sets",
         complexity="O(N) where N is the total number of elements in all given sets.")
def sdiff(ctx: Context, argv: list[bytes]) -> OrderedSet:
    return OrderedSet(_union_or_diff(ctx.ks, argv[1:], diff=True))


@command("sinterstore", -3, "write denyoom", 1, -1, 1, group=_G,
         summary="Intersect multiple sets and store the resulting set in a key",
         complexity="O(N*M) worst case where N is the cardinality of the smallest set and M "
                    "is the number of sets.")
def sinterstore(ctx: Context, argv: list[bytes]) -> int:
    with ctx.ks.reads_counted():  # the sets are read as SINTER reads them
        found = _inter(ctx.ks, argv[2:])
    return _store(ctx, argv[1], found, b"sinterstore")


@command("sunionstore", -3, "write denyoom", 1, -1, 1, group=_G,
         summary="Add multiple sets and store the resulting set in a key",
         complexity="O(N) where N is the total number of elements in all given sets.")
def sunionstore(ctx: Context, argv: list[bytes]) -> int:
    with ctx.ks.reads_counted():
        found = _union_or_diff(ctx.ks, argv[2:], diff=False)
    return _store(ctx, argv[1], found, b"sunionstore")


@command("sdiffstore", -3, "write denyoom", 1, -1, 1, group=_G,
         summary="Subtract multiple sets and store the resulting set in a key",
         complexity="O(N) where N is the total number of elements in all given sets.")
def sdiffstore(ctx: Context, argv: list[bytes]) -> int:
    with ctx.ks.reads_counted():
        found = _union_or_diff(ctx.ks, argv[2:], diff=True)
    return _store(ctx, argv[1], found, b"sdiffstore")


def numkeys_keys(argv: list[bytes], at: int = 1) -> list[int]:
    """CMD numkeys key [key ...] (SINTERCARD, ZUNION, ZMPOP...; numkeys at argv[2] after
    BLMPOP's and BZMPOP's timeout): the keys numkeys announces (none if it is invalid)."""
    numkeys = parse_int(argv[at]) if len(argv) > at else None
    if numkeys is None or numkeys < 1 or numkeys > len(argv) - at - 1:
        return []
    return list(range(at + 1, at + 1 + numkeys))


def numkeys_keys_after_timeout(argv: list[bytes]) -> list[int]:
    return numkeys_keys(argv, at=2)


MpopArgs = tuple[list[bytes], bytes, int]  # keys, side, count


def parse_mpop(argv: list[bytes], at: int, sides: tuple[bytes, bytes]) -> MpopArgs:
    """[B]LMPOP / [B]ZMPOP's numkeys (at argv[at]) key [key ...] side [COUNT count]:
    (keys, side, count), with Redis's errors in Redis's order."""
    numkeys = parse_int(argv[at])
    if numkeys is None or numkeys < 1:
        raise CommandError("ERR numkeys should be greater than 0")
    where = at + 1 + numkeys
    if where >= len(argv) or argv[where].lower() not in sides:
        raise CommandError(errors.SYNTAX)
    count = None
    j = where + 1
    while j < len(argv):
        if count is None and argv[j].lower() == b"count" and j + 1 < len(argv):
            count = parse_int(argv[j + 1])
            if count is None or count < 1:
                raise CommandError("ERR count should be greater than 0")
            j += 2
        else:
            raise CommandError(errors.SYNTAX)
    return argv[at + 1:where], argv[where].lower(), count or 1


def parse_blocking_mpop(argv: list[bytes], sides: tuple[bytes, bytes]) -> MpopArgs:
    """BLMPOP / BZMPOP timeout numkeys ...: Redis reads the timeout after the rest."""
    parsed = parse_mpop(argv, 2, sides)
    timeout_arg(argv[1])
    return parsed


def _parse_sintercard(argv: list[bytes]) -> tuple[list[bytes], int]:
    """SINTERCARD numkeys key [key ...] [LIMIT limit]: (keys, limit)."""
    numkeys = parse_int(argv[1])
    if numkeys is None or numkeys < 1:
        raise CommandError(NUMKEYS)
    if numkeys > len(argv) - 2:
        raise CommandError(TOO_MANY_NUMKEYS)
    limit = 0
    i = 2 + numkeys
    while i < len(argv):
        if argv[i].lower() == b"limit" and i + 1 < len(argv):
            limit = positive_arg(argv[i + 1], NEGATIVE_LIMIT)
            i += 2
        else:
            raise CommandError(errors.SYNTAX)
    return argv[2:2 + numkeys], limit


@command("sintercard", -3, "readonly", group=_G, since="7.0.0", key_finder=numkeys_keys,
         summary="Intersect multiple sets and return the cardinality of the result",
         complexity="O(N*M) worst case where N is the cardinality of the smallest set and M "
                    "is the number of sets.", parser=_parse_sintercard)
def sintercard(ctx: Context, args: tuple[list[bytes], int]) -> int:
    keys, limit = args
    return len(_inter(ctx.ks, keys, limit))



@command("sscan", -3, "readonly", 1, 1, 1, group=_G, since="2.8.0",
         summary="Incrementally iterate Set elements",
         complexity="O(1) for every call. O(N) for a complete iteration, including enough "
                    "command calls for the cursor to return back to 0. N is the number of "
                    "elements inside the collection..")
def sscan(ctx: Context, argv: list[bytes]) -> list:
    return scan_collection(ctx, argv, SET)

