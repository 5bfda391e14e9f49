"""What reaches the disk, and when: the Raft journal and the snapshots that compact it.

The journal replaces PySyncObj's (an mmap that is never synced): records are appended with
``write`` and made durable per Redis's ``appendfsync`` policy:
    always   - before the node acknowledges an entry (to its leader, or by counting itself
               toward a commit). One fsync covers every entry appended since the last one
               (group commit), so a batch of a thousand writes costs one fsync.
    everysec - once a second; a crash of the machine may lose the last second.
    no       - left to the operating system.
Every record carries a CRC32: a torn last record (the process died mid-write) is dropped,
anything else that does not check out stops the node with a message naming the file. So does
a journal that ends before an entry the node knows was committed (``check_complete``):
entries are missing, and replaying the rest would silently lose committed writes.

RocksDB needs no fsync of its own: the applied Raft index is stored in the same WriteBatch
as the data, so after a crash RocksDB holds a prefix of the applied entries and the journal
replays the rest (entries at or below the stored index are skipped). A snapshot is a RocksDB
checkpoint (hard links, taken on the tick thread, so it is exactly the state at the applied
index) packed into one file by a background thread; PySyncObj ships that file to followers
that are too far behind and hands it to ``Snapshots.load`` on arrival.
"""

from __future__ import annotations

import logging
import os
import pickle
import shutil
import struct
import tarfile
import threading
import time
import zlib
from collections.abc import Callable

from rocksdict import Checkpoint

from .transport import loads

log = logging.getLogger(__name__)

JOURNAL_MAGIC = b"RCJOURN1"
SNAPSHOT_MAGIC = b"RCSNAP01"
_RECORD = struct.Struct("<IIQQ")  # payload length, crc32, index, term
_IOV_MAX = os.sysconf("SC_IOV_MAX")  # buffers one writev takes


