"""The Python frameworks built on redis-py, each the real package run against a real rcache
node as its users run it: Celery (broker and result backend, a worker process; a late-acked
task delivered again after its worker is killed), huey (a consumer process: tasks, a delayed
task, a periodic task, a task lock and a Lua semaphore), arq (a worker: jobs, results, a
deferred job), Django's own Redis cache and django-redis (with its lock), Flask-Limiter,
Flask-Caching, Flask-Session, pottery (containers, HyperLogLog, Redlock, a stream queue),
channels-redis (both channel layers) and aiocache (with its locks); pottery, channels-redis and
aiocache also against a real redis-server, with equal outcomes required.

On a 3-node cluster: Celery and huey against the leader, Celery tasks queued on a leader that
is then killed run on the new leader, a huey consumer through a change of leader, Django's
cache reading from the followers as replicas, Flask-Limiter and Flask-Caching with their Redis
Cluster storages through a change of leader, a channels-redis layer (finding the leader through
the nodes as Sentinels) through a leader kill.

arq, Django, django-redis, Flask-Limiter, Flask-Caching and Flask-Session run on RESP2 and on
RESP3. Each test uses a database of its own on the shared node (flushed first); every worker
process a test starts is stopped by it (SIGTERM, then SIGKILL), every wait is bounded."""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import redis

from rcache.launch import ServerProcess, rcache_env

from .conftest import ROOT, LocalCluster, Node, wait_for

if TYPE_CHECKING:
    from huey.api import Result

    from .huey_tasks import HueyApp

RESULT_TIMEOUT_S = 60  # a task's result under load; it normally comes in milliseconds

# one database per framework on the shared node (the cluster's too), flushed before use
(CELERY_DB, HUEY_DB, ARQ_DB, DJANGO_DB, DJANGO_REDIS_DB, LIMITER_DB, FLASK_CACHE_DB, CHANNELS_DB,
 POTTERY_DB, AIOCACHE_DB, FLASK_SESSION_DB) = range(2, 13)


def _fresh_db_url(node: Node, db: int, protocol: int | None = None) -> str:
    """The redis:// URL of database `db` on `node`, emptied; with `protocol`, the RESP version
    redis-py's connections ask for (HELLO 3, or none for 2) instead of its default."""
    node.client(db=db).flushdb()
    query = f"?protocol={protocol}" if protocol else ""
    return f"redis://127.0.0.1:{node.port}/{db}{query}"


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def resp(request: pytest.FixtureRequest) -> int:
    """RESP2 (redis-py before 8, and so arq, which caps redis-py below 6) and RESP3."""
    return request.param


@contextmanager
def _worker_process(tmp_path: Path, name: str, argv: list[str],
                    redis_url: str) -> Iterator[ServerProcess]:
    """A framework's worker process importing this checkout's tests package, with
    RCACHE_TEST_REDIS_URL set; stopped on the way out, its log printed (shown on failure)."""
    worker = ServerProcess(argv, tmp_path / f"{name}.log", 0, name=name, cwd=ROOT,
                           env=rcache_env(ROOT, {"RCACHE_TEST_REDIS_URL": redis_url}))
    worker.launch()
    try:
        yield worker
    finally:
        worker.stop(timeout=20)
        print(f"--- {name}'s log ends:\n{worker.log_tail(40)}")


@pytest.fixture(scope="module")
def workers_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """One 3-node cluster for this module's cluster runs (started only if one is selected)."""
    with LocalCluster(tmp_path_factory.mktemp("frameworks-cluster"), 3) as cluster:
        yield cluster


@pytest.fixture(params=["single-node", "cluster-leader"])
def broker_node(request: pytest.FixtureRequest) -> Node:
    """Where a task queue's clients and workers connect: one node, or a cluster's leader."""
    if request.param == "single-node":
        return request.getfixturevalue("shared_node")
    return request.getfixturevalue("workers_cluster").leader()


# -- Celery: rcache as broker and result backend ----------------------------------------------
def _celery_worker_name(tmp_path: Path, name: str = "worker") -> str:
    return f"{name}-{tmp_path.name}@localhost"


def _celery_worker_argv(tmp_path: Path, name: str = "worker") -> list[str]:
    """A light worker: one process, no gossip, mingle or heartbeat between workers."""
    return [sys.executable, "-m", "celery", "-A", "tests.celery_tasks", "worker",
            "--pool", "solo", "--without-gossip", "--without-mingle", "--without-heartbeat",
            "--loglevel", "warning", "--hostname", _celery_worker_name(tmp_path, name)]


