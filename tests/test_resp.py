"""The RESP codec without a server: request parsing, protocol errors, integers, replies.

The expected values in the tables were taken from redis-server 7.0 (networking.c
processInlineBuffer / processMultibulkBuffer, sds.c sdssplitargs, util.c string2ll,
networking.c addReply*); tests/test_malformed.py checks the same inputs against a live
redis-server. Replies are also decoded with hiredis, the parser redis-py uses.
"""

from __future__ import annotations

import subprocess
import sys
import tracemalloc
from pathlib import Path

import hiredis
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rcache.errors import CommandError
from rcache.resp import (
    INLINE_MAX,
    NULL_ARRAY,
    OK,
    PONG,
    QUEUED,
    Pairs,
    RequestReader,
    SimpleString,
    Verbatim,
    encode,
    encode_command,
    format_double,
    parse_int,
    split_args,
)

FAST = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def parse(data: bytes, *, authenticated: bool = True, max_bulk_len: int | None = None,
          ) -> tuple[list[list[bytes]], str | None]:
    """Feed everything at once: (commands, error)."""
    reader = RequestReader() if max_bulk_len is None else RequestReader(max_bulk_len)
    reader.authenticated = authenticated
    reader.feed(data)
    return reader.pop_commands(), reader.error


def parse_in_chunks(data: bytes, cuts: list[int]) -> tuple[list[list[bytes]], str | None]:
    """Read `data` split at `cuts` as the server does (``read`` per piece)."""
    reader = RequestReader()
    commands: list[list[bytes]] = []
    start = 0
    for cut in [*sorted(set(cuts)), len(data)]:
        commands += reader.read(data[start:cut])
        start = cut
    return commands, reader.error


# -- inline commands (sdssplitargs) ---------------------------------------------------------

SPLIT_CASES = [
    (b"", []),
    (b"   \t ", []),
    (b"PING", [b"PING"]),
    (b"  SET  a \t b  ", [b"SET", b"a", b"b"]),
    (b'SET "a b" c', [b"SET", b"a b", b"c"]),
    (b'"\\x41\\n"', [b"A\n"]),
    (b'"\\x4a\\x4A"', [b"JJ"]),
    (b'"\\x4g"', [b"x4g"]),  # not two hex digits: '\x' is just an escaped 'x'
    (b'"\\n\\r\\t\\b\\a\\q\\"\\\\"', [b"\n\r\t\b\aq\"\\"]),
    (b"'it\\'s'", [b"it's"]),
    (b"'a\\nb\\x41'", [b"a\\nb\\x41"]),  # single quotes: only \' is an escape
    (b"'a\"b'", [b'a"b']),
    (b'""', [b""]),
    (b"'' x", [b"", b"x"]),
    (b'a"b c" d', [b"ab c", b"d"]),  # a quote may open in the middle of a word
    (b'"a"\tb', [b"a", b"b"]),
    (b'"a"\x0bb', [b"a", b"b"]),  # \v is isspace(): allowed after a closing quote
    (b"a\x0bb", [b"a\x0bb"]),  # ... but it does not end an unquoted word
    (b"a\x0cb \x0c c", [b"a\x0cb", b"c"]),  # \f likewise; both are skipped between words
    (b"a\rb", [b"a", b"b"]),
    (b"a\x00b c", [b"a"]),  # C string: the line ends at NUL
    (b"\xff\xfe \xc3\xa9", [b"\xff\xfe", b"\xc3\xa9"]),
    (b'"unbalanced', None),
    (b"'unbalanced", None),
    (b'"ends with backslash\\', None),
    (b'"a"b', None),  # a closing quote must be followed by a space or the end
    (b"'a'b", None),
    (b'"a""b"', None),
    (b'SET "a b', None),
]


@pytest.mark.parametrize(("line", "expected"), SPLIT_CASES)
def test_split_args(line: bytes, expected: list[bytes] | None) -> None:
    assert split_args(line) == expected


@pytest.mark.parametrize(("line", "expected"), [c for c in SPLIT_CASES if b"\x00" not in c[0]])
def test_inline_request_uses_split_args(line: bytes, expected: list[bytes] | None) -> None:
    commands, error = parse(line + b"\r\n")
    if expected is None:
        assert (commands, error) == ([], "Protocol error: unbalanced quotes in request")
    else:
        assert (commands, error) == ([expected] if expected else [], None)


