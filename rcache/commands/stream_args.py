"""Stream ids as Redis reads them, and the parsers of the stream writes.

A parser checks what Redis 7.0's t_stream.c checks before it looks the key up, in its order,
and stops where Redis reads the key: so a malformed XADD is refused before the Raft log,
while XDEL, XACK, XCLAIM and XGROUP DESTROY/CREATECONSUMER/DELCONSUMER (which look at the
key first) have no parser, and XGROUP CREATE/SETID and XREADGROUP leave their ids to apply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .. import errors
from ..errors import CommandError
from ..resp import parse_int
from ..streams_store import MAX_ID, UNKNOWN_READS, ZERO_ID, StreamId
from .args import int_arg

U64_MAX = 2**64 - 1
INVALID_ID = "ERR Invalid stream ID specified as stream command argument"
ID_ZERO = "ERR The ID specified in XADD must be greater than 0-0"
ENTRIES_READ_RANGE = "ERR value for ENTRIESREAD must be positive or -1"
_STRTOULL = re.compile(rb"[ \t\n\v\f\r]*[+-]?([0-9]+)\Z")


# -- ids ----------------------------------------------------------------------------------------
def _u64(raw: bytes) -> int | None:
    """string2ull: string2ll's strict form when it fits (negative: invalid), else strtoull."""
    value = parse_int(raw)
    if value is not None:
        return value if value >= 0 else None
    match = _STRTOULL.match(raw)
    if match is None:
        return None
    value = int(match.group(1))
    if value > U64_MAX:
        return None
    return (-value) % (1 << 64) if raw.lstrip(b" \t\n\v\f\r")[:1] == b"-" else value


def parse_id(raw: bytes, missing_seq: int = 0, strict: bool = False,
             star_seq: bool = False) -> tuple[StreamId, bool]:
    """streamGenericParseIDOrReply -> (id, whether the sequence was given: False for
    ``ms-*`` when ``star_seq`` allows it)."""
    raw = raw.split(b"\x00", 1)[0] if len(raw) <= 127 else None
    if raw is None or (strict and raw in (b"-", b"+")):
        raise CommandError(INVALID_ID)
    if raw == b"-":
        return ZERO_ID, True
    if raw == b"+":
        return MAX_ID, True
    ms_part, dash, seq_part = raw.partition(b"-")
    ms = _u64(ms_part)
    if ms is None:
        raise CommandError(INVALID_ID)
    if not dash:
        return (ms, missing_seq), True
    if star_seq and seq_part == b"*":
        return (ms, 0), False
    seq = _u64(seq_part)
    if seq is None:
        raise CommandError(INVALID_ID)
    return (ms, seq), True


def strict_id(raw: bytes, missing_seq: int = 0) -> StreamId:
    return parse_id(raw, missing_seq, strict=True)[0]


def next_id(stream_id: StreamId) -> StreamId | None:
    ms, seq = stream_id
    if seq < U64_MAX:
        return ms, seq + 1
    return (ms + 1, 0) if ms < U64_MAX else None


def _previous_id(stream_id: StreamId) -> StreamId | None:
    ms, seq = stream_id
    if seq > 0:
        return ms, seq - 1
    return (ms - 1, U64_MAX) if ms > 0 else None


def interval_start(raw: bytes) -> StreamId:
    """An interval's start: ``-``, an id, or ``(id`` for ids after it."""
    if len(raw) > 1 and raw[:1] == b"(":
        after = next_id(strict_id(raw[1:]))
        if after is None:
            raise CommandError("ERR invalid start ID for the interval")
        return after
    return parse_id(raw)[0]


def interval_end(raw: bytes) -> StreamId:
    if len(raw) > 1 and raw[:1] == b"(":
        before = _previous_id(strict_id(raw[1:], U64_MAX))
        if before is None:
            raise CommandError("ERR invalid end ID for the interval")
        return before
    return parse_id(raw, U64_MAX)[0]


# -- XADD XTRIM -----------------------------------------------------------------------------------
@dataclass(slots=True)
class Trim:
    strategy: bytes | None = None  # b"maxlen" | b"minid"
    approximate: bool = False
    threshold: int | StreamId = 0
    limit: int | None = None  # None: not given (its default depends on the configuration)


