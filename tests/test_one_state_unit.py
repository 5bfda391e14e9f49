"""Store.one_state (the event loop runs a follower's transaction or a script outside the log
on one state) against Store.committing (the applying thread makes an entry's writes
visible): an entry waits for the run in progress, never for the runs that follow it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from rcache.storage import Store

from .conftest import wait_for

WAIT_S = 30


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(str(tmp_path / "db"))
    yield store
    store.close()


def test_an_entry_waiting_to_commit_goes_before_the_next_run(store: Store) -> None:
    order: list[str] = []

    def commit() -> None:
        with store.committing():
            order.append("commit")

    applier = threading.Thread(target=commit)
    with store.one_state():
        applier.start()
        # the applier has taken its turn and waits for the lock this run holds
        wait_for(store._commit_turn.locked, WAIT_S, "the applier to wait for its turn")
        order.append("first run")
    with store.one_state():
        order.append("second run")
    applier.join(WAIT_S)
    assert order == ["first run", "commit", "second run"]


def test_a_run_inside_a_run_takes_nothing_more(store: Store) -> None:
    """A script inside a follower's EXEC: the outer run already holds the lock."""
    with store.one_state():
        with store.one_state():
            assert store.commit_lock.locked()
        assert store.commit_lock.locked()
    assert not store.commit_lock.locked()
    with store.committing():  # nothing left held
        assert store.commit_lock.locked()
