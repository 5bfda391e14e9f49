"""The command table: each command is declared once, here, with everything the server needs.

A leaf: it imports nothing of the runtime, and the families (``rcache/commands/__init__.py``
imports them all) fill it as they are imported.

Dispatch (arity and unknown-command errors), write routing (the ``write`` flag sends a
command through Raft), MOVED (key positions give the slot), MULTI queuing and the replies
of ``COMMAND``/``COMMAND INFO``/``COMMAND DOCS``/``COMMAND GETKEYS`` all read this table.
Flags and arities follow Redis 7.0's ``src/commands/*.json``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import errors
from ..acl_keys import FLAGS as KEY_FLAGS
from ..errors import CommandError
from ..resp import OrderedSet, SimpleString

Handler = Callable[[Any, Any], Any]  # (Context, argv or the parser's result) -> reply
Parser = Callable[[list[bytes]], Any]  # argv -> parsed arguments, or CommandError
# argv -> (idle seconds, LFU count) for the access clock, or None
AccessHint = Callable[[list[bytes]], tuple[int | None, int | None] | None]

# Flags that change how the server routes a command (the rest are informational, as in Redis):
#   write    - replicated: goes through the Raft log and is applied by the state machine
#   node     - needs the connection/server (CLIENT, CONFIG, INFO...): never replicated itself
#              (with write, as MIGRATE: runs on the leader and proposes its writes)
#   replicated - goes through the Raft log though Redis does not call it a write (PUBLISH)
#   noscript, loading, stale, fast, denyoom, admin, readonly... as Redis reports them
#   no_multi - refused inside MULTI
#   no_auth - may run before AUTH (Redis's CMD_NO_AUTH)
# rcache's own facts about a command (internal: not in COMMAND replies), read by the server,
# WATCH and blocking pops instead of lists of names:
#   pubsub_ok - a RESP2 connection with subscriptions may still run it
#   multi_control - acts on MULTI/WATCH itself: run at once, never queued
#   touches_any_key - may write keys its arguments do not name, in any db (scripts, LEASE
#                     REVOKE): dirties every WATCH
#   touches_dbs - changes whole databases (FLUSHDB, FLUSHALL, SWAPDB)
#   touches_other_db - may fill a key of another database (MOVE, COPY ... DB, SWAPDB)
#   fills_second_key - a blocking move: pushes into its second key (BLMOVE, BRPOPLPUSH)
#   timeout_first - a blocking command whose timeout is its first argument (BLMPOP, BZMPOP)
#   block_option - a blocking command that waits only with its BLOCK option (XREAD, XREADGROUP)
#   not_key - its key positions name channels, not keys (SPUBLISH, SSUBSCRIBE: Redis's NOT_KEY
#             key spec): COMMAND shows them, nothing else treats them as keys
#   script_reads - runs a script that may read its keys: CLIENT TRACKING remembers them
#   keeps_caching - (on a container) its subcommands leave CLIENT CACHING's flag for the next
#                   command, as Redis's resetClient spares CLIENT
#   no_touch - reads its key without counting an access in the LRU/LFU clock (Redis's
#              LOOKUP_NOTOUCH: TYPE, EXISTS, TTL and friends, OBJECT, MEMORY USAGE)
_ACL_BY_GROUP = {
    "string": "string", "generic": "keyspace", "connection": "connection",
    "server": "admin", "transactions": "transaction", "cluster": "admin",
    "hash": "hash", "list": "list", "set": "set", "sorted_set": "sortedset",
    "bitmap": "bitmap", "pubsub": "pubsub", "lease": "keyspace",
    "hyperloglog": "hyperloglog", "geo": "geo", "scripting": "scripting", "stream": "stream",
}
# Categories Redis 7.0's command files declare beyond what the flags and the family give.
_ACL_DECLARED = {
    "keys": "dangerous", "flushdb": "keyspace dangerous", "flushall": "keyspace dangerous",
    "swapdb": "keyspace dangerous", "dbsize": "keyspace", "restore-asking": "keyspace dangerous",
    "restore": "dangerous", "migrate": "dangerous", "sort": "set sortedset list dangerous",
    "sort_ro": "set sortedset list dangerous", "role": "admin dangerous",
    "lastsave": "admin dangerous", "info": "dangerous",
    "client|list": "admin dangerous", "client|kill": "admin dangerous",
    "pfdebug": "admin dangerous", "wait": "connection", "readonly": "connection",
    "readwrite": "connection", "command": "connection", "asking": "connection",
}
# Server and cluster commands: the flags decide (@admin comes with the admin flag). Neither
# containers nor these commands take their family's category in Redis.
_ACL_NO_FAMILY_GROUPS = frozenset({"server", "cluster"})
_ACL_NO_FAMILY = frozenset({"wait", "sort", "sort_ro", "pubsub|help"})


def _acl_categories(cmd: Command) -> frozenset[str]:
    """Redis's rules: write/readonly/admin/blocking/fast flags give @write, @read, @admin
    with @dangerous, @blocking, @fast (else @slow); the family gives its own category; and
    _ACL_DECLARED adds what Redis's command files declare by hand."""
    flags = cmd.flags
    found = {"fast" if "fast" in flags else "slow"}
    if "write" in flags:
        found.add("write")
    elif "readonly" in flags and cmd.group != "scripting":  # Redis keeps scripts out of @read
        found.add("read")
    if "admin" in flags:
        found |= {"admin", "dangerous"}
    if "blocking" in flags:
        found.add("blocking")
    family = _ACL_BY_GROUP.get(cmd.group)
    if family and not (cmd.group in _ACL_NO_FAMILY_GROUPS or cmd.full_name in _ACL_NO_FAMILY
                       or cmd.handler is None):
        found.add(family)
    parent = cmd.container.name if cmd.container else cmd.name
    found.update(_ACL_DECLARED.get(cmd.full_name, _ACL_DECLARED.get(parent, "")).split())
    return frozenset(found)