@dataclass(slots=True)
class AddArgs:
    """XADD's arguments (XTRIM reads only ``key`` and ``trim``)."""

    key: bytes
    trim: Trim = field(default_factory=Trim)
    no_mkstream: bool = False
    id: StreamId | None = None  # None: *
    seq_given: bool = True  # False for ms-*
    fields: list[bytes] = field(default_factory=list)


def _add_or_trim(argv: list[bytes], xadd: bool) -> tuple[AddArgs, int]:
    """streamParseAddOrTrimArgsOrReply: the trimming, and for XADD its own options; with
    the position of XADD's id."""
    found = AddArgs(argv[1])
    trim = found.trim
    i = 2
    while i < len(argv):
        more = len(argv) - 1 - i
        option = argv[i].lower()
        if xadd and argv[i] == b"*":
            break
        if option in (b"maxlen", b"minid") and more:
            if trim.strategy is not None:
                raise CommandError("ERR syntax error, MAXLEN and MINID options at the same "
                                   "time are not compatible")
            trim.approximate = False
            if more >= 2 and argv[i + 1] in (b"~", b"="):
                trim.approximate = argv[i + 1] == b"~"
                i += 1
            if option == b"maxlen":
                trim.threshold = int_arg(argv[i + 1])
                if trim.threshold < 0:
                    raise CommandError("ERR The MAXLEN argument must be >= 0.")
            else:
                trim.threshold = strict_id(argv[i + 1])
            trim.strategy = option
            i += 1
        elif option == b"limit" and more:
            trim.limit = int_arg(argv[i + 1])
            if trim.limit < 0:
                raise CommandError("ERR The LIMIT argument must be >= 0.")
            i += 1
        elif xadd and option == b"nomkstream":
            found.no_mkstream = True
        elif xadd:
            found.id, found.seq_given = parse_id(argv[i], strict=True, star_seq=True)
            break
        else:
            raise CommandError(errors.SYNTAX)
        i += 1
    if trim.limit and trim.strategy is None:
        raise CommandError("ERR syntax error, LIMIT cannot be used without specifying a "
                           "trimming strategy")
    if not xadd and trim.strategy is None:
        raise CommandError("ERR syntax error, XTRIM must be called with a trimming strategy")
    if trim.limit is not None and not trim.approximate:
        raise CommandError("ERR syntax error, LIMIT cannot be used without the special ~ option")
    return found, i


def parse_xadd(argv: list[bytes]) -> AddArgs:
    """xaddCommand: all its checks come before the key's."""
    found, id_at = _add_or_trim(argv, xadd=True)
    found.fields = argv[id_at + 1:]
    if len(found.fields) < 2 or len(found.fields) % 2:
        raise CommandError(errors.wrong_arity("xadd"))
    if found.id == ZERO_ID and found.seq_given:
        raise CommandError(ID_ZERO)
    return found


def parse_xtrim(argv: list[bytes]) -> AddArgs:
    return _add_or_trim(argv, xadd=False)[0]


# -- XSETID ---------------------------------------------------------------------------------------
@dataclass(slots=True)
class SetIdArgs:
    key: bytes
    id: StreamId
    entries_added: int = -1  # -1: not given
    max_deleted: StreamId = ZERO_ID  # 0-0: not given


def parse_xsetid(argv: list[bytes]) -> SetIdArgs:
    """xsetidCommand: the id and its options, all before the key."""
    found = SetIdArgs(argv[1], strict_id(argv[2]))
    i = 3
    while i < len(argv):
        option = argv[i].lower()
        if option == b"entriesadded" and i + 1 < len(argv):
            found.entries_added = int_arg(argv[i + 1])
            if found.entries_added < 0:
                raise CommandError("ERR entries_added must be positive")
        elif option == b"maxdeletedid" and i + 1 < len(argv):
            found.max_deleted = strict_id(argv[i + 1])
            if found.id < found.max_deleted:
                raise CommandError("ERR The ID specified in XSETID is smaller than the "
                                   "provided max_deleted_entry_id")
        else:
            raise CommandError(errors.SYNTAX)
        i += 2
    return found


# -- XGROUP CREATE / SETID ------------------------------------------------------------------------
@dataclass(slots=True)
class GroupOptions:
    mkstream: bool = False
    entries_read: int = UNKNOWN_READS


GroupArgs = tuple[list[bytes], GroupOptions]  # XGROUP's argv, its options


