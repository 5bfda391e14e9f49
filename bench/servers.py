"""The servers a benchmark loads: redis-server, one rcache node, an N-node rcache cluster,
a redis-server master with replicas; all started and stopped through rcache/launch.py."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

from rcache import launch

REPO = Path(__file__).resolve().parent.parent
RCACHE_ROOT = REPO  # the checkout whose rcache the nodes run (bench/elections.py --repo)
STARTUP_TIMEOUT_S = 30.0
CLUSTER_TIMEOUT_S = 60.0  # a cluster's members joining, or a restarted node catching up
STOP_TIMEOUT_S = 10.0
PROBE_APPLY_TIMEOUT_S = 5.0  # a healthy cluster's followers apply a write within this
CLUSTER_SIZE = 3


class ServerUnderTest(Protocol):
    """What the benchmark needs from a server: a RESP port to load, and processes to weigh.

    A 3-node cluster fits too: start() starts all nodes and waits for a leader, port is the
    leader's client port, pids lists every node.
    """

    port: int

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def ready_for_run(self) -> None:
        """Raise RuntimeError if a benchmark cannot run now (a process died, no leader):
        redis-benchmark against a refused port hangs instead of failing."""

    @property
    def pids(self) -> list[int]: ...

    @property
    def command(self) -> str: ...


def redis_cli(port: int, *args: str, timeout: float = 5.0) -> str:
    """One command through redis-cli; the reply as text ('' if the server did not answer)."""
    try:
        done = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), *args],
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return ""
    return done.stdout.strip()


def info_fields(port: int, section: str, timeout: float = 2.0) -> dict[str, str]:
    """`INFO section` as a dict ({} if the server did not answer in time)."""
    text = redis_cli(port, "info", section, timeout=timeout)
    return dict(line.split(":", 1) for line in text.splitlines()
                if ":" in line and not line.startswith("#"))


def int_field(fields: dict[str, str], name: str, default: int = -1) -> int:
    try:
        return int(fields[name])
    except (KeyError, ValueError):
        return default


def raft_term(port: int) -> int:
    """The Raft term a node reports (-1: none, e.g. redis-server)."""
    return int_field(info_fields(port, "raft"), "raft_term")


# Every server this run created, so that their logs can be read before the data dirs go.
ALL_SERVERS: list[ProcessServer] = []


class ProcessServer(launch.ServerProcess):
    """One server process, logging to a file, stopped with SIGTERM then SIGKILL.

    Ready means a write succeeds, not just PING: an rcache node answers PING before it has
    elected itself leader, and a benchmark started then would measure errors.
    `restart_argv` is how to start it again on its data (an rcache node drops --join).
    """

    def __init__(self, server: launch.ServerProcess, restart_argv: list[str] | None = None,
                 name: str = "") -> None:
        super().__init__(server.argv, server.log_path, server.port, env=server.env,
                         cwd=server.cwd, name=name or server.name)
        self.restart_argv = restart_argv or self.argv
        self.launches = 0
        ALL_SERVERS.append(self)

    @property
    def pids(self) -> list[int]:
        return [self.proc.pid] if self.alive else []

    @property
    def command(self) -> str:
        return shlex.join(self.argv)

    def launch(self, argv: Sequence[str] | None = None) -> None:
        """Start the process, not waiting for anything (the log is appended to on restart)."""
        super().launch(argv or (self.argv if self.launches == 0 else self.restart_argv))
        self.launches += 1

    def start(self) -> None:
        self.launch()
        self.wait_writable(STARTUP_TIMEOUT_S)

    def wait_writable(self, timeout: float) -> None:
        self.wait_ready(timeout, ready=accepts_set, interval=0.1)

    def ready_for_run(self) -> None:
        self.check_running()

    def reap(self) -> None:
        if self.proc is not None:
            self.proc.wait(STOP_TIMEOUT_S)

    def kill(self) -> None:
        """SIGKILL, not waiting: the caller times what happens next, then calls reap()."""
        if self.alive:
            os.kill(self.proc.pid, signal.SIGKILL)


def accepts_set(port: int) -> bool:
    """A SET succeeds (the probe key is deleted again)."""
    probe_key = "rcache-bench:ready-probe"
    if redis_cli(port, "set", probe_key, "1") != "OK":
        return False
    redis_cli(port, "del", probe_key)
    return True


def redis_server(workdir: Path, *extra: str) -> ProcessServer:
    """redis-server as the issue compares against: no RDB snapshots, no AOF."""
    return ProcessServer(launch.redis_server(launch.free_port(), workdir, *extra))


def python_floor(workdir: Path) -> ProcessServer:
    """bench/floor_server.py: uvloop + hiredis + RocksDB and nothing else, the floor under
    any Python server over RocksDB on this machine (it runs this checkout's RocksDB options)."""
    port = launch.free_port()
    argv = [sys.executable, str(REPO / "bench" / "floor_server.py"), str(port),
            str(workdir / "data")]
    return ProcessServer(launch.ServerProcess(argv, workdir / "floor.log", port),
                         name="python floor")


def redis_server_aof_always(workdir: Path) -> ProcessServer:
    """redis-server that fsyncs its AOF before replying, as `appendfsync always` does."""
    return redis_server(workdir, "--appendonly", "yes", "--appendfsync", "always")


def rcache_node(data_dir: Path, log_path: Path, *args: str, name: str = "rcache",
                restart_args: Sequence[str] | None = None) -> ProcessServer:
    """An rcache node of checkout RCACHE_ROOT on a free port (its Raft port too)."""
    port = launch.free_port()
    raft = ("--raft-port", str(port + 10000))  # free_port checked it

    def node(node_args: Sequence[str]) -> launch.RcacheNode:
        return launch.RcacheNode(port, data_dir, *raft, *node_args, log_path=log_path,
                                 root=RCACHE_ROOT)

    restart_argv = node(restart_args).argv if restart_args is not None else None
    return ProcessServer(node(args), restart_argv=restart_argv, name=name)


def rcache_single_node(workdir: Path, *extra: str) -> ProcessServer:
    """One rcache node, fresh data dir, default durability settings (what a user gets)."""
    return rcache_node(workdir / "data", workdir / "rcache.log", *extra)


def redis_then_rcache(prefix: str) -> Iterator[tuple[str, ProcessServer]]:
    """A fresh redis-server, then a fresh rcache node, each in its own folder under a temporary
    directory: each is started, handed over, and stopped once the caller asks for the next."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        for name, make in (("redis-server", redis_server), ("rcache", rcache_single_node)):
            workdir = Path(tmp) / name
            workdir.mkdir()
            server = make(workdir)
            server.start()
            try:
                print(f"measuring {name}...", file=sys.stderr)
                yield name, server
            finally:
                server.stop()


class RedisWithReplicas:
    """A redis-server master with `replicas` replicas (--replicaof) on this machine: Redis's
    asynchronous replication, whose replicas spend CPU as a cluster's followers do, the fair
    comparator for the 3-node rows. `port` is the master's; ready means every replica reports
    master_link_status:up."""

    def __init__(self, workdir: Path, replicas: int = CLUSTER_SIZE - 1) -> None:
        (workdir / "master").mkdir()
        self.master = redis_server(workdir / "master")
        self.port = self.master.port
        self.replicas = []
        for number in range(1, replicas + 1):
            replica_dir = workdir / f"replica{number}"
            replica_dir.mkdir()
            self.replicas.append(ProcessServer(
                launch.redis_server(launch.free_port(), replica_dir, "--replicaof", "127.0.0.1",
                                    str(self.port)), name=f"redis-server replica {number}"))

    @property
    def servers(self) -> list[ProcessServer]:
        return [self.master, *self.replicas]

    @property
    def pids(self) -> list[int]:
        return [pid for server in self.servers for pid in server.pids]

    @property
    def command(self) -> str:
        return "; ".join(server.command for server in self.servers)

    def start(self) -> None:
        self.master.start()
        for replica in self.replicas:
            replica.launch()
        for replica in self.replicas:
            replica.wait_ready(STARTUP_TIMEOUT_S, ready=replica_linked, interval=0.1)

    def ready_for_run(self) -> None:
        for server in self.servers:
            server.check_running()

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def replica_linked(port: int) -> bool:
    return info_fields(port, "replication").get("master_link_status") == "up"


class RcacheCluster:
    """`size` rcache nodes on 127.0.0.1: n1 bootstraps, the others --join it.

    Ready (and healthy, after a failover) means: exactly one node leads, it counts `size`
    members, every node follows it and has applied what it had committed, and a SET on it
    succeeds. `port` is then the leader's client port.
    """

    def __init__(self, workdir: Path, size: int = CLUSTER_SIZE, extra: Sequence[str] = ()):
        self.workdir = workdir
        self.extra = list(extra)
        self.nodes: list[ProcessServer] = []
        for _ in range(size):
            self.add_node_server()
        self.port = self.nodes[0].port

    def add_node_server(self, join_port: int | None = None) -> ProcessServer:
        """A new member (not started): --join n1, or join_port."""
        number = len(self.nodes) + 1
        join = join_port or (self.nodes[0].port if self.nodes else None)
        node = rcache_node(self.workdir / f"n{number}", self.workdir / f"n{number}.log",
                           *launch.cluster_node_args(f"n{number}", join, *self.extra),
                           name=f"n{number}",
                           restart_args=launch.cluster_node_args(f"n{number}", None, *self.extra))
        self.nodes.append(node)
        return node

    @property
    def pids(self) -> list[int]:
        return [pid for node in self.nodes for pid in node.pids]

    @property
    def command(self) -> str:
        return "; ".join(node.command for node in self.nodes)

    def start(self) -> None:
        first, *others = self.nodes
        first.start()  # a node without --join bootstraps a one-node cluster and leads it
        for node in others:
            node.launch()
        self.wait_healthy(CLUSTER_TIMEOUT_S)

    def stop(self) -> None:
        for node in self.nodes:
            try:
                node.stop()
            except (OSError, subprocess.SubprocessError) as err:
                print(f"warning: stopping {node.name}: {err}", file=sys.stderr)

    def ready_for_run(self) -> None:
        self.wait_healthy(CLUSTER_TIMEOUT_S)  # also follows a leader that changed

    def node_by_port(self, port: int) -> ProcessServer:
        return next(node for node in self.nodes if node.port == port)

    def wait_healthy(self, timeout: float) -> ProcessServer:
        """Wait until the cluster is healthy (see the class); -> the leader."""
        deadline = time.monotonic() + timeout
        while True:
            for node in self.nodes:
                node.check_running()
            leader, problem = self.health()
            if leader is not None:
                self.port = leader.port
                return leader
            if time.monotonic() > deadline:
                raise RuntimeError(f"cluster not healthy after {timeout:.0f}s: {problem}")
            time.sleep(0.1)

    def health(self) -> tuple[ProcessServer | None, str]:
        infos = {node.name: info_fields(node.port, "raft") for node in self.nodes}
        silent = [name for name, fields in infos.items() if not fields]
        if silent:
            return None, f"no INFO raft from {', '.join(silent)}"
        leaders = [node for node in self.nodes if infos[node.name].get("raft_role") == "leader"]
        if len(leaders) != 1:
            return None, f"{len(leaders)} nodes say raft_role:leader"
        leader = leaders[0]
        fields = infos[leader.name]
        members = int_field(fields, "raft_num_nodes")
        if members != len(self.nodes):
            return None, f"leader {leader.name} has raft_num_nodes:{members}"
        commit = int_field(fields, "raft_commit_index")
        for node in self.nodes:
            other = infos[node.name]
            if other.get("raft_leader_id") != fields.get("raft_node_id"):
                return None, f"{node.name} has raft_leader_id:{other.get('raft_leader_id')}"
            if int_field(other, "raft_applied_index") < commit:
                return None, (f"{node.name} applied {other.get('raft_applied_index')} < "
                              f"leader's commit {commit}")
        if redis_cli(leader.port, "set", "rcache-bench:ready-probe", "1") != "OK":
            return None, f"SET on leader {leader.name} failed"
        redis_cli(leader.port, "del", "rcache-bench:ready-probe")
        # ...and the followers apply the probe too (its SET left on a follower would count in
        # a DBSIZE there)
        commit = int_field(info_fields(leader.port, "raft"), "raft_commit_index")
        deadline = time.monotonic() + PROBE_APPLY_TIMEOUT_S
        while any(int_field(info_fields(node.port, "raft"), "raft_applied_index") < commit
                  for node in self.nodes):
            if time.monotonic() > deadline:
                return None, f"the followers did not apply the probe (index {commit})"
            time.sleep(0.01)
        return leader, ""



def read_proc_status_kib(pid: int, field_name: str) -> int:
    """A `field:  N kB` line of /proc/<pid>/status (VmRSS, VmHWM), in KiB; 0 if gone."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    return 0



def load_now() -> str:
    return " / ".join(f"{load:.2f}" for load in os.getloadavg())


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)

