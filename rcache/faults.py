"""Failures of the tick thread (Raft log, RocksDB): logged once, told to clients, cleared.

A full disk or a lack of file descriptors makes every tick fail the same way (the journal
cannot flush, the entry cannot be applied), and each tick retries: logging each one buried
the cause under ~20 tracebacks a second, and clients only saw their writes time out as if the
leader were unreachable. Here the first failure of a kind is logged with its traceback, a
repeat at most once a minute with a count, the recovery once; while an I/O error lasts,
writes are refused at once with a MISCONF error that names it (Redis answers a failing AOF
write the same way).
"""

from __future__ import annotations

import logging
import threading
import time

from .errors import OUTCOME_UNKNOWN, outcome_unknown

log = logging.getLogger(__name__)

REPEAT_LOG_INTERVAL = 60.0


def describe(error: BaseException) -> str:
    """One line: the OS's text and file for an OSError, RocksDB's message otherwise."""
    if isinstance(error, OSError) and error.strerror:
        where = f" ({error.filename})" if error.filename else ""
        return error.strerror + where
    return " ".join(str(error).split()) or type(error).__name__


def is_io_error(error: BaseException) -> bool:
    """An OSError, or RocksDB's IOError (rocksdict raises a bare Exception: "IO error: ...")."""
    return isinstance(error, OSError) or str(error).startswith("IO error")


class TickFaults:
    """Written by the tick thread, read by the event loop (one attribute, read atomically)."""

    def __init__(self) -> None:
        self.io_error: str | None = None  # the I/O error that fails ticks now, if any
        self._current: str | None = None
        # error text -> [when last logged, repeats since]: failures may alternate (the
        # journal's, then RocksDB's), each is logged on its own schedule
        self._seen: dict[str, list] = {}
        self._lock = threading.Lock()

    def failed(self, error: BaseException) -> None:
        text = describe(error)
        now = time.monotonic()
        with self._lock:
            seen = self._seen.get(text)
            if seen is None:
                self._seen[text] = [now, 0]
                log.error("raft tick failed: %s (retried every tick; logged again at most "
                          "once a minute)", text, exc_info=error)
            elif now - seen[0] >= REPEAT_LOG_INTERVAL:
                log.error("raft tick still failing: %s (%d times since last logged)",
                          text, seen[1] + 1)
                seen[:] = [now, 0]
            else:
                seen[1] += 1
            self._current = text
            self.io_error = text if is_io_error(error) else None

    def succeeded(self) -> None:
        if self._current is None:
            return
        with self._lock:
            log.warning("raft tick recovered from: %s", self._current)
            self._current = self.io_error = None
            self._seen.clear()

    def unknown_outcome(self) -> str:
        """The error of a write whose entry neither committed nor failed in time."""
        error = self.io_error
        return OUTCOME_UNKNOWN if error is None else outcome_unknown(f"disk error: {error}")

    def refusal(self) -> str | None:
        """The error a write gets now, or None."""
        error = self.io_error
        return None if error is None else f"MISCONF Errors writing to disk: {error}"
