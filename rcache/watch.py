"""WATCH: optimistic locking for MULTI/EXEC, decided by the leader as Redis decides it.

Writes reach the log in the order the leader submits them, so a write submitted after a
client's WATCH is ordered before that client's EXEC exactly when it was submitted before the
EXEC. Every submitted item therefore marks the clients watching its keys ("dirty"), and EXEC
refuses a dirty client's transaction. Two things complete the picture:

* WATCH answers only after every write submitted before it has been applied (so the client's
  next reads include them: none can slip between what it read and what it watches);
* a change of Raft term since WATCH makes EXEC fail too: another leader may have written.

A key that expires while watched also fails EXEC, as in Redis 7.

A follower with cluster-enabled no takes WATCH as a Redis replica does (its EXEC then runs
reads only): there the entries it applies mark their keys' watchers instead, as the writes
a Redis replica receives from its master do. The applying thread hands each entry's items
over as its writes become visible (``StateMachine.watched_applies``, in
``Store.committing``); WATCH and EXEC take them in ``Store.one_state``, so an entry is
either seen by both the marking and EXEC's reads or by neither.
"""

from __future__ import annotations

import collections
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
        # The items of the entries applied since the last look (None: a snapshot replaced
        # everything), while a follower's clients watch (see the module's docstring).
        self._applied: collections.deque = collections.deque()
        self._observing = False  # the applying thread hands them over (watched_applies)

    def watch_on_replica(self, client: Connection, db: int, keys: list[bytes]) -> None:
        """WATCH on a follower with cluster-enabled no: from now on, the entries it applies
        mark the keys they change."""
        with self._server.store.one_state():
            self._take_applied()  # what applied before marks only the clients that watched
            self._server.machine.watched_applies = self._applied
            self._observing = True
            self.watch(client, db, keys)

    def _take_applied(self) -> None:
        applied = self._applied
        while applied:
            items = applied.popleft()
            if items is None:
                self._touch(list(self._watchers))
                continue
            for item in items:
                self.submitted(item, applied=True)

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
        if self._observing and not self._watchers:
            self._server.machine.watched_applies = None
            self._observing = False
            self._applied.clear()

    def modified(self, client: Connection) -> bool:
        """EXEC's question: did anything touch the client's watched keys since WATCH?"""
        self._take_applied()
        if client.watch_dirty or client.watch_term != self._term():
            return True
        now = _now_ms()
        store = self._server.store
        return any(not expired_then and store.keyspace(db, now).is_expired(key)
                   for (db, key), expired_then in client.watched.items())

    # -- the write path calls this for every item it submits ---------------------------------
    def submitted(self, item: tuple, prepared: Prepared = None, applied: bool = False) -> None:
        """``applied``: the item was applied already (a follower's, see _take_applied)."""
        if not self._watchers:
            return
        if self._applied and not applied:  # a follower's watchers, now on the leader
            self._take_applied()
        kind = item[0]
        if kind == COMMAND:
            self._touch_command(item[1], item[2], prepared[0] if prepared else None, applied)
        elif kind == TRANSACTION:
            for i, (db, argv) in enumerate(item[1]):
                self._touch_command(db, argv, prepared[i][0] if prepared else None, applied)
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

    def _touch_command(self, db: int, argv: list[bytes], cmd: Command | None,
                       applied: bool = False) -> None:
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
            dbs = self._databases(cmd, db, argv)
            if applied and cmd.name != "swapdb":  # flushed: which keys existed is unknown
                self._touch(watched for watched in self._watchers if watched[0] in dbs)
            else:
                self._touch_databases(dbs)
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
