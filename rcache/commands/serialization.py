"""DUMP, RESTORE and MIGRATE: values in Redis's own serialization (rcache/rdb.py), so that a
value dumped by redis-server restores here and the other way round.

RESTORE is a replicated write parsed in apply: the payload is data of the entry, so every
node decodes the same value, and a relative TTL counts from the entry's clock.
"""

from __future__ import annotations

import asyncio
import itertools

import hiredis

from .. import collections_store as cs
from .. import errors, rdb, streams_store
from .. import strings_store as ss
from ..encodings import EncodingLimits
from ..entries import COMMAND
from ..errors import CommandError
from ..notify import GENERIC
from ..resp import OK, SimpleString, encode_command, parse_int
from ..storage import (
    BIG_STRING,
    HASH,
    LIST,
    SET,
    STREAM,
    STRING,
    STRING_KINDS,
    TYPE_NAMES,
    ZSET,
    Keyspace,
)
from .args import int_arg
from .table import COMMANDS, Context, command

_G = "generic"
BUSYKEY = "BUSYKEY Target key name already exists."
BAD_TTL = "ERR Invalid TTL value, must be >= 0"
BAD_IDLETIME = "ERR Invalid IDLETIME value, must be >= 0"
BAD_FREQ = "ERR Invalid FREQ value, must be >= 0 and <= 255"
BAD_PAYLOAD = "ERR DUMP payload version or checksum are wrong"
BAD_FORMAT = "ERR Bad data format"
_KIND_BY_NAME = {name.decode(): kind for kind, name in TYPE_NAMES.items()
                 if kind not in (BIG_STRING, STREAM)}


def read_value(ks: Keyspace, key: bytes) -> tuple[str, object] | None:
    """The live value at key as rdb's (kind, data), or None."""
    record = ks.lookup(key)
    if record is None:
        return None
    if record[0] == STREAM:
        return rdb.STREAM, _stream_value(streams_store.lookup(ks, key))
    kind = TYPE_NAMES[record[0]].decode()
    if record[0] in STRING_KINDS:
        return kind, ss.value_of(ks, key, record)
    meta = cs.lookup_any(ks, key)
    if record[0] == ZSET:
        return kind, list(cs.iter_zset(ks, meta))
    records, cut = cs.element_records(meta, ks), len(meta.prefix)
    if record[0] == HASH:
        return kind, [(full[cut:], value) for full, value in records]
    if record[0] == LIST:
        return kind, [value for _, value in records]
    return kind, [full[cut:] for full, _ in records]


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


def _stream_value(stream: streams_store.Stream) -> rdb.StreamValue:
    groups = [rdb.StreamGroup(
        group.name, group.last_id, group.entries_read,
        [(entry.id, entry.delivery_time, entry.deliveries)
         for entry in stream.pending_entries(group)],
        [(consumer.name, consumer.seen_time,
          list(stream.consumer_pending_ids(group, consumer.name)))
         for consumer in stream.consumers(group)]) for group in stream.groups()]
    nodes = [rdb.StreamNode(node.master_id, node.last_id, node.live, node.deleted, node.size,
                            node.master_fields) for node in stream.head_nodes()]
    return rdb.StreamValue(list(stream.entries()), nodes, stream.last_id, stream.first_id,
                           stream.max_deleted_id, stream.entries_added, groups)


def _write_stream(ks: Keyspace, key: bytes, value: rdb.StreamValue, expire_at: int) -> None:
    stream = streams_store.create(ks, key)
    stream.load([streams_store.Node(node.master_id, node.last_id, node.live, node.deleted,
                                    node.size, node.master_fields) for node in value.nodes],
                value.entries)
    stream.last_id, stream.first_id = value.last_id, value.first_id
    stream.max_deleted_id, stream.entries_added = value.max_deleted_id, value.entries_added
    stream.meta.expire_at = expire_at
    stream.save()
    for loaded in value.groups:
        reads = loaded.entries_read
        if reads is None:
            reads = stream.estimate_reads(loaded.last_id)
        group = streams_store.Group(loaded.name, loaded.last_id, reads)
        deliveries = {entry_id: (time_ms, count) for entry_id, time_ms, count in loaded.pending}
        for name, seen_time, ids in loaded.consumers:
            consumer = streams_store.Consumer(name, seen_time)
            group.consumers += 1
            stream.load_pending(group, consumer, [
                streams_store.Pending(entry_id, *deliveries[entry_id], name) for entry_id in ids])
        stream.save_group(group)


