"""The command line of bench/run.py: which sections run, with which counts."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import shlex
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from .durability import DurabilityRun, run_durability
from .failover import FAILOVER_TRIALS, FailoverRun, run_failover
from .memory import MemoryRow, run_memory
from .results import (
    RESULTS_PATH,
    Report,
    failed_runs,
    machine_description,
    render_results,
    scan_logs,
    source_revision,
)
from .servers import load_now, log
from .throughput import (
    CLUSTER_TARGETS,
    DEFAULT_CLIENTS,
    TARGETS,
    TYPE_TESTS,
    TYPES_MIN_REQUESTS,
    TYPES_REQUESTS_DIVISOR,
    TYPES_TARGETS,
    BenchSpec,
    ThroughputRun,
    bench_specs,
    command_specs,
    run_scripts,
    run_throughput,
    types_specs,
)

DEFAULT_REQUESTS = 100_000
QUICK_REQUESTS = 20_000
DEFAULT_ROUNDS = 3
DEFAULT_KEYS = 1_000_000  # --durability: the large data set
QUICK_KEYS = 100_000
SMOKE_REQUESTS = 1_000
SMOKE_KEYS = 5_000
SMOKE_TYPES_REQUESTS = 200


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark rcache against redis-server; writes bench/RESULTS.md.")
    parser.add_argument("--quick", action="store_true",
                        help=f"short run ({QUICK_REQUESTS} requests, {QUICK_KEYS} keys) to check "
                             "that it works")
    parser.add_argument("--smoke", action="store_true",
                        help=f"prove that every chosen section runs: tiny counts ({SMOKE_REQUESTS} "
                             f"requests, {SMOKE_KEYS} keys, 1 failover trial), no judging; "
                             "writes to --output (default: a file in the temp directory)")
    parser.add_argument("--output", type=Path, metavar="PATH",
                        help="where to write the results (default bench/RESULTS.md)")
    parser.add_argument("--requests", type=int, metavar="N",
                        help=f"requests per unpipelined test (default {DEFAULT_REQUESTS}); "
                             "pipelined tests run 5x as many, the single-client test N/5")
    parser.add_argument("--clients", type=int, default=DEFAULT_CLIENTS, metavar="C",
                        help=f"parallel connections (default {DEFAULT_CLIENTS}); the issue's "
                             "targets are judged at 50 only")
    parser.add_argument("--rounds", type=int, metavar="R",
                        help=f"repeat every run R times and report medians (default "
                             f"{DEFAULT_ROUNDS}, 1 with --quick)")
    parser.add_argument("--cluster", action="store_true",
                        help="also benchmark 3-node clusters (default and linearizable reads)")
    parser.add_argument("--types", action="store_true",
                        help="redis-benchmark's data-type tests (" + ",".join(TYPE_TESTS)
                             + ") against redis-server, one node and a 3-node cluster")
    parser.add_argument("--failover", action="store_true",
                        help="time leader loss in a 3-node cluster "
                             f"({FAILOVER_TRIALS} trials)")
    parser.add_argument("--durability", action="store_true",
                        help="fsync-always throughput; restart, snapshot install and RSS with "
                             "a large data set")
    parser.add_argument("--memory", action="store_true",
                        help="RSS of one node against redis-server's holding the same keys, "
                             "with 3-byte and with 100-byte values")
    parser.add_argument("--scripts", action="store_true",
                        help="only this: EVALSHA of a small script, rcache against "
                             "redis-server, printed (not written to RESULTS.md)")
    parser.add_argument("--all", action="store_true",
                        help="--cluster --types --failover --durability --memory")
    parser.add_argument("--keys", type=int, metavar="K",
                        help="size of the --durability and --memory data sets (default "
                             f"{DEFAULT_KEYS:,}; {QUICK_KEYS:,} with --quick)")
    args = parser.parse_args(argv)
    if args.all:
        args.cluster = args.types = args.failover = args.durability = args.memory = True
    return args


def exit_on_sigterm(signum: int, _frame: object) -> None:
    """SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so the servers are stopped."""
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    started = time.monotonic()
    log(f"== {name} (load average {load_now()})")
    yield
    log(f"== {name} done in {time.monotonic() - started:.0f} s (load average {load_now()})")


@dataclass(frozen=True)
class Counts:
    """How much each section runs, from the options."""

    requests: int
    rounds: int
    keys: int
    types_requests: int
    failover_trials: int
    output: Path


def counts(args: argparse.Namespace) -> Counts:
    if args.smoke:
        return Counts(args.requests or SMOKE_REQUESTS, args.rounds or 1, args.keys or SMOKE_KEYS,
                      SMOKE_TYPES_REQUESTS, 1,
                      args.output or Path(tempfile.gettempdir()) / "rcache-bench-smoke.md")
    requests = args.requests or (QUICK_REQUESTS if args.quick else DEFAULT_REQUESTS)
    return Counts(requests, args.rounds or (1 if args.quick else DEFAULT_ROUNDS),
                  args.keys or (QUICK_KEYS if args.quick else DEFAULT_KEYS),
                  max(TYPES_MIN_REQUESTS, requests // TYPES_REQUESTS_DIVISOR), FAILOVER_TRIALS,
                  args.output or RESULTS_PATH)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    args = parse_args(argv)
    count = counts(args)
    requests, rounds = count.requests, count.rounds
    specs = bench_specs(requests, args.clients)
    scaled = []
    if args.smoke:
        scaled.append("A smoke run (--smoke): counts far too small to judge anything.")
    if args.cluster and not args.requests and not args.quick and not args.smoke:
        # Three 3-node clusters' worth of runs on 2 cores: keep --all within ~10 minutes.
        specs = [dataclasses.replace(spec, requests=spec.requests // 2) for spec in specs]
        scaled.append(f"Scaled down for time: with --cluster the request counts of the "
                      f"throughput table are halved ({requests // 2:,} per unpipelined test, "
                      f"{requests * 5 // 2:,} with -P 16, {max(1_000, requests // 5) // 2:,} "
                      "with -c 1); pass --requests to choose them.")
    specs += command_specs(specs[0].requests, args.clients)
    if args.scripts:
        return run_scripts(requests, args.clients)
    targets = TARGETS + (CLUSTER_TARGETS if args.cluster else [])
    problems: list[str] = []
    started, load_before, revision = time.monotonic(), os.getloadavg(), source_revision()
    failover: FailoverRun | None = None
    durability: DurabilityRun | None = None
    types: ThroughputRun | None = None
    memory: list[MemoryRow] | None = None
    with tempfile.TemporaryDirectory(prefix="rcache-bench-") as tmp_name:
        tmp = Path(tmp_name)
        try:
            with phase("throughput"):
                main_run = run_throughput(targets, specs, rounds, args.clients, tmp, problems)
        except RuntimeError as err:
            log(f"bench: {err}")
            return 2
        if args.types:
            (tmp / "types").mkdir()
            try:
                with phase("types"):
                    types = run_throughput(TYPES_TARGETS,
                                           types_specs(count.types_requests, args.clients),
                                           rounds, args.clients, tmp / "types", problems,
                                           lengths=True)
            except RuntimeError as err:
                problems.append(f"types: {err}")
                log(f"bench: types: {err}")
        if args.failover:
            with phase("failover"):
                failover = run_failover(tmp, problems, count.failover_trials)
        if args.durability:
            durable_specs = [BenchSpec(args.clients, 1, requests, ("set",))]
            with phase("durability"):
                durability = run_durability(durable_specs, rounds, args.clients, count.keys,
                                            tmp, problems)
        if args.memory:
            with phase("memory"):
                memory = run_memory(count.keys, tmp, problems)
        findings = scan_logs(tmp)
    serious: Counter[str] = Counter()
    for finding in findings:
        if finding.level in ("CRITICAL", "ERROR", "TRACEBACK"):
            serious[f"{finding.level} {finding.message}"] += finding.count
    problems += [f"rcache logged {count}x: {what}" for what, count in serious.most_common()]
    elapsed_s = time.monotonic() - started
    report = Report(shlex.join(["python", "bench/run.py", *argv]),
                    machine_description(load_before), elapsed_s, main_run, failover, durability,
                    problems, scaled, findings, revision, types, memory)
    text = render_results(report)
    count.output.write_text(text)
    print(text)
    log(f"written to {count.output}")
    runs = [main_run, types, durability.throughput if durability is not None else None]
    failed = any(failed_runs(run) for run in runs if run is not None) or bool(problems)
    return 1 if failed else 0
