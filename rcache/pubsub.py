"""Pub/sub on one node: who listens to which channels and patterns, and delivery.

Every PUBLISH goes through the Raft log, so every node applies it and hands the message to
its own subscribers: a client may subscribe on any node, as with Redis Cluster's broadcast.
Subscriptions change on the event loop; publications arrive from the Raft thread, which
counts the receivers (the publisher's reply, on the leader) under a lock and leaves the
writing to the event loop. Delivery is at most once: a subscriber that connects after a
message was applied never sees it, and a node that replays its log after a restart has no
subscribers yet.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from .glob import matcher
from .resp import Push

if TYPE_CHECKING:
    from .server import Client


class Hub:
    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None  # set when the server starts
        self._lock = threading.Lock()
        self.channels: dict[bytes, dict[int, Client]] = {}  # channel -> client id -> client
        self.patterns: dict[bytes, dict[int, Client]] = {}
        # each subscribed pattern compiled once (every PUBLISH on every node matches them all)
        self._matchers: dict[bytes, Callable[[bytes], bool]] = {}

    def subscribe(self, client: Client, name: bytes, pattern: bool) -> None:
        table, mine = self._tables(client, pattern)
        if name not in mine:
            mine[name] = None
            match = matcher(name) if pattern and name not in self._matchers else None
            with self._lock:
                table.setdefault(name, {})[client.id] = client
                if match is not None:
                    self._matchers[name] = match

    def unsubscribe(self, client: Client, name: bytes, pattern: bool) -> None:
        table, mine = self._tables(client, pattern)
        if name in mine:
            del mine[name]
            with self._lock:
                listeners = table[name]
                del listeners[client.id]
                if not listeners:
                    del table[name]
                    if pattern:
                        del self._matchers[name]

    def drop(self, client: Client) -> None:
        """The client left (or RESET): forget all it listened to."""
        for pattern in (False, True):
            for name in list(self._tables(client, pattern)[1]):
                self.unsubscribe(client, name, pattern)

    def _tables(self, client: Client, pattern: bool):
        return (self.patterns, client.patterns) if pattern else (self.channels, client.channels)

    def publish(self, channel: bytes, message: bytes) -> int:
        """Hand message to this node's subscribers (any thread); returns how many get it."""
        with self._lock:
            direct = list(self.channels.get(channel, {}).values())
            by_pattern = [(pattern, client) for pattern, listeners in self.patterns.items()
                          if self._matchers[pattern](channel)
                          for client in listeners.values()]
        if (direct or by_pattern) and self.loop is not None:
            self.loop.call_soon_threadsafe(self._deliver, channel, message, direct, by_pattern)
        return len(direct) + len(by_pattern)

    @staticmethod
    def _deliver(channel: bytes, message: bytes, direct: list[Client],
                 by_pattern: list[tuple[bytes, Client]]) -> None:
        for client in direct:
            client.push(Push([b"message", channel, message]))
        for pattern, client in by_pattern:
            client.push(Push([b"pmessage", pattern, channel, message]))
