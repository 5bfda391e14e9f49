"""String commands: GET SET (and its variants) MGET MSET APPEND INCR* GETRANGE SETRANGE ...

Write handlers run inside the state machine: relative expiries are turned into absolute
times with ``ctx.now_ms``, the leader's clock stamped on the entry, so every node stores
the same deadline. Commands that rewrite a value (APPEND, INCR...) keep its TTL, as Redis's
dbOverwrite does; SET-like commands drop it unless told otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from .. import errors
from .. import strings_store as ss
from ..errors import CommandError
from ..notify import GENERIC, STRING
from ..resp import LLONG_MAX, LLONG_MIN, OK, SimpleString
from ..storage import STRING_KINDS, Keyspace
from .args import int_arg, parse_long_double, to_long_double
from .table import Context, command

_G = "string"

# SET/GETEX expiry options -> (milliseconds per unit, relative to now?)
_EXPIRY_UNITS = {b"EX": (1000, True), b"PX": (1, True), b"EXAT": (1000, False),
                 b"PXAT": (1, False)}


def _number_text(ks: Keyspace, key: bytes, error: str) -> tuple[bytes | None, int]:
    """(value, expire_at) of a string INCR* can read (None if missing); a fragmented value is
    longer than any number, so it fails with error without being read."""
    current = ss.lookup(ks, key)
    if current is None:
        return None, 0
    if current.inline is None:
        raise CommandError(error)
    return current.inline, current.expire_at


def max_bulk_len(ctx: Context) -> int:
    """proto-max-bulk-len, which bounds the strings commands grow: applying an entry, the
    leader's when it proposed it (the entry carries it); serving a read, this node's."""
    if ctx.server is not None:
        return ctx.server.config.proto_max_bulk_len
    return ctx.ks.limits.proto_max_bulk_len


def _check_length(ctx: Context, length: int) -> None:
    if length > max_bulk_len(ctx):
        raise CommandError(errors.STRING_TOO_LONG)


# -- SET and its options (shared by SET, SETNX, SETEX, PSETEX, GETEX) --------------------------
@dataclass(slots=True)
class StringOptions:
    """Options of SET and GETEX, as Redis 7.0's parseExtendedStringArgumentsOrReply reads them."""

    nx: bool = False
    xx: bool = False
    get: bool = False
    keepttl: bool = False
    persist: bool = False
    expiry: bytes | None = None  # b"EX", b"PX", b"EXAT" or b"PXAT"
    expiry_arg: bytes = b""

    def deadline(self, now_ms: int, command_name: str) -> int | None:
        """Absolute expiry in ms, None without an expiry option (getExpireMillisecondsOrReply).

        Zero, negative and overflowing times are refused; a past EXAT/PXAT is accepted.
        """
        if self.expiry is None:
            return None
        unit, relative = _EXPIRY_UNITS[self.expiry]
        when = int_arg(self.expiry_arg)
        if when <= 0 or when > LLONG_MAX // unit:
            raise CommandError(errors.invalid_expire(command_name))
        when = when * unit + (now_ms if relative else 0)
        if when > LLONG_MAX:
            raise CommandError(errors.invalid_expire(command_name))
        return when

    def check_expiry(self, command_name: str) -> None:
        """The checks of deadline() that do not depend on the clock (a parser's part)."""
        self.deadline(0, command_name)


def parse_string_options(argv: list[bytes], start: int, *, for_set: bool) -> StringOptions:
    """SET accepts NX XX GET KEEPTTL and one expiry; GETEX accepts PERSIST or one expiry.

    Repeating an option is allowed (the last expiry value wins); combining exclusive ones
    (NX XX, two different expiries, KEEPTTL or PERSIST with an expiry) is a syntax error.
    """
    opts = StringOptions()
    i = start
    while i < len(argv):
        word = argv[i].upper()
        if for_set and word == b"NX" and not opts.xx:
            opts.nx = True
        elif for_set and word == b"XX" and not opts.nx:
            opts.xx = True
        elif for_set and word == b"GET":
            opts.get = True
        elif for_set and word == b"KEEPTTL" and opts.expiry is None:
            opts.keepttl = True
        elif not for_set and word == b"PERSIST" and opts.expiry is None:
            opts.persist = True
        elif (word in _EXPIRY_UNITS and i + 1 < len(argv) and opts.expiry in (None, word)
              and not opts.keepttl and not opts.persist):
            opts.expiry, opts.expiry_arg = word, argv[i + 1]
            i += 1
        else:
            raise CommandError(errors.SYNTAX)
        i += 1
    return opts


