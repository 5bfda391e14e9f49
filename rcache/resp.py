"""RESP2/RESP3 without I/O: request bytes in, argument lists out; reply values in, bytes out.

The request reader follows Redis's own parser (networking.c: processInlineBuffer and
processMultibulkBuffer) so that malformed input gets Redis's exact protocol errors, limits
and skip rules. Nothing here knows about sockets, so it is tested and fuzzed with bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import hiredis

from .errors import CommandError

INLINE_MAX = 64 * 1024  # PROTO_INLINE_MAX_SIZE
INT_MAX = 2**31 - 1
LLONG_MIN, LLONG_MAX = -(2**63), 2**63 - 1


class ProtocolError(Exception):
    """Malformed request: Redis replies ``-ERR Protocol error: <msg>`` and closes the connection."""


def parse_int(raw: bytes) -> int | None:
    """Redis's string2ll: optional '-', no '+', no leading zeros, no spaces, 64-bit range."""
    n = len(raw)
    if n == 0 or n > 20:
        return None
    if raw.isdigit():
        if n > 1 and raw[0] == 48:
            return None
        value = int(raw)
        return value if value <= LLONG_MAX else None
    if raw[0] == 45 and n > 1 and raw[1] != 48 and raw[1:].isdigit():
        value = -int(raw[1:])
        return value if value >= LLONG_MIN else None
    return None


