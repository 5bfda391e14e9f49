"""The narrow interfaces between a node's parts, as Protocols (a leaf: it imports no runtime).

* ``Replication``: what the node asks of Raft (implemented by ``raft.Replicator``; PySyncObj
  is reached through it alone).
* ``Routing``: who is a member, who leads, where a client must go (``cluster.Cluster``).
* ``Node`` and ``Connection``: what the node's services (blocking pops, WATCH, pub/sub,
  eviction, the HTTP port) use of the server and of one client connection, so that they
  depend on these shapes and not on ``rcache.server``.
* ``CommandStats``: the node's INFO stats, which the commands a script calls count in (the
  state machine applies scripts without knowing the server).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .config import Config
from .errors import CommandError
from .pending import Pending
from .storage import KeyspaceStats, Store


@dataclass(frozen=True, slots=True)
class RaftStatus:
    """This node's view of the Raft log (INFO raft, CLUSTER INFO, the HTTP state)."""

    term: int
    commit_index: int
    applied_index: int
    leader_commit_index: int | None  # the leader's, as last heard (None: not heard yet)
    log_entries: int
    last_log_index: int
    has_quorum: bool
    lease_remaining_ms: int  # the leader's lease; 0 elsewhere
    links_tls: bool  # the Raft links run over TLS (tls-cluster)
    links_secret: bool  # and/or are authenticated by the cluster secret
    read_rounds: int = 0  # ReadIndex rounds this node started as leader (reads share them)
    match_index: dict[str, int] = field(default_factory=dict)  # leader: Raft address -> index
    # leader: Raft address -> seconds since that member last answered an AppendEntries
    answered_ago_s: dict[str, float] = field(default_factory=dict)
    # follower: seconds since a leader's AppendEntries last reached it (None: none yet)
    leader_heard_ago_s: float | None = None


class PeerUnreachable(Exception):
    """A would-be member's Raft port did not answer as an rcache node of this cluster."""


class CommandStats(Protocol):
    """The node's INFO stats that the commands a script calls count in, wherever it runs
    (``server.Stats``)."""

    commands_processed: int

    def count_error(self, error: CommandError) -> None: ...


class ReplyHold(Protocol):
    """What a write's reply may have to wait for once applied (blocking.Chain: the clients
    it woke, served first as Redis serves them)."""

    def hold(self, pending: Pending) -> Pending:
        """The Pending the log resolves in place of ``pending``."""


class Replication(Protocol):
    # rcache's own parts of the Raft node (no PySyncObj object behind them):
    journal: Any  # durability.DurableJournal: INFO persistence, /metrics
    snapshots: Any  # durability.Snapshots: SAVE, BGSAVE, LASTSAVE
    faults: Any  # faults.TickFaults: the write path's injected I/O errors
    traffic: Any  # transport.RaftTraffic: INFO's replication bytes and resyncs, /metrics
    on_deposed: Callable[[], None]  # run on the loop when this node stops leading
    # The leader this node last knew (Raft address), since when, and when it last knew one
    # (monotonic): SENTINEL's view of its master.
    last_leader: str | None
    leader_since: float
    leader_seen_at: float

    def snapshot_now(self) -> Any:
        """A future that resolves once a snapshot is written (SAVE, BGSAVE)."""

    @property
    def is_leader(self) -> bool: ...

    @property
    def leader_caught_up(self) -> bool:
        """Leads, and has applied every entry committed before its term."""

    @property
    def leaderless(self) -> tuple[int, int]:
        """(Unix ms, ms): when the cluster went without a leader before this term, how long."""

    @property
    def leader_address(self) -> str | None:
        """The Raft address of the leader this node knows of."""

    @property
    def term(self) -> int: ...

    def status(self) -> RaftStatus: ...

    def lease_holds(self) -> bool:
        """A leader whose lease holds may answer reads without a ReadIndex round."""

    def voters(self) -> list[str]:
        """The Raft addresses of the other voting members."""

    def reachable_voters(self) -> list[str]:
        """Those of them this node is connected to."""

    @property
    def is_voter(self) -> bool:
        """This node votes and may lead (not a learner, nor a node still joining)."""

    def learners(self) -> list[str]:
        """The Raft addresses of the other members that receive the log but do not vote."""

    def reachable_peers(self) -> list[str]:
        """The other members, voters or learners, this node has a Raft link to."""

    def caught_up(self, raft_address: str, max_lag: int) -> bool:
        """Leader: that learner is linked, answered lately and holds the log up to max_lag
        entries short of the commit index."""

    def disconnected_since(self, raft_address: str) -> float | None:
        """When (monotonic) this node lost its link to that member, if it is down now."""

    def followers_at(self, index: int) -> int:
        """Followers holding the log up to index (WAIT)."""

    def submit(self, item: tuple, on_done: Callable[[Pending], None] | None = None,
               prepared: Any = None, shown: Any = None) -> Pending:
        """``prepared``: the item's commands as the caller found them (statemachine.Prepared);
        ``shown``: its MONITOR line, shown once applied (monitor.Submitted)."""

    def after_submitted(self, callback: Callable[[], None]) -> bool: ...

    def propose(self, item: tuple) -> Awaitable[object]: ...

    def read_barrier(self, on_done: Callable[[Pending], None]) -> Pending: ...

    def remove_voter(self, raft_address: str) -> Awaitable[None]: ...

    def wait_applied_by(self, raft_address: str, index: int, timeout: float
                        ) -> Awaitable[bool]: ...

    def transfer_leadership(self, raft_address: str | None) -> None: ...

    def probe(self, raft_address: str) -> Awaitable[str]:
        """The Raft address a peer answers as; raises PeerUnreachable."""


