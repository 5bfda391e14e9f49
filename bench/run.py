#!/usr/bin/env python3
"""Benchmark rcache against redis-server with redis-benchmark; write bench/RESULTS.md.

DESIGN.md makes redis-server the yardstick: absolute numbers depend on the machine, the
ratio rcache/redis-server measured in the same run on the same machine does not (much).
So every server in TARGETS runs the same redis-benchmark specs, interleaved spec by spec so
that a burst of machine noise hits all servers alike, and the issue's goals are ratios.

The default run compares one rcache node with redis-server. Heavier measurements are opt-in:
--cluster adds 3-node cluster targets (default reads and linearizable reads) and a redis-server
master with two replicas as their comparator, --types runs
redis-benchmark's data-type tests (hashes, lists, sets, sorted sets) against redis-server, one
node and a 3-node cluster, --failover times the loss of the leader, --durability measures
fsync-always throughput, restart, snapshot install and RSS with a large data set, --memory
compares RSS with redis-server's for 3- and 100-byte values; --all does everything. --smoke
runs the chosen sections with tiny counts, to prove they work (not written to RESULTS.md).

The sections live in the package bench/ (servers, throughput, goals, failover, memory,
durability, results); this file is the command line, kept at this path so that the command
recorded in bench/RESULTS.md and the README stays valid.

Usage: python bench/run.py [--quick | --smoke] [--output PATH] [--requests N] [--clients C]
                           [--rounds R] [--cluster] [--types] [--failover] [--durability]
                           [--memory] [--scripts] [--all] [--keys K]
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/ as a package

from bench.cli import main  # noqa: E402

if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the servers were stopped on the way out
        sys.exit("interrupted")
