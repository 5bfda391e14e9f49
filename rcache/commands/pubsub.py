"""Pub/sub commands: SUBSCRIBE UNSUBSCRIBE PSUBSCRIBE PUNSUBSCRIBE PUBLISH PUBSUB, and the
sharded ones: SSUBSCRIBE SUNSUBSCRIBE SPUBLISH (one shard holds every slot, so a shard
channel is a channel of its own namespace, replicated and delivered as PUBLISH is).

PUBLISH is replicated (it goes through the Raft log like a write, though Redis does not flag
it one), so each node delivers it to its own subscribers (``rcache.pubsub``); its reply counts
the receivers on the node that answers, as in Redis Cluster. The others run on the
connection. In RESP2 a connection with subscriptions only takes the commands Redis allows
then; RESP3 connections take any.
"""

from __future__ import annotations

from ..errors import CommandError
from ..glob import matcher
from ..pubsub import CHANNEL, PATTERN, SHARD, Delivery
from ..resp import Push, Replies
from .table import Context, always, command, container, help_reply

_G = "pubsub"
_PREFIX = {CHANNEL: b"", PATTERN: b"p", SHARD: b"s"}  # psubscribe, sunsubscribe...


def _count(client, kind: str) -> int:
    """The count a (un)subscribe reply carries: Redis counts shard channels apart."""
    if kind == SHARD:
        return len(client.shard_channels)
    return len(client.channels) + len(client.patterns)


def _subscribe(ctx: Context, names: list[bytes], kind: str) -> Replies:
    client, hub = ctx.client, ctx.server.hub
    reply_kind = _PREFIX[kind] + b"subscribe"
    replies = Replies()
    for name in names:
        hub.subscribe(client, name, kind)
        replies.append(Push([reply_kind, name, _count(client, kind)]))
    return replies


def _unsubscribe(ctx: Context, names: list[bytes], kind: str) -> Replies:
    """From the names given, or from all (one reply each; one with a nil name if none)."""
    client, hub = ctx.client, ctx.server.hub
    reply_kind = _PREFIX[kind] + b"unsubscribe"
    names = names or list(hub.tables(client, kind)[1])
    if not names:
        return Replies([Push([reply_kind, None, _count(client, kind)])])
    replies = Replies()
    for name in names:
        hub.unsubscribe(client, name, kind)
        replies.append(Push([reply_kind, name, _count(client, kind)]))
    return replies


@command("subscribe", -2, "pubsub noscript loading stale node pubsub_ok", group=_G, since="2.0.0",
         summary="Listen for messages published to the given channels",
         complexity="O(N) where N is the number of channels to subscribe to.")
def subscribe(ctx: Context, argv: list[bytes]) -> Replies:
    return _subscribe(ctx, argv[1:], CHANNEL)


@command("unsubscribe", -1, "pubsub noscript loading stale node pubsub_ok", group=_G, since="2.0.0",
         summary="Stop listening for messages posted to the given channels",
         complexity="O(N) where N is the number of clients already subscribed to a channel.")
def unsubscribe(ctx: Context, argv: list[bytes]) -> Replies:
    return _unsubscribe(ctx, argv[1:], CHANNEL)


@command("psubscribe", -2, "pubsub noscript loading stale node pubsub_ok", group=_G, since="2.0.0",
         summary="Listen for messages published to channels matching the given patterns",
         complexity="O(N) where N is the number of patterns the client is already "
                    "subscribed to.")
def psubscribe(ctx: Context, argv: list[bytes]) -> Replies:
    return _subscribe(ctx, argv[1:], PATTERN)


@command("punsubscribe", -1, "pubsub noscript loading stale node pubsub_ok",
         group=_G, since="2.0.0",
         summary="Stop listening for messages posted to channels matching the given patterns",
         complexity="O(N+M) where N is the number of patterns the client is already subscribed "
                    "and M is the number of total patterns subscribed in the system (by any "
                    "client).")
def punsubscribe(ctx: Context, argv: list[bytes]) -> Replies:
    return _unsubscribe(ctx, argv[1:], PATTERN)


@command("publish", 3, "pubsub loading stale fast replicated", group=_G, since="2.0.0",
         replica_runs_if=always, summary="Post a message to a channel",
         complexity="O(N+M) where N is the number of clients subscribed to the receiving "
                    "channel and M is the total number of subscribed patterns (by any client).")
def publish(ctx: Context, argv: list[bytes]) -> Delivery | int:
    """Runs in the state machine, on every node; on a follower with cluster-enabled no, run
    by that node outside the log, it reaches that node's subscribers only, as a Redis
    replica's PUBLISH does. Unit tests run it without a hub."""
    if ctx.hub is None:
        return 0
    if ctx.ks.txn is None:
        return ctx.hub.deliver_here(argv[1], argv[2])
    return ctx.hub.publish(argv[1], argv[2], ctx.ks.events)