@given(st.lists(st.binary(min_size=0, max_size=12), min_size=1, max_size=6))
@FAST
def test_split_args_round_trips_quoted_words(words: list[bytes]) -> None:
    """Any bytes survive as a double-quoted word written with \\xHH escapes."""
    line = b" ".join(b'"' + b"".join(b"\\x%02x" % c for c in w) + b'"' for w in words)
    assert split_args(line) == words


@given(st.binary(max_size=40))
@FAST
def test_split_args_fast_path_agrees_with_the_char_loop(line: bytes) -> None:
    """split_args takes bytes.split() when a line has no quotes, NUL, \\v or \\f; adding a
    harmless quoted word at the end forces the slow path, which must agree."""
    plain = line.translate(None, b"\"'\x00\x0b\x0c")
    assert split_args(plain + b' ""') == [*plain.split(), b""]


def test_inline_line_endings_and_blank_lines() -> None:
    assert parse(b"PING\r\nPING\nECHO a\r\n") == ([[b"PING"], [b"PING"], [b"ECHO", b"a"]], None)
    # Empty and blank lines are skipped, as Redis does (argc == 0).
    assert parse(b"\r\n\n   \r\n\t\r\nPING\r\n") == ([[b"PING"]], None)
    # Only one '\r' before the '\n' is part of the line end; another splits words.
    assert parse(b"ECHO a\r\r\n") == ([[b"ECHO", b"a"]], None)


def test_nul_hides_the_inline_line_end() -> None:
    """Redis finds the line end with strchr(): a NUL before it means 'no line yet', so the
    request waits (and a long enough wait becomes 'too big inline request')."""
    reader = RequestReader()
    reader.feed(b"PING\x00\r\n")
    assert reader.pop_commands() == [] and reader.error is None
    reader.feed(b"x" * INLINE_MAX)
    assert reader.pop_commands() == []
    assert reader.error == "Protocol error: too big inline request"


# -- multibulk requests ----------------------------------------------------------------------

def test_multibulk_basic_and_binary_safe() -> None:
    data = encode_command([b"SET", b"k\r\n\x00", b""]) + encode_command([b"PING"])
    assert parse(data) == ([[b"SET", b"k\r\n\x00", b""], [b"PING"]], None)


@pytest.mark.parametrize("header", [b"*0\r\n", b"*-1\r\n", b"*-5\r\n", b"*0\r\n*-1\r\n"])
def test_empty_and_negative_multibulk_are_skipped(header: bytes) -> None:
    assert parse(header + b"PING\r\n") == ([[b"PING"]], None)
    assert parse(header) == ([], None)


def test_multibulk_skips_the_two_bytes_after_each_line_unread() -> None:
    """Redis checks neither that '\\r' is followed by '\\n' nor that data ends with CRLF."""
    assert parse(b"*1\rX$4\rXPINGxx") == ([[b"PING"]], None)
    # What follows the skipped bytes is a new request (here an inline one).
    assert parse(b"*1\r\n$4\r\nPINGxxPING\r\n") == ([[b"PING"], [b"PING"]], None)


def test_empty_command_name_is_a_command() -> None:
    # Redis answers "unknown command ''": the reader must hand it over, not skip it.
    assert parse(b"*1\r\n$0\r\n\r\n") == ([[b""]], None)


def test_pipelined_mix_of_inline_and_multibulk() -> None:
    data = (b"PING\r\n" + encode_command([b"ECHO", b"a b"]) + b'ECHO "x y"\n' + b"*0\r\n"
            + encode_command([b"SET", b"k", b"v"]) + b"\r\n" + b"GET k\r\n")
    expected = [[b"PING"], [b"ECHO", b"a b"], [b"ECHO", b"x y"], [b"SET", b"k", b"v"],
                [b"GET", b"k"]]
    assert parse(data) == (expected, None)
    assert parse_in_chunks(data, list(range(len(data)))) == (expected, None)


@pytest.mark.parametrize("partial", [
    b"*", b"*1", b"*1\r", b"*1\r\n", b"*1\r\n$", b"*1\r\n$4", b"*1\r\n$4\r", b"*1\r\n$4\r\n",
    b"*1\r\n$4\r\nPI", b"*1\r\n$4\r\nPING", b"*1\r\n$4\r\nPING\r",
    b"*1\r\n:5",  # Redis looks for the line end before it looks at the '$'
    b"*1\r\nx" + b"y" * 100,
    b"*1\x00\r\n",  # a NUL hides the '\r' from strchr(): Redis keeps waiting
    b"*2\r\n$4\r\nECHO\r\n$1\x00\r\n",
    b"*2147483647\r\n", b"*1\r\n$536870912\r\n",  # the largest accepted lengths
    b"PING", b"PING\r", b'SET "a b',
])
def test_incomplete_requests_wait_without_error(partial: bytes) -> None:
    assert parse(partial) == ([], None)


