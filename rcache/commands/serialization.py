"""DUMP and RESTORE: values in Redis's own serialization (rcache/rdb.py), so that a value
dumped by redis-server restores here and the other way round.

RESTORE is a replicated write parsed in apply: the payload is data of the entry, so every
node decodes the same value, and a relative TTL counts from the entry's clock.
"""

from __future__ import annotations

from .. import collections_store as cs
from .. import errors, rdb
from ..encodings import EncodingLimits
from ..errors import CommandError
from ..resp import OK, SimpleString
from ..storage import HASH, LIST, SET, STRING, TYPE_NAMES, ZSET, Keyspace
from .keyspace import int_arg
from .table import Context, command

_G = "generic"
BUSYKEY = "BUSYKEY Target key name already exists."
BAD_TTL = "ERR Invalid TTL value, must be >= 0"
BAD_IDLETIME = "ERR Invalid IDLETIME value, must be >= 0"
BAD_FREQ = "ERR Invalid FREQ value, must be >= 0 and <= 255"
BAD_PAYLOAD = "ERR DUMP payload version or checksum are wrong"
BAD_FORMAT = "ERR Bad data format"
_KIND_BY_NAME = {name.decode(): kind for kind, name in TYPE_NAMES.items()}


def read_value(ks: Keyspace, key: bytes) -> tuple[str, object] | None:
    """The live value at key as rdb's (kind, data), or None."""
    record = ks.lookup(key)
    if record is None:
        return None
    kind = TYPE_NAMES[record[0]].decode()
    if record[0] == STRING:
        return kind, record[2]
    meta = cs.lookup_any(ks, key)
    if record[0] == ZSET:
        return kind, list(cs.iter_zset(ks, meta))
    elements = cs.iter_elements(meta, ks)
    if record[0] == HASH:
        return kind, list(elements)
    return kind, [value if record[0] == LIST else member for member, value in elements]


def _is_big(limits: EncodingLimits, kind: int, data: list) -> bool:
    """Would Redis 7.0 hold this freshly loaded value in its big encoding (OBJECT ENCODING)?"""
    if kind == SET:
        return (len(data) > limits.set_max_intset_entries
                or not all(cs.is_intset_member(member) for member in data))
    if kind == HASH:
        longest = limits.hash_max_listpack_value
        return (len(data) > limits.hash_max_listpack_entries
                or any(len(f) > longest or len(v) > longest for f, v in data))
    if kind == ZSET:
        return (len(data) > limits.zset_max_listpack_entries
                or any(len(member) > limits.zset_max_listpack_value for member, _ in data))
    return False


def write_value(ks: Keyspace, key: bytes, kind_name: str, data, expire_at: int) -> None:
    """Store a decoded value under key (which must not exist), with its absolute expiry."""
    kind = _KIND_BY_NAME[kind_name]
    if kind == STRING:
        ks.put(key, STRING, data, expire_at)
        return
    meta = cs.create(ks, key, kind)
    meta.count, meta.expire_at = len(data), expire_at
    if _is_big(ks.limits, kind, data):
        meta.mark_big()
    cs.save(ks, key, meta)
    if kind == LIST:
        for i, value in enumerate(data):
            cs.put(ks, meta, cs.list_index(meta.head + i), value)
    elif kind == SET:
        for member in data:
            cs.put(ks, meta, member, b"")
    elif kind == HASH:
        for field, value in data:
            cs.put(ks, meta, field, value)
    else:
        for member, score in data:
            cs.zset_put(ks, meta, member, score, None)


@command("dump", 2, "readonly", 1, 1, 1, group=_G, since="2.6.0",
         summary="Return a serialized version of the value stored at the specified key.",
         complexity="O(1) to access the key and additional O(N*M) to serialize it, where N is "
                    "the number of Redis objects composing the value and M their average size. "
                    "For small string values the time complexity is thus O(1)+O(1*M) where M "
                    "is small, so simply O(1).")
def dump(ctx: Context, argv: list[bytes]) -> bytes | None:
    value = read_value(ctx.ks, argv[1])
    return None if value is None else rdb.dump(*value)


def _parse_restore_options(argv: list[bytes]) -> tuple[bool, bool]:
    """-> (replace, absttl); IDLETIME and FREQ are validated as Redis does, then ignored
    (rcache evicts nothing, so it keeps no access clock)."""
    replace = absttl = False
    idletime = freq = False
    i = 4
    while i < len(argv):
        option = argv[i].lower()
        more = i + 1 < len(argv)
        if option == b"replace":
            replace = True
        elif option == b"absttl":
            absttl = True
        elif option == b"idletime" and more and not freq:
            if int_arg(argv[i + 1]) < 0:
                raise CommandError(BAD_IDLETIME)
            idletime = True
            i += 1
        elif option == b"freq" and more and not idletime:
            if not 0 <= int_arg(argv[i + 1]) <= 255:
                raise CommandError(BAD_FREQ)
            freq = True
            i += 1
        else:
            raise CommandError(errors.SYNTAX)
        i += 1
    return replace, absttl


@command("restore", -4, "write denyoom", 1, 1, 1, group=_G, since="2.6.0",
         summary="Create a key using the provided serialized value, previously obtained using "
                 "DUMP.",
         complexity="O(1) to create the new key and additional O(N*M) to reconstruct the "
                    "serialized value, where N is the number of Redis objects composing the "
                    "value and M their average size. For small string values the time "
                    "complexity is thus O(1)+O(1*M) where M is small, so simply O(1). However "
                    "for sorted set values the complexity is O(N*M*log(N)) because inserting "
                    "values into sorted sets is O(log(N)).")
def restore(ctx: Context, argv: list[bytes]) -> SimpleString:
    """Redis's restoreCommand, checks in its order: options, BUSYKEY, TTL, checksum, format."""
    replace, absttl = _parse_restore_options(argv)
    ks = ctx.ks
    key = argv[1]
    if not replace and ks.exists(key):
        raise CommandError(BUSYKEY)
    ttl = int_arg(argv[2])
    if ttl < 0:
        raise CommandError(BAD_TTL)
    payload = argv[3]
    try:
        rdb.verify(payload)
    except rdb.ChecksumError:
        raise CommandError(BAD_PAYLOAD) from None
    try:
        kind, data = rdb.load(payload)
    except rdb.FormatError:
        raise CommandError(BAD_FORMAT) from None
    if replace:
        ks.delete(key)
    expire_at = ttl if absttl or not ttl else ttl + ctx.now_ms
    if expire_at and expire_at <= ctx.now_ms:
        return OK  # already expired: Redis creates nothing (and REPLACE has deleted)
    write_value(ks, key, kind, data, expire_at)
    return OK
