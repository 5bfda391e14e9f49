"""A cluster of real ``python -m rcache`` processes on 127.0.0.1, started and stopped by the
verify runner itself (no pytest needed). The same ideas as tests/conftest.py's LocalCluster:
node 1 bootstraps, the others ``--join`` it; every wait has a deadline.

Every node's Raft traffic passes through a proxy (``netproxy``): the node listens on its Raft
port and announces the proxy's, so the partition nemesis can cut, drop and delay links.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .netproxy import Network

ROOT = Path(__file__).resolve().parent.parent.parent
T = TypeVar("T")


class Timeout(Exception):
    pass


def wait_until(condition: Callable[[], T], timeout: float, what: str,
               interval: float = 0.05) -> T:
    """Poll condition() until it is truthy; errors while polling count as 'not yet'."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = condition()
            if result:
                return result
        except (redis.RedisError, OSError, KeyError) as err:
            last_error = err
        time.sleep(interval)
    raise Timeout(f"timed out after {timeout}s waiting for {what} (last error: {last_error})")


_HANDED_OUT: set[int] = set()  # never the same port twice in one process (nor its +10000)


def free_port(taken: frozenset[int] | set[int] = frozenset()) -> int:
    """A client port free now whose default Raft port (+10000) is free too, and that this
    process was not given before (the kernel may hand a just-closed port out again)."""
    for _ in range(200):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        pair = {port, port + 10000}
        if port < 55000 and not pair & (set(taken) | _HANDED_OUT) and _is_free(port + 10000):
            _HANDED_OUT.update(pair)
            return port
    raise RuntimeError("no free port pair found")


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


