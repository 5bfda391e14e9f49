"""MONITOR: every command a client of this node runs, as one line to each monitoring client.

Redis's format and rules: ``+<seconds.micro> [<db> <addr>] "cmd" "arg"...`` with each
argument escaped as sdscatrepr does; commands refused before running (unknown, wrong arity,
NOAUTH, ACL, -MOVED) and admin commands are not shown; a transaction's commands are shown
when EXEC runs them, before EXEC; the secrets of AUTH, HELLO AUTH and MIGRATE AUTH/AUTH2 read
``(redacted)``. A write shows on the node whose client sent it (the followers that apply it
show nothing). A monitor's lines are held like any reply, under the replica class's output
buffer limit (Redis counts monitors as replicas): a monitor that does not read is cut off.
"""

from __future__ import annotations

import time

from .interfaces import Connection
from .resp import SimpleString

_ESCAPES = {ord("\\"): b"\\\\", ord('"'): b'\\"', ord("\n"): b"\\n", ord("\r"): b"\\r",
            ord("\t"): b"\\t", 7: b"\\a", 8: b"\\b"}
_REPR = [_ESCAPES.get(byte, bytes([byte]) if 32 <= byte <= 126 else b"\\x%02x" % byte)
         for byte in range(256)]
REDACTED = b"(redacted)"


def quoted(arg: bytes) -> bytes:
    """sdscatrepr: the argument in double quotes, escaped."""
    return b'"' + b"".join(_REPR[byte] for byte in arg) + b'"'


class Monitors:
    """The node's monitoring clients (event loop only)."""

    def __init__(self) -> None:
        self.clients: dict[int, Connection] = {}

    def __bool__(self) -> bool:
        return bool(self.clients)

    def add(self, client: Connection) -> None:
        self.clients[client.id] = client

    def drop(self, client: Connection) -> None:
        self.clients.pop(client.id, None)

    def feed(self, client, cmd, argv: list[bytes]) -> None:
        """Show one command ``client`` ran (``cmd``: its table entry)."""
        if "admin" in cmd.flags:
            return
        if cmd.redact is not None:
            hidden = set(cmd.redact(argv))
            argv = [REDACTED if i in hidden else arg for i, arg in enumerate(argv)]
        now = time.time()
        seconds = int(now)
        line = (b"%d.%06d [%d %s] " % (seconds, int((now - seconds) * 1e6), client.db,
                                        client.addr.encode())
                + b" ".join(quoted(arg) for arg in argv))
        message = SimpleString(line.decode("ascii"))
        for monitor in list(self.clients.values()):
            monitor.push(message)
