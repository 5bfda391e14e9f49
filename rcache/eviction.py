"""maxmemory: which keys the leader evicts, and when a write is refused.

What the limit bounds is the dataset's logical size (``Store.used_bytes``), which the state
machine keeps in the entry's transaction, so every node holds the same number at the same
index. Only the leader decides: a write that may grow the dataset (the command table's
``denyoom`` flag, as in Redis) arriving while the size is past the limit either makes the
leader pick victims by ``maxmemory-policy`` and submit their deletion as one ``EVICT`` item
ahead of the write, in the same or an earlier Raft entry, or, when nothing may be evicted
(``noeviction``, a ``volatile-*`` policy and no key with a TTL), answers Redis's OOM error.
Every node then deletes the same keys at the same index. The dataset may so pass the limit by
at most the writes already submitted when it was found past it: one batch.

LRU and LFU read the leader's own access clock (``AccessClock``), which forgets nothing
replicated: after a change of leader, keys the new one has not seen used count as idle since
it started and with Redis's initial LFU count. Each pick probes RocksDB once, at a random
point of the keys (``allkeys-*``) or of the expiry index (``volatile-*``): LRU takes that key
if the clock has never seen it, else the clock's least recently used key (exact LRU among the
keys it tracks); LFU compares it with ``maxmemory-samples`` keys drawn uniformly from the
clock, as Redis samples its dict; the random policies take it or one such draw.
``volatile-ttl`` takes the index's first (soonest) entries.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable, Iterator

from . import errors
from .commands.table import Command
from .entries import EVICT
from .errors import CommandError
from .interfaces import Node
from .pending import Pending
from .storage import Keyspace, point_between

LFU_INIT_VAL = 5  # Redis's count for a new key
LFU_MAX = 255
LFU_MINUTES_MASK = 65535  # LFUGetTimeInMinutes keeps 16 bits of minutes
MAX_VICTIMS = 1000  # per EVICT item: one round frees at most this many keys
DRAW_TRIES = 4  # tracked keys drawn per sample wanted, for those that cannot go
_SKIP_LIMIT = 64  # keys a sample walks past when they are chosen already
_TRACKED_KEYS = 100_000  # beyond this the clock forgets the longest-unused keys (~20 MB)


class AccessClock:
    """This node's per-key access time and LFU counter, updated by the commands it runs
    (Redis keeps both in each object's header); bounded, oldest access forgotten first."""

    def __init__(self, limit: int = _TRACKED_KEYS) -> None:
        self.limit = limit
        self.started_ms = int(time.time() * 1000)
        # (db, key) -> [last access ms, LFU counter, last LFU decrement ms]; insertion order
        # is access order (a touched key moves to the end).
        self._keys: dict[tuple[int, bytes], list[int]] = {}

    def touch(self, db: int, keys: list[bytes], log_factor: int | None, decay_minutes: int,
              existed: Callable[[bytes], bool]) -> None:
        """log_factor None: only the access time changes (Redis, too, counts frequencies
        only under an LFU policy). A key the clock has not seen is new if ``existed`` says
        it is not stored yet (Redis's LFU_INIT_VAL from now on), else it has been there
        since this node started (as Redis's keys are since it loaded them), so its counter
        has decayed from then before this access counts."""
        now = int(time.time() * 1000)
        table = self._keys
        for key in keys:
            entry = table.pop((db, key), None)
            if entry is None and not existed(key):
                entry = [now, LFU_INIT_VAL, now]
            else:
                entry = entry or self._unseen()
                if log_factor is None:
                    entry[0] = now
                else:
                    entry[1] = _incremented(_decayed(entry, now, decay_minutes), log_factor)
                    entry[0] = entry[2] = now
            table[(db, key)] = entry
        while len(table) > self.limit:
            del table[next(iter(table))]

    def _unseen(self) -> list[int]:
        """The entry of a key this node has not seen used: untouched since it started."""
        return [self.started_ms, LFU_INIT_VAL, self.started_ms]

    def record(self, db: int, key: bytes, idle_seconds: int | None, count: int | None) -> None:
        """What RESTORE's IDLETIME or FREQ give a key, in place of its last use."""
        entry = self._keys.get((db, key))
        if entry is None:
            return
        now = int(time.time() * 1000)
        if idle_seconds is not None:
            entry[0] = now - idle_seconds * 1000
        if count is not None:
            entry[1], entry[2] = count, now

    def idle_ms(self, db: int, key: bytes, now_ms: int) -> int:
        entry = self._keys.get((db, key))
        return now_ms - (entry[0] if entry else self.started_ms)

    def frequency(self, db: int, key: bytes, now_ms: int, decay_minutes: int) -> int:
        """The LFU counter as OBJECT FREQ reports it (decayed to now, not stored back)."""
        return _decayed(self._keys.get((db, key)) or self._unseen(), now_ms, decay_minutes)

    def keys(self) -> list[tuple[int, bytes]]:
        """Every tracked key (a copy, to draw from)."""
        return list(self._keys)

    def knows(self, db: int, key: bytes) -> bool:
        return (db, key) in self._keys

    def oldest(self, limit: int) -> Iterator[tuple[int, bytes]]:
        """The least recently used keys first (a copy: eviction forgets keys as it goes)."""
        return iter(list(itertools.islice(self._keys, limit)))

    def forget(self, db: int, key: bytes) -> None:
        self._keys.pop((db, key), None)


def _decayed(entry: list[int], now_ms: int, decay_minutes: int) -> int:
    """LFUDecrAndReturn: one step down per lfu-decay-time minutes without access, the
    minutes counted on Redis's 16-bit clock of whole minutes (LFUTimeElapsed)."""
    if not decay_minutes:
        return entry[1]
    now, then = (now_ms // 60_000) & LFU_MINUTES_MASK, (entry[2] // 60_000) & LFU_MINUTES_MASK
    elapsed = now - then if now >= then else LFU_MINUTES_MASK - then + now
    return max(0, entry[1] - elapsed // decay_minutes)


def _incremented(counter: int, log_factor: int) -> int:
    """LFULogIncr: logarithmic growth, slower as the count and lfu-log-factor grow."""
    if counter >= LFU_MAX:
        return LFU_MAX
    base = max(0, counter - LFU_INIT_VAL)
    return counter + 1 if random.random() < 1.0 / (base * log_factor + 1) else counter


class Eviction:
    """The leader's half of maxmemory: admits or refuses writes, submits evictions."""

    def __init__(self, server: Node) -> None:
        self.server = server
        self.clock = AccessClock()
        self.evicted_keys = 0
        self.in_flight = 0  # EVICT items submitted and not applied yet

    def note_access(self, db: int, cmd: Command, argv: list[bytes]) -> None:
        config = self.server.config
        lfu = config.maxmemory_policy.endswith("-lfu")
        keys = cmd.keys(argv)
        self.clock.touch(db, keys, config.lfu_log_factor if lfu else None, config.lfu_decay_time,
                         lambda key: self.server.store.keyspace(db, int(time.time() * 1000))
                         .exists(key))
        if cmd.access_hint is not None and (hint := cmd.access_hint(argv)) is not None:
            idle_seconds, count = hint  # as Redis: the one the policy reads, the other ignored
            self.clock.record(db, keys[0], None if lfu else idle_seconds, count if lfu else None)

    def admit(self) -> CommandError | None:
        """Before a denyoom write is submitted on the leader: None lets it through (after
        submitting an eviction when the dataset is past maxmemory), else Redis's OOM."""
        config, store = self.server.config, self.server.store
        over = store.used_bytes - config.maxmemory
        if not config.maxmemory or over <= 0 or self.in_flight:
            return None
        if config.maxmemory_policy == "noeviction":
            return CommandError(errors.OOM)
        victims = self._pick(over)
        if not victims:
            return CommandError(errors.OOM)
        for db, keys in victims.items():
            self.in_flight += 1
            self.server.replicator.submit((EVICT, db, keys), self._applied)
        return None

    def _applied(self, pending: Pending) -> None:
        self.in_flight -= 1
        if isinstance(pending.value, int):
            self.evicted_keys += pending.value

    # -- choosing victims --------------------------------------------------------------------
    def _pick(self, needed: int) -> dict[int, list[bytes]]:
        """Keys whose deletion frees at least ``needed`` bytes (as far as there are any)."""
        config, store = self.server.config, self.server.store
        policy = config.maxmemory_policy
        now_ms = int(time.time() * 1000)
        volatile = policy.startswith("volatile-")
        dbs = [db for db in range(config.databases)
               if (store.expires_count(db) if volatile else store.key_count(db))]
        if policy == "volatile-ttl":
            return self._soonest(dbs, needed, now_ms)
        keyspaces = {db: store.keyspace(db, now_ms) for db in dbs}
        spans = {db: ks.expiry_span() if volatile else ks.key_span()
                 for db, ks in keyspaces.items()}
        lru = policy.endswith("-lru")
        oldest = self.clock.oldest(4 * MAX_VICTIMS) if lru else iter(())
        tracked = [] if lru else self.clock.keys()
        # Each pick: one probe of RocksDB (a random key, maybe one the clock never saw),
        # plus, but for LRU, draws from the keys the clock tracks (uniform, as Redis's):
        # maxmemory-samples for LFU, one for the random policies.
        draws = config.maxmemory_samples if policy.endswith("-lfu") else 1
        chosen: dict[int, list[bytes]] = {}
        taken: set[tuple[int, bytes]] = set()
        freed = misses = 0
        while dbs and freed < needed and misses < 16 and len(taken) < MAX_VICTIMS:
            db = random.choice(dbs)
            candidates = [(db, key) for key in _sample(keyspaces[db], spans[db], taken)]
            if lru and all(self.clock.knows(*candidate) for candidate in candidates):
                least_recent = next(((d, key) for d, key in oldest
                                     if _evictable(keyspaces.get(d), key, volatile)), None)
                candidates = [least_recent] if least_recent else candidates
            elif tracked:
                # Up to `draws` that can go: a tracked key may not be stored yet (its write
                # is still on its way through the log) or be taken already; a probe left
                # alone would go whatever its frequency, a hot key too.
                drawn = random.sample(tracked, min(draws * DRAW_TRIES, len(tracked)))
                candidates += itertools.islice(
                    (candidate for candidate in drawn if candidate not in taken
                     and _evictable(keyspaces.get(candidate[0]), candidate[1], volatile)),
                    draws)
                random.shuffle(candidates)  # random policies: any of them
            if not candidates:
                misses += 1
                continue
            victim = max(candidates, key=lambda c: self._badness(policy, c[0], c[1], now_ms))
            taken.add(victim)
            chosen.setdefault(victim[0], []).append(victim[1])
            freed += keyspaces[victim[0]].logical_size(victim[1])
            self.clock.forget(*victim)
        return chosen

    def _soonest(self, dbs: list[int], needed: int, now_ms: int) -> dict[int, list[bytes]]:
        """volatile-ttl: the keys that expire soonest, across databases."""
        store = self.server.store
        queue = sorted((at, db, key) for db in dbs
                       for at, key in store.keyspace(db, now_ms).volatile_keys(b"", MAX_VICTIMS))
        chosen: dict[int, list[bytes]] = {}
        freed = 0
        for _, db, key in queue[:MAX_VICTIMS]:
            if freed >= needed:
                break
            chosen.setdefault(db, []).append(key)
            freed += store.keyspace(db, now_ms).logical_size(key)
        return chosen

    def _badness(self, policy: str, db: int, key: bytes, now_ms: int) -> tuple[int, int]:
        """Higher: a better victim (Redis's idle score for the policy); equal for random
        policies, so the first sample wins."""
        idle = self.clock.idle_ms(db, key, now_ms)
        if policy.endswith("-lru"):
            return idle, 0
        if policy.endswith("-lfu"):
            decay = self.server.config.lfu_decay_time
            return LFU_MAX - self.clock.frequency(db, key, now_ms, decay), idle
        return 0, 0


def _evictable(ks: Keyspace | None, key: bytes, volatile: bool) -> bool:
    if ks is None:
        return False
    expire_at = ks.expire_at(key)
    return expire_at is not None and (expire_at > 0 or not volatile)


def _sample(ks: Keyspace, span: tuple | None, taken: set) -> list[bytes]:
    """One random key not taken yet: the first after a random point between the database's
    first and last key (or, for volatile-* policies, between its first and last expiry)."""
    if span is None:
        return []
    if isinstance(span[0], int):
        start = random.randint(*span).to_bytes(8, "big")
        keys: Iterator[bytes] = (key for _, key in ks.volatile_keys(start, _SKIP_LIMIT))
    else:
        keys = itertools.chain(ks.iter_keys(point_between(random, *span)), ks.iter_keys())
    key = next((key for key in itertools.islice(keys, _SKIP_LIMIT)
                if (ks.dbnum, key) not in taken), None)
    return [] if key is None else [key]
