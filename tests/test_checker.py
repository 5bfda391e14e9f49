"""The linearizability checker on hand-made histories: the good ones pass, each kind of anomaly
is caught, and unknown outcomes are allowed both ways (took effect, or never did)."""

from __future__ import annotations

import random
import time
from pathlib import Path

from rcache.verify.checker import check_history
from rcache.verify.history import FAIL, GET, INCR, INFO, OK, SET, Op, load_history, save_history


def op(process: int, kind: str, key: str, value: str | None, start: int, end: int | None,
       outcome: str = OK) -> Op:
    """Times in arbitrary units; end=None for an unknown outcome."""
    return Op(process, kind, key, value, outcome, start, end if outcome != INFO else None)


def linearizable(ops: list[Op], final: dict | None = None) -> bool:
    return check_history(ops, final).valid


# -- registers ----------------------------------------------------------------------------------
def test_sequential_writes_and_reads_pass() -> None:
    assert linearizable([op(1, GET, "r", None, 0, 1), op(1, SET, "r", "a", 2, 3),
                         op(2, GET, "r", "a", 4, 5), op(2, SET, "r", "b", 6, 7),
                         op(1, GET, "r", "b", 8, 9)])


def test_read_concurrent_with_a_write_may_see_either_value() -> None:
    base = [op(1, SET, "r", "a", 0, 1), op(2, SET, "r", "b", 2, 10)]
    assert linearizable(base + [op(3, GET, "r", "a", 3, 4), op(4, GET, "r", "b", 5, 6)])
    # ...but once one reader saw the new value, a later reader may not see the old one.
    assert not linearizable(base + [op(3, GET, "r", "b", 3, 4), op(4, GET, "r", "a", 5, 6)])


def test_stale_read_is_flagged() -> None:
    report = check_history([op(1, SET, "r", "a", 0, 1), op(1, SET, "r", "b", 2, 3),
                            op(2, GET, "r", "a", 4, 5)])
    assert not report.valid
    (explanation,) = report.anomalies
    assert "key r: not linearizable" in explanation
    assert "GET r -> 'a'" in explanation and "one of: 'b'" in explanation


def test_lost_write_is_flagged() -> None:
    assert not linearizable([op(1, SET, "r", "a", 0, 1), op(2, GET, "r", None, 2, 3)])


def test_read_of_a_never_written_value_is_flagged() -> None:
    assert not linearizable([op(1, SET, "r", "a", 0, 1), op(2, GET, "r", "zzz", 2, 3)])


def test_failed_write_must_not_be_seen() -> None:
    assert not linearizable([op(1, SET, "r", "a", 0, 1, FAIL), op(2, GET, "r", "a", 2, 3)])


def test_keys_are_checked_independently() -> None:
    report = check_history([op(1, SET, "x", "a", 0, 1), op(2, GET, "y", "a", 2, 3)])
    assert [(r.key, r.linearizable) for r in report.keys] == [("x", True), ("y", False)]


# -- unknown outcomes -----------------------------------------------------------------------------
def test_unknown_write_may_take_effect_late_or_never() -> None:
    unknown = op(1, SET, "r", "a", 0, None, INFO)
    assert linearizable([unknown, op(2, GET, "r", None, 5, 6)])  # never
    assert linearizable([unknown, op(2, GET, "r", None, 5, 6),
                         op(2, GET, "r", "a", 100, 101)])  # long after its invocation
    assert linearizable([unknown], {"n1": {"r": "a"}})
    assert linearizable([unknown], {"n1": {"r": None}})


def test_unknown_write_cannot_take_effect_before_it_was_invoked() -> None:
    assert not linearizable([op(2, GET, "r", "a", 0, 1), op(1, SET, "r", "a", 2, None, INFO)])


def test_unknown_write_cannot_be_undone() -> None:
    assert not linearizable([op(1, SET, "r", "a", 0, 1), op(1, SET, "r", "b", 2, None, INFO),
                             op(2, GET, "r", "b", 3, 4), op(2, GET, "r", "a", 5, 6)])


# -- counters ---------------------------------------------------------------------------------
def test_counter_increments_pass() -> None:
    assert linearizable([op(1, INCR, "c", "1", 0, 3), op(2, INCR, "c", "2", 1, 2),
                         op(3, GET, "c", "2", 4, 5)])


