"""Redis 7.0's key-spec flags of each command's keys (COMMAND INFO), and what each key so
needs from a user's key patterns (``%R~``, ``%W~``, ``~``): "R" when the command reads the
value (ACCESS), "W" when it inserts, updates or deletes, both, or neither (a key whose
existence or metadata alone is used: any pattern that matches it will do). A command with
several key specifications lists (where its keys begin, their flags): a position, or a keyword
(and where Redis starts looking for it, from the end when negative) that the keys follow.
SET and BITFIELD depend on their arguments, as in Redis. Commands Redis does not have read
("RO access") or write ("OW update") as their flags say."""

from __future__ import annotations

FLAGS: dict[str, str] = {
    **dict.fromkeys((
        "bitcount", "bitfield_ro", "bitpos", "dump", "eval_ro", "evalsha_ro", "expiretime",
        "fcall_ro", "geodist", "geohash", "geopos", "georadius_ro", "georadiusbymember_ro",
        "geosearch", "get", "getbit", "getrange", "hget", "hgetall", "hkeys", "hmget",
        "hrandfield", "hscan", "hvals", "lcs", "lindex", "lpos", "lrange", "mget",
        "pexpiretime", "pttl", "sdiff", "sinter", "sintercard", "smembers", "smismember",
        "sort_ro", "srandmember", "sscan", "substr", "sunion", "ttl", "xinfo|consumers",
        "xinfo|groups", "xinfo|stream", "xpending", "xrange", "xread", "xreadgroup",
        "xrevrange", "zcount", "zdiff", "zinter", "zintercard", "zlexcount", "zmscore",
        "zrandmember", "zrange", "zrangebylex", "zrangebyscore", "zrank", "zrevrange",
        "zrevrangebylex", "zrevrangebyscore", "zrevrank", "zscan", "zscore", "zunion",
    ), "RO access"),
    **dict.fromkeys((
        "exists", "hexists", "hlen", "hstrlen", "llen", "memory|usage", "object|encoding",
        "object|freq", "object|idletime", "object|refcount", "scard", "sismember", "strlen",
        "touch", "type", "watch", "xlen", "zcard",
    ), "RO"),
    **dict.fromkeys((
        "expire", "expireat", "geoadd", "hmset", "hset", "lset", "persist", "pexpire",
        "pexpireat", "setrange", "xack", "xadd", "xclaim", "xgroup|setid", "xsetid", "zadd",
    ), "RW update"),
    **dict.fromkeys((
        "blmpop", "blpop", "brpop", "bzmpop", "bzpopmax", "bzpopmin", "getdel", "lmpop",
        "lpop", "migrate", "rpop", "spop", "zmpop", "zpopmax", "zpopmin",
    ), "RW access delete"),
    **dict.fromkeys((
        "decr", "decrby", "eval", "evalsha", "fcall", "getex", "getset", "hincrby",
        "hincrbyfloat", "incr", "incrby", "incrbyfloat", "move", "setbit", "zincrby",
    ), "RW access update"),
    **dict.fromkeys((
        "hdel", "lrem", "ltrim", "srem", "xautoclaim", "xdel", "xgroup|delconsumer",
        "xgroup|destroy", "xtrim", "zrem", "zremrangebylex", "zremrangebyrank",
        "zremrangebyscore",
    ), "RW delete"),
    **dict.fromkeys((
        "append", "hsetnx", "linsert", "lpush", "lpushx", "pfadd", "rpush", "rpushx",
        "sadd", "xgroup|create", "xgroup|createconsumer",
    ), "RW insert"),
    **dict.fromkeys((
        "mset", "psetex", "restore", "restore-asking", "setex",
    ), "OW update"),
    **dict.fromkeys((
        "msetnx", "setnx",
    ), "OW insert"),
    **dict.fromkeys((
        "del", "unlink",
    ), "RM delete"),
    **dict.fromkeys((
        "pfcount", "pfdebug",
    ), "RW access"),
}