def test_celery_worker_runs_tasks_groups_and_chords(broker_node: Node, tmp_path: Path) -> None:
    celery = pytest.importorskip("celery")
    url = _fresh_db_url(broker_node, CELERY_DB)
    client = celery.Celery("rcache-test-client", broker=url, backend=url)

    def task(name: str, *args: object) -> celery.Signature:
        return client.signature(f"tests.celery_tasks.{name}", args)

    try:
        with _worker_process(tmp_path, "celery-worker", _celery_worker_argv(tmp_path), url):
            assert client.send_task("tests.celery_tasks.add", (2, 40)).get(
                timeout=RESULT_TIMEOUT_S) == 42
            batch = celery.group(task("add", i, i) for i in range(4)).apply_async()
            assert batch.get(timeout=RESULT_TIMEOUT_S) == [0, 2, 4, 6]
            summed = celery.chord(task("add", i, 1) for i in range(3))(task("total"))
            assert summed.get(timeout=RESULT_TIMEOUT_S) == 6
            failed = client.send_task("tests.celery_tasks.fail", ("boom",))
            with pytest.raises(ValueError, match="boom"):
                failed.get(timeout=RESULT_TIMEOUT_S)
            assert failed.state == "FAILURE"
            # remote control: a broadcast over pub/sub, the reply through a list
            pong = wait_for(lambda: client.control.ping(timeout=2), RESULT_TIMEOUT_S,
                            "the worker's reply to a ping")
            assert pong == [{_celery_worker_name(tmp_path): {"ok": "pong"}}]
    finally:
        client.close()


def test_celery_delivers_a_late_acked_task_again_after_its_worker_is_killed(
        shared_node: Node, tmp_path: Path) -> None:
    """acks_late: the message stays in kombu's unacked index (a sorted set and a hash, restored
    under a SET NX lock, in a WATCH/MULTI transaction) until the task ends, so a task whose
    worker is SIGKILLed runs again on the next worker."""
    celery = pytest.importorskip("celery")
    url = _fresh_db_url(shared_node, CELERY_DB)
    client = celery.Celery("rcache-test-client", broker=url, backend=url)
    first_delivery = tmp_path / "first-delivery"
    try:
        with _worker_process(tmp_path, "celery-worker-1", _celery_worker_argv(tmp_path, "first"),
                             url) as first:
            result = client.send_task("tests.celery_tasks.triple_after_a_hang",
                                      (str(first_delivery), 7))
            wait_for(first_delivery.exists, RESULT_TIMEOUT_S, "the first delivery")
            first.kill()
        with _worker_process(tmp_path, "celery-worker-2", _celery_worker_argv(tmp_path, "second"),
                             url):
            assert result.get(timeout=RESULT_TIMEOUT_S) == 21
    finally:
        client.close()


def test_celery_tasks_queued_before_the_leader_dies_run_on_the_new_leader(
        workers_cluster: LocalCluster, tmp_path: Path) -> None:
    """An acknowledged enqueue is committed on a majority: tasks sent to the leader, which is
    then SIGKILLed before any worker took them, are run by a worker pointed at the new leader,
    and their results read there."""
    celery = pytest.importorskip("celery")
    old_leader = workers_cluster.leader()
    old_url = _fresh_db_url(old_leader, CELERY_DB)
    sender = celery.Celery("rcache-test-sender", broker=old_url, backend=old_url)
    try:
        sent = [sender.send_task("tests.celery_tasks.add", (i, i)).id for i in range(5)]
    finally:
        sender.close()
    assert old_leader.client(db=CELERY_DB).llen("celery") == 5
    old_leader.kill()
    try:
        new_leader = workers_cluster.leader()
        new_url = f"redis://127.0.0.1:{new_leader.port}/{CELERY_DB}"
        client = celery.Celery("rcache-test-client", broker=new_url, backend=new_url)
        try:
            with _worker_process(tmp_path, "celery-worker", _celery_worker_argv(tmp_path),
                                 new_url):
                assert [client.AsyncResult(task_id).get(timeout=RESULT_TIMEOUT_S)
                        for task_id in sent] == [0, 2, 4, 6, 8]
        finally:
            client.close()
    finally:
        old_leader.start()
        workers_cluster.wait_converged()


# -- huey: tasks, a delayed task, a periodic task, a task lock, a semaphore --------------------
def _huey_result(result: Result) -> object:
    """A huey task's result, polled every 0.1 s at most (huey's default backs off to 1 s)."""
    return result.get(blocking=True, timeout=RESULT_TIMEOUT_S, max_delay=0.1)


def _run_huey_tasks(tasks: HueyApp, client: redis.Redis) -> None:
    """What a huey user does, with a consumer running: results, a delayed task (taken from the
    schedule by a Lua script), the periodic task's first run, and tasks refused while their
    lock (SET NX) or semaphore slot (Lua scripts calling TIME, then writing) is held."""
    from huey.contrib.helpers import RedisSemaphore
    from huey.exceptions import TaskException

    from .huey_tasks import LOCK_NAME, PERIODIC_COUNTER, SEMAPHORE_NAME

    assert _huey_result(tasks.add(1, 2)) == 3
    delayed = tasks.add.schedule((5, 5), delay=1)
    assert _huey_result(delayed) == 10
    wait_for(lambda: int(client.get(PERIODIC_COUNTER) or 0) >= 1, RESULT_TIMEOUT_S,
             "the periodic task's first run")
    assert _huey_result(tasks.exclusive(4)) == 8
    with tasks.huey.lock_task(LOCK_NAME):
        assert tasks.huey.is_locked(LOCK_NAME)
        refused = tasks.exclusive(5)
        with pytest.raises(TaskException, match="TaskLockedException"):
            _huey_result(refused)
    assert not tasks.huey.is_locked(LOCK_NAME)
    assert _huey_result(tasks.exclusive(6)) == 12

    assert _huey_result(tasks.one_at_a_time(1)) == 101
    semaphore = RedisSemaphore(tasks.huey, SEMAPHORE_NAME, value=1)
    holder = semaphore.acquire()
    assert holder is not None and semaphore.acquire() is None
    with pytest.raises(TaskException, match="TaskLockedException"):
        _huey_result(tasks.one_at_a_time(2))
    assert semaphore.release(holder) == 1
    assert _huey_result(tasks.one_at_a_time(3)) == 103


