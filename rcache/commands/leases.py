"""LEASE: etcd's lease API in Redis's style (rcache's own family; see rcache/leases.py).

    LEASE GRANT <ttl-seconds> [ID <id>]      -> the lease id
    LEASE ATTACH <id> <key> [key ...]        -> keys newly attached (a key moves from its
                                                previous lease: one lease per key)
    LEASE DETACH <id> <key> [key ...]        -> keys detached
    LEASE KEEPALIVE <id>                     -> the renewed TTL in seconds
    LEASE REVOKE <id>                        -> keys deleted with it
    LEASE TTL <id> [KEYS]                    -> id, granted-ttl, ttl (-1: unknown) [, keys]
    LEASE LIST                               -> the live lease ids
"""

from __future__ import annotations

from .. import errors
from ..errors import CommandError
from ..leases import Leases
from ..resp import SimpleString
from .args import int_arg
from .table import Context, command, container, help_reply

_G = "lease"
# A lease must outlive an election (300-600 ms by default), or a failover alone expires it.
MIN_TTL_S = 1
MAX_TTL_S = 2**31 - 1
NO_LEASE = "ERR no such lease"


def _lease_id(raw: bytes) -> int:
    lease_id = int_arg(raw)
    if lease_id <= 0:
        raise CommandError("ERR lease id must be a positive integer")
    return lease_id


def _live(leases: Leases, lease_id: int):
    lease = leases.get(lease_id)
    if lease is None:
        raise CommandError(NO_LEASE)
    return lease


def _ttl_seconds(ms: int) -> int:
    return (ms + 500) // 1000  # rounded, as Redis's TTL


container("lease", -2, "", group=_G, since="0.1.0",
          summary="A container for lease commands (one TTL shared by many keys)")


def _parse_grant(argv: list[bytes]) -> tuple[int, int | None]:
    """LEASE GRANT ttl [ID id]: (ttl in seconds, the id asked for or None)."""
    ttl = int_arg(argv[2])
    if not MIN_TTL_S <= ttl <= MAX_TTL_S:
        raise CommandError(f"ERR lease TTL must be between {MIN_TTL_S} and {MAX_TTL_S} seconds")
    if len(argv) == 3:
        return ttl, None
    if len(argv) == 5 and argv[3].lower() == b"id":
        return ttl, _lease_id(argv[4])
    raise CommandError(errors.SYNTAX)


def _id_and_keys(argv: list[bytes]) -> tuple[int, list[bytes]]:
    """LEASE ATTACH/DETACH/KEEPALIVE/REVOKE id [key ...]."""
    return _lease_id(argv[2]), argv[3:]


@command("grant", -3, "write fast", group=_G, container="lease", since="0.1.0",
         summary="Create a lease with a TTL in seconds", parser=_parse_grant)
def lease_grant(ctx: Context, args: tuple[int, int | None]) -> int:
    ttl, lease_id = args
    leases = Leases(ctx.ks)
    if lease_id is None:
        lease_id = leases.new_id()
    else:
        if leases.get(lease_id) is not None:
            raise CommandError("ERR lease already exists")
        leases.revoke(lease_id, b"lease_expired")  # past its deadline, not yet expired
    leases.grant(lease_id, ttl * 1000)
    return lease_id


@command("attach", -4, "write fast", 3, -1, 1, group=_G, container="lease", since="0.1.0",
         summary="Attach keys to a lease: they are deleted when it expires or is revoked",
         parser=_id_and_keys)
def lease_attach(ctx: Context, args: tuple[int, list[bytes]]) -> int:
    return _each_key(ctx, args, Leases.attach)


@command("detach", -4, "write fast", 3, -1, 1, group=_G, container="lease", since="0.1.0",
         summary="Detach keys from a lease (the keys stay)", parser=_id_and_keys)
def lease_detach(ctx: Context, args: tuple[int, list[bytes]]) -> int:
    return _each_key(ctx, args, Leases.detach)


def _each_key(ctx: Context, args: tuple[int, list[bytes]], change) -> int:
    """ATTACH/DETACH <id> <key>...: how many keys the change applied to."""
    lease_id, keys = args
    leases = Leases(ctx.ks)
    lease = _live(leases, lease_id)
    return sum(change(leases, lease.id, ctx.ks.dbnum, key) for key in keys)


@command("keepalive", 3, "write fast", group=_G, container="lease", since="0.1.0",
         summary="Renew a lease for its granted TTL", parser=_id_and_keys)
def lease_keepalive(ctx: Context, args: tuple[int, list[bytes]]) -> int:
    leases = Leases(ctx.ks)
    lease = _live(leases, args[0])
    leases.keep_alive(lease)
    return _ttl_seconds(lease.ttl_ms)


@command("revoke", 3, "write touches_any_key", group=_G, container="lease", since="0.1.0",
         summary="Delete a lease and every key attached to it", parser=_id_and_keys)
def lease_revoke(ctx: Context, args: tuple[int, list[bytes]]) -> int:
    leases = Leases(ctx.ks)
    return leases.revoke(_live(leases, args[0]).id)


@command("ttl", -3, "readonly fast", group=_G, container="lease", since="0.1.0",
         summary="Granted and remaining TTL of a lease, and with KEYS its keys")
def lease_ttl(ctx: Context, argv: list[bytes]) -> dict:
    with_keys = len(argv) == 4 and argv[3].lower() == b"keys"
    if len(argv) > 3 and not with_keys:
        raise CommandError(errors.SYNTAX)
    leases = Leases(ctx.ks)
    lease_id = _lease_id(argv[2])
    lease = leases.get(lease_id)
    reply: dict = {
        SimpleString("id"): lease_id,
        SimpleString("granted-ttl"): _ttl_seconds(lease.ttl_ms) if lease else -1,
        SimpleString("ttl"): _ttl_seconds(lease.deadline - ctx.now_ms) if lease else -1,
    }
    if with_keys:
        db = ctx.ks.dbnum
        reply[SimpleString("keys")] = [key for key_db, key in leases.keys(lease_id)
                                       if key_db == db and ctx.ks.exists(key)] if lease else []
    return reply


@command("list", 2, "readonly", group=_G, container="lease", since="0.1.0",
         summary="The ids of the live leases")
def lease_list(ctx: Context, argv: list[bytes]) -> list[int]:
    return Leases(ctx.ks).ids()


@command("help", 2, "loading stale", group=_G, container="lease", since="0.1.0",
         summary="Show helpful text about the different subcommands")
def lease_help(ctx: Context, argv: list[bytes]) -> list[SimpleString]:
    return help_reply("LEASE", (
        "GRANT <ttl-seconds> [ID <id>]",
        "    Grant a lease that lives <ttl-seconds> unless kept alive. Returns its id.",
        "ATTACH <id> <key> [<key> ...]",
        "    Attach keys to the lease (a key leaves its previous lease). Returns how many",
        "    were newly attached.",
        "DETACH <id> <key> [<key> ...]",
        "    Detach keys from the lease. Returns how many were detached.",
        "KEEPALIVE <id>",
        "    Renew the lease for its granted TTL. Returns that TTL in seconds.",
        "REVOKE <id>",
        "    Revoke the lease and delete its keys. Returns how many keys were deleted.",
        "TTL <id> [KEYS]",
        "    Return the lease's id, granted TTL and remaining TTL (-1: unknown), and with",
        "    KEYS its keys.",
        "LIST",
        "    Return the ids of the live leases."))
