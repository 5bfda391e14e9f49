"""An entry's plain SETs (``SET key value``, no options) skip the generic command path in
apply (``StateMachine._set_plain``): the same writes run through ``_run``, inside a MULTI,
must leave the same records, counters, replies, keyspace events and command statistics."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rcache.commands.table import COMMANDS, lookup
from rcache.config import Config
from rcache.entries import COMMAND, TRANSACTION
from rcache.server import Server
from rcache.statemachine import encode_entry
from rcache.storage import APPLIED_KEY
from rcache.strings_store import FRAGMENT_SIZE

pytestmark = pytest.mark.unit

BIG = b"v" * (FRAGMENT_SIZE + 10)  # stored as fragments
SETUP = [  # a TTL, a hash's elements, a big string's fragments, a key in db 1
    (0, [b"SET", b"ttl", b"old", b"PX", b"100000"]),
    (0, [b"HSET", b"hash", b"f1", b"a", b"f2", b"b"]),
    (0, [b"SET", b"big", BIG]),
    (1, [b"SET", b"other", b"x"]),
]
WRITES = [  # every kind of old record a plain SET replaces, and a SWAPDB between them
    (0, [b"SET", b"new", b"1"]),
    (0, [b"set", b"ttl", b"2"]),
    (0, [b"SET", b"hash", b"3"]),
    (0, [b"SET", b"big", b"4"]),
    (0, [b"SET", b"new", b"55"]),
    (0, [b"SET", b"fresh", BIG]),
    (0, [b"SWAPDB", b"0", b"1"]),
    (0, [b"SET", b"other", b"6"]),
    (1, [b"SET", b"new", b"7"]),
]


class Node:
    """A Server built, not served: its StateMachine with the node's own wiring."""

    def __init__(self, path: Path) -> None:
        self.server = Server(Config(dir=str(path), notify_keyspace_events="KEA"))
        self.machine = self.server.machine
        self.events: list = []
        self.machine.hub.notify = self.events.extend
        self.index = self.machine.applied_index
        self.now_ms = int(time.time() * 1000)

    def apply(self, items: list[tuple], prepared: list | None) -> list:
        self.index += 1
        self.now_ms += 1
        self.machine.prepared_for = lambda _seed: prepared
        return self.machine.apply(self.index, encode_entry(self.now_ms, 1234, items))

    def records(self) -> dict[bytes, bytes]:
        return {key: value for key, value in self.server.store.db.items()
                if key != APPLIED_KEY}


def prepared(items: list[tuple]) -> list:
    """What the leader's submit hands over: each command looked up and parsed."""
    found = []
    for _, _, argv in items:
        cmd = lookup(argv)
        found.append((cmd, cmd.parser(argv) if cmd.parser else None))
    return found


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[tuple[Node, Node]]:
    pair = Node(tmp_path / "a"), Node(tmp_path / "b")
    for node in pair:
        items = [(COMMAND, db, argv) for db, argv in SETUP]
        node.apply(items, prepared(items))
    yield pair
    for node in pair:
        node.server.store.close()


@pytest.mark.parametrize("as_leader", [True, False], ids=["leader", "follower"])
def test_plain_sets_apply_as_the_generic_path_does(nodes, as_leader: bool) -> None:
    fast, generic = nodes
    items = [(COMMAND, db, argv) for db, argv in WRITES]
    set_command = COMMANDS[b"set"]  # (its statistics are the process's: both nodes')
    before = set_command.calls
    replies = fast.apply(items, prepared(items) if as_leader else None)
    counted_fast, before = set_command.calls - before, set_command.calls
    [in_multi] = generic.apply([(TRANSACTION, [(db, argv) for db, argv in WRITES])], None)
    assert replies == in_multi
    assert counted_fast == set_command.calls - before == 8
    assert fast.events == generic.events
    assert any(event[1] == b"set" for event in fast.events)
    assert fast.records() == generic.records()
