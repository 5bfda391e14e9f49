"""Leader loss: SIGKILL the leader of a 3-node cluster, time until a write succeeds."""

from __future__ import annotations

import contextlib
import statistics
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .servers import CLUSTER_TIMEOUT_S, RcacheCluster, log
from .throughput import DEFAULT_CLIENTS, BenchSpec, run_benchmark

FAILOVER_TRIALS = 5
FAILOVER_GIVE_UP_S = 30.0
FAILOVER_SOCKET_TIMEOUT_S = 0.25
FAILOVER_RETRY_PAUSE_S = 0.01


@dataclass(frozen=True)
class FailoverTrial:
    seconds: float | None  # None: no write succeeded within FAILOVER_GIVE_UP_S
    killed: str
    new_leader: str
    attempts: int
    replies: str  # what the client saw before the write succeeded, e.g. "MOVED x3"
    earlier_write_readable: bool | None  # the SET acknowledged just before the kill
    rejoin_s: float | None  # restart of the killed node until the cluster is healthy again
    rejoin_error: str = ""  # why the cluster did not become healthy again


@dataclass
class FailoverRun:
    planned: int = FAILOVER_TRIALS  # trials to run
    command: str = ""
    trials: list[FailoverTrial] = field(default_factory=list)
    error: str = ""

    def median_s(self) -> float | None:
        """Median over all trials, a trial that gave up counting as infinitely slow."""
        if not self.trials:
            return None
        value = statistics.median(t.seconds if t.seconds is not None else float("inf")
                                  for t in self.trials)
        return None if value == float("inf") else value


# redis-py turns these error replies into exception classes and drops the code from the text.
ERROR_CODES = {"TryAgainError": "TRYAGAIN", "ClusterDownError": "CLUSTERDOWN", "AskError": "ASK",
               "BusyLoadingError": "LOADING", "ReadOnlyError": "READONLY",
               "MasterDownError": "MASTERDOWN"}


def failover_trial(cluster: RcacheCluster, trial: int) -> FailoverTrial:
    """SIGKILL the leader; one client then writes, following MOVED or trying the next node
    on a refused/timed-out connection or an error reply, until a SET returns OK."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    leader = cluster.wait_healthy(CLUSTER_TIMEOUT_S)
    ports = [node.port for node in cluster.nodes]
    clients = {port: redis.Redis(host="127.0.0.1", port=port, retry=Retry(NoBackoff(), 0),
                                 socket_timeout=FAILOVER_SOCKET_TIMEOUT_S,
                                 socket_connect_timeout=FAILOVER_SOCKET_TIMEOUT_S)
               for port in ports}
    token = f"trial-{trial}-{time.time_ns()}"
    try:
        if not clients[leader.port].set("rcache-bench:failover:before", token):
            raise RuntimeError(f"SET on leader {leader.name} before the kill failed")
        replies: Counter[str] = Counter()
        target, attempts, seconds = leader.port, 0, None
        leader.kill()
        killed_at = time.monotonic()
        while time.monotonic() - killed_at < FAILOVER_GIVE_UP_S:
            attempts += 1
            try:
                if clients[target].set("rcache-bench:failover:after", token):
                    seconds = time.monotonic() - killed_at
                    break
                replies["nil reply"] += 1
            except redis.exceptions.MovedError as err:
                if err.port in clients:
                    replies["MOVED to the killed node" if err.port == leader.port
                            else "MOVED to a live node"] += 1
                    target = err.port
                    continue  # a redirect is followed at once
                replies[f"MOVED to unknown {err.host}:{err.port}"] += 1
                target = ports[(ports.index(target) + 1) % len(ports)]
            except redis.exceptions.ResponseError as err:
                code = ERROR_CODES.get(type(err).__name__)
                text = f"{code} {err}" if code else str(err)
                replies["-" + text[:90]] += 1
                target = ports[(ports.index(target) + 1) % len(ports)]
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as err:
                text = str(err).lower()
                what = ("connection refused" if "refused" in text else "connection reset"
                        if "reset" in text or "(104" in text else str(err)[:60])
                replies[f"{type(err).__name__} ({what})"] += 1
                target = ports[(ports.index(target) + 1) % len(ports)]
            time.sleep(FAILOVER_RETRY_PAUSE_S)
        readable = None
        if seconds is not None:
            with contextlib.suppress(redis.exceptions.RedisError):
                readable = clients[target].get("rcache-bench:failover:before") == token.encode()
        leader.reap()
        new_leader = cluster.node_by_port(target).name if seconds is not None else "-"
        log(f"failover trial {trial}: killed {leader.name}, "
            + (f"SET OK via {new_leader} after {seconds:.3f}s" if seconds is not None
               else f"no SET succeeded in {FAILOVER_GIVE_UP_S:.0f}s")
            + f" ({attempts} attempts: {dict(replies)})")
        restarted_at = time.monotonic()
        leader.launch()  # on its data dir, without --join
        rejoin_s: float | None = None
        rejoin_error = ""
        try:
            cluster.wait_healthy(CLUSTER_TIMEOUT_S)
            rejoin_s = time.monotonic() - restarted_at
        except RuntimeError as err:
            rejoin_error = f"after restarting {leader.name}: {err}"
        return FailoverTrial(
            seconds, leader.name, new_leader, attempts,
            "; ".join(f"{kind} x{count}" for kind, count in replies.most_common()) or "-",
            readable, rejoin_s, rejoin_error)
    finally:
        for client in clients.values():
            client.close()


def run_failover(tmp: Path, problems: list[str], trials: int = FAILOVER_TRIALS) -> FailoverRun:
    workdir = tmp / "failover"
    workdir.mkdir()
    cluster = RcacheCluster(workdir)
    run = FailoverRun(trials, command=cluster.command)
    try:
        cluster.start()
        log(f"failover: cluster up, leader on port {cluster.port}")
        # Some data, so that the log is not empty when leadership moves.
        fill = run_benchmark(BenchSpec(DEFAULT_CLIENTS, 16, 50_000, ("set",)), cluster.port)
        if isinstance(fill, str):
            problems.append(f"failover: filling the cluster failed: {fill}")
        for trial in range(1, trials + 1):
            result = failover_trial(cluster, trial)
            run.trials.append(result)
            if result.seconds is None:
                problems.append(f"failover trial {trial}: no SET succeeded within "
                                f"{FAILOVER_GIVE_UP_S:.0f}s of killing {result.killed} "
                                f"({result.replies})")
            if result.earlier_write_readable is False:
                problems.append(f"failover trial {trial}: the SET acknowledged just before "
                                f"the kill was not readable on the new leader")
            if result.rejoin_error:
                raise RuntimeError(result.rejoin_error)
    except (RuntimeError, OSError, subprocess.SubprocessError) as err:
        run.error = str(err)
        problems.append(f"failover aborted after {len(run.trials)} trial(s): {err}")
        log(f"bench: failover aborted: {err}")
    finally:
        cluster.stop()
    return run

