"""Faults injected into a running cluster while clients use it, one fault at a time: inject,
hold, heal, let the cluster recover, repeat.

* ``kill``: SIGKILL the leader or a follower, restart it later from its data directory
* ``pause``: SIGSTOP the leader or a follower (a process that stops without closing anything,
  as a long GC pause or a frozen VM would), SIGCONT later
* ``membership``: RAFT.NODE REMOVE a follower (it shuts itself down), later add a fresh node
  that joins with ``--join``
* ``partition``: through the Raft proxies (``netproxy``), one of: isolate the leader from the
  majority, split the members into a random majority and minority, cut the leader's frames to
  its followers one way (it still hears them), or delay every link by 50-200 ms; heal later
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field

from .nodes import NodeCluster, NodeProcess


class Nemesis:
    """One kind of fault. ``inject`` and ``heal`` return what they did, for the run's log."""

    name = ""

    def inject(self, cluster: NodeCluster, rng: random.Random) -> str:
        raise NotImplementedError

    def heal(self, cluster: NodeCluster) -> str:
        raise NotImplementedError


def _pick_victim(cluster: NodeCluster, rng: random.Random) -> tuple[NodeProcess, str]:
    """The leader half of the time (failover), else a follower."""
    leader = cluster.leader(timeout=15)
    if rng.random() < 0.5:
        return leader, "leader"
    followers = [n for n in cluster.running() if n is not leader]
    return (rng.choice(followers), "follower") if followers else (leader, "leader")


class Kill(Nemesis):
    name = "kill"

    def __init__(self) -> None:
        self._victim: NodeProcess | None = None

    def inject(self, cluster: NodeCluster, rng: random.Random) -> str:
        self._victim, role = _pick_victim(cluster, rng)
        self._victim.kill()
        return f"SIGKILL {role} {self._victim.name}"

    def heal(self, cluster: NodeCluster) -> str:
        victim, self._victim = self._victim, None
        victim.start()
        victim.wait_ready()
        return f"restarted {victim.name}"


class Pause(Nemesis):
    name = "pause"

    def __init__(self) -> None:
        self._victim: NodeProcess | None = None

    def inject(self, cluster: NodeCluster, rng: random.Random) -> str:
        self._victim, role = _pick_victim(cluster, rng)
        self._victim.pause()
        return f"SIGSTOP {role} {self._victim.name}"

    def heal(self, cluster: NodeCluster) -> str:
        victim, self._victim = self._victim, None
        victim.resume()
        return f"SIGCONT {victim.name}"


class Membership(Nemesis):
    name = "membership"

    def inject(self, cluster: NodeCluster, rng: random.Random) -> str:
        leader = cluster.leader(timeout=15)
        victim = rng.choice([n for n in cluster.members if n is not leader])
        cluster.remove_node(victim)
        return f"RAFT.NODE REMOVE follower {victim.name}"

    def heal(self, cluster: NodeCluster) -> str:
        fresh = cluster.add_node()
        return f"added {fresh.name} (--join)"


class Partition(Nemesis):
    """Network faults between the members. A cut closes the links and refuses new ones (the
    peers see it at once); a blackhole drops every frame both ways (the peers only notice the
    silence, as behind a firewall that drops packets)."""

    name = "partition"
    KINDS = ("isolate-leader", "split", "one-way", "delay")

    def inject(self, cluster: NodeCluster, rng: random.Random) -> str:
        net = cluster.network
        leader = cluster.leader(timeout=15)
        names = [n.name for n in cluster.members]
        others = [n for n in names if n != leader.name]
        kind = rng.choice(self.KINDS)
        if kind == "delay":
            delays = {(a, b): rng.uniform(0.05, 0.2) for a in names for b in names if a != b}
            net.delay(delays)
            return "delay every link " + ", ".join(
                f"{a}->{b} {int(s * 1000)}ms" for (a, b), s in sorted(delays.items()))
        if kind == "one-way":
            net.drop([leader.name], others)
            return f"one-way cut: leader {leader.name} -> {', '.join(others)} dropped"
        if kind == "isolate-leader":
            minority, majority = [leader.name], others
        else:
            shuffled = rng.sample(names, len(names))
            size = rng.randint(1, max(1, (len(names) - 1) // 2))
            minority, majority = sorted(shuffled[:size]), sorted(shuffled[size:])
        how = rng.choice(("cut", "blackhole"))
        if how == "cut":
            net.cut(minority, majority)
        else:
            net.drop(minority, majority)
            net.drop(majority, minority)
        where = "leader" if leader.name in minority else "followers"
        return (f"{kind} ({how}): {{{', '.join(minority)}}} | {{{', '.join(majority)}}} "
                f"(minority holds the {where})")

    def heal(self, cluster: NodeCluster) -> str:
        cluster.network.heal()
        return "network healed"


NEMESES: dict[str, type[Nemesis]] = {n.name: n for n in (Kill, Pause, Membership, Partition)}


@dataclass
class FaultLog:
    """What the nemeses did (``events``: monotonic ns, text) and what went wrong doing it:
    a cluster that does not recover from a healed fault is a finding too."""

    events: list[tuple[int, float, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    injected: dict[str, int] = field(default_factory=dict)

    def note(self, text: str) -> None:
        """Monotonic time to place it in the history, wall time to find it in node logs."""
        self.events.append((time.monotonic_ns(), time.time(), text))


class Schedule(threading.Thread):
    """Runs the nemeses, one fault at a time, until told to stop; then heals."""

    def __init__(self, cluster: NodeCluster, nemeses: list[Nemesis], stop: threading.Event,
                 seed: int, log: FaultLog, quiet: tuple[float, float] = (1.0, 2.5),
                 hold: tuple[float, float] = (1.0, 3.0)) -> None:
        super().__init__(name="nemesis", daemon=True)
        self._cluster = cluster
        self._nemeses = nemeses
        self._halt = stop
        self._rng = random.Random(seed)
        self._log = log
        self._quiet = quiet
        self._hold = hold

    def run(self) -> None:
        while self._nemeses and not self._halt.wait(self._rng.uniform(*self._quiet)):
            nemesis = self._rng.choice(self._nemeses)
            try:
                self._log.note(nemesis.inject(self._cluster, self._rng))
            except Exception as err:  # noqa: BLE001 - reported, the run goes on
                self._log.problems.append(f"{nemesis.name}: could not inject: {err}")
                self._recover()
                continue
            self._log.injected[nemesis.name] = self._log.injected.get(nemesis.name, 0) + 1
            self._halt.wait(self._rng.uniform(*self._hold))
            try:
                self._log.note(nemesis.heal(self._cluster))
            except Exception as err:  # noqa: BLE001 - reported, the run goes on
                self._log.problems.append(f"{nemesis.name}: could not heal: {err}")
                self._recover()

    def _recover(self) -> None:
        try:
            self._cluster.heal()
        except Exception as err:  # noqa: BLE001 - reported
            self._log.problems.append(f"could not heal the cluster: {err}")
