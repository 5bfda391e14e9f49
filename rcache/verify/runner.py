"""One verification run: start a cluster, run clients and nemeses for a while, heal, read the
final state from every node, check the whole history. Every process is stopped at the end."""

from __future__ import annotations

import itertools
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import redis

from .checker import CheckReport, check_history, print_report
from .history import FAIL, INFO, OK, History, KeySpace, Op, Worker, read_final_values, save_history
from .nemesis import NEMESES, FaultLog, Schedule
from .nodes import NodeCluster, Timeout


@dataclass
class RunConfig:
    nodes: int = 3
    seconds: float = 60.0
    nemeses: list[str] = field(default_factory=lambda: ["kill", "pause", "membership",
                                                        "partition"])
    clients: int = 5
    keys: int = 5
    seed: int = 0
    read_consistency: str = "linearizable"
    op_timeout: float = 5.0
    work_dir: Path | None = None  # node data, logs and the saved history; a temp dir if None
    max_steps: int = 5_000_000


@dataclass
class RunResult:
    ops: list[Op]
    final: dict[str, dict[str, str | None]] | None
    faults: FaultLog
    report: CheckReport
    history_path: Path

    @property
    def anomalies(self) -> list[str]:
        return self.report.anomalies

    def print_summary(self, out: TextIO) -> None:
        counts = {o: sum(op.outcome == o for op in self.ops) for o in (OK, FAIL, INFO)}
        by_kind: dict[str, dict[str, int]] = {}
        for op in self.ops:
            by_kind.setdefault(op.kind, {OK: 0, FAIL: 0, INFO: 0})[op.outcome] += 1
        print(f"ops: {len(self.ops)}  ok: {counts[OK]}  fail: {counts[FAIL]}  "
              f"unknown: {counts[INFO]}", file=out)
        for kind, c in sorted(by_kind.items()):
            print(f"  {kind:5} ok {c[OK]:6}  fail {c[FAIL]:6}  unknown {c[INFO]:6}", file=out)
        injected = ", ".join(f"{n} x{c}" for n, c in sorted(self.faults.injected.items()))
        print(f"faults injected: {injected or 'none'}", file=out)
        origin = min((op.invoke_ns for op in self.ops), default=0)
        for at, wall, text in self.faults.events:
            clock = time.strftime("%H:%M:%S", time.localtime(wall)) + f".{int(wall % 1 * 1000):03}"
            print(f"  {(at - origin) / 1e9:8.2f}s ({clock}) {text}", file=out)
        for problem in self.faults.problems:
            print(f"cluster problem: {problem}", file=out)
        print("per key:", file=out)
        print_report(self.report, out)
        print(f"anomalies: {len(self.anomalies)}", file=out)
        if self.report.undecided:
            print(f"undecided (search budget spent): {', '.join(self.report.undecided)}",
                  file=out)
        print(f"history: {self.history_path}", file=out)


def run(config: RunConfig) -> RunResult:
    unknown = set(config.nemeses) - set(NEMESES)
    if unknown:
        raise ValueError(f"unknown nemesis: {', '.join(sorted(unknown))}")
    work_dir = config.work_dir or Path(tempfile.mkdtemp(prefix="rcache-verify-"))
    cluster = NodeCluster(work_dir / "nodes", config.nodes)
    keys = KeySpace(config.keys)
    history = History()
    faults = FaultLog()
    try:
        cluster.start()
        ops, final = _workload(cluster, keys, history, faults, config)
    finally:
        cluster.stop()
    history_path = work_dir / "history.jsonl"
    save_history(ops, history_path, final)
    report = check_history(ops, final, config.max_steps)
    return RunResult(ops, final, faults, report, history_path)


def _workload(cluster: NodeCluster, keys: KeySpace, history: History, faults: FaultLog,
              config: RunConfig) -> tuple[list[Op], dict[str, dict[str, str | None]] | None]:
    """Clients and nemeses for config.seconds, then heal, converge and read the final state."""
    stop_clients, stop_nemesis = threading.Event(), threading.Event()
    process_ids = itertools.count()  # shared: next() on it is atomic
    workers = [Worker(history, keys, cluster.addresses, process_ids, stop_clients,
                      seed=config.seed * 1000 + i, timeout=config.op_timeout,
                      read_consistency=config.read_consistency)
               for i in range(config.clients)]
    schedule = Schedule(cluster, [NEMESES[name]() for name in config.nemeses], stop_nemesis,
                        config.seed, faults)
    for worker in workers:
        worker.start()
    schedule.start()
    try:
        stop_nemesis.wait(config.seconds)
    finally:
        stop_nemesis.set()
        schedule.join(timeout=120)
        if schedule.is_alive():
            faults.problems.append("the nemesis did not finish within 120 s")
        try:
            cluster.heal()
            faults.note("healed: every node running")
            time.sleep(1.0)  # let the clients see the healed cluster for a moment
        except Exception as err:  # noqa: BLE001 - reported; the history is still checked
            faults.problems.append(f"could not heal the cluster at the end: {err}")
        finally:
            stop_clients.set()
            for worker in workers:
                worker.join(timeout=config.op_timeout * 6)
    return history.ops, _final_state(cluster, keys, faults, config.op_timeout)


def _final_state(cluster: NodeCluster, keys: KeySpace, faults: FaultLog, timeout: float
                 ) -> dict[str, dict[str, str | None]] | None:
    """Every key on every member, or None if the cluster did not converge (a lagging node's
    values would be no evidence of anything)."""
    try:
        cluster.wait_converged()
        return read_final_values(cluster.addresses(), keys.keys, timeout)
    except (Timeout, redis.RedisError, OSError) as err:
        faults.problems.append(f"no final state: {err}")
        return None
