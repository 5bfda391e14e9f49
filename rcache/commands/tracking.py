"""Client-side caching: CLIENT TRACKING, CACHING, GETREDIR, TRACKINGINFO (Redis's
networking.c, with its error texts). The node's tracker (rcache/tracking.py) does the rest."""

from __future__ import annotations

import itertools

from .. import errors
from ..errors import CommandError
from ..resp import OK, OrderedSet, parse_int
from .table import Context, command

_G = "connection"
_FLAGS = "noscript loading stale node"


def _overlap(first: bytes, second: bytes) -> bool:
    """Redis's stringCheckPrefix: is either a prefix of the other?"""
    shortest = min(len(first), len(second))
    return first[:shortest] == second[:shortest]


# Pairs compared at most to name the overlap Redis would name; past it, the first overlap
# found in byte order is named (Redis compares every pair, in C).
_EXACT_PAIRS = 100_000


def _check_prefixes(current: dict[bytes, None], prefixes: list[bytes]) -> None:
    """checkPrefixCollisionsOrReply: a client's BCAST prefixes must not overlap. Sorted,
    overlapping strings sit next to each other (if a is a prefix of c and a <= b <= c, a is
    a prefix of b), so one pass over neighbours decides it."""
    ranked = sorted([(prefix, -1) for prefix in current]  # -1: an existing prefix
                    + [(prefix, i) for i, prefix in enumerate(prefixes)])
    clash = next(((first, second) for first, second in itertools.pairwise(ranked)
                  if second[0].startswith(first[0])), None)
    if clash is None:
        return
    if len(prefixes) * (len(current) + len(prefixes)) > _EXACT_PAIRS:
        (given, at), (other, other_at) = sorted(clash, key=lambda ranked_prefix: -ranked_prefix[1])
        if other_at < 0:
            raise CommandError(_overlaps_existing(given, other))
        (_, first), (_, second) = sorted([(at, given), (other_at, other)])
        raise CommandError(_overlaps_given(first, second))
    for i, prefix in enumerate(prefixes):
        for existing in current:
            if _overlap(existing, prefix):
                raise CommandError(_overlaps_existing(prefix, existing))
        for other in prefixes[i + 1:]:
            if _overlap(prefix, other):
                raise CommandError(_overlaps_given(prefix, other))


def _overlaps_existing(prefix: bytes, existing: bytes) -> str:
    return (f"ERR Prefix '{prefix.decode(errors='replace')}' overlaps with an existing prefix "
            f"'{existing.decode(errors='replace')}'. Prefixes for a single client must not "
            "overlap.")


def _overlaps_given(prefix: bytes, other: bytes) -> str:
    return (f"ERR Prefix '{prefix.decode(errors='replace')}' overlaps with another provided "
            f"prefix '{other.decode(errors='replace')}'. Prefixes for a single client must not "
            "overlap.")


@command("tracking", -3, _FLAGS, group=_G, container="client", since="6.0.0",
         complexity="O(1). Some options may introduce additional complexity.",
         summary="Enable or disable server assisted client side caching support")
def client_tracking(ctx: Context, argv: list[bytes]):
    client = ctx.client
    redirect, prefixes = 0, []
    options = {b"bcast": False, b"optin": False, b"optout": False, b"noloop": False}
    i = 3
    while i < len(argv):
        option = argv[i].lower()
        more = i + 1 < len(argv)
        if option == b"redirect" and more:
            i += 1
            if redirect:
                raise CommandError("ERR A client can only redirect to a single other client")
            redirect = parse_int(argv[i])
            if redirect is None:
                raise CommandError(errors.NOT_INTEGER)
            if redirect not in ctx.server.clients:
                raise CommandError("ERR The client ID you want redirect to does not exist")
        elif option in options:
            options[option] = True
        elif option == b"prefix" and more:
            i += 1
            prefixes.append(argv[i])
        else:
            raise CommandError(errors.SYNTAX)
        i += 1
    switch = argv[2].lower()
    if switch == b"off":
        ctx.server.tracker.disable(client)
        return OK
    if switch != b"on":
        raise CommandError(errors.SYNTAX)
    bcast, optin, optout = options[b"bcast"], options[b"optin"], options[b"optout"]
    tracking = client.tracking
    if prefixes and not bcast:
        raise CommandError("ERR PREFIX option requires BCAST mode to be enabled")
    if tracking is not None and tracking.bcast != bcast:
        raise CommandError("ERR You can't switch BCAST mode on/off before disabling tracking "
                           "for this client, and then re-enabling it with a different mode.")
    if bcast and (optin or optout):
        raise CommandError("ERR OPTIN and OPTOUT are not compatible with BCAST")
    if optin and optout:
        raise CommandError("ERR You can't specify both OPTIN mode and OPTOUT mode")
    if tracking is not None and (optin and tracking.optout or optout and tracking.optin):
        raise CommandError("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking "
                           "for this client, and then re-enabling it with a different mode.")
    if bcast:
        _check_prefixes(tracking.prefixes if tracking is not None else {}, prefixes)
    ctx.server.tracker.enable(client, redirect, bcast, optin, optout, options[b"noloop"],
                              prefixes)
    return OK


@command("caching", 3, _FLAGS, group=_G, container="client", since="6.0.0",
         summary="Instruct the server about tracking or not keys in the next request")
def client_caching(ctx: Context, argv: list[bytes]):
    tracking = ctx.client.tracking
    if tracking is None:
        raise CommandError("ERR CLIENT CACHING can be called only when the client is in "
                           "tracking mode with OPTIN or OPTOUT mode enabled")
    answer = argv[2].lower()
    if answer == b"yes":
        if not tracking.optin:
            raise CommandError("ERR CLIENT CACHING YES is only valid when tracking is enabled "
                               "in OPTIN mode.")
    elif answer == b"no":
        if not tracking.optout:
            raise CommandError("ERR CLIENT CACHING NO is only valid when tracking is enabled "
                               "in OPTOUT mode.")
    else:
        raise CommandError(errors.SYNTAX)
    tracking.caching = True
    return OK


@command("getredir", 2, _FLAGS, group=_G, container="client", since="6.0.0",
         summary="Get tracking notifications redirection client ID if any")
def client_getredir(ctx: Context, argv: list[bytes]):
    tracking = ctx.client.tracking
    return -1 if tracking is None else tracking.redirect


@command("trackinginfo", 2, _FLAGS, group=_G, container="client", since="6.2.0",
         summary="Return information about server assisted client side caching for the "
                 "current connection")
def client_trackinginfo(ctx: Context, argv: list[bytes]):
    tracking = ctx.client.tracking
    if tracking is None:
        return {b"flags": OrderedSet([b"off"]), b"redirect": -1, b"prefixes": []}
    return {b"flags": OrderedSet(tracking.flags()), b"redirect": tracking.redirect,
            b"prefixes": sorted(tracking.prefixes)}
