"""One node's Raft state as /health, /metrics and /v1/cluster report it, read at request time
from the same sources as ``INFO raft``, so nothing is counted on the command path."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..interfaces import Node


@dataclass
class RaftState:
    id: str
    role: str  # leader, follower, candidate (no leader known)
    term: int
    leader: str | None
    commit_index: int
    applied_index: int
    log_entries: int

    @property
    def healthy(self) -> bool:
        """Has a leader, and has applied everything it knows to be committed."""
        return self.leader is not None and self.applied_index >= self.commit_index

    def as_json(self) -> dict:
        return {**asdict(self), "healthy": self.healthy}


def local_state(server: Node) -> RaftState:
    cluster = server.cluster
    status = server.replicator.status()
    leader = cluster.leader_id()
    role = "leader" if server.replicator.is_leader else "follower" if leader else "candidate"
    return RaftState(id=cluster.node_id, role=role, term=status.term, leader=leader,
                     commit_index=status.commit_index, applied_index=status.applied_index,
                     log_entries=status.log_entries)


def state_from_info(node_id: str, info: dict) -> RaftState:
    """The same state, from a member's ``INFO raft`` reply (parsed by redis-py)."""
    role = info["raft_role"]
    return RaftState(id=node_id, role=role, term=int(info["raft_term"]),
                     leader=str(info["raft_leader_id"]) or None,
                     commit_index=int(info["raft_commit_index"]),
                     applied_index=int(info["raft_applied_index"]),
                     log_entries=int(info["raft_log_entries"]))


def follower_lag(server: Node) -> dict[str, int]:
    """On the leader: how many log entries each follower lacks (last log index minus the
    follower's match index), by node id."""
    replicator = server.replicator
    if not replicator.is_leader:
        return {}
    status = replicator.status()
    lag = {}
    for node_id, (raft, _) in server.cluster.members().items():
        matched = status.match_index.get(raft)
        if matched is not None:
            lag[node_id] = max(0, status.last_log_index - matched)
    return lag
