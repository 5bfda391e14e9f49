"""A connection's replies, in request order, without I/O.

A reply is ready (encoded bytes) or not yet: a write awaiting its commit, a linearizable
read awaiting its barrier (a ``Pending``), a command deferred until the replies before it
are out (a read behind a write), or the close after QUIT. Ready replies behind one that is
not wait with it, counted in ``held`` (the flow bound: the connection runs no more commands
while too much waits). The connection writes what ``take`` returns to its socket; the
queue itself never touches one, so its ordering is tested with plain values.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Protocol

from .outbuf import FLUSH_AT
from .pending import Pending
from .resp import OK

_OK = b"+OK\r\n"  # the reply of most writes, encoded once


class Deferred:
    """A command that runs when every reply before it is out."""

    __slots__ = ("argv", "cmd")

    def __init__(self, argv: list[bytes], cmd: object) -> None:
        self.argv = argv
        self.cmd = cmd  # its table entry, None if unknown (its error is given when it runs)


class RunWhenDue:
    """A reply computed when its turn to be written comes (a linearizable read whose
    leadership confirmation has come: run then, it is still linearizable)."""

    __slots__ = ("run",)

    def __init__(self, run: Callable[[], object]) -> None:
        self.run = run


class _Close:
    __slots__ = ()


CLOSE = _Close()


class Owner(Protocol):
    """What draining needs from the connection."""

    write_paused: bool  # the client is not reading: run nothing more until it does
    quitting: bool  # QUIT ran: nothing after it runs or is written

    def encode(self, value: object) -> bytes: ...

    def run_deferred(self, argv: list[bytes], cmd: object) -> object: ...

    def flush(self) -> None: ...


class ReplyQueue:
    __slots__ = ("slots", "out", "out_size", "held", "deferred")

    def __init__(self) -> None:
        self.slots: deque = deque()  # behind the first reply not ready: bytes | Pending | ...
        self.out: list[bytes] = []  # ready, in order, not yet taken
        self.out_size = 0
        self.held = 0  # bytes of the encoded replies in slots
        self.deferred = 0  # Deferred commands in slots

    def add(self, encoded: bytes) -> None:
        """A reply ready now: out at once, unless an earlier one is not ready."""
        if self.slots:
            self.held += len(encoded)
            self.slots.append(encoded)
        else:
            self.out.append(encoded)
            self.out_size += len(encoded)

    def add_out_of_band(self, encoded: bytes) -> None:
        """Out at once, ahead of any reply not ready yet (a pub/sub message)."""
        self._ready(encoded)

    def wait_for(self, pending: Pending) -> None:
        self.slots.append(pending)

    def defer(self, argv: list[bytes], cmd: object = None) -> None:
        self.slots.append(Deferred(argv, cmd))
        self.deferred += 1

    def close_after(self) -> bool:
        """Close once every reply so far is out: True if that is now."""
        if not self.slots:
            return True
        self.slots.append(CLOSE)
        return False

    def resolved(self, pending: Pending, owner: Owner) -> bool:
        """``pending`` has just resolved. If it is the first reply awaited, out with it now
        (a write's reply, the common case: no draining). -> True when nothing behind it is
        ready either (else ``drain`` moves the rest)."""
        slots = self.slots
        if not slots or slots[0] is not pending:
            return False
        value = pending.value
        if pending.muted or type(value) is RunWhenDue:
            return False
        slots.popleft()
        encoded = _OK if value is OK else owner.encode(value)
        self.out.append(encoded)  # (_ready, inlined: once per write)
        self.out_size += len(encoded)
        if not slots:
            return True
        head = slots[0]
        return type(head) is Pending and not head.done

    def take(self) -> bytes:
        """The ready replies, joined (b"" if none), for one socket write."""
        out = self.out
        if not out:
            return b""
        self.out = []
        self.out_size = 0
        return b"".join(out) if len(out) > 1 else out[0]

    def drain(self, owner: Owner) -> bool:
        """Move what is ready, in order, to ``out``, running deferred commands and due
        reads as their turn comes. -> True when the close after QUIT is reached (the
        slots are then empty): the owner writes what is out and closes."""
        slots = self.slots
        while slots:
            head = slots[0]
            kind = type(head)
            if kind is Pending:
                if not head.done:
                    return False
                value = head.value
                if head.muted:  # CLIENT REPLY OFF/SKIP: its place was kept, nothing is sent
                    slots.popleft()
                    continue
                if type(value) is RunWhenDue:
                    if not self._may_run(owner):
                        return False
                    value = value.run()
                slots.popleft()
                self._ready(owner.encode(value))
            elif kind is Deferred:
                if not self._may_run(owner):
                    return False
                self.deferred -= 1
                result = owner.run_deferred(head.argv, head.cmd)
                if type(result) is Pending:
                    slots[0] = result
                else:
                    slots.popleft()
                    self._ready(owner.encode(result))
                if owner.quitting:
                    self._drop_waiting()
                    slots.append(CLOSE)
            elif kind is _Close:
                self._drop_waiting()
                return True
            else:
                slots.popleft()
                self.held -= len(head)
                self._ready(head)
        return False

    def _ready(self, encoded: bytes) -> None:
        self.out.append(encoded)
        self.out_size += len(encoded)

    def _may_run(self, owner: Owner) -> bool:
        """Before running a command while draining: hand a large output to the socket, and
        run nothing while the client does not read (its resume drains the rest)."""
        if self.out_size > FLUSH_AT:
            owner.flush()
        return not owner.write_paused

    def _drop_waiting(self) -> None:
        self.slots.clear()
        self.held = 0
        self.deferred = 0
