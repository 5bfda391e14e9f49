#!/usr/bin/env python3
"""A/B of commits: one rcache node per commit and one redis-server, the same redis-benchmark
specs interleaved across them, medians of the rounds. What a hot-path step changed is the
ratio of two commits measured in one run (bench/STEPS.md records them); two runs minutes
apart on this shared machine differ by more than most steps do.

Usage: python bench/ab.py REV [REV ...] [--tests get,set] [--pipelines 1,16] [--clients 50]
                          [--requests N] [--rounds R] [--floor] [--nodes 3]
                          [--node-args '--read-consistency linearizable']

--floor adds bench/floor_server.py to the run: uvloop + hiredis + RocksDB and nothing else,
the floor under any Python server over RocksDB on this machine.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/ as a package

from bench import servers  # noqa: E402
from bench.results import results_table  # noqa: E402
from bench.servers import REPO, load_now, redis_server  # noqa: E402
from bench.throughput import BenchSpec, Target, run_throughput  # noqa: E402


def export(revision: str, into: Path) -> str:
    """The tree of `revision` in `into` (git archive: no worktree to clean up); its short id."""
    short = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", revision],
                           capture_output=True, text=True, check=True).stdout.strip()
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", short],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return short


def node_of(root: Path, nodes: int, extra: list[str], workdir: Path
            ) -> servers.ProcessServer | servers.RcacheCluster:
    servers.RCACHE_ROOT = root  # read when the nodes' command lines are built, just below
    if nodes == 1:
        return servers.rcache_single_node(workdir, *extra)
    return servers.RcacheCluster(workdir, size=nodes, extra=extra)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revisions", nargs="+", help="commits to compare (HEAD, a673492, ...)")
    parser.add_argument("--tests", default="set,get")
    parser.add_argument("--pipelines", default="1,16")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=100_000,
                        help="per -P 1 run; pipelined runs send 3x as many")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--nodes", type=int, default=1,
                        help="rcache nodes per commit (3: a cluster, measured through its leader)")
    parser.add_argument("--node-args", default="",
                        help="rcache flags, e.g. '--read-consistency linearizable'")
    parser.add_argument("--floor", action="store_true",
                        help="also load bench/floor_server.py (uvloop + hiredis + RocksDB)")
    args = parser.parse_args()
    tests = tuple(args.tests.split(","))
    specs = [BenchSpec(args.clients, pipeline, args.requests * (1 if pipeline == 1 else 3), tests)
             for pipeline in map(int, args.pipelines.split(","))]
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="rcache-ab-") as tmp_name:
        tmp = Path(tmp_name)
        targets = [Target("redis-server", redis_server)]
        if args.floor:
            targets.append(Target("python-floor", servers.python_floor))
        for revision in args.revisions:
            short = export(revision, tmp / "src" / revision.replace("/", "_"))
            targets.append(Target(f"rcache@{short}",
                                  partial(node_of, tmp / "src" / revision.replace("/", "_"),
                                          args.nodes, args.node_args.split())))
        (tmp / "run").mkdir()
        load = load_now()
        run = run_throughput(targets, specs, args.rounds, args.clients, tmp / "run", problems)
    print(f"\nload before: {load}, after: {load_now()}; medians of {args.rounds} round(s), "
          f"-c {args.clients} -r 100000\n")
    print("\n".join(results_table(run)))
    for problem in problems:
        print(f"problem: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
