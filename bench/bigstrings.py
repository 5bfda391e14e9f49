#!/usr/bin/env python3
"""Huge strings (issue #16): bit and range edits of a 512 MB string, and its DEL, timed on
redis-server and on one rcache node in the same run, with the slowest PING answered meanwhile.

Each server gets the same steps, one after the other: SETRANGE at the last byte (creating a
512 MB string), SETBIT at offset 2**32-1 and at spread offsets, GETBIT, BITCOUNT and
BITFIELD on it, DEL; then the same on a string of 64 MB written in full (every fragment
stored), and for rcache the time from a restart to its first PING. A thread PINGs all along.
Prints one table: seconds per step on each server and the ratio rcache / redis-server.

Usage: python bench/bigstrings.py [--edits N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.servers import ProcessServer, redis_then_rcache  # noqa: E402

LAST_BIT = 2**32 - 1
FULL_SIZE = 64 * 1024 * 1024


class PingWatch:
    """PINGs a server from its own thread, keeping the slowest round trip."""

    def __init__(self, port: int) -> None:
        self.client = redis.Redis(port=port, socket_timeout=300)
        self.slowest = 0.0
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self.client.ping()
            self.slowest = max(self.slowest, time.monotonic() - started)
            self.count += 1
            self._stop.wait(0.01)

    def __enter__(self) -> PingWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=600)


def print_steps_with_pings(columns: dict[str, dict[str, tuple[float, float]]],
                           width: int) -> None:
    """One row per step: (seconds, slowest PING) on redis-server and on rcache, and the
    ratio of the seconds."""
    print(f"{'step':<{width}} {'redis s':>8} {'rcache s':>9} {'ratio':>6} "
          f"{'redis PING ms':>14} {'rcache PING ms':>15}")
    for step, (ours, our_ping) in columns["rcache"].items():
        theirs, their_ping = columns["redis-server"][step]
        print(f"{step:<{width}} {theirs:8.3f} {ours:9.3f} {ours / max(theirs, 1e-6):6.1f} "
              f"{their_ping * 1000:14.1f} {our_ping * 1000:15.1f}")


def timed(action: Callable[[], object]) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def measure(server: ProcessServer, edits: int) -> dict[str, float]:
    """Seconds per step (medians for the repeated edits), and the slowest PING."""
    r = redis.Redis(port=server.port, socket_timeout=600)
    offsets = [(i * 2_654_435_761) % LAST_BIT for i in range(1, edits + 1)]
    results: dict[str, float] = {}
    with PingWatch(server.port) as watch:
        results["SETRANGE big 536870911 x (creates 512 MB)"] = timed(
            lambda: r.setrange("big", 2**29 - 1, "x"))
        results["SETBIT big 4294967295 1"] = timed(lambda: r.setbit("big", LAST_BIT, 1))
        results[f"SETBIT big <spread offset> 1, median of {edits}"] = statistics.median(
            timed(lambda o=o: r.setbit("big", o, 1)) for o in offsets)
        results["GETBIT big 4294967295"] = timed(lambda: r.getbit("big", LAST_BIT))
        results["BITCOUNT big (sparse)"] = timed(lambda: r.bitcount("big"))
        results["BITFIELD big INCRBY u32 #100000000 1"] = timed(
            lambda: r.bitfield("big").incrby("u32", "#100000000", 1).execute())
        results["DEL big (512 MB, sparse)"] = timed(lambda: r.delete("big"))
    results["slowest PING during the 512 MB steps"] = watch.slowest
    with PingWatch(server.port) as watch:
        value = bytes(range(1, 256)) * (FULL_SIZE // 255)
        results["SET full (64 MB)"] = timed(lambda: r.set("full", value))
        results[f"SETBIT full <offset> 1, median of {edits}"] = statistics.median(
            timed(lambda o=o: r.setbit("full", o % (FULL_SIZE * 8), 1)) for o in offsets)
        results["BITCOUNT full (64 MB)"] = timed(lambda: r.bitcount("full"))
        results["DEL full (64 MB)"] = timed(lambda: r.delete("full"))
    results["slowest PING during the 64 MB steps"] = watch.slowest
    r.close()
    return results


def restart_to_first_ping(server: ProcessServer) -> float:
    """Seconds from launching the process again on its data to its first PING reply."""
    server.stop()
    started = time.monotonic()
    server.launch()
    client = redis.Redis(port=server.port, socket_timeout=600)
    while True:
        server.check_running()
        try:
            if client.ping():
                return time.monotonic() - started
        except redis.ConnectionError:
            time.sleep(0.05)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=20, help="SETBITs per string (default 20)")
    args = parser.parse_args()
    columns: dict[str, dict[str, float]] = {}
    for name, server in redis_then_rcache("rcache-bigstrings-"):
        columns[name] = measure(server, args.edits)
        if name == "rcache":
            columns[name]["restart to first PING"] = restart_to_first_ping(server)
    print(f"{'step':<46} {'redis-server s':>15} {'rcache s':>10} {'ratio':>8}")
    for step, ours in columns["rcache"].items():
        theirs = columns["redis-server"].get(step)
        ratio = f"{ours / theirs:8.1f}" if theirs else f"{'n/a':>8}"
        theirs_text = f"{theirs:15.4f}" if theirs is not None else f"{'n/a':>15}"
        print(f"{step:<46} {theirs_text} {ours:10.4f} {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
