"""Pub/sub on one node: who listens to which channels and patterns, and delivery.

Every PUBLISH goes through the Raft log, so every node applies it and hands the message to
its own subscribers: a client may subscribe on any node, as with Redis Cluster's broadcast.
Subscriptions change on the event loop, and publications are matched against them there
too: the Raft thread that applies a PUBLISH only hands it over, so no pattern (however
costly) and no number of subscribers can delay heartbeats. The publisher's reply (the count
of receivers, on the leader) is a ``Delivery`` that the loop fills in before the reply is
sent. Delivery is at most once: a subscriber that connects after a
message was applied never sees it, and a node that replays its log after a restart has no
subscribers yet.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from .glob import matcher
from .interfaces import Connection
from .notify import PUBLISHED, SHARD_PUBLISHED, messages
from .resp import Push
from .tracking import Tracker

# What a client listens to: a channel (SUBSCRIBE), a pattern (PSUBSCRIBE), a shard channel
# (SSUBSCRIBE; one shard holds them all here, so it is a channel of its own namespace).
CHANNEL, PATTERN, SHARD = "channel", "pattern", "shard"


class Delivery:
    """PUBLISH's reply: how many of this node's subscribers received the message."""

    __slots__ = ("receivers",)

    def __init__(self) -> None:
        self.receivers = 0


def settle(reply):
    """A reply from the state machine, with PUBLISH counts (known on the loop) filled in."""
    kind = type(reply)
    if kind is Delivery:
        return reply.receivers
    if kind is list:
        return [settle(item) for item in reply]
    return reply


class Hub:
    """Event loop only, but for ``publish``."""

    def __init__(self, config=None) -> None:
        self.config = config  # notify-keyspace-events decides which events are published
        self.loop: asyncio.AbstractEventLoop | None = None  # set when the server starts
        self.channels: dict[bytes, dict[int, Connection]] = {}  # channel -> client id -> client
        self.patterns: dict[bytes, dict[int, Connection]] = {}
        self.shard_channels: dict[bytes, dict[int, Connection]] = {}
        # each subscribed pattern compiled once (every PUBLISH on every node matches them all)
        self._matchers: dict[bytes, Callable[[bytes], bool]] = {}
        self.tracker: Tracker | None = None  # CLIENT TRACKING: told of every modified key

    def subscribe(self, client: Connection, name: bytes, kind: str) -> None:
        table, mine = self.tables(client, kind)
        if name not in mine:
            mine[name] = None
            if kind == PATTERN and name not in self._matchers:
                self._matchers[name] = matcher(name)
            table.setdefault(name, {})[client.id] = client

    def unsubscribe(self, client: Connection, name: bytes, kind: str) -> None:
        table, mine = self.tables(client, kind)
        if name in mine:
            del mine[name]
            listeners = table[name]
            del listeners[client.id]
            if not listeners:
                del table[name]
                if kind == PATTERN:
                    del self._matchers[name]

    def drop(self, client: Connection) -> None:
        """The client left (or RESET): forget all it listened to."""
        for kind in (CHANNEL, PATTERN, SHARD):
            for name in list(self.tables(client, kind)[1]):
                self.unsubscribe(client, name, kind)

    def tables(self, client: Connection, kind: str):
        if kind == PATTERN:
            return self.patterns, client.patterns
        if kind == SHARD:
            return self.shard_channels, client.shard_channels
        return self.channels, client.channels

    def publish(self, channel: bytes, message: bytes, events: list | None = None,
                shard: bool = False) -> Delivery:
        """Raft thread: hand the message (an SPUBLISH's if ``shard``) to the loop, which
        delivers and counts it; while the entry's keyspace events are collected, in its
        place among them."""
        delivery = Delivery()
        if events is not None:
            events.append((SHARD_PUBLISHED if shard else PUBLISHED, channel, message, delivery))
        elif self.loop is not None:
            deliver = self._deliver_shard if shard else self._deliver
            self.loop.call_soon_threadsafe(deliver, channel, message, delivery)
        return delivery

    def deliver_here(self, channel: bytes, message: bytes, shard: bool = False) -> int:
        """Event loop: a message published on this node alone (a follower with
        cluster-enabled no, as a Redis replica's PUBLISH): -> its receivers here."""
        delivery = Delivery()
        (self._deliver_shard if shard else self._deliver)(channel, message, delivery)
        return delivery.receivers

    @property
    def notify_flags(self) -> int:
        """Any thread: this node's notify-keyspace-events (0: collect no events)."""
        return self.config.notify_keyspace_events if self.config is not None else 0

    @property
    def collects_events(self) -> bool:
        """Any thread: does an entry's apply collect its keyspace events (for notifications or
        for client tracking: while a client tracks, or the table holds keys, which writes and
        flushes drop even when nobody tracks any more, as in Redis)?"""
        tracker = self.tracker
        return bool(self.notify_flags or (tracker is not None
                                          and (tracker.tracking_clients or tracker.keys)))

    def notify(self, events: list[tuple[int, bytes, bytes, int]]) -> None:
        """Raft thread, after the entry is committed: publish its keyspace events in order."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self._deliver_events, events)

    def _deliver_events(self, events: list[tuple]) -> None:
        tracker = self.tracker
        if tracker is not None and (tracker.tracking_clients or tracker.keys):
            tracker.invalidate(events)
        flags = self.notify_flags
        for kind, event, key, db in events:
            if kind == PUBLISHED:
                self._deliver(event, key, db)  # channel, message, delivery
                continue
            if kind == SHARD_PUBLISHED:
                self._deliver_shard(event, key, db)
                continue
            for channel, message in messages(flags, kind, event, key, db):
                self._deliver(channel, message, Delivery())

    def _deliver(self, channel: bytes, message: bytes, delivery: Delivery) -> None:
        direct = self.channels.get(channel, {})
        for client in direct.values():
            client.push(Push([b"message", channel, message]))
        delivery.receivers = len(direct)
        for pattern, listeners in self.patterns.items():
            if self._matchers[pattern](channel):
                for client in listeners.values():
                    client.push(Push([b"pmessage", pattern, channel, message]))
                delivery.receivers += len(listeners)

    def _deliver_shard(self, channel: bytes, message: bytes, delivery: Delivery) -> None:
        listeners = self.shard_channels.get(channel, {})
        for client in listeners.values():
            client.push(Push([b"smessage", channel, message]))
        delivery.receivers = len(listeners)