def test_partial_multibulk_leaves_the_buffer_as_arguments_complete() -> None:
    """Like Redis, a half-read request keeps its complete arguments, not their bytes: a
    request arriving in many pieces is parsed once."""
    reader = RequestReader()
    reader.feed(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nval")
    assert reader.pop_commands() == []
    assert reader.buffered() == len(b"$5\r\nval")  # only the unfinished argument
    reader.feed(b"ue\r\n")
    assert reader.pop_commands() == [[b"SET", b"k", b"value"]]
    assert reader.buffered() == 0


def test_many_arguments_in_small_pieces_is_linear() -> None:
    """A re-parse from the start of the request on every piece would take O(n^2)."""
    data = encode_command([b"MSET", *(b"key:%d" % i for i in range(20000))])
    commands, error = parse_in_chunks(data, list(range(0, len(data), 512)))
    assert error is None and len(commands) == 1 and len(commands[0]) == 20001


# -- protocol errors -------------------------------------------------------------------------

PROTOCOL_ERRORS = [
    (b"*1\r\n:5\r\n", "expected '$', got ':'"),
    (b"*2\r\n$4\r\nECHO\r\n+a\r\n", "expected '$', got '+'"),
    (b"*1\r\n\r\r\n", "expected '$', got '\r'"),  # the encoder turns it into a space
    (b"*1\r\n\xff\r\n", "expected '$', got '\udcff'"),  # sent as the raw byte 0xff
    (b"*abc\r\n", "invalid multibulk length"),
    (b"*\r\n", "invalid multibulk length"),
    (b"*+1\r\n", "invalid multibulk length"),
    (b"*01\r\n", "invalid multibulk length"),
    (b"* 1\r\n", "invalid multibulk length"),
    (b"*2147483648\r\n", "invalid multibulk length"),
    (b"*99999999999\r\n", "invalid multibulk length"),
    (b"*1\r\n$-5\r\n", "invalid bulk length"),
    (b"*1\r\n$-1\r\n", "invalid bulk length"),
    (b"*1\r\n$x\r\n", "invalid bulk length"),
    (b"*1\r\n$\r\n", "invalid bulk length"),
    (b"*1\r\n$536870913\r\n", "invalid bulk length"),
    (b"*1\r\n$999999999999\r\n", "invalid bulk length"),
    (b"*1\r\n$99999999999999999999999\r\n", "invalid bulk length"),
    (b'SET "a b\r\n', "unbalanced quotes in request"),
    (b"SET 'a b\r\n", "unbalanced quotes in request"),
    (b'ECHO "a"b\r\n', "unbalanced quotes in request"),
    (b"x" * (INLINE_MAX + 1), "too big inline request"),
    (b"PING\x00\r\n" + b"x" * INLINE_MAX, "too big inline request"),
    (b"*" + b"1" * (INLINE_MAX + 1), "too big mbulk count string"),
    (b"*1\r\n$" + b"1" * INLINE_MAX, "too big bulk count string"),
    (b"*1\r\n" + b"x" * (INLINE_MAX + 1), "too big bulk count string"),
]


@pytest.mark.parametrize(("data", "message"), PROTOCOL_ERRORS,
                         ids=[repr(d[:24]) for d, _ in PROTOCOL_ERRORS])
def test_protocol_errors(data: bytes, message: str) -> None:
    reader = RequestReader()
    reader.feed(b"PING\r\n" + data)
    # The command before the bad one still runs; the bad one and all after it do not.
    assert reader.pop_commands() == [[b"PING"]]
    assert reader.error == "Protocol error: " + message
    assert reader.buffered() == 0
    reader.feed(b"PING\r\n")
    assert reader.pop_commands() == [] and reader.buffered() == 0


def test_protocol_error_bytes_on_the_wire() -> None:
    """The server replies encode(CommandError("ERR " + error)); Redis sends the raw byte
    and maps CR/LF to spaces (addReplyErrorFormat)."""
    for data, wire in [
        (b"*1\r\n\xff\r\n", b"-ERR Protocol error: expected '$', got '\xff'\r\n"),
        (b"*1\r\n\r\r\n", b"-ERR Protocol error: expected '$', got ' '\r\n"),
        (b"*1\r\n\n\r\n", b"-ERR Protocol error: expected '$', got ' '\r\n"),
    ]:
        _, error = parse(data)
        assert encode(CommandError("ERR " + error)) == wire


def test_inline_limit_is_exclusive() -> None:
    assert parse(b"x" * INLINE_MAX) == ([], None)
    assert parse(b"*" + b"1" * (INLINE_MAX - 1)) == ([], None)


def test_inline_limit_depends_on_what_has_arrived_so_far() -> None:
    """Like Redis, the limit applies to an unfinished line at the time it is checked: a
    long line that arrives whole is accepted, the same line in pieces is not."""
    line = b"ECHO " + b"x" * (INLINE_MAX + 100) + b"\r\n"
    assert parse(line) == ([[b"ECHO", b"x" * (INLINE_MAX + 100)]], None)
    assert parse_in_chunks(line, [INLINE_MAX + 10]) == (
        [], "Protocol error: too big inline request")


@pytest.mark.parametrize(("data", "unauthenticated", "authenticated"), [
    (b"*11\r\n", "unauthenticated multibulk length", None),
    (b"*1\r\n$16385\r\n", "unauthenticated bulk length", None),
    # Lengths that are invalid anyway keep their own message.
    (b"*1\r\n$-1\r\n", "invalid bulk length", "invalid bulk length"),
    (b"*1\r\n$999999999999\r\n", "invalid bulk length", "invalid bulk length"),
    (b"*99999999999\r\n", "invalid multibulk length", "invalid multibulk length"),
])
def test_unauthenticated_limits(data: bytes, unauthenticated: str, authenticated: str | None,
                                ) -> None:
    assert parse(data, authenticated=False) == ([], "Protocol error: " + unauthenticated)
    expected = None if authenticated is None else "Protocol error: " + authenticated
    assert parse(data) == ([], expected)


def test_unauthenticated_limits_allow_the_boundaries() -> None:
    assert parse(b"*10\r\n$16384\r\n", authenticated=False) == ([], None)
    ten = encode_command([b"x"] * 10)
    assert parse(ten, authenticated=False) == ([[b"x"] * 10], None)


def test_custom_max_bulk_len() -> None:
    assert parse(b"*1\r\n$10\r\n", max_bulk_len=10) == ([], None)
    assert parse(b"*1\r\n$11\r\n", max_bulk_len=10) == ([], "Protocol error: invalid bulk length")


# -- feeding in pieces (hypothesis) ---------------------------------------------------------

argv_lists = st.lists(st.lists(st.binary(max_size=20), min_size=1, max_size=5),
                      min_size=1, max_size=8)
inline_words = st.lists(st.binary(min_size=1, max_size=8).filter(
    lambda w: not any(c in w for c in b" \t\r\n\x0b\x0c\x00\"'")), min_size=1, max_size=4,
).filter(lambda words: not words[0].startswith(b"*"))  # '*' would start a multibulk request
requests = st.lists(st.one_of(
    argv_lists.map(lambda cmds: ("multibulk", cmds)),
    inline_words.map(lambda words: ("inline", [words])),
    st.just(("skip", [])),
), min_size=1, max_size=6)


def _wire(parts: list[tuple[str, list[list[bytes]]]]) -> tuple[bytes, list[list[bytes]]]:
    data, expected = b"", []
    for kind, commands in parts:
        for argv in commands:
            data += encode_command(argv) if kind == "multibulk" else b" ".join(argv) + b"\r\n"
            expected.append(argv)
        if kind == "skip":
            data += b"*0\r\n*-1\r\n\r\n"
    return data, expected


@given(requests, st.lists(st.integers(min_value=0, max_value=2000), max_size=30))
@FAST
def test_split_at_random_points_gives_the_same_commands(parts, cuts) -> None:
    data, expected = _wire(parts)
    assert parse(data) == (expected, None)
    assert parse_in_chunks(data, [c for c in cuts if c < len(data)]) == (expected, None)


@given(argv_lists)
@settings(max_examples=40, deadline=None)
def test_byte_by_byte_gives_the_same_commands(commands) -> None:
    data = b"".join(encode_command(argv) for argv in commands)
    assert parse_in_chunks(data, list(range(len(data)))) == (commands, None)


# -- fuzz: malformed input never raises and never grows without bound -------------------------

FRAGMENTS = [b"*", b"$", b"1", b"2", b"-", b"0", b"9" * 12, b"\r\n", b"\r", b"\n", b"\x00",
             b"PING", b" ", b'"', b"'", b"\\x4", b":", b"\xff", b"*2\r\n", b"$4\r\nECHO\r\n"]
protocolish = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.binary(max_size=6)),
                       max_size=40).map(b"".join)


