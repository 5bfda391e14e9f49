"""The goals of the issues, judged on a run's numbers: issue #14's table of figures (ratios
to redis-server in the same run, each with its goal), and the earlier targets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .durability import DurabilityRun
from .failover import FailoverRun
from .memory import MemoryRow, data_bytes
from .throughput import DEFAULT_CLIENTS, TYPE_TESTS, BenchSpec, Measurement, ThroughputRun


@dataclass(frozen=True)
class Figure:
    """A row of issue #14's table: `target`'s `test` against redis-server's in the same run,
    judged by its ops/s ratio (>= `min_ratio`) or by its p50 latency (<= `max_p50_ms`).
    `comparator`: another target shown beside it: for a cluster Redis's own replication, for
    one node the python floor (what any Python server over RocksDB reaches here)."""

    label: str
    target: str
    test: str
    pipeline: int = 1
    clients: int = DEFAULT_CLIENTS
    min_ratio: float | None = None
    max_p50_ms: float | None = None
    comparator: str = ""


REPLICATED = "redis-3-replicated"  # throughput.CLUSTER_TARGETS' master with two replicas
FLOOR = "python-floor"  # throughput.TARGETS' bench/floor_server.py
COMPARATOR_NAMES = {REPLICATED: "redis master + 2 replicas", FLOOR: "python floor"}
FIGURES = [
    Figure("single node SET, -P 1", "rcache", "SET", min_ratio=0.6, comparator=FLOOR),
    Figure("single node GET, -P 1", "rcache", "GET", min_ratio=0.9, comparator=FLOOR),
    Figure("3 nodes SET through the leader, -P 1", "rcache-3", "SET", min_ratio=0.5,
           comparator=REPLICATED),
    Figure("3 nodes GET, -P 1", "rcache-3", "GET", min_ratio=0.9, comparator=REPLICATED),
    Figure("single node SET, -P 16", "rcache", "SET", pipeline=16, min_ratio=0.3,
           comparator=FLOOR),
    Figure("single node GET, -P 16", "rcache", "GET", pipeline=16, min_ratio=0.6,
           comparator=FLOOR),
    Figure("SET, -c 1, p50 latency, single node", "rcache", "SET", clients=1, max_p50_ms=0.12,
           comparator=FLOOR),
    Figure("SET, -c 1, p50 latency, 3 nodes", "rcache-3", "SET", clients=1, max_p50_ms=0.35,
           comparator=REPLICATED),
    Figure("linearizable GET, 3 nodes, -P 1", "rcache-3-linearizable", "GET", min_ratio=0.5,
           comparator=REPLICATED),
]
FIGURE_HEADER = ["| figure | rcache | redis-server | rcache / redis-server | goal | met? | "
                 "comparator, same run | comparator / redis-server | rcache / comparator |",
                 "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]


def figure_cells(figure: Figure, got: Measurement | None, base: Measurement | None,
                 other: Measurement | None) -> list[str]:
    """The cells of one FIGURE_HEADER row. Throughput figures compare ops/s, latency figures
    p50 (a ratio above 1 is slower there); a missing measurement is '-'."""
    latency = figure.max_p50_ms is not None

    def value(m: Measurement | None) -> str:
        if m is None:
            return "-"
        return f"{m.p50_ms:.3f} ms" if latency else f"{m.ops_per_s:,.0f}/s"

    def ratio(a: Measurement | None, b: Measurement | None) -> str:
        """a's figure over b's."""
        if a is None or b is None:
            return "-"
        number = a.p50_ms / b.p50_ms if latency else a.ops_per_s / b.ops_per_s
        return f"{number:.2f}x"

    if latency:
        goal = f"<= {figure.max_p50_ms} ms"
        met = None if got is None else got.p50_ms <= figure.max_p50_ms
    else:
        goal = f">= {figure.min_ratio}x"
        met = None if got is None or base is None else (
            got.ops_per_s / base.ops_per_s >= figure.min_ratio)
    cells = [figure.label, value(got), value(base), ratio(got, base), goal,
             {True: "yes", False: "no", None: "not measured"}[met]]
    if not figure.comparator:
        return cells + ["", "", ""]
    return cells + [f"{COMPARATOR_NAMES[figure.comparator]}: {value(other)}",
                    ratio(other, base), ratio(got, other)]


def figure_rows(run: ThroughputRun, figures: Sequence[Figure] = tuple(FIGURES)) -> list[str]:
    """FIGURE_HEADER rows for the figures, from a run whose first target is redis-server."""
    def measured(name: str, spec: BenchSpec | None, test: str) -> Measurement | None:
        result = run.results.get((spec, name)) if spec is not None else None
        return result.get(test) if isinstance(result, dict) else None

    lines = []
    for figure in figures:
        spec = next((s for s in run.specs
                     if (s.pipeline, s.clients) == (figure.pipeline, figure.clients)
                     and figure.test.lower() in s.tests), None)
        cells = figure_cells(figure, measured(figure.target, spec, figure.test),
                             measured(run.baseline, spec, figure.test),
                             measured(figure.comparator, spec, figure.test))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def memory_rows(rows: Sequence[MemoryRow]) -> list[str]:
    """FIGURE_HEADER rows for --memory: RSS of one node against redis-server's (no goal set)."""
    def mib(kib: int) -> str:
        return f"{kib / 1024:.1f} MiB" if kib else "-"

    return [f"| RSS, {row.keys:,} keys of {row.value_size}-byte values, single node | "
            f"{mib(row.rcache_kib)} | {mib(row.redis_kib)} | "
            + (f"{row.ratio:.2f}x" if row.ratio is not None else "-")
            + " | (no goal set) | - |  |  |  |" for row in rows]