def _set(ctx: Context, key: bytes, value: bytes, opts: StringOptions, command_name: str,
         done: object = OK, skipped: object = None) -> object:
    """Redis's setGenericCommand: validate everything, then write (or not, for NX/XX).

    With GET the reply is the old value whether or not the write happened.
    """
    ks = ctx.ks
    expire_at = opts.deadline(ctx.now_ms, command_name) or 0
    with ks.reads_counted(opts.get):  # GET reads the old value as Redis's GET does
        record = ks.lookup(key)
    old = None
    if opts.get and record is not None:
        old = ss.value_of(ks, key, record)  # WRONGTYPE for other types
    if (opts.nx and record is not None) or (opts.xx and record is None):
        return old if opts.get else skipped
    if opts.keepttl and record is not None:
        expire_at = record[1]
    # An EXAT/PXAT already past stores a key that is expired at once, as Redis 7.0 does (it
    # stays counted by DBSIZE until active expiry removes it).
    ss.store(ks, key, value, expire_at)
    ctx.notify(STRING, b"set", key)
    if opts.expiry is not None:
        ctx.notify(GENERIC, b"expire", key)
    return old if opts.get else done


SetArgs = tuple[bytes, bytes, StringOptions | None]  # key, value, options (None: none given)


def _parse_set(argv: list[bytes]) -> SetArgs:
    """setCommand: the options, then the expiry value, before the key is looked at."""
    if len(argv) == 3:
        return argv[1], argv[2], None
    opts = parse_string_options(argv, 3, for_set=True)
    opts.check_expiry("set")
    return argv[1], argv[2], opts


def _expiring_set(unit: bytes, command_name: str) -> Callable[[list[bytes]], SetArgs]:
    """SETEX/PSETEX key time value: SET with one expiry option."""
    def parse(argv: list[bytes]) -> SetArgs:
        opts = StringOptions(expiry=unit, expiry_arg=argv[2])
        opts.check_expiry(command_name)
        return argv[1], argv[3], opts
    return parse


@command("set", -3, "write denyoom", 1, 1, 1, group=_G, summary="Set the string value of a key",
         parser=_parse_set)
def set_(ctx: Context, args: SetArgs) -> object:
    key, value, opts = args
    if opts is None:
        return set_plain(ctx.ks, key, value)
    return _set(ctx, key, value, opts, "set")


def set_plain(ks: Keyspace, key: bytes, value: bytes) -> SimpleString:
    """SET key value, no options: needs no Context, so the state machine runs an entry's
    plain SETs without one (``StateMachine._set_plain``)."""
    ss.store(ks, key, value)
    ks.notify(STRING, b"set", key)
    return OK


@command("setnx", 3, "write denyoom fast", 1, 1, 1, group=_G,
         summary="Set the value of a key, only if the key does not exist")
def setnx(ctx: Context, argv: list[bytes]) -> object:
    return _set(ctx, argv[1], argv[2], StringOptions(nx=True), "setnx", done=1, skipped=0)


@command("setex", 4, "write denyoom", 1, 1, 1, group=_G, since="2.0.0",
         summary="Set the value and expiration of a key", parser=_expiring_set(b"EX", "setex"))
def setex(ctx: Context, args: SetArgs) -> object:
    return _set(ctx, *args, "setex")


@command("psetex", 4, "write denyoom", 1, 1, 1, group=_G, since="2.6.0",
         summary="Set the value and expiration in milliseconds of a key",
         parser=_expiring_set(b"PX", "psetex"))
def psetex(ctx: Context, args: SetArgs) -> object:
    return _set(ctx, *args, "psetex")


@command("mset", -3, "write denyoom", 1, -1, 2, group=_G, since="1.0.1",
         summary="Set multiple keys to multiple values",
         complexity="O(N) where N is the number of keys to set.",
         parser=lambda argv: _pairs(argv, "mset"))
def mset(ctx: Context, pairs: list[tuple[bytes, bytes]]) -> SimpleString:
    ks = ctx.ks
    for key, value in pairs:
        ss.store(ks, key, value)
        ctx.notify(STRING, b"set", key)
    return OK


@command("msetnx", -3, "write denyoom", 1, -1, 2, group=_G, since="1.0.1",
         summary="Set multiple keys to multiple values, only if none of the keys exist",
         complexity="O(N) where N is the number of keys to set.",
         parser=lambda argv: _pairs(argv, "msetnx"))
def msetnx(ctx: Context, pairs: list[tuple[bytes, bytes]]) -> int:
    ks = ctx.ks
    if any(ks.exists(key) for key, _ in pairs):
        return 0
    for key, value in pairs:
        ss.store(ks, key, value)
        ctx.notify(STRING, b"set", key)
    return 1


