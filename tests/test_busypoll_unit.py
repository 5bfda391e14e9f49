"""The event loop's busy-poll window (rcache.busypoll): it grows while requests follow
replies within the limit and shrinks to nothing while they do not."""

from __future__ import annotations

from rcache.busypoll import START_NS, PollWindow


class Clock:
    def __init__(self) -> None:
        self.ns = 1_000_000

    def __call__(self) -> int:
        return self.ns


def exchange(window: PollWindow, clock: Clock, gap_us: int) -> int:
    """A reply goes out, the next request comes gap_us later: -> the deadline polled to."""
    until = window.begin()
    clock.ns += gap_us * 1000
    if window.awaiting:
        window.woke()
    return until


def test_long_pauses_shrink_the_window_to_nothing_and_short_ones_grow_it_back():
    clock = Clock()
    window = PollWindow(100, clock)
    assert window.window_ns == 100_000
    for _ in range(10):  # a sparse client: requests far apart
        exchange(window, clock, 5_000)
    assert window.window_ns == 0
    assert exchange(window, clock, 30) == 0  # no polling now, but the short gap is seen
    assert window.window_ns == START_NS
    sizes = []
    for _ in range(4):  # a lone client's back-to-back requests
        exchange(window, clock, 30)
        sizes.append(window.window_ns)
    assert sizes == [2 * START_NS, 4 * START_NS, 8 * START_NS, 100_000]
    start = clock.ns
    assert exchange(window, clock, 30) == start + 100_000


def test_a_request_within_the_limit_but_after_the_window_still_grows_it():
    clock = Clock()
    window = PollWindow(100, clock)
    exchange(window, clock, 500)
    exchange(window, clock, 500)
    assert window.window_ns == 25_000
    exchange(window, clock, 80)  # missed by a 25 us poll, caught by a 50 us one
    assert window.window_ns == 50_000


def test_a_zero_limit_never_polls_and_a_lowered_limit_caps_the_window():
    clock = Clock()
    window = PollWindow(0, clock)
    assert exchange(window, clock, 10) == 0
    assert not window.awaiting
    window = PollWindow(100, clock)
    window.set_limit(20)
    assert window.window_ns == 20_000
    exchange(window, clock, 10)
    assert window.window_ns == 20_000
    window.set_limit(0)
    assert window.begin() == 0