def write_value(ks: Keyspace, key: bytes, kind_name: str, data, expire_at: int) -> None:
    """Store a decoded value under key (which must not exist), with its absolute expiry."""
    if kind_name == rdb.STREAM:
        _write_stream(ks, key, data, expire_at)
        return
    kind = _KIND_BY_NAME[kind_name]
    if kind == STRING:
        ss.store(ks, key, data, expire_at)
        return
    meta = cs.create(ks, key, kind)
    meta.count, meta.expire_at = len(data), expire_at
    if _is_big(ks.limits, kind, data):
        meta.mark_big()
    cs.save(ks, key, meta)
    # a new version's records: none exists (rdb.load refused duplicates), inserts read nothing
    if kind == LIST:
        cs.insert_all(ks, meta, ((cs.list_index(meta.head + i), value)
                                 for i, value in enumerate(data)))
    elif kind == SET:
        cs.insert_all(ks, meta, ((member, b"") for member in data))
    elif kind == HASH:
        cs.insert_all(ks, meta, data)
    else:
        cs.insert_all(ks, meta, itertools.chain.from_iterable(
            cs.zset_records(meta, member, score) for member, score in data))


@command("dump", 2, "readonly", 1, 1, 1, group=_G, since="2.6.0",
         summary="Return a serialized version of the value stored at the specified key.",
         complexity="O(1) to access the key and additional O(N*M) to serialize it, where N is "
                    "the number of Redis objects composing the value and M their average size. "
                    "For small string values the time complexity is thus O(1)+O(1*M) where M "
                    "is small, so simply O(1).")
def dump(ctx: Context, argv: list[bytes]) -> bytes | None:
    value = read_value(ctx.ks, argv[1])
    return None if value is None else rdb.dump(*value)


def _parse_restore_options(argv: list[bytes]) -> tuple[bool, bool, int | None, int | None]:
    """-> (replace, absttl, IDLETIME seconds or None, FREQ or None), validated as Redis
    does."""
    replace = absttl = False
    idletime = freq = None
    i = 4
    while i < len(argv):
        option = argv[i].lower()
        more = i + 1 < len(argv)
        if option == b"replace":
            replace = True
        elif option == b"absttl":
            absttl = True
        elif option == b"idletime" and more and freq is None:
            idletime = int_arg(argv[i + 1])
            if idletime < 0:
                raise CommandError(BAD_IDLETIME)
            i += 1
        elif option == b"freq" and more and idletime is None:
            freq = int_arg(argv[i + 1])
            if not 0 <= freq <= 255:
                raise CommandError(BAD_FREQ)
            i += 1
        else:
            raise CommandError(errors.SYNTAX)
        i += 1
    return replace, absttl, idletime, freq


def _restore_access(argv: list[bytes]) -> tuple[int | None, int | None] | None:
    """IDLETIME and FREQ are not replicated: they set the access clock of the node the
    client sent RESTORE to, which maxmemory's LRU and LFU policies read on the leader."""
    try:
        _, _, idletime, freq = _parse_restore_options(argv)
    except CommandError:
        return None  # refused before the log, nothing restored
    return None if idletime is None and freq is None else (idletime, freq)


def _parse_restore(argv: list[bytes]) -> tuple[list[bytes], bool, bool]:
    replace, absttl, _, _ = _parse_restore_options(argv)
    return argv, replace, absttl


