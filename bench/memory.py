"""Large data sets: distinct keys sent with redis-cli --pipe, and the RSS that holds them."""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .servers import (
    log,
    raft_term,
    rcache_single_node,
    read_proc_status_kib,
    redis_server,
)

# The large data set: redis-benchmark's key format (16 bytes) and value (-d 3), but every key
# distinct, so that "1M keys" is 1M keys (redis-benchmark -r 1000000 -n 1000000 leaves ~632k).
FILL_KEY_FORMAT = "key:{:012d}"
FILL_VALUE = "xxx"
# Sent in chunks, each its own `redis-cli --pipe`: one pipe of 1M SETs into a 3-node cluster
# lost its leader within seconds in every try on this machine, and then every later reply is
# MOVED; a chunk can be re-sent to the new leader instead.
FILL_CHUNK = 10_000
FILL_MAX_ATTEMPTS = 5


# --memory: the value sizes of the RSS comparison with redis-server (redis-benchmark's default,
# and issue #14's 100 bytes).
MEMORY_VALUE_SIZES = (3, 100)


def fill_chunks(keys: int, value: bytes = FILL_VALUE.encode()) -> list[bytes]:
    """`keys` SETs of distinct keys to `value` as RESP, FILL_CHUNK commands per chunk."""
    return [b"".join(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n"
                     % (len(key), key, len(value), value)
                     for key in (FILL_KEY_FORMAT.format(i).encode()
                                 for i in range(start, min(keys, start + FILL_CHUNK))))
            for start in range(0, keys, FILL_CHUNK)]


@dataclass
class FillResult:
    target: str
    seconds: float = 0.0
    resent: int = 0  # chunks that got error replies and were sent again (to the new leader)
    errors: Counter[str] = field(default_factory=Counter)  # first error line of each failure
    terms: str = ""  # Raft term before -> after the fill (each election adds at least 1)


def fill(target: str, port: int, chunks: list[bytes],
         find_leader: Callable[[], int] | None = None) -> FillResult:
    """Send the chunks one after the other, each through its own `redis-cli --pipe`. A chunk
    that gets any error reply (a leader change: MOVED, CLUSTERDOWN, TRYAGAIN) is sent again in
    full (SETs are idempotent) to the leader `find_leader` then names, at most
    FILL_MAX_ATTEMPTS times. Raises if a chunk never goes through."""
    result = FillResult(target)
    term_before = raft_term(port) if find_leader else -1
    started = time.monotonic()
    for number, chunk in enumerate(chunks, 1):
        expected = chunk.count(b"*3\r\n$3\r\nSET")
        for attempt in range(1, FILL_MAX_ATTEMPTS + 1):
            try:
                done = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), "--pipe",
                                       "--pipe-timeout", "60"], input=chunk, capture_output=True,
                                      timeout=120)
                out = done.stdout.decode(errors="replace").strip().splitlines()
            except subprocess.TimeoutExpired:
                done, out = None, ["redis-cli --pipe timed out after 120 s"]
            if done is not None and done.returncode == 0 and \
                    f"errors: 0, replies: {expected}" in (out or [""])[-1]:
                break
            first_error = next((line for line in out if not line.startswith(
                ("All data transferred", "Waiting for the last", "Last reply", "errors:"))),
                (out or ["no output"])[-1])
            result.errors[" ".join(first_error.split()[:1] + first_error.split()[2:])[:80]] += 1
            if find_leader is None or attempt == FILL_MAX_ATTEMPTS:
                raise RuntimeError(f"{target}: fill chunk {number}/{len(chunks)} failed "
                                   f"{attempt} time(s); last: {first_error} "
                                   f"({(out or [''])[-1]})")
            result.resent += 1
            log(f"  {target}: chunk {number}/{len(chunks)} got errors ({first_error}); "
                "sending it again to the leader")
            port = find_leader()
    result.seconds = time.monotonic() - started
    if find_leader:
        result.terms = f"{term_before} -> {raft_term(port)}"
    return result


def data_bytes(keys: int, value_size: int = len(FILL_VALUE)) -> int:
    return keys * (len(FILL_KEY_FORMAT.format(0)) + value_size)


@dataclass(frozen=True)
class RssRow:
    target: str
    node: str
    keys: int
    rss_kib: int
    peak_rss_kib: int
    judged: bool  # rcache nodes are judged against the goal, redis-server is a reference
    empty_kib: int = 0  # VmRSS of the same process before the fill (0: not measured)



def rss_row(target: str, node: str, pid: int, keys: int, judged: bool,
            empty_kib: int = 0) -> RssRow:
    return RssRow(target, node, keys, read_proc_status_kib(pid, "VmRSS"),
                  read_proc_status_kib(pid, "VmHWM"), judged, empty_kib)


def dbsize(port: int, follower: bool = False) -> int:
    """DBSIZE (-1 if no number came back); a follower's own count after READONLY (it would
    answer MOVED otherwise)."""
    commands = "READONLY\nDBSIZE\n" if follower else "DBSIZE\n"
    try:
        done = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port)], input=commands,
                              capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return -1
    replies = done.stdout.split()
    try:
        return int(replies[-1])
    except (IndexError, ValueError):
        return -1


@dataclass(frozen=True)
class MemoryRow:
    """RSS of redis-server and of one rcache node, each fresh and holding the same data set."""

    keys: int
    value_size: int
    redis_kib: int  # VmRSS; 0 if that server failed
    rcache_kib: int
    redis_keys: int  # DBSIZE after the fill
    rcache_keys: int

    @property
    def ratio(self) -> float | None:
        return self.rcache_kib / self.redis_kib if self.redis_kib and self.rcache_kib else None


def run_memory(keys: int, tmp: Path, problems: list[str],
               value_sizes: Sequence[int] = MEMORY_VALUE_SIZES) -> list[MemoryRow]:
    """For each value size: a fresh redis-server and a fresh rcache node each take `keys`
    distinct SETs of that size (one after the other, never side by side); their RSS then."""
    rows = []
    for size in value_sizes:
        chunks = fill_chunks(keys, b"x" * size)
        held: dict[str, tuple[int, int]] = {}
        for name, make in (("redis-server", redis_server), ("rcache", rcache_single_node)):
            workdir = tmp / f"memory-{size}" / name
            workdir.mkdir(parents=True)
            server = make(workdir)
            try:
                server.start()
                log(f"memory: filling {name} with {keys:,} keys of {size} bytes")
                fill(name, server.port, chunks)
                held[name] = (read_proc_status_kib(server.proc.pid, "VmRSS"),
                              dbsize(server.port))
            except (RuntimeError, OSError, subprocess.SubprocessError) as err:
                problems.append(f"memory, {name}, {size}-byte values: {err}")
                log(f"bench: memory: {name}: {err}")
            finally:
                server.stop()
        (redis_kib, redis_keys), (rcache_kib, rcache_keys) = (
            held.get(name, (0, -1)) for name in ("redis-server", "rcache"))
        rows.append(MemoryRow(keys, size, redis_kib, rcache_kib, redis_keys, rcache_keys))
    return rows