@st.composite
def mutated_requests(draw) -> bytes:
    data = bytearray(_wire(draw(requests))[0])
    for _ in range(draw(st.integers(0, 4))):
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "delete", "insert"]))
        if action == "flip":
            data[i] = draw(st.integers(0, 255))
        elif action == "delete":
            del data[i]
        else:
            data[i:i] = draw(st.sampled_from(FRAGMENTS))
    return bytes(data)


@given(st.one_of(st.binary(max_size=300), protocolish, mutated_requests()),
       st.lists(st.integers(min_value=0, max_value=300), max_size=10), st.booleans())
@FAST
@example(b"*1\r\n$-5\r\n", [], False)
@example(b"*1\x00\r\n$4\r\nPING\r\n", [2], False)
@example(b"*1\r\n$4\r\nPING\r\n*1\r\n+PING\r\n*1\r\n$4\r\nPI", [30], True)
def test_fuzz_reader_never_raises(data: bytes, cuts: list[int], via_read: bool) -> None:
    """Pieces fed and popped, or handed to ``read`` as the server does: the same commands
    and error as the whole input parsed at once."""
    reader = RequestReader()
    fed = 0
    start = 0
    commands: list[list[bytes]] = []
    for cut in [*sorted({c for c in cuts if c < len(data)}), len(data)]:
        piece = data[start:cut]
        fed += cut - start
        start = cut
        if via_read:
            popped = reader.read(piece)
        else:
            reader.feed(piece)
            popped = reader.pop_commands()
        assert all(type(argv) is list and argv and all(type(a) is bytes for a in argv)
                   for argv in popped)
        commands += popped
        assert 0 <= reader.buffered() <= fed
        if reader.error is not None:
            assert reader.error.startswith("Protocol error: ")
            assert reader.buffered() == 0
    # Below the 64 KB limits, where the pieces fall changes nothing.
    assert parse(data) == (commands, reader.error)


