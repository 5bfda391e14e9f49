"""Client-side caching (CLIENT TRACKING): which clients may hold which keys, and invalidation.

Keys change on every node when an entry is applied, and the hub already hands each entry's
keyspace events (rcache/notify.py) to the event loop: the tracker reads the modified keys
there, so a client tracking on a follower is told as one on the leader is. Everything here
runs on the event loop. As in Redis, the table of remembered keys is one per node (key names,
whatever the database), bounded by ``tracking-table-max-keys``: past it the oldest keys are
dropped, their clients told to forget them first.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from .config import Config
from .interfaces import Connection
from .notify import FLUSHED, PUBLISHED
from .resp import Push

INVALIDATE_CHANNEL = b"__redis__:invalidate"
# NOLOOP: the most keys of a connection's writes in flight it keeps (its memory stays bounded
# while a pipeline keeps replies pending; past it, its own writes may invalidate it too).
_NOLOOP_KEYS_MAX = 10_000


class ClientTracking:
    """One connection's CLIENT TRACKING state (a connection that does not track has None)."""

    __slots__ = ("redirect", "bcast", "optin", "optout", "noloop", "prefixes", "caching",
                 "after_client", "broken_redirect", "writing")

    def __init__(self, redirect: int, bcast: bool, optin: bool, optout: bool,
                 noloop: bool) -> None:
        self.redirect = redirect  # 0: to this connection itself
        self.bcast = bcast
        self.optin = optin
        self.optout = optout
        self.noloop = noloop
        self.prefixes: dict[bytes, None] = {}  # BCAST prefixes, in the order given
        self.caching = False  # CLIENT CACHING's flag
        self.after_client = False  # the last command was a CLIENT subcommand (it kept it)
        self.broken_redirect = False  # the redirect client was gone when a message was due
        # NOLOOP: the keys of this connection's writes whose replies have not come yet.
        self.writing: Counter[bytes] = Counter()

    def flags(self) -> list[bytes]:
        """CLIENT TRACKINGINFO's flags, in Redis's order (tracking is on)."""
        found = [b"on"]
        if self.bcast:
            found.append(b"bcast")
        if self.optin:
            found += [b"optin", b"caching-yes"] if self.caching else [b"optin"]
        if self.optout:
            found += [b"optout", b"caching-no"] if self.caching else [b"optout"]
        if self.noloop:
            found.append(b"noloop")
        if self.broken_redirect:
            found.append(b"broken_redirect")
        return found


