"""Keyspace notifications: the classes of ``notify-keyspace-events`` and the messages.

A write handler names what it did (``ks.notify(LIST, b"lpush", key)``); the state machine
collects the events of an entry and, once the entry is committed, hands them to the node's
hub, which publishes ``__keyspace@<db>__:<key> <event>`` and ``__keyevent@<db>__:<event>
<key>`` for the classes this node's option enables. Which events an entry produces depends
on the entry alone; only delivery reads the node's option, as delivery is node-local anyway.
"""

from __future__ import annotations

# Redis's NOTIFY_* bits (server.h), so flag strings read and print as Redis's do.
KEYSPACE, KEYEVENT, GENERIC, STRING, LIST, SET, HASH, ZSET = 1, 2, 4, 8, 16, 32, 64, 128
EXPIRED, EVICTED, STREAM, KEY_MISS, MODULE, NEW = 256, 512, 1024, 2048, 4096, 8192
ALL = GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE
# Not a class: a PUBLISH of the entry, kept in its place among the events while they are
# collected (``(PUBLISHED, channel, message, delivery)``), so subscribers see log order;
# SHARD_PUBLISHED is an SPUBLISH, the same way.
PUBLISHED, SHARD_PUBLISHED = 0, -1
# Not a class either (no option bit matches it): a database was emptied (FLUSHDB, FLUSHALL),
# ``(FLUSHED, b"flush", b"", db)``, for client tracking's null invalidation.
FLUSHED = 1 << 30

_BY_CHAR = {"A": ALL, "g": GENERIC, "$": STRING, "l": LIST, "s": SET, "h": HASH, "z": ZSET,
            "x": EXPIRED, "e": EVICTED, "K": KEYSPACE, "E": KEYEVENT, "t": STREAM,
            "m": KEY_MISS, "d": MODULE, "n": NEW}
# The order keyspaceEventsFlagsToString prints classes in (after A or them: K E m).
_CLASS_ORDER = "g$lshzxetdn"


def parse_flags(text: str) -> int:
    """keyspaceEventsStringToFlags: any of 'Ag$lshzxeKEtmdn', in any order."""
    flags = 0
    for char in text:
        if char not in _BY_CHAR:
            raise ValueError("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")
        flags |= _BY_CHAR[char]
    return flags


def format_flags(flags: int) -> str:
    """keyspaceEventsFlagsToString, as CONFIG GET shows the option."""
    if flags & ALL == ALL:
        text = "A"
    else:
        text = "".join(char for char in _CLASS_ORDER if flags & _BY_CHAR[char])
    return text + "".join(char for char in "KEm" if flags & _BY_CHAR[char])


def messages(flags: int, kind: int, event: bytes, key: bytes, db: int) -> list[tuple[bytes, bytes]]:
    """The (channel, message) pairs one event publishes under these flags (0, 1 or 2)."""
    if not flags & kind:
        return []
    found = []
    if flags & KEYSPACE:
        found.append((b"__keyspace@%d__:%s" % (db, key), event))
    if flags & KEYEVENT:
        found.append((b"__keyevent@%d__:%s" % (db, event), key))
    return found