# COMMAND DOCS doc_flags "syscmd": Redis's commands not meant for applications.
_SYSTEM_COMMANDS = frozenset({"debug", "pfdebug", "restore-asking"})
_INTERNAL_FLAGS = frozenset({  # rcache's own: not in COMMAND replies
    "node", "replicated", "pubsub_ok", "multi_control", "touches_any_key", "touches_dbs",
    "touches_other_db", "fills_second_key", "timeout_first", "block_option", "not_key",
    "keeps_caching", "script_reads", "no_touch"})


# latency-tracking (config): whether calls fill the latency buckets (every command's; the
# server sets it from its config).
latency_tracking = True


@dataclass(slots=True)
class Command:
    name: str
    arity: int
    flags: frozenset[str]
    first_key: int
    last_key: int
    step: int
    handler: Handler | None
    group: str
    summary: str
    since: str
    complexity: str
    container: Command | None = None
    subcommands: dict[bytes, Command] = field(default_factory=dict)
    # For commands whose keys are not a fixed range (movablekeys): argv -> key indexes.
    key_finder: Callable[[list[bytes]], list[int]] | None = None
    # For replicated commands that are reads for some arguments (EVAL of a no-writes script):
    # (node's store, argv) -> True to serve it as a read, by the read consistency rules.
    reads_if: Callable[[Any, list[bytes]], bool] | None = None
    # For replicated commands that a Redis replica runs itself (PUBLISH to its own
    # subscribers, a script without flags, refusing its writes one by one): (node's store,
    # argv) -> True to run it on a follower with cluster-enabled no, outside the log.
    replica_runs_if: Callable[[Any, list[bytes]], bool] | None = None
    # argv -> the handler's arguments, raising Redis's syntax errors (commands/args.py).
    # A pure function of argv: the leader runs it before proposing a write, so a malformed
    # one never reaches the log, and the state machine runs it again to apply the entry.
    parser: Parser | None = None
    # argv -> the positions of secrets MONITOR shows as "(redacted)" (AUTH, HELLO, MIGRATE).
    redact: Callable[[list[bytes]], list[int]] | None = None
    # argv -> (idle seconds, LFU count) for the access clock to record for the first key
    # instead of a use now, or None (RESTORE's IDLETIME and FREQ).
    access_hint: AccessHint | None = None
    # Derived once, read for every command the server runs:
    full_name: str = ""
    is_write: bool = False
    keyed: bool = False
    reads_keyspace: bool = False  # routed by read consistency (keyed or not: KEYS, DBSIZE...)
    fixed_first_key: int = 0  # argv position of its first key, unless none or movable (0)
    acl_categories: frozenset[str] = frozenset()  # 'read', 'string', 'fast'...: COMMAND, ACL
    # INFO commandstats and latencystats, this node's: reads where they are served, writes
    # where they are applied. latency[b]: calls that took [2**(b-1), 2**b) microseconds,
    # counted while latency-tracking is on.
    calls: int = 0
    usec: int = 0
    failed_calls: int = 0
    rejected_calls: int = 0
    latency: list[int] = field(default_factory=lambda: [0] * 64)

    def __post_init__(self) -> None:
        self.full_name = f"{self.container.name}|{self.name}" if self.container else self.name
        self.is_write = ("write" in self.flags or "replicated" in self.flags) and (
            "node" not in self.flags)
        self.keyed = (self.first_key > 0 or self.key_finder is not None) and (
            "not_key" not in self.flags)
        if self.keyed and self.key_finder is None:
            self.fixed_first_key = self.first_key
        # A readonly command that still goes through the log (PFCOUNT, which caches its
        # count in the value, as Redis does) is routed as a write.
        self.reads_keyspace = "readonly" in self.flags and not self.is_write
        self.acl_categories = _acl_categories(self)

    @property
    def redis_flags(self) -> frozenset[str]:
        """The flags Redis has too: what COMMAND INFO shows."""
        return self.flags - _INTERNAL_FLAGS

    def call(self, ctx: Context, argv: list[bytes], parsed: Any = None) -> Any:
        """Run the handler: on its parsed arguments (``parsed`` if the caller parsed them
        already) if the command declares a parser, else on argv."""
        if self.parser is None:
            return self.handler(ctx, argv)
        return self.handler(ctx, self.parser(argv) if parsed is None else parsed)

    @property
    def timed_calls(self) -> int:
        """The calls in the latency buckets (those made while latency-tracking was on)."""
        return sum(self.latency)

    def record(self, elapsed_us: int, failed: bool, call: bool = True) -> None:
        """Count one execution (INFO commandstats, latencystats); ``call`` False for a parked
        client's wake-up try, which Redis counts only if it fails (the command's call was
        counted when it blocked)."""
        self.usec += elapsed_us
        if call:
            self.calls += 1
            if latency_tracking:
                self.latency[elapsed_us.bit_length()] += 1
        if failed:
            self.failed_calls += 1

    def reset_stats(self) -> None:
        self.calls = self.usec = self.failed_calls = self.rejected_calls = 0
        self.latency = [0] * 64

    def latency_percentile(self, fraction: float) -> int:
        """The upper bound (µs) of the bucket holding that fraction of the timed calls."""
        wanted, seen = fraction * self.timed_calls, 0
        for bucket, count in enumerate(self.latency):
            seen += count
            if seen >= wanted:
                return 1 << bucket
        return 0

    def latency_histogram(self) -> dict[int, int]:
        """LATENCY HISTOGRAM's buckets: upper bound (µs) -> calls that took less, cumulated."""
        histogram, seen = {}, 0
        for bucket, count in enumerate(self.latency):
            if count:
                seen += count
                histogram[1 << bucket] = seen
        return histogram

    def served_as_read(self, store, argv: list[bytes]) -> bool:
        """A read (routed by read consistency, run on this node) rather than a write?"""
        return self.reads_keyspace or (self.reads_if is not None and self.reads_if(store, argv))

    def runs_on_replica(self, store, argv: list[bytes]) -> bool:
        """Would a Redis replica run it itself (a read, PUBLISH, a script without flags)?"""
        return self.served_as_read(store, argv) or (
            self.replica_runs_if is not None and self.replica_runs_if(store, argv))

    def key_indexes(self, argv: list[bytes]) -> list[int]:
        """Positions of the keys in argv, as COMMAND GETKEYS reports them."""
        if self.key_finder is not None:
            return self.key_finder(argv)
        if not self.keyed:
            return []
        last = self.last_key if self.last_key >= 0 else len(argv) + self.last_key
        return list(range(self.first_key, min(last, len(argv) - 1) + 1, self.step))

    def keys(self, argv: list[bytes]) -> list[bytes]:
        return [argv[i] for i in self.key_indexes(argv)]

    def check_arity(self, argc: int) -> None:
        if (self.arity > 0 and argc != self.arity) or argc < -self.arity:
            raise CommandError(errors.wrong_arity(self.full_name))

    def info(self) -> list:
        """One entry of the COMMAND reply (Redis 7 layout, 10 fields)."""
        flags = sorted(self.redis_flags)
        if self.key_finder is not None:
            flags.append("movablekeys")
        key_specs = []
        if self.first_key > 0:
            last_key = self.last_key - self.first_key if self.last_key >= 0 else self.last_key
            key_specs.append({
                b"flags": OrderedSet(SimpleString(flag) for flag in self._key_spec_flags()),
                b"begin_search": {b"type": b"index", b"spec": {b"index": self.first_key}},
                b"find_keys": {b"type": b"range", b"spec": {
                    b"lastkey": last_key, b"keystep": self.step, b"limit": 0}},
            })
        acl = {SimpleString("@" + category) for category in self.acl_categories}
        return [
            self.full_name.encode(), self.arity, {SimpleString(f) for f in flags},
            self.first_key, self.last_key, self.step, acl, [], key_specs,
            [sub.info() for sub in self.subcommands.values()],
        ]

    def _key_spec_flags(self) -> list[str]:
        """Redis 7.0's flags of the command's key spec where acl_keys has them (one spec
        for all its keys), else what the command does: RW or RO."""
        if "not_key" in self.flags:
            return ["not_key"]
        known = KEY_FLAGS.get(self.full_name)
        if known is not None:
            return known.split()
        return ["RW" if self.is_write else "RO"]

    def docs(self) -> dict:
        doc: dict = {b"summary": self.summary.encode(), b"since": self.since.encode(),
                     b"group": self.group.replace("_", "-").encode(),  # Redis: sorted-set
                     b"complexity": self.complexity.encode()}
        if self.full_name in _SYSTEM_COMMANDS:
            doc[b"doc_flags"] = {SimpleString("syscmd")}
        if self.subcommands:
            doc[b"subcommands"] = {sub.full_name.encode(): sub.docs()
                                   for sub in self.subcommands.values()}
        return doc