def _huey_consumer_argv() -> list[str]:
    return [sys.executable, "-m", "huey.bin.huey_consumer", "tests.huey_tasks.huey",
            "--workers", "1", "--worker-type", "thread"]


def test_huey_consumer_runs_tasks_periodic_tasks_and_locks(broker_node: Node,
                                                           tmp_path: Path) -> None:
    pytest.importorskip("huey")
    from .huey_tasks import build

    url = _fresh_db_url(broker_node, HUEY_DB)
    with _worker_process(tmp_path, "huey-consumer", _huey_consumer_argv(), url):
        _run_huey_tasks(build(url), broker_node.client(db=HUEY_DB))


def test_huey_consumer_outlives_a_change_of_leader(workers_cluster: LocalCluster,
                                                  tmp_path: Path) -> None:
    """The consumer's node hands leadership over and gets it back: while it follows, an
    enqueue there answers MOVED (huey has no cluster client); then the same consumer, which
    kept retrying, runs tasks again."""
    pytest.importorskip("huey")
    from .huey_tasks import build

    home = workers_cluster.leader()
    url = _fresh_db_url(home, HUEY_DB)
    tasks = build(url)
    with _worker_process(tmp_path, "huey-consumer", _huey_consumer_argv(), url) as consumer:
        assert _huey_result(tasks.add(1, 1)) == 2
        home.client().execute_command("RAFT.TRANSFER-LEADER")
        wait_for(lambda: workers_cluster.leader() is not home, 30, "leadership to move")
        with pytest.raises(redis.exceptions.MovedError):
            tasks.add(2, 2)

        def home_leads() -> bool:
            """Asks the leader to hand over to home until it has (a request may come while
            home is still catching up, or while a transfer is under way)."""
            leader = workers_cluster.leader()
            if leader is home:
                return True
            leader.client().execute_command("RAFT.TRANSFER-LEADER", home.name)
            return False

        wait_for(home_leads, 60, "leadership to come back", interval=0.5)
        # the first writes of a new term may answer TRYAGAIN: huey's users retry the same way
        again = wait_for(lambda: tasks.add(3, 4), 30, "an enqueue on the leader again")
        assert _huey_result(again) == 7
        assert consumer.alive


# -- arq: an asyncio worker --------------------------------------------------------------------
async def _arq_add(ctx: dict, a: int, b: int) -> int:
    return a + b


async def _arq_fail(ctx: dict, message: str) -> None:
    raise ValueError(message)


ARQ = "arq==0.28.0"
ARQ_DEPS = Path(__file__).resolve().parent / ".deps"  # gitignored, filled once


@pytest.fixture(scope="module")
def arq_installed() -> None:
    """arq declares redis<6, which kombu's redis>=6.1 contradicts, so it cannot be in the test
    extra; it runs on the suite's redis-py all the same. Installed here without its pins, into
    tests/.deps, once (as npm ci fills tests/node), so the README's test command is all."""
    if importlib.util.find_spec("arq") is None:
        if not (ARQ_DEPS / "arq").is_dir():
            subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                            "--target", str(ARQ_DEPS), ARQ], check=True, timeout=300)
        sys.path.insert(0, str(ARQ_DEPS))


@pytest.mark.usefixtures("arq_installed")
def test_arq_worker_runs_jobs_deferred_jobs_and_keeps_results(shared_node: Node,
                                                              resp: int) -> None:
    """arq declares redis<6 but runs on the suite's redis-py (see arq_installed)."""
    from arq import func
    from arq.connections import ArqRedis
    from arq.jobs import JobStatus
    from arq.worker import Worker

    url = _fresh_db_url(shared_node, ARQ_DB, resp)

    async def scenario() -> None:
        pool = ArqRedis.from_url(url)
        assert (await pool.client_info())["resp"] == str(resp)
        now = await pool.enqueue_job("add", 2, 3)
        deferred = await pool.enqueue_job("add", 10, 1, _defer_by=1)
        assert await deferred.status() == JobStatus.deferred
        once = await pool.enqueue_job("add", 1, 1, _job_id="once")
        assert await pool.enqueue_job("add", 1, 1, _job_id="once") is None  # already queued
        failing = await pool.enqueue_job("fail", "boom")
        assert len(await pool.queued_jobs()) == 4
        # burst: runs until the queue is empty, the deferred job included
        worker = Worker(functions=[func(_arq_add, name="add"), func(_arq_fail, name="fail")],
                        redis_pool=pool, burst=True, poll_delay=0.05, max_tries=1,
                        handle_signals=False)
        try:
            await asyncio.wait_for(worker.main(), RESULT_TIMEOUT_S)
            assert (worker.jobs_complete, worker.jobs_failed) == (3, 1)
            assert await now.result(timeout=5) == 5
            assert await deferred.result(timeout=5) == 11
            assert await once.result(timeout=5) == 2
            with pytest.raises(ValueError, match="boom"):
                await failing.result(timeout=5)
            info = await now.result_info()
            assert (info.function, info.args, info.success) == ("add", (2, 3), True)
            assert await deferred.status() == JobStatus.complete
            assert len(await pool.all_job_results()) == 4
        finally:
            await worker.close()  # closes the pool too

    asyncio.run(scenario())