@command("ssubscribe", -2, "pubsub noscript loading stale node pubsub_ok not_key", 1, -1, 1,
         group=_G, since="7.0.0",
         summary="Listen for messages published to the given shard channels",
         complexity="O(N) where N is the number of shard channels to subscribe to.")
def ssubscribe(ctx: Context, argv: list[bytes]) -> Replies:
    if ctx.client.in_exec:
        raise CommandError("ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client")
    return _subscribe(ctx, argv[1:], SHARD)


@command("sunsubscribe", -1, "pubsub noscript loading stale node pubsub_ok not_key", 1, -1, 1,
         group=_G, since="7.0.0",
         summary="Stop listening for messages posted to the given shard channels",
         complexity="O(N) where N is the number of clients already subscribed to a shard "
                    "channel.")
def sunsubscribe(ctx: Context, argv: list[bytes]) -> Replies:
    return _unsubscribe(ctx, argv[1:], SHARD)


@command("spublish", 3, "pubsub loading stale fast replicated not_key", 1, 1, 1, group=_G,
         since="7.0.0", replica_runs_if=always, summary="Post a message to a shard channel",
         complexity="O(N) where N is the number of clients subscribed to the receiving shard "
                    "channel.")
def spublish(ctx: Context, argv: list[bytes]) -> Delivery | int:
    """As PUBLISH: runs in the state machine, on every node (or on a replica, for its own)."""
    if ctx.hub is None:
        return 0
    if ctx.ks.txn is None:
        return ctx.hub.deliver_here(argv[1], argv[2], shard=True)
    return ctx.hub.publish(argv[1], argv[2], ctx.ks.events, shard=True)


container("pubsub", -2, "", group=_G, since="2.8.0", summary="A container for Pub/Sub commands")


@command("channels", -2, "pubsub loading stale node", group=_G, since="2.8.0",
         container="pubsub", summary="List active channels",
         complexity="O(N) where N is the number of active channels, and assuming constant time "
                    "pattern matching (relatively short channels and patterns)")
def pubsub_channels(ctx: Context, argv: list[bytes]) -> list[bytes]:
    return _matching(ctx.server.hub.channels, argv)


def _matching(table: dict, argv: list[bytes]) -> list[bytes]:
    channels = list(table)
    if len(argv) > 2:
        match = matcher(argv[2])
        channels = [channel for channel in channels if match(channel)]
    return channels


@command("numsub", -2, "pubsub loading stale node", group=_G, since="2.8.0",
         container="pubsub", summary="Get the count of subscribers for channels",
         complexity="O(N) for the NUMSUB subcommand, where N is the number of requested "
                    "channels")
def pubsub_numsub(ctx: Context, argv: list[bytes]) -> list:
    return _counts(ctx.server.hub.channels, argv)


def _counts(table: dict, argv: list[bytes]) -> list:
    return [x for channel in argv[2:] for x in (channel, len(table.get(channel, ())))]


@command("numpat", 2, "pubsub loading stale node", group=_G, since="2.8.0",
         container="pubsub", summary="Get the count of unique patterns pattern subscriptions",
         complexity="O(1)")
def pubsub_numpat(ctx: Context, argv: list[bytes]) -> int:
    return len(ctx.server.hub.patterns)


@command("shardchannels", -2, "pubsub loading stale node", group=_G, since="7.0.0",
         container="pubsub", summary="List active shard channels",
         complexity="O(N) where N is the number of active shard channels, and assuming constant "
                    "time pattern matching (relatively short shard channels).")
def pubsub_shardchannels(ctx: Context, argv: list[bytes]) -> list[bytes]:
    return _matching(ctx.server.hub.shard_channels, argv)


@command("shardnumsub", -2, "pubsub loading stale node", group=_G, since="7.0.0",
         container="pubsub", summary="Get the count of subscribers for shard channels",
         complexity="O(N) for the SHARDNUMSUB subcommand, where N is the number of requested "
                    "shard channels")
def pubsub_shardnumsub(ctx: Context, argv: list[bytes]) -> list:
    return _counts(ctx.server.hub.shard_channels, argv)


@command("help", 2, "loading stale node", group=_G, since="6.2.0", container="pubsub",
         summary="Show helpful text about the different subcommands")
def pubsub_help(ctx: Context, argv: list[bytes]) -> list:
    return help_reply("PUBSUB", (
        "CHANNELS [<pattern>]",
        "    Return the currently active channels matching a <pattern> (default: '*').",
        "NUMPAT", "    Return number of subscriptions to patterns.",
        "NUMSUB [<channel> ...]",
        "    Return the number of subscribers for the specified channels, excluding",
        "    pattern subscriptions(default: no channels).",
        "SHARDCHANNELS [<pattern>]",
        "    Return the currently active shard level channels matching a <pattern> (default: '*').",
        "SHARDNUMSUB [<shardchannel> ...]",
        "    Return the number of subscribers for the specified shard level channel(s)",
    ))
