"""Redis Sentinel's discovery commands, answered by every node for its own cluster: the Raft
leader is the master (named by ``sentinel-master-name``), the followers are its replicas (a
learner with ``slave-priority`` 0, Sentinel's mark of a replica never promoted), the other
members are the other sentinels. Sentinel clients (redis-py's ``Sentinel``, kombu's
``sentinel://``, ioredis ``sentinels``) given rcache nodes as their sentinels so find the
leader, with no Sentinel process. Replies as redis-sentinel 7.0's (src/sentinel.c): each
instance a map of bulk strings, numbers included."""

from __future__ import annotations

import time
from dataclasses import dataclass

from .. import errors
from ..errors import CommandError
from ..resp import NULL_ARRAY, SimpleString
from .cluster import hex_id
from .table import Context, command, container, help_reply

_G = "sentinel"
_FLAGS = "admin loading stale node"
# Sentinel's defaults for what rcache has no counterpart of
_PARALLEL_SYNCS = 1
_REPLICA_PRIORITY = 100


@dataclass
class _Member:
    node: str
    raft: str
    host: str
    port: int
    linked: bool  # this node, or one it has a Raft link to
    down_ms: int | None  # None: up; else for how long (ms) it has been down
    learner: bool  # receives the log, does not vote: never the master

    @property
    def runid(self) -> bytes:
        return hex_id(self.node).encode()


class _View:
    """One node's view of its cluster as a Sentinel's of its master group."""

    def __init__(self, ctx: Context) -> None:
        server = ctx.server
        cluster, replicator = server.cluster, server.replicator
        self.config = server.config
        self.me = cluster.node_id
        self.term = replicator.term
        now = time.monotonic()
        reachable = set(replicator.reachable_peers())
        learners = cluster.learner_ids()
        self.members: list[_Member] = []
        for node, (raft, recorded) in sorted(cluster.members().items()):
            host, port = cluster.client_address(recorded, ctx.client.tls).rsplit(":", 1)
            linked, down = node == self.me or raft in reachable, None
            if not linked:
                since = replicator.disconnected_since(raft)
                down = int((now - since) * 1000) if since is not None else 0
            self.members.append(_Member(node, raft, host, int(port), linked, down,
                                        node in learners))
        leader = cluster.leader_id()
        # No leader: the last one known stays the master, down (as Sentinel keeps a master
        # that fails until a failover promotes another); none known yet: this node.
        by_node, by_raft = {m.node: m for m in self.members}, {m.raft: m for m in self.members}
        master = by_node.get(leader) or by_raft.get(replicator.last_leader) or by_node.get(self.me)
        if master is None:  # not a member (yet): no master group to describe
            raise CommandError(errors.CLUSTERDOWN)
        self.master = master
        if leader is None and master.down_ms is None:
            master.down_ms = int((now - replicator.leader_seen_at) * 1000)
        self.role_age_ms = int((now - replicator.leader_since) * 1000)
        self.replicas = [m for m in self.members if m is not self.master]
        self.others = [m for m in self.members if m.node != self.me]
        self.applied = server.machine.applied_index
        self.match_index = replicator.status().match_index if replicator.is_leader else {}

    @property
    def quorum(self) -> int:
        return sum(not m.learner for m in self.members) // 2 + 1

    def _common(self, name: bytes, member: _Member, role: str) -> dict:
        down = member.down_ms is not None
        flags = (["s_down"] if down else []) + (["o_down"] if down and role == "master" else [])
        flags.append(role)
        if not member.linked:
            flags.append("disconnected")
        ping_age = b"%d" % (member.down_ms or 0)
        fields = {b"name": name, b"ip": member.host.encode(), b"port": b"%d" % member.port,
                  b"runid": member.runid, b"flags": ",".join(flags).encode(),
                  b"link-pending-commands": b"0", b"link-refcount": b"1",
                  b"last-ping-sent": ping_age, b"last-ok-ping-reply": ping_age,
                  b"last-ping-reply": ping_age}
        if member.down_ms is not None:
            fields[b"s-down-time"] = b"%d" % member.down_ms
            if role == "master":
                fields[b"o-down-time"] = b"%d" % member.down_ms
        fields[b"down-after-milliseconds"] = b"%d" % self.config.raft_election_timeout
        if role != "sentinel":
            fields.update({b"info-refresh": b"0", b"role-reported": role.encode(),
                           b"role-reported-time": b"%d" % self.role_age_ms})
        return fields

    def master_reply(self) -> dict:
        fields = self._common(self.config.sentinel_master_name.encode(), self.master, "master")
        fields.update({
            b"config-epoch": b"%d" % self.term, b"num-slaves": b"%d" % len(self.replicas),
            b"num-other-sentinels": b"%d" % len(self.others), b"quorum": b"%d" % self.quorum,
            # a failover is an election: it gives up after twice the election timeout
            b"failover-timeout": b"%d" % (2 * self.config.raft_election_timeout),
            b"parallel-syncs": b"%d" % _PARALLEL_SYNCS})
        return fields

    def replica_reply(self, member: _Member) -> dict:
        master = self.master
        fields = self._common(f"{member.host}:{member.port}".encode(), member, "slave")
        offset = self.applied if member.node == self.me else self.match_index.get(member.raft, 0)
        fields.update({
            b"master-link-down-time": b"%d" % (master.down_ms or 0),
            b"master-link-status": b"err" if master.down_ms is not None else b"ok",
            b"master-host": master.host.encode(), b"master-port": b"%d" % master.port,
            b"slave-priority": b"%d" % (0 if member.learner else _REPLICA_PRIORITY),
            b"slave-repl-offset": b"%d" % offset,
            b"replica-announced": b"1"})
        return fields

    def sentinel_reply(self, member: _Member) -> dict:
        fields = self._common(member.runid, member, "sentinel")
        fields.update({b"last-hello-message": b"%d" % (member.down_ms or 0),
                       b"voted-leader": b"?", b"voted-leader-epoch": b"0"})
        return fields