_RESTORE_COMPLEXITY = (
    "O(1) to create the new key and additional O(N*M) to reconstruct the serialized value, "
    "where N is the number of Redis objects composing the value and M their average size. "
    "For small string values the time complexity is thus O(1)+O(1*M) where M is small, so "
    "simply O(1). However for sorted set values the complexity is O(N*M*log(N)) because "
    "inserting values into sorted sets is O(log(N)).")


@command("restore-asking", -4, "write denyoom asking", 1, 1, 1, group="server", since="3.0.0",
         summary="An internal command for migrating keys in a cluster",
         complexity=_RESTORE_COMPLEXITY, parser=_parse_restore, access_hint=_restore_access)
@command("restore", -4, "write denyoom", 1, 1, 1, group=_G, since="2.6.0",
         summary="Create a key using the provided serialized value, previously obtained using "
                 "DUMP.",
         complexity=_RESTORE_COMPLEXITY, parser=_parse_restore, access_hint=_restore_access)
def restore(ctx: Context, args: tuple[list[bytes], bool, bool]) -> SimpleString:
    """Redis's restoreCommand, checks in its order: options (parsed before the log), BUSYKEY,
    TTL, checksum, format."""
    argv, replace, absttl = args
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
    deleted = replace and ks.delete(key)
    expire_at = ttl if absttl or not ttl else ttl + ctx.now_ms
    if expire_at and expire_at <= ctx.now_ms:
        if deleted:  # already expired: Redis creates nothing (and REPLACE has deleted)
            ctx.notify(GENERIC, b"del", key)
        return OK
    write_value(ks, key, kind, data, expire_at)
    ctx.notify(GENERIC, b"restore", key)
    return OK


# -- MIGRATE --------------------------------------------------------------------------------
MIGRATE_KEYS_NOT_EMPTY = ("ERR When using MIGRATE KEYS option, the key argument must be set to "
                          "the empty string")
MIGRATE_WRITE_FAILED = "IOERR error or timeout writing to target instance"
MIGRATE_READ_FAILED = "IOERR error or timeout reading to target instance"
MIGRATE_IN_EXEC = "ERR MIGRATE waits on another instance: rcache does not run it inside MULTI"


_MIGRATE_OPTION_ARGS = {b"copy": 0, b"replace": 0, b"auth": 1, b"auth2": 2}


def _migrate_keys(argv: list[bytes]) -> list[int]:
    """The key argument, or with KEYS everything after it (none if the key argument is not
    empty then: a syntax error), as Redis's migrateGetKeys, which steps over AUTH's and
    AUTH2's values (a password 'KEYS' is no KEYS option)."""
    i = 6
    while i < len(argv):
        option = argv[i].lower()
        if option == b"keys":
            return [] if argv[3] else list(range(i + 1, len(argv)))
        i += 1 + _MIGRATE_OPTION_ARGS.get(option, 0)
    return [3]


def _parse_migrate(argv: list[bytes]) -> tuple[list[bytes], bool, bool, list[bytes]]:
    """-> (keys, copy, replace, the AUTH command to send first or [])."""
    copy = replace = False
    auth: list[bytes] = []
    keys = [argv[3]]
    i = 6
    while i < len(argv):
        option = argv[i].lower()
        more = len(argv) - 1 - i
        if option == b"copy":
            copy = True
        elif option == b"replace":
            replace = True
        elif option == b"auth" and more >= 1:
            auth = [b"AUTH", argv[i + 1]]
            i += 1
        elif option == b"auth2" and more >= 2:
            auth = [b"AUTH", argv[i + 1], argv[i + 2]]
            i += 2
        elif option == b"keys":
            if argv[3]:
                raise CommandError(MIGRATE_KEYS_NOT_EMPTY)
            keys = argv[i + 1:]
            break
        else:
            raise CommandError(errors.SYNTAX)
        i += 1
    return keys, copy, replace, auth


