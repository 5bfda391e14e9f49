"""Short linearizability runs under each nemesis, and under all of them mixed: real node
processes, concurrent clients, the whole history checked. About three minutes in all.

Each run is made once (module-scoped fixture) and judged twice: safety (no anomaly: every
key linearizable, every acknowledged write in every node's final state) and recovery (the
cluster came back from every healed fault)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from rcache.verify.runner import RunConfig, RunResult, run

RUNS = {
    "kill": RunConfig(nodes=3, seconds=20, nemeses=["kill"], clients=4, keys=4, seed=1),
    "pause": RunConfig(nodes=3, seconds=20, nemeses=["pause"], clients=4, keys=4, seed=2,
                       op_timeout=2.0),
    "membership": RunConfig(nodes=3, seconds=20, nemeses=["membership"], clients=4, keys=4,
                            seed=3),
    "partition": RunConfig(nodes=3, seconds=20, nemeses=["partition"], clients=4, keys=4,
                           seed=5, op_timeout=2.0),
    # Default reads are the leader's local state under its lease: linearizable too, through
    # pauses and partitions that depose a leader which still believes it leads.
    "default-reads": RunConfig(nodes=3, seconds=20, nemeses=["pause", "partition", "kill"],
                               clients=4, keys=4, seed=6, read_consistency="default",
                               op_timeout=2.0),
    "mixed-5-nodes": RunConfig(nodes=5, seconds=25,
                               nemeses=["kill", "pause", "membership", "partition"],
                               clients=5, keys=4, seed=4, op_timeout=2.0),
}


@pytest.fixture(scope="module", params=list(RUNS))
def chaos_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
              ) -> tuple[str, RunResult]:
    name = request.param
    config = RUNS[name]
    config.work_dir = Path(tmp_path_factory.mktemp(f"verify-{name}"))
    return name, run(config)


def _summary(result: RunResult) -> str:
    out = io.StringIO()
    result.print_summary(out)
    return out.getvalue()


def test_no_anomalies(chaos_run: tuple[str, RunResult]) -> None:
    name, result = chaos_run
    assert result.ops, "no operation was recorded"
    assert result.faults.injected, _summary(result)
    assert not result.anomalies, _summary(result)
    assert not result.report.undecided, _summary(result)


def test_cluster_recovers(chaos_run: tuple[str, RunResult]) -> None:
    name, result = chaos_run
    assert not result.faults.problems, _summary(result)
    assert sum(result.faults.injected.values()) >= 3, _summary(result)
    assert result.final is not None and len(result.final) == RUNS[name].nodes, _summary(result)