class CorruptFile(Exception):
    """A data file that cannot be trusted: the node refuses to start rather than serve it."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")


def _fsync_dir(path: str) -> None:
    fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: str, data: bytes) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path)


class DurableJournal:
    """PySyncObj's Journal interface over an append-only file with an fsync policy."""

    def __init__(self, path: str, policy: Callable[[], str], node_id: str) -> None:
        self.path = path
        self.meta_path = path + ".meta"
        self.policy = policy  # read at each decision: CONFIG SET appendfsync applies at once
        self.node_id = node_id
        self.fsyncs = 0
        self.bytes = 0
        self._synced_index = 0  # the last index known to be on disk (fsynced)
        self._entries: list[tuple[bytes, int, int]] = []
        self._offsets: list[int] = []
        self._dirty = False  # appended or truncated since the last fsync
        # Records appended since the last sync (each its head, then its command), written to
        # the file with one writev there. The file is unbuffered: a buffered one's flush
        # costs an lseek besides the write.
        self._unwritten: list[bytes] = []
        # The header names the node: a journal copied from another node is refused.
        name = node_id.encode()
        self._header = JOURNAL_MAGIC + struct.pack("<H", len(name)) + name
        self._meta = self._read_meta()
        self._stored_commit = self._meta.get("commit", 0)
        self._meta_dirty = False
        self._file = self._open()

    # -- loading ---------------------------------------------------------------------------
    def _read_meta(self) -> dict:
        if not os.path.exists(self.meta_path):
            return {}
        raw = open(self.meta_path, "rb").read()
        if len(raw) < 4 or zlib.crc32(raw[4:]) != struct.unpack("<I", raw[:4])[0]:
            raise CorruptFile(self.meta_path, "checksum mismatch (Raft term and vote)")
        meta = loads(raw[4:])
        if meta.get("node", self.node_id) != self.node_id:
            raise CorruptFile(self.meta_path, f"belongs to node {meta['node']!r}, "
                                              f"not {self.node_id!r}")
        return meta

    def _open(self):
        if not os.path.exists(self.path):
            with open(self.path, "wb") as fh:
                fh.write(self._header)
                fh.flush()
                os.fsync(fh.fileno())
        fh = open(self.path, "r+b", buffering=0)
        data = fh.readall()
        if not data.startswith(JOURNAL_MAGIC):
            raise CorruptFile(self.path, "not an rcache Raft journal (bad header)")
        if not data.startswith(self._header):
            (size,) = struct.unpack_from("<H", data, len(JOURNAL_MAGIC))
            owner = data[len(JOURNAL_MAGIC) + 2:len(JOURNAL_MAGIC) + 2 + size]
            raise CorruptFile(self.path, f"belongs to node {owner.decode(errors='replace')!r}, "
                                         f"not {self.node_id!r}")
        pos = len(self._header)
        while pos < len(data):
            if pos + _RECORD.size > len(data):
                break  # torn header of the last record
            size, crc, index, term = _RECORD.unpack_from(data, pos)
            end = pos + _RECORD.size + size
            if end > len(data):
                break  # torn payload of the last record
            command = data[pos + _RECORD.size:end]
            if zlib.crc32(command, zlib.crc32(data[pos + 8:pos + _RECORD.size])) != crc:
                if end == len(data):
                    break  # the last record was being written when the process died
                raise CorruptFile(self.path, f"record at offset {pos} (index {index}) fails "
                                             "its checksum")
            if self._entries and index != self._entries[-1][1] + 1:
                raise CorruptFile(self.path, f"index {index} follows {self._entries[-1][1]}")
            self._entries.append((command, index, term))
            self._offsets.append(pos)
            pos = end
        if pos < len(data):
            log.warning("%s: dropping a torn last record (%d bytes)", self.path, len(data) - pos)
            fh.truncate(pos)
        fh.seek(pos)
        self.bytes = pos
        self._synced_index = self._entries[-1][1] if self._entries else 0
        return fh

    def check_complete(self, applied_index: int, snapshot_index: int) -> None:
        """Refuse a journal that lacks entries the node committed (a truncated or older
        file); the one tail it may lose is a record torn by a crash mid-write.

        Committed: the commit index recorded in the meta file (only ever up to an fsynced
        entry) and, while there is no snapshot, the database's applied index (entries reach
        the journal file before they are applied). Once there is a snapshot, RocksDB may
        legitimately be ahead of the journal: PySyncObj replaces the log with the snapshot's
        last entries when it loads one, and a node killed then has not received the rest
        again yet; its RocksDB keeps what it had applied."""
        last = self._entries[-1][1] if self._entries else 0
        last = max(last, snapshot_index)  # a snapshot holds what compaction dropped
        commit = self._meta.get("commit", 0)
        applied = 0 if snapshot_index else applied_index
        if max(applied, commit) > last:
            raise CorruptFile(self.path, f"ends at Raft index {last}, but entries up to "
                              f"{max(applied, commit)} were committed (recorded commit "
                              f"index {commit}, database applied index {applied_index}): "
                              "committed entries are missing. Restore the file, or empty this "
                              "node's data directory and add it to the cluster again")

    # -- the Journal interface PySyncObj uses -------------------------------------------------
    @staticmethod
    def _record_head(command: bytes, index: int, term: int) -> bytes:
        """What precedes ``command`` in its record: written beside it, not joined to it
        (a copy of every entry: ~35 ms of a 50 MB one, holding the GIL)."""
        crc = zlib.crc32(command, zlib.crc32(struct.pack("<QQ", index, term)))
        return _RECORD.pack(len(command), crc, index, term)

    def add(self, command: bytes, index: int, term: int) -> None:
        self._offsets.append(self.bytes)
        self._entries.append((command, index, term))
        head = self._record_head(command, index, term)
        self._unwritten += (head, command)
        self.bytes += len(head) + len(command)
        self._dirty = True

    def clear(self) -> None:
        self._entries, self._offsets = [], []
        self._truncate(len(self._header))

    def deleteEntriesFrom(self, entry_from: int) -> None:  # noqa: N802 (PySyncObj's name)
        if entry_from >= len(self._entries):
            return
        offset = self._offsets[entry_from]
        del self._entries[entry_from:], self._offsets[entry_from:]
        self._truncate(offset)

    def deleteEntriesTo(self, entry_to: int) -> None:  # noqa: N802
        """Drop the compacted prefix: rewrite what remains (a few entries after a snapshot)
        into a new file, on disk before it replaces the old one (a crash in between must not
        leave a journal without the entries after the snapshot)."""
        kept = self._entries[entry_to:]
        offsets, position = [], len(self._header)
        with open(self.path + ".tmp", "wb") as fh:
            fh.write(self._header)
            for entry in kept:
                head = self._record_head(*entry)
                offsets.append(position)
                fh.write(head)
                fh.write(entry[0])
                position += len(head) + len(entry[0])
            fh.flush()
            os.fsync(fh.fileno())
        self._file.close()
        os.replace(self.path + ".tmp", self.path)
        _fsync_dir(self.path)
        self._file = open(self.path, "r+b", buffering=0)
        self._file.seek(position)
        self._entries, self._offsets, self.bytes = kept, offsets, position
        self._unwritten = []
        self._dirty = False
        self.fsyncs += 1
        self._synced_index = kept[-1][1] if kept else 0

    def _truncate(self, offset: int) -> None:
        """Entries at the end are gone (a conflicting tail, or the whole log when PySyncObj
        loads a snapshot): the recorded commit index must not claim them."""
        self._write_out()
        self._file.truncate(offset)
        self._file.seek(offset)
        self.bytes = offset
        self._dirty = True
        self._synced_index = min(self._synced_index, self._entries[-1][1] if self._entries else 0)
        if self._stored_commit > self._synced_index:
            self._store_meta()

    def __getitem__(self, item):
        return self._entries[item]

    def __len__(self) -> int:
        return len(self._entries)

    def _destroy(self) -> None:
        self.sync(force=True)  # even with appendfsync no, as Redis at shutdown
        self._store_meta()
        self._file.close()

    def setRaftCommitIndex(self, index: int) -> None:  # noqa: N802
        if self._meta.get("commit") != index:
            self._meta["commit"] = index
            self._meta_dirty = True

    def getRaftCommitIndex(self) -> int:  # noqa: N802
        return self._meta.get("commit", 1)

    def setCurrentTerm(self, term: int, voted_for) -> None:  # noqa: N802
        """Raft: term and vote are on disk before any message that reflects them is sent."""
        self._meta["term"], self._meta["vote"] = term, voted_for
        self._store_meta()

    def getCurrentTerm(self) -> int:  # noqa: N802
        return self._meta.get("term", 0)

    def getVotedForNodeId(self):  # noqa: N802
        return self._meta.get("vote")

    def onOneSecondTimer(self) -> None:  # noqa: N802
        if self.policy() == "everysec":
            self.sync(force=True)
        if self._meta_dirty:  # after the sync: the recorded commit index is then on disk
            self._store_meta()

    # -- durability ----------------------------------------------------------------------------
    def sync(self, force: bool = False) -> None:
        """Make every appended record durable if the policy asks for it now. Called every
        tick and before every answer to AppendEntries: the records appended since are
        written with one system call, none if there are none."""
        if not self._dirty:
            return
        self._write_out()
        if force or self.policy() == "always":
            os.fsync(self._file.fileno())
            self.fsyncs += 1
            self._dirty = False
            self._synced_index = self._entries[-1][1] if self._entries else 0

    def _write_out(self) -> None:
        """The records appended since, with as few system calls as writev allows."""
        parts = self._unwritten
        if not parts:
            return
        self._unwritten = []
        fd = self._file.fileno()
        while parts:
            written = os.writev(fd, parts[:_IOV_MAX])
            done = 0
            for part in parts:  # (a short write leaves the rest of a part for the next)
                if written < len(part):
                    break
                written -= len(part)
                done += 1
            parts = parts[done:]
            if written:
                parts[0] = memoryview(parts[0])[written:]

    def _store_meta(self) -> None:
        """The commit index is recorded only up to the last fsynced entry: after a power
        loss the journal must still reach it (else ``check_complete`` would refuse it)."""
        meta = dict(self._meta, node=self.node_id)
        if "commit" in meta:
            meta["commit"] = min(meta["commit"], self._synced_index)
        self._stored_commit = meta.get("commit", 0)
        body = pickle.dumps(meta)
        write_atomically(self.meta_path, struct.pack("<I", zlib.crc32(body)) + body)
        self._meta_dirty = False