class Tracker:
    """This node's tracking table and BCAST prefixes (event loop only)."""

    def __init__(self, clients: dict[int, Connection], config: Config) -> None:
        self.clients = clients  # client id -> connection (the server's)
        self.config = config  # tracking-table-max-keys
        self.keys: dict[bytes, set[int]] = {}  # key -> ids of the clients that read it
        self.items = 0  # (key, client) pairs in keys: INFO's tracking_total_items
        self.prefixes: dict[bytes, set[int]] = {}  # BCAST prefix -> client ids
        # Lengths of those prefixes -> how many: a key is matched by slicing it to each
        # length, so a write costs per distinct length, not per prefix.
        self._prefix_lengths: dict[int, int] = {}
        self.tracking_clients = 0  # read by the Raft thread: collect events while any

    # -- a connection's state -------------------------------------------------------------
    def enable(self, client: Connection, redirect: int, bcast: bool, optin: bool, optout: bool,
               noloop: bool, prefixes: list[bytes]) -> None:
        """CLIENT TRACKING ON (options already checked): again on a tracking connection,
        it replaces the options and adds the prefixes, as Redis's enableTracking."""
        tracking = client.tracking
        if tracking is None:
            self.tracking_clients += 1
            client.tracking = tracking = ClientTracking(redirect, bcast, optin, optout, noloop)
        else:
            tracking.redirect, tracking.bcast, tracking.noloop = redirect, bcast, noloop
            tracking.optin, tracking.optout = optin, optout
            tracking.broken_redirect = False
        if bcast:
            for prefix in prefixes or [b""]:
                tracking.prefixes[prefix] = None
                if prefix not in self.prefixes:
                    self.prefixes[prefix] = set()
                    lengths = self._prefix_lengths
                    lengths[len(prefix)] = lengths.get(len(prefix), 0) + 1
                self.prefixes[prefix].add(client.id)

    def disable(self, client: Connection) -> None:
        """CLIENT TRACKING OFF, RESET, the connection closed. Its remembered keys stay in the
        table (they go when invalidated or evicted, as in Redis)."""
        tracking = client.tracking
        if tracking is None:
            return
        client.tracking = None
        self.tracking_clients -= 1
        for prefix in tracking.prefixes:
            ids = self.prefixes[prefix]
            ids.discard(client.id)
            if not ids:
                del self.prefixes[prefix]
                lengths = self._prefix_lengths
                lengths[len(prefix)] -= 1
                if not lengths[len(prefix)]:
                    del lengths[len(prefix)]

    def on_command(self, client: Connection, cmd: Any, argv: list[bytes]) -> None:
        """Every command of a tracking connection, before it runs: a read (or a script)
        remembers its keys (unless OPTIN/OPTOUT say otherwise); a write, under NOLOOP, marks
        its keys as this connection's own. CLIENT CACHING lasts one command (a MULTI block,
        or CLIENT subcommands, keep it). ``cmd``: its commands.table.Command (not imported
        here: importing the table imports every family)."""
        tracking = client.tracking
        # Redis's resetClient, for the command before this one: the flag goes unless that
        # command was a CLIENT subcommand or left the connection in MULTI.
        if tracking.caching and not (tracking.after_client or client.multi is not None):
            tracking.caching = False
        caching = tracking.caching
        container = cmd.container
        tracking.after_client = container is not None and "keeps_caching" in container.flags
        if not cmd.keyed:
            return
        if cmd.is_write:
            if tracking.noloop:
                writing = tracking.writing
                if len(writing) > _NOLOOP_KEYS_MAX:  # forget: at worst a needless message
                    writing.clear()
                writing.update(cmd.keys(argv))
            # A script's reads are not seen one by one: its keys count as read.
            if "script_reads" not in cmd.flags:
                return
        elif "readonly" not in cmd.flags:
            return
        if tracking.bcast:
            return
        if (tracking.optin and not caching) or (tracking.optout and caching):
            return
        self._remember(client.id, cmd.keys(argv))

    def _remember(self, client_id: int, keys: list[bytes]) -> None:
        table = self.keys
        for key in keys:
            ids = table.get(key)
            if ids is None:
                table[key] = {client_id}
                self.items += 1
            elif client_id not in ids:
                ids.add(client_id)
                self.items += 1
        self.keep_to_limit()

    def keep_to_limit(self) -> None:
        """Past tracking-table-max-keys (after a read, or CONFIG SET lowering it): the
        oldest keys go, their clients told to forget them."""
        table = self.keys
        limit = self.config.tracking_table_max_keys
        while limit and len(table) > limit:
            self._invalidate_key(*self._forget(next(iter(table))))

    def _forget(self, key: bytes) -> tuple[bytes, set[int]]:
        ids = self.keys.pop(key, ())
        self.items -= len(ids)
        return key, ids

    # -- invalidation ---------------------------------------------------------------------
    def invalidate(self, events: list[tuple]) -> None:
        """One applied entry's keyspace events: tell the clients that may cache those keys.
        A run of flushes (FLUSHALL empties every database) sends one null message."""
        broadcast: dict[bytes, dict[bytes, None]] = {}  # prefix -> keys, in order
        flushing = False
        for kind, _event, key, _db in events:
            if kind <= PUBLISHED:  # a publication in its place among the events: no key
                continue
            if kind == FLUSHED:
                if not flushing:
                    self._flush()
                flushing = True
                continue
            flushing = False
            if key in self.keys:
                self._invalidate_key(*self._forget(key))
            for length in self._prefix_lengths:
                prefix = key[:length]
                if len(prefix) == length and prefix in self.prefixes:
                    broadcast.setdefault(prefix, {})[key] = None
        for prefix, keys in broadcast.items():
            for client_id in self.prefixes.get(prefix, ()):
                client = self.clients.get(client_id)
                if client is None or client.tracking is None:
                    continue
                told = [key for key in keys if not self._own_write(client, key)]
                if told:
                    self._send(client, told)

    def _invalidate_key(self, key: bytes, ids: set[int]) -> None:
        for client_id in ids:
            client = self.clients.get(client_id)
            if client is None or client.tracking is None or client.tracking.bcast:
                continue
            if not self._own_write(client, key):
                self._send(client, [key])

    def _flush(self) -> None:
        """FLUSHDB, FLUSHALL: every tracking client forgets everything (a null message)."""
        self.keys.clear()
        self.items = 0
        for client in list(self.clients.values()):
            if client.tracking is not None:
                self._send(client, None)

    @staticmethod
    def _own_write(client: Connection, key: bytes) -> bool:
        """NOLOOP: the key changed by this connection's own write, still awaiting its reply
        (on the node that took the write, its invalidation comes before the reply)."""
        writing = client.tracking.writing
        if not writing:
            return False
        if not client.awaiting_replies:
            writing.clear()
            return False
        count = writing.get(key)
        if not count:
            return False
        if count == 1:
            del writing[key]
        else:
            writing[key] = count - 1
        return True

    def _send(self, client: Connection, keys: list[bytes] | None) -> None:
        """Redis's sendTrackingMessage: a RESP3 push to the connection (or its redirect), a
        message on __redis__:invalidate to a RESP2 redirect that subscribes, else nothing."""
        tracking = client.tracking
        target = client
        if tracking.redirect:
            target = self.clients.get(tracking.redirect)
            if target is None:
                tracking.broken_redirect = True
                if client.resp3:
                    client.push_after_replies(Push([b"tracking-redir-broken",
                                                    tracking.redirect]))
                return
        if target.resp3:
            target.push_after_replies(Push([b"invalidate", keys]))
        elif tracking.redirect and target.subscriptions:
            target.push_after_replies(Push([b"message", INVALIDATE_CHANNEL, keys]))
