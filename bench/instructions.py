#!/usr/bin/env python3
"""Instructions per request: one rcache node per commit under valgrind's callgrind, loaded by
redis-benchmark; prints each thread's instructions per request.

Instruction counts do not depend on what else the machine runs, so a hot-path step's effect
shows where ops/s on this shared 2-core machine swing by more than the step (bench/ab.py).
They still vary by a few percent: timers and the Raft tick run per second, not per request,
and batching follows timing. Rounds alternate the commits; compare medians. Busy-polling is
off (its spinning is time, not work). A test other than SET runs on a keyspace SET filled
first, as bench/run.py's do (GETs find their keys). Needs valgrind; a node under callgrind runs ~50x
slower, so keep --requests small.

Usage: python bench/instructions.py REV [REV ...] [--test set] [--pipeline 1] [--clients 1]
                                    [--requests 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/ as a package

from bench.ab import export  # noqa: E402
from bench.servers import redis_cli  # noqa: E402
from rcache.launch import free_port  # noqa: E402

START_TIMEOUT_S = 240.0  # importing rcache under callgrind takes ~40 s here
WARMUP_REQUESTS = 300
FILL = ["-t", "set", "-n", "100000", "-P", "16", "-r", "100000", "-q"]  # (not counted)


def measure(root: Path, workdir: Path, args: argparse.Namespace) -> dict[int, float]:
    """One node of the checkout at ``root``: -> instructions per request by thread number
    (1 is the event loop), counting only threads that ran at least 100 per request."""
    port = free_port()
    out = workdir / "callgrind.out"
    node = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--separate-threads=yes",
         f"--callgrind-out-file={out}", sys.executable, "-m", "rcache", "--port", str(port),
         "--dir", str(workdir / "data"), "--busy-poll-us", "0"],
        cwd=workdir, env={**os.environ, "PYTHONPATH": str(root)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while redis_cli(port, "PING") != "PONG":
            if time.monotonic() > deadline or node.poll() is not None:
                raise RuntimeError(f"the node under callgrind did not answer PING ({root})")
            time.sleep(1)
        if args.test != "set":
            subprocess.run(["redis-benchmark", "-p", str(port), *FILL], capture_output=True,
                           check=True, timeout=START_TIMEOUT_S * 4)
        load = ["redis-benchmark", "-p", str(port), "-t", args.test, "-P", str(args.pipeline),
                "-c", str(args.clients), "-r", "100000", "-q"]
        subprocess.run(load + ["-n", str(WARMUP_REQUESTS)], capture_output=True, check=True,
                       timeout=START_TIMEOUT_S)
        subprocess.run(["callgrind_control", "--zero", str(node.pid)], capture_output=True,
                       check=True, timeout=60)
        subprocess.run(load + ["-n", str(args.requests)], capture_output=True, check=True,
                       timeout=START_TIMEOUT_S + args.requests)
        subprocess.run(["callgrind_control", "--dump", str(node.pid)], capture_output=True,
                       check=True, timeout=60)
    finally:
        node.send_signal(signal.SIGTERM)
        try:
            node.wait(timeout=60)
        except subprocess.TimeoutExpired:
            node.kill()
            node.wait()
    per_request = {}
    for dump in workdir.glob("callgrind.out.1-*"):  # part 1: the --dump, per thread
        totals = re.search(rb"^totals: (\d+)", dump.read_bytes(), re.MULTILINE)
        count = int(totals.group(1)) / args.requests if totals else 0
        if count >= 100:
            per_request[int(dump.name.rsplit("-", 1)[1])] = count
    return per_request


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revisions", nargs="+", help="commits to compare (HEAD, a673492, ...)")
    parser.add_argument("--test", default="set", help="a redis-benchmark test: set, get...")
    parser.add_argument("--pipeline", type=int, default=1)
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rcache-instructions-") as tmp_name:
        tmp = Path(tmp_name)
        roots = {}
        for revision in args.revisions:
            root = tmp / "src" / revision.replace("/", "_")
            roots[export(revision, root)] = root
        counts: dict[str, dict[int, list[float]]] = {short: {} for short in roots}
        for round_number in range(args.rounds):
            for short, root in roots.items():
                workdir = tmp / f"run-{short}-{round_number}"
                workdir.mkdir()
                for thread, count in measure(root, workdir, args).items():
                    counts[short].setdefault(thread, []).append(count)
    print(f"{args.test} -P {args.pipeline} -c {args.clients}, {args.requests} requests, "
          f"{args.rounds} round(s): instructions per request, median (each round)")
    for short, threads in counts.items():
        for thread, values in sorted(threads.items()):
            name = "event loop" if thread == 1 else f"thread {thread}"
            rounds = ", ".join(f"{value:,.0f}" for value in values)
            print(f"  rcache@{short} {name}: {statistics.median(values):,.0f} ({rounds})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
