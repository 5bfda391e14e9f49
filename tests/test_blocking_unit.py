"""Blocking pops in-process: Blocking sees the node only through interfaces.Node and
Replication, here a real state machine behind a one-node stand-in for Raft."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from rcache.blocking import Blocking
from rcache.commands.table import lookup
from rcache.entries import COMMAND, TRANSACTION
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
        chain = self.blocking.submitted(item, prepared)  # as Server.submitted, before queued
        self.direct.index += 1
        entry = encode_entry(NOW, self.direct.index, [item])
        reply = self.direct.machine.apply(self.direct.index, entry)[0]
        logged = pending if chain is None else chain.hold(pending)  # as Replicator.submit
        asyncio.get_running_loop().call_soon(logged.resolve, reply)
        if chain is not None:  # as Replicator's on_woken: the tries right behind the write
            self.blocking.try_woken()
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


def _pop(blocking: Blocking, *args: bytes, client: SimpleNamespace | None = None) -> Pending:
    argv = list(args)
    client = client or SimpleNamespace(db=0, closed=False)
    return blocking.run(client, lookup(argv), argv, Pending(None))


def _lists(direct: DirectNode, *keys: bytes) -> list:
    return [direct.call(b"lrange", key, 0, -1) for key in keys]


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


def test_a_push_behind_the_first_try_is_not_missed(tmp_path) -> None:
    """The push is ordered after the pop's first try, which finds nothing: the pop must try
    again rather than park with the element already there."""
    async def scenario(blocking: Blocking, replication: OneNodeReplication) -> None:
        waiter = _pop(blocking, b"blpop", b"q", b"0")
        replication.submit((COMMAND, 0, [b"rpush", b"q", b"x"]))  # first try not back yet
        await _until(lambda: waiter.done)
        assert waiter.value == [b"q", b"x"]
    _run(tmp_path, scenario)


def test_a_woken_pop_waits_on_past_a_key_of_another_type(tmp_path) -> None:
    """Redis serves a parked client only from a list: a key replaced by a string leaves it
    parked, and a later push to its other key serves it. Its first try says WRONGTYPE."""
    async def scenario(blocking: Blocking, replication: OneNodeReplication) -> None:
        waiter = _pop(blocking, b"blpop", b"a", b"b", b"0")
        await _until(lambda: blocking.parked == 1)
        replication.submit((TRANSACTION, [(0, [b"rpush", b"a", b"x"]), (0, [b"del", b"a"]),
                                          (0, [b"set", b"a", b"string"])]))
        for _ in range(20):  # turns enough for any try that write sent
            await asyncio.sleep(0)
        assert not waiter.done and blocking.parked == 1
        replication.submit((COMMAND, 0, [b"rpush", b"b", b"y"]))
        await _until(lambda: waiter.done)
        assert waiter.value == [b"b", b"y"]
        refused = _pop(blocking, b"blpop", b"a", b"0")
        await _until(lambda: refused.done)
        assert str(refused.value).startswith("WRONGTYPE")
    _run(tmp_path, scenario)


def test_circular_moves_that_find_nothing_stop_trying(tmp_path) -> None:
    """Two BRPOPLPUSH parked on each other's target: a try that moved nothing must not wake
    the other (which would wake the first again, for ever)."""
    async def scenario(blocking: Blocking, replication: OneNodeReplication) -> None:
        first = _pop(blocking, b"brpoplpush", b"a", b"b", b"0")
        second = _pop(blocking, b"brpoplpush", b"b", b"a", b"0")
        await _until(lambda: blocking.parked == 2)
        tries = []
        submit = replication.submit
        replication.submit = lambda item, *rest: tries.append(item) or submit(item, *rest)
        submit((COMMAND, 0, [b"del", b"a"]))  # wakes the first, which finds nothing
        for _ in range(200):
            await asyncio.sleep(0)
        assert len(tries) == 1 and blocking.parked == 2
        submit((COMMAND, 0, [b"rpush", b"a", b"x"]))  # a -> b -> a
        await _until(lambda: first.done and second.done)
        assert (first.value, second.value) == (b"x", b"x")
        lists = [submit((COMMAND, 0, [b"lrange", key, b"0", b"-1"])) for key in (b"a", b"b")]
        await _until(lambda: lists[1].done)
        assert [pending.value for pending in lists] == [[b"x"], []]
    _run(tmp_path, scenario)


async def _wait_done(pending: Pending) -> None:
    while not pending.done:
        await asyncio.sleep(0.001)


def _push_seeing(replication: OneNodeReplication, *lists: bytes) -> tuple[Pending, list]:
    """RPUSH a foo, and what ``lists`` hold when its reply comes."""
    seen: list = []
    push = replication.submit((COMMAND, 0, [b"rpush", b"a", b"foo"]),
                              lambda _: seen.extend(_lists(replication.direct, *lists)))
    return push, seen


def test_a_push_replies_once_the_chain_of_moves_it_started_is_served(tmp_path) -> None:
    async def scenario(blocking: Blocking, replication: OneNodeReplication) -> None:
        first = _pop(blocking, b"blmove", b"a", b"b", b"RIGHT", b"LEFT", b"0")
        second = _pop(blocking, b"brpoplpush", b"b", b"c", b"0")
        await _until(lambda: blocking.parked == 2)
        seen_by_first: list = []
        first.on_done = lambda _: seen_by_first.extend(_lists(replication.direct, b"c"))
        push, seen = _push_seeing(replication, b"a", b"b", b"c")
        await _until(lambda: push.done)
        assert seen == [[], [], [b"foo"]] and second.done
        assert (first.value, seen_by_first) == (b"foo", [[b"foo"]])  # its move's chain too
    _run(tmp_path, scenario)


def test_a_circular_chain_serves_each_client_once(tmp_path) -> None:
    async def scenario(blocking: Blocking, replication: OneNodeReplication) -> None:
        first = _pop(blocking, b"brpoplpush", b"a", b"b", b"0")
        second = _pop(blocking, b"brpoplpush", b"b", b"a", b"0")
        same = _pop(blocking, b"blmove", b"b", b"b", b"LEFT", b"RIGHT", b"0")  # b -> b
        await _until(lambda: blocking.parked == 3)
        push, seen = _push_seeing(replication, b"a", b"b")
        await _until(lambda: push.done)
        # a -> b (first), b -> a (second, parked before same); same finds b empty: parked
        assert (first.value, second.value, same.done) == (b"foo", b"foo", False)
        assert seen == [[b"foo"], []] and blocking.parked == 1
    _run(tmp_path, scenario)


def test_a_try_that_finds_nothing_releases_the_reply(tmp_path) -> None:
    """Two clients parked on one list, one element: the second one's try finds nothing and
    parks again, and the push replies."""
    async def scenario(blocking: Blocking, replication: OneNodeReplication) -> None:
        taker = _pop(blocking, b"blpop", b"a", b"0")
        late = _pop(blocking, b"blpop", b"a", b"0")
        await _until(lambda: blocking.parked == 2)
        push, seen = _push_seeing(replication, b"a")
        await _until(lambda: push.done)
        assert (taker.value, late.done, seen, blocking.parked) == ([b"a", b"foo"], False,
                                                                  [[]], 1)
    _run(tmp_path, scenario)


def test_a_woken_client_gone_before_its_try_releases_the_reply(tmp_path) -> None:
    async def scenario(blocking: Blocking, replication: OneNodeReplication) -> None:
        client = SimpleNamespace(db=0, closed=False)
        _pop(blocking, b"blmove", b"a", b"b", b"RIGHT", b"LEFT", b"0", client=client)
        second = _pop(blocking, b"blmove", b"b", b"c", b"RIGHT", b"LEFT", b"0")
        await _until(lambda: blocking.parked == 2)
        client.closed = True  # gone, its waits not dropped yet: when woken it takes nothing
        push, seen = _push_seeing(replication, b"a", b"b", b"c")
        await _until(lambda: push.done)
        assert seen == [[b"foo"], [], []] and not second.done and blocking.parked == 1
    _run(tmp_path, scenario)


def test_a_leader_change_releases_the_reply(tmp_path) -> None:
    async def scenario(blocking: Blocking, replication: OneNodeReplication) -> None:
        _pop(blocking, b"blpop", b"a", b"0")
        await _until(lambda: blocking.parked == 1)
        submit = replication.submit
        replication.submit = lambda item, on_done=None, prepared=None: Pending(on_done)
        push = submit((COMMAND, 0, [b"rpush", b"a", b"foo"]))  # its try never comes back
        for _ in range(20):
            await asyncio.sleep(0)
        assert not push.done
        blocking.deposed()
        await _until(lambda: push.done)
        assert push.value == 1
    _run(tmp_path, scenario)


def test_a_chain_waits_only_for_clients_parked_before_it(tmp_path) -> None:
    """A client that parks on a move's target while the chain runs (behind its first move)
    is woken, not waited for: new clients cannot keep a reply waiting for ever."""
    async def scenario(blocking: Blocking, replication: OneNodeReplication) -> None:
        _pop(blocking, b"blmove", b"a", b"b", b"RIGHT", b"LEFT", b"0")
        _pop(blocking, b"blmove", b"b", b"c", b"RIGHT", b"LEFT", b"0")
        await _until(lambda: blocking.parked == 2)
        submit = replication.submit
        held: list = []

        def hold_tries(item, on_done=None, prepared=None):
            if item[2][0] == b"blpop" and len(item) > 3:  # the newcomer's wake-up try
                held.append((item, on_done, prepared))
                return Pending(on_done)
            return submit(item, on_done, prepared)
        replication.submit = hold_tries
        push = submit((COMMAND, 0, [b"rpush", b"a", b"foo"]))  # the first move right behind
        newcomer = _pop(blocking, b"blpop", b"c", b"0")  # its first try runs: c is empty
        await _until(lambda: held)  # the second move woke it, its try is held
        await _until(lambda: push.done)
        assert not newcomer.done
        replication.submit = submit
        item, on_done, prepared = held[0]
        submit(item, on_done, prepared)
        await _until(lambda: newcomer.done)
        assert newcomer.value == [b"c", b"foo"]
    _run(tmp_path, scenario)


def test_a_woken_waiter_is_tried_even_if_the_write_path_fails_to_send_it(tmp_path) -> None:
    """The write path sends a woken waiter's try right behind the write (on_woken); should
    it fail before it does, the try still goes out on the next loop turn instead of leaving
    the waiter in flight for ever."""
    async def scenario(blocking: Blocking, replication: OneNodeReplication) -> None:
        waiter = _pop(blocking, b"blpop", b"q", b"0")
        await _until(lambda: blocking.parked == 1)
        replication.direct.call(b"rpush", b"q", b"x")  # applied without the write path
        assert blocking.submitted((COMMAND, 0, [b"rpush", b"q", b"x"])) is not None
        await _until(lambda: waiter.done)
        assert waiter.value == [b"q", b"x"]
    _run(tmp_path, scenario)
