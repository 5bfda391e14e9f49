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
"""

from __future__ import annotations

from .config import OutputLimit

FLOW_HIGH = 1 << 20
FLOW_LOW = 1 << 18
FLUSH_AT = 64 * 1024  # replies handed to the transport once this many bytes are queued


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
