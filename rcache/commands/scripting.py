"""EVAL EVALSHA EVAL_RO EVALSHA_RO SCRIPT, FUNCTION FCALL FCALL_RO: Lua, replicated.

EVAL, EVALSHA and FCALL are replicated commands: the script (or the SHA, resolved from the
replicated script store when the entry is applied) is the Raft entry, and every node runs
it at apply time, inside the entry's transaction, with the entry's clock and random seed
(rcache.scripting). ``redis.call`` runs the command table's handlers exactly as the state
machine does, so the script's writes land in the entry's WriteBatch, and the writes made
before an error stay, as in Redis. SCRIPT LOAD/FLUSH and FUNCTION LOAD/DELETE/FLUSH/RESTORE
go through the log too and keep scripts and libraries in RocksDB (outside any database,
so FLUSHALL keeps them, as Redis does; snapshots carry them). The *_RO variants and
EVAL of a ``#!lua flags=no-writes`` script are reads: they run on the node that got them,
against its local state, and any write inside is refused.
"""

from __future__ import annotations

import logging

from .. import errors, scripting
from ..errors import CommandError
from ..resp import OK, SimpleString
from ..scripting import LuaRun, sha1hex
from ..storage import end_of_prefix
from .table import Context, command, container, lookup

log = logging.getLogger(__name__)

_G = "scripting"
SCRIPT_PREFIX = b"\x00script:"  # + sha1 (40 lower-case hex digits) -> body
LIBRARY_PREFIX = b"\x00library:"  # + library name -> marshal((code, [(name, desc, flags)]))
FUNCTION_PREFIX = b"\x00function:"  # + lower-case function name -> library name

NOSCRIPT = "NOSCRIPT No matching script. Please use EVAL."
NOTBUSY = "NOTBUSY No scripts in execution right now."
FUNCTION_FLAGS = ("no-writes", "allow-oom", "allow-stale", "no-cluster",
                  "allow-cross-slot-keys")
_SCRIPT_FLAGS = FUNCTION_FLAGS  # what a '#!lua flags=' line may name
_DUMP_MAGIC = b"RCFN1"


def numkeys_positions(argv: list[bytes]) -> list[int]:
    """Key positions of EVAL-like commands: argv[2] is numkeys, the keys follow it."""
    try:
        count = int(argv[2])
    except (IndexError, ValueError):
        return []
    if count < 0 or 3 + count > len(argv):
        return []
    return list(range(3, 3 + count))