@dataclass(frozen=True)
class Goal:
    """A target from an earlier issue: `target`'s ops/s at least `min_ratio` x the
    baseline's."""

    target: str
    test: str
    pipeline: int
    min_ratio: float
    clients: int = DEFAULT_CLIENTS


# --types ("Redis data types on RocksDB"): writes >= 0.5x, reads >= 0.7x, at -P 1.
TYPES_GOALS = [Goal(target, test.upper(), pipeline=1,
                    min_ratio=0.7 if test.startswith("lrange") else 0.5)
               for target in ("rcache", "rcache-3") for test in TYPE_TESTS]
FAILOVER_GOAL_S = 1.5
RESTART_GOAL_S = 5.0
RSS_GOAL_X_DATA = 2.0


def fmt_seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


GOAL_HEADER = ["| target | test | pipeline | clients | goal | measured | status |",
               "| --- | --- | --- | --- | --- | --- | --- |"]


def goal_rows(run: ThroughputRun, goals: Sequence[Goal]) -> list[str]:
    baseline = run.baseline
    names = {target.name for target in run.targets}
    lines = []
    for goal in goals:
        if goal.target not in names:
            continue
        spec = next((s for s in run.specs
                     if (s.pipeline, s.clients) == (goal.pipeline, goal.clients)
                     and goal.test.lower() in s.tests), None)
        ratio: float | None = None
        if spec is not None:
            base, got = run.results.get((spec, baseline)), run.results.get((spec, goal.target))
            if isinstance(base, dict) and isinstance(got, dict) and goal.test in got:
                ratio = got[goal.test].ops_per_s / base[goal.test].ops_per_s
        if ratio is None:
            measured, status = "-", "not measured" if spec is None else "not met (run failed)"
        else:
            measured, status = f"{ratio:.2f}x", "met" if ratio >= goal.min_ratio else "not met"
        lines.append(f"| {goal.target} | {goal.test} | {goal.pipeline} | {goal.clients} | "
                     f">= {goal.min_ratio}x {baseline} | {measured} | {status} |")
    return lines


def _status(value: float | None, limit: float) -> str:
    if value is None:
        return "not met (not measured)"
    return "met" if value <= limit else "not met"


def failover_goal_rows(run: FailoverRun) -> list[str]:
    median = run.median_s()
    measured = f"{median:.3f} s" if median is not None else "-"
    if len(run.trials) < run.planned:
        measured += f" ({len(run.trials)} of {run.planned} trials)"
    return [f"| rcache-3 | failover: SIGKILL leader -> next SET OK, median of {run.planned} "
            f"| 1 | 1 | <= {FAILOVER_GOAL_S} s | {measured} | "
            f"{_status(median, FAILOVER_GOAL_S)} |"]


def durability_goal_rows(run: DurabilityRun) -> list[str]:
    median = run.restart_median()
    lines = [f"| rcache | restart with {run.keys:,} keys: SIGKILL, start -> GET OK, median of "
             f"{len(run.restart_s)} | - | 1 | <= {RESTART_GOAL_S} s | {fmt_seconds(median)} s | "
             f"{_status(median, RESTART_GOAL_S)} |"]
    for row in run.rss:
        if not row.judged:
            continue
        size = data_bytes(row.keys) if row.keys > 0 else 0
        ratio = row.rss_kib * 1024 / size if size else None
        lines.append(f"| {row.target} | RSS of {row.node} with {row.keys:,} keys | - | - | "
                     f"<= {RSS_GOAL_X_DATA}x data size | "
                     + (f"{ratio:.1f}x" if ratio is not None else "-") + " | "
                     + ("met" if ratio is not None and ratio <= RSS_GOAL_X_DATA else "not met")
                     + " |")
    return lines

