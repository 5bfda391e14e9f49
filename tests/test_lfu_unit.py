"""The LFU counter OBJECT FREQ reads (rcache.eviction.AccessClock) against Redis 7.0's
formulas in evict.c: LFUDecrAndReturn over LFUTimeElapsed's 16-bit clock of whole minutes,
new keys at LFU_INIT_VAL, keys stored before the node started decayed from its start."""

from __future__ import annotations

import time

import pytest

from rcache.eviction import LFU_INIT_VAL, AccessClock, _decayed

MINUTE = 60_000


def redis_decayed(counter: int, ldt_minutes: int, now_ms: int, decay_time: int) -> int:
    """LFUDecrAndReturn, transcribed: ldt is LFUGetTimeInMinutes() at the last access."""
    now = (now_ms // 1000 // 60) & 65535
    elapsed = now - ldt_minutes if now >= ldt_minutes else 65535 - ldt_minutes + now
    periods = elapsed // decay_time if decay_time else 0
    return (0 if periods > counter else counter - periods) if periods else counter


@pytest.mark.parametrize(("last_ms", "now_ms", "decay_time"), [
    (0, 59_999, 1),  # within one minute of the clock
    (59_999, 60_000, 1),  # one millisecond, but the minute turned: one period
    (10 * MINUTE + 30_000, 13 * MINUTE + 1, 1),
    (10 * MINUTE, 17 * MINUTE, 2),  # 7 minutes, decay 2: 3 periods
    (10 * MINUTE, 10_000 * MINUTE, 1),  # decayed to 0, not below
    (10 * MINUTE, 10_000 * MINUTE, 0),  # lfu-decay-time 0: no decay
    (65_530 * MINUTE, 65_540 * MINUTE, 1),  # the 16-bit minute clock wrapped
    (1_764_500_000_000, 1_764_500_000_000 + 5 * MINUTE, 1),  # a real date
])
@pytest.mark.parametrize("counter", [0, 5, 6, 100, 255])
def test_decay_as_redis(counter: int, last_ms: int, now_ms: int, decay_time: int) -> None:
    entry = [last_ms, counter, last_ms]
    assert _decayed(entry, now_ms, decay_time) == redis_decayed(
        counter, (last_ms // MINUTE) & 65535, now_ms, decay_time)


def test_a_key_never_used_here_decays_from_the_node_start() -> None:
    clock = AccessClock()
    now = int(time.time() * 1000)
    clock.started_ms = now - 3 * MINUTE - 1
    assert clock.frequency(0, b"old", now, 1) == redis_decayed(
        LFU_INIT_VAL, (clock.started_ms // MINUTE) & 65535, now, 1)
    assert clock.frequency(0, b"old", now, 1) <= LFU_INIT_VAL - 3
    assert clock.frequency(0, b"old", now, 0) == LFU_INIT_VAL


def test_a_new_key_starts_at_init_and_an_old_one_is_decayed_then_counted() -> None:
    clock = AccessClock()
    clock.started_ms = int(time.time() * 1000) - 30 * MINUTE
    clock.touch(0, [b"new"], 10, 1, existed=lambda key: False)
    clock.touch(0, [b"old"], 10, 1, existed=lambda key: True)
    now = int(time.time() * 1000)
    assert clock.frequency(0, b"new", now, 1) == LFU_INIT_VAL
    # 30 minutes idle took 5 down to 0; LFULogIncr from 0 always counts one
    assert clock.frequency(0, b"old", now, 1) == 1
    clock.touch(0, [b"new"], 10, 1, existed=lambda key: True)
    assert clock.frequency(0, b"new", now, 1) == LFU_INIT_VAL + 1  # LFULogIncr at 5: always
