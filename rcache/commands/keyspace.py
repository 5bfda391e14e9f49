"""Keyspace commands: DEL EXISTS TYPE KEYS SCAN RENAME COPY MOVE SWAPDB FLUSHDB ...

Also home of the argument parsers every family shares (``int_arg``), since they are
Redis's generic object.c helpers rather than part of one type.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator

from .. import collections_store as cs
from .. import errors
from .. import strings_store as ss
from ..errors import CommandError
from ..glob import literal_prefix, matcher
from ..notify import GENERIC
from ..resp import OK, SimpleString
from ..storage import STRING_KINDS, TYPE_NAMES, Keyspace
from .args import int32_arg, int_arg
from .table import Context, command

_G = "generic"
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
ULONG_MAX = 2**64 - 1
SCAN_DEFAULT_COUNT = 10
MAX_SCAN_CURSORS = 10_000
MAX_CURSOR_BITS = 53  # a cursor is exact as a JavaScript Number


def db_index_arg(ctx: Context, raw: bytes) -> int:
    """A database index (SELECT, MOVE, COPY ... DB): a C int, then within `databases`."""
    dbnum = int32_arg(raw)
    _check_db_range(ctx, dbnum)
    return dbnum


def _check_db_range(ctx: Context, dbnum: int) -> None:
    if not 0 <= dbnum < ctx.ks.store.databases:
        raise CommandError(errors.DB_INDEX)


def _copy_record(ks: Keyspace, source: bytes, record: tuple[int, int, bytes],
                 target: Keyspace, key: bytes) -> None:
    """Write a looked-up value (with its TTL) under key in target, replacing what is there.

    RENAME, COPY and MOVE all go through here: the one place to teach about types whose
    elements live in records of their own (copied one by one: O(N), where Redis's RENAME
    and MOVE are O(1)).
    """
    if record[0] in STRING_KINDS:
        ss.copy_to(ss.from_record(ks, source, record), target, key)
    else:
        cs.copy_to(ks, cs.lookup(ks, source, record[0]), target, key)


# -- existence and deletion ---------------------------------------------------------------
@command("del", -2, "write", 1, -1, 1, group=_G, summary="Delete a key",
         complexity="O(N) where N is the number of keys that will be removed.")
@command("unlink", -2, "write fast", 1, -1, 1, group=_G, since="4.0.0",
         summary="Delete a key asynchronously in another thread. Otherwise it is just as DEL, "
                 "but non blocking.",
         complexity="O(1) for each key removed regardless of its size.")
def delete(ctx: Context, argv: list[bytes]) -> int:
    ks = ctx.ks
    deleted = 0
    for key in argv[1:]:
        if ks.delete(key):
            ctx.notify(GENERIC, b"del", key)
            deleted += 1
    return deleted


@command("exists", -2, "readonly fast no_touch", 1, -1, 1, group=_G,
         summary="Determine if a key exists",
         complexity="O(N) where N is the number of keys to check.")
@command("touch", -2, "readonly fast", 1, -1, 1, group=_G, since="3.2.1",
         summary="Alters the last access time of a key(s). Returns the number of existing keys "
                 "specified.",
         complexity="O(N) where N is the number of keys that will be touched.")
def exists(ctx: Context, argv: list[bytes]) -> int:
    """Counts a key once per time it is named, as Redis does (TOUCH has no LRU to update)."""
    ks = ctx.ks
    return sum(ks.exists(key) for key in argv[1:])


@command("type", 2, "readonly fast no_touch", 1, 1, 1, group=_G,
         summary="Determine the type stored at key")
def type_(ctx: Context, argv: list[bytes]) -> SimpleString:
    record = ctx.ks.lookup(argv[1])
    return SimpleString("none" if record is None else TYPE_NAMES[record[0]].decode())


# -- enumeration ----------------------------------------------------------------------------
def keys_under(ks: Keyspace, prefix: bytes, start: bytes = b"") -> Iterator[bytes]:
    """Live keys from start (inclusive) that begin with prefix, in byte order.

    The literal head of a glob bounds the walk, so ``KEYS user:*`` seeks instead of scanning.
    """
    for key in ks.iter_keys(max(start, prefix)):
        if not key.startswith(prefix):
            return
        yield key


def _matcher(pattern: bytes) -> Callable[[bytes], object] | None:
    """The glob as a match function, or None when it matches everything."""
    return None if pattern == b"*" else matcher(pattern)


@command("keys", 2, "readonly", group=_G, summary="Find all keys matching the given pattern",
         complexity="O(N) with N being the number of keys in the database, under the "
                    "assumption that the key names in the database and the given pattern "
                    "have limited length.")
def keys(ctx: Context, argv: list[bytes]) -> list[bytes]:
    pattern = argv[1]
    match = _matcher(pattern)
    candidates = keys_under(ctx.ks, literal_prefix(pattern))
    return list(candidates) if match is None else [key for key in candidates if match(key)]


_CURSOR = re.compile(rb"([+-]?)([0-9]+)")


def parse_scan_options(argv: list[bytes], start: int, with_type: bool
                       ) -> tuple[int, bytes, bytes | None]:
    """[MATCH pattern] [COUNT count] (and for SCAN [TYPE type]) -> (count, pattern, type)."""
    count, pattern, type_name = SCAN_DEFAULT_COUNT, b"*", None
    for i in range(start, len(argv), 2):
        option = argv[i].lower()
        if i + 1 >= len(argv):
            raise CommandError(errors.SYNTAX)
        if option == b"count":
            count = int_arg(argv[i + 1])
            if count < 1:
                raise CommandError(errors.SYNTAX)
        elif option == b"match":
            pattern = argv[i + 1]
        elif option == b"type" and with_type:
            type_name = argv[i + 1].lower()
        else:
            raise CommandError(errors.SYNTAX)
    return count, pattern, type_name


def _parse_cursor(raw: bytes) -> int:
    """Redis reads the cursor with strtoul: a sign is allowed, '-1' wraps, '' is 0."""
    if not raw:
        return 0
    found = _CURSOR.fullmatch(raw)
    digits = found[2].lstrip(b"0") if found else b""
    value = int(digits) if 0 < len(digits) <= 20 else 0
    if found is None or len(digits) > 20 or value > ULONG_MAX:
        raise CommandError(errors.INVALID_CURSOR)
    return (-value) & ULONG_MAX if found[1] == b"-" else value


def _cursor_for(cursors: dict[int, bytes], resume_key: bytes) -> int:
    """The cursor that resumes at resume_key, remembered in a bounded, oldest-first map.

    The id is a hash of the key: the same position gets the same cursor on every node and
    across restarts, so a stale cursor can only restart a scan, never skip keys (unless
    two resume keys collide in 53 bits). 53 bits, because clients that read the cursor as a
    double (node-redis 4 does, with Number()) would send back a different one above 2**53;
    Redis's own cursors stay below its table size.
    """
    digest = hashlib.blake2b(resume_key, digest_size=8).digest()
    cursor = (int.from_bytes(digest, "big") >> (64 - MAX_CURSOR_BITS)) or 1
    cursors.pop(cursor, None)
    while len(cursors) >= MAX_SCAN_CURSORS:
        del cursors[next(iter(cursors))]
    cursors[cursor] = resume_key
    return cursor


@command("scan", -2, "readonly", group=_G, since="2.8.0",
         summary="Incrementally iterate the keys space",
         complexity="O(1) for every call. O(N) for a complete iteration, including enough "
                    "command calls for the cursor to return back to 0. N is the number of "
                    "elements inside the collection.")
def scan(ctx: Context, argv: list[bytes]) -> list:
    """Walks keys in byte order; COUNT bounds the keys examined, as Redis bounds buckets."""
    cursor = _parse_cursor(argv[1])
    count, pattern, type_name = parse_scan_options(argv, 2, with_type=True)
    ks = ctx.ks
    cursors = ks.store.scan_cursors
    match = _matcher(pattern)
    found = []
    for examined, key in enumerate(keys_under(ks, literal_prefix(pattern),
                                               cursors.get(cursor, b"") if cursor else b"")):
        if examined == count:
            return [b"%d" % _cursor_for(cursors, key), found]
        if match is not None and not match(key):
            continue
        if type_name is not None:
            record = ks.lookup(key)  # None if a write removed it since the iterator saw it
            if record is None or TYPE_NAMES[record[0]] != type_name:
                continue
        found.append(key)
    return [b"0", found]


@command("randomkey", 1, "readonly", group=_G,
         summary="Return a random key from the keyspace")
def randomkey(ctx: Context, argv: list[bytes]) -> bytes | None:
    return ctx.ks.random_key(ctx.rng)


@command("dbsize", 1, "readonly fast", group="server",
         summary="Return the number of keys in the selected database")
def dbsize(ctx: Context, argv: list[bytes]) -> int:
    return ctx.ks.size()


# -- renaming and copying ---------------------------------------------------------------------
def _rename(ctx: Context, argv: list[bytes], only_if_new: bool) -> SimpleString | int:
    ks = ctx.ks
    source, target = argv[1], argv[2]
    record = ks.lookup(source)
    if record is None:
        raise CommandError(errors.NO_SUCH_KEY)
    if source == target:
        return 0 if only_if_new else OK
    if ks.exists(target):
        if only_if_new:
            return 0
        ks.delete(target)  # as Redis: the renamed key is then added anew (event "new")
    _copy_record(ks, source, record, ks, target)
    ks.delete(source)
    ctx.notify(GENERIC, b"rename_from", source)
    ctx.notify(GENERIC, b"rename_to", target)
    return 1 if only_if_new else OK


@command("rename", 3, "write", 1, 2, 1, group=_G, summary="Rename a key")
def rename(ctx: Context, argv: list[bytes]) -> SimpleString | int:
    return _rename(ctx, argv, only_if_new=False)


@command("renamenx", 3, "write fast", 1, 2, 1, group=_G,
         summary="Rename a key, only if the new key does not exist")
def renamenx(ctx: Context, argv: list[bytes]) -> SimpleString | int:
    return _rename(ctx, argv, only_if_new=True)


@command("copy", -3, "write denyoom touches_other_db", 1, 2, 1,
         group=_G, since="6.2.0", summary="Copy a key",
         complexity="O(N) worst case for collections, where N is the number of nested items. "
                    "O(1) for string values.")
def copy(ctx: Context, argv: list[bytes]) -> int:
    ks = ctx.ks
    target_db, replace = ks.dbnum, False
    i = 3
    while i < len(argv):
        option = argv[i].lower()
        if option == b"replace":
            replace = True
        elif option == b"db" and i + 1 < len(argv):
            target_db = db_index_arg(ctx, argv[i + 1])
            i += 1
        else:
            raise CommandError(errors.SYNTAX)
        i += 1
    source, target = argv[1], argv[2]
    if target_db == ks.dbnum and source == target:
        raise CommandError(errors.SAME_OBJECT)
    with ks.reads_counted():  # the source, as Redis reads it
        record = ks.lookup(source)
    if record is None:
        return 0
    target_ks = ctx.db(target_db)
    if not replace and target_ks.exists(target):
        return 0
    _copy_record(ks, source, record, target_ks, target)
    target_ks.notify(GENERIC, b"copy_to", target)
    return 1


@command("move", 3, "write fast touches_other_db", 1, 1, 1, group=_G,
         summary="Move a key to another database",
         parser=lambda argv: (argv[1], int32_arg(argv[2])))
def move(ctx: Context, args: tuple[bytes, int]) -> int:
    """The index's range (the node's `databases`) is checked here, next in Redis's order."""
    ks = ctx.ks
    key, target_db = args
    _check_db_range(ctx, target_db)
    if target_db == ks.dbnum:
        raise CommandError(errors.SAME_OBJECT)
    record = ks.lookup(key)
    target_ks = ctx.db(target_db)
    if record is None or target_ks.exists(key):
        return 0
    _copy_record(ks, key, record, target_ks, key)
    ks.delete(key)
    ctx.notify(GENERIC, b"move_from", key)
    target_ks.notify(GENERIC, b"move_to", key)
    return 1


