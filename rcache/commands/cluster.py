"""Redis Cluster's view of an rcache cluster: one shard owning every slot, the Raft leader as
its master and the followers as replicas (learners too: CLUSTER NODES flags them `nofailover`,
as Redis flags a replica that never takes over). Also READONLY/READWRITE and ROLE."""

from __future__ import annotations

import functools
import hashlib

from .. import errors
from ..errors import CommandError
from ..resp import OK
from ..slots import SLOTS, key_slot
from .table import Context, Handler, command, container, help_reply

_G = "cluster"


def hex_id(node_id: str) -> str:
    """Redis Cluster node names are 40 hex characters; derive one from the rcache node id."""
    return hashlib.sha1(node_id.encode()).hexdigest()


def _topology(ctx: Context) -> tuple[str | None, list[tuple[str, str, str]]]:
    """-> (leader id, [(node id, host, port)] with the leader first), the ports this client
    reaches (TLS ones for a TLS client)."""
    cluster = ctx.server.cluster
    leader = cluster.leader_id()
    nodes = []
    for node, (_, client) in sorted(cluster.members().items(), key=lambda m: m[0] != leader):
        host, port = cluster.client_address(client, ctx.client.tls).rsplit(":", 1)
        nodes.append((node, host, port))
    return leader, nodes


def _cluster_mode(handler: Handler) -> Handler:
    """Redis refuses CLUSTER's subcommands, READONLY and READWRITE without cluster-enabled;
    so does a node started with cluster-enabled no (a master and replicas for Sentinel)."""
    @functools.wraps(handler)
    def checked(ctx: Context, argv: list[bytes]):
        if not ctx.server.config.cluster_enabled:
            raise CommandError(errors.CLUSTER_DISABLED)
        return handler(ctx, argv)
    return checked


container("cluster", -2, "", group=_G, since="3.0.0", summary="A container for cluster commands")


@command("slots", 2, "stale node", group=_G, container="cluster", since="3.0.0",
         summary="Get array of cluster slots to node mappings")
@_cluster_mode
def cluster_slots(ctx: Context, argv: list[bytes]):
    leader, nodes = _topology(ctx)
    if leader is None:
        return []
    return [[0, SLOTS - 1] + [[host.encode(), int(port), hex_id(node).encode(), {}]
                              for node, host, port in nodes]]


@command("shards", 2, "stale node", group=_G, container="cluster", since="7.0.0",
         summary="Get array of cluster slots to node mappings")
@_cluster_mode
def cluster_shards(ctx: Context, argv: list[bytes]):
    leader, nodes = _topology(ctx)
    offset = ctx.server.machine.applied_index
    return [{
        b"slots": [0, SLOTS - 1] if leader else [],
        b"nodes": [{b"id": hex_id(node).encode(), b"port": int(port), b"ip": host.encode(),
                    b"endpoint": host.encode(),
                    b"role": b"master" if node == leader else b"replica",
                    b"replication-offset": offset, b"health": b"online"}
                   for node, host, port in nodes],
    }]


def _node_lines(ctx: Context) -> tuple[str | None, dict[str, str]]:
    """-> (leader id, {Redis Cluster node name: its CLUSTER NODES line}), the leader first."""
    leader, nodes = _topology(ctx)
    me = ctx.server.cluster.node_id
    learners = ctx.server.cluster.learner_ids()
    lines = {}
    for node, host, port in nodes:
        flags = ("myself," if node == me else "") + ("master" if node == leader else "slave")
        if node in learners:
            flags += ",nofailover"
        master = "-" if node == leader or leader is None else hex_id(leader)
        slots = f" 0-{SLOTS - 1}" if node == leader else ""
        lines[hex_id(node)] = (f"{hex_id(node)} {host}:{port}@{int(port) + 10000} {flags} "
                               f"{master} 0 0 1 connected{slots}")
    return leader, lines


@command("nodes", 2, "stale node", group=_G, container="cluster", since="3.0.0",
         summary="Get cluster config for the node")
@_cluster_mode
def cluster_nodes(ctx: Context, argv: list[bytes]):
    return ("\n".join(_node_lines(ctx)[1].values()) + "\n").encode()


@command("replicas", 3, "admin stale node", group=_G, container="cluster", since="5.0.0",
         summary="List replica nodes of the specified master node")
@command("slaves", 3, "admin stale node", group=_G, container="cluster", since="3.0.0",
         summary="List replica nodes of the specified master node")
@_cluster_mode
def cluster_replicas(ctx: Context, argv: list[bytes]):
    leader, lines = _node_lines(ctx)
    name = argv[2].decode(errors="replace")
    if name not in lines:
        raise CommandError(f"ERR Unknown node {name}")
    if leader is None or name != hex_id(leader):
        raise CommandError("ERR The specified node is not a master")
    return [line.encode() for node, line in lines.items() if node != name]


@command("info", 2, "stale node", group=_G, container="cluster", since="3.0.0",
         summary="Provides info about Redis Cluster node state")
@_cluster_mode
def cluster_info(ctx: Context, argv: list[bytes]):
    leader, nodes = _topology(ctx)
    term = ctx.server.replicator.term
    ok = leader is not None
    fields = {
        "cluster_state": "ok" if ok else "fail",
        "cluster_slots_assigned": SLOTS if ok else 0, "cluster_slots_ok": SLOTS if ok else 0,
        "cluster_slots_pfail": 0, "cluster_slots_fail": 0,
        "cluster_known_nodes": len(nodes), "cluster_size": 1,
        "cluster_current_epoch": term, "cluster_my_epoch": term,
    }
    return "".join(f"{k}:{v}\r\n" for k, v in fields.items()).encode()


@command("myid", 2, "stale node", group=_G, container="cluster", since="3.0.0",
         summary="Return the node id")
