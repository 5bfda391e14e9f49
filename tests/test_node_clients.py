"""Node.js clients and frameworks against real rcache nodes: ioredis (one node, and Cluster
mode against a 3-node cluster, through a leader change), node-redis 4 and 5 (RESP2 and RESP3,
client-side caching; its cluster client through a leader change too), BullMQ (queue,
worker, events, delays, retries, flows, schedulers; over ioredis, node-redis and ioredis
Cluster), Bull 4, and two Express middlewares' stores served by a real Express app:
rate-limit-redis (express-rate-limit; also with node-redis's cluster client through a leader
change) and connect-redis (express-session).

The scripts live in tests/node/ (exact versions in its package-lock.json); each prints one
JSON object of what it saw. Where the outcome does not depend on timing, the same script runs
against a real redis-server too and the two outcomes must be equal.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import LocalCluster, Node

NODE_PROJECT = Path(__file__).resolve().parent / "node"
NPM_CI_TIMEOUT_S = 240  # within pytest-timeout's 300 s for the first test
SCRIPT_TIMEOUT_S = 90  # each script bounds its own waits well below this


def _lock_digest() -> str:
    return hashlib.sha256((NODE_PROJECT / "package-lock.json").read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def node_project() -> Path:
    """tests/node with its node_modules installed (`npm ci`) from the committed lock file,
    once per session, and again only when the lock file changed since the last install."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not installed (.ci/run installs Debian's nodejs, npm)")
    stamp = NODE_PROJECT / "node_modules" / ".installed-from-lock"
    if not stamp.exists() or stamp.read_text() != _lock_digest():
        subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
                       cwd=NODE_PROJECT, check=True, timeout=NPM_CI_TIMEOUT_S,
                       stdout=subprocess.DEVNULL)
        stamp.write_text(_lock_digest())
    return NODE_PROJECT


def run_script(project: Path, script: str, *args: object) -> dict:
    """Run one script with node; its last line of output is its JSON outcome."""
    done = subprocess.run(["node", script, *map(str, args)], cwd=project, text=True,
                          capture_output=True, timeout=SCRIPT_TIMEOUT_S)
    assert done.returncode == 0, f"{script} exited {done.returncode}: {done.stderr}"
    lines = done.stdout.strip().splitlines()
    assert lines, f"{script} printed nothing: {done.stderr}"
    outcome = json.loads(lines[-1])
    assert "error" not in outcome, f"{script} {args}: {outcome['error']}"
    return outcome


@pytest.fixture(scope="module")
def node_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """One 3-node rcache cluster for this module's cluster-mode scripts."""
    with LocalCluster(tmp_path_factory.mktemp("node-cluster"), 3) as cluster:
        yield cluster


def test_ioredis_single_node(node_project: Path, shared_node: Node, redis_server: int) -> None:
    outcome = run_script(node_project, "ioredis_single.mjs", shared_node.port)
    assert outcome["get"] == "hello" and outcome["incr"] == 5
    assert outcome["hgetall"] == {"a": "1", "b": "2"}
    assert outcome["zrangeWithScores"] == ["one", "1", "two", "2"]
    assert outcome["pipeline"] == [[None, "OK"], [None, 2], [None, "2"]]
    assert outcome["multi"] == [[None, 6], [None, "6"]]
    # defineCommand: EVALSHA, falling back to EVAL the first time; also in a pipeline
    assert outcome["takeToken"] == [[1, 1], [1, 0], [0, 0]]
    assert outcome["takeTokenPipelined"] == [[None, [0, 0]]]
    assert outcome["echoArgsDynamicKeys"] == ["io:k", "v1", 2]
    assert outcome["scriptError"].startswith("ERR value is not an integer or out of range")
    assert outcome["scanned"] == ["io:h", "io:l"]
    assert outcome["message"] == ["io:chan", "hi"]
    assert outcome["getBuffer"] == list(b"hello")
    assert outcome["xread"] == [["io:stream", [["5-1", ["event", "created"]]]]]
    assert outcome["watchExec"] is None and outcome["watched"] == "changed"
    assert outcome["autoPipelined"] == [50, 50] and outcome["prefixed"] == "p"
    assert outcome == run_script(node_project, "ioredis_single.mjs", redis_server)