COMMANDS: dict[bytes, Command] = {}


def command(name: str, arity: int, flags: str, first_key: int = 0, last_key: int = 0,
            step: int = 0, *, group: str, summary: str, since: str = "1.0.0",
            complexity: str = "O(1)", container: str | None = None,
            key_finder: Callable[[list[bytes]], list[int]] | None = None,
            reads_if: Callable[[Any, list[bytes]], bool] | None = None,
            replica_runs_if: Callable[[Any, list[bytes]], bool] | None = None,
            parser: Parser | None = None,
            redact: Callable[[list[bytes]], list[int]] | None = None,
            access_hint: AccessHint | None = None,
            ) -> Callable[[Handler], Handler]:
    """Declare a command (or, with ``container``, a subcommand like CLIENT SETNAME). With a
    ``parser`` the handler receives what it returns instead of argv."""

    def register(handler: Handler) -> Handler:
        parent = COMMANDS[container.encode()] if container else None
        cmd = Command(name=name, arity=arity, flags=frozenset(flags.split()), first_key=first_key,
                      last_key=last_key, step=step, handler=handler, group=group,
                      summary=summary, since=since, complexity=complexity, container=parent,
                      key_finder=key_finder, reads_if=reads_if, replica_runs_if=replica_runs_if,
                      parser=parser, redact=redact, access_hint=access_hint)
        table = parent.subcommands if parent else COMMANDS
        key = name.encode()
        if key in table:
            raise ValueError(f"command {cmd.full_name} declared twice")
        table[key] = cmd
        return handler

    return register