def _read_all(data: bytes, cuts: list[int], native: bool, max_bulk_len: int = 1 << 16
              ) -> tuple[list[list[bytes]], str | None, int]:
    reader = RequestReader(max_bulk_len, native=native)
    commands: list[list[bytes]] = []
    start = 0
    for cut in [*sorted({c for c in cuts if c < len(data)}), len(data)]:
        reader.feed(data[start:cut])
        start = cut
        commands += reader.pop_commands()
    return commands, reader.error, reader.buffered()


# What hiredis reads as a reply but Redis refuses in a request: statuses, verbatim strings,
# nested and RESP3 aggregates, nulls, numbers, errors, non-canonical lengths.
REPLY_FRAGMENTS = [b"+PING\r\n", b"=8\r\ntxt:PING\r\n", b"*1\r\n*1\r\n$4\r\nPING\r\n",
                   b"%1\r\n", b"~1\r\n", b">1\r\n", b"|1\r\n", b"_\r\n", b"$-1\r\n",
                   b":1\r\n", b",1.5\r\n", b"#t\r\n", b"(12\r\n", b"-ERR x\r\n",
                   b"$04\r\nPING\r\n", b"*02\r\n", b"$70000\r\n", b"*3000000000\r\n",
                   b"$4\r\nPING\r\n", b"*1\r\n", b"*2\r\n", b"\r\n", b"\r"]
replyish = st.lists(st.one_of(st.sampled_from(REPLY_FRAGMENTS), st.sampled_from(FRAGMENTS),
                              st.binary(max_size=4)), max_size=30).map(b"".join)


@given(st.one_of(replyish, protocolish, mutated_requests(), st.binary(max_size=200)),
       st.lists(st.integers(min_value=0, max_value=300), max_size=6))
