"""RocksDB layout and the keyspace API the command handlers use.

Layout (all keys and values raw bytes):
    b"k" + dbid + key                 -> header + payload       (one record per user key)
    b"e" + dbid + expire_at(8) + key  -> b""                    (expiry index, for active expiry)
    b"s" + dbid + ...                 -> elements of hashes, lists, sets, sorted sets and
                                         streams (laid out by collections_store and
                                         streams_store), fragments of long
                                         strings (strings_store)
    b"\\x00applied"                   -> Raft index of the last applied entry (8 bytes)
    b"\\x00count" + dbid              -> number of keys in that physical database (8 bytes)
    b"\\x00dbmap"                     -> logical db number -> physical dbid (SWAPDB swaps these)
    b"\\x00bytes" + dbid              -> logical size of that physical database (8 bytes)
    b"\\x00used"                      -> logical size of the whole dataset (8 bytes)
    b"z" + <element prefix>[1:]       -> logical size of one collection's (or long string's)
                                         element records, so dropping them knows it (8 bytes)

The logical size is what ``maxmemory`` bounds: the sum of ``record_size`` over every b"k" and
b"s" record, kept by the ``Transaction`` as records are written and deleted, so every node
holds the same number at the same index (RSS differs from node to node).

The header is one type byte, with 0x80 set when an 8-byte absolute expiry (Unix ms) follows.
Strings up to 64 KiB keep their value inline, longer ones are fragments under b"s" (see
strings_store, the one module that reads or writes string values); a collection's payload is
its metadata (version, count...) and its elements are records of their own under b"s" (see
collections_store). Both register in ``ELEMENT_DROPPERS`` how to drop those records when the
key is deleted or replaced.

Only the state machine writes, through a ``Transaction`` that becomes one RocksDB WriteBatch
together with the applied index; readers use a ``Keyspace`` straight on the database.
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from rocksdict import (
    BlockBasedOptions,
    Cache,
    DataBlockIndexType,
    Options,
    Rdict,
    ReadOptions,
    WriteBatch,
)

from .encodings import DEFAULT_LIMITS, EncodingLimits
from .faults import is_io_error
from .notify import EXPIRED, FLUSHED, NEW
from .oslimits import ROCKSDB_MAX_OPEN_FILES, free_descriptors

STRING, HASH, LIST, SET, ZSET = 1, 2, 3, 4, 5
BIG_STRING = 6  # a string kept in fragment records (strings_store); TYPE says "string"
STREAM = 7  # laid out by streams_store
STRING_KINDS = (STRING, BIG_STRING)
TYPE_NAMES = {STRING: b"string", HASH: b"hash", LIST: b"list", SET: b"set", ZSET: b"zset",
              BIG_STRING: b"string", STREAM: b"stream"}
# Room RocksDB needs to reopen after a full disk (a new WAL and memtable, a MANIFEST).
REOPEN_MIN_FREE_BYTES = 32 * 1024 * 1024
_HAS_EXPIRY = 0x80

APPLIED_KEY = b"\x00applied"
DBMAP_KEY = b"\x00dbmap"
MEMBER_PREFIX = b"\x00node:"
# A member's role, the third word of its record (a record of two words: a voter, as an older
# rcache wrote them). A learner receives the log but does not vote: LEARNER is promoted by
# the leader once caught up, LEARNER_KEPT only by RAFT.NODE PROMOTE (RAFT.NODE ADD LEARNER).
VOTER, LEARNER, LEARNER_KEPT = "voter", "learner", "learner-kept"
ACL_PREFIX = b"\x00acl:"  # ACL users: name -> their rules (ACL LIST's form), replicated
MAX_DATABASES = 256
RANDOM_KEY_WINDOW = 16  # keys RANDOMKEY walks from its random point, to draw one of
# b"k", b"e", b"s", b"z": prefixes followed by a dbid (FLUSHDB drops them)
_PER_DB = (0x6B, 0x65, 0x73, 0x7A)
_SIZED = (0x6B, 0x73)  # b"k", b"s": the records the logical size counts
USED_KEY = b"\x00used"
# The script cache's counters (INFO memory): SCRIPT LOAD and EVAL add, SCRIPT FLUSH zeroes.
SCRIPTS_COUNT_KEY = b"\x00cached-scripts"
SCRIPTS_BYTES_KEY = b"\x00cached-script-bytes"
RECORD_OVERHEAD = 32  # bytes counted per record besides its key and value (RocksDB's own)
SPILL_BYTES = 4 * 1024 * 1024  # Transaction.put_unseen: written ahead in steps of this size
BLOCK_CACHE_BYTES = 32 * 1024 * 1024  # RocksDB's default size
BLOCK_BYTES = 4096  # RocksDB's default data block size: what a cached block weighs
RECORD_CACHE_BYTES = 16 * 1024 * 1024  # RecordCache's bound, Python's overhead included
RECORD_CACHE_SHED = 16  # a full RecordCache sheds this fraction of its bound at once
RECORD_CACHE_MAX_VALUE = 4096  # a longer record is read from RocksDB each time
_RECORD_TAG = 0x6B  # b"k": what every user key's record starts with
# What a cached record costs besides its key and value: two bytes objects' headers and the
# dict's slot (tracemalloc, 100k records: ~118 bytes each).
_CACHED_OVERHEAD = 120

# type -> function(keyspace, key, old payload) that drops the elements of a collection stored
# under key; called whenever such a key is deleted or replaced (filled by collections_store).
ELEMENT_DROPPERS: dict[int, Callable[[Keyspace, bytes, bytes], None]] = {}
# Rewrites of records that an older rcache stored another way, as (the layout version they
# bring a store to, function(store)); a store runs those above its FORMAT_KEY's version when
# it opens (its own data or a snapshot's, maybe from an older leader), then records it. The
# result is a function of the data alone, so every node converges on the same records.
UPGRADES: list[tuple[int, Callable[[Store], None]]] = []
FORMAT_KEY = b"\x00format"


_COUNT_KEYS = [b"\x00count" + bytes((dbid,)) for dbid in range(MAX_DATABASES)]
_SIZE_KEYS = [b"\x00bytes" + bytes((dbid,)) for dbid in range(MAX_DATABASES)]
# What the key of every user key's record in database dbid starts with: RECORD_PREFIXES[dbid].
RECORD_PREFIXES = [b"k" + bytes((dbid,)) for dbid in range(MAX_DATABASES)]
_MISSING = object()
_NOTHING_CACHED: dict[bytes, bytes] = {}


def _count_key(dbid: int) -> bytes:
    return _COUNT_KEYS[dbid]


def _expires_key(dbid: int) -> bytes:
    return b"\x00expires" + bytes((dbid,))


def _size_key(dbid: int) -> bytes:
    return _SIZE_KEYS[dbid]


def record_size(key: bytes, value: bytes) -> int:
    """What one stored record counts against maxmemory."""
    return len(key) + len(value) + RECORD_OVERHEAD


def _collection_length(element: bytes) -> int:
    """How much of a b"s" record's key (or element prefix) names its collection:
    b"s" + dbid + len(key)(4) + key + version(8)."""
    return 14 + int.from_bytes(element[2:6], "big")


def elements_total_key(element: bytes) -> bytes:
    """Where the size of the collection an b"s" record (or element prefix) belongs to is kept."""
    return b"z" + element[1:_collection_length(element)]


def _read_counter(db: Rdict, key: bytes) -> int:
    raw = db.get(key)
    return int.from_bytes(raw, "big", signed=True) if raw else 0


_HEADERS = [bytes((head,)) for head in range(256)]  # a record's first byte, made once


def point_between(rng: Any, low: bytes, high: bytes) -> bytes:
    """A random byte string in [low, high] drawn from ``rng`` (a random.Random): keys
    sharing a prefix (``user:1``...) spread by the bytes after it, which a random point of
    the whole byte space would not do."""
    width = max(len(low), len(high)) + 2
    return rng.randint(int.from_bytes(low.ljust(width, b"\0"), "big"),
                       int.from_bytes(high.ljust(width, b"\0"), "big")).to_bytes(width, "big")


def encode_record(kind: int, payload: bytes, expire_at: int = 0) -> bytes:
    if expire_at:
        return _HEADERS[kind | _HAS_EXPIRY] + expire_at.to_bytes(8, "big") + payload
    return _HEADERS[kind] + payload


def decode_record(raw: bytes) -> tuple[int, int, bytes]:
    """-> (type, expire_at or 0, payload)"""
    head = raw[0]
    if head & _HAS_EXPIRY:
        return head & 0x7F, int.from_bytes(raw[1:9], "big"), raw[9:]
    return head, 0, raw[1:]


class _Committing:
    """Store.committing's context, made once: a generator's context manager costs every
    entry ~5 Python calls more."""

    __slots__ = ("_turn", "_lock")

    def __init__(self, turn: threading.Lock, lock: threading.Lock) -> None:
        self._turn, self._lock = turn, lock

    def __enter__(self) -> None:
        with self._turn:
            self._lock.acquire()

    def __exit__(self, *exc_info) -> None:
        self._lock.release()


class RecordCache(dict):
    """Key records (b"k"...) as the latest applied entries wrote them, up to
    RECORD_CACHE_BYTES (the least recently written leave first): a read of a key written
    lately finds it without RocksDB, whose point read costs several times the rest of a
    GET. Only the applying thread changes it, inside the commit lock: an entry's keys leave
    it before the entry's WriteBatch is written and come back after, so it never holds a
    record RocksDB does not. A read that misses goes to RocksDB and does not fill it: a
    read-then-fill racing the applying thread could put back a record an entry just
    replaced."""

    __slots__ = ("size",)

    def __init__(self) -> None:
        super().__init__()
        self.size = 0  # bytes held, as _CACHED_OVERHEAD counts them

    def forget(self, pending: dict[bytes, bytes | None]) -> None:
        """An entry's writes, about to be written to RocksDB: until ``remember``, reads of
        those keys go to RocksDB, which shows the entry all at once (a record served from
        here meanwhile could be older than what a read of RocksDB just returned)."""
        size = self.size
        pop = self.pop
        for key in pending:
            if key[0] == _RECORD_TAG:
                old = pop(key, None)
                if old is not None:
                    size -= len(key) + len(old) + _CACHED_OVERHEAD
        self.size = size

    def remember(self, pending: dict[bytes, bytes | None]) -> None:
        """An entry's writes, just written to RocksDB (``forget`` came first)."""
        size = self.size
        for key, value in pending.items():
            if key[0] == _RECORD_TAG and value is not None \
                    and len(value) <= RECORD_CACHE_MAX_VALUE:
                self[key] = value  # (last in the dict's order: the last to leave)
                size += len(key) + len(value) + _CACHED_OVERHEAD
        if size > RECORD_CACHE_BYTES:
            size = self._evict(size)
        self.size = size

    def _evict(self, size: int) -> int:
        """The least recently written records out, 1/RECORD_CACHE_SHED of the bound's bytes,
        in one walk from the dict's start. (A deleted key leaves a dead slot where it was
        until the dict is next resized, and every walk from the start passes them all: one
        walk per record, with ~100k records held, cost ~40 us per SET.) -> the size left."""
        keep = RECORD_CACHE_BYTES - RECORD_CACHE_BYTES // RECORD_CACHE_SHED
        leaving = []
        for key, value in self.items():
            leaving.append(key)
            size -= len(key) + len(value) + _CACHED_OVERHEAD
            if size <= keep:
                break
        for key in leaving:
            del self[key]
        return size

    def forget_all(self) -> None:
        self.clear()
        self.size = 0