def container(name: str, arity: int, flags: str, *, group: str, summary: str,
              since: str = "1.0.0") -> None:
    """Declare a command that only groups subcommands (CLIENT, CONFIG, CLUSTER...)."""
    COMMANDS[name.encode()] = Command(
        name=name, arity=arity, flags=frozenset(flags.split()), first_key=0, last_key=0, step=0,
        handler=None, group=group, summary=summary, since=since,
        complexity="Depends on subcommand.")


def help_reply(name: str, lines: tuple[str, ...]) -> list[SimpleString]:
    """``<NAME> HELP``'s reply as Redis's addReplyHelp builds it: a header, the subcommands'
    lines, then HELP's own two lines, each a simple string."""
    return [SimpleString(line) for line in (
        f"{name} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:", *lines,
        "HELP", "    Prints this help.")]


def all_commands() -> list[Command]:
    """Every command and subcommand, containers first."""
    found = []
    for cmd in COMMANDS.values():
        found.append(cmd)
        found.extend(cmd.subcommands.values())
    return found


def find(name: bytes) -> Command | None:
    """A command or a 'container|sub' name, as COMMAND INFO/DOCS and LATENCY HISTOGRAM
    accept them."""
    parent, _, sub = name.lower().partition(b"|")
    cmd = COMMANDS.get(parent)
    if cmd is not None and sub:
        return cmd.subcommands.get(sub)
    return cmd


