"""How much a client's connection may hold of replies it has not read.

Two mechanisms, as in Redis plus one of ours:

* Flow control: once a connection holds more than ``FLOW_HIGH`` bytes of unsent replies,
  the node stops reading it AND stops running the commands it already parsed, until the
  transport drains below ``FLOW_LOW``. A pipeline of huge GETs that is never read so costs
  about one reply of memory, not the sum of all replies.
* ``client-output-buffer-limit``: a client that holds more than its class's hard limit, or
  more than the soft limit for longer than the soft seconds, is disconnected (Redis's
  checkClientOutputBufferLimits). Pub/sub messages cannot be paused at the publisher, so
  the pubsub class's limit is what bounds a slow subscriber.

And one for the other clients' sake, as Redis reads at most 16 KiB of a client per event
loop turn: a connection runs at most ``TURN_ARGS`` arguments' worth of commands per turn
(the rest run at the next), reads nothing more in the turn after a read of ``TURN_READ``
bytes (libuv reads a busy socket up to 32 times per turn), and awaits at most
``MAX_IN_FLIGHT`` replies (writes not yet applied) before it runs another command. A client
pipelining 200,000 SETs so holds neither the loop nor the log for seconds.
"""

from __future__ import annotations

from .config import OutputLimit

FLOW_HIGH = 1 << 20
FLOW_LOW = 1 << 18
FLUSH_AT = 64 * 1024  # replies handed to the transport once this many bytes are queued
TURN_ARGS = 2048
TURN_READ = 64 * 1024
MAX_IN_FLIGHT = 4096


class LimitWatch:
    """One client's soft-limit clock."""

    __slots__ = ("soft_since",)

    def __init__(self) -> None:
        self.soft_since: float | None = None

    def exceeded(self, size: int, limit: OutputLimit, now: float) -> bool:
        """Whether ``size`` unsent bytes break ``limit`` now (``now`` in seconds)."""
        if limit.hard and size >= limit.hard:
            return True
        if not (limit.soft and size >= limit.soft):
            self.soft_since = None
            return False
        if self.soft_since is None:
            self.soft_since = now
            return False
        return now - self.soft_since > limit.seconds
