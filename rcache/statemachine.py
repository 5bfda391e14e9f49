"""The deterministic state machine: applies one Raft entry to RocksDB, on every node.

An entry is a batch built by the leader (``encode_entry``): the leader's clock, a random
seed, and items. Applying depends on the entry alone, so every node ends in the same state
and computes the same replies (the leader returns them to its clients). The entry's Raft
index is written in the same RocksDB WriteBatch as its effects: replaying the log after a
restart skips what RocksDB already holds, so nothing is applied twice. Only (S)PUBLISH and
keyspace events reach outside the database: each node hands them to its own subscribers and
tracking clients (events, collected only if the node publishes notifications or has a
client tracking keys, once the entry is committed, with the entry's publications in their
place); PUBLISH replies with how many receivers there were.

Items:
    (COMMAND, db, argv)          one client command         -> its reply
    (COMMAND, db, argv, True)    a parked blocking command's wake-up try -> its reply
    (COMMAND, db, argv, False, user)  a script run by an ACL user  -> its reply
    (COMMAND, db, argv, False, user, True)  a script the leader took past maxmemory
    (TRANSACTION, [(db, argv)][, user])  MULTI ... EXEC, atomically -> list of replies
    (user: the ACL user the scripts run as, when the client is not the default user)
    (EXPIRE, db, [keys])         active expiry from leader  -> number of keys deleted
    (MEMBER, id, raft, client[, role])  a cluster member's addresses and role (storage.VOTER,
                                 LEARNER, LEARNER_KEPT; none: VOTER) -> None (raft None: removal)
    (LEASE_EXPIRY, [ids])        due leases, from the leader -> number of leases expired
    (EVICT, db, [keys])          maxmemory eviction, leader  -> number of keys deleted
    (LEASE_PROMOTE, [ids], since_ms, gap_ms)  a new leader's leases -> number of leases moved
"""

from __future__ import annotations

import collections
import hashlib
import logging
import marshal
import random
import time
from collections.abc import Callable
from typing import Any

from .commands.strings import set_plain
from .commands.table import COMMANDS, Command, Context, lookup
from .encodings import DEFAULT_LIMITS, EncodingLimits
from .entries import COMMAND, EVICT, EXPIRE, LEASE_EXPIRY, LEASE_PROMOTE, MEMBER, TRANSACTION
from .errors import CommandError
from .interfaces import CommandStats
from .leases import Leases
from .notify import EVICTED, FLUSHED
from .pubsub import Hub
from .storage import RECORD_PREFIXES, Keyspace, KeyspaceStats, Store, Transaction

# An item's commands as the node that submitted it found them: (Command, parsed arguments or
# None) for a COMMAND item, a list of those for a TRANSACTION, None when not looked up.
Prepared = tuple[Command, Any] | list[tuple[Command, Any]] | None

log = logging.getLogger(__name__)
_UNSEEN = object()
_SET = COMMANDS[b"set"]


def _failed_in_apply(argv: list[bytes]) -> CommandError:
    """A bug in a command (called in its ``except``): logged, and the command's reply. The
    log must not stop: every node fails the same way."""
    log.exception("command %r failed in apply", argv[:1])
    return CommandError("ERR internal error while applying command")


