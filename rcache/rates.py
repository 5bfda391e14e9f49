"""INFO's instantaneous_* figures: Redis's trackInstantaneousMetric, a rate sampled every
100 ms and averaged over the last 16 samples (about 1.6 s)."""

from __future__ import annotations

SAMPLES = 16
SAMPLE_PERIOD_MS = 100


class InstantaneousMetric:
    """A counter's rate per second, from samples taken by the node's periodic task (no cost
    per request: the counter is read, never touched)."""

    __slots__ = ("samples", "index", "last_ms", "last_count")

    def __init__(self, now_ms: int) -> None:
        self.samples = [0] * SAMPLES
        self.index = 0
        self.last_ms = now_ms
        self.last_count = 0

    def track(self, count: int, now_ms: int) -> None:
        elapsed = now_ms - self.last_ms
        self.samples[self.index] = ((count - self.last_count) * 1000 // elapsed
                                    if elapsed > 0 else 0)
        self.index = (self.index + 1) % SAMPLES
        self.last_ms, self.last_count = now_ms, count

    @property
    def per_second(self) -> int:
        """The mean of the samples, rounded down as Redis's integer division does."""
        return sum(self.samples) // SAMPLES
