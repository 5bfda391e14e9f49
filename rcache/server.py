"""The node: asyncio server, one protocol object per client connection, routing.

Replies keep request order. A connection runs each command as soon as it is parsed, except
that a read never runs while an earlier write of the same connection awaits its commit (it
is deferred until then, and so is everything after it): a client always reads its writes.
Writes are submitted at once, so pipelined writes share Raft entries.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import ipaddress
import logging
import os
import random
import signal
import socket
import ssl
import sys
import threading
import time
from collections import deque
from time import time_ns
from typing import TYPE_CHECKING

from . import errors, scripting
from .blocking import Blocking, Chain, may_wait
from .busypoll import PollWindow
from .cluster import PROXY, REPLICA, Cluster
from .commands import table
from .commands.acl import noperm_reply
from .commands.acl_rules import AclLog, User, Users, denial, sort_option_refusal
from .commands.scripting import (
    DEBUGGED_SCRIPT_COMMANDS,
    NOSCRIPT,
    SCRIPT_DEBUG_PIPELINED,
    SCRIPT_DEBUG_REFUSED,
)
from .commands.table import COMMANDS, Command, Context, count_rejected, lookup
from .config import NOTICE, Config, OutputLimit
from .entries import COMMAND, EXPIRE, LEASE_EXPIRY, LEASE_PROMOTE, SCRIPT_COMMANDS, TRANSACTION
from .errors import CommandError
from .eviction import Eviction
from .ldb import DebugSession
from .leases import due_leases, lease_ids_after
from .monitor import Monitors, quoted
from .oslimits import OomScoreAdj, check_maxclients, fit_maxclients, set_keepalive
from .outbuf import FLOW_HIGH, FLOW_LOW, FLUSH_AT, MAX_IN_FLIGHT, TURN_ARGS, TURN_READ, LimitWatch
from .pause import ClientPause
from .pending import Pending
from .pubsub import Hub
from .raft import Replicator
from .rates import SAMPLE_PERIOD_MS, InstantaneousMetric
from .replies import ReplyQueue, RunWhenDue
from .resp import (
    NO_REPLY,
    NULL_ARRAY,
    QUEUED,
    Push,
    RawReply,
    Replies,
    RequestReader,
    encode,
    split_array,
)
from .slowlog import SlowLog
from .statemachine import Prepared, StateMachine
from .storage import KeyspaceStats, Store
from .tls import server_context
from .tracking import ClientTracking, Tracker
from .transport import PortUnavailable
from .watch import Watches

if TYPE_CHECKING:
    from .http.app import HttpService

log = logging.getLogger("rcache")
# Scripts that may write: their entries tell apply whether the leader found the dataset past
# maxmemory and which user runs them (rcache.entries).
_SCRIPT_RUNS = frozenset(("eval", "evalsha", "fcall"))
# How long a run of pipelined reads (Client._run_plain) may go on under one routing decision.
ROUTE_REUSE_NS = 50_000


class Stats:
    def __init__(self) -> None:
        self.writes_submitted = 0  # client writes (a MULTI block once): /metrics, dashboard
        self._sampled_ms = 0
        self.reset()

    def reset(self) -> None:
        """What CONFIG RESETSTAT zeroes (Redis's resetServerStats)."""
        self.connections_received = 0
        self.commands_processed = 0
        self.rejected_connections = 0
        self.expired_keys = 0
        self.error_replies: dict[str, int] = {}  # INFO errorstats: error code -> replies
        # client traffic: bytes and socket reads/writes (Redis counts per read event and
        # per write call, not per command)
        self.expire_cycle_us = 0  # spent finding expired keys (expire_cycle_cpu_milliseconds)
        self.net_input_bytes = self.net_output_bytes = 0
        self.reads_processed = self.writes_processed = 0
        # INFO's instantaneous_*: sampled by the periodic task, as Redis's serverCron does
        now_ms = int(time.time() * 1000)
        self.ops_rate, self.input_rate, self.output_rate = (
            InstantaneousMetric(now_ms), InstantaneousMetric(now_ms), InstantaneousMetric(now_ms))
        self.repl_input_rate, self.repl_output_rate = (
            InstantaneousMetric(now_ms), InstantaneousMetric(now_ms))

    def sample_rates(self, now_ms: int, repl_input_bytes: int, repl_output_bytes: int) -> None:
        """Every 100 ms at most (Redis's run_with_period(100)): a sample of each rate. As in
        Redis, the network rates count the replication (Raft) bytes too."""
        if now_ms - self._sampled_ms < SAMPLE_PERIOD_MS:
            return
        self._sampled_ms = now_ms
        self.ops_rate.track(self.commands_processed, now_ms)
        self.input_rate.track(self.net_input_bytes + repl_input_bytes, now_ms)
        self.output_rate.track(self.net_output_bytes + repl_output_bytes, now_ms)
        self.repl_input_rate.track(repl_input_bytes, now_ms)
        self.repl_output_rate.track(repl_output_bytes, now_ms)

    def count_error(self, error: CommandError) -> None:
        if error.counted:
            return
        code = str(error).split(" ", 1)[0]
        self.error_replies[code] = self.error_replies.get(code, 0) + 1


class Client(asyncio.Protocol):
    """One connection: parser, selected db, protocol version, MULTI queue, reply ordering."""

    _next_id = 0

    def __init__(self, server: Server, tls: bool = False) -> None:
        Client._next_id += 1
        self.id = Client._next_id
        self.server = server
        self._stats = server.stats  # (one attribute read per socket event)
        self._busy_poll = server.busy_poll
        self.tls = tls  # came in on the TLS port: redirects name TLS ports
        self.reader = RequestReader(server.config.proto_max_bulk_len)
        self.reader.authenticated = not server.config.requirepass
        self.user_name = b"default"
        self.acl_user: User | None = None  # None: default, which may run everything
        self.script_user_override: bytes | None = None  # see run_as_script_user
        self._acl_seen: tuple = ()  # the users' version acl_user was resolved at
        self.name = b""
        self.lib_name = b""
        self.lib_ver = b""
        self.db = 0
        self.resp3 = False
        self.readonly = False  # READONLY: stale reads allowed on a follower
        self.read_consistency: str | None = None  # per-connection override (RCACHE.CONSISTENCY)
        self.multi: list[tuple[Command, list[bytes]]] | None = None
        self.multi_failed = False
        self.in_exec = False  # running EXEC's connection commands: nothing may wait
        self.watched: dict[tuple[int, bytes], bool] = {}  # WATCH: key -> expired then
        self.channels: dict[bytes, None] = {}  # SUBSCRIBE, in subscription order
        self.patterns: dict[bytes, None] = {}  # PSUBSCRIBE
        self.shard_channels: dict[bytes, None] = {}  # SSUBSCRIBE
        self.reply_mode: str | None = None  # CLIENT REPLY: None (ON), "off", "skip_next", "skip"
        self.no_evict = False  # CLIENT NO-EVICT
        self.tracking: ClientTracking | None = None  # CLIENT TRACKING ON
        self.script_debug: str | None = None  # SCRIPT DEBUG: "yes", "sync" (refused)
        self.debug_session: DebugSession | None = None  # an EVAL under the debugger
        self.watch_dirty = False
        self.watch_term = 0
        self.created = self.last_active = time.time()
        self.last_command: Command | None = None
        self.addr = self.laddr = ""
        self.unix = False  # came in on the unix socket
        self.local = False  # on loopback or the unix socket (enable-protected-configs local)
        self.transport: asyncio.Transport | None = None
        self.replies = ReplyQueue()
        self._barriers = 0  # linearizable reads awaiting their ReadIndex confirmation
        self._keyspace = None
        self._context: Context | None = None
        self._store_generation = -1
        self._inbox: deque[list[bytes]] = deque()  # parsed commands not run yet
        self.write_paused = False  # the transport holds more than FLOW_HIGH unsent bytes
        self._reading = True
        self._consuming = False
        self._turn_left = TURN_ARGS  # what _run_plain left of its turn's budget
        self._next_turn_due = False  # used its turn: runs and reads again at the next
        self._limit_watch = LimitWatch()
        self._flush_due = False  # in the server's list of clients with replies resolved
        self._write_due = False  # in the server's list of clients with replies to write
        self._plain = False  # _plain_connection and not config.evicting, as of the last read
        self._closing = False
        self.quitting = False
        self._plain_connection = self._connection_plain()  # as of the last command

    # -- asyncio callbacks -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        peer, local = transport.get_extra_info("peername"), transport.get_extra_info("sockname")
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family == socket.AF_UNIX:  # as Redis names them
            self.addr = self.laddr = f"{self.server.config.unixsocket}:0"
            self.unix = self.local = True
        else:
            self.addr = f"{peer[0]}:{peer[1]}" if peer else "?"
            self.laddr = f"{local[0]}:{local[1]}" if local else "?"
            self.local = bool(peer) and peer[0] in ("127.0.0.1", "::1")
        transport.set_write_buffer_limits(high=FLOW_HIGH, low=FLOW_LOW)
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            set_keepalive(sock, self.server.config.tcp_keepalive)
        self.server.stats.connections_received += 1
        if len(self.server.clients) >= self.server.config.maxclients:
            self.server.stats.rejected_connections += 1
            transport.write(b"-ERR max number of clients reached\r\n")
            transport.close()
            return
        if _refused_by_protected_mode(self.server.config, peer):
            self.server.stats.rejected_connections += 1
            transport.write(b"-" + errors.PROTECTED_MODE_DENIED.encode() + b"\r\n")
            transport.close()
            return
        self.server.clients[self.id] = self

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        if self.debug_session is not None:
            self.debug_session.abandon()
        self.server.clients.pop(self.id, None)
        self.server.soft_limited.pop(self.id, None)
        self.server.watches.unwatch(self)
        self.server.hub.drop(self)
        self.server.blocking.drop(self)
        self.server.monitors.drop(self)
        self.server.tracker.disable(self)
        self.server.pause.drop(self)

    def pause_writing(self) -> None:
        """The client is not reading its replies: run none of its commands until it does."""
        self.write_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.transport is not None and not self.transport.is_closing():
            self._drain()
            self._consume()

    def data_received(self, data: bytes) -> None:
        self.last_active = time.time()
        if self._busy_poll.awaiting:
            self._busy_poll.woke()
        stats = self._stats
        stats.reads_processed += 1
        stats.net_input_bytes += len(data)
        if self.debug_session is not None:  # the debugger's dialogue, not commands
            if not self.debug_session.feed(data):
                log.warning("Closing client %s: over 1 MB sent to a debugging session that "
                            "has not read it", self.addr)
                self.close()
            return
        reader = self.reader
        commands = reader.read(data)
        if reader.buffered() > self.server.config.client_query_buffer_limit:
            self._close_for_query_buffer()
            return
        replies = self.replies
        server = self.server
        budget = TURN_ARGS  # (what _run_plain leaves of it)
        if (commands and not self._inbox and not self._closing and not self.write_paused
                and not replies.deferred and server.pause.mode is None):
            self._plain = self._plain_connection and not server.config.evicting
            if self._plain and not server.monitors.clients:
                ran = self._run_plain(commands)
                budget = self._turn_left
                if ran:
                    commands = commands[ran:]
            if not commands and reader.error is None:
                # All ran (a read of GETs or SETs, one or a pipeline): no inbox.
                self._read_done(len(data))
                return
            if (len(commands) == 1 and not replies.slots and not self._closing
                    and not self.write_paused and replies.out_size <= FLUSH_AT
                    and reader.error is None and budget > 0):
                # One command and nothing before it waits: what _consume does for it,
                # without the inbox.
                self._on_command(commands[0])
                self._read_done(len(data))
                return
        self._inbox.extend(commands)
        self._consume(budget)
        if len(data) >= TURN_READ:
            self._end_turn()

    def _read_done(self, size: int) -> None:
        """A read event's commands ran without the inbox: their replies go out at the loop
        turn's end, and reading pauses or resumes as the flow bound says (after a large
        read, until the next turn: ``_end_turn``)."""
        if self.replies.out:
            self._write_at_turn_end()
        if size >= TURN_READ:
            self._end_turn()
        elif self.write_paused or not self._reading:
            self._update_reading()

    def _end_turn(self) -> None:
        """Run and read nothing more of this connection until the loop's next turn: the
        other connections' events come first (outbuf: fairness)."""
        if not self._next_turn_due:
            self._next_turn_due = True
            self.server.loop.call_soon(self._next_turn)
        self._update_reading()

    def _next_turn(self) -> None:
        self._next_turn_due = False
        if self.transport is not None and not self.transport.is_closing():
            self._consume()

    def _run_plain(self, commands: list[list[bytes]]) -> int:
        """Run the plain commands (``_plain_command``) at the start of a read event's
        ``commands`` as ``_on_command`` runs them one by one, with what they share looked at
        once: a pipeline of GETs or SETs is most of a busy node's work. -> How many ran: the
        first command not run (not plain, a read behind a write, past the flow bound...)
        and those after it go through the inbox. The caller checked what no plain command
        changes: the connection is plain, nobody monitors, no CLIENT PAUSE, nothing queued.
        A read is served here only while the read route allows it without a barrier, as
        decided at most ROUTE_REUSE_NS ago (the lease's margin is a fifth of the election
        timeout); a write is submitted while this node leads (its entry commits only if it
        still does)."""
        server = self.server
        replies = self.replies
        slots, out = replies.slots, replies.out
        store = server.store
        replicator = server.replicator
        ctx = ks = None
        generation = -1
        local = None  # reads served here: True under the lease, False without one
        decided = 0  # when local was decided (time_ns)
        leading = None  # writes submitted here
        writes: list[tuple[list[bytes], tuple]] = []  # (argv, (cmd, parsed)) to submit
        lease_reads = ran = 0
        last = None
        left = TURN_ARGS  # of the turn's budget (outbuf: fairness)
        room = MAX_IN_FLIGHT - len(slots)  # for writes
        try:
            for argv in commands:
                if left <= 0:
                    break
                cmd = _PLAIN.get(argv[0], _UNSEEN)
                if cmd is _UNSEEN:
                    cmd = _plain_command(argv[0])
                if cmd is None or (argc := len(argv)) < -cmd.arity or (
                        cmd.arity > 0 and argc != cmd.arity):
                    break
                left -= argc
                if cmd.reads_keyspace:
                    if slots or writes:
                        break  # it waits for the writes before it: deferred
                    start = time_ns()
                    if local is None or not 0 <= start - decided < ROUTE_REUSE_NS:
                        local, decided = server.cluster.serves_here(self), start
                        if local is None:
                            break
                    lease_reads += local
                    if store.generation != generation:
                        ctx = self.context(start)
                        ks, generation = ctx.ks, self._store_generation
                    ks.now_ms = start // 1_000_000
                    reply = self._call_timed(cmd, argv, start, ctx)  # (nobody monitors)
                    if type(reply) is bytes:
                        encoded = b"$%d\r\n%b\r\n" % (len(reply), reply)
                    elif reply is None:  # a missing key
                        encoded = b"_\r\n" if self.resp3 else b"$-1\r\n"
                    else:
                        encoded = self.encode(reply)
                    out.append(encoded)
                    replies.out_size += len(encoded)
                    ran += 1
                    last = cmd
                    if replies.out_size > FLUSH_AT:
                        self.flush()
                        out = replies.out  # (a new list)
                        if self.write_paused or self._closing:  # (output limit: closed)
                            break
                    continue
                if self._barriers:
                    break  # behind a linearizable read: _runs_in_order decides
                if leading is None:
                    leading = (replicator.is_leader and replicator.faults.io_error is None
                               and not server.config.maxmemory)
                if not leading or len(writes) >= room:
                    break
                parsed = None
                if cmd.parser is not None:
                    try:
                        parsed = cmd.parser(argv)  # a syntax error never reaches the log
                    except CommandError:
                        break  # _route replies with it
                writes.append((argv, (cmd, parsed)))
                ran += 1
                last = cmd
        finally:
            if writes:  # submitted together, their replies awaited in order
                try:
                    slots.extend(replicator.submit_commands(self.db, writes, self._reply_ready))
                except Exception:  # a bug: which of them went to the log is not known
                    log.exception("submitting %d commands failed", len(writes))
                    self.close()
            if ran:
                self._stats.commands_processed += ran
                server.cluster.reads_by_lease += lease_reads
                self.last_command = last
            self._turn_left = left
        return ran

    def _consume(self, budget: int = TURN_ARGS) -> None:
        """Run the parsed commands, in order, while the unsent replies stay below the flow
        bound; past it the rest wait (and reading stops) until the client reads. Past the
        turn's ``budget`` (arguments) or MAX_IN_FLIGHT awaited replies, the rest wait for
        the next turn or for replies (outbuf: fairness)."""
        if self._consuming:
            return  # a reply resolved while a command ran: the running loop goes on
        inbox = self._inbox
        replies = self.replies
        self._consuming = True
        server = self.server
        self._plain = self._plain_connection and not server.config.evicting
        pause = server.pause
        try:
            while inbox and not self._closing and not self._next_turn_due:
                if replies.out_size > FLUSH_AT:
                    self.flush()
                if (self.write_paused or replies.held > FLOW_HIGH
                        or len(replies.slots) >= MAX_IN_FLIGHT):
                    break
                if budget <= 0:
                    self._end_turn()
                    break
                if pause.mode is not None and pause.holds(self, inbox[0], self.multi):
                    break  # CLIENT PAUSE: run_inbox goes on once it ends
                argv = inbox.popleft()
                budget -= len(argv)
                self._on_command(argv)
        finally:
            self._consuming = False
        reader = self.reader
        if not inbox and reader.error is not None and not self._closing:
            self._emit(CommandError("ERR " + reader.error))
            self.close_after_reply()
        if replies.out:
            self._write_at_turn_end()
        self._update_reading()

    def _update_reading(self) -> None:
        wanted = not (self.write_paused or self._inbox or self._next_turn_due)
        if wanted == self._reading:
            return
        transport = self.transport
        if transport is not None and not transport.is_closing():
            self._reading = wanted
            if wanted:
                transport.resume_reading()
            else:
                transport.pause_reading()

    # -- running commands --------------------------------------------------------------------
    def _on_command(self, argv: list[bytes]) -> None:
        self.server.stats.commands_processed += 1
        replies = self.replies
        if self._plain and not replies.deferred:
            cmd = _PLAIN.get(argv[0], _UNSEEN)
            if cmd is _UNSEEN:
                cmd = _plain_command(argv[0])
            if cmd is not None and (not replies.slots or (cmd.is_write and not self._barriers)) \
                    and (argc := len(argv)) >= -cmd.arity and (cmd.arity < 0 or argc == cmd.arity):
                self.last_command = cmd
                self._emit(self._route(cmd, argv))
                return
        cmd = None
        if replies.deferred or replies.slots:
            cmd = _lookup_quietly(argv)  # looked up once: _execute takes it
            if replies.deferred or not self._runs_in_order(cmd, argv):
                replies.defer(argv, cmd)
                return
        mode = self.reply_mode
        reply = self._execute(argv, cmd)
        if mode is not None or self.reply_mode is not None:
            reply = self._apply_reply_mode(reply, mode)
        self._emit(reply)
        if self.quitting:
            self.close_after_reply()
        self._decide_plain()

    def _decide_plain(self) -> None:
        """After a command other than a plain one (AUTH, MULTI, SUBSCRIBE, CLIENT REPLY,
        MONITOR, CONFIG SET...): only such commands change what ``_connection_plain``
        looks at, so it is decided again after each of them (and not on every read)."""
        self._plain_connection = plain = self._connection_plain()
        self._plain = plain and not self.server.config.evicting

    def _connection_plain(self) -> bool:
        """May this connection's data commands skip the checks of ``_execute``, as far as
        its own state goes (``Config.evicting``: the node's; eviction keeps an access clock
        that only ``_execute`` updates)? A tracking connection's reads
        record their keys in ``_execute``: never plain."""
        return (self.reader.authenticated and self.acl_user is None and self.multi is None
                and not self.subscriptions
                and self.reply_mode is None and self.id not in self.server.monitors.clients
                and self.tracking is None and self.script_debug is None)

    def _runs_in_order(self, cmd: Command | None, argv: list[bytes]) -> bool:
        """May this command run while earlier replies are pending? Only if it reads nothing
        (a write, ordered by the log; a command queued by MULTI; EXEC), or if it is a
        linearizable read behind others."""
        if self._barriers:
            # Another linearizable read may start its own barrier now: rounds complete in
            # the order they started, so the reads still run (and reply) in order.
            return (cmd is not None and cmd.reads_keyspace and self.multi is None
                    and self.server.cluster.read_needs_barrier(self))
        if cmd is None:
            return self.multi is not None
        if self.multi is not None:
            return "multi_control" not in cmd.flags or cmd.name == "exec"
        return cmd.is_write and not cmd.served_as_read(self.server.store, argv)

    def _execute(self, argv: list[bytes], cmd: Command | None = None):
        """Run one command (``cmd``: its table entry, if already found): returns a reply
        value, or a Pending for a replicated one."""
        try:
            cmd = cmd or lookup(argv)
        except CommandError as err:
            if str(err).startswith(errors.WRONG_ARITY_START):
                count_rejected(argv)
            self.server.stats.commands_processed -= 1  # (as _reject: it never ran)
            if self.multi is not None:
                self.multi_failed = True
            return err
        self.last_command = cmd
        if cmd.full_name == "debug" and not self.server.config.debug_allowed(self.local):
            self._reject(cmd)  # (checked before authentication, as Redis does)
            if self.multi is not None:
                self.multi_failed = True
            return self._rejected(cmd, errors.DEBUG_NOT_ALLOWED)
        if not self.reader.authenticated and "no_auth" not in cmd.flags:
            self._reject(cmd)
            return self._rejected(cmd, errors.NOAUTH)
        if self.acl_user is not None:
            refused = self._acl_refusal(cmd, argv)
            if refused is not None:
                self._reject(cmd)
                if self.multi is not None:
                    self.multi_failed = True
                return self._rejected(cmd, str(refused))
        if self.subscriptions and not self.resp3 and (
                "pubsub_ok" not in cmd.flags):
            self._reject(cmd)
            return CommandError(f"ERR Can't execute '{cmd.full_name}': only (P|S)SUBSCRIBE / "
                                "(P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this "
                                "context")
        if self.script_debug is not None and cmd.full_name in DEBUGGED_SCRIPT_COMMANDS:
            return self._debugged_script(cmd, argv)
        if self.server.monitors and self.id in self.server.monitors.clients and (
                cmd.is_write or "readonly" in cmd.flags):  # Redis's monitors are replicas
            self._reject(cmd)
            return CommandError("ERR Replica can't interact with the keyspace")
        if self.tracking is not None:
            self.server.tracker.on_command(self, cmd, argv)
        if self.multi is not None and "multi_control" not in cmd.flags:
            if "no_multi" in cmd.flags:
                self.multi_failed = True
                self._reject(cmd)
                return CommandError("ERR Command not allowed inside a transaction")
            # Redis refuses to queue anything while out of memory (the queue grows too)
            refused = self.server.eviction.admit() if self.server.replicator.is_leader else None
            if refused is None and cmd.is_write:
                refused = self.server.cluster.refusal_to_queue(self, cmd, argv)
            if refused is not None:
                self.multi_failed = True
                self._reject(cmd)
                return refused
            self.multi.append((cmd, argv))
            self.server.stats.commands_processed -= 1  # counted if EXEC runs it (Redis's call)
            return QUEUED
        server = self.server
        config = server.config  # the LRU/LFU clock: only where eviction may read it
        if config.evicting and cmd.keyed and "no_touch" not in cmd.flags:
            server.eviction.note_access(self.db, cmd, argv)
        return self._route(cmd, argv)

    def _route(self, cmd: Command, argv: list[bytes]):
        """Where an admitted command runs: here now, after a read barrier, through the log,
        at the leader (proxied), or elsewhere (MOVED)."""
        server = self.server
        try:
            if cmd.reads_keyspace or (  # inlined served_as_read: every command passes here
                    cmd.reads_if is not None and cmd.reads_if(server.store, argv)):
                route = server.cluster.route_read(self, cmd, argv)
                if route is None:
                    return self.run_here(cmd, argv)
                if route is True:
                    return self._read_after_barrier(cmd, argv)
                if route is PROXY:
                    if server.monitors:
                        server.monitors.feed(self, cmd, argv)
                    return server.cluster.forward(self, [(self.db, argv)])
                self._reject(cmd)
                return route
            if cmd.is_write:
                route = server.cluster.route_write(self, cmd, argv)
                if route is None:
                    faults = server.replicator.faults
                    if faults.io_error is not None:
                        return CommandError(faults.refusal())
                    item = (COMMAND, self.db, argv)
                    # (admit lets every write through while maxmemory is 0: not asked then)
                    if server.config.maxmemory and "denyoom" in cmd.flags:
                        refused = server.eviction.admit()
                        if refused is not None:
                            self._reject(cmd)
                            return refused
                    elif cmd.full_name in _SCRIPT_RUNS:
                        item = self._script_item(argv)
                    parsed = None
                    if cmd.parser is not None:
                        try:
                            parsed = cmd.parser(argv)  # a syntax error never reaches the log
                        except CommandError as err:
                            # a failed call, as if it had been applied (its cost: the parse,
                            # well under a microsecond)
                            cmd.record(0, True)
                            if server.config.slowlog_log_slower_than == 0:
                                server.note_duration(cmd, argv, 0, self)
                            if server.monitors.clients:  # as Redis shows a failed call
                                server.monitors.feed(self, cmd, argv)
                            return err
                    if "blocking" in cmd.flags:
                        if server.monitors.clients:
                            server.monitors.feed(self, cmd, argv)
                        return server.blocking.run(self, cmd, argv, Pending(self._reply_ready))
                    # its MONITOR line is shown when the entry applies it (rcache.monitor)
                    return server.replicator.submit(item, self._reply_ready, (cmd, parsed),
                                                    shown=server.monitors.submitted(self))
                if route is REPLICA:
                    return self.run_here(cmd, argv)
                if route is PROXY and "blocking" in cmd.flags and may_wait(cmd, argv):
                    # it would stall the shared link
                    return server.cluster.redirect(cmd, argv, self.tls)
                if route is PROXY:
                    if server.monitors:
                        server.monitors.feed(self, cmd, argv)
                    return server.cluster.forward(self, [(self.db, argv)])
                self._reject(cmd)  # -MOVED, -CLUSTERDOWN
                return route
            return self.run_here(cmd, argv)
        except CommandError as err:
            return err
        except Exception:  # a bug in one command must not cost the client its connection
            log.exception("command %r failed", argv[:1])
            return CommandError("ERR internal error while running command")

    def _debugged_script(self, cmd: Command, argv: list[bytes]):
        """EVAL or EVALSHA after SCRIPT DEBUG: a debugging session (rcache.ldb), or why not."""
        if self.script_debug == "sync" or self.multi is not None:
            self._reject(cmd)
            if self.multi is not None:
                self.multi_failed = True
                return CommandError("ERR a debugging session cannot run inside MULTI")
            return CommandError(SCRIPT_DEBUG_REFUSED)
        if cmd.name in ("evalsha", "evalsha_ro"):
            self._reject(cmd)
            if len(argv[1]) != 40:
                return CommandError(NOSCRIPT)
            return CommandError("ERR Please use EVAL instead of EVALSHA for debugging")
        if self.replies.slots:  # the session's output would overtake their replies
            self._reject(cmd)
            return CommandError(SCRIPT_DEBUG_PIPELINED)
        return self._start_debug_session(argv)

    def _start_debug_session(self, argv: list[bytes]) -> Pending:
        """Hand the connection to a debugging session: what the client sends from now on is
        the debugger's (commands already read after the EVAL are dropped, as Redis drops
        them); the session ends with the EVAL's reply, and the connection is closed."""
        loop = asyncio.get_running_loop()
        reply = Pending(self._reply_ready)
        self._inbox.clear()
        self.flush()

        def send(data: bytes) -> None:
            _call_soon_threadsafe(loop, self._write_debugger_output, data)

        def finish(value: object) -> None:
            _call_soon_threadsafe(loop, self._end_debug_session, reply, value)

        user = None if self.acl_user is None else self.user_name
        self.debug_session = DebugSession(
            self.server.store, self.db, argv, user=user,
            limits=self.server.config.encoding_limits, send=send, finish=finish,
            client_name=f"id={self.id} addr={self.addr}")
        self.debug_session.start()
        return reply

    def _write_debugger_output(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            self.flush()
            transport.write(data)
            self._stats.net_output_bytes += len(data)

    def _end_debug_session(self, reply: Pending, value: object) -> None:
        self.debug_session = None
        reply.resolve(value)
        self.close_after_reply()

    def authenticate(self, user: User) -> None:
        """AUTH, HELLO AUTH: this connection's commands are checked against ``user`` now
        (and against its new rules once ACL SETUSER changes it)."""
        self.reader.authenticated = True
        self.user_name = user.name
        self.acl_user = None if user.name == b"default" else user
        self._acl_seen = ()

    def _reject(self, cmd: Command) -> None:
        """``cmd`` is refused before it runs: INFO commandstats counts it in rejected_calls,
        total_commands_processed leaves it out (counted as it arrived: Redis counts only the
        commands its call() runs)."""
        cmd.rejected_calls += 1
        self.server.stats.commands_processed -= 1

    def _rejected(self, cmd: Command, reason: str) -> CommandError:
        """A command refused before it runs; EXEC refused discards the transaction and says
        why, as Redis's rejectCommand does."""
        if cmd.full_name != "exec":
            return CommandError(reason)
        self.multi, self.multi_failed = None, False
        self.server.watches.unwatch(self)
        return CommandError(f"{errors.EXECABORT_BECAUSE}{reason}")

    def _acl_refusal(self, cmd: Command, argv: list[bytes]) -> CommandError | None:
        """The NOPERM error if this connection's user may not run this command. A user
        changed by ACL SETUSER applies at once; a deleted one closes the connection."""
        users = self.server.users
        version = users.version
        if self._acl_seen != version:
            self._acl_seen = version
            self.acl_user = users.get(self.user_name)
            if self.acl_user is None:
                self.close_after_reply()
                return CommandError("ERR the user of this connection was deleted")
        refused = denial(self.acl_user, cmd, argv)
        if refused is None:
            if cmd.name in ("sort", "sort_ro"):
                option_refused = sort_option_refusal(self.acl_user, argv)
                return CommandError(option_refused) if option_refused else None
            return None
        kind, name = refused
        self.server.log_acl_refusal(self, kind, name, self.user_name)
        return noperm_reply(kind, name)

    def run_here(self, cmd: Command, argv: list[bytes]):
        """Run a command on this node, now: counted for INFO commandstats and timed for
        SLOWLOG (writes are counted and timed where they are applied)."""
        server = self.server
        # One clock read is the command's "now" and its timer's start, as Redis's call() times
        # a command from the cached clock its expiry checks use.
        reply = self._call_timed(cmd, argv, time_ns())
        # After it ran, as Redis: EXEC follows its commands (those of its scripts too: an
        # EXEC that went to the log is shown once applied, by exec_transaction, which also
        # shows the connection commands it runs, in their place among the others)
        if server.monitors.clients and not self.in_exec and not (
                type(reply) is Pending and cmd.name == "exec"):
            server.monitors.feed(self, cmd, argv)
        if type(reply) is CommandError:
            raise reply
        return reply

    def _call_timed(self, cmd: Command, argv: list[bytes], start: int,
                    ctx: Context | None = None):
        """The handler's reply (an error as its value), the call counted for INFO
        commandstats and SLOWLOG from ``start`` (time_ns: also the command's now, unless
        ``ctx`` is given with it set already)."""
        try:
            if ctx is None:
                ctx = self.context(start)
            reply = cmd.handler(ctx, argv) if cmd.parser is None else cmd.call(ctx, argv)
        except CommandError as err:
            reply = err
        except Exception:  # a bug: the client gets an error, the connection stays
            log.exception("command %r failed", argv[:1])
            reply = CommandError("ERR internal error while running the command")
        elapsed_us = (time_ns() - start) // 1000
        if elapsed_us < 0:  # the wall clock stepped back
            elapsed_us = 0
        cmd.record(elapsed_us, type(reply) is CommandError)
        if elapsed_us >= self.server.config.slowlog_log_slower_than >= 0:
            self.server.note_duration(cmd, argv, elapsed_us, self)
        return reply

    def _read_after_barrier(self, cmd: Command, argv: list[bytes]) -> Pending:
        """A linearizable read: runs once the leader has proven it still leads. Until then,
        later commands of this connection wait (``_barriers``), so it cannot see them."""
        result = Pending(self._reply_ready)
        self._barriers += 1

        def run(barrier: Pending) -> None:
            self._barriers -= 1
            if barrier.value is not True:
                lost = not self.server.replicator.is_leader  # deposed: send the client on
                result.resolve(self.server.cluster.redirect(cmd, argv, self.tls) if lost
                               else barrier.value)
                return
            replies = self.replies
            slots = replies.slots
            if slots and slots[0] is result and not replies.out and not self.write_paused:
                # Its turn to reply has come (-P 1): run it now, its reply written with the
                # round's others, instead of through flush_soon and _drain.
                result.resolve(self._run_reporting(cmd, argv))
                return
            # Run it when its turn to reply comes (_drain), under the output flow bound: a
            # read that runs later than its barrier is still linearizable.
            result.resolve(RunWhenDue(functools.partial(self._run_reporting, cmd, argv)))

        self.server.replicator.read_barrier(run)
        return result

    def after_submitted_writes(self, reply):
        """``reply`` once every write submitted so far (by any client) is applied."""
        result = Pending(self._reply_ready)
        if self.server.replicator.after_submitted(lambda: result.resolve(reply)):
            return reply
        return result

    def run_async(self, coro) -> Pending:
        """For admin commands that wait on the cluster: their reply arrives like a write's."""
        result = Pending(self._reply_ready)

        def finished(task: asyncio.Task) -> None:
            error = task.exception()
            if isinstance(error, CommandError):
                result.resolve(error)
            elif error is not None:
                log.error("command failed", exc_info=error)
                result.resolve(CommandError(f"ERR {error or type(error).__name__}"))
            else:
                result.resolve(task.result())

        asyncio.ensure_future(coro).add_done_callback(finished)
        return result

    def context(self, now_ns: int = 0) -> Context:
        """The handler's view: this client's database, now (``now_ns``: the wall clock if the
        caller read it already). Reused while the database mapping (SWAPDB, an installed
        snapshot) and the selected db stay the same."""
        ks = self._keyspace
        if ks is None or ks.dbnum != self.db or (
                self._store_generation != self.server.store.generation):
            store = self.server.store
            ks = self._keyspace = store.keyspace(self.db, 0)
            ks.stats = ks.read_stats = self.server.keyspace_stats  # reads served here
            self._store_generation = store.generation
            self._context = Context(ks, random, self, self.server, self.server.hub)
        ks.now_ms = (now_ns or time_ns()) // 1_000_000
        return self._context

    def exec_transaction(self, exec_argv: list[bytes]):
        """EXEC (``exec_argv``): data commands become one atomic entry; connection commands
        run here, in order. A follower with cluster-enabled no runs a transaction of what a
        Redis replica runs (reads, PUBLISH...) itself, while no entry's writes can become
        visible (``Store.one_state``): it sees one state, and its WATCH is decided on it."""
        if self.server.cluster.acts_as_replica():
            with self.server.store.one_state():
                return self._exec(exec_argv, on_replica=True)
        return self._exec(exec_argv, on_replica=False)

    def _exec(self, exec_argv: list[bytes], on_replica: bool):
        queued, self.multi = self.multi or [], None
        failed, self.multi_failed = self.multi_failed, False
        modified = bool(self.watched) and self.server.watches.modified(self)
        self.server.watches.unwatch(self)
        if failed:
            return CommandError(errors.EXECABORT)
        if modified:
            return NULL_ARRAY
        refusal = self._exec_refusal(queued)
        if refusal is not None:  # before anything runs, as Redis checks
            return CommandError(f"{errors.EXECABORT_BECAUSE}{refusal}")
        store = self.server.store
        here = on_replica and all("node" in cmd.flags or cmd.runs_on_replica(store, argv)
                                  for cmd, argv in queued)
        self.server.stats.commands_processed += len(queued)  # they run now (or a redirect)
        replies: list = []
        data: list[tuple[int, list[bytes]]] = []
        positions: list[int] = []
        # MONITOR: the connection commands run before each data command, and after the last
        around: list[list[tuple[int, Command, list[bytes]]]] = [[]]
        for cmd, argv in queued:
            if here or "node" in cmd.flags:
                self.in_exec = True
                try:
                    replies.append(self.run_here(cmd, argv))
                except CommandError as err:
                    self.server.stats.count_error(err)  # EXEC's own reply is an array
                    replies.append(err)
                finally:
                    self.in_exec = False
                around[-1].append((self.db, cmd, argv))
            else:
                positions.append(len(replies))
                replies.append(None)
                data.append((self.db, argv))
                around.append([])
        route = self.server.cluster.route_write(self, queued[positions[0]][0], data[0][1]) \
            if data else None
        if self.server.monitors.clients and (route is not None or not data):
            self._show_transaction(queued, data, around)  # not through the log: now
        if not data:
            return replies
        def merge(pending: Pending) -> None:
            results = pending.value
            if type(results) is RawReply and results.startswith(b"*"):
                results = split_array(results)  # relayed by the leader: splice it raw
            if isinstance(results, list):
                for pos, value in zip(positions, results, strict=True):
                    replies[pos] = value
                    if type(value) is CommandError:
                        self.server.stats.count_error(value)
                pending.value = replies
            if self.server.monitors.clients:
                self.server.monitors.feed(self, lookup(exec_argv), exec_argv)
            self._reply_ready(pending)

        if route is PROXY:
            relayed = self.server.cluster.forward(self, data, transaction=True)
            if type(relayed) is Pending:
                relayed.on_done = merge
            return relayed
        if route is not None:
            return route
        item = (TRANSACTION, data)
        user = self._scripts_user()
        if user is not None and any(cmd.full_name in SCRIPT_COMMANDS for cmd, _ in queued):
            item = (TRANSACTION, data, user)  # its scripts' commands are checked
        return self.server.replicator.submit(item, merge, [
            (cmd, None) for cmd, _ in queued if "node" not in cmd.flags],
            shown=self.server.monitors.submitted(self, around))

    def _show_transaction(self, queued: list[tuple[Command, list[bytes]]],
                          data: list[tuple[int, list[bytes]]],
                          around: list[list[tuple[int, Command, list[bytes]]]]) -> None:
        """A transaction's lines, in the order queued, for one that does not go through the
        log here (connection commands only, forwarded, or refused)."""
        monitors = self.server.monitors
        data_commands = [cmd for cmd, _ in queued if "node" not in cmd.flags]
        for i, connection_commands in enumerate(around):
            for db, cmd, argv in connection_commands:
                monitors.show(db, self.addr, cmd, argv)
            if i < len(data):
                monitors.show(data[i][0], self.addr, data_commands[i], data[i][1])

    def _script_item(self, argv: list[bytes]) -> tuple:
        """A script's entry item: with its user and whether the leader found the dataset
        past maxmemory when either matters on apply (rcache.entries), as Redis decides both
        when the script starts."""
        past_maxmemory = bool(self.server.config.maxmemory) and (
            self.server.eviction.admit() is not None)
        user = self._scripts_user()
        if past_maxmemory:
            return (COMMAND, self.db, argv, False, user, True)
        if user is not None:
            return (COMMAND, self.db, argv, False, user)
        return (COMMAND, self.db, argv)

    def _scripts_user(self) -> bytes | None:
        """Whose permissions this connection's scripts need: its user's, or (a follower's
        proxy link, in RAFT.SCRIPT-USER) the follower's client's; None for default."""
        if self.script_user_override is not None:
            return self.script_user_override
        return None if self.acl_user is None else self.user_name

    def run_as_script_user(self, user: bytes, argv: list[bytes]):
        """RAFT.SCRIPT-USER: run argv here as this connection would, its scripts checked
        against ``user``'s permissions (a follower forwards its non-default users' scripts
        so; only a default-user connection, as the follower's link is, may ask)."""
        if self.acl_user is not None:
            raise CommandError("NOPERM only the default user may run scripts as another user")
        self.script_user_override = user
        try:
            return self._execute(argv)
        finally:
            self.script_user_override = None

    def _exec_refusal(self, queued: list) -> str | None:
        """Why EXEC may not run its data commands now (a disk error, maxmemory), or None."""
        if all("node" in cmd.flags for cmd, _ in queued):
            return None
        refusal = self.server.replicator.faults.refusal()
        if refusal is None and self.server.replicator.is_leader and any(
                "denyoom" in cmd.flags for cmd, _ in queued):
            refused = self.server.eviction.admit()
            refusal = None if refused is None else str(refused)
        return refusal

    # -- replies -----------------------------------------------------------------------------
    def _emit(self, reply) -> None:
        """Queue a reply behind the pending ones (encoded now, in the current protocol)."""
        if type(reply) is Pending:
            if not reply.done or self.replies.slots:
                self.replies.wait_for(reply)
                return
            reply = reply.value
        # A bulk string, the common reply, has no error to count and always encodes.
        self.replies.add(encode(reply) if type(reply) is bytes else self.encode(reply))

    def encode(self, value) -> bytes:
        if type(value) is CommandError:
            self.server.stats.count_error(value)
        try:
            return encode(value, self.resp3)
        except TypeError:
            log.exception("unencodable reply %r", value)
            return b"-ERR internal error: unencodable reply\r\n"

    def _reply_ready(self, pending: Pending) -> None:
        """A pending reply resolved: written with the others resolved in the same loop turn
        (an entry's replies to this client all go out in one write). The first reply
        awaited, with nothing ready behind it and no command waiting, goes out as is;
        anything else is drained (deferred commands run, the close after QUIT...)."""
        if self.replies.resolved(pending, self) and not self._inbox:
            if not self._write_due:  # (an entry's replies to a client: the first one)
                self._write_at_turn_end()
        elif not self._flush_due:
            self._flush_due = True
            self.server.flush_soon(self)

    def _write_at_turn_end(self) -> None:
        """The replies ready so far go out with every other client's (Server.write_soon)."""
        if not self._write_due:
            self._write_due = True
            self.server.write_soon(self)

    def flush_replies(self) -> None:
        self._flush_due = False
        if self.transport is not None and not self.transport.is_closing():
            self._drain()
            self._consume()

    def _drain(self) -> None:
        if self.replies.drain(self):
            self.flush()
            self.transport.close()

    def run_deferred(self, argv: list[bytes], cmd: Command | None):
        """A command deferred behind earlier replies, run now that they are out."""
        mode = self.reply_mode
        result = self._execute(argv, cmd)
        if mode is not None or self.reply_mode is not None:
            result = self._apply_reply_mode(result, mode)
        self._decide_plain()
        return result

    def _run_reporting(self, cmd: Command, argv: list[bytes]):
        """run_here, its error as the reply."""
        try:
            return self.run_here(cmd, argv)
        except CommandError as err:
            return err

    def flush(self) -> None:
        """Hand the replies ready so far to the socket (ReplyQueue's owner calls it too)."""
        self._write_due = False
        transport = self.transport
        replies = self.replies
        if replies.out and transport is not None and not transport.is_closing():
            out = replies.take()
            # (a plain connection neither monitors nor subscribes: its class is normal)
            limit = self.server.config.client_output_buffer_limit[
                "normal" if self._plain_connection else self.output_class]
            limited = limit.hard or limit.soft  # (not a normal client's, by default)
            # Counted before any of it is sent, as Redis counts a reply as it is made: a
            # reply past the hard limit closes the client unanswered.
            if limited and self.check_output_limit(
                    len(out) + transport.get_write_buffer_size() + replies.held, limit):
                return
            transport.write(out)
            stats = self._stats
            stats.writes_processed += 1
            stats.net_output_bytes += len(out)
            if limited:
                self.check_output_limit(self.unsent_bytes, limit)

    def check_output_limit(self, unsent: int, limit: OutputLimit | None = None) -> bool:
        """Redis's client-output-buffer-limit, for this client's class: whether it closed the
        client. While the soft-limit clock runs the client is on the server's list that
        Server._output_limits_cron checks again, replies or not."""
        if limit is None:
            limit = self.server.config.client_output_buffer_limit[self.output_class]
        watch = self._limit_watch
        if watch.exceeded(unsent, limit, time.monotonic()):
            self.close_over_output_limit(f"{unsent} bytes unsent")
            return True
        if watch.soft_since is None:
            self.server.soft_limited.pop(self.id, None)
        else:
            self.server.soft_limited[self.id] = self
        return False

    def close_over_output_limit(self, what: str) -> None:
        log.warning("Client id=%d addr=%s closed for overcoming of output buffer limits "
                    "(%s class, %s)", self.id, self.addr, self.output_class, what)
        self.close()

    @property
    def unsent_bytes(self) -> int:
        """Replies made and not yet sent (CLIENT LIST's omem)."""
        buffered = self.transport.get_write_buffer_size() if self.transport is not None else 0
        return buffered + self.replies.held + self.replies.out_size

    @property
    def output_class(self) -> str:
        if self.id in self.server.monitors.clients:
            return "slave"  # Redis's monitors are replicas
        return "pubsub" if self.subscriptions else "normal"

    @property
    def idle(self) -> bool:
        """Waiting for nothing from us (Redis's timeout skips subscribers, monitors and
        blocked clients: here, any client with a reply still to come)."""
        return not (self.subscriptions or self.replies.slots or self._inbox
                    or self.id in self.server.monitors.clients)

    def close_after_reply(self) -> None:
        """Run no more commands; close once the replies of those run so far are out."""
        self._closing = True
        if self.replies.close_after() and self.transport is not None:
            self.flush()
            self.transport.close()

    def _close_for_query_buffer(self) -> None:
        """client-query-buffer-limit: a request still arriving that is longer than this is
        cut, with Redis's log line (its first 64 bytes as sdscatrepr shows them)."""
        from .commands.connection import describe
        start = quoted(self.reader.peek(64)).decode(errors="replace")
        log.warning("Closing client that reached max query buffer length: %s (qbuf initial "
                    "bytes: %s)", describe(self, time.time()), start)
        self.close()

    def close(self) -> None:
        self._closing = True
        if self.transport is not None:
            self.transport.abort()

    @property
    def closed(self) -> bool:
        return self._closing

    @property
    def subscriptions(self) -> int:
        return len(self.channels) + len(self.patterns) + len(self.shard_channels)

    def _apply_reply_mode(self, reply, mode: str | None):
        """CLIENT REPLY OFF, SKIP (``mode``: as this command found it; CLIENT REPLY SKIP
        leaves skip_next, which skips the command after it): a dropped reply's place is
        kept if it is pending, so later reads still wait for the write; pushes still go."""
        now = self.reply_mode
        muted = now == "off" or (mode == "skip" and now is not None)  # not after REPLY ON
        if now == "skip_next":
            self.reply_mode = "skip"
        elif now == "skip":
            self.reply_mode = None
        if not muted or _pushed(reply):
            return reply
        if type(reply) is Pending and not reply.done:
            reply.muted = True
            return reply
        return NO_REPLY

    def run_inbox(self) -> None:
        """Run the commands that waited for CLIENT PAUSE to end."""
        if self.transport is not None and not self.transport.is_closing():
            self._consume()

    def push(self, message: Push) -> None:
        """A pub/sub message: written at once, ahead of any reply still pending (a RESP3
        client tells the two apart; a RESP2 subscriber has none pending)."""
        if self.transport is not None and not self.transport.is_closing():
            self.replies.add_out_of_band(self.encode(message))
            self.flush()

    def push_after_replies(self, message: Push) -> None:
        """An invalidation message: behind the replies still to come, as Redis sends a
        write's invalidation to its own connection after the write's reply."""
        if self.transport is not None and not self.transport.is_closing():
            self._emit(message)
            self.flush()

    @property
    def awaiting_replies(self) -> bool:
        return bool(self.replies.slots)

    def quit(self) -> None:
        """QUIT: close once its reply, and every earlier one, has been written."""
        self.quitting = True

    def reset(self) -> None:
        self.multi, self.multi_failed = None, False
        self.server.watches.unwatch(self)
        self.server.hub.drop(self)
        self.server.monitors.drop(self)
        self.reply_mode, self.no_evict = None, False
        self.server.tracker.disable(self)
        self.db = 0
        self.resp3 = False
        self.readonly = False
        self.read_consistency = None
        self.name = b""
        self.reader.authenticated = not self.server.config.requirepass
        self.user_name, self.acl_user = b"default", None


def _pushed(reply) -> bool:
    """(Un)subscribe confirmations: Redis sends them as pushes, which CLIENT REPLY OFF and
    SKIP do not silence."""
    return type(reply) is Replies and bool(reply) and type(reply[0]) is Push


def _subscriptions_allowed(client: Client, user: User) -> bool:
    return (user.all_channels
            or (all(user.may_use_channel(name) for name in client.channels)
                and all(user.may_use_channel(name) for name in client.shard_channels)
                and all(user.may_use_channel(name, True) for name in client.patterns)))


_UNSEEN = object()
_PLAIN: dict[bytes, Command | None] = {}  # command name as sent -> _plain_command(name)


def _plain_command(name: bytes) -> Command | None:
    """The command, if it is a data command with no subcommands that reads or writes the
    keyspace the same way whatever its arguments (not blocking): the only kind that takes
    the plain path. Remembered for the name's lower- and upper-case spellings."""
    cmd = COMMANDS.get(name.lower())
    if cmd is None:
        return None  # not remembered: the cache stays as small as the table
    if (cmd.subcommands or cmd.handler is None or cmd.reads_if is not None
            or "blocking" in cmd.flags or not (cmd.reads_keyspace or cmd.is_write)):
        cmd = None
    if name in (name.lower(), name.upper()):
        _PLAIN[name] = cmd
    return cmd


def _refused_by_protected_mode(config: Config, peer) -> bool:
    """Redis's protected mode: while the default user has no password, only clients on the
    loopback interface may connect."""
    if not config.protected_mode or config.requirepass or not peer:
        return False
    address = ipaddress.ip_address(peer[0].split("%", 1)[0])
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_loopback


def _call_soon_threadsafe(loop: asyncio.AbstractEventLoop, callback, *args) -> None:
    """From another thread (a debugging session's): nothing to do once the loop is closed."""
    try:
        loop.call_soon_threadsafe(callback, *args)
    except RuntimeError:
        pass


def _lookup_quietly(argv: list[bytes]) -> Command | None:
    try:
        return lookup(argv)
    except CommandError:
        return None


class Server:
    def __init__(self, config: Config) -> None:
        self.config = config
        scripting.instruction_budget = config.lua_instruction_budget
        table.latency_tracking = config.latency_tracking
        config.maxclients = fit_maxclients(config.maxclients)
        config.runtime_checks["maxclients"] = check_maxclients
        os.makedirs(config.dir, exist_ok=True)
        self.store = Store(os.path.join(config.dir, "db"))
        self.store.databases = config.databases
        self.hub = Hub(config)
        self.clients: dict[int, Client] = {}
        self.soft_limited: dict[int, Client] = {}  # clients past their soft output limit
        self.tracker = self.hub.tracker = Tracker(self.clients, config)
        self.machine = StateMachine(self.store, self.hub)
        self.users = Users(self.store, lambda: config.requirepass)
        self.acl_log = AclLog()
        self.cluster = Cluster(self)
        self.replicator: Replicator | None = None
        self.watches = Watches(self)
        self.blocking = Blocking(self)
        self.monitors = self.machine.monitors = Monitors(
            lambda: config.client_output_buffer_limit["slave"].hard)
        self.pause = ClientPause()
        self.stats = Stats()
        self.keyspace_stats = KeyspaceStats()  # the reads this node serves (event loop)
        self.machine.stats = self.stats  # a script's commands count in it
        self.eviction = Eviction(self)
        self.slowlog = SlowLog()
        self.active_expire_enabled = True  # DEBUG SET-ACTIVE-EXPIRE: this node's key sweep
        self.machine.observer = self.note_duration
        self.machine.slowlog_from_us = lambda: config.slowlog_log_slower_than
        self.started = time.time()
        self._servers: list[asyncio.AbstractServer] = []
        self.tls_context: ssl.SSLContext | None = None  # the TLS port's (CONFIG SET changes it)
        self._stopping: asyncio.Event | None = None
        self._tasks: list[asyncio.Task] = []
        self.http: HttpService | None = None
        self._flush_due: list[Client] = []  # clients with replies resolved, to write
        self._write_due: list[Client] = []  # clients with replies ready, written in one go
        self.busy_poll = PollWindow(config.busy_poll_us)  # after writing replies (busypoll)
        self._polling_until = 0  # perf_counter_ns; 0: not polling
        self.loop: asyncio.AbstractEventLoop | None = None
        self.oom_score_adj = OomScoreAdj()
        self._pidfile_written = False
        self._unix_socket_open = False  # the socket file is ours to remove

    async def serve(self) -> None:
        """Open the client port first (so a port that is taken stops the node before it
        joins anything), start Raft, then serve. SIGTERM stops the node at any point."""
        loop = self.loop = asyncio.get_running_loop()
        self.hub.loop = self.monitors.loop = loop
        self.store.on_acl_change = lambda: loop.call_soon_threadsafe(self._drop_refused_clients)
        self._stopping = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.shutdown)
        if self.config.http_port:  # before Raft: a taken port stops start-up at once
            from .http.app import HttpService
            self.http = HttpService(self)
            await self.http.start()
        config = self.config
        tls_context = server_context(config) if config.tls_port else None  # fail early
        self.tls_context = tls_context
        listeners = ([(config.port, None)] if config.port else []) + (
            [(config.tls_port, tls_context)] if tls_context is not None else [])
        for port, context in listeners:
            try:
                self._servers.append(await loop.create_server(
                    functools.partial(Client, self, tls=context is not None), config.bind,
                    port, reuse_address=True, backlog=config.tcp_backlog, ssl=context,
                    start_serving=False))
            except OSError as err:
                raise PortUnavailable(f"cannot listen on client port {config.bind}:{port}: "
                                      f"{_reason(err)}") from None
        if config.unixsocket:
            await self._listen_on_unix_socket(loop)
        self._write_pidfile()
        starting = asyncio.ensure_future(self.cluster.start(loop))
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not starting.done():
                log.warning("stopped while starting")
                starting.cancel()
                return
            self.replicator = starting.result()
            self.replicator.on_resolved = self.flush_replies
            self.replicator.on_deposed = self._deposed
            self.replicator.on_elected = self.apply_oom_score_adj
            self.apply_oom_score_adj()
            for listener in self._servers:
                await listener.start_serving()
            self._tasks = [asyncio.create_task(self._active_expiry()),
                           asyncio.create_task(self._close_idle_clients()),
                           asyncio.create_task(self._output_limits_cron()),
                           asyncio.create_task(self.cluster.leave_when_removed()),
                           asyncio.create_task(self.cluster.promote_learners())]
            ports = ", ".join([f"{config.bind}:{port}" + (" (TLS)" if context else "")
                               for port, context in listeners]
                              + ([f"unix socket {config.unixsocket}"] if config.unixsocket
                                 else []))
            log.log(NOTICE, "rcache %s listening on %s, raft %s (Raft links: %s), data in %s",
                    self.cluster.node_id, ports, config.raft_address, self.cluster.raft_links,
                    os.path.abspath(config.dir))
            await stopping
        finally:
            stopping.cancel()
            await self._close()
            self._remove_pidfile()

    async def _listen_on_unix_socket(self, loop: asyncio.AbstractEventLoop) -> None:
        """unixsocket: the same clients as the TCP port's, on a unix socket (with
        unixsocketperm's mode, if set)."""
        config = self.config
        try:
            self._servers.append(await loop.create_unix_server(
                functools.partial(Client, self), config.unixsocket, backlog=config.tcp_backlog,
                start_serving=False))
            self._unix_socket_open = True
            if config.unixsocketperm:
                os.chmod(config.unixsocket, config.unixsocketperm)
        except OSError as err:
            raise PortUnavailable(f"cannot listen on unix socket {config.unixsocket}: "
                                  f"{_reason(err)}") from None

    def _write_pidfile(self) -> None:
        """pidfile: written once the ports are open, removed at a clean shutdown."""
        if not self.config.pidfile:
            return
        try:
            with open(self.config.pidfile, "w", encoding="ascii") as fh:
                fh.write(f"{os.getpid()}\n")
            self._pidfile_written = True
        except OSError as err:
            log.warning("Failed to write PID file: %s", _reason(err))

    def _remove_pidfile(self) -> None:
        if self._pidfile_written:
            try:
                os.unlink(self.config.pidfile)
            except OSError as err:
                log.warning("Failed to remove PID file: %s", _reason(err))

    def apply_oom_score_adj(self) -> None:
        config = self.config
        leading = self.replicator is not None and self.replicator.is_leader
        self.oom_score_adj.apply(config.oom_score_adj, config.oom_score_adj_values, leading)

    def _deposed(self) -> None:
        self.apply_oom_score_adj()
        self._close_clients_when_deposed()

    def _drop_refused_clients(self) -> None:
        """After ACL SETUSER or DELUSER, as Redis: a connection whose user is gone closes,
        and so does one subscribed to a channel or pattern its user no longer allows."""
        users = self.users
        for client in list(self.clients.values()):
            if client.user_name == b"default":
                continue
            user = users.get(client.user_name)
            if user is None or (client.subscriptions and not _subscriptions_allowed(client, user)):
                client.close_after_reply()

    def log_acl_refusal(self, client: Client, reason: str, obj: str, username: bytes) -> None:
        from .commands.connection import describe
        now = time.time()
        context = "multi" if client.multi is not None else "toplevel"
        self.acl_log.record(reason, context, obj, username, describe(client, now), now,
                            self.config.acllog_max_len)

    def note_duration(self, cmd: Command, argv: list[bytes], duration_us: int,
                      client: Client | None = None) -> None:
        """SLOWLOG: keep the commands slower than slowlog-log-slower-than (not EXEC itself,
        as in Redis: its commands are). Applied writes come without a client."""
        threshold = self.config.slowlog_log_slower_than
        if 0 <= threshold <= duration_us and "skip_slowlog" not in cmd.flags:
            peer, name = (client.addr, client.name) if client is not None else ("", b"")
            self.slowlog.record(argv, duration_us, self.config.slowlog_max_len, peer, name)

    def flush_soon(self, client: Client) -> None:
        """``client`` has replies resolved: it writes them at the end of what resolves
        them (an applied entry, a read round) or, for anything else, later in this turn."""
        if not self._flush_due:
            self.loop.call_soon(self.flush_replies)
        self._flush_due.append(client)

    def flush_replies(self) -> None:
        due, self._flush_due = self._flush_due, []
        for client in due:
            try:
                client.flush_replies()
            except Exception:  # a bug in one client's replies must not strand the others
                log.exception("writing the replies of client %s failed", client.addr)
                client.close()
        self.write_replies()

    def write_soon(self, client: Client) -> None:
        """``client`` has replies ready: they are written with every other client's at the
        end of this loop turn, as Redis writes in beforeSleep. Writing each as it is ready
        wakes a waiting client once per reply, and a wake-up costs the kernel more than the
        reply: one burst of writes wakes it once for all its connections."""
        if not self._write_due:
            self.loop.call_soon(self.write_replies)
        self._write_due.append(client)

    def write_replies(self) -> None:
        due, self._write_due = self._write_due, []
        for client in due:
            if client._write_due:
                client.flush()
        until = self.busy_poll.begin()
        if until:
            if not self._polling_until:
                self.loop.call_soon(self._poll)
            self._polling_until = until

    def _poll(self) -> None:
        """Keep the loop polling (a ready callback makes its wait time 0) until a request
        comes or the window ends (rcache.busypoll)."""
        if self.busy_poll.awaiting and time.perf_counter_ns() < self._polling_until:
            self.loop.call_soon(self._poll)
        else:
            self._polling_until = 0

    def submitted(self, item: tuple, prepared: Prepared) -> Chain | None:
        """Every item the write path submits (with its commands if known): WATCH and parked
        blocking pops look at it. -> The chain of clients it woke, that its reply waits for."""
        self.watches.submitted(item, prepared)
        kind = item[0]
        if kind == COMMAND or kind == TRANSACTION:
            self.stats.writes_submitted += 1
        return self.blocking.submitted(item, prepared)

    def shutdown(self) -> None:
        if self._stopping is not None and not self._stopping.is_set():
            self._stopping.set()
            threading.Thread(target=_exit_if_stuck, name="shutdown-watchdog",
                             daemon=True).start()

    async def _close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for listener in self._servers:
            listener.close()
        if self._unix_socket_open:
            try:  # (Python's unix servers leave their socket file behind)
                os.unlink(self.config.unixsocket)
            except OSError:
                pass
        for client in list(self.clients.values()):
            client.close()
        if self.http is not None:
            await self.http.stop()
        replicator = self.replicator or self.cluster.replicator  # or stopped while starting
        if replicator is not None:
            replicator.stop()
        self.store.close()

    def _close_clients_when_deposed(self) -> None:
        """This node stopped leading: close its client connections, as Sentinel has a demoted
        master do (CLIENT KILL TYPE normal, then pubsub, with its REPLICAOF), so that Sentinel
        clients ask for the master again and reconnect to the new leader. Each first gets the
        replies of the commands it sent (a blocked pop's UNBLOCKED, a write's outcome)."""
        if self.replicator.is_leader:  # elected again meanwhile
            return
        self.blocking.deposed()
        clients = list(self.clients.values())
        log.warning("No longer the leader: closing %d client connections", len(clients))
        for client in clients:
            client.close_after_reply()

    async def _close_idle_clients(self) -> None:
        """``timeout``: close clients silent that long, as Redis's clientsCron does (not
        subscribers, nor clients waiting for a reply such as a blocking pop)."""
        while True:
            await asyncio.sleep(1)
            timeout = self.config.timeout
            if not timeout:
                continue
            oldest = time.time() - timeout
            for client in list(self.clients.values()):
                if client.last_active < oldest and client.idle:
                    log.info("Closing idle client id=%d addr=%s", client.id, client.addr)
                    client.close()

    async def _output_limits_cron(self) -> None:
        """A client past its soft output limit is closed once the soft seconds have passed
        even when no reply comes meanwhile (Redis 7's clientsCron checks it too)."""
        while True:
            await asyncio.sleep(1 / max(1, self.config.hz))
            for client in list(self.soft_limited.values()):
                client.check_output_limit(client.unsent_bytes)

    async def _active_expiry(self) -> None:
        """The leader proposes deleting keys whose TTL has passed, and leases past their
        deadline (replicated, so every node agrees); bounded work per cycle, as Redis's
        activeExpireCycle. A leader expires nothing until it holds all its predecessors
        committed, and no lease before it has given leases back the time the cluster spent
        without a leader. Every node's cycle also samples INFO's instantaneous rates, as
        Redis's serverCron does."""
        budget = 200
        promoted_term = None
        while True:
            await asyncio.sleep(1 / max(1, self.config.hz))
            repl = self.replicator.traffic.counts()
            self.stats.sample_rates(int(time.time() * 1000), repl["bytes_in"],
                                    repl["bytes_out"])  # (on every node)
            if not self.replicator.leader_caught_up or self.pause.writes_paused:
                continue  # (CLIENT PAUSE holds expiry too, as Redis does)
            term = self.replicator.term
            if promoted_term != term:
                if await self._promote_leases(1000):  # (~10 ms of apply per page)
                    promoted_term = term
                continue
            now_ms = int(time.time() * 1000)
            due = due_leases(self.store, now_ms, budget)
            if due:
                await self.replicator.propose((LEASE_EXPIRY, due))
            if not self.active_expire_enabled:
                continue
            started = time.perf_counter_ns()
            found = [(db, keys) for db in range(self.config.databases)
                     if (keys := self.store.keyspace(db, now_ms).expired_keys(budget))]
            self.stats.expire_cycle_us += (time.perf_counter_ns() - started) // 1000
            for db, keys in found:
                deleted = await self.replicator.propose((EXPIRE, db, keys))
                if isinstance(deleted, int):
                    self.stats.expired_keys += deleted

    async def _promote_leases(self, page: int) -> bool:
        """-> False if this node stopped leading meanwhile (its successor does it again)."""
        since_ms, gap_ms = self.replicator.leaderless
        after = 0
        while gap_ms and (ids := lease_ids_after(self.store, after, page)):
            promotion = (LEASE_PROMOTE, ids, since_ms, gap_ms)
            if not isinstance(await self.replicator.propose(promotion), int):
                return False
            after = ids[-1]
        return True


def _reason(err: OSError) -> str:
    return os.strerror(err.errno) if err.errno else str(err)


def _exit_if_stuck(grace: float = 8.0) -> None:
    """SIGTERM stops the node within seconds whatever it is doing: if the orderly shutdown
    has not finished by then, leave without it (the journal is what recovery relies on)."""
    time.sleep(grace)
    print("rcache: shutdown did not finish in time; exiting", file=sys.stderr, flush=True)
    os._exit(1)


def run(config: Config) -> None:
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    # Requests make many short-lived objects and almost no cycles: collect the young
    # generation less often, and never rescan what exists once the node is up.
    gc.set_threshold(50_000, 50, 100)
    gc.freeze()
    asyncio.run(Server(config).serve())