class EntryRandom:
    """A command's random source, seeded from its entry: built only if the command draws."""

    __slots__ = ("_seed", "_rng", "_blocks")

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._rng: random.Random | None = None
        self._blocks = 0  # randbytes calls so far

    def randbytes(self, n: int) -> bytes:
        """n bytes from a hash of the seed and a call counter, not from the Mersenne
        Twister: seeding that costs more than a whole SPOP's pick, which needs a few bytes."""
        self._blocks += 1
        out = b""
        for block in range(-(-n // 64)):
            out += hashlib.blake2b(b"%d:%d:%d" % (self._seed, self._blocks, block)).digest()
        return out[:n]

    def __getattr__(self, name: str):
        if self._rng is None:
            self._rng = random.Random(self._seed)
        return getattr(self._rng, name)


class EntryContext(Context):
    """The Context of an entry's commands on one database: its random source, seeded from
    the entry and the command's place in it (``seed``, set before each command), is built
    only if the command draws (few do). One per database and entry, not one per command."""

    __slots__ = ("seed", "_random", "script_lines", "notify", "woken", "script_user",
                 "stats", "oom_at_start")

    def __init__(self, ks: Keyspace, hub: Hub | None, script_lines: list | None) -> None:
        self.ks, self.hub, self.client, self.server = ks, hub, None, None
        self.seed, self._random, self.script_lines = 0, None, script_lines
        self.woken, self.oom_at_start = False, False
        self.script_user: bytes | None = None
        # This node's INFO stats, for the commands a script calls (and their errors)
        self.stats: CommandStats | None = None
        self.notify = ks.notify  # Context.notify without its call: every write notifies

    @property
    def rng(self) -> EntryRandom:
        if self._random is None:
            self._random = EntryRandom(self.seed)
        return self._random


def encode_entry(now_ms: int, seed: int, items: list[tuple],
                 limits: EncodingLimits = DEFAULT_LIMITS) -> bytes:
    """The encoding options go in up to the last that is not Redis's default (none if all
    are): entries stay as small as before, and as readable by nodes that predate the
    options added last."""
    values = tuple(limits)
    while values and values[-1] == DEFAULT_LIMITS[len(values) - 1]:
        values = values[:-1]
    if not values:
        return marshal.dumps((now_ms, seed, items))
    return marshal.dumps((now_ms, seed, items, values))


class StateMachine:
    def __init__(self, store: Store, hub: Hub | None = None) -> None:
        self.store = store
        self.hub = hub  # delivers PUBLISH to this node's subscribers
        self.applied_index = store.applied_index
        self.clock_ms = 0  # never let entry time run backwards across leaders
        # Does a client on this node wait for this entry's replies (keyed by its seed)?
        # Reads inside MULTI change nothing, so only that node runs them.
        self.replies_awaited: Callable[[int], bool] = lambda seed: True
        # This node's SLOWLOG: told of each applied command that took at least
        # slowlog_from_us() µs (read once an entry; negative: none), and how long it took.
        self.observer: Callable[[Command, list[bytes], int], None] | None = None
        self.slowlog_from_us: Callable[[], int] = lambda: -1
        self._slow_us = -1  # slowlog_from_us() for the entry being applied
        # The commands of an entry this node submitted (keyed by its seed), looked up and
        # parsed before it was proposed: a pure function of argv, spared here. None: none.
        self.prepared_for: Callable[[int], list[Prepared] | None] = lambda seed: None
        # This node's MONITOR clients (rcache.monitor.Monitors; false: none): the commands
        # the scripts of an entry a client here awaits run are noted only while there are.
        self.monitors = None
        # The lines of this node's monitored writes in an entry (keyed by its seed), one per
        # item (rcache.monitor.Submitted or None): noted when applied, in the entry's order.
        self.submitted_for: Callable[[int], list | None] = lambda seed: None
        self._script_lines: list | None = None  # for the entry being applied
        self.stats: CommandStats | None = None  # the server's (a script's commands count)
        # INFO keyspace_hits/misses of the reads entries make (scripts', MULTI's, GETSET's...),
        # counted on the node whose client awaits the entry, as Redis counts them on the
        # master only (a replica applies their effects). Node-local: nothing reaches the data.
        self.keyspace_stats = KeyspaceStats()
        self._read_stats: KeyspaceStats | None = None  # for the entry being applied
        # While a follower's clients WATCH keys (rcache.watch): each applied entry's items,
        # appended as its writes become visible. Node-local: nothing reaches the data.
        self.watched_applies: collections.deque | None = None

    def reload(self) -> None:
        """After a snapshot replaced the database: tracking clients forget all they cached,
        as a Redis replica's full resync flushes them."""
        self.applied_index = self.store.applied_index
        watched = self.watched_applies
        if watched is not None:
            watched.append(None)  # everything may have changed
        if self.hub is not None:
            self.hub.notify([(FLUSHED, b"flush", b"", 0)])

    def apply(self, index: int, payload: bytes) -> list | None:
        """Apply the entry at Raft ``index``; returns one reply per item (None if replayed)."""
        if index <= self.applied_index:
            return None
        entry = marshal.loads(payload)
        now_ms, seed, items = entry[0], entry[1], entry[2]
        limits = EncodingLimits(*entry[3]) if len(entry) > 3 else DEFAULT_LIMITS
        if now_ms < self.clock_ms:
            now_ms = self.clock_ms
        self.clock_ms = now_ms
        txn = Transaction(self.store)
        self._slow_us = self.slowlog_from_us() if self.observer is not None else -1
        contexts: dict[int, EntryContext] = {}  # per db, shared by the entry's commands
        # Keyspace events: collected only when this node publishes notifications or has
        # tracking clients (a list costs nothing to skip otherwise), delivered once the
        # entry is committed.
        hub = self.hub
        events = [] if hub is not None and hub.collects_events else None
        results = []
        none = [None] * len(items)
        prepared = self.prepared_for(seed) or (self._looked_up(items) if len(items) > 1
                                               else none)
        awaited = self.replies_awaited(seed)
        self._read_stats = self.keyspace_stats if awaited else None
        self._script_lines = lines = (self.monitors.new_lines()
                                      if awaited and self.monitors else None)
        submitted = self.submitted_for(seed)
        if lines is None or submitted is None:
            submitted = none
        if len(items) > 1:  # a lone command reads its first record itself, as soon
            txn.prefetch(self._first_reads(txn, items, prepared))
        # Each command draws from its own seeded source: skipping one (a read nobody awaits)
        # leaves the others' draws unchanged. prepared and submitted hold one element per
        # item (built here, or by the submitting node with its items): no zip(strict=True),
        # whose check costs ~0.4 us an entry.
        position = 0
        for item, found, shown in zip(items, prepared, submitted, strict=False):
            kind = item[0]
            if kind == COMMAND:
                position += 1
                if (found is not None and found[0] is _SET and len(item[2]) == 3
                        and len(item) == 3 and shown is None):
                    results.append(self._set_plain(txn, contexts, now_ms, limits, item[1],
                                                   item[2], events))
                    continue
                # (positional: keyword arguments cost every applied command ~1%)
                results.append(self._run(txn, contexts, seed + position, now_ms, limits,
                                         item[1], item[2], events, True, found,
                                         len(item) > 3 and item[3] is True,  # woken
                                         item[4] if len(item) > 4 else None,  # user
                                         len(item) > 5 and item[5], shown))  # oom_at_start
            elif kind == TRANSACTION:
                replies = []
                for i, (db, argv) in enumerate(item[1]):
                    position += 1
                    if shown is not None:
                        lines.note_queued(shown, shown.around[i])
                    replies.append(self._run(txn, contexts, seed + position, now_ms,
                                             limits, db, argv, events,
                                             run_reads=awaited,
                                             found=found[i] if found else None,
                                             user=item[2] if len(item) > 2 else None,
                                             shown=shown))
                if shown is not None:
                    lines.note_queued(shown, shown.around[-1])
                results.append(replies)
            elif kind == EXPIRE:
                ks = Keyspace(self.store, txn, item[1], now_ms, events=events)
                results.append(self._expire(ks, item[2]))
            elif kind == EVICT:  # the leader's choice: every node deletes the same keys
                ks = Keyspace(self.store, txn, item[1], now_ms, events=events)
                results.append(self._evict(ks, item[2]))
            elif kind == LEASE_EXPIRY:
                ks = Keyspace(self.store, txn, 0, now_ms, events=events)
                results.append(Leases(ks).expire(item[1]))
            elif kind == LEASE_PROMOTE:
                ks = Keyspace(self.store, txn, 0, now_ms, events=events)
                results.append(Leases(ks).promote(item[1], item[2], item[3]))
            elif kind == MEMBER:
                txn.set_member(*item[1:])
                results.append(None)
        with self.store.committing():
            txn.commit(index)
            self.applied_index = index
            watched = self.watched_applies
            if watched is not None:
                watched.append(items)
        if lines:  # before the replies, as a script's lines come before the next command's
            self.monitors.show_committed(lines)
        if events:
            hub.notify(events)
        elif events is None and hub is not None and hub.collects_events:
            # Tracking began while this entry applied: its keys went unseen, so every
            # tracking client forgets all (as after a flush) rather than keep a stale key.
            hub.notify([(FLUSHED, b"flush", b"", 0)])
        return results

    @staticmethod
    def _looked_up(items: list[tuple]) -> list[Prepared]:
        """A follower's lookups of an entry's commands, one per name and argument count (an
        entry of SETs looks SET up once): (Command, None), or None for an item that ``_run``
        looks up itself (not a command, a subcommand, or an error to reply)."""
        seen: dict[tuple[bytes, int], Prepared] = {}
        found: list[Prepared] = []
        for item in items:
            if item[0] != COMMAND:
                found.append(None)
                continue
            argv = item[2]
            shape = (argv[0], len(argv))
            hit = seen.get(shape, _UNSEEN)
            if hit is _UNSEEN:
                try:
                    cmd = lookup(argv)
                except CommandError:
                    cmd = None
                shared = cmd is not None and cmd.container is None  # a subcommand: argv[1]'s
                hit = seen[shape] = (cmd, None) if shared else None
            found.append(hit)
        return found

    @staticmethod
    def _first_reads(txn: Transaction, items: list[tuple], prepared: list[Prepared]
                     ) -> list[bytes]:
        """The records the entry's commands read first: each one's first key (a hint: a
        command it names wrongly, as an unknown one, only costs a read nobody uses)."""
        keys = []
        prefixes: dict[int, bytes] = {}
        for item, found in zip(items, prepared, strict=False):
            if item[0] != COMMAND:
                continue
            argv = item[2]
            cmd = found[0] if found else COMMANDS.get(argv[0].lower())
            if cmd is not None and 0 < cmd.fixed_first_key < len(argv):
                db = item[1]
                prefix = prefixes.get(db)
                if prefix is None:
                    prefix = prefixes[db] = RECORD_PREFIXES[txn.dbmap[db]]
                keys.append(prefix + argv[cmd.fixed_first_key])
        return keys

    def _run(self, txn: Transaction, contexts: dict[int, EntryContext], seed: int, now_ms: int,
             limits: EncodingLimits, db: int, argv: list[bytes], events: list | None,
             run_reads: bool = True, found: tuple[Command, Any] | None = None,
             woken: bool = False, user: bytes | None = None, oom_at_start: bool = False,
             shown=None):
        """One command, drawing from ``seed``; ``found``: its command (and parsed arguments)
        if already known; ``woken``: a parked blocking command's wake-up try; ``user``: the
        ACL user a script runs as; ``oom_at_start``: a script the leader found past maxmemory;
        ``shown``: a monitored write's line (rcache.monitor.Submitted), noted before the lines
        of the commands its script runs. ``contexts``: the entry's contexts by db, reused while
        SWAPDB leaves db's in place."""
        try:
            cmd, parsed = found or (lookup(argv), None)
            if not run_reads and not cmd.is_write:
                return None
        except CommandError as err:
            return err
        if shown is not None:
            self._script_lines.note(shown.when, db, cmd, argv, shown.addr)
        start = time.perf_counter_ns()
        try:
            ctx = contexts.get(db)
            if ctx is None or ctx.ks.dbid != txn.dbmap[db]:
                ctx = self._context(txn, contexts, db, now_ms, limits, events)
            # A read command's lookups count (Redis's lookupKeyRead), a write's do not
            # (lookupKeyWrite) but where its handler reads with ``ks.reads_counted()``; a
            # parked client's wake-up try counts none (Redis serves it with lookupKeyWrite).
            ks = ctx.ks
            ks.read_stats = None if woken else self._read_stats
            ks.stats = ks.read_stats if "readonly" in cmd.flags else None
            ctx.seed, ctx._random, ctx.woken, ctx.script_user = seed, None, woken, user
            ctx.oom_at_start = oom_at_start
            result = cmd.call(ctx, argv, parsed)
        except CommandError as err:
            result = err
        except Exception:
            result = _failed_in_apply(argv)
        self._account(cmd, argv, start, type(result) is CommandError, not woken)
        return result

    def _context(self, txn: Transaction, contexts: dict[int, EntryContext], db: int,
                 now_ms: int, limits: EncodingLimits, events: list | None) -> EntryContext:
        """A new context for the entry's commands on ``db`` (after a SWAPDB moved its
        database, or for its first command there). Its callers look for the current one
        inline: a call per command cost a plain SET ~1.5% more."""
        ctx = contexts[db] = EntryContext(Keyspace(self.store, txn, db, now_ms, limits, events),
                                          self.hub, self._script_lines)
        ctx.stats = self.stats
        return ctx

    def _account(self, cmd: Command, argv: list[bytes], start_ns: int, failed: bool,
                 call: bool = True) -> None:
        """Node-local statistics only (INFO commandstats, SLOWLOG): nothing here reaches the
        database, so the apply stays a function of the entry."""
        elapsed_us = (time.perf_counter_ns() - start_ns) // 1000
        cmd.record(elapsed_us, failed, call)
        if 0 <= self._slow_us <= elapsed_us:
            self.observer(cmd, argv, elapsed_us)

    def _set_plain(self, txn: Transaction, contexts: dict[int, EntryContext], now_ms: int,
                   limits: EncodingLimits, db: int, argv: list[bytes], events: list | None):
        """``_run`` of ``SET key value`` (no options; not a script's, not monitored), the
        write most entries are made of, without what other commands need: their context's
        fields, a parser, a handler's call."""
        start = time.perf_counter_ns()
        ctx = contexts.get(db)
        if ctx is None or ctx.ks.dbid != txn.dbmap[db]:
            ctx = self._context(txn, contexts, db, now_ms, limits, events)
        ks = ctx.ks
        ks.stats = None  # (as _run sets it for a command that is not read-only)
        try:
            result = set_plain(ks, argv[1], argv[2])
        except Exception:
            result = _failed_in_apply(argv)
        self._account(_SET, argv, start, type(result) is CommandError)
        return result

    @staticmethod
    def _evict(ks: Keyspace, keys: list[bytes]) -> int:
        """Delete the keys the leader chose to evict; each deletion notifies ``evicted``."""
        evicted = 0
        for key in keys:
            if ks.delete(key):
                ks.notify(EVICTED, b"evicted", key)
                evicted += 1
        return evicted

    @staticmethod
    def _expire(ks: Keyspace, keys: list[bytes]) -> int:
        """Delete the keys that are expired by the entry's clock (the leader may be ahead);
        each deletion notifies ``expired``."""
        expired = [key for key in keys if ks.is_expired(key)]
        for key in expired:
            ks.delete(key)
        return len(expired)