def count_rejected(argv: list[bytes]) -> None:
    """A call of a known command (or subcommand) with the wrong number of arguments: Redis
    counts it in the command's rejected_calls."""
    cmd = find(argv[0])
    if cmd is not None and cmd.subcommands and len(argv) > 1:
        cmd = cmd.subcommands.get(argv[1].lower())
    if cmd is not None:
        cmd.rejected_calls += 1


def lookup(argv: list[bytes]) -> Command:
    """Find the command (or subcommand) for argv, raising Redis's errors for unknown ones."""
    cmd = COMMANDS.get(argv[0].lower())
    if cmd is None:
        raise CommandError(errors.unknown_command(argv[0], argv[1:]))
    if cmd.subcommands and (len(argv) > 1 or cmd.handler is None):  # the subcommand decides
        if len(argv) < 2:
            raise CommandError(errors.wrong_arity(cmd.name))
        sub = cmd.subcommands.get(argv[1].lower())
        if sub is None:
            raise CommandError(errors.unknown_subcommand(argv[1], cmd.name))
        cmd = sub
    cmd.check_arity(len(argv))
    return cmd


class Context:
    """What a handler sees: the keyspace of the client's database at one instant, a random
    source, and (outside the state machine only) the client and the server.

    Inside the state machine ``ks`` writes into the entry's transaction, ``now_ms`` is the
    time the leader stamped on the entry and ``rng`` is seeded by the entry, so every node
    computes the same result. ``client`` and ``server`` are None there; ``hub`` is the
    node's pub/sub hub, the one thing an entry reaches outside the database (PUBLISH), and
    ``notify`` records keyspace events for it (rcache.notify).
    """

    __slots__ = ("ks", "rng", "client", "server", "hub")
    # In apply, where the commands a script runs are noted for this node's monitors (a list
    # while it has one and awaits the entry's replies, else None: rcache.monitor).
    script_lines: list | None = None
    # In apply: the leader found the dataset past maxmemory when it submitted this script
    # (Redis's pre_command_oom_state), so the script may not start to use more memory.
    oom_at_start = False
    # In apply, the ACL user (name) whose script the entry runs: its commands are checked
    # against that user's replicated rules (None: the default user, who may run anything).
    script_user: bytes | None = None
    # In apply, the INFO stats the commands a script calls count in (and their errors).
    stats = None
    # In apply, whether the command is a parked blocking command's wake-up try (not its
    # first): it then waits on, rather than fails, where Redis would not have woken it.
    woken: bool = False

    def __init__(self, ks, rng, client=None, server=None, hub=None) -> None:
        self.ks = ks
        self.rng = rng
        self.client = client
        self.server = server
        self.hub = hub

    @property
    def now_ms(self) -> int:
        return self.ks.now_ms

    def notify(self, kind: int, event: bytes, key: bytes) -> None:
        """A keyspace event of this database (rcache.notify): Redis's notifyKeyspaceEvent."""
        self.ks.notify(kind, event, key)

    def db(self, dbnum: int):
        """The keyspace of another logical database (COPY ... DB, MOVE, SWAPDB)."""
        return self.ks.other(dbnum)


def always(store, argv: list[bytes]) -> bool:
    """A ``replica_runs_if`` (or ``reads_if``) that holds for any arguments."""
    return True


def counts_reads(handler: Callable) -> Callable:
    """For a write whose key lookups Redis makes with lookupKeyRead (XREADGROUP, XCLAIM...):
    they count in INFO's keyspace_hits/misses as a read command's do."""
    @functools.wraps(handler)
    def counted(ctx: Context, args: Any) -> Any:
        with ctx.ks.reads_counted():
            return handler(ctx, args)
    return counted
