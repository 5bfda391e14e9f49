"""Pub/sub commands: SUBSCRIBE UNSUBSCRIBE PSUBSCRIBE PUNSUBSCRIBE PUBLISH PUBSUB.

PUBLISH is replicated (it goes through the Raft log like a write, though Redis does not flag
it one), so each node delivers it to its own subscribers (``rcache.pubsub``); its reply counts
the receivers on the node that answers, as in Redis Cluster. The others run on the
connection. In RESP2 a connection with subscriptions only takes the commands Redis allows
then; RESP3 connections take any.
"""

from __future__ import annotations

from ..glob import matcher
from ..pubsub import Delivery
from ..resp import Push, Replies
from .table import Context, command, container

_G = "pubsub"


def _subscribe(ctx: Context, names: list[bytes], pattern: bool) -> Replies:
    client, hub = ctx.client, ctx.server.hub
    kind = b"psubscribe" if pattern else b"subscribe"
    replies = Replies()
    for name in names:
        hub.subscribe(client, name, pattern)
        replies.append(Push([kind, name, client.subscriptions]))
    return replies


def _unsubscribe(ctx: Context, names: list[bytes], pattern: bool) -> Replies:
    """From the names given, or from all (one reply each; one with a nil name if none)."""
    client, hub = ctx.client, ctx.server.hub
    kind = b"punsubscribe" if pattern else b"unsubscribe"
    names = names or list(client.patterns if pattern else client.channels)
    if not names:
        return Replies([Push([kind, None, client.subscriptions])])
    replies = Replies()
    for name in names:
        hub.unsubscribe(client, name, pattern)
        replies.append(Push([kind, name, client.subscriptions]))
    return replies


@command("subscribe", -2, "pubsub noscript loading stale node pubsub_ok", group=_G, since="2.0.0",
         summary="Listen for messages published to the given channels",
         complexity="O(N) where N is the number of channels to subscribe to.")
def subscribe(ctx: Context, argv: list[bytes]) -> Replies:
    return _subscribe(ctx, argv[1:], pattern=False)


@command("unsubscribe", -1, "pubsub noscript loading stale node pubsub_ok", group=_G, since="2.0.0",
         summary="Stop listening for messages posted to the given channels",
         complexity="O(N) where N is the number of clients already subscribed to a channel.")
def unsubscribe(ctx: Context, argv: list[bytes]) -> Replies:
    return _unsubscribe(ctx, argv[1:], pattern=False)


@command("psubscribe", -2, "pubsub noscript loading stale node pubsub_ok", group=_G, since="2.0.0",
         summary="Listen for messages published to channels matching the given patterns",
         complexity="O(N) where N is the number of patterns the client is already "
                    "subscribed to.")
def psubscribe(ctx: Context, argv: list[bytes]) -> Replies:
    return _subscribe(ctx, argv[1:], pattern=True)


@command("punsubscribe", -1, "pubsub noscript loading stale node pubsub_ok",
         group=_G, since="2.0.0",
         summary="Stop listening for messages posted to channels matching the given patterns",
         complexity="O(N+M) where N is the number of patterns the client is already subscribed "
                    "and M is the number of total patterns subscribed in the system (by any "
                    "client).")
def punsubscribe(ctx: Context, argv: list[bytes]) -> Replies:
    return _unsubscribe(ctx, argv[1:], pattern=True)


@command("publish", 3, "pubsub loading stale fast replicated", group=_G, since="2.0.0",
         summary="Post a message to a channel",
         complexity="O(N+M) where N is the number of clients subscribed to the receiving "
                    "channel and M is the total number of subscribed patterns (by any client).")
def publish(ctx: Context, argv: list[bytes]) -> Delivery | int:
    """Runs in the state machine, on every node; unit tests run it without a hub."""
    return ctx.hub.publish(argv[1], argv[2], ctx.ks.events) if ctx.hub is not None else 0


container("pubsub", -2, "", group=_G, since="2.8.0", summary="A container for Pub/Sub commands")


@command("channels", -2, "pubsub loading stale node", group=_G, since="2.8.0",
         container="pubsub", summary="List active channels",
         complexity="O(N) where N is the number of active channels, and assuming constant time "
                    "pattern matching (relatively short channels and patterns)")
def pubsub_channels(ctx: Context, argv: list[bytes]) -> list[bytes]:
    channels = list(ctx.server.hub.channels)
    if len(argv) > 2:
        match = matcher(argv[2])
        channels = [channel for channel in channels if match(channel)]
    return channels


@command("numsub", -2, "pubsub loading stale node", group=_G, since="2.8.0",
         container="pubsub", summary="Get the count of subscribers for channels",
         complexity="O(N) for the NUMSUB subcommand, where N is the number of requested "
                    "channels")
def pubsub_numsub(ctx: Context, argv: list[bytes]) -> list:
    channels = ctx.server.hub.channels
    return [x for channel in argv[2:] for x in (channel, len(channels.get(channel, ())))]


@command("numpat", 2, "pubsub loading stale node", group=_G, since="2.8.0",
         container="pubsub", summary="Get the count of unique patterns pattern subscriptions",
         complexity="O(1)")
def pubsub_numpat(ctx: Context, argv: list[bytes]) -> int:
    return len(ctx.server.hub.patterns)
