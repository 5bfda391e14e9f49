"""Stream commands: XADD XRANGE XREVRANGE XLEN XDEL XTRIM XSETID XREAD, consumer groups
(XGROUP XREADGROUP XACK XPENDING XCLAIM XAUTOCLAIM) and XINFO, as Redis 7.0's t_stream.c.

Every time a write uses (``*`` ids, delivery times, idle times, seen times) is the entry's
clock ``ctx.now_ms``, so every node stores the same stream. XREAD is a read unless it may
block; with BLOCK, and XREADGROUP always, the command goes through the log and, finding
nothing, gives the timeout's reply, which parks the client on the leader (rcache.blocking)
until a write to one of its streams sends it through the log again.

The writes' arguments are parsed before the log by ``stream_args`` as far as Redis parses
them before it reads the key; what Redis reads after the key is checked here, in apply.

Approximate trimming (``~``) removes whole radix-tree nodes, as Redis's does (streams_store
keeps Redis's nodes); exact trimming removes all it must.
"""

from __future__ import annotations

from collections.abc import Iterator

from .. import errors
from .. import streams_store as ss
from ..encodings import EncodingLimits
from ..errors import CommandError
from ..notify import STREAM as STREAM_EVENTS
from ..resp import NULL_ARRAY, OK, KeyedReplies, SimpleString, parse_int
from ..storage import Keyspace
from ..streams_store import MAX_ID, ZERO_ID, StreamId
from .args import int_arg
from .stream_args import (
    U64_MAX,
    AddArgs,
    AutoClaimArgs,
    GroupArgs,
    ReadArgs,
    SetIdArgs,
    Trim,
    interval_end,
    interval_start,
    next_id,
    parse_group_options,
    parse_id,
    parse_read,
    parse_xadd,
    parse_xautoclaim,
    parse_xsetid,
    parse_xtrim,
    strict_id,
)
from .table import Context, command, container, counts_reads, help_reply

_G = "stream"
ID_TOO_SMALL = "ERR The ID specified in XADD is equal or smaller than the target stream top item"
EXHAUSTED = "ERR The stream has exhausted the last possible ID, unable to add more items"
BUSYGROUP = "BUSYGROUP Consumer Group name already exists"
KEY_REQUIRED = ("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you "
                "may want to use the MKSTREAM option to create an empty stream automatically.")
STREAM_GONE = "UNBLOCKED the stream key no longer exists"
GROUP_GONE = "NOGROUP the consumer group this client was blocked on no longer exists"


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _no_group(key: bytes, group: bytes, command_name: str = "") -> CommandError:
    where = f" in {command_name} with GROUP option" if command_name else ""
    return CommandError(f"NOGROUP No such key '{_text(key)}' or consumer group "
                        f"'{_text(group)}'{where}")


def _no_such_group(key: bytes, group: bytes) -> CommandError:
    return CommandError(f"NOGROUP No such consumer group '{_text(group)}' for key name "
                        f"'{_text(key)}'")


def _entry_reply(stream_id: StreamId, fields: list[bytes] | None) -> list:
    return [ss.format_id(stream_id), NULL_ARRAY if fields is None else fields]


# -- reading helpers ------------------------------------------------------------------------------
def _stream(ks: Keyspace, key: bytes) -> ss.Stream | None:
    return ss.lookup(ks, key)


def _group_or_error(stream: ss.Stream | None, key: bytes, name: bytes) -> ss.Group:
    group = stream.group(name) if stream is not None else None
    if group is None:
        raise _no_group(key, name)
    return group


def _counted(entries: Iterator, count: int) -> Iterator:
    """The first ``count`` items (0: all, as Redis's streamReplyWithRange)."""
    for taken, item in enumerate(entries, 1):
        yield item
        if taken == count:
            return


# -- XADD XTRIM -----------------------------------------------------------------------------------
def _trim_limit(trim: Trim, limits: EncodingLimits) -> int:
    """LIMIT, or with ``~`` alone 100 nodes' worth of entries (capped as Redis caps it)."""
    if trim.limit is not None:
        return trim.limit
    if not trim.approximate:
        return 0
    limit = 100 * limits.stream_node_max_entries
    return min(limit, 1_000_000) if limit > 0 else 10_000


