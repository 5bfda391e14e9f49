"""bench/RESULTS.md: the machine, the tables, the goals, the rcache log lines."""

from __future__ import annotations

import contextlib
import os
import platform
import re
import shlex
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from .durability import COMPACTING_ARGS, DurabilityRun
from .failover import (
    FAILOVER_GIVE_UP_S,
    FAILOVER_RETRY_PAUSE_S,
    FAILOVER_SOCKET_TIMEOUT_S,
    FailoverRun,
)
from .goals import (
    FIGURE_HEADER,
    GOAL_HEADER,
    TYPES_GOALS,
    durability_goal_rows,
    failover_goal_rows,
    figure_rows,
    fmt_seconds,
    goal_rows,
    memory_rows,
)
from .memory import FILL_CHUNK, FILL_KEY_FORMAT, FILL_VALUE, MemoryRow, data_bytes
from .servers import ALL_SERVERS, REPO
from .throughput import (
    COMMAND_TESTS,
    NOT_SUPPORTED,
    RANDOM_KEYSPACE,
    TYPE_KEYS,
    TYPE_TESTS,
    BenchSpec,
    ServerFacts,
    ThroughputRun,
    prefill_spec,
)

RESULTS_PATH = REPO / "bench" / "RESULTS.md"


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



def _fmt_ops(value: float) -> str:
    return f"{value:,.0f}"


