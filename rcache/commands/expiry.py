"""Expiry commands: EXPIRE PEXPIRE EXPIREAT PEXPIREAT TTL PTTL EXPIRETIME PEXPIRETIME PERSIST.

Expiries are stored as absolute Unix milliseconds. EXPIRE and PEXPIRE are write commands, so
``ctx.now_ms`` is the leader's time on the Raft entry and every node stores the same
deadline; TTL and friends are reads and measure against the serving node's clock.
"""

from __future__ import annotations

from collections.abc import Callable

from .. import errors
from ..errors import CommandError
from ..notify import GENERIC
from ..resp import LLONG_MAX, LLONG_MIN
from .args import flag_options, int_arg
from .table import Context, command

_G = "generic"
_SECONDS_MIN = -(-LLONG_MIN // 1000)  # C's LLONG_MIN / 1000 truncates toward zero
_EXPIRE_FLAGS = frozenset((b"NX", b"XX", b"GT", b"LT"))


def _parse_expire_flags(options: list[bytes]) -> set[bytes]:
    """NX XX GT LT, in any case and number; Redis 7.0's incompatibility checks."""
    flags = flag_options(options, _EXPIRE_FLAGS, errors.unsupported_option)
    if b"NX" in flags and len(flags) > 1:
        raise CommandError(errors.EXPIRE_NX_CONFLICT)
    if {b"GT", b"LT"} <= flags:
        raise CommandError(errors.EXPIRE_GT_LT_CONFLICT)
    return flags


ExpireArgs = tuple[bytes, int, set[bytes]]  # key, time in ms, flags


def _expire_parser(command_name: str, unit_ms: int) -> Callable[[list[bytes]], ExpireArgs]:
    """expireGenericCommand's checks before the clock and the key: flags, then the time."""
    def parse(argv: list[bytes]) -> ExpireArgs:
        flags = _parse_expire_flags(argv[3:])
        when = int_arg(argv[2])
        if unit_ms == 1000 and not _SECONDS_MIN <= when <= LLONG_MAX // 1000:
            raise CommandError(errors.invalid_expire(command_name))
        return argv[1], when * unit_ms, flags
    return parse


def _expire(ctx: Context, args: ExpireArgs, command_name: str, relative: bool) -> int:
    """Redis's expireGenericCommand: 1 if the TTL was set (or the key deleted because the
    time is already past), 0 if the key is missing or a flag's condition fails."""
    key, when, flags = args
    base = ctx.now_ms if relative else 0
    if when > LLONG_MAX - base:
        raise CommandError(errors.invalid_expire(command_name))
    when += base
    ks = ctx.ks
    current = ks.expire_at(key)  # 0: no TTL, which GT and LT treat as infinite
    if current is None:
        return 0
    if ((b"NX" in flags and current) or (b"XX" in flags and not current)
            or (b"GT" in flags and (not current or when <= current))
            or (b"LT" in flags and current and when >= current)):
        return 0
    if when <= ctx.now_ms:
        ks.delete(key)
        ctx.notify(GENERIC, b"del", key)
    else:
        ks.set_expiry(key, when)
        ctx.notify(GENERIC, b"expire", key)
    return 1


@command("expire", -3, "write fast", 1, 1, 1, group=_G,
         summary="Set a key's time to live in seconds", parser=_expire_parser("expire", 1000))
def expire(ctx: Context, args: ExpireArgs) -> int:
    return _expire(ctx, args, "expire", relative=True)


@command("pexpire", -3, "write fast", 1, 1, 1, group=_G, since="2.6.0",
         summary="Set a key's time to live in milliseconds", parser=_expire_parser("pexpire", 1))
def pexpire(ctx: Context, args: ExpireArgs) -> int:
    return _expire(ctx, args, "pexpire", relative=True)


@command("expireat", -3, "write fast", 1, 1, 1, group=_G, since="1.2.0",
         summary="Set the expiration for a key as a UNIX timestamp",
         parser=_expire_parser("expireat", 1000))
def expireat(ctx: Context, args: ExpireArgs) -> int:
    return _expire(ctx, args, "expireat", relative=False)


@command("pexpireat", -3, "write fast", 1, 1, 1, group=_G, since="2.6.0",
         summary="Set the expiration for a key as a UNIX timestamp specified in milliseconds",
         parser=_expire_parser("pexpireat", 1))
def pexpireat(ctx: Context, args: ExpireArgs) -> int:
    return _expire(ctx, args, "pexpireat", relative=False)


def _ttl(ctx: Context, key: bytes, in_ms: bool, absolute: bool) -> int:
    """-2 for a missing key, -1 without a TTL; seconds are rounded to the nearest."""
    expire_at = ctx.ks.expire_at(key)
    if expire_at is None:
        return -2
    if not expire_at:
        return -1
    remaining = expire_at if absolute else max(expire_at - ctx.now_ms, 0)
    return remaining if in_ms else (remaining + 500) // 1000


@command("ttl", 2, "readonly fast no_touch", 1, 1, 1, group=_G,
         summary="Get the time to live for a key in seconds")
def ttl(ctx: Context, argv: list[bytes]) -> int:
    return _ttl(ctx, argv[1], in_ms=False, absolute=False)


@command("pttl", 2, "readonly fast no_touch", 1, 1, 1, group=_G, since="2.6.0",
         summary="Get the time to live for a key in milliseconds")
def pttl(ctx: Context, argv: list[bytes]) -> int:
    return _ttl(ctx, argv[1], in_ms=True, absolute=False)


@command("expiretime", 2, "readonly fast no_touch", 1, 1, 1, group=_G, since="7.0.0",
         summary="Get the expiration Unix timestamp for a key")
def expiretime(ctx: Context, argv: list[bytes]) -> int:
    return _ttl(ctx, argv[1], in_ms=False, absolute=True)


@command("pexpiretime", 2, "readonly fast no_touch", 1, 1, 1, group=_G, since="7.0.0",
         summary="Get the expiration Unix timestamp for a key in milliseconds")
def pexpiretime(ctx: Context, argv: list[bytes]) -> int:
    return _ttl(ctx, argv[1], in_ms=True, absolute=True)


@command("persist", 2, "write fast", 1, 1, 1, group=_G, since="2.2.0",
         summary="Remove the expiration from a key")
def persist(ctx: Context, argv: list[bytes]) -> int:
    if not ctx.ks.expire_at(argv[1]):  # missing (None) or no TTL (0)
        return 0
    ctx.ks.set_expiry(argv[1], 0)
    ctx.notify(GENERIC, b"persist", argv[1])
    return 1
