"""Blocking pops in-process: Blocking sees the node only through interfaces.Node and
Replication, here a real state machine behind a one-node stand-in for Raft."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from rcache.blocking import Blocking
from rcache.commands.table import lookup
from rcache.entries import COMMAND
from rcache.pending import Pending
from rcache.resp import NULL_ARRAY
from rcache.statemachine import encode_entry

from .test_commands_unit import NOW, DirectNode


class OneNodeReplication:
    """Applies each item at once, in submission order; replies on the next loop turn."""

    is_leader = True

    def __init__(self, direct: DirectNode, blocking: Blocking) -> None:
        self.direct = direct
        self.blocking = blocking

    def submit(self, item: tuple, on_done=None, prepared=None) -> Pending:
        pending = Pending(on_done)
        self.blocking.submitted(item, prepared)  # as Server.submitted, before it is queued
        self.direct.index += 1
        entry = encode_entry(NOW, self.direct.index, [item])
        reply = self.direct.machine.apply(self.direct.index, entry)[0]
        asyncio.get_running_loop().call_soon(pending.resolve, reply)
        return pending


def _run(tmp_path, scenario) -> None:
    direct = DirectNode(tmp_path / "db")
    node = SimpleNamespace(store=direct.store)
    blocking = Blocking(node)
    node.replicator = OneNodeReplication(direct, blocking)
    try:
        asyncio.run(scenario(blocking, node.replicator))
    finally:
        direct.store.close()


async def _until(condition, turns: int = 1000) -> None:
    for _ in range(turns):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition not reached")


def _pop(blocking: Blocking, *args: bytes) -> Pending:
    argv = list(args)
    client = SimpleNamespace(db=0, closed=False)
    return blocking.run(client, lookup(argv), argv, Pending(None))


def test_parked_pop_gets_the_next_push(tmp_path) -> None:
    async def scenario(blocking: Blocking, replication: OneNodeReplication) -> None:
        first = _pop(blocking, b"blpop", b"q", b"0")
        second = _pop(blocking, b"blmpop", b"0", b"1", b"q", b"LEFT")  # timeout_first
        await _until(lambda: blocking.parked == 2)
        replication.submit((COMMAND, 0, [b"rpush", b"q", b"a", b"b"]))
        await _until(lambda: first.done and second.done)
        assert first.value == [b"q", b"a"]  # in the order they came
        assert second.value == [b"q", [b"b"]]
        assert blocking.parked == 0
    _run(tmp_path, scenario)


def test_a_blocking_move_wakes_who_waits_on_its_target(tmp_path) -> None:
    async def scenario(blocking: Blocking, replication: OneNodeReplication) -> None:
        mover = _pop(blocking, b"blmove", b"src", b"dst", b"LEFT", b"LEFT", b"0")
        waiter = _pop(blocking, b"blpop", b"dst", b"0")
        await _until(lambda: blocking.parked == 2)
        replication.submit((COMMAND, 0, [b"rpush", b"src", b"x"]))  # fills_second_key
        await _until(lambda: mover.done and waiter.done)
        assert (mover.value, waiter.value) == (b"x", [b"dst", b"x"])
    _run(tmp_path, scenario)


def test_a_timed_out_pop_replies_null(tmp_path) -> None:
    async def scenario(blocking: Blocking, replication: OneNodeReplication) -> None:
        result = _pop(blocking, b"bzmpop", b"0.01", b"1", b"z", b"MIN")  # timeout_first
        await asyncio.wait_for(_wait_done(result), 30)
        assert result.value is NULL_ARRAY
    _run(tmp_path, scenario)


async def _wait_done(pending: Pending) -> None:
    while not pending.done:
        await asyncio.sleep(0.001)


def test_a_push_behind_the_first_try_wakes_the_pop(tmp_path) -> None:
    """The push is ordered right behind the pop's first try, which found the list empty: the
    pop tries again and gets it (it used to park and miss it until its timeout)."""
    async def scenario(blocking: Blocking, replication: OneNodeReplication) -> None:
        result = _pop(blocking, b"blpop", b"q", b"0")  # tried at once; its reply comes later
        replication.submit((COMMAND, 0, [b"rpush", b"q", b"a"]))
        await _until(lambda: result.done)
        assert result.value == [b"q", b"a"]
        assert blocking.parked == 0
    _run(tmp_path, scenario)
