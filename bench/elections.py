"""Leader changes of a 3-node cluster under CPU load (issue: pre-vote, leader stickiness).

    python bench/elections.py [--minutes 3] [--hogs 2] [--repo PATH]

Starts a 3-node cluster on 127.0.0.1, then `--hogs` busy-loop processes beside it (on this
2-core machine, 2 hogs leave the nodes fighting for CPU) while one client writes at a steady
pace, and counts the leader changes (Raft terms) and the writes that failed. `--repo` runs the
same measurement against another checkout (e.g. a worktree of an older commit) for a
before/after comparison in one sitting.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import servers as bench  # noqa: E402  (the cluster launcher)


def _hog(stop_at: float) -> None:
    while time.monotonic() < stop_at:
        pass


def measure(minutes: float, hogs: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="rcache-elections-") as tmp:
        cluster = bench.RcacheCluster(Path(tmp))
        cluster.start()
        try:
            terms_at_start = {n.name: bench.raft_term(n.port) for n in cluster.nodes}
            stop_at = time.monotonic() + minutes * 60
            workers = [multiprocessing.Process(target=_hog, args=(stop_at,)) for _ in range(hogs)]
            for worker in workers:
                worker.start()
            client = redis.RedisCluster(host="127.0.0.1", port=cluster.port, socket_timeout=5)
            writes = failures = 0
            while time.monotonic() < stop_at:
                try:
                    client.set(f"k{writes % 100}", writes)
                except redis.RedisError:
                    failures += 1
                writes += 1
                time.sleep(0.01)
            for worker in workers:
                worker.join(timeout=10)
            client.close()
            terms = [bench.raft_term(n.port) for n in cluster.nodes]
            changes = max(terms) - max(terms_at_start.values())
            return {"minutes": minutes, "hogs": hogs, "leader_changes": changes,
                    "per_minute": changes / minutes, "writes": writes, "failed": failures}
        finally:
            cluster.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--hogs", type=int, default=2)
    parser.add_argument("--repo", type=Path, help="checkout whose rcache to run (default: this)")
    args = parser.parse_args()
    if args.repo:
        bench.RCACHE_ROOT = args.repo.resolve()
    result = measure(args.minutes, args.hogs)
    print(f"rcache at {bench.RCACHE_ROOT}: {result['hogs']} CPU hogs, {result['minutes']:.1f} min: "
          f"{result['leader_changes']} term changes ({result['per_minute']:.2f}/min), "
          f"{result['failed']} of {result['writes']} writes failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
