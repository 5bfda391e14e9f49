"""busy-poll-us on a real node: the event loop polls after answering a lone client, and
stops once the client does (an idle node must not spin)."""

from __future__ import annotations

import os
import time

import pytest
import redis

from .conftest import Node


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_an_idle_node_stops_polling(node: Node) -> None:
    client = node.client()
    assert client.config_get("busy-poll-us") == {"busy-poll-us": "100"}
    for i in range(3000):  # a lone client's back-to-back requests: the window grows
        client.set(f"k{i % 100}", i)
        client.get(f"k{i % 100}")
    before = _cpu_seconds(node.proc.pid)
    time.sleep(2)
    # Polling without end would take 2 s of CPU; the node's timers take a few ms.
    assert _cpu_seconds(node.proc.pid) - before < 0.5
    assert client.get("k99") == b"2999"


def test_busy_poll_set_at_run_time(node: Node) -> None:
    client = node.client()
    assert client.config_set("busy-poll-us", 0)
    assert client.config_get("busy-poll-us") == {"busy-poll-us": "0"}
    for _ in range(100):
        client.incr("counter")
    assert client.config_set("busy-poll-us", 250)
    assert client.incr("counter") == 101
    with pytest.raises(redis.ResponseError, match="busy-poll-us"):
        client.config_set("busy-poll-us", -1)
    assert client.config_get("busy-poll-us") == {"busy-poll-us": "250"}
