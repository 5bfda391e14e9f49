"""Acknowledged writes survive kill -9; nothing is applied twice on replay."""

from __future__ import annotations

from .conftest import Node


def test_data_survives_sigkill(node: Node) -> None:
    r = node.client()
    pipe = r.pipeline(transaction=False)
    for i in range(2000):
        pipe.set(f"k{i}", f"v{i}")
    pipe.set("ttl", "x", ex=1000)
    pipe.execute()
    node.kill()
    node.start()
    r = node.client()
    values = r.mget([f"k{i}" for i in range(2000)])
    assert values == [f"v{i}".encode() for i in range(2000)]
    assert 990 < r.ttl("ttl") <= 1000
    assert r.dbsize() == 2001


def test_incr_exact_across_kill_restart_cycles(node: Node) -> None:
    acknowledged = 0
    for _ in range(5):
        r = node.client()
        for _ in range(50):
            r.incr("counter")
            acknowledged += 1
        pipe = r.pipeline(transaction=False)
        for _ in range(200):
            pipe.incr("counter")
        acknowledged += len(pipe.execute())
        node.kill()
        node.start()
        assert int(node.client().get("counter")) == acknowledged