class RequestReader:
    """Accumulates bytes and yields complete commands (lists of bytes arguments).

    ``pop_commands`` returns the commands that are complete; when the buffer holds a
    malformed request it sets ``error`` (the commands before it are still returned, as
    Redis executes them before replying with the error and closing). Like Redis, the reader
    keeps a half-read multibulk request's arguments between calls, so a request that arrives
    in many pieces is parsed once (not once per piece), and its bytes leave the buffer as
    soon as each argument is complete.

    Requests in the canonical form every client library sends are read by hiredis's C
    parser first (``native``); whatever it cannot vouch for is read here, from the start of
    the first request it did not vouch for, so errors and limits stay Redis's.
    """

    __slots__ = ("_buf", "_need", "_args", "_left", "max_bulk_len", "error", "authenticated",
                 "_native")

    def __init__(self, max_bulk_len: int = 512 * 1024 * 1024, native: bool = True) -> None:
        self._native = hiredis.Reader() if native else None
        self._buf = bytearray()
        self._need = 0  # buffer length below which parsing cannot make progress
        self._args: list[bytes] = []  # arguments read so far of a multibulk request
        self._left = 0  # arguments still to read of that request (0: between requests)
        self.max_bulk_len = max_bulk_len
        self.error: str | None = None
        self.authenticated = True

    def feed(self, data: bytes) -> None:
        if self.error is None:  # after a protocol error the rest is discarded, as in Redis
            self._buf += data

    def buffered(self) -> int:
        return len(self._buf)

    def peek(self, size: int) -> bytes:
        """The first ``size`` bytes buffered (unparsed)."""
        return bytes(self._buf[:size])

    def read(self, data: bytes) -> list[list[bytes]]:
        """``feed`` then ``pop_commands``. Data that starts a request while nothing is
        buffered, the common read, goes to hiredis as it is: only what hiredis leaves is
        copied into the buffer, and read there."""
        if (self._buf or self._left or not data or data[0] != 42 or self._native is None
                or not self.authenticated or self.error is not None):
            self.feed(data)
            return self.pop_commands()
        commands: list[list[bytes]] = []
        pos = self._read_native(data, 0, len(data), commands)
        if pos < len(data):
            self._buf += memoryview(data)[pos:]
            commands += self.pop_commands(native=False)  # hiredis stopped there already
        return commands

    def pop_commands(self, native: bool = True) -> list[list[bytes]]:
        buf = self._buf
        if self.error is not None or len(buf) < self._need:
            return []
        self._need = 0
        commands: list[list[bytes]] = []
        pos = 0
        end = len(buf)
        native = native and self._native is not None and self.authenticated
        try:
            while True:
                if self._left:
                    pos = self._bulks(buf, pos, end)
                    if self._left:
                        break
                    commands.append(self._args)
                    self._args = []
                if pos >= end:
                    break
                if buf[pos] == 42:  # '*'
                    if native:
                        native = False  # once per call: what it stopped at is read here
                        new_pos = self._read_native(buf, pos, end, commands)
                        if new_pos != pos:
                            pos = new_pos
                            continue
                    new_pos = self._count(buf, pos, end)
                else:
                    args, new_pos = self._inline(buf, pos, end)
                    if args:
                        commands.append(args)
                if new_pos < 0:
                    break
                pos = new_pos
        except ProtocolError as err:
            self.error = f"Protocol error: {err}"
            self._args, self._left = [], 0
            pos = end
        if pos:
            del buf[:pos]
            self._need = max(0, self._need - pos)
        return commands

    def _read_native(self, buf: bytes | bytearray, pos: int, end: int,
                     commands: list[list[bytes]]) -> int:
        """Complete requests from ``pos`` read by hiredis; returns where they end.

        hiredis also accepts what Redis refuses in a request (a '+status' or a nested array
        as an argument, a bulk over proto-max-bulk-len), so a request counts only if every
        part of it starts where its canonical encoding would put it: '*' at the request,
        '$' at each argument, each argument a bulk (within bounds: it is no longer than the
        bytes given, which are no more than proto-max-bulk-len). Then Redis's parser reads
        the same bytes as the same arguments (hiredis takes only canonical numbers and
        "\r\n" line ends, and skips the two bytes after a bulk unread, as Redis does).
        hiredis allocates an aggregate's list when it reads its count, and frees it item by
        item: bytes whose counts add up to more than their length (a canonical request
        spends 4 bytes or more per element) are not given to it. Nor are more bytes than a
        socket read brings (NATIVE_MAX): that check copies them, and what a long buffer
        holds is mostly one large argument, which our reader takes as cheaply.
        """
        if end - pos > NATIVE_MAX or end - pos > self.max_bulk_len:
            return pos
        # A request counts its arguments with one digit: when no count has two digits and
        # the marks are at most a ninth of the bytes, they fit, which translate, find and
        # count tell at a fraction of the regex's cost per byte.
        marked = (buf if pos == 0 and end == len(buf) else buf[pos:end]).translate(_MARKS)
        if (9 * marked.count(b"*") > end - pos or marked.find(b"*00") >= 0) and not _counts_fit(
                buf, pos, end):
            return pos
        reader = self._native
        reader.feed(buf, pos, end - pos)
        try:
            while True:
                request = reader.gets()
                if type(request) is not list or not request or buf[pos] != 42:
                    break
                count = len(request)  # "*<count>\r\n", then "$<size>\r\n<arg>\r\n" each
                at = pos + (4 if count < 10 else 3 + len(b"%d" % count))
                for arg in request:
                    if type(arg) is not bytes or buf[at] != 36:  # '$'
                        break
                    size = len(arg)
                    at += size + (6 if size < 10 else 7 if size < 100 else 5 + len(b"%d" % size))
                else:
                    commands.append(request)
                    pos = at
                    continue
                break
        except Exception:  # hiredis refused it (or built a RESP3 map it cannot hash): read
            pass  # again here, for Redis's error
        if pos != end:  # it holds bytes (or a half-read request) that are read here instead
            self._native = hiredis.Reader()
        return pos

    def _count(self, buf: bytearray, pos: int, end: int) -> int:
        """The '*<count>' line: sets up the arguments to read; -1 if the line is incomplete."""
        cr = _strchr(buf, 13, pos)
        if cr < 0:
            if end - pos > INLINE_MAX:
                raise ProtocolError("too big mbulk count string")
            self._need = end + 1
            return -1
        if cr + 1 >= end:  # Redis skips the byte after '\r' without looking at it
            self._need = end + 1
            return -1
        count = parse_int(bytes(buf[pos + 1:cr]))
        if count is None or count > INT_MAX:
            raise ProtocolError("invalid multibulk length")
        if count > 10 and not self.authenticated:
            raise ProtocolError("unauthenticated multibulk length")
        if count > 0:  # '*0' and '*-1' are skipped
            self._left = count
        return cr + 2

    def _bulks(self, buf: bytearray, pos: int, end: int) -> int:
        """Read '$<len>' arguments until the request is complete or the buffer runs out."""
        args = self._args
        max_bulk = self.max_bulk_len
        while self._left:
            # Redis looks for the line end before it looks at the first byte.
            cr = _strchr(buf, 13, pos)
            if cr < 0:
                if end - pos > INLINE_MAX:
                    raise ProtocolError("too big bulk count string")
                self._need = end + 1
                return pos
            if cr + 1 >= end:
                self._need = end + 1
                return pos
            if buf[pos] != 36:  # '$'
                got = bytes(buf[pos:pos + 1]).decode("utf-8", "surrogateescape")
                raise ProtocolError(f"expected '$', got '{got}'")
            size = parse_int(bytes(buf[pos + 1:cr]))
            if size is None or size < 0 or size > max_bulk:
                raise ProtocolError("invalid bulk length")
            if size > 16384 and not self.authenticated:
                raise ProtocolError("unauthenticated bulk length")
            start = cr + 2
            stop = start + size
            if stop + 2 > end:
                self._need = stop + 2
                return pos  # the '$<len>' line is read again with the data: it is short
            # (a large argument is copied once, not through a bytearray slice)
            args.append(bytes(buf[start:stop]) if size < 65536 else
                        bytes(memoryview(buf)[start:stop]))
            pos = stop + 2  # the two bytes after the data are skipped unread, as in Redis
            self._left -= 1
        return pos

    def _inline(self, buf: bytearray, pos: int, end: int) -> tuple[list[bytes] | None, int]:
        nl = _strchr(buf, 10, pos)
        if nl < 0:
            if end - pos > INLINE_MAX:
                raise ProtocolError("too big inline request")
            self._need = end + 1
            return None, -1
        line = bytes(buf[pos:nl])
        if line.endswith(b"\r"):
            line = line[:-1]
        args = split_args(line)
        if args is None:
            raise ProtocolError("unbalanced quotes in request")
        return args, nl + 1