class Store:
    """The node's RocksDB database.

    ``path`` names a small pointer file (``<path>.current``) and the directories it points
    to, so that an installed snapshot can replace the whole database atomically.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._pointer = path + ".current"
        current = open(self._pointer).read().strip() if os.path.exists(self._pointer) else ""
        self.db = self._open(os.path.join(os.path.dirname(path), current) if current else path)
        # Redis's `databases`: every node of a cluster must use the same value, since
        # SELECT/MOVE/COPY validate indexes against it while applying entries.
        self.databases = 16
        # Bumped whenever dbmap or db change: readers rebuild the views they cached.
        self.generation = 0
        # Bumped when an entry changes ACL users (commands/acl_rules.py caches them).
        self.acl_version = 0
        # Bumped when an entry changes member records; with generation, keys _member_view.
        self.members_version = 0
        self._member_view: tuple[int, int, dict, dict] | None = None
        # Held while an applied entry's writes become visible (``committing``); the event loop
        # holds it (``one_state``) to run a follower's transaction or a script on one state.
        self.commit_lock = threading.Lock()
        # Passed by the event loop before it takes commit_lock, held by the applying thread
        # while it waits for it: an entry waits for one run at most, not for a stream of them.
        self._commit_turn = threading.Lock()
        self._in_one_state = False  # the event loop holds commit_lock (one_state)
        self._committing = _Committing(self._commit_turn, self.commit_lock)
        # Scripts this node cached as a Redis replica caches them (SCRIPT LOAD, EVAL on a
        # follower with cluster-enabled no): sha1 -> body. Node-local: apply never reads it.
        self.local_scripts: dict[bytes, bytes] = {}
        # Called (on the applying thread) after such an entry: the server checks its clients.
        self.on_acl_change: Callable[[], None] | None = None
        # Called (on the applying thread) after an entry changed the member records: Raft
        # takes its learners and voters from them (rcache.raft).
        self.on_members_change: Callable[[], None] | None = None
        # SCAN cursors: opaque integers -> the key to resume from (node-local, bounded).
        self.scan_cursors: dict[int, bytes] = {}
        self._write_error: Exception | None = None  # RocksDB refuses writes since this
        self._upgrade()

    def committing(self) -> _Committing:
        """The applying thread, while an entry's writes become visible: after the event
        loop's current ``one_state`` run, before any run it starts later."""
        return self._committing

    @contextlib.contextmanager
    def one_state(self) -> Iterator[None]:
        """The event loop, to run a follower's transaction or a script outside the log on
        one state: no entry's writes become visible meanwhile, as none applies while a Redis
        replica runs one. The applying thread waits for it (a script: its instruction
        budget at most); inside an outer one (a script in EXEC), nothing more to take."""
        if self._in_one_state:
            yield
            return
        with self._commit_turn:  # an entry waiting to commit goes first
            pass
        with self.commit_lock:
            self._in_one_state = True
            try:
                yield
            finally:
                self._in_one_state = False

    def _upgrade(self) -> None:
        """Bring records an older rcache stored to today's layout (UPGRADES), once."""
        raw = self.db.get(FORMAT_KEY)
        done = int.from_bytes(raw, "big") if raw else 0
        for version, upgrade in sorted(UPGRADES):
            if version > done:
                upgrade(self)
                self.db.put(FORMAT_KEY, version.to_bytes(4, "big"))

    def _open(self, directory: str) -> Rdict:
        os.makedirs(directory, exist_ok=True)
        options = Options(raw_mode=True)
        options.create_if_missing(True)
        options.set_max_background_jobs(2)
        # Small memtables keep the flush inside a snapshot's checkpoint short, and a point
        # read's search of the memtable skiplist (a cache miss per node it visits) short:
        # 2 MiB (in process, 100k keys overwritten at random: a get ~2.2 us at 4 MiB, ~1.9 us
        # at 2 MiB, a put the same). Older keys are read from SST files, whose bloom filters,
        # and the memtable's, let a read skip every place its key is not, and whose data
        # blocks find a key by hash (iteration uses neither: it stays a binary search).
        options.set_write_buffer_size(2 * 1024 * 1024)
        # Every flushed memtable is an L0 file whose keys overlap the others': a point read
        # probes each one newer than its key's. Merged into L1 from the second one on (the
        # default waits for 4), a read mostly probes one (in process, 100k keys: a random
        # get costs ~2.8 us over 3 L0 files, ~1.7 us once they are merged).
        options.set_level_zero_file_num_compaction_trigger(2)
        table = BlockBasedOptions()
        table.set_bloom_filter(10, False)
        table.set_data_block_index_type(DataBlockIndexType.binary_and_hash())
        # RocksDB's default block cache (32 MiB, LRU) locks a shard for every lookup; a
        # HyperClockCache of the same size finds blocks without a lock, and every point
        # read of an SST file looks one up (~12% less apply CPU per SET with 1M keys).
        table.set_block_cache(Cache.new_hyper_clock_cache(BLOCK_CACHE_BYTES, BLOCK_BYTES))
        options.set_block_based_table_factory(table)
        options.set_memtable_prefix_bloom_ratio(0.02)
        options.set_memtable_whole_key_filtering(True)
        options.set_max_open_files(ROCKSDB_MAX_OPEN_FILES)  # clients need descriptors too
        try:
            db = Rdict(directory, options)
        except Exception as err:
            from .durability import CorruptFile
            raise CorruptFile(directory, f"RocksDB cannot open it: {err}") from None
        self.directory = directory
        self.records = RecordCache()  # (a new database: what the old one held goes)
        # Counters (sizes, key counts) as last written: every entry updates some, and a
        # RocksDB read of each costs more than the rest of a small entry's commit. Read
        # again from the database this now holds.
        self._counters: dict[bytes, int] = {}
        raw = db.get(DBMAP_KEY)
        self.dbmap = list(raw) if raw else list(range(MAX_DATABASES))
        if db.get(APPLIED_KEY) is not None and db.get(USED_KEY) is None:
            _count_sizes_of(db)
        return db

    def replace_with(self, directory: str) -> None:
        """Swap in a restored database (a snapshot) and drop the current one."""
        old_db, old_dir = self.db, self.directory
        target = f"{self.path}.{int(time.time() * 1000)}"
        os.replace(directory, target)
        self.db = self._open(target)
        self.generation += 1
        self._upgrade()
        from .durability import write_atomically
        write_atomically(self._pointer, os.path.basename(target).encode())
        old_db.close()
        shutil.rmtree(old_dir, ignore_errors=True)

    def write(self, batch: WriteBatch) -> None:
        """Apply's one write. After an I/O error (a full disk, no descriptor left) RocksDB
        refuses every write until reopened: reopen it once there is room again, else fail
        as before."""
        if self._write_error is not None:
            self._reopen_after(self._write_error)
        try:
            self.db.write(batch)
        except Exception as err:
            if is_io_error(err):
                self._write_error = err
            raise

    def _reopen_after(self, error: Exception) -> None:
        if (shutil.disk_usage(self.directory).free < REOPEN_MIN_FREE_BYTES
                or free_descriptors() < ROCKSDB_MAX_OPEN_FILES):
            raise error  # reopening now would fail, and leave no database open at all
        with contextlib.suppress(Exception):  # it flushes the WAL that failed; closed anyway
            self.db.close()
        self.db = self._open(self.directory)
        self.generation += 1
        self._write_error = None

    @property
    def applied_index(self) -> int:
        raw = self.db.get(APPLIED_KEY)
        return int.from_bytes(raw, "big") if raw else 0

    def members(self) -> dict[str, tuple[str, str]]:
        """node id -> (raft address, client address), as replicated through the log."""
        return dict(self._members()[2])

    def member_roles(self) -> dict[str, str]:
        """node id -> VOTER, LEARNER or LEARNER_KEPT, as replicated through the log."""
        return dict(self._members()[3])

    def _members(self) -> tuple[int, int, dict, dict]:
        """The member records, read from RocksDB once per change: a follower routing a
        client's command (MOVED, a proxied write) looks up the leader's address each time.
        Read on the loop while the applying thread may change them: a view is kept only if
        no change was counted while it was read (the count follows the write)."""
        view = self._member_view
        generation, version = self.generation, self.members_version
        if view is not None and view[0] == generation and view[1] == version:
            return view
        addresses, roles = {}, {}
        for key, value in self.db.items(from_key=MEMBER_PREFIX):
            if not key.startswith(MEMBER_PREFIX):
                break
            words = value.decode().split(" ")
            node = key[len(MEMBER_PREFIX):].decode()
            addresses[node] = (words[0], words[1])
            roles[node] = words[2] if len(words) > 2 else VOTER
        view = (generation, version, addresses, roles)
        if self.generation == generation and self.members_version == version:
            self._member_view = view
        return view

    def acl_users(self) -> dict[bytes, bytes]:
        """user name -> rules, as ACL SETUSER/DELUSER left them through the log."""
        found = {}
        for key, value in self.db.items(from_key=ACL_PREFIX):
            if not key.startswith(ACL_PREFIX):
                break
            found[key[len(ACL_PREFIX):]] = value
        return found

    def key_count(self, dbnum: int) -> int:
        return _read_counter(self.db, _count_key(self.dbmap[dbnum]))

    @property
    def used_bytes(self) -> int:
        """The logical size of the dataset (what maxmemory bounds), the same on every node
        at the same applied index; kept in memory too, as every write checks it."""
        return self.stored_counter(USED_KEY)

    def stored_counter(self, key: bytes) -> int:
        """A counter's value as the last applied entry left it."""
        value = self._counters.get(key)
        if value is None:
            value = self._counters[key] = _read_counter(self.db, key)
        return value

    def elements_bytes(self, element_prefix: bytes) -> int:
        """The logical size of one collection's element records (MEMORY USAGE, eviction)."""
        return _read_counter(self.db, elements_total_key(element_prefix))

    def expires_count(self, dbnum: int) -> int:
        return _read_counter(self.db, _expires_key(self.dbmap[dbnum]))

    def keyspace(self, dbnum: int, now_ms: int) -> Keyspace:
        return Keyspace(self, None, dbnum, now_ms)

    def close(self) -> None:
        self.db.close()