def _trim(stream: ss.Stream, trim: Trim) -> int:
    """streamTrim: how many entries it removed. Whole nodes go first while the stream stays
    at or above its threshold (and within the limit); exact trimming then flags entries
    deleted in the next node."""
    by_length = trim.strategy == b"maxlen"
    limit = _trim_limit(trim, stream.ks.limits)
    removed, whole, partly, last = 0, [], None, ZERO_ID
    for node in stream.head_nodes():
        length = stream.length - removed
        if by_length and length <= trim.threshold:
            break
        if limit and removed + node.live > limit:
            break
        if (length - node.live >= trim.threshold if by_length
                else node.last_id < trim.threshold):
            removed, last = removed + node.live, node.last_id
            whole.append(node)
            continue
        if not trim.approximate:
            partly = node
            for found, _ in stream.entries(next_id(last) if whole else ZERO_ID, node.last_id):
                if (stream.length - removed <= trim.threshold if by_length
                        else found >= trim.threshold):
                    break
                removed, last = removed + 1, found
        break
    if whole or removed:
        stream.trim(whole, partly, last, removed)
    return removed


def _add(ks: Keyspace, stream: ss.Stream, given: StreamId | None, seq_given: bool,
         fields: list[bytes]) -> StreamId:
    """streamAppendItem's choice of id, checked against the last one."""
    last = stream.last_id
    if given is None:
        now = ks.now_ms
        new = (now, 0) if now > last[0] else next_id(last)
        if new is None:
            raise CommandError(ID_TOO_SMALL)
    elif seq_given:
        new = given
    elif given[0] == last[0]:
        if last[1] == U64_MAX:
            raise CommandError("ERR Elements are too large to be stored")
        new = (last[0], last[1] + 1)
    else:
        new = given
    if new <= last:
        raise CommandError(ID_TOO_SMALL)
    stream.append(new, fields)
    return new


@command("xadd", -5, "write denyoom fast", 1, 1, 1, group=_G, since="5.0.0",
         complexity="O(1) when adding a new entry, O(N) when trimming where N being the number "
                    "of entries evicted.",
         summary="Appends a new entry to a stream", parser=parse_xadd)
def xadd(ctx: Context, found: AddArgs) -> bytes | None:
    ks, key = ctx.ks, found.key
    stream = _stream(ks, key)
    if stream is None:
        if found.no_mkstream:
            return None
        stream = ss.create(ks, key)
    if stream.last_id == MAX_ID:
        raise CommandError(EXHAUSTED)
    new = _add(ks, stream, found.id, found.seq_given, found.fields)
    ctx.notify(STREAM_EVENTS, b"xadd", key)
    if found.trim.strategy is not None and _trim(stream, found.trim):
        ctx.notify(STREAM_EVENTS, b"xtrim", key)
    stream.save()
    return ss.format_id(new)


@command("xtrim", -4, "write", 1, 1, 1, group=_G, since="5.0.0",
         complexity="O(N), with N being the number of evicted entries. Constant times are very "
                    "small however, since entries are organized in macro nodes containing "
                    "multiple entries that can be released with a single deallocation.",
         summary="Trims the stream to (approximately if '~' is passed) a certain size",
         parser=parse_xtrim)
def xtrim(ctx: Context, found: AddArgs) -> int:
    stream = _stream(ctx.ks, found.key)
    if stream is None:
        return 0
    nodes = stream.nodes
    removed = _trim(stream, found.trim)
    if removed or stream.nodes != nodes:  # an empty node may go alone
        stream.save()
    if removed:
        ctx.notify(STREAM_EVENTS, b"xtrim", found.key)
    return removed


# -- XRANGE XREVRANGE XLEN XDEL XSETID ------------------------------------------------------------
def _range(ctx: Context, argv: list[bytes], reverse: bool) -> object:
    low_raw, high_raw = (argv[3], argv[2]) if reverse else (argv[2], argv[3])
    low, high = interval_start(low_raw), interval_end(high_raw)
    count = -1
    i = 4
    while i < len(argv):
        if argv[i].lower() == b"count" and i + 1 < len(argv):
            count = max(int_arg(argv[i + 1]), 0)
            i += 2
        else:
            raise CommandError(errors.SYNTAX)
    stream = _stream(ctx.ks, argv[1])
    if stream is None:
        return []
    if count == 0:
        return NULL_ARRAY
    return [_entry_reply(found, fields) for found, fields in
            _counted(stream.entries(low, high, reverse), max(count, 0))]


@command("xrange", -4, "readonly", 1, 1, 1, group=_G, since="5.0.0",
         complexity="O(N) with N being the number of elements being returned. If N is constant "
                    "(e.g. always asking for the first 10 elements with COUNT), you can consider "
                    "it O(1).",
         summary="Return a range of elements in a stream, with IDs matching the specified IDs "
                 "interval")
def xrange(ctx: Context, argv: list[bytes]) -> object:
    return _range(ctx, argv, reverse=False)


