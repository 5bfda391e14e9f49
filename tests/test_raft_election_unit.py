"""Elections between two real RaftNode objects whose messages this test carries by hand.

The case: a candidate whose campaign the other voter ignored (it still heard the old leader)
holds a newer term; the other voter holds a longer log. Each refuses the other's pre-vote,
one for its term and one for its log, so without the term travelling back in the refusal
no one would ever be elected (the CI run where a 2-node remnant found no leader for 30 s).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pysyncobj import SyncObjConf
from pysyncobj.node import TCPNode
from pysyncobj.syncobj import _RAFT_STATE

from rcache.raft import RaftNode
from rcache.statemachine import StateMachine
from rcache.storage import Store

from .conftest import free_port

NO_OP = b"\x01"  # PySyncObj's no-op entry type


class Voter:
    """A RaftNode of a 3-voter cluster whose outgoing messages are kept, not sent."""

    def __init__(self, tmp_path: Path, address: str, others: list[str]) -> None:
        conf = SyncObjConf(autoTick=False, dynamicMembershipChange=True)
        self.node = RaftNode(StateMachine(Store(str(tmp_path / address.replace(":", "_")))),
                             address, others, conf)
        self.node.voting = True  # as its member record (not written here) would say
        self.me = TCPNode(address)
        self.outbox: list[tuple[TCPNode, dict]] = []
        self.node._SyncObj__transport.send = lambda to, message: self.outbox.append((to, message))
        self.node._SyncObj__connectedToAnyone = lambda: True

    def receive(self, sender: Voter | TCPNode, message: dict) -> None:
        self.node._SyncObj__onMessageReceived(getattr(sender, "me", sender), message)

    def sent_to(self, other: Voter) -> list[dict]:
        """The messages for `other` since the last call (taken from the outbox)."""
        mine = [m for to, m in self.outbox if to == other.me]
        self.outbox = [(to, m) for to, m in self.outbox if to != other.me]
        return mine

    def pre_vote(self) -> None:
        """Its election timeout has passed and no leader was heard: it asks for a pre-vote."""
        self.node.leader_heard = float("-inf")
        self.node._SyncObj__raftElectionDeadline = 0
        self.node._maybe_pre_vote()

    @property
    def term(self) -> int:
        return self.node.raftCurrentTerm


@pytest.fixture
def voters(tmp_path: Path) -> Iterator[tuple[TCPNode, Voter, Voter]]:
    a, b, c = (f"127.0.0.1:{free_port()}" for _ in range(3))
    made = [Voter(tmp_path, b, [a, c]), Voter(tmp_path, c, [a, b])]
    yield TCPNode(a), made[0], made[1]
    for voter in made:
        voter.node._destroy()


def test_a_refused_pre_vote_carries_the_newer_term_so_an_election_can_succeed(voters) -> None:
    leader, behind, ahead = voters  # `ahead` will hold the longer log, `behind` the newer term
    heartbeat = {"type": "append_entries", "term": 1, "prevLogIdx": 1, "prevLogTerm": 0,
                 "commit_index": 1, "entries": []}
    behind.receive(leader, heartbeat)
    ahead.receive(leader, {**heartbeat, "entries": [(NO_OP, 2, 1)]})
    assert (behind.term, ahead.term) == (1, 1)

    # `behind` campaigns for term 2 while `ahead` still hears the leader: ignored.
    behind.node._SyncObj__setCurrentTerm(2, behind.node._SyncObj__selfNode.id)
    behind.node._SyncObj__setState(_RAFT_STATE.CANDIDATE)
    ahead.receive(behind, {"type": "request_vote", "term": 2, "last_log_index": 1,
                           "last_log_term": 0})
    assert ahead.term == 1

    # The leader is gone. `behind`'s pre-vote is refused for its shorter log...
    behind.pre_vote()
    for message in behind.sent_to(ahead):
        ahead.receive(behind, message)
    (answer,) = ahead.sent_to(behind)
    assert answer["granted"] is False and answer["term"] == 3

    # ...and `ahead`'s for its term, but the refusal tells it the term to beat.
    ahead.pre_vote()
    (asked,) = ahead.sent_to(behind)
    assert asked["term"] == 2
    behind.receive(ahead, asked)
    (refusal,) = behind.sent_to(ahead)
    assert refusal["granted"] is False and refusal["current_term"] == 2
    ahead.receive(behind, refusal)
    assert ahead.term == 2 and not ahead.node._isLeader()

    # Its next pre-vote asks for term 3, which `behind` grants: the election may run.
    ahead.pre_vote()
    (asked,) = ahead.sent_to(behind)
    assert asked["term"] == 3
    behind.receive(ahead, asked)
    (granted,) = behind.sent_to(ahead)
    assert granted["granted"] is True
    ahead.receive(behind, granted)
    assert ahead.node._prevote_won