@pytest.mark.parametrize("package, resp", [("redis-v4", 2), ("redis", 2), ("redis", 3)])
def test_node_redis(node_project: Path, shared_node: Node, redis_server: int,
                    package: str, resp: int) -> None:
    outcome = run_script(node_project, "node_redis.mjs", package, shared_node.port, resp)
    p = f"nr{resp}:"
    assert outcome["hello"] == (3 if resp == 3 else None)
    assert outcome["get"] == "hello" and outcome["getMissing"] is None
    assert outcome["zrangeWithScores"] == [{"value": "one", "score": 1},
                                           {"value": "two", "score": 2.5}]
    assert outcome["zscore"] == 2.5
    assert outcome["multi"] == [6, "6"]
    assert outcome["takeToken"] == [[1, 1], [1, 0], [0, 0]]  # defineScript
    assert outcome["eval"] == [f"{p}n", "arg", 7]
    assert outcome["scriptError"].startswith("ERR value is not an integer or out of range")
    # scanIterator ends (node-redis 4 reads the cursor as a double)
    assert outcome["scanned"] == sorted(f"{p}{k}" for k in ("bucket", "h", "l", "n", "s",
                                                            "set", "z"))
    assert outcome["message"] == [f"{p}chan", "hi"]
    assert outcome["functionLoad"] == f"nr{resp}lib" and outcome["fcall"] == 17
    entries = [["1-1", ["field", "value"]]]
    assert outcome["xreadgroup"] == ({f"{p}stream": entries} if resp == 3
                                     else [[f"{p}stream", entries]])
    assert outcome["xack"] == 1 and outcome["xpending"] == [0, None, None, None]
    assert outcome["blpopTimeout"] is None
    assert outcome["blpop"] == {"key": f"{p}q", "element": "job"}
    assert outcome["watchExec"] == "WatchError" and outcome["watched"] == "changed"
    if resp == 3:  # client-side caching: served from the cache, then invalidated
        assert outcome["clientSideCache"] == {"reads": ["v1", "v1"], "hits": 1,
                                              "invalidatedTo": "v2"}
    assert outcome == run_script(node_project, "node_redis.mjs", package, redis_server, resp)


def _check_bullmq_queue(outcome: dict) -> None:
    assert outcome["completed"] == {
        "job-a": {"doubled": 2, "name": "plain"}, "job-b": {"doubled": 4, "name": "plain"},
        "job-c": {"doubled": 6, "name": "plain"}, "job-later": {"doubled": 8, "name": "later"},
        "job-flaky": {"doubled": 10, "name": "flaky"}}
    assert outcome["failed"] == {"job-broken": "always broken"}
    assert outcome["attemptsSeen"] == {"job-a": 1, "job-b": 1, "job-c": 1, "job-later": 1,
                                       "job-flaky": 3, "job-broken": 2}
    assert sorted(outcome["progress"]) == [[job, 50] for job in
                                           ("job-a", "job-b", "job-c", "job-flaky",
                                            "job-later")]
    assert outcome["delayedStateRightAfterAdd"] == "delayed"
    assert outcome["delayedWaitedMs"] >= 800  # a delayed job never runs early
    assert outcome["retriedAttemptsMade"] == 3 and outcome["retriedStacktraces"] == 2
    assert outcome["doomedState"] == "failed"
    assert outcome["counts"] == {"completed": 5, "failed": 1, "delayed": 0, "waiting": 0,
                                 "active": 0}
    assert outcome["completedIds"] == ["job-a", "job-b", "job-c", "job-flaky", "job-later"]
    assert outcome["workerErrors"] == []


@pytest.mark.parametrize("driver", [[], ["--node-redis"]], ids=["ioredis", "node-redis"])
def test_bullmq_queue_worker_and_events(node_project: Path, shared_node: Node,
                                        driver: list[str]) -> None:
    _check_bullmq_queue(run_script(node_project, "bullmq_queue.mjs", *driver,
                                   shared_node.port))