class Snapshots:
    """RocksDB checkpoints packed into PySyncObj's dump file (``raft.snapshot``).

    File: magic, header length, header (pickled: last two log entries, cluster members,
    applied index), crc32 of the header, a tar of the checkpoint, its length and crc32.
    """

    def __init__(self, dump_path: str, store) -> None:
        self.path = dump_path
        self.store = store
        self.work_dir = dump_path + ".work"
        self.last_index = 0
        self.last_time = 0.0
        self.last_size = 0
        self.last_duration_ms = 0.0
        self.longest_pause_ms = 0.0
        self.saves = 0  # snapshots written since start (INFO rdb_saves; CONFIG RESETSTAT)
        self._thread: threading.Thread | None = None
        self._flush_requested = False
        self._outcome: tuple[bool, int] | None = None

    @property
    def in_progress(self) -> bool:
        return self._thread is not None

    def memtables_flushed(self) -> bool:
        """Start (once) a background flush of RocksDB's memtables; True once it is done.
        Then the checkpoint, which must be taken on the tick thread, has almost nothing left
        to flush: a few milliseconds instead of a pause that could outlast an election
        timeout (rocksdict holds the GIL while RocksDB works)."""
        db = self.store.db
        if not self._flush_requested:
            db.flush(False)
            self._flush_requested = True
            return False
        if db.property_int_value("rocksdb.mem-table-flush-pending") or \
                db.property_int_value("rocksdb.num-immutable-mem-table"):
            return False
        self._flush_requested = False
        return True

    def start(self, header: dict) -> None:
        """Tick thread: checkpoint RocksDB now (exactly the applied state), pack it in the
        background."""
        started = time.monotonic()
        shutil.rmtree(self.work_dir, ignore_errors=True)
        os.makedirs(self.work_dir)
        checkpoint = os.path.join(self.work_dir, "db")
        Checkpoint(self.store.db).create_checkpoint(checkpoint)
        self.longest_pause_ms = max(self.longest_pause_ms, (time.monotonic() - started) * 1000)
        self._thread = threading.Thread(target=self._pack, args=(checkpoint, header, started),
                                        name="snapshot", daemon=True)
        self._thread.start()

    def _pack(self, checkpoint: str, header: dict, started: float) -> None:
        tmp = self.path + ".tmp"
        try:
            body = pickle.dumps(header)
            tar_path = os.path.join(self.work_dir, "db.tar")
            with tarfile.open(tar_path, "w") as tar:
                tar.add(checkpoint, arcname="db")
            with open(tmp, "wb") as out, open(tar_path, "rb") as tar_file:
                out.write(SNAPSHOT_MAGIC + struct.pack("<I", len(body)) + body
                          + struct.pack("<I", zlib.crc32(body)))
                crc, length = 0, 0
                while chunk := tar_file.read(1 << 20):
                    crc = zlib.crc32(chunk, crc)
                    length += len(chunk)
                    out.write(chunk)
                out.write(struct.pack("<QI", length, crc))
                out.flush()
                os.fsync(out.fileno())
            self.last_duration_ms = (time.monotonic() - started) * 1000
            self._outcome = (True, header["raft_index"])
        except Exception:
            log.exception("snapshot failed")
            self._outcome = (False, header["raft_index"])
        finally:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def finished(self) -> int | None:
        """Tick thread: the Raft index of a snapshot that is now on disk, once, else None."""
        if self._thread is None or self._thread.is_alive() or self._outcome is None:
            return None
        self._thread = None
        ok, index = self._outcome
        self._outcome = None
        if not ok:
            return None
        os.replace(self.path + ".tmp", self.path)
        _fsync_dir(self.path)
        self.last_index, self.last_time = index, time.time()
        self.last_size = os.path.getsize(self.path)
        self.saves += 1
        return index

    def read_header(self, path: str | None = None) -> dict:
        path = path or self.path
        with open(path, "rb") as fh:
            if fh.read(len(SNAPSHOT_MAGIC)) != SNAPSHOT_MAGIC:
                raise CorruptFile(path, "not an rcache snapshot (bad header)")
            (size,) = struct.unpack("<I", fh.read(4))
            body = fh.read(size)
            crc = fh.read(4)
            intact = len(body) == size and len(crc) == 4
            if not intact or zlib.crc32(body) != struct.unpack("<I", crc)[0]:
                raise CorruptFile(path, "snapshot header is truncated or fails its checksum")
            return loads(body)  # plain data only: a snapshot may come from the leader

    def verify(self, path: str) -> dict:
        """Check a snapshot file whole (header and data checksums) without installing it."""
        return self._unpack(path, None)

    def load(self, path: str) -> dict:
        """Make RocksDB hold this snapshot's state, unless it already holds that or newer
        (a plain restart), and return the header."""
        header = self.read_header(path)
        if self.store.applied_index >= header["applied_index"] and self.store.members():
            return header
        restore = self.store.path + ".restore"
        shutil.rmtree(restore, ignore_errors=True)
        os.makedirs(restore)
        self._unpack(path, restore)
        self.store.replace_with(os.path.join(restore, "db"))
        shutil.rmtree(restore, ignore_errors=True)
        log.warning("installed snapshot at raft index %d", header["raft_index"])
        return header

    def _unpack(self, path: str, restore: str | None) -> dict:
        """Validate the file; with ``restore``, extract the database into that directory."""
        header = self.read_header(path)
        with open(path, "rb") as fh:
            fh.seek(len(SNAPSHOT_MAGIC))
            (size,) = struct.unpack("<I", fh.read(4))
            fh.seek(size + 4, os.SEEK_CUR)
            tar_start = fh.tell()
            fh.seek(-12, os.SEEK_END)
            length, crc = struct.unpack("<QI", fh.read(12))
            if tar_start + length + 12 != os.path.getsize(path):
                raise CorruptFile(path, "snapshot data is truncated")
            fh.seek(tar_start)
            tar_path = os.path.join(restore, "db.tar") if restore else os.devnull
            actual = 0
            with open(tar_path, "wb") as out:
                remaining = length
                while remaining:
                    chunk = fh.read(min(remaining, 1 << 20))
                    if not chunk:
                        raise CorruptFile(path, "snapshot data is truncated")
                    actual = zlib.crc32(chunk, actual)
                    out.write(chunk)
                    remaining -= len(chunk)
            if actual != crc:
                raise CorruptFile(path, "snapshot data fails its checksum")
        if restore:
            with tarfile.open(tar_path) as tar:
                tar.extractall(restore, filter="data")
        return header
