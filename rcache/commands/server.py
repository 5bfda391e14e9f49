"""Server commands: CONFIG, COMMAND, TIME, SAVE, BGSAVE, WAIT, SHUTDOWN (INFO: info.py)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from .. import errors, tls
from ..acl_keys import key_flags
from ..config import BY_NAME, python_log_level, set_failed
from ..errors import CommandError
from ..glob import matcher
from ..resp import NO_REPLY, OK, OrderedSet, SimpleString, parse_int
from . import table
from .acl_rules import CATEGORIES
from .args import int_arg
from .table import (
    COMMANDS,
    Command,
    Context,
    all_commands,
    command,
    container,
    find,
    help_reply,
    lookup,
)

_G = "server"
log = logging.getLogger(__name__)


# -- CONFIG -----------------------------------------------------------------------------------
container("config", -2, "", group=_G, since="2.0.0", summary="A container for server "
          "configuration commands")


@command("get", -3, "admin noscript loading stale node", group=_G, container="config",
         since="2.0.0", summary="Get the values of configuration parameters")
def config_get(ctx: Context, argv: list[bytes]):
    found: dict[bytes, bytes] = {}
    for pattern in argv[2:]:
        found.update(ctx.server.config.matching(pattern))
    return found


@command("set", -4, "admin noscript loading stale node", group=_G, container="config",
         since="2.0.0", summary="Set configuration parameters")
def config_set(ctx: Context, argv: list[bytes]):
    if len(argv) % 2:
        raise CommandError(errors.wrong_arity("config|set"))
    pairs = [(argv[i], argv[i + 1]) for i in range(2, len(argv), 2)]
    config = ctx.server.config
    reloaded = [name for name in (raw.decode(errors="replace").lower() for raw, _ in pairs)
                if name in tls.RELOADED]
    previous = {BY_NAME[name].attr: getattr(config, BY_NAME[name].attr) for name in reloaded}
    config.set_at_runtime(pairs, local=ctx.client.local)
    if reloaded and ctx.server.tls_context is not None:
        _reload_tls(ctx.server, previous, reloaded[0])
    for client in ctx.server.clients.values():  # as Redis, open connections follow at once
        client.reader.max_bulk_len = config.proto_max_bulk_len
    logging.getLogger().setLevel(python_log_level(config.loglevel))
    table.latency_tracking = config.latency_tracking
    server = ctx.server
    server.apply_oom_score_adj()
    server.busy_poll.set_limit(config.busy_poll_us)
    server.tracker.keep_to_limit()
    if config.maxmemory and server.replicator.is_leader:
        server.eviction.admit()  # as Redis, a lowered limit evicts at once, not at the next write
    return OK


def _reload_tls(server, previous: dict[str, object], argument: str) -> None:
    """The TLS port takes the new tls-* settings; if they do not make a working context, the
    previous ones are put back, with Redis's log line and error."""
    try:
        tls.reload_server_context(server.tls_context, server.config)
    except tls.TlsConfigError as err:
        log.warning("Failed applying new configuration. Possibly related to new %s setting. "
                    "Restoring previous settings. (%s)", argument, err)
        for attr, value in previous.items():
            setattr(server.config, attr, value)
        raise CommandError(set_failed(
            argument, "Unable to update TLS configuration. Check server logs.")) from None


@command("resetstat", 2, "admin noscript loading stale node", group=_G, container="config",
         since="2.0.0", summary="Reset the stats returned by INFO")
def config_resetstat(ctx: Context, argv: list[bytes]):
    server = ctx.server
    server.replicator.traffic.reset()  # before the rates, which restart from its zero
    server.stats.reset()
    server.eviction.evicted_keys = server.replicator.snapshots.saves = 0
    for counted in (server.keyspace_stats, server.machine.keyspace_stats):
        counted.hits = counted.misses = 0
    for cmd in all_commands():
        cmd.reset_stats()
    return OK


@command("rewrite", 2, "admin noscript loading stale node", group=_G, container="config",
         since="2.8.0", summary="Rewrite the configuration file with the in memory configuration")
def config_rewrite(ctx: Context, argv: list[bytes]):
    ctx.server.config.rewrite()
    return OK


@command("help", 2, "loading stale node", group=_G, container="config", since="5.0.0",
         summary="Show helpful text about the different subcommands")