@command("xrevrange", -4, "readonly", 1, 1, 1, group=_G, since="5.0.0",
         complexity="O(N) with N being the number of elements returned. If N is constant (e.g. "
                    "always asking for the first 10 elements with COUNT), you can consider it "
                    "O(1).",
         summary="Return a range of elements in a stream, with IDs matching the specified IDs "
                 "interval, in reverse order (from greater to smaller IDs) compared to XRANGE")
def xrevrange(ctx: Context, argv: list[bytes]) -> object:
    return _range(ctx, argv, reverse=True)


@command("xlen", 2, "readonly fast", 1, 1, 1, group=_G, since="5.0.0",
         summary="Return the number of entries in a stream")
def xlen(ctx: Context, argv: list[bytes]) -> int:
    stream = _stream(ctx.ks, argv[1])
    return 0 if stream is None else stream.length


@command("xdel", -3, "write fast", 1, 1, 1, group=_G, since="5.0.0",
         complexity="O(1) for each single item to delete in the stream, regardless of the "
                    "stream size.",
         summary="Removes the specified entries from the stream. Returns the number of items "
                 "actually deleted, that may be different from the number of IDs passed in "
                 "case certain IDs do not exist.")
def xdel(ctx: Context, argv: list[bytes]) -> int:
    stream = _stream(ctx.ks, argv[1])
    if stream is None:
        return 0
    ids = [strict_id(raw) for raw in argv[2:]]
    deleted = sum(stream.delete(stream_id) for stream_id in ids)
    if deleted:
        stream.save()
        ctx.notify(STREAM_EVENTS, b"xdel", argv[1])
    return deleted


@command("xsetid", -3, "write denyoom fast", 1, 1, 1, group=_G, since="5.0.0",
         summary="An internal command for replicating stream values", parser=parse_xsetid)
def xsetid(ctx: Context, found: SetIdArgs) -> SimpleString:
    new, entries_added = found.id, found.entries_added
    stream = _stream(ctx.ks, found.key)
    if stream is None:
        raise CommandError(errors.NO_SUCH_KEY)
    if stream.length:
        if new < stream.last_entry_id():
            raise CommandError("ERR The ID specified in XSETID is smaller than the target "
                               "stream top item")
        if entries_added != -1 and stream.length > entries_added:
            raise CommandError("ERR The entries_added specified in XSETID is smaller than the "
                               "target stream length")
    stream.last_id = new
    if entries_added != -1:
        stream.entries_added = entries_added
    if found.max_deleted != ZERO_ID:
        stream.max_deleted_id = found.max_deleted
    stream.save()
    ctx.notify(STREAM_EVENTS, b"xsetid", found.key)
    return OK


# -- XREAD XREADGROUP -----------------------------------------------------------------------------
def stream_keys(argv: list[bytes]) -> list[int]:
    """XREAD / XREADGROUP key positions: the first half of what follows STREAMS."""
    for i in range(1, len(argv)):
        if argv[i].lower() == b"streams":
            half = (len(argv) - i - 1) // 2
            return list(range(i + 1, i + 1 + half))
    return []


def block_timeout_ms(argv: list[bytes]) -> int | None:
    """The BLOCK of an XREAD/XREADGROUP (rcache.blocking parks the client that long; 0:
    forever), None without BLOCK."""
    return parse_read(argv).block_ms


def resolve_last_ids(ks: Keyspace, argv: list[bytes]) -> list[bytes]:
    """XREAD ... ``$``: the last id of each stream now, written into the command, so that
    every later try of a parked XREAD waits for entries after the same ids (the leader's
    view when the client blocked, as Redis takes it when the command arrives)."""
    found = parse_read(argv)
    resolved = list(argv)
    first_id_at = len(argv) - len(found.ids)
    for n, raw in enumerate(found.ids):
        if raw == b"$":
            try:
                stream = _stream(ks, found.keys[n])
            except CommandError:
                continue  # the try replies WRONGTYPE
            last = stream.last_id if stream is not None else ZERO_ID
            resolved[first_id_at + n] = ss.format_id(last)
    return resolved


def woken_reply(ks: Keyspace, argv: list[bytes], reply: object) -> object:
    """What a parked XREAD / XREADGROUP answers when a wake-up try fails: XREAD keeps
    waiting (Redis ignores a stream deleted or replaced under it); XREADGROUP gets Redis's
    errors for a stream or group gone meanwhile."""
    if type(reply) is not CommandError:
        return reply
    if argv[0].lower() == b"xread":
        return NULL_ARRAY
    for key in stream_keys(argv):
        try:
            if _stream(ks, argv[key]) is None:
                return CommandError(STREAM_GONE)
        except CommandError:
            return CommandError(STREAM_GONE)
    if str(reply).startswith("NOGROUP"):
        return CommandError(GROUP_GONE)
    return reply


