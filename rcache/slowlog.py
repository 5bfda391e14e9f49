"""SLOWLOG's entries: commands that ran longer than ``slowlog-log-slower-than``, newest first,
kept per node (as each Redis instance keeps its own). No I/O."""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque

MAX_ARGS = 32  # SLOWLOG_ENTRY_MAX_ARGC
MAX_STRING = 128  # SLOWLOG_ENTRY_MAX_STRING


def _shown_args(argv: list[bytes]) -> list[bytes]:
    """The arguments as Redis logs them: at most 32, each cut at 128 bytes."""
    shown = []
    for i, arg in enumerate(argv[:MAX_ARGS]):
        if len(argv) > MAX_ARGS and i == MAX_ARGS - 1:
            shown.append(b"... (%d more arguments)" % (len(argv) - MAX_ARGS + 1))
        elif len(arg) > MAX_STRING:
            shown.append(arg[:MAX_STRING] + b"... (%d more bytes)" % (len(arg) - MAX_STRING))
        else:
            shown.append(arg)
    return shown


class SlowLog:
    def __init__(self) -> None:
        self.entries: deque[list] = deque()
        self.next_id = 0
        self._lock = threading.Lock()  # reads log on the event loop, writes on the Raft thread

    def record(self, argv: list[bytes], duration_us: int, max_len: int, peer: str,
               name: bytes) -> None:
        entry = [0, int(time.time()), duration_us, _shown_args(argv), peer.encode(), name]
        with self._lock:
            entry[0] = self.next_id
            self.next_id += 1
            self.entries.appendleft(entry)
            while len(self.entries) > max_len:
                self.entries.pop()

    def latest(self, count: int) -> list[list]:
        with self._lock:
            return list(itertools.islice(self.entries, count))

    def reset(self) -> None:
        with self._lock:
            self.entries.clear()
