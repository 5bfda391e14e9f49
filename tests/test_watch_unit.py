"""WATCH in-process: Watches sees the node only through interfaces.Node / Connection (a real
store, a stand-in for Raft's term), and decides what dirties a watcher from command flags."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

from rcache.entries import COMMAND, TRANSACTION
from rcache.watch import Watches

from .test_commands_unit import DirectNode


@dataclass(eq=False)  # watchers are kept in sets, by identity
class Watcher:
    """What Watches reads and writes of a connection."""
    watched: dict = field(default_factory=dict)
    watch_dirty: bool = False
    watch_term: int = 0


@pytest.fixture
def setup(tmp_path):
    direct = DirectNode(tmp_path / "db")
    replication = SimpleNamespace(term=1)
    node = SimpleNamespace(store=direct.store, replicator=replication, machine=direct.machine,
                           config=SimpleNamespace(databases=16))
    yield direct, replication, Watches(node)
    direct.store.close()


def _watching(watches: Watches, *keys: bytes, db: int = 0) -> Watcher:
    client = Watcher()
    watches.watch(client, db, list(keys))
    return client


@pytest.mark.parametrize(("argv", "dirty"), [
    ([b"set", b"k", b"v"], True),
    ([b"set", b"other", b"v"], False),
    ([b"eval", b"return 1", b"0"], True),  # touches_any_key: a script may write any key
    ([b"lease", b"revoke", b"x"], True),
    ([b"move", b"k", b"3"], True),  # touches_other_db
    ([b"flushdb"], False),  # touches_dbs: but k does not exist, so a flush changes nothing
    ([b"mset", b"a", b"1", b"k", b"2"], True),
])
def test_what_dirties_a_watcher(setup, argv: list[bytes], dirty: bool) -> None:
    _, _, watches = setup
    client = _watching(watches, b"k")
    watches.submitted((COMMAND, 0, argv))
    assert watches.modified(client) is dirty


def test_flush_of_an_existing_key_and_a_transaction(setup) -> None:
    direct, _, watches = setup
    direct.call("SET", "k", "v")
    client = _watching(watches, b"k")
    watches.submitted((COMMAND, 1, [b"flushdb"]))  # another database
    assert not watches.modified(client)
    watches.submitted((TRANSACTION, [(0, [b"incr", b"n"]), (0, [b"flushdb"])]))
    assert watches.modified(client)
    watches.unwatch(client)
    assert not watches.modified(client)


def test_a_new_term_fails_exec(setup) -> None:
    _, replication, watches = setup
    client = _watching(watches, b"k")
    assert not watches.modified(client)
    replication.term = 2  # another leader may have written
    assert watches.modified(client)


def test_a_followers_watch_is_marked_by_the_entries_it_applies(setup) -> None:
    """cluster-enabled no: a follower's WATCH sees what the state machine applies after it
    (not before), in any form: a command, a transaction, a flush; unwatched, nothing is
    handed over any more."""
    direct, _, watches = setup
    direct.call("SET", "k", "before")
    client = Watcher()
    watches.watch_on_replica(client, 0, [b"k"])
    direct.call("SET", "other", "v")
    assert not watches.modified(client)
    direct.call("MSET", "a", "1", "k", "2")
    assert watches.modified(client)
    watches.unwatch(client)
    assert direct.machine.watched_applies is None

    later = Watcher()
    watches.watch_on_replica(later, 0, [b"missing"])
    direct.call("FLUSHDB", db=1)
    assert not watches.modified(later)
    direct.call("FLUSHALL")  # applied: the flushed keys are gone, so it marks every watcher
    assert watches.modified(later)
    watches.unwatch(later)
