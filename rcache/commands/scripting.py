"""EVAL EVALSHA EVAL_RO EVALSHA_RO SCRIPT, FUNCTION FCALL FCALL_RO: Lua, replicated.

EVAL, EVALSHA and FCALL are replicated commands: the script (or the SHA, resolved from the
replicated script store when the entry is applied) is the Raft entry, and every node runs
it at apply time, inside the entry's transaction, with the entry's clock and random seed
(rcache.scripting). ``redis.call`` runs the command table's handlers exactly as the state
machine does, so the script's writes land in the entry's WriteBatch, and the writes made
before an error stay, as in Redis. SCRIPT LOAD/FLUSH and FUNCTION LOAD/DELETE/FLUSH/RESTORE
go through the log too and keep scripts and libraries in RocksDB (outside any database,
so FLUSHALL keeps them, as Redis does; snapshots carry them). The *_RO variants, and the
others when the script or function is flagged no-writes, are reads: they run on the node
that got them, against its local state (on one state: no entry commits meanwhile), and any
write inside is refused. A follower with cluster-enabled no also keeps a script cache of its
own, as a Redis replica does (``_replica_cache``), which apply never reads.
"""

from __future__ import annotations

import contextlib
import logging
import marshal
import re
import sys
import time
import zlib

import lupa.lua51 as lua51

from .. import errors, scripting
from ..errors import CommandError
from ..glob import matcher
from ..lualibs import format_number, is_table
from ..pubsub import settle
from ..resp import OK, OrderedSet, SimpleString, parse_int, split_args
from ..scripting import LuaRun, ScriptRefusal, TableError, sha1hex
from ..storage import SCRIPTS_BYTES_KEY, SCRIPTS_COUNT_KEY, end_of_prefix
from .acl import stored_user
from .acl_rules import User, denial
from .args import int_arg
from .table import (
    COMMANDS,
    Command,
    Context,
    always,
    command,
    container,
    count_rejected,
    help_reply,
    lookup,
)

log = logging.getLogger(__name__)

