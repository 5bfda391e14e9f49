"""Introspection: OBJECT, MEMORY, SLOWLOG, LATENCY.

OBJECT and MEMORY USAGE describe a value as Redis 7.0 would hold it (its encoding, its
size in Redis's allocator), since that is what tools and test suites compare. SLOWLOG is
this node's own, as each Redis instance keeps its own; LATENCY records no events.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from .. import collections_store as cs
from .. import errors, streams_store
from .. import strings_store as ss
from ..errors import CommandError
from ..resp import OK, SimpleString, Verbatim, parse_int
from ..storage import BIG_STRING, HASH, LIST, SET, STREAM, STRING, ZSET, Keyspace
from .args import int_arg
from .info import peak_rss_bytes, rss_bytes
from .table import Context, all_commands, command, container, find, help_reply

_G = "generic"
EMBSTR_SIZE_LIMIT = 44  # OBJ_ENCODING_EMBSTR_SIZE_LIMIT
SHARED_INTEGERS = 10000  # OBJ_SHARED_INTEGERS: 0..9999 are one shared object in Redis
SHARED_REFCOUNT = 2**31 - 1  # OBJ_SHARED_REFCOUNT
LFU_NOT_SELECTED = ("ERR An LFU maxmemory policy is not selected, access frequency not tracked. "
                    "Please note that when switching between policies at runtime LRU and LFU "
                    "data will take some time to adjust.")
LFU_SELECTED = ("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note "
                "that when switching between policies at runtime LRU and LFU data will take "
                "some time to adjust.")


# -- OBJECT ---------------------------------------------------------------------------------------
container("object", -2, "", group=_G, since="2.2.3",
          summary="A container for object introspection commands")


def string_encoding(value: bytes) -> bytes:
    """The encoding Redis's tryObjectEncoding picks for a freshly written string.

    Values are not stored with an encoding, so strings grown by APPEND or SETRANGE (raw in
    Redis whatever their size) report what SET of the same bytes would give.
    """
    if len(value) <= 20 and parse_int(value) is not None:
        return b"int"
    return b"embstr" if len(value) <= EMBSTR_SIZE_LIMIT else b"raw"


def _record(ctx: Context, key: bytes) -> tuple[int, int, bytes] | None:
    return ctx.ks.lookup(key)


@command("encoding", 3, "readonly no_touch", 2, 2, 1, group=_G, container="object", since="2.2.3",
         summary="Inspect the internal encoding of a Redis object")
def object_encoding(ctx: Context, argv: list[bytes]) -> bytes | None:
    """Collections report the encoding Redis 7.0 would have picked for their history (see
    collections_store.Meta.encoding and rcache/encodings.py)."""
    record = _record(ctx, argv[2])
    if record is None:
        return None
    if record[0] == STRING:
        return string_encoding(record[2])
    if record[0] == BIG_STRING:  # longer than any int or embstr
        return b"raw"
    return cs.lookup_any(ctx.ks, argv[2]).encoding


@command("refcount", 3, "readonly no_touch", 2, 2, 1, group=_G, container="object", since="2.2.3",
         summary="Get the number of references to the value of the key")
def object_refcount(ctx: Context, argv: list[bytes]) -> int | None:
    """1, or Redis's shared-object count for the integers 0..9999 it keeps shared."""
    record = _record(ctx, argv[2])
    if record is None:
        return None
    number = parse_int(record[2]) if record[0] == STRING else None
    return SHARED_REFCOUNT if number is not None and 0 <= number < SHARED_INTEGERS else 1


@command("idletime", 3, "readonly node no_touch", 2, 2, 1, group=_G, container="object",
         since="2.2.3",
         summary="Get the time since a Redis object was last accessed")
