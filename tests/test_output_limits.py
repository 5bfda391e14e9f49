"""Replies a client does not read cost bounded memory: flow control stops running its
pipelined commands, and client-output-buffer-limit disconnects it (normal, pubsub classes)."""

from __future__ import annotations

import socket

import hiredis
import pytest
import redis

from rcache.config import Config, OutputLimit, parse_output_limits
from rcache.errors import CommandError
from rcache.outbuf import FLOW_HIGH, LimitWatch
from rcache.resp import encode_command

from .conftest import Node, wait_for

MB = 1024 * 1024
VALUE = b"v" * MB


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return int(next(line for line in status if line.startswith("VmRSS:")).split()[1]) * 1024


def _unread_connection(port: int) -> socket.socket:
    """A connection whose replies are left unread (a small window: the node's side fills)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    return sock


def _omem(client: redis.Redis, name: bytes) -> int:
    for line in client.client_list():
        if line["name"] == name.decode():
            return int(line["omem"])
    raise AssertionError(f"no client named {name!r}")


def test_unread_pipelined_gets_stop_running(node: Node) -> None:
    """300 pipelined GETs of 1 MB, none read: the node runs only what fits under the flow
    bound (300 MB otherwise), keeps serving others, and answers the rest once read."""
    node.client().set("big", VALUE)
    before = rss(node.proc.pid)
    with socket.create_connection(("127.0.0.1", node.port), timeout=10) as flood:
        flood.sendall(encode_command([b"CLIENT", b"SETNAME", b"flood"])
                      + encode_command([b"GET", b"big"]) * 300)
        wait_for(lambda: _omem(node.client(), b"flood") >= FLOW_HIGH, 10, "the replies to back up")
        for _ in range(5):  # whatever the node still does, it stays bounded
            assert node.client().ping()
            assert _omem(node.client(), b"flood") < FLOW_HIGH + 2 * MB
            assert rss(node.proc.pid) - before < 100 * MB
        reader = hiredis.Reader()
        replies: list = []
        while len(replies) < 301:
            data = flood.recv(1 << 20)
            assert data, "the node closed the connection"
            reader.feed(data)
            while (reply := reader.gets()) is not False:
                replies.append(reply)
    assert replies[0] == b"OK" and all(reply == VALUE for reply in replies[1:])


@pytest.fixture(params=["rcache", "redis-server"])
def server_port(request: pytest.FixtureRequest) -> int:
    """A fresh rcache node's port, or the reference redis-server's (the same test on both)."""
    if request.param == "rcache":
        return request.getfixturevalue("node").port
    return request.getfixturevalue("redis_server")


def _read_until_closed(sock: socket.socket) -> bytes:
    received = b""
    try:
        while chunk := sock.recv(1 << 16):
            received += chunk
    except ConnectionResetError:
        pass
    return received


def test_reply_past_the_hard_limit_closes_the_client_unanswered(server_port: int) -> None:
    """Redis counts a reply against the limit as it is made, before the socket takes any of
    it: one reply bigger than the normal class's hard limit closes the client, which reads
    nothing (the kernel's buffers would have taken all 150 KB at once)."""
    client = redis.Redis(port=server_port)
    client.config_set("client-output-buffer-limit", "normal 100000 0 0")
    try:
        client.rpush("obuf-hard", *[b"x" * 1000] * 150)
        with socket.create_connection(("127.0.0.1", server_port), timeout=10) as sock:
            sock.sendall(encode_command([b"LRANGE", b"obuf-hard", b"0", b"-1"]))
            assert _read_until_closed(sock) == b""
        assert client.llen("obuf-hard") == 150
    finally:
        client.config_set("client-output-buffer-limit", "normal 0 0 0")
        client.delete("obuf-hard")


def test_soft_limit_cuts_a_subscriber_when_no_message_follows(server_port: int) -> None:
    """A subscriber past the pubsub soft limit is cut once the soft seconds pass, though
    nothing is published after (Redis 7's clientsCron checks it, not only a new message)."""
    client = redis.Redis(port=server_port)
    client.config_set("client-output-buffer-limit", "pubsub 0 100000 2")
    try:
        with _unread_connection(server_port) as silent:
            silent.sendall(encode_command([b"CLIENT", b"SETNAME", b"obuf-soft"])
                           + encode_command([b"SUBSCRIBE", b"obuf-soft"]))
            wait_for(lambda: client.pubsub_numsub("obuf-soft") == [(b"obuf-soft", 1)], 10,
                     "the subscriber")
            published = 0  # until the node holds more than the soft limit unsent
            while _omem(client, b"obuf-soft") <= 100_000:
                assert published < 200, "the subscriber's replies never backed up"
                client.publish("obuf-soft", b"m" * 50_000)
                published += 1
            wait_for(lambda: client.pubsub_numsub("obuf-soft") == [(b"obuf-soft", 0)], 15,
                     "the subscriber to be cut after its soft seconds")
    finally:
        client.config_set("client-output-buffer-limit", "pubsub 32mb 8mb 60")


def test_normal_client_cut_at_its_hard_limit(make_node) -> None:
    node = make_node("--client-output-buffer-limit", "normal 1mb 0 0")
    node.client().set("big", VALUE)
    before = rss(node.proc.pid)
    with _unread_connection(node.port) as flood:
        flood.sendall(encode_command([b"GET", b"big"]) * 300)
        wait_for(lambda: node.client().info("clients")["connected_clients"] == 1, 10,
                 "the unread client to be disconnected")
    assert node.client().ping()
    assert rss(node.proc.pid) - before < 100 * MB
    assert "output buffer limits" in node.log()


def test_slow_subscriber_cut_at_pubsub_default(node: Node) -> None:
    """Redis's pubsub class default (32mb 8mb 60): a subscriber that never reads is cut after
    about 32 MB of messages (it took 260 x 1 MB before)."""
    with _unread_connection(node.port) as silent:
        silent.sendall(encode_command([b"SUBSCRIBE", b"flood"]))
        client = node.client()
        wait_for(lambda: client.pubsub_numsub("flood") == [(b"flood", 1)], 5, "the subscriber")
        published = 0
        while client.pubsub_numsub("flood") != [(b"flood", 0)]:
            assert published < 64, "the subscriber was not cut near 32 MB"
            client.publish("flood", VALUE)
            published += 1
    assert published >= 8  # not before the kernel's buffers and the 32 MB filled
    assert client.ping()


def test_config_get_set_like_redis(shared_node: Node) -> None:
    client = shared_node.client(decode_responses=True)
    default = "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
    assert client.config_get("client-output-buffer-limit") == {
        "client-output-buffer-limit": default}
    try:
        client.config_set("client-output-buffer-limit", "replica 1mb 2mb 3 NORMAL 1k 2kb 4")
        assert client.config_get("client-output-buffer-limit") == {
            "client-output-buffer-limit":
                "normal 1000 2048 4 slave 1048576 2097152 3 pubsub 33554432 8388608 60"}
    finally:
        client.config_set("client-output-buffer-limit", default)


@pytest.mark.parametrize(("value", "error"), [
    ("normal 0 0", "Wrong number of arguments in buffer limit configuration."),
    ("master 1 1 1", "Invalid client class specified in buffer limit configuration."),
    ("pubsub 1 2 -1", "Error in hard, soft or soft_seconds setting in buffer limit "
                      "configuration."),
    ("normal 1x 2 3", "Error in hard, soft or soft_seconds setting in buffer limit "
                      "configuration."),
])
def test_invalid_limits_refused_like_redis(value: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_output_limits(value)


def test_soft_limit_needs_its_seconds() -> None:
    limit, watch = OutputLimit(hard=100, soft=10, seconds=2), LimitWatch()
    assert not watch.exceeded(50, limit, now=0.0)  # soft reached: the clock starts
    assert not watch.exceeded(50, limit, now=2.0)
    assert watch.exceeded(50, limit, now=2.5)
    assert not watch.exceeded(5, limit, now=3.0)  # below soft: the clock stops
    assert not watch.exceeded(50, limit, now=10.0)
    assert watch.exceeded(100, limit, now=10.0)  # hard: at once
    assert not LimitWatch().exceeded(10**12, OutputLimit(0, 0, 0), now=0.0)


def test_legacy_single_size_at_start_only() -> None:
    """A flag, variable or config line with one size (rcache's former form) still starts the
    node: it is every class's hard limit. CONFIG SET takes Redis's syntax only."""
    config = Config.load(None, {"RCACHE_CLIENT_OUTPUT_BUFFER_LIMIT": "1mb"}, {})
    assert config.get("client-output-buffer-limit") == (
        "normal 1048576 0 0 slave 1048576 0 0 pubsub 1048576 0 0")
    with pytest.raises(CommandError, match="Wrong number of arguments"):
        config.set_at_runtime([(b"client-output-buffer-limit", b"1mb")])


def test_reads_behind_a_write_past_the_flush_size_are_answered(shared_node: Node) -> None:
    """Reads deferred behind a pending write, whose replies pass the size at which the reply
    queue hands them to the socket mid-drain, are all answered (and other clients too)."""
    client = shared_node.client(socket_timeout=20)
    big = b"x" * 50_000
    client.set("flush-big", big)
    pipe = client.pipeline(transaction=False)
    pipe.set("flush-a", 1)
    for _ in range(4):
        pipe.get("flush-big")
    assert pipe.execute() == [True, big, big, big, big]
    assert shared_node.client(socket_timeout=5).ping()