def config_help(ctx: Context, argv: list[bytes]):
    return help_reply("CONFIG", (
        "GET <pattern>", "    Return parameters matching the glob-like <pattern> and their values.",
        "SET <directive> <value>", "    Set the configuration <directive> to <value>.",
        "RESETSTAT", "    Reset statistics reported by the INFO command.",
        "REWRITE", "    Rewrite the configuration file."))


# -- COMMAND ----------------------------------------------------------------------------------
@command("command", -1, "loading stale node", group=_G, since="2.8.13",
         summary="Get array of Redis command details")
def command_(ctx: Context, argv: list[bytes]):
    return [cmd.info() for cmd in COMMANDS.values()]


@command("count", 2, "loading stale node", group=_G, container="command", since="2.8.13",
         summary="Get total number of Redis commands")
def command_count(ctx: Context, argv: list[bytes]):
    return len(COMMANDS)


@command("list", -2, "loading stale node", group=_G, container="command", since="7.0.0",
         summary="Get an array of Redis command names")
def command_list(ctx: Context, argv: list[bytes]):
    wanted = _list_filter(argv)
    names = []
    for cmd in COMMANDS.values():
        for listed in (cmd, *cmd.subcommands.values()):
            if wanted(listed):
                names.append(listed.full_name.encode())
    return names


def _list_filter(argv: list[bytes]) -> Callable[[Command], bool]:
    """COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN glob]: as Redis, the
    last FILTERBY counts, and an unknown category or module lists nothing."""
    kind = value = None
    for i in range(2, len(argv), 3):
        if argv[i].lower() != b"filterby" or len(argv) - i != 3:
            raise CommandError(errors.SYNTAX)
        kind, value = argv[i + 1].lower(), argv[i + 2]
        if kind not in (b"module", b"aclcat", b"pattern"):
            raise CommandError(errors.SYNTAX)
    if kind is None:
        return lambda cmd: True
    if kind == b"pattern":
        match = matcher(value, nocase=True)
        return lambda cmd: match(cmd.full_name.encode())
    category = value.decode(errors="replace").lower()
    if kind == b"module" or category not in CATEGORIES:  # rcache loads no modules
        return lambda cmd: False
    return lambda cmd: category in cmd.acl_categories


@command("info", -2, "loading stale node", group=_G, container="command", since="2.8.13",
         summary="Get array of specific Redis command details, or all when no argument is given")
def command_info(ctx: Context, argv: list[bytes]):
    if len(argv) == 2:
        return [cmd.info() for cmd in COMMANDS.values()]
    return [cmd.info() if (cmd := find(name)) else None for name in argv[2:]]


@command("docs", -2, "loading stale node", group=_G, container="command", since="7.0.0",
         summary="Get array of specific Redis command documentation")
def command_docs(ctx: Context, argv: list[bytes]):
    chosen = COMMANDS.values() if len(argv) == 2 else [c for n in argv[2:] if (c := find(n))]
    return {cmd.full_name.encode(): cmd.docs() for cmd in chosen}


def _target_keys(argv: list[bytes]) -> tuple[Command, list[bytes], list[int]]:
    """COMMAND GETKEYS and GETKEYSANDFLAGS: the command named in argv[2:] and its key
    positions, with Redis's errors."""
    target = argv[2:]
    if target[0].lower() not in COMMANDS:
        raise CommandError("ERR Invalid command specified")
    try:
        cmd = lookup(target)
    except CommandError:
        raise CommandError("ERR Invalid number of arguments specified for command") from None
    indexes = cmd.key_indexes(target)
    if not indexes and "no_mandatory_keys" not in cmd.flags:  # EVAL ... 0: an empty list
        if cmd.keyed:  # keys it may take, none in these arguments (MIGRATE x ... KEYS a)
            raise CommandError("ERR Invalid arguments specified for command")
        raise CommandError("ERR The command has no key arguments")
    return cmd, target, indexes


@command("getkeys", -4, "loading stale node", group=_G, container="command", since="2.8.13",
         summary="Extract keys given a full Redis command")
def command_getkeys(ctx: Context, argv: list[bytes]):
    _, target, indexes = _target_keys(argv)
    return [target[i] for i in indexes]


@command("getkeysandflags", -4, "loading stale node", group=_G, container="command",
         since="7.0.0", summary="Extract keys and access flags given a full Redis command")
