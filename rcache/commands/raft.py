"""Cluster administration, named as RedisRaft names it: RAFT.NODE ADD/REMOVE/PROMOTE/DEMOTE,
RAFT.TRANSFER-LEADER, RAFT.CLUSTER INFO; RAFT.READ-CONSISTENCY (per connection); and
RAFT.SCRIPT-USER, what a follower's proxy link wraps its users' scripts in. A member is added
as a learner (see rcache.cluster), which the leader promotes once it has caught up."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from ..entries import MEMBER
from ..errors import CommandError
from ..interfaces import PeerUnreachable, Replication
from ..resp import OK, SimpleString
from ..storage import LEARNER, LEARNER_KEPT
from .table import Context, command, container

_G = "cluster"
_LEVELS = (b"default", b"linearizable", b"stale")

container("raft.node", -2, "admin", group=_G,
          summary="Add, promote, demote or remove cluster members")


def _leader_only(ctx: Context) -> None:
    if not ctx.server.replicator.is_leader:
        raise ctx.server.cluster.redirect(tls=ctx.client.tls)


def _member_list(ctx: Context) -> list[list[bytes]]:
    """[id, Raft address, client address, b"voter" or b"learner"] per member."""
    learners = ctx.server.cluster.learner_ids()
    return [[node.encode(), raft.encode(), client.encode(),
             b"learner" if node in learners else b"voter"]
            for node, (raft, client) in sorted(ctx.server.cluster.members().items())]


def _address(text: str, what: str) -> str:
    host, colon, port = text.rpartition(":")
    if not colon or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise CommandError(f"ERR invalid {what} address '{text}': expected host:port, "
                           "port between 1 and 65535")
    return text


def _reachable_voters(replicator: Replication) -> tuple[int, list[str]]:
    """-> (voters counting this node, the Raft addresses of those it is connected to)."""
    return 1 + len(replicator.voters()), replicator.reachable_voters()


def _require_majority(reachable: int, voters: int, change: str) -> None:
    if reachable <= voters // 2:
        raise CommandError(f"ERR {change} would leave {reachable} of {voters} voting members "
                           "reachable from the leader, not a majority: the cluster could not "
                           "commit anything, not even the change that undoes it")


async def _check_new_member(replicator: Replication, node_id: str, raft: str) -> None:
    """Before a node receives the log: it must answer on its Raft port as an rcache node that
    shares our cluster secret. (No majority to check: a learner counts in none.)"""
    try:
        answered = await replicator.probe(raft)
    except PeerUnreachable as err:
        raise CommandError(f"ERR cannot add {node_id}: {err}") from None
    if answered != raft:
        raise CommandError(f"ERR cannot add {node_id}: {raft} answers as Raft node {answered}")


async def _proposed(replicator: Replication, item: tuple) -> None:
    result = await replicator.propose(item)
    if isinstance(result, CommandError):
        raise result


@command("add", -5, "admin noscript node", group=_G, container="raft.node",
         summary="Add a node as a learner, promoted to voter once caught up (with LEARNER: "
         "only by RAFT.NODE PROMOTE): RAFT.NODE ADD <id> <raft host:port> "
         "<client host:port> [LEARNER]")
def node_add(ctx: Context, argv: list[bytes]):
    _leader_only(ctx)
    if len(argv) > 6 or len(argv) == 6 and argv[5].lower() != b"learner":
        raise CommandError("ERR syntax error")
    role = LEARNER_KEPT if len(argv) == 6 else LEARNER
    node_id = argv[2].decode(errors="replace")
    if not node_id:
        raise CommandError("ERR node id must not be empty")
    raft = _address(argv[3].decode(errors="replace"), "raft")
    client = _address(argv[4].decode(errors="replace"), "client")
    members = ctx.server.cluster.members()
    for other, (other_raft, _) in members.items():
        if other != node_id and raft == other_raft:
            raise CommandError(f"ERR raft address {raft} is already used by node {other}")
    if node_id in members and members[node_id] != (raft, client):
        raise CommandError(f"ERR node {node_id} is already a member with other addresses")
    replicator = ctx.server.replicator
    cluster = ctx.server.cluster

    async def add() -> list:
        if node_id not in members:  # else added already (a joining node's retry)
            await _check_new_member(replicator, node_id, raft)
            async with cluster.membership_lock:
                await _proposed(replicator, (MEMBER, node_id, raft, client, role))
        return _member_list(ctx)

    return ctx.client.run_async(add())


def _change_role(ctx: Context, argv: list[bytes],
                 change: Callable[[Any, str], Awaitable[None]]):
    """RAFT.NODE PROMOTE / DEMOTE: one member record through the log, one change at a time."""
    _leader_only(ctx)
    cluster = ctx.server.cluster
    node_id = argv[2].decode(errors="replace")

    async def changed() -> SimpleString:
        async with cluster.membership_lock:
            await change(cluster, node_id)
        return OK

    return ctx.client.run_async(changed())


@command("promote", 3, "admin noscript node", group=_G, container="raft.node",
         summary="Make a caught-up learner a voter: RAFT.NODE PROMOTE <id>")
def node_promote(ctx: Context, argv: list[bytes]):
    return _change_role(ctx, argv, lambda cluster, node_id: cluster.promote(node_id))


@command("demote", 3, "admin noscript node", group=_G, container="raft.node",
         summary="Make a voter (not the leader) a learner: RAFT.NODE DEMOTE <id>")
def node_demote(ctx: Context, argv: list[bytes]):
    return _change_role(ctx, argv, lambda cluster, node_id: cluster.demote(node_id))


@command("remove", 3, "admin noscript node", group=_G, container="raft.node",
         summary="Remove a node: RAFT.NODE REMOVE <id>")
def node_remove(ctx: Context, argv: list[bytes]):
    _leader_only(ctx)
    node_id = argv[2].decode(errors="replace")
    cluster = ctx.server.cluster
    members = cluster.members()
    if node_id not in members:
        raise CommandError(f"ERR node {node_id} is not a member")
    replicator = ctx.server.replicator
    if node_id == cluster.node_id:
        return ctx.client.run_async(_remove_leader(ctx))
    raft = members[node_id][0]
    voting = raft in replicator.voters()
    if voting:
        voters, reachable = _reachable_voters(replicator)
        _require_majority(1 + len([a for a in reachable if a != raft]), voters - 1,
                          f"removing {node_id}")

    async def remove() -> SimpleString:
        async with cluster.membership_lock:
            # The node learns of its removal from this entry, while it still receives the
            # log: give it a moment to hear that the entry is committed before cutting it
            # off. (A learner's link ends where the entry is applied: it asks the others.)
            await _proposed(replicator, (MEMBER, node_id, None, None))
            if not voting:
                return OK
            await replicator.wait_applied_by(raft, replicator.commit_index, timeout=3)
            try:
                await replicator.remove_voter(raft)
            except TimeoutError:
                raise CommandError(f"ERR removing {raft} did not commit within 10 s") from None
        return OK

    return ctx.client.run_async(remove())


async def _remove_leader(ctx: Context) -> object:
    """The leader cannot drop itself from the Raft configuration: it hands leadership over,
    then asks the new leader to remove it."""
    cluster = ctx.server.cluster
    new_leader = await _transfer(ctx, None)
    reply = await cluster.call_cluster(cluster.members()[new_leader][1], "RAFT.NODE", "REMOVE",
                                       cluster.node_id, timeout=15)
    return OK if reply == b"OK" else reply


async def _transfer(ctx: Context, target: str | None) -> str:
    """Hand leadership to target (a Raft address; None: the most caught-up follower) and
    wait until another node leads. -> its id."""
    cluster = ctx.server.cluster
    for attempt in range(100):
        if attempt % 5 == 0 and ctx.server.replicator.is_leader:
            # PySyncObj hands over only to a follower holding the whole log: under writes
            # that may take a few tries.
            ctx.server.replicator.transfer_leadership(target)
        await asyncio.sleep(0.05)
        leader = cluster.leader_id()
        if leader is not None and leader != cluster.node_id:
            return leader
    raise CommandError("ERR leadership was not transferred (is a follower caught up?)")


@command("raft.transfer-leader", -1, "admin noscript node", group=_G,
         summary="Hand leadership to another node (the most up-to-date one by default)")
def transfer_leader(ctx: Context, argv: list[bytes]):
    _leader_only(ctx)
    if len(argv) > 2:
        raise CommandError("ERR syntax error")
    cluster = ctx.server.cluster
    target = None
    if len(argv) == 2:
        node_id = argv[1].decode(errors="replace")
        if node_id not in cluster.members() or node_id == cluster.node_id:
            raise CommandError(f"ERR {node_id} is not another member of this cluster")
        if node_id in cluster.learner_ids():
            raise CommandError(f"ERR {node_id} is a learner: it cannot lead until promoted")
        target = cluster.members()[node_id][0]

    async def transfer() -> SimpleString:
        await _transfer(ctx, target)
        return OK

    return ctx.client.run_async(transfer())


container("raft.cluster", -2, "admin", group=_G, summary="Cluster membership information")


@command("init", 2, "admin node", group=_G, container="raft.cluster",
         summary="Start a new cluster with this node (every node starts as one)")
def cluster_init(ctx: Context, argv: list[bytes]):
    cluster = ctx.server.cluster
    if set(cluster.members()) != {cluster.node_id}:
        raise CommandError("ERR Already cluster member")
    return SimpleString(f"OK {cluster.node_id}")


@command("join", -3, "admin node", group=_G, container="raft.cluster",
         summary="Make this empty one-node cluster a member of the cluster at host:port, as a "
         "learner until caught up (with LEARNER: until RAFT.NODE PROMOTE)")
def cluster_join(ctx: Context, argv: list[bytes]):
    if len(argv) > 4 or len(argv) == 4 and argv[3].lower() != b"learner":
        raise CommandError("ERR syntax error")
    seed = _address(argv[2].decode(errors="replace"), "member's client")
    return ctx.client.run_async(ctx.server.cluster.join_now(seed, learner=len(argv) == 4))


@command("info", 2, "admin node", group=_G, container="raft.cluster",
         summary="Members of the cluster: id, raft address, client address, voter or learner")
def cluster_members(ctx: Context, argv: list[bytes]):
    return _member_list(ctx)


@command("raft.script-user", -3, "admin noscript node multi_control", group=_G,
         summary="Run a script (or EXEC) whose commands need the given user's permissions: "
         "a follower forwards its users' scripts so")
def script_user(ctx: Context, argv: list[bytes]):
    return ctx.client.run_as_script_user(argv[1], argv[2:])


@command("raft.read-consistency", -1, "fast node", group=_G,
         summary="Get or set this connection's read consistency: default, linearizable, stale")
def read_consistency(ctx: Context, argv: list[bytes]):
    client = ctx.client
    if len(argv) == 1:
        return (client.read_consistency or ctx.server.config.read_consistency).encode()
    if len(argv) > 2 or argv[1].lower() not in _LEVELS:
        raise CommandError("ERR read consistency must be one of: default, linearizable, stale")
    client.read_consistency = argv[1].lower().decode()
    return OK
