"""CLIENT PAUSE: the node holds its clients' commands (every command, or those that may write)
until CLIENT UNPAUSE or the pause's deadline.

A held client's next command stays in its inbox and the client stops reading, so it waits
as Redis's postponed clients do, in order, with its memory bounded like any client's that
is not read. The pause is this node's alone: other members of the cluster go on.
"""

from __future__ import annotations

import asyncio
import time

from .commands.table import lookup
from .errors import CommandError

WRITE, ALL = "write", "all"  # as CLIENT PAUSE spells them, lowercased


class ClientPause:
    def __init__(self) -> None:
        self.mode: str | None = None  # None: not paused
        self._deadline = 0.0  # time.monotonic()
        self._timer: asyncio.TimerHandle | None = None
        self._held: dict[int, object] = {}  # client id -> client, to run again at the end

    def pause(self, timeout_ms: int, mode: str) -> None:
        """As Redis's pauseClients: a pause only widens (ALL over WRITE, the later end)."""
        if self.mode != ALL:
            self.mode = mode
        deadline = time.monotonic() + timeout_ms / 1000
        if deadline > self._deadline or self._timer is None:
            self._deadline = deadline
            if self._timer is not None:
                self._timer.cancel()
            self._timer = asyncio.get_running_loop().call_later(timeout_ms / 1000, self.unpause)

    def unpause(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.mode, self._timer, self._deadline = None, None, 0.0
        held, self._held = self._held, {}
        for client in held.values():
            client.run_inbox()

    def drop(self, client) -> None:
        """A closed client: nothing to run again for it."""
        self._held.pop(client.id, None)

    @property
    def held(self) -> int:
        """Clients whose next command waits (Redis counts them in INFO's blocked_clients)."""
        return len(self._held)

    @property
    def writes_paused(self) -> bool:
        """The node must propose no writes of its own (expiry), as Redis pauses them."""
        return self.mode is not None

    def holds(self, client, argv: list[bytes], queued: list | None) -> bool:
        """Must this command of ``client`` wait? If so the client is run again at the end.
        ``queued``: the client's MULTI queue (EXEC waits if it holds a write)."""
        if self.mode == WRITE and not _may_write(client.server.store, argv, queued):
            return False
        self._held[client.id] = client
        return True


def _may_write(store, argv: list[bytes], queued: list | None) -> bool:
    """Redis 7.0's test for a WRITE pause: a write or a command that may replicate (PUBLISH,
    EVAL, PFCOUNT...: here, anything that goes through the log, but for a no-writes script),
    or an EXEC of such. A command that does not exist or has the wrong arity runs, to give
    its error."""
    try:
        cmd = lookup(argv)
    except CommandError:
        return False
    if cmd.name == "exec" and queued:
        return any(_writes(store, queued_cmd, queued_argv) for queued_cmd, queued_argv in queued)
    return _writes(store, cmd, argv)


# Through the log here, but neither write nor may-replicate in Redis: a WRITE pause lets
# them run (they change the script cache, not the keyspace).
_SCRIPT_CACHE = frozenset({"script|load", "script|flush"})


def _writes(store, cmd, argv: list[bytes]) -> bool:
    return (cmd.is_write and cmd.full_name not in _SCRIPT_CACHE
            and not cmd.served_as_read(store, argv))