# -- Django: its own RedisCache and django-redis -----------------------------------------------
def _django_configured() -> None:
    from django.conf import settings

    if not settings.configured:
        settings.configure()


def _exercise_django_cache(cache) -> None:
    """What Django's cache API promises, the same for both backends."""
    cache.set("profile", {"name": "ada", "langs": ["py"]}, timeout=30)
    assert cache.get("profile") == {"name": "ada", "langs": ["py"]}
    assert cache.add("profile", "other") is False
    assert cache.add("hits", 5) is True
    assert cache.incr("hits", 3) == 8
    assert cache.decr("hits") == 7
    with pytest.raises(ValueError):
        cache.incr("absent")
    cache.set_many({"a": 1, "b": "two", "c": 3.5})
    assert cache.get_many(["a", "b", "c", "absent"]) == {"a": 1, "b": "two", "c": 3.5}
    cache.delete_many(["a", "b"])
    assert cache.get_many(["a", "b", "c"]) == {"c": 3.5}
    assert cache.touch("c", 100) is True
    assert cache.touch("absent", 100) is False
    assert cache.has_key("c")
    assert cache.delete("c") is True
    assert cache.delete("c") is False
    assert cache.get_or_set("computed", lambda: "fresh") == "fresh"
    assert cache.get_or_set("computed", lambda: "again") == "fresh"
    cache.set("expired-at-once", 1, timeout=0)
    assert cache.get("expired-at-once", "gone") == "gone"
    cache.set("forever", 1, timeout=None)
    assert cache.get("forever") == 1


def test_django_redis_cache_backend(shared_node: Node, resp: int) -> None:
    """django.core.cache.backends.redis.RedisCache (Django >= 4.0)."""
    pytest.importorskip("django")
    _django_configured()
    from django.core.cache.backends.redis import RedisCache

    cache = RedisCache(_fresh_db_url(shared_node, DJANGO_DB, resp), {"TIMEOUT": 60})
    _exercise_django_cache(cache)
    assert shared_node.client(db=DJANGO_DB).ttl(":1:forever") == -1
    cache.clear()
    assert shared_node.client(db=DJANGO_DB).dbsize() == 0


def test_django_cache_reads_from_followers_as_replicas(workers_cluster: LocalCluster) -> None:
    """Django's RedisCache writes to its first LOCATION and reads from the others, its
    replicas: the cluster's followers with `follower-proxy yes` relay those reads to the leader,
    so a read sees the write before it (a follower without it answers MOVED)."""
    pytest.importorskip("django")
    _django_configured()
    from django.core.cache.backends.redis import RedisCache

    leader = workers_cluster.leader()
    followers = [n for n in workers_cluster.live() if n is not leader]
    locations = [_fresh_db_url(leader, DJANGO_DB)] + [
        f"redis://127.0.0.1:{n.port}/{DJANGO_DB}" for n in followers]
    for follower in followers:
        follower.client().config_set("follower-proxy", "yes")
    try:
        cache = RedisCache(locations, {})
        for i in range(12):  # the replica read from is picked at random
            cache.set("visits", i)
            assert cache.get("visits") == i
        assert cache.incr("visits") == 12
        assert cache.get_many(["visits", "absent"]) == {"visits": 12}
        assert cache.has_key("visits")
    finally:
        for follower in followers:
            follower.client().config_set("follower-proxy", "no")


def test_django_redis_cache_and_lock(shared_node: Node, resp: int) -> None:
    pytest.importorskip("django_redis")
    _django_configured()
    from django_redis.cache import RedisCache

    cache = RedisCache(_fresh_db_url(shared_node, DJANGO_REDIS_DB, resp),
                       {"OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"}})
    _exercise_django_cache(cache)
    assert cache.ttl("forever") is None  # django-redis: None means no expiry
    assert 0 < cache.ttl("computed") <= 300
    assert cache.ttl("absent") == 0
    assert cache.persist("computed") is True
    assert cache.ttl("computed") is None
    assert cache.expire("computed", 50) is True
    assert sorted(cache.keys("*")) == ["computed", "forever", "hits", "profile"]
    assert cache.delete_pattern("h*") == 1
    cache.set("big", 0)
    assert cache.incr("big", 2**40) == 2**40
    with cache.lock("job", timeout=5, blocking_timeout=2):
        assert cache.lock("job", timeout=5).acquire(blocking=False) is False
    second = cache.lock("job", timeout=5)
    assert second.acquire(blocking=False) is True
    second.release()


