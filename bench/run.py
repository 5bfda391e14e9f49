#!/usr/bin/env python3
"""Benchmark rcache against redis-server with redis-benchmark; write bench/RESULTS.md.

DESIGN.md makes redis-server the yardstick: absolute numbers depend on the machine, the
ratio rcache/redis-server measured in the same run on the same machine does not (much).
So every server in TARGETS runs the same redis-benchmark specs, interleaved spec by spec so
that a burst of machine noise hits all servers alike, and the issue's goals are ratios.

The default run compares one rcache node with redis-server. Heavier measurements are opt-in:
--cluster adds 3-node cluster targets (default reads and linearizable reads), --types runs
redis-benchmark's data-type tests (hashes, lists, sets, sorted sets) against redis-server, one
node and a 3-node cluster, --failover times the loss of the leader, --durability measures
fsync-always throughput, restart, snapshot install and RSS with a large data set; --all does
everything.

Usage: python bench/run.py [--quick] [--requests N] [--clients C] [--rounds R]
                           [--cluster] [--types] [--failover] [--durability] [--all] [--keys K]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import io
import os
import platform
import re
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
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
DEFAULT_KEYS = 1_000_000  # --durability: the large data set
QUICK_KEYS = 100_000
STARTUP_TIMEOUT_S = 30.0
CLUSTER_TIMEOUT_S = 60.0  # a cluster's members joining, or a restarted node catching up
STOP_TIMEOUT_S = 10.0
# A run slower than this is a stall, not a measurement: redis-benchmark is killed past it.
SLOWEST_PLAUSIBLE_OPS_PER_S = 1_000
# --types: redis-benchmark's own tests, each its own run, in redis-benchmark's own order (the
# one it uses when given them all in one -t), so that RPOP finds the list LPUSH filled and SPOP
# the set SADD filled; lrange_100 LPUSHes its own list first. Every test hits one key (mylist,
# myset, myhash, myzset); -r randomizes the SADD/HSET/ZADD members.
TYPE_TESTS = ("lpush", "rpop", "sadd", "hset", "spop", "zadd", "lrange_100")
TYPE_KEYS = {"mylist": "llen", "myset": "scard", "myhash": "hlen", "myzset": "zcard"}
# Requests per type test = --requests / this: seven tests on three servers keep --all under 10
# minutes.
TYPES_REQUESTS_DIVISOR = 10
TYPES_MIN_REQUESTS = 1_000
CLUSTER_SIZE = 3
FAILOVER_TRIALS = 5
FAILOVER_GIVE_UP_S = 30.0
FAILOVER_SOCKET_TIMEOUT_S = 0.25
FAILOVER_RETRY_PAUSE_S = 0.01
RESTART_TRIALS = 3
RESTART_GIVE_UP_S = 120.0
SNAPSHOT_INSTALL_GIVE_UP_S = 300.0
JOIN_SETTLE_S = 2.0  # a node that caught up must still be up this much later
# The large data set: redis-benchmark's key format (16 bytes) and value (-d 3), but every key
# distinct, so that "1M keys" is 1M keys (redis-benchmark -r 1000000 -n 1000000 leaves ~632k).
FILL_KEY_FORMAT = "key:{:012d}"
FILL_VALUE = "xxx"
# Sent in chunks, each its own `redis-cli --pipe`: one pipe of 1M SETs into a 3-node cluster
# lost its leader within seconds in every try on this machine, and then every later reply is
# MOVED; a chunk can be re-sent to the new leader instead.
FILL_CHUNK = 10_000
FILL_MAX_ATTEMPTS = 5
# Leaders holding the large data set compact their log often, so that a joining node is sent
# a snapshot, not the log: 1000 entries as the issue says, and 16 MiB, because a pipelined
# fill makes few, large entries (the whole data set can fit in a handful of them).
COMPACTING_ARGS = ("--raft-log-max-entries", "1000", "--raft-log-max-bytes", str(16 << 20))


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

    def ready_for_run(self) -> None:
        """Raise RuntimeError if a benchmark cannot run now (a process died, no leader):
        redis-benchmark against a refused port hangs instead of failing."""

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


def info_fields(port: int, section: str, timeout: float = 2.0) -> dict[str, str]:
    """`INFO section` as a dict ({} if the server did not answer in time)."""
    text = redis_cli(port, "info", section, timeout=timeout)
    return dict(line.split(":", 1) for line in text.splitlines()
                if ":" in line and not line.startswith("#"))


def int_field(fields: dict[str, str], name: str, default: int = -1) -> int:
    try:
        return int(fields[name])
    except (KeyError, ValueError):
        return default


def raft_term(port: int) -> int:
    """The Raft term a node reports (-1: none, e.g. redis-server)."""
    return int_field(info_fields(port, "raft"), "raft_term")


# Every server this run created, so that their logs can be read before the data dirs go.
ALL_SERVERS: list[ProcessServer] = []


class ProcessServer:
    """One server process, logging to a file, stopped with SIGTERM then SIGKILL.

    Ready means a write succeeds, not just PING: an rcache node answers PING before it has
    elected itself leader, and a benchmark started then would measure errors.
    `restart_argv` is how to start it again on its data (an rcache node drops --join).
    """

    def __init__(self, argv: list[str], port: int, log_path: Path,
                 env: dict[str, str] | None = None, cwd: Path | None = None,
                 restart_argv: list[str] | None = None, name: str = "") -> None:
        self.argv = argv
        self.restart_argv = restart_argv or argv
        self.port = port
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self.name = name or f"port {port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.launches = 0
        ALL_SERVERS.append(self)

    @property
    def pids(self) -> list[int]:
        return [self.process.pid] if self.alive else []

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def command(self) -> str:
        return shlex.join(self.argv)

    def launch(self) -> None:
        """Start the process, not waiting for anything (the log is appended to on restart)."""
        argv = self.argv if self.launches == 0 else self.restart_argv
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, env=self.env, cwd=self.cwd)
        self.launches += 1

    def start(self) -> None:
        self.launch()
        self.wait_writable(STARTUP_TIMEOUT_S)

    def wait_writable(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        probe_key = "rcache-bench:ready-probe"
        while True:
            self.check_running()
            if redis_cli(self.port, "set", probe_key, "1") == "OK":
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.command} not accepting SET after "
                                   f"{timeout:.0f}s:\n{self.log_tail()}")
            time.sleep(0.1)
        redis_cli(self.port, "del", probe_key)

    def check_running(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.exit_status()}\n"
                               f"{self.command}\nits log ends:\n{self.log_tail()}")

    def exit_status(self) -> str:
        code = self.process.returncode if self.process is not None else None
        if code is not None and code < 0:
            with contextlib.suppress(ValueError):
                return f"{code} ({signal.Signals(-code).name})"
        return str(code)

    def ready_for_run(self) -> None:
        self.check_running()

    def kill(self) -> None:
        """SIGKILL, not waiting: the caller times what happens next, then calls reap()."""
        if self.alive:
            assert self.process is not None
            os.kill(self.process.pid, signal.SIGKILL)

    def reap(self) -> None:
        if self.process is not None:
            self.process.wait(STOP_TIMEOUT_S)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            print(f"warning: {self.name} ignored SIGTERM for {STOP_TIMEOUT_S:.0f}s; killing",
                  file=sys.stderr)
            self.process.kill()
            self.process.wait(STOP_TIMEOUT_S)

    def log_tail(self, lines: int = 20) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def redis_server(workdir: Path, *extra: str) -> ProcessServer:
    """redis-server as the issue compares against: no RDB snapshots, no AOF."""
    port = free_port()
    argv = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
            "--appendonly", "no", "--dir", str(workdir), *extra]
    return ProcessServer(argv, port, workdir / "redis-server.log", name="redis-server")


def redis_server_aof_always(workdir: Path) -> ProcessServer:
    """redis-server that fsyncs its AOF before replying, as `appendfsync always` does."""
    return redis_server(workdir, "--appendonly", "yes", "--appendfsync", "always")


def rcache_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def rcache_single_node(workdir: Path, *extra: str) -> ProcessServer:
    """One rcache node, fresh data dir, default durability settings (what a user gets)."""
    port, raft_port = free_port(), free_port()
    argv = [sys.executable, "-m", "rcache", "--port", str(port), "--raft-port", str(raft_port),
            "--dir", str(workdir / "data"), *extra]
    return ProcessServer(argv, port, workdir / "rcache.log", env=rcache_env(), cwd=REPO,
                         name="rcache")


class RcacheCluster:
    """`size` rcache nodes on 127.0.0.1: n1 bootstraps, the others --join it.

    Ready (and healthy, after a failover) means: exactly one node leads, it counts `size`
    members, every node follows it and has applied what it had committed, and a SET on it
    succeeds. `port` is then the leader's client port.
    """

    def __init__(self, workdir: Path, size: int = CLUSTER_SIZE, extra: Sequence[str] = ()):
        self.workdir = workdir
        self.extra = list(extra)
        self.nodes: list[ProcessServer] = []
        for _ in range(size):
            self.add_node_server()
        self.port = self.nodes[0].port

    def add_node_server(self, join_port: int | None = None) -> ProcessServer:
        """A new member (not started): --join n1, or join_port."""
        number = len(self.nodes) + 1
        port, raft_port = free_port(), free_port()
        argv = [sys.executable, "-m", "rcache", "--id", f"n{number}", "--port", str(port),
                "--raft-port", str(raft_port), "--dir", str(self.workdir / f"n{number}"),
                *self.extra]
        join = join_port or (self.nodes[0].port if self.nodes else None)
        node = ProcessServer(argv + (["--join", f"127.0.0.1:{join}"] if join else []), port,
                             self.workdir / f"n{number}.log", env=rcache_env(), cwd=REPO,
                             restart_argv=argv, name=f"n{number}")
        self.nodes.append(node)
        return node

    @property
    def pids(self) -> list[int]:
        return [pid for node in self.nodes for pid in node.pids]

    @property
    def command(self) -> str:
        return "; ".join(node.command for node in self.nodes)

    def start(self) -> None:
        first, *others = self.nodes
        first.start()  # a node without --join bootstraps a one-node cluster and leads it
        for node in others:
            node.launch()
        self.wait_healthy(CLUSTER_TIMEOUT_S)

    def stop(self) -> None:
        for node in self.nodes:
            try:
                node.stop()
            except (OSError, subprocess.SubprocessError) as err:
                print(f"warning: stopping {node.name}: {err}", file=sys.stderr)

    def ready_for_run(self) -> None:
        self.wait_healthy(CLUSTER_TIMEOUT_S)  # also follows a leader that changed

    def node_by_port(self, port: int) -> ProcessServer:
        return next(node for node in self.nodes if node.port == port)

    def wait_healthy(self, timeout: float) -> ProcessServer:
        """Wait until the cluster is healthy (see the class); -> the leader."""
        deadline = time.monotonic() + timeout
        while True:
            for node in self.nodes:
                node.check_running()
            leader, problem = self.health()
            if leader is not None:
                self.port = leader.port
                return leader
            if time.monotonic() > deadline:
                raise RuntimeError(f"cluster not healthy after {timeout:.0f}s: {problem}")
            time.sleep(0.1)

    def health(self) -> tuple[ProcessServer | None, str]:
        infos = {node.name: info_fields(node.port, "raft") for node in self.nodes}
        silent = [name for name, fields in infos.items() if not fields]
        if silent:
            return None, f"no INFO raft from {', '.join(silent)}"
        leaders = [node for node in self.nodes if infos[node.name].get("raft_role") == "leader"]
        if len(leaders) != 1:
            return None, f"{len(leaders)} nodes say raft_role:leader"
        leader = leaders[0]
        fields = infos[leader.name]
        members = int_field(fields, "raft_num_nodes")
        if members != len(self.nodes):
            return None, f"leader {leader.name} has raft_num_nodes:{members}"
        commit = int_field(fields, "raft_commit_index")
        for node in self.nodes:
            other = infos[node.name]
            if other.get("raft_leader_id") != fields.get("raft_node_id"):
                return None, f"{node.name} has raft_leader_id:{other.get('raft_leader_id')}"
            if int_field(other, "raft_applied_index") < commit:
                return None, (f"{node.name} applied {other.get('raft_applied_index')} < "
                              f"leader's commit {commit}")
        if redis_cli(leader.port, "set", "rcache-bench:ready-probe", "1") != "OK":
            return None, f"SET on leader {leader.name} failed"
        redis_cli(leader.port, "del", "rcache-bench:ready-probe")
        return leader, ""


@dataclass(frozen=True)
class Target:
    """A column of the results: a server kind, started fresh in its own directory.

    `tests` limits which of a spec's tests run against it (None: all). A target that runs no
    SET is filled first, so that its GETs find keys as the others' do.
    """

    name: str
    start_server: Callable[[Path], ServerUnderTest]
    tests: tuple[str, ...] | None = None

    def spec_for(self, spec: BenchSpec) -> BenchSpec | None:
        if self.tests is None:
            return spec
        tests = tuple(test for test in spec.tests if test in self.tests)
        return dataclasses.replace(spec, tests=tests) if tests else None


# The first target is the baseline that every other target's ops/s is divided by.
TARGETS = [
    Target("redis-server", redis_server),
    Target("rcache", rcache_single_node),
]
# --cluster: redis-benchmark has no per-connection setup command, so linearizable reads get
# a cluster of their own whose nodes default to them.
CLUSTER_TARGETS = [
    Target("rcache-3", RcacheCluster),
    Target("rcache-3-linearizable",
           lambda workdir: RcacheCluster(workdir, extra=["--read-consistency", "linearizable"]),
           tests=("get",)),
]
# --types: the data-type tests against one node and a cluster (fresh servers, not those above).
TYPES_TARGETS = [
    Target("redis-server", redis_server),
    Target("rcache", rcache_single_node),
    Target("rcache-3", RcacheCluster),
]
# --durability: both fsync before replying.
DURABLE_TARGETS = [
    Target("redis-server-aof-always", redis_server_aof_always),
    Target("rcache-3-fsync-always",
           lambda workdir: RcacheCluster(workdir, extra=["--appendfsync", "always"])),
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

    def requests_sent(self) -> int:
        """lrange_N tests LPUSH `requests` elements first ("needed to benchmark LRANGE")."""
        return self.requests * sum(2 if test.startswith("lrange") else 1 for test in self.tests)

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


def types_specs(requests: int, clients: int) -> list[BenchSpec]:
    """One spec per data-type test, -P 1 only, in TYPE_TESTS order (see there)."""
    return [BenchSpec(clients=clients, pipeline=1, requests=requests, tests=(test,))
            for test in TYPE_TESTS]


def prefill_spec(clients: int) -> BenchSpec:
    """For a target that runs no SET: ~95% of the random keyspace, pipelined."""
    return BenchSpec(clients=clients, pipeline=16, requests=3 * RANDOM_KEYSPACE, tests=("set",))


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
    Goal("rcache-3", "SET", pipeline=1, min_ratio=0.5),
    Goal("rcache-3", "GET", pipeline=1, min_ratio=0.9),
    Goal("rcache-3-linearizable", "GET", pipeline=1, min_ratio=0.5),
]
# --types ("Redis data types on RocksDB"): writes >= 0.5x, reads >= 0.7x, at -P 1.
TYPES_GOALS = [Goal(target, test.upper(), pipeline=1,
                    min_ratio=0.7 if test.startswith("lrange") else 0.5)
               for target in ("rcache", "rcache-3") for test in TYPE_TESTS]
FAILOVER_GOAL_S = 1.5
RESTART_GOAL_S = 5.0
RSS_GOAL_X_DATA = 2.0


@dataclass(frozen=True)
class Measurement:
    ops_per_s: float
    p50_ms: float
    p99_ms: float


RunResult = dict[str, Measurement] | str  # per test (upper case), or why the run failed


def parse_csv(text: str) -> dict[str, Measurement]:
    """redis-benchmark 7 --csv: a header line, then one quoted row per test. Rows are keyed by
    the -t name in upper case: "LRANGE_100 (first 100 elements)" -> LRANGE_100; its list fill,
    "LPUSH (needed to benchmark LRANGE)", keeps its whole name (apart from a real LPUSH)."""
    return {re.sub(r" \(first \d+ elements\)$", "", row["test"]).upper():
            Measurement(float(row["rps"]), float(row["p50_latency_ms"]),
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


# --scripts: a script that reads and writes one random key, as a rate limiter or lock does.
SCRIPT = "redis.call('incr', KEYS[1]) return redis.call('get', KEYS[1])"


def run_scripts(requests: int, clients: int) -> int:
    """EVALSHA throughput, rcache's single node against redis-server, -P 1."""
    rates: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="rcache-bench-scripts-") as tmp_name:
        tmp = Path(tmp_name)
        for make in (redis_server, rcache_single_node):
            workdir = tmp / make.__name__
            workdir.mkdir()
            server = make(workdir)
            try:
                server.start()
                sha = redis_cli(server.port, "script", "load", SCRIPT)
                argv = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(server.port), "-c",
                        str(clients), "-n", str(requests), "-r", str(RANDOM_KEYSPACE), "--csv",
                        "EVALSHA", sha, "1", "key:__rand_int__"]
                done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
                row = done.stdout.strip().splitlines()[-1].split(",")
                rates[server.name] = float(row[1].strip('"'))
            finally:
                server.stop()
    ratio = rates["rcache"] / rates["redis-server"]
    print(f"EVALSHA (-c {clients}, -P 1, {requests:,} requests, load {load_now()}): "
          f"redis-server {rates['redis-server']:,.0f}/s, rcache {rates['rcache']:,.0f}/s, "
          f"ratio {ratio:.2f}")
    return 0


