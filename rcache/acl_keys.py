"""What each key of a command needs from a user's key patterns (``%R~``, ``%W~``, ``~``),
from Redis 7.0's key specifications (COMMAND INFO): "R" when the command reads the value
(ACCESS), "W" when it inserts, updates or deletes, both, or neither (a key whose existence
or metadata alone is used: any pattern that matches it will do). A command with several
key specifications lists (where its keys begin, what they need): a position, or a keyword
(and where Redis starts looking for it, from the end when negative) that the keys follow.
SET and BITFIELD depend on their arguments, as in Redis. Commands Redis does not have need R
if they read, W if they write."""

from __future__ import annotations

NEEDS: dict[str, str] = {
    **dict.fromkeys((
        "bitcount", "bitfield_ro", "bitpos", "dump", "eval_ro", "evalsha_ro", "expiretime",
        "fcall_ro", "geodist", "geohash", "geopos", "georadius_ro", "georadiusbymember_ro",
        "geosearch", "get", "getbit", "getrange", "hget", "hgetall", "hkeys", "hmget",
        "hrandfield", "hscan", "hvals", "lcs", "lindex", "lpos", "lrange", "mget", "pexpiretime",
        "pfcount", "pfdebug", "pttl", "sdiff", "sinter", "sintercard", "smembers", "smismember",
        "sort_ro", "srandmember", "sscan", "substr", "sunion", "ttl", "zcount", "zdiff", "zinter",
        "zintercard", "zlexcount", "zmscore", "zrandmember", "zrange", "zrangebylex",
        "zrangebyscore", "zrank", "zrevrange", "zrevrangebylex", "zrevrangebyscore", "zrevrank",
        "zscan", "zscore", "zunion",
    ), "R"),
    **dict.fromkeys((
        "append", "del", "expire", "expireat", "geoadd", "hdel", "hmset", "hset", "hsetnx",
        "linsert", "lpush", "lpushx", "lrem", "lset", "ltrim", "mset", "msetnx", "persist",
        "pexpire", "pexpireat", "pfadd", "psetex", "restore", "restore-asking", "rpush", "rpushx",
        "sadd", "setex", "setnx", "setrange", "srem", "unlink", "zadd", "zrem", "zremrangebylex",
        "zremrangebyrank", "zremrangebyscore",
    ), "W"),
    **dict.fromkeys((
        "blmpop", "blpop", "brpop", "bzmpop", "bzpopmax", "bzpopmin", "decr",
        "decrby", "eval", "evalsha", "fcall", "getdel", "getex", "getset", "hincrby",
        "hincrbyfloat", "incr", "incrby", "incrbyfloat", "lmpop", "lpop", "migrate", "move",
        "rpop", "setbit", "spop", "zincrby", "zmpop", "zpopmax", "zpopmin",
    ), "RW"),
    **dict.fromkeys((
        "exists", "hexists", "hlen", "hstrlen", "llen", "memory|usage", "object|encoding",
        "object|freq", "object|idletime", "object|refcount", "scard", "sismember", "strlen",
        "touch", "type", "watch", "zcard",
    ), ""),
}

SPECS: dict[str, tuple[tuple[int | tuple[str, int], str], ...]] = {
    "bitop": ((2, "W"), (3, "R")),
    "blmove": ((1, "RW"), (2, "W")),
    "brpoplpush": ((1, "RW"), (2, "W")),
    "copy": ((1, "R"), (2, "W")),
    "georadius": ((1, "R"), (("STORE", 6), "W"), (("STOREDIST", 6), "W")),
    "georadiusbymember": ((1, "R"), (("STORE", 5), "W"), (("STOREDIST", 5), "W")),
    "geosearchstore": ((1, "W"), (2, "R")),
    "lmove": ((1, "RW"), (2, "W")),
    "pfmerge": ((1, "RW"), (2, "R")),
    "rename": ((1, "RW"), (2, "W")),
    "renamenx": ((1, "RW"), (2, "W")),
    "rpoplpush": ((1, "RW"), (2, "W")),
    "sdiffstore": ((1, "W"), (2, "R")),
    "sinterstore": ((1, "W"), (2, "R")),
    "smove": ((1, "RW"), (2, "W")),
    "sort": ((1, "R"), (2, "W")),
    "sunionstore": ((1, "W"), (2, "R")),
    "zdiffstore": ((1, "W"), (2, "R")),
    "zinterstore": ((1, "W"), (2, "R")),
    "zrangestore": ((1, "W"), (2, "R")),
    "zunionstore": ((1, "W"), (2, "R")),
}


def key_needs(name: str, argv: list[bytes], indexes: list[int], writes: bool) -> list[str]:
    """What each key at ``indexes`` of argv needs ("R", "W", "RW" or "")."""
    if name == "set":  # SET ... GET reads the old value
        need = "RW" if any(arg.lower() == b"get" for arg in argv[3:]) else "W"
    elif name == "bitfield":
        need = "R" if _bitfield_only_reads(argv) else "RW"
    elif name not in SPECS:
        need = NEEDS.get(name, "W" if writes else "R")
    else:
        begins = sorted((position, need) for begin, need in SPECS[name]
                        if (position := _position(begin, argv)) is not None)
        return [next((need for position, need in reversed(begins) if position <= index),
                     begins[0][1]) for index in indexes]
    return [need] * len(indexes)


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
