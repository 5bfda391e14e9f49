"""A configuration center on rcache (or Redis): a client-side recipe, no server support needed.

Each configuration is one hash ``config/<group>/<data_id>`` (content, md5, version) and a
bounded history list ``config/<group>/<data_id>/history`` (newest first), written together
by one WATCH/MULTI/EXEC so that version numbers never repeat or skip. A watcher holding an
md5 is told of every later version: it subscribes to the hash's keyspace notifications on
the node it reads from (any node: followers publish what they apply), and reads the history
after subscribing and again after every (re)connection, so a change made while it was away
is still seen. The history bounds how far behind a watcher can fall without skipping
versions (it then jumps to the oldest version still kept).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import redis

from .notify import HASH, KEYSPACE, format_flags, parse_flags

HISTORY = 16  # versions kept per configuration
# A node that is gone or cannot answer now (MOVED, CLUSTERDOWN, TRYAGAIN): connect again.
_UNAVAILABLE = (redis.ConnectionError, redis.TimeoutError, OSError, redis.exceptions.AskError,
                redis.exceptions.ClusterDownError, redis.exceptions.TryAgainError)
_PUBLISH_ATTEMPTS = 100  # WATCH conflicts (concurrent publishers) before giving up


@dataclass(frozen=True)
class Config:
    content: bytes
    md5: str
    version: int


def config_key(group: str, data_id: str) -> str:
    return f"config/{group}/{data_id}"


def _history_key(group: str, data_id: str) -> str:
    return config_key(group, data_id) + "/history"


def _encode(config: Config) -> bytes:
    return b"%d:%s:%s" % (config.version, config.md5.encode(), config.content)


def _decode(raw: bytes) -> Config:
    version, md5, content = raw.split(b":", 2)
    return Config(content, md5.decode(), int(version))


def _as_bytes(content: bytes | str) -> bytes:
    return content.encode() if isinstance(content, str) else content


class ConfigCenter:
    """Publish and read configurations through ``client`` (writes need the leader)."""

    def __init__(self, client: redis.Redis, history: int = HISTORY) -> None:
        self.client = client
        self.history_size = history

    def publish(self, group: str, data_id: str, content: bytes | str) -> Config:
        """Store content as the next version, atomically with its md5 and history entry."""
        content = _as_bytes(content)
        key, history = config_key(group, data_id), _history_key(group, data_id)
        md5 = hashlib.md5(content).hexdigest()
        with self.client.pipeline(transaction=True) as pipe:
            for _ in range(_PUBLISH_ATTEMPTS):
                try:
                    pipe.watch(key)
                    config = Config(content, md5, int(pipe.hget(key, "version") or 0) + 1)
                    pipe.multi()
                    pipe.hset(key, mapping={"content": content, "md5": md5,
                                            "version": config.version})
                    pipe.lpush(history, _encode(config))
                    pipe.ltrim(history, 0, self.history_size - 1)
                    pipe.execute()
                    return config
                except redis.WatchError:  # another publisher won: number after it
                    continue
        raise RuntimeError(f"{key}: too many concurrent publishers")

    def get(self, group: str, data_id: str) -> Config | None:
        content, md5, version = self.client.hmget(config_key(group, data_id),
                                                  "content", "md5", "version")
        if version is None:
            return None
        return Config(content, md5.decode(), int(version))

    def history(self, group: str, data_id: str) -> list[Config]:
        """The versions kept, oldest first."""
        raw = self.client.lrange(_history_key(group, data_id), 0, -1)
        return [_decode(entry) for entry in reversed(raw)]

    @staticmethod
    def watch(group: str, data_id: str, md5: str | None, readonly: bool = True,
              **connection: object) -> Watcher:
        """Versions after the one whose md5 is given (unknown or None: the current version
        comes first), from the node that redis.Redis(**connection) reaches; with readonly
        (READONLY on each connection) that node may be a follower."""
        return Watcher(group, data_id, md5, readonly, connection)


def ensure_notifications(client: redis.Redis) -> None:
    """Turn on the keyspace notifications a watcher needs (K and h) on client's node,
    keeping whatever else the node has on."""
    current = parse_flags(client.config_get("notify-keyspace-events")
                          .get("notify-keyspace-events", ""))
    wanted = current | KEYSPACE | HASH
    if wanted != current:
        client.config_set("notify-keyspace-events", format_flags(wanted))


class Watcher:
    """Iterates over the versions published after the one it holds, each exactly once and in
    order; reconnects (and re-reads) by itself when its node goes away."""

    def __init__(self, group: str, data_id: str, md5: str | None, readonly: bool,
                 connection: dict) -> None:
        self.group, self.data_id = group, data_id
        self.md5 = md5
        self.version: int | None = None  # the last version given out (None: not known yet)
        self._readonly = readonly
        self._connection = connection
        self._client: redis.Redis | None = None
        self._pubsub = None
        self._pending: list[Config] = []
        # Connections opened, counted as they open: redis-py's PubSub reconnects (and
        # subscribes again) by itself, and whatever changed meanwhile must be read.
        self.connections = 0
        self._read_after = 0  # connections opened when the history was last read

    def __iter__(self) -> Iterator[Config]:
        while True:
            change = self.next_change(timeout=None)
            if change is not None:
                yield change

    def next_change(self, timeout: float | None) -> Config | None:
        """The next version, or None if none came within timeout seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._pending:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return None
            try:
                if self._pubsub is None:
                    self._subscribe_and_read()
                    continue
                wait = 1.0 if remaining is None else min(remaining, 1.0)
                notified = self._pubsub.get_message(ignore_subscribe_messages=True, timeout=wait)
                if notified or self.connections != self._read_after:
                    self._read()
            except _UNAVAILABLE:
                self._disconnect()
                time.sleep(0.2 if remaining is None else max(0.0, min(0.2, remaining)))
        change = self._pending.pop(0)
        self.md5, self.version = change.md5, change.version
        return change

    def run(self, callback: Callable[[Config], object], stop: threading.Event) -> None:
        """Call back with each version until stop is set (run it in a thread of its own)."""
        try:
            while not stop.is_set():
                change = self.next_change(timeout=0.5)
                if change is not None:
                    callback(change)
        finally:
            self.close()

    def close(self) -> None:
        self._disconnect()

    def _subscribe_and_read(self) -> None:
        """Subscribe first, then read: a change between the two is read or notified."""
        client = redis.Redis(redis_connect_func=self._on_connect, **self._connection)
        try:
            ensure_notifications(client)
            pubsub = client.pubsub()
            db = client.connection_pool.connection_kwargs.get("db", 0)
            pubsub.subscribe(f"__keyspace@{db}__:{config_key(self.group, self.data_id)}")
        except Exception:
            client.close()
            raise
        self._client, self._pubsub = client, pubsub
        self._read()

    def _on_connect(self, connection) -> None:
        connection.on_connect()
        if self._readonly:
            connection.send_command("READONLY")
            connection.read_response()
        self.connections += 1

    def _read(self) -> None:
        """Queue the kept versions after the last one given out (or after self.md5's)."""
        self._read_after = self.connections
        kept = [_decode(raw) for raw in reversed(
            self._client.lrange(_history_key(self.group, self.data_id), 0, -1))]
        if not kept:
            if self.version is None:
                self.version = 0  # not published yet: every version will be news
            return
        if self.version is None:  # first read: place the md5 held in the history
            self.version = next((c.version for c in reversed(kept) if c.md5 == self.md5),
                                kept[-1].version - (self.md5 != kept[-1].md5))
        newest_queued = self._pending[-1].version if self._pending else self.version
        self._pending.extend(c for c in kept if c.version > newest_queued)

    def _disconnect(self) -> None:
        if self._pubsub is not None:
            self._pubsub.close()
        if self._client is not None:
            self._client.close()
        self._pubsub = self._client = None
