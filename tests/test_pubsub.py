"""Pub/sub against real processes: the same conversation with redis-server and rcache, byte
for byte; redis-py's PubSub; messages crossing a 3-node cluster."""

from __future__ import annotations

import socket
import time

import pytest
from redis.exceptions import MovedError

from rcache.resp import encode_command, reply_end

from .conftest import LocalCluster, Node, wait_for


class Connection:
    """Raw RESP: send a command, then read exactly the replies expected, as bytes."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buffer = b""

    def send(self, *args: str) -> None:
        self.sock.sendall(encode_command([a.encode() for a in args]))

    def read(self, replies: int) -> bytes:
        """The next ``replies`` replies (the socket's timeout bounds the wait)."""
        end = 0
        for _ in range(replies):
            while (next_end := reply_end(self.buffer, end)) < 0:
                data = self.sock.recv(65536)
                if not data:
                    raise ConnectionError("closed")
                self.buffer += data
            end = next_end
        taken, self.buffer = self.buffer[:end], self.buffer[end:]
        return taken

    def close(self) -> None:
        self.sock.close()


# (who sends, command, replies the subscriber then reads). Messages are read by the subscriber
# after each PUBLISH. One pattern at most matches a message: Redis's order among several
# patterns is its hash table's.
CONVERSATION = [
    ("sub", "SUBSCRIBE a b", 2), ("sub", "PING", 1), ("sub", "PING x", 1), ("sub", "GET k", 1),
    ("sub", "CLIENT ID", 1), ("sub", "NOSUCH", 1), ("sub", "SUBSCRIBE", 1),
    ("pub", "PUBLISH a hello", 1), ("pub", "PUBLISH zzz nobody", 0),
    ("sub", "PSUBSCRIBE a?", 1), ("pub", "PUBLISH ab two", 1), ("pub", "PUBLISH a three", 1),
    ("pub", "PUBSUB NUMSUB a b c", 0), ("pub", "PUBSUB NUMPAT", 0),
    ("pub", "PUBSUB CHANNELS b*", 0), ("sub", "UNSUBSCRIBE b nope", 2),
    ("sub", "PUNSUBSCRIBE", 1), ("sub", "UNSUBSCRIBE", 1), ("sub", "UNSUBSCRIBE", 1),
    ("sub", "PUNSUBSCRIBE x", 1), ("sub", "GET k", 1), ("pub", "PUBLISH a unheard", 0),
    ("sub", "SUBSCRIBE c", 1), ("sub", "RESET", 1), ("pub", "PUBLISH c after-reset", 0),
    ("pub", "MULTI", 0), ("pub", "PUBLISH c queued", 0), ("sub", "SUBSCRIBE c", 1),
    ("pub", "EXEC", 1), ("pub", "PUBLISH", 0), ("pub", "PUBSUB", 0), ("pub", "PUBSUB FOO", 0),
    ("sub", "HELLO 3", 1), ("sub", "GET k", 1), ("sub", "PING", 1), ("pub", "PUBLISH c pushed", 1),
    ("sub", "UNSUBSCRIBE c", 1),
]


# Sharded pub/sub: its own counts and reply kinds, the subscribed mode shared with SUBSCRIBE.
SHARDED_CONVERSATION = [
    ("sub", "SSUBSCRIBE x y", 2), ("sub", "SUBSCRIBE a", 1), ("sub", "GET k", 1),
    ("pub", "SPUBLISH x hello", 1), ("pub", "PUBLISH x not-sharded", 0),
    ("pub", "SPUBLISH a not-a-channel", 0), ("pub", "PUBSUB SHARDNUMSUB x y z", 0),
    ("pub", "PUBSUB SHARDCHANNELS x*", 0), ("pub", "PUBSUB SHARDCHANNELS z*", 0),
    ("pub", "PUBSUB NUMSUB x a", 0), ("pub", "PUBSUB HELP", 0), ("pub", "PUBSUB HELP x", 0),
    ("sub", "SPUBLISH x from-sub", 1), ("sub", "PUBSUB SHARDCHANNELS", 1),
    ("sub", "SUNSUBSCRIBE x", 1), ("pub", "PUBSUB SHARDCHANNELS", 0), ("sub", "PING", 1),
    ("sub", "SUNSUBSCRIBE", 1),
    ("sub", "SUNSUBSCRIBE", 1), ("sub", "UNSUBSCRIBE", 1), ("sub", "GET k", 1),
    ("sub", "SSUBSCRIBE", 1), ("pub", "SPUBLISH x", 0), ("pub", "MULTI", 0),
    ("pub", "SSUBSCRIBE q", 0), ("pub", "SPUBLISH q queued", 0), ("pub", "EXEC", 0),
    ("pub", "COMMAND GETKEYS SPUBLISH a b", 0), ("sub", "HELLO 3", 1),
    ("sub", "SSUBSCRIBE r", 1), ("sub", "GET k", 1), ("pub", "SPUBLISH r pushed", 1),
    ("sub", "SUNSUBSCRIBE r", 1),
]

# CLIENT REPLY OFF and SKIP silence replies, but not (un)subscribe confirmations nor messages:
# Redis sends those as pushes, in RESP2 as in RESP3.
REPLY_OFF_CONVERSATION = [
    ("sub", "CLIENT REPLY OFF", 0), ("sub", "SUBSCRIBE a", 1), ("sub", "PSUBSCRIBE a*", 1),
    ("pub", "PUBLISH a muted", 2), ("sub", "UNSUBSCRIBE a", 1), ("sub", "PUNSUBSCRIBE", 1),
    ("sub", "GET k", 0), ("sub", "CLIENT REPLY ON", 1), ("sub", "HELLO 3", 1),
    ("sub", "CLIENT REPLY SKIP", 0), ("sub", "SUBSCRIBE b", 1), ("sub", "GET k", 1),
    ("sub", "CLIENT REPLY OFF", 0), ("pub", "PUBLISH b pushed", 1), ("sub", "UNSUBSCRIBE", 1),
    ("sub", "CLIENT REPLY ON", 1),
]


def _converse(port: int, conversation: list = CONVERSATION) -> list[bytes]:
    sub, pub = Connection(port), Connection(port)
    seen = []
    try:
        for who, line, replies in conversation:
            sender = sub if who == "sub" else pub
            sender.send(*line.split())
            if who == "pub":
                seen.append(pub.read(1))
            if replies:
                reply = sub.read(replies)
                # HELLO's map names the server's mode and client id: compare its shape.
                seen.append(reply[:4] if line.startswith("HELLO") else reply)
        return seen
    finally:
        sub.close()
        pub.close()


def test_conversation_matches_redis(shared_node: Node, redis_server: int) -> None:
    ours, theirs = _converse(shared_node.port), _converse(redis_server)
    for step, (got, expected) in enumerate(zip(ours, theirs, strict=True)):
        assert got == expected, (step, got, expected)


def test_sharded_conversation_matches_redis(shared_node: Node, redis_server: int) -> None:
    ours = _converse(shared_node.port, SHARDED_CONVERSATION)
    theirs = _converse(redis_server, SHARDED_CONVERSATION)
    for step, (got, expected) in enumerate(zip(ours, theirs, strict=True)):
        assert got == expected, (step, got, expected)


def test_reply_off_keeps_subscription_pushes_as_redis(shared_node: Node,
                                                      redis_server: int) -> None:
    ours = _converse(shared_node.port, REPLY_OFF_CONVERSATION)
    theirs = _converse(redis_server, REPLY_OFF_CONVERSATION)
    for step, (got, expected) in enumerate(zip(ours, theirs, strict=True)):
        assert got == expected, (step, got, expected)


def test_redis_py_pubsub(shared_node: Node) -> None:
    client = shared_node.client()
    pubsub = client.pubsub()
    pubsub.subscribe("news")
    pubsub.psubscribe("new*")
    assert [pubsub.get_message(timeout=5)["type"] for _ in range(2)] == ["subscribe",
                                                                         "psubscribe"]
    assert client.publish("news", "hi") == 2  # the channel and the pattern
    received = [pubsub.get_message(timeout=5) for _ in range(2)]
    assert {(m["type"], m["channel"], m["data"]) for m in received} == {
        ("message", b"news", b"hi"), ("pmessage", b"news", b"hi")}
    assert client.pubsub_numsub("news") == [(b"news", 1)]
    pubsub.close()
    wait_for(lambda: client.pubsub_numsub("news") == [(b"news", 0)], 5, "the close to count")


def test_messages_cross_the_cluster(steady_cluster: LocalCluster) -> None:
    leader, followers = steady_cluster.leader(), steady_cluster.followers()
    listeners = []
    for node in [leader, *followers]:
        pubsub = node.client().pubsub()
        pubsub.subscribe("events")
        assert pubsub.get_message(timeout=5)["type"] == "subscribe"
        listeners.append(pubsub)
    with pytest.raises(MovedError):  # the leader orders messages, as it orders writes
        followers[0].client().publish("events", "x")
    assert leader.client().publish("events", "through the log") == 1  # the leader's own
    for pubsub in listeners:
        message = pubsub.get_message(timeout=10)
        assert message is not None and message["data"] == b"through the log"
        pubsub.close()


def test_shard_messages_cross_the_cluster(steady_cluster: LocalCluster) -> None:
    """SPUBLISH goes through the log as PUBLISH does: a follower's shard subscriber hears it."""
    leader, follower = steady_cluster.leader(), steady_cluster.followers()[0]
    listener = follower.client().pubsub()
    listener.ssubscribe("orders")
    assert listener.get_sharded_message(timeout=5)["type"] == "ssubscribe"
    plain = follower.client().pubsub()
    plain.subscribe("orders")  # a channel of the other namespace hears nothing
    assert plain.get_message(timeout=5)["type"] == "subscribe"
    assert leader.client().spublish("orders", "shipped") == 0  # none on the leader itself
    message = listener.get_sharded_message(timeout=10)
    assert message is not None and (message["type"], message["channel"], message["data"]) == (
        "smessage", b"orders", b"shipped")
    assert plain.get_message(timeout=1) is None
    assert follower.client().pubsub_shardnumsub("orders") == [(b"orders", 1)]
    listener.close()
    plain.close()


def test_a_slow_subscriber_is_cut_off(make_node) -> None:
    """A subscriber that never reads is disconnected past the output limit; others go on."""
    node = make_node("--client-output-buffer-limit", "pubsub 1mb 0 0")
    silent = socket.create_connection(("127.0.0.1", node.port), timeout=5)
    silent.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    silent.sendall(encode_command([b"SUBSCRIBE", b"flood"]))
    client = node.client()
    wait_for(lambda: client.pubsub_numsub("flood") == [(b"flood", 1)], 5, "the subscription")
    payload = b"x" * 65536
    deadline = time.monotonic() + 60
    while client.pubsub_numsub("flood") != [(b"flood", 0)]:
        assert time.monotonic() < deadline, "the slow subscriber was never disconnected"
        client.publish("flood", payload)
    assert client.ping()
    silent.close()