@_cluster_mode
def cluster_myid(ctx: Context, argv: list[bytes]):
    return hex_id(ctx.server.cluster.node_id).encode()


@command("keyslot", 3, "stale node", group=_G, container="cluster", since="3.0.0",
         summary="Returns the hash slot of the specified key")
@_cluster_mode
def cluster_keyslot(ctx: Context, argv: list[bytes]):
    return key_slot(argv[2])


@command("failover", -2, "admin stale no_async_loading node", group=_G, container="cluster",
         since="3.0.0", summary="Forces a replica to perform a manual failover of its master")
@_cluster_mode
def cluster_failover(ctx: Context, argv: list[bytes]):
    """Run on a follower: the leader hands leadership to it (RAFT.TRANSFER-LEADER), and the
    reply comes once it leads, where Redis replies at once and fails over meanwhile. FORCE
    and TAKEOVER are accepted as Redis accepts them; a Raft leader is elected either way."""
    if len(argv) > 3:
        raise CommandError(errors.subcommand_syntax(argv[1], "cluster"))
    if len(argv) == 3 and argv[2].lower() not in (b"force", b"takeover"):
        raise CommandError(errors.SYNTAX)
    server = ctx.server
    cluster = server.cluster
    leader = cluster.leader_id()
    if server.replicator.is_leader:
        raise CommandError("ERR You should send CLUSTER FAILOVER to a replica")
    if leader is None:
        raise CommandError("ERR I'm a replica but my master is unknown to me")
    if cluster.node_id in cluster.learner_ids():
        raise CommandError("ERR this node is a learner: it cannot lead until promoted "
                           "(RAFT.NODE PROMOTE)")

    async def take_over() -> object:
        reply = await cluster.call_cluster(cluster.members()[leader][1],
                                           "RAFT.TRANSFER-LEADER", cluster.node_id, timeout=15,
                                           refusal_final=True)
        return OK if reply == b"OK" else reply

    return ctx.client.run_async(take_over())


@command("help", 2, "loading stale node", group=_G, container="cluster", since="5.0.0",
         summary="Show helpful text about the different subcommands")
@_cluster_mode
def cluster_help(ctx: Context, argv: list[bytes]):
    return help_reply("CLUSTER", (
        "FAILOVER [FORCE|TAKEOVER]", "    Promote current replica node to being a master.",
        "INFO", "    Return information about the cluster.",
        "KEYSLOT <key>", "    Return the hash slot for <key>.",
        "MYID", "    Return the node id.",
        "NODES", "    Return cluster configuration seen by node.",
        "REPLICAS <node-id>", "    Return <node-id> replicas.",
        "SHARDS", "    Return information about slot range mappings and the nodes.",
        "SLOTS", "    Return information about slots range mappings."))


@command("readonly", 1, "loading stale fast node", group=_G, since="3.0.0",
         summary="Enables read queries for a connection to a cluster replica node")
@_cluster_mode
def readonly(ctx: Context, argv: list[bytes]):
    ctx.client.readonly = True
    return OK


@command("readwrite", 1, "loading stale fast node", group=_G, since="3.0.0",
         summary="Disables read queries for a connection to a cluster replica node")
@_cluster_mode
def readwrite(ctx: Context, argv: list[bytes]):
    ctx.client.readonly = False
    return OK


@command("asking", 1, "fast node", group=_G, since="3.0.0",
         summary="Sent by cluster clients after an -ASK redirect")
@_cluster_mode
def asking(ctx: Context, argv: list[bytes]):
    """Every slot lives on one shard here, so no -ASK is ever sent; a client may still send
    ASKING, and gets Redis's OK."""
    return OK


@command("replicaof", 3, "admin noscript stale no_async_loading node", group="server",
         since="5.0.0", summary="Make the server a replica of another instance, or promote "
         "it as master")
@command("slaveof", 3, "admin noscript stale no_async_loading node", group="server",
         since="1.0.0", summary="Make the server a replica of another instance, or promote "
         "it as master")
def replicaof(ctx: Context, argv: list[bytes]):
    """Replicas follow the Raft leader, chosen by election: Redis's own refusal in cluster
    mode; with cluster-enabled no (a master and replicas for Sentinel) NO ONE is accepted
    where it already holds (the leader is the master), the rest is refused."""
    if ctx.server.config.cluster_enabled:
        raise CommandError("ERR REPLICAOF not allowed in cluster mode.")
    if [arg.lower() for arg in argv[1:]] == [b"no", b"one"] and ctx.server.replicator.is_leader:
        return OK
    raise CommandError(errors.REPLICATION_BY_RAFT)


@command("failover", -1, "admin noscript stale node", group="server", since="6.2.0",
         summary="Start a coordinated failover between this server and one of its replicas")
def failover(ctx: Context, argv: list[bytes]):
    if ctx.server.config.cluster_enabled:
        raise CommandError("ERR FAILOVER not allowed in cluster mode. Use CLUSTER FAILOVER "
                           "command instead.")
    raise CommandError(errors.REPLICATION_BY_RAFT)


@command("role", 1, "noscript loading stale fast node", group="server", since="2.8.12",
         summary="Return the role of the instance in the context of replication")
def role(ctx: Context, argv: list[bytes]):
    server = ctx.server
    offset = server.machine.applied_index
    leader, nodes = _topology(ctx)
    if server.replicator.is_leader:
        return [b"master", offset, [[host.encode(), port.encode(), str(offset).encode()]
                                    for node, host, port in nodes if node != leader]]
    leader_client = server.cluster.leader_client_address(ctx.client.tls)
    if leader_client is None:
        return [b"slave", b"", -1, b"connect", -1]
    host, port = leader_client.rsplit(":", 1)
    return [b"slave", host.encode(), int(port), b"connected", offset]

