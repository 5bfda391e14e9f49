#!/usr/bin/env python3
"""SET throughput with eviction active (issue #19): redis-server and one rcache node, both
with the same maxmemory and policy, written far past the limit by redis-benchmark with
random keys; prints SET/s, evicted keys and the dataset size at the end on each, and the
ratio rcache / redis-server. Redis's maxmemory counts its own overhead (about 1 MB empty),
rcache's the dataset's logical size: both evict all along at this size.

Usage: python bench/eviction.py [--maxmemory 8mb] [--policy allkeys-lru] [--requests N]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.servers import (  # noqa: E402
    ProcessServer,
    info_fields,
    int_field,
    load_now,
    rcache_single_node,
    redis_server,
)


def set_throughput(port: int, requests: int, clients: int, size: int) -> float:
    """redis-benchmark SET with keys drawn from a space much larger than what fits."""
    done = subprocess.run(
        ["redis-benchmark", "-p", str(port), "-t", "set", "-n", str(requests), "-c",
         str(clients), "-d", str(size), "-r", "10000000", "--csv"],
        capture_output=True, text=True, timeout=900, check=True)
    row = [line for line in done.stdout.splitlines() if line.startswith('"SET"')][0]
    return float(row.split(",")[1].strip('"'))


def measure(server: ProcessServer, args: argparse.Namespace) -> tuple[float, int, int]:
    server.start()
    try:
        rate = set_throughput(server.port, args.requests, args.clients, args.size)
        stats, memory = info_fields(server.port, "stats"), info_fields(server.port, "memory")
        return rate, int_field(stats, "evicted_keys"), int_field(memory, "used_memory")
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--maxmemory", default="8mb")
    parser.add_argument("--policy", default="allkeys-lru")
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--size", type=int, default=512, help="value bytes")
    args = parser.parse_args()
    limits = ("--maxmemory", args.maxmemory, "--maxmemory-policy", args.policy)
    print(f"load before: {load_now()}; {args.requests} SETs of {args.size} bytes, "
          f"-c {args.clients}, maxmemory {args.maxmemory}, {args.policy}")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, make in (("redis-server", redis_server), ("rcache", rcache_single_node)):
            workdir = Path(tmp) / name
            workdir.mkdir()
            results[name] = measure(make(workdir, *limits), args)
            rate, evicted, used = results[name]
            print(f"{name:>12}: {rate:>10,.0f} SET/s  evicted_keys {evicted:>8}  "
                  f"used_memory at the end {used:,}")
    print(f"ratio rcache / redis-server: {results['rcache'][0] / results['redis-server'][0]:.2f}"
          f"  (load after: {load_now()})")


if __name__ == "__main__":
    main()