def run_benchmark(spec: BenchSpec, port: int) -> RunResult:
    """redis-benchmark exits non-zero on the first error reply, so a server that answers
    errors fails the run instead of posting a fast (and false) ops/s."""
    timeout = 30 + spec.requests_sent() / SLOWEST_PLAUSIBLE_OPS_PER_S
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


def read_proc_status_kib(pid: int, field_name: str) -> int:
    """A `field:  N kB` line of /proc/<pid>/status (VmRSS, VmHWM), in KiB; 0 if gone."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
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


def load_now() -> str:
    return " / ".join(f"{load:.2f}" for load in os.getloadavg())


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Phase 1: throughput, every target against the same specs


@dataclass(frozen=True)
class ServerFacts:
    """Measured after the last benchmark, before the server stops."""

    command: str
    rss_kib: list[int]  # one per process (node)
    peak_rss_kib: list[int]
    keys: str
    terms: str  # rcache: Raft term after start -> at the end; each election adds at least 1


def collect_facts(server: ServerUnderTest, term_at_start: int) -> ServerFacts:
    term = raft_term(server.port)
    return ServerFacts(
        command=server.command,
        rss_kib=[read_proc_status_kib(pid, "VmRSS") for pid in server.pids],
        peak_rss_kib=[read_proc_status_kib(pid, "VmHWM") for pid in server.pids],
        keys=redis_cli(server.port, "dbsize") or "no answer",
        terms=f"{term_at_start} -> {term}" if term_at_start >= 0 else "-")


@dataclass
class ThroughputRun:
    """The outcome of one set of targets against one list of specs."""

    targets: list[Target]
    specs: list[BenchSpec]
    rounds: int
    results: dict[tuple[BenchSpec, str], RunResult] = field(default_factory=dict)
    facts: dict[str, ServerFacts] = field(default_factory=dict)
    # --types: per target, per node, the length of each key the type tests write
    lengths: dict[str, list[tuple[str, dict[str, int]]]] = field(default_factory=dict)

    @property
    def baseline(self) -> str:
        return self.targets[0].name

    def writes_per_server(self) -> int:
        """rcache's memory grows with writes, not only with keys: say how many there were."""
        return self.rounds * sum(spec.requests for spec in self.specs if "set" in spec.tests)


