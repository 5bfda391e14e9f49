"""Real processes on loopback: rcache nodes and a redis-server to compare against.

Every process a test starts is stopped by the fixture that started it; every wait is bounded.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import ClassVar

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from rcache import launch
from rcache.launch import RcacheNode, free_port

ROOT = Path(__file__).resolve().parent.parent
LOG_TAIL_LINES = 60  # of each node's log, in a failed test's report


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


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item):
    """A failed test's report ends with the last lines of the log of every node it ran on:
    those launched since it began, and those of shared fixtures still running. CI keeps no
    files, only its output."""
    report = yield
    if report.failed:
        for node in Node.launched:
            report.sections.append((f"{node.name}'s log ends", node.log_tail(LOG_TAIL_LINES)))
    if report.when == "teardown":
        Node.launched[:] = [node for node in Node.launched if node.alive]
    return report


@pytest.fixture(scope="session", autouse=True)
def _bytecode_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The processes the tests start (hundreds of nodes) compile rcache once per session, not
    at each start, also where the environment sets PYTHONDONTWRITEBYTECODE: a node then
    answered in 0.5 s instead of 1.1 s (0.28 instead of 0.51 s of CPU). The bytecode goes to a
    directory of the session, not into the checkout."""
    with pytest.MonkeyPatch.context() as env:
        env.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
        env.setenv("PYTHONPYCACHEPREFIX", str(tmp_path_factory.mktemp("pycache")))
        yield


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


class Node(RcacheNode):
    """One rcache process, started with `python -m rcache`, as a user would run it."""

    launched: ClassVar[list[Node]] = []  # for failure reports (pytest_runtest_makereport)

    def __init__(self, data_dir: Path, port: int | None = None, *args: str,
                 env: dict[str, str] | None = None,
                 preexec_fn: Callable[[], None] | None = None) -> None:
        super().__init__(port or free_port(), data_dir, *args, root=ROOT, env=env,
                         preexec_fn=preexec_fn)

    def launch(self, argv: Sequence[str] | None = None) -> None:
        if self not in Node.launched:
            Node.launched.append(self)
        super().launch(argv)

    def start(self, wait: bool = True) -> Node:
        self.launch()
        if wait:
            self.wait_ready()
        return self

    def client(self, **kwargs) -> redis.Redis:
        """A redis-py client that never retries behind the test's back (a retried INCR
        would count twice)."""
        kwargs.setdefault("socket_timeout", 10)
        kwargs.setdefault("socket_connect_timeout", 5)
        kwargs.setdefault("retry", Retry(NoBackoff(), 0))
        return redis.Redis(host="127.0.0.1", port=self.port, **kwargs)

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

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
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (.ci/run installs it)")
    workdir = tmp_path_factory.mktemp("redis")
    server = launch.redis_server(free_port(), workdir)
    try:
        server.start(timeout=10)
        yield server.port
    finally:
        server.stop()


class LocalCluster:
    """Real rcache node processes forming one Raft cluster on loopback."""

    def __init__(self, base: Path, size: int, *args: str, http: bool = False) -> None:
        self.base = base
        self.args = args
        self.http = http  # each node also gets an HTTP port of its own (node.http_port)
        self.nodes: list[Node] = []
        for _ in range(size):
            self.add_node(start=False)

    def add_node(self, *extra: str, start: bool = True) -> Node:
        """A node joining the cluster (with --join, as a learner until the leader promotes
        it; ``extra``: more options); the first one bootstraps it."""
        i = len(self.nodes) + 1
        http = ["--http-port", str(free_port())] if self.http else []
        join_port = self.nodes[0].port if self.nodes else None
        node = Node(self.base / f"n{i}", None,
                    *launch.cluster_node_args(f"n{i}", join_port, *http, *self.args, *extra))
        node.name = f"n{i}"
        node.http_port = int(http[1]) if http else None
        self.nodes.append(node)
        if start:
            node.start()
        return node

    def start(self) -> LocalCluster:
        launch.start_cluster(self.nodes)
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

    def on_leader(self, *argv, timeout: float = 30):
        """Run one command on the leader, retrying while leadership moves (MOVED, TRYAGAIN)."""
        outcome: list = []

        def attempt() -> bool:
            try:
                outcome.append(self.leader().client().execute_command(*argv))
            except (redis.exceptions.MovedError, redis.exceptions.TryAgainError):
                return False
            return True

        wait_for(attempt, timeout, f"{argv[0]} on the leader")
        return outcome[-1]

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
        launch.stop_all(self.nodes)

    def __enter__(self) -> LocalCluster:
        """Started (stopped again if it fails to start); stopped when the block ends."""
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    with LocalCluster(tmp_path, 3) as c:
        yield c


@pytest.fixture(scope="module")
def _module_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with LocalCluster(tmp_path_factory.mktemp("steady-cluster"), 3) as c:
        yield c


def steadied(cluster: LocalCluster) -> LocalCluster:
    """A shared cluster, ready for the next test: every node running, every database
    flushed, every follower caught up."""
    assert len(cluster.live()) == len(cluster.nodes), "a node of the shared cluster stopped"
    cluster.on_leader("FLUSHALL")
    cluster.wait_converged()
    return cluster


@pytest.fixture
def steady_cluster(_module_cluster: LocalCluster) -> LocalCluster:
    """One 3-node cluster for a module's tests that leave its nodes as they found them:
    running (paused for a while at most), members, configured alike (moving leadership is
    fine): a cluster start costs seconds."""
    return steadied(_module_cluster)
