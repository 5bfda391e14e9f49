"""Streams without a server: the entry's clock is the only clock apply reads, two nodes that
apply the same entries hold the same bytes, a deleted stream leaves no record behind, and the
RDB listpack codec reads back what it writes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rcache import collections_store as cs
from rcache import rdb
from rcache.commands import table
from rcache.commands.stream_args import (
    interval_end,
    interval_start,
    parse_group_options,
    parse_id,
    parse_read,
    parse_xadd,
)
from rcache.errors import CommandError
from rcache.storage import FORMAT_KEY
from rcache.streams_store import MAX_ID

from .test_collections_unit import apply, command, records_under
from .test_commands_unit import NOW, DirectNode


@pytest.fixture
def pair_of_nodes(tmp_path: Path) -> Iterator[tuple[DirectNode, DirectNode]]:
    nodes = DirectNode(tmp_path / "a"), DirectNode(tmp_path / "b")
    yield nodes
    for node in nodes:
        node.store.close()


_ENTRIES = [
    [command("XADD", "s", "*", "f", "1"), command("XADD", "s", "*", "f", "2")],
    [command("XGROUP", "CREATE", "s", "g", "0")],
    [command("XREADGROUP", "GROUP", "g", "alice", "COUNT", "1", "STREAMS", "s", ">")],
    [command("XADD", "s", "MAXLEN", "5", "*", "f", "3"),
     command("XREADGROUP", "GROUP", "g", "bob", "STREAMS", "s", ">")],
    [command("XCLAIM", "s", "g", "carol", "0", f"{NOW}-1", "IDLE", "500")],
    [command("XAUTOCLAIM", "s", "g", "dave", "0", "0", "COUNT", "1")],
]


def test_apply_reads_only_the_entry_clock(pair_of_nodes) -> None:
    """Ids, delivery times, idle and seen times come from each entry's clock: two nodes
    applying the same entries (at different wall-clock moments) hold the same stream."""
    for node in pair_of_nodes:
        for step, items in enumerate(_ENTRIES):
            apply(node, *items, now=NOW + 10 * step)
    first, second = ([node.call("XINFO", "STREAM", "s", "FULL"),
                      node.call("XRANGE", "s", "-", "+")] for node in pair_of_nodes)
    assert first == second
    assert [entry[0] for entry in first[1]] == [b"%d-0" % NOW, b"%d-1" % NOW,
                                                b"%d-0" % (NOW + 30)]
    group = first[0][b"groups"][0]
    pending = {entry[0]: entry[1:] for entry in group[b"pending"]}
    assert pending[b"%d-1" % NOW] == [b"carol", NOW + 40 - 500, 2]  # IDLE from the clock
    assert pending[b"%d-0" % NOW] == [b"dave", NOW + 50, 2]
    seen = {consumer[b"name"]: consumer[b"seen-time"] for consumer in group[b"consumers"]}
    assert seen == {b"alice": NOW + 20, b"bob": NOW + 30, b"carol": NOW + 40,
                    b"dave": NOW + 50}


def test_deleting_a_stream_leaves_no_record(pair_of_nodes) -> None:
    node = pair_of_nodes[0]
    for start in range(0, 400, 100):
        apply(node, *[command("XADD", "big", f"{i}-1", "f", "v") for i in range(start + 1,
                                                                            start + 101)])
    apply(node, command("XGROUP", "CREATE", "big", "g", "0"))
    apply(node, command("XREADGROUP", "GROUP", "g", "c", "COUNT", "150", "STREAMS", "big", ">"))
    prefix = cs.lookup_any(node.store.keyspace(0, NOW), b"big").prefix
    assert records_under(node, prefix) > 550  # state, 400 entries, group, 2 x 150 pending
    assert apply(node, command("DEL", "big")) == [1]
    assert records_under(node, prefix) == 0
    apply(node, command("XADD", "small", "1-1", "f", "v"),
          command("XGROUP", "CREATE", "small", "g", "0"))
    prefix = cs.lookup_any(node.store.keyspace(0, NOW), b"small").prefix
    apply(node, command("XGROUP", "DESTROY", "small", "g"), command("XDEL", "small", "1-1"))
    assert records_under(node, prefix) == 1  # the state: an empty stream stays a key
    assert node.call("XINFO", "STREAM", "small")[b"last-generated-id"] == b"1-1"


@pytest.mark.parametrize(("raw", "expected"), [
    (b"5", ((5, 0), True)), (b"5-3", ((5, 3), True)), (b" 5-3", ((5, 3), True)),
    (b"+5-3", ((5, 3), True)), (b"5-*", ((5, 0), False)), (b"-", ((0, 0), True)),
    (b"+", (MAX_ID, True)), (b"18446744073709551615-18446744073709551615", (MAX_ID, True)),
])
def test_ids_parse_as_redis_reads_them(raw: bytes, expected) -> None:
    assert parse_id(raw, star_seq=True) == expected


@pytest.mark.parametrize("raw", [b"", b"-5", b"5-", b"5-x", b"5-1-1", b"18446744073709551616",
                                 b"x" * 128, b"5 -1", b"5-+-1"])
def test_invalid_ids_are_refused(raw: bytes) -> None:
    with pytest.raises(CommandError, match="Invalid stream ID"):
        parse_id(raw, star_seq=True)


def test_exclusive_interval_edges() -> None:
    assert interval_start(b"(5-18446744073709551615") == (6, 0)
    assert interval_end(b"(6-0") == (5, 2**64 - 1)
    assert interval_end(b"(6") == (6, 2**64 - 2)  # a missing end sequence is the largest
    with pytest.raises(CommandError, match="invalid start ID"):
        interval_start(b"(18446744073709551615-18446744073709551615")
    with pytest.raises(CommandError, match="invalid end ID"):
        interval_end(b"(0-0")


def test_xadd_parses_every_argument_before_the_log() -> None:
    found = parse_xadd([b"XADD", b"s", b"NOMKSTREAM", b"MINID", b"~", b"5-1", b"LIMIT", b"10",
                        b"7-*", b"f", b"v"])
    assert (found.key, found.no_mkstream, found.id, found.seq_given, found.fields) == (
        b"s", True, (7, 0), False, [b"f", b"v"])
    assert (found.trim.strategy, found.trim.approximate, found.trim.threshold,
            found.trim.limit) == (b"minid", True, (5, 1), 10)


@pytest.mark.parametrize("argv", [
    # Redis reads these ids only after the key (and group): WRONGTYPE or NOGROUP come first.
    [b"XGROUP", b"CREATE", b"k", b"g", b"bad", b"MKSTREAM"],
    [b"XGROUP", b"SETID", b"k", b"g", b"x"],
    [b"XGROUP", b"SETID", b"k", b"g", b"0", b"ENTRIESREAD", b"1", b"ENTRIESREAD", b"2"],
])
def test_xgroup_parser_stops_at_the_key(argv: list[bytes]) -> None:
    assert parse_group_options(argv)[0] == argv


def test_xreadgroup_ids_are_left_to_apply() -> None:
    found = parse_read([b"xreadgroup", b"GROUP", b"g", b"c", b"NOACK", b"BLOCK", b"5",
                        b"STREAMS", b"a", b"b", b"$", b"bad"])
    assert (found.group, found.consumer, found.noack, found.block_ms) == (b"g", b"c", True, 5)
    assert (found.keys, found.ids) == ([b"a", b"b"], [b"$", b"bad"])


@pytest.mark.parametrize("name", [b"xdel", b"xack", b"xclaim", b"xgroup|destroy",
                                  b"xgroup|createconsumer", b"xgroup|delconsumer"])
def test_writes_that_read_the_key_first_have_no_parser(name: bytes) -> None:
    """Redis answers their missing key (0, NOGROUP) or WRONGTYPE before any argument."""
    assert table.find(name).parser is None


@pytest.mark.parametrize("size", [0, 1, 63, 64, 127, 128, 4095, 4096, 16383, 16384, 70000])
def test_listpack_strings_read_back(size: int) -> None:
    items = [b"a" * size, b"z", b"b" * (size // 2)]
    assert rdb.parse_listpack(rdb.build_listpack(items)) == items


def test_listpack_integers_read_back() -> None:
    numbers = [0, 1, 127, 128, -1, -4096, 4095, 4096, -4097, 32767, -32768, 32768, 2**23,
               -(2**23), 2**31 - 1, -(2**31), 2**31, 2**63 - 1, -(2**63)]
    packed = rdb.build_listpack(numbers)
    assert rdb.parse_listpack(packed) == [b"%d" % number for number in numbers]
    assert len(rdb.build_listpack([127])) == 6 + 2 + 1  # a 7-bit integer takes one byte


def test_streams_of_an_older_layout_are_upgraded_when_the_store_opens(tmp_path: Path) -> None:
    """A stream stored before nodes were kept (a 56-byte state, entries led by their ordinal,
    no node records) reads as it did, and its nodes are Redis's, once the store reopens."""
    node = DirectNode(tmp_path / "db")
    apply(node, *[command("XADD", "s", f"{i}-0", "f", str(i), "g", "x" * i)
                  for i in range(1, 251)])
    apply(node, command("XGROUP", "CREATE", "s", "g", "0"),
          command("XREADGROUP", "GROUP", "g", "c", "COUNT", "3", "STREAMS", "s", ">"),
          command("XDEL", "s", "5-0"))
    before = [node.call("XRANGE", "s", "-", "+"), node.call("XINFO", "STREAM", "s", "FULL")]
    prefix = cs.lookup_any(node.store.keyspace(0, NOW), b"s").prefix
    old = {}
    for key, value in node.store.db.items(from_key=prefix):
        if not key.startswith(prefix):
            break
        suffix = key[len(prefix):]
        if suffix == b"\x00":  # the state without the node fields
            old[key] = value[:56]
        elif suffix[:1] == b"e":  # an ordinal instead of the node's id
            old[key] = (1).to_bytes(8, "big") + value[16:]
        elif suffix[:1] == b"n":  # no node records
            old[key] = None
    for key, value in old.items():
        if value is None:
            node.store.db.delete(key)
        else:
            node.store.db.put(key, value)
    node.store.db.delete(FORMAT_KEY)
    node.store.close()

    upgraded = DirectNode(tmp_path / "db")
    upgraded.index = node.index  # entries go on from the store's applied index
    try:
        assert [upgraded.call("XRANGE", "s", "-", "+"),
                upgraded.call("XINFO", "STREAM", "s", "FULL")] == before
        apply(upgraded, command("XADD", "s", "300-0", "f", "v"))
        assert upgraded.call("XLEN", "s") == 250
        assert upgraded.store.db.get(FORMAT_KEY) is not None
    finally:
        upgraded.store.close()
