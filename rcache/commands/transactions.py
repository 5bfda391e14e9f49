"""MULTI / EXEC / DISCARD: the queued commands become one atomic Raft entry at EXEC."""

from __future__ import annotations

from .. import errors
from ..errors import CommandError
from ..resp import OK
from .table import Context, command

_G = "transactions"


@command("multi", 1, "noscript loading stale fast allow-busy node", group=_G,
         summary="Mark the start of a transaction block")
def multi(ctx: Context, argv: list[bytes]):
    if ctx.client.multi is not None:
        raise CommandError(errors.NESTED_MULTI)
    ctx.client.multi = []
    return OK


@command("exec", 1, "noscript loading stale skip-slowlog node", group=_G,
         summary="Execute all commands issued after MULTI")
def exec_(ctx: Context, argv: list[bytes]):
    if ctx.client.multi is None:
        raise CommandError(errors.EXEC_WITHOUT_MULTI)
    return ctx.client.exec_transaction()


@command("discard", 1, "noscript loading stale fast allow-busy node", group=_G,
         summary="Discard all commands issued after MULTI")
def discard(ctx: Context, argv: list[bytes]):
    if ctx.client.multi is None:
        raise CommandError(errors.DISCARD_WITHOUT_MULTI)
    ctx.client.multi, ctx.client.multi_failed = None, False
    return OK