def object_idletime(ctx: Context, argv: list[bytes]) -> int | None:
    """Seconds since this node last ran a command on the key (its access clock, which
    maxmemory's LRU policies read on the leader); refused under an LFU policy, as Redis does."""
    if _record(ctx, argv[2]) is None:
        return None
    if ctx.server.config.maxmemory_policy.endswith("-lfu"):
        raise CommandError(LFU_SELECTED)
    return ctx.server.eviction.clock.idle_ms(ctx.client.db, argv[2], ctx.now_ms) // 1000


@command("freq", 3, "readonly node no_touch", 2, 2, 1, group=_G, container="object", since="4.0.0",
         summary="Get the logarithmic access frequency counter of a Redis object")
def object_freq(ctx: Context, argv: list[bytes]) -> int | None:
    """This node's LFU counter of the key; only under an LFU maxmemory-policy, as in Redis."""
    if _record(ctx, argv[2]) is None:
        return None
    config = ctx.server.config
    if not config.maxmemory_policy.endswith("-lfu"):
        raise CommandError(LFU_NOT_SELECTED)
    return ctx.server.eviction.clock.frequency(ctx.client.db, argv[2], ctx.now_ms,
                                               config.lfu_decay_time)


@command("help", 2, "loading stale", group=_G, container="object", since="6.2.0",
         summary="Show helpful text about the different subcommands")
