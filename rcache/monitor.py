"""MONITOR: every command a client of this node runs, as one line to each monitoring client.

Redis's format and rules: ``+<seconds.micro> [<db> <addr>] "cmd" "arg"...`` with each
argument escaped as sdscatrepr does; commands refused before running (unknown, wrong arity,
NOAUTH, ACL, -MOVED) and admin commands are not shown; a transaction's commands are shown
when EXEC runs them, before EXEC; the secrets of AUTH, HELLO AUTH and MIGRATE AUTH/AUTH2 read
``(redacted)``. A write shows on the node whose client sent it (the followers that apply it
show nothing). A monitor's lines are held like any reply, under the replica class's output
buffer limit (Redis counts monitors as replicas): a monitor that does not read is cut off.

The commands a script runs (``redis.call``/``redis.pcall`` in EVAL, EVALSHA, FCALL and their
_RO forms) follow the script's own line as ``[<db> lua]`` lines, as in Redis 7.0: those the
script may not run (unknown, wrong arity, not allowed from scripts, a write in a read-only
script) are not shown, those that fail on their data are; the db is the script's after a
SELECT. A script runs when its Raft entry is applied, so the lines of the writes a client of
this node sends through the log are shown then too, in the entry's order: when a client of
this node sent a write while it had a monitor, the write's line (its time and address taken
then: ``Submitted``) travels beside the entry, as its parsed arguments do, and apply notes it,
then the commands of its script, in ``EntryLines`` (on the Raft thread, only on the node that
awaits the entry's replies; they reach the loop once the entry is committed, before its
replies). A command pipelined behind the script, another client's write in the same entry,
and a transaction's next commands so come after the script's lines, as in Redis; a
transaction's connection commands (PING, SELECT...) are shown with its data commands, in the
order queued, and its EXEC after them. Noting lines changes nothing applied. A script run
here as a read shows its lines right after its own line. A write that a follower proxies to
the leader shows on the follower when forwarded, its script's lines on the leader (the proxy
is that node's client); a blocking command's line is shown when it is sent.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from .interfaces import Connection
from .resp import SimpleString

_ESCAPES = {ord("\\"): b"\\\\", ord('"'): b'\\"', ord("\n"): b"\\n", ord("\r"): b"\\r",
            ord("\t"): b"\\t", 7: b"\\a", 8: b"\\b"}
_REPR = [_ESCAPES.get(byte, bytes([byte]) if 32 <= byte <= 126 else b"\\x%02x" % byte)
         for byte in range(256)]
REDACTED = b"(redacted)"
SCRIPT_ADDR = "lua"  # what Redis's lines show for the commands a script runs

# A line to show, as noted: (time.time(), db, address, table entry, argv).
Line = tuple[float, int, str, object, list[bytes]]
# A command noted for a transaction's lines: (db, table entry, argv).
Queued = tuple[int, object, list[bytes]]


@dataclass(frozen=True)
class Submitted:
    """A write a client of this node sent through the log while monitored: when and from
    where, for its line when the entry is applied. For a transaction, ``around[i]`` holds
    the connection commands queued before its i-th data command (the last: after them all),
    shown in their place."""
    when: float
    addr: str
    around: list[list[Queued]] | None = None


_ESCAPED = re.compile(rb'[^\x20-\x7e]|["\\]')  # the bytes _REPR does not keep as they are


def quoted(arg: bytes) -> bytes:
    """sdscatrepr: the argument in double quotes, escaped (the scan runs in C: a large value
    costs the event loop little more than its copy)."""
    return b'"' + _ESCAPED.sub(lambda found: _REPR[found.group()[0]], arg) + b'"'


class EntryLines(list[Line]):
    """The lines of an entry's writes and of the commands their scripts ran, noted for the
    monitors up to ``budget`` bytes of arguments (None: no bound). Past it every monitor would
    be over the replica class's hard output limit, which makes Redis close it: noting stops
    (memory stays bounded whatever a script sends) and ``overflowed`` has ``show_lines``
    close them."""

    def __init__(self, budget: int | None) -> None:
        super().__init__()
        self.left = budget
        self.overflowed = False

    def __bool__(self) -> bool:
        """Anything for ``show_lines`` to do."""
        return self.overflowed or len(self) > 0

    def note(self, when: float, db: int, cmd, argv: list[bytes], addr: str = SCRIPT_ADDR) -> None:
        if self.overflowed:
            return
        if self.left is not None:
            self.left -= sum(map(len, argv))
            if self.left < 0:
                self.overflowed = True
                self.clear()
                return
        self.append((when, db, addr, cmd, argv))

    def note_queued(self, submitted: Submitted, queued: list[Queued]) -> None:
        """A transaction's connection commands, at their place among its data commands."""
        for db, cmd, argv in queued:
            self.note(submitted.when, db, cmd, argv, submitted.addr)


