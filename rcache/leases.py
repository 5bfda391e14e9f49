"""Leases: one TTL shared by many keys, renewed in one call (etcd's lease API, for service
discovery). Stored beside the keyspace and written only by the state machine.

Layout:
    b"\\x00lease:" + id(8)                -> granted ttl ms (8) + deadline, Unix ms (8)
    b"\\x00leasedue:" + deadline(8) + id(8) -> b""      (what the leader scans to expire them)
    b"\\x00leasekey:" + id(8) + db(1) + key  -> b""      (the keys attached to a lease)
    b"\\x00keylease:" + db(1) + key          -> id(8)    (a key belongs to at most one lease)
    b"\\x00leasenext"                       -> the next id the server picks (8)

Deadlines are absolute, from the clock of the entry that granted or renewed the lease (the
leader's); the leader proposes the deletion of due leases, and every node deletes the same keys
at the same index. A lease's time stands still while the cluster has no leader: its holder
could not renew then. So a new leader first moves every deadline that was still ahead when
the cluster lost its leader later by how long it had none (etcd's lessor extends leases on
Promote too, but by a whole TTL, so that frequent elections made leases immortal).
"""

from __future__ import annotations

from collections.abc import Iterator

from .notify import GENERIC
from .storage import Keyspace, Store, end_of_prefix, read_below

LEASE = b"\x00lease:"
DUE = b"\x00leasedue:"
KEYS = b"\x00leasekey:"
OWNER = b"\x00keylease:"
NEXT_ID = b"\x00leasenext"


def _id(lease_id: int) -> bytes:
    return lease_id.to_bytes(8, "big")


class Lease:
    __slots__ = ("id", "ttl_ms", "deadline")

    def __init__(self, lease_id: int, ttl_ms: int, deadline: int) -> None:
        self.id = lease_id
        self.ttl_ms = ttl_ms
        self.deadline = deadline