def object_help(ctx: Context, argv: list[bytes]) -> list[SimpleString]:
    return help_reply("OBJECT", (
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>."))


# -- MEMORY ---------------------------------------------------------------------------------------
container("memory", -2, "", group="server", since="4.0.0",
          summary="A container for memory diagnostics commands")

# sizes of Redis's structures (64-bit): object, dict entry, dict, quicklist, quicklist node,
# zset, skiplist node (one level on average)
_ROBJ, _DICT_ENTRY, _DICT, _QUICKLIST, _QUICKLIST_NODE, _ZSET, _SKIPLIST_NODE = (
    16, 24, 56, 40, 40, 16, 48)
DEFAULT_SAMPLES = 5  # OBJ_COMPUTE_SIZE_DEF_SAMPLES
# Elements one MEMORY USAGE reads at most, whatever SAMPLES says (Redis reads them all for
# SAMPLES 0): exact up to this size, extrapolated from these past it (README, "Bounded cost").
MAX_SAMPLED = 10_000


def allocation(size: int) -> int:
    """The size class jemalloc rounds a request up to (what zmalloc_size reports)."""
    if size <= 8:
        return 8
    if size <= 128:
        return (size + 15) // 16 * 16
    step = 1 << (size - 1).bit_length() - 3  # four classes per doubling
    return (size + step - 1) // step * step


def _sds(length: int) -> int:
    """An sds string's allocation: header by length, the bytes, a terminating NUL."""
    header = 1 if length < 32 else 3 if length < 256 else 5 if length < 65536 else 9
    return allocation(header + length + 1)


# listpack's integer encodings: smallest and largest value, bytes with the encoding byte
_LISTPACK_INTS = ((0, 127, 1), (-4096, 4095, 2), (-(1 << 15), (1 << 15) - 1, 3),
                  (-(1 << 23), (1 << 23) - 1, 4), (-(1 << 31), (1 << 31) - 1, 5))
_LISTPACK_HEADER = 7  # total bytes, element count, and the end byte
LIST_NODE_BYTES = 8192  # list-max-listpack-size -2: a quicklist node's listpack limit


def _listpack_entry(value: bytes) -> int:
    """Bytes one element takes in a listpack: encoding, data, back-length."""
    number = parse_int(value)
    if number is not None:
        return next((size for low, high, size in _LISTPACK_INTS if low <= number <= high),
                    9) + 1
    head = 1 if len(value) < 64 else 2 if len(value) < 4096 else 5
    return head + len(value) + (1 if head + len(value) < 128 else 2)


def _quicklist_size(values: Iterator[bytes], count: int, samples: int | None) -> int:
    """A list as Redis 7.0 holds it: 8 KB listpack nodes (an element past that in a node of
    its own), each sized by its allocation. Redis averages the first ``samples`` nodes and
    scales by the node count: only those nodes' elements are read, and the count of the nodes
    not read is estimated from their elements per node. At most MAX_SAMPLED elements are
    read: past them the nodes filled so far stand for the rest, as with SAMPLES."""
    nodes: list[tuple[int, int]] = []  # closed nodes: (allocation, elements)
    packed = held = 0  # the open node's bytes and elements

    def close(size: int, elements: int) -> None:
        nodes.append((allocation(size), elements))

    for value in itertools.islice(values, MAX_SAMPLED):
        size = _listpack_entry(value)
        if packed and (size > LIST_NODE_BYTES
                       or _LISTPACK_HEADER + packed + size > LIST_NODE_BYTES):
            close(_LISTPACK_HEADER + packed, held)
            packed = held = 0
        if size > LIST_NODE_BYTES:  # a node of its own
            close(_LISTPACK_HEADER + size, 1)
        else:
            packed, held = packed + size, held + 1
        if samples is not None and len(nodes) >= samples:
            break
    else:  # the last node read is whole only if the list ended there
        if (held and sum(elements for _, elements in nodes) + held == count) or not nodes:
            close(_LISTPACK_HEADER + packed, held)
    sampled = nodes[:samples]
    read = sum(elements for _, elements in nodes)
    total_nodes = len(nodes) + -(-(count - read) * len(nodes) // max(read, 1))
    node_bytes = sum(_QUICKLIST_NODE + size for size, _ in sampled)
    return _ROBJ + _QUICKLIST + node_bytes * total_nodes // len(sampled)


def _string_size(value: bytes) -> int:
    encoding = string_encoding(value)
    if encoding == b"int":
        return _ROBJ
    if encoding == b"embstr":  # object and sds (3-byte header) in one allocation
        return allocation(_ROBJ + 3 + len(value) + 1)
    return _ROBJ + _sds(len(value))


def _intset_width(value: int) -> int:
    return 2 if -(1 << 15) <= value < 1 << 15 else 4 if -(1 << 31) <= value < 1 << 31 else 8


def _extrapolated(per_sample: list[int], count: int) -> int:
    """Redis's sampling: the sampled elements' average size times the element count."""
    return sum(per_sample) * count // max(len(per_sample), 1)


def _collection_size(ks: Keyspace, key: bytes, kind: int, samples: int | None) -> int:
    """objectComputeSize for a collection, from its first ``samples`` elements (None: all),
    and never more than MAX_SAMPLED."""
    meta = cs.lookup_any(ks, key)
    if kind == LIST:
        return _quicklist_size((value for _, value in cs.iter_elements(meta, ks)), meta.count,
                               samples)
    elements = cs.iter_zset(ks, meta) if kind == ZSET else cs.iter_elements(meta, ks)
    sampled = list(itertools.islice(elements, min(samples or MAX_SAMPLED, MAX_SAMPLED)))
    if kind == ZSET:
        pairs = [(member, b"%r" % score) for member, score in sampled]
    else:
        pairs = [(name, b"" if kind == SET else value) for name, value in sampled]
    if meta.encoding == b"intset":  # every member as wide as the widest (2, 4 or 8 bytes)
        width = max(_intset_width(int(member)) for member, _ in pairs)
        return _ROBJ + allocation(8 + width * meta.count)
    if meta.encoding == b"listpack":
        sizes = [_listpack_entry(a) + _listpack_entry(b) for a, b in pairs]
        return _ROBJ + allocation(7 + _extrapolated(sizes, meta.count))
    # a hash table (and for sorted sets, a skiplist node per member beside it)
    per_member = _DICT_ENTRY + (_SKIPLIST_NODE if kind == ZSET else 0)
    sizes = [per_member + _sds(len(a)) + (_sds(len(b)) if kind == HASH else 0)
             for a, b in pairs]
    buckets = 8 * (1 << max(meta.count - 1, 3).bit_length())
    return (_ROBJ + _DICT + buckets + (_ZSET if kind == ZSET else 0)
            + _extrapolated(sizes, meta.count))


# Redis 7.0's stream structures (64-bit): stream, streamCG, streamNACK, streamConsumer, a
# streamID, and a radix-tree node as streamRadixTreeMemoryUsage counts it (4 + 30 longs)
_STREAM, _STREAM_GROUP, _NACK, _CONSUMER, _STREAM_ID, _RAX_NODE = 80, 40, 24, 24, 16, 244
STREAM_PREALLOC = 4096  # STREAM_LISTPACK_MAX_PRE_ALLOCATE: a new node's listpack allocation


def _rax_size(keys: int, nodes: int) -> int:
    """streamRadixTreeMemoryUsage (which, as Redis's, leaves out the rax struct itself)."""
    return keys * _STREAM_ID + nodes * _RAX_NODE


class _GroupReads:
    """The records one MEMORY USAGE of a stream still may read in its consumer groups
    (MAX_SAMPLED); a radix tree read in part is scaled by the nodes per key it showed."""

    def __init__(self) -> None:
        self.left = MAX_SAMPLED
        self.nodes_per_key = 2.0  # until a tree is read: a branch and a leaf per id

    def take(self, items: Iterator, count: int | None = None) -> list:
        taken = list(itertools.islice(items, self.left if count is None
                                      else min(count, self.left)))
        self.left -= len(taken)
        return taken

    def tree(self, ids: Iterator[streams_store.StreamId], count: int) -> int:
        """streamRadixTreeMemoryUsage of a PEL holding ``count`` ids."""
        keys = self.take(ids, count)
        if len(keys) == count:
            nodes = streams_store.rax_nodes(keys)
        else:
            if keys:
                self.nodes_per_key = streams_store.rax_nodes(keys) / len(keys)
            nodes = round(self.nodes_per_key * count)
        return _rax_size(count, nodes)


def _stream_size(stream: streams_store.Stream, samples: int | None, node_max_bytes: int) -> int:
    """objectComputeSize for a stream: its radix tree, its nodes' listpacks by allocation
    (the first ``samples`` averaged over all but the last, plus the last), and per group its
    PEL with NACKs and per consumer its name and PEL. A node holds its listpack's size class
    (shrunk to fit when the next node opened); the last one at least the 4 KB allocated when
    it opened, unless a later node closed it (and was deleted since). At most MAX_SAMPLED
    nodes are read, and MAX_SAMPLED group records."""
    prealloc = max(min(STREAM_PREALLOC, node_max_bytes or STREAM_PREALLOC), 7)

    def allocated(node: streams_store.Node) -> int:
        """The last node holds its preallocation unless a later node closed it: an entry
        past its ids was deleted (XSETID may move the last id past it without closing it)."""
        still_open = (node.master_id == stream.tail_id
                      and stream.max_deleted_id <= node.last_id)
        return allocation(max(node.size, prealloc) if still_open else node.size)

    size = _ROBJ + _STREAM + _rax_size(stream.nodes, stream.tree_nodes)
    limit = min(samples or MAX_SAMPLED, MAX_SAMPLED)
    sampled = [allocated(node) for node in itertools.islice(stream.head_nodes(), limit)]
    if stream.nodes <= len(sampled):
        size += sum(sampled)
    else:
        size += sum(sampled) // len(sampled) * (stream.nodes - 1)
        size += allocated(next(stream.head_nodes(reverse=True)))
    reads = _GroupReads()
    for group in reads.take(stream.groups()):
        size += _STREAM_GROUP + reads.tree((entry.id for entry in stream.pending_entries(group)),
                                           group.pending) + _NACK * group.pending
        consumers = reads.take(stream.consumers(group), group.consumers)
        for consumer in consumers:
            size += _CONSUMER + len(consumer.name) + reads.tree(
                stream.consumer_pending_ids(group, consumer.name), consumer.pending)
        unread = group.consumers - len(consumers)  # named as those read, holding the rest
        if unread:
            pending = group.pending - sum(consumer.pending for consumer in consumers)
            names = sum(len(consumer.name) for consumer in consumers) // max(len(consumers), 1)
            size += unread * (_CONSUMER + names + _RAX_NODE) + _rax_size(
                pending, round(reads.nodes_per_key * pending))
    return size


@command("usage", -3, "readonly no_touch", 2, 2, 1, group="server", container="memory",
         since="4.0.0",
         summary="Estimate the memory usage of a key",
         complexity="O(N) where N is the number of samples.")
def memory_usage(ctx: Context, argv: list[bytes]) -> int | None:
    """The bytes Redis 7.0 would use for the key (its allocator's size classes): exact for
    most strings, an estimate from SAMPLES elements (default 5, 0: all, at most
    MAX_SAMPLED) for collections."""
    samples = DEFAULT_SAMPLES
    i = 3
    while i < len(argv):
        if argv[i].lower() == b"samples" and i + 1 < len(argv):
            samples = int_arg(argv[i + 1])
            if samples < 0:
                raise CommandError(errors.SYNTAX)
            samples = samples or None
            i += 2
        else:
            raise CommandError(errors.SYNTAX)
    key = argv[2]
    with ctx.ks.reads_counted(False):  # Redis finds the key without counting a hit
        record = ctx.ks.lookup(key)
    if record is None:
        return None
    if record[0] == STRING:
        value = _string_size(record[2])
    elif record[0] == BIG_STRING:
        value = _ROBJ + _sds(ss.from_record(ctx.ks, key, record).length)
    elif record[0] == STREAM:
        value = _stream_size(streams_store.lookup(ctx.ks, key), samples,
                             ctx.server.config.stream_node_max_bytes)
    else:
        value = _collection_size(ctx.ks, key, record[0], samples)
    return value + _sds(len(key)) + _DICT_ENTRY


@command("stats", 2, "node", group="server", container="memory", since="4.0.0",
         summary="Show memory usage details")
def memory_stats(ctx: Context, argv: list[bytes]) -> dict:
    """Redis's fields; the process's RSS stands for every allocator figure (Python's heap is
    not one allocator's), the data lives in RocksDB."""
    server = ctx.server
    rss, peak = rss_bytes(), peak_rss_bytes()
    keys = sum(server.store.key_count(db) for db in range(server.config.databases))
    stats: dict = {
        b"peak.allocated": peak, b"total.allocated": rss,
        b"startup.allocated": 0, b"replication.backlog": 0, b"clients.slaves": 0,
        b"clients.normal": 0, b"cluster.links": 0, b"aof.buffer": 0, b"lua.caches": 0,
        b"functions.caches": 0,
    }
    for db in range(server.config.databases):
        if server.store.key_count(db):
            stats[b"db.%d" % db] = {b"overhead.hashtable.main": 0,
                                    b"overhead.hashtable.expires": 0,
                                    b"overhead.hashtable.slot-to-keys": 0}
    stats.update({
        b"overhead.total": 0, b"keys.count": keys,
        b"keys.bytes-per-key": rss // keys if keys else 0,
        b"dataset.bytes": rss, b"dataset.percentage": 100.0,
        b"peak.percentage": 100.0 * rss / peak, b"allocator.allocated": rss,
        b"allocator.active": rss, b"allocator.resident": rss,
        b"allocator-fragmentation.ratio": 1.0, b"allocator-fragmentation.bytes": 0,
        b"allocator-rss.ratio": 1.0, b"allocator-rss.bytes": 0, b"rss-overhead.ratio": 1.0,
        b"rss-overhead.bytes": 0, b"fragmentation": 1.0, b"fragmentation.bytes": 0,
    })
    return stats


@command("doctor", 2, "node", group="server", container="memory", since="4.0.0",
         summary="Outputs memory problems report")
def memory_doctor(ctx: Context, argv: list[bytes]) -> Verbatim:
    """Redis's verdict when its detector finds nothing: rcache has none of the allocator
    figures it reads (fragmentation, peaks of its own heap)."""
    return Verbatim(b"Hi Sam, I can't find any memory issue in your instance. I can only "
                    b"account for what occurs on this base.\n")


@command("malloc-stats", 2, "node", group="server", container="memory", since="4.0.0",
         summary="Show allocator internal stats")
def memory_malloc_stats(ctx: Context, argv: list[bytes]) -> bytes:
    return b"Stats not supported for the current allocator"  # Redis's reply without jemalloc


@command("purge", 2, "node", group="server", container="memory", since="4.0.0",
         summary="Ask the allocator to release memory")
def memory_purge(ctx: Context, argv: list[bytes]) -> SimpleString:
    return OK  # Redis's reply without jemalloc


@command("help", 2, "loading stale", group="server", container="memory", since="4.0.0",
         summary="Show helpful text about the different subcommands")
def memory_help(ctx: Context, argv: list[bytes]) -> list[SimpleString]:
    return help_reply("MEMORY", (
        "DOCTOR",
        "    Return memory problems reports.",
        "MALLOC-STATS",
        "    Return internal statistics report from the memory allocator.",
        "PURGE",
        "    Attempt to purge dirty pages for reclamation by the allocator.",
        "STATS",
        "    Return information about the memory usage of the server.",
        "USAGE <key> [SAMPLES <count>]",
        "    Return memory in bytes used by <key> and its value. Nested values are",
        "    sampled up to <count> times (default: 5, 0 means sample all)."))


# -- SLOWLOG --------------------------------------------------------------------------------------
container("slowlog", -2, "", group="server", since="2.2.12",
          summary="A container for slow log commands")
_SLOWLOG_FLAGS = "admin loading stale node"
BAD_SLOWLOG_COUNT = "ERR count should be greater than or equal to -1"


@command("get", -2, _SLOWLOG_FLAGS, group="server", container="slowlog", since="2.2.12",
         summary="Get the slow log's entries",
         complexity="O(N) where N is the number of entries returned")
def slowlog_get(ctx: Context, argv: list[bytes]) -> list:
    if len(argv) > 3:
        raise CommandError(errors.subcommand_syntax(argv[1], "slowlog"))
    count = 10
    if len(argv) == 3:
        count = parse_int(argv[2])
        if count is None or count < -1:
            raise CommandError(BAD_SLOWLOG_COUNT)
    return ctx.server.slowlog.latest(None if count == -1 else count)


@command("len", 2, _SLOWLOG_FLAGS, group="server", container="slowlog", since="2.2.12",
         summary="Get the slow log's length")
def slowlog_len(ctx: Context, argv: list[bytes]) -> int:
    return len(ctx.server.slowlog.entries)


@command("reset", 2, _SLOWLOG_FLAGS, group="server", container="slowlog", since="2.2.12",
         summary="Clear all entries from the slow log",
         complexity="O(N) where N is the number of entries in the slowlog")
def slowlog_reset(ctx: Context, argv: list[bytes]) -> SimpleString:
    ctx.server.slowlog.reset()
    return OK


@command("help", 2, "loading stale", group="server", container="slowlog", since="6.2.0",
         summary="Show helpful text about the different subcommands")
def slowlog_help(ctx: Context, argv: list[bytes]) -> list[SimpleString]:
    return help_reply("SLOWLOG", (
        "GET [<count>]",
        "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
        "    Entries are made of:",
        "    id, timestamp, time in microseconds, arguments array, client IP and port,",
        "    client name",
        "LEN",
        "    Return the length of the slowlog.",
        "RESET",
        "    Reset the slowlog."))


# -- LATENCY --------------------------------------------------------------------------------------
container("latency", -2, "", group="server", since="2.8.13",
          summary="A container for latency diagnostics commands")
_LATENCY_FLAGS = "admin noscript loading stale node"


@command("latest", 2, _LATENCY_FLAGS, group="server", container="latency", since="2.8.13",
         summary="Return the latest latency samples for all events.")
def latency_latest(ctx: Context, argv: list[bytes]) -> list:
    return []  # rcache's latency monitor records no events


@command("history", 3, _LATENCY_FLAGS, group="server", container="latency", since="2.8.13",
         summary="Return timestamp-latency samples for the event.")
def latency_history(ctx: Context, argv: list[bytes]) -> list:
    return []


@command("reset", -2, _LATENCY_FLAGS, group="server", container="latency", since="2.8.13",
         summary="Reset latency data for one or more events.")
def latency_reset(ctx: Context, argv: list[bytes]) -> int:
    return 0


@command("graph", 3, _LATENCY_FLAGS, group="server", container="latency", since="2.8.13",
         summary="Return a latency graph for the event.")
def latency_graph(ctx: Context, argv: list[bytes]) -> bytes:
    raise CommandError(errors.no_latency_samples(argv[2]))


@command("histogram", -2, _LATENCY_FLAGS, group="server", container="latency", since="7.0.0",
         summary="Return the cumulative distribution of latencies of a subset of commands or all.",
         complexity="O(N) where N is the number of commands with latency information being "
                    "retrieved.")
def latency_histogram(ctx: Context, argv: list[bytes]) -> dict:
    """Per command: its calls and how many took under each power of two of microseconds
    (Redis's own buckets are powers of two too)."""
    if len(argv) == 2:
        chosen = all_commands()
    else:
        chosen = []
        for name in argv[2:]:
            cmd = find(name)
            if cmd is not None:
                chosen += [cmd, *cmd.subcommands.values()]
    return {cmd.full_name.encode(): {b"calls": cmd.timed_calls,
                                     b"histogram_usec": cmd.latency_histogram()}
            for cmd in chosen if cmd.timed_calls}


@command("doctor", 2, _LATENCY_FLAGS, group="server", container="latency", since="2.8.13",
         summary="Return a human readable latency analysis report.")
def latency_doctor(ctx: Context, argv: list[bytes]) -> Verbatim:
    if ctx.server.config.latency_monitor_threshold == 0:
        return Verbatim(
            b"I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis "
            b"instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in "
            b"order to enable it. If we weren't in a deep space mission I'd suggest to take a "
            b"look at https://redis.io/topics/latency-monitor.\n")
    return Verbatim(b"Dave, no latency spike was observed during the lifetime of this Redis "
                    b"instance, not in the slightest bit. I honestly think you ought to sit down "
                    b"calmly, take a stress pill, and think things over.\n")


@command("help", 2, "loading stale", group="server", container="latency", since="2.8.13",
         summary="Show helpful text about the different subcommands")
def latency_help(ctx: Context, argv: list[bytes]) -> list[SimpleString]:
    return help_reply("LATENCY", (
        "DOCTOR",
        "    Return a human readable latency analysis report.",
        "GRAPH <event>",
        "    Return an ASCII latency graph for the <event> class.",
        "HISTORY <event>",
        "    Return time-latency samples for the <event> class.",
        "LATEST",
        "    Return the latest latency samples for all events.",
        "RESET [<event> ...]",
        "    Reset latency data of one or more <event> classes.",
        "    (default: reset all data for all event classes)",
        "HISTOGRAM [COMMAND ...]",
        "    Return a cumulative distribution of latencies in the format of a histogram for "
        "the specified command names.",
        "    If no commands are specified then all histograms are replied."))
