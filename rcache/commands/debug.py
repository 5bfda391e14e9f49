"""DEBUG: the subcommands of Redis 7.0's debugging command that mean something for rcache.

Refused unless enable-debug-command allows it (the server checks, as Redis's processCommand
does, before authentication). Each subcommand runs on the node the client is connected to,
outside the Raft log, on that node's data: as Redis runs DEBUG on the one server it reached
(in MULTI, when EXEC starts, before the transaction's writes apply: the "node" flag).
The ones left out (crashes, RDB/AOF files, allocator and hash-table internals, replication
streams) answer with why, in _LEFT_OUT.
"""

from __future__ import annotations

import hashlib
import logging
import math
import random
import re
import time

from .. import errors, rdb
from ..errors import CommandError
from ..glob import matcher
from ..resp import OK, BigNumber, OrderedSet, Push, RawReply, Replies, SimpleString, Verbatim
from ..resp import encode as encode_reply
from ..storage import BIG_STRING, HASH, LIST, SET, STREAM, STRING, ZSET, Keyspace
from .introspection import object_encoding, object_refcount
from .serialization import read_value
from .table import Context, command, help_reply

log = logging.getLogger("rcache")

NO_SUCH_KEY = "ERR no such key"
_PROTOCOL_TYPES = "string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false"
# Redis's object type numbers (OBJ_STRING...), which its digest hashes (big-endian, 4 bytes)
_OBJ_TYPE = {STRING: 0, BIG_STRING: 0, LIST: 1, SET: 2, ZSET: 3, HASH: 4, STREAM: 6}
_LRU_CLOCK_MAX = (1 << 24) - 1  # LRU_CLOCK_MAX: Redis's 24-bit access clock, in seconds
_PACKED_THRESHOLD_MAX = (1 << 32) - (1 << 20)  # quicklistisSetPackedThreshold's bound
_STRINGMATCH_FUZZ_ROUNDS = 10_000  # (~5 s here under load, as Redis's 1M rounds)
_STRTOD_PREFIX = re.compile(rb"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_ATOI_PREFIX = re.compile(rb"\s*[+-]?\d+")

# Redis 7.0's subcommands rcache leaves out, and why (the reply names the reason).
_LEFT_OUT = {
    b"segfault": "crashing the node on purpose", b"panic": "crashing the node on purpose",
    b"assert": "crashing the node on purpose", b"oom": "crashing the node on purpose",
    b"restart": "restarting from inside (stop it and start it again)",
    b"crash-and-recover": "restarting from inside (stop it and start it again)",
    b"leak": "leaking memory on purpose",
    b"reload": "RDB files (the data lives in RocksDB and the Raft log; nothing to reload)",
    b"loadaof": "AOF files (the Raft log is the only log)",
    b"sdslen": "Redis's sds strings", b"quicklist": "Redis's quicklist nodes",
    b"htstats": "Redis's hash tables", b"htstats-key": "Redis's hash tables",
    b"structsize": "Redis's C structures", b"mallctl": "jemalloc", b"mallctl-str": "jemalloc",
    b"populate": "writes outside the Raft log (use a pipeline of SETs)",
    b"replicate": "writes outside the Raft log",
    b"change-repl-id": "replication IDs: master_replid is this node's Raft id, which is fixed",
    b"set-skip-checksum-validation": "skipping RESTORE's checksum",
    b"aof-flush-sleep": "AOF files", b"drop-cluster-packet-filter": "Redis's cluster bus",
    b"clusterlink": "Redis's cluster bus", b"client-eviction": "maxmemory-clients",
    b"pause-cron": "pausing serverCron", b"replybuffer": "Redis's reply buffers",
    b"config-rewrite-force-all": "rewriting every option into the config file",
    b"set-disable-deny-scripts": "letting scripts run commands they may not",
}


@command("debug", -2, "admin noscript loading stale node", group="server", since="1.0.0",
         summary="A container for debugging commands", complexity="Depends on subcommand.")
def debug(ctx: Context, argv: list[bytes]):
    sub = argv[1].lower()
    run = _SUBCOMMANDS.get((sub, len(argv))) or _SUBCOMMANDS.get((sub, None))
    if run is not None:
        return run(ctx, argv)
    if sub in _LEFT_OUT:
        raise CommandError(f"ERR DEBUG {sub.decode().upper()} is not available in rcache: "
                           f"{_LEFT_OUT[sub]}")
    raise CommandError(errors.subcommand_syntax(argv[1], "DEBUG"))


def _help_reply(ctx: Context, argv: list[bytes]) -> list[SimpleString]:
    return help_reply("DEBUG", (
        "DIGEST",
        "    Output a hex signature representing the current DB content.",
        "DIGEST-VALUE <key> [<key> ...]",
        "    Output a hex signature of the values of all the specified keys.",
        "ERROR <string>",
        "    Return a Redis protocol error with <string> as message. Useful for clients",
        "    unit tests to simulate Redis errors.",
        "LOG <message>",
        "    Write <message> to the server log.",
        "OBJECT <key>",
        "    Show low level info about `key` and associated value.",
        "PROTOCOL <type>",
        "    Reply with a test value of the specified type. <type> can be: string,",
        "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
        "    true, false.",
        "SET-ACTIVE-EXPIRE <0|1>",
        "    Setting it to 0 disables expiring keys in background when they are not",
        "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
        "    default.",
        "QUICKLIST-PACKED-THRESHOLD <size>",
        "    Sets the threshold for elements to be inserted as plain vs packed nodes",
        "    Default value is 1GB, allows values up to 4GB. Setting to 0 restores to default.",
        "SLEEP <seconds>",
        "    Stop the server for <seconds>. Decimals allowed.",
        "STRINGMATCH-TEST",
        "    Run a fuzz tester against the stringmatchlen() function.",
        "LISTPACK <key>",
        "    Show low level info about the listpack encoding of <key>."))


def _strtod(raw: bytes) -> float:
    """C's strtod as Redis calls it (no error check): the leading number, else 0."""
    match = _STRTOD_PREFIX.match(raw)
    return float(match.group(0)) if match else 0.0


def _atoi(raw: bytes) -> int:
    """C's atoi: the leading integer, else 0."""
    match = _ATOI_PREFIX.match(raw)
    return int(match.group(0)) if match else 0


def _sleep(ctx: Context, argv: list[bytes]) -> SimpleString:
    """Blocks this node's event loop (its clients wait, as Redis's do), for the time asked:
    a debugging tool. Raft runs on its own thread, so the node stays in its cluster."""
    seconds = _strtod(argv[2])
    if math.isfinite(seconds) and seconds > 0:
        time.sleep(int(seconds * 1_000_000) / 1_000_000)
    return OK


def _log(ctx: Context, argv: list[bytes]) -> SimpleString:
    log.warning("DEBUG LOG: %s", argv[2].decode(errors="replace"))
    return OK


def _error(ctx: Context, argv: list[bytes]) -> None:
    """The argument as an error reply, as given (no ERR prefix; line breaks become spaces)."""
    raise CommandError(argv[2].decode("utf-8", "surrogateescape"))


def _protocol(ctx: Context, argv: list[bytes]):
    """Redis's test replies of every RESP3 type (what client libraries test their parsers on)."""
    name = argv[2].lower()
    resp3 = ctx.client.resp3
    if name == b"string":
        return b"Hello World"
    if name == b"integer":
        return 12345
    if name == b"double":
        return 3.141
    if name == b"bignum":
        return BigNumber(b"1234567999999999999999999999999999999")
    if name == b"null":
        return None
    if name == b"array":
        return [0, 1, 2]
    if name == b"set":
        return OrderedSet([0, 1, 2])
    if name == b"map":
        return {0: False, 1: True, 2: False}
    if name == b"attrib":
        following = b"Some real reply following the attribute"
        if not resp3:
            return following
        attribute = encode_reply([b"key:123", 90], resp3=True)
        return RawReply(b"|1\r\n$14\r\nkey-popularity\r\n" + attribute
                        + encode_reply(following, resp3=True))
    if name == b"push":
        if not resp3:
            raise CommandError("ERR RESP2 is not supported by this command")
        return Replies([Push([b"server-cpu-usage", 42]),
                        b"Some real reply following the push reply"])
    if name == b"true":
        return True
    if name == b"false":
        return False
    if name == b"verbatim":
        return Verbatim(b"This is a verbatim\nstring")
    raise CommandError("ERR Wrong protocol type name. Please use one of the following: "
                       + _PROTOCOL_TYPES)


def _set_active_expire(ctx: Context, argv: list[bytes]) -> SimpleString:
    """This node's sweep of expired keys, which it runs while it leads (atoi, as Redis: any
    non-zero number enables it). Keys past their TTL still read as missing meanwhile."""
    ctx.server.active_expire_enabled = _atoi(argv[2]) != 0
    return OK


def _quicklist_packed_threshold(ctx: Context, argv: list[bytes]) -> SimpleString:
    """Checked as Redis checks it. rcache stores a list's elements one per record, in no
    packed or plain node, so there is no threshold to move: no reply changes with it."""
    from ..config import parse_memory
    try:
        size = parse_memory(argv[2].decode(errors="replace"))
    except ValueError:
        size = _PACKED_THRESHOLD_MAX + 1
    if size > _PACKED_THRESHOLD_MAX:
        raise CommandError("ERR argument must be a memory value bigger than 1 and smaller "
                           "than 4gb")
    return OK


def _listpack(ctx: Context, argv: list[bytes]) -> SimpleString:
    """The elements of a value Redis would hold as a listpack, written to this node's log
    (Redis prints the listpack on its stdout)."""
    encoding = _encoding_or_no_key(ctx, argv[2])
    if encoding != b"listpack":
        raise CommandError("ERR Not a listpack encoded object.")
    kind, data = read_value(ctx.ks, argv[2])
    log.warning("DEBUG LISTPACK %r (%s): %r", argv[2], kind, data)
    return SimpleString("Listpack structure printed on stdout")


def _encoding_or_no_key(ctx: Context, key: bytes) -> bytes:
    encoding = object_encoding(ctx, [b"object", b"encoding", key])
    if encoding is None:
        raise CommandError(NO_SUCH_KEY)
    return encoding


def _object(ctx: Context, argv: list[bytes]) -> SimpleString:
    """Redis's line: the value's address (of its payload in this process), refcount and
    encoding as OBJECT reports them, the length of its DUMP serialization, and this node's
    access clock (LRU clock in seconds, idle seconds)."""
    key = argv[2]
    encoding = _encoding_or_no_key(ctx, key)
    refcount = object_refcount(ctx, [b"object", b"refcount", key])
    kind, data = read_value(ctx.ks, key)
    serialized = len(rdb.dump(kind, data)) - 11  # less the type byte, version and CRC
    now_ms = ctx.now_ms
    idle_ms = ctx.server.eviction.clock.idle_ms(ctx.client.db, key, now_ms)
    lru = (now_ms - idle_ms) // 1000 & _LRU_CLOCK_MAX
    return SimpleString(
        f"Value at:{id(data):#x} refcount:{refcount} encoding:{encoding.decode()} "
        f"serializedlength:{serialized} lru:{lru} lru_seconds_idle:{idle_ms // 1000}")


# -- digests: Redis's computeDatasetDigest, byte for byte ---------------------------------------
def _xor_into(digest: bytearray, data: bytes) -> None:
    """xorDigest: digest ^= SHA1(data) (order-free: for unordered elements)."""
    for i, byte in enumerate(hashlib.sha1(data).digest()):
        digest[i] ^= byte


def _mix_into(digest: bytearray, data: bytes) -> None:
    """mixDigest: digest = SHA1(digest ^ SHA1(data)) (order matters)."""
    _xor_into(digest, data)
    digest[:] = hashlib.sha1(digest).digest()


def _element_digest(*parts: bytes) -> bytes:
    digest = bytearray(20)
    for part in parts:
        _mix_into(digest, part)
    return bytes(digest)


def _value_digest(ks: Keyspace, key: bytes, digest: bytearray) -> bool:
    """xorObjectDigest of a live key into digest; False if there is no such key."""
    record = ks.lookup(key)
    if record is None:
        return False
    kind_name, data = read_value(ks, key)
    kind = record[0]
    _mix_into(digest, _OBJ_TYPE[kind].to_bytes(4, "big"))
    if kind in (STRING, BIG_STRING):
        _mix_into(digest, data)
    elif kind == LIST:
        for element in data:
            _mix_into(digest, element)
    elif kind == SET:
        for member in data:
            _xor_into(digest, member)
    elif kind == ZSET:
        for member, score in data:
            _xor_into(digest, _element_digest(member, b"%.17g" % score))
    elif kind == HASH:
        for field, value in data:
            _xor_into(digest, _element_digest(field, value))
    else:  # a stream's entries, in order: id "ms.seq", then its fields and values
        for (ms, seq), fields in data.entries:
            _mix_into(digest, b"%d.%d" % (ms, seq))
            for part in fields:
                _mix_into(digest, part)
    if record[1]:
        _xor_into(digest, b"!!expire!!")
    return True


def dataset_digest(ctx: Context) -> bytes:
    """computeDatasetDigest over this node's databases: the same data gives the same 40 hex
    digits as on Redis. A walk of every key (O(N), as Redis's and as KEYS)."""
    final = bytearray(20)
    for dbnum in range(ctx.server.config.databases):
        ks = ctx.db(dbnum)
        keys = ks.iter_keys()
        first = next(keys, None)
        if first is None:
            continue
        _mix_into(final, dbnum.to_bytes(4, "big"))
        for key in (first, *keys):
            digest = bytearray(20)
            _mix_into(digest, key)
            _value_digest(ks, key, digest)
            _xor_into(final, digest)
    return final.hex().encode()


def _digest(ctx: Context, argv: list[bytes]) -> SimpleString:
    return SimpleString(dataset_digest(ctx).decode())


def _digest_value(ctx: Context, argv: list[bytes]) -> list[SimpleString]:
    """Each key's value digest (all zeros for a missing key)."""
    replies = []
    for key in argv[2:]:
        digest = bytearray(20)
        _value_digest(ctx.ks, key, digest)
        replies.append(SimpleString(digest.hex()))
    return replies


def _stringmatch_test(ctx: Context, argv: list[bytes]) -> SimpleString:
    """Redis's fuzz test of its glob matcher, on rcache.glob: random patterns against random
    strings, that must not fail (a fixed seed: the same rounds every time)."""
    rng = random.Random(0)
    alphabet = b"*?[]\\^-!abc"
    for _ in range(_STRINGMATCH_FUZZ_ROUNDS):
        pattern = bytes(rng.choice(alphabet) for _ in range(rng.randrange(32)))
        subject = bytes(rng.randrange(256) for _ in range(rng.randrange(32)))
        matcher(pattern, nocase=bool(rng.getrandbits(1)))(subject)
    return SimpleString("Apparently Redis did not crash: test passed")


# (subcommand, argc or None for any) -> handler: Redis's own argc checks
_SUBCOMMANDS = {
    (b"help", 2): _help_reply,
    (b"sleep", 3): _sleep,
    (b"log", 3): _log,
    (b"error", 3): _error,
    (b"protocol", 3): _protocol,
    (b"set-active-expire", 3): _set_active_expire,
    (b"quicklist-packed-threshold", 3): _quicklist_packed_threshold,
    (b"listpack", 3): _listpack,
    (b"object", 3): _object,
    (b"digest", 2): _digest,
    (b"digest-value", None): _digest_value,
    (b"stringmatch-test", 2): _stringmatch_test,
}
