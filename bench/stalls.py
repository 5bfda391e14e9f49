#!/usr/bin/env python3
"""One client's long pipeline or huge request, and the slowest PING another client saw
meanwhile, on redis-server and on one rcache node in the same run ("no request can stall a
node": outbuf's fairness bounds, MAX_ALONE_BYTES).

Steps, each encoded before it starts and sent on one connection while a thread PINGs the
server every 10 ms from its own: a pipeline of --commands SETs, the same of GETs, 2,000 SETs
of 1,000 arguments that the parser refuses (SET k v NX XX ...), and one SET of a --big-mb MB
value. The sender and the reply reader (hiredis) spend their time in C, so the pinger thread
measures the server, not this process's own lock. Each step runs --repeat times; the run
with the fastest step is kept, with its slowest PING.

Prints one table: seconds per step on each server and the slowest PING on each.
--repo runs another checkout's rcache (e.g. an older commit's `git archive`).

Usage: python bench/stalls.py [--commands 200000] [--big-mb 50] [--repeat 2] [--repo DIR]
"""

from __future__ import annotations

import argparse
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import hiredis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import servers  # noqa: E402
from bench.bigstrings import PingWatch, print_steps_with_pings  # noqa: E402
from bench.servers import ProcessServer, redis_then_rcache  # noqa: E402


def encode(command: tuple) -> bytes:
    args = [arg if isinstance(arg, bytes) else str(arg).encode() for arg in command]
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%b\r\n" % (len(a), a) for a in args)


def pipelined(port: int, commands: list[tuple]) -> Callable[[], int]:
    """Send the commands at once (from a thread) and read every reply. -> replies read."""
    payload = b"".join(map(encode, commands))

    def send() -> int:
        with socket.create_connection(("127.0.0.1", port), timeout=600) as sock:
            sender = threading.Thread(target=sock.sendall, args=(payload,), daemon=True)
            sender.start()
            reader, replies = hiredis.Reader(), 0
            while replies < len(commands):
                data = sock.recv(1 << 20)
                if not data:
                    raise ConnectionError("the server closed the connection")
                reader.feed(data)
                while reader.gets() is not False:
                    replies += 1
            sender.join(600)
        return replies
    return send


def steps(port: int, commands: int, big_mb: int) -> dict[str, Callable[[], int]]:
    refused = ("SET", "k", "v") + ("NX", "XX") * 499
    return {
        f"pipeline of {commands} SETs": pipelined(
            port, [("SET", f"k{i}", "v") for i in range(commands)]),
        f"pipeline of {commands} GETs": pipelined(
            port, [("GET", f"k{i}") for i in range(commands)]),
        "2000 refused SETs of 1000 arguments": pipelined(port, [refused] * 2000),
        f"SET of {big_mb} MB": pipelined(port, [("SET", "big", b"x" * (big_mb << 20))]),
    }


def measure(server: ProcessServer, commands: int, big_mb: int,
            repeat: int) -> dict[str, tuple[float, float]]:
    """Per step: (seconds, slowest PING) of its fastest run."""
    results = {}
    for name, step in steps(server.port, commands, big_mb).items():
        runs = []
        for _ in range(repeat):
            with PingWatch(server.port) as watch:
                started = time.monotonic()
                step()
                took = time.monotonic() - started
            runs.append((took, watch.slowest))
        results[name] = min(runs)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=200_000, help="pipelined commands")
    parser.add_argument("--big-mb", type=int, default=50, help="the big value's size in MB")
    parser.add_argument("--repeat", type=int, default=2, help="runs per step (fastest kept)")
    parser.add_argument("--repo", type=Path, help="the checkout whose rcache to run")
    args = parser.parse_args()
    if args.repo:
        servers.RCACHE_ROOT = args.repo.resolve()
    columns = {name: measure(server, args.commands, args.big_mb, args.repeat)
               for name, server in redis_then_rcache("rcache-stalls-")}
    print_steps_with_pings(columns, 40)
    return 0


if __name__ == "__main__":
    sys.exit(main())
