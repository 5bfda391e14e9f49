"""Real clients against a real rcache process: redis-py (sync and asyncio), redis-cli,
redis-benchmark."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import threading

import pytest
import redis
import redis.asyncio

from .conftest import Node


def test_redis_py_strings_pipeline_and_transaction(shared_node: Node) -> None:
    r = shared_node.client(decode_responses=True)
    r.delete("c:a", "c:counter", "c:list")
    assert r.set("c:a", "hello") is True
    assert r.get("c:a") == "hello"
    assert r.incr("c:counter") == 1
    assert r.incrby("c:counter", 41) == 42
    pipe = r.pipeline(transaction=False)
    for i in range(100):
        pipe.set(f"c:p{i}", i)
    pipe.get("c:p99")
    assert pipe.execute()[-1] == "99"
    with r.pipeline(transaction=True) as tx:
        tx.incr("c:counter").get("c:counter").set("c:a", "bye")
        assert tx.execute() == [43, "43", True]
    assert r.mget("c:a", "c:missing", "c:counter") == ["bye", None, "43"]
    assert r.delete(*[f"c:p{i}" for i in range(100)]) == 100


def test_watch_makes_concurrent_read_modify_write_safe(shared_node: Node) -> None:
    """redis-py's optimistic-locking helper (WATCH, GET, MULTI, SET, EXEC, retry on
    WatchError) from 4 threads on one key: no increment is lost, and some EXECs were refused
    (else nothing was tested)."""
    key, threads, increments = "c:cas", 4, 50
    shared_node.client().delete(key)
    attempts = []

    def increment(pipe: redis.client.Pipeline) -> None:
        attempts.append(1)
        value = int(pipe.get(key) or 0)
        pipe.multi()
        pipe.set(key, value + 1)

    def worker() -> None:
        with shared_node.client() as r:
            for _ in range(increments):
                r.transaction(increment, key)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in pool)
    assert int(shared_node.client().get(key)) == threads * increments
    assert len(attempts) > threads * increments


def test_redis_py_resp3(shared_node: Node) -> None:
    r = shared_node.client(protocol=3, decode_responses=True)
    assert r.ping() is True
    r.set("c:r3", "v", ex=100)
    assert 0 < r.ttl("c:r3") <= 100
    assert r.get("c:nope") is None
    info = r.info("server")
    assert info["redis_version"].startswith("7.")


def test_redis_py_asyncio(shared_node: Node) -> None:
    async def work() -> list:
        r = redis.asyncio.Redis(port=shared_node.port, socket_timeout=10, max_connections=300)
        try:
            await asyncio.gather(*(r.incr("c:async") for _ in range(200)))
            return [await r.get("c:async"), await r.delete("c:async")]
        finally:
            await r.aclose()

    assert asyncio.run(work()) == [b"200", 1]


def test_errors_map_to_redis_py_exceptions(shared_node: Node) -> None:
    r = shared_node.client()
    r.set("c:str", "x")
    with pytest.raises(redis.ResponseError, match="not an integer"):
        r.incr("c:str")
    with pytest.raises(redis.ResponseError, match="wrong number of arguments for 'get'"):
        r.execute_command("GET")
    with pytest.raises(redis.ResponseError, match="unknown command 'NOPE'"):
        r.execute_command("NOPE", "x")
    assert r.ping()  # the connection survives errors, as with Redis


@pytest.mark.skipif(shutil.which("redis-cli") is None, reason="redis-cli not installed")
def test_redis_cli_pipe(shared_node: Node) -> None:
    script = "SET cli:k hello\nAPPEND cli:k ' world'\nGET cli:k\nDEL cli:k\nGET cli:k\n"
    out = subprocess.run(["redis-cli", "-p", str(shared_node.port)], input=script,
                         capture_output=True, text=True, timeout=30, check=True).stdout
    assert out.splitlines() == ["OK", "11", "hello world", "1", ""]


def test_a_policy_set_by_another_client_reaches_a_connection_already_reading(node: Node) -> None:
    """A connection decides after its own AUTH, MULTI, SUBSCRIBE... whether its data commands
    may skip the per-command checks, but the node's options may change under it: another
    client's CONFIG SET maxmemory-policy allkeys-lfu must make its next GETs count for
    OBJECT FREQ (only the checked path counts accesses)."""
    reader = node.client(single_connection_client=True)
    admin = node.client()
    reader.set("plain:k", "v")
    assert reader.get("plain:k") == b"v"  # the connection reads, under noeviction
    admin.config_set("maxmemory-policy", "allkeys-lfu")
    before = admin.object("freq", "plain:k")
    for _ in range(20):
        assert reader.get("plain:k") == b"v"
    assert admin.object("freq", "plain:k") > before


@pytest.mark.skipif(shutil.which("redis-benchmark") is None, reason="redis-benchmark missing")
def test_redis_benchmark_smoke(node: Node) -> None:
    run = subprocess.run(["redis-benchmark", "-p", str(node.port), "-t", "set,get", "-n",
                          "10000", "-c", "20", "-q", "-r", "1000"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "SET:" in run.stdout and "GET:" in run.stdout, run.stdout
    assert "error" not in (run.stdout + run.stderr).lower()
    assert 0 < node.client().dbsize() <= 1000


def test_shutdown_as_redis_py_expects(node: Node) -> None:
    """redis-py's shutdown() waits for the connection to close; a reply means it failed."""
    client = node.client()
    client.set("k", "v")
    with pytest.raises(redis.ResponseError, match="^No shutdown in progress.$"):
        client.execute_command("SHUTDOWN", "ABORT")
    for bad in (["NOW", "ABORT"], ["NOSAVE", "SAVE"], ["LATER"]):
        with pytest.raises(redis.ResponseError, match="^syntax error$"):
            client.execute_command("SHUTDOWN", *bad)
    assert client.get("k") == b"v"  # none of those stopped it
    client.shutdown(nosave=True)
    assert node.proc.wait(timeout=30) == 0
    assert node.start().client().get("k") == b"v"
