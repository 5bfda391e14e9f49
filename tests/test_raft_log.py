"""The follower's log handling that PySyncObj gets wrong, and our fix (rcache.raft.RaftNode).

Raft (§5.3) deletes a follower's entries only from the first one that conflicts with the
leader's. PySyncObj 0.3.17 deletes every entry after prevLogIdx, even matching ones, when an
AppendEntries is resent or arrives after a later one (the leader moves nextIndex back when a
late reply arrives, and large entries are resent one batch at a time). The leader has already
counted those entries as replicated: dropping them can lose a committed write.
These tests feed crafted AppendEntries to a real follower object.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from pysyncobj import SyncObj, SyncObjConf
from pysyncobj.node import TCPNode

from rcache.raft import RaftNode
from rcache.resp import OK
from rcache.statemachine import COMMAND, StateMachine, encode_entry
from rcache.storage import Store
from rcache.strings_store import get_value
from rcache.transport import REGULAR_COMMAND

from .conftest import free_port

NO_OP = b"\x01"  # PySyncObj's no-op entry type: applying it changes nothing


def make_follower(kind: type, tmp_path: Path, leader: TCPNode) -> SyncObj:
    conf = SyncObjConf(autoTick=False, dynamicMembershipChange=True)
    address = f"127.0.0.1:{free_port()}"
    if kind is RaftNode:
        node = RaftNode(StateMachine(Store(str(tmp_path / "db"))), address, [leader.address], conf)
    else:
        node = SyncObj(address, [leader.address], conf)
    return node


def append(node: SyncObj, leader: TCPNode, prev: tuple[int, int], entries: list[tuple[int, int]],
           commit: int = 1) -> None:
    node._SyncObj__onMessageReceived(leader, {
        "type": "append_entries", "term": max([t for _, t in entries] + [1]),
        "prevLogIdx": prev[0], "prevLogTerm": prev[1], "commit_index": commit,
        "entries": [(NO_OP, index, term) for index, term in entries],
    })


def log_of(node: SyncObj) -> list[tuple[int, int]]:
    return [(index, term) for _, index, term in node._SyncObj__raftLog]


@pytest.fixture
def leader() -> TCPNode:
    return TCPNode(f"127.0.0.1:{free_port()}")


def test_pysyncobj_drops_matching_entries_on_a_resent_append(tmp_path: Path, leader) -> None:
    """The bug is real in PySyncObj itself."""
    node = make_follower(SyncObj, tmp_path, leader)
    try:
        append(node, leader, (1, 0), [(2, 1), (3, 1), (4, 1)])
        append(node, leader, (1, 0), [(2, 1)])  # the same first entry, resent
        assert log_of(node) == [(1, 0), (2, 1)]  # entries 3 and 4 are gone
    finally:
        node._destroy()


def test_resent_append_keeps_matching_entries(tmp_path: Path, leader) -> None:
    node = make_follower(RaftNode, tmp_path, leader)
    try:
        append(node, leader, (1, 0), [(2, 1), (3, 1), (4, 1)])
        append(node, leader, (1, 0), [(2, 1)], commit=4)
        assert log_of(node) == [(1, 0), (2, 1), (3, 1), (4, 1)]
        # Only entry 2 was proven to match by that message: commit no further than 2.
        assert node.raftCommitIndex == 2
        append(node, leader, (1, 0), [(2, 1), (3, 1), (4, 1), (5, 1)])
        assert log_of(node)[-1] == (5, 1)
    finally:
        node._destroy()


def test_conflicting_entries_are_still_replaced(tmp_path: Path, leader) -> None:
    node = make_follower(RaftNode, tmp_path, leader)
    try:
        append(node, leader, (1, 0), [(2, 1), (3, 1), (4, 1)])
        append(node, leader, (1, 0), [(2, 1), (3, 2)])  # a new leader's entry 3, term 2
        assert log_of(node) == [(1, 0), (2, 1), (3, 2)]
    finally:
        node._destroy()


@pytest.mark.parametrize("size", [0, 300, 70_000])
def test_an_entry_encoded_once_decodes_as_pysyncobj_pickles_it(tmp_path: Path, leader,
                                                                size: int) -> None:
    """RaftNode._encode_command builds PySyncObj's replicated call by hand (one copy of a
    big payload): pickle reads it back as the pickle PySyncObj would make, and a node that
    did not encode it (a follower) decodes and applies it."""
    node = make_follower(RaftNode, tmp_path, leader)
    try:
        value = bytes(range(256)) * (size // 256) + b"v" * (size % 256)
        payload = encode_entry(1_000, 7, [(COMMAND, 0, [b"SET", b"k", value])])
        command = node._encode_command(payload)
        apply_id = node._methodToID[node._getFuncName("apply_entry")]
        assert command[:1] == REGULAR_COMMAND
        assert pickle.loads(command[1:]) == pickle.loads(
            pickle.dumps((apply_id, (payload,)), protocol=5)) == (apply_id, (payload,))
        assert node._SyncObj__doApplyCommand(command) == [OK]
        assert get_value(node._machine.store.keyspace(0, 1_000), b"k") == value
        # An entry PySyncObj pickled itself (as earlier versions wrote them) applies too.
        node._SyncObj__raftLastApplied += 1  # (PySyncObj's apply loop counts each entry)
        payload = encode_entry(1_000, 8, [(COMMAND, 0, [b"SET", b"k", b"old"])])
        assert node._SyncObj__doApplyCommand(REGULAR_COMMAND + pickle.dumps(
            (apply_id, (payload,)), protocol=5)) == [OK]
        assert get_value(node._machine.store.keyspace(0, 1_000), b"k") == b"old"
    finally:
        node._destroy()