def _count_sizes_of(db: Rdict) -> None:
    """A database written before sizes were kept: count them once, from every record. The
    result depends on the data alone, so every node holding the same applied index writes
    the same counters."""
    per_db: dict[int, int] = {}
    per_collection: dict[bytes, int] = {}
    for tag in _SIZED:
        bounds = read_below(bytes((tag + 1,)))  # referenced while the iterator lives
        for key, value in db.items(from_key=bytes((tag,)), read_opt=bounds):
            size = record_size(key, value)
            per_db[key[1]] = per_db.get(key[1], 0) + size
            if tag == 0x73:
                owner = elements_total_key(key)
                per_collection[owner] = per_collection.get(owner, 0) + size
    batch = WriteBatch(raw_mode=True)
    for key, size in [*((_size_key(d), n) for d, n in per_db.items()),
                      *per_collection.items(), (USED_KEY, sum(per_db.values()))]:
        batch.put(key, size.to_bytes(8, "big", signed=True))
    db.write(batch)


class Transaction:
    """Pending writes of one Raft entry: read-your-writes overlay, then one WriteBatch."""

    def __init__(self, store: Store, commits: bool = True) -> None:
        """commits False: a private view nobody commits (the Lua debugger's), which must
        never write ahead (``put_unseen``)."""
        self.store = store
        self.commits = commits
        self.pending: dict[bytes, bytes | None] = {}
        self.counts: dict[bytes, int] = {}  # counter key -> change in this entry
        self.flushed: set[int] = set()  # physical dbids emptied earlier in this entry
        self.ranges: list[tuple[bytes, bytes]] = []  # [start, end) deleted in this entry
        self.zeroed: set[bytes] = set()  # counters reset earlier in this entry (FLUSHDB)
        # The store's own list until a SWAPDB of this entry (swap_dbs) copies it: most
        # entries leave it alone, and copying or comparing 256 numbers per entry costs ~1 us.
        self.dbmap = store.dbmap
        self.acl_changed = False
        self.members_changed = False
        # Records read from RocksDB in this entry: the size accounting of a put or delete
        # needs the old record, which the command has almost always just read.
        self.reads: dict[bytes, bytes | None] = {}
        self.sizes: dict[int, int] = {}  # dbid -> change of its logical size, not yet counted
        # Element totals (b"z" records) as this entry changed them, written at commit: a
        # collection write changes its total once per record, in bytes it would cost a
        # decode and an encode each time.
        self.totals: dict[bytes, int] = {}
        # Element records this entry put, per collection (its total's key): a walk over a
        # collection merges these with RocksDB, leaving out what is pending, instead of
        # scanning every pending write of the entry for each walk. Appended as put, sorted
        # when a walk needs them (the collections in ``puts_unsorted``): a sorted insert per
        # put made a 20000-member ZADD quadratic.
        self.element_puts: dict[bytes, list[bytes]] = {}
        self.puts_unsorted: set[bytes] = set()
        self.unseen: list[bytes] = []  # put_unseen's keys not written ahead yet
        self.unseen_bytes = 0
        self.write_error: Exception | None = None  # a write ahead failed: so does commit

    def get(self, key: bytes) -> bytes | None:
        value = self.pending.get(key, _MISSING)
        if value is not _MISSING:
            return value
        if (self.flushed or self.ranges) and self._deleted_in_entry(key):
            return None
        value = self.reads.get(key, _MISSING)
        if value is _MISSING:
            store = self.store
            value = self.reads[key] = store.records.get(key) or store.db.get(key)
        return value

    def prefetch(self, keys: list[bytes]) -> None:
        """Read these records now, in one RocksDB multi-get, for the commands that will read
        them: between two commands the CPU's caches lose RocksDB's memtable and blocks, so
        reads made together cost less than the same reads made one by one. Called before
        anything is written: the records are as the database holds them."""
        records = self.store.records
        keys = [key for key in keys if key not in records]  # (those are read from it)
        if len(keys) > 1:
            self.reads.update(zip(keys, self.store.db.get(keys), strict=True))
        elif keys:  # a multi-get of one key costs ~0.5 us more than a get
            self.reads[keys[0]] = self.store.db.get(keys[0])

    def put(self, key: bytes, value: bytes) -> None:
        if key[0] in _SIZED:
            self.replace(key, value, self.get(key))
        else:
            self.pending[key] = value

    def put_unseen(self, key: bytes, value: bytes) -> None:
        """``insert`` of a record of a version nothing refers to until this entry commits (a
        fragment of a new big string). Once SPILL_BYTES of them are pending they are written
        ahead, in a WriteBatch of their own: rocksdict holds the GIL while it writes, and one
        write of a 50 MB SET's fragments held every client of the node 0.1-0.3 s; between
        smaller writes the event loop runs. No reader reaches them before the entry's own
        batch refers to them. Applying the entry again (after a crash) hands out the same
        version and writes the same records; counted as new, whatever the first try left."""
        self.replace(key, value, None)
        self.unseen.append(key)
        self.unseen_bytes += len(value)
        if self.unseen_bytes >= SPILL_BYTES and self.commits:
            self._write_ahead()

    def _write_ahead(self) -> None:
        """Write put_unseen's pending records now; reads in this entry then find them as
        RocksDB's (``reads``), and a later delete or put of one goes in the entry's batch.
        Not one the entry's batch would delete before its puts (a database this entry
        flushed, a range it deleted). If the write fails, the entry fails at commit: a
        command of it must not reply as if this node's I/O error were its outcome."""
        pending = self.pending
        written = []
        batch = WriteBatch(raw_mode=True)
        for key in self.unseen:
            value = pending.get(key)
            if value is not None and not self._deleted_in_entry(key):
                batch.put(key, value)
                written.append((key, value))
        self.unseen, self.unseen_bytes = [], 0
        try:
            self.store.write(batch)
        except Exception as err:
            self.write_error = err
            raise
        for key, value in written:
            del pending[key]
            self.reads[key] = value

    def _deleted_in_entry(self, key: bytes) -> bool:
        """Whether the entry's batch deletes ``key`` before its puts: in a database this
        entry flushed, or a range it deleted."""
        return bool(self.flushed and key[0] in _PER_DB and key[1] in self.flushed
                    or self.ranges and any(start <= key < end for start, end in self.ranges))

    def insert(self, key: bytes, value: bytes) -> None:
        """A put of a counted record the caller knows is absent (a new element)."""
        self.replace(key, value, None)

    def insert_elements(self, records: list[tuple[bytes, bytes]]) -> None:
        """``insert`` of new element records of one collection, its total and the database's
        size counted once for all of them (RESTORE of a big key)."""
        if not records:
            return
        first = records[0][0]
        delta = sum(len(key) + len(value) for key, value in records)
        delta += RECORD_OVERHEAD * len(records)
        self.sizes[first[1]] = self.sizes.get(first[1], 0) + delta
        total_key = elements_total_key(first)
        self.totals[total_key] = self._stored_total(total_key) + delta
        pending = self.pending
        self.element_puts.setdefault(total_key, []).extend(
            [key for key, _ in records if pending.get(key) is None])
        self.puts_unsorted.add(total_key)
        pending.update(records)

    def replace(self, key: bytes, value: bytes, old: bytes | None) -> None:
        """A put of a counted record whose current value (None: none) the caller has read."""
        delta = len(value) - len(old) if old is not None else record_size(key, value)
        if key[0] != 0x73:  # a keyspace record (every SET's): _add_size without its call
            self.sizes[key[1]] = self.sizes.get(key[1], 0) + delta
        else:
            self._add_size(key, delta)
            if self.pending.get(key) is None:  # not listed already, unless deleted since
                total_key = elements_total_key(key)
                self.element_puts.setdefault(total_key, []).append(key)
                self.puts_unsorted.add(total_key)
        self.pending[key] = value

    def element_puts_between(self, lo: bytes, hi: bytes) -> list[bytes]:
        """Keys in [lo, hi) this entry put (some may be deleted since), sorted."""
        cut = _collection_length(lo) if lo[:1] == b"s" and len(lo) >= 6 else 0
        if cut and len(lo) >= cut and hi <= end_of_prefix(lo[:cut]):  # within one collection
            total_key = elements_total_key(lo)
            puts = self.element_puts.get(total_key, [])
            if total_key in self.puts_unsorted:
                self.puts_unsorted.discard(total_key)
                puts[:] = sorted(set(puts))
            return puts[bisect.bisect_left(puts, lo):bisect.bisect_left(puts, hi)]
        return sorted(k for k, v in self.pending.items() if v is not None and lo <= k < hi)

    def delete(self, key: bytes, old: bytes | None = None) -> None:
        """old: the record's value when the caller has it (saves a read)."""
        if key[0] in _SIZED:
            if old is None:
                old = self.get(key)
            if old is not None:
                self._add_size(key, -record_size(key, old))
        self.pending[key] = None

    def _add_size(self, key: bytes, delta: int) -> None:
        sizes = self.sizes
        sizes[key[1]] = sizes.get(key[1], 0) + delta
        if key[0] == 0x73:  # an element: its collection's total too
            total_key = elements_total_key(key)
            self.totals[total_key] = self._stored_total(total_key) + delta

    def _stored_total(self, total_key: bytes) -> int:
        total = self.totals.get(total_key)
        if total is not None:
            return total
        raw = self.get(total_key)
        return int.from_bytes(raw, "big", signed=True) if raw else 0

    def drop_elements(self, prefix: bytes, keys: list[bytes] | None) -> None:
        """Delete a whole collection's (or long string's) element records: ``keys`` one by
        one, or None for one range delete over ``prefix``; their size comes from the
        collection's total, so none of them is read."""
        total_key = elements_total_key(prefix)
        total = self._stored_total(total_key)
        if total:
            self.sizes[prefix[1]] = self.sizes.get(prefix[1], 0) - total
            self.totals[total_key] = 0
        if keys is None:
            self.delete_range(prefix, end_of_prefix(prefix))
        else:
            for key in keys:
                self.pending[key] = None

    def delete_range(self, start: bytes, end: bytes, size: int = 0) -> None:
        """Delete every key in [start, end): one range tombstone, whatever the range holds.
        ``size``: the logical size of the element records it holds (the caller knows it).

        Meant for ranges nothing reads again (a dropped collection version): iterators over
        the range still see the records already in RocksDB until the entry commits.
        """
        if size:
            self._add_size(start, -size)
        for key in [k for k in self.pending if start <= k < end]:
            del self.pending[key]
        self.ranges.append((start, end))

    def add_count(self, counter: bytes, delta: int) -> None:
        self.counts[counter] = self.counts.get(counter, 0) + delta

    def reset_count(self, counter: bytes) -> None:
        self.counts[counter] = 0
        self.zeroed.add(counter)

    def counter(self, counter: bytes) -> int:
        base = 0 if counter in self.zeroed else self.store.stored_counter(counter)
        return base + self.counts.get(counter, 0)

    def count(self, dbid: int) -> int:
        return self.counter(_count_key(dbid))

    def swap_dbs(self, a: int, b: int) -> None:
        """SWAPDB: logical databases a and b trade their physical databases."""
        dbmap = self.dbmap = list(self.dbmap)
        dbmap[a], dbmap[b] = dbmap[b], dbmap[a]

    def set_member(self, node_id: str, raft: str | None, client: str | None,
                   role: str = VOTER) -> None:
        key = MEMBER_PREFIX + node_id.encode()
        record = f"{raft} {client}" if role == VOTER else f"{raft} {client} {role}"
        self.pending[key] = None if raft is None else record.encode()
        self.members_changed = True

    def set_acl_user(self, name: bytes, rules: bytes | None) -> None:
        """ACL SETUSER (rules) or DELUSER (None), applied with the rest of the entry."""
        self.pending[ACL_PREFIX + name] = rules
        self.acl_changed = True
    def _count_sizes(self) -> None:
        """Fold the size changes gathered per put into the counters."""
        for dbid, delta in self.sizes.items():
            if delta:  # a value replaced by one as long (SET of a counter, say) changes none
                self.add_count(_SIZE_KEYS[dbid], delta)
                self.add_count(USED_KEY, delta)
        self.sizes.clear()

    def flush_db(self, dbid: int) -> None:
        self._count_sizes()
        for key in [k for k in self.pending if k[0] in _PER_DB and k[1] == dbid]:
            del self.pending[key]
        for key in [k for k in self.totals if k[1] == dbid]:
            del self.totals[key]
        self.add_count(USED_KEY, -self.counter(_size_key(dbid)))
        for counter in (_count_key(dbid), _expires_key(dbid), _size_key(dbid)):
            self.reset_count(counter)
        self.flushed.add(dbid)

    def commit(self, index: int) -> None:
        """Write the entry's records, counters and index in one WriteBatch. Runs once per
        entry, an entry of one SET included: what it skips or inlines counts in every one."""
        if self.write_error is not None:
            raise self.write_error
        store = self.store
        batch = WriteBatch(raw_mode=True)
        put = batch.put
        for dbid in sorted(self.flushed):
            for tag in _PER_DB:
                batch.delete_range(bytes((tag, dbid)), bytes((tag, dbid + 1)))
        for start, end in self.ranges:  # before the puts: a range never hides a newer write
            batch.delete_range(start, end)
        for key, value in self.pending.items():
            if value is None:
                batch.delete(key)
            else:
                put(key, value)
        for key, total in self.totals.items():
            if total:
                put(key, total.to_bytes(8, "big", signed=True))
            else:
                batch.delete(key)
        if self.sizes:
            self._count_sizes()
        totals = {counter: self.counter(counter) for counter in self.counts}
        for counter, total in totals.items():
            put(counter, total.to_bytes(8, "big", signed=True))
        dbmap = self.dbmap
        if dbmap is not store.dbmap:
            put(DBMAP_KEY, bytes(dbmap))
        put(APPLIED_KEY, index.to_bytes(8, "big"))
        if self.flushed or self.ranges and any(start[0] == _RECORD_TAG
                                               for start, _ in self.ranges):
            store.records.forget_all()
        else:
            store.records.forget(self.pending)
        store.write(batch)
        store.records.remember(self.pending)  # (a reopen in write made a new RecordCache)
        if self.acl_changed:
            store.acl_version += 1
            if store.on_acl_change is not None:
                store.on_acl_change()
        if self.members_changed:
            store.members_version += 1
            if store.on_members_change is not None:
                store.on_members_change()
        if totals:
            store._counters.update(totals)
        if dbmap is not store.dbmap:
            store.dbmap = dbmap
            store.generation += 1