def _reads_without_blocking(_store, argv: list[bytes]) -> bool:
    """XREAD without BLOCK is a read (a malformed one too: the read replies its error)."""
    try:
        return parse_read(argv).block_ms is None
    except CommandError:
        return True


def _keyed(served: list) -> object:
    return KeyedReplies(served) if served else NULL_ARRAY


@command("xread", -4, "readonly blocking replicated block_option", group=_G, since="5.0.0",
         key_finder=stream_keys, reads_if=_reads_without_blocking,
         complexity="For each stream mentioned: O(N) with N being the number of elements being "
                    "returned, it means that XREAD-ing with a fixed COUNT is O(1). Note that "
                    "when the BLOCK option is used, XADD will pay O(M) time in order to serve "
                    "the M clients blocked on the stream getting new data.",
         summary="Return never seen elements in multiple streams, with IDs greater than the "
                 "ones reported by the caller for each stream. Can block.", parser=parse_read)
def xread(ctx: Context, found: ReadArgs) -> object:
    targets: list[tuple[bytes, ss.Stream | None, StreamId]] = []
    for key, raw in zip(found.keys, found.ids, strict=True):
        stream = _stream(ctx.ks, key)
        if raw == b"$":
            after = stream.last_id if stream is not None else ZERO_ID
        elif raw == b">":
            raise CommandError("ERR The > ID can be specified only when calling XREADGROUP "
                               "using the GROUP <group> <consumer> option.")
        else:
            after = strict_id(raw)
        targets.append((key, stream, after))
    served = []
    for key, stream, after in targets:
        ctx.ks.count_again(stream is not None)
        if stream is None or not stream.length or stream.last_entry_id() <= after:
            continue
        served.append((key, [_entry_reply(i, fields) for i, fields in
                             _counted(stream.entries(next_id(after)), found.count)]))
    return _keyed(served)


def _deliver(stream: ss.Stream, group: ss.Group, consumer: ss.Consumer, found: ReadArgs,
             now: int) -> list:
    """streamReplyWithRange for ``>``: new entries, each moving the group's last id and,
    unless NOACK, joining the PEL (taken from another consumer if XGROUP SETID made it
    pending already)."""
    delivered = []
    start = next_id(group.last_id)
    for stream_id, fields in _counted(stream.entries(start) if start else iter(()),
                                      found.count):
        if group.entries_read != ss.UNKNOWN_READS and not stream.has_tombstones_from(
                stream_id):
            group.entries_read += 1
        elif stream.entries_added:
            group.entries_read = stream.estimate_reads(stream_id)
        group.last_id = stream_id
        delivered.append(_entry_reply(stream_id, fields))
        if found.noack:
            continue
        entry = stream.pending(group, stream_id)
        if entry is None:
            stream.add_pending(group, ss.Pending(stream_id, now, 1, consumer.name), consumer)
        else:
            entry.delivery_time, entry.deliveries = now, 1
            stream.move_pending(group, entry, consumer)
    return delivered


def _history(stream: ss.Stream, group: ss.Group, consumer: ss.Consumer, after: StreamId,
             count: int, now: int) -> list:
    """The consumer's own pending entries after ``after``; a deleted entry comes back as
    [id, nil]. Each delivered again counts one more delivery."""
    start = next_id(after)
    if start is None:
        return []
    replies = []
    for stream_id in list(_counted(stream.consumer_pending_ids(group, consumer.name, start),
                                   count)):
        fields = stream.entry(stream_id)
        replies.append(_entry_reply(stream_id, fields))
        if fields is not None:
            entry = stream.pending(group, stream_id)
            entry.delivery_time = now
            entry.deliveries += 1
            stream.save_pending(group, entry)
    return replies


@command("xreadgroup", -7, "write blocking block_option", group=_G, since="5.0.0",
         key_finder=stream_keys,
         complexity="For each stream mentioned: O(M) with M being the number of elements "
                    "returned. If M is constant (e.g. always asking for the first 10 elements "
                    "with COUNT), you can consider it O(1). On the other side when XREADGROUP "
                    "blocks, XADD will pay the O(N) time in order to serve the N clients "
                    "blocked on the stream getting new data.",
         summary="Return new entries from a stream using a consumer group, or access the "
                 "history of the pending entries for a given consumer. Can block.",
         parser=parse_read)