# -- Flask-Limiter and Flask-Caching ----------------------------------------------------------
@pytest.mark.parametrize("strategy", ["fixed-window", "moving-window", "sliding-window-counter"])
def test_flask_limiter_enforces_limits_across_requests(shared_node: Node, strategy: str,
                                                       resp: int) -> None:
    flask = pytest.importorskip("flask")
    flask_limiter = pytest.importorskip("flask_limiter")
    from flask_limiter.util import get_remote_address

    app = flask.Flask(__name__)
    limiter = flask_limiter.Limiter(get_remote_address, app=app, strategy=strategy,
                                    storage_uri=_fresh_db_url(shared_node, LIMITER_DB, resp))

    @app.route("/limited")
    @limiter.limit("3 per minute")
    def limited() -> str:
        return "ok"

    @app.route("/free")
    @limiter.exempt
    def free() -> str:
        return "free"

    browser = app.test_client()
    assert [browser.get("/limited").status_code for _ in range(5)] == [200, 200, 200, 429, 429]
    assert browser.get("/free").status_code == 200
    neighbour = app.test_client().get("/limited", environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert neighbour.status_code == 200  # limits are per client address
    assert shared_node.client(db=LIMITER_DB).dbsize() > 0  # the counters live in rcache
    limiter.reset()
    assert browser.get("/limited").status_code == 200


def test_flask_limiter_and_caching_on_the_cluster_through_a_change_of_leader(
        workers_cluster: LocalCluster) -> None:
    """With their Redis Cluster storages (redis-py's RedisCluster, which follows MOVED), a
    limit counted before the leader changes still holds after it, cached values too."""
    flask = pytest.importorskip("flask")
    flask_limiter = pytest.importorskip("flask_limiter")
    flask_caching = pytest.importorskip("flask_caching")
    from flask_limiter.util import get_remote_address

    nodes = ",".join(f"127.0.0.1:{n.port}" for n in workers_cluster.live())
    app = flask.Flask(__name__)
    limiter = flask_limiter.Limiter(get_remote_address, app=app, strategy="moving-window",
                                    storage_uri=f"redis+cluster://{nodes}")
    cache = flask_caching.Cache(app, config={
        "CACHE_TYPE": "RedisClusterCache", "CACHE_REDIS_CLUSTER": nodes,
        "CACHE_KEY_PREFIX": "cluster_fc_"})

    @app.route("/limited")
    @limiter.limit("5 per minute")
    def limited() -> str:
        return "ok"

    browser = app.test_client()
    limiter.reset()
    with app.app_context():
        assert [browser.get("/limited").status_code for _ in range(3)] == [200] * 3
        cache.set("greeting", "hello")
        before = workers_cluster.leader()
        before.client().execute_command("RAFT.TRANSFER-LEADER")
        wait_for(lambda: workers_cluster.leader() is not before, 30, "leadership to move")
        assert [browser.get("/limited").status_code for _ in range(3)] == [200, 200, 429]
        assert cache.get("greeting") == "hello"
        cache.set("after", 2)
        assert cache.get("after") == 2


def test_flask_caching_views_and_memoized_functions(shared_node: Node, resp: int) -> None:
    flask = pytest.importorskip("flask")
    flask_caching = pytest.importorskip("flask_caching")

    app = flask.Flask(__name__)
    cache = flask_caching.Cache(app, config={
        "CACHE_TYPE": "RedisCache",
        "CACHE_REDIS_URL": _fresh_db_url(shared_node, FLASK_CACHE_DB, resp),
        "CACHE_DEFAULT_TIMEOUT": 60, "CACHE_KEY_PREFIX": "fc_"})
    computed: list[object] = []

    @app.route("/report/<int:n>")
    @cache.cached(timeout=30)
    def report(n: int) -> str:
        computed.append(n)
        return str(n * 10)

    @cache.memoize(30)
    def square(x: int) -> int:
        computed.append(("square", x))
        return x * x

    with app.app_context():
        browser = app.test_client()
        assert [browser.get(p).data for p in ("/report/2", "/report/2", "/report/3")] == \
            [b"20", b"20", b"30"]
        assert square(4) == square(4) == 16
        cache.delete_memoized(square, 4)
        assert square(4) == 16
        assert computed == [2, 3, ("square", 4), ("square", 4)]
        cache.set_many({"k1": 1, "k2": [2]})
        assert cache.get_many("k1", "k2", "k3") == [1, [2], None]
        assert (cache.cache.inc("counter"), cache.cache.inc("counter", 5)) == (1, 6)
        assert cache.add("k1", 9) is False
        assert cache.get("k1") == 1
        cache.clear()
        assert shared_node.client(db=FLASK_CACHE_DB).dbsize() == 0


# -- Flask-Session: server-side sessions -------------------------------------------------------
def test_flask_session_keeps_sessions_in_rcache(shared_node: Node, resp: int) -> None:
    """A login, the session read back on later requests, its expiry set from the permanent
    session lifetime, a session id regenerated, a logout deleting the session."""
    flask = pytest.importorskip("flask")
    flask_session = pytest.importorskip("flask_session")

    url = _fresh_db_url(shared_node, FLASK_SESSION_DB, resp)
    store = shared_node.client(db=FLASK_SESSION_DB)
    app = flask.Flask(__name__)
    app.config.update(SESSION_TYPE="redis", SESSION_REDIS=redis.Redis.from_url(url),
                      SESSION_KEY_PREFIX="sess:", PERMANENT_SESSION_LIFETIME=600)
    flask_session.Session(app)

    @app.route("/login/<user>")
    def login(user: str) -> str:
        flask.session["user"] = user
        flask.session["visits"] = 0
        return "in"

    @app.route("/visit")
    def visit() -> str:
        flask.session["visits"] += 1
        return f"{flask.session['user']}:{flask.session['visits']}"

    @app.route("/regenerate")
    def regenerate() -> str:
        app.session_interface.regenerate(flask.session)
        return "new id"

    @app.route("/logout")
    def logout() -> str:
        flask.session.clear()
        return "out"

    browser = app.test_client()
    assert browser.get("/login/ada").data == b"in"
    assert [browser.get("/visit").data for _ in range(2)] == [b"ada:1", b"ada:2"]
    (first_key,) = store.keys("sess:*")
    assert 0 < store.ttl(first_key) <= 600
    assert browser.get("/regenerate").data == b"new id"
    (second_key,) = store.keys("sess:*")
    assert second_key != first_key
    assert browser.get("/visit").data == b"ada:3"  # the same session under its new id
    assert app.test_client().get("/login/bob").data == b"in"  # another browser
    assert len(store.keys("sess:*")) == 2
    assert browser.get("/logout").data == b"out"
    remaining = store.keys("sess:*")
    assert len(remaining) == 1 and second_key not in remaining  # bob's session stays


# -- pottery: Redis-backed Python containers, Redlock, HyperLogLog ----------------------------
def _pottery_outcome(client: redis.Redis) -> dict:
    """pottery's containers, HyperLogLog, Bloom filter, Redlock, NextID, queue and cache as an
    application uses them, against one server (what each call answered)."""
    import warnings

    import pottery

    client.flushdb()
    out: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pottery.InefficientAccessWarning)
        settings = pottery.RedisDict(redis=client, key="settings", theme="dark", size=[1, 2])
        settings["nested"] = {"x": 1}
        out["dict"] = (dict(settings), len(settings), "theme" in settings)
        tags = pottery.RedisSet({"x", "y"}, redis=client, key="tags")
        tags.add("z")
        tags.discard("x")
        out["set"] = sorted(tags)
        items = pottery.RedisList([1, 2, 3], redis=client, key="items")
        items.append(4)
        items.insert(0, 0)
        del items[2]
        out["list"] = list(items)
        out["counter"] = pottery.RedisCounter("abracadabra", redis=client,
                                              key="letters").most_common(2)
        recent = pottery.RedisDeque([1, 2], redis=client, key="recent", maxlen=3)
        recent.appendleft(0)
        recent.append(9)
        out["deque"] = list(recent)
        # HyperLogLog: PFADD, PFCOUNT, PFMERGE (update and union), membership by PFADD's reply
        seen = pottery.HyperLogLog(["a", "b", "c"], redis=client, key="seen")
        more = pottery.HyperLogLog(["c", "d"], redis=client, key="more")
        out["hll"] = len(seen)
        out["hll_union"] = len(seen.union(more, redis=client))
        seen.update(more)
        out["hll_updated"] = (len(seen), "a" in seen, "zz" in seen)
        bloom = pottery.BloomFilter({"one", "two"}, num_elements=100, false_positives=0.01,
                                    redis=client, key="bloom")
        out["bloom"] = ("one" in bloom, "three" in bloom)
    # Redlock on one master: SET NX PX, its Lua scripts to extend, to read the TTL, to release
    lock = pottery.Redlock(key="printer", masters={client}, auto_release_time=5)
    rival = pottery.Redlock(key="printer", masters={client}, auto_release_time=5)
    out["lock"] = [lock.acquire(), rival.acquire(blocking=False), lock.locked() > 0]
    lock.extend()
    lock.release()
    out["lock"] += [rival.acquire(blocking=False), lock.locked()]
    rival.release()
    with pytest.raises(pottery.ReleaseUnlockedLock):
        rival.release()
    ids = pottery.NextID(key="ids", masters={client})
    out["next_id"] = [next(ids), next(ids)]
    # a queue on a stream: XADD; WATCH, XREAD BLOCK, MULTI XDEL EXEC to take an item
    jobs = pottery.RedisSimpleQueue(redis=client, key="jobs")
    jobs.put("job-1")
    jobs.put("job-2")
    out["queue"] = [jobs.qsize(), jobs.get(timeout=1), jobs.get_nowait(), jobs.empty()]
    calls: list[int] = []

    @pottery.redis_cache(redis=client, key="squares")
    def square(x: int) -> int:
        calls.append(x)
        return x * x

    out["cache"] = [square(3), square(3), square.cache_info().hits, calls]
    return out