class NodeProcess:
    """One rcache node: its id, ports, data directory and (while running) process."""

    def __init__(self, name: str, port: int, data_dir: Path, join: str | None,
                 announce_raft_port: int = 0) -> None:
        self.name = name
        self.port = port
        self.announce_raft_port = announce_raft_port  # its proxy's port, if it has one
        self.dir = data_dir
        self.join = join
        self.proc: subprocess.Popen | None = None
        self.paused = False
        self._log: IO[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        """Start (or restart: the data directory remembers the cluster, so no --join)."""
        # The Raft proxies tell links apart by the first frame, which a secret would encrypt.
        args = ["--id", self.name, "--port", str(self.port), "--dir", str(self.dir),
                "--cluster-secret-generate", "no"]
        if self.announce_raft_port:
            args += ["--cluster-announce-raft-port", str(self.announce_raft_port)]
        if self.join and not self.dir.exists():
            args += ["--join", self.join]
        if self._log is None:
            self._log = open(self.dir.with_suffix(".log"), "ab")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen([sys.executable, "-m", "rcache", *args], stdout=self._log,
                                     stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        self.paused = False

    def client(self, timeout: float = 2.0) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=timeout,
                           socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0))

    def wait_ready(self, timeout: float = 30) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; "
                                   f"see {self.dir.with_suffix('.log')}")
            with self.client(1) as client:
                return client.ping()
        wait_until(ready, timeout, f"{self.name} to answer PING")

    def info(self) -> dict:
        with self.client() as client:
            return client.info("raft")

    def kill(self) -> None:
        """SIGKILL: nothing is flushed, nothing is said goodbye."""
        if self.alive:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.paused = False

    def pause(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        if self.alive:
            self.proc.send_signal(signal.SIGCONT)
        self.paused = False

    def stop(self) -> None:
        if self.alive:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None


class NodeCluster:
    """The nodes of one Raft cluster. ``members`` are the nodes that belong to it now (a node
    removed by the membership nemesis leaves the list; a fresh one joins it)."""

    def __init__(self, base_dir: Path, size: int) -> None:
        self.base_dir = base_dir
        self.network = Network()
        self.members: list[NodeProcess] = []
        self._started: list[NodeProcess] = []  # members and former members, to stop at the end
        self._next_id = 1
        self._size = size

    def _new_node(self) -> NodeProcess:
        name = f"n{self._next_id}"
        self._next_id += 1
        taken = {n.port for n in self.members}
        join = self.members[0].address if self.members else None
        port = free_port(taken)
        return NodeProcess(name, port, self.base_dir / name, join,
                           self.network.add(name, port + 10000))

    def start(self) -> NodeCluster:
        """A new cluster: its directory must not hold an earlier run's nodes."""
        if self.base_dir.exists() and any(self.base_dir.iterdir()):
            raise FileExistsError(f"{self.base_dir} holds an earlier run's nodes")
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.network.start()
        for _ in range(self._size):
            self.add_node()
        self.wait_converged()
        return self

    def add_node(self) -> NodeProcess:
        """Start a fresh node that joins through a current member (the first one started
        bootstraps the cluster)."""
        node = self._new_node()
        if self.members:
            node.join = self.leader().address
        self._started.append(node)
        node.start()
        node.wait_ready()
        self.members.append(node)
        return node

    def addresses(self) -> list[str]:
        """Client addresses of the members: where a client may start looking for the leader."""
        return [n.address for n in self.members]

    def running(self) -> list[NodeProcess]:
        return [n for n in self.members if n.alive and not n.paused]

    def leader(self, timeout: float = 30) -> NodeProcess:
        """The member that every running member names as leader, and that says it leads."""
        def agreed() -> NodeProcess | None:
            infos = {n.name: n.info() for n in self.running()}
            named = {info["raft_leader_id"] for info in infos.values()}
            if len(named) != 1 or "" in named:
                return None
            (leader,) = named
            if infos.get(leader, {}).get("raft_role") != "leader":
                return None
            return next(n for n in self.members if n.name == leader)
        return wait_until(agreed, timeout, "an agreed leader")

    def member_ids(self) -> set[str]:
        """Node ids in the cluster's replicated member list, as the leader knows it."""
        with self.leader(timeout=15).client() as client:
            return {m[0].decode() for m in client.execute_command("RAFT.CLUSTER", "INFO")}

    def remove_node(self, node: NodeProcess, timeout: float = 30) -> None:
        """RAFT.NODE REMOVE through the leader; the removed node shuts itself down."""
        def removed() -> bool:
            if node.name not in self.member_ids():  # an earlier attempt did it after all
                return True
            with self.leader(timeout=10).client(timeout=15) as client:
                return client.execute_command("RAFT.NODE", "REMOVE", node.name) == b"OK"
        wait_until(removed, timeout, f"RAFT.NODE REMOVE {node.name}", interval=0.5)
        self.members.remove(node)
        wait_until(lambda: not node.alive, timeout, f"removed node {node.name} to exit")
        node.stop()
        self.network.remove(node.name)

    def wait_converged(self, timeout: float = 60) -> None:
        """Every running member has applied everything the leader has committed."""
        def caught_up() -> bool:
            leader = self.leader(timeout=5)
            target = leader.info()["raft_commit_index"]
            return all(n.info()["raft_applied_index"] >= target for n in self.running())
        wait_until(caught_up, timeout, "every node to apply the leader's commits", 0.2)

    def heal(self, timeout: float = 30) -> None:
        """Undo every fault: heal the network, resume paused nodes, restart killed ones, forget
        members the cluster no longer lists (a removal that timed out may still have
        happened), and add fresh nodes until the cluster has its size again."""
        self.network.heal()
        for node in self.members:
            if node.paused:
                node.resume()
            if not node.alive:
                node.start()
        listed = self.member_ids()
        for node in [n for n in self.members if n.name not in listed]:
            node.stop()
            self.members.remove(node)
            self.network.remove(node.name)
        for node in self.members:
            node.wait_ready(timeout)
        while len(self.members) < self._size:
            self.add_node()

    def stop(self) -> None:
        try:
            for node in self._started:
                node.stop()
        finally:
            self.network.stop()
