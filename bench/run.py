#!/usr/bin/env python3
"""Benchmark rcache against redis-server with redis-benchmark; write bench/RESULTS.md.

DESIGN.md makes redis-server the yardstick: absolute numbers depend on the machine, the
ratio rcache/redis-server measured in the same run on the same machine does not (much).
So every server in TARGETS runs the same redis-benchmark specs, interleaved spec by spec so
that a burst of machine noise hits all servers alike, and the issue's goals are ratios.

Usage: python bench/run.py [--quick] [--requests N] [--clients C] [--rounds R]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import os
import platform
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

REPO = Path(__file__).resolve().parent.parent
RESULTS_PATH = REPO / "bench" / "RESULTS.md"
RANDOM_KEYSPACE = 100_000  # redis-benchmark -r: SET/GET hit random keys in [0, 100000)
DEFAULT_REQUESTS = 100_000
QUICK_REQUESTS = 20_000
DEFAULT_CLIENTS = 50
DEFAULT_ROUNDS = 3
STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
# A run slower than this is a stall, not a measurement: redis-benchmark is killed past it.
SLOWEST_PLAUSIBLE_OPS_PER_S = 1_000


# ---------------------------------------------------------------------------------------------
# Servers under test


class ServerUnderTest(Protocol):
    """What the benchmark needs from a server: a RESP port to load, and processes to weigh.

    A 3-node cluster fits too: start() starts all nodes and waits for a leader, port is the
    leader's client port, pids lists every node.
    """

    port: int

    def start(self) -> None: ...

    def stop(self) -> None: ...

    @property
    def pids(self) -> list[int]: ...

    @property
    def command(self) -> str: ...


def free_port() -> int:
    """A port free right now on 127.0.0.1 (the kernel picks it; racy, but good enough here)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_cli(port: int, *args: str, timeout: float = 5.0) -> str:
    """One command through redis-cli; the reply as text ('' if the server did not answer)."""
    try:
        done = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), *args],
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return ""
    return done.stdout.strip()


class ProcessServer:
    """One server process, logging to a file, stopped with SIGTERM then SIGKILL.

    Ready means a write succeeds, not just PING: an rcache node answers PING before it has
    elected itself leader, and a benchmark started then would measure errors.
    """

    def __init__(self, argv: list[str], port: int, log_path: Path,
                 env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        self.argv = argv
        self.port = port
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pids(self) -> list[int]:
        return [self.process.pid] if self.process else []

    @property
    def command(self) -> str:
        return shlex.join(self.argv)

    def start(self) -> None:
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, env=self.env, cwd=self.cwd)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        probe_key = "rcache-bench:ready-probe"
        while True:
            if self.process.poll() is not None:  # e.g. the port was taken after all
                raise RuntimeError(f"{self.command} exited with {self.process.returncode}:\n"
                                   f"{self.log_tail()}")
            if redis_cli(self.port, "set", probe_key, "1") == "OK":
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.command} not accepting SET after "
                                   f"{STARTUP_TIMEOUT_S:.0f}s:\n{self.log_tail()}")
            time.sleep(0.1)
        redis_cli(self.port, "del", probe_key)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            print(f"warning: {self.argv[0]} ignored SIGTERM for {STOP_TIMEOUT_S:.0f}s; killing",
                  file=sys.stderr)
            self.process.kill()
            self.process.wait(STOP_TIMEOUT_S)

    def log_tail(self, lines: int = 20) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def redis_server(workdir: Path) -> ServerUnderTest:
    """redis-server as the issue compares against: no RDB snapshots, no AOF."""
    port = free_port()
    argv = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
            "--appendonly", "no", "--dir", str(workdir)]
    return ProcessServer(argv, port, workdir / "redis-server.log")


def rcache_single_node(workdir: Path) -> ServerUnderTest:
    """One rcache node, fresh data dir, default durability settings (what a user gets)."""
    port, raft_port = free_port(), free_port()
    argv = [sys.executable, "-m", "rcache", "--port", str(port), "--raft-port", str(raft_port),
            "--dir", str(workdir / "data")]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return ProcessServer(argv, port, workdir / "rcache.log", env=env, cwd=REPO)


@dataclass(frozen=True)
class Target:
    """A column of the results: a server kind, started fresh in its own directory."""

    name: str
    start_server: Callable[[Path], ServerUnderTest]


# The first target is the baseline that every other target's ops/s is divided by.
TARGETS = [
    Target("redis-server", redis_server),
    Target("rcache", rcache_single_node),
]


# ---------------------------------------------------------------------------------------------
# Benchmark specs and goals