def run_throughput(targets: list[Target], specs: list[BenchSpec], rounds: int, clients: int,
                   tmp: Path, problems: list[str], lengths: bool = False) -> ThroughputRun:
    """Start every target, run the specs round after round interleaved across targets, stop
    them all (also on failure). A target other than the baseline that cannot start is
    reported as failed; the baseline failing to start raises. `lengths`: also record the
    lengths of the type tests' keys on every node at the end."""
    run = ThroughputRun(targets, specs, rounds)
    runs: dict[tuple[BenchSpec, str], list[RunResult]] = {}
    with contextlib.ExitStack() as running:
        servers: dict[str, ServerUnderTest] = {}
        terms: dict[str, int] = {}
        for target in targets:
            workdir = tmp / target.name
            workdir.mkdir()
            server = target.start_server(workdir)
            running.callback(server.stop)  # registered first: a failed start still stops it
            try:
                server.start()
            except RuntimeError as err:
                if target is targets[0]:
                    raise RuntimeError(f"cannot start {target.name}: {err}") from err
                problems.append(f"{target.name} did not start: {err}")
                log(f"bench: cannot start {target.name}: {err}")
                for spec in specs:
                    runs[spec, target.name] = [f"did not start: {str(err).splitlines()[0]}"]
                continue
            servers[target.name] = server
            terms[target.name] = raft_term(server.port)
            log(f"started {target.name} on port {server.port}")
            if target.spec_for(BenchSpec(1, 1, 1, ("set",))) is None:
                fill = run_benchmark(prefill_spec(clients), server.port)
                if isinstance(fill, str):
                    problems.append(f"{target.name}: filling keys before GET-only runs "
                                    f"failed: {fill}")
        by_name = {target.name: target for target in targets}
        for round_number in range(1, rounds + 1):
            for spec in specs:
                for name, server in servers.items():
                    target_spec = by_name[name].spec_for(spec)
                    if target_spec is None:
                        continue
                    try:
                        server.ready_for_run()
                    except RuntimeError as err:
                        result: RunResult = f"not run: {str(err).splitlines()[0]}"
                        log(f"round {round_number}/{rounds}, {name}: {result}")
                        runs.setdefault((spec, name), []).append(result)
                        continue
                    log(f"round {round_number}/{rounds}, {name}: "
                        f"{shlex.join(target_spec.argv(server.port))}")
                    result = run_benchmark(target_spec, server.port)
                    runs.setdefault((spec, name), []).append(result)
                    if isinstance(result, str):
                        log(f"  FAILED: {result}")
        run.facts = {name: collect_facts(server, terms[name])
                     for name, server in servers.items()}
        if lengths:
            run.lengths = {name: type_lengths(server) for name, server in servers.items()}
    run.results = {key: median_of_rounds(rounds_run) for key, rounds_run in runs.items()}
    return run


def type_lengths(server: ServerUnderTest) -> list[tuple[str, dict[str, int]]]:
    """LLEN mylist, SCARD myset, ... on every node (a follower after READONLY): replicas that
    applied the same writes hold the same lengths. -> [(node, {key: length or -1})]."""
    with contextlib.suppress(RuntimeError):
        server.ready_for_run()  # a cluster: every node applied the leader's commit index
    if isinstance(server, RcacheCluster):
        nodes = [(f"{node.name} ({'leader' if node.port == server.port else 'follower'})",
                  node.port, node.port != server.port) for node in server.nodes]
    else:
        nodes = [("-", server.port, False)]
    found = []
    for label, port, follower in nodes:
        commands = "".join(f"{command.upper()} {key}\n" for key, command in TYPE_KEYS.items())
        try:
            done = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port)],
                                  input=("READONLY\n" if follower else "") + commands,
                                  capture_output=True, text=True, timeout=30)
            replies = done.stdout.split()[-len(TYPE_KEYS):]
        except subprocess.TimeoutExpired:
            replies = []
        numbers = [int(reply) if reply.lstrip("-").isdigit() else -1 for reply in replies]
        numbers += [-1] * (len(TYPE_KEYS) - len(numbers))
        found.append((label, dict(zip(TYPE_KEYS, numbers, strict=True))))
    return found


# ---------------------------------------------------------------------------------------------
# Phase 2: failover


@dataclass(frozen=True)
class FailoverTrial:
    seconds: float | None  # None: no write succeeded within FAILOVER_GIVE_UP_S
    killed: str
    new_leader: str
    attempts: int
    replies: str  # what the client saw before the write succeeded, e.g. "MOVED x3"
    earlier_write_readable: bool | None  # the SET acknowledged just before the kill
    rejoin_s: float | None  # restart of the killed node until the cluster is healthy again
    rejoin_error: str = ""  # why the cluster did not become healthy again


