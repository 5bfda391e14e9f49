"""The one way to start and stop server processes on this machine: an rcache node (``python -m
rcache`` with PYTHONPATH = the checkout), a redis-server, an N-node rcache cluster.

Used by the tests' fixtures, bench/, the verify runner and ``rcache cluster start``. A leaf:
it imports nothing of rcache. Every wait has a deadline; stopping is SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import functools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

import redis

ROOT = Path(__file__).resolve().parent.parent  # the checkout whose rcache a node runs
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


class StartFailed(RuntimeError):
    """The process exited, or did not become ready in time."""


_HANDED_OUT: set[int] = set()  # never the same port twice in one process (nor its +10000)


def free_port(taken: frozenset[int] | set[int] = frozenset(), count: int = 1) -> int:
    """A client port free now whose default Raft port (+10000) is free too, and that this
    process was not given before (the kernel may hand a just-closed port out again).
    ``count``: the next count - 1 ports and their Raft ports too (a local cluster's)."""
    for _ in range(200):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        ports = {p + raft for p in range(port, port + count) for raft in (0, 10000)}
        if port + count <= 55000 and not ports & (set(taken) | _HANDED_OUT) and all(
                _is_free(p) for p in ports - {port}):
            _HANDED_OUT.update(ports)
            return port
    raise RuntimeError("no free port pair found")


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def rcache_argv(*args: str) -> list[str]:
    """The command line of an rcache node: ``python -m rcache ARGS``."""
    return [sys.executable, "-m", "rcache", *args]


def rcache_env(root: Path = ROOT, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of an rcache node: ours, `extra`, and PYTHONPATH = `root` (so the node
    runs that checkout's rcache, not an installed one)."""
    return {**os.environ, **(extra or {}), "PYTHONPATH": str(root)}


def redis_server_argv(port: int, workdir: Path, *extra: str) -> list[str]:
    """redis-server as rcache is compared against: loopback, no RDB snapshots, no AOF."""
    return ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
            "--appendonly", "no", "--dir", str(workdir), *extra]


def answers_ping(port: int) -> bool:
    """The server on `port` answers PING (an authentication error counts: it is up)."""
    try:
        with redis.Redis(host="127.0.0.1", port=port, socket_timeout=1,
                         socket_connect_timeout=1) as client:
            return bool(client.ping())
    except redis.AuthenticationError:
        return True
    except (redis.RedisError, OSError):
        return False


def counts_voters(size: int, port: int) -> bool:
    """Does the node on `port` count `size` voters in its Raft configuration? (A node joins as
    a learner; the leader promotes it once it has caught up.) One that wants a password counts
    as ready, as in ``answers_ping``."""
    try:
        with redis.Redis(host="127.0.0.1", port=port, socket_timeout=2,
                         socket_connect_timeout=2) as client:
            return client.info("raft").get("raft_voters") == size
    except (redis.AuthenticationError, redis.exceptions.NoPermissionError):
        return True
    except redis.ResponseError as err:
        return str(err).startswith("NOAUTH")
    except (redis.RedisError, OSError):
        return False


class ServerProcess:
    """One server process writing its output to a log file (appended to on restart)."""

    def __init__(self, argv: Sequence[str], log_path: Path, port: int,
                 env: dict[str, str] | None = None, cwd: Path | None = None,
                 preexec_fn: Callable[[], None] | None = None, name: str = "") -> None:
        self.argv = list(argv)
        self.log_path = log_path
        self.port = port
        self.env = env
        self.cwd = cwd
        self.preexec_fn = preexec_fn  # e.g. lower a resource limit of the process
        self.name = name or f"port {port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def launch(self, argv: Sequence[str] | None = None) -> None:
        """Start the process (`argv` instead of the usual one), not waiting for anything."""
        if self._log is None:
            self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(list(argv or self.argv), stdout=self._log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=self.env, cwd=self.cwd, preexec_fn=self.preexec_fn)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def check_running(self) -> None:
        """Raise StartFailed if the process has exited."""
        if self.proc is not None and self.proc.poll() is not None:
            raise StartFailed(f"{self.name} exited with {self.exit_status()}\n"
                              f"{' '.join(self.argv)}\nits log ends:\n{self.log_tail()}")

    def exit_status(self) -> str:
        code = self.proc.returncode if self.proc is not None else None
        if code is not None and code < 0:
            try:
                return f"{code} ({signal.Signals(-code).name})"
            except ValueError:
                pass
        return str(code)

    def wait_ready(self, timeout: float = READY_TIMEOUT_S,
                   ready: Callable[[int], bool] = answers_ping, interval: float = 0.05) -> None:
        """Poll `ready(port)` until it holds; StartFailed if the process exits first or
        `timeout` seconds pass."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_running()
            if ready(self.port):
                return
            if time.monotonic() > deadline:
                raise StartFailed(f"{self.name} not ready after {timeout:.0f}s:\n"
                                  f"{self.log_tail()}")
            time.sleep(interval)

    def start(self, timeout: float = READY_TIMEOUT_S,
              ready: Callable[[int], bool] = answers_ping) -> None:
        self.launch()
        self.wait_ready(timeout, ready)

    def kill(self) -> None:
        """SIGKILL and reap: nothing is flushed."""
        if self.alive:
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT_S)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM (after SIGCONT, in case it was paused); SIGKILL if still there after
        `timeout` seconds. Closes the log."""
        self.ask_to_stop()
        self.wait_stopped(timeout)

    def ask_to_stop(self) -> None:
        """SIGTERM (after SIGCONT, in case it was paused), not waiting for the exit."""
        if self.alive:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()

    def wait_stopped(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """After ask_to_stop: wait for the exit, SIGKILL after `timeout` seconds; close the
        log."""
        if self.alive:
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                print(f"warning: {self.name} ignored SIGTERM for {timeout:.0f}s; killing",
                      file=sys.stderr)
                self.proc.kill()
                self.proc.wait(timeout)
        if self._log is not None:
            self._log.close()
            self._log = None


class RcacheNode(ServerProcess):
    """An rcache node on `port` keeping its data in `data_dir`; it logs to `log_path`
    (default: data_dir + .log) and runs the rcache of checkout `root`."""

    def __init__(self, port: int, data_dir: Path, *args: str, log_path: Path | None = None,
                 root: Path = ROOT, env: dict[str, str] | None = None,
                 preexec_fn: Callable[[], None] | None = None, name: str = "") -> None:
        super().__init__(rcache_argv("--port", str(port), "--dir", str(data_dir), *args),
                         log_path or data_dir.with_suffix(".log"), port,
                         env=rcache_env(root, env), cwd=root, preexec_fn=preexec_fn,
                         name=name or f"rcache on port {port}")
        self.dir = data_dir
        self.args = list(args)


def redis_server(port: int, workdir: Path, *extra: str) -> ServerProcess:
    """A redis-server (not started), logging to workdir/redis-server.log."""
    return ServerProcess(redis_server_argv(port, workdir, *extra),
                         workdir / "redis-server.log", port, name="redis-server")


def stop_all(processes: Sequence[ServerProcess], timeout: float = STOP_TIMEOUT_S) -> None:
    """Stop them together (a cluster's nodes): each is asked first, then each is waited for,
    instead of one shutdown after the other."""
    for process in processes:
        process.ask_to_stop()
    for process in processes:
        process.wait_stopped(timeout)


def cluster_node_args(node_id: str, join_port: int | None, *args: str) -> list[str]:
    """Options of a node of a local cluster: its id, and --join the node on `join_port`
    unless it bootstraps the cluster (None)."""
    join = ["--join", f"127.0.0.1:{join_port}"] if join_port else []
    return ["--id", node_id, *join, *args]


def start_cluster(nodes: Sequence[ServerProcess], timeout: float = READY_TIMEOUT_S) -> None:
    """Start the nodes of a new cluster: the first (which bootstraps it) until it answers,
    then the others, then wait for each to answer and to count them all as voters (once
    the leader has promoted every joined learner). Stops them all if one fails."""
    first, *others = nodes
    try:
        first.launch()
        first.wait_ready(timeout)
        for node in others:
            node.launch()
        for node in others:
            node.wait_ready(timeout)
        for node in nodes:
            node.wait_ready(timeout, functools.partial(counts_voters, len(nodes)))
    except BaseException:
        stop_all(nodes)
        raise