@dataclass(frozen=True)
class BenchSpec:
    """One redis-benchmark invocation, the same for every target."""

    clients: int
    pipeline: int
    requests: int
    tests: tuple[str, ...] = ("set", "get")  # SET first, so that GETs find keys

    def argv(self, port: int) -> list[str]:
        return ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port),
                "-t", ",".join(self.tests), "-c", str(self.clients), "-n", str(self.requests),
                "-P", str(self.pipeline), "-r", str(RANDOM_KEYSPACE), "--csv"]


def bench_specs(requests: int, clients: int) -> list[BenchSpec]:
    """Request counts scale with `requests` so each run lasts long enough to measure:
    pipelining makes a request ~10x cheaper, a lone client is ~10x slower than fifty."""
    return [
        BenchSpec(clients=clients, pipeline=1, requests=requests),
        BenchSpec(clients=clients, pipeline=16, requests=requests * 5),
        BenchSpec(clients=1, pipeline=1, requests=max(1_000, requests // 5)),
    ]


@dataclass(frozen=True)
class Goal:
    """A target from the issue: `target`'s ops/s at least `min_ratio` x the baseline's."""

    target: str
    test: str
    pipeline: int
    min_ratio: float
    clients: int = DEFAULT_CLIENTS


GOALS = [
    Goal("rcache", "GET", pipeline=1, min_ratio=0.9),
    Goal("rcache", "SET", pipeline=1, min_ratio=0.6),
    Goal("rcache", "GET", pipeline=16, min_ratio=0.6),
    Goal("rcache", "SET", pipeline=16, min_ratio=0.3),
]


@dataclass(frozen=True)
class Measurement:
    ops_per_s: float
    p50_ms: float
    p99_ms: float


RunResult = dict[str, Measurement] | str  # per test (upper case), or why the run failed


def parse_csv(text: str) -> dict[str, Measurement]:
    """redis-benchmark 7 --csv: a header line, then one quoted row per test."""
    return {row["test"].upper(): Measurement(float(row["rps"]), float(row["p50_latency_ms"]),
                                             float(row["p99_latency_ms"]))
            for row in csv.DictReader(io.StringIO(text))}


def median_of_rounds(rounds: Sequence[RunResult]) -> RunResult:
    """Per test, the median of each number over the rounds: on a 2-core VM one round now and
    then lands on a bad core placement (redis-server -c 1 varies 13k..95k ops/s)."""
    failures = [run for run in rounds if isinstance(run, str)]
    if failures:
        return failures[0]
    return {test: Measurement(statistics.median(run[test].ops_per_s for run in rounds),
                              statistics.median(run[test].p50_ms for run in rounds),
                              statistics.median(run[test].p99_ms for run in rounds))
            for test in rounds[0]}


def run_benchmark(spec: BenchSpec, port: int) -> RunResult:
    """redis-benchmark exits non-zero on the first error reply, so a server that answers
    errors fails the run instead of posting a fast (and false) ops/s."""
    timeout = 30 + spec.requests * len(spec.tests) / SLOWEST_PLAUSIBLE_OPS_PER_S
    try:
        done = subprocess.run(spec.argv(port), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout:.0f}s"
    if done.returncode != 0:
        last_line = ((done.stderr or done.stdout).strip().splitlines() or ["no output"])[-1]
        return f"exit {done.returncode}: {last_line[:300]}"  # the error reply, if one stopped it
    measurements = parse_csv(done.stdout)
    missing = {test.upper() for test in spec.tests} - measurements.keys()
    if missing:
        return f"no result for {', '.join(sorted(missing))}"
    return measurements


# ---------------------------------------------------------------------------------------------
# Facts recorded next to the numbers


def read_proc_status_kib(pid: int, field: str) -> int:
    """A `field:  N kB` line of /proc/<pid>/status (VmRSS, VmHWM), in KiB; 0 if gone."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def machine_description(load_before: tuple[float, float, float]) -> list[str]:
    """Called after the run. The load average says whether something else shared the CPUs."""
    cpu_model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    redis_version = subprocess.run(["redis-server", "--version"], capture_output=True,
                                   text=True).stdout.strip()
    bench_version = subprocess.run(["redis-benchmark", "--version"], capture_output=True,
                                   text=True).stdout.strip()
    return [f"CPUs (nproc): {len(os.sched_getaffinity(0))}, {cpu_model}",
            f"OS: {platform.platform()}",
            f"Python: {platform.python_version()} ({sys.executable})",
            "load average (1/5/15 min) before the run: "
            + " / ".join(f"{load:.2f}" for load in load_before)
            + "; after: " + " / ".join(f"{load:.2f}" for load in os.getloadavg()),
            f"redis-server: {redis_version}",
            f"{bench_version}"]


def source_revision() -> str:
    """The rcache commit measured, marked dirty when the work tree differs from it."""
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True)
    if head.returncode != 0:
        return "no commit yet (work tree)"
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "rcache"],
                           capture_output=True, text=True).stdout.strip()
    return head.stdout.strip() + (" + uncommitted changes" if dirty else "")


# ---------------------------------------------------------------------------------------------
# Report


def _fmt_ops(value: float) -> str:
    return f"{value:,.0f}"


def _fmt_ms(value: float) -> str:
    return f"{value:.3f}"


def results_table(specs: Sequence[BenchSpec], results: dict[tuple[BenchSpec, str], RunResult],
                  ) -> list[str]:
    baseline, others = TARGETS[0].name, [target.name for target in TARGETS[1:]]
    header = ["test", "pipeline", "clients", f"{baseline} ops/s"]
    for name in others:
        header += [f"{name} ops/s", f"ratio {name}/{baseline}", f"{name} p50 ms",
                   f"{name} p99 ms"]
    header.append(f"{baseline} p50/p99 ms")
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for spec in specs:
        base_run = results[spec, baseline]
        for test in (test.upper() for test in spec.tests):
            base = base_run.get(test) if isinstance(base_run, dict) else None
            cells = [test, str(spec.pipeline), str(spec.clients),
                     _fmt_ops(base.ops_per_s) if base else "failed"]
            for name in others:
                run = results[spec, name]
                got = run.get(test) if isinstance(run, dict) else None
                if got is None:
                    cells += ["failed", "-", "-", "-"]
                    continue
                ratio = f"{got.ops_per_s / base.ops_per_s:.2f}" if base else "-"
                cells += [_fmt_ops(got.ops_per_s), ratio, _fmt_ms(got.p50_ms),
                          _fmt_ms(got.p99_ms)]
            cells.append(f"{_fmt_ms(base.p50_ms)} / {_fmt_ms(base.p99_ms)}" if base else "-")
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def goals_table(specs: Sequence[BenchSpec], results: dict[tuple[BenchSpec, str], RunResult],
                ) -> list[str]:
    baseline = TARGETS[0].name
    lines = ["| target | test | pipeline | clients | goal | measured | status |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for goal in GOALS:
        spec = next((s for s in specs if (s.pipeline, s.clients) == (goal.pipeline, goal.clients)),
                    None)
        ratio: float | None = None
        if spec is not None:
            base, got = results[spec, baseline], results[spec, goal.target]
            if isinstance(base, dict) and isinstance(got, dict):
                ratio = got[goal.test].ops_per_s / base[goal.test].ops_per_s
        if ratio is None:
            measured, status = "-", "not measured" if spec is None else "not met (run failed)"
        else:
            measured, status = f"{ratio:.2f}x", "met" if ratio >= goal.min_ratio else "not met"
        lines.append(f"| {goal.target} | {goal.test} | {goal.pipeline} | {goal.clients} | "
                     f">= {goal.min_ratio}x {baseline} | {measured} | {status} |")
    return lines


@dataclass(frozen=True)
class ServerFacts:
    """Measured after the last benchmark, before the server stops."""

    command: str
    rss_kib: int
    peak_rss_kib: int
    keys: str


def collect_facts(server: ServerUnderTest) -> ServerFacts:
    return ServerFacts(
        command=server.command,
        rss_kib=sum(read_proc_status_kib(pid, "VmRSS") for pid in server.pids),
        peak_rss_kib=sum(read_proc_status_kib(pid, "VmHWM") for pid in server.pids),
        keys=redis_cli(server.port, "dbsize") or "no answer")


def facts_table(facts: dict[str, ServerFacts]) -> list[str]:
    lines = ["| target | RSS MiB (VmRSS) | peak RSS MiB (VmHWM) | keys (DBSIZE) |",
             "| --- | --- | --- | --- |"]
    for name, fact in facts.items():
        lines.append(f"| {name} | {fact.rss_kib / 1024:.1f} | {fact.peak_rss_kib / 1024:.1f} | "
                     f"{fact.keys} |")
    return lines


@dataclass(frozen=True)
class Plan:
    """What one invocation runs, against every target alike."""

    command: str
    specs: list[BenchSpec]
    rounds: int

    @property
    def writes_per_server(self) -> int:
        """rcache's memory grows with writes, not only with keys: say how many there were."""
        return self.rounds * sum(spec.requests for spec in self.specs if "set" in spec.tests)


def render_results(plan: Plan, machine: list[str],
                   results: dict[tuple[BenchSpec, str], RunResult],
                   facts: dict[str, ServerFacts], elapsed_s: float) -> str:
    failures = [f"- {name}, -c {spec.clients} -P {spec.pipeline}: {run}"
                for (spec, name), run in results.items() if isinstance(run, str)]
    sections = [
        "# rcache benchmark results",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M UTC} in {elapsed_s:.0f} s, "
        f"rcache at {source_revision()}. Reproduce from the repository root with:",
        "",
        "```",
        plan.command,
        "```",
        "",
        "## Machine",
        "",
        *(f"- {line}" for line in machine),
        "",
        "## Throughput and latency",
        "",
        f"redis-benchmark, random keys (-r {RANDOM_KEYSPACE}), 3-byte values, loopback. "
        f"Each number is the median of {plan.rounds} round(s); in a round every spec runs once "
        "against every server, interleaved. Latencies are redis-benchmark's, per request.",
        "",
        *results_table(plan.specs, results),
        "",
        "## Targets from the issue",
        "",
        *goals_table(plan.specs, results),
        "",
        "## Memory and keys after the run",
        "",
        f"After {plan.writes_per_server:,} SETs over {RANDOM_KEYSPACE:,} random keys.",
        "",
        *facts_table(facts),
        "",
        "## Servers",
        "",
        *(f"- {name}: `{fact.command}`" for name, fact in facts.items()),
        "",
    ]
    if failures:
        sections += ["## Failed runs", "", *failures, ""]
    return "\n".join(sections)


# ---------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark rcache against redis-server; writes bench/RESULTS.md.")
    parser.add_argument("--quick", action="store_true",
                        help=f"short run ({QUICK_REQUESTS} requests) to check that it works")
    parser.add_argument("--requests", type=int, metavar="N",
                        help=f"requests per unpipelined test (default {DEFAULT_REQUESTS}); "
                             "pipelined tests run 5x as many, the single-client test N/5")
    parser.add_argument("--clients", type=int, default=DEFAULT_CLIENTS, metavar="C",
                        help=f"parallel connections (default {DEFAULT_CLIENTS}); the issue's "
                             "targets are judged at 50 only")
    parser.add_argument("--rounds", type=int, metavar="R",
                        help=f"repeat every run R times and report medians (default "
                             f"{DEFAULT_ROUNDS}, 1 with --quick)")
    return parser.parse_args(argv)


def exit_on_sigterm(signum: int, _frame: object) -> None:
    """SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so the servers are stopped."""
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    args = parse_args(argv)
    requests = args.requests or (QUICK_REQUESTS if args.quick else DEFAULT_REQUESTS)
    plan = Plan(command=shlex.join(["python", "bench/run.py", *argv]),
                specs=bench_specs(requests, args.clients),
                rounds=args.rounds or (1 if args.quick else DEFAULT_ROUNDS))
    started, load_before = time.monotonic(), os.getloadavg()
    runs: dict[tuple[BenchSpec, str], list[RunResult]] = {}
    facts: dict[str, ServerFacts] = {}
    with tempfile.TemporaryDirectory(prefix="rcache-bench-") as tmp, \
            contextlib.ExitStack() as running:
        servers: dict[str, ServerUnderTest] = {}
        for target in TARGETS:
            workdir = Path(tmp, target.name)
            workdir.mkdir()
            server = target.start_server(workdir)
            running.callback(server.stop)  # registered first: a failed start still stops it
            try:
                server.start()
            except RuntimeError as err:
                print(f"bench: cannot start {target.name}: {err}", file=sys.stderr)
                return 2
            servers[target.name] = server
            print(f"started {target.name} on port {server.port}", file=sys.stderr)
        for round_number in range(1, plan.rounds + 1):
            for spec in plan.specs:
                for name, server in servers.items():
                    print(f"round {round_number}/{plan.rounds}, {name}: "
                          f"{shlex.join(spec.argv(server.port))}", file=sys.stderr)
                    run = run_benchmark(spec, server.port)
                    runs.setdefault((spec, name), []).append(run)
                    if isinstance(run, str):
                        print(f"  FAILED: {run}", file=sys.stderr)
        facts = {name: collect_facts(server) for name, server in servers.items()}
    results = {key: median_of_rounds(rounds_run) for key, rounds_run in runs.items()}
    elapsed_s = time.monotonic() - started
    report = render_results(plan, machine_description(load_before), results, facts, elapsed_s)
    RESULTS_PATH.write_text(report)
    print(report)
    print(f"written to {RESULTS_PATH.relative_to(REPO)}", file=sys.stderr)
    return 1 if any(isinstance(run, str) for run in results.values()) else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the servers were stopped on the way out
        sys.exit("interrupted")