class KeyspaceStats:
    """INFO's keyspace_hits and keyspace_misses: what Redis's read lookups (lookupKeyRead)
    count, on the node that serves the read. One per thread that counts (the event loop's
    reads, the apply thread's reads inside writes), so no increment races another."""

    __slots__ = ("hits", "misses")

    def __init__(self) -> None:
        self.hits = self.misses = 0


class Keyspace:
    """One logical database as a command handler sees it, at one instant ``now_ms``.

    Keys whose expiry is at or before ``now_ms`` are invisible. Writes require a transaction
    (only the state machine has one).
    """

    __slots__ = ("store", "txn", "dbnum", "dbid", "prefix", "now_ms", "limits", "_get",
                 "_cached", "events", "stats", "read_stats")

    def __init__(self, store: Store, txn: Transaction | None, dbnum: int, now_ms: int,
                 limits: EncodingLimits = DEFAULT_LIMITS, events: list | None = None) -> None:
        self.store = store
        # The entry's keyspace notifications (rcache.notify), None when nobody could hear them.
        self.events = events
        self.limits = limits  # the entry's encoding options (see rcache/encodings.py)
        self.txn = txn
        self.dbnum = dbnum
        self.dbid = (txn.dbmap if txn else store.dbmap)[dbnum]
        self.prefix = RECORD_PREFIXES[self.dbid]
        self.now_ms = now_ms
        self._get = txn.get if txn else store.db.get
        # A read outside an entry looks in the store's RecordCache first (the entry's
        # transaction does so itself).
        self._cached = _NOTHING_CACHED.get if txn else store.records.get
        # ``lookup`` counts hits and misses in ``stats`` while it is set: a read command's
        # lookups (or a write's that Redis reads with lookupKeyRead) on the node that serves
        # it. ``read_stats``: where this node counts this keyspace's reads (None: nowhere,
        # an entry no client here awaits).
        self.stats: KeyspaceStats | None = None
        self.read_stats: KeyspaceStats | None = None

    def other(self, dbnum: int) -> Keyspace:
        ks = Keyspace(self.store, self.txn, dbnum, self.now_ms, self.limits, self.events)
        ks.stats, ks.read_stats = self.stats, self.read_stats
        return ks

    def notify(self, kind: int, event: bytes, key: bytes) -> None:
        """Record a keyspace event of class ``kind`` (rcache.notify) for this database."""
        if self.events is not None:
            self.events.append((kind, event, key, self.dbnum))

    # -- reading -----------------------------------------------------------------------
    def lookup(self, key: bytes) -> tuple[int, int, bytes] | None:
        """-> (type, expire_at, payload) of a live key, or None."""
        full = self.prefix + key
        raw = self._cached(full) or self._get(full)
        stats = self.stats
        if raw is None:
            if stats is not None:
                stats.misses += 1
            return None
        head = raw[0]
        if head & _HAS_EXPIRY:  # decode_record inlined: every read of a key comes here
            expire_at = int.from_bytes(raw[1:9], "big")
            if expire_at and expire_at <= self.now_ms:
                if stats is not None:
                    stats.misses += 1
                return None
            if stats is not None:
                stats.hits += 1
            return head & 0x7F, expire_at, raw[9:]
        if stats is not None:
            stats.hits += 1
        return head, 0, raw[1:]

    def count_again(self, found: bool) -> None:
        """Count a lookup Redis makes a second time of a key read here once (XREAD looks each
        stream up to check its type, then again to serve it)."""
        stats = self.stats
        if stats is not None:
            if found:
                stats.hits += 1
            else:
                stats.misses += 1

    @contextlib.contextmanager
    def reads_counted(self, counted: bool = True) -> Iterator[None]:
        """Count the lookups inside as reads (where this node counts them), as Redis's write
        commands that read a key with lookupKeyRead do (GETSET, SORT ... STORE's source,
        SINTERSTORE's sets...); or (``counted`` False) not, as a read that Redis makes
        without lookupKeyRead (MEMORY USAGE)."""
        before, self.stats = self.stats, self.read_stats if counted else None
        try:
            yield
        finally:
            self.stats = before

    def exists(self, key: bytes) -> bool:
        return self.lookup(key) is not None

    def expire_at(self, key: bytes) -> int | None:
        """Absolute expiry in ms, 0 for none, None when the key does not exist."""
        record = self.lookup(key)
        return None if record is None else record[1]

    def is_expired(self, key: bytes) -> bool:
        """True for a key still stored but past its expiry (what active expiry deletes)."""
        at = self._old_expiry(self.prefix + key)[1]
        return 0 < at <= self.now_ms

    def size(self) -> int:
        if self.txn is not None:
            return self.txn.count(self.dbid)
        return self.store.key_count(self.dbnum)

    def logical_size(self, key: bytes) -> int:
        """What the key counts against maxmemory: its record and its element records."""
        full = self.prefix + key
        raw = self._get(full)
        if raw is None:
            return 0
        size = record_size(full, raw)
        if raw[0] & 0x7F in ELEMENT_DROPPERS:
            version = decode_record(raw)[2][:8]  # every element layout starts with it
            size += self.store.elements_bytes(
                b"s" + bytes((self.dbid,)) + len(key).to_bytes(4, "big") + key + version)
        return size

    def volatile_keys(self, start: bytes, limit: int) -> list[tuple[int, bytes]]:
        """Up to limit (expire_at, key) of keys with a TTL, from expire_at ``start`` (8
        bytes) on, wrapping around: eviction samples them, and volatile-ttl takes the first."""
        tag = b"e" + bytes((self.dbid,))
        found: list[tuple[int, bytes]] = []
        for begin in (tag + start, tag):
            for full, _ in self._iter_records(begin, tag):
                if len(found) >= limit:
                    return found
                found.append((int.from_bytes(full[2:10], "big"), full[10:]))
            if found:
                break
        return found

    def key_span(self) -> tuple[bytes, bytes] | None:
        """The first live key and the last stored key (None: the database is empty)."""
        first = next(self.iter_keys(), None)
        if first is None:
            return None
        it = self.store.db.iter()
        it.seek_for_prev(end_of_prefix(self.prefix))
        last = it.key() if it.valid() and it.key().startswith(self.prefix) else b""
        return first, max(first, last[2:])

    def expiry_span(self) -> tuple[int, int] | None:
        """The soonest and the latest expiry time in the index (None: no key has a TTL)."""
        tag = b"e" + bytes((self.dbid,))
        soonest = self.volatile_keys(b"", 1)
        if not soonest:
            return None
        it = self.store.db.iter()
        it.seek_for_prev(end_of_prefix(tag))
        latest = it.key() if it.valid() and it.key().startswith(tag) else b""
        return soonest[0][0], int.from_bytes(latest[2:10], "big") if latest else soonest[0][0]

    def iter_keys(self, start: bytes = b"") -> Iterator[bytes]:
        """Live keys in byte order, from ``start`` (inclusive)."""
        now = self.now_ms
        prefix = self.prefix
        for full, raw in self._iter_records(prefix + start, prefix):
            head = raw[0]
            if head & _HAS_EXPIRY and int.from_bytes(raw[1:9], "big") <= now:
                continue
            yield full[2:]

    def _iter_records(self, seek: bytes, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """RocksDB records under prefix from seek, merged with a transaction's overlay."""
        txn = self.txn
        overlay: list[bytes] = []
        if txn is not None and txn.pending:
            overlay = sorted(k for k in txn.pending if k.startswith(prefix) and k >= seek)
        skip_db = (txn is not None and prefix[0] in _PER_DB and len(prefix) > 1
                   and prefix[1] in txn.flushed)
        bounds = read_below(end_of_prefix(prefix))  # referenced while the iterator lives
        it = self.store.db.iter(bounds)
        it.seek(seek)
        oi = 0
        while True:
            db_key = None
            if not skip_db and it.valid():
                db_key = it.key()
                if not db_key.startswith(prefix):
                    db_key = None
            if oi < len(overlay) and (db_key is None or overlay[oi] <= db_key):
                key = overlay[oi]
                oi += 1
                if db_key == key:
                    it.next()
                value = txn.pending[key]
                if value is not None:
                    yield key, value
            elif db_key is not None:
                value = it.value()
                it.next()
                yield db_key, value
            else:
                return

    def random_key(self, rng: Any) -> bytes | None:
        """A live key, or None: one of the RANDOM_KEY_WINDOW keys from a random point
        between the first and the last key (wrapping around), picked at random. Uniform up
        to that many keys; beyond, a key's chance follows the gaps before it, evened out
        over the window (Redis draws from its hash table; RocksDB has no rank to draw)."""
        span = self.key_span()
        if span is None:
            return None
        start = point_between(rng, *span)
        after = self.iter_keys(start)
        before = itertools.takewhile(lambda key: key < start, self.iter_keys())
        window = list(itertools.islice(itertools.chain(after, before), RANDOM_KEY_WINDOW))
        return window[rng.randrange(len(window))] if window else None

    # -- writing (state machine only) ----------------------------------------------------
    def _old_expiry(self, full: bytes) -> tuple[bool, int]:
        raw = self._get(full)
        if raw is None:
            return False, 0
        return True, (int.from_bytes(raw[1:9], "big") if raw[0] & _HAS_EXPIRY else 0)

    def _index_expiry(self, key: bytes, old_at: int, new_at: int) -> None:
        if old_at == new_at:
            return
        tag = b"e" + bytes((self.dbid,))
        if old_at:
            self.txn.delete(tag + old_at.to_bytes(8, "big") + key)
        if new_at:
            self.txn.put(tag + new_at.to_bytes(8, "big") + key, b"")
        if not (old_at and new_at):
            self.txn.add_count(_expires_key(self.dbid), 1 if new_at else -1)

    def put(self, key: bytes, kind: int, payload: bytes, expire_at: int = 0) -> None:
        """Create or replace key (dropping any TTL unless expire_at is given, and the
        elements of a collection it held)."""
        full = self.prefix + key
        raw = self._get(full)
        old_at = 0
        if raw is None:
            self.txn.add_count(_COUNT_KEYS[self.dbid], 1)
            if self.events is not None:
                self.notify(NEW, b"new", key)
        elif raw[0] != kind or kind in ELEMENT_DROPPERS:  # a TTL, elements or another type
            old_kind, old_at, old_payload = decode_record(raw)
            if old_at and old_at <= self.now_ms:  # Redis deletes it first, then adds anew
                self.notify(EXPIRED, b"expired", key)
                self.notify(NEW, b"new", key)
            if old_kind in ELEMENT_DROPPERS:
                ELEMENT_DROPPERS[old_kind](self, key, old_payload)
        if old_at or expire_at:
            self._index_expiry(key, old_at, expire_at)
            self.txn.replace(full, encode_record(kind, payload, expire_at), raw)
        else:  # encode_record's record without its call: most SETs come here
            self.txn.replace(full, _HEADERS[kind] + payload, raw)

    def rewrite(self, key: bytes, kind: int, payload: bytes, expire_at: int) -> None:
        """Replace the payload of an existing key, keeping its elements and TTL (a
        collection's count or list indexes change; its identity does not)."""
        full = self.prefix + key
        self.txn.replace(full, encode_record(kind, payload, expire_at), self._get(full))

    def delete(self, key: bytes) -> bool:
        """Remove key (and the elements of a collection); True if a live key was removed."""
        full = self.prefix + key
        raw = self._get(full)
        if raw is None:
            return False
        old_kind, old_at, old_payload = decode_record(raw)
        if old_kind in ELEMENT_DROPPERS:
            ELEMENT_DROPPERS[old_kind](self, key, old_payload)
        self.txn.delete(full, raw)
        self.txn.add_count(_count_key(self.dbid), -1)
        self._index_expiry(key, old_at, 0)
        if old_at and old_at <= self.now_ms:
            self.notify(EXPIRED, b"expired", key)
            return False
        return True

    def set_expiry(self, key: bytes, expire_at: int) -> None:
        """Change the TTL of an existing key (0 removes it); deletes at once if already past."""
        if expire_at and expire_at <= self.now_ms:
            self.delete(key)
            return
        kind, old_at, payload = self.lookup(key)
        self._index_expiry(key, old_at, expire_at)
        self.txn.put(self.prefix + key, encode_record(kind, payload, expire_at))

    def expired_keys(self, limit: int) -> list[bytes]:
        """Keys whose expiry has passed by ``now_ms``, oldest first (for active expiry)."""
        tag = b"e" + bytes((self.dbid,))
        found = []
        for full, _ in self._iter_records(tag, tag):
            if int.from_bytes(full[2:10], "big") > self.now_ms or len(found) >= limit:
                break
            found.append(full[10:])
        return found

    def flush(self) -> None:
        self.txn.flush_db(self.dbid)
        self.notify(FLUSHED, b"flush", b"")

    def swap(self, other_dbnum: int) -> None:
        self.txn.swap_dbs(self.dbnum, other_dbnum)


def end_of_prefix(prefix: bytes) -> bytes:
    """The smallest key above every key starting with prefix."""
    stripped = prefix.rstrip(b"\xff")
    return stripped[:-1] + bytes((stripped[-1] + 1,))


def read_below(limit: bytes) -> ReadOptions:
    """Read options that stop an iterator before limit inside RocksDB. Without them a seek
    that finds no live key in range walks every deleted record beyond it: a set emptied
    by SPOP leaves tens of thousands, and active expiry seeks 16 times a tick. The
    iterator points into the options: keep them referenced while it lives."""
    bounds = ReadOptions()
    bounds.set_iterate_upper_bound(limit)
    return bounds