_G = "scripting"
SCRIPT_PREFIX = b"\x00script:"  # + sha1 (40 lower-case hex digits) -> body
LIBRARY_PREFIX = b"\x00library:"  # + library name -> marshal((code, [(name, desc, flags)]))
FUNCTION_PREFIX = b"\x00function:"  # + lower-case name -> marshal((library, name, flags))

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

    def __init__(self, ctx: Context, read_only: bool, deny_oom: bool = False) -> None:
        self.ks = ctx.ks
        # A script without flags, started past maxmemory: its first write may not be one that
        # uses more memory (after a write it may, not to stop half-way), as in Redis.
        self.deny_oom = deny_oom
        self.rng = ctx.rng
        self.hub = ctx.hub
        self.read_only = read_only  # EVAL_RO, FCALL_RO, no-writes: refuses writes as such
        # Outside the log, a script without flags runs on a follower with cluster-enabled no,
        # which refuses its writes as a Redis replica does (a read-only one never writes).
        self.on_replica = not read_only and ctx.ks.txn is None
        self.user = _script_user(ctx)  # None: the default user, who may run anything
        self.stats = ctx.server.stats if ctx.server else ctx.stats
        # MONITOR: where the commands it runs are noted (None: nobody here would see them).
        # Noting them changes nothing the script or the database sees.
        self.shown = (ctx.script_lines if ctx.server is None
                      else ctx.server.monitors.script_lines_here())

    def __call__(self, argv: list[bytes]):
        """Run one command; counted in its INFO commandstats, its error in errorstats, as
        Redis counts a script's (node-local statistics: nothing of it reaches the database).
        The script's own error reply, if this one becomes it, is then not counted again."""
        try:
            return self._run(argv)
        except CommandError as err:
            if self.stats is not None:
                self.stats.count_error(err)
            raise

    def _run(self, argv: list[bytes]):
        try:
            cmd = lookup(argv)
        except CommandError as err:
            if str(err).startswith(errors.WRONG_ARITY_START):
                count_rejected(argv)
                raise ScriptRefusal(scripting.ARITY_FROM_SCRIPT) from None
            raise ScriptRefusal(scripting.UNKNOWN_FROM_SCRIPT) from None
        special = _IN_SCRIPT.get(cmd.full_name)
        refusal = self._refusal(cmd, argv, special is not None)
        if refusal is not None:
            cmd.rejected_calls += 1  # INFO commandstats counts it, as Redis does
            raise ScriptRefusal(refusal)
        start = time.perf_counter_ns()
        failed = True
        try:
            if cmd.full_name in ("xread", "xreadgroup"):
                _refuse_block(argv)
            # a read's lookups count in keyspace_hits/misses as Redis's call() of a read does
            with self.ks.reads_counted("readonly" in cmd.flags):
                if special is not None:
                    reply = special(self, argv)
                else:  # PUBLISH's receivers are counted later, on the event loop: a script sees 0
                    reply = settle(cmd.call(Context(self.ks, self.rng, hub=self.hub), argv))
            failed = type(reply) is CommandError
            return reply
        except CommandError:
            raise
        except Exception:  # a bug must not stop the log: every node fails the same way
            log.exception("command %r failed inside a script", argv[:1])
            raise CommandError("ERR internal error while running a command") from None
        finally:  # it ran (failed on its data or not): counted, and shown after it, as Redis
            cmd.record((time.perf_counter_ns() - start) // 1000, failed)
            if self.stats is not None:
                self.stats.commands_processed += 1  # (Redis's call() counts it)
            if self.shown is not None:
                self.shown.note(time.time(), self.ks.dbnum, cmd, argv)

    def _refusal(self, cmd: Command, argv: list[bytes], special: bool) -> str | None:
        """Why the script may not run this command, checked in Redis's order, or None."""
        if not special and ("noscript" in cmd.flags or "node" in cmd.flags):
            return scripting.SCRIPT_NOT_ALLOWED
        if self.user is not None:
            refused = denial(self.user, cmd, argv)
            if refused is not None:
                return _ACL_REFUSALS[refused[0]]
        if special or not cmd.is_write:
            return None
        if self.read_only:
            return scripting.WRITE_IN_READ_ONLY
        if self.on_replica and cmd.replica_runs_if is None:  # PUBLISH: to its own subscribers
            return errors.READONLY_REPLICA
        if self.deny_oom:
            if "denyoom" in cmd.flags:
                return errors.OOM
            self.deny_oom = False  # a first write: the script may not stop half-way now
        return None

    def may_run(self, argv: list[bytes]) -> bool:
        """redis.acl_check_cmd: whether the script's user may run this command (found by its
        name alone, as Redis's lookupCommand finds it: its arity is not checked)."""
        cmd = _named_command(argv)
        if cmd is None:
            raise CommandError("ERR Invalid command passed to redis.acl_check_cmd()")
        return self.user is None or denial(self.user, cmd, argv) is None

    def select(self, argv: list[bytes]):
        db = int_arg(argv[1])
        if not 0 <= db < self.ks.store.databases:
            raise CommandError(errors.DB_INDEX)
        self.ks = self.ks.other(db)
        return OK

    def time(self, argv: list[bytes]):
        now_ms = self.ks.now_ms
        return [str(now_ms // 1000).encode(), str(now_ms % 1000 * 1000).encode()]


_INTEGER = re.compile(rb"-?[0-9]+")


def _named_command(argv: list[bytes]) -> Command | None:
    """The command argv names, its arity unchecked (Redis's lookupCommand)."""
    cmd = COMMANDS.get(argv[0].lower())
    if cmd is not None and cmd.subcommands and len(argv) > 1:
        cmd = cmd.subcommands.get(argv[1].lower())
    return cmd


_ACL_REFUSALS = {
    "command": "ERR The user executing the script can't run this command or subcommand",
    "key": "ERR The user executing the script can't access at least one of the keys "
           "mentioned in the command arguments",
    "channel": "ERR The user executing the script can't publish to the channel mentioned in "
               "the command",
}


def _script_user(ctx: Context) -> User | None:
    """Whose permissions a script's commands need: the client's here; in apply, the user
    the entry names, as the replicated rules stand at this entry (a deleted one may run
    nothing), so that every node refuses the same commands."""
    if ctx.client is not None:
        return ctx.client.acl_user
    if ctx.script_user is None:
        return None
    return stored_user(ctx, ctx.script_user) or User(ctx.script_user)


def _refuse_block(argv: list[bytes]) -> None:
    """XREAD/XREADGROUP's BLOCK from a script is an error, met where Redis meets it: reading
    the options in order, before BLOCK's own value is looked at."""
    skips = {b"COUNT": 1, b"GROUP": 2, b"NOACK": 0} if argv[0].lower() == b"xreadgroup" \
        else {b"COUNT": 1}
    i = 1
    while i < len(argv) - 1:
        option = argv[i].upper()
        if option == b"BLOCK":
            name = argv[0].decode("utf-8", "surrogateescape")
            raise CommandError(f"ERR {name} command is not allowed with BLOCK option from "
                               "scripts")
        if option not in skips or (option == b"COUNT" and not _INTEGER.fullmatch(argv[i + 1])):
            return  # STREAMS, or an error the command itself reports first
        i += 1 + skips[option]


def _ping(caller: _Caller, argv: list[bytes]):
    if len(argv) > 2:
        raise CommandError(errors.wrong_arity("ping"))
    return argv[1] if len(argv) == 2 else SimpleString("PONG")


# Connection commands a script may call, answered by the script's own context.
_IN_SCRIPT = {
    "select": _Caller.select,
    "time": _Caller.time,
    "ping": _ping,
    "echo": lambda caller, argv: argv[1],
}


def _new_run(ctx: Context, name: str, read_only: bool, deny_oom: bool = False,
             debugger=None) -> LuaRun:
    caller = _Caller(ctx, read_only, deny_oom)
    # A debugged run stops instead of dying when it uses up the budget (rcache.ldb counts it)
    budget = scripting.instruction_budget if debugger is None else sys.maxsize
    return LuaRun(caller, seed=ctx.rng.getrandbits(32), budget=budget, name=name,
                  acl_check=caller.may_run, debugger=debugger)


def _refuse_oom(ctx: Context, flags) -> None:
    """Past maxmemory (as the leader found it) a script with flags (a function, an EVAL with
    a shebang) runs only if they allow it; one without refuses its first memory-using write
    instead (_Caller.deny_oom)."""
    if ctx.oom_at_start and flags is not None and \
            "allow-oom" not in flags and "no-writes" not in flags:
        raise CommandError(errors.OOM)


def _shebang_words(line: bytes) -> list[str] | None:
    """The words of a shebang line as Redis splits them (sdssplitargs: quotes allowed)."""
    words = split_args(line)
    return None if words is None else [_decode(word) for word in words]


def _shebang(body: bytes) -> tuple[bytes, frozenset[str] | None]:
    """EVAL's '#!lua flags=...' line: -> (body to compile, flags; None without a shebang)."""
    if not body.startswith(b"#!"):
        return body, None
    line, newline, rest = body.partition(b"\n")
    if not newline:
        raise CommandError("ERR Invalid script shebang")
    words = _shebang_words(line)
    if not words:
        raise CommandError("ERR Invalid engine in script shebang")
    if words[0] != "#!lua":
        raise CommandError(f"ERR Unexpected engine in script shebang: {words[0]}")
    flags: set[str] = set()
    for word in words[1:]:
        if not word.startswith("flags="):
            raise CommandError(f"ERR Unknown lua shebang option: {word}")
        listed = word[len("flags="):]
        for flag in listed.split(",") if listed else ():  # 'flags=' alone: no flags
            if flag not in _SCRIPT_FLAGS:
                raise CommandError(f"ERR Unexpected flag in script shebang: {flag}")
            flags.add(flag)
    return newline + rest, frozenset(flags)


def _evaluate(ctx: Context, body: bytes, keys_and_args: tuple[list[bytes], list[bytes]],
              read_only_command: bool, cache: bool, debugger=None):
    """Run a script; ``cache``: EVAL and EVAL_RO, which name its body, cache it as Redis
    does (EVAL's, applied, in the replicated cache; on a follower, in its own);
    ``debugger``: rcache.ldb's, for a debugged EVAL."""
    keys, args = keys_and_args
    code, flags = _shebang(body)
    read_only = read_only_command or (flags is not None and "no-writes" in flags)
    if read_only_command and flags is not None and "no-writes" not in flags:
        raise CommandError(_write_flag_refusal(ctx))
    sha = sha1hex(body)
    run = _new_run(ctx, sha, read_only, ctx.oom_at_start and flags is None, debugger)
    function = run.compile(code, scripting.EVAL_CHUNK)
    if cache:
        own_cache = _replica_cache(ctx)
        if own_cache is not None:
            own_cache[sha.encode()] = body
        elif ctx.ks.txn is not None and not read_only_command:
            _cache_script(ctx.ks.txn, sha.encode(), body)
    _refuse_oom(ctx, flags)
    run.set_global(b"KEYS", run.table(keys))
    run.set_global(b"ARGV", run.table(args))
    with _one_state(ctx):
        return run.run(function)


def _one_state(ctx: Context) -> contextlib.AbstractContextManager:
    """Where a script reads: applied, the entry's transaction; outside the log (a read-only
    script, or one a follower runs as a Redis replica), this node's store, no entry's writes
    becoming visible while it runs (Store.one_state), as none applies while Redis runs one."""
    return contextlib.nullcontext() if ctx.ks.txn is not None else ctx.ks.store.one_state()


def _replica_cache(ctx: Context) -> dict[bytes, bytes] | None:
    """The script cache of a follower with cluster-enabled no, outside the log: its own, as a
    Redis replica's is (SCRIPT LOAD and EVAL there cache, SCRIPT FLUSH there empties it, the
    leader's SCRIPT FLUSH leaves it); the replicated one stays visible beside it. None
    elsewhere: applied, or on the leader, the cache is the replicated one."""
    if ctx.ks.txn is None and ctx.server is not None and ctx.server.cluster.acts_as_replica():
        return ctx.ks.store.local_scripts
    return None


def evaluate_debugged(ctx: Context, argv: list[bytes], debugger) -> object:
    """EVAL or EVAL_RO (argv) under the Lua debugger (rcache.ldb), in ``ctx``: its
    reply, or raises CommandError."""
    return _evaluate(ctx, argv[1], _keys_and_args(argv), argv[0].lower() == b"eval_ro",
                     cache=False, debugger=debugger)


def _write_flag_refusal(ctx: Context) -> str:
    """EVAL_RO/FCALL_RO of a script flagged as writing: a Redis replica refuses it as a
    write (READONLY) before the *_ro check."""
    if ctx.server is not None and ctx.server.cluster.acts_as_replica():
        return errors.READONLY_REPLICA
    return "ERR Can not execute a script with write flag using *_ro command."


def _no_writes(body: bytes | None) -> bool:
    try:
        flags = _shebang(body)[1] if body is not None else None
    except CommandError:
        return False
    return flags is not None and "no-writes" in flags


def _eval_reads(store, argv: list[bytes]) -> bool:
    """EVAL of a '#!lua flags=no-writes' script is a read, as Redis lets replicas run it."""
    return argv[1].startswith(b"#!") and _no_writes(argv[1])


def _evalsha_reads(store, argv: list[bytes]) -> bool:
    return len(argv[1]) == 40 and _no_writes(_stored_script(store, argv[1]))


def _stored_script(store, sha: bytes) -> bytes | None:
    """A script this node may run outside the log: in the replicated cache, or in the one
    it keeps as a follower (never read by apply)."""
    if len(sha) != 40:
        return None
    sha = sha.lower()
    body = store.db.get(SCRIPT_PREFIX + sha)
    return store.local_scripts.get(sha) if body is None else body


def _without_flags(body: bytes | None) -> bool:
    """A script a Redis replica runs though it may write (Redis's evalGetCommandFlags): one
    without a shebang, whose writes it then refuses one by one; an unknown or malformed one,
    to answer its error."""
    if body is None or not body.startswith(b"#!"):
        return True
    try:
        _shebang(body)
    except CommandError:
        return True
    return False


def _eval_runs_on_replica(store, argv: list[bytes]) -> bool:
    return _without_flags(argv[1])


def _evalsha_runs_on_replica(store, argv: list[bytes]) -> bool:
    return _without_flags(_stored_script(store, argv[1]))


def _cache_script(txn, sha: bytes, body: bytes) -> None:
    key = SCRIPT_PREFIX + sha
    if txn.get(key) is None:
        txn.put(key, body)
        txn.add_count(SCRIPTS_COUNT_KEY, 1)
        txn.add_count(SCRIPTS_BYTES_KEY, len(body))


def _body_of(ctx: Context, sha: bytes) -> bytes:
    if ctx.ks.txn is None:
        body = _stored_script(ctx.ks.store, sha)
    else:  # applied: the replicated cache only, the same on every node
        body = _record(ctx, SCRIPT_PREFIX + sha.lower()) if len(sha) == 40 else None
    if body is None:
        raise CommandError(NOSCRIPT)
    return body


_EVAL_FLAGS = "noscript skip_monitor no_mandatory_keys stale"
SCRIPT_DEBUG_SYNC_UNSUPPORTED = (
    "ERR SCRIPT DEBUG SYNC is not supported by rcache: a synchronous session keeps the "
    "script's writes, which would have to go through the Raft log while the debugger holds "
    "the script; SCRIPT DEBUG YES debugs it with its writes rolled back")
SCRIPT_DEBUG_REFUSED = ("ERR SCRIPT DEBUG SYNC is not supported by rcache: this connection "
                        "asked for a synchronous debugging session, so its scripts do not run "
                        "(SCRIPT DEBUG NO or YES ends that)")
SCRIPT_DEBUG_PIPELINED = "ERR SCRIPT DEBUG must be called outside a pipeline"
DEBUGGED_SCRIPT_COMMANDS = frozenset(("eval", "evalsha", "eval_ro", "evalsha_ro"))


@command("eval", -3, _EVAL_FLAGS + " replicated touches_any_key script_reads",
         group=_G, since="2.6.0",
         key_finder=numkeys_positions, reads_if=_eval_reads,
         replica_runs_if=_eval_runs_on_replica,
         summary="Execute a Lua script server side",
         complexity="Depends on the script that is executed.")
def eval_(ctx: Context, argv: list[bytes]):
    return _evaluate(ctx, argv[1], _keys_and_args(argv), read_only_command=False, cache=True)


@command("evalsha", -3, _EVAL_FLAGS + " replicated touches_any_key script_reads",
         group=_G, since="2.6.0",
         key_finder=numkeys_positions, reads_if=_evalsha_reads,
         replica_runs_if=_evalsha_runs_on_replica,
         summary="Execute a Lua script server side",
         complexity="Depends on the script that is executed.")
def evalsha(ctx: Context, argv: list[bytes]):
    keys_and_args = _keys_and_args(argv)  # its errors come before NOSCRIPT, as in Redis
    return _evaluate(ctx, _body_of(ctx, argv[1]), keys_and_args, read_only_command=False,
                     cache=False)


@command("eval_ro", -3, _EVAL_FLAGS + " readonly", group=_G, since="7.0.0",
         key_finder=numkeys_positions, summary="Execute a read-only Lua script server side",
         complexity="Depends on the script that is executed.")
def eval_ro(ctx: Context, argv: list[bytes]):
    return _evaluate(ctx, argv[1], _keys_and_args(argv), read_only_command=True, cache=True)


@command("evalsha_ro", -3, _EVAL_FLAGS + " readonly", group=_G, since="7.0.0",
         key_finder=numkeys_positions, summary="Execute a read-only Lua script server side",
         complexity="Depends on the script that is executed.")
def evalsha_ro(ctx: Context, argv: list[bytes]):
    keys_and_args = _keys_and_args(argv)
    return _evaluate(ctx, _body_of(ctx, argv[1]), keys_and_args, read_only_command=True,
                     cache=False)


# -- SCRIPT -------------------------------------------------------------------------------
container("script", -2, "", group=_G, since="2.6.0",
          summary="A container for Lua scripts management commands")


@command("load", 3, "noscript stale replicated", group=_G, container="script", since="2.6.0",
         replica_runs_if=always, summary="Load the specified Lua script into the script cache",
         complexity="O(N) with N being the length in bytes of the script body.")
def script_load(ctx: Context, argv: list[bytes]):
    body = argv[2]
    code, _ = _shebang(body)
    _new_run(ctx, "", True).compile(code, scripting.EVAL_CHUNK)
    sha = sha1hex(body).encode()
    own_cache = _replica_cache(ctx)
    if own_cache is not None:
        own_cache[sha] = body
    else:
        _cache_script(_writable(ctx), sha, body)
    return sha


@command("exists", -3, "noscript node", group=_G, container="script", since="2.6.0",
         summary="Check existence of scripts in the script cache.",
         complexity="O(N) with N being the number of scripts to check (so checking a single "
                    "script is an O(1) operation).")
def script_exists(ctx: Context, argv: list[bytes]):
    """The leader answers from the replicated cache alone (what its EVALSHA finds when
    applied); a follower with cluster-enabled no, from its own cache too."""
    store = ctx.server.store
    if ctx.server.cluster.acts_as_replica():
        return [int(_stored_script(store, sha) is not None) for sha in argv[2:]]
    return [int(len(sha) == 40 and store.db.get(SCRIPT_PREFIX + sha.lower()) is not None)
            for sha in argv[2:]]


def _flush_mode(argv: list[bytes], error: str) -> None:
    if len(argv) > 3 or (len(argv) == 3 and argv[2].lower() not in (b"sync", b"async")):
        raise CommandError(error)


@command("flush", -2, "noscript replicated", group=_G, container="script", since="2.6.0",
         replica_runs_if=always, summary="Remove all the scripts from the script cache.",
         complexity="O(N) with N being the number of scripts in cache")
def script_flush(ctx: Context, argv: list[bytes]):
    _flush_mode(argv, "ERR SCRIPT FLUSH only support SYNC|ASYNC option")
    own_cache = _replica_cache(ctx)
    if own_cache is not None:
        own_cache.clear()
        return OK
    txn = _writable(ctx)
    txn.delete_range(SCRIPT_PREFIX, end_of_prefix(SCRIPT_PREFIX))
    txn.reset_count(SCRIPTS_COUNT_KEY)
    txn.reset_count(SCRIPTS_BYTES_KEY)
    return OK


@command("kill", 2, "noscript allow_busy node", group=_G, container="script", since="2.6.0",
         summary="Kill the script currently in execution.")
def script_kill(ctx: Context, argv: list[bytes]):
    """Scripts here never outlive their instruction budget: there is nothing to kill."""
    raise CommandError(NOTBUSY)


@command("debug", 3, "noscript node", group=_G, container="script", since="3.2.0",
         summary="Set the debug mode for executed scripts.")
def script_debug(ctx: Context, argv: list[bytes]):
    """YES: the connection's next EVAL runs under the Lua debugger (rcache.ldb), its writes
    rolled back, as Redis's forked session. SYNC would keep them: refused, and remembered
    so that `redis-cli --ldb-sync-mode`, which ignores the refusal, does not run its script
    for real (SCRIPT_DEBUG_REFUSED) until SCRIPT DEBUG NO or YES."""
    replies = ctx.client.replies
    if replies.out or replies.slots:
        raise CommandError(SCRIPT_DEBUG_PIPELINED)
    mode = argv[2].lower()
    if mode == b"no":
        ctx.client.script_debug = None
        return OK
    if mode == b"yes":
        ctx.client.script_debug = "yes"
        return OK
    if mode == b"sync":
        ctx.client.script_debug = "sync"
        raise CommandError(SCRIPT_DEBUG_SYNC_UNSUPPORTED)
    raise CommandError("ERR Use SCRIPT DEBUG YES/SYNC/NO")


@command("help", 2, "loading stale node", group=_G, container="script", since="5.0.0",
         summary="Show helpful text about the different subcommands")
def script_help(ctx: Context, argv: list[bytes]):
    return help_reply("SCRIPT", (
        "DEBUG (YES|SYNC|NO)", "    Set the debug mode for subsequent scripts executed.",
        "EXISTS <sha1> [<sha1> ...]",
        "    Return information about the existence of the scripts in the script cache.",
        "FLUSH [ASYNC|SYNC]", "    Flush the Lua scripts cache. Very dangerous on replicas.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the scripts cache.",
        "    * SYNC: Synchronously flush the scripts cache.",
        "KILL", "    Kill the currently executing Lua script.",
        "LOAD <script>", "    Load a script into the scripts cache without executing it."))


# -- FUNCTION / FCALL ---------------------------------------------------------------------
_NAME = re.compile(rb"[A-Za-z0-9_]+\Z")
BAD_NAME = ("Library names can only contain letters, numbers, or underscores(_) and must be "
            "at least one character long")


class _Library:
    """A library's code and what its loading registered: name -> (callback, flags, desc)."""

    def __init__(self, name: bytes, code: bytes) -> None:
        self.name = name
        self.code = code
        self.functions: dict[bytes, tuple[object, tuple[str, ...], bytes | None]] = {}
        self.loading = True  # until its code has run: redis.register_function works then

    def register(self, *args) -> None:
        """redis.register_function(name, callback) or redis.register_function{...}; only
        while the library loads (a function that kept the redis table of that time and calls
        it later is refused, as Redis refuses it)."""
        if not self.loading:
            raise TableError("redis.register_function can only be called on FUNCTION LOAD "
                             "command")
        if len(args) == 1:
            if not is_table(args[0]):
                raise TableError("calling redis.register_function with a single argument is "
                                 "only applicable to Lua table (representing named arguments).")
            name, callback, flags, description = self._named_arguments(args[0])
        elif len(args) == 2:
            name = _lua_string(args[0])
            if name is None:
                raise TableError("first argument to redis.register_function must be a string")
            callback, flags, description = args[1], (), None
            if lua51.lua_type(callback) != "function":
                raise TableError("second argument to redis.register_function must be a "
                                 "function")
        else:
            raise TableError("wrong number of arguments to redis.register_function")
        if not _NAME.match(name):
            raise TableError(BAD_NAME)
        if name in self.functions:
            raise TableError("Function already exists in the library")
        self.functions[name] = (callback, flags, description)

    @staticmethod
    def _named_arguments(table):
        """Redis's checks, in the table's order: keys and flags match in any case."""
        name = callback = description = None
        flags: tuple[str, ...] = ()
        for key, value in table.items():
            key = _lua_string(key)
            if key is None:
                raise TableError("named argument key given to redis.register_function is not "
                                 "a string")
            key = key.lower()
            if key == b"function_name":
                name = _lua_string(value)
                if name is None:
                    raise TableError("function_name argument given to redis.register_function "
                                     "must be a string")
            elif key == b"description":
                description = _lua_string(value)
                if description is None:
                    raise TableError("description argument given to redis.register_function "
                                     "must be a string")
            elif key == b"callback":
                if lua51.lua_type(value) != "function":
                    raise TableError("callback argument given to redis.register_function must "
                                     "be a function")
                callback = value
            elif key == b"flags":
                if not is_table(value):
                    raise TableError("flags argument to redis.register_function must be a "
                                     "table representing function flags")
                flags = _function_flags(value)
            else:
                raise TableError("unknown argument given to redis.register_function")
        if name is None:
            raise TableError("redis.register_function must get a function name argument")
        if callback is None:
            raise TableError("redis.register_function must get a callback argument")
        return name, callback, flags, description


def _lua_string(value) -> bytes | None:
    """lua_tolstring: a string, a number as Lua prints it, else None."""
    if type(value) is bytes:
        return value
    if type(value) in (int, float):
        return format_number(value)
    return None


def _function_flags(table) -> tuple[str, ...]:
    """The flags at 1, 2, ... up to the first nil (any case), in FUNCTION_FLAGS' order."""
    named = set()
    index = 1
    while (value := table[index]) is not None:
        flag = _lua_string(value)
        flag = None if flag is None else flag.decode("utf-8", "replace").lower()
        if flag not in FUNCTION_FLAGS:
            raise TableError("unknown flag given")
        named.add(flag)
        index += 1
    return tuple(flag for flag in FUNCTION_FLAGS if flag in named)


def _library_name(code: bytes) -> bytes:
    """The name in a library's '#!lua name=<name>' first line (Redis's checks, in order)."""
    if not code.startswith(b"#!"):
        raise CommandError("ERR Missing library metadata")
    line, newline, _ = code.partition(b"\n")
    words = split_args(line) if newline else None
    if not words:
        raise CommandError("ERR Invalid library metadata")
    engine, *parts = words
    if engine[2:].lower() != b"lua":
        raise CommandError(f"ERR Engine '{_decode(engine[2:])}' not found")
    name = None
    for part in parts:
        if part[:5].lower() != b"name=":
            raise CommandError(f"ERR Invalid metadata value given: {_decode(part)}")
        if name is not None:
            raise CommandError("ERR Invalid metadata value, name argument was given multiple "
                               "times")
        name = part[5:]
    if name is None:
        raise CommandError("ERR Library name was not given")
    if not _NAME.match(name):
        raise CommandError(f"ERR {BAD_NAME}")
    return name


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _load(ctx: Context, code: bytes, caller: _Caller | None = None, name: str = ""
          ) -> tuple[_Library, LuaRun]:
    """Compile and run a library's code in a fresh runtime: -> what it registered."""
    library = _Library(_library_name(code), code)
    caller = caller or _Caller(ctx, True)
    run = LuaRun(caller, seed=ctx.rng.getrandbits(32), budget=scripting.instruction_budget,
                 name=name, register=library.register, acl_check=caller.may_run)
    _, _, body = code.partition(b"\n")
    function = run.compile(b"\n" + body, scripting.FUNCTION_CHUNK,
                           failure="Error compiling function")
    run.load_library(function)
    library.loading = False
    if not library.functions:
        raise CommandError("ERR No functions registered")
    return library, run


def _stored_library(ctx: Context, name: bytes) -> tuple[bytes, list] | None:
    raw = _record(ctx, LIBRARY_PREFIX + name)
    return None if raw is None else marshal.loads(raw)


def _delete_library(txn, name: bytes, functions: list) -> None:
    txn.delete(LIBRARY_PREFIX + name)
    for function in functions:
        txn.delete(FUNCTION_PREFIX + function[0].lower())


def _store_library(ctx: Context, library: _Library, replace: bool) -> None:
    """FUNCTION LOAD's checks against what exists, then the records."""
    txn = _writable(ctx)
    old = _stored_library(ctx, library.name)
    if old is not None and not replace:
        raise CommandError(f"ERR Library '{_decode(library.name)}' already exists")
    for function in library.functions:
        owner = _record(ctx, FUNCTION_PREFIX + function.lower())
        if owner is not None and marshal.loads(owner)[0] != library.name:
            raise CommandError(f"ERR Function {_decode(function)} already exists")
    if old is not None:
        _delete_library(txn, library.name, old[1])
    described = [(name, description, flags)
                 for name, (_, flags, description) in library.functions.items()]
    txn.put(LIBRARY_PREFIX + library.name, marshal.dumps((library.code, described)))
    for name, (_, flags, _) in library.functions.items():
        txn.put(FUNCTION_PREFIX + name.lower(), marshal.dumps((library.name, name, flags)))


container("function", -2, "", group=_G, since="7.0.0",
          summary="A container for function commands")


@command("load", -3, "write denyoom noscript", group=_G, container="function", since="7.0.0",
         summary="Create a function with the given arguments (name, code, description)",
         complexity="O(1) (considering compilation time is redundant)")
def function_load(ctx: Context, argv: list[bytes]):
    replace = False
    for option in argv[2:-1]:
        if option.lower() != b"replace":
            raise CommandError(f"ERR Unknown option given: {_decode(option)}")
        replace = True
    code = argv[-1]
    name = _library_name(code)
    if not replace and _stored_library(ctx, name) is not None:
        raise CommandError(f"ERR Library '{_decode(name)}' already exists")
    library, _ = _load(ctx, code)
    _store_library(ctx, library, replace)
    return library.name


@command("delete", 3, "write noscript", group=_G, container="function", since="7.0.0",
         summary="Delete a function by name")
def function_delete(ctx: Context, argv: list[bytes]):
    old = _stored_library(ctx, argv[2])
    if old is None:
        raise CommandError("ERR Library not found")
    _delete_library(_writable(ctx), argv[2], old[1])
    return OK


def _flush_functions(txn) -> None:
    for prefix in (LIBRARY_PREFIX, FUNCTION_PREFIX):
        txn.delete_range(prefix, end_of_prefix(prefix))


@command("flush", -2, "write noscript", group=_G, container="function", since="7.0.0",
         summary="Deleting all functions",
         complexity="O(N) where N is the number of functions deleted")
def function_flush(ctx: Context, argv: list[bytes]):
    if len(argv) > 3:
        raise CommandError(errors.subcommand_syntax(argv[1], "function"))
    _flush_mode(argv, "ERR FUNCTION FLUSH only supports SYNC|ASYNC option")
    _flush_functions(_writable(ctx))
    return OK


@command("list", -2, "noscript node", group=_G, container="function", since="7.0.0",
         summary="List information about all the functions",
         complexity="O(N) where N is the number of functions")
def function_list(ctx: Context, argv: list[bytes]):
    with_code, pattern = False, None
    i = 2
    while i < len(argv):
        option = argv[i].lower()
        if option == b"withcode" and not with_code:
            with_code = True
        elif option == b"libraryname" and pattern is None:
            if i + 1 >= len(argv):
                raise CommandError("ERR library name argument was not given")
            pattern = matcher(argv[i + 1])
            i += 1
        else:
            raise CommandError(f"ERR Unknown argument {_decode(argv[i])}")
        i += 1
    libraries = []
    for key, raw in _records(ctx, LIBRARY_PREFIX):
        name = key[len(LIBRARY_PREFIX):]
        if pattern is not None and not pattern(name):
            continue
        code, functions = marshal.loads(raw)
        entry = {b"library_name": name, b"engine": b"LUA", b"functions": [
            {b"name": fname, b"description": description,
             b"flags": OrderedSet(SimpleString(flag) for flag in flags)}
            for fname, description, flags in functions]}
        if with_code:
            entry[b"library_code"] = code
        libraries.append(entry)
    return libraries


def function_figures(ctx: Context) -> tuple[int, int, int]:
    """INFO memory: libraries, functions, and the bytes of the libraries' code."""
    libraries = [marshal.loads(raw) for _, raw in _records(ctx, LIBRARY_PREFIX)]
    return (len(libraries), sum(len(functions) for _, functions in libraries),
            sum(len(code) for code, _ in libraries))


@command("dump", 2, "noscript node", group=_G, container="function", since="7.0.0",
         summary="Dump all functions into a serialized binary payload",
         complexity="O(N) where N is the number of functions")
def function_dump(ctx: Context, argv: list[bytes]):
    """rcache's own payload (not Redis's RDB encoding): the libraries' code and a CRC."""
    body = _DUMP_MAGIC + b"".join(
        len(code).to_bytes(4, "big") + code
        for code, _ in (marshal.loads(raw) for _, raw in _records(ctx, LIBRARY_PREFIX)))
    return body + zlib.crc32(body).to_bytes(4, "big")


def _dumped_codes(payload: bytes) -> list[bytes]:
    wrong = CommandError("ERR DUMP payload version or checksum are wrong")
    body, crc = payload[:-4], payload[-4:]
    if not body.startswith(_DUMP_MAGIC) or zlib.crc32(body).to_bytes(4, "big") != crc:
        raise wrong
    codes, pos = [], len(_DUMP_MAGIC)
    while pos < len(body):
        size = int.from_bytes(body[pos:pos + 4], "big")
        codes.append(body[pos + 4:pos + 4 + size])
        pos += 4 + size
    if pos != len(body):
        raise wrong
    return codes


@command("restore", -3, "write denyoom noscript", group=_G, container="function",
         since="7.0.0", summary="Restore all the functions on the given payload",
         complexity="O(N) where N is the number of functions on the payload")
def function_restore(ctx: Context, argv: list[bytes]):
    if len(argv) > 4:
        raise CommandError(errors.subcommand_syntax(argv[1], "function"))
    policy = argv[3].lower() if len(argv) > 3 else b"append"
    if policy not in (b"flush", b"append", b"replace"):
        raise CommandError("ERR Wrong restore policy given, value should be either FLUSH, "
                           "APPEND or REPLACE.")
    libraries = [_load(ctx, code)[0] for code in _dumped_codes(argv[2])]
    txn = _writable(ctx)
    if policy == b"flush":
        _flush_functions(txn)
    names = [function for library in libraries for function in library.functions]
    if len(set(names)) != len(names):
        raise CommandError("ERR Function already exists")
    for library in libraries:  # every check before the first write: all or nothing
        if policy == b"append" and _stored_library(ctx, library.name) is not None:
            raise CommandError(f"ERR Library {_decode(library.name)} already exists")
    for library in libraries:
        _store_library(ctx, library, replace=True)
    return OK


@command("stats", 2, "noscript allow_busy node", group=_G, container="function",
         since="7.0.0", summary="Return information about the function currently running "
         "(name, description, duration)")
def function_stats(ctx: Context, argv: list[bytes]):
    libraries = _records(ctx, LIBRARY_PREFIX)
    functions = sum(len(marshal.loads(raw)[1]) for _, raw in libraries)
    return {b"running_script": None, b"engines": {b"LUA": {
        b"libraries_count": len(libraries), b"functions_count": functions}}}


@command("kill", 2, "noscript allow_busy node", group=_G, container="function",
         since="7.0.0", summary="Kill the function currently in execution.")
def function_kill(ctx: Context, argv: list[bytes]):
    raise CommandError(NOTBUSY)


@command("help", 2, "loading stale node", group=_G, container="function", since="7.0.0",
         summary="Show helpful text about the different subcommands")
def function_help(ctx: Context, argv: list[bytes]):
    return help_reply("FUNCTION", _FUNCTION_HELP)


_FUNCTION_HELP = (
    "LOAD [REPLACE] <FUNCTION CODE>",
    "    Create a new library with the given library name and code.",
    "DELETE <LIBRARY NAME>", "    Delete the given library.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "    Return general information on all the libraries:", "    * Library name",
    "    * The engine used to run the Library", "    * Library description",
    "    * Functions list", "    * Library code (if WITHCODE is given)",
    "    It also possible to get only function that matches a pattern using LIBRARYNAME "
    "argument.",
    "STATS", "    Return information about the current function running:",
    "    * Function name", "    * Command used to run the function",
    "    * Duration in MS that the function is running", "    If no function is running, "
    "return nil", "    In addition, returns a list of available engines.",
    "KILL", "    Kill the current running function.",
    "FLUSH [ASYNC|SYNC]", "    Delete all the libraries.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the libraries.",
    "    * SYNC: Synchronously flush the libraries.",
    "DUMP", "    Return a serialized payload representing the current libraries, can be "
    "restored using FUNCTION RESTORE command",
    "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    "    Restore the libraries represented by the given payload, it is possible to give a "
    "restore policy to",
    "    control how to handle existing libraries (default APPEND):",
    "    * FLUSH: delete all existing libraries.",
    "    * APPEND: appends the restored libraries to the existing libraries. On collision, "
    "abort.",
    "    * REPLACE: appends the restored libraries to the existing libraries, On collision, "
    "replace the old",
    "      libraries with the new libraries (notice that even on this option there is a "
    "chance of failure",
    "      in case of functions name collision with another library).")


def _fcall(ctx: Context, argv: list[bytes], read_only_command: bool):
    record = _record(ctx, FUNCTION_PREFIX + argv[1].lower())
    if record is None:
        raise CommandError("ERR Function not found")
    if parse_int(argv[2]) is None:
        raise CommandError("ERR Bad number of keys provided")
    keys, args = _keys_and_args(argv)
    library_name, name, flags = marshal.loads(record)
    if read_only_command and "no-writes" not in flags:
        raise CommandError(_write_flag_refusal(ctx))
    code, _ = _stored_library(ctx, library_name)
    _refuse_oom(ctx, flags)
    caller = _Caller(ctx, read_only_command or "no-writes" in flags)
    library, run = _load(ctx, code, caller, _decode(name))
    with _one_state(ctx):
        return run.run(library.functions[name][0], run.table(keys), run.table(args))


def _fcall_reads(store, argv: list[bytes]) -> bool:
    """FCALL of a no-writes function is a read, as Redis lets replicas run it."""
    record = store.db.get(FUNCTION_PREFIX + argv[1].lower())
    return record is not None and "no-writes" in marshal.loads(record)[2]


def _fcall_runs_on_replica(store, argv: list[bytes]) -> bool:
    """A Redis replica runs FCALL of a function it does not know, to answer its error."""
    return store.db.get(FUNCTION_PREFIX + argv[1].lower()) is None


@command("fcall", -3, _EVAL_FLAGS + " replicated touches_any_key script_reads",
         group=_G, since="7.0.0",
         key_finder=numkeys_positions, reads_if=_fcall_reads,
         replica_runs_if=_fcall_runs_on_replica, summary="Invoke a function",
         complexity="Depends on the function that is executed.")
def fcall(ctx: Context, argv: list[bytes]):
    return _fcall(ctx, argv, read_only_command=False)


@command("fcall_ro", -3, _EVAL_FLAGS + " readonly", group=_G, since="7.0.0",
         key_finder=numkeys_positions, summary="Invoke a read-only function",
         complexity="Depends on the function that is executed.")
def fcall_ro(ctx: Context, argv: list[bytes]):
    return _fcall(ctx, argv, read_only_command=True)