@dataclass
class FailoverRun:
    command: str = ""
    trials: list[FailoverTrial] = field(default_factory=list)
    error: str = ""

    def median_s(self) -> float | None:
        """Median over all trials, a trial that gave up counting as infinitely slow."""
        if not self.trials:
            return None
        value = statistics.median(t.seconds if t.seconds is not None else float("inf")
                                  for t in self.trials)
        return None if value == float("inf") else value


# redis-py turns these error replies into exception classes and drops the code from the text.
ERROR_CODES = {"TryAgainError": "TRYAGAIN", "ClusterDownError": "CLUSTERDOWN", "AskError": "ASK",
               "BusyLoadingError": "LOADING", "ReadOnlyError": "READONLY",
               "MasterDownError": "MASTERDOWN"}


def failover_trial(cluster: RcacheCluster, trial: int) -> FailoverTrial:
    """SIGKILL the leader; one client then writes, following MOVED or trying the next node
    on a refused/timed-out connection or an error reply, until a SET returns OK."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    leader = cluster.wait_healthy(CLUSTER_TIMEOUT_S)
    ports = [node.port for node in cluster.nodes]
    clients = {port: redis.Redis(host="127.0.0.1", port=port, retry=Retry(NoBackoff(), 0),
                                 socket_timeout=FAILOVER_SOCKET_TIMEOUT_S,
                                 socket_connect_timeout=FAILOVER_SOCKET_TIMEOUT_S)
               for port in ports}
    token = f"trial-{trial}-{time.time_ns()}"
    try:
        if not clients[leader.port].set("rcache-bench:failover:before", token):
            raise RuntimeError(f"SET on leader {leader.name} before the kill failed")
        replies: Counter[str] = Counter()
        target, attempts, seconds = leader.port, 0, None
        leader.kill()
        killed_at = time.monotonic()
        while time.monotonic() - killed_at < FAILOVER_GIVE_UP_S:
            attempts += 1
            try:
                if clients[target].set("rcache-bench:failover:after", token):
                    seconds = time.monotonic() - killed_at
                    break
                replies["nil reply"] += 1
            except redis.exceptions.MovedError as err:
                if err.port in clients:
                    replies["MOVED to the killed node" if err.port == leader.port
                            else "MOVED to a live node"] += 1
                    target = err.port
                    continue  # a redirect is followed at once
                replies[f"MOVED to unknown {err.host}:{err.port}"] += 1
                target = ports[(ports.index(target) + 1) % len(ports)]
            except redis.exceptions.ResponseError as err:
                code = ERROR_CODES.get(type(err).__name__)
                text = f"{code} {err}" if code else str(err)
                replies["-" + text[:90]] += 1
                target = ports[(ports.index(target) + 1) % len(ports)]
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as err:
                text = str(err).lower()
                what = ("connection refused" if "refused" in text else "connection reset"
                        if "reset" in text or "(104" in text else str(err)[:60])
                replies[f"{type(err).__name__} ({what})"] += 1
                target = ports[(ports.index(target) + 1) % len(ports)]
            time.sleep(FAILOVER_RETRY_PAUSE_S)
        readable = None
        if seconds is not None:
            with contextlib.suppress(redis.exceptions.RedisError):
                readable = clients[target].get("rcache-bench:failover:before") == token.encode()
        leader.reap()
        new_leader = cluster.node_by_port(target).name if seconds is not None else "-"
        log(f"failover trial {trial}: killed {leader.name}, "
            + (f"SET OK via {new_leader} after {seconds:.3f}s" if seconds is not None
               else f"no SET succeeded in {FAILOVER_GIVE_UP_S:.0f}s")
            + f" ({attempts} attempts: {dict(replies)})")
        restarted_at = time.monotonic()
        leader.launch()  # on its data dir, without --join
        rejoin_s: float | None = None
        rejoin_error = ""
        try:
            cluster.wait_healthy(CLUSTER_TIMEOUT_S)
            rejoin_s = time.monotonic() - restarted_at
        except RuntimeError as err:
            rejoin_error = f"after restarting {leader.name}: {err}"
        return FailoverTrial(
            seconds, leader.name, new_leader, attempts,
            "; ".join(f"{kind} x{count}" for kind, count in replies.most_common()) or "-",
            readable, rejoin_s, rejoin_error)
    finally:
        for client in clients.values():
            client.close()


def run_failover(tmp: Path, problems: list[str]) -> FailoverRun:
    workdir = tmp / "failover"
    workdir.mkdir()
    cluster = RcacheCluster(workdir)
    run = FailoverRun(command=cluster.command)
    try:
        cluster.start()
        log(f"failover: cluster up, leader on port {cluster.port}")
        # Some data, so that the log is not empty when leadership moves.
        fill = run_benchmark(BenchSpec(DEFAULT_CLIENTS, 16, 50_000, ("set",)), cluster.port)
        if isinstance(fill, str):
            problems.append(f"failover: filling the cluster failed: {fill}")
        for trial in range(1, FAILOVER_TRIALS + 1):
            result = failover_trial(cluster, trial)
            run.trials.append(result)
            if result.seconds is None:
                problems.append(f"failover trial {trial}: no SET succeeded within "
                                f"{FAILOVER_GIVE_UP_S:.0f}s of killing {result.killed} "
                                f"({result.replies})")
            if result.earlier_write_readable is False:
                problems.append(f"failover trial {trial}: the SET acknowledged just before "
                                f"the kill was not readable on the new leader")
            if result.rejoin_error:
                raise RuntimeError(result.rejoin_error)
    except (RuntimeError, OSError, subprocess.SubprocessError) as err:
        run.error = str(err)
        problems.append(f"failover aborted after {len(run.trials)} trial(s): {err}")
        log(f"bench: failover aborted: {err}")
    finally:
        cluster.stop()
    return run


# ---------------------------------------------------------------------------------------------
# Phase 3: durability with a large data set


def fill_chunks(keys: int) -> list[bytes]:
    """`keys` SETs of distinct keys as RESP, FILL_CHUNK commands per chunk."""
    value = FILL_VALUE.encode()
    return [b"".join(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n"
                     % (len(key), key, len(value), value)
                     for key in (FILL_KEY_FORMAT.format(i).encode()
                                 for i in range(start, min(keys, start + FILL_CHUNK))))
            for start in range(0, keys, FILL_CHUNK)]


@dataclass
class FillResult:
    target: str
    seconds: float = 0.0
    resent: int = 0  # chunks that got error replies and were sent again (to the new leader)
    errors: Counter[str] = field(default_factory=Counter)  # first error line of each failure
    terms: str = ""  # Raft term before -> after the fill (each election adds at least 1)


def fill(target: str, port: int, chunks: list[bytes],
         find_leader: Callable[[], int] | None = None) -> FillResult:
    """Send the chunks one after the other, each through its own `redis-cli --pipe`. A chunk
    that gets any error reply (a leader change: MOVED, CLUSTERDOWN, TRYAGAIN) is sent again in
    full (SETs are idempotent) to the leader `find_leader` then names, at most
    FILL_MAX_ATTEMPTS times. Raises if a chunk never goes through."""
    result = FillResult(target)
    term_before = raft_term(port) if find_leader else -1
    started = time.monotonic()
    for number, chunk in enumerate(chunks, 1):
        expected = chunk.count(b"*3\r\n$3\r\nSET")
        for attempt in range(1, FILL_MAX_ATTEMPTS + 1):
            try:
                done = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), "--pipe",
                                       "--pipe-timeout", "60"], input=chunk, capture_output=True,
                                      timeout=120)
                out = done.stdout.decode(errors="replace").strip().splitlines()
            except subprocess.TimeoutExpired:
                done, out = None, ["redis-cli --pipe timed out after 120 s"]
            if done is not None and done.returncode == 0 and \
                    f"errors: 0, replies: {expected}" in (out or [""])[-1]:
                break
            first_error = next((line for line in out if not line.startswith(
                ("All data transferred", "Waiting for the last", "Last reply", "errors:"))),
                (out or ["no output"])[-1])
            result.errors[" ".join(first_error.split()[:1] + first_error.split()[2:])[:80]] += 1
            if find_leader is None or attempt == FILL_MAX_ATTEMPTS:
                raise RuntimeError(f"{target}: fill chunk {number}/{len(chunks)} failed "
                                   f"{attempt} time(s); last: {first_error} "
                                   f"({(out or [''])[-1]})")
            result.resent += 1
            log(f"  {target}: chunk {number}/{len(chunks)} got errors ({first_error}); "
                "sending it again to the leader")
            port = find_leader()
    result.seconds = time.monotonic() - started
    if find_leader:
        result.terms = f"{term_before} -> {raft_term(port)}"
    return result


def data_bytes(keys: int) -> int:
    return keys * (len(FILL_KEY_FORMAT.format(0)) + len(FILL_VALUE))


@dataclass(frozen=True)
class RssRow:
    target: str
    node: str
    keys: int
    rss_kib: int
    peak_rss_kib: int
    judged: bool  # rcache nodes are judged against the goal, redis-server is a reference
    empty_kib: int = 0  # VmRSS of the same process before the fill (0: not measured)


@dataclass
class DurabilityRun:
    keys: int = 0
    throughput: ThroughputRun | None = None
    fills: list[FillResult] = field(default_factory=list)
    rss: list[RssRow] = field(default_factory=list)
    restart_s: list[float | None] = field(default_factory=list)
    restart_keys: str = ""
    restart_log: str = ""  # raft_log_* and raft_snapshot_* of the node before the kill
    install_s: float | None = None
    install_facts: str = ""
    commands: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def restart_median(self) -> float | None:
        if not self.restart_s:
            return None
        value = statistics.median(s if s is not None else float("inf") for s in self.restart_s)
        return None if value == float("inf") else value


def rss_row(target: str, node: str, pid: int, keys: int, judged: bool,
            empty_kib: int = 0) -> RssRow:
    return RssRow(target, node, keys, read_proc_status_kib(pid, "VmRSS"),
                  read_proc_status_kib(pid, "VmHWM"), judged, empty_kib)


def dbsize(port: int, follower: bool = False) -> int:
    """DBSIZE (-1 if no number came back); a follower's own count after READONLY (it would
    answer MOVED otherwise)."""
    commands = "READONLY\nDBSIZE\n" if follower else "DBSIZE\n"
    try:
        done = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port)], input=commands,
                              capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return -1
    replies = done.stdout.split()
    try:
        return int(replies[-1])
    except (IndexError, ValueError):
        return -1


def measure_restart(server: ProcessServer, keys: int) -> float | None:
    """SIGKILL a lone node, start it again, time until a GET of the last key filled returns
    its value. None if that takes longer than RESTART_GIVE_UP_S."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    key = FILL_KEY_FORMAT.format(keys - 1)
    client = redis.Redis(host="127.0.0.1", port=server.port, retry=Retry(NoBackoff(), 0),
                         socket_timeout=1, socket_connect_timeout=1)
    try:
        server.kill()
        server.reap()
        started = time.monotonic()
        server.launch()
        while time.monotonic() - started < RESTART_GIVE_UP_S:
            server.check_running()
            with contextlib.suppress(redis.exceptions.RedisError):
                if client.get(key) == FILL_VALUE.encode():
                    return time.monotonic() - started
            time.sleep(0.02)
        return None
    finally:
        client.close()