def _pairs(argv: list[bytes], command_name: str) -> list[tuple[bytes, bytes]]:
    if len(argv) % 2 == 0:
        raise CommandError(errors.wrong_arity(command_name))
    return list(zip(argv[1::2], argv[2::2], strict=True))


# -- reading ----------------------------------------------------------------------------------
@command("get", 2, "readonly fast", 1, 1, 1, group=_G, summary="Get the value of a key")
def get(ctx: Context, argv: list[bytes]) -> bytes | None:
    return ss.get_value(ctx.ks, argv[1])


@command("mget", -2, "readonly fast", 1, -1, 1, group=_G,
         summary="Get the values of all the given keys",
         complexity="O(N) where N is the number of keys to retrieve.")
def mget(ctx: Context, argv: list[bytes]) -> list[bytes | None]:
    """Keys of other types read as nil, not as an error."""
    ks = ctx.ks
    values = []
    for key in argv[1:]:
        record = ks.lookup(key)
        is_string = record is not None and record[0] in STRING_KINDS
        values.append(ss.value_of(ks, key, record) if is_string else None)
    return values


@command("strlen", 2, "readonly fast", 1, 1, 1, group=_G, since="2.2.0",
         summary="Get the length of the value stored in a key")
def strlen(ctx: Context, argv: list[bytes]) -> int:
    current = ss.lookup(ctx.ks, argv[1])
    return 0 if current is None else current.length


@command("getrange", 4, "readonly", 1, 1, 1, group=_G, since="2.4.0",
         summary="Get a substring of the string stored at a key",
         complexity="O(N) where N is the length of the returned string.")
@command("substr", 4, "readonly", 1, 1, 1, group=_G,
         summary="Get a substring of the string stored at a key",
         complexity="O(N) where N is the length of the returned string.")
def getrange(ctx: Context, argv: list[bytes]) -> bytes:
    start, end = int_arg(argv[2]), int_arg(argv[3])
    current = ss.lookup(ctx.ks, argv[1])
    if current is None or not current.length or (start < 0 and end < 0 and start > end):
        return b""
    size = current.length
    start = max(start + size if start < 0 else start, 0)
    end = min(max(end + size if end < 0 else end, 0), size - 1)
    return current.read(start, end + 1)


# -- read and write -----------------------------------------------------------------------
@command("getset", 3, "write denyoom fast", 1, 1, 1, group=_G,
         summary="Set the string value of a key and return its old value")
def getset(ctx: Context, argv: list[bytes]) -> bytes | None:
    with ctx.ks.reads_counted():  # a read, in INFO's keyspace_hits/misses, as in Redis
        old = ss.get_value(ctx.ks, argv[1])
    ss.store(ctx.ks, argv[1], argv[2])
    ctx.notify(STRING, b"set", argv[1])
    return old


@command("getdel", 2, "write fast", 1, 1, 1, group=_G, since="6.2.0",
         summary="Get the value of a key and delete the key")
def getdel(ctx: Context, argv: list[bytes]) -> bytes | None:
    with ctx.ks.reads_counted():
        value = ss.get_value(ctx.ks, argv[1])
    if value is not None:
        ctx.ks.delete(argv[1])
        ctx.notify(GENERIC, b"del", argv[1])
    return value


def _parse_getex(argv: list[bytes]) -> tuple[bytes, StringOptions]:
    """The options' syntax only: Redis validates the expiry value after the key lookup."""
    return argv[1], parse_string_options(argv, 2, for_set=False)


@command("getex", -2, "write fast", 1, 1, 1, group=_G, since="6.2.0",
         summary="Get the value of a key and optionally set its expiration", parser=_parse_getex)
def getex(ctx: Context, args: tuple[bytes, StringOptions]) -> bytes | None:
    """A missing key answers nil before the expiry value is even validated, as in Redis."""
    ks = ctx.ks
    key, opts = args
    with ks.reads_counted():
        current = ss.lookup(ks, key)
    if current is None:
        return None
    value = current.read()
    deadline = opts.deadline(ctx.now_ms, "getex")
    if deadline is not None:
        ks.set_expiry(key, deadline)  # deletes the key if EXAT/PXAT is already past
        ctx.notify(GENERIC, b"expire" if deadline > ctx.now_ms else b"del", key)
    elif opts.persist and current.expire_at:
        ks.set_expiry(key, 0)
        ctx.notify(GENERIC, b"persist", key)
    return value


@command("append", 3, "write denyoom fast", 1, 1, 1, group=_G, since="2.0.0",
         summary="Append a value to a key")