def parse_group_options(argv: list[bytes]) -> GroupArgs:
    """xgroupCommand's options of CREATE (MKSTREAM, ENTRIESREAD) and SETID (ENTRIESREAD),
    read before the key; the id, and how many arguments there are, come after it."""
    found = GroupOptions()
    create = argv[1].lower() == b"create"
    i = 5
    while i < len(argv):
        option = argv[i].lower()
        if create and option == b"mkstream":
            found.mkstream = True
            i += 1
        elif option == b"entriesread" and i + 1 < len(argv):
            found.entries_read = int_arg(argv[i + 1])
            if found.entries_read < 0 and found.entries_read != UNKNOWN_READS:
                raise CommandError(ENTRIES_READ_RANGE)
            i += 2
        else:
            raise CommandError(errors.subcommand_syntax(argv[1], "xgroup"))
    return argv, found


# -- XREAD XREADGROUP -----------------------------------------------------------------------------
@dataclass(slots=True)
class ReadArgs:
    block_ms: int | None = None  # None: no BLOCK
    count: int = 0
    group: bytes | None = None
    consumer: bytes = b""
    noack: bool = False
    keys: list[bytes] = field(default_factory=list)
    ids: list[bytes] = field(default_factory=list)  # as given: each stream's is read in apply


def _block_timeout(raw: bytes) -> int:
    """getTimeoutFromObjectOrReply in milliseconds."""
    value = parse_int(raw)
    if value is None:
        raise CommandError("ERR timeout is not an integer or out of range")
    if value < 0:
        raise CommandError("ERR timeout is negative")
    return value


def parse_read(argv: list[bytes]) -> ReadArgs:
    """xreadCommand's options, for XREAD and XREADGROUP: Redis reads each id only after its
    stream's key (and group)."""
    group_read = argv[0].lower() == b"xreadgroup"
    found = ReadArgs()
    streams_at = 0
    i = 1
    while i < len(argv):
        more = len(argv) - i - 1
        option = argv[i].lower()
        if option == b"block" and more:
            i += 1
            found.block_ms = _block_timeout(argv[i])
        elif option == b"count" and more:
            i += 1
            found.count = max(int_arg(argv[i]), 0)
        elif option == b"streams" and more:
            streams_at = i + 1
            if (len(argv) - streams_at) % 2:
                raise CommandError("ERR Unbalanced XREAD list of streams: for each stream key "
                                   "an ID or '$' must be specified.")
            break
        elif option == b"group" and more >= 2:
            if not group_read:
                raise CommandError("ERR The GROUP option is only supported by XREADGROUP. You "
                                   "called XREAD instead.")
            found.group, found.consumer = argv[i + 1], argv[i + 2]
            i += 2
        elif option == b"noack":
            if not group_read:
                raise CommandError("ERR The NOACK option is only supported by XREADGROUP. You "
                                   "called XREAD instead.")
            found.noack = True
        else:
            raise CommandError(errors.SYNTAX)
        i += 1
    if not streams_at:
        raise CommandError(errors.SYNTAX)
    if group_read and found.group is None:
        raise CommandError("ERR Missing GROUP option for XREADGROUP")
    half = (len(argv) - streams_at) // 2
    found.keys = argv[streams_at:streams_at + half]
    found.ids = argv[streams_at + half:]
    return found


# -- XAUTOCLAIM -----------------------------------------------------------------------------------
@dataclass(slots=True)
class AutoClaimArgs:
    key: bytes
    group: bytes
    consumer: bytes
    min_idle: int
    start: StreamId
    count: int = 100
    just_id: bool = False


def parse_xautoclaim(argv: list[bytes]) -> AutoClaimArgs:
    """xautoclaimCommand: min-idle-time, start and options, all before the key."""
    min_idle = parse_int(argv[4])
    if min_idle is None:
        raise CommandError("ERR Invalid min-idle-time argument for XAUTOCLAIM")
    found = AutoClaimArgs(argv[1], argv[2], argv[3], max(min_idle, 0), interval_start(argv[5]))
    j = 6
    while j < len(argv):
        option = argv[j].lower()
        if option == b"count" and j + 1 < len(argv):
            count = parse_int(argv[j + 1])
            if count is None or not 1 <= count <= (2**63 - 1) // 16:
                raise CommandError("ERR COUNT must be > 0")
            found.count = count
            j += 1
        elif option == b"justid":
            found.just_id = True
        else:
            raise CommandError(errors.SYNTAX)
        j += 1
    return found