def wait_joined(leader: ProcessServer, joiner: ProcessServer) -> tuple[float | None, str]:
    """Start `joiner` (--join the leader); time until its INFO raft raft_applied_index reaches
    the leader's raft_commit_index, then check that it is still up JOIN_SETTLE_S later.
    -> (seconds or None, what went wrong)."""
    started = time.monotonic()
    joiner.launch()
    seconds: float | None = None
    while time.monotonic() - started < SNAPSHOT_INSTALL_GIVE_UP_S:
        if not joiner.alive:
            break
        commit = int_field(info_fields(leader.port, "raft"), "raft_commit_index")
        applied = int_field(info_fields(joiner.port, "raft"), "raft_applied_index")
        if commit > 0 and applied >= commit:
            seconds = time.monotonic() - started
            time.sleep(JOIN_SETTLE_S)
            break
        time.sleep(0.05)
    if joiner.alive and seconds is not None:
        return seconds, ""
    assert joiner.process is not None
    if joiner.alive:
        return None, f"{joiner.name} had not caught up after {SNAPSHOT_INSTALL_GIVE_UP_S:.0f} s"
    lines = [line for line in joiner.log_tail(200).splitlines()
             if " WARNING " in line or " CRITICAL " in line or " ERROR " in line]
    return None, (f"{joiner.name} exited with code {joiner.process.returncode} "
                  + (f"{JOIN_SETTLE_S:.0f} s after reaching the leader's commit index "
                     f"({seconds:.3f} s after it was started)" if seconds is not None else
                     f"about {time.monotonic() - started:.1f} s after it was started, before "
                     "reaching the leader's commit index")
                  + "; its log: " + " / ".join(line[11:] for line in lines[:6]))


def persistence_summary(port: int) -> str:
    fields = info_fields(port, "persistence", timeout=5)
    names = ["raft_log_entries", "raft_log_bytes", "raft_applied_index", "raft_snapshot_index",
             "raft_snapshot_bytes", "raft_snapshot_last_duration_ms",
             "raft_snapshot_longest_pause_ms"]
    return ", ".join(f"{name}:{fields.get(name, '?')}" for name in names)


def run_durability(specs: list[BenchSpec], rounds: int, clients: int, keys: int, tmp: Path,
                   problems: list[str]) -> DurabilityRun:
    run = DurabilityRun(keys=keys)
    durable_dir = tmp / "durable"
    durable_dir.mkdir()
    try:
        run.throughput = run_throughput(DURABLE_TARGETS, specs, rounds, clients, durable_dir,
                                        problems)
    except RuntimeError as err:
        run.errors.append(f"fsync-always throughput: {err}")
    data_dir = tmp / "dataset"
    data_dir.mkdir()
    chunks = fill_chunks(keys)
    for step in (_dataset_redis_server, _dataset_single_node, _dataset_cluster):
        try:
            step(run, data_dir, chunks, keys)
        except (RuntimeError, OSError, subprocess.SubprocessError) as err:
            run.errors.append(f"{step.__name__.strip('_').replace('_', ' ')}: {err}")
            log(f"bench: {step.__name__} failed: {err}")
    problems.extend(f"durability, {error}" for error in run.errors)
    return run


def _dataset_redis_server(run: DurabilityRun, data_dir: Path, chunks: list[bytes],
                          keys: int) -> None:
    """The reference: what redis-server's RSS is with the same data."""
    workdir = data_dir / "redis-server"
    workdir.mkdir()
    server = redis_server(workdir)
    run.commands["redis-server (data set)"] = server.command
    try:
        server.start()
        assert server.process is not None
        empty = read_proc_status_kib(server.process.pid, "VmRSS")
        run.fills.append(fill("redis-server", server.port, chunks))
        run.rss.append(rss_row("redis-server", "-", server.process.pid, dbsize(server.port),
                               judged=False, empty_kib=empty))
    finally:
        server.stop()


def _dataset_single_node(run: DurabilityRun, data_dir: Path, chunks: list[bytes],
                         keys: int) -> None:
    """One node takes the fill, then is SIGKILLed and restarted RESTART_TRIALS times."""
    workdir = data_dir / "rcache"
    workdir.mkdir()
    server = rcache_single_node(workdir, *COMPACTING_ARGS)
    run.commands["rcache (data set, restarts)"] = server.command
    try:
        server.start()
        assert server.process is not None
        empty = read_proc_status_kib(server.process.pid, "VmRSS")
        log(f"durability: filling one rcache node with {keys:,} keys")
        run.fills.append(fill("rcache", server.port, chunks))
        run.rss.append(rss_row("rcache", "single node", server.process.pid, dbsize(server.port),
                               judged=True, empty_kib=empty))
        run.restart_log = persistence_summary(server.port)
        for trial in range(1, RESTART_TRIALS + 1):
            seconds = measure_restart(server, keys)
            run.restart_s.append(seconds)
            log(f"durability: restart {trial}: "
                + (f"GET answered after {seconds:.3f}s" if seconds is not None else "gave up"))
        run.restart_keys = str(dbsize(server.port))
    finally:
        server.stop()