@counts_reads
def xreadgroup(ctx: Context, found: ReadArgs) -> object:
    ks = ctx.ks
    targets = []
    for key, raw in zip(found.keys, found.ids, strict=True):
        stream = _stream(ks, key)
        group = stream.group(found.group) if stream is not None else None
        if group is None:
            raise _no_group(key, found.group, "XREADGROUP")
        if raw == b"$":
            raise CommandError("ERR The $ ID is meaningless in the context of XREADGROUP: you "
                               "want to read the history of this consumer by specifying a "
                               "proper ID, or use the > ID to get new messages. The $ ID would "
                               "just return an empty result set.")
        targets.append((key, None if raw == b">" else strict_id(raw)))
    served = []
    now = ctx.now_ms
    for key, after in targets:
        stream = _stream(ks, key)
        group = stream.group(found.group)
        if after is None and (not stream.length or stream.last_entry_id() <= group.last_id):
            continue
        consumer = stream.consumer(group, found.consumer) or stream.create_consumer(
            group, found.consumer)
        consumer.seen_time = now
        if after is None:
            entries = _deliver(stream, group, consumer, found, now)
        else:
            entries = _history(stream, group, consumer, after, found.count, now)
        stream.save_consumer(group, consumer)
        stream.save_group(group)
        stream.save()
        served.append((key, entries))
    return _keyed(served)


# -- XACK XPENDING XCLAIM XAUTOCLAIM --------------------------------------------------------------
@command("xack", -4, "write fast", 1, 1, 1, group=_G, since="5.0.0",
         complexity="O(1) for each message ID processed.",
         summary="Marks a pending message as correctly processed, effectively removing it from "
                 "the pending entries list of the consumer group. Return value of the command "
                 "is the number of messages successfully acknowledged, that is, the IDs we "
                 "were actually able to resolve in the PEL.")
def xack(ctx: Context, argv: list[bytes]) -> int:
    stream = _stream(ctx.ks, argv[1])
    group = stream.group(argv[2]) if stream is not None else None
    if group is None:
        return 0
    ids = [strict_id(raw) for raw in argv[3:]]
    acknowledged = 0
    for stream_id in ids:
        entry = stream.pending(group, stream_id)
        if entry is not None:
            stream.remove_pending(group, entry)
            acknowledged += 1
    if acknowledged:
        stream.save_group(group)
    return acknowledged


@command("xpending", -3, "readonly", 1, 1, 1, group=_G, since="5.0.0",
         complexity="O(N) with N being the number of elements returned, so asking for a small "
                    "fixed number of entries per call is O(1). O(M), where M is the total number "
                    "of entries scanned when used with the IDLE filter. When the command returns "
                    "just the summary and the list of consumers is small, it runs in O(1) time; "
                    "otherwise, an additional O(N) time for iterating every consumer.",
         summary="Return information and entries from a stream consumer group pending entries "
                 "list, that are messages fetched but never acknowledged.")
def xpending(ctx: Context, argv: list[bytes]) -> object:
    argc = len(argv)
    if argc != 3 and not 6 <= argc <= 9:
        raise CommandError(errors.SYNTAX)
    min_idle = count = 0
    consumer_name = None
    if argc >= 6:
        at = 3
        if argv[3].lower() == b"idle":
            min_idle = int_arg(argv[4])
            if argc < 8:
                raise CommandError(errors.SYNTAX)
            at = 5
        count = max(int_arg(argv[at + 2]), 0)
        start, end = interval_start(argv[at]), interval_end(argv[at + 1])
        if at + 3 < argc:
            consumer_name = argv[at + 3]
    stream = _stream(ctx.ks, argv[1])
    group = _group_or_error(stream, argv[1], argv[2])
    if argc == 3:
        if not group.pending:
            return [0, None, None, NULL_ARRAY]
        first = next(stream.pending_entries(group)).id
        last = stream.last_pending_id(group)
        owners = [[consumer.name, b"%d" % consumer.pending]
                  for consumer in stream.consumers(group) if consumer.pending]
        return [group.pending, ss.format_id(first), ss.format_id(last), owners]
    now = ctx.now_ms
    if consumer_name is not None:
        if stream.consumer(group, consumer_name) is None:
            return []
        entries = (stream.pending(group, stream_id) for stream_id in
                   stream.consumer_pending_ids(group, consumer_name, start, end))
    else:
        entries = stream.pending_entries(group, start, end)
    replies = []
    for entry in entries:
        if not count:
            break
        if min_idle and now - entry.delivery_time < min_idle:
            continue
        count -= 1
        replies.append([ss.format_id(entry.id), entry.consumer,
                        max(now - entry.delivery_time, 0), entry.deliveries])
    return replies