def append(ctx: Context, argv: list[bytes]) -> int:
    editor = ss.edit(ctx.ks, argv[1])
    suffix = argv[2]
    _check_length(ctx, editor.length + len(suffix))
    editor.write(editor.length, suffix)
    editor.save()
    ctx.notify(STRING, b"append", argv[1])
    return editor.length


@command("setrange", 4, "write denyoom", 1, 1, 1, group=_G, since="2.2.0",
         summary="Overwrite part of a string at key starting at the specified offset",
         complexity="O(1), not counting the time taken to copy the new string in place.",
         parser=lambda argv: (argv[1], _offset_arg(argv[2]), argv[3]))
def setrange(ctx: Context, args: tuple[bytes, int, bytes]) -> int:
    key, offset, patch = args
    editor = ss.edit(ctx.ks, key)
    if not patch:  # nothing to write: never creates the key
        return editor.length
    _check_length(ctx, offset + len(patch))
    editor.write(offset, patch)
    editor.save()
    ctx.notify(STRING, b"setrange", key)
    return editor.length


def _offset_arg(raw: bytes) -> int:
    offset = int_arg(raw)
    if offset < 0:
        raise CommandError(errors.OFFSET_RANGE)
    return offset


# -- counters ---------------------------------------------------------------------------------
def _incr_by(ctx: Context, key: bytes, delta: int) -> int:
    text, expire_at = _number_text(ctx.ks, key, errors.NOT_INTEGER)
    result = (0 if text is None else int_arg(text)) + delta
    if not LLONG_MIN <= result <= LLONG_MAX:
        raise CommandError(errors.OVERFLOW)
    ss.store(ctx.ks, key, b"%d" % result, expire_at)
    ctx.notify(STRING, b"incrby", key)
    return result


@command("incr", 2, "write denyoom fast", 1, 1, 1, group=_G,
         summary="Increment the integer value of a key by one")
def incr(ctx: Context, argv: list[bytes]) -> int:
    return _incr_by(ctx, argv[1], 1)


@command("decr", 2, "write denyoom fast", 1, 1, 1, group=_G,
         summary="Decrement the integer value of a key by one")
def decr(ctx: Context, argv: list[bytes]) -> int:
    return _incr_by(ctx, argv[1], -1)


@command("incrby", 3, "write denyoom fast", 1, 1, 1, group=_G,
         summary="Increment the integer value of a key by the given amount",
         parser=lambda argv: (argv[1], int_arg(argv[2])))
def incrby(ctx: Context, args: tuple[bytes, int]) -> int:
    return _incr_by(ctx, *args)


@command("decrby", 3, "write denyoom fast", 1, 1, 1, group=_G,
         summary="Decrement the integer value of a key by the given number",
         parser=lambda argv: (argv[1], _decrement_arg(argv[2])))
def decrby(ctx: Context, args: tuple[bytes, int]) -> int:
    return _incr_by(ctx, *args)


def _decrement_arg(raw: bytes) -> int:
    """DECRBY's decrement, as the delta to add (its negation must fit too)."""
    delta = int_arg(raw)
    if delta == LLONG_MIN:
        raise CommandError(errors.DECREMENT_OVERFLOW)
    return -delta


@command("incrbyfloat", 3, "write denyoom fast", 1, 1, 1, group=_G, since="2.6.0",
         summary="Increment the float value of a key by the given amount")
def incrbyfloat(ctx: Context, argv: list[bytes]) -> bytes:
    key = argv[1]
    value, expire_at = _number_text(ctx.ks, key, errors.NOT_FLOAT)
    base = parse_long_double(b"0" if value is None else value)
    increment = parse_long_double(argv[2])
    if base is None or increment is None:
        raise CommandError(errors.NOT_FLOAT)
    infinite = isinstance(base, float) or isinstance(increment, float)
    total = None if infinite else to_long_double(base + increment)
    if total is None:
        raise CommandError(errors.NAN_OR_INF)
    text = format_long_double(total)
    ss.store(ctx.ks, key, text, expire_at)
    ctx.notify(STRING, b"incrbyfloat", key)
    return text


def format_long_double(value: Fraction) -> bytes:
    """ld2string(LD_STR_HUMAN): "%.17Lf" (exact digits, ties to even), trailing zeros and a
    bare point stripped, "-0" shown as "0"."""
    scaled = round(value * 10**17)
    # Decimal, not str(): the integer part can exceed Python's 4300-digit str() limit.
    digits = format(Decimal(abs(scaled)), "f").rjust(18, "0")
    text = (digits[:-17] + "." + digits[-17:]).rstrip("0").rstrip(".")
    return ("-" + text if scaled < 0 else text).encode()
