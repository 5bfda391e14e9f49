"""What concurrent clients did and saw: every operation with its invoke and complete times
and an honest outcome.

Outcomes follow Jepsen: ``ok`` (took effect, value observed), ``fail`` (certainly did not take
effect: rcache said TRYAGAIN, or MOVED/CLUSTERDOWN, or we never reached a node) and ``info``
(may or may not have taken effect: a timeout, a dropped connection after sending, or rcache's
"may or may not have been committed"). A read never changes state, so a read that did not
return a value is simply ``fail``.

Clients talk RESP through one raw redis-py ``Connection`` each, never retrying on their own: a
retried INCR could count twice. They follow MOVED to the leader themselves (MOVED is answered
before anything is proposed, so following it is safe), and read with
``RAFT.READ-CONSISTENCY linearizable`` unless told otherwise.
"""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.exceptions import ClusterDownError, MovedError, ResponseError, TryAgainError
from redis.retry import Retry

OK, FAIL, INFO = "ok", "fail", "info"
GET, SET, INCR = "get", "set", "incr"
OUTCOME_UNKNOWN_PREFIX = "ERR The write may or may not have been committed"


@dataclass
class Op:
    """One operation. ``value`` is what SET wrote, or what GET/INCR returned (None: GET of a
    missing key, or an INCR whose outcome is unknown). ``complete_ns`` is None when the
    outcome is unknown: the operation may take effect at any time after its invocation."""

    process: int
    kind: str
    key: str
    value: str | None
    outcome: str
    invoke_ns: int
    complete_ns: int | None
    node: str = ""
    error: str = ""

    def describe(self, origin_ns: int = 0) -> str:
        """One human-readable line: who, what, when (ms since origin_ns), outcome."""
        start = (self.invoke_ns - origin_ns) / 1e6
        end = "?" if self.complete_ns is None else f"{(self.complete_ns - origin_ns) / 1e6:.1f}"
        if self.kind == SET:
            what = f"SET {self.key} {self.value!r}"
        elif self.outcome == OK:
            what = f"{self.kind.upper()} {self.key} -> {self.value!r}"
        else:
            what = f"{self.kind.upper()} {self.key}"
        note = f" ({self.error})" if self.error else ""
        return f"p{self.process:<3} [{start:10.1f} .. {end:>10} ms] {what}  {self.outcome}{note}"


class History:
    """Thread-safe list of operations. An operation is recorded when it is invoked (as
    ``info``, outcome unknown) and completed when its reply arrives: one whose client never
    came back stays unknown, as it should."""

    def __init__(self) -> None:
        self._ops: list[Op] = []
        self._lock = threading.Lock()

    def invoke(self, op: Op) -> None:
        with self._lock:
            self._ops.append(op)

    def complete(self, op: Op, **fields: object) -> None:
        with self._lock:
            for name, value in fields.items():
                setattr(op, name, value)

    @property
    def ops(self) -> list[Op]:
        """A snapshot, in invocation order."""
        with self._lock:
            return sorted((replace(op) for op in self._ops), key=lambda op: op.invoke_ns)


def save_history(ops: Iterable[Op], path: Path, final: dict[str, dict[str, str | None]]
                 | None = None) -> None:
    """JSON lines: one op per line, then (if given) the final values read from every node."""
    with open(path, "w", encoding="utf-8") as fh:
        for op in ops:
            fh.write(json.dumps(asdict(op)) + "\n")
        if final is not None:
            fh.write(json.dumps({"final": final}) + "\n")


def load_history(path: Path) -> tuple[list[Op], dict[str, dict[str, str | None]] | None]:
    ops, final = [], None
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            record = json.loads(line)
            if "final" in record:
                final = record["final"]
            else:
                ops.append(Op(**record))
    return ops, final


@dataclass(frozen=True)
class Reply:
    """A command's fate: OK (with the reply), FAIL (certainly not applied) or INFO (sent, fate
    unknown), the node that answered and the error text."""

    outcome: str
    value: object
    node: str
    error: str


class _Unsent(Exception):
    """The command certainly never reached a node (no connection, or a redirect)."""