class Monitors:
    """The node's monitoring clients (event loop only, but for ``__bool__`` and
    ``show_committed``, which the Raft thread calls)."""

    def __init__(self, hard_limit: Callable[[], int] = lambda: 0) -> None:
        self.clients: dict[int, Connection] = {}
        self.loop: asyncio.AbstractEventLoop | None = None  # set when the server starts
        self._hard_limit = hard_limit  # the replica class's hard output limit (0: none)
        self._ran_here = self.new_lines()  # a script run on the loop: after its line
        self._script_started: float | None = None  # and when it started: its line's time

    def __bool__(self) -> bool:
        return bool(self.clients)

    def add(self, client: Connection) -> None:
        self.clients[client.id] = client

    def drop(self, client: Connection) -> None:
        self.clients.pop(client.id, None)

    def new_lines(self) -> EntryLines:
        """Where lines are noted, bounded by the monitors' output limit."""
        return EntryLines(self._hard_limit() or None)

    def submitted(self, client, around: list[list[Queued]] | None = None) -> Submitted | None:
        """A write ``client`` sends through the log, to show once applied; None while
        nobody monitors."""
        return Submitted(time.time(), client.addr, around) if self.clients else None

    def script_lines_here(self) -> EntryLines | None:
        """Where a script starting on the loop notes its commands: None while nobody
        monitors. ``feed`` shows them after the line of the command that ran the script,
        which it stamps with the script's start, as Redis shows a script before it runs."""
        if not self.clients:
            return None
        self._script_started = time.time()
        return self._ran_here

    def feed(self, client, cmd, argv: list[bytes]) -> None:
        """Show one command ``client`` ran (``cmd``: its table entry), then the commands
        of the script it ran here, if any."""
        now, self._script_started = self._script_started or time.time(), None
        self._show(now, client.db, client.addr, cmd, argv)
        if self._ran_here:
            ran, self._ran_here = self._ran_here, self.new_lines()
            self.show_lines(ran)

    def show(self, db: int, addr: str, cmd, argv: list[bytes]) -> None:
        """One line, now (a transaction's command that did not go through the log)."""
        self._show(time.time(), db, addr, cmd, argv)

    def show_committed(self, lines: EntryLines) -> None:
        """Raft thread, once the entry is committed: its lines, to the loop."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.show_lines, lines)

    def show_lines(self, lines: EntryLines) -> None:
        if lines.overflowed:
            for monitor in list(self.clients.values()):
                monitor.close_over_output_limit("the commands a script ran")
            return
        for when, db, addr, cmd, argv in lines:
            self._show(when, db, addr, cmd, argv)

    def _show(self, now: float, db: int, addr: str, cmd, argv: list[bytes]) -> None:
        if "admin" in cmd.flags:
            return
        if cmd.redact is not None:
            hidden = set(cmd.redact(argv))
            argv = [REDACTED if i in hidden else arg for i, arg in enumerate(argv)]
        seconds = int(now)
        line = (b"%d.%06d [%d %s] " % (seconds, int((now - seconds) * 1e6), db, addr.encode())
                + b" ".join(quoted(arg) for arg in argv))
        message = SimpleString(line.decode("ascii"))
        for monitor in list(self.clients.values()):
            monitor.push(message)