def test_bullmq_flows_schedulers_and_queue_control(node_project: Path, shared_node: Node,
                                                   redis_server: int) -> None:
    outcome = run_script(node_project, "bullmq_flows.mjs", shared_node.port)
    assert outcome["workerErrors"] == []
    assert outcome["pausedAtStart"] is True and outcome["pausedAfterResume"] is False
    assert outcome["parentStateBefore"] == "waiting-children"
    assert outcome["parentResult"] == 42 and outcome["parentRanLast"] is True
    assert outcome["duplicateGotFirstId"] == "dedup-1"
    assert outcome["waitingWhilePaused"] == 5  # two children, dedup, promoted, removed
    assert outcome["logs"] == ["ran parent"]
    assert outcome["removedJobExists"] is False
    assert outcome["ticks"] == 3 and outcome["schedulers"] == ["every-100ms"]
    assert outcome["removedScheduler"] is True
    assert outcome["completedAfterClean"] == 0
    assert outcome["stalledEvent"] == "stuck-1"  # its worker died; another one ran it
    assert outcome["rescued"] == "rescued stuck-1"
    assert outcome == run_script(node_project, "bullmq_flows.mjs", redis_server)


def _moved_replies(cluster: LocalCluster) -> int:
    return sum(node.client().info("errorstats").get("errorstat_MOVED", {}).get("count", 0)
               for node in cluster.live())


def test_ioredis_cluster_mode_through_a_leader_change(node_project: Path,
                                                      node_cluster: LocalCluster) -> None:
    """Seeded with a follower only; the leader hands over mid-run and the client follows the
    old leader's -MOVED to the new one without losing or repeating a write."""
    leader = node_cluster.leader()
    follower = node_cluster.followers()[0]
    moved_before = _moved_replies(node_cluster)
    outcome = run_script(node_project, "ioredis_cluster.mjs", follower.port)
    ports = sorted(n.port for n in node_cluster.nodes)
    assert outcome["masters"] == [leader.port]
    assert outcome["replicas"] == sorted(set(ports) - {leader.port})
    assert outcome["values"] == [str(i) for i in range(20)]
    assert outcome["hincr"] == 3 and outcome["mget"] == ["1", "2"]
    assert outcome["pipeline"] == [[None, "OK"], [None, 2], [None, "2"]]
    assert outcome["multi"] == [[None, 1], [None, 2]]
    assert outcome["swap"] == [1, 0] and outcome["swapped"] == "one"
    assert outcome["replicaReads"] == ["2", "3"]
    assert outcome["smessage"] == ["ioc:{news}", "hello"]  # sharded pub/sub
    assert outcome["transfer"] == "OK"
    assert outcome["mastersAfter"] != outcome["masters"]
    assert outcome["mastersAfter"] == [node_cluster.leader().port]
    assert int(outcome["counterAfter"]) == 7 + outcome["writesDuringFailover"]
    assert outcome["valuesAfter"] == ["0", "one", "2"]
    assert _moved_replies(node_cluster) > moved_before


@pytest.mark.parametrize("package", ["redis-v4", "redis"])
def test_node_redis_cluster_client_through_a_leader_change(
        node_project: Path, node_cluster: LocalCluster, package: str) -> None:
    leader = node_cluster.leader()
    moved_before = _moved_replies(node_cluster)
    outcome = run_script(node_project, "node_redis_cluster.mjs", package,
                         node_cluster.followers()[0].port)
    assert outcome["masters"] == [leader.port]
    assert outcome["replicas"] == sorted(n.port for n in node_cluster.nodes
                                         if n is not leader)
    assert outcome["values"] == [str(i) for i in range(20)]
    assert outcome["incr"] == 7 and outcome["multi"] == [1, 2] and outcome["eval"] == 10
    assert outcome["replicaReads"] == ["2", "3"]
    assert outcome["sharded"] == ["nrc:{news}", "hi"]
    assert outcome["transfer"] == "OK"
    assert outcome["mastersAfter"] == [node_cluster.leader().port] != outcome["masters"]
    assert int(outcome["counterAfter"]) == 10 + outcome["writesDuringFailover"]
    assert _moved_replies(node_cluster) > moved_before


def test_bullmq_on_a_cluster(node_project: Path, node_cluster: LocalCluster) -> None:
    ports = [n.port for n in node_cluster.nodes]
    _check_bullmq_queue(run_script(node_project, "bullmq_queue.mjs", *ports))


def test_bullmq_through_a_leader_change(node_project: Path, node_cluster: LocalCluster) -> None:
    """The leader hands over while a worker runs 40 jobs: each runs once and completes."""
    leader = node_cluster.leader()
    outcome = run_script(node_project, "bullmq_failover.mjs", *(n.port for n in
                                                                node_cluster.nodes))
    assert outcome["leaderBefore"] == [leader.port] and outcome["transfer"] == "OK"
    assert node_cluster.leader() is not leader
    assert outcome["runs"] == {f"job-{n}": 1 for n in range(40)}
    assert outcome["completed"] == 40 and outcome["failed"] == 0
    assert outcome["returned"] == list(range(40))
    assert outcome["workerErrors"] == []