def _claiming(stream: ss.Stream, group: ss.Group, name: bytes) -> ss.Consumer:
    """The consumer a claim goes to, created if new, seen now."""
    consumer = stream.consumer(group, name) or stream.create_consumer(group, name)
    consumer.seen_time = stream.ks.now_ms
    stream.save_consumer(group, consumer)
    return consumer


def _claim_option(raw: bytes, option: str) -> int:
    value = parse_int(raw)
    if value is None:
        raise CommandError(f"ERR Invalid {option} option argument for XCLAIM")
    return value


@command("xclaim", -6, "write fast", 1, 1, 1, group=_G, since="5.0.0",
         complexity="O(log N) with N being the number of messages in the PEL of the consumer "
                    "group.",
         summary="Changes (or acquires) ownership of a message in a consumer group, as if the "
                 "message was delivered to the specified consumer.")
@counts_reads
def xclaim(ctx: Context, argv: list[bytes]) -> list:
    stream = _stream(ctx.ks, argv[1])
    group = _group_or_error(stream, argv[1], argv[2])
    min_idle = parse_int(argv[4])
    if min_idle is None:
        raise CommandError("ERR Invalid min-idle-time argument for XCLAIM")
    min_idle = max(min_idle, 0)
    ids: list[StreamId] = []
    j = 5
    while j < len(argv):
        try:
            ids.append(strict_id(argv[j]))
        except CommandError:
            break
        j += 1
    now = ctx.now_ms
    retry_count, delivery_time, force, just_id, last_id = -1, -1, False, False, ZERO_ID
    while j < len(argv):
        more = len(argv) - 1 - j
        option = argv[j].lower()
        if option == b"force":
            force = True
        elif option == b"justid":
            just_id = True
        elif option == b"idle" and more:
            j += 1
            delivery_time = now - _claim_option(argv[j], "IDLE")
        elif option == b"time" and more:
            j += 1
            delivery_time = _claim_option(argv[j], "TIME")
        elif option == b"retrycount" and more:
            j += 1
            retry_count = _claim_option(argv[j], "RETRYCOUNT")
        elif option == b"lastid" and more:
            j += 1
            last_id = strict_id(argv[j])
        else:
            raise CommandError(f"ERR Unrecognized XCLAIM option '{_text(argv[j])}'")
        j += 1
    if last_id > group.last_id:
        group.last_id = last_id
    if delivery_time < 0 or delivery_time > now:
        delivery_time = now
    owner = None
    replies = []
    for stream_id in ids:
        entry = stream.pending(group, stream_id)
        fields = stream.entry(stream_id)
        if fields is None:
            if entry is not None:
                stream.remove_pending(group, entry)
            continue
        created = False
        if force and entry is None:
            entry = ss.Pending(stream_id, now, 1, b"")
            created = True
        if entry is None:
            continue
        if not created and min_idle and now - entry.delivery_time < min_idle:
            continue
        owner = owner or _claiming(stream, group, argv[3])
        entry.delivery_time = delivery_time
        if retry_count >= 0:
            entry.deliveries = retry_count
        elif not just_id:
            entry.deliveries += 1
        if created:
            entry.consumer = owner.name
            stream.add_pending(group, entry, owner)
        else:
            stream.move_pending(group, entry, owner)
        replies.append(ss.format_id(stream_id) if just_id else _entry_reply(stream_id, fields))
    stream.save_group(group)
    return replies


@command("xautoclaim", -6, "write fast", 1, 1, 1, group=_G, since="6.2.0",
         complexity="O(1) if COUNT is small.",
         summary="Changes (or acquires) ownership of messages in a consumer group, as if the "
                 "messages were delivered to the specified consumer.", parser=parse_xautoclaim)
@counts_reads
def xautoclaim(ctx: Context, found: AutoClaimArgs) -> list:
    stream = _stream(ctx.ks, found.key)
    group = _group_or_error(stream, found.key, found.group)
    min_idle, count, just_id = found.min_idle, found.count, found.just_id
    now = ctx.now_ms
    attempts = count * 10
    owner = None
    claimed, deleted = [], []
    cursor = ZERO_ID
    walk = stream.pending_entries(group, found.start)
    for entry in walk:
        if not attempts or not count:
            cursor = entry.id
            break
        attempts -= 1
        fields = stream.entry(entry.id)
        if fields is None:
            stream.remove_pending(group, entry)
            deleted.append(ss.format_id(entry.id))
            count -= 1
            continue
        if min_idle and now - entry.delivery_time < min_idle:
            continue
        owner = owner or _claiming(stream, group, found.consumer)
        entry.delivery_time = now
        if not just_id:
            entry.deliveries += 1
        stream.move_pending(group, entry, owner)
        claimed.append(ss.format_id(entry.id) if just_id else _entry_reply(entry.id, fields))
        count -= 1
    stream.save_group(group)
    return [ss.format_id(cursor), claimed, deleted]