def _migrate_secrets(argv: list[bytes]) -> list[int]:
    """AUTH's password, AUTH2's user and password (MONITOR hides them, as Redis does)."""
    secrets: list[int] = []
    i = 6
    while i < len(argv) and argv[i].lower() != b"keys":
        taken = {b"auth": 1, b"auth2": 2}.get(argv[i].lower(), 0)
        secrets.extend(range(i + 1, min(i + 1 + taken, len(argv))))
        i += 1 + taken
    return secrets


@command("migrate", -6, "write node", 3, 3, 1, group=_G, since="2.6.0",
         key_finder=_migrate_keys, redact=_migrate_secrets,
         summary="Atomically transfer a key from a Redis instance to another one.",
         complexity="This command actually executes a DUMP+DEL in the source instance, and a "
                    "RESTORE in the target instance. See the pages of these commands for time "
                    "complexity. Also an O(N) data transfer between the two instances is "
                    "performed.")
def migrate(ctx: Context, argv: list[bytes]):
    """Redis's migrateCommand from the leader: the values are dumped now, sent with
    RESTORE-ASKING (what a cluster-enabled Redis sends; rcache and Redis take it), and the
    keys the target took are then deleted through the Raft log (unless COPY). Unlike Redis,
    writes to those keys between the dump and the delete are not held back."""
    keys, copy, replace, auth = _parse_migrate(argv)
    if ctx.client.in_exec:
        raise CommandError(MIGRATE_IN_EXEC)
    timeout_ms, dbnum = int_arg(argv[5]), int_arg(argv[4])
    if timeout_ms <= 0:
        timeout_ms = 1000
    server = ctx.server
    if server.cluster.route_write(ctx.client, COMMANDS[b"migrate"], argv) is not None:
        return server.cluster.redirect(COMMANDS[b"migrate"], argv, ctx.client.tls)
    ks = ctx.ks
    requests = ([auth] if auth else []) + [[b"SELECT", b"%d" % dbnum]]
    moved = []
    for key in keys:
        record = ks.lookup(key)
        if record is None:
            continue
        ttl = max(record[1] - ks.now_ms, 1) if record[1] else 0
        requests.append([b"RESTORE-ASKING", key, b"%d" % ttl, rdb.dump(*read_value(ks, key))]
                        + ([b"REPLACE"] if replace else []))
        moved.append(key)
    if not moved:
        return SimpleString("NOKEY")
    host = argv[1].decode(errors="replace")
    port = parse_int(argv[2]) or 0
    return ctx.client.run_async(_send_to_target(
        server, ctx.client.db, host, port, timeout_ms / 1000, requests, moved, copy))


async def _send_to_target(server, db: int, host: str, port: int, timeout: float,
                          requests: list[list[bytes]], keys: list[bytes], copy: bool):
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (TimeoutError, OSError):
        raise CommandError(MIGRATE_WRITE_FAILED) from None
    try:
        writer.write(b"".join(encode_command(request) for request in requests))
        replies = await asyncio.wait_for(_read_replies(reader, len(requests)), timeout)
    except (TimeoutError, OSError, EOFError):
        raise CommandError(MIGRATE_READ_FAILED) from None
    finally:
        writer.close()
    restored = replies[len(requests) - len(keys):]
    error = next((reply for reply in replies if isinstance(reply, hiredis.ReplyError)), None)
    taken = [key for key, reply in zip(keys, restored, strict=True)
             if not isinstance(reply, hiredis.ReplyError)]
    if taken and not copy:
        deleted = await server.replicator.propose((COMMAND, db, [b"del", *taken]))
        if isinstance(deleted, CommandError):  # leadership lost: the keys are on both sides
            raise deleted
    if error is not None:
        raise CommandError(f"ERR Target instance replied with error: {error}")
    return OK


async def _read_replies(reader: asyncio.StreamReader, count: int) -> list:
    parser = hiredis.Reader()
    replies: list = []
    while len(replies) < count:
        data = await reader.read(65536)
        if not data:
            raise EOFError("target closed the connection")
        parser.feed(data)
        while len(replies) < count and (reply := parser.gets()) is not False:
            replies.append(reply)
    return replies