def command_getkeysandflags(ctx: Context, argv: list[bytes]):
    cmd, target, indexes = _target_keys(argv)
    flags = key_flags(cmd.full_name, target, indexes, "write" in cmd.flags)
    return [[target[i], OrderedSet(SimpleString(flag) for flag in spec.split())]
            for i, spec in zip(indexes, flags, strict=True)]


@command("help", 2, "loading stale node", group=_G, container="command", since="5.0.0",
         summary="Show helpful text about the different subcommands")
def command_help(ctx: Context, argv: list[bytes]):
    return help_reply("COMMAND", (
        "(no subcommand)", "    Return details about all Redis commands.",
        "COUNT", "    Return the total number of commands in this Redis server.",
        "LIST", "    Return a list of all commands in this Redis server.",
        "INFO [<command-name> ...]", "    Return details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "DOCS [<command-name> ...]",
        "    Return documentation details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "GETKEYS <full-command>", "    Return the keys from a full Redis command.",
        "GETKEYSANDFLAGS <full-command>",
        "    Return the keys and the access flags from a full Redis command."))


# -- misc ---------------------------------------------------------------------------------------
@command("monitor", 1, "admin noscript loading stale node", group=_G,
         summary="Listen for all requests received by the server in real time")
def monitor(ctx: Context, argv: list[bytes]):
    """From now on the connection receives every command this node runs (rcache.monitor);
    a second MONITOR answers nothing, as in Redis."""
    if ctx.client.in_exec:
        raise CommandError("ERR MONITOR isn't allowed for DENY BLOCKING client")
    monitors = ctx.server.monitors
    if ctx.client.id in monitors.clients:
        return NO_REPLY
    monitors.add(ctx.client)
    return OK

@command("time", 1, "loading stale fast node", group=_G, since="2.6.0",
         summary="Return the current server time")