class Leases:
    """The leases as one entry (or a reader) sees them: ``ks`` gives the transaction (writes),
    the clock (``ks.now_ms``: a lease whose deadline has passed is gone) and merged reads."""

    def __init__(self, ks: Keyspace) -> None:
        self.ks = ks
        self._get = ks.txn.get if ks.txn is not None else ks.store.db.get

    # -- reading ---------------------------------------------------------------------------
    def get(self, lease_id: int) -> Lease | None:
        """A live lease, or None (unknown, or past its deadline)."""
        lease = self._record(lease_id)
        return lease if lease is not None and lease.deadline > self.ks.now_ms else None

    def _record(self, lease_id: int) -> Lease | None:
        """The lease as stored, live or lapsed (not yet revoked), or None."""
        raw = self._get(LEASE + _id(lease_id))
        if raw is None:
            return None
        return Lease(lease_id, int.from_bytes(raw[:8], "big"), int.from_bytes(raw[8:], "big"))

    def ids(self) -> list[int]:
        return [lease_id for lease_id, deadline in self._records() if deadline > self.ks.now_ms]

    def _records(self) -> Iterator[tuple[int, int]]:
        for key, raw in self.ks._iter_records(LEASE, LEASE):
            yield int.from_bytes(key[len(LEASE):], "big"), int.from_bytes(raw[8:], "big")

    def keys(self, lease_id: int) -> Iterator[tuple[int, bytes]]:
        """(db, key) attached to the lease, in byte order."""
        prefix = KEYS + _id(lease_id)
        for full, _ in self.ks._iter_records(prefix, prefix):
            yield full[len(prefix)], full[len(prefix) + 1:]

    def owner(self, db: int, key: bytes) -> int | None:
        raw = self._get(OWNER + bytes((db,)) + key)
        return int.from_bytes(raw, "big") if raw else None

    # -- writing (state machine) -----------------------------------------------------------
    def new_id(self) -> int:
        raw = self._get(NEXT_ID)
        lease_id = int.from_bytes(raw, "big") if raw else 1
        while self._get(LEASE + _id(lease_id)) is not None:  # taken by an explicit ID
            lease_id += 1
        self.ks.txn.put(NEXT_ID, _id(lease_id + 1))
        return lease_id

    def grant(self, lease_id: int, ttl_ms: int) -> None:
        self._move_deadline(lease_id, ttl_ms, None, self.ks.now_ms + ttl_ms)

    def keep_alive(self, lease: Lease) -> None:
        self._move_deadline(lease.id, lease.ttl_ms, lease.deadline, self.ks.now_ms + lease.ttl_ms)

    def _move_deadline(self, lease_id: int, ttl_ms: int, old_deadline: int | None,
                       deadline: int) -> None:
        txn = self.ks.txn
        if old_deadline is not None:
            txn.delete(DUE + _id(old_deadline) + _id(lease_id))
        txn.put(LEASE + _id(lease_id), _id(ttl_ms) + _id(deadline))
        txn.put(DUE + _id(deadline) + _id(lease_id), b"")

    def attach(self, lease_id: int, db: int, key: bytes) -> bool:
        """-> False if the key was attached to this lease already (it moves from another)."""
        owner = self.owner(db, key)
        if owner == lease_id:
            return False
        if owner is not None:
            self.ks.txn.delete(KEYS + _id(owner) + bytes((db,)) + key)
        self.ks.txn.put(OWNER + bytes((db,)) + key, _id(lease_id))
        self.ks.txn.put(KEYS + _id(lease_id) + bytes((db,)) + key, b"")
        return True

    def detach(self, lease_id: int, db: int, key: bytes) -> bool:
        if self.owner(db, key) != lease_id:
            return False
        self.ks.txn.delete(OWNER + bytes((db,)) + key)
        self.ks.txn.delete(KEYS + _id(lease_id) + bytes((db,)) + key)
        return True

    def revoke(self, lease_id: int, event: bytes = b"lease_revoked") -> int:
        """Delete the lease and its keys, notifying the event for each (a keyspace event of
        class g); -> how many keys were deleted."""
        txn = self.ks.txn
        raw = self._get(LEASE + _id(lease_id))
        if raw is None:
            return 0
        deleted = 0
        for db, key in list(self.keys(lease_id)):
            keyspace = self.ks.other(db)
            if keyspace.delete(key):
                keyspace.notify(GENERIC, event, key)
                deleted += 1
            txn.delete(OWNER + bytes((db,)) + key)
            txn.delete(KEYS + _id(lease_id) + bytes((db,)) + key)
        txn.delete(DUE + raw[8:] + _id(lease_id))
        txn.delete(LEASE + _id(lease_id))
        return deleted

    def promote(self, lease_ids: list[int], since_ms: int, gap_ms: int) -> int:
        """A new leader's first proposal: each lease whose deadline was still ahead at
        ``since_ms``, when the cluster lost its leader, runs ``gap_ms`` longer (how long it
        had none); -> how many were moved."""
        moved = 0
        for lease_id in lease_ids:
            lease = self._record(lease_id)
            if lease is not None and lease.deadline > since_ms:
                self._move_deadline(lease_id, lease.ttl_ms, lease.deadline,
                                    lease.deadline + gap_ms)
                moved += 1
        return moved

    def expire(self, lease_ids: list[int]) -> int:
        """The leader's proposal: revoke those still due by the entry's clock."""
        expired = 0
        for lease_id in lease_ids:
            lease = self._record(lease_id)
            if lease is not None and lease.deadline <= self.ks.now_ms:
                self.revoke(lease_id, b"lease_expired")
                expired += 1
        return expired


def due_leases(store: Store, now_ms: int, limit: int) -> list[int]:
    """Leader: ids of leases whose deadline has passed by its clock, oldest first."""
    found: list[int] = []
    bounds = read_below(end_of_prefix(DUE))
    for key, _ in store.db.items(from_key=DUE, read_opt=bounds):
        if int.from_bytes(key[len(DUE):len(DUE) + 8], "big") > now_ms or len(found) >= limit:
            break
        found.append(int.from_bytes(key[len(DUE) + 8:], "big"))
    return found


def lease_ids_after(store: Store, after: int, limit: int) -> list[int]:
    """Up to limit lease ids above ``after``, in order, lapsed ones included (a new leader
    promotes them page by page)."""
    start = LEASE + _id(after + 1)
    bounds = read_below(end_of_prefix(LEASE))
    found: list[int] = []
    for key, _ in store.db.items(from_key=start, read_opt=bounds):
        if len(found) >= limit:
            break
        found.append(int.from_bytes(key[len(LEASE):], "big"))
    return found