def test_pottery_containers_locks_and_hyperloglog(shared_node: Node, redis_server: int) -> None:
    pytest.importorskip("pottery")
    outcome = _pottery_outcome(shared_node.client(db=POTTERY_DB))
    assert outcome["dict"] == ({"theme": "dark", "size": [1, 2], "nested": {"x": 1}}, 3, True)
    assert outcome["list"] == [0, 1, 3, 4] and outcome["deque"] == [1, 2, 9]
    assert (outcome["hll"], outcome["hll_union"], outcome["hll_updated"]) == (
        3, 4, (4, True, False))
    assert outcome["bloom"] == (True, False)
    assert outcome["lock"] == [True, False, True, True, 0]
    assert outcome["queue"] == [2, "job-1", "job-2", True]
    assert outcome["cache"] == [9, 9, 1, [3]]
    reference = redis.Redis(host="127.0.0.1", port=redis_server, db=POTTERY_DB)
    try:
        assert outcome == _pottery_outcome(reference)
    finally:
        reference.flushdb()
        reference.close()



def test_pottery_redlock_across_three_independent_nodes(make_node) -> None:
    """Redlock's own quorum, over three single nodes (three masters, not one Raft cluster):
    the lock is refused to a rival while a majority grants it, one of the three gone too."""
    pottery = pytest.importorskip("pottery")
    nodes = [make_node(name=f"redlock{i}") for i in range(3)]
    masters = {n.client() for n in nodes}
    lock = pottery.Redlock(key="report", masters=masters, auto_release_time=10)
    rival = pottery.Redlock(key="report", masters=masters, auto_release_time=10)
    assert lock.acquire(blocking=False) is True
    assert [n.client().exists("redlock:report") for n in nodes] == [1, 1, 1]
    nodes[0].kill()
    assert rival.acquire(blocking=False) is False
    assert lock.locked() > 0  # two of three still hold it
    lock.release()
    assert rival.acquire(blocking=False) is True
    rival.release()
    assert [n.client().exists("redlock:report") for n in nodes[1:]] == [0, 0]