NATIVE_MAX = 256 * 1024  # bytes read at once that hiredis may read (uvloop reads 256 KiB)
# What may start a hiredis aggregate ('*' array, '~' set, '>' push, '|' attribute, '%' map),
# with its count: hiredis allocates that many slots on reading it.
_AGGREGATE_COUNT = re.compile(rb"[*~>|%](\d+)\r")
# Every aggregate mark as b"*" and every digit as b"0": what _read_native looks for.
_MARKS = bytes.maketrans(b"~>|%123456789", b"****000000000")


def _counts_fit(buf: bytes | bytearray, pos: int, end: int) -> bool:
    """Do the aggregate counts in buf[pos:end] add up to at most its length? (The regex's
    cost per byte: _read_native asks only when its quick test of the marks cannot tell.)"""
    return sum(map(int, _AGGREGATE_COUNT.findall(buf, pos, end))) <= end - pos


def _strchr(buf: bytearray, byte: int, pos: int) -> int:
    """C's strchr on Redis's NUL-terminated query buffer: a NUL byte hides what follows it,
    so a line end after a NUL is not found (Redis then waits for more data)."""
    found = buf.find(byte, pos)
    if found > pos and buf.find(0, pos, found) >= 0:
        return -1
    return found


_ISSPACE = frozenset(b" \t\n\v\f\r")  # C isspace(): skipped between words, allowed after quotes
_WORD_END = frozenset(b" \t\n\r")  # what ends an unquoted word (plus the end of the string)
_ESCAPES = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("a"): 7}
_HEX = frozenset(b"0123456789abcdefABCDEF")
_NEEDS_SLOW_SPLIT = re.compile(b"[\"'\v\f\0]")


def split_args(line: bytes) -> list[bytes] | None:
    """Redis's sdssplitargs: whitespace-separated words, "double" and 'single' quotes.

    Returns None for unbalanced quotes, or a closing quote not followed by a space. As in C,
    the line ends at its first NUL byte. Inside double quotes: \\xHH, \\n, \\r, \\t, \\b, \\a
    and \\<any>; inside single quotes only \\' is an escape.
    """
    if not _NEEDS_SLOW_SPLIT.search(line):
        return line.split()  # no quotes, and every isspace() byte separates words
    nul = line.find(0)
    if nul >= 0:
        line = line[:nul]
    args: list[bytes] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in _ISSPACE:
            i += 1
        if i >= n:
            return args
        word = bytearray()
        in_double = in_single = False
        while True:
            c = line[i] if i < n else None
            if in_double:
                if (c == 92 and i + 3 < n and line[i + 1] == 120
                        and line[i + 2] in _HEX and line[i + 3] in _HEX):
                    word.append(int(line[i + 2:i + 4], 16))
                    i += 3
                elif c == 92 and i + 1 < n:
                    i += 1
                    word.append(_ESCAPES.get(line[i], line[i]))
                elif c == 34:
                    if i + 1 < n and line[i + 1] not in _ISSPACE:
                        return None
                    i += 1
                    break
                elif c is None:
                    return None
                else:
                    word.append(c)
            elif in_single:
                if c == 92 and i + 1 < n and line[i + 1] == 39:
                    i += 1
                    word.append(39)
                elif c == 39:
                    if i + 1 < n and line[i + 1] not in _ISSPACE:
                        return None
                    i += 1
                    break
                elif c is None:
                    return None
                else:
                    word.append(c)
            else:
                if c is None or c in _WORD_END:
                    break
                if c == 34:
                    in_double = True
                elif c == 39:
                    in_single = True
                else:
                    word.append(c)
            i += 1
        args.append(bytes(word))