SPECS: dict[str, tuple[tuple[int | tuple[str, int], str], ...]] = {
    "bitop": ((2, "OW update"), (3, "RO access")),
    "blmove": ((1, "RW access delete"), (2, "RW insert")),
    "brpoplpush": ((1, "RW access delete"), (2, "RW insert")),
    "copy": ((1, "RO access"), (2, "OW update")),
    "georadius": ((1, "RO access"), (('STORE', 6), "OW update"), (('STOREDIST', 6), "OW update")),
    "georadiusbymember": (
        (1, "RO access"), (('STORE', 5), "OW update"), (('STOREDIST', 5), "OW update")),
    "geosearchstore": ((1, "OW update"), (2, "RO access")),
    "lmove": ((1, "RW access delete"), (2, "RW insert")),
    "pfmerge": ((1, "RW access insert"), (2, "RO access")),
    "rename": ((1, "RW access delete"), (2, "OW update")),
    "renamenx": ((1, "RW access delete"), (2, "OW insert")),
    "rpoplpush": ((1, "RW access delete"), (2, "RW insert")),
    "sdiffstore": ((1, "OW update"), (2, "RO access")),
    "sinterstore": ((1, "RW update"), (2, "RO access")),
    "smove": ((1, "RW access delete"), (2, "RW insert")),
    "sort": ((1, "RO access"), (2, "OW update")),
    "sunionstore": ((1, "OW update"), (2, "RO access")),
    "zdiffstore": ((1, "OW update"), (2, "RO access")),
    "zinterstore": ((1, "OW update"), (2, "RO access")),
    "zrangestore": ((1, "OW update"), (2, "RO access")),
    "zunionstore": ((1, "OW update"), (2, "RO access")),
}


def key_flags(name: str, argv: list[bytes], indexes: list[int], writes: bool) -> list[str]:
    """Redis's key-spec flags of each key at ``indexes`` of argv (COMMAND GETKEYSANDFLAGS):
    "RO access", "OW update"..."""
    if name == "set":  # SET ... GET reads the old value
        flags = "RW access update" if any(arg.lower() == b"get" for arg in argv[3:]) else (
            "OW update")
    elif name == "bitfield":
        flags = "RO access" if _bitfield_only_reads(argv) else "RW access update"
    elif name not in SPECS:
        flags = FLAGS.get(name, "OW update" if writes else "RO access")
    else:
        begins = sorted((position, flags) for begin, flags in SPECS[name]
                        if (position := _position(begin, argv)) is not None)
        return [next((flags for position, flags in reversed(begins) if position <= index),
                     begins[0][1]) for index in indexes]
    return [flags] * len(indexes)


def key_needs(name: str, argv: list[bytes], indexes: list[int], writes: bool) -> list[str]:
    """What each key at ``indexes`` of argv needs ("R", "W", "RW" or ""), as Redis's
    ACLSelectorCheckKey reads the flags: ACCESS reads, INSERT DELETE UPDATE write."""
    return [_need(flags.split()) for flags in key_flags(name, argv, indexes, writes)]


def _need(words: list[str]) -> str:
    return ("R" if "access" in words else "") + (
        "W" if any(word in ("insert", "delete", "update") for word in words) else "")


def _position(begin: int | tuple[str, int], argv: list[bytes]) -> int | None:
    """Where a key specification's keys begin in argv (None: its keyword is absent)."""
    if isinstance(begin, int):
        return begin
    keyword, start = begin
    found = range(start, len(argv)) if start > 0 else range(len(argv) + start, 0, -1)
    return next((i + 1 for i in found if argv[i].decode(errors="replace").upper() == keyword),
                None)


def _bitfield_only_reads(argv: list[bytes]) -> bool:
    """Redis's bitfieldGetKeys: GET and OVERFLOW only (anything else may write)."""
    i = 2
    while i < len(argv):
        word, left = argv[i].lower(), len(argv) - i - 1
        if word == b"get" and left >= 2:
            i += 3
        elif word == b"overflow" and left >= 1:
            i += 2
        else:
            return False
    return True