def _dataset_cluster(run: DurabilityRun, data_dir: Path, chunks: list[bytes],
                     keys: int) -> None:
    """A 3-node cluster takes the fill (RSS per node), then a 4th node joins it."""
    workdir = data_dir / "rcache-3"
    workdir.mkdir()
    cluster = RcacheCluster(workdir, extra=COMPACTING_ARGS)
    try:
        cluster.start()
        empty = {node.name: read_proc_status_kib(node.pids[0], "VmRSS") for node in cluster.nodes}
        log(f"durability: filling a 3-node cluster with {keys:,} keys")
        run.fills.append(fill("rcache-3", cluster.port, chunks,
                              find_leader=lambda: cluster.wait_healthy(CLUSTER_TIMEOUT_S).port))
        leader = cluster.wait_healthy(CLUSTER_TIMEOUT_S)  # the followers have applied it all
        for node in cluster.nodes:
            role = "leader" if node is leader else "follower"
            run.rss.append(rss_row("rcache-3", f"{node.name} ({role})", node.pids[0],
                                   dbsize(node.port, follower=node is not leader), judged=True,
                                   empty_kib=empty.get(node.name, 0)))
        before = persistence_summary(leader.port)
        joiner = cluster.add_node_server(join_port=leader.port)
        log(f"durability: {joiner.name} joins; leader {leader.name}: {before}")
        run.install_s, failure = wait_joined(leader, joiner)
        joiner_keys = dbsize(joiner.port, follower=True) if joiner.alive else -1
        members = info_fields(leader.port, "raft").get("raft_num_nodes", "?")
        run.install_facts = (f"Leader {leader.name} before the join: {before}. "
                             + (f"{joiner.name} afterwards: DBSIZE {joiner_keys:,}, INFO raft "
                                "raft_applied_index:" + info_fields(joiner.port, "raft").get(
                                    "raft_applied_index", "?") + ", INFO persistence "
                                f"{persistence_summary(joiner.port)}. " if joiner.alive else "")
                             + f"Leader's raft_num_nodes afterwards: {members}.")
        if failure:
            run.errors.append(f"snapshot install: {failure}")
            run.install_facts += f" FAILED: {failure}"
        if joiner.alive:
            run.rss.append(rss_row("rcache-3", f"{joiner.name} (joined)", joiner.pids[0],
                                   joiner_keys, judged=True))
    finally:
        run.commands["rcache-3 (data set, join)"] = cluster.command
        cluster.stop()


# ---------------------------------------------------------------------------------------------
# Report


def _fmt_ops(value: float) -> str:
    return f"{value:,.0f}"


def _fmt_ms(value: float) -> str:
    return f"{value:.3f}"