# -- XGROUP ---------------------------------------------------------------------------------------
container("xgroup", -2, "", group=_G, since="5.0.0",
          summary="A container for consumer groups commands")


def _existing_stream(ctx: Context, key: bytes) -> ss.Stream:
    stream = _stream(ctx.ks, key)
    if stream is None:
        raise CommandError(KEY_REQUIRED)
    return stream


def _existing_group(ctx: Context, argv: list[bytes]) -> tuple[ss.Stream, ss.Group]:
    stream = _existing_stream(ctx, argv[2])
    group = stream.group(argv[3])
    if group is None:
        raise _no_such_group(argv[2], argv[3])
    return stream, group


@command("create", -5, "write denyoom", 2, 2, 1, group=_G, container="xgroup", since="5.0.0",
         summary="Create a consumer group.", parser=parse_group_options)
def xgroup_create(ctx: Context, args: GroupArgs) -> SimpleString:
    argv, options = args
    stream = _stream(ctx.ks, argv[2])
    if stream is None and not options.mkstream:
        raise CommandError(KEY_REQUIRED)
    if len(argv) > 8:
        raise CommandError(errors.subcommand_syntax(argv[1], "xgroup"))
    if argv[4] == b"$":
        start = stream.last_id if stream is not None else ZERO_ID
    else:
        start = strict_id(argv[4])
    if stream is None:
        stream = ss.create(ctx.ks, argv[2])
    elif stream.group(argv[3]) is not None:
        raise CommandError(BUSYGROUP)
    stream.save_group(ss.Group(argv[3], start, options.entries_read))
    stream.save()
    ctx.notify(STREAM_EVENTS, b"xgroup-create", argv[2])
    return OK


@command("setid", -5, "write", 2, 2, 1, group=_G, container="xgroup", since="5.0.0",
         summary="Set a consumer group to an arbitrary last delivered ID value.",
         parser=parse_group_options)
def xgroup_setid(ctx: Context, args: GroupArgs) -> SimpleString:
    argv, options = args
    stream, group = _existing_group(ctx, argv)
    if len(argv) not in (5, 7):  # ENTRIESREAD twice
        raise CommandError(errors.subcommand_syntax(argv[1], "xgroup"))
    group.last_id = stream.last_id if argv[4] == b"$" else parse_id(argv[4])[0]
    group.entries_read = options.entries_read
    stream.save_group(group)
    ctx.notify(STREAM_EVENTS, b"xgroup-setid", argv[2])
    return OK


@command("destroy", 4, "write", 2, 2, 1, group=_G, container="xgroup", since="5.0.0",
         complexity="O(N) where N is the number of entries in the group's pending entries list "
                    "(PEL).",
         summary="Destroy a consumer group.")
def xgroup_destroy(ctx: Context, argv: list[bytes]) -> int:
    stream = _existing_stream(ctx, argv[2])
    group = stream.group(argv[3])
    if group is None:
        return 0
    stream.destroy_group(group)
    ctx.notify(STREAM_EVENTS, b"xgroup-destroy", argv[2])
    return 1


@command("createconsumer", 5, "write denyoom", 2, 2, 1, group=_G, container="xgroup",
         since="6.2.0", summary="Create a consumer in a consumer group.")
def xgroup_createconsumer(ctx: Context, argv: list[bytes]) -> int:
    stream, group = _existing_group(ctx, argv)
    if stream.consumer(group, argv[4]) is not None:
        return 0
    stream.create_consumer(group, argv[4])
    stream.save_group(group)
    return 1


@command("delconsumer", 5, "write", 2, 2, 1, group=_G, container="xgroup", since="5.0.0",
         summary="Delete a consumer from a consumer group.")
def xgroup_delconsumer(ctx: Context, argv: list[bytes]) -> int:
    stream, group = _existing_group(ctx, argv)
    consumer = stream.consumer(group, argv[4])
    if consumer is None:
        return 0
    stream.delete_consumer(group, consumer)
    stream.save_group(group)
    ctx.notify(STREAM_EVENTS, b"xgroup-delconsumer", argv[2])
    return consumer.pending