def test_double_applied_incr_is_flagged() -> None:
    assert not linearizable([op(1, INCR, "c", "1", 0, 1), op(1, INCR, "c", "2", 2, 3),
                             op(2, GET, "c", "3", 4, 5)])
    assert not linearizable([op(1, INCR, "c", "1", 0, 1), op(2, INCR, "c", "1", 2, 3)])


def test_unknown_incr_may_count_once_or_not_at_all() -> None:
    history = [op(1, INCR, "c", "1", 0, 1), op(2, INCR, "c", None, 2, None, INFO),
               op(1, INCR, "c", None, 3, None, INFO)]
    for value, ok in (("1", True), ("2", True), ("3", True), ("4", False), ("0", False)):
        assert linearizable(history, {"n1": {"c": value}}) is ok, value
    # The unknown one may explain a jump, but only one step of it.
    assert linearizable(history[:2] + [op(1, INCR, "c", "3", 5, 6)])
    assert not linearizable(history[:2] + [op(1, INCR, "c", "4", 5, 6)])


# -- final state -------------------------------------------------------------------------------
def test_final_values_must_hold_every_acknowledged_write() -> None:
    history = [op(1, SET, "r", "a", 0, 1), op(1, SET, "r", "b", 2, 3),
               op(2, INCR, "c", "1", 0, 1), op(2, INCR, "c", "2", 2, 3)]
    assert linearizable(history, {"n1": {"r": "b", "c": "2"}, "n2": {"r": "b", "c": "2"}})
    report = check_history(history, {"n1": {"r": "b", "c": "2"}, "n2": {"r": "a", "c": "1"}})
    assert not report.valid
    assert any("nodes disagree" in a for a in report.final_anomalies)
    assert any("node n2 holds '1' after 2 acknowledged" in a for a in report.final_anomalies)
    assert {r.key for r in report.keys if r.linearizable is False} == {"r", "c"}


def test_final_value_never_written_is_flagged() -> None:
    report = check_history([op(1, SET, "r", "a", 0, 1, FAIL)], {"n1": {"r": "a"}})
    assert any("never written successfully" in a for a in report.final_anomalies)


# -- scale and persistence ------------------------------------------------------------------
def _simulated_history(n_ops: int, seed: int) -> list[Op]:
    """A linearizable history by construction: each op takes effect at a random point inside
    its interval; some writes have unknown outcomes (half of them did take effect)."""
    rng = random.Random(seed)
    events: list[tuple[float, Op]] = []
    for i in range(n_ops):
        start = rng.uniform(0, n_ops)
        end = start + rng.uniform(0.1, 8)
        kind = rng.choice([GET, SET, INCR])
        key = "c" if kind == INCR else rng.choice(["r", "c"]) if kind == GET else "r"
        unknown = kind != GET and rng.random() < 0.05
        events.append((rng.uniform(start, end), Op(i, kind, key, f"v{i}" if kind == SET else None,
                                                   INFO if unknown else OK, int(start * 1e3),
                                                   None if unknown else int(end * 1e3))))
    values: dict[str, str | None] = {"r": None, "c": None}
    for _, o in sorted(events, key=lambda e: e[0]):
        if o.outcome == INFO and o.process % 2:
            continue  # never took effect
        if o.kind == SET:
            values["r"] = o.value
        elif o.kind == INCR:
            values["c"] = str(int(values["c"] or 0) + 1)
            o.value = o.value if o.outcome == INFO else values["c"]
        else:
            o.value = values[o.key]
    return [o for _, o in events]


def test_large_linearizable_history_checks_quickly() -> None:
    history = _simulated_history(3000, seed=7)
    started = time.monotonic()
    report = check_history(history)
    assert report.valid and not report.undecided, report.anomalies
    assert time.monotonic() - started < 20


def test_history_round_trips_through_a_file(tmp_path: Path) -> None:
    history = _simulated_history(50, seed=1)
    final = {"127.0.0.1:7001": {"r": "v3", "c": None}}
    save_history(history, tmp_path / "h.jsonl", final)
    assert load_history(tmp_path / "h.jsonl") == (history, final)
