"""MULTI / EXEC / DISCARD: the queued commands become one atomic Raft entry at EXEC.
WATCH / UNWATCH: see rcache.watch."""

from __future__ import annotations

from .. import errors
from ..errors import CommandError
from ..resp import OK
from .table import Context, command, lookup

_G = "transactions"


@command("multi", 1, "noscript loading stale fast allow_busy node multi_control",
         group=_G, since="1.2.0",
         summary="Mark the start of a transaction block")
def multi(ctx: Context, argv: list[bytes]):
    if ctx.client.multi is not None:
        raise CommandError(errors.NESTED_MULTI)
    ctx.client.multi = []
    return OK


@command("exec", 1, "noscript loading stale skip_slowlog node multi_control",
         group=_G, since="1.2.0",
         summary="Execute all commands issued after MULTI")
def exec_(ctx: Context, argv: list[bytes]):
    if ctx.client.multi is None:
        raise CommandError(errors.EXEC_WITHOUT_MULTI)
    return ctx.client.exec_transaction(argv)


@command("discard", 1, "noscript loading stale fast allow_busy node multi_control",
         group=_G, since="2.0.0",
         summary="Discard all commands issued after MULTI")
def discard(ctx: Context, argv: list[bytes]):
    if ctx.client.multi is None:
        raise CommandError(errors.DISCARD_WITHOUT_MULTI)
    ctx.client.multi, ctx.client.multi_failed = None, False
    ctx.server.watches.unwatch(ctx.client)
    return OK


@command("watch", -2, "noscript loading stale fast allow_busy multi_control", 1, -1, 1, group=_G,
         since="2.2.0", summary="Monitor changes to keys",
         complexity="O(1) for every key.")
def watch(ctx: Context, argv: list[bytes]):
    """Only the leader orders writes, so only the leader can watch them, and a follower
    with cluster-enabled no, as a Redis replica (see rcache.watch)."""
    client, server = ctx.client, ctx.server
    if client.multi is not None:
        raise CommandError(errors.WATCH_IN_MULTI)
    if server.cluster.acts_as_replica():
        server.watches.watch_on_replica(client, client.db, argv[1:])
        return OK
    if not server.replicator.is_leader:
        return server.cluster.redirect(lookup(argv), argv, client.tls)
    server.watches.watch(client, client.db, argv[1:])
    return client.after_submitted_writes(OK)


@command("unwatch", 1, "noscript loading stale fast allow_busy node", group=_G,
         since="2.2.0", summary="Forget about all watched keys")
def unwatch(ctx: Context, argv: list[bytes]):
    ctx.server.watches.unwatch(ctx.client)
    return OK