@FAST
@example(b"*2\r\n+PING\r\n=8\r\ntxt:PING\r\n", [])
@example(b"*1\r\n$4\r\nPING\r\n*1\r\n$70000\r\n", [])
@example(b"*1\r\n$4\r\nPING\r\nPING\r\n*1\r\n$4\r\nPING\r\n", [])
def test_native_reader_agrees_with_the_redis_parser(data: bytes, cuts: list[int]) -> None:
    """hiredis reads canonical requests only: commands, the protocol error and what stays
    buffered are those of the reader that follows Redis's parser, however the bytes arrive."""
    assert _read_all(data, cuts, native=True) == _read_all(data, cuts, native=False)


def test_native_reader_stops_at_what_it_cannot_vouch_for() -> None:
    """The requests before a status argument run; the status gets Redis's error."""
    reader = RequestReader()
    reader.feed(encode_command([b"SET", b"k", b"v"]) * 3 + b"*1\r\n+PING\r\n")
    assert reader.pop_commands() == [[b"SET", b"k", b"v"]] * 3
    assert reader.error == "Protocol error: expected '$', got '+'"


@pytest.mark.parametrize("count", [2**31 - 1, 2**31, 2**32 - 1])
def test_native_reader_leaves_large_counts_to_the_redis_parser(count: int) -> None:
    """hiredis would allocate (and later free item by item) a list of ``count`` items."""
    reader = RequestReader()
    tracemalloc.start()
    try:
        reader.feed(b"*%d\r\n" % count)
        assert reader.pop_commands() == []
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20
    assert reader.error == (None if count <= 2**31 - 1 else
                            "Protocol error: invalid multibulk length")


@pytest.mark.parametrize("head", [b"*", b"~", b"|", b">", b"%"])
def test_native_reader_leaves_many_nested_counts_to_the_redis_parser(head: bytes) -> None:
    """Nested aggregate headers of 9999 each, one read: hiredis would allocate them all."""
    reader = RequestReader()
    tracemalloc.start()
    try:
        reader.feed((head + b"9999\r\n") * 1100)
        reader.pop_commands()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_native_reader_gives_a_map_argument_redis_error() -> None:
    """hiredis cannot hash a RESP3 map used as a map's key: Redis's error, not a crash."""
    reader = RequestReader()
    reader.feed(b"*1\r\n%1\r\n%1\r\n")
    assert reader.pop_commands() == []
    assert reader.error == "Protocol error: expected '$', got '%'"


def test_native_reader_keeps_proto_max_bulk_len() -> None:
    reader = RequestReader(max_bulk_len=10)
    reader.feed(encode_command([b"SET", b"k", b"x" * 10])
                + encode_command([b"SET", b"k", b"x" * 11]))
    assert reader.pop_commands() == [[b"SET", b"k", b"x" * 10]]
    assert reader.error == "Protocol error: invalid bulk length"


def test_garbage_without_line_end_is_bounded() -> None:
    """1 MB without a line end, in 4 KB pieces: the buffer never holds much more than
    the inline limit, then the reader gives up with an error and holds nothing."""
    reader = RequestReader()
    chunk = bytes(range(1, 256)).replace(b"\n", b"").replace(b"\r", b"") * 16
    for _ in range(1024 * 1024 // len(chunk)):
        reader.feed(chunk)
        assert reader.pop_commands() == []
        assert reader.buffered() <= INLINE_MAX + len(chunk)
        if reader.error:
            break
    assert reader.error == "Protocol error: too big inline request"
    assert reader.buffered() == 0


def test_complete_requests_leave_nothing_buffered() -> None:
    reader = RequestReader()
    for _ in range(1000):
        reader.feed(b"PING\r\n" + encode_command([b"ECHO", b"x" * 100]))
        assert len(reader.pop_commands()) == 2
        assert reader.buffered() == 0


# -- parse_int (string2ll) -------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "value"), [
    (b"0", 0), (b"1", 1), (b"-1", -1), (b"10", 10), (b"123456789", 123456789),
    (b"9223372036854775807", 2**63 - 1), (b"-9223372036854775808", -(2**63)),
])
def test_parse_int_accepts(raw: bytes, value: int) -> None:
    assert parse_int(raw) == value


@pytest.mark.parametrize("raw", [
    b"", b"-", b"+1", b"01", b"00", b"-0", b"-01", b" 1", b"1 ", b"1\r", b"\t1", b"1.0",
    b"1e3", b"0x10", b"1_000", b"--1", b"9223372036854775808", b"-9223372036854775809",
    b"99999999999999999999", b"00000000000000000001", b"\xd9\xa1", b"\x00", b"1\x00",
])
def test_parse_int_rejects(raw: bytes) -> None:
    assert parse_int(raw) is None


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
@FAST
def test_parse_int_accepts_every_64_bit_integer(n: int) -> None:
    assert parse_int(str(n).encode()) == n