class Routing(Protocol):
    node_id: str

    def members(self) -> dict[str, tuple[str, str]]:
        """node id -> (Raft address, client address), as the log recorded them."""

    def learner_ids(self) -> set[str]:
        """The members that are learners, as the log recorded them."""

    def leader_id(self) -> str | None: ...

    def leader_client_address(self, tls: bool = False) -> str | None: ...

    def client_address(self, recorded: str, tls: bool) -> str:
        """A member's client address as a client of this port (plain or TLS) reaches it."""

    def redirect(self, cmd: Any = None, argv: list[bytes] | None = None,
                 tls: bool = False) -> CommandError:
        """-MOVED to the leader (or CLUSTERDOWN without one); -READONLY with cluster-enabled
        no, as a Redis replica."""

    # Where a command runs (None: here; PROXY: forwarded to the leader; an error: go there).
    def route_write(self, client: Connection, cmd: Any, argv: list[bytes]) -> Any: ...

    def route_read(self, client: Connection, cmd: Any, argv: list[bytes]) -> Any: ...

    def read_needs_barrier(self, client: Connection) -> bool: ...

    def acts_as_replica(self) -> bool:
        """A follower with cluster-enabled no, not forwarding: runs what a Redis replica
        runs itself (reads, PUBLISH, scripts without flags, WATCH)."""

    def forward(self, client: Connection, commands: list[tuple[int, list[bytes]]],
                transaction: bool = False) -> Pending | CommandError: ...

    # Membership changes made through the cluster's leader.
    def call_cluster(self, seed: str, *command: str, timeout: float = 60) -> Awaitable[Any]: ...

    def join_now(self, seed: str, learner: bool = False) -> Awaitable[Any]: ...

    def promote(self, node_id: str) -> Awaitable[None]:
        """Leader: make a caught-up learner a voter (RAFT.NODE PROMOTE)."""

    membership_lock: Any  # asyncio.Lock: one membership change at a time, on the leader


class Connection(Protocol):
    id: int
    db: int
    tls: bool
    resp3: bool
    readonly: bool  # READONLY: stale reads allowed on a follower
    read_consistency: str | None
    closed: bool
    watched: dict[tuple[int, bytes], bool]
    watch_dirty: bool
    watch_term: int
    channels: dict[bytes, None]
    patterns: dict[bytes, None]
    shard_channels: dict[bytes, None]
    multi: Any  # the MULTI queue, None outside MULTI
    tracking: Any  # tracking.ClientTracking, None while CLIENT TRACKING is off
    subscriptions: int
    awaiting_replies: bool  # replies still to come (a write awaiting its entry...)

    def push(self, message: Any) -> None: ...

    def push_after_replies(self, message: Any) -> None:
        """Out of band, but behind the replies still to come (invalidation messages)."""

    def close_over_output_limit(self, what: str) -> None:
        """Close it, as its output would pass its class's limit (``what``: the output)."""

    def context(self) -> Any:
        """A handler's Context on this connection's database (commands.table.Context)."""


class Node(Protocol):
    config: Config
    store: Store
    replicator: Replication
    cluster: Routing
    machine: Any  # statemachine.StateMachine
    clients: Any
    stats: Any
    keyspace_stats: KeyspaceStats  # the reads this node serves on its event loop
    blocking: Any

    def submitted(self, item: tuple, prepared: Any) -> None:
        """Told of every item the node submits (blocking pops, WATCH)."""

    def shutdown(self) -> None: ...