def _fmt_s(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def results_table(run: ThroughputRun) -> list[str]:
    """One row per test and target; ratios against the run's baseline (its first target)."""
    baseline = run.baseline
    lines = [f"| test | pipeline | clients | target | ops/s | ratio to {baseline} | p50 ms | "
             "p99 ms |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for spec in run.specs:
        base_run = run.results.get((spec, baseline))
        for test in (test.upper() for test in spec.tests):
            base = base_run.get(test) if isinstance(base_run, dict) else None
            for target in run.targets:
                target_spec = target.spec_for(spec)
                if target_spec is None or test.lower() not in target_spec.tests:
                    continue
                result = run.results.get((spec, target.name))
                got = result.get(test) if isinstance(result, dict) else None
                cells = [test, str(spec.pipeline), str(spec.clients), target.name]
                if got is None:
                    cells += ["failed", "-", "-", "-"]
                else:
                    cells += [_fmt_ops(got.ops_per_s),
                              f"{got.ops_per_s / base.ops_per_s:.2f}" if base else "-",
                              _fmt_ms(got.p50_ms), _fmt_ms(got.p99_ms)]
                lines.append("| " + " | ".join(cells) + " |")
    return lines


GOAL_HEADER = ["| target | test | pipeline | clients | goal | measured | status |",
               "| --- | --- | --- | --- | --- | --- | --- |"]


def goal_rows(run: ThroughputRun, goals: Sequence[Goal] = tuple(GOALS)) -> list[str]:
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
    if len(run.trials) < FAILOVER_TRIALS:
        measured += f" ({len(run.trials)} of {FAILOVER_TRIALS} trials)"
    return [f"| rcache-3 | failover: SIGKILL leader -> next SET OK, median of {FAILOVER_TRIALS} "
            f"| 1 | 1 | <= {FAILOVER_GOAL_S} s | {measured} | "
            f"{_status(median, FAILOVER_GOAL_S)} |"]


def durability_goal_rows(run: DurabilityRun) -> list[str]:
    median = run.restart_median()
    lines = [f"| rcache | restart with {run.keys:,} keys: SIGKILL, start -> GET OK, median of "
             f"{len(run.restart_s)} | - | 1 | <= {RESTART_GOAL_S} s | {_fmt_s(median)} s | "
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


def facts_table(facts: dict[str, ServerFacts]) -> list[str]:
    lines = ["| target | RSS MiB (VmRSS) | per node | peak RSS MiB (VmHWM) | keys (DBSIZE) | "
             "Raft term start -> end |", "| --- | --- | --- | --- | --- | --- |"]
    for name, fact in facts.items():
        per_node = " / ".join(f"{kib / 1024:.1f}" for kib in fact.rss_kib)
        lines.append(f"| {name} | {sum(fact.rss_kib) / 1024:.1f} | "
                     f"{per_node if len(fact.rss_kib) > 1 else '-'} | "
                     f"{sum(fact.peak_rss_kib) / 1024:.1f} | {fact.keys} | {fact.terms} |")
    return lines


def failover_section(run: FailoverRun) -> list[str]:
    lines = [
        "## Failover",
        "",
        f"A fresh 3-node cluster (default options, 50,000 SETs first). {FAILOVER_TRIALS} trials; "
        "in each, the leader is SIGKILLed and one redis-py client (retries disabled, "
        f"{FAILOVER_SOCKET_TIMEOUT_S * 1000:.0f} ms socket and connect timeouts) writes until a "
        "SET returns OK: it starts at the old leader, follows MOVED at once, and on a refused "
        "or timed-out connection or another error reply moves to the next node after "
        f"{FAILOVER_RETRY_PAUSE_S * 1000:.0f} ms. Time: time.monotonic() from the kill to the "
        f"OK; a trial gives up after {FAILOVER_GIVE_UP_S:.0f} s. The killed node is then "
        "restarted on its data (no --join) and the next trial waits until the cluster is "
        "healthy (one leader, 3 members, every node applied the leader's commit index, a SET "
        "succeeds). The SET acknowledged just before the kill is read back from the new "
        "leader.",
        "",
    ]
    if run.trials:
        median = run.median_s()
        seconds = [t.seconds for t in run.trials if t.seconds is not None]
        lines += [f"Median {_fmt_s(median)} s; min {_fmt_s(min(seconds) if seconds else None)} "
                  f"s, max {_fmt_s(max(seconds) if seconds else None)} s.", "",
                  "| trial | killed | SET OK via | seconds to SET OK | attempts | replies before "
                  "the OK | write before the kill readable | killed node back, cluster healthy "
                  "after s |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for number, trial in enumerate(run.trials, 1):
            readable = {True: "yes", False: "NO", None: "-"}[trial.earlier_write_readable]
            lines.append(f"| {number} | {trial.killed} | {trial.new_leader} | "
                         f"{_fmt_s(trial.seconds)} | {trial.attempts} | {trial.replies} | "
                         f"{readable} | {_fmt_s(trial.rejoin_s)} |")
        lines.append("")
    if run.error:
        lines += [f"Aborted: {run.error.splitlines()[0]}", ""]
    lines += [f"Cluster: `{run.command}`", ""]
    return lines


def durability_section(run: DurabilityRun) -> list[str]:
    lines = ["## Durability", ""]
    if run.throughput is not None:
        tp = run.throughput
        lines += [
            "### Throughput when every write is fsynced before the reply",
            "",
            "rcache-3-fsync-always: the 3-node cluster with `--appendfsync always` on every "
            "node; redis-server-aof-always: `--appendonly yes --appendfsync always`. "
            + "; ".join(f"`redis-benchmark -t {','.join(spec.tests)} -c {spec.clients} -P "
                        f"{spec.pipeline} -n {spec.requests} -r {RANDOM_KEYSPACE}`"
                        for spec in tp.specs)
            + f", median of {tp.rounds} round(s), interleaved.",
            "",
            *results_table(tp),
            "",
            *facts_table(tp.facts),
            "",
        ]
    size_mib = data_bytes(run.keys) / 2**20
    key_len, value_len = len(FILL_KEY_FORMAT.format(0)), len(FILL_VALUE)
    lines += [
        f"### A data set of {run.keys:,} keys",
        "",
        f"{run.keys:,} SETs of distinct keys (`{FILL_KEY_FORMAT.format(0)}`..., {key_len} "
        f"bytes, redis-benchmark's key format; value `{FILL_VALUE}`, {value_len} bytes, "
        "redis-benchmark's default), sent with `redis-cli --pipe` rather than redis-benchmark, "
        f"whose random keys would leave ~63% distinct. Data size = keys x ({key_len} + "
        f"{value_len}) bytes = {size_mib:.1f} MiB. rcache nodes here run with "
        f"`{' '.join(COMPACTING_ARGS)}` so that the log is compacted into snapshots.",
        "",
        f"The SETs go in chunks of {FILL_CHUNK:,}, each through its own `redis-cli --pipe`; "
        "a chunk that gets any error reply (a leader change) is sent again, whole, to the "
        "leader found then. (One single pipe of all the SETs into the 3-node cluster lost "
        "its leader within seconds in each try while this harness was written.)",
        "",
        "| target | fill s | SETs/s | chunks re-sent | errors that made a chunk fail | Raft term "
        "before -> after |",
        "| --- | --- | --- | --- | --- | --- |",
        *(f"| {f.target} | {f.seconds:.1f} | {run.keys / f.seconds:,.0f} | {f.resent} | "
          + ("; ".join(f"{e} x{n}" for e, n in f.errors.most_common()) or "-")
          + f" | {f.terms or '-'} |" for f in run.fills if f.seconds > 0),
        "",
        "| target | node | keys (DBSIZE) | RSS MiB (VmRSS) | peak RSS MiB (VmHWM) | "
        "RSS / data size | RSS before the fill, MiB | (RSS - before) / data size |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in run.rss:
        size = data_bytes(row.keys) if row.keys > 0 else 0
        ratio = f"{row.rss_kib * 1024 / size:.1f}x" if size else "-"
        growth = (f"{(row.rss_kib - row.empty_kib) * 1024 / size:.1f}x"
                  if size and row.empty_kib else "-")
        before = f"{row.empty_kib / 1024:.1f}" if row.empty_kib else "-"
        lines.append(f"| {row.target} | {row.node} | {row.keys:,} | {row.rss_kib / 1024:.1f} | "
                     f"{row.peak_rss_kib / 1024:.1f} | {ratio} | {before} | {growth} |")
    restarts = ", ".join(_fmt_s(s) for s in run.restart_s)
    lines += [
        "",
        f"**Restart** (one node holding the data set; SIGKILL, start again on the same data, "
        f"time until `GET {FILL_KEY_FORMAT.format(run.keys - 1)}` returns its value): "
        f"median {_fmt_s(run.restart_median())} s over {len(run.restart_s)} restarts "
        f"({restarts} s); DBSIZE after the last restart: {run.restart_keys or '-'}. Before the "
        f"first kill: {run.restart_log or '-'}.",
        "",
        "**Snapshot install** (a 4th node started with `--join` the leader of the 3-node "
        "cluster holding the data set; time from starting it until its `INFO raft` "
        "raft_applied_index >= the leader's raft_commit_index): "
        f"{_fmt_s(run.install_s)} s. {run.install_facts}",
        "",
    ]
    if run.errors:
        lines += ["Errors:", "", *(f"- {error.splitlines()[0]}" for error in run.errors), ""]
    lines += ["Servers:", "", *(f"- {name}: `{command}`" for name, command in run.commands.items()),
              ""]
    return lines


LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING")


@dataclass(frozen=True)
class LogFinding:
    log: str  # the log file, relative to the run's temporary directory
    level: str  # CRITICAL, ERROR, WARNING, or TRACEBACK (an uncaught exception printed)
    count: int
    message: str  # numbers replaced by N, so that repeats count together


def scan_logs(tmp: Path) -> list[LogFinding]:
    """rcache's log lines at WARNING and above, and tracebacks, from every rcache process."""
    findings = []
    for server in ALL_SERVERS:
        if "redis-server" in server.name or not server.log_path.exists():
            continue
        counts: Counter[tuple[str, str]] = Counter()
        in_traceback = False
        for line in server.log_path.read_text(errors="replace").splitlines():
            if line.startswith("Traceback (most recent call last)"):
                in_traceback = True
                continue
            if in_traceback:
                if line.startswith((" ", "\t")) or not line.strip():
                    continue
                in_traceback = False
                counts["TRACEBACK", re.sub(r"\d+", "N", line.strip())[:160]] += 1
                continue
            level = next((name for name in LOG_LEVELS if f" {name} " in line), None)
            if level is not None:
                message = line.split(f" {level} ", 1)[1].strip()
                counts[level, re.sub(r"\d+", "N", message)[:160]] += 1
        label = server.log_path.name
        with contextlib.suppress(ValueError):
            label = str(server.log_path.relative_to(tmp))
        findings += [LogFinding(label, level, count, message)
                     for (level, message), count in counts.most_common()]
    return findings


def log_section(findings: list[LogFinding]) -> list[str]:
    lines = ["## rcache log lines at WARNING and above", "",
             "From every rcache process of the run (numbers replaced by N). Some are expected "
             "where nodes are killed on purpose (failover/ and dataset/rcache/).", ""]
    if not findings:
        return lines + ["None.", ""]
    lines += ["| log | level | count | message |", "| --- | --- | --- | --- |"]
    lines += [f"| {f.log} | {f.level} | {f.count} | {f.message.replace('|', '/')} |"
              for f in findings]
    return lines + [""]


@dataclass
class Report:
    command: str
    machine: list[str]
    elapsed_s: float
    main: ThroughputRun
    failover: FailoverRun | None
    durability: DurabilityRun | None
    problems: list[str]
    scaled: list[str]  # how counts were scaled down from the defaults, said in the report
    log_findings: list[LogFinding] = field(default_factory=list)
    revision: str = ""  # source_revision() when the run started
    types: ThroughputRun | None = None


def types_section(run: ThroughputRun) -> list[str]:
    requests = run.specs[0].requests if run.specs else 0
    distinct = RANDOM_KEYSPACE * (1 - (1 - 1 / RANDOM_KEYSPACE) ** requests)
    lines = [
        "## Redis data types",
        "",
        f"redis-benchmark's own tests `-t {','.join(TYPE_TESTS)}`, `-c "
        f"{run.specs[0].clients if run.specs else '-'} -P 1 -n {requests:,} -r "
        f"{RANDOM_KEYSPACE}`, each test its own redis-benchmark run, in the order redis-benchmark "
        "itself runs them; median of "
        f"{run.rounds} round(s), each test interleaved across the servers. Fresh servers "
        "(not those of the table above): redis-server, one rcache node, and a 3-node rcache "
        "cluster loaded through its leader. What the tests send (redis-benchmark 7.0, one key "
        "each): LPUSH mylist xxx; RPOP mylist (pops the list LPUSH filled in the same round); "
        "SADD myset element:R; HSET myhash element:R xxx; SPOP myset; ZADD myzset R element:R "
        f"(R random in [0, {RANDOM_KEYSPACE})); LRANGE_100 is LRANGE mylist 0 99, after "
        f"redis-benchmark's own {requests:,} LPUSHes (\"needed to benchmark LRANGE\", not "
        f"in the table). Each round's SADDs leave ~{distinct:,.0f} distinct members, so the "
        f"last ~{max(0, requests - distinct):,.0f} SPOPs of the round find the set empty (nil "
        "reply), on every server alike; the list grows by "
        f"{requests:,} per round (LRANGE's fill).",
        "",
        *results_table(run),
        "",
        "Lengths of the keys at the end (every node of the cluster; a follower read after "
        f"READONLY). LLEN mylist should be {run.rounds * requests:,} everywhere; the others are "
        "random counts of distinct members, alike on the nodes of one cluster.",
        "",
        "| target | node | " + " | ".join(f"{command.upper()} {key}"
                                       for key, command in TYPE_KEYS.items()) + " |",
        "| --- | --- | " + " | ".join("---" for _ in TYPE_KEYS) + " |",
    ]
    for name, nodes in run.lengths.items():
        for node, lengths in nodes:
            lines.append(f"| {name} | {node} | " + " | ".join(
                f"{lengths[key]:,}" if lengths[key] >= 0 else "no answer" for key in TYPE_KEYS)
                + " |")
    lines += [
        "",
        *facts_table(run.facts),
        "",
        "Servers:",
        "",
        *(f"- {name}: `{fact.command}`" for name, fact in run.facts.items()),
        "",
    ]
    return lines


def render_results(report: Report) -> str:
    main = report.main
    failures = [f"- {name}, -c {spec.clients} -P {spec.pipeline}: {result}"
                for (spec, name), result in main.results.items() if isinstance(result, str)]
    if report.types is not None:
        failures += [f"- types, {name}, {', '.join(spec.tests)} -c {spec.clients} -P "
                     f"{spec.pipeline}: {result}"
                     for (spec, name), result in report.types.results.items()
                     if isinstance(result, str)]
    if report.durability and report.durability.throughput:
        failures += [f"- {name}, -c {spec.clients} -P {spec.pipeline}: {result}"
                     for (spec, name), result in report.durability.throughput.results.items()
                     if isinstance(result, str)]
    goal_lines = goal_rows(main)
    if report.types is not None:
        goal_lines += goal_rows(report.types, TYPES_GOALS)
    if report.failover is not None:
        goal_lines += failover_goal_rows(report.failover)
    if report.durability is not None:
        goal_lines += durability_goal_rows(report.durability)
    sections = [
        "# rcache benchmark results",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M UTC} in {report.elapsed_s:.0f} s, "
        f"rcache at {report.revision}"
        + ("" if report.revision == source_revision() else
           f" (at the end of the run: {source_revision()}; servers started later ran that)")
        + ". Reproduce from the repository root with:",
        "",
        "```",
        report.command,
        "```",
        "",
        *(line for note in report.scaled for line in (note, "")),
        "## Machine",
        "",
        *(f"- {line}" for line in report.machine),
        "",
        "## Throughput and latency",
        "",
        f"redis-benchmark, random keys (-r {RANDOM_KEYSPACE}), 3-byte values, loopback. "
        f"Each number is the median of {main.rounds} round(s); in a round every spec runs once "
        "against every server, interleaved. Latencies are redis-benchmark's, per request."
        + (" Cluster targets (rcache-3*) are 3 rcache nodes on this machine, loaded through "
           "the leader; rcache-3-linearizable runs with `--read-consistency linearizable` on "
           "every node and is measured on GET only (its keys are filled first with "
           f"{prefill_spec(0).requests:,} pipelined SETs)."
           if any(t.name.startswith("rcache-3") for t in main.targets) else ""),
        "",
        *results_table(main),
        "",
        "## Targets from the issue",
        "",
        *GOAL_HEADER,
        *goal_lines,
        "",
        "## Memory and keys after the run",
        "",
        f"After {main.writes_per_server():,} SETs over {RANDOM_KEYSPACE:,} random keys "
        "(rcache-3-linearizable: after its fill only).",
        "",
        *facts_table(main.facts),
        "",
        "## Servers",
        "",
        *(f"- {name}: `{fact.command}`" for name, fact in main.facts.items()),
        "",
    ]
    if report.types is not None:
        sections += types_section(report.types)
    if report.failover is not None:
        sections += failover_section(report.failover)
    if report.durability is not None:
        sections += durability_section(report.durability)
    sections += log_section(report.log_findings)
    if failures:
        sections += ["## Failed runs", "", *failures, ""]
    if report.problems:
        sections += ["## Problems seen during the run", "",
                     *(f"- {problem.splitlines()[0]}" for problem in report.problems), ""]
    return "\n".join(sections)


# ---------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark rcache against redis-server; writes bench/RESULTS.md.")
    parser.add_argument("--quick", action="store_true",
                        help=f"short run ({QUICK_REQUESTS} requests, {QUICK_KEYS} keys) to check "
                             "that it works")
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
                        help=f"time leader loss in a 3-node cluster ({FAILOVER_TRIALS} trials)")
    parser.add_argument("--durability", action="store_true",
                        help="fsync-always throughput; restart, snapshot install and RSS with "
                             "a large data set")
    parser.add_argument("--scripts", action="store_true",
                        help="only this: EVALSHA of a small script, rcache against "
                             "redis-server, printed (not written to RESULTS.md)")
    parser.add_argument("--all", action="store_true",
                        help="--cluster --types --failover --durability")
    parser.add_argument("--keys", type=int, metavar="K",
                        help=f"size of the --durability data set (default {DEFAULT_KEYS:,}; "
                             f"{QUICK_KEYS:,} with --quick)")
    args = parser.parse_args(argv)
    if args.all:
        args.cluster = args.types = args.failover = args.durability = True
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


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    args = parse_args(argv)
    requests = args.requests or (QUICK_REQUESTS if args.quick else DEFAULT_REQUESTS)
    rounds = args.rounds or (1 if args.quick else DEFAULT_ROUNDS)
    keys = args.keys or (QUICK_KEYS if args.quick else DEFAULT_KEYS)
    specs = bench_specs(requests, args.clients)
    scaled = []
    if args.cluster and not args.requests and not args.quick:
        # Three 3-node clusters' worth of runs on 2 cores: keep --all within ~10 minutes.
        specs = [dataclasses.replace(spec, requests=spec.requests // 2) for spec in specs]
        scaled.append(f"Scaled down for time: with --cluster the request counts of the "
                      f"throughput table are halved ({requests // 2:,} per unpipelined test, "
                      f"{requests * 5 // 2:,} with -P 16, {max(1_000, requests // 5) // 2:,} "
                      "with -c 1); pass --requests to choose them.")
    if args.scripts:
        return run_scripts(requests, args.clients)
    targets = TARGETS + (CLUSTER_TARGETS if args.cluster else [])
    problems: list[str] = []
    started, load_before, revision = time.monotonic(), os.getloadavg(), source_revision()
    failover: FailoverRun | None = None
    durability: DurabilityRun | None = None
    types: ThroughputRun | None = None
    with tempfile.TemporaryDirectory(prefix="rcache-bench-") as tmp_name:
        tmp = Path(tmp_name)
        try:
            with phase("throughput"):
                main_run = run_throughput(targets, specs, rounds, args.clients, tmp, problems)
        except RuntimeError as err:
            log(f"bench: {err}")
            return 2
        if args.types:
            types_requests = max(TYPES_MIN_REQUESTS, requests // TYPES_REQUESTS_DIVISOR)
            (tmp / "types").mkdir()
            try:
                with phase("types"):
                    types = run_throughput(TYPES_TARGETS,
                                           types_specs(types_requests, args.clients), rounds,
                                           args.clients, tmp / "types", problems, lengths=True)
            except RuntimeError as err:
                problems.append(f"types: {err}")
                log(f"bench: types: {err}")
        if args.failover:
            with phase("failover"):
                failover = run_failover(tmp, problems)
        if args.durability:
            durable_specs = [BenchSpec(args.clients, 1, requests, ("set",))]
            with phase("durability"):
                durability = run_durability(durable_specs, rounds, args.clients, keys, tmp,
                                            problems)
        findings = scan_logs(tmp)
    serious: Counter[str] = Counter()
    for finding in findings:
        if finding.level in ("CRITICAL", "ERROR", "TRACEBACK"):
            serious[f"{finding.level} {finding.message}"] += finding.count
    problems += [f"rcache logged {count}x: {what}" for what, count in serious.most_common()]
    elapsed_s = time.monotonic() - started
    report = Report(shlex.join(["python", "bench/run.py", *argv]),
                    machine_description(load_before), elapsed_s, main_run, failover, durability,
                    problems, scaled, findings, revision, types)
    text = render_results(report)
    RESULTS_PATH.write_text(text)
    print(text)
    log(f"written to {RESULTS_PATH.relative_to(REPO)}")
    failed = any(isinstance(result, str) for result in main_run.results.values())
    if types is not None:
        failed |= any(isinstance(result, str) for result in types.results.values())
    if durability is not None and durability.throughput is not None:
        failed |= any(isinstance(r, str) for r in durability.throughput.results.values())
    failed |= bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the servers were stopped on the way out
        sys.exit("interrupted")
