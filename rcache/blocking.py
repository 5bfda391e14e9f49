"""Blocking pops (BLPOP BRPOP BLMPOP BLMOVE BRPOPLPUSH BZPOPMIN BZPOPMAX BZMPOP) and stream
reads (XREAD and XREADGROUP with BLOCK): clients parked on the leader until an element comes
or their timeout passes.

A blocking command first goes through the log like any write: the state machine pops if it
can, or gives the timeout's reply (which is all it does inside MULTI). Outside MULTI that reply
parks the client here. Each write the leader submits afterwards to one of its keys sends the
command through the log again, right behind that write, so it pops what the write brought if
nobody ordered earlier took it; the clients parked on a key try in the order they came (a
blocking move's try wakes those of its target once it moved something). Only a
leader parks clients: one that stops leading unblocks them with Redis's UNBLOCKED error.

Redis serves the clients a write unblocks before it replies to that write, the whole chain
(a move pushing into a list another client waits on) included. Here the write's reply waits
for its ``Chain``: the wake-up tries it sent, and those of the moves they made, each a later
log item; a move's own reply waits for the tries it sent. Only the leader knows the chain
(the state machine sees plain items): it ends when each try is over, popped or not, or its
client left, or the leader stops leading. A chain waits only for clients parked before it
began, each served once, so it is never longer than the clients parked.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from .commands.args import timeout_arg
from .commands.streams import block_timeout_ms, resolve_last_ids, woken_reply
from .commands.table import Command, lookup
from .entries import COMMAND, TRANSACTION
from .errors import CommandError
from .interfaces import Connection, Node
from .pending import Pending
from .resp import NULL_ARRAY
from .statemachine import Prepared

UNBLOCKED = CommandError("UNBLOCKED force unblock from blocking operation, instance state "
                         "changed (master -> replica?)")
UNBLOCKED_BY_CLIENT = CommandError("UNBLOCKED client unblocked via CLIENT UNBLOCK")
LEADERSHIP_CHECK_S = 0.5


class Chain:
    """The wake-up tries one write sent, and the tries their moves sent in turn: replies held
    until every one is over (``tries`` back to 0), as Redis serves them before replying."""

    __slots__ = ("tries", "horizon", "parents", "held")

    def __init__(self, horizon: int, parents: list[Chain] | None = None) -> None:
        self.tries = 0  # tries (and chains of moves) not over yet
        self.horizon = horizon  # waiters that arrived from this one on are not waited for
        self.parents = parents or []  # chains that wait for this one (a move's, its waker's)
        self.held: list[Callable[[], None]] = []

    def hold(self, pending: Pending) -> Pending:
        """The Pending the log resolves in place of ``pending``, whose value then waits for
        the chain to be over."""
        return Pending(lambda logged: self.then(lambda: pending.resolve(logged.value)))

    def then(self, action: Callable[[], None]) -> None:
        if self.tries:
            self.held.append(action)
        else:
            action()

    def join(self) -> None:
        self.tries += 1

    def leave(self) -> None:
        self.tries -= 1
        if not self.tries:
            held, self.held = self.held, []
            for action in held:
                action()
            for parent in self.parents:
                parent.leave()


class Waiter:
    __slots__ = ("client", "db", "cmd", "argv", "keys", "result", "in_flight", "again",
                 "expired", "timer", "woken", "ended_with", "arrival", "chains", "next_chains")

    def __init__(self, client: Connection, cmd: Command, argv: list[bytes], keys: list[bytes],
                 result: Pending, arrival: int) -> None:
        self.arrival = arrival  # (Blocking counts arrivals: a chain's horizon)
        self.chains: list[Chain] = []  # waiting for the try in the log (or about to be)
        self.next_chains: list[Chain] = []  # waiting for the try ``again`` sends
        self.client = client
        self.db = client.db
        self.cmd = cmd
        self.argv = argv
        self.keys = list(dict.fromkeys((client.db, key) for key in keys))  # BLPOP a a 0
        self.result = result
        self.in_flight = False  # its command is in the log, its outcome not known yet
        self.again = False  # a write to its keys came while it was in flight: try once more
        self.expired = False  # timed out (or its client left) while in flight
        self.timer: asyncio.TimerHandle | None = None
        self.woken = False  # its first try found nothing: the tries now are wake-ups
        self.ended_with: object = NULL_ARRAY  # the reply if the wait ends with nothing popped


class Blocking:
    def __init__(self, server: Node) -> None:
        self._server = server
        self._parked: dict[Waiter, None] = {}  # (a client pipelining two pops has two)
        # Every waiter from its first try on, parked or not yet, in arrival order
        self._by_key: dict[tuple[int, bytes], dict[Waiter, None]] = {}
        self._monitor: asyncio.TimerHandle | None = None
        self._own_try: tuple | None = None  # the item of a try being submitted
        self._arrivals = 0
        self._woken: list[Waiter] = []  # to try right behind the item that woke them

    @property
    def parked(self) -> int:
        """Clients waiting (INFO's blocked_clients)."""
        return len(self._parked)

    def run(self, client: Connection, cmd: Command, argv: list[bytes], result: Pending) -> Pending:
        """A blocking command on the leader, outside MULTI; ``result`` gets its reply."""
        if not may_wait(cmd, argv):  # XREADGROUP without BLOCK: one try, never parked
            self._server.replicator.submit((COMMAND, client.db, argv),
                                           lambda pending: result.resolve(pending.value),
                                           (cmd, None))
            return result
        try:
            if "block_option" in cmd.flags:  # XREAD(GROUP) ... BLOCK <milliseconds>
                timeout_ms = block_timeout_ms(argv) or 0
                if cmd.name == "xread":  # $: the ids the leader holds now, the same every try
                    ks = client.context().ks
                    with ks.reads_counted(False):  # the try counts its reads
                        argv = resolve_last_ids(ks, argv)
            else:
                timeout_ms = timeout_arg(argv[1] if "timeout_first" in cmd.flags else argv[-1])
        except CommandError:
            timeout_ms = 0  # the first try replies with the error, after any Redis finds first
        keys = cmd.keys(argv)
        # A move pushes into its second key: a client parked there may pop, not this one.
        waiter = Waiter(client, cmd, argv,
                        keys[:1] if "fills_second_key" in cmd.flags else keys, result,
                        self._arrivals)
        self._arrivals += 1
        if timeout_ms:
            waiter.timer = asyncio.get_running_loop().call_later(
                timeout_ms / 1000, self._time_out, waiter)
        self._attempt(waiter)
        # Watched from its first try on: a write ordered behind that try, which may bring
        # what the try did not find, sends it again (the try resolves later, in apply).
        for key in waiter.keys:
            self._by_key.setdefault(key, {})[waiter] = None
        return result

    def _attempt(self, waiter: Waiter) -> None:
        if waiter.expired or waiter.client.closed:  # over before this try left: pop nothing
            waiter.in_flight = False
            self._release(waiter, waiter.ended_with)
            return
        waiter.in_flight = True
        # A wake-up try is marked: apply then skips a key of another type, as Redis does
        item = ((COMMAND, waiter.db, waiter.argv, True) if waiter.woken
                else (COMMAND, waiter.db, waiter.argv))
        self._own_try = item
        self._server.replicator.submit(item, lambda pending: self._attempted(waiter, pending),
                                       (waiter.cmd, None))
        self._own_try = None

    def _attempted(self, waiter: Waiter, pending: Pending) -> None:
        waiter.in_flight = False
        value = pending.value
        if waiter.woken and "block_option" in waiter.cmd.flags:
            ks = self._server.store.keyspace(waiter.db, int(time.time() * 1000))
            value = woken_reply(ks, waiter.argv, value)
        popped = value is not NULL_ARRAY and value is not None  # or an error
        if popped and "fills_second_key" in waiter.cmd.flags and (
                type(value) is not CommandError):
            self._release(waiter, value, self._moved(waiter))
            return
        if popped or waiter.expired or waiter.client.closed:
            self._release(waiter, value if popped else waiter.ended_with)
            return
        waiter.woken = True  # Redis would have blocked it here
        _leave(waiter.chains)
        waiter.chains, waiter.next_chains = waiter.next_chains, []
        if waiter.again:
            waiter.again = False
            self._attempt(waiter)
        else:
            self._park(waiter)

    def _moved(self, waiter: Waiter) -> Chain | None:
        """A move pushed into its target: wake who waits there, in a chain of its own that
        its reply and the chains waiting for this move wait for (None: nobody woken)."""
        parents = waiter.chains + [chain for chain in waiter.next_chains
                                   if chain not in waiter.chains]
        chain = Chain(min((parent.horizon for parent in parents), default=self._arrivals),
                      parents)
        woken = dict(self._by_key.get((waiter.db, waiter.argv[2]), {}))
        woken.pop(waiter, None)  # BLMOVE l l: it is served
        self._wake(woken, chain)
        self.try_woken()
        if not chain.tries:
            return None
        for parent in parents:
            parent.join()
        return chain

    def _park(self, waiter: Waiter) -> None:
        self._parked[waiter] = None
        if self._monitor is None:
            self._monitor = asyncio.get_running_loop().call_later(
                LEADERSHIP_CHECK_S, self._check_leadership)

    def _release(self, waiter: Waiter, reply: object, chain: Chain | None = None) -> None:
        """The wait is over: ``reply`` goes out (once ``chain`` is, if given)."""
        self._parked.pop(waiter, None)
        for key in waiter.keys:
            watching = self._by_key[key]
            del watching[waiter]
            if not watching:
                del self._by_key[key]
        if waiter.timer is not None:
            waiter.timer.cancel()
        if chain is None:
            waiter.result.resolve(reply)
        else:
            chain.then(lambda: waiter.result.resolve(reply))
        _leave(waiter.chains + waiter.next_chains)
        waiter.chains, waiter.next_chains = [], []

    def _end(self, waiter: Waiter, reply: object) -> None:
        """The wait is over: reply now, or, if a try is in the log, with whatever it brings
        (an element it pops is the reply; nothing gives the timeout's reply)."""
        if waiter.in_flight:
            waiter.expired = True
            waiter.ended_with = reply
        else:
            self._release(waiter, reply)

    def _time_out(self, waiter: Waiter) -> None:
        waiter.timer = None
        self._end(waiter, NULL_ARRAY)

    def drop(self, client: Connection) -> None:
        """The client left. A try of its already in the log still pops (as an element Redis
        popped for a client that then died is gone with its reply)."""
        for waiter in [waiter for waiter in self._parked if waiter.client is client]:
            self._end(waiter, NULL_ARRAY)

    def unblock(self, client_id: int, error: bool) -> bool:
        """CLIENT UNBLOCK: end the waits of that client, as a timeout would (or with Redis's
        UNBLOCKED error). False if it waits for nothing."""
        waiters = [waiter for waiter in self._parked if waiter.client.id == client_id]
        for waiter in waiters:
            waiter.cmd.failed_calls += 1  # INFO commandstats: Redis counts either reason so
            self._end(waiter, UNBLOCKED_BY_CLIENT if error else NULL_ARRAY)
        return bool(waiters)

    def _check_leadership(self) -> None:
        self._monitor = None
        if not self._parked:
            return
        if not self._server.replicator.is_leader:
            for waiter in list(self._parked):
                waiter.cmd.failed_calls += 1
                self._end(waiter, UNBLOCKED)
            return
        self._monitor = asyncio.get_running_loop().call_later(
            LEADERSHIP_CHECK_S, self._check_leadership)

    def deposed(self) -> None:
        """This node stopped leading: no reply waits for a chain any more (the tries in the
        log end as the log decides; parked clients get UNBLOCKED from _check_leadership)."""
        for watching in list(self._by_key.values()):
            for waiter in watching:
                _leave(waiter.chains + waiter.next_chains)
                waiter.chains, waiter.next_chains = [], []

    # -- the write path calls this for every item it submits ---------------------------------
    def submitted(self, item: tuple, prepared: Prepared = None) -> Chain | None:
        """Wake the waiters on the keys ``item`` writes. -> The chain its reply must wait
        for (``Chain.hold``), None if it woke nobody."""
        if not self._by_key or item is self._own_try:
            return None  # a try wakes the clients parked on its target once it moved something
        commands = [(item[1], item[2])] if item[0] == COMMAND else (
            item[1] if item[0] == TRANSACTION else [])
        found = ([prepared] if item[0] == COMMAND else prepared) or [None] * len(commands)
        woken: dict[Waiter, None] = {}
        for (db, argv), known in zip(commands, found, strict=True):
            keys = _written_keys(argv, known[0] if known else None)
            if keys is None:
                for watching in self._by_key.values():
                    woken.update(watching)
            for key in keys or ():
                woken.update(self._by_key.get((db, key), {}))
        if not woken:
            return None
        chain = Chain(self._arrivals)
        self._wake(woken, chain)
        return chain

    def _wake(self, woken: dict[Waiter, None], chain: Chain) -> None:
        """Try again for these waiters (``try_woken`` sends the tries); those that arrived
        before ``chain`` began join it."""
        for waiter in woken:
            if waiter.arrival < chain.horizon:
                joined = waiter.next_chains if waiter.in_flight else waiter.chains
                if chain not in joined:
                    joined.append(chain)
                    chain.join()
            if waiter.in_flight:
                waiter.again = True
            else:
                waiter.in_flight = True
                if not self._woken:  # should the write path fail before it sends them
                    asyncio.get_running_loop().call_soon(self.try_woken)
                self._woken.append(waiter)

    def try_woken(self) -> None:
        """Send the tries of the waiters just woken. The write path calls it once the item
        that woke them is queued, before the next one: Redis serves the clients a command
        unblocks before it runs the next command, of a pipeline too (LPUSH k a, LPUSH k b:
        a client parked on BLPOP k gets a)."""
        woken, self._woken = self._woken, []
        for waiter in woken:
            self._attempt(waiter)


def _leave(chains: list[Chain]) -> None:
    for chain in chains:
        chain.leave()


def may_wait(cmd: Command, argv: list[bytes]) -> bool:
    """Whether a command flagged blocking may park its client: XREAD and XREADGROUP only with
    BLOCK (a malformed one replies its error at once)."""
    if "block_option" not in cmd.flags:
        return True
    try:
        return block_timeout_ms(argv) is not None
    except CommandError:
        return False


def _written_keys(argv: list[bytes], cmd: Command | None) -> list[bytes] | None:
    """The keys a command may fill or take away (None: keys of any database: a flush ends
    a parked XREADGROUP with Redis's error); ``cmd``: its table entry, if the write path
    found it already."""
    try:
        cmd = cmd or lookup(argv)
    except CommandError:
        return []
    if "blocking" in cmd.flags:  # a pop empties; only a move fills its target
        return [argv[2]] if "fills_second_key" in cmd.flags else []
    if "touches_other_db" in cmd.flags or "touches_dbs" in cmd.flags:
        return None
    return cmd.keys(argv)