@given(st.one_of(st.binary(max_size=22), st.text("0123456789-+ ", max_size=22).map(str.encode)))
@FAST
def test_parse_int_accepts_only_canonical_decimals(raw: bytes) -> None:
    value = parse_int(raw)
    if value is not None:
        assert str(value).encode() == raw
        assert -(2**63) <= value < 2**63


# -- replies -----------------------------------------------------------------------------------

# (value, RESP2 bytes, RESP3 bytes) as Redis 7.0's addReply* functions write them.
REPLIES = [
    (b"abc", b"$3\r\nabc\r\n", b"$3\r\nabc\r\n"),
    (b"", b"$0\r\n\r\n", b"$0\r\n\r\n"),
    (b"a\r\nb\x00", b"$5\r\na\r\nb\x00\r\n", b"$5\r\na\r\nb\x00\r\n"),
    ("é", b"$2\r\n\xc3\xa9\r\n", b"$2\r\n\xc3\xa9\r\n"),
    (OK, b"+OK\r\n", b"+OK\r\n"),
    (PONG, b"+PONG\r\n", b"+PONG\r\n"),
    (QUEUED, b"+QUEUED\r\n", b"+QUEUED\r\n"),
    (0, b":0\r\n", b":0\r\n"),
    (-(2**63), b":-9223372036854775808\r\n", b":-9223372036854775808\r\n"),
    (None, b"$-1\r\n", b"_\r\n"),
    (NULL_ARRAY, b"*-1\r\n", b"_\r\n"),
    (True, b":1\r\n", b"#t\r\n"),
    (False, b":0\r\n", b"#f\r\n"),
    ([], b"*0\r\n", b"*0\r\n"),
    ([b"a", 1, None], b"*3\r\n$1\r\na\r\n:1\r\n$-1\r\n", b"*3\r\n$1\r\na\r\n:1\r\n_\r\n"),
    ((b"a", [b"b"]), b"*2\r\n$1\r\na\r\n*1\r\n$1\r\nb\r\n", b"*2\r\n$1\r\na\r\n*1\r\n$1\r\nb\r\n"),
    ({b"k": 1}, b"*2\r\n$1\r\nk\r\n:1\r\n", b"%1\r\n$1\r\nk\r\n:1\r\n"),
    ({}, b"*0\r\n", b"%0\r\n"),
    ({b"x"}, b"*1\r\n$1\r\nx\r\n", b"~1\r\n$1\r\nx\r\n"),
    (frozenset(), b"*0\r\n", b"~0\r\n"),
    (0.1, b"$19\r\n0.10000000000000001\r\n", b",0.10000000000000001\r\n"),
    (1e100, b"$6\r\n1e+100\r\n", b",1e+100\r\n"),
    (3.0, b"$1\r\n3\r\n", b",3\r\n"),
    (float("inf"), b"$3\r\ninf\r\n", b",inf\r\n"),
    (float("-inf"), b"$4\r\n-inf\r\n", b",-inf\r\n"),
    (Verbatim(b"a:1\r\n"), b"$5\r\na:1\r\n\r\n", b"=9\r\ntxt:a:1\r\n\r\n"),
    # ZRANGE ... WITHSCORES: flat in RESP2, [member, score] pairs in RESP3.
    (Pairs([(b"d", 0.0)]), b"*2\r\n$1\r\nd\r\n$1\r\n0\r\n", b"*1\r\n*2\r\n$1\r\nd\r\n,0\r\n"),
    (Pairs(), b"*0\r\n", b"*0\r\n"),
    (CommandError("ERR bad"), b"-ERR bad\r\n", b"-ERR bad\r\n"),
    (CommandError("ERR a\r\nb"), b"-ERR a  b\r\n", b"-ERR a  b\r\n"),
    (CommandError("ERR got '\udcff'"), b"-ERR got '\xff'\r\n", b"-ERR got '\xff'\r\n"),
    (SimpleString("x\udcfe"), b"+x\xfe\r\n", b"+x\xfe\r\n"),
]