def _view_of(ctx: Context, name: bytes) -> _View:
    """The view if ``name`` is this cluster's master name, else Sentinel's error."""
    if name.decode(errors="replace") != ctx.server.config.sentinel_master_name:
        raise CommandError(errors.NO_SUCH_MASTER)
    return _View(ctx)


container("sentinel", -2, "admin", group=_G, since="2.8.4",
          summary="A container for Sentinel commands")


@command("masters", 2, _FLAGS, group=_G, container="sentinel", since="2.8.4",
         summary="List the monitored masters")
def sentinel_masters(ctx: Context, argv: list[bytes]):
    return [_View(ctx).master_reply()]


@command("master", 3, _FLAGS, group=_G, container="sentinel", since="2.8.4",
         summary="Shows the state of a master")
def sentinel_master(ctx: Context, argv: list[bytes]):
    return _view_of(ctx, argv[2]).master_reply()


def _replicas(ctx: Context, argv: list[bytes]):
    view = _view_of(ctx, argv[2])
    return [view.replica_reply(member) for member in view.replicas]


command("replicas", 3, _FLAGS, group=_G, container="sentinel", since="5.0.0",
        summary="List the monitored replicas")(_replicas)
command("slaves", 3, _FLAGS, group=_G, container="sentinel", since="2.8.0",
        summary="List the monitored slaves")(_replicas)


@command("sentinels", 3, _FLAGS, group=_G, container="sentinel", since="2.8.4",
         summary="List the Sentinel instances")
def sentinel_sentinels(ctx: Context, argv: list[bytes]):
    view = _view_of(ctx, argv[2])
    return [view.sentinel_reply(member) for member in view.others]


@command("get-master-addr-by-name", 3, _FLAGS, group=_G, container="sentinel",
         since="2.8.4", summary="Get port and address of a master")
def sentinel_get_master_addr_by_name(ctx: Context, argv: list[bytes]):
    try:
        master = _view_of(ctx, argv[2]).master
    except CommandError:
        return NULL_ARRAY  # Sentinel answers an unknown name with a null, not an error
    return [master.host.encode(), b"%d" % master.port]


@command("myid", 2, _FLAGS, group=_G, container="sentinel", since="6.2.0",
         summary="Get the Sentinel instance ID")
def sentinel_myid(ctx: Context, argv: list[bytes]):
    return hex_id(ctx.server.cluster.node_id).encode()


@command("ckquorum", 3, _FLAGS, group=_G, container="sentinel", since="2.8.4",
         summary="Check for a Sentinel quorum")
def sentinel_ckquorum(ctx: Context, argv: list[bytes]):
    view = _view_of(ctx, argv[2])
    usable = 1 + sum(member.down_ms is None for member in view.others)  # 1: this node
    if usable >= view.quorum:  # Raft's quorum is the majority: it also authorizes
        return SimpleString(f"OK {usable} usable Sentinels. Quorum and failover authorization "
                            "can be reached")
    raise CommandError(f"NOQUORUM {usable} usable Sentinels. Not enough available Sentinels to "
                       "reach the specified quorum for this master. Not enough available "
                       "Sentinels to reach the majority and authorize a failover")


@command("help", 2, "loading stale node", group=_G, container="sentinel", since="6.2.0",
         summary="Show helpful text about the different subcommands")
def sentinel_help(ctx: Context, argv: list[bytes]):
    return help_reply("SENTINEL", (
        "CKQUORUM <master-name>",
        "    Check if the current Sentinel configuration is able to reach the quorum",
        "    needed to failover a master and the majority needed to authorize the",
        "    failover.",
        "GET-MASTER-ADDR-BY-NAME <master-name>",
        "    Return the ip and port number of the master with that name.",
        "MASTER <master-name>", "    Show the state and info of the specified master.",
        "MASTERS", "    Show a list of monitored masters and their state.",
        "MYID", "    Return the ID of the Sentinel instance.",
        "REPLICAS <master-name>",
        "    Show a list of replicas for this master and their state.",
        "SENTINELS <master-name>",
        "    Show a list of Sentinel instances for this master and their state."))
