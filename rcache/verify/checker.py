"""Is a history linearizable? Wing & Gong's search with Lowe's memoization ("Testing for
linearizability", 2017), as Porcupine and Knossos implement it.

* P-compositionality: linearizability is checked per key, each key on its own.
* The model is a Redis string: GET reads it, SET replaces it, INCR adds one (from 0 when the
  key is missing) and returns the new value. Registers and counters are the same model.
* An operation whose outcome is unknown (``info``) may take effect at any time after its
  invocation, or never: it completes at +infinity, and linearizing it may leave the state as
  it was. To keep that choice a plain deterministic search, the search state is the *set* of
  values the key may hold (Porcupine's treatment of nondeterministic models).
* The final values read from every node after the run are reads that start after every
  operation: so every acknowledged write must be there, and nothing that never was written.

When a key is not linearizable the report shows where the search got furthest: the state it
could have reached, and the operations still concurrent there, none of which could come next.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from dataclasses import dataclass, field

from .history import FAIL, GET, INCR, INFO, OK, SET, Op

State = frozenset  # of str | None: every value the key may hold
FINAL_PROCESS = -1  # process id of the final reads, in reports


def _apply(value: str | None, op: Op) -> list[str | None]:
    """The values the key may hold after op, from one value; [] if op cannot come next."""
    if op.kind == GET:
        return [value] if op.value == value else []
    if op.kind == SET:
        after: list[str | None] = [op.value]
    else:
        current = 0 if value is None else _as_int(value)
        if current is None:
            after = []  # INCR of a non-integer fails and changes nothing: it cannot be ok
        elif op.outcome == OK and op.value != str(current + 1):
            after = []
        else:
            after = [str(current + 1)]
    if op.outcome == INFO:
        after.append(value)  # it may never have taken effect
    return after


def _as_int(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


def step(state: State, op: Op) -> State:
    """Linearize op next: the set of values possible afterwards (empty: op cannot be next)."""
    return frozenset(after for value in state for after in _apply(value, op))


class _Entry:
    """A call or return event in Lowe's doubly linked list."""

    __slots__ = ("op_id", "match", "prev", "next")

    def __init__(self, op_id: int) -> None:
        self.op_id = op_id
        self.match: _Entry | None = None  # set on call entries: their return entry
        self.prev: _Entry | None = None
        self.next: _Entry | None = None

    def lift(self) -> None:
        """Remove a call entry and its return entry from the list."""
        self.prev.next = self.next
        self.next.prev = self.prev
        match = self.match
        match.prev.next = match.next
        if match.next is not None:
            match.next.prev = match.prev

    def unlift(self) -> None:
        match = self.match
        match.prev.next = match
        if match.next is not None:
            match.next.prev = match
        self.prev.next = self
        self.next.prev = self


@dataclass
class KeyResult:
    """``linearizable`` is None when the search gave up (budget spent): not an anomaly, not
    a proof either."""

    key: str
    ops: int
    linearizable: bool | None
    explanation: str = ""


@dataclass
class CheckReport:
    keys: list[KeyResult] = field(default_factory=list)
    final_anomalies: list[str] = field(default_factory=list)

    @property
    def anomalies(self) -> list[str]:
        found = [r.explanation for r in self.keys if r.linearizable is False]
        return found + self.final_anomalies

    @property
    def undecided(self) -> list[str]:
        return [r.key for r in self.keys if r.linearizable is None]

    @property
    def valid(self) -> bool:
        return not self.anomalies


def _build_list(ops: list[Op], horizon: int) -> _Entry:
    """Calls and returns sorted by time; at equal times calls first (that makes the operations
    concurrent, the permissive reading). Unknown outcomes return at the horizon."""
    events = []
    for op_id, op in enumerate(ops):
        events.append((op.invoke_ns, 0, op_id))
        events.append((horizon if op.complete_ns is None else op.complete_ns, 1, op_id))
    events.sort()
    head = _Entry(-1)
    calls: dict[int, _Entry] = {}
    tail = head
    for _, is_return, op_id in events:
        entry = _Entry(op_id)
        if is_return:
            calls[op_id].match = entry
        else:
            calls[op_id] = entry
        entry.prev, tail.next = tail, entry
        tail = entry
    return head


def check_key(key: str, ops: list[Op], horizon: int, max_steps: int = 2_000_000,
              origin_ns: int = 0) -> KeyResult:
    """Lowe's algorithm on one key's ok and info operations (failed ones must be removed)."""
    head = _build_list(ops, horizon)
    cache: set[tuple[int, State]] = set()
    stack: list[tuple[_Entry, State]] = []
    linearized = 0
    state: State = frozenset([None])
    entry = head.next
    best_depth, best_stuck = -1, None
    for _ in range(max_steps):
        if head.next is None:
            return KeyResult(key, len(ops), True)
        if entry.match is not None:  # a call: try to linearize it here
            after = step(state, ops[entry.op_id])
            candidate = linearized | (1 << entry.op_id)
            if after and (candidate, after) not in cache:
                cache.add((candidate, after))
                stack.append((entry, state))
                state, linearized = after, candidate
                entry.lift()
                entry = head.next
            else:
                entry = entry.next
            continue
        # A return whose call is not linearized: nothing before it can go next. Backtrack.
        if len(stack) > best_depth:
            best_depth = len(stack)
            best_stuck = (entry.op_id, state, _pending_calls(head, entry),
                          [e.op_id for e, _ in stack[-3:]], linearized)
        if not stack:
            break
        entry, state = stack.pop()
        linearized &= ~(1 << entry.op_id)
        entry.unlift()
        entry = entry.next
    else:
        return KeyResult(key, len(ops), None, f"key {key}: search budget of {max_steps} steps "
                                              f"spent on {len(ops)} operations")
    return KeyResult(key, len(ops), False, _explain(key, ops, best_depth, best_stuck, origin_ns))


