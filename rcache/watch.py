"""WATCH: optimistic locking for MULTI/EXEC, decided by the leader as Redis decides it.

Writes reach the log in the order the leader submits them, so a write submitted after a
client's WATCH is ordered before that client's EXEC exactly when it was submitted before the
EXEC. Every submitted item therefore marks the clients watching its keys ("dirty"), and EXEC
refuses a dirty client's transaction. Two things complete the picture:

* WATCH answers only after every write submitted before it has been applied (so the client's
  next reads include them: none can slip between what it read and what it watches);
* a change of Raft term since WATCH makes EXEC fail too: another leader may have written.

A key that expires while watched also fails EXEC, as in Redis 7.
"""

from __future__ import annotations

import time

from .commands.table import Command, lookup
from .entries import COMMAND, EVICT, EXPIRE, LEASE_EXPIRY, TRANSACTION
from .errors import CommandError
from .interfaces import Connection, Node
from .statemachine import Prepared

WatchedKey = tuple[int, bytes]  # (db, key)



class Watches:
    """Who watches which key, on this node (only the leader's matter)."""

    def __init__(self, server: Node) -> None:
        self._server = server
        self._watchers: dict[WatchedKey, set[Connection]] = {}

    def watch(self, client: Connection, db: int, keys: list[bytes]) -> None:
        if not client.watched:
            client.watch_term = self._term()
        ks = self._server.store.keyspace(db, _now_ms())
        for key in keys:
            if (db, key) not in client.watched:
                client.watched[(db, key)] = ks.is_expired(key)  # already expired: not "live"
                self._watchers.setdefault((db, key), set()).add(client)

    def unwatch(self, client: Connection) -> None:
        for watched in client.watched:
            watchers = self._watchers.get(watched)
            if watchers is not None:
                watchers.discard(client)
                if not watchers:
                    del self._watchers[watched]
        client.watched.clear()
        client.watch_dirty = False

    def modified(self, client: Connection) -> bool:
        """EXEC's question: did anything touch the client's watched keys since WATCH?"""
        if client.watch_dirty or client.watch_term != self._term():
            return True
        now = _now_ms()
        store = self._server.store
        return any(not expired_then and store.keyspace(db, now).is_expired(key)
                   for (db, key), expired_then in client.watched.items())

    # -- the write path calls this for every item it submits ---------------------------------
    def submitted(self, item: tuple, prepared: Prepared = None) -> None:
        if not self._watchers:
            return
        kind = item[0]
        if kind == COMMAND:
            self._touch_command(item[1], item[2], prepared[0] if prepared else None)
        elif kind == TRANSACTION:
            for i, (db, argv) in enumerate(item[1]):
                self._touch_command(db, argv, prepared[i][0] if prepared else None)
        elif kind == LEASE_EXPIRY:  # its keys are known only when it is applied
            self._touch(list(self._watchers))
        elif kind == EVICT:
            for key in item[2]:
                for client in list(self._watchers.get((item[1], key), ())):
                    client.watch_dirty = True
        elif kind == EXPIRE:  # only a key still live at WATCH time changes by expiring
            for key in item[2]:
                for client in list(self._watchers.get((item[1], key), ())):
                    if not client.watched.get((item[1], key)):
                        client.watch_dirty = True

    def _touch_command(self, db: int, argv: list[bytes], cmd: Command | None) -> None:
        """``cmd``: the command's table entry, if the write path found it already."""
        try:
            cmd = cmd or lookup(argv)
        except CommandError:
            return
        # Writes whose keys are not (all) in their key positions say so by their flags
        # (commands/table.py).
        flags = cmd.flags
        if "readonly" in flags and "blocking" in flags:
            return  # XREAD BLOCK goes through the log to be ordered, but changes nothing
        if "touches_any_key" in flags:
            self._touch(list(self._watchers))
        elif "touches_dbs" in flags:
            self._touch_databases(self._databases(cmd, db, argv))
        elif "touches_other_db" in flags:  # MOVE key db, COPY src dst DB db: any db
            keys = set(cmd.keys(argv))
            self._touch(watched for watched in self._watchers if watched[1] in keys)
        else:
            self._touch((db, key) for key in cmd.keys(argv))

    def _databases(self, cmd: Command, db: int, argv: list[bytes]) -> list[int]:
        if cmd.name == "flushall":
            return list(range(self._server.config.databases))
        if cmd.name == "swapdb":
            try:
                return list(cmd.parser(argv))  # the two indexes, as SWAPDB reads them
            except CommandError:
                return []
        return [db]

    def _touch_databases(self, dbs: list[int]) -> None:
        """FLUSHDB, FLUSHALL, SWAPDB change a watched key only if it exists in one of the
        databases (a missing key stays missing after a flush)."""
        now = _now_ms()
        store = self._server.store
        keyspaces = {db: store.keyspace(db, now) for db in dbs
                     if 0 <= db < self._server.config.databases}
        self._touch(watched for watched in self._watchers if watched[0] in keyspaces
                    and any(ks.exists(watched[1]) for ks in keyspaces.values()))

    def _touch(self, keys) -> None:
        for watched in list(keys):
            for client in self._watchers.get(watched, ()):
                client.watch_dirty = True

    def _term(self) -> int:
        return self._server.replicator.term


def _now_ms() -> int:
    return int(time.time() * 1000)
