#!/usr/bin/env python3
"""Big collections: DUMP, RESTORE and XINFO STREAM FULL of one huge key per type, timed on
redis-server and on one rcache node in the same run, with the slowest PING answered meanwhile
(a node busy serializing one key serves no other client).

Each server gets the same keys, built with pipelined variadic writes: a list, a hash, a set
and a sorted set of --size elements, and a stream of --stream-size entries with one consumer
group holding --pending entries pending. Then, per key: DUMP, RESTORE of that payload into a
new key, and for the stream XINFO STREAM ... FULL COUNT 0. A thread PINGs the server all along
(every 10 ms) and each step records the slowest PING that overlapped it. Each step runs
--repeat times and its fastest run is kept (on a shared machine the minimum is the stable
figure), with the slowest PING of that run.

Prints one table: seconds per step on each server, the ratio rcache / redis-server, and the
slowest PING during the step on each server. --repo runs another checkout's rcache (e.g. an
older commit's `git archive`) to compare before and after.

Usage: python bench/bigkeys.py [--size 300000] [--stream-size 100000] [--pending 30000]
                               [--only list,hash,set,zset,stream] [--repeat 3] [--repo DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import servers  # noqa: E402
from bench.bigstrings import PingWatch, print_steps_with_pings  # noqa: E402
from bench.servers import ProcessServer, redis_then_rcache  # noqa: E402

CHUNK = 1000  # elements per variadic command
KINDS = ("list", "hash", "set", "zset", "stream")


def build(r: redis.Redis, kind: str, size: int, pending: int) -> None:
    """The key `big:<kind>`: mixed small integers and short strings, as real data mixes them."""
    key = f"big:{kind}"
    pipe = r.pipeline(transaction=False)
    for start in range(0, size, CHUNK):
        chunk = range(start, min(start + CHUNK, size))
        if kind == "list":
            pipe.rpush(key, *(i if i % 2 else f"item:{i}" for i in chunk))
        elif kind == "hash":
            pipe.hset(key, mapping={f"field:{i}": (i if i % 2 else f"value:{i}") for i in chunk})
        elif kind == "set":
            pipe.sadd(key, *(f"member:{i}" for i in chunk))
        elif kind == "zset":
            pipe.zadd(key, {f"member:{i}": i * 1.5 for i in chunk})
        else:
            for i in chunk:
                pipe.xadd(key, {"n": i, "name": f"entry:{i}"}, id=f"{i + 1}-0")
        if len(pipe) >= 20 or kind == "stream":
            pipe.execute()
    pipe.execute()
    if kind == "stream" and pending:
        r.xgroup_create(key, "readers", id="0")
        for start in range(0, pending, CHUNK):
            r.xreadgroup("readers", f"c{start // 10000}", {key: ">"},
                         count=min(CHUNK, pending - start))


def timed_step(r: redis.Redis, watch: PingWatch, repeat: int, *command: object
               ) -> tuple[float, float, object]:
    """(seconds, slowest PING overlapping it, reply) of the fastest of ``repeat`` runs of one
    command. The PING in flight when the command ends is waited for: it is the one that
    waited longest. A RESTORE's target is deleted before each run (not timed)."""
    runs = []
    for _ in range(repeat):
        if command[0] == "RESTORE":
            r.delete(command[1])
        watch.slowest = 0.0
        started = time.monotonic()
        reply = r.execute_command(*command)
        took = time.monotonic() - started
        pings, deadline = watch.count, time.monotonic() + 60
        while watch.count == pings and time.monotonic() < deadline:
            time.sleep(0.005)
        runs.append((took, watch.slowest))
    return *min(runs), reply


def measure(server: ProcessServer, kinds: list[str], size: int, stream_size: int,
            pending: int, repeat: int) -> dict[str, tuple[float, float]]:
    r = redis.Redis(port=server.port, socket_timeout=600)
    results: dict[str, tuple[float, float]] = {}
    for kind in kinds:
        n = stream_size if kind == "stream" else size
        build(r, kind, n, pending)
        key = f"big:{kind}"
        with PingWatch(server.port) as watch:
            took, ping, payload = timed_step(r, watch, repeat, "DUMP", key)
            results[f"DUMP {kind} ({n})"] = (took, ping)
            took, ping, _ = timed_step(r, watch, repeat, "RESTORE", f"copy:{kind}", 0, payload)
            results[f"RESTORE {kind} ({n})"] = (took, ping)
            if kind == "stream":
                took, ping, _ = timed_step(r, watch, repeat, "XINFO", "STREAM", key, "FULL",
                                           "COUNT", 0)
                results[f"XINFO STREAM FULL COUNT 0 ({n}, {pending} pending)"] = (took, ping)
        r.delete(key, f"copy:{kind}")
    r.close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=300_000, help="elements per collection")
    parser.add_argument("--stream-size", type=int, default=100_000, help="stream entries")
    parser.add_argument("--pending", type=int, default=30_000, help="pending stream entries")
    parser.add_argument("--only", default=",".join(KINDS), help="comma-separated key types")
    parser.add_argument("--repeat", type=int, default=3, help="runs per step (fastest kept)")
    parser.add_argument("--repo", type=Path, help="the checkout whose rcache to run")
    args = parser.parse_args()
    if args.repo:
        servers.RCACHE_ROOT = args.repo.resolve()
    kinds = [kind for kind in args.only.split(",") if kind]
    columns: dict[str, dict[str, tuple[float, float]]] = {}
    for name, server in redis_then_rcache("rcache-bigkeys-"):
        columns[name] = measure(server, kinds, args.size, args.stream_size, args.pending,
                                args.repeat)
    print_steps_with_pings(columns, 48)
    return 0


if __name__ == "__main__":
    sys.exit(main())
