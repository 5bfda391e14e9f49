"""bench/'s tables on made-up numbers: issue #14's figures with their goals and 'met?', a
command the server lacks shown as 'not supported', the redis-benchmark command lines."""

from __future__ import annotations

from bench.goals import FIGURES, Figure, figure_cells, figure_rows, memory_rows
from bench.memory import MemoryRow
from bench.results import failed_runs, results_table
from bench.throughput import (
    NOT_SUPPORTED,
    TARGETS,
    BenchSpec,
    Measurement,
    ThroughputRun,
    bench_specs,
    command_specs,
    parse_csv,
)


def _run(results: dict) -> ThroughputRun:
    specs = bench_specs(1000, 50) + command_specs(1000, 50)
    run = ThroughputRun(list(TARGETS), specs, rounds=1)
    run.results = {(spec, name): results.get((spec.pipeline, spec.clients, spec.tests[0], name),
                                             "did not start")
                   for spec in specs for name in ("redis-server", "rcache")}
    return run


def test_throughput_figure_is_a_ratio_with_its_goal() -> None:
    figure = Figure("single node SET, -P 1", "rcache", "SET", min_ratio=0.6)
    cells = figure_cells(figure, Measurement(70_000, 0.5, 1.0), Measurement(100_000, 0.2, 0.5),
                         None)
    assert cells == ["single node SET, -P 1", "70,000/s", "100,000/s", "0.70x", ">= 0.6x", "yes",
                     "", "", ""]
    missed = figure_cells(figure, Measurement(50_000, 0.5, 1.0), Measurement(100_000, 0.2, 0.5),
                          None)
    assert missed[3:6] == ["0.50x", ">= 0.6x", "no"]


def test_latency_figure_judges_p50_and_shows_the_replicated_comparator() -> None:
    figure = next(f for f in FIGURES if f.label == "SET, -c 1, p50 latency, 3 nodes")
    cells = figure_cells(figure, Measurement(3_000, 0.30, 0.9), Measurement(60_000, 0.015, 0.02),
                         Measurement(20_000, 0.05, 0.1))
    assert cells[1:] == ["0.300 ms", "0.015 ms", "20.00x", "<= 0.35 ms", "yes",
                         "redis master + 2 replicas: 0.050 ms", "3.33x", "6.00x"]


def test_single_node_figure_shows_the_python_floor_beside_it() -> None:
    figure = next(f for f in FIGURES if f.label == "single node GET, -P 16")
    cells = figure_cells(figure, Measurement(100_000, 1, 2), Measurement(500_000, 1, 2),
                         Measurement(250_000, 1, 2))
    assert cells[6:] == ["python floor: 250,000/s", "0.50x", "0.40x"]


def test_figure_without_its_target_is_not_measured() -> None:
    figure = next(f for f in FIGURES if f.target == "rcache-3-linearizable")
    cells = figure_cells(figure, None, Measurement(100_000, 0.2, 0.5), None)
    assert cells[1] == "-" and cells[5] == "not measured"


def test_figure_rows_pick_the_spec_by_pipeline_and_clients() -> None:
    run = _run({(16, 50, "set", "redis-server"): {"SET": Measurement(400_000, 1, 2),
                                                  "GET": Measurement(1_000_000, 1, 2)},
                (16, 50, "set", "rcache"): {"SET": Measurement(40_000, 1, 2),
                                            "GET": Measurement(700_000, 1, 2)}})
    rows = {row.split(" | ")[0].lstrip("| "): row for row in figure_rows(run)}
    assert rows["single node SET, -P 16"].split(" | ")[3:6] == ["0.10x", ">= 0.3x", "no"]
    assert rows["single node GET, -P 16"].split(" | ")[3:6] == ["0.70x", ">= 0.6x", "yes"]
    assert rows["single node SET, -P 1"].split(" | ")[5] == "not measured"
    assert len(rows) == len(FIGURES)


def test_a_command_the_server_lacks_is_not_supported_not_failed() -> None:
    lacking = f"{NOT_SUPPORTED} (ERR unknown command 'XADD')"
    run = _run({(1, 50, "xadd", "redis-server"): {"XADD": Measurement(90_000, 0.3, 1)},
                (1, 50, "xadd", "rcache"): lacking})
    xadd = [line for line in results_table(run) if line.startswith("| XADD ")]
    assert xadd == ["| XADD | 1 | 50 | redis-server | 90,000 | 1.00 | 0.300 | 1.000 |",
                    "| XADD | 1 | 50 | rcache | not supported | - | - | - |"]
    assert all(spec.tests != ("xadd",) for spec, _, _ in failed_runs(run))
    assert any(spec.tests == ("set", "get") for spec, _, _ in failed_runs(run))


def test_command_spec_sends_the_command_line() -> None:
    (xadd, pfadd) = command_specs(500, 50)
    assert xadd.argv(7000)[-5:] == ["XADD", "mystream", "*", "f", "__rand_int__"]
    assert "-t" not in xadd.argv(7000) and pfadd.argv(7000)[-3:] == ["PFADD", "hll",
                                                                     "__rand_int__"]
    assert BenchSpec(50, 16, 100).argv(7000)[-2:] == ["-t", "set,get"]


def test_parse_csv_keys_rows_by_test() -> None:
    text = ('"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms",'
            '"p99_latency_ms","max_latency_ms"\n'
            '"LRANGE_100 (first 100 elements)","5000.00","1","0.5","0.9","1.5","2.5","3"\n')
    assert parse_csv(text) == {"LRANGE_100": Measurement(5000.0, 0.9, 2.5)}


def test_memory_rows_are_ratios_to_redis_server() -> None:
    (row,) = memory_rows([MemoryRow(1_000_000, 100, 200 * 1024, 500 * 1024, 1_000_000,
                                    1_000_000)])
    assert row.split(" | ")[1:5] == ["500.0 MiB", "200.0 MiB", "2.50x", "(no goal set)"]