_XGROUP_HELP = (
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.")


@command("help", 2, "loading stale", group=_G, container="xgroup", since="5.0.0",
         summary="Show helpful text about the different subcommands")
def xgroup_help(ctx: Context, argv: list[bytes]) -> list[SimpleString]:
    return help_reply("XGROUP", _XGROUP_HELP)


# -- XINFO ----------------------------------------------------------------------------------------
container("xinfo", -2, "", group=_G, since="5.0.0",
          summary="A container for stream introspection commands")


def _info_stream(ctx: Context, key: bytes) -> ss.Stream:
    stream = _stream(ctx.ks, key)
    if stream is None:
        raise CommandError(errors.NO_SUCH_KEY)
    return stream


def _count_or_unknown(value: int) -> int | None:
    return None if value == ss.UNKNOWN_READS else value


@command("stream", -3, "readonly", 2, 2, 1, group=_G, container="xinfo", since="5.0.0",
         summary="Get information about a stream")
def xinfo_stream(ctx: Context, argv: list[bytes]) -> dict:
    full, count = False, 10
    if len(argv) > 3:
        if argv[3].lower() != b"full":
            raise CommandError(errors.subcommand_syntax(argv[1], "xinfo"))
        full = True
        if len(argv) > 4:
            if len(argv) != 6 or argv[4].lower() != b"count":
                raise CommandError(errors.subcommand_syntax(argv[1], "xinfo"))
            count = int_arg(argv[5])
            if count < 0:
                count = 10
    stream = _info_stream(ctx, argv[2])
    info: dict = {
        b"length": stream.length, b"radix-tree-keys": stream.nodes,
        b"radix-tree-nodes": stream.tree_nodes,
        b"last-generated-id": ss.format_id(stream.last_id),
        b"max-deleted-entry-id": ss.format_id(stream.max_deleted_id),
        b"entries-added": stream.entries_added,
        b"recorded-first-entry-id": ss.format_id(stream.first_id),
    }
    if not full:
        first = next(stream.entries(), None)
        last = next(stream.entries(reverse=True), None)
        info[b"groups"] = sum(1 for _ in stream.groups())
        info[b"first-entry"] = None if first is None else _entry_reply(*first)
        info[b"last-entry"] = None if last is None else _entry_reply(*last)
        return info
    info[b"entries"] = [_entry_reply(i, fields) for i, fields in
                        _counted(stream.entries(), count)]
    groups = []
    for group in stream.groups():
        listed = list(_counted(stream.pending_entries(group), count))
        pending = [[ss.format_id(entry.id), entry.consumer, entry.delivery_time,
                    entry.deliveries] for entry in listed]
        # a consumer's entries: from the group's list when it holds them all (no reads)
        by_id = {entry.id: entry for entry in listed} if len(listed) == group.pending else {}
        consumers = []
        for consumer in stream.consumers(group):
            own = [[ss.format_id(entry.id), entry.delivery_time, entry.deliveries]
                   for entry in (by_id.get(i) or stream.pending(group, i) for i in _counted(
                       stream.consumer_pending_ids(group, consumer.name), count))]
            consumers.append({b"name": consumer.name, b"seen-time": consumer.seen_time,
                              b"pel-count": consumer.pending, b"pending": own})
        groups.append({b"name": group.name, b"last-delivered-id": ss.format_id(group.last_id),
                       b"entries-read": _count_or_unknown(group.entries_read),
                       b"lag": stream.lag(group), b"pel-count": group.pending,
                       b"pending": pending, b"consumers": consumers})
    info[b"groups"] = groups
    return info


@command("groups", 3, "readonly", 2, 2, 1, group=_G, container="xinfo", since="5.0.0",
         summary="List the consumer groups of a stream")
def xinfo_groups(ctx: Context, argv: list[bytes]) -> list:
    stream = _info_stream(ctx, argv[2])
    return [{b"name": group.name, b"consumers": group.consumers, b"pending": group.pending,
             b"last-delivered-id": ss.format_id(group.last_id),
             b"entries-read": _count_or_unknown(group.entries_read),
             b"lag": stream.lag(group)} for group in stream.groups()]


@command("consumers", 4, "readonly", 2, 2, 1, group=_G, container="xinfo", since="5.0.0",
         summary="List the consumers in a consumer group")
def xinfo_consumers(ctx: Context, argv: list[bytes]) -> list:
    stream = _info_stream(ctx, argv[2])
    group = stream.group(argv[3])
    if group is None:
        raise _no_such_group(argv[2], argv[3])
    now = ctx.now_ms
    return [{b"name": consumer.name, b"pending": consumer.pending,
             b"idle": max(now - consumer.seen_time, 0)} for consumer in stream.consumers(group)]


_XINFO_HELP = (
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.")


@command("help", 2, "loading stale", group=_G, container="xinfo", since="5.0.0",
         summary="Show helpful text about the different subcommands")
def xinfo_help(ctx: Context, argv: list[bytes]) -> list[SimpleString]:
    return help_reply("XINFO", _XINFO_HELP)