# ---------------------------------------------------------------------------------------
# Replies. Handlers return plain Python values; the encoder picks the wire type:
#   bytes -> bulk, int -> integer, None -> null, list/tuple -> array, dict -> map,
#   set/frozenset -> set, float -> double, SimpleString -> +status, CommandError -> -error,
#   Verbatim -> verbatim text (RESP3), NULL_ARRAY -> *-1 (RESP2 only distinction),
#   Pairs -> flat array (RESP2) or array of pairs (RESP3), DoubleText -> bulk (RESP2) or
#   a double written as given (RESP3).


class SimpleString(str):
    __slots__ = ()


class Verbatim(bytes):
    """Text Redis sends as a verbatim string in RESP3 (INFO, CLIENT LIST) and bulk in RESP2."""

    __slots__ = ()


class DoubleText(bytes):
    """A double already formatted (addReplyHumanLongDouble's text): a bulk string in RESP2,
    a RESP3 double."""


class BigNumber(bytes):
    """A RESP3 big number (a bulk string in RESP2): what a script's {big_number=...} is."""

    __slots__ = ()


class RawReply(bytes):
    """A complete reply already encoded (relayed from the leader by a proxying follower)."""

    __slots__ = ()


class Pairs(list):
    """A list of (a, b) tuples Redis sends flat in RESP2 and as 2-element arrays in RESP3
    (HRANDFIELD ... WITHVALUES, ZRANGE ... WITHSCORES, ZPOPMIN with a count)."""

    __slots__ = ()


class KeyedReplies(list):
    """A list of (key, reply) tuples: a RESP3 map, an array of [key, reply] arrays in RESP2
    (XREAD, XREADGROUP)."""

    __slots__ = ()


class OrderedSet(list):
    """Distinct items sent as a RESP3 set (an array in RESP2) in the order given (SMEMBERS...:
    a Python set's order would change from one process to the next)."""

    __slots__ = ()


class Push(list):
    """Out-of-band data (pub/sub): a RESP3 push (>), an array in RESP2."""

    __slots__ = ()


class Replies(list):
    """Several replies to one command, one after the other (SUBSCRIBE a b answers once per
    channel)."""

    __slots__ = ()


class _NullArray:
    __slots__ = ()


class _FalseOrNull:
    """A Lua script's ``false``: a null bulk in RESP2, a boolean false in RESP3."""

    __slots__ = ()


OK = SimpleString("OK")
NO_REPLY = Replies()  # no reply at all (CLIENT REPLY OFF, MONITOR twice)
QUEUED = SimpleString("QUEUED")
PONG = SimpleString("PONG")
NULL_ARRAY = _NullArray()
FALSE_OR_NULL = _FalseOrNull()


def format_double(value: float) -> bytes:
    """Redis 7.0's addReplyDouble: '%.17g', with inf spelled out."""
    if value != value:
        return b"nan"
    if value in (float("inf"), float("-inf")):
        return b"inf" if value > 0 else b"-inf"
    return b"%.17g" % value


def encode(value: object, resp3: bool = False) -> bytes:
    kind = type(value)  # the common single-value replies first: no list to join
    if kind is bytes:
        return b"$%d\r\n%b\r\n" % (len(value), value)
    if value is None:
        return b"_\r\n" if resp3 else b"$-1\r\n"
    if value is OK:
        return b"+OK\r\n"
    if kind is int:
        return b":%d\r\n" % value
    out: list[bytes] = []
    _encode_into(value, resp3, out)
    return b"".join(out)