# -- channels-redis: Django Channels' channel layers -------------------------------------------
async def _channel_layer_outcome(layer) -> dict:
    """What consumers do through RedisChannelLayer: a channel's messages (BZPOPMIN), groups
    (a Lua script sends to every member), a channel at capacity, a receive woken by a send."""
    from channels.exceptions import ChannelFull

    def receive(channel: str):
        return asyncio.wait_for(layer.receive(channel), RESULT_TIMEOUT_S)

    await layer.flush()
    alice, bob = await layer.new_channel(), await layer.new_channel()
    out: dict = {}
    await layer.send(alice, {"type": "chat.message", "text": "hi"})
    out["direct"] = await receive(alice)
    await layer.group_add("room", alice)
    await layer.group_add("room", bob)
    await layer.group_send("room", {"type": "chat.message", "text": "all"})
    out["group"] = [await receive(alice), await receive(bob)]
    await layer.group_discard("room", bob)
    await layer.group_send("room", {"type": "chat.message", "text": "alice only"})
    out["after_discard"] = await receive(alice)
    for i in range(3):  # the layer's capacity
        await layer.send("jobs", {"type": "job", "n": i})
    with pytest.raises(ChannelFull):
        await layer.send("jobs", {"type": "job", "n": 3})
    out["fifo"] = [(await receive("jobs"))["n"] for _ in range(3)]
    waiting = asyncio.ensure_future(receive(alice))
    await asyncio.sleep(0.05)  # the receive usually blocks (BZPOPMIN) before the send
    await layer.send(alice, {"type": "late"})
    out["woken"] = await waiting
    await layer.flush()
    return out


def _channels_settings() -> None:
    pytest.importorskip("channels_redis")
    _django_configured()


def test_channels_redis_layer(shared_node: Node, redis_server: int) -> None:
    _channels_settings()
    from channels_redis.core import RedisChannelLayer

    async def run(url: str) -> dict:
        layer = RedisChannelLayer(hosts=[url], capacity=3, expiry=30)
        try:
            return await _channel_layer_outcome(layer)
        finally:
            await layer.close_pools()

    outcome = asyncio.run(run(_fresh_db_url(shared_node, CHANNELS_DB)))
    assert outcome["direct"] == {"type": "chat.message", "text": "hi"}
    assert outcome["group"] == [{"type": "chat.message", "text": "all"}] * 2
    assert outcome["after_discard"]["text"] == "alice only"
    assert outcome["fifo"] == [0, 1, 2] and outcome["woken"] == {"type": "late"}
    assert outcome == asyncio.run(run(f"redis://127.0.0.1:{redis_server}/{CHANNELS_DB}"))


def test_channels_redis_pubsub_layer(shared_node: Node) -> None:
    _channels_settings()
    from channels_redis.pubsub import RedisPubSubChannelLayer

    async def scenario() -> None:
        layer = RedisPubSubChannelLayer(hosts=[_fresh_db_url(shared_node, CHANNELS_DB)])
        try:
            channel = await layer.new_channel()
            await layer.group_add("room", channel)
            await layer.send(channel, {"type": "direct"})
            assert await asyncio.wait_for(layer.receive(channel), RESULT_TIMEOUT_S) == {
                "type": "direct"}
            await layer.group_send("room", {"type": "to.group"})
            assert await asyncio.wait_for(layer.receive(channel), RESULT_TIMEOUT_S) == {
                "type": "to.group"}
        finally:
            await layer.flush()

    asyncio.run(scenario())