def _fmt_ms(value: float) -> str:
    return f"{value:.3f}"


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
                    missing = NOT_SUPPORTED if isinstance(result, str) and result.startswith(
                        NOT_SUPPORTED) else "failed"
                    cells += [missing, "-", "-", "-"]
                else:
                    cells += [_fmt_ops(got.ops_per_s),
                              f"{got.ops_per_s / base.ops_per_s:.2f}" if base else "-",
                              _fmt_ms(got.p50_ms), _fmt_ms(got.p99_ms)]
                lines.append("| " + " | ".join(cells) + " |")
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
        f"A fresh 3-node cluster (default options, 50,000 SETs first). {run.planned} trials; "
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
        fastest, slowest = (min(seconds), max(seconds)) if seconds else (None, None)
        lines += [f"Median {fmt_seconds(median)} s; min {fmt_seconds(fastest)} s, max "
                  f"{fmt_seconds(slowest)} s.", "",
                  "| trial | killed | SET OK via | seconds to SET OK | attempts | replies before "
                  "the OK | write before the kill readable | killed node back, cluster healthy "
                  "after s |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for number, trial in enumerate(run.trials, 1):
            readable = {True: "yes", False: "NO", None: "-"}[trial.earlier_write_readable]
            lines.append(f"| {number} | {trial.killed} | {trial.new_leader} | "
                         f"{fmt_seconds(trial.seconds)} | {trial.attempts} | {trial.replies} | "
                         f"{readable} | {fmt_seconds(trial.rejoin_s)} |")
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
    restarts = ", ".join(fmt_seconds(s) for s in run.restart_s)
    lines += [
        "",
        f"**Restart** (one node holding the data set; SIGKILL, start again on the same data, "
        f"time until `GET {FILL_KEY_FORMAT.format(run.keys - 1)}` returns its value): "
        f"median {fmt_seconds(run.restart_median())} s over {len(run.restart_s)} restarts "
        f"({restarts} s); DBSIZE after the last restart: {run.restart_keys or '-'}. Before the "
        f"first kill: {run.restart_log or '-'}.",
        "",
        "**Snapshot install** (a 4th node started with `--join` the leader of the 3-node "
        "cluster holding the data set; time from starting it until its `INFO raft` "
        "raft_applied_index >= the leader's raft_commit_index): "
        f"{fmt_seconds(run.install_s)} s. {run.install_facts}",
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
    memory: list[MemoryRow] | None = None


def failed_runs(run: ThroughputRun) -> list[tuple[BenchSpec, str, str]]:
    """(spec, target, why) of every run that failed; a command the server lacks is not a
    failure (its row says 'not supported')."""
    return [(spec, name, result) for (spec, name), result in run.results.items()
            if isinstance(result, str) and not result.startswith(NOT_SUPPORTED)]


STEPS = Path(__file__).with_name("STEPS.md")


def steps_section() -> list[str]:
    """The hot-path steps and what each measured when it landed (bench/STEPS.md, kept by
    hand: a step's effect is an A/B of two commits, which one run of this script is not)."""
    if not STEPS.exists():
        return []
    return [STEPS.read_text().rstrip(), ""]


def figures_section(main: ThroughputRun, memory: list[MemoryRow] | None) -> list[str]:
    """Issue #14's table: every figure as a ratio to redis-server in this run, its goal, and
    beside it the python floor (one node) or Redis's own replication (3 nodes)."""
    lines = [
        "## Issue #14's figures",
        "",
        "Ratios to redis-server measured in this run (`-c 50` unless said, `-r "
        f"{RANDOM_KEYSPACE}`, 3-byte values): ops/s for throughput, p50 for latency (there a "
        "ratio above 1 is slower). The 3-node rows also show redis-server as a master with two "
        "replicas (`--replicaof`) on this machine, loaded through the master: what replication "
        "costs Redis here. The single-node rows show the python floor (`bench/floor_server.py`: "
        "uvloop, hiredis and RocksDB with rcache's options, answering GET and SET with no log, "
        "command table or checks): what any Python server over RocksDB reaches on this "
        "machine, so a goal above its ratio is out of reach of Python here. 'not measured': "
        "the run lacked that target (`--cluster`) or it failed.",
        "",
        *FIGURE_HEADER,
        *figure_rows(main),
    ]
    if memory:
        lines += memory_rows(memory)
    return lines + [""]


def memory_section(rows: list[MemoryRow]) -> list[str]:
    lines = [
        "## Memory: RSS against redis-server",
        "",
        "For each value size a fresh redis-server and a fresh rcache node (default options) "
        "take the same distinct keys (`" + FILL_KEY_FORMAT.format(0) + "`..., SET through "
        f"`redis-cli --pipe` in chunks of {FILL_CHUNK:,}), one server at a time; VmRSS after "
        "the fill.",
        "",
        "| keys | value bytes | redis-server RSS MiB | DBSIZE | rcache RSS MiB | DBSIZE | "
        "rcache / redis-server |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        ratio = f"{row.ratio:.2f}x" if row.ratio is not None else "-"
        lines.append(f"| {row.keys:,} | {row.value_size} | {row.redis_kib / 1024:.1f} | "
                     f"{row.redis_keys:,} | {row.rcache_kib / 1024:.1f} | {row.rcache_keys:,} | "
                     f"{ratio} |")
    return lines + [""]


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
    failures = [f"- {name}, {', '.join(spec.tests)} -c {spec.clients} -P {spec.pipeline}: "
                f"{result}" for spec, name, result in failed_runs(main)]
    if report.types is not None:
        failures += [f"- types, {name}, {', '.join(spec.tests)} -c {spec.clients} -P "
                     f"{spec.pipeline}: {result}"
                     for spec, name, result in failed_runs(report.types)]
    if report.durability and report.durability.throughput:
        failures += [f"- {name}, -c {spec.clients} -P {spec.pipeline}: {result}"
                     for spec, name, result in failed_runs(report.durability.throughput)]
    goal_lines = []
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
        + f" XADD and PFADD: `{shlex.join(COMMAND_TESTS['xadd'])}` and "
        f"`{shlex.join(COMMAND_TESTS['pfadd'])}` (one stream, one HyperLogLog); 'not supported' "
        "if the server answered an error."
        + (" Cluster targets (rcache-3*) are 3 rcache nodes on this machine, loaded through "
           "the leader; redis-3-replicated is a redis-server master with two replicas, loaded "
           "through the master; rcache-3-linearizable runs with `--read-consistency "
           "linearizable` on every node and is measured on GET only (its keys are filled "
           f"first with {prefill_spec(0).requests:,} pipelined SETs)."
           if any(t.name.startswith("rcache-3") for t in main.targets) else ""),
        "",
        *results_table(main),
        "",
        *figures_section(main, report.memory),
        *steps_section(),
        *(["## Targets of earlier issues", "", *GOAL_HEADER, *goal_lines, ""]
          if goal_lines else []),
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
    if report.memory:
        sections += memory_section(report.memory)
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

