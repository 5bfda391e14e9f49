"""What the operating system bounds per connection: file descriptors and TCP keepalive.

Every client costs a file descriptor, and so do RocksDB's files, the Raft log, snapshots and
Raft links. If clients may take them all, RocksDB fails with "Too many open files" and writes
stop. So, as Redis's adjustOpenFilesLimit does, the node raises its soft RLIMIT_NOFILE to
``maxclients`` + what it needs itself, and when the system refuses, lowers ``maxclients``.
"""

from __future__ import annotations

import logging
import os
import resource
import socket
import sys

log = logging.getLogger(__name__)

ROCKSDB_MAX_OPEN_FILES = 256  # RocksDB's table cache keeps at most this many files open
# Redis keeps 32 descriptors for itself; we also keep RocksDB's and the Raft links'.
RESERVED_FDS = 32 + ROCKSDB_MAX_OPEN_FILES + 32
_MAX_KEEPIDLE = 32767  # Linux refuses a longer TCP_KEEPIDLE


def raise_open_files_limit(wanted: int) -> int:
    """Try to have at least ``wanted`` descriptors; returns the soft limit now in force.
    Tries ``wanted``, then the kernel's ceiling (fs.nr_open, what a privileged process may
    reach), then the hard limit (what any process may reach)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return wanted
    candidates = [wanted, _kernel_ceiling(), hard]
    for target in sorted({c for c in candidates if soft < c <= wanted}, reverse=True):
        try:
            new_hard = hard if hard == resource.RLIM_INFINITY else max(hard, target)
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, new_hard))
            return target
        except (ValueError, OSError):
            continue  # past the hard limit without the privilege to raise it
    return soft


def _kernel_ceiling() -> int:
    try:
        with open("/proc/sys/fs/nr_open", encoding="ascii") as fh:
            return int(fh.read())
    except (OSError, ValueError):
        return 0


def fit_maxclients(maxclients: int) -> int:
    """``maxclients`` as the descriptor limit allows it, at start (logged when lowered)."""
    wanted = maxclients + RESERVED_FDS
    limit = raise_open_files_limit(wanted)
    if limit >= wanted:
        return maxclients
    fitted = limit - RESERVED_FDS
    if fitted < 1:
        raise SystemExit(f"Your current 'ulimit -n' of {limit} is not enough for the server "
                         f"to start. Please increase your open file limit to at least "
                         f"{RESERVED_FDS + 1}. Exiting.")
    log.warning("You requested maxclients of %d requiring at least %d max file descriptors. "
                "Current maximum open files is %d. maxclients has been reduced to %d to "
                "compensate for low ulimit. If you need higher maxclients increase "
                "'ulimit -n'.", maxclients, wanted, limit, fitted)
    return fitted


def check_maxclients(maxclients: int) -> None:
    """CONFIG SET maxclients: refused (Redis's text) when the descriptors cannot follow."""
    limit = raise_open_files_limit(maxclients + RESERVED_FDS)
    if limit < maxclients + RESERVED_FDS:
        raise ValueError("The operating system is not able to handle the specified number "
                         f"of clients, try with {limit - RESERVED_FDS}")


def free_descriptors() -> int:
    """Descriptors this process may still open (Linux: counted in /proc/self/fd)."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY:
        return sys.maxsize
    try:
        return soft - len(os.listdir("/proc/self/fd"))
    except OSError:  # no /proc, or no descriptor left to list it
        return 0


def set_keepalive(sock: socket.socket, interval: int) -> None:
    """Redis's anetKeepAlive: probes after ``interval`` idle seconds, then every third of
    it; the peer is declared dead after three unanswered probes. 0 turns it off."""
    if interval <= 0:
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    if hasattr(socket, "TCP_KEEPIDLE"):
        idle = min(interval, _MAX_KEEPIDLE)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, max(1, idle // 3))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)


class OomScoreAdj:
    """Redis's oom-score-adj: the kernel's OOM killer reads /proc/self/oom_score_adj; the
    node sets it from oom-score-adj-values by its role (a leader counts as Redis's master, a
    follower as its replica), added to the score it started with unless 'absolute', and
    puts the starting score back when the option returns to 'no' (setOOMScoreAdj)."""

    PATH = "/proc/self/oom_score_adj"

    def __init__(self) -> None:
        self.base: int | None = None  # the score before the node first set it

    def apply(self, mode: str, values: tuple[int, ...], leading: bool) -> None:
        if mode == "no":
            if self.base is None:
                return
            score, self.base = self.base, None
        else:
            try:
                if self.base is None:
                    with open(self.PATH, encoding="ascii") as fh:
                        self.base = int(fh.read())
            except (OSError, ValueError) as err:
                log.warning("Unable to read oom_score_adj: %s", err)
                return
            score = values[0 if leading else 1] + (self.base if mode != "absolute" else 0)
            score = max(-1000, min(1000, score))
        try:
            with open(self.PATH, "w", encoding="ascii") as fh:
                fh.write(f"{score}\n")
        except OSError as err:
            log.warning("Unable to write oom_score_adj: %s", err)