def _pending_calls(head: _Entry, stop: _Entry) -> list[int]:
    """Operations invoked but not linearized before the return entry `stop`."""
    pending, entry = [], head.next
    while entry is not stop:
        if entry.match is not None:
            pending.append(entry.op_id)
        entry = entry.next
    return pending


def _explain(key: str, ops: list[Op], depth: int, stuck: tuple, origin_ns: int) -> str:
    """The failing window: the state after the longest linearizable prefix, and every
    operation concurrent with the one that could not be linearized in time."""
    blocked, state, pending, recent, linearized = stuck
    start, end = ops[blocked].invoke_ns, ops[blocked].complete_ns
    window = sorted(set(pending) | {i for i, op in enumerate(ops) if op.invoke_ns <= end and (
        op.complete_ns is None or op.complete_ns >= start)}, key=lambda i: ops[i].invoke_ns)
    values = ", ".join(sorted(repr(v) for v in state))
    lines = [f"key {key}: not linearizable. The longest linearizable prefix ({depth} of "
             f"{len(ops)} operations) ends with:"]
    lines += [f"    {ops[i].describe(origin_ns)}" for i in recent] or ["    (nothing)"]
    lines.append(f"  after which {key} holds one of: {values}. The window where the search is "
                 f"stuck (* = cannot take effect before it completed; + = in the prefix):")
    for i in window:
        mark = "*" if i == blocked else "+" if linearized >> i & 1 else " "
        lines.append(f"  {mark} {ops[i].describe(origin_ns)}")
    return "\n".join(lines)


def _drop_unobserved_writes(ops: list[Op]) -> list[Op]:
    """An unknown-outcome SET whose (unique) value nobody ever read can be left out: in any
    linearization no read falls between it and the next write, so removing it changes no
    read. This keeps the search from trying it at every point after its invocation. Only on
    keys without INCR, whose result would depend on the value."""
    if any(op.kind == INCR for op in ops):
        return ops
    observed = {op.value for op in ops if op.kind == GET}
    return [op for op in ops if not (op.kind == SET and op.outcome == INFO
                                     and op.value not in observed)]


def final_reads(final: dict[str, dict[str, str | None]], horizon: int) -> list[Op]:
    """The values each node holds at the end, as reads that begin after every operation."""
    reads = []
    for n, (node, values) in enumerate(sorted(final.items())):
        for key, value in values.items():
            at = horizon + 2 * n + 1
            reads.append(Op(FINAL_PROCESS, GET, key, value, OK, at, at + 1, node, "final read"))
    return reads


def check_final_state(ops: list[Op], final: dict[str, dict[str, str | None]]) -> list[str]:
    """Plain-spoken checks of the final values, independent of the search: every node holds
    the same value; a register holds nothing or a value that may have been written; a counter
    counts every acknowledged INCR and no more than were attempted."""
    anomalies = []
    by_key: dict[str, list[Op]] = defaultdict(list)
    for op in ops:
        by_key[op.key].append(op)
    keys = sorted({key for values in final.values() for key in values})
    for key in keys:
        seen = {node: values.get(key) for node, values in final.items()}
        if len(set(seen.values())) > 1:
            anomalies.append(f"key {key}: nodes disagree after converging: {seen}")
        history = by_key.get(key, [])
        writes = [op for op in history if op.kind in (SET, INCR)]
        for node, value in seen.items():
            if not writes and value is not None:
                anomalies.append(f"key {key}: node {node} holds {value!r}, never written")
            elif writes and all(op.kind == INCR for op in writes):
                acked = sum(op.outcome == OK for op in writes)
                unknown = sum(op.outcome == INFO for op in writes)
                count = 0 if value is None else _as_int(value)
                if count is None or not acked <= count <= acked + unknown:
                    anomalies.append(f"key {key}: node {node} holds {value!r} after {acked} "
                                     f"acknowledged and {unknown} unknown INCRs")
            elif all(op.kind == SET for op in writes):
                possible = {op.value for op in writes if op.outcome != FAIL}
                if any(op.outcome == OK for op in writes) and value is None:
                    anomalies.append(f"key {key}: node {node} lost every write")
                elif value is not None and value not in possible:
                    anomalies.append(f"key {key}: node {node} holds {value!r}, never written "
                                     f"successfully")
    return anomalies


def check_history(ops: list[Op], final: dict[str, dict[str, str | None]] | None = None,
                  max_steps: int = 2_000_000) -> CheckReport:
    """Check every key, plus (if given) the final values read from every node."""
    ops = sorted(ops, key=lambda op: op.invoke_ns)
    times = [t for op in ops for t in (op.invoke_ns, op.complete_ns) if t is not None]
    origin = min(times, default=0)
    horizon = max(times, default=0) + 1
    report = CheckReport()
    checked = [op for op in ops if op.outcome in (OK, INFO)]
    if final is not None:
        checked += final_reads(final, horizon)
        report.final_anomalies = check_final_state(ops, final)
    by_key: dict[str, list[Op]] = defaultdict(list)
    for op in checked:
        by_key[op.key].append(op)
    for key in sorted(by_key):
        report.keys.append(check_key(key, _drop_unobserved_writes(by_key[key]), horizon,
                                     max_steps, origin))
    return report


def print_report(report: CheckReport, out=sys.stdout) -> None:
    for result in report.keys:
        verdict = {True: "linearizable", False: "NOT LINEARIZABLE",
                   None: "undecided"}[result.linearizable]
        print(f"  {result.key}: {result.ops} ops, {verdict}", file=out)
    for anomaly in report.anomalies:
        print(anomaly, file=out)
