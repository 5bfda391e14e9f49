#!/usr/bin/env python3
"""The state machine's CPU per SET, in process: what the raft-tick thread spends applying
entries of SETs, without Raft, sockets or the event loop.

A Server is built (not served) so that its StateMachine carries the node's own wiring: the
pub/sub hub, the SLOWLOG observer. Its store is first filled with --keys keys (what
`redis-benchmark -r 100000` leaves), then entries of SETs of 3-byte values to random keys
among them are applied, as the leader applies its own entries (commands looked up and
parsed at submit) and as a follower does (nothing prepared). Reports µs of thread CPU per
SET: the median of the
rounds and their spread (the machine is shared: compare runs made back to back).

Usage: python bench/apply.py [--keys 100000] [--sizes 21,800] [--sets 50000] [--rounds 5]
                          [--profile FILE]
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the worktree's rcache

from rcache.commands.table import lookup  # noqa: E402
from rcache.config import Config  # noqa: E402
from rcache.entries import COMMAND  # noqa: E402
from rcache.server import Server  # noqa: E402
from rcache.statemachine import StateMachine, encode_entry  # noqa: E402

FILL_BATCH = 1000  # keys per MSET while filling


def benchmark_key(number: int) -> bytes:
    """redis-benchmark's key for __rand_int__ = number."""
    return b"key:%012d" % number


class Applier:
    """Applies entries to one machine at consecutive Raft indexes."""

    def __init__(self, machine: StateMachine) -> None:
        self.machine = machine
        self.index = machine.applied_index
        self.now_ms = int(time.time() * 1000)

    def encode(self, items: list[tuple]) -> bytes:
        """The entry the leader would propose (built on its event loop, not in apply)."""
        self.now_ms += 1
        return encode_entry(self.now_ms, random.getrandbits(63), items)

    def apply(self, payload: bytes, prepared: list | None = None) -> list | None:
        self.index += 1
        self.machine.prepared_for = lambda _seed: prepared
        return self.machine.apply(self.index, payload)


def fill(applier: Applier, keys: int) -> None:
    for start in range(0, keys, FILL_BATCH):
        argv = [b"MSET"]
        for number in range(start, min(start + FILL_BATCH, keys)):
            argv += [benchmark_key(number), b"xxx"]
        applier.apply(applier.encode([(COMMAND, 0, argv)]))


def set_entries(rng: random.Random, keys: int, size: int, count: int) -> list[list[tuple]]:
    """count entries of size SETs to random keys (redis-benchmark's SET: `SET key xxx`)."""
    return [[(COMMAND, 0, [b"SET", benchmark_key(rng.randrange(keys)), b"xxx"])
             for _ in range(size)] for _ in range(count)]


def prepare(items: list[tuple]) -> list:
    """What the leader's submit hands over: each command looked up and parsed."""
    found = []
    for _, _, argv in items:
        cmd = lookup(argv)
        found.append((cmd, cmd.parser(argv) if cmd.parser else None))
    return found


def run_round(applier: Applier, entries: list[list[tuple]], leader: bool) -> float:
    """µs of this thread's CPU per SET over the entries."""
    prepared = [prepare(items) if leader else None for items in entries]
    payloads = [applier.encode(items) for items in entries]
    sets = sum(map(len, entries))
    start = time.thread_time_ns()
    for payload, found in zip(payloads, prepared, strict=True):
        applier.apply(payload, found)
    return (time.thread_time_ns() - start) / 1000 / sets


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--sizes", default="21,800", help="SETs per entry")
    parser.add_argument("--sets", type=int, default=50_000, help="SETs per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", help="write a cProfile of the rounds to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rcache-apply-") as tmp:
        server = Server(Config(dir=tmp))
        applier = Applier(server.machine)
        started = time.perf_counter()
        fill(applier, args.keys)
        print(f"filled {args.keys} keys in {time.perf_counter() - started:.1f} s")
        gc.set_threshold(50_000, 50, 100)  # the node's collector settings (rcache.server.run)
        gc.freeze()
        rng = random.Random(1)
        profiler = None
        if args.profile:
            import cProfile
            profiler = cProfile.Profile()
            profiler.enable()
        for size in map(int, args.sizes.split(",")):
            for leader in (True, False):
                figures = [run_round(applier, set_entries(rng, args.keys, size,
                                                          max(1, args.sets // size)), leader)
                           for _ in range(args.rounds)]
                print(f"{size:4d} SETs/entry, {'leader  ' if leader else 'follower'}: "
                      f"{statistics.median(figures):5.2f} us CPU per SET, median "
                      f"(best {min(figures):.2f}, worst {max(figures):.2f})")
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)
        server.store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
