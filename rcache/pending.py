"""A reply that is not there yet: the loop-side handle of a write, a ReadIndex round, a
forwarded command or a parked blocking pop. Resolved on the event loop, once."""

from __future__ import annotations

from collections.abc import Callable


class Pending:
    """A reply that arrives once the entry carrying its command is applied."""

    __slots__ = ("value", "done", "on_done", "muted")

    def __init__(self, on_done: Callable[[Pending], None] | None) -> None:
        self.value: object = None
        self.done = False
        self.on_done = on_done
        self.muted = False  # CLIENT REPLY OFF/SKIP: its place is kept, its reply not sent

    def resolve(self, value: object) -> None:
        if not self.done:
            self.value = value
            self.done = True
            if self.on_done is not None:
                self.on_done(self)
