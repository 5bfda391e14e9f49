"""Real processes on loopback: rcache nodes and a redis-server to compare against.

Every process a test starts is stopped by the fixture that started it; every wait is bounded.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from rcache.verify.nodes import free_port

ROOT = Path(__file__).resolve().parent.parent


# Test tiers (pytest -m unit | system | chaos); the README's command runs them all.
_IN_PROCESS_MODULES = frozenset({"test_resp.py", "test_checker.py", "test_raft_log.py"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """unit: in-process, no server processes. system: real nodes or redis-server.
    chaos: the linearizability runs under faults (minutes)."""
    for item in items:
        name = item.path.name
        if name == "test_chaos.py":
            item.add_marker(pytest.mark.chaos)
        elif name in _IN_PROCESS_MODULES or name.endswith("_unit.py"):
            item.add_marker(pytest.mark.unit)
        else:
            item.add_marker(pytest.mark.system)


def wait_for(condition: Callable[[], object], timeout: float, what: str,
             interval: float = 0.05) -> object:
    """Poll until condition() is truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = condition()
            if result:
                return result
        except Exception as err:  # the condition may fail while a process starts
            last_error = err
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} "
                         f"(last error: {last_error})")


class Node:
    """One rcache process, started with `python -m rcache`, as a user would run it."""

    def __init__(self, data_dir: Path, port: int | None = None, *args: str,
                 env: dict[str, str] | None = None,
                 preexec_fn: Callable[[], None] | None = None) -> None:
        self.dir = data_dir
        self.port = port or free_port()
        self.args = list(args)
        self.env = env or {}
        self.preexec_fn = preexec_fn  # e.g. lower a resource limit of the node's process
        self.proc: subprocess.Popen | None = None
        self.log_path = data_dir.with_suffix(".log")

    def start(self, wait: bool = True) -> Node:
        env = {**os.environ, **self.env, "PYTHONPATH": str(ROOT)}
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rcache", "--port", str(self.port), "--dir", str(self.dir),
             *self.args], stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
            preexec_fn=self.preexec_fn)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 30) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"rcache exited with {self.proc.returncode}:\n{self.log()}")
            try:
                return self.client(socket_timeout=1).ping()
            except redis.AuthenticationError:  # requirepass is set: it is up all the same
                return True
        wait_for(ready, timeout, f"rcache on port {self.port}")

    def client(self, **kwargs) -> redis.Redis:
        """A redis-py client that never retries behind the test's back (a retried INCR
        would count twice)."""
        kwargs.setdefault("socket_timeout", 10)
        kwargs.setdefault("socket_connect_timeout", 5)
        kwargs.setdefault("retry", Retry(NoBackoff(), 0))
        return redis.Redis(host="127.0.0.1", port=self.port, **kwargs)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL: no chance to flush anything."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # in case a test paused it
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if getattr(self, "_log", None):
            self._log.close()

    def restart(self) -> Node:
        self.stop()
        return self.start()


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    n = Node(tmp_path / "node").start()
    yield n
    n.stop()


@pytest.fixture
def make_node(tmp_path: Path) -> Iterator[Callable[..., Node]]:
    """Factory for nodes with custom flags; all are stopped at the end of the test."""
    nodes: list[Node] = []

    def make(*args: str, name: str | None = None, start: bool = True, **kwargs) -> Node:
        n = Node(tmp_path / (name or f"node{len(nodes)}"), None, *args, **kwargs)
        nodes.append(n)
        return n.start() if start else n

    yield make
    for n in nodes:
        n.stop()


@pytest.fixture(scope="session")
def shared_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """One rcache for the many tests that only need a server (they flush what they use)."""
    n = Node(tmp_path_factory.mktemp("shared") / "node").start()
    yield n
    n.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A real redis-server (no persistence), the reference our replies are compared to."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (.ci/run installs it)")
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(workdir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: redis.Redis(port=port, socket_timeout=1).ping(), 10, "redis-server")
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class LocalCluster:
    """Real rcache node processes forming one Raft cluster on loopback."""

    def __init__(self, base: Path, size: int, *args: str, http: bool = False) -> None:
        self.base = base
        self.args = args
        self.http = http  # each node also gets an HTTP port of its own (node.http_port)
        self.nodes: list[Node] = []
        for _ in range(size):
            self.add_node(start=False)

    def add_node(self, start: bool = True) -> Node:
        i = len(self.nodes) + 1
        join = ["--join", f"127.0.0.1:{self.nodes[0].port}"] if self.nodes else []
        http = ["--http-port", str(free_port())] if self.http else []
        node = Node(self.base / f"n{i}", None, "--id", f"n{i}", *join, *http, *self.args)
        node.name = f"n{i}"
        node.http_port = int(http[1]) if http else None
        self.nodes.append(node)
        if start:
            node.start()
        return node

    def start(self) -> LocalCluster:
        for node in self.nodes:
            node.start()
        self.wait_converged()
        return self

    def live(self) -> list[Node]:
        return [n for n in self.nodes if n.proc is not None and n.proc.poll() is None]

    def info(self, node: Node) -> dict:
        return node.client(socket_timeout=2).info("raft")

    def leader(self, timeout: float = 20, among: list[Node] | None = None) -> Node:
        """The node every live (or given) node agrees is the leader."""
        candidates = among or self.live()

        def agreed() -> Node | None:
            infos = {n.name: self.info(n) for n in candidates}
            leaders = {i["raft_leader_id"] for i in infos.values()}
            if len(leaders) != 1 or "" in leaders:
                return None
            (leader_id,) = leaders
            matches = [n for n in self.nodes if n.name == leader_id]
            if not matches:
                return None
            leader_info = infos[leader_id] if leader_id in infos else self.info(matches[0])
            return matches[0] if leader_info["raft_role"] == "leader" else None

        return wait_for(agreed, timeout, "an agreed leader")

    def followers(self) -> list[Node]:
        leader = self.leader()
        return [n for n in self.live() if n is not leader]

    def wait_converged(self, timeout: float = 30) -> None:
        """Every live node has a leader and has applied what the leader has committed."""
        leader = self.leader(timeout)

        def caught_up() -> bool:
            target = self.info(leader)["raft_commit_index"]
            return all(self.info(n)["raft_applied_index"] >= target for n in self.live())

        wait_for(caught_up, timeout, "followers to catch up")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    c = LocalCluster(tmp_path, 3).start()
    yield c
    c.stop()
