"""Hash commands: HSET HGET HDEL HINCRBY HGETALL HRANDFIELD HSCAN ...

One record per field (see collections_store). HKEYS, HVALS, HGETALL and HSCAN return fields
in byte order, where Redis uses insertion order (listpack) or hash-table order.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

from .. import collections_store as cs
from .. import errors
from ..errors import CommandError
from ..notify import HASH as HASH_EVENTS
from ..resp import LLONG_MAX, LLONG_MIN, OK, SimpleString, parse_int
from ..storage import HASH, Keyspace
from .args import int_arg, parse_long_double, to_long_double
from .scanning import random_fields, scan_collection
from .strings import format_long_double
from .table import Context, command

_G = "hash"
HASH_NOT_INTEGER = "ERR hash value is not an integer"
HASH_NOT_FLOAT = "ERR hash value is not a float"
NAN_OR_INF_VALUE = "ERR value is NaN or Infinity"


def _read(ks: Keyspace, key: bytes) -> cs.Meta | None:
    return cs.lookup(ks, key, HASH)


def _set_field(ks: Keyspace, meta: cs.Meta, field: bytes, value: bytes) -> bool:
    """Write one field; True if it is new. Tracks the encoding Redis would switch to."""
    full = meta.prefix + field
    old = cs.get(ks, full)
    added = old is None
    if added:
        meta.count += 1
    limits = ks.limits
    if (meta.count > limits.hash_max_listpack_entries or len(field) > limits.hash_max_listpack_value
            or len(value) > limits.hash_max_listpack_value):
        meta.mark_big()
    ks.txn.replace(full, value, old)
    return added


FieldValues = tuple[bytes, list[tuple[bytes, bytes]]]  # key, (field, value) pairs


def _field_values(name: str) -> Callable[[list[bytes]], FieldValues]:
    """HSET/HMSET key field value [field value ...]: a missing value is an arity error."""
    def parse(argv: list[bytes]) -> FieldValues:
        if len(argv) % 2:
            raise CommandError(errors.wrong_arity(name))
        return argv[1], list(zip(argv[2::2], argv[3::2], strict=True))
    return parse


def _hset(ctx: Context, args: FieldValues) -> int:
    key, pairs = args
    ks = ctx.ks
    meta = cs.lookup_or_create(ks, key, HASH)
    added = sum(_set_field(ks, meta, field, value) for field, value in pairs)
    cs.save_notifying(ks, key, meta, HASH_EVENTS, b"hset")
    return added


@command("hset", -4, "write denyoom fast", 1, 1, 1, group=_G, since="2.0.0",
         summary="Set the string value of a hash field",
         complexity="O(1) for each field/value pair added, so O(N) to add N field/value pairs "
                    "when the command is called with multiple field/value pairs.",
         parser=_field_values("hset"))
def hset(ctx: Context, args: FieldValues) -> int:
    return _hset(ctx, args)


@command("hmset", -4, "write denyoom fast", 1, 1, 1, group=_G, since="2.0.0",
         summary="Set multiple hash fields to multiple values",
         complexity="O(N) where N is the number of fields being set.",
         parser=_field_values("hmset"))
def hmset(ctx: Context, args: FieldValues) -> SimpleString:
    _hset(ctx, args)
    return OK


@command("hsetnx", 4, "write denyoom fast", 1, 1, 1, group=_G, since="2.0.0",
         summary="Set the value of a hash field, only if the field does not exist")
def hsetnx(ctx: Context, argv: list[bytes]) -> int:
    ks = ctx.ks
    meta = cs.lookup_or_create(ks, argv[1], HASH)
    if not meta.new and cs.get(ks, meta.prefix + argv[2]) is not None:
        return 0
    _set_field(ks, meta, argv[2], argv[3])
    cs.save_notifying(ks, argv[1], meta, HASH_EVENTS, b"hset")
    return 1


@command("hget", 3, "readonly fast", 1, 1, 1, group=_G, since="2.0.0",
         summary="Get the value of a hash field")
def hget(ctx: Context, argv: list[bytes]) -> bytes | None:
    meta = _read(ctx.ks, argv[1])
    return None if meta is None else cs.get(ctx.ks, meta.prefix + argv[2])


@command("hmget", -3, "readonly fast", 1, 1, 1, group=_G, since="2.0.0",
         summary="Get the values of all the given hash fields",
         complexity="O(N) where N is the number of fields being requested.")
def hmget(ctx: Context, argv: list[bytes]) -> list[bytes | None]:
    ks = ctx.ks
    meta = _read(ks, argv[1])
    if meta is None:
        return [None] * (len(argv) - 2)
    return [cs.get(ks, meta.prefix + field) for field in argv[2:]]


@command("hdel", -3, "write fast", 1, 1, 1, group=_G, since="2.0.0",
         summary="Delete one or more hash fields",
         complexity="O(N) where N is the number of fields to be removed.")
def hdel(ctx: Context, argv: list[bytes]) -> int:
    ks = ctx.ks
    meta = _read(ks, argv[1])
    if meta is None:
        return 0
    removed = 0
    for field in argv[2:]:
        full = meta.prefix + field
        if cs.get(ks, full) is not None:
            ks.txn.delete(full)
            removed += 1
    if removed:
        meta.count -= removed
        cs.save_notifying(ks, argv[1], meta, HASH_EVENTS, b"hdel")
    return removed


@command("hlen", 2, "readonly fast", 1, 1, 1, group=_G, since="2.0.0",
         summary="Get the number of fields in a hash")
def hlen(ctx: Context, argv: list[bytes]) -> int:
    meta = _read(ctx.ks, argv[1])
    return 0 if meta is None else meta.count


@command("hstrlen", 3, "readonly fast", 1, 1, 1, group=_G, since="3.2.0",
         summary="Get the length of the value of a hash field")
def hstrlen(ctx: Context, argv: list[bytes]) -> int:
    value = hget(ctx, argv)
    return 0 if value is None else len(value)


@command("hexists", 3, "readonly fast", 1, 1, 1, group=_G, since="2.0.0",
         summary="Determine if a hash field exists")
def hexists(ctx: Context, argv: list[bytes]) -> int:
    return int(hget(ctx, argv) is not None)


def _fields(ctx: Context, key: bytes) -> list[tuple[bytes, bytes]]:
    meta = _read(ctx.ks, key)
    return [] if meta is None else list(cs.iter_elements(meta, ctx.ks))


@command("hkeys", 2, "readonly", 1, 1, 1, group=_G, since="2.0.0",
         summary="Get all the fields in a hash",
         complexity="O(N) where N is the size of the hash.")
def hkeys(ctx: Context, argv: list[bytes]) -> list[bytes]:
    return [field for field, _ in _fields(ctx, argv[1])]


@command("hvals", 2, "readonly", 1, 1, 1, group=_G, since="2.0.0",
         summary="Get all the values in a hash",
         complexity="O(N) where N is the size of the hash.")
def hvals(ctx: Context, argv: list[bytes]) -> list[bytes]:
    return [value for _, value in _fields(ctx, argv[1])]


@command("hgetall", 2, "readonly", 1, 1, 1, group=_G, since="2.0.0",
         summary="Get all the fields and values in a hash",
         complexity="O(N) where N is the size of the hash.")
def hgetall(ctx: Context, argv: list[bytes]) -> dict[bytes, bytes]:
    return dict(_fields(ctx, argv[1]))


@command("hincrby", 4, "write denyoom fast", 1, 1, 1, group=_G, since="2.0.0",
         summary="Increment the integer value of a hash field by the given number",
         parser=lambda argv: (argv[1], argv[2], int_arg(argv[3])))
def hincrby(ctx: Context, args: tuple[bytes, bytes, int]) -> int:
    key, field, delta = args
    ks = ctx.ks
    meta = cs.lookup_or_create(ks, key, HASH)
    current = None if meta.new else cs.get(ks, meta.prefix + field)
    value = 0
    if current is not None:
        value = parse_int(current)
        if value is None:
            raise CommandError(HASH_NOT_INTEGER)
    result = value + delta
    if not LLONG_MIN <= result <= LLONG_MAX:
        raise CommandError(errors.OVERFLOW)
    _set_field(ks, meta, field, b"%d" % result)
    cs.save_notifying(ks, key, meta, HASH_EVENTS, b"hincrby")
    return result


@command("hincrbyfloat", 4, "write denyoom fast", 1, 1, 1, group=_G, since="2.6.0",
         summary="Increment the float value of a hash field by the given amount",
         parser=lambda argv: (argv[1], argv[2], _increment_arg(argv[3])))
def hincrbyfloat(ctx: Context, args: tuple[bytes, bytes, Fraction]) -> bytes:
    """Long double arithmetic and formatting, as INCRBYFLOAT (strings.py) does it."""
    key, field, increment = args
    ks = ctx.ks
    meta = cs.lookup_or_create(ks, key, HASH)
    current = None if meta.new else cs.get(ks, meta.prefix + field)
    base = parse_long_double(current) if current is not None else 0
    if base is None:
        raise CommandError(HASH_NOT_FLOAT)
    total = None if isinstance(base, float) else to_long_double(base + increment)
    if total is None:
        raise CommandError(errors.NAN_OR_INF)
    text = format_long_double(total)
    _set_field(ks, meta, field, text)
    cs.save_notifying(ks, key, meta, HASH_EVENTS, b"hincrbyfloat")
    return text


def _increment_arg(raw: bytes) -> Fraction:
    """HINCRBYFLOAT's increment: a finite long double, checked before the hash is read."""
    increment = parse_long_double(raw)
    if increment is None:
        raise CommandError(errors.NOT_FLOAT)
    if isinstance(increment, float):
        raise CommandError(NAN_OR_INF_VALUE)
    return increment


@command("hrandfield", -2, "readonly", 1, 1, 1, group=_G, since="6.2.0",
         summary="Get one or multiple random fields from a hash",
         complexity="O(N) where N is the number of fields returned")
def hrandfield(ctx: Context, argv: list[bytes]) -> object:
    return random_fields(ctx, argv, _read, b"withvalues")


@command("hscan", -3, "readonly", 1, 1, 1, group=_G, since="2.8.0",
         summary="Incrementally iterate hash fields and associated values",
         complexity="O(1) for every call. O(N) for a complete iteration, including enough "
                    "command calls for the cursor to return back to 0. N is the number of "
                    "elements inside the collection..")
def hscan(ctx: Context, argv: list[bytes]) -> list:
    return scan_collection(ctx, argv, HASH, reply=lambda field, value: [field, value])