def test_channels_redis_layer_through_a_leader_kill(workers_cluster: LocalCluster) -> None:
    """The layer finds the leader through the nodes as Sentinels. Messages sent to a channel
    and a group, then the leader SIGKILLed: the layer reconnects to the new leader, where the
    messages (committed on a majority) and the group's members still are."""
    _channels_settings()
    from channels_redis.core import RedisChannelLayer
    from redis.exceptions import ConnectionError as RedisConnectionError

    old_leader = workers_cluster.leader()
    old_leader.client(db=CHANNELS_DB).flushdb()
    sentinels = [("127.0.0.1", n.port) for n in workers_cluster.live()]
    host = {"sentinels": sentinels, "master_name": "mymaster", "db": CHANNELS_DB}

    async def retried(call, what: str):
        """A call after the kill: the first may meet the dead leader's closed connection."""
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            try:
                return await call()
            except (RedisConnectionError, redis.exceptions.TryAgainError,
                    redis.exceptions.ClusterDownError, redis.exceptions.ReadOnlyError):
                if asyncio.get_running_loop().time() > deadline:
                    raise AssertionError(f"no {what} within 30 s") from None
                await asyncio.sleep(0.2)

    async def scenario() -> None:
        layer = RedisChannelLayer(hosts=[host], capacity=10, expiry=60)
        try:
            inbox = await layer.new_channel()
            await layer.group_add("room", inbox)
            await layer.send(inbox, {"type": "before", "n": 1})
            await layer.group_send("room", {"type": "before", "n": 2})
            old_leader.kill()
            workers_cluster.leader()  # an agreed new one
            first = await retried(lambda: layer.receive(inbox), "receive")
            assert [first, await layer.receive(inbox)] == [{"type": "before", "n": 1},
                                                           {"type": "before", "n": 2}]
            await retried(lambda: layer.group_send("room", {"type": "after"}), "group_send")
            assert await asyncio.wait_for(layer.receive(inbox), RESULT_TIMEOUT_S) == {
                "type": "after"}
        finally:
            await layer.close_pools()

    try:
        asyncio.run(scenario())
    finally:
        old_leader.start()
        workers_cluster.wait_converged()


# -- aiocache: RedisCache and its locks --------------------------------------------------------
async def _aiocache_outcome(port: int) -> dict:
    """aiocache's API on its RedisCache (JSON values, TTLs, a namespace), its RedLock (SET
    NX PX, released by a Lua script) and OptimisticLock (a compare-and-set Lua script)."""
    from aiocache import RedisCache
    from aiocache.lock import OptimisticLock, OptimisticLockError, RedLock
    from aiocache.serializers import JsonSerializer

    cache = RedisCache(endpoint="127.0.0.1", port=port, db=AIOCACHE_DB, namespace="app",
                       serializer=JsonSerializer())
    out: dict = {}
    try:
        await cache.clear()
        await cache.set("user", {"name": "ada"}, ttl=30)
        out["get"] = [await cache.get("user"), await cache.get("absent", default="none")]
        out["add"] = await cache.add("fresh", 1)
        with pytest.raises(ValueError):
            await cache.add("fresh", 2)
        await cache.multi_set([("a", 1), ("b", [2])], ttl=30)
        out["multi_get"] = await cache.multi_get(["a", "b", "absent"])
        out["increment"] = [await cache.increment("hits"), await cache.increment("hits", 5)]
        out["exists"] = [await cache.exists("a"), await cache.exists("absent")]
        out["expire"] = [await cache.expire("a", 100), await cache.expire("absent", 100)]
        out["delete"] = [await cache.delete("a"), await cache.delete("a")]
        out["raw_ttl"] = 0 < await cache.raw("ttl", "app:user") <= 30
        async with RedLock(cache, "report", lease=5):
            out["redlock_key_held"] = await cache.exists("report-lock")
        out["redlock_released"] = not await cache.exists("report-lock")
        async with OptimisticLock(cache, "user") as lock:
            await lock.cas({"name": "ada", "seen": 1})
        out["cas"] = await cache.get("user")
        with pytest.raises(OptimisticLockError):
            async with OptimisticLock(cache, "user") as lock:
                await cache.set("user", "changed meanwhile")
                await lock.cas("lost")
        out["after_lost_cas"] = await cache.get("user")
        await cache.clear()
        out["cleared"] = await cache.exists("user")
    finally:
        await cache.close()
    return out


# aiocache 0.12 calls redis-py's setex and close, which redis-py 6+ marks as deprecated
@pytest.mark.filterwarnings("ignore:Call to deprecated:DeprecationWarning")
def test_aiocache_redis_cache_and_locks(shared_node: Node, redis_server: int) -> None:
    pytest.importorskip("aiocache")
    shared_node.client(db=AIOCACHE_DB).flushdb()
    outcome = asyncio.run(_aiocache_outcome(shared_node.port))
    assert outcome["get"] == [{"name": "ada"}, "none"] and outcome["add"] is True
    assert outcome["multi_get"] == [1, [2], None] and outcome["increment"] == [1, 6]
    assert outcome["raw_ttl"] and outcome["redlock_key_held"] and outcome["redlock_released"]
    assert outcome["cas"] == {"name": "ada", "seen": 1}
    assert outcome["after_lost_cas"] == "changed meanwhile" and outcome["cleared"] is False
    assert outcome == asyncio.run(_aiocache_outcome(redis_server))