@pytest.mark.parametrize(("value", "resp2", "resp3"), REPLIES, ids=[repr(r[0]) for r in REPLIES])
def test_encode_exact_bytes(value: object, resp2: bytes, resp3: bytes) -> None:
    assert encode(value) == resp2
    assert encode(value, resp3=False) == resp2
    assert encode(value, resp3=True) == resp3


def test_format_double() -> None:
    assert format_double(1.5) == b"1.5"
    assert format_double(-0.0) == b"-0"
    assert format_double(123456789012345678.0) == b"1.2345678901234568e+17"
    assert format_double(float("nan")) == b"nan"


@pytest.mark.parametrize("value", [object(), 1 + 2j, b"x".decode, bytearray(b"x")])
def test_encode_rejects_unknown_types(value: object) -> None:
    with pytest.raises(TypeError):
        encode(value)


def _decoded(value: object, resp3: bool) -> object:
    """What hiredis (redis-py's parser) returns for a correctly encoded `value`."""
    kind = type(value)
    if kind in (bytes, Verbatim):
        return bytes(value)  # hiredis drops the verbatim 'txt:' prefix
    if kind is SimpleString or kind is str:
        return value.encode("utf-8", "surrogateescape")
    if kind is bool:
        return value if resp3 else int(value)
    if value is None or value is NULL_ARRAY:
        return None
    if kind is float:
        return value if resp3 else format_double(value)
    if kind in (list, tuple, set, frozenset):
        return [_decoded(v, resp3) for v in value]
    if kind is Pairs:
        if resp3:
            return [[_decoded(a, resp3), _decoded(b, resp3)] for a, b in value]
        return [_decoded(x, resp3) for pair in value for x in pair]
    if kind is dict:
        if resp3:
            return {_decoded(k, resp3): _decoded(v, resp3) for k, v in value.items()}
        return [_decoded(x, resp3) for kv in value.items() for x in kv]
    if kind is CommandError:  # hiredis decodes error text as UTF-8 with replacement
        text = str(value).replace("\r", " ").replace("\n", " ")
        return ("error", text.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
    return value


_NO_REPLY = object()  # hiredis returns False both for "#f" and for "no reply yet"


def _hiredis(raw: bytes) -> object:
    reader = hiredis.Reader(notEnoughData=_NO_REPLY)
    reader.feed(raw)
    value = reader.gets()
    assert value is not _NO_REPLY, "incomplete reply"
    assert reader.gets() is _NO_REPLY, "trailing bytes after the reply"
    return _normalise(value)


def _normalise(value: object) -> object:
    if isinstance(value, hiredis.ReplyError):
        return ("error", str(value))
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    return value


@pytest.mark.parametrize("resp3", [False, True])
@pytest.mark.parametrize("value", [r[0] for r in REPLIES], ids=[repr(r[0]) for r in REPLIES])
def test_hiredis_decodes_the_table(value: object, resp3: bool) -> None:
    assert _hiredis(encode(value, resp3)) == _decoded(value, resp3)


scalars = st.one_of(
    st.binary(max_size=20), st.integers(min_value=-(2**63), max_value=2**63 - 1), st.none(),
    st.booleans(), st.floats(allow_nan=False),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=8),
    st.text("abcXYZ -_:", max_size=10).map(SimpleString),
    st.binary(max_size=20).map(Verbatim), st.just(NULL_ARRAY),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=20).map(
        lambda t: CommandError("ERR " + t)),
)
keys = st.one_of(st.binary(max_size=8), st.integers(min_value=-100, max_value=100))
replies = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.lists(inner, max_size=4).map(tuple),
    st.dictionaries(keys, inner, max_size=4),
    st.frozensets(keys, max_size=4),
    st.lists(st.tuples(inner, inner), max_size=3).map(Pairs),
), max_leaves=20)


@given(replies, st.booleans())
@FAST
def test_hiredis_decodes_any_reply(value: object, resp3: bool) -> None:
    assert _hiredis(encode(value, resp3)) == _decoded(value, resp3)


def test_atheris_finds_no_failing_input() -> None:
    """30,000 coverage-guided inputs (tests/fuzz_reader.py states the properties)."""
    pytest.importorskip("atheris")
    script = Path(__file__).with_name("fuzz_reader.py")
    done = subprocess.run([sys.executable, str(script), "-runs=30000", "-max_len=2048",
                           "-seed=1"], cwd=script.parent.parent, capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Done 30000 runs" in done.stderr