class RoutingClient:
    """A client for one process at a time: finds the leader by following MOVED, and reports
    exactly what it knows about each command's fate."""

    def __init__(self, addresses: Callable[[], list[str]], timeout: float,
                 read_consistency: str = "linearizable", max_redirects: int = 5) -> None:
        self._addresses = addresses
        self._timeout = timeout
        self._read_consistency = read_consistency
        self._max_redirects = max_redirects
        self._conn: redis.Connection | None = None
        self._target: str | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.disconnect()
            self._conn = None

    def _connect(self) -> redis.Connection:
        if self._conn is not None:
            return self._conn
        if self._target is None:
            candidates = self._addresses()
            if not candidates:
                raise _Unsent("no node to connect to")
            self._target = random.choice(candidates)
        host, port = self._target.rsplit(":", 1)
        conn = redis.Connection(host=host, port=int(port), socket_timeout=self._timeout,
                                socket_connect_timeout=min(self._timeout, 2.0),
                                retry=Retry(NoBackoff(), 0))
        try:
            conn.connect()
            if self._read_consistency != "default":
                conn.send_command("RAFT.READ-CONSISTENCY", self._read_consistency)
                conn.read_response()
        except (redis.RedisError, OSError) as err:
            conn.disconnect()
            self._target = None
            raise _Unsent(f"connect to {host}:{port}: {err}") from err
        self._conn = conn
        return conn

    def _drop(self, new_target: str | None) -> None:
        self.close()
        self._target = new_target

    def call(self, *args: str) -> Reply:
        """Send one command, following MOVED; the caller decides what INFO means for a read."""
        last = ""
        for _ in range(self._max_redirects):
            try:
                conn = self._connect()
            except _Unsent as err:
                return Reply(FAIL, None, "", str(err))
            node = self._target or ""
            try:
                conn.send_command(*args)
                value = conn.read_response()
            except MovedError as err:
                self._drop(str(err).split()[-1])
                last = f"MOVED {err}"
                continue
            except ClusterDownError as err:
                self._drop(None)
                return Reply(FAIL, None, node, f"CLUSTERDOWN {err}")
            except TryAgainError as err:
                return Reply(FAIL, None, node, f"TRYAGAIN {err}")
            except ResponseError as err:
                return Reply(INFO, None, node, str(err))
            except (redis.RedisError, OSError) as err:
                self._drop(None)
                return Reply(INFO, None, node, f"{type(err).__name__}: {err}")
            return Reply(OK, value, node, "")
        return Reply(FAIL, None, "", f"too many redirects (last: {last})")


@dataclass(frozen=True)
class KeySpace:
    """Registers (GET/SET of unique values) and counters (GET/INCR), ``count`` keys in all."""

    count: int

    @property
    def keys(self) -> list[str]:
        return [f"{'reg' if i % 2 == 0 else 'ctr'}:{i}" for i in range(self.count)]


class Worker(threading.Thread):
    """One client thread. After an ``info`` outcome it continues as a new process, as Jepsen
    does: a process has at most one operation in flight, and that one never completes."""

    def __init__(self, history: History, keys: KeySpace, addresses: Callable[[], list[str]],
                 process_ids: Iterable[int], stop: threading.Event, seed: int,
                 timeout: float = 5.0, read_consistency: str = "linearizable") -> None:
        super().__init__(name="verify-client", daemon=True)
        self._history = history
        self._keys = keys.keys
        self._process_ids = iter(process_ids)
        self._client = RoutingClient(addresses, timeout, read_consistency)
        self._halt = stop
        self._random = random.Random(seed)

    def run(self) -> None:
        process = next(self._process_ids)
        sequence = itertools.count()
        try:
            while not self._halt.is_set():
                outcome = self._one_op(process, next(sequence))
                if outcome == INFO:
                    process = next(self._process_ids)
                elif outcome == FAIL:
                    self._halt.wait(0.02)  # no leader yet: don't spin
        finally:
            self._client.close()

    def _one_op(self, process: int, sequence: int) -> str:
        key = self._random.choice(self._keys)
        if self._random.random() < 0.5:
            kind, args, written = GET, ("GET", key), None
        elif key.startswith("reg:"):
            written = f"{process}.{sequence}"
            kind, args = SET, ("SET", key, written)
        else:
            kind, args, written = INCR, ("INCR", key), None
        op = Op(process, kind, key, written, INFO, time.monotonic_ns(), None)
        self._history.invoke(op)
        reply = self._client.call(*args)
        complete = time.monotonic_ns()
        outcome = reply.outcome
        if kind == GET and outcome == INFO:
            outcome = FAIL  # a read with no answer changed nothing
        value = written
        if outcome == OK and kind != SET:
            value = None if reply.value is None else _text(reply.value)
        self._history.complete(op, outcome=outcome, value=value, node=reply.node,
                               error=reply.error,
                               complete_ns=None if outcome == INFO else complete)
        return outcome


def _text(reply: object) -> str:
    return reply.decode() if isinstance(reply, bytes) else str(reply)


def read_final_values(addresses: list[str], keys: list[str], timeout: float = 5.0
                      ) -> dict[str, dict[str, str | None]]:
    """Every key as each node holds it locally (READONLY), once the cluster has converged."""
    final: dict[str, dict[str, str | None]] = {}
    for address in addresses:
        host, port = address.rsplit(":", 1)
        client = redis.Redis(host=host, port=int(port), socket_timeout=timeout,
                             retry=Retry(NoBackoff(), 0))
        try:
            client.execute_command("READONLY")
            values = client.mget(keys)
        finally:
            client.close()
        final[address] = {key: None if v is None else _text(v) for key, v in zip(keys, values,
                                                                                  strict=True)}
    return final