def _encode_into(value: object, resp3: bool, out: list[bytes]) -> None:
    kind = type(value)
    if kind is bytes:
        out.append(b"$%d\r\n%b\r\n" % (len(value), value))
    elif kind is SimpleString:
        out.append(b"+%b\r\n" % value.encode("utf-8", "surrogateescape"))
    elif kind is int:
        out.append(b":%d\r\n" % value)
    elif value is None:
        out.append(b"_\r\n" if resp3 else b"$-1\r\n")
    elif kind is list or kind is tuple:
        out.append(b"*%d\r\n" % len(value))
        for item in value:
            _encode_into(item, resp3, out)
    elif kind is CommandError:
        # Redis maps line breaks to spaces; raw bytes a message quotes (e.g. "expected '$',
        # got '\xff'") travel as surrogate escapes and go out as the bytes they were.
        text = str(value).replace("\r", " ").replace("\n", " ")
        out.append(b"-%b\r\n" % text.encode("utf-8", "surrogateescape"))
    elif kind is dict:
        if resp3:
            out.append(b"%%%d\r\n" % len(value))
        else:
            out.append(b"*%d\r\n" % (2 * len(value)))
        for k, v in value.items():
            _encode_into(k, resp3, out)
            _encode_into(v, resp3, out)
    elif kind is float:
        text = format_double(value)
        out.append(b",%b\r\n" % text if resp3 else b"$%d\r\n%b\r\n" % (len(text), text))
    elif kind is set or kind is frozenset or kind is OrderedSet:
        out.append(b"~%d\r\n" % len(value) if resp3 else b"*%d\r\n" % len(value))
        for item in value:
            _encode_into(item, resp3, out)
    elif kind is Pairs:
        out.append(b"*%d\r\n" % (len(value) if resp3 else 2 * len(value)))
        for a, b in value:
            if resp3:
                out.append(b"*2\r\n")
            _encode_into(a, resp3, out)
            _encode_into(b, resp3, out)
    elif kind is KeyedReplies:
        out.append(b"%%%d\r\n" % len(value) if resp3 else b"*%d\r\n" % len(value))
        for a, b in value:
            if not resp3:
                out.append(b"*2\r\n")
            _encode_into(a, resp3, out)
            _encode_into(b, resp3, out)
    elif kind is RawReply:
        out.append(value)
    elif kind is Push:
        out.append(b">%d\r\n" % len(value) if resp3 else b"*%d\r\n" % len(value))
        for item in value:
            _encode_into(item, resp3, out)
    elif kind is Replies:
        for item in value:
            _encode_into(item, resp3, out)
    elif kind is DoubleText:
        out.append(b",%b\r\n" % value if resp3 else b"$%d\r\n%b\r\n" % (len(value), value))
    elif kind is Verbatim:
        if resp3:
            out.append(b"=%d\r\ntxt:%b\r\n" % (len(value) + 4, value))
        else:
            out.append(b"$%d\r\n%b\r\n" % (len(value), value))
    elif kind is bool:
        out.append((b"#t\r\n" if value else b"#f\r\n") if resp3 else b":%d\r\n" % value)
    elif kind is _NullArray:
        out.append(b"_\r\n" if resp3 else b"*-1\r\n")
    elif kind is BigNumber:
        out.append(b"(%b\r\n" % value if resp3 else b"$%d\r\n%b\r\n" % (len(value), value))
    elif kind is _FalseOrNull:
        out.append(b"#f\r\n" if resp3 else b"$-1\r\n")
    elif kind is str:
        raw = value.encode("utf-8", "surrogateescape")
        out.append(b"$%d\r\n%b\r\n" % (len(raw), raw))
    else:
        raise TypeError(f"cannot encode reply of type {kind.__name__}")


def encode_command(args: Iterable[bytes]) -> bytes:
    """A request as clients send it: an array of bulk strings."""
    parts = list(args)
    out = [b"*%d\r\n" % len(parts)]
    for arg in parts:
        out.append(b"$%d\r\n%b\r\n" % (len(arg), arg))
    return b"".join(out)


def reply_end(buf: bytes | bytearray, pos: int = 0) -> int:
    """End offset of the complete reply starting at pos, or -1 if more bytes are needed.
    (A proxy relays replies as they are; it only needs to know where each one ends.)"""
    end = buf.find(b"\r\n", pos)
    if end < 0:
        return -1
    kind, head = buf[pos:pos + 1], buf[pos + 1:end]
    pos = end + 2
    if kind in (b"$", b"=", b"!") and head != b"-1":
        pos += int(head) + 2
        return pos if pos <= len(buf) else -1
    if kind in (b"*", b"~", b">", b"%", b"|") and head not in (b"-1", b"?"):
        count = int(head) * (2 if kind in (b"%", b"|") else 1)
        for _ in range(count):
            pos = reply_end(buf, pos)
            if pos < 0:
                return -1
    return pos


def split_array(raw: bytes) -> list[RawReply]:
    """The elements of an encoded array reply, each still encoded."""
    pos = raw.index(b"\r\n") + 2
    items = []
    while pos < len(raw):
        end = reply_end(raw, pos)
        items.append(RawReply(raw[pos:end]))
        pos = end
    return items
