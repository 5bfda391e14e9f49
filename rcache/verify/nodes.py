"""A cluster of real ``python -m rcache`` processes on 127.0.0.1, started and stopped by the
verify runner itself (no pytest needed), through rcache/launch.py as the tests' fixtures:
node 1 bootstraps, the others ``--join`` it; every wait has a deadline.

Every node's Raft traffic passes through a proxy (``netproxy``): the node listens on its Raft
port and announces the proxy's, so the partition nemesis can cut, drop and delay links.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..launch import RcacheNode, free_port, stop_all
from .netproxy import Network

__all__ = ["NodeCluster", "NodeProcess", "Timeout", "free_port", "wait_until"]
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


class NodeProcess(RcacheNode):
    """One rcache node: its id, ports, data directory and (while running) process."""

    def __init__(self, name: str, port: int, data_dir: Path, join: str | None,
                 announce_raft_port: int = 0) -> None:
        # The Raft proxies tell links apart by the first frame, which a secret would encrypt.
        announce = (["--cluster-announce-raft-port", str(announce_raft_port)]
                    if announce_raft_port else [])
        super().__init__(port, data_dir, "--id", name, "--cluster-secret-generate", "no",
                         *announce, name=name)
        self.announce_raft_port = announce_raft_port  # its proxy's port, if it has one
        self.join = join
        self.paused = False

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start (or restart: the data directory remembers the cluster, so no --join)."""
        join = ["--join", self.join] if self.join and not self.dir.exists() else []
        self.launch(self.argv + join)
        self.paused = False

    def client(self, timeout: float = 2.0) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=timeout,
                           socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0))

    def info(self) -> dict:
        with self.client() as client:
            return client.info("raft")

    def kill(self) -> None:
        """SIGKILL: nothing is flushed, nothing is said goodbye."""
        super().kill()
        self.paused = False

    def pause(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        if self.alive:
            self.proc.send_signal(signal.SIGCONT)
        self.paused = False


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
        bootstraps the cluster), and wait until the leader has promoted it from learner to
        voter: the faults that follow count on its vote."""
        node = self._new_node()
        if self.members:
            node.join = self.leader().address
        self._started.append(node)
        node.start()
        node.wait_ready()
        self.members.append(node)
        if len(self.members) > 1:
            wait_until(lambda: self.member_roles().get(node.name) == b"voter", 60,
                       f"{node.name} to be promoted to voter", interval=0.2)
        return node

    def addresses(self) -> list[str]:
        """Client addresses of the members: where a client may start looking for the leader."""
        return [n.address for n in self.members]

    def running(self) -> list[NodeProcess]:
        return [n for n in self.members if n.alive and not n.paused]

    def leader(self, timeout: float = 30) -> NodeProcess:
        """The member that every running member names as leader, and that says it leads. A
        timeout says what each member last reported (a liveness finding needs it)."""
        seen: dict[str, str] = {}

        def agreed() -> NodeProcess | None:
            infos = {n.name: n.info() for n in self.running()}
            seen.clear()
            seen.update({name: f"{info['raft_role']} in term {info['raft_term']}, leader "
                               f"'{info['raft_leader_id']}'" for name, info in infos.items()})
            named = {info["raft_leader_id"] for info in infos.values()}
            if len(named) != 1 or "" in named:
                return None
            (leader,) = named
            if infos.get(leader, {}).get("raft_role") != "leader":
                return None
            return next(n for n in self.members if n.name == leader)
        try:
            return wait_until(agreed, timeout, "an agreed leader")
        except Timeout as err:
            views = "; ".join(f"{name}: {view}" for name, view in sorted(seen.items()))
            raise Timeout(f"{err}; members last reported: {views or 'nothing'}") from None

    def member_ids(self) -> set[str]:
        """Node ids in the cluster's replicated member list, as the leader knows it."""
        return set(self.member_roles())

    def member_roles(self) -> dict[str, bytes]:
        """Node id -> b"voter" or b"learner", as the leader's RAFT.CLUSTER INFO lists them."""
        with self.leader(timeout=15).client() as client:
            return {m[0].decode(): m[3] for m in client.execute_command("RAFT.CLUSTER", "INFO")}

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
            stop_all(self._started)
        finally:
            self.network.stop()