def _keys_and_args(argv: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    from .keyspace import int_arg
    count = int_arg(argv[2])
    if count < 0:
        raise CommandError("ERR Number of keys can't be negative")
    if count > len(argv) - 3:
        raise CommandError("ERR Number of keys can't be greater than number of args")
    return argv[3:3 + count], argv[3 + count:]


def _record(ctx: Context, key: bytes) -> bytes | None:
    """A record outside the databases, as of the entry being applied (or this node's state)."""
    ks = ctx.ks
    return ks.txn.get(key) if ks.txn is not None else ks.store.db.get(key)


def _records(ctx: Context, prefix: bytes) -> list[tuple[bytes, bytes]]:
    """Records under prefix, with the entry's pending writes merged in."""
    ks = ctx.ks
    found = {}
    for key, value in ks.store.db.items(from_key=prefix):
        if not key.startswith(prefix):
            break
        found[key] = value
    if ks.txn is not None:
        found = {key: ks.txn.get(key) for key in found}
        found.update((key, value) for key, value in ks.txn.pending.items()
                     if key.startswith(prefix))
    return sorted((key, value) for key, value in found.items() if value is not None)


def _writable(ctx: Context):
    if ctx.ks.txn is None:
        raise CommandError("ERR this command must go through the Raft log")
    return ctx.ks.txn


# -- running a script ---------------------------------------------------------------------
class _Caller:
    """redis.call inside a script: the command table's handlers, in the script's context
    (the entry's transaction, clock and generator when applied)."""

    def __init__(self, ctx: Context, read_only: bool) -> None:
        self.ks = ctx.ks
        self.rng = ctx.rng
        self.hub = ctx.hub
        self.read_only = read_only

    def __call__(self, argv: list[bytes]):
        try:
            cmd = lookup(argv)
        except CommandError as err:
            if str(err).startswith("ERR wrong number of arguments"):
                raise CommandError(scripting.ARITY_FROM_SCRIPT) from None
            raise CommandError(scripting.UNKNOWN_FROM_SCRIPT) from None
        special = _IN_SCRIPT.get(cmd.full_name)
        if special is not None:
            return special(self, argv)
        if "noscript" in cmd.flags or "node" in cmd.flags:
            raise CommandError(scripting.SCRIPT_NOT_ALLOWED)
        if self.read_only and cmd.is_write:
            raise CommandError(scripting.WRITE_IN_READ_ONLY)
        try:
            return cmd.handler(Context(self.ks, self.rng, hub=self.hub), argv)
        except CommandError:
            raise
        except Exception:  # a bug must not stop the log: every node fails the same way
            log.exception("command %r failed inside a script", argv[:1])
            raise CommandError("ERR internal error while running a command") from None

    def select(self, argv: list[bytes]):
        from .keyspace import int_arg
        db = int_arg(argv[1])
        if not 0 <= db < self.ks.store.databases:
            raise CommandError(errors.DB_INDEX)
        self.ks = self.ks.other(db)
        return OK

    def time(self, argv: list[bytes]):
        now_ms = self.ks.now_ms
        return [str(now_ms // 1000).encode(), str(now_ms % 1000 * 1000).encode()]


def _ping(caller: _Caller, argv: list[bytes]):
    if len(argv) > 2:
        raise CommandError(scripting.ARITY_FROM_SCRIPT)
    return argv[1] if len(argv) == 2 else SimpleString("PONG")


# Connection commands a script may call, answered by the script's own context.
_IN_SCRIPT = {
    "select": _Caller.select,
    "time": _Caller.time,
    "ping": _ping,
    "echo": lambda caller, argv: argv[1],
}


def _new_run(ctx: Context, name: str, read_only: bool) -> LuaRun:
    return LuaRun(_Caller(ctx, read_only), seed=ctx.rng.getrandbits(32),
                  budget=scripting.instruction_budget, name=name)


def _shebang(body: bytes) -> tuple[bytes, frozenset[str] | None]:
    """EVAL's '#!lua flags=...' line: -> (body to compile, flags; None without a shebang)."""
    if not body.startswith(b"#!"):
        return body, None
    line, newline, rest = body.partition(b"\n")
    words = line.decode("utf-8", "surrogateescape").split(" ")
    if words[0] != "#!lua":
        raise CommandError(f"ERR Unexpected engine in script shebang: {words[0]}")
    flags: set[str] = set()
    for word in words[1:]:
        if not word:
            continue
        if not word.startswith("flags="):
            raise CommandError(f"ERR Unknown lua shebang option: {word}")
        for flag in word[len("flags="):].split(","):
            if flag not in _SCRIPT_FLAGS:
                raise CommandError(f"ERR Unexpected flag in script shebang: {flag}")
            flags.add(flag)
    return newline + rest, frozenset(flags)


def _evaluate(ctx: Context, body: bytes, argv: list[bytes], read_only_command: bool,
              cache: bool):
    keys, args = _keys_and_args(argv)
    code, flags = _shebang(body)
    read_only = read_only_command or (flags is not None and "no-writes" in flags)
    if read_only_command and flags is not None and "no-writes" not in flags:
        raise CommandError("ERR Can not execute a script with write flag using *_ro command.")
    sha = sha1hex(body)
    run = _new_run(ctx, sha, read_only)
    function = run.compile(code, scripting.EVAL_CHUNK)
    if cache and ctx.ks.txn is not None:
        key = SCRIPT_PREFIX + sha.encode()
        if ctx.ks.txn.get(key) is None:
            ctx.ks.txn.put(key, body)
    run.set_global(b"KEYS", run.table(keys))
    run.set_global(b"ARGV", run.table(args))
    return run.run(function)


def _body_of(ctx: Context, sha: bytes) -> bytes:
    body = _record(ctx, SCRIPT_PREFIX + sha.lower()) if len(sha) == 40 else None
    if body is None:
        raise CommandError(NOSCRIPT)
    return body


_EVAL_FLAGS = "noscript skip_monitor no_mandatory_keys stale"


@command("eval", -3, _EVAL_FLAGS + " replicated", group=_G, since="2.6.0",
         key_finder=numkeys_positions, summary="Execute a Lua script server side",
         complexity="Depends on the script that is executed.")
def eval_(ctx: Context, argv: list[bytes]):
    return _evaluate(ctx, argv[1], argv, read_only_command=False, cache=True)


@command("evalsha", -3, _EVAL_FLAGS + " replicated", group=_G, since="2.6.0",
         key_finder=numkeys_positions, summary="Execute a Lua script server side",
         complexity="Depends on the script that is executed.")
def evalsha(ctx: Context, argv: list[bytes]):
    _keys_and_args(argv)
    return _evaluate(ctx, _body_of(ctx, argv[1]), argv, read_only_command=False, cache=False)


@command("eval_ro", -3, _EVAL_FLAGS + " readonly", group=_G, since="7.0.0",
         key_finder=numkeys_positions, summary="Execute a read-only Lua script server side",
         complexity="Depends on the script that is executed.")
def eval_ro(ctx: Context, argv: list[bytes]):
    return _evaluate(ctx, argv[1], argv, read_only_command=True, cache=False)


@command("evalsha_ro", -3, _EVAL_FLAGS + " readonly", group=_G, since="7.0.0",
         key_finder=numkeys_positions, summary="Execute a read-only Lua script server side",
         complexity="Depends on the script that is executed.")
def evalsha_ro(ctx: Context, argv: list[bytes]):
    _keys_and_args(argv)
    return _evaluate(ctx, _body_of(ctx, argv[1]), argv, read_only_command=True, cache=False)


# -- SCRIPT -------------------------------------------------------------------------------
container("script", -2, "", group=_G, since="2.6.0",
          summary="A container for Lua scripts management commands")


@command("load", 3, "noscript stale replicated", group=_G, container="script", since="2.6.0",
         summary="Load the specified Lua script into the script cache",
         complexity="O(N) with N being the length in bytes of the script body.")
def script_load(ctx: Context, argv: list[bytes]):
    body = argv[2]
    code, _ = _shebang(body)
    _new_run(ctx, "", True).compile(code, scripting.EVAL_CHUNK)
    sha = sha1hex(body).encode()
    _writable(ctx).put(SCRIPT_PREFIX + sha, body)
    return sha


@command("exists", -3, "noscript node", group=_G, container="script", since="2.6.0",
         summary="Check existence of scripts in the script cache.",
         complexity="O(N) with N being the number of scripts to check (so checking a single "
                    "script is an O(1) operation).")
def script_exists(ctx: Context, argv: list[bytes]):
    db = ctx.server.store.db
    return [int(len(sha) == 40 and db.get(SCRIPT_PREFIX + sha.lower()) is not None)
            for sha in argv[2:]]


def _flush_mode(argv: list[bytes], error: str) -> None:
    if len(argv) > 3 or (len(argv) == 3 and argv[2].lower() not in (b"sync", b"async")):
        raise CommandError(error)


@command("flush", -2, "noscript replicated", group=_G, container="script", since="2.6.0",
         summary="Remove all the scripts from the script cache.",
         complexity="O(N) with N being the number of scripts in cache")
def script_flush(ctx: Context, argv: list[bytes]):
    _flush_mode(argv, "ERR SCRIPT FLUSH only support SYNC|ASYNC option")
    _writable(ctx).delete_range(SCRIPT_PREFIX, end_of_prefix(SCRIPT_PREFIX))
    return OK


@command("kill", 2, "noscript allow_busy node", group=_G, container="script", since="2.6.0",
         summary="Kill the script currently in execution.")
def script_kill(ctx: Context, argv: list[bytes]):
    """Scripts here never outlive their instruction budget: there is nothing to kill."""
    raise CommandError(NOTBUSY)


@command("debug", 3, "noscript node", group=_G, container="script", since="3.2.0",
         summary="Set the debug mode for executed scripts.")
def script_debug(ctx: Context, argv: list[bytes]):
    if argv[2].lower() == b"no":
        return OK
    if argv[2].lower() in (b"yes", b"sync"):
        raise CommandError("ERR SCRIPT DEBUG is not supported by rcache (scripts run on "
                           "every node when their Raft entry is applied)")
    raise CommandError("ERR Use SCRIPT DEBUG YES/SYNC/NO")


@command("help", 2, "loading stale node", group=_G, container="script", since="5.0.0",
         summary="Show helpful text about the different subcommands")
def script_help(ctx: Context, argv: list[bytes]):
    return [SimpleString(line) for line in (
        "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "DEBUG (YES|SYNC|NO)", "    Set the debug mode for subsequent scripts executed.",
        "EXISTS <sha1> [<sha1> ...]",
        "    Return information about the existence of the scripts in the script cache.",
        "FLUSH [ASYNC|SYNC]", "    Flush the Lua scripts cache. Very dangerous on replicas.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the scripts cache.",
        "    * SYNC: Synchronously flush the scripts cache.",
        "KILL", "    Kill the currently executing Lua script.",
        "LOAD <script>", "    Load a script into the scripts cache without executing it.",
        "HELP", "    Prints this help.")]
