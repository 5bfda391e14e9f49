"""redis-benchmark runs: the specs, every target against them interleaved round by round,
the medians, and what each server looked like at the end."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import re
import shlex
import statistics
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .servers import (
    RcacheCluster,
    RedisWithReplicas,
    ServerUnderTest,
    load_now,
    log,
    python_floor,
    raft_term,
    rcache_single_node,
    read_proc_status_kib,
    redis_cli,
    redis_server,
    redis_server_aof_always,
)

RANDOM_KEYSPACE = 100_000  # redis-benchmark -r: SET/GET hit random keys in [0, 100000)
DEFAULT_CLIENTS = 50
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
# Commands redis-benchmark has no -t test for, sent as given (__rand_int__: a random number
# below -r). One stream and one HyperLogLog, growing with every request.
COMMAND_TESTS = {
    "xadd": ("XADD", "mystream", "*", "f", "__rand_int__"),
    "pfadd": ("PFADD", "hll", "__rand_int__"),
}
# A run that a server refused with an error reply (e.g. an unknown command) starts with this.
NOT_SUPPORTED = "not supported"


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


# The first target is the baseline that every other target's ops/s is divided by. The
# python floor (bench/floor_server.py) shows what any Python server over RocksDB reaches here.
TARGETS = [
    Target("redis-server", redis_server),
    Target("python-floor", python_floor, tests=("set", "get")),
    Target("rcache", rcache_single_node),
]
# --cluster: the fair comparator first, a redis-server master with two replicas on this machine
# (loaded through the master). redis-benchmark has no per-connection setup command, so
# linearizable reads get a cluster of their own whose nodes default to them.
CLUSTER_TARGETS = [
    Target("redis-3-replicated", RedisWithReplicas),
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

    @property
    def command(self) -> tuple[str, ...]:
        """The command line sent instead of a -t test (a COMMAND_TESTS spec), or ()."""
        return COMMAND_TESTS.get(self.tests[0], ()) if len(self.tests) == 1 else ()

    def requests_sent(self) -> int:
        """lrange_N tests LPUSH `requests` elements first ("needed to benchmark LRANGE")."""
        return self.requests * sum(2 if test.startswith("lrange") else 1 for test in self.tests)

    def argv(self, port: int) -> list[str]:
        what = list(self.command) or ["-t", ",".join(self.tests)]
        return ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port),
                "-c", str(self.clients), "-n", str(self.requests),
                "-P", str(self.pipeline), "-r", str(RANDOM_KEYSPACE), "--csv", *what]


def bench_specs(requests: int, clients: int) -> list[BenchSpec]:
    """Request counts scale with `requests` so each run lasts long enough to measure:
    pipelining makes a request ~10x cheaper, a lone client is ~10x slower than fifty."""
    return [
        BenchSpec(clients=clients, pipeline=1, requests=requests),
        BenchSpec(clients=clients, pipeline=16, requests=requests * 5),
        BenchSpec(clients=1, pipeline=1, requests=max(1_000, requests // 5)),
    ]


def command_specs(requests: int, clients: int) -> list[BenchSpec]:
    """One spec per COMMAND_TESTS command (XADD, PFADD), -P 1."""
    return [BenchSpec(clients=clients, pipeline=1, requests=requests, tests=(test,))
            for test in COMMAND_TESTS]


def types_specs(requests: int, clients: int) -> list[BenchSpec]:
    """One spec per data-type test, -P 1 only, in TYPE_TESTS order (see there)."""
    return [BenchSpec(clients=clients, pipeline=1, requests=requests, tests=(test,))
            for test in TYPE_TESTS]


def prefill_spec(clients: int) -> BenchSpec:
    """For a target that runs no SET: ~95% of the random keyspace, pipelined."""
    return BenchSpec(clients=clients, pipeline=16, requests=3 * RANDOM_KEYSPACE, tests=("set",))



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
    errors fails the run instead of posting a fast (and false) ops/s. A command spec (XADD...)
    refused with an error reply is NOT_SUPPORTED: the server lacks the command."""
    timeout = 30 + spec.requests_sent() / SLOWEST_PLAUSIBLE_OPS_PER_S
    try:
        done = subprocess.run(spec.argv(port), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout:.0f}s"
    if done.returncode != 0:
        last_line = ((done.stderr or done.stdout).strip().splitlines() or ["no output"])[-1]
        if spec.command and "Error from server" in last_line:
            return f"{NOT_SUPPORTED} ({last_line.split(': ', 1)[-1][:120]})"
        return f"exit {done.returncode}: {last_line[:300]}"  # the error reply, if one stopped it
    measurements = parse_csv(done.stdout)
    if spec.command:  # its row is named by the whole command line
        measurements = {spec.tests[0].upper(): row for row in measurements.values()}
    missing = {test.upper() for test in spec.tests} - measurements.keys()
    if missing:
        return f"no result for {', '.join(sorted(missing))}"
    return measurements



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
                if isinstance(fill, str):  # e.g. a leader change midway: once more, on the
                    log(f"  {target.name}: fill failed ({fill}); once more")  # leader then
                    server.ready_for_run()
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
                        log(f"  {'' if result.startswith(NOT_SUPPORTED) else 'FAILED: '}{result}")
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