def time_(ctx: Context, argv: list[bytes]):
    now_us = time.time_ns() // 1000
    return [str(now_us // 1_000_000).encode(), str(now_us % 1_000_000).encode()]


# -- MODULE: rcache loads no modules; it answers as a Redis 7.0 with none loaded and its default
# enable-module-command no (clients ask MODULE LIST to find out which modules a server has) --
container("module", -2, "", group=_G, since="4.0.0", summary="A container for module commands")

MODULE_COMMAND_NOT_ALLOWED = (
    "ERR MODULE command not allowed. If the enable-module-command option is set to \"local\", "
    "you can run it from a local connection, otherwise you need to set this option in the "
    "configuration file, and then restart the server.")


@command("list", 2, "admin noscript node", group=_G, container="module", since="4.0.0",
         summary="List all modules loaded by the server", complexity="O(N) where N is the "
         "number of loaded modules.")
def module_list(ctx: Context, argv: list[bytes]):
    return []


@command("load", -3, "admin noscript no_async_loading node", group=_G, container="module",
         since="4.0.0", summary="Load a module")
@command("loadex", -3, "admin noscript no_async_loading node", group=_G, container="module",
         since="7.0.0", summary="Load a module with extended parameters")
@command("unload", 3, "admin noscript no_async_loading node", group=_G, container="module",
         since="4.0.0", summary="Unload a module")
def module_load(ctx: Context, argv: list[bytes]):
    raise CommandError(MODULE_COMMAND_NOT_ALLOWED)


@command("help", 2, "loading stale node", group=_G, container="module", since="5.0.0",
         summary="Show helpful text about the different subcommands")
def module_help(ctx: Context, argv: list[bytes]):
    return help_reply("MODULE", (
        "LIST", "    Return a list of loaded modules.",
        "LOAD <path> [<arg> ...]",
        "    Load a module library from <path>, passing to it any optional arguments.",
        "LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]",
        "    Load a module library from <path>, while passing it module configurations and "
        "optional arguments.",
        "UNLOAD <name>", "    Unload a module."))


# -- snapshots: the Raft log's compaction, which is what Redis's RDB files are to rcache --------
SAVE_TIMEOUT_S = 60


def _no_snapshot_running(ctx: Context) -> None:
    if ctx.server.replicator.snapshots.in_progress:
        raise CommandError("ERR Background save already in progress")


@command("save", 1, "admin noscript no_async_loading no_multi node", group=_G,
         summary="Synchronously save the dataset to disk")
def save(ctx: Context, argv: list[bytes]):
    """A snapshot of the applied state, now, written before the reply (every acknowledged
    write is on disk in the log already; a snapshot shortens what a restart replays)."""
    _no_snapshot_running(ctx)
    written = ctx.server.replicator.snapshot_now()

    async def wait() -> SimpleString:
        await asyncio.wait_for(written, SAVE_TIMEOUT_S)
        return OK

    return ctx.client.run_async(wait())


@command("bgsave", -1, "admin noscript no_async_loading node", group=_G,
         summary="Asynchronously save the dataset to disk")
def bgsave(ctx: Context, argv: list[bytes]):
    if len(argv) > 2 or (len(argv) == 2 and argv[1].lower() != b"schedule"):
        raise CommandError(errors.SYNTAX)
    _no_snapshot_running(ctx)
    ctx.server.replicator.snapshot_now()
    return SimpleString("Background saving started")


@command("bgrewriteaof", 1, "admin noscript no_async_loading node", group=_G,
         summary="Asynchronously rewrite the append-only file")
def bgrewriteaof(ctx: Context, argv: list[bytes]):
    """The Raft log is rcache's append-only file: rewriting it is compacting it into a
    snapshot, as BGSAVE does."""
    if ctx.server.replicator.snapshots.in_progress:
        raise CommandError("ERR Background append only file rewriting already in progress")
    ctx.server.replicator.snapshot_now()
    return SimpleString("Background append only file rewriting started")


@command("lastsave", 1, "loading stale fast node", group=_G,
         summary="Get the UNIX time stamp of the last successful save to disk")
def lastsave(ctx: Context, argv: list[bytes]) -> int:
    """The last snapshot's time; before any, when the server started (as Redis, which counts
    the load of its dump at startup)."""
    return int(ctx.server.replicator.snapshots.last_time or ctx.server.started)


# -- WAIT ---------------------------------------------------------------------------------------
WAIT_POLL_S = 0.005
WAIT_ON_FOLLOWER = ("ERR WAIT cannot be used with replica instances. Please also note that since "
                    "Redis 4.0 if a replica is configured to be writable (which is not the "
                    "default) writes to replicas are just local and are not propagated.")


@command("wait", 3, "noscript node", group="generic", since="3.0.0",
         summary="Wait for the synchronous replication of all the write commands sent in the "
                 "context of the current connection",
         complexity="O(1)")
def wait(ctx: Context, argv: list[bytes]):
    """How many followers hold every write acknowledged so far. An acknowledged write is on a
    majority already; WAIT counts followers holding the log up to the commit index (which
    covers this connection's writes: each was acknowledged after its commit)."""
    replicator = ctx.server.replicator
    if not replicator.is_leader:
        raise CommandError(WAIT_ON_FOLLOWER)
    wanted = int_arg(argv[1])
    timeout_ms = parse_int(argv[2])
    if timeout_ms is None:
        raise CommandError("ERR timeout is not an integer or out of range")
    if timeout_ms < 0:
        raise CommandError("ERR timeout is negative")
    index = replicator.commit_index
    acked = replicator.followers_at(index)
    if acked >= wanted or ctx.client.in_exec:  # no waiting inside a transaction
        return acked

    async def poll() -> int:
        deadline = time.monotonic() + timeout_ms / 1000 if timeout_ms else None
        while (count := replicator.followers_at(index)) < wanted and (
                deadline is None or time.monotonic() < deadline):
            await asyncio.sleep(WAIT_POLL_S)
        return count

    return ctx.client.run_async(poll())


@command("shutdown", -1, "admin noscript loading stale no_multi allow_busy node", group=_G,
         summary="Synchronously save the dataset to disk and then shut down the server")
def shutdown(ctx: Context, argv: list[bytes]):
    """Stops at once (every write is already in the Raft log, so SAVE has nothing to add).
    Like Redis, no reply: the connection just closes, which is what clients wait for."""
    options = {option.lower() for option in argv[1:]}
    if (not options <= {b"nosave", b"save", b"now", b"force", b"abort"}
            or (b"abort" in options and len(argv) > 2) or {b"nosave", b"save"} <= options):
        raise CommandError(errors.SYNTAX)
    if b"abort" in options:
        raise CommandError("ERR No shutdown in progress.")
    ctx.server.shutdown()
    ctx.client.close()
    return None