# -- whole databases ------------------------------------------------------------------------------
def _flush_mode(argv: list[bytes]) -> bytes:
    """FLUSHDB/FLUSHALL take one optional ASYNC|SYNC (both mean the same here)."""
    if len(argv) > 2 or (len(argv) == 2 and argv[1].lower() not in (b"async", b"sync")):
        raise CommandError(errors.SYNTAX)
    return argv[1].lower() if len(argv) == 2 else b"sync"


@command("flushdb", -1, "write touches_dbs", group="server",
         summary="Remove all keys from the current database",
         complexity="O(N) where N is the number of keys in the selected database",
         parser=_flush_mode)
def flushdb(ctx: Context, _mode: bytes) -> SimpleString:
    ctx.ks.flush()
    return OK


@command("flushall", -1, "write touches_dbs", group="server",
         summary="Remove all keys from all databases",
         complexity="O(N) where N is the total number of keys in all databases",
         parser=_flush_mode)
def flushall(ctx: Context, _mode: bytes) -> SimpleString:
    for dbnum in range(ctx.ks.store.databases):
        ctx.db(dbnum).flush()
    return OK


@command("swapdb", 3, "write fast touches_dbs touches_other_db", group="server", since="4.0.0",
         summary="Swaps two Redis databases",
         complexity="O(N) where N is the count of clients watching or blocking on keys from "
                    "both databases.",
         parser=lambda argv: (int32_arg(argv[1], errors.INVALID_FIRST_DB),
                              int32_arg(argv[2], errors.INVALID_SECOND_DB)))
def swapdb(ctx: Context, args: tuple[int, int]) -> SimpleString:
    first, second = args
    _check_db_range(ctx, first)
    _check_db_range(ctx, second)
    if first != second:
        ctx.db(first).swap(second)
    return OK
