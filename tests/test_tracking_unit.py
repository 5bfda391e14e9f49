"""The node's tracker in-process: what one entry's events send to whom (flush runs, NOLOOP,
BCAST grouping), with connections that record what they are sent."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from rcache.commands.table import lookup
from rcache.commands.tracking import _check_prefixes
from rcache.errors import CommandError
from rcache.notify import FLUSHED, NEW, STRING
from rcache.resp import Push
from rcache.tracking import Tracker


class Recorder:
    """The parts of a connection the tracker uses; it keeps the messages it is sent."""

    def __init__(self, client_id: int) -> None:
        self.id = client_id
        self.tracking = None
        self.resp3 = True
        self.subscriptions = 0
        self.multi = None
        self.awaiting_replies = False
        self.sent: list[Push] = []

    def push_after_replies(self, message: Push) -> None:
        self.sent.append(message)


def _setup(count: int, max_keys: int = 0) -> tuple[Tracker, list[Recorder]]:
    clients = {i: Recorder(i) for i in range(1, count + 1)}
    tracker = Tracker(clients, SimpleNamespace(tracking_table_max_keys=max_keys))
    return tracker, list(clients.values())


def _run(tracker: Tracker, client: Recorder, *argv: bytes) -> None:
    tracker.on_command(client, lookup(list(argv)), list(argv))


def _set(key: bytes) -> tuple:
    return (STRING, b"set", key, 0)


def test_a_flushall_sends_one_null_and_empties_the_table() -> None:
    tracker, (reader, other) = _setup(2)
    tracker.enable(reader, 0, False, False, False, False, [])
    _run(tracker, reader, b"GET", b"k")
    flushes = [(FLUSHED, b"flush", b"", db) for db in range(16)]
    tracker.invalidate(flushes + [_set(b"k")])
    assert reader.sent == [Push([b"invalidate", None])]
    assert tracker.keys == {} and tracker.items == 0
    assert other.sent == []  # not tracking


def test_noloop_skips_own_writes_only_while_their_reply_is_due() -> None:
    tracker, (writer,) = _setup(1)
    tracker.enable(writer, 0, False, False, False, True, [])
    _run(tracker, writer, b"GET", b"k")
    _run(tracker, writer, b"SET", b"k", b"v")
    writer.awaiting_replies = True
    tracker.invalidate([_set(b"k")])
    assert writer.sent == []
    _run(tracker, writer, b"GET", b"k")
    _run(tracker, writer, b"DEL", b"k")  # a write that changes nothing: no event
    writer.awaiting_replies = False  # its reply came: the next change is someone else's
    tracker.invalidate([_set(b"k")])
    assert writer.sent == [Push([b"invalidate", [b"k"]])]
    assert not writer.tracking.writing


def test_bcast_groups_keys_per_prefix_once_each() -> None:
    tracker, (watcher, writer) = _setup(2)
    tracker.enable(watcher, 0, True, False, False, True, [b"a", b"b"])
    tracker.enable(writer, 0, True, False, False, False, [])
    _run(tracker, watcher, b"SET", b"a2", b"v")
    watcher.awaiting_replies = True
    tracker.invalidate([(NEW, b"new", b"a1", 0), _set(b"a1"), _set(b"b1"), _set(b"c1"),
                        _set(b"a2")])
    assert watcher.sent == [Push([b"invalidate", [b"a1"]]), Push([b"invalidate", [b"b1"]])]
    assert writer.sent == [Push([b"invalidate", [b"a1", b"b1", b"c1", b"a2"]])]
    tracker.disable(watcher)
    assert set(tracker.prefixes) == {b""}


def test_the_oldest_keys_go_past_the_limit() -> None:
    tracker, (reader,) = _setup(1, max_keys=2)
    tracker.enable(reader, 0, False, False, False, False, [])
    _run(tracker, reader, b"MGET", b"k1", b"k2", b"k3")
    assert list(tracker.keys) == [b"k2", b"k3"] and tracker.items == 2
    assert reader.sent == [Push([b"invalidate", [b"k1"]])]


def test_many_bcast_prefixes_are_checked_by_their_neighbours() -> None:
    """30,000 prefixes: no overlap passes; one overlap among them is named (given order)."""
    prefixes = [b"p%06d" % i for i in range(30_000)]
    _check_prefixes({}, prefixes)
    with pytest.raises(CommandError, match="Prefix 'p000000' overlaps with another provided "
                                           "prefix 'p0000'"):
        _check_prefixes({}, prefixes + [b"p0000"])
    with pytest.raises(CommandError, match="Prefix 'p000010' overlaps with an existing "
                                           "prefix 'p00001'"):
        _check_prefixes({b"p00001": None}, prefixes)