def test_bull_queue_processor_and_events(node_project: Path, shared_node: Node,
                                         redis_server: int) -> None:
    """Bull 4: priorities while paused, a delayed job, retries with backoff, a job failing for
    good (then retried by hand), progress, a repeatable job, global events, clean."""
    outcome = run_script(node_project, "bull_queue.mjs", shared_node.port)
    assert outcome["errors"] == []
    assert outcome["waitingWhilePaused"] == 4 and outcome["delayedState"] == "delayed"
    assert outcome["firstFour"] == ["urgent", "a", "b", "c"]  # priority first
    assert outcome["completed"] == {"a": {"doubled": 2}, "b": {"doubled": 4},
                                    "c": {"doubled": 6}, "later": {"doubled": 8},
                                    "flaky": {"doubled": 10}, "urgent": {"doubled": 18}}
    assert outcome["failed"] == {"broken": "always broken"}
    assert outcome["flaky"] == [2, 2, "completed"] and outcome["broken"] == [2, "failed"]
    assert outcome["brokenAfterRetry"] == 3
    assert outcome["laterWaitedMs"] >= 800  # a delayed job never runs early
    assert outcome["counts"] == {"waiting": 0, "active": 0, "completed": 8, "failed": 1,
                                 "delayed": 0, "paused": 0}  # two of them the repeatable's
    assert outcome["repeatable"] == [200] and outcome["completedAfterClean"] == 0
    reference = run_script(node_project, "bull_queue.mjs", redis_server)
    del outcome["laterWaitedMs"], reference["laterWaitedMs"]
    assert outcome == reference


def _check_rate_limited(outcome: dict) -> None:
    assert outcome["first"] == [[200, "2"], [200, "1"]]
    assert outcome["neighbour"] == [200, "2"] and outcome["fetched"] == 2
    assert outcome["rest"] == [[200, "0"], [429, "0"], [429, "0"]]
    assert outcome["forgiving"] == [[500, None], [500, None]]
    assert outcome["afterReset"] == [200, "2"]


@pytest.mark.parametrize("client", ["ioredis", "node-redis"])
def test_rate_limit_redis_store(node_project: Path, shared_node: Node, redis_server: int,
                                client: str) -> None:
    """express-rate-limit's Redis store in an Express app: its Lua scripts count the hits."""
    outcome = run_script(node_project, "rate_limit_redis.mjs", client, shared_node.port)
    _check_rate_limited(outcome)
    assert outcome == run_script(node_project, "rate_limit_redis.mjs", client, redis_server)


def test_rate_limit_redis_store_on_a_cluster_through_a_leader_change(
        node_project: Path, node_cluster: LocalCluster) -> None:
    """With node-redis's cluster client: hits counted before the leader hands over still
    count after it."""
    outcome = run_script(node_project, "rate_limit_redis.mjs", "node-redis-cluster",
                         *(n.port for n in node_cluster.nodes))
    assert outcome["transfer"] == "OK" and outcome["leaderMoved"] is True
    _check_rate_limited(outcome)


def test_connect_redis_session_store(node_project: Path, shared_node: Node,
                                     redis_server: int) -> None:
    """express-session's store: sessions written with their TTL, listed, touched, destroyed."""
    outcome = run_script(node_project, "connect_redis.mjs", shared_node.port)
    assert outcome["anonymous"] == "who?" and outcome["login"] == "in"
    assert outcome["visits"] == ["ada:1", "ada:2"]
    assert outcome["keys"] == outcome["length"] == 2 and outcome["ttlFromMaxAge"] is True
    assert outcome["users"] == ["ada", "bob"] and outcome["idsAreKeys"] is True
    assert outcome["touchedTtl"] is True
    assert (outcome["logout"], outcome["afterLogout"], outcome["bobStays"]) == (
        "out", "who?", "bob:1")
    assert outcome["lengthAfter"] == 1 and outcome["cleared"] == 0
    assert outcome == run_script(node_project, "connect_redis.mjs", redis_server)
